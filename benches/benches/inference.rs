//! End-to-end inference latency and throughput: through the host (HTTP, as a caller sees it)
//! and straight to the enclave's socket (the same OHTTP request in a frame), in the same run,
//! so the host's overhead is their ratio. Writes its figures into target/bench/summary.json.
//!
//! Throughput with 16 and with 256 concurrent callers (`infer-*-rps-N`), and the host's resident
//! memory while 1024 callers flood it far past its queue (`host-rss-mb-under-overload`). The host
//! runs at log level info, as in production, with a per-client limit above 256: every caller
//! here comes from 127.0.0.1.
//!
//! Wall-clock figures on a shared 2-core machine: compare ratios within one run, not absolute
//! numbers across machines.
#![allow(
    clippy::expect_used,
    reason = "measurement code: a failed setup step aborts the benchmark run"
)]

use std::time::{Duration, Instant};

use cloister_attestation::UnixTime;
use cloister_client::session::{Session, seal_request};
use cloister_client::verify::VerifiedEnclave;
use cloister_proto::frame::{self, MAX_FRAME_LEN};
use cloister_proto::{Envelope, Message};
use cloister_tests::{System, sample_input};
use tokio::net::UnixStream;

const WARMUP: usize = 50;
const SAMPLES: usize = 1000;
const CONCURRENCY: [usize; 2] = [16, 256];
const RPS_WINDOW: Duration = Duration::from_secs(3);
/// Callers of the overload phase: over three times the host's queue (64 in flight + 256 queued).
const OVERLOAD_CALLERS: usize = 1024;
const OVERLOAD_WINDOW: Duration = Duration::from_secs(4);

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let sys = System::start_with_host_args(
        &["--max-per-client", "1024", "--log-format", "json"],
        &[("RUST_LOG", "info")],
    );
    let figures = rt.block_on(run(&sys));
    let path = cloister_benches::summary::merge(&figures).expect("writing the summary");
    println!("\nwrote {}", path.display());
}

async fn run(sys: &System) -> Vec<(String, f64)> {
    let session = Session::new(&sys.host_url).expect("session");
    let enclave = session
        .attest(&sys.trust(), UnixTime::now())
        .await
        .expect("attest");
    let input = sample_input();
    let sock = sys.socket();

    let mut direct = UnixStream::connect(&sock).await.expect("connect");
    let mut host_lat = Vec::with_capacity(SAMPLES);
    let mut direct_lat = Vec::with_capacity(SAMPLES);
    for i in 0..WARMUP + SAMPLES {
        // Interleaved, so drift on a shared machine hits both paths alike.
        let t = Instant::now();
        session
            .infer(&enclave, "credit-risk-v1", &input, UnixTime::now())
            .await
            .expect("infer via host");
        let h = t.elapsed();
        let t = Instant::now();
        infer_direct(&mut direct, &enclave, &input, i as u64).await;
        let d = t.elapsed();
        if i >= WARMUP {
            host_lat.push(h);
            direct_lat.push(d);
        }
    }
    let (hp50, hp99) = percentiles(&mut host_lat);
    let (dp50, dp99) = percentiles(&mut direct_lat);
    let mut figures = vec![
        ("infer-host-p50-us".to_owned(), hp50),
        ("infer-host-p99-us".to_owned(), hp99),
        ("infer-direct-p50-us".to_owned(), dp50),
        ("infer-direct-p99-us".to_owned(), dp99),
    ];
    let mut rps = Vec::new();
    for callers in CONCURRENCY {
        let (host_cpu, enclave_cpu) = (cpu_us(sys.host_pid()), cpu_us(sys.enclave_pid()));
        let (host_rps, done) = rps_via_host(sys, &input, callers).await;
        // CPU time per request of each process: what the host costs whatever else the machine
        // runs (on 2 cores the host, the enclave and the callers share them).
        let host_cpu = (cpu_us(sys.host_pid()) - host_cpu) / done;
        let enclave_cpu = (cpu_us(sys.enclave_pid()) - enclave_cpu) / done;
        let direct_rps = rps_direct(sys, &input, callers).await;
        figures.push((format!("infer-host-rps-{callers}"), host_rps));
        figures.push((format!("infer-direct-rps-{callers}"), direct_rps));
        figures.push((format!("host-cpu-us-per-infer-{callers}"), host_cpu));
        figures.push((format!("enclave-cpu-us-per-infer-{callers}"), enclave_cpu));
        rps.push((callers, host_rps, direct_rps));
    }
    let rss_mb = host_rss_under_overload(sys).await;
    figures.push(("host-rss-mb-under-overload".to_owned(), rss_mb));
    println!("{:<28} {:>12}", "figure", "value");
    for (k, v) in &figures {
        println!("{k:<28} {v:>12.1}");
    }
    println!(
        "host overhead: p50 {:+.0} us ({:.2}x), p99 {:+.0} us ({:.2}x)",
        hp50 - dp50,
        hp50 / dp50,
        hp99 - dp99,
        hp99 / dp99
    );
    for (callers, host_rps, direct_rps) in rps {
        println!(
            "rps with {callers} callers: host/direct {:.2} (target >= 0.90)",
            host_rps / direct_rps
        );
    }
    figures
}

