//! `cloister.verify`: what `cloister attest verify` does, for bytes handed over from Python.
//!
//! The steps and the flags' rules are the CLI's (client/src/cli/attest.rs), so a fixture gives
//! the same verdict and the same code through either: the evidence is decoded as raw, hex or
//! base64; it is verified for the named platform with its collateral at `at`; then appraised
//! without a key binding (this call does not know the enclave's keys) by the trust policy given,
//! or, without one, by the platform's defaults with no workload pinned, loosened only by
//! `allow_debug` / `allow_unknown_tcb`.
//!
//! Chain caches are process-wide: a Nitro or SEV-SNP chain that verified once is not verified
//! again for later evidence signed under it while `at` is inside its window (each document's
//! own signature is always checked; see `cloister_attestation::nitro::ChainCache` for why this
//! is sound). That is what makes repeated verification "warm" from Python, as from Rust.

use std::sync::{Arc, OnceLock};

use cloister_attestation::nitro::{ChainCache, TrustAnchor};
use cloister_attestation::snp::{Product, SnpChainCache, SnpCrl};
use cloister_attestation::tdx::{TdxCollateral, TdxPolicy};
use cloister_attestation::{
    NitroPolicy, NitroVerifier, Platform, SnpPolicy, SnpVerifier, TdxVerifier, TrustPolicy,
    UnixTime, VerifiedEvidence,
};
use pyo3::prelude::*;

use crate::errors::{Failure, raise};

/// What Python asked for, already copied out of Python objects (so the GIL can be released).
struct Request {
    evidence: Vec<u8>,
    platform: Which,
    at: UnixTime,
    policy: Option<Vec<u8>>,
    root: Option<Vec<u8>>,
    vcek: Option<Vec<u8>>,
    chain: Option<Vec<u8>>,
    crl: Option<Vec<u8>>,
    product: Option<Product>,
    collateral: Option<Vec<u8>>,
    allow_debug: bool,
    allow_unknown_tcb: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Which {
    Auto,
    Nitro,
    Snp,
    Tdx,
}

impl Which {
    fn name(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Nitro => "nitro",
            Self::Snp => "snp",
            Self::Tdx => "tdx",
        }
    }
}

/// The accepted verdict, as Python receives it.
struct Accepted {
    claims_json: String,
    evidence_sha384: String,
    workload_pinned: bool,
}

/// Verifies and appraises evidence; returns `(claims_json, evidence_sha384_hex,
/// workload_pinned)`. The GIL is released for all of the work after the arguments are copied.
#[pyfunction]
#[pyo3(signature = (evidence, platform, at, *, policy=None, root=None, vcek=None, chain=None,
    crl=None, product=None, collateral=None, allow_debug=false, allow_unknown_tcb=false))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn verify(
    py: Python<'_>,
    evidence: Vec<u8>,
    platform: &str,
    at: u64,
    policy: Option<Vec<u8>>,
    root: Option<Vec<u8>>,
    vcek: Option<Vec<u8>>,
    chain: Option<Vec<u8>>,
    crl: Option<Vec<u8>>,
    product: Option<&str>,
    collateral: Option<Vec<u8>>,
    allow_debug: bool,
    allow_unknown_tcb: bool,
) -> PyResult<(String, String, bool)> {
    let request = raise(
        py,
        parse_platform(platform).and_then(|platform| {
            Ok(Request {
                evidence,
                platform,
                at: UnixTime::from_secs(at),
                policy,
                root,
                vcek,
                chain,
                crl,
                product: product.map(parse_product).transpose()?,
                collateral,
                allow_debug,
                allow_unknown_tcb,
            })
        }),
    )?;
    let accepted = raise(py, py.detach(move || run(&request)))?;
    Ok((
        accepted.claims_json,
        accepted.evidence_sha384,
        accepted.workload_pinned,
    ))
}

fn parse_platform(s: &str) -> Result<Which, Failure> {
    Ok(match s {
        "auto" => Which::Auto,
        // Mock evidence is a Nitro-format document; its root decides which it is.
        "nitro" | "mock" => Which::Nitro,
        "snp" | "sev-snp" => Which::Snp,
        "tdx" => Which::Tdx,
        other => {
            return Err(Failure::usage(format!(
                "platform {other:?} is none of \"nitro\", \"mock\", \"snp\" (\"sev-snp\"), \"tdx\", \"auto\""
            )));
        }
    })
}

fn parse_product(s: &str) -> Result<Product, Failure> {
    match s.to_ascii_lowercase().as_str() {
        "milan" => Ok(Product::Milan),
        "genoa" => Ok(Product::Genoa),
        "turin" => Ok(Product::Turin),
        _ => Err(Failure::usage(format!(
            "product {s:?} is none of \"milan\", \"genoa\", \"turin\""
        ))),
    }
}

/// The process-wide chain caches (see the module docs).
fn nitro_cache() -> Arc<ChainCache> {
    static CACHE: OnceLock<Arc<ChainCache>> = OnceLock::new();
    CACHE
        .get_or_init(|| Arc::new(ChainCache::default()))
        .clone()
}

fn snp_cache() -> Arc<SnpChainCache> {
    static CACHE: OnceLock<Arc<SnpChainCache>> = OnceLock::new();
    CACHE
        .get_or_init(|| Arc::new(SnpChainCache::default()))
        .clone()
}

