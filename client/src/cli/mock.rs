//! `cloister mock init DIR`.

use std::path::PathBuf;

use cloister_attestation::NitroPolicy;
use cloister_attestation::TrustPolicy;
use cloister_attestation::UnixTime;
use cloister_attestation::mock::MockCa;
use cloister_attestation::nitro::pcr::NitroMeasurer;

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
    let pcr0 = measure_file(exe)?;
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

/// Streams a file through the Nitro PCR measurement, without loading it whole.
fn measure_file(path: &std::path::Path) -> Result<[u8; 48], String> {
    use std::io::Read;
    let mut f =
        std::fs::File::open(path).map_err(|e| format!("opening {}: {e}", path.display()))?;
    let mut m = NitroMeasurer::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| format!("reading {}: {e}", path.display()))?;
        if n == 0 {
            break;
        }
        m.update(&buf[..n]);
    }
    Ok(m.finish())
}
