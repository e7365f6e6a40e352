//! The enclave supervisor with the real mock enclave (issue 15, items 4 and 6): start and
//! readiness, restart of a killed enclave with backoff, drain at shutdown, and first starts
//! that fail.
//!
//! Needs the mock `cloister-enclave` binary: `cargo build --release -p cloister-enclave --bins`
//! (scripts/test.sh builds every binary). Every test is bounded by [`TEST_BUDGET`].
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "integration tests: a helper outside a #[test] fn panicking is the calling test failing"
)]

use std::path::Path;
use std::time::Duration;

use cloister_host::link::{EnclaveLink, LinkConfig};
use cloister_host::supervisor::config::{EnclaveSpec, RestartPolicy, SupervisorConfig};
use cloister_host::supervisor::{EnclaveState, Supervisor};
use cloister_host::transport::EnclaveAddr;
use cloister_proto::Message;
use tokio::time::Instant;

mod common;
use common::{enclave_bin, model_dir, scratch, signal};

/// The most any test here may take (each takes well under it).
const TEST_BUDGET: Duration = Duration::from_secs(20);

/// A mock-enclave configuration in `dir` with fast restarts.
fn config(dir: &Path) -> SupervisorConfig {
    let sock = dir.join("enclave.sock");
    let model = model_dir();
    SupervisorConfig {
        address: EnclaveAddr::Unix(sock.clone()),
        enclave: EnclaveSpec::Mock {
            binary: enclave_bin(),
            args: vec![
                "--listen".into(),
                format!("unix:{}", sock.display()),
                "--model".into(),
                model.display().to_string(),
                "--platform".into(),
                "mock".into(),
                "--mock-ca".into(),
                dir.join("mock").display().to_string(),
            ],
            log_file: Some(dir.join("enclave.log")),
        },
        restart: RestartPolicy {
            initial_backoff_ms: 200,
            max_backoff_ms: 2_000,
            stable_after_ms: 60_000,
        },
        ready_timeout_ms: 10_000,
        drain_timeout_ms: 5_000,
        link: LinkConfig {
            reconnect_initial_ms: 20,
            reconnect_max_ms: 200,
            ..LinkConfig::default()
        },
    }
}

async fn attest(link: &EnclaveLink) -> Result<(), String> {
    let nonce = vec![0x42; 32];
    match link
        .request_with_deadline(
            Message::AttestRequest {
                nonce: nonce.clone(),
            },
            Instant::now() + Duration::from_secs(5),
        )
        .await
    {
        Ok(Message::Evidence(b)) => {
            assert_eq!(b.nonce, nonce);
            Ok(())
        }
        Ok(other) => panic!("unexpected {other:?}"),
        Err(e) => Err(e.code().to_string()),
    }
}

