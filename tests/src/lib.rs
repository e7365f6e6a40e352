//! Test support shared by the whole-system tests (`tests/`) and the benchmarks (`benches/`):
//! starts the real binaries (built by `cargo build --release --workspace --bins`, which
//! scripts/test.sh and scripts/bench.sh do first) as separate processes on a Unix socket and
//! loopback, each system in its own scratch directory.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test support code: a failure here is the calling test failing"
)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The directory holding the workspace's binaries: the test executable lives in `<dir>/deps`.
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    exe.parent()
        .and_then(Path::parent)
        .expect("target dir")
        .to_path_buf()
}

/// Path of a workspace binary; panics with the build command if it is missing.
pub fn bin(name: &str) -> PathBuf {
    let p = bin_dir().join(name);
    assert!(
        p.exists(),
        "{} is missing: run `cargo build --release --workspace --bins` first (scripts/test.sh does)",
        p.display()
    );
    p
}

/// The shipped demo model.
pub fn model_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/credit-risk-v1")
}

/// The shipped sample request.
pub fn sample_input() -> Vec<u8> {
    std::fs::read(model_dir().join("sample-input.json")).expect("sample input")
}

/// A running enclave + host pair with its own scratch directory. Killed on drop.
pub struct System {
    /// Scratch directory: mock CA, socket, logs.
    pub dir: tempfile::TempDir,
    /// Base URL of the host.
    pub host_url: String,
    enclave: Child,
    host: Child,
}

impl System {
    /// Starts mock CA, enclave and host.
    pub fn start() -> Self {
        Self::start_with(&bin("cloister-enclave"), &[])
    }

    /// Starts the system with `enclave_exe` (maybe a modified copy) and extra host env.
    pub fn start_with(enclave_exe: &Path, host_env: &[(&str, &str)]) -> Self {
        Self::start_configured(enclave_exe, &[], &[], host_env)
    }

    /// Starts the system with extra enclave arguments (e.g. `--log-level info`) and extra
    /// environment for the enclave and the host. The enclave always also gets `RUST_LOG=trace`,
    /// which it must ignore.
    pub fn start_configured(
        enclave_exe: &Path,
        enclave_args: &[&str],
        enclave_env: &[(&str, &str)],
        host_env: &[(&str, &str)],
    ) -> Self {
        Self::start_full(enclave_exe, enclave_args, enclave_env, &[], host_env)
    }

    /// Starts the system with extra host arguments and environment (e.g. `--max-per-client 512`
    /// and `RUST_LOG=info` for a benchmark whose callers all come from one address).
    pub fn start_with_host_args(host_args: &[&str], host_env: &[(&str, &str)]) -> Self {
        Self::start_full(&bin("cloister-enclave"), &[], &[], host_args, host_env)
    }

    fn start_full(
        enclave_exe: &Path,
        enclave_args: &[&str],
        enclave_env: &[(&str, &str)],
        host_args: &[&str],
        host_env: &[(&str, &str)],
    ) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mock = dir.path().join("mock");
        mock_init(&mock);
        let sock = dir.path().join("enclave.sock");
        let enclave = Command::new(enclave_exe)
            .arg("--listen")
            .arg(format!("unix:{}", sock.display()))
            .arg("--model")
            .arg(model_dir())
            .args(["--platform", "mock", "--mock-ca"])
            .arg(&mock)
            .args(enclave_args)
            .env("RUST_LOG", "trace")
            .envs(enclave_env.iter().copied())
            .stderr(std::fs::File::create(dir.path().join("enclave.log")).expect("log"))
            .spawn()
            .expect("spawn enclave");
        wait_until("enclave socket", || sock.exists());
        let addr_file = dir.path().join("host.addr");
        let mut cmd = Command::new(bin("cloister-host"));
        cmd.args(["--listen", "127.0.0.1:0", "--addr-file"])
            .arg(&addr_file)
            .arg("--enclave")
            .arg(format!("unix:{}", sock.display()))
            .args(host_args)
            .env("RUST_LOG", "trace")
            .stderr(std::fs::File::create(dir.path().join("host.log")).expect("log"));
        for (k, v) in host_env {
            cmd.env(k, v);
        }
        let host = cmd.spawn().expect("spawn host");
        wait_until("host address", || addr_file.exists());
        let host_url = format!(
            "http://{}",
            std::fs::read_to_string(&addr_file).expect("addr")
        );
        Self {
            dir,
            host_url,
            enclave,
            host,
        }
    }

    /// The mock CA directory.
    pub fn mock_dir(&self) -> PathBuf {
        self.dir.path().join("mock")
    }

    /// The enclave's Unix socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("enclave.sock")
    }

    /// The policy written by `cloister mock init`.
    pub fn policy_path(&self) -> PathBuf {
        self.mock_dir().join("policy.json")
    }

    /// The mock root certificate.
    pub fn root_pem(&self) -> PathBuf {
        self.mock_dir().join("root.pem")
    }

    /// Trust configuration for the mock root and policy.
    pub fn trust(&self) -> cloister_client::verify::TrustConfig {
        cloister_client::verify::TrustConfig::from_files(
            &self.policy_path(),
            Some(&self.root_pem()),
        )
        .expect("trust")
    }

    /// The host's log so far.
    pub fn host_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("host.log")).unwrap_or_default()
    }

    /// The enclave's log so far.
    pub fn enclave_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("enclave.log")).unwrap_or_default()
    }

    /// The host's process id.
    pub fn host_pid(&self) -> u32 {
        self.host.id()
    }

    /// The enclave's process id.
    pub fn enclave_pid(&self) -> u32 {
        self.enclave.id()
    }

    /// Whether the enclave process still runs.
    pub fn enclave_alive(&mut self) -> bool {
        matches!(self.enclave.try_wait(), Ok(None))
    }
}

