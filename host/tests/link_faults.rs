//! The enclave link under faults (issue 15, items 1 and 6): an enclave killed mid-request, an
//! enclave that is down, one that comes back, and a misbehaving enclave that answers twice,
//! answers ids nobody asked for, or answers after the request gave up.
//!
//! The real-process tests run the mock `cloister-enclave` (build it first:
//! `cargo build --release -p cloister-enclave --bins`; scripts/test.sh builds every binary) on a
//! Unix socket in a scratch directory. The misbehaving enclave is a fake on a Unix socket in
//! this process. Every test is bounded by [`TEST_BUDGET`].
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "integration tests: a helper outside a #[test] fn panicking is the calling test failing"
)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use cloister_host::link::{EnclaveLink, LinkConfig};
use cloister_host::transport::EnclaveAddr;
use cloister_proto::frame::{self, MAX_FRAME_LEN};
use cloister_proto::{Envelope, Message, WireError};
use tokio::time::Instant;

mod common;
use common::{enclave_bin, model_dir, scratch, signal};

/// The most any test here may take (each takes well under it).
const TEST_BUDGET: Duration = Duration::from_secs(20);

/// "Promptly": a failed request comes back within this of the fault.
const PROMPT: Duration = Duration::from_millis(1000);

// ---- the real mock enclave ----------------------------------------------------------------

/// A running mock enclave; killed on drop.
struct Enclave {
    child: Child,
}

