//! End-to-end inference latency and throughput: through the host (HTTP, as a caller sees it)
//! and straight to the enclave's socket (the same OHTTP request in a frame), in the same run,
//! so the host's overhead is their ratio. Writes its figures into target/bench/summary.json.
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
const CONCURRENCY: usize = 16;
const RPS_WINDOW: Duration = Duration::from_secs(3);

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let sys = System::start();
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
    let host_rps = rps_via_host(sys, &input).await;
    let direct_rps = rps_direct(sys, &input).await;

    let (hp50, hp99) = percentiles(&mut host_lat);
    let (dp50, dp99) = percentiles(&mut direct_lat);
    let figures = vec![
        ("infer-host-p50-us".to_owned(), hp50),
        ("infer-host-p99-us".to_owned(), hp99),
        ("infer-direct-p50-us".to_owned(), dp50),
        ("infer-direct-p99-us".to_owned(), dp99),
        ("infer-host-rps-16".to_owned(), host_rps),
        ("infer-direct-rps-16".to_owned(), direct_rps),
    ];
    println!("{:<24} {:>12}", "figure", "value");
    for (k, v) in &figures {
        println!("{k:<24} {v:>12.1}");
    }
    println!(
        "ratios: host/direct p50 {:.2}x, p99 {:.2}x; rps direct/host {:.2}x",
        hp50 / dp50,
        hp99 / dp99,
        direct_rps / host_rps
    );
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

async fn rps_via_host(sys: &System, input: &[u8]) -> f64 {
    let deadline = Instant::now() + RPS_WINDOW;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CONCURRENCY {
        let session = Session::new(&sys.host_url).expect("session");
        let enclave = reattest(sys).await;
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
    count(tasks, start).await
}

async fn rps_direct(sys: &System, input: &[u8]) -> f64 {
    let deadline = Instant::now() + RPS_WINDOW;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CONCURRENCY {
        let mut conn = UnixStream::connect(sys.socket()).await.expect("connect");
        let enclave = reattest(sys).await;
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
    count(tasks, start).await
}

/// Each concurrent caller verifies its own evidence with its own nonce, as real callers do.
async fn reattest(sys: &System) -> VerifiedEnclave {
    let session = Session::new(&sys.host_url).expect("session");
    session
        .attest(&sys.trust(), UnixTime::now())
        .await
        .expect("attest")
}

async fn count(tasks: Vec<tokio::task::JoinHandle<u64>>, start: Instant) -> f64 {
    let mut total = 0;
    for t in tasks {
        total += t.await.expect("task");
    }
    total as f64 / start.elapsed().as_secs_f64()
}

fn percentiles(v: &mut [Duration]) -> (f64, f64) {
    v.sort();
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e6;
    (at(0.50), at(0.99))
}
