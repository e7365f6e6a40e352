//! Issue 15, item 2: the host's edge under overload and abuse, over real loopback sockets, in
//! front of a fake enclave on a Unix socket (a real OHTTP gateway from the `ohttp` crate, so
//! that a standard OHTTP client can talk through the host). Every wait is bounded: no test
//! can hang, and the whole file runs in a few seconds.
//!
//! The fake enclave answers every message after a fixed delay, each in its own task, and counts
//! how many it holds at once: the in-flight bound is checked where it matters, at the enclave.
//! (host/tests/link_faults.rs has a fault-injecting fake enclave of its own; this one needs an
//! OHTTP gateway, a delay and a concurrency count, and test files share no module today.)
#![allow(
    clippy::expect_used,
    reason = "integration tests: a helper outside a #[test] fn panicking is the calling test failing"
)]

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cloister_host::api::{self, AppState};
use cloister_host::collateral::{CollateralCache, CollateralConfig};
use cloister_host::edge::{self, EdgeLimits};
use cloister_host::link::EnclaveLink;
use cloister_host::transport::EnclaveAddr;
use cloister_proto::evidence::{BUNDLE_VERSION, KEM_PUB_LEN, SIG_PUB_LEN};
use cloister_proto::frame::{self, MAX_FRAME_LEN};
use cloister_proto::{Envelope, EvidenceBundle, EvidencePlatform, Message, WireError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::JoinSet;

/// The fake gateway's key id.
const KEY_ID: u8 = 1;
/// Longest any one client exchange may take before the test fails (no hang).
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(15);

// ---------------------------------------------------------------------------------------------
// The fake enclave

/// A fake enclave: attestation answers a mock bundle naming its OHTTP key; inference opens the
/// request with a real OHTTP gateway and answers `echo:` + the plaintext, sealed.
struct FakeEnclave {
    _dir: tempfile::TempDir,
    path: PathBuf,
    kem_pub: [u8; KEM_PUB_LEN],
    infers: Arc<AtomicUsize>,
    busy: Arc<AtomicUsize>,
    max_busy: Arc<AtomicUsize>,
}

impl FakeEnclave {
    async fn start(delay: Duration) -> Self {
        use ohttp::hpke::{Aead, Kdf, Kem};
        ohttp::init();
        let suites = vec![
            ohttp::SymmetricSuite::new(Kdf::HkdfSha256, Aead::ChaCha20Poly1305),
            ohttp::SymmetricSuite::new(Kdf::HkdfSha256, Aead::Aes128Gcm),
        ];
        let config = ohttp::KeyConfig::new(KEY_ID, Kem::X25519Sha256, suites).expect("config");
        let encoded = config.encode().expect("encode");
        let kem_pub: [u8; KEM_PUB_LEN] = encoded[3..3 + KEM_PUB_LEN].try_into().expect("pk");
        let gateway = Arc::new(ohttp::Server::new(config).expect("gateway"));
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("enclave.sock");
        let listener = tokio::net::UnixListener::bind(&path).expect("bind");
        let fake = Self {
            _dir: dir,
            path,
            kem_pub,
            infers: Arc::default(),
            busy: Arc::default(),
            max_busy: Arc::default(),
        };
        let (infers, busy, max_busy) = (
            Arc::clone(&fake.infers),
            Arc::clone(&fake.busy),
            Arc::clone(&fake.max_busy),
        );
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (mut reader, mut writer) = tokio::io::split(stream);
                let (tx, mut rx) = tokio::sync::mpsc::channel::<Envelope>(1024);
                tokio::spawn(async move {
                    while let Some(env) = rx.recv().await {
                        if frame::write(&mut writer, &env).await.is_err() {
                            break;
                        }
                    }
                });
                let (gateway, infers, busy, max_busy) = (
                    Arc::clone(&gateway),
                    Arc::clone(&infers),
                    Arc::clone(&busy),
                    Arc::clone(&max_busy),
                );
                tokio::spawn(async move {
                    while let Ok(Some(env)) = frame::read(&mut reader, MAX_FRAME_LEN).await {
                        let now = busy.fetch_add(1, Ordering::SeqCst) + 1;
                        max_busy.fetch_max(now, Ordering::SeqCst);
                        let (tx, gateway, infers, busy) = (
                            tx.clone(),
                            Arc::clone(&gateway),
                            Arc::clone(&infers),
                            Arc::clone(&busy),
                        );
                        tokio::spawn(async move {
                            tokio::time::sleep(delay).await;
                            let answer = match env.msg {
                                Message::AttestRequest { nonce } => {
                                    Message::Evidence(bundle(kem_pub, nonce))
                                }
                                Message::InferRequest { ohttp } => {
                                    infers.fetch_add(1, Ordering::SeqCst);
                                    echo(&gateway, &ohttp)
                                }
                                _ => Message::Error(WireError::new("test.unexpected", "?")),
                            };
                            busy.fetch_sub(1, Ordering::SeqCst);
                            let _ = tx.send(Envelope::new(env.id, answer)).await;
                        });
                    }
                });
            }
        });
        fake
    }

    fn link(&self) -> Arc<EnclaveLink> {
        Arc::new(EnclaveLink::new(EnclaveAddr::Unix(self.path.clone())))
    }
}

