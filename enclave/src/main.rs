//! `cloister-enclave`: the in-enclave runtime binary. See the crate docs of `cloister_enclave`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, ValueEnum};
use cloister_enclave::EnclaveRuntime;
use cloister_enclave::config::{EnclaveConfig, ModelKey};
use cloister_enclave::identity::EnclaveIdentity;
use cloister_enclave::inference::LoadedModel;
use cloister_enclave::key_release::{KeyReleaseClient, fetch_sealed_model};
use cloister_enclave::kms::KmsClient;
use cloister_enclave::kms::credentials::AwsCredentials;
use cloister_enclave::logging::LogLevel;
use cloister_enclave::model_store::unseal_model;
use cloister_enclave::outbound::{OutboundAddr, resolve};
use cloister_enclave::platform::AttestationPlatform;
use cloister_enclave::platform::mock::MockPlatform;
use cloister_enclave::platform::nitro::NitroPlatform;
use cloister_enclave::platform::nitro_emulated::{DEFAULT_NSM_PORT, NitroEmulatedPlatform};
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
    #[arg(
        long = "model",
        value_name = "DIR",
        required_unless_present = "config",
        conflicts_with = "config"
    )]
    models: Vec<PathBuf>,
    /// The measured configuration (JSON: custodian_pub, publisher_pub, models [{model_id,
    /// key_id}], log_level): load sealed models whose keys the custodian releases against this
    /// enclave's evidence. On the mock it is measured into PCR0 with the binary.
    #[arg(long, value_name = "FILE", requires = "model_store")]
    config: Option<PathBuf>,
    /// The host's outbound relay to the key custodian (with --config; needed when a model has a
    /// custodian `key_id`).
    #[arg(long, value_name = "unix:PATH|vsock:CID:PORT", requires = "config")]
    relay: Option<String>,
    /// The host's outbound relay to AWS KMS, kms.<region>.amazonaws.com:443 (with --config;
    /// needed when a model has a `kms` key). TLS ends inside the enclave. The call is signed
    /// with AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN from the
    /// environment (they authorize the call; the key policy's attestation condition releases
    /// the key). See docs/kms.md.
    #[arg(long, value_name = "unix:PATH|vsock:CID:PORT", requires = "config")]
    kms_relay: Option<String>,
    /// The host's store of sealed models, MODEL_ID.sealed (with --config).
    #[arg(long, value_name = "unix:PATH|vsock:CID:PORT", requires = "config")]
    model_store: Option<String>,
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
    /// The host's vsock port where `cloister emulate run` serves the emulated NSM (with
    /// --platform nitro-emulated).
    #[arg(long, value_name = "PORT", default_value_t = DEFAULT_NSM_PORT)]
    nsm_vsock_port: u32,
    /// Log level of the enclave itself (default info); `info` is the most verbose there is.
    /// Part of the enclave's measured command line (with --config, its `log_level` instead):
    /// RUST_LOG and every other environment variable (the AWS credentials of --kms-relay aside)
    /// are ignored, and dependencies never log
    /// below `warn` (keys, parameters, per-request outcomes stay out of the log at every level).
    #[arg(long, value_enum, value_name = "LEVEL", conflicts_with = "config")]
    log_level: Option<LogLevel>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum PlatformArg {
    /// Nitro-format documents signed by a mock CA; accepted only by policies naming its root.
    Mock,
    /// The AWS Nitro Secure Module at /dev/nsm; only inside a Nitro enclave.
    Nitro,
    /// A Nitro image booted by `cloister emulate run` in a local microVM: the NSM is the
    /// emulator's, over vsock (--nsm-vsock-port), and its documents are signed by the mock
    /// root, so they are mock evidence, accepted only by policies naming that root.
    NitroEmulated,
    /// AMD SEV-SNP reports through configfs-tsm (/sys/kernel/config/tsm/report), or
    /// /dev/sev-guest on older kernels; only inside an SEV-SNP guest.
    Snp,
    /// Intel TDX DCAP quotes through configfs-tsm (/sys/kernel/config/tsm/report); only inside
    /// a TDX guest. The host adds the DCAP collateral (see cloister-host --pccs-url).
    Tdx,
}

