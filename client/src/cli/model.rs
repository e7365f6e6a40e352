//! `cloister model keygen | seal | inspect`: publisher keys and sealed models
//! (`cloister_proto::sealed_package`).

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use aws_lc_rs::rand::SecureRandom;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::Engine as _;
use cloister_attestation::TrustPolicy;
use cloister_client::custodian_admin::{KeyRegistration, register_key};
use cloister_proto::model_archive::ModelFiles;
use cloister_proto::model_manifest::ModelManifest;
use cloister_proto::sealed::{DEFAULT_CHUNK_SIZE, DataKey, NONCE_PREFIX_LEN};
use cloister_proto::sealed_package::{SealRequest, SealedPackage, seal_model};
use zeroize::Zeroizing;

use super::{Outcome, write_atomically};

/// `cloister model` subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum ModelCommand {
    /// Make an Ed25519 publisher key (PKCS#8 PEM, mode 0600) and print its public key (hex),
    /// the value an enclave is configured to trust.
    Keygen(KeygenArgs),
    /// Seal a model directory (model.json + model.onnx) under a fresh data key, with a
    /// manifest signed by the publisher key; optionally register the key with the custodian.
    Seal(Box<SealArgs>),
    /// Print a sealed model's signed manifest (not decrypted, signature not checked unless
    /// --publisher is given).
    Inspect(InspectArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct KeygenArgs {
    /// Where to write the private key (created with mode 0600; an existing file is kept).
    #[arg(short, long, value_name = "KEY")]
    output: PathBuf,
}

#[derive(Debug, clap::Args)]
pub(crate) struct SealArgs {
    /// The model directory: model.json and model.onnx (other files are not part of the model).
    model_dir: PathBuf,
    /// The model id; must equal model.json's `id`.
    #[arg(long, value_name = "ID")]
    model_id: String,
    /// The model version; must equal model.json's `version`.
    #[arg(long, value_name = "V")]
    model_version: String,
    /// The publisher's Ed25519 private key (PKCS#8, PEM or DER), from `cloister model keygen`.
    #[arg(long, value_name = "KEY")]
    publisher_key: PathBuf,
    /// The sealed model file to write (whole or not at all).
    #[arg(short, long, value_name = "SEALED")]
    output: PathBuf,
    /// Plaintext bytes per chunk, 4096 to 16777216.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_CHUNK_SIZE)]
    chunk_size: u32,
    /// Write the data key (base64, mode 0600) here, for offline registration or tests.
    #[arg(long, value_name = "FILE")]
    dek_out: Option<PathBuf>,
    /// Register the data key with the key custodian at this URL (PUT /v1/admin/keys/{id}).
    #[arg(long, value_name = "URL", requires_all = ["admin_token_file", "release_policy"])]
    custodian: Option<String>,
    /// File holding the custodian's admin bearer token.
    #[arg(long, value_name = "FILE", requires = "custodian")]
    admin_token_file: Option<PathBuf>,
    /// Trust policy (JSON, as `cloister attest verify --policy`) an enclave must satisfy for the
    /// custodian to release the key.
    #[arg(long, value_name = "FILE", requires = "custodian")]
    release_policy: Option<PathBuf>,
    /// Optional Rego policy the custodian evaluates on top of --release-policy.
    #[arg(long, value_name = "FILE", requires = "custodian")]
    release_rego: Option<PathBuf>,
    /// The custodian's key id (default: the model id).
    #[arg(long, value_name = "ID", requires = "custodian")]
    key_id: Option<String>,
}

#[derive(Debug, clap::Args)]
pub(crate) struct InspectArgs {
    /// The sealed model file.
    file: PathBuf,
    /// Also verify the manifest's signature under this publisher key (64 hex).
    #[arg(long, value_name = "HEX")]
    publisher: Option<String>,
}

/// Runs one `cloister model` subcommand.
pub(crate) fn run(cmd: ModelCommand) -> Outcome {
    let (name, result) = match cmd {
        ModelCommand::Keygen(a) => ("keygen", keygen(&a)),
        ModelCommand::Seal(a) => ("seal", seal(&a)),
        ModelCommand::Inspect(a) => ("inspect", inspect(&a)),
    };
    match result {
        Ok(outcome) => outcome,
        Err(Failure::Rejected(msg)) => {
            eprintln!("cloister model {name}: {msg}");
            Outcome::Rejected
        }
        Err(Failure::Error(msg)) => {
            eprintln!("cloister model {name}: {msg}");
            Outcome::Error
        }
    }
}

#[derive(Debug)]
enum Failure {
    /// The input was checked and refused (exit 1).
    Rejected(String),
    /// Usage or I/O (exit 2).
    Error(String),
}

fn io_at(path: &Path, what: &str) -> impl FnOnce(std::io::Error) -> Failure {
    let msg = format!("{what} {}", path.display());
    move |e| Failure::Error(format!("{msg}: {e}"))
}

fn keygen(a: &KeygenArgs) -> Result<Outcome, Failure> {
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng)
        .map_err(|_| Failure::Error("the OS random generator failed".into()))?;
    let key = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref())
        .map_err(|_| Failure::Error("the generated key does not parse".into()))?;
    let pem = Zeroizing::new(pem_encode("PRIVATE KEY", pkcs8.as_ref()));
    write_private(&a.output, pem.as_bytes())?;
    eprintln!("wrote {} (mode 0600)", a.output.display());
    println!("{}", hex::encode(key.public_key().as_ref()));
    Ok(Outcome::Ok)
}