fn bundle(kem_pub: [u8; KEM_PUB_LEN], nonce: Vec<u8>) -> EvidenceBundle {
    EvidenceBundle {
        version: BUNDLE_VERSION,
        platform: EvidencePlatform::Mock,
        evidence: vec![0xd2; 64],
        collateral: vec![],
        kem_pub: kem_pub.to_vec(),
        sig_pub: vec![2; SIG_PUB_LEN],
        nonce,
        ohttp_key_id: KEY_ID,
        served_models: cloister_proto::ServedModels::default(),
        served_models_signature: vec![0; cloister_proto::served::SERVED_MODELS_SIGNATURE_LEN],
    }
}

fn echo(gateway: &ohttp::Server, enc: &[u8]) -> Message {
    let Ok((plain, response)) = gateway.decapsulate(enc) else {
        return Message::Error(WireError::new("ohttp.decapsulate", "cannot open"));
    };
    let mut out = b"echo:".to_vec();
    out.extend_from_slice(&plain);
    match response.encapsulate(&out) {
        Ok(ohttp) => Message::InferResponse { ohttp },
        Err(_) => Message::Error(WireError::new("ohttp.encapsulate", "cannot seal")),
    }
}

// ---------------------------------------------------------------------------------------------
// The host

/// The host's router served by `edge::serve` on an ephemeral loopback port.
struct Host {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    served: tokio::task::JoinHandle<io::Result<()>>,
}

impl Host {
    async fn start(link: Arc<EnclaveLink>, limits: EdgeLimits) -> Self {
        let collateral =
            Arc::new(CollateralCache::new(&CollateralConfig::default()).expect("collateral"));
        let router = api::app(AppState { link, collateral });
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let served = tokio::spawn(async move {
            edge::serve(listener, router, &limits, async {
                let _ = stopped.await;
            })
            .await
        });
        Self {
            addr,
            stop: Some(stop),
            served,
        }
    }

    /// Stops the server and checks that it drained and returned `Ok` in time.
    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(Duration::from_secs(10), &mut self.served)
            .await
            .expect("serve returns within the drain timeout")
            .expect("join")
            .expect("serve");
    }
}

/// Short timeouts, so that a test of them takes a second, not ten.
fn test_limits() -> EdgeLimits {
    EdgeLimits {
        header_read_timeout: Duration::from_secs(1),
        body_read_timeout: Duration::from_secs(1),
        write_timeout: Duration::from_secs(2),
        drain_timeout: Duration::from_secs(2),
        ..EdgeLimits::default()
    }
}

// ---------------------------------------------------------------------------------------------
// A raw HTTP/1.1 client: exact bytes in, exact bytes out, from a chosen loopback address.

#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// From the request's first byte written to the answer read whole.
    took: Duration,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{} body is not JSON ({e}): {:?}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("no error code: {}", self.json()))
            .to_owned()
    }
}