/// Where the Unix ends of vsock outbound addresses are bound (a tmpfs in the enclave VM).
const OUTBOUND_DIR: &str = "/tmp/cloister-outbound";

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
    let config = match &args.config {
        Some(path) => {
            let bytes = std::fs::read(path).map_err(|source| StartError::ReadConfig {
                path: path.clone(),
                source,
            })?;
            let parsed = EnclaveConfig::from_json(&bytes)?;
            Some((bytes, parsed))
        }
        None => None,
    };
    // The filter comes from the (measured) command line or configuration only, never from
    // RUST_LOG.
    let log_level = match &config {
        Some((_, c)) => c.log_level(),
        None => args.log_level.unwrap_or_default(),
    };
    cloister_enclave::logging::init(log_level).map_err(StartError::Logging)?;
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
                config.as_ref().map(|(bytes, _)| bytes.as_slice()),
                cloister_attestation::UnixTime::now(),
            )?)
        }
        PlatformArg::Nitro => Box::new(NitroPlatform::open()?),
        PlatformArg::NitroEmulated => Box::new(NitroEmulatedPlatform::open(args.nsm_vsock_port)?),
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
    let identity = EnclaveIdentity::generate()?;
    tracing::info!(kem_pub = %hex::encode(identity.kem_pub()), sig_pub = %hex::encode(identity.sig_pub()), "identity keys generated");
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(StartError::AsyncRuntime)?;
    let models = match &config {
        Some((_, config)) => tokio.block_on(unseal_models(
            config,
            args.relay.as_deref().unwrap_or_default(),
            args.kms_relay.as_deref().unwrap_or_default(),
            args.model_store.as_deref().unwrap_or_default(),
            &identity,
            platform.as_ref(),
        ))?,
        None => args
            .models
            .iter()
            .map(|dir| {
                LoadedModel::load_dir(dir).map_err(|source| StartError::Model {
                    dir: dir.clone(),
                    source,
                })
            })
            .collect::<Result<Vec<_>, _>>()?,
    };
    for m in &models {
        tracing::info!(model = m.id(), version = m.version(), sha384 = %hex::encode(m.digest()), "model loaded");
    }
    let rt = Arc::new(EnclaveRuntime::new(identity, platform, models)?);
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

/// Releases each configured model's key from the custodian or from AWS KMS (each through the
/// host's relay), fetches its sealed artifact from the host's store and unseals it into locked
/// memory. All or nothing: the first failure stops the start.
async fn unseal_models(
    config: &EnclaveConfig,
    relay: &str,
    kms_relay: &str,
    store: &str,
    identity: &EnclaveIdentity,
    platform: &dyn AttestationPlatform,
) -> Result<Vec<LoadedModel>, StartError> {
    // unix:PATH, or vsock:CID:PORT in an enclave VM (piped through a private Unix socket).
    let outbound = async |flag: &'static str, name: &str, addr: &str| {
        let parsed: OutboundAddr = addr
            .parse()
            .map_err(|_| StartError::UnixAddressRequired { flag })?;
        resolve(&parsed, std::path::Path::new(OUTBOUND_DIR), name)
            .await
            .map_err(|source| StartError::Listen {
                addr: addr.to_owned(),
                source,
            })
    };
    let store = outbound("--model-store", "store", store).await?;
    let mut custodian = None;
    let mut kms_client = None;
    let mut models = Vec::with_capacity(config.models().len());
    for m in config.models() {
        let key_error = |source| StartError::KeyRelease {
            model_id: m.model_id.clone(),
            source: Box::new(source),
        };
        let dek = match &m.key {
            ModelKey::Custodian { key_id } => {
                let client = match &custodian {
                    Some(client) => client,
                    None => custodian.insert(KeyReleaseClient::new(
                        outbound("--relay", "relay", relay).await?,
                        *config.custodian_pub(),
                    )),
                };
                let dek = client
                    .release(key_id, identity, platform)
                    .await
                    .map_err(key_error)?;
                tracing::info!(model = %m.model_id, key = %key_id, "model key released by the custodian");
                dek
            }
            ModelKey::Kms(kms) => {
                let kms_error = |source| StartError::Kms {
                    model_id: m.model_id.clone(),
                    source: Box::new(source),
                };
                let client = match &kms_client {
                    Some(client) => client,
                    None => kms_client.insert(KmsClient::new(
                        outbound("--kms-relay", "kms-relay", kms_relay).await?,
                        AwsCredentials::from_env().map_err(|e| kms_error(e.into()))?,
                    )),
                };
                let now = i64::try_from(cloister_attestation::UnixTime::now().as_secs())
                    .unwrap_or(i64::MAX);
                let dek = client
                    .decrypt_data_key(kms, identity, platform, now)
                    .await
                    .map_err(kms_error)?;
                tracing::info!(model = %m.model_id, key = %kms.key_id(), "model key released by AWS KMS");
                dek
            }
        };
        let sealed = fetch_sealed_model(&store, &m.model_id)
            .await
            .map_err(key_error)?;
        let model =
            unseal_model(&sealed, &dek, config.publisher_pub(), &m.model_id).map_err(|source| {
                StartError::Unseal {
                    model_id: m.model_id.clone(),
                    source,
                }
            })?;
        models.push(model);
    }
    Ok(models)
}
