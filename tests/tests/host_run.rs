//! `cloister-host run --config FILE` as operators run it (issue 15, items 4 to 6): the host
//! starts the mock enclave itself, serves callers once it is ready, restarts it when it is
//! killed mid-request, exports that in /metrics, logs JSON lines with request ids and never a
//! payload (the canary, now under load), and drains and stops the enclave on SIGTERM.
//!
//! Real processes on loopback and Unix sockets; every wait is bounded.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "integration tests: a helper outside a #[test] fn panicking is the calling test failing"
)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cloister_attestation::UnixTime;
use cloister_client::session::Session;
use cloister_client::verify::TrustConfig;
use cloister_tests::{bin, mock_init, model_dir, sample_input, wait_until};

/// The longest any caller may wait for one answer here: a hang fails the test, not CI.
const ANSWER_BUDGET: Duration = Duration::from_secs(15);

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// A `cloister-host run --config` process with its scratch directory. Killed on drop.
struct RunningHost {
    dir: tempfile::TempDir,
    url: String,
    child: Child,
}

impl RunningHost {
    /// Writes a mock CA and policy, the host configuration (with `edge` limits), and starts the
    /// host, which starts the enclave; returns once the host listens (the enclave is ready).
    fn start(edge: serde_json::Value) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mock = dir.path().join("mock");
        mock_init(&mock);
        let sock = dir.path().join("enclave.sock");
        let config = serde_json::json!({
            "listen": "127.0.0.1:0",
            "addr_file": dir.path().join("host.addr"),
            "supervisor": {
                "address": format!("unix://{}", sock.display()),
                "enclave": {
                    "kind": "mock",
                    "binary": bin("cloister-enclave"),
                    "args": ["--listen", format!("unix:{}", sock.display()),
                             "--model", model_dir(), "--platform", "mock", "--mock-ca", mock],
                    "log_file": dir.path().join("enclave.log"),
                },
                "restart": {"initial_backoff_ms": 200, "max_backoff_ms": 1000},
                "ready_timeout_ms": 20000,
                "drain_timeout_ms": 5000,
            },
            "edge": edge,
            "log_format": "json",
        });
        let config_path = dir.path().join("host.json");
        std::fs::write(&config_path, config.to_string()).expect("config");
        let child = Command::new(bin("cloister-host"))
            .args(["run", "--config"])
            .arg(&config_path)
            .env("RUST_LOG", "trace")
            .stderr(std::fs::File::create(dir.path().join("host.log")).expect("log"))
            .spawn()
            .expect("spawn host");
        let addr_file = dir.path().join("host.addr");
        wait_until("the host address (enclave started and ready)", || {
            addr_file.exists()
        });
        let url = format!(
            "http://{}",
            std::fs::read_to_string(&addr_file).expect("addr")
        );
        Self { dir, url, child }
    }

    fn trust(&self) -> TrustConfig {
        let mock = self.dir.path().join("mock");
        TrustConfig::from_files(&mock.join("policy.json"), Some(&mock.join("root.pem")))
            .expect("trust")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("host.log")).unwrap_or_default()
    }

    fn enclave_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("enclave.log")).unwrap_or_default()
    }

    /// The supervised enclave: the host's one child process.
    fn enclave_pid(&self) -> u32 {
        let task_dir = PathBuf::from(format!("/proc/{}/task", self.child.id()));
        let mut children = Vec::new();
        for task in std::fs::read_dir(&task_dir).expect("tasks").flatten() {
            let list = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            children.extend(
                list.split_whitespace()
                    .map(|p| p.parse::<u32>().expect("pid")),
            );
        }
        assert_eq!(
            children.len(),
            1,
            "the host runs exactly one enclave: {children:?}"
        );
        children[0]
    }

    fn signal(pid: u32, sig: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(pid.to_string())
            .status()
            .expect("kill");
        assert!(ok.success(), "kill -{sig} {pid}");
    }

    /// SIGTERM, then the exit status (within `budget`).
    fn terminate(&mut self, budget: Duration) -> ExitStatus {
        Self::signal(self.child.id(), "TERM");
        let deadline = Instant::now() + budget;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the host did not stop within {budget:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for RunningHost {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `GET /v1/attestation` with a fresh nonce: the status, the JSON error code if any, the
/// `Retry-After` and `x-request-id` headers.
async fn attest_raw(
    client: &reqwest::Client,
    url: &str,
    n: u64,
) -> (u16, Option<String>, Option<String>, Option<String>) {
    let nonce = hex::encode([n.to_be_bytes(), [0x5a; 8]].concat());
    let resp = tokio::time::timeout(
        ANSWER_BUDGET,
        client
            .get(format!("{url}/v1/attestation?nonce={nonce}"))
            .send(),
    )
    .await
    .expect("an answer within the budget, never a hang")
    .expect("the host answers");
    let status = resp.status().as_u16();
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let retry_after = header("retry-after");
    let request_id = header("x-request-id");
    let body = resp.bytes().await.expect("body");
    let code = (status != 200).then(|| {
        let v: serde_json::Value = serde_json::from_slice(&body).expect("every error is JSON");
        v["error"]["code"].as_str().expect("a code").to_owned()
    });
    (status, code, retry_after, request_id)
}

async fn metrics(url: &str) -> String {
    reqwest::get(format!("{url}/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text")
}

fn metric(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn run_restarts_a_killed_enclave_and_drains_on_sigterm() {
    let mut host = RunningHost::start(serde_json::json!({}));
    let url = host.url.clone();
    let trust = host.trust();
    let first_pid = host.enclave_pid();
    let started = rt().block_on(async {
        let session = Session::new(&url).expect("session");
        let enclave = session
            .attest(&trust, UnixTime::now())
            .await
            .expect("attest");
        session
            .infer(&enclave, "credit-risk-v1", &sample_input(), UnixTime::now())
            .await
            .expect("infer before the kill");

        // Callers in flight while the enclave is killed: each gets an answer within the
        // budget, either evidence for its own nonce or a 503 with a code.
        let client = reqwest::Client::new();
        let callers: Vec<_> = (0..24u64)
            .map(|i| {
                let (client, url) = (client.clone(), url.clone());
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(i * 5)).await;
                    attest_raw(&client, &url, i).await
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(40)).await;
        RunningHost::signal(first_pid, "KILL");
        let killed = Instant::now();
        for caller in callers {
            let (status, code, retry_after, request_id) = caller.await.expect("caller");
            assert!(request_id.is_some(), "every answer names its request");
            match status {
                200 => {}
                503 => {
                    let code = code.expect("code");
                    assert!(
                        [
                            "host.link_lost",
                            "host.enclave_restarting",
                            "host.enclave_unavailable"
                        ]
                        .contains(&code.as_str()),
                        "{code}"
                    );
                    if code == "host.enclave_restarting" {
                        assert_eq!(retry_after.as_deref(), Some("1"));
                    }
                }
                other => panic!("status {other} ({code:?}) while the enclave restarts"),
            }
        }
        // Back within the restart backoff and a start: the same caller flow works again.
        let back = loop {
            if let (200, ..) = attest_raw(&client, &url, 99).await {
                break killed.elapsed();
            }
            assert!(killed.elapsed() < Duration::from_secs(20), "no recovery");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let enclave = session
            .attest(&trust, UnixTime::now())
            .await
            .expect("attest again");
        session
            .infer(&enclave, "credit-risk-v1", &sample_input(), UnixTime::now())
            .await
            .expect("infer after the restart");
        let text = metrics(&url).await;
        assert_eq!(
            metric(&text, "cloister_host_enclave_exits_total"),
            Some(1),
            "{text}"
        );
        assert_eq!(
            metric(&text, "cloister_host_enclave_restarts_total"),
            Some(1)
        );
        assert_eq!(metric(&text, "cloister_host_enclave_ready"), Some(1));
        back
    });
    let second_pid = host.enclave_pid();
    assert_ne!(first_pid, second_pid, "a new enclave process");
    eprintln!("enclave back {started:?} after the kill");

    // Every log line is one JSON object; request lines carry the request span's id.
    let log = host.log();
    let mut request_lines = 0;
    for line in log.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        if v["fields"]["message"] == "request answered" {
            request_lines += 1;
            assert!(v["span"]["id"].is_string(), "{line}");
        }
    }
    assert!(request_lines >= 28, "{request_lines} request lines");

    let status = host.terminate(Duration::from_secs(10));
    assert!(status.success(), "host exit {status:?}\n{}", host.log());
    assert!(
        !Path::new(&format!("/proc/{second_pid}")).exists(),
        "the enclave is stopped with the host"
    );
    assert!(host.log().contains("the enclave is stopped"));
}

#[test]
fn the_canary_leaks_nowhere_under_load() {
    const CANARY: &str = "CANARY_51d0e2_do_not_leak";
    const DISTINCT: f64 = 61.987_654_3;
    // A small queue, so that the flood below is mostly refused while real requests get through.
    let host = RunningHost::start(serde_json::json!({
        "max_in_flight": 4, "max_queued": 8, "max_per_client": 64, "queue_timeout_ms": 2000
    }));
    let url = host.url.clone();
    let trust = Arc::new(host.trust());
    let (outputs, refused) = rt().block_on(async {
        let client = reqwest::Client::new();
        let flood: Vec<_> = (0..400u64)
            .map(|i| {
                let (client, url) = (client.clone(), url.clone());
                tokio::spawn(async move { attest_raw(&client, &url, 1000 + i).await })
            })
            .collect();
        let callers: Vec<_> = (0..12u64)
            .map(|i| {
                let (url, trust) = (url.clone(), Arc::clone(&trust));
                tokio::spawn(async move {
                    let session = Session::new(&url).expect("session");
                    let mut input: serde_json::Value =
                        serde_json::from_slice(&sample_input()).expect("json");
                    if i % 2 == 0 {
                        input["features"][CANARY] = serde_json::json!(1.0);
                    } else {
                        input["features"]["income_k"] = serde_json::json!(DISTINCT);
                    }
                    // Refused by the full queue: retry, as a caller honouring Retry-After would.
                    for _ in 0..100 {
                        let enclave = match session.attest(&trust, UnixTime::now()).await {
                            Ok(e) => e,
                            Err(e) if e.code() == "client.http" => {
                                tokio::time::sleep(Duration::from_millis(50)).await;
                                continue;
                            }
                            Err(e) => panic!("attest: {e}"),
                        };
                        match session
                            .infer(
                                &enclave,
                                "credit-risk-v1",
                                input.to_string().as_bytes(),
                                UnixTime::now(),
                            )
                            .await
                        {
                            Ok(r) => return Ok(String::from_utf8_lossy(r.output()).into_owned()),
                            Err(e) if e.code() == "client.http" => {
                                tokio::time::sleep(Duration::from_millis(50)).await;
                            }
                            Err(e) => return Err(e.code()),
                        }
                    }
                    panic!("caller {i} never got through")
                })
            })
            .collect();
        let mut refused = 0;
        for f in flood {
            let (status, code, ..) = f.await.expect("flood");
            assert!(matches!(status, 200 | 429 | 503), "{status} {code:?}");
            refused += usize::from(status != 200);
        }
        let mut outputs = Vec::new();
        for (i, c) in callers.into_iter().enumerate() {
            match c.await.expect("caller") {
                Ok(out) => {
                    assert!(i % 2 == 1, "the canary request was accepted");
                    outputs.push(out);
                }
                Err(code) => assert_eq!(code, "inference.unknown_feature", "caller {i}"),
            }
        }
        let text = metrics(&url).await;
        assert!(!text.contains(CANARY), "metrics leak the canary");
        (outputs, refused)
    });
    assert_eq!(outputs.len(), 6);
    assert!(refused > 0, "the flood was never refused: no load");
    let log = host.log();
    let distinct = DISTINCT.to_string();
    let mut needles = vec![CANARY, distinct.as_str(), "income_k", "default_probability"];
    needles.extend(outputs.iter().map(String::as_str));
    for needle in needles {
        assert!(!log.contains(needle), "the host log leaks {needle:?}");
    }
    for needle in [CANARY, distinct.as_str()] {
        assert!(
            !host.enclave_log().contains(needle),
            "the enclave log leaks {needle:?}"
        );
    }
}

/// SIGTERM while the enclave is still starting: the host must stop at once, exit cleanly and
/// leave no enclave process behind (before, the signal's default action killed the host
/// mid-start and orphaned the enclave). The "enclave" here never becomes ready: `sleep 60`.
#[test]
fn sigterm_during_the_enclave_start_stops_everything() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = serde_json::json!({
        "listen": "127.0.0.1:0",
        "addr_file": dir.path().join("host.addr"),
        "supervisor": {
            "address": format!("unix://{}", dir.path().join("enclave.sock").display()),
            "enclave": {"kind": "mock", "binary": "/bin/sleep", "args": ["60"]},
            "ready_timeout_ms": 60000,
        },
    });
    let config_path = dir.path().join("host.json");
    std::fs::write(&config_path, config.to_string()).expect("config");
    let mut host = Command::new(bin("cloister-host"))
        .args(["run", "--config"])
        .arg(&config_path)
        .stderr(std::fs::File::create(dir.path().join("host.log")).expect("log"))
        .spawn()
        .expect("spawn host");
    let host_pid = host.id();
    let children = || {
        let mut pids = Vec::new();
        for task in std::fs::read_dir(format!("/proc/{host_pid}/task"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let list = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            pids.extend(
                list.split_whitespace()
                    .map(|p| p.parse::<u32>().expect("pid")),
            );
        }
        pids
    };
    wait_until("the enclave process", || !children().is_empty());
    let enclave = children()[0];
    RunningHost::signal(host_pid, "TERM");
    let t = Instant::now();
    let status = loop {
        if let Some(status) = host.try_wait().expect("wait") {
            break status;
        }
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "the host did not stop within 5 s of SIGTERM while starting"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let log = std::fs::read_to_string(dir.path().join("host.log")).unwrap_or_default();
    assert!(status.success(), "{status:?}\n{log}");
    wait_until("the starting enclave to be stopped", || {
        std::fs::read_to_string(format!("/proc/{enclave}/stat")).map_or(true, |s| {
            s.rsplit_once(')')
                .is_some_and(|(_, r)| r.trim_start().starts_with('Z'))
        })
    });
    assert!(!dir.path().join("host.addr").exists(), "never served");
}
