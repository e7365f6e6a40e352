//! Releases per second of the key custodian on PostgreSQL: 64 concurrent clients on loopback,
//! each looping challenge → mock evidence → release, against one replica and against three on
//! the same database. Writes `custodian-release-rps-1`, `custodian-release-rps-3`,
//! `custodian-release-p99-ms` (three replicas), and, to locate the ceiling,
//! `custodian-challenge-rps-1` (a challenge is one database transaction with its audit append
//! and no verification) and `mock-evidence-verify-us` (one verification, in process).
//!
//! Needs the release binaries and a PostgreSQL cluster: `CLOISTER_TEST_POSTGRES_URL`
//! (scripts/bench.sh starts a throwaway one with scripts/postgres.sh). Without it, says so and
//! writes nothing. The clients make their mock evidence on the same two cores as the
//! custodians: compare within one run.
#![allow(
    clippy::expect_used,
    reason = "measurement code: a failed setup step aborts the benchmark run"
)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use cloister_attestation::mock::{MockCa, MockNsm, ROOT_CERT_FILE};
use cloister_attestation::nitro::pcr::nitro_measure;
use cloister_attestation::{EvidenceVerifier, NitroPolicy, Platform, TrustPolicy, UnixTime};
use cloister_benches::processes::{Processes, wait_for_path};
use cloister_proto::EvidencePlatform;
use cloister_tests::bin;

const CLIENTS: usize = 64;
const WARMUP: Duration = Duration::from_secs(1);
const MEASURE: Duration = Duration::from_secs(5);

/// The mock enclave: its NSM and the bundles it makes.
struct Enclave {
    nsm: MockNsm,
}

impl Enclave {
    fn bundle_b64(&self, nonce: &[u8]) -> String {
        cloister_tests::mock_release_bundle(&self.nsm, nonce, EvidencePlatform::Mock).bundle_b64
    }
}

/// Runs `CLIENTS` loops over `addrs` for `MEASURE` after `WARMUP`; returns (ops/s, latencies ms).
async fn load(addrs: &[String], enclave: Arc<Enclave>, release: bool) -> (f64, Vec<f64>) {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(CLIENTS)
        .build()
        .expect("client");
    let stop = Arc::new(AtomicBool::new(false));
    let measuring = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for i in 0..CLIENTS {
        let addr = addrs[i % addrs.len()].clone();
        let (http, enclave, stop, measuring) = (
            http.clone(),
            enclave.clone(),
            stop.clone(),
            measuring.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                let c: serde_json::Value = http
                    .post(format!("http://{addr}/v1/challenge"))
                    .json(&serde_json::json!({ "key_id": "bench-model" }))
                    .send()
                    .await
                    .expect("challenge")
                    .json()
                    .await
                    .expect("json");
                if release {
                    let nonce = B64
                        .decode(c["nonce"].as_str().expect("nonce"))
                        .expect("b64");
                    let enclave = enclave.clone();
                    let bundle = tokio::task::spawn_blocking(move || enclave.bundle_b64(&nonce))
                        .await
                        .expect("attest");
                    let status = http
                        .post(format!("http://{addr}/v1/release"))
                        .json(&serde_json::json!({ "key_id": "bench-model", "bundle": bundle }))
                        .send()
                        .await
                        .expect("release")
                        .status();
                    assert!(status.is_success(), "release answered {status}");
                }
                if measuring.load(Ordering::Relaxed) {
                    latencies.push(started.elapsed().as_secs_f64() * 1000.0);
                }
            }
            latencies
        }));
    }
    tokio::time::sleep(WARMUP).await;
    measuring.store(true, Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(MEASURE).await;
    measuring.store(false, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("client"));
    }
    (all.len() as f64 / elapsed, all)
}

fn p99(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get((v.len() * 99 / 100).min(v.len().saturating_sub(1)))
        .copied()
        .unwrap_or(f64::NAN)
}

