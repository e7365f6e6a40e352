//! `cloister-enclave`: the in-enclave runtime binary. See the crate docs of `cloister_enclave`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, ValueEnum};
use cloister_enclave::EnclaveRuntime;
use cloister_enclave::identity::EnclaveIdentity;
use cloister_enclave::inference::LoadedModel;
use cloister_enclave::logging::LogLevel;
use cloister_enclave::platform::AttestationPlatform;
use cloister_enclave::platform::mock::MockPlatform;
use cloister_enclave::platform::nitro::NitroPlatform;
use cloister_enclave::platform::snp::SnpPlatform;
use cloister_enclave::platform::tdx::TdxPlatform;
use cloister_enclave::start::StartError;
use cloister_enclave::transport::{ListenAddr, listen};

/// The Cloister enclave runtime: holds the identity keys, attests, decrypts OHTTP requests,
/// runs the model and signs results. Logs never contain requests, results or keys.
#[derive(Debug, Parser)]
#[command(name = "cloister-enclave", version)]
struct Args {
    /// Where the host connects: unix:PATH (mock, CI) or vsock:PORT (inside a Nitro enclave).
    #[arg(long, value_name = "ADDR")]
    listen: ListenAddr,
    /// A model directory (model.json + model.onnx); repeat for several models.
    #[arg(long = "model", value_name = "DIR", required = true)]
    models: Vec<PathBuf>,
    /// Attestation backend.
    #[arg(long, value_enum)]
    platform: PlatformArg,
    /// Mock CA directory written by `cloister mock init DIR` (with --platform mock).
    #[arg(long, value_name = "DIR", required_if_eq("platform", "mock"))]
    mock_ca: Option<PathBuf>,
    /// The VCEK (DER or PEM) for this chip and TCB, fetched by the host from AMD KDS; sent with
    /// every report so the verifier needs no network (with --platform snp).
    #[arg(long, value_name = "FILE")]
    snp_vcek: Option<PathBuf>,
    /// AMD's CRL for this product (DER or PEM, fetched by the host from AMD KDS), sent after the
    /// VCEK so verifiers can check revocation offline (with --platform snp and --snp-vcek).
    #[arg(long, value_name = "FILE")]
    snp_crl: Option<PathBuf>,
    /// Log level of the enclave itself; `info` is the most verbose there is. Part of the
    /// enclave's measured command line: RUST_LOG and every other environment variable are
    /// ignored, and dependencies never log below `warn` (keys, parameters, per-request outcomes
    /// stay out of the log at every level).
    #[arg(long, value_enum, default_value_t = LogLevel::Info, value_name = "LEVEL")]
    log_level: LogLevel,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum PlatformArg {
    /// Nitro-format documents signed by a mock CA; accepted only by policies naming its root.
    Mock,
    /// The AWS Nitro Secure Module at /dev/nsm; only inside a Nitro enclave.
    Nitro,
    /// AMD SEV-SNP reports through configfs-tsm (/sys/kernel/config/tsm/report), or
    /// /dev/sev-guest on older kernels; only inside an SEV-SNP guest.
    Snp,
    /// Intel TDX DCAP quotes through configfs-tsm (/sys/kernel/config/tsm/report); only inside
    /// a TDX guest. The host adds the DCAP collateral (see cloister-host --pccs-url).
    Tdx,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cloister-enclave: error [{}]: {}", e.code(), e.chain());
            eprintln!("  hint: {}", e.hint());
            ExitCode::from(2)
        }
    }
}

fn run(args: Args) -> Result<(), StartError> {
    // The filter comes from the (measured) command line only, never from RUST_LOG.
    cloister_enclave::logging::init(args.log_level).map_err(StartError::Logging)?;
    if !matches!(args.platform, PlatformArg::Snp) {
        for (flag, given) in [
            ("--snp-crl", args.snp_crl.is_some()),
            ("--snp-vcek", args.snp_vcek.is_some()),
        ] {
            if given {
                return Err(StartError::FlagNeedsSnp { flag });
            }
        }
    }
    let platform: Box<dyn AttestationPlatform> = match args.platform {
        PlatformArg::Mock => {
            let dir = args.mock_ca.as_deref().ok_or(StartError::MissingMockCa)?;
            let exe = std::env::current_exe().map_err(StartError::CurrentExe)?;
            Box::new(MockPlatform::boot(
                dir,
                &exe,
                cloister_attestation::UnixTime::now(),
            )?)
        }
        PlatformArg::Nitro => Box::new(NitroPlatform::open()?),
        PlatformArg::Snp => {
            if args.snp_vcek.is_none() {
                tracing::warn!(
                    "--platform snp without --snp-vcek: verifiers must get the VCEK elsewhere"
                );
            }
            let mut snp = SnpPlatform::open(args.snp_vcek.as_deref())?;
            if let Some(crl) = &args.snp_crl {
                snp = snp.with_crl_file(crl)?;
            }
            Box::new(snp)
        }
        PlatformArg::Tdx => Box::new(TdxPlatform::open()?),
    };
    let models = args
        .models
        .iter()
        .map(|dir| {
            LoadedModel::load_dir(dir).map_err(|source| StartError::Model {
                dir: dir.clone(),
                source,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    for m in &models {
        tracing::info!(model = m.id(), version = m.version(), sha384 = %hex::encode(m.digest()), "model loaded");
    }
    let identity = EnclaveIdentity::generate()?;
    tracing::info!(kem_pub = %hex::encode(identity.kem_pub()), sig_pub = %hex::encode(identity.sig_pub()), "identity keys generated");
    let rt = Arc::new(EnclaveRuntime::new(identity, platform, models)?);
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(StartError::AsyncRuntime)?;
    tokio.block_on(async move {
        tokio::select! {
            r = listen(&args.listen, rt) => r.map_err(|source| StartError::Listen {
                addr: format!("{:?}", args.listen),
                source,
            }),
            _ = tokio::signal::ctrl_c() => { tracing::info!("shutting down"); Ok(()) }
        }
    })
}
