//! `cloister attest verify FILE`.

use std::path::PathBuf;

use cloister_attestation::nitro::{NitroVerifier, TrustAnchor};
use cloister_attestation::policy::{AppraisalContext, NitroPolicy};
use cloister_attestation::{AttestationError, Platform, UnixTime};

use super::{Outcome, parse_time};
use crate::cli::infer::print_json;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum PlatformArg {
    /// Detect from the evidence.
    Auto,
    /// AWS Nitro attestation document (COSE_Sign1); also the mock platform's format.
    Nitro,
}

#[derive(Debug, clap::Args)]
pub(crate) struct VerifyArgs {
    /// Evidence file: raw bytes, hex (optionally 0x-prefixed) or base64; detected.
    file: PathBuf,
    /// Verification time: Unix seconds or RFC 3339. Default: now.
    #[arg(long, value_name = "TIME")]
    at: Option<String>,
    /// Evidence platform.
    #[arg(long, value_enum, default_value = "auto")]
    platform: PlatformArg,
    /// An extra trusted root (PEM), e.g. the mock root from `cloister mock init`. The AWS Nitro
    /// root G1 is always pinned; mock evidence also needs a --policy that names this root.
    #[arg(long, value_name = "PEM")]
    root: Option<PathBuf>,
    /// Appraisal policy (JSON). Default: debug rejected, mock rejected, no PCR pins, no age bound.
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// Accept debug-mode enclaves (PCR0-2 all zero). Never for production.
    #[arg(long)]
    allow_debug: bool,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: VerifyArgs) -> Outcome {
    let now = match args.at.as_deref().map(parse_time).transpose() {
        Ok(t) => t.unwrap_or_else(UnixTime::now),
        Err(msg) => return usage(&args, &msg),
    };
    let raw = match std::fs::read(&args.file) {
        Ok(b) => b,
        Err(e) => return usage(&args, &format!("reading {}: {e}", args.file.display())),
    };
    let evidence = cloister_client::evidence_file::decode_evidence_text(&raw);
    let mut verifier = NitroVerifier::aws();
    if let Some(root) = &args.root {
        match std::fs::read_to_string(root)
            .map_err(|e| e.to_string())
            .and_then(|pem| {
                TrustAnchor::from_pem(Platform::Mock, pem.as_bytes()).map_err(|e| e.to_string())
            }) {
            Ok(anchor) => verifier = verifier.with_mock_root(anchor),
            Err(e) => return usage(&args, &format!("--root {}: {e}", root.display())),
        }
    }
    let mut policy = match &args.policy {
        Some(p) => match std::fs::read(p)
            .map_err(|e| e.to_string())
            .and_then(|b| NitroPolicy::from_json(&b).map_err(|e| e.to_string()))
        {
            Ok(policy) => policy,
            Err(e) => return usage(&args, &format!("--policy {}: {e}", p.display())),
        },
        None => NitroPolicy::default(),
    };
    if args.allow_debug {
        policy = policy.dangerous_allow_debug();
    }
    let verdict = verifier
        .verify(&evidence, now)
        .and_then(|doc| policy.appraise(&doc, &AppraisalContext::at(now)));
    match verdict {
        Ok(appraised) => {
            let claims = appraised.claims();
            if args.json {
                print_json(
                    &serde_json::json!({"verdict": "accepted", "at": now.as_secs(), "claims": claims}),
                );
            } else {
                println!("accepted at {}", now.as_secs());
                print_claims_text(claims);
            }
            Outcome::Ok
        }
        Err(e) => reject(&args, &e),
    }
}

fn print_claims_text(claims: &cloister_attestation::Claims) {
    println!("  platform:   {}", claims.platform.as_str());
    println!("  module_id:  {}", claims.module_id);
    println!("  timestamp:  {} ms", claims.timestamp_ms);
    println!("  debug:      {}", claims.debug);
    for (i, v) in &claims.pcrs {
        if v.chars().any(|c| c != '0') {
            println!("  PCR{i:<2}      {v}");
        }
    }
    for (name, v) in [
        ("user_data", &claims.user_data),
        ("nonce", &claims.nonce),
        ("public_key", &claims.public_key),
    ] {
        if let Some(v) = v {
            println!("  {name:<11} {v}");
        }
    }
    println!("  root:       sha256 {}", claims.root_sha256);
}

fn reject(args: &VerifyArgs, e: &AttestationError) -> Outcome {
    let outcome = if e.is_api_misuse() {
        Outcome::Error
    } else {
        Outcome::Rejected
    };
    if args.json {
        print_json(
            &serde_json::json!({"verdict": "rejected", "error": {"code": e.code(), "message": e.to_string(), "hint": e.hint()}}),
        );
    } else {
        eprintln!("rejected [{}]: {e}\n  hint: {}", e.code(), e.hint());
    }
    outcome
}

fn usage(args: &VerifyArgs, msg: &str) -> Outcome {
    if args.json {
        print_json(
            &serde_json::json!({"verdict": "error", "error": {"code": "cli.usage", "message": msg}}),
        );
    } else {
        eprintln!("cloister attest verify: {msg}");
    }
    Outcome::Error
}