/// Waits for `state`, returning when it was seen.
async fn wait_state(
    rx: &mut tokio::sync::watch::Receiver<EnclaveState>,
    state: EnclaveState,
) -> Instant {
    tokio::time::timeout(Duration::from_secs(10), rx.wait_for(|s| *s == state))
        .await
        .unwrap_or_else(|_| panic!("no {state:?} within 10 s"))
        .expect("supervisor alive");
    Instant::now()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_enclave_is_restarted_with_backoff_and_the_link_works_again() {
    tokio::time::timeout(TEST_BUDGET, async {
        let dir = scratch();
        let supervisor = Supervisor::start(config(dir.path())).await.expect("start");
        assert_eq!(supervisor.state(), EnclaveState::Ready);
        let link = supervisor.link().clone();
        attest(&link).await.expect("ready means answering");
        let mut states = supervisor.subscribe();

        let mut delays = Vec::new();
        let mut pid = supervisor.enclave_pid().expect("a mock enclave has a pid");
        for round in 1..=2u64 {
            signal(pid, "KILL");
            let exited = wait_state(&mut states, EnclaveState::Restarting).await;
            // While it is down, requests fail at once with a 503-class error.
            let t = Instant::now();
            let code = attest(&link).await.expect_err("down");
            assert_eq!(code, "host.enclave_restarting");
            assert!(
                t.elapsed() < Duration::from_millis(100),
                "{:?}",
                t.elapsed()
            );
            let starting = wait_state(&mut states, EnclaveState::Starting).await;
            delays.push(starting - exited);
            wait_state(&mut states, EnclaveState::Ready).await;
            attest(&link).await.expect("the link works again");
            let s = supervisor.stats().snapshot();
            assert_eq!(
                (s.exits, s.restarts, s.failed_starts),
                (round, round, 0),
                "{s:?}"
            );
            let new_pid = supervisor.enclave_pid().expect("restarted");
            assert_ne!(new_pid, pid);
            pid = new_pid;
        }
        // Jittered into the upper half of 200 ms, then of 400 ms (the enclave never ran a
        // stable minute, so the backoff grew).
        assert!(delays[0] >= Duration::from_millis(100), "{delays:?}");
        assert!(delays[1] >= Duration::from_millis(200), "{delays:?}");
        let l = link.stats().snapshot();
        assert!(l.reconnects >= 2, "{l:?}");

        let report = supervisor.shutdown().await.expect("shutdown");
        assert_eq!(report.abandoned, 0);
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "the enclave was stopped"
        );
    })
    .await
    .expect("test budget");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_waits_for_the_request_in_flight_then_stops_the_enclave() {
    tokio::time::timeout(TEST_BUDGET, async {
        let dir = scratch();
        let supervisor = Supervisor::start(config(dir.path())).await.expect("start");
        let link = supervisor.link().clone();
        let pid = supervisor.enclave_pid().expect("pid");
        // Freeze the enclave so a request stays in flight, start the shutdown, then let the
        // enclave answer.
        signal(pid, "STOP");
        let in_flight = {
            let link = link.clone();
            tokio::spawn(async move { attest(&link).await })
        };
        while link.stats().snapshot().in_flight == 0 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let shutdown = tokio::spawn(supervisor.shutdown());
        while !link.is_draining() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(attest(&link).await.expect_err("draining"), "host.draining");
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            !shutdown.is_finished(),
            "shutdown must wait for the request"
        );
        signal(pid, "CONT");
        in_flight
            .await
            .expect("task")
            .expect("the request in flight is answered");
        let report = shutdown.await.expect("task").expect("shutdown");
        assert_eq!(report.abandoned, 0);
        assert!(
            report.drained_in >= Duration::from_millis(300),
            "{report:?}"
        );
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "the enclave was stopped"
        );
    })
    .await
    .expect("test budget");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_start_that_fails_is_an_error_not_a_hang() {
    tokio::time::timeout(TEST_BUDGET, async {
        let dir = scratch();

        // The binary is missing.
        let mut c = config(dir.path());
        if let EnclaveSpec::Mock { binary, .. } = &mut c.enclave {
            *binary = dir.path().join("no-such-enclave");
        }
        let err = Supervisor::start(c).await.err().expect("missing binary");
        assert_eq!(err.code(), "supervisor.spawn");
        assert!(err.to_string().contains("no-such-enclave"), "{err}");

        // The enclave exits at once (no --mock-ca).
        let mut c = config(dir.path());
        if let EnclaveSpec::Mock { args, .. } = &mut c.enclave {
            args.truncate(6);
        }
        let t = Instant::now();
        let err = Supervisor::start(c).await.err().expect("exits");
        assert_eq!(err.code(), "supervisor.exited_before_ready", "{err}");
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());

        // The enclave listens somewhere else: not ready by the deadline, and stopped.
        let mut c = config(dir.path());
        c.ready_timeout_ms = 1_500;
        c.address = EnclaveAddr::Unix(dir.path().join("elsewhere.sock"));
        let t = Instant::now();
        let err = Supervisor::start(c).await.err().expect("not ready");
        assert_eq!(err.code(), "supervisor.not_ready", "{err}");
        assert!(
            err.to_string().contains("host.enclave_unavailable"),
            "{err}"
        );
        let waited = t.elapsed();
        assert!(
            waited >= Duration::from_millis(1_000) && waited < Duration::from_secs(5),
            "{waited:?}"
        );
    })
    .await
    .expect("test budget");
}