/// One request straight to the enclave socket: seal, frame, read the answer, open and check.
async fn infer_direct(conn: &mut UnixStream, enclave: &VerifiedEnclave, input: &[u8], id: u64) {
    let (enc, pending) = seal_request(enclave, "credit-risk-v1", input).expect("seal");
    frame::write(
        conn,
        &Envelope::new(id, Message::InferRequest { ohttp: enc }),
    )
    .await
    .expect("write");
    let env = frame::read(conn, MAX_FRAME_LEN)
        .await
        .expect("read")
        .expect("frame");
    match env.msg {
        Message::InferResponse { ohttp } => {
            pending
                .open(&ohttp, enclave, UnixTime::now())
                .expect("open");
        }
        other => panic!("unexpected answer {other:?}"),
    }
}

/// Requests per second through the host, and how many were done.
async fn rps_via_host(sys: &System, input: &[u8], callers: usize) -> (f64, f64) {
    let mut ready = Vec::new();
    for _ in 0..callers {
        ready.push((
            Session::new(&sys.host_url).expect("session"),
            reattest(sys).await,
        ));
    }
    // The window starts once every caller has verified its evidence.
    let deadline = Instant::now() + RPS_WINDOW;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for (session, enclave) in ready {
        let input = input.to_vec();
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < deadline {
                session
                    .infer(&enclave, "credit-risk-v1", &input, UnixTime::now())
                    .await
                    .expect("infer");
                n += 1;
            }
            n
        }));
    }
    let done = total(tasks).await;
    (done / start.elapsed().as_secs_f64(), done)
}

async fn rps_direct(sys: &System, input: &[u8], callers: usize) -> f64 {
    let mut ready = Vec::new();
    for _ in 0..callers {
        ready.push((
            UnixStream::connect(sys.socket()).await.expect("connect"),
            reattest(sys).await,
        ));
    }
    let deadline = Instant::now() + RPS_WINDOW;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for (mut conn, enclave) in ready {
        let input = input.to_vec();
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < deadline {
                infer_direct(&mut conn, &enclave, &input, n).await;
                n += 1;
            }
            n
        }));
    }
    total(tasks).await / start.elapsed().as_secs_f64()
}

/// The host's largest resident set, in MB, sampled while [`OVERLOAD_CALLERS`] callers send
/// attestation requests as fast as they are answered (most get 503 at once) for
/// [`OVERLOAD_WINDOW`].
async fn host_rss_under_overload(sys: &System) -> f64 {
    let pid = sys.host_pid();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(OVERLOAD_CALLERS)
        .build()
        .expect("client");
    let deadline = Instant::now() + OVERLOAD_WINDOW;
    let mut tasks = Vec::new();
    for i in 0..OVERLOAD_CALLERS {
        let (client, url) = (client.clone(), sys.host_url.clone());
        tasks.push(tokio::spawn(async move {
            let nonce = hex::encode([i.to_be_bytes(), [7; 8]].concat());
            let url = format!("{url}/v1/attestation?nonce={nonce}");
            let mut refused = 0u64;
            while Instant::now() < deadline {
                match client.get(&url).send().await {
                    Ok(resp) => {
                        refused += u64::from(resp.status().as_u16() == 503);
                        let _ = resp.bytes().await;
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                }
            }
            refused
        }));
    }
    let mut peak_kib = 0u64;
    while Instant::now() < deadline {
        peak_kib = peak_kib.max(rss_kib(pid));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut refused = 0;
    for t in tasks {
        refused += t.await.expect("task");
    }
    println!(
        "overload: {OVERLOAD_CALLERS} callers for {OVERLOAD_WINDOW:?}, {refused} answered 503, host peak VmRSS {peak_kib} KiB"
    );
    peak_kib as f64 / 1024.0
}

/// User and system CPU time of a process so far, in µs (clock ticks of 10 ms: compare over
/// seconds, not single requests).
fn cpu_us(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of stat, 11 and 12 after the name and state.
    (ticks(11) + ticks(12)) * 10_000.0
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Each concurrent caller verifies its own evidence with its own nonce, as real callers do.
async fn reattest(sys: &System) -> VerifiedEnclave {
    let session = Session::new(&sys.host_url).expect("session");
    session
        .attest(&sys.trust(), UnixTime::now())
        .await
        .expect("attest")
}

/// Requests done by every task.
async fn total(tasks: Vec<tokio::task::JoinHandle<u64>>) -> f64 {
    let mut total = 0;
    for t in tasks {
        total += t.await.expect("task");
    }
    total as f64
}

fn percentiles(v: &mut [Duration]) -> (f64, f64) {
    v.sort();
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e6;
    (at(0.50), at(0.99))
}