async fn connect(addr: SocketAddr, from: IpAddr) -> io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(from, 0))?;
    socket.connect(addr).await
}

fn localhost() -> IpAddr {
    IpAddr::from([127, 0, 0, 1])
}

/// Sends `request` (which must say `Connection: close`) and reads the answer to EOF.
async fn exchange(mut stream: TcpStream, request: &[u8]) -> io::Result<Answer> {
    let start = Instant::now();
    let run = async {
        stream.write_all(request).await?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await?;
        Ok::<_, io::Error>(raw)
    };
    let raw = tokio::time::timeout(EXCHANGE_TIMEOUT, run)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "exchange hung"))??;
    parse(&raw, start.elapsed())
}

fn parse(raw: &[u8], took: Duration) -> io::Result<Answer> {
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_owned());
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no complete head"))?;
    let head = std::str::from_utf8(&raw[..end]).map_err(|_| bad("head not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("no status"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    if let Some(len) = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
    {
        body.truncate(len);
    }
    Ok(Answer {
        status,
        headers,
        body,
        took,
    })
}

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: cloister\r\nConnection: close\r\n\r\n").into_bytes()
}

fn attest_path() -> String {
    format!("/v1/attestation?nonce={}", hex::encode([7u8; 32]))
}

fn post_infer(body: &[u8]) -> Vec<u8> {
    let mut req = format!(
        "POST /v1/infer HTTP/1.1\r\nHost: cloister\r\nConnection: close\r\n\
         Content-Type: message/ohttp-req\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    req
}

/// Resident set size of this process (host, fake enclave and clients together), in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// `n` connected clients from `from`, then each sends `request` at once; the answers.
async fn burst(
    addr: SocketAddr,
    from: IpAddr,
    n: usize,
    request: &[u8],
) -> Vec<io::Result<Answer>> {
    let mut streams = Vec::with_capacity(n);
    for _ in 0..n {
        streams.push(connect(addr, from).await.expect("connect"));
    }
    let mut set = JoinSet::new();
    for (i, s) in streams.into_iter().enumerate() {
        let request = request.to_vec();
        set.spawn(async move { (i, exchange(s, &request).await) });
    }
    let mut out: Vec<(usize, io::Result<Answer>)> = Vec::with_capacity(n);
    while let Some(done) = set.join_next().await {
        out.push(done.expect("join"));
    }
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, a)| a).collect()
}

fn millis(d: Duration) -> u128 {
    d.as_millis()
}

// ---------------------------------------------------------------------------------------------
// Overload and fairness

/// 10x the queue at once: the queue's worth is served, every other request gets 503
/// `host.overloaded` with `Retry-After` before the enclave has answered anything, and the enclave
/// never holds more than `max_in_flight`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overload_with_ten_times_the_queue_is_refused_at_once() {
    let delay = Duration::from_millis(1500);
    let fake = FakeEnclave::start(delay).await;
    let limits = EdgeLimits {
        max_in_flight: 3,
        max_queued: 3,
        max_per_client: 1000,
        ..test_limits()
    };
    let capacity = limits.max_in_flight + limits.max_queued;
    let host = Host::start(fake.link(), limits.clone()).await;
    let start = Instant::now();
    let answers = burst(host.addr, localhost(), 10 * capacity, &get(&attest_path())).await;
    let total = start.elapsed();
    let answers: Vec<Answer> = answers.into_iter().map(|a| a.expect("answer")).collect();
    let ok = answers.iter().filter(|a| a.status == 200).count();
    let refused: Vec<&Answer> = answers.iter().filter(|a| a.status == 503).collect();
    assert_eq!(ok + refused.len(), answers.len(), "only 200 and 503");
    assert_eq!(ok, capacity, "the queue's worth is served");
    let mut took: Vec<Duration> = refused.iter().map(|a| a.took).collect();
    took.sort();
    for a in &refused {
        assert_eq!(a.code(), "host.overloaded");
        assert_eq!(a.header("retry-after"), Some("1"));
        assert!(a.took < delay, "a 503 waited for the enclave: {:?}", a.took);
    }
    assert!(
        fake.max_busy.load(Ordering::SeqCst) <= limits.max_in_flight,
        "in flight at the enclave: {}",
        fake.max_busy.load(Ordering::SeqCst)
    );
    // Two rounds of three at the enclave, plus slack for a loaded machine.
    assert!(total < Duration::from_secs(8), "{total:?}");
    eprintln!(
        "overload: {} requests, {ok} served, {} refused; 503 in p50 {} ms, max {} ms; all answered in {} ms",
        answers.len(),
        refused.len(),
        millis(took[took.len() / 2]),
        millis(took[took.len() - 1]),
        millis(total)
    );
    host.stop().await;
}

