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
    /// Trust policy (JSON): the platforms you accept and the workload each must run (Nitro
    /// PCR0, SEV-SNP MEASUREMENT, TDX MRTD and RTMR0-2, mock root and PCR0), optionally the
    /// model digests. Evidence of any other platform or workload is refused before your input
    /// leaves this machine. Written by `cloister eif describe --policy` and `cloister mock init`.
    #[arg(long, value_name = "FILE")]
    policy: PathBuf,
    /// Mock root certificate (PEM), for enclaves on the mock platform; the policy's mock entry
    /// must name its SHA-256.
    #[arg(long, value_name = "PEM")]
    mock_root: Option<PathBuf>,
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
        Err(Failure {
            error: e,
            input_sent,
        }) => {
            // Say truthfully whether the input left this process: before verification succeeded
            // it never did; once the request was sent, the host and enclave have it (encrypted
            // to the attested key).
            let sent_note = if input_sent {
                "your input was sent, encrypted to the attested enclave key, before this failure"
            } else {
                "your input was not sent"
            };
            if args.json {
                print_json(&serde_json::json!({
                    "verdict": "rejected",
                    "input_sent": input_sent,
                    "error": {"code": e.code(), "message": e.to_string()},
                }));
            } else {
                eprintln!("cloister infer: {e}");
                eprintln!("  {sent_note}");
            }
            if e.is_rejection() {
                Outcome::Rejected
            } else {
                Outcome::Error
            }
        }
    }
}

/// An error, and whether the caller's input had left the process when it happened.
struct Failure {
    error: ClientError,
    input_sent: bool,
}

fn before_sending(error: ClientError) -> Failure {
    Failure {
        error,
        input_sent: false,
    }
}

async fn infer(args: &InferArgs) -> Result<(), Failure> {
    let input = if args.input.trim_start().starts_with('{') {
        args.input.clone().into_bytes()
    } else {
        let p = PathBuf::from(&args.input);
        std::fs::read(&p)
            .map_err(|e| ClientError::io(&p, e))
            .map_err(before_sending)?
    };
    let trust =
        TrustConfig::from_files(&args.policy, args.mock_root.as_deref()).map_err(before_sending)?;
    let session = Session::new(&args.host).map_err(before_sending)?;
    // Verification comes first: on any failure, `?` returns before the input leaves this process.
    let enclave = session
        .attest(&trust, UnixTime::now())
        .await
        .map_err(before_sending)?;
    enclave.check_model(&args.model).map_err(before_sending)?;
    let result = session
        .infer(&enclave, &args.model, &input, UnixTime::now())
        .await
        .map_err(|error| Failure {
            // `infer` checks the model pins again before it seals anything; every later error
            // comes after the request was sent.
            input_sent: !matches!(error, ClientError::Attestation(_)),
            error,
        })?;
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
                "workload_measurement": claims.workload_measurement,
                "tcb_status": claims.tcb_status,
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
            "  evidence    {} evidence, chain to pinned root sha256 {}",
            claims.platform.as_str(),
            claims.root_sha256
        );
        println!(
            "  workload    {} (pinned by the trust policy)",
            claims.workload_measurement
        );
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
