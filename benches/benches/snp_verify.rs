//! SEV-SNP report verification, Cloister against the `sev` crate (virtee/sev 8, features `snp`
//! and `crypto_nossl`: RustCrypto `rsa`, `p384`, no OpenSSL), in one run on the same real Milan
//! report, VCEK and ASK/ARK chain (`shared/fixtures/snp/virtee-sev`, at 2025-01-01, inside every
//! certificate's window). Writes its figures into target/bench/summary.json:
//!
//! - `snp-verify-cold-us`: a fresh `SnpVerifier` per report, given the KDS `cert_chain` PEM and
//!   an empty chain cache: parse the chain, report and VCEK, ARK self-signature, ASK by ARK, VCEK
//!   by ASK (RSA-4096 PSS), report signature (P-384), VCEK TCB and hwID, validity.
//! - `snp-verify-warm-us`: one verifier with its `SnpChainCache` filled: the ARK/ASK signatures
//!   are answered from the cache; the VCEK link, the report signature and everything else are
//!   checked for every report.
//! - `snp-verify-peer-sev-us`: `sev`'s `(&Chain, &AttestationReport).verify()` (ARK self,
//!   ARK→ASK, ASK→VCEK, report signature) plus `AttestationReport::from_bytes`, with the chain
//!   parsed once in advance, the most favourable way to use it. It checks less than Cloister: no
//!   validity window, no TCB or hwID binding, no pinned ARK.
//!
//! Targets (issue 5): sev / warm ≥ 2, sev / cold ≥ 1. Figures are medians of round-robin samples
//! (one call of each implementation per round); wall-clock on a shared 2-core machine, so compare
//! the ratios within one run. Reproduce: `cargo bench --bench snp_verify` (or scripts/bench.sh).
#![allow(
    clippy::expect_used,
    reason = "measurement code: a failed setup step aborts the benchmark run"
)]

use cloister_benches::timing::{Sampling, round_robin_medians_us};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use cloister_attestation::UnixTime;
use cloister_attestation::snp::{SnpChainCache, SnpVerifier};
use sev::certs::snp::{Chain, Verifiable};
use sev::firmware::guest::AttestationReport;
use sev::parser::ByteParser;

const MAX_SAMPLES: usize = 2000;
const MIN_SAMPLES: usize = 30;
const BUDGET: Duration = Duration::from_millis(2500);

/// 2025-01-01T00:00:00Z: inside the VCEK (2023-04-03..2030-04-03) and ARK/ASK windows.
const NOW: UnixTime = UnixTime::from_secs(1_735_689_600);

struct Fixture {
    report: Vec<u8>,
    vcek: Vec<u8>,
    chain_pem: Vec<u8>,
}

type Impl = cloister_benches::timing::Impl<Fixture>;

static WARM: OnceLock<SnpVerifier> = OnceLock::new();
static SEV_CHAIN: OnceLock<Chain> = OnceLock::new();

fn main() {
    let fx = fixture();
    WARM.set(
        SnpVerifier::new()
            .with_chain_pem(&fx.chain_pem)
            .expect("chain")
            .with_chain_cache(SnpChainCache::default()),
    )
    .map_err(drop)
    .expect("set once");
    SEV_CHAIN.set(sev_chain(&fx)).expect("set once");

    let impls: [Impl; 3] = [
        ("cold", cloister_cold),
        ("warm", cloister_warm),
        ("peer-sev", peer_sev),
    ];
    // Everyone accepts the real report (this also fills the warm cache)…
    for (name, f) in &impls {
        f(&fx).unwrap_or_else(|e| panic!("{name} rejects the Milan report: {e}"));
    }
    // …and rejects it with a flipped signed byte, so no one skips the signature.
    let mut bad = fx.report.clone();
    bad[21] ^= 0x80;
    let bad = Fixture {
        report: bad,
        vcek: fx.vcek.clone(),
        chain_pem: fx.chain_pem.clone(),
    };
    for (name, f) in &impls {
        assert!(f(&bad).is_err(), "{name} accepts a flipped report");
    }
    let stats_before = WARM.get().and_then(|v| v.chain_cache()).map(|c| c.stats());

    let medians = medians_us(&fx, &impls);
    let figures: Vec<(String, f64)> = impls
        .iter()
        .zip(&medians)
        .map(|((name, _), m)| (format!("snp-verify-{name}-us"), *m))
        .collect();
    for (k, v) in &figures {
        println!("{k:<32} {v:>10.1}");
    }
    let stats_after = WARM.get().and_then(|v| v.chain_cache()).map(|c| c.stats());
    println!("warm cache before/after the run: {stats_before:?} / {stats_after:?}");
    let (cold, warm, sev) = (medians[0], medians[1], medians[2]);
    println!(
        "sev / warm = {:.2}x (target >= 2)   sev / cold = {:.2}x (target >= 1)   cold / warm = {:.2}x",
        sev / warm,
        sev / cold,
        cold / warm
    );
    let path = cloister_benches::summary::merge(&figures).expect("writing the summary");
    println!("\nwrote {}", path.display());
}

fn fixture() -> Fixture {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/snp/virtee-sev");
    let read = |name: &str| {
        let p = dir.join(name);
        std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    };
    let hex_text: String = String::from_utf8(read("report_milan.hex"))
        .expect("utf8")
        .split_whitespace()
        .collect();
    Fixture {
        report: hex::decode(hex_text).expect("hex"),
        vcek: read("vcek_milan.der"),
        chain_pem: read("cert_chain_milan"),
    }
}

/// sev's chain from the same KDS bundle: PEM blocks, ASK then ARK.
fn sev_chain(fx: &Fixture) -> Chain {
    let text = String::from_utf8(fx.chain_pem.clone()).expect("utf8");
    let mut ders = Vec::new();
    for block in text.split_inclusive("-----END CERTIFICATE-----") {
        let block = block.trim();
        if block.is_empty() {
            continue;
        }
        let (_, der) = der::pem::decode_vec(block.as_bytes()).expect("pem");
        ders.push(der);
    }
    assert_eq!(ders.len(), 2, "cert_chain_milan holds ASK and ARK");
    Chain::from_der(&ders[1], &ders[0], &fx.vcek).expect("sev chain")
}

fn cloister_cold(fx: &Fixture) -> Result<(), String> {
    SnpVerifier::new()
        .with_chain_pem(&fx.chain_pem)
        .map_err(|e| e.code().to_owned())?
        .with_chain_cache(SnpChainCache::default())
        .verify(&fx.report, &fx.vcek, NOW)
        .map(drop)
        .map_err(|e| e.code().to_owned())
}

fn cloister_warm(fx: &Fixture) -> Result<(), String> {
    WARM.get()
        .expect("set in main")
        .verify(&fx.report, &fx.vcek, NOW)
        .map(drop)
        .map_err(|e| e.code().to_owned())
}

fn peer_sev(fx: &Fixture) -> Result<(), String> {
    let report = AttestationReport::from_bytes(&fx.report).map_err(|e| e.to_string())?;
    let chain = SEV_CHAIN.get().expect("set in main");
    (chain, &report).verify().map_err(|e| e.to_string())
}

fn medians_us(fx: &Fixture, impls: &[Impl]) -> Vec<f64> {
    let sampling = Sampling {
        min: MIN_SAMPLES,
        max: MAX_SAMPLES,
        budget: BUDGET,
    };
    round_robin_medians_us(fx, impls, sampling)
}