/// One client floods; a second client's requests are served all the same. With no per-client
/// share the same flood fills the queue and the second client is refused: the share is what
/// protects it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_flooding_client_does_not_starve_another() {
    let delay = Duration::from_millis(500);
    let flooder = localhost();
    let other = IpAddr::from([127, 0, 0, 2]);
    for per_client in [2, 1000] {
        let fake = FakeEnclave::start(delay).await;
        let limits = EdgeLimits {
            max_in_flight: 2,
            max_queued: 4,
            max_per_client: per_client,
            ..test_limits()
        };
        let host = Host::start(fake.link(), limits).await;
        let addr = host.addr;
        let flood =
            tokio::spawn(async move { burst(addr, flooder, 30, &get(&attest_path())).await });
        // The flood is in (its requests are admitted or refused within milliseconds).
        tokio::time::sleep(Duration::from_millis(150)).await;
        let mine = burst(addr, other, 2, &get(&attest_path())).await;
        let flood: Vec<Answer> = flood
            .await
            .expect("join")
            .into_iter()
            .map(|a| a.expect("flood answer"))
            .collect();
        let mine: Vec<Answer> = mine.into_iter().map(|a| a.expect("answer")).collect();
        if per_client == 2 {
            for a in &mine {
                assert_eq!(a.status, 200, "{:?}", String::from_utf8_lossy(&a.body));
                assert!(a.took < Duration::from_secs(3), "{:?}", a.took);
            }
            let limited: Vec<&Answer> = flood.iter().filter(|a| a.status == 429).collect();
            assert_eq!(flood.iter().filter(|a| a.status == 200).count(), 2);
            assert_eq!(limited.len(), 28);
            for a in limited {
                assert_eq!(a.code(), "host.client_limit");
                assert_eq!(a.header("retry-after"), Some("1"));
            }
            eprintln!(
                "fairness: the second client's requests took {} ms and {} ms while 28 of the flood's got 429",
                millis(mine[0].took),
                millis(mine[1].took)
            );
        } else {
            assert!(
                mine.iter().all(|a| a.status == 503),
                "without a share the flood fills the queue: {:?}",
                mine.iter().map(|a| a.status).collect::<Vec<_>>()
            );
        }
        host.stop().await;
    }
}