fn seal(a: &SealArgs) -> Result<Outcome, Failure> {
    if a.dek_out.is_none() && a.custodian.is_none() {
        return Err(Failure::Error(
            "give --dek-out FILE or --custodian URL: the data key is drawn fresh and never \
             printed, so without one of them the sealed model could never be opened"
                .into(),
        ));
    }
    let key = read_publisher_key(&a.publisher_key)?;
    let files = ModelFiles::read_model_dir(&a.model_dir)
        .map_err(|e| Failure::Error(format!("{e} [{}] ({})", e.code(), e.hint())))?;
    let archive = files
        .archive()
        .map_err(|e| Failure::Error(format!("{e} [{}]", e.code())))?;
    check_identity(archive.get("model.json").unwrap_or_default(), a)?;
    // Everything the custodian step needs is read before anything is written.
    let registration_inputs = a
        .custodian
        .as_ref()
        .map(|_| read_release_inputs(a))
        .transpose()?;

    let rng = aws_lc_rs::rand::SystemRandom::new();
    let mut dek_bytes = Zeroizing::new([0u8; 32]);
    let mut nonce_prefix = [0u8; NONCE_PREFIX_LEN];
    rng.fill(&mut dek_bytes[..])
        .and_then(|()| rng.fill(&mut nonce_prefix))
        .map_err(|_| Failure::Error("the OS random generator failed".into()))?;
    let dek = DataKey::from_bytes(*dek_bytes);

    let total = archive.encoded_len();
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(total);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "sealing {bar:40} {bytes}/{total_bytes} {bytes_per_sec}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let request = SealRequest {
        model_id: &a.model_id,
        version: &a.model_version,
        chunk_size: a.chunk_size,
    };
    let sealed = seal_model(&archive, &request, &dek, &key, nonce_prefix, |n| {
        if let Some(bar) = &bar {
            bar.set_position(n);
        }
    });
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let (sealed, manifest) =
        sealed.map_err(|e| Failure::Error(format!("{e} [{}] ({})", e.code(), e.hint())))?;
    write_atomically(&a.output, &sealed).map_err(Failure::Error)?;
    eprintln!("wrote {} ({} bytes)", a.output.display(), sealed.len());
    if let Some(path) = &a.dek_out {
        let b64 = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(dek.expose()));
        let line = Zeroizing::new(format!("{}\n", b64.as_str()));
        write_private(path, line.as_bytes())?;
        eprintln!("wrote the data key to {} (mode 0600)", path.display());
    }
    if let (Some(url), Some((token, policy, rego))) = (&a.custodian, registration_inputs) {
        let key_id = a.key_id.as_deref().unwrap_or(&a.model_id);
        let registration = KeyRegistration {
            key_id,
            dek: &dek,
            trust_policy: policy,
            rego,
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Failure::Error(format!("starting the async runtime: {e}")))?;
        rt.block_on(register_key(url, &token, &registration))
            .map_err(|e| Failure::Error(format!("{e} [{}] ({})", e.code(), e.hint())))?;
        eprintln!("registered the data key with {url} as {key_id}");
    }
    print_manifest(&manifest);
    Ok(Outcome::Ok)
}

/// The token, the release policy (checked as a trust policy) and the Rego text.
fn read_release_inputs(
    a: &SealArgs,
) -> Result<(Zeroizing<String>, serde_json::Value, Option<String>), Failure> {
    let (Some(token_file), Some(policy_file)) = (&a.admin_token_file, &a.release_policy) else {
        return Err(Failure::Error(
            "--custodian needs --admin-token-file and --release-policy".into(),
        ));
    };
    let token = Zeroizing::new(
        std::fs::read_to_string(token_file)
            .map_err(io_at(token_file, "reading --admin-token-file"))?
            .trim()
            .to_owned(),
    );
    if token.is_empty() {
        return Err(Failure::Error(format!(
            "--admin-token-file {} is empty",
            token_file.display()
        )));
    }
    let policy_bytes =
        std::fs::read(policy_file).map_err(io_at(policy_file, "reading --release-policy"))?;
    TrustPolicy::from_json(&policy_bytes).map_err(|e| {
        Failure::Error(format!(
            "--release-policy {}: {e} [{}]",
            policy_file.display(),
            e.code()
        ))
    })?;
    let policy: serde_json::Value = serde_json::from_slice(&policy_bytes)
        .map_err(|e| Failure::Error(format!("--release-policy {}: {e}", policy_file.display())))?;
    let rego = a
        .release_rego
        .as_ref()
        .map(|p| std::fs::read_to_string(p).map_err(io_at(p, "reading --release-rego")))
        .transpose()?;
    Ok((token, policy, rego))
}

