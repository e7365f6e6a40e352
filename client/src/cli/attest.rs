//! `cloister attest verify FILE`.

use std::path::PathBuf;

use cloister_attestation::nitro::{NitroVerifier, TrustAnchor};
use cloister_attestation::snp::{Product, SnpCrl, SnpPolicy, SnpVerifier};
use cloister_attestation::tdx::TdxPolicy;
use cloister_attestation::{
    AttestationError, Claims, NitroClaims, NitroPolicy, Platform, PlatformClaims, SnpClaims,
    TrustPolicy, UnixTime, VerifiedEvidence,
};

use super::{Outcome, parse_time};

mod tdx;
use crate::cli::infer::print_json;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum PlatformArg {
    /// Detect from the evidence.
    Auto,
    /// AWS Nitro attestation document (COSE_Sign1); also the mock platform's format.
    Nitro,
    /// AMD SEV-SNP attestation report (1184 bytes); needs --vcek.
    Snp,
    /// Intel TDX DCAP quote (v4 or v5); TCB status needs --collateral.
    Tdx,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ProductArg {
    /// AMD EPYC 3rd generation.
    Milan,
    /// AMD EPYC 4th generation (also Bergamo, Siena).
    Genoa,
    /// AMD EPYC 5th generation.
    Turin,
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
    /// root G1 is always pinned; mock evidence also needs a --policy with a mock entry naming
    /// this root.
    #[arg(long, value_name = "PEM")]
    root: Option<PathBuf>,
    /// Trust policy (JSON): the platforms you accept and the workload each must run (written by
    /// `cloister eif describe --policy` or `cloister mock init`). Evidence of an unlisted
    /// platform is rejected. Without it, the platform's defaults apply and NO workload is
    /// pinned: any genuine enclave of that platform passes.
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// Without --policy: accept debug-mode enclaves (their memory is readable by the host).
    /// Never for production; a policy file says "dangerous_allow_debug" instead.
    #[arg(long)]
    allow_debug: bool,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// SEV-SNP: the VCEK or VLEK certificate that signed the report (DER or PEM). Required for
    /// --platform snp.
    #[arg(long, value_name = "CERT")]
    vcek: Option<PathBuf>,
    /// SEV-SNP: the ASK (or ASVK) and ARK, PEM, any order. Default: the built-in certificates of
    /// the report's product. An ARK given here must be one of the pinned AMD ARKs.
    #[arg(long, value_name = "PEM")]
    chain: Option<PathBuf>,
    /// SEV-SNP: an AMD CRL (PEM or DER), signed by the ARK; a revoked ASK/ASVK or VCEK is rejected.
    #[arg(long, value_name = "PEM")]
    crl: Option<PathBuf>,
    /// SEV-SNP: the product, for v2 reports (which carry no CPUID). Default: detected.
    #[arg(long, value_enum)]
    product: Option<ProductArg>,
    /// TDX: DCAP collateral (QuoteCollateralV3 JSON: TCB Info, QE Identity, CRLs and their
    /// chains, as Intel PCS or a PCCS serves them). Without it the TCB status is unknown.
    #[arg(long, value_name = "JSON")]
    collateral: Option<PathBuf>,
    /// TDX, without --policy: accept a quote verified without --collateral (signatures and PCK
    /// chain only). With collateral the status is known and this flag never overrides it. A
    /// policy file says "dangerous_allow_unknown_tcb" instead.
    #[arg(long)]
    allow_unknown_tcb: bool,
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
    for (flag, given, platform) in [
        ("--vcek", args.vcek.is_some(), PlatformArg::Snp),
        ("--chain", args.chain.is_some(), PlatformArg::Snp),
        ("--crl", args.crl.is_some(), PlatformArg::Snp),
        ("--product", args.product.is_some(), PlatformArg::Snp),
        ("--collateral", args.collateral.is_some(), PlatformArg::Tdx),
        (
            "--allow-unknown-tcb",
            args.allow_unknown_tcb,
            PlatformArg::Tdx,
        ),
        ("--root", args.root.is_some(), PlatformArg::Nitro),
    ] {
        let applies = args.platform == platform
            || (platform == PlatformArg::Nitro && args.platform == PlatformArg::Auto);
        if given && !applies {
            let name = match platform {
                PlatformArg::Snp => "snp",
                PlatformArg::Tdx => "tdx",
                _ => "nitro",
            };
            return usage(&args, &format!("{flag} applies only to --platform {name}"));
        }
    }
    match args.platform {
        PlatformArg::Snp => return run_snp(&args, &evidence, now),
        PlatformArg::Tdx => return tdx::run(&args, &evidence, now),
        PlatformArg::Auto | PlatformArg::Nitro => {}
    }
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
    match verifier.verify(&evidence, now) {
        Ok(doc) => appraise(&args, &VerifiedEvidence::Nitro(Box::new(doc)), now),
        Err(e) => reject(&args, &e),
    }
}

/// The trust policy to appraise with: `--policy`, or the platform's defaults with no workload
/// pinned (then the flags loosen it). The bool says whether a workload is pinned.
fn trust_policy(args: &VerifyArgs, platform: Platform) -> Result<(TrustPolicy, bool), String> {
    if let Some(path) = &args.policy {
        for (flag, given, key) in [
            ("--allow-debug", args.allow_debug, "dangerous_allow_debug"),
            (
                "--allow-unknown-tcb",
                args.allow_unknown_tcb,
                "dangerous_allow_unknown_tcb",
            ),
        ] {
            if given {
                return Err(format!(
                    "{flag} loosens the platform defaults; with --policy, say \"{key}\": true in the policy's entry instead"
                ));
            }
        }
        let bytes = std::fs::read(path).map_err(|e| format!("--policy {}: {e}", path.display()))?;
        let policy = TrustPolicy::from_json(&bytes)
            .map_err(|e| format!("--policy {}: {e} ({})", path.display(), e.hint()))?;
        return Ok((policy, true));
    }
    let policy = match platform {
        Platform::Nitro | Platform::Mock => {
            let mut p = NitroPolicy::default().dangerous_any_workload();
            if args.allow_debug {
                p = p.dangerous_allow_debug();
            }
            TrustPolicy::new().with_nitro(p)
        }
        Platform::SevSnp => {
            let mut p = SnpPolicy::default().dangerous_any_workload();
            if args.allow_debug {
                p = p.dangerous_allow_debug();
            }
            TrustPolicy::new().with_snp(p)
        }
        Platform::Tdx => {
            let mut p = TdxPolicy::default().dangerous_any_workload();
            if args.allow_debug {
                p = p.dangerous_allow_debug();
            }
            if args.allow_unknown_tcb {
                p = p.dangerous_allow_unknown_tcb();
            }
            TrustPolicy::new().with_tdx(p)
        }
    };
    Ok((policy.map_err(|e| e.to_string())?, false))
}

/// Appraises verified evidence (without a key binding: this tool does not know the keys) and
/// prints the verdict.
fn appraise(args: &VerifyArgs, verified: &VerifiedEvidence, now: UnixTime) -> Outcome {
    let (policy, pinned) = match trust_policy(args, verified.platform()) {
        Ok(p) => p,
        Err(msg) => return usage(args, &msg),
    };
    let claims = match policy.dangerous_appraise_without_binding(verified, now) {
        Ok(claims) => claims,
        Err(e) => return reject(args, &e),
    };
    let workload = if pinned {
        "pinned by --policy"
    } else {
        "NOT pinned (no --policy): any genuine enclave of this platform passes"
    };
    let digest = hex::encode(verified.evidence_digest());
    if args.json {
        print_json(&serde_json::json!({
            "verdict": "accepted", "at": now.as_secs(), "claims": claims,
            "workload_pinned": pinned, "evidence_sha384": digest,
        }));
        return Outcome::Ok;
    }
    println!("accepted at {}", now.as_secs());
    match &claims.platform_claims {
        PlatformClaims::Nitro(nitro) => print_nitro_text(&claims, nitro),
        PlatformClaims::Snp(snp) => print_snp_text(&claims, snp),
        PlatformClaims::Tdx(tdx) => tdx::print_text(&claims, tdx),
    }
    println!("  evidence:   sha384 {digest}");
    println!("  workload:   {workload}");
    Outcome::Ok
}

/// `--platform snp`: the report in `evidence`, the VCEK/VLEK from `--vcek`.
fn run_snp(args: &VerifyArgs, evidence: &[u8], now: UnixTime) -> Outcome {
    let Some(vcek_path) = &args.vcek else {
        return usage(
            args,
            "--platform snp needs --vcek CERT: the VCEK (AMD KDS, for the report's CHIP_ID and REPORTED_TCB) or VLEK that signed the report",
        );
    };
    if args.root.is_some() {
        return usage(
            args,
            "--root applies only to Nitro evidence; SEV-SNP chains end in the pinned AMD ARKs (use --chain for the ASK/ASVK)",
        );
    }
    let read = |flag: &str, path: &PathBuf| {
        std::fs::read(path).map_err(|e| format!("{flag} {}: {e}", path.display()))
    };
    let vcek = match read("--vcek", vcek_path) {
        Ok(b) => b,
        Err(msg) => return usage(args, &msg),
    };
    let mut verifier = SnpVerifier::new();
    if let Some(product) = args.product {
        verifier = verifier.with_product(match product {
            ProductArg::Milan => Product::Milan,
            ProductArg::Genoa => Product::Genoa,
            ProductArg::Turin => Product::Turin,
        });
    }
    if let Some(path) = &args.chain {
        match read("--chain", path).and_then(|pem| {
            verifier
                .clone()
                .with_chain_pem(&pem)
                .map_err(|e| format!("--chain {}: {e}", path.display()))
        }) {
            Ok(v) => verifier = v,
            Err(msg) => return usage(args, &msg),
        }
    }
    if let Some(path) = &args.crl {
        match read("--crl", path).and_then(|b| {
            SnpCrl::from_pem_or_der(&b).map_err(|e| format!("--crl {}: {e}", path.display()))
        }) {
            Ok(crl) => verifier = verifier.with_crl(crl),
            Err(msg) => return usage(args, &msg),
        }
    }
    match verifier.verify(evidence, &vcek, now) {
        Ok(report) => appraise(args, &VerifiedEvidence::Snp(Box::new(report)), now),
        Err(e) => reject(args, &e),
    }
}

fn print_snp_text(claims: &Claims, snp: &SnpClaims) {
    println!("  platform:     {}", claims.platform.as_str());
    println!(
        "  product:      {} (report v{}, signed by {})",
        snp.product,
        snp.version,
        snp.signer.as_str()
    );
    println!("  debug:        {}", claims.debug);
    println!("  policy:       {}", snp.policy);
    println!("  vmpl:         {}", snp.vmpl);
    println!("  measurement:  {}", snp.measurement);
    println!("  host_data:    {}", snp.host_data);
    println!(
        "  report_data:  {}",
        claims.key_binding.as_deref().unwrap_or("")
    );
    println!("  chip_id:      {}", snp.chip_id);
    let t = &snp.reported_tcb;
    println!(
        "  reported_tcb: {}bl {} tee {} snp {} ucode {}",
        t.fmc.map(|f| format!("fmc {f} ")).unwrap_or_default(),
        t.bootloader,
        t.tee,
        t.snp,
        t.microcode
    );
    println!("  firmware:     {}", snp.current_version);
    println!("  root:         sha256 {}", claims.root_sha256);
}

fn print_nitro_text(claims: &Claims, nitro: &NitroClaims) {
    println!("  platform:   {}", claims.platform.as_str());
    println!("  module_id:  {}", nitro.module_id);
    println!("  timestamp:  {} ms", nitro.timestamp_ms);
    println!("  debug:      {}", claims.debug);
    for (i, v) in &nitro.pcrs {
        if v.chars().any(|c| c != '0') {
            println!("  PCR{i:<2}      {v}");
        }
    }
    for (name, v) in [
        ("user_data", &nitro.user_data),
        ("nonce", &nitro.nonce),
        ("public_key", &nitro.public_key),
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

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        args: VerifyArgs,
    }

    fn snp(rel: &str) -> String {
        format!(
            "{}/../../shared/fixtures/snp/{rel}",
            env!("CARGO_MANIFEST_DIR")
        )
    }

    fn run_with(argv: &[&str]) -> Outcome {
        let cli = Cli::try_parse_from(std::iter::once("verify").chain(argv.iter().copied()))
            .expect("arguments parse");
        run(cli.args)
    }

    #[test]
    fn snp_without_vcek_is_a_usage_error() {
        let report = snp("virtee-sev/report_milan.hex");
        assert_eq!(
            run_with(&[&report, "--platform", "snp", "--at", "1735689600"]),
            Outcome::Error
        );
    }

    #[test]
    fn snp_flags_are_refused_for_nitro() {
        let report = snp("virtee-sev/report_milan.hex");
        let vcek = snp("virtee-sev/vcek_milan.der");
        assert_eq!(
            run_with(&[&report, "--platform", "nitro", "--vcek", &vcek]),
            Outcome::Error
        );
    }

    #[test]
    fn snp_accepts_rejects_and_reports_io_errors() {
        let report = snp("virtee-sev/report_milan.hex");
        let vcek = snp("virtee-sev/vcek_milan.der");
        let chain = snp("virtee-sev/cert_chain_milan");
        let base = [
            report.as_str(),
            "--platform",
            "snp",
            "--vcek",
            vcek.as_str(),
        ];
        let with = |extra: &[&str]| {
            let mut v = base.to_vec();
            v.extend_from_slice(extra);
            run_with(&v)
        };
        assert_eq!(with(&["--at", "2025-01-01T00:00:00Z"]), Outcome::Ok);
        assert_eq!(
            with(&["--at", "2025-01-01T00:00:00Z", "--chain", &chain, "--json"]),
            Outcome::Ok
        );
        assert_eq!(
            with(&["--at", "2025-01-01T00:00:00Z", "--product", "milan"]),
            Outcome::Ok
        );
        assert_eq!(
            with(&["--at", "2025-01-01T00:00:00Z", "--product", "genoa"]),
            Outcome::Rejected
        );
        assert_eq!(with(&["--at", "2031-01-01T00:00:00Z"]), Outcome::Rejected);
        assert_eq!(
            with(&["--at", "2025-01-01T00:00:00Z", "--chain", "/nonexistent"]),
            Outcome::Error
        );
        assert_eq!(
            with(&["--at", "2025-01-01T00:00:00Z", "--crl", &report]),
            Outcome::Error
        );
        let crl = snp("openpcc-openpcc/extracted/test_amd_milan_crl.pem");
        assert_eq!(
            with(&["--at", "2025-06-01T00:00:00Z", "--crl", &crl]),
            Outcome::Ok
        );
        let genoa_crl = snp("openpcc-openpcc/extracted/test_amd_genoa_crl.pem");
        assert_eq!(
            with(&["--at", "2025-06-01T00:00:00Z", "--crl", &genoa_crl]),
            Outcome::Rejected
        );
    }

    #[test]
    fn snp_policy_file_and_debug_flag() {
        let dir = std::env::temp_dir().join(format!("cloister-snp-policy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let policy = dir.join("policy.json");
        std::fs::write(
            &policy,
            r#"{"sev-snp": {"allowed_vmpls": [0], "dangerous_allow_debug": true, "dangerous_any_workload": true}}"#,
        )
        .expect("write");
        let report = snp("google-go-sev-guest/attestation.bin");
        let vcek = snp("google-go-sev-guest/vcek.testcer");
        let base = [
            report.as_str(),
            "--platform",
            "snp",
            "--vcek",
            vcek.as_str(),
            "--at",
            "1735689600",
        ];
        assert_eq!(run_with(&base), Outcome::Rejected);
        let mut v = base.to_vec();
        v.push("--allow-debug");
        assert_eq!(run_with(&v), Outcome::Ok);
        let policy_s = policy.to_string_lossy().into_owned();
        let mut v = base.to_vec();
        v.extend(["--policy", policy_s.as_str()]);
        assert_eq!(run_with(&v), Outcome::Ok);
        // --allow-debug with --policy is a usage error: the policy says it.
        let mut both = v.clone();
        both.push("--allow-debug");
        assert_eq!(run_with(&both), Outcome::Error);
        // A policy that lists only TDX rejects the genuine SEV-SNP report.
        let h = "00".repeat(48);
        std::fs::write(
            &policy,
            format!(
                r#"{{"tdx": {{"mr_td": "{h}", "rtmr0": "{h}", "rtmr1": "{h}", "rtmr2": "{h}"}}}}"#
            ),
        )
        .expect("write");
        assert_eq!(run_with(&v), Outcome::Rejected);
        // An entry that pins nothing does not load.
        std::fs::write(&policy, r#"{"sev-snp": {"allowed_vmpls": [0]}}"#).expect("write");
        assert_eq!(run_with(&v), Outcome::Error);
        std::fs::write(&policy, r#"{"sev-snp": {"allowed_vmpl": [0]}}"#).expect("write");
        assert_eq!(run_with(&v), Outcome::Error);
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn tdx(rel: &str) -> String {
        format!(
            "{}/../../shared/fixtures/tdx/{rel}",
            env!("CARGO_MANIFEST_DIR")
        )
    }

    #[test]
    fn tdx_verifies_with_collateral_and_refuses_misplaced_flags() {
        let quote = tdx("Phala-Network-dcap-qvl/tdx_quote");
        let coll = tdx("Phala-Network-dcap-qvl/tdx_quote_collateral.json");
        let inside = ["--platform", "tdx", "--at", "2025-07-01T00:00:00Z"];
        let with = |extra: &[&str]| {
            let mut v = vec![quote.as_str()];
            v.extend(inside);
            v.extend(extra);
            run_with(&v)
        };
        assert_eq!(with(&["--collateral", &coll]), Outcome::Ok);
        assert_eq!(with(&["--collateral", &coll, "--json"]), Outcome::Ok);
        // Without collateral: unknown TCB, refused unless allowed.
        assert_eq!(with(&[]), Outcome::Rejected);
        assert_eq!(with(&["--allow-unknown-tcb"]), Outcome::Ok);
        // The flag never overrides a known status: only UpToDate is accepted by default, and a
        // policy accepting only OutOfDate refuses this UpToDate quote even with the flag.
        let dir = tempfile::tempdir().expect("tempdir");
        let policy = dir.path().join("p.json");
        std::fs::write(
            &policy,
            r#"{"tdx": {"accepted_tcb_statuses": ["OutOfDate"], "dangerous_allow_unknown_tcb": true, "dangerous_any_workload": true}}"#,
        )
        .expect("write");
        let p = policy.to_str().expect("utf8");
        assert_eq!(
            with(&["--collateral", &coll, "--policy", p]),
            Outcome::Rejected
        );
        assert_eq!(with(&["--policy", p]), Outcome::Ok);
        assert_eq!(with(&["--collateral", "/nonexistent.json"]), Outcome::Error);
        assert_eq!(with(&["--vcek", &coll]), Outcome::Error);
        assert_eq!(
            run_with(&[&quote, "--platform", "nitro", "--collateral", &coll]),
            Outcome::Error
        );
    }
}