/// Sustained overload does not grow memory: 3000 requests (a third with 64 KiB bodies sent after
/// `100-continue`), 200 at a time, against a queue of 12. Stated bound: RSS grows by less than
/// 64 MiB from the warmed-up process (all answers arrived, every connection closed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_stays_flat_under_sustained_overload() {
    let fake = FakeEnclave::start(Duration::from_millis(100)).await;
    let limits = EdgeLimits {
        max_in_flight: 4,
        max_queued: 8,
        max_per_client: 1000,
        ..test_limits()
    };
    let host = Host::start(fake.link(), limits).await;
    let body = {
        let mut b = vec![0x5a; 64 * 1024];
        b[0] = KEY_ID;
        b
    };
    let round = |n: usize| {
        let body = body.clone();
        let addr = host.addr;
        async move {
            let gate = Arc::new(tokio::sync::Semaphore::new(200));
            let mut set = JoinSet::new();
            for i in 0..n {
                let permit = Arc::clone(&gate).acquire_owned().await.expect("gate");
                let body = body.clone();
                set.spawn(async move {
                    let s = connect(addr, localhost()).await?;
                    let a = if i % 3 == 0 {
                        post_continue(s, &body).await
                    } else {
                        exchange(s, &get(&attest_path())).await
                    };
                    drop(permit);
                    a
                });
            }
            let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
            while let Some(done) = set.join_next().await {
                let a = done.expect("join").expect("answer");
                *statuses.entry(a.status).or_default() += 1;
            }
            statuses
        }
    };
    round(300).await;
    let before = rss_kib();
    let start = Instant::now();
    let statuses = round(3000).await;
    let took = start.elapsed();
    // Let closed connections' tasks finish.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after = rss_kib();
    let growth_kib = after.saturating_sub(before);
    eprintln!(
        "memory: VmRSS {before} KiB before, {after} KiB after 3000 requests in {} ms (growth {growth_kib} KiB); answers {statuses:?}",
        millis(took)
    );
    assert!(
        statuses.get(&503).copied().unwrap_or(0) > 1000,
        "{statuses:?}"
    );
    assert!(
        statuses.keys().all(|s| [200, 400, 503].contains(s)),
        "{statuses:?}"
    );
    assert!(growth_kib < 64 * 1024, "RSS grew by {growth_kib} KiB");
    host.stop().await;
}

/// `POST /v1/infer` with `Expect: 100-continue`: the body goes only if the host asks for it.
async fn post_continue(mut stream: TcpStream, body: &[u8]) -> io::Result<Answer> {
    let start = Instant::now();
    let run = async {
        let head = format!(
            "POST /v1/infer HTTP/1.1\r\nHost: cloister\r\nConnection: close\r\n\
             Content-Type: message/ohttp-req\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).await?;
        let mut raw: Vec<u8> = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                return Ok::<_, io::Error>(raw);
            }
            raw.extend_from_slice(&buf[..n]);
            if raw.starts_with(b"HTTP/1.1 100") {
                if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                    raw.drain(..end + 4);
                    stream.write_all(body).await?;
                    stream.read_to_end(&mut raw).await?;
                    return Ok(raw);
                }
            } else if raw.len() >= 12 {
                // A final answer without 100: the body is not wanted.
                stream.read_to_end(&mut raw).await?;
                return Ok(raw);
            }
        }
    };
    let raw = tokio::time::timeout(EXCHANGE_TIMEOUT, run)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "exchange hung"))??;
    parse(&raw, start.elapsed())
}

// ---------------------------------------------------------------------------------------------
// Slow callers

/// 200 connections each sending a byte of a request head every 500 ms are all cut by the
/// 1-second header timeout; a normal caller is served meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_loris_connections_are_cut_after_the_header_timeout() {
    let fake = FakeEnclave::start(Duration::ZERO).await;
    let limits = test_limits();
    let host = Host::start(fake.link(), limits.clone()).await;
    let start = Instant::now();
    let mut loris = JoinSet::new();
    for _ in 0..200 {
        let stream = connect(host.addr, localhost()).await.expect("connect");
        // Before the host accepts it: the host's clock starts later than this one.
        let opened = Instant::now();
        loris.spawn(async move {
            let (mut rd, mut wr) = stream.into_split();
            let dribble = async move {
                for byte in b"GET /healthz HTTP/1.1\r\nHost: cloister\r\n\r\n" {
                    if wr.write_all(&[*byte]).await.is_err() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                // The whole head took 20 s: never reached.
                std::future::pending::<()>().await;
            };
            let mut sink = Vec::new();
            tokio::select! {
                // EOF or reset: the host closed the connection.
                r = rd.read_to_end(&mut sink) => (opened.elapsed(), r.map(|_| sink.len())),
                () = dribble => unreachable!(),
                () = tokio::time::sleep(Duration::from_secs(10)) => {
                    (opened.elapsed(), Err(io::Error::new(io::ErrorKind::TimedOut, "still open")))
                }
            }
        });
    }
    // While they dribble, a normal caller is served.
    let normal = exchange(
        connect(host.addr, localhost()).await.expect("connect"),
        &get("/healthz"),
    )
    .await
    .expect("answer");
    assert_eq!(normal.status, 200);
    let mut cut = Vec::new();
    while let Some(done) = loris.join_next().await {
        let (open_for, read) = done.expect("join");
        match read {
            Ok(0) => {}
            Ok(n) => panic!("a slow-loris connection got {n} bytes of answer"),
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
            Err(e) => panic!("slow-loris connection: {e}"),
        }
        cut.push(open_for);
    }
    cut.sort();
    let (first, last) = (cut[0], cut[cut.len() - 1]);
    // The client's clock starts when its connect future is polled, which on a busy runtime can
    // be a few ms after the host accepted: 10% slack.
    assert!(
        first >= limits.header_read_timeout.mul_f64(0.9),
        "cut early: {first:?}"
    );
    assert!(last < Duration::from_secs(4), "cut late: {last:?}");
    eprintln!(
        "slow loris: 200 connections cut after {}..{} ms (header timeout {} ms); test {} ms",
        millis(first),
        millis(last),
        millis(limits.header_read_timeout),
        millis(start.elapsed())
    );
    host.stop().await;
}

