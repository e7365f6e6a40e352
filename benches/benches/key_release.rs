//! Attested key release on the mock platform, end to end over loopback: the enclave's
//! `KeyReleaseClient` asks a real `cloister-custodian` process for a challenge through a real
//! `cloister-host --relay`, makes mock evidence binding a fresh X25519 release key, sends it,
//! and opens the custodian's signed, HPKE-sealed answer. Writes `key-release-ms` (median, from
//! the challenge to the opened data key) into target/bench/summary.json.
//!
//! Needs the release binaries (`cargo build --release --workspace --bins`; scripts/bench.sh
//! builds them). Wall-clock figures on a shared machine: compare within one run.
#![allow(
    clippy::expect_used,
    reason = "measurement code: a failed setup step aborts the benchmark run"
)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cloister_attestation::mock::{MockCa, ROOT_CERT_FILE, mock_image_pcr0};
use cloister_attestation::{NitroPolicy, TrustPolicy, UnixTime};
use cloister_benches::processes::{Processes, wait_for_path};
use cloister_client::custodian_admin::{KeyRegistration, register_key};
use cloister_enclave::identity::EnclaveIdentity;
use cloister_enclave::key_release::{KeyReleaseClient, Retry};
use cloister_enclave::platform::mock::MockPlatform;
use cloister_proto::sealed::DataKey;
use cloister_tests::bin;

const ROUNDS: usize = 40;
const WARMUP: usize = 3;

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let now = UnixTime::now();

    // The custodian, trusting a fresh mock root (bench only, as in the demo).
    let out = Command::new(bin("cloister-custodian"))
        .args(["init", "--dir"])
        .arg(d.join("custodian"))
        .stderr(Stdio::null())
        .output()
        .expect("custodian init");
    assert!(out.status.success(), "custodian init failed");
    let custodian_pub: [u8; 32] = hex::decode(String::from_utf8_lossy(&out.stdout).trim())
        .expect("hex")
        .try_into()
        .expect("32 bytes");
    let ca = MockCa::generate(now).expect("mock CA");
    ca.write_to_dir(&d.join("mock")).expect("write CA");
    let config_path = d.join("custodian/custodian.json");
    let mut config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&config_path).expect("config")).expect("json");
    config["dangerous_mock_root_pem"] = d
        .join("mock")
        .join(ROOT_CERT_FILE)
        .display()
        .to_string()
        .into();
    std::fs::write(&config_path, config.to_string()).expect("write config");

    let mut procs = Processes(Vec::new());
    procs.0.push(
        Command::new(bin("cloister-custodian"))
            .arg("serve")
            .arg("--config")
            .arg(&config_path)
            .arg("--addr-file")
            .arg(d.join("custodian.addr"))
            .stderr(Stdio::null())
            .spawn()
            .expect("custodian serve"),
    );
    wait_for_path(&d.join("custodian.addr"));
    let custodian_addr = std::fs::read_to_string(d.join("custodian.addr")).expect("addr");
    let (host, port) = custodian_addr.trim().rsplit_once(':').expect("host:port");
    std::fs::write(
        d.join("allowlist.yaml"),
        format!("allowlist:\n- {{address: {host}, port: {port}}}\n"),
    )
    .expect("allowlist");
    procs.0.push(
        Command::new(bin("cloister-host"))
            .args(["--listen", "127.0.0.1:0", "--addr-file"])
            .arg(d.join("host.addr"))
            .arg("--enclave")
            .arg(format!("unix:{}", d.join("absent.sock").display()))
            .arg("--relay")
            .arg(format!(
                "unix:{}={}",
                d.join("relay.sock").display(),
                custodian_addr.trim()
            ))
            .arg("--relay-allowlist")
            .arg(d.join("allowlist.yaml"))
            .stderr(Stdio::null())
            .spawn()
            .expect("host"),
    );
    wait_for_path(&d.join("host.addr"));
    wait_for_path(&d.join("relay.sock"));

    // A mock enclave whose "image" is a fixed byte string, and a key whose policy pins it.
    let image = b"key-release bench enclave image".to_vec();
    std::fs::write(d.join("image"), &image).expect("image");
    let platform = MockPlatform::boot(&d.join("mock"), &d.join("image"), None, now).expect("mock");
    let mock = NitroPolicy::default()
        .dangerous_trust_mock_root(ca.root_sha256())
        .with_pcr(0, mock_image_pcr0(&image, None))
        .expect("pcr");
    let policy = TrustPolicy::new().with_mock(mock).expect("policy");
    let dek = DataKey::from_bytes([0x5a; 32]);
    let token = std::fs::read_to_string(d.join("custodian/admin-token")).expect("token");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(register_key(
        &format!("http://{}", custodian_addr.trim()),
        token.trim(),
        &KeyRegistration {
            key_id: "bench-model",
            dek: &dek,
            trust_policy: serde_json::from_str(&policy.to_json()).expect("policy json"),
            rego: None,
        },
    ))
    .expect("register");

    let identity = EnclaveIdentity::generate().expect("identity");
    let client = KeyReleaseClient::new(d.join("relay.sock"), custodian_pub).with_retry(Retry {
        attempts: 1,
        first_backoff: Duration::from_millis(1),
    });
    let mut ms = Vec::with_capacity(ROUNDS);
    for round in 0..WARMUP + ROUNDS {
        let start = Instant::now();
        let released = rt
            .block_on(client.release("bench-model", &identity, &platform))
            .expect("release");
        let elapsed = start.elapsed().as_secs_f64() * 1000.0;
        assert_eq!(
            released.expose(),
            dek.expose(),
            "the registered key comes back"
        );
        if round >= WARMUP {
            ms.push(elapsed);
        }
    }
    let median = cloister_benches::timing::median(ms);
    println!(
        "key release on the mock platform, over the host relay and loopback, median of {ROUNDS}"
    );
    println!("  key-release-ms            {median:.2}");
    let path = cloister_benches::summary::merge(&[("key-release-ms".to_owned(), median)])
        .expect("summary");
    println!("\nwrote {}", path.display());
}
