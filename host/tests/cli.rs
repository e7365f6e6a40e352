//! Runs the real `cloister-host` binary for start-up refusals that must happen before it
//! listens (each run exits at once; none opens a network connection).

use std::process::Command;

fn host() -> Command {
    Command::new(env!("CARGO_BIN_EXE_cloister-host"))
}

#[test]
fn unlisted_relay_destination_refuses_to_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let allowlist = dir.path().join("vsock-proxy.yaml");
    std::fs::write(
        &allowlist,
        "allowlist:\n- {address: custodian.example.com, port: 443}\n",
    )
    .expect("write");
    let sock = dir.path().join("relay.sock");
    let out = host()
        .args(["--listen", "127.0.0.1:0", "--enclave"])
        .arg(format!(
            "unix:{}",
            dir.path().join("enclave.sock").display()
        ))
        .arg("--relay")
        .arg(format!("unix:{}=evil.example.com:443", sock.display()))
        .arg("--relay-allowlist")
        .arg(&allowlist)
        .output()
        .expect("run cloister-host");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("[host.relay_not_allowed]"), "{stderr}");
    assert!(stderr.contains("evil.example.com:443"), "{stderr}");
    assert!(stderr.contains("vsock-proxy.yaml"), "{stderr}");
    assert!(!sock.exists());
}

#[test]
fn relay_without_allowlist_is_a_usage_error() {
    let out = host()
        .args([
            "--enclave",
            "unix:/nonexistent/enclave.sock",
            "--relay",
            "unix:/nonexistent/relay.sock=custodian.example.com:443",
        ])
        .output()
        .expect("run cloister-host");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--relay-allowlist"), "{stderr}");
}