/// A keep-alive connection is closed when idle for the header timeout, and after
/// `max_requests_per_connection` answers (the last says `Connection: close`). A body that stops
/// arriving is `408 host.body_timeout`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_and_bodies_are_bounded_in_time_and_count() {
    let fake = FakeEnclave::start(Duration::ZERO).await;
    let limits = EdgeLimits {
        max_requests_per_connection: 2,
        ..test_limits()
    };
    let host = Host::start(fake.link(), limits).await;
    let keep_alive = b"GET /healthz HTTP/1.1\r\nHost: cloister\r\n\r\n";
    // Two requests in one write: two answers, the second closing the connection.
    let mut s = connect(host.addr, localhost()).await.expect("connect");
    let two = [&keep_alive[..], &keep_alive[..]].concat();
    s.write_all(&two).await.expect("write");
    let mut raw = Vec::new();
    tokio::time::timeout(EXCHANGE_TIMEOUT, s.read_to_end(&mut raw))
        .await
        .expect("closed after the second answer")
        .expect("read");
    let text = String::from_utf8_lossy(&raw);
    assert_eq!(text.matches("HTTP/1.1 200").count(), 2, "{text}");
    assert!(
        text.to_ascii_lowercase().contains("connection: close"),
        "{text}"
    );
    // One request, then idle: closed after the header timeout.
    let mut s = connect(host.addr, localhost()).await.expect("connect");
    s.write_all(keep_alive).await.expect("write");
    let start = Instant::now();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut raw))
        .await
        .expect("idle connection closed")
        .expect("read");
    assert!(String::from_utf8_lossy(&raw).starts_with("HTTP/1.1 200"));
    let idle = start.elapsed();
    assert!(
        idle >= Duration::from_millis(900) && idle < Duration::from_secs(4),
        "{idle:?}"
    );
    // A body promised and not sent.
    let mut s = connect(host.addr, localhost()).await.expect("connect");
    s.write_all(
        b"POST /v1/infer HTTP/1.1\r\nHost: cloister\r\nContent-Type: message/ohttp-req\r\n\
          Content-Length: 100\r\n\r\n\x01partial",
    )
    .await
    .expect("write");
    let start = Instant::now();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut raw))
        .await
        .expect("answered")
        .expect("read");
    let a = parse(&raw, start.elapsed()).expect("answer");
    assert_eq!(a.status, 408);
    assert_eq!(a.code(), "host.body_timeout");
    assert!(a.took >= Duration::from_millis(900), "{:?}", a.took);
    assert_eq!(fake.infers.load(Ordering::SeqCst), 0);
    host.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Error shapes

