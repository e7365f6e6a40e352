//! Three custodian processes on one PostgreSQL database (`scripts/postgres.sh` starts a
//! throwaway cluster; `scripts/test.sh` sets `CLOISTER_TEST_POSTGRES_URL` and
//! `CLOISTER_REQUIRE_POSTGRES=1`). Each test makes its own database.
//!
//! Without the URL these tests say loudly that they did not run; with
//! `CLOISTER_REQUIRE_POSTGRES=1` and no URL they fail.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use crate::harness::{Harness, harness};
use crate::process::{
    Served, audit_kinds, audit_verify, challenge_over_http, client, edit_config, init, path,
    register_over_http, release_over_http, run,
};

/// The restart test stops the whole cluster: it runs alone, the others share.
static CLUSTER: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// A fresh database on the test cluster, or `None` (said loudly) when there is no cluster.
fn database(name: &str) -> Option<String> {
    let Ok(url) = std::env::var("CLOISTER_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var("CLOISTER_REQUIRE_POSTGRES").is_err(),
            "CLOISTER_REQUIRE_POSTGRES is set but CLOISTER_TEST_POSTGRES_URL is not: \
             start a cluster with scripts/postgres.sh"
        );
        eprintln!(
            "\n*** PostgreSQL replica test {name} DID NOT RUN: CLOISTER_TEST_POSTGRES_URL is not set \
             (scripts/test.sh starts a throwaway cluster with scripts/postgres.sh) ***\n"
        );
        return None;
    };
    // The blocking client runs its own runtime: off the test's async thread.
    off_runtime(|| {
        let mut admin = postgres::Client::connect(&url, postgres::NoTls).expect("cluster");
        for sql in [
            format!("DROP DATABASE IF EXISTS {name}"),
            format!("CREATE DATABASE {name}"),
        ] {
            admin.batch_execute(&sql).expect("database");
        }
    });
    let (base, _) = url.rsplit_once('/').expect("url has a database");
    Some(format!("{base}/{name}"))
}

