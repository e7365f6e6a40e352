//! Shared helpers of the integration tests: where the fixtures are, and how a test that needs an
//! external oracle says it did not run.

// Test helpers: a panic is the failure report (clippy.toml allows unwrap/expect only inside
// `#[test]` functions, and these run from them).
#![allow(dead_code, unreachable_pub, clippy::expect_used, clippy::unwrap_used)]

use std::path::{Path, PathBuf};

/// The `tests/measurement` directory of the `sev` 8.0.0 crate package (Apache-2.0), which
/// ships two 4 KiB OVMF suffixes and the digests virtee/sev expects of them. The package is in
/// the cargo cache because `sev` is a dev-dependency of this crate; found under `CARGO_HOME`
/// (or `~/.cargo`), else through `cargo metadata`. Panics if neither finds it: the
/// known-answer tests must always run.
pub fn sev_fixture_dir() -> PathBuf {
    let mut homes = Vec::new();
    if let Some(h) = std::env::var_os("CARGO_HOME") {
        homes.push(PathBuf::from(h));
    }
    if let Some(h) = std::env::var_os("HOME") {
        homes.push(Path::new(&h).join(".cargo"));
    }
    for home in homes {
        let src = home.join("registry/src");
        let Ok(indexes) = std::fs::read_dir(&src) else {
            continue;
        };
        for index in indexes.flatten() {
            let dir = index.path().join("sev-8.0.0/tests/measurement");
            if dir.join("ovmf_AmdSev_suffix.bin").is_file() {
                return dir;
            }
        }
    }
    let out = std::process::Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--offline",
            "--manifest-path",
        ])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
        .output()
        .expect("running cargo metadata");
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("cargo metadata JSON");
    for p in meta["packages"].as_array().expect("packages") {
        if p["name"] == "sev" && p["version"] == "8.0.0" {
            let manifest = PathBuf::from(p["manifest_path"].as_str().expect("manifest_path"));
            let dir = manifest
                .parent()
                .expect("sev dir")
                .join("tests/measurement");
            if dir.join("ovmf_AmdSev_suffix.bin").is_file() {
                return dir;
            }
        }
    }
    panic!(
        "the sev 8.0.0 crate package (a dev-dependency) is not in the cargo cache: run `cargo fetch`"
    );
}

/// Whether the environment insists that the external oracles are present
/// (`CLOISTER_REQUIRE_MEASURE_ORACLES=1`, which scripts/test.sh sets after running
/// scripts/measure-oracles.sh).
pub fn oracles_required() -> bool {
    std::env::var("CLOISTER_REQUIRE_MEASURE_ORACLES").is_ok_and(|v| v == "1")
}

/// The path in `var`, if it is set and exists. Otherwise fails the test when the oracles are
/// required, and says loudly that the test did not run when they are not.
pub fn oracle(var: &str, test: &str) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(var).map(PathBuf::from)
        && p.exists()
    {
        return Some(p);
    }
    let msg = format!(
        "{test}: {var} is unset or missing; run `eval \"$(scripts/measure-oracles.sh)\"` first"
    );
    if oracles_required() {
        panic!("{msg} (CLOISTER_REQUIRE_MEASURE_ORACLES=1)");
    }
    // Written to the stderr handle, not with `eprintln!`, so the test harness does not capture
    // it: a skipped oracle test must be visible in a passing run.
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!("\n*** {msg}\n*** {test} DID NOT RUN ***\n\n").as_bytes(),
    );
    None
}