impl Drop for System {
    fn drop(&mut self) {
        let _ = self.host.kill();
        let _ = self.enclave.kill();
        let _ = self.host.wait();
        let _ = self.enclave.wait();
    }
}

/// `cloister mock init DIR` for the release `cloister-enclave`: a mock CA and a policy pinning
/// PCR0 of that binary.
pub fn mock_init(dir: &Path) {
    let st = Command::new(bin("cloister"))
        .args(["mock", "init"])
        .arg(dir)
        .arg("--enclave-binary")
        .arg(bin("cloister-enclave"))
        .stdout(Stdio::null())
        .status()
        .expect("mock init");
    assert!(st.success(), "cloister mock init failed");
}

/// Polls `f` for up to 20 s.
pub fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// What a mock enclave sends its key custodian for one release, and keeps.
pub struct MockRelease {
    /// The base64 CBOR evidence bundle for `POST /v1/release`.
    pub bundle_b64: String,
    /// The fresh X25519 key the bundle binds: the custodian seals the data key to it.
    pub release: cloister_proto::key_release::ReleaseKeyPair,
    /// The evidence digest the custodian's answer names.
    pub digest: [u8; 48],
}

/// Mock evidence from `nsm` binding a fresh release key (and a fixed `sig_pub`) to `nonce`,
/// in a bundle tagged `platform`: the custodian tests and the custodian benchmark share it.
pub fn mock_release_bundle(
    nsm: &cloister_attestation::mock::MockNsm,
    nonce: &[u8],
    platform: cloister_proto::EvidencePlatform,
) -> MockRelease {
    use base64::Engine as _;
    use cloister_attestation::binding::KeyBinding;
    use cloister_attestation::{Platform, UnixTime};
    use cloister_proto::evidence::BUNDLE_VERSION;
    use cloister_proto::{EvidenceBundle, ServedModels};

    let release = cloister_proto::key_release::ReleaseKeyPair::generate();
    let binding = KeyBinding {
        kem_pub: release.public_key().to_vec(),
        sig_pub: vec![0x22; 32],
        nonce: nonce.to_vec(),
    };
    let evidence = nsm
        .attest(Some(&binding.digest()), Some(nonce), None, UnixTime::now())
        .expect("attest");
    let digest =
        cloister_attestation::evidence::evidence_digest(Platform::Mock, &evidence).expect("digest");
    let bundle = EvidenceBundle {
        version: BUNDLE_VERSION,
        platform,
        evidence,
        collateral: vec![],
        kem_pub: binding.kem_pub,
        sig_pub: binding.sig_pub,
        nonce: binding.nonce,
        ohttp_key_id: 1,
        served_models: ServedModels::default(),
        served_models_signature: vec![0; 64],
    };
    MockRelease {
        bundle_b64: base64::engine::general_purpose::STANDARD
            .encode(bundle.to_cbor().expect("cbor")),
        release,
        digest,
    }
}