fn run(r: &Request) -> Result<Accepted, Failure> {
    check_flags(r)?;
    // A policy that does not load is refused before any evidence is looked at.
    let explicit = r
        .policy
        .as_deref()
        .map(TrustPolicy::from_json)
        .transpose()
        .map_err(|e| input_error("policy", e))?;
    let evidence = cloister_client::evidence_file::decode_evidence_text(&r.evidence);
    let verified = match r.platform {
        Which::Snp => verify_snp(r, &evidence)?,
        Which::Tdx => {
            let collateral = r
                .collateral
                .as_deref()
                .map(TdxCollateral::from_json)
                .transpose()
                .map_err(|e| input_error("collateral", e))?;
            VerifiedEvidence::Tdx(Box::new(TdxVerifier::new().verify(
                &evidence,
                collateral.as_ref(),
                r.at,
            )?))
        }
        Which::Auto | Which::Nitro => {
            let mut verifier = NitroVerifier::aws().with_shared_chain_cache(nitro_cache());
            if let Some(pem) = &r.root {
                let anchor = TrustAnchor::from_pem(Platform::Mock, pem)
                    .map_err(|e| input_error("root", e))?;
                verifier = verifier.with_mock_root(anchor);
            }
            VerifiedEvidence::Nitro(Box::new(verifier.verify(&evidence, r.at)?))
        }
    };
    let (policy, pinned) = match explicit {
        Some(policy) => (policy, true),
        None => (default_policy(r, verified.platform())?, false),
    };
    let claims = policy.dangerous_appraise_without_binding(&verified, r.at)?;
    let claims_json = serde_json::to_string(&claims)
        .map_err(|e| Failure::usage(format!("serializing the claims: {e}")))?;
    Ok(Accepted {
        claims_json,
        evidence_sha384: hex::encode(verified.evidence_digest()),
        workload_pinned: pinned,
    })
}

/// The CLI's rule: a platform's inputs are refused for another platform, not ignored.
fn check_flags(r: &Request) -> Result<(), Failure> {
    let given = [
        ("vcek", r.vcek.is_some(), Which::Snp),
        ("chain", r.chain.is_some(), Which::Snp),
        ("crl", r.crl.is_some(), Which::Snp),
        ("product", r.product.is_some(), Which::Snp),
        ("collateral", r.collateral.is_some(), Which::Tdx),
        ("allow_unknown_tcb", r.allow_unknown_tcb, Which::Tdx),
        ("root", r.root.is_some(), Which::Nitro),
    ];
    for (name, present, applies_to) in given {
        let applies =
            r.platform == applies_to || (applies_to == Which::Nitro && r.platform == Which::Auto);
        if present && !applies {
            return Err(Failure::usage(format!(
                "{name}= applies only to platform \"{}\", not \"{}\"",
                applies_to.name(),
                r.platform.name()
            )));
        }
    }
    if r.platform == Which::Snp && r.vcek.is_none() {
        return Err(Failure::usage(
            "platform \"snp\" needs vcek=: the VCEK (AMD KDS, for the report's CHIP_ID and REPORTED_TCB) or VLEK that signed the report",
        ));
    }
    if r.policy.is_some() {
        for (name, set, key) in [
            ("allow_debug", r.allow_debug, "dangerous_allow_debug"),
            (
                "allow_unknown_tcb",
                r.allow_unknown_tcb,
                "dangerous_allow_unknown_tcb",
            ),
        ] {
            if set {
                return Err(Failure::usage(format!(
                    "{name}=True loosens the platform defaults; with policy=, say \"{key}\": true in the policy's entry instead"
                )));
            }
        }
    }
    Ok(())
}

fn verify_snp(r: &Request, report: &[u8]) -> Result<VerifiedEvidence, Failure> {
    let vcek = r.vcek.as_deref().unwrap_or_default();
    let mut verifier = SnpVerifier::new().with_chain_cache(snp_cache());
    if let Some(product) = r.product {
        verifier = verifier.with_product(product);
    }
    if let Some(pem) = &r.chain {
        verifier = verifier
            .with_chain_pem(pem)
            .map_err(|e| input_error("chain", e))?;
    }
    if let Some(crl) = &r.crl {
        verifier =
            verifier.with_crl(SnpCrl::from_pem_or_der(crl).map_err(|e| input_error("crl", e))?);
    }
    Ok(VerifiedEvidence::Snp(Box::new(
        verifier.verify(report, vcek, r.at)?,
    )))
}

/// An input that is not what its argument says (a policy, a chain, collateral): a usage error,
/// as in the CLI, carrying the attestation code that says why.
fn input_error(arg: &str, e: cloister_attestation::AttestationError) -> Failure {
    let mut f = Failure::from(e);
    f.as_usage(arg);
    f
}

/// Without `policy`: the platform's defaults with no workload pinned, loosened by the flags.
fn default_policy(r: &Request, platform: Platform) -> Result<TrustPolicy, Failure> {
    let policy = match platform {
        Platform::Nitro | Platform::Mock => {
            let mut p = NitroPolicy::default().dangerous_any_workload();
            if r.allow_debug {
                p = p.dangerous_allow_debug();
            }
            TrustPolicy::new().with_nitro(p)
        }
        Platform::SevSnp => {
            let mut p = SnpPolicy::default().dangerous_any_workload();
            if r.allow_debug {
                p = p.dangerous_allow_debug();
            }
            TrustPolicy::new().with_snp(p)
        }
        Platform::Tdx => {
            let mut p = TdxPolicy::default().dangerous_any_workload();
            if r.allow_debug {
                p = p.dangerous_allow_debug();
            }
            if r.allow_unknown_tcb {
                p = p.dangerous_allow_unknown_tcb();
            }
            TrustPolicy::new().with_tdx(p)
        }
    };
    Ok(policy?)
}
