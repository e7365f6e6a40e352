//! Helpers for tests that run the real `cloister-custodian` binary: init, serve on a loopback
//! port, talk to it over HTTP, and read its audit chain with its own commands.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use crate::harness::{DEK, Harness};

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_cloister-custodian");

pub(crate) fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

pub(crate) fn run(args: &[&str]) -> std::process::Output {
    Command::new(BIN).args(args).output().expect("run")
}

/// A `cloister-custodian serve` process on a loopback port; killed on drop.
pub(crate) struct Served {
    child: Child,
    pub(crate) addr: String,
}

impl Served {
    pub(crate) fn start(config: &Path) -> Self {
        let addr_file = config.with_file_name("addr");
        let _ = std::fs::remove_file(&addr_file);
        let child = Command::new(BIN)
            .args([
                "serve",
                "--config",
                path(config),
                "--addr-file",
                path(&addr_file),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        let deadline = Instant::now() + Duration::from_secs(20);
        let addr = loop {
            if let Ok(a) = std::fs::read_to_string(&addr_file) {
                break a;
            }
            assert!(Instant::now() < deadline, "the custodian did not start");
            std::thread::sleep(Duration::from_millis(50));
        };
        Self { child, addr }
    }

    /// SIGKILL: no shutdown path runs.
    pub(crate) fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `init` in a temporary directory, with the harness's mock root pinned.
pub(crate) fn init(h: &Harness) -> (tempfile::TempDir, PathBuf, String) {
    let dir = tempfile::tempdir().expect("dir");
    let out = run(&[
        "init",
        "--dir",
        path(&dir.path().join("c")),
        "--listen",
        "127.0.0.1:0",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    h.ca.write_to_dir(&dir.path().join("mock"))
        .expect("mock CA");
    let config = dir.path().join("c/custodian.json");
    edit_config(&config, |c| {
        c["dangerous_mock_root_pem"] = dir.path().join("mock/root.pem").to_str().into();
    });
    let token = std::fs::read_to_string(dir.path().join("c/admin-token")).expect("token");
    (dir, config, token.trim().to_owned())
}

pub(crate) fn edit_config(config: &Path, f: impl FnOnce(&mut serde_json::Value)) {
    let mut c: serde_json::Value =
        serde_json::from_slice(&std::fs::read(config).expect("read")).expect("json");
    f(&mut c);
    std::fs::write(config, serde_json::to_vec_pretty(&c).expect("json")).expect("write");
}

pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

pub(crate) async fn register_over_http(
    addr: &str,
    token: &str,
    key_id: &str,
    policy: serde_json::Value,
) {
    let resp = client()
        .put(format!("http://{addr}/v1/admin/keys/{key_id}"))
        .bearer_auth(token)
        .json(&serde_json::json!({ "dek": B64.encode(DEK), "trust_policy": policy }))
        .send()
        .await
        .expect("register");
    assert_eq!(resp.status(), StatusCode::CREATED);
}

pub(crate) async fn challenge_over_http(addr: &str, key_id: &str) -> Vec<u8> {
    let c: serde_json::Value = client()
        .post(format!("http://{addr}/v1/challenge"))
        .json(&serde_json::json!({ "key_id": key_id }))
        .send()
        .await
        .expect("challenge")
        .json()
        .await
        .expect("json");
    B64.decode(c["nonce"].as_str().expect("nonce"))
        .expect("b64")
}

/// One challenge and release over HTTP; returns the status and body.
pub(crate) async fn release_over_http(
    h: &Harness,
    addr: &str,
    key_id: &str,
) -> (StatusCode, serde_json::Value) {
    let nonce = challenge_over_http(addr, key_id).await;
    let attested = h.attest(&nonce);
    let resp = client()
        .post(format!("http://{addr}/v1/release"))
        .json(&serde_json::json!({ "key_id": key_id, "bundle": attested.bundle_b64 }))
        .send()
        .await
        .expect("release");
    let status = resp.status();
    (status, resp.json().await.expect("json"))
}

pub(crate) fn audit_verify(config: &Path) -> (bool, String) {
    let out = run(&["audit", "verify", "--config", path(config)]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

pub(crate) fn audit_kinds(config: &Path) -> Vec<(String, Option<String>)> {
    let out = run(&["audit", "export", "--config", path(config)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("json line");
            (
                v["record"]["kind"].as_str().expect("kind").to_owned(),
                v["record"]["code"].as_str().map(str::to_owned),
            )
        })
        .collect()
}
