//! The real binary: init, pubkey, serve on a free loopback port, and refusals at start.

use std::time::Duration;

use crate::process::{Served, path, run};

#[test]
fn init_pubkey_and_refusals() {
    let dir = tempfile::tempdir().expect("dir");
    let out = run(&["init", "--dir", path(dir.path()), "--listen", "127.0.0.1:0"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8(out.stdout).expect("utf-8");
    assert_eq!(printed.trim().len(), 64, "{printed}");
    let config = dir.path().join("custodian.json");
    let again = run(&["pubkey", "--config", path(&config)]);
    assert_eq!(String::from_utf8(again.stdout).expect("utf-8"), printed);
    // Secrets are owner-only.
    use std::os::unix::fs::PermissionsExt;
    for f in ["kek.bin", "signing-key.pk8", "admin-token"] {
        let mode = std::fs::metadata(dir.path().join(f))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{f}");
    }
    // init never overwrites.
    let out = run(&["init", "--dir", path(dir.path())]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("custodian.init.exists"));
    // A store that is not a database refuses to start, naming the code.
    std::fs::write(
        dir.path().join("custodian.db"),
        b"{ nope, not SQLite at all ...",
    )
    .expect("write");
    let out = run(&["serve", "--config", path(&config)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("custodian.store.open"));
    // A KEK others can read refuses to start.
    std::fs::remove_file(dir.path().join("custodian.db")).expect("rm");
    let kek = dir.path().join("kek.bin");
    std::fs::set_permissions(&kek, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let out = run(&["serve", "--config", path(&config)]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("custodian.kek.permissions"));
}

#[test]
fn serve_writes_its_address_and_answers_on_loopback() {
    let dir = tempfile::tempdir().expect("dir");
    assert!(
        run(&["init", "--dir", path(dir.path()), "--listen", "127.0.0.1:0"])
            .status
            .success()
    );
    let served = Served::start(&dir.path().join("custodian.json"));
    let addr = served.addr.clone();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    let token = std::fs::read_to_string(dir.path().join("admin-token")).expect("token");
    let (health, list) = rt.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("client");
        let health = client
            .get(format!("http://{addr}/healthz"))
            .send()
            .await
            .expect("health")
            .status();
        let list: serde_json::Value = client
            .get(format!("http://{addr}/v1/admin/keys"))
            .bearer_auth(token.trim())
            .send()
            .await
            .expect("list")
            .json()
            .await
            .expect("json");
        (health, list)
    });
    served.kill();
    assert_eq!(health, 200);
    assert_eq!(list, serde_json::json!([]));
}