/// `init`, pointed at `db`, migrated.
fn configure(h: &Harness, db: &str) -> (tempfile::TempDir, PathBuf, String) {
    let (dir, config, token) = init(h);
    edit_config(&config, |c| c["store"] = db.into());
    let out = run(&["serve", "--config", path(&config)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("custodian.store.not_migrated"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&["migrate", "--config", path(&config)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Migrating again applies nothing.
    let out = run(&["migrate", "--config", path(&config)]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("applied 0 migration(s)"));
    (dir, config, token)
}

fn replicas(config: &Path, n: usize) -> Vec<Served> {
    (0..n)
        .map(|i| {
            // Each replica its own addr file beside a copy of the config.
            let copy = config.with_file_name(format!("custodian-{i}.json"));
            std::fs::copy(config, &copy).expect("copy");
            Served::start(&copy)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_replicas_release_each_challenge_at_most_once_on_one_chain() {
    let _cluster = CLUSTER.read().await;
    let Some(db) = database("cloister_race") else {
        return;
    };
    let h = harness();
    let (_dir, config, token) = configure(&h, &db);
    let served = replicas(&config, 3);
    register_over_http(&served[0].addr, &token, "model-1", h.mock_policy(h.pcr0)).await;

    let rounds = 25;
    for round in 0..rounds {
        // Issued by one replica, fired at all three at the same instant.
        let nonce = challenge_over_http(&served[round % 3].addr, "model-1").await;
        let attested = h.attest(&nonce);
        let body = serde_json::json!({ "key_id": "model-1", "bundle": attested.bundle_b64 });
        let sends = served.iter().map(|s| {
            client()
                .post(format!("http://{}/v1/release", s.addr))
                .json(&body)
                .send()
        });
        let statuses: Vec<StatusCode> = futures_join(sends).await;
        let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
        assert_eq!(ok, 1, "round {round}: {statuses:?}");
        assert!(
            statuses
                .iter()
                .all(|s| *s == StatusCode::OK || *s == StatusCode::CONFLICT),
            "round {round}: {statuses:?}"
        );
    }
    // A burst of challenges from every replica at once, then the chain.
    let burst = served.iter().flat_map(|s| {
        (0..20).map(move |_| {
            client()
                .post(format!("http://{}/v1/challenge", s.addr))
                .json(&serde_json::json!({ "key_id": "model-1" }))
                .send()
        })
    });
    let statuses = futures_join(burst).await;
    assert!(
        statuses.iter().all(|s| *s == StatusCode::OK),
        "{statuses:?}"
    );
    drop(served);

    let (ok, report) = audit_verify(&config);
    assert!(ok, "{report}");
    let kinds = audit_kinds(&config);
    let count = |k: &str| kinds.iter().filter(|(kind, _)| kind == k).count();
    assert_eq!(count("release"), rounds, "{report}");
    assert_eq!(count("challenge"), rounds + 60, "{report}");
    // The losers of each race are on record as refused, once each.
    assert_eq!(count("denied"), 2 * rounds, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_disabled_through_one_replica_is_refused_by_the_next_release_at_another() {
    let _cluster = CLUSTER.read().await;
    let Some(db) = database("cloister_disable") else {
        return;
    };
    let h = harness();
    let (_dir, config, token) = configure(&h, &db);
    let served = replicas(&config, 2);
    register_over_http(&served[0].addr, &token, "model-1", h.mock_policy(h.pcr0)).await;
    // A challenge from B, the key disabled through A, the release at B: refused, no delay.
    let nonce = challenge_over_http(&served[1].addr, "model-1").await;
    let resp = client()
        .put(format!(
            "http://{}/v1/admin/keys/model-1/disabled",
            served[0].addr
        ))
        .bearer_auth(&token)
        .json(&serde_json::json!({ "disabled": true }))
        .send()
        .await
        .expect("disable");
    assert_eq!(resp.status(), StatusCode::OK);
    let attested = h.attest(&nonce);
    let resp = client()
        .post(format!("http://{}/v1/release", served[1].addr))
        .json(&serde_json::json!({ "key_id": "model-1", "bundle": attested.bundle_b64 }))
        .send()
        .await
        .expect("release");
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let body: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(body["code"], "custodian.key_disabled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exhausted_pool_answers_503_with_retry_after_and_recovers() {
    let _cluster = CLUSTER.read().await;
    let Some(db) = database("cloister_pool") else {
        return;
    };
    let h = harness();
    let (_dir, config, token) = configure(&h, &db);
    edit_config(&config, |c| {
        c["store_pool_size"] = 1.into();
        c["store_checkout_timeout_ms"] = 300.into();
    });
    let served = Served::start(&config);
    register_over_http(&served.addr, &token, "model-1", h.mock_policy(h.pcr0)).await;
    // Hold the chain lock from outside: the replica's one connection waits on it, and the next
    // request finds no free connection.
    let (release_lock, lock_released) = std::sync::mpsc::channel::<()>();
    let (locked, is_locked) = std::sync::mpsc::channel::<()>();
    let holder = std::thread::spawn({
        let db = db.clone();
        move || {
            let mut c = postgres::Client::connect(&db, postgres::NoTls).expect("connect");
            c.execute("SELECT pg_advisory_lock($1)", &[&0x434c_5354_i64])
                .expect("lock");
            locked.send(()).expect("signal");
            let _ = lock_released.recv();
            c.execute("SELECT pg_advisory_unlock($1)", &[&0x434c_5354_i64])
                .expect("unlock");
        }
    });
    is_locked.recv().expect("locked");
    let blocked = tokio::spawn(challenge_over_http_status(served.addr.clone()));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let resp = client()
        .post(format!("http://{}/v1/challenge", served.addr))
        .json(&serde_json::json!({ "key_id": "model-1" }))
        .send()
        .await
        .expect("challenge");
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(resp.headers()["retry-after"], "1");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "answered, not hung"
    );
    let body: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(body["code"], "custodian.store.unavailable");
    release_lock.send(()).expect("release the lock");
    holder.join().expect("holder");
    assert_eq!(blocked.await.expect("join"), StatusCode::OK);
    assert_eq!(
        release_over_http(&h, &served.addr, "model-1").await.0,
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn releases_fail_cleanly_during_a_database_restart_and_resume() {
    let _cluster = CLUSTER.write().await;
    let Some(db) = database("cloister_restart") else {
        return;
    };
    let Ok(restart) = std::env::var("CLOISTER_TEST_POSTGRES_RESTART") else {
        panic!("CLOISTER_TEST_POSTGRES_RESTART is not set (scripts/postgres.sh prints it)");
    };
    let h = harness();
    let (_dir, config, token) = configure(&h, &db);
    let served = Served::start(&config);
    register_over_http(&served.addr, &token, "model-1", h.mock_policy(h.pcr0)).await;
    let restarter = tokio::task::spawn_blocking(move || {
        std::thread::sleep(Duration::from_millis(300));
        std::process::Command::new("sh")
            .args(["-c", &restart])
            .status()
            .expect("restart")
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut ok, mut unavailable) = (0, 0);
    while !restarter.is_finished() || ok < 5 {
        assert!(Instant::now() < deadline, "releases did not resume");
        match release_attempt(&h, &served.addr).await {
            Some(StatusCode::OK) => ok += 1,
            Some(s) => {
                assert!(s.is_server_error(), "{s}");
                unavailable += 1;
            }
            None => unavailable += 1,
        }
    }
    assert!(restarter.await.expect("join").success());
    assert!(unavailable > 0, "the outage was not seen: {ok} ok");
    eprintln!("restart: {ok} releases ok, {unavailable} refused as unavailable meanwhile");
    drop(served);
    // Nothing half-written: the chain verifies and every release has its record.
    let (verified, report) = audit_verify(&config);
    assert!(verified, "{report}");
    assert!(
        audit_kinds(&config)
            .iter()
            .filter(|(k, _)| k == "release")
            .count()
            >= ok
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_killed_mid_release_loses_and_doubles_nothing() {
    let _cluster = CLUSTER.read().await;
    let Some(db) = database("cloister_kill") else {
        return;
    };
    let h = harness();
    let (_dir, config, token) = configure(&h, &db);
    let mut served = replicas(&config, 3);
    register_over_http(&served[0].addr, &token, "model-1", h.mock_policy(h.pcr0)).await;
    // Load on every replica; the middle one is killed while releases are in flight there.
    let h = std::sync::Arc::new(h);
    let addrs: Vec<String> = served.iter().map(|s| s.addr.clone()).collect();
    let load: Vec<_> = (0..12)
        .map(|i| {
            let (h, addr) = (h.clone(), addrs[i % 3].clone());
            tokio::spawn(async move {
                let mut ok = 0;
                for _ in 0..8 {
                    if release_attempt(&h, &addr).await == Some(StatusCode::OK) {
                        ok += 1;
                    }
                }
                ok
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(400)).await;
    served.remove(1).kill();
    let mut released = 0;
    for t in load {
        released += t.await.expect("load");
    }
    drop(served);

    let (verified, report) = audit_verify(&config);
    assert!(verified, "{report}");
    let records = audit_kinds(&config);
    let releases = records.iter().filter(|(k, _)| k == "release").count();
    // Every release a caller received is on the chain (a killed replica may have committed one
    // whose answer never left: on the chain, never received — not the other way round).
    assert!(
        releases >= released,
        "{releases} recorded < {released} received"
    );
    // Each redeemed challenge has exactly one record, and each record one redeemed challenge;
    // a challenge whose release died with the replica is still redeemable, not lost.
    let (used, unused_live) = off_runtime(|| {
        let mut c = postgres::Client::connect(&db, postgres::NoTls).expect("connect");
        let used: i64 = c
            .query_one("SELECT COUNT(*) FROM challenges WHERE used", &[])
            .expect("count")
            .get(0);
        let live: i64 = c
            .query_one("SELECT COUNT(*) FROM challenges WHERE NOT used", &[])
            .expect("count")
            .get(0);
        (used, live)
    });
    let denials = records.iter().filter(|(k, _)| k == "denied").count();
    assert_eq!(
        used.unsigned_abs() as usize,
        releases + denials,
        "{records:?}"
    );
    eprintln!(
        "kill: {released} releases received, {releases} recorded, {denials} refused, {unused_live} challenges left redeemable"
    );
}

/// Runs blocking database code on its own thread.
fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| s.spawn(f).join().expect("thread"))
}

/// One challenge and release, `None` when the transport failed.
async fn release_attempt(h: &Harness, addr: &str) -> Option<StatusCode> {
    let c = client()
        .post(format!("http://{addr}/v1/challenge"))
        .json(&serde_json::json!({ "key_id": "model-1" }))
        .send()
        .await
        .ok()?;
    if c.status() != StatusCode::OK {
        return Some(c.status());
    }
    let c: serde_json::Value = c.json().await.ok()?;
    let nonce = B64.decode(c["nonce"].as_str()?).ok()?;
    let attested = h.attest(&nonce);
    let r = client()
        .post(format!("http://{addr}/v1/release"))
        .json(&serde_json::json!({ "key_id": "model-1", "bundle": attested.bundle_b64 }))
        .send()
        .await
        .ok()?;
    Some(r.status())
}

async fn challenge_over_http_status(addr: String) -> StatusCode {
    client()
        .post(format!("http://{addr}/v1/challenge"))
        .json(&serde_json::json!({ "key_id": "model-1" }))
        .send()
        .await
        .expect("challenge")
        .status()
}

/// Sends every request concurrently; their statuses in order.
async fn futures_join<F>(sends: impl Iterator<Item = F>) -> Vec<StatusCode>
where
    F: std::future::Future<Output = reqwest::Result<reqwest::Response>> + Send + 'static,
{
    let handles: Vec<_> = sends.map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.expect("join").expect("send").status());
    }
    out
}