impl Enclave {
    /// Starts the mock enclave on `dir/enclave.sock` and waits until it listens.
    fn start(dir: &Path) -> Self {
        let sock = dir.join("enclave.sock");
        let _ = std::fs::remove_file(&sock);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("enclave.log"))
            .expect("log");
        let child = Command::new(enclave_bin())
            .arg("--listen")
            .arg(format!("unix:{}", sock.display()))
            .arg("--model")
            .arg(model_dir())
            .args(["--platform", "mock", "--mock-ca"])
            .arg(dir.join("mock"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn cloister-enclave");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !sock.exists() {
            assert!(
                std::time::Instant::now() < deadline,
                "the enclave did not listen: {}",
                std::fs::read_to_string(dir.join("enclave.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        Self { child }
    }

    fn signal(&self, sig: &str) {
        signal(self.child.id(), sig);
    }

    /// Best effort, for drop: the process may be gone already.
    fn try_signal(&self, sig: &str) {
        let _ = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .stderr(Stdio::null())
            .status();
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Enclave {
    fn drop(&mut self) {
        // A stopped process must be continued to die of SIGKILL promptly on every kernel.
        self.try_signal("CONT");
        self.kill();
    }
}

fn fast_link(sock: PathBuf) -> Arc<EnclaveLink> {
    let config = LinkConfig {
        pool_size: 2,
        request_timeout_ms: 10_000,
        connect_timeout_ms: 1_000,
        reconnect_initial_ms: 20,
        reconnect_max_ms: 200,
    };
    Arc::new(EnclaveLink::with_config(EnclaveAddr::Unix(sock), config).expect("config"))
}

static NONCES: AtomicU64 = AtomicU64::new(1);

/// A nonce no other request in this process uses.
fn nonce() -> Vec<u8> {
    let n = NONCES.fetch_add(1, Ordering::Relaxed);
    let mut v = vec![0x5a; 32];
    v[..8].copy_from_slice(&n.to_be_bytes());
    v
}

/// One attestation request; checks that a successful answer is for this request's nonce.
async fn attest(link: &EnclaveLink, timeout: Duration) -> Result<(), String> {
    let nonce = nonce();
    let answer = link
        .request_with_deadline(
            Message::AttestRequest {
                nonce: nonce.clone(),
            },
            Instant::now() + timeout,
        )
        .await
        .map_err(|e| e.code().to_string())?;
    match answer {
        Message::Evidence(b) => {
            assert_eq!(b.nonce, nonce, "an answer for another request");
            Ok(())
        }
        other => panic!("unexpected answer {other:?}"),
    }
}

const UNAVAILABLE: [&str; 3] = [
    "host.link_lost",
    "host.enclave_unavailable",
    "host.link_closed",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enclave_killed_mid_request_fails_promptly_and_the_link_reconnects() {
    tokio::time::timeout(TEST_BUDGET, async {
        let dir = scratch();
        let mut enclave = Enclave::start(dir.path());
        let link = fast_link(dir.path().join("enclave.sock"));
        attest(&link, Duration::from_secs(5))
            .await
            .expect("a first answer");

        // Mid-request: freeze the enclave, send requests that cannot be answered, kill it.
        enclave.signal("STOP");
        let waiting: Vec<_> = (0..16)
            .map(|_| {
                let link = Arc::clone(&link);
                tokio::spawn(async move {
                    let r = attest(&link, Duration::from_secs(10)).await;
                    (r, Instant::now())
                })
            })
            .collect();
        wait_in_flight(&link, 16).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        let killed = Instant::now();
        enclave.kill();
        for w in waiting {
            let (result, at) = w.await.expect("task");
            let code = result.expect_err("the enclave died before answering");
            assert_eq!(code, "host.link_lost");
            assert!(
                at - killed < PROMPT,
                "failed {:?} after the kill",
                at - killed
            );
        }
        let s = link.stats().snapshot();
        assert_eq!((s.lost, s.in_flight, s.timeouts), (16, 0, 0), "{s:?}");

        // Down: requests fail at once; connects are attempted at the backoff's pace, not per
        // request.
        let down = Instant::now();
        let mut refused = 0;
        while down.elapsed() < Duration::from_millis(400) {
            let t = Instant::now();
            let code = attest(&link, Duration::from_secs(10))
                .await
                .expect_err("no enclave");
            assert!(UNAVAILABLE.contains(&code.as_str()), "{code}");
            assert!(
                t.elapsed() < Duration::from_millis(200),
                "{:?}",
                t.elapsed()
            );
            refused += 1;
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let s = link.stats().snapshot();
        assert!(refused > 40, "only {refused} requests in 400 ms");
        assert!(
            (1..=12).contains(&s.connect_failures),
            "connects while down should follow the backoff: {s:?} for {refused} requests"
        );
        // Each failed at once: refused by the backoff, a failed connect, or (a connection whose
        // end the reader had not yet seen) lost.
        assert_eq!(
            s.refused + s.connect_failures + (s.lost - 16),
            refused,
            "{s:?}"
        );

        // Back: the link reconnects by itself within the backoff's cap.
        let _enclave = Enclave::start(dir.path());
        let back = Instant::now();
        loop {
            match attest(&link, Duration::from_secs(5)).await {
                Ok(()) => break,
                Err(code) => assert!(UNAVAILABLE.contains(&code.as_str()), "{code}"),
            }
            assert!(back.elapsed() < Duration::from_secs(3), "no reconnect");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // Both pool connections come back and carry requests.
        for _ in 0..20 {
            attest(&link, Duration::from_secs(5))
                .await
                .expect("answers again");
        }
        let s = link.stats().snapshot();
        assert!(s.reconnects >= 1, "{s:?}");
        assert_eq!(s.dropped_answers, 0, "{s:?}");
    })
    .await
    .expect("test budget");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_callers_through_a_crash_never_hang_and_never_get_another_answer() {
    tokio::time::timeout(TEST_BUDGET, async {
        let dir = scratch();
        let mut enclave = Enclave::start(dir.path());
        let link = fast_link(dir.path().join("enclave.sock"));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let callers: Vec<_> = (0..8)
            .map(|_| {
                let link = Arc::clone(&link);
                let stop = Arc::clone(&stop);
                tokio::spawn(async move {
                    let (mut ok, mut failed, mut slowest) = (0u32, 0u32, Duration::ZERO);
                    while !stop.load(Ordering::Relaxed) {
                        let t = Instant::now();
                        match attest(&link, Duration::from_secs(10)).await {
                            Ok(()) => ok += 1,
                            Err(code) => {
                                assert!(UNAVAILABLE.contains(&code.as_str()), "{code}");
                                failed += 1;
                                slowest = slowest.max(t.elapsed());
                                tokio::time::sleep(Duration::from_millis(5)).await;
                            }
                        }
                    }
                    (ok, failed, slowest)
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(300)).await;
        enclave.kill();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let _enclave = Enclave::start(dir.path());
        // Give the link its backoff cap and some traffic after the restart.
        tokio::time::sleep(Duration::from_millis(800)).await;
        let before_stop = link.stats().snapshot();
        stop.store(true, Ordering::Relaxed);
        let (mut ok, mut failed) = (0, 0);
        for c in callers {
            let (o, f, slowest) = c.await.expect("caller");
            assert!(slowest < PROMPT, "a failure took {slowest:?}");
            ok += o;
            failed += f;
        }
        assert!(ok > 0 && failed > 0, "ok {ok}, failed {failed}");
        assert!(before_stop.reconnects >= 1, "{before_stop:?}");
        let s = link.stats().snapshot();
        assert_eq!(
            (s.in_flight, s.timeouts, s.dropped_answers),
            (0, 0, 0),
            "{s:?}"
        );
    })
    .await
    .expect("test budget");
}

// ---- a misbehaving enclave ------------------------------------------------------------------

/// How the fake enclave misbehaves.
#[derive(Clone, Copy)]
struct Faults {
    /// Send every answer twice.
    repeat: bool,
    /// After each answer, also answer an id nobody asked for.
    stray: bool,
    /// Answer requests whose nonce starts with 0xAA only after this long.
    slow: Duration,
}

/// A fake enclave on `dir/fake.sock`; counts its connections.
async fn fake_enclave(dir: &Path, faults: Faults) -> (PathBuf, Arc<AtomicU64>) {
    let path = dir.join("fake.sock");
    let listener = tokio::net::UnixListener::bind(&path).expect("bind");
    let connections = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&connections);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::Relaxed);
            let (mut r, w) = tokio::io::split(stream);
            let w = Arc::new(tokio::sync::Mutex::new(w));
            tokio::spawn(async move {
                while let Ok(Some(env)) = frame::read(&mut r, MAX_FRAME_LEN).await {
                    let w = Arc::clone(&w);
                    tokio::spawn(async move {
                        let answer = match env.msg {
                            Message::AttestRequest { nonce } => {
                                if nonce.first() == Some(&0xAA) {
                                    tokio::time::sleep(faults.slow).await;
                                }
                                // The nonce comes back in the error message: enough to check
                                // that the answer went to the right request.
                                Message::Error(WireError::new("test.echo", hex::encode(nonce)))
                            }
                            _ => Message::Error(WireError::new("test.unexpected", "unexpected")),
                        };
                        let mut w = w.lock().await;
                        let mut frames = vec![Envelope::new(env.id, answer.clone())];
                        if faults.repeat {
                            frames.push(Envelope::new(env.id, answer.clone()));
                        }
                        if faults.stray {
                            frames.push(Envelope::new(env.id + (1 << 40), answer));
                        }
                        for f in frames {
                            if frame::write(&mut *w, &f).await.is_err() {
                                return;
                            }
                        }
                    });
                }
            });
        }
    });
    (path, connections)
}

/// One request to the fake; `Ok` if the echoed nonce is this request's.
async fn echo(link: &EnclaveLink, nonce: Vec<u8>, timeout: Duration) -> Result<(), String> {
    match link
        .request_with_deadline(
            Message::AttestRequest {
                nonce: nonce.clone(),
            },
            Instant::now() + timeout,
        )
        .await
    {
        Ok(Message::Error(e)) => {
            assert_eq!(e.code, "test.echo");
            assert_eq!(
                e.message,
                hex::encode(&nonce),
                "an answer for another request"
            );
            Ok(())
        }
        Ok(other) => panic!("unexpected {other:?}"),
        Err(e) => Err(e.code().to_string()),
    }
}

/// A fresh nonce the fake enclave answers only after `Faults::slow`.
fn slow_nonce() -> Vec<u8> {
    let mut n = nonce();
    n[0] = 0xAA;
    n
}

/// Waits until `n` requests are in flight on `link` (at most 5 s).
async fn wait_in_flight(link: &EnclaveLink, n: u64) {
    let t0 = Instant::now();
    while link.stats().snapshot().in_flight < n {
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "requests not in flight: {:?}",
            link.stats().snapshot()
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

async fn wait_for_dropped(link: &EnclaveLink, n: u64) {
    let t0 = Instant::now();
    while link.stats().snapshot().dropped_answers < n {
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "{:?}",
            link.stats().snapshot()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_and_stray_answers_are_dropped_and_counted() {
    tokio::time::timeout(TEST_BUDGET, async {
        let dir = tempfile::tempdir().expect("tempdir");
        let faults = Faults {
            repeat: true,
            stray: true,
            slow: Duration::ZERO,
        };
        let (sock, connections) = fake_enclave(dir.path(), faults).await;
        let link = fast_link(sock);
        // Connect the pool first, so the requests below are spread over both connections.
        link.connect_now().await.expect("connect");
        let calls: Vec<_> = (0..50)
            .map(|_| {
                let link = Arc::clone(&link);
                tokio::spawn(async move { echo(&link, nonce(), Duration::from_secs(5)).await })
            })
            .collect();
        for c in calls {
            c.await.expect("task").expect("answered");
        }
        // Each request had one repeated and one stray answer: all dropped, none delivered.
        wait_for_dropped(&link, 100).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        let s = link.stats().snapshot();
        assert_eq!(s.dropped_answers, 100, "{s:?}");
        assert_eq!((s.connects, s.lost, s.timeouts), (2, 0, 0), "{s:?}");
        assert_eq!(
            connections.load(Ordering::Relaxed),
            2,
            "the pool has two connections"
        );
    })
    .await
    .expect("test budget");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_after_the_deadline_is_dropped_not_given_to_the_next_request() {
    tokio::time::timeout(TEST_BUDGET, async {
        let dir = tempfile::tempdir().expect("tempdir");
        let faults = Faults {
            repeat: false,
            stray: false,
            slow: Duration::from_millis(300),
        };
        let (sock, _) = fake_enclave(dir.path(), faults).await;
        let link = fast_link(sock);
        let t = Instant::now();
        let code = echo(&link, slow_nonce(), Duration::from_millis(100))
            .await
            .expect_err("deadline");
        assert_eq!(code, "host.enclave_timeout");
        let waited = t.elapsed();
        assert!(
            waited >= Duration::from_millis(100) && waited < Duration::from_millis(250),
            "{waited:?}"
        );
        // Requests on the same connections go on; none gets the late answer.
        for _ in 0..10 {
            echo(&link, nonce(), Duration::from_secs(5))
                .await
                .expect("answered");
        }
        wait_for_dropped(&link, 1).await;
        for _ in 0..10 {
            echo(&link, nonce(), Duration::from_secs(5))
                .await
                .expect("answered");
        }
        let s = link.stats().snapshot();
        assert_eq!(
            (s.timeouts, s.dropped_answers, s.in_flight),
            (1, 1, 0),
            "{s:?}"
        );
    })
    .await
    .expect("test budget");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_refuses_new_requests_and_waits_for_those_in_flight() {
    tokio::time::timeout(TEST_BUDGET, async {
        let dir = tempfile::tempdir().expect("tempdir");
        let faults = Faults {
            repeat: false,
            stray: false,
            slow: Duration::from_millis(300),
        };
        let (sock, _) = fake_enclave(dir.path(), faults).await;
        let link = fast_link(sock);
        let in_flight = {
            let link = Arc::clone(&link);
            tokio::spawn(async move { echo(&link, slow_nonce(), Duration::from_secs(5)).await })
        };
        wait_in_flight(&link, 1).await;
        let t = Instant::now();
        let drain = {
            let link = Arc::clone(&link);
            tokio::spawn(async move { link.drain(Instant::now() + Duration::from_secs(5)).await })
        };
        while !link.is_draining() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let code = echo(&link, nonce(), Duration::from_secs(5))
            .await
            .expect_err("draining");
        assert_eq!(code, "host.draining");
        assert_eq!(drain.await.expect("drain"), 0, "all finished");
        assert!(
            t.elapsed() >= Duration::from_millis(200),
            "{:?}",
            t.elapsed()
        );
        in_flight
            .await
            .expect("task")
            .expect("the in-flight request was answered");
    })
    .await
    .expect("test budget");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_deadline_reports_requests_left_in_flight() {
    tokio::time::timeout(TEST_BUDGET, async {
        let dir = tempfile::tempdir().expect("tempdir");
        let faults = Faults {
            repeat: false,
            stray: false,
            slow: Duration::from_millis(1_000),
        };
        let (sock, _) = fake_enclave(dir.path(), faults).await;
        let link = fast_link(sock);
        let calls: Vec<_> = (0..3)
            .map(|_| {
                let link = Arc::clone(&link);
                tokio::spawn(async move { echo(&link, slow_nonce(), Duration::from_secs(5)).await })
            })
            .collect();
        wait_in_flight(&link, 3).await;
        let left = link
            .drain(Instant::now() + Duration::from_millis(100))
            .await;
        assert_eq!(left, 3);
        for c in calls {
            c.await
                .expect("task")
                .expect("still answered after the drain deadline");
        }
    })
    .await
    .expect("test budget");
}