fn main() {
    let Ok(url) = std::env::var("CLOISTER_TEST_POSTGRES_URL") else {
        println!(
            "custodian_replicas: SKIPPED, CLOISTER_TEST_POSTGRES_URL is not set \
             (scripts/bench.sh starts a cluster with scripts/postgres.sh)"
        );
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let now = UnixTime::now();
    let db = {
        let url = url.clone();
        std::thread::spawn(move || {
            let mut admin = postgres_admin(&url);
            for sql in [
                "DROP DATABASE IF EXISTS cloister_bench",
                "CREATE DATABASE cloister_bench",
            ] {
                admin.batch_execute(sql).expect("database");
            }
            let (base, _) = url.rsplit_once('/').expect("url");
            format!("{base}/cloister_bench")
        })
        .join()
        .expect("db")
    };

    let out = Command::new(bin("cloister-custodian"))
        .args(["init", "--dir"])
        .arg(d.join("custodian"))
        .stderr(Stdio::null())
        .output()
        .expect("init");
    assert!(out.status.success());
    let ca = MockCa::generate(now).expect("mock CA");
    ca.write_to_dir(&d.join("mock")).expect("CA");
    let config = d.join("custodian/custodian.json");
    let mut c: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&config).expect("config")).expect("json");
    c["dangerous_mock_root_pem"] = d
        .join("mock")
        .join(ROOT_CERT_FILE)
        .display()
        .to_string()
        .into();
    c["store"] = db.into();
    c["store_pool_size"] = 32.into();
    c["listen"] = "127.0.0.1:0".into();
    std::fs::write(&config, c.to_string()).expect("config");
    let out = Command::new(bin("cloister-custodian"))
        .args(["migrate", "--config"])
        .arg(&config)
        .output()
        .expect("migrate");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let mut procs = Processes(Vec::new());
    let addrs: Vec<String> = (0..3)
        .map(|i| {
            let copy = d.join(format!("custodian/replica-{i}.json"));
            std::fs::copy(&config, &copy).expect("copy");
            let addr_file: PathBuf = d.join(format!("replica-{i}.addr"));
            procs.0.push(
                Command::new(bin("cloister-custodian"))
                    .arg("serve")
                    .arg("--config")
                    .arg(&copy)
                    .arg("--addr-file")
                    .arg(&addr_file)
                    .env("RUST_LOG", "warn")
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("serve"),
            );
            wait_for_path(&addr_file);
            std::fs::read_to_string(&addr_file)
                .expect("addr")
                .trim()
                .to_owned()
        })
        .collect();

    let pcr0 = nitro_measure(b"custodian bench enclave");
    let nsm = MockNsm::boot(
        ca.intermediate(),
        BTreeMap::from([(0, pcr0)]),
        "bench".into(),
        now,
    )
    .expect("nsm");
    let enclave = Arc::new(Enclave { nsm });
    let policy = TrustPolicy::new()
        .with_mock(
            NitroPolicy::default()
                .with_pcr(0, pcr0)
                .expect("pcr")
                .with_max_age_secs(600)
                .dangerous_trust_mock_root(ca.root_sha256()),
        )
        .expect("policy");
    let token = std::fs::read_to_string(d.join("custodian/admin-token")).expect("token");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let resp = reqwest::Client::new()
            .put(format!("http://{}/v1/admin/keys/bench-model", addrs[0]))
            .bearer_auth(token.trim())
            .json(&serde_json::json!({
                "dek": B64.encode([0x5a; 32]),
                "trust_policy": serde_json::from_str::<serde_json::Value>(&policy.to_json()).expect("json"),
            }))
            .send()
            .await
            .expect("register");
        assert!(resp.status().is_success(), "register: {}", resp.status());
    });

    // One verification in process, for scale.
    let verifier = EvidenceVerifier::new().with_mock_root(ca.root_anchor());
    let evidence = enclave
        .nsm
        .attest(Some(&[1; 48]), Some(&[2; 32]), None, now)
        .expect("attest");
    let mut us = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        verifier
            .verify(Platform::Mock, &evidence, &[] as &[Vec<u8>], now)
            .expect("verify");
        us.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let verify_us = cloister_benches::timing::median(us);

    let (challenge_rps, _) = rt.block_on(load(&addrs[..1], enclave.clone(), false));
    let (rps1, _) = rt.block_on(load(&addrs[..1], enclave.clone(), true));
    let (rps3, lat3) = rt.block_on(load(&addrs, enclave, true));
    let p99_3 = p99(lat3);

    println!(
        "custodian on PostgreSQL, {CLIENTS} clients on loopback, mock evidence, {}s",
        MEASURE.as_secs()
    );
    println!("  custodian-challenge-rps-1   {challenge_rps:.0}");
    println!("  custodian-release-rps-1     {rps1:.0}");
    println!(
        "  custodian-release-rps-3     {rps3:.0}  ({:.2}x one replica)",
        rps3 / rps1
    );
    println!("  custodian-release-p99-ms    {p99_3:.1}");
    println!("  mock-evidence-verify-us     {verify_us:.0}");
    let path = cloister_benches::summary::merge(&[
        ("custodian-challenge-rps-1".to_owned(), challenge_rps),
        ("custodian-release-rps-1".to_owned(), rps1),
        ("custodian-release-rps-3".to_owned(), rps3),
        ("custodian-release-p99-ms".to_owned(), p99_3),
        ("mock-evidence-verify-us".to_owned(), verify_us),
    ])
    .expect("summary");
    println!("\nwrote {}", path.display());
}

fn postgres_admin(url: &str) -> postgres::Client {
    postgres::Client::connect(url, postgres::NoTls).expect("cluster")
}
