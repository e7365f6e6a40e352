//! What the host's real-process tests share: the mock enclave binary, the demo model, a scratch
//! directory with a fresh mock CA, and signals.

#![allow(
    dead_code,
    unreachable_pub,
    clippy::expect_used,
    reason = "test support: each test file uses part of it, and a panic here is the calling test failing"
)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The mock enclave binary: target/release first (what scripts/test.sh builds), then the
/// profile this test was built with.
pub fn enclave_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    // target/<profile>/deps/<test> → target
    let target = exe
        .parent()
        .and_then(Path::parent)
        .and_then(Path::parent)
        .expect("target dir");
    let profile = exe.parent().and_then(Path::parent).expect("profile dir");
    [target.join("release"), profile.to_path_buf()]
        .iter()
        .map(|d| d.join("cloister-enclave"))
        .find(|p| p.exists())
        .unwrap_or_else(|| {
            panic!(
                "cloister-enclave is missing under {}: run `cargo build --release -p cloister-enclave --bins` first (scripts/test.sh builds every binary)",
                target.display()
            )
        })
}

/// The demo model the mock enclave serves.
pub fn model_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/credit-risk-v1")
}

/// A scratch directory with a fresh mock CA in `mock/`.
pub fn scratch() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    cloister_attestation::mock::MockCa::generate(cloister_attestation::UnixTime::now())
        .expect("mock CA")
        .write_to_dir(&dir.path().join("mock"))
        .expect("write mock CA");
    dir
}

/// `kill -SIG PID`, which must succeed.
pub fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .expect("kill");
    assert!(ok.success(), "kill -{sig} {pid}");
}
