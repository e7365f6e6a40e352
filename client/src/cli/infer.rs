//! `cloister infer`: verify, then send, then check.

use std::path::PathBuf;

use cloister_attestation::UnixTime;
use cloister_client::ClientError;
use cloister_client::session::Session;
use cloister_client::verify::TrustConfig;

use super::Outcome;

#[derive(Debug, clap::Args)]
pub(crate) struct InferArgs {
    /// Base URL of the Cloister host, e.g. http://127.0.0.1:8080.
    #[arg(long, value_name = "URL")]
    host: String,
    /// Appraisal policy (JSON) the enclave must satisfy: PCR pins, debug, trusted mock root.
    #[arg(long, value_name = "FILE")]
    policy: PathBuf,
    /// Mock root certificate (PEM), for enclaves on the mock platform.
    #[arg(long, value_name = "PEM")]
    mock_root: Option<PathBuf>,
    /// SEV-SNP appraisal policy (JSON: measurement, host data, VMPLs, minimum TCB…). Without it,
    /// SEV-SNP enclaves are refused. `{}` is the default: no debug, no migration agent.
    #[arg(long, value_name = "FILE")]
    snp_policy: Option<PathBuf>,
    /// TDX appraisal policy (JSON: MRTD, RTMRs, accepted TCB statuses…). Without it, TDX
    /// enclaves are refused. `{}` is the default: UpToDate only, no debug, SEPT_VE_DISABLE.
    #[arg(long, value_name = "FILE")]
    tdx_policy: Option<PathBuf>,
    /// Model id to run.
    #[arg(long, default_value = "credit-risk-v1")]
    model: String,
    /// Request body: a JSON file path, or inline JSON starting with '{'.
    #[arg(long, value_name = "JSON")]
    input: String,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: InferArgs) -> Outcome {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cloister infer: starting the async runtime: {e}");
            return Outcome::Error;
        }
    };
    match rt.block_on(infer(&args)) {
        Ok(()) => Outcome::Ok,
        Err(e) => {
            if args.json {
                print_json(
                    &serde_json::json!({"verdict": "rejected", "error": {"code": e.code(), "message": e.to_string()}}),
                );
            } else {
                eprintln!("cloister infer: {e}");
                if e.is_rejection() {
                    eprintln!("  nothing was sent to the enclave after this failure");
                }
            }
            if e.is_rejection() {
                Outcome::Rejected
            } else {
                Outcome::Error
            }
        }
    }
}

async fn infer(args: &InferArgs) -> Result<(), ClientError> {
    let input = if args.input.trim_start().starts_with('{') {
        args.input.clone().into_bytes()
    } else {
        let p = PathBuf::from(&args.input);
        std::fs::read(&p).map_err(|e| ClientError::Io {
            path: p.display().to_string(),
            detail: e.to_string(),
        })?
    };
    let mut trust = TrustConfig::from_files(&args.policy, args.mock_root.as_deref())?;
    if let Some(p) = &args.snp_policy {
        trust = trust.with_snp_policy_file(p)?;
    }
    if let Some(p) = &args.tdx_policy {
        trust = trust.with_tdx_policy_file(p)?;
    }
    let session = Session::new(&args.host)?;
    // Verification comes first: on any failure, `?` returns before the input leaves this process.
    let enclave = session.attest(&trust, UnixTime::now()).await?;
    let result = session
        .infer(&enclave, &args.model, &input, UnixTime::now())
        .await?;
    let claims = enclave.appraised().claims();
    let st = result.statement();
    let output: serde_json::Value =
        serde_json::from_slice(result.output()).unwrap_or(serde_json::Value::Null);
    if args.json {
        print_json(&serde_json::json!({
            "verdict": "accepted",
            "result": output,
            "verified": {
                "platform": claims.platform.as_str(),
                "module_id": claims.module_id,
                "pcr0": claims.pcrs.get(&0),
                "evidence_sha384": hex::encode(enclave.evidence_digest()),
                "kem_pub": hex::encode(enclave.kem_pub()),
                "sig_pub": hex::encode(enclave.sig_pub()),
                "model_id": st.model_id,
                "model_sha384": hex::encode(&st.model_sha384),
                "request_sha384": hex::encode(&st.request_sha384),
                "issued_at": st.issued_at,
                "signature": hex::encode(result.signature()),
            }
        }));
    } else {
        println!("result: {}", String::from_utf8_lossy(result.output()));
        println!("verified:");
        println!(
            "  evidence    {} document, module {}, chain to pinned root sha256 {}",
            claims.platform.as_str(),
            claims.module_id,
            claims.root_sha256
        );
        if let Some(pcr0) = claims.pcrs.get(&0) {
            println!(
                "  PCR0        {pcr0} (pinned by policy: {})",
                trust.policy().pcrs().contains_key(&0)
            );
        }
        println!(
            "  binding     kem_pub {} and sig_pub {} bound to our nonce",
            hex::encode(enclave.kem_pub()),
            hex::encode(enclave.sig_pub())
        );
        println!(
            "  signature   Ed25519 by the attested sig_pub over request, output, model and evidence hashes"
        );
        println!(
            "  model       {} sha384 {}",
            st.model_id,
            hex::encode(&st.model_sha384)
        );
        println!("  issued_at   {}", st.issued_at);
    }
    Ok(())
}

pub(crate) fn print_json(v: &serde_json::Value) {
    println!("{v}");
}