/// Every error the host makes is JSON with a code: 404, 405, 413, 415, 400, 431; and the
/// enclave's address is in none of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_is_json_with_a_code() {
    let fake = FakeEnclave::start(Duration::ZERO).await;
    let limits = test_limits();
    let host = Host::start(fake.link(), limits.clone()).await;
    let addr = host.addr;
    let ask = move |req: Vec<u8>| async move {
        exchange(connect(addr, localhost()).await.expect("connect"), &req)
            .await
            .expect("answer")
    };
    let a = ask(get("/v1/nothing-here")).await;
    assert_eq!((a.status, a.code().as_str()), (404, "host.not_found"));
    assert_eq!(a.header("content-type"), Some("application/json"));
    for req in [
        b"DELETE /v1/infer HTTP/1.1\r\nHost: c\r\nConnection: close\r\n\r\n".to_vec(),
        get("/v1/infer"),
        b"POST /v1/attestation HTTP/1.1\r\nHost: c\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
            .to_vec(),
    ] {
        let a = ask(req).await;
        assert_eq!((a.status, a.code().as_str()), (405, "host.method_not_allowed"));
        assert!(a.header("allow").is_some_and(|v| !v.is_empty()), "{:?}", a.headers);
    }
    // Declared too large: refused before a byte of body is sent.
    let a = ask(
        b"POST /v1/infer HTTP/1.1\r\nHost: c\r\nConnection: close\r\n\
          Content-Type: message/ohttp-req\r\nContent-Length: 300000\r\n\r\n"
            .to_vec(),
    )
    .await;
    assert_eq!((a.status, a.code().as_str()), (413, "host.body_too_large"));
    let a = ask(
        b"POST /v1/infer HTTP/1.1\r\nHost: c\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx"
            .to_vec(),
    )
    .await;
    assert_eq!(
        (a.status, a.code().as_str()),
        (415, "host.unsupported_media_type")
    );
    let a = ask(get("/v1/attestation?nonce=zz")).await;
    assert_eq!((a.status, a.code().as_str()), (400, "host.bad_nonce"));
    // A head over max_header_bytes: JSON 431.
    let padded = |n: usize| {
        format!(
            "GET /healthz HTTP/1.1\r\nHost: c\r\nConnection: close\r\nX-Pad: {}\r\n\r\n",
            "p".repeat(n)
        )
        .into_bytes()
    };
    let a = ask(padded(limits.max_header_bytes + 1)).await;
    assert_eq!(
        (a.status, a.code().as_str()),
        (431, "host.header_too_large")
    );
    // Over hyper's own limit (4x): hyper answers before any service runs, a bare 431 (the one
    // exception, see cloister_host::edge), and closes with the rest of the head unread, which
    // the kernel may turn into a reset that overtakes the answer.
    let over = padded(limits.hard_header_bytes() + 1);
    match exchange(connect(addr, localhost()).await.expect("connect"), &over).await {
        Ok(a) => {
            assert_eq!(a.status, 431);
            assert!(a.body.is_empty());
        }
        Err(e) => assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{e}"),
    }
    assert_eq!(fake.infers.load(Ordering::SeqCst), 0);
    host.stop().await;
}

/// An enclave that cannot be reached is a 503 that names neither its socket path nor the
/// connect error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_enclave_is_not_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("secret-enclave-name.sock");
    let link = Arc::new(EnclaveLink::new(EnclaveAddr::Unix(path)));
    let host = Host::start(link, test_limits()).await;
    for p in [attest_path(), "/healthz".into(), "/v1/ohttp-keys".into()] {
        let a = exchange(
            connect(host.addr, localhost()).await.expect("connect"),
            &get(&p),
        )
        .await
        .expect("answer");
        assert_eq!(a.status, 503, "{p}");
        assert_eq!(a.code(), "host.enclave_unavailable");
        let text = String::from_utf8_lossy(&a.body).to_lowercase();
        for leak in [
            "secret-enclave-name",
            "unix:",
            "/tmp",
            "no such file",
            "os error",
        ] {
            assert!(!text.contains(leak), "{p}: {text}");
        }
    }
    host.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Standard OHTTP clients