/// The enclave serves a model under model.json's id and version and refuses a sealed model
/// whose manifest says otherwise: catch that here, before sealing.
fn check_identity(model_json: &[u8], a: &SealArgs) -> Result<(), Failure> {
    let v: serde_json::Value = serde_json::from_slice(model_json)
        .map_err(|e| Failure::Error(format!("model.json is not JSON: {e}")))?;
    for (flag, given, field) in [
        ("--model-id", &a.model_id, "id"),
        ("--model-version", &a.model_version, "version"),
    ] {
        let found = v.get(field).and_then(|x| x.as_str()).unwrap_or_default();
        if found != given {
            return Err(Failure::Error(format!(
                "{flag} {given:?} differs from model.json's {field} {found:?}: the enclave \
                 would refuse the sealed model"
            )));
        }
    }
    Ok(())
}

fn inspect(a: &InspectArgs) -> Result<Outcome, Failure> {
    let bytes = std::fs::read(&a.file).map_err(io_at(&a.file, "reading"))?;
    let reject = |e: &dyn std::fmt::Display, code: &str| {
        Failure::Rejected(format!("{}: {e} [{code}]", a.file.display()))
    };
    let package = SealedPackage::parse(&bytes).map_err(|e| reject(&e, e.code()))?;
    let signed = package.signed_manifest();
    let manifest = match &a.publisher {
        Some(hex_key) => {
            let key: [u8; 32] = hex::decode(hex_key)
                .ok()
                .and_then(|k| k.try_into().ok())
                .ok_or_else(|| Failure::Error("--publisher must be 64 hex digits".into()))?;
            cloister_proto::model_manifest::verify_manifest(signed, &key)
                .map_err(|e| reject(&e, e.code()))?
        }
        None => ModelManifest::parse(signed.manifest_bytes()).map_err(|e| reject(&e, e.code()))?,
    };
    let (header, _) = cloister_proto::sealed::SealedHeader::parse(package.artifact())
        .map_err(|e| reject(&e, e.code()))?;
    let doc = serde_json::json!({
        "manifest": manifest.to_json(),
        "manifest_sha384": hex::encode(signed.manifest_sha384()),
        "signature_verified": a.publisher.is_some(),
        "header": {
            "model_id": header.model_id(),
            "chunk_size": header.chunk_size(),
            "plaintext_len": header.plaintext_len(),
            "chunk_count": header.chunk_count(),
            "manifest_sha384": hex::encode(header.manifest_sha384()),
        },
        "sealed_len": bytes.len(),
    });
    println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    Ok(Outcome::Ok)
}

/// The manifest, and the trust-policy `models` entry that pins this model.
fn print_manifest(m: &ModelManifest) {
    let doc = serde_json::json!({
        "manifest": m.to_json(),
        "trust_policy_models_entry": { m.model_id(): hex::encode(m.plaintext_sha384()) },
    });
    println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
}

fn read_publisher_key(path: &Path) -> Result<Ed25519KeyPair, Failure> {
    let raw = Zeroizing::new(std::fs::read(path).map_err(io_at(path, "reading --publisher-key"))?);
    let der = match pem_decode(&raw, "PRIVATE KEY") {
        Some(der) => der,
        None => Zeroizing::new(raw.to_vec()),
    };
    // `maybe_unchecked` accepts PKCS#8 v1 (openssl genpkey) as well as v2 (keygen).
    Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der).map_err(|_| {
        Failure::Error(format!(
            "--publisher-key {}: not an Ed25519 PKCS#8 key (PEM or DER); make one with \
             `cloister model keygen`",
            path.display()
        ))
    })
}

fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(der));
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fn pem_decode(raw: &[u8], label: &str) -> Option<Zeroizing<Vec<u8>>> {
    let text = std::str::from_utf8(raw).ok()?;
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let body = text.split_once(&begin)?.1.split_once(&end)?.0;
    let b64: Zeroizing<String> =
        Zeroizing::new(body.chars().filter(|c| !c.is_whitespace()).collect());
    base64::engine::general_purpose::STANDARD
        .decode(b64.as_bytes())
        .ok()
        .map(Zeroizing::new)
}

/// Creates `path` with mode 0600 (never overwriting) and writes a secret into it.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(path).map_err(io_at(path, "creating"))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(io_at(path, "writing"))
}

#[cfg(test)]
mod tests;
