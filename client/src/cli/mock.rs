//! `cloister mock init DIR`.

use std::path::PathBuf;

use cloister_attestation::NitroPolicy;
use cloister_attestation::TrustPolicy;
use cloister_attestation::UnixTime;
use cloister_attestation::mock::{MockCa, mock_image_pcr0};

use super::Outcome;

#[derive(Debug, clap::Args)]
pub(crate) struct InitArgs {
    /// Directory to write root.pem, intermediate.pem, their keys, and policy.json (a trust policy
    /// whose only entry is "mock": this root, and PCR0 of --enclave-binary) into.
    dir: PathBuf,
    /// Pin PCR0 of this enclave executable in policy.json (the mock measures its own binary).
    /// Required: a policy that pins no workload would accept any enclave signed by this root.
    #[arg(long, value_name = "PATH")]
    enclave_binary: PathBuf,
    /// The enclave's measured configuration (`cloister-enclave --config`: the custodian and
    /// publisher keys and the models it trusts), measured into PCR0 with the binary. Give the
    /// same file the enclave will be started with: one changed byte changes PCR0.
    #[arg(long, value_name = "FILE")]
    enclave_config: Option<PathBuf>,
}

pub(crate) fn run(args: InitArgs) -> Outcome {
    match init(&args) {
        Ok(()) => Outcome::Ok,
        Err(msg) => {
            eprintln!("cloister mock init: {msg}");
            Outcome::Error
        }
    }
}

fn init(args: &InitArgs) -> Result<(), String> {
    std::fs::create_dir_all(&args.dir)
        .map_err(|e| format!("creating {}: {e}", args.dir.display()))?;
    let ca = MockCa::generate(UnixTime::now()).map_err(|e| format!("{e} ({})", e.hint()))?;
    ca.write_to_dir(&args.dir)
        .map_err(|e| format!("{e} ({})", e.hint()))?;
    let exe = &args.enclave_binary;
    let read = |path: &PathBuf| {
        std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))
    };
    let config = args.enclave_config.as_ref().map(read).transpose()?;
    let pcr0 = mock_image_pcr0(&read(exe)?, config.as_deref());
    let mock = NitroPolicy::default()
        .dangerous_trust_mock_root(ca.root_sha256())
        .with_pcr(0, pcr0)
        .map_err(|e| e.to_string())?;
    println!("PCR0 of {}: {}", exe.display(), hex::encode(pcr0));
    let policy = TrustPolicy::new()
        .with_mock(mock)
        .map_err(|e| e.to_string())?;
    let policy_path = args.dir.join("policy.json");
    let json = policy.to_json();
    std::fs::write(&policy_path, json)
        .map_err(|e| format!("writing {}: {e}", policy_path.display()))?;
    println!("mock root SHA-256: {}", hex::encode(ca.root_sha256()));
    println!(
        "wrote {} (root.pem, intermediate.pem, keys, policy.json)",
        args.dir.display()
    );
    Ok(())
}