/// `GET /v1/ohttp-keys` parses as `application/ohttp-keys` (by hand, per RFC 9458 §3, and by the
/// `ohttp` crate's client), names the attested key, and a request the `ohttp` client encapsulates
/// to it makes the round trip through the host.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ohttp_keys_round_trip_with_a_standard_client() {
    let fake = FakeEnclave::start(Duration::ZERO).await;
    let host = Host::start(fake.link(), test_limits()).await;
    let a = exchange(
        connect(host.addr, localhost()).await.expect("connect"),
        &get("/v1/ohttp-keys"),
    )
    .await
    .expect("answer");
    assert_eq!(a.status, 200);
    assert_eq!(a.header("content-type"), Some("application/ohttp-keys"));
    // By hand: u16 length, then key_id(8) kem_id(16) pk(32) suites_len(16) (kdf(16) aead(16))*.
    let list = &a.body;
    let len = usize::from(u16::from_be_bytes([list[0], list[1]]));
    assert_eq!(len, list.len() - 2, "one configuration");
    let config = &list[2..];
    assert_eq!(config[0], KEY_ID);
    assert_eq!(&config[1..3], &[0x00, 0x20], "DHKEM(X25519, HKDF-SHA256)");
    assert_eq!(&config[3..35], &fake.kem_pub, "the key the evidence binds");
    assert_eq!(
        &config[35..],
        &[0, 8, 0, 1, 0, 3, 0, 1, 0, 1],
        "HKDF-SHA256 with ChaCha20-Poly1305, then AES-128-GCM"
    );
    // By a standard client, then a round trip through the host.
    assert_eq!(
        ohttp::KeyConfig::decode_list(list).expect("decode").len(),
        1
    );
    let client = ohttp::ClientRequest::from_encoded_config_list(list).expect("client");
    let (enc, pending) = client.encapsulate(b"hello enclave").expect("encapsulate");
    assert_eq!(enc[0], KEY_ID, "the key id leads the request");
    let a = exchange(
        connect(host.addr, localhost()).await.expect("connect"),
        &post_infer(&enc),
    )
    .await
    .expect("answer");
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(a.header("content-type"), Some("message/ohttp-res"));
    let plain = pending.decapsulate(&a.body).expect("open the answer");
    assert_eq!(plain, b"echo:hello enclave");
    assert_eq!(fake.infers.load(Ordering::SeqCst), 1);
    host.stop().await;
}

/// A request for a key id the gateway does not have gets RFC 9458 §5.3's problem type as
/// `application/problem+json` (with our error object too), and never reaches the enclave.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_key_id_gets_the_rfc_9458_problem_type() {
    let fake = FakeEnclave::start(Duration::ZERO).await;
    let host = Host::start(fake.link(), test_limits()).await;
    let mut config = fake.kem_pub.to_vec();
    config.splice(0..0, [KEY_ID, 0x00, 0x20]);
    config.extend_from_slice(&[0, 4, 0, 1, 0, 3]);
    let client = ohttp::ClientRequest::from_encoded_config(&config).expect("client");
    let (mut enc, _pending) = client.encapsulate(b"hello").expect("encapsulate");
    enc[0] = 0x2a;
    let a = exchange(
        connect(host.addr, localhost()).await.expect("connect"),
        &post_infer(&enc),
    )
    .await
    .expect("answer");
    assert_eq!(a.status, 400);
    assert_eq!(a.header("content-type"), Some("application/problem+json"));
    let problem = a.json();
    assert_eq!(
        problem["type"],
        "https://iana.org/assignments/http-problem-types#ohttp-key"
    );
    assert_eq!(problem["error"]["code"], "host.ohttp_key_unknown");
    assert_eq!(fake.infers.load(Ordering::SeqCst), 0, "never forwarded");
    // The right key id with a corrupted body is the enclave's to refuse.
    enc[0] = KEY_ID;
    let last = enc.len() - 1;
    enc[last] ^= 1;
    let a = exchange(
        connect(host.addr, localhost()).await.expect("connect"),
        &post_infer(&enc),
    )
    .await
    .expect("answer");
    assert_eq!((a.status, a.code().as_str()), (400, "ohttp.decapsulate"));
    assert_eq!(fake.infers.load(Ordering::SeqCst), 1);
    host.stop().await;
}
