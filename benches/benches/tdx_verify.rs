//! Intel TDX quote verification, Cloister against Phala's `dcap-qvl` (0.7, features `std`,
//! `rustcrypto`, `default-x509`: RustCrypto `p256`/`sha2`, no `ring`, no OpenSSL, no network),
//! in one run on the same real quotes and `QuoteCollateralV3` collateral
//! (`shared/fixtures/tdx`), each at a time inside its collateral's window:
//!
//! - Phala `tdx_quote` (v4, TD 1.0) at 2025-07-01,
//! - Phala/NEAR `near_quote_hex.txt` (v4, TD 1.0) at 2025-09-15,
//! - go-tdx-guest `quote_v5_sample.dat` (v5, TD 1.5 body) at 2026-02-25.
//!
//! Every implementation verifies all three as `UpToDate`. Each figure is the mean over the three
//! quotes of the per-quote median. Writes its figures into target/bench/summary.json:
//!
//! - `tdx-verify-us`: `TdxCollateral::from_json` then `TdxVerifier::verify(quote, Some(&collateral),
//!   now)`, everything per call (cold): parse the collateral (its certificates, CRLs, TCB Info and
//!   QE Identity) and the quote, PCK chain to the pinned root, QE report and quote signatures, QE
//!   binding, root CRL, TCB Info and QE Identity chains and signatures, PCK CRL, every window,
//!   TCB evaluation.
//! - `tdx-verify-warm-us`: the same with one `TdxCollateral` kept across calls, as a relying
//!   party keeps the current collateral of a platform: after its first success the collateral's
//!   own six signature checks are skipped inside its window (`TdxCollateral::verify`); the quote's
//!   four are always done.
//! - `tdx-verify-no-collateral-us`: `verify(quote, None, now)`: the quote's signatures, QE binding
//!   and PCK chain only (TCB status unknown).
//! - `tdx-verify-peer-dcap-qvl-us`: `dcap_qvl::verify::rustcrypto::verify(quote, &collateral,
//!   now)`, the collateral deserialized (serde_json, hex decoding) in advance, outside the timing:
//!   it still parses every certificate, CRL and the TCB Info / QE Identity JSON inside `verify`,
//!   so it is closest to the cold `tdx-verify-us` (which also parses the JSON in the timing).
//!
//! Figures are medians of round-robin samples (one call of each implementation per round);
//! wall-clock on a shared 2-core machine, so compare the ratios within one run. Reproduce:
//! `cargo bench --bench tdx_verify` (or scripts/bench.sh).
#![allow(
    clippy::expect_used,
    reason = "measurement code: a failed setup step aborts the benchmark run"
)]

use cloister_benches::timing::{Sampling, round_robin_medians_us};
use std::path::PathBuf;
use std::time::Duration;

use cloister_attestation::UnixTime;
use cloister_attestation::tdx::{TcbStatus, TdxCollateral, TdxVerifier};
use dcap_qvl::QuoteCollateralV3;

const MAX_SAMPLES: usize = 2000;
const MIN_SAMPLES: usize = 30;
/// Per quote: three quotes, so about 3 × this in all.
const BUDGET: Duration = Duration::from_millis(2500);

/// One real quote with its collateral, in both implementations' forms, and a time inside the
/// collateral's window.
struct Case {
    name: &'static str,
    quote: Vec<u8>,
    collateral_json: Vec<u8>,
    ours: TdxCollateral,
    peer: QuoteCollateralV3,
    now: u64,
}

type Impl = cloister_benches::timing::Impl<Case>;

/// (implementation, figure name).
const IMPLS: [(Impl, &str); 4] = [
    (("cloister", cloister_cold), "tdx-verify-us"),
    (("cloister-warm", cloister_warm), "tdx-verify-warm-us"),
    (
        ("cloister-no-collateral", cloister_no_collateral),
        "tdx-verify-no-collateral-us",
    ),
    (
        ("peer-dcap-qvl", peer_dcap_qvl),
        "tdx-verify-peer-dcap-qvl-us",
    ),
];

fn main() {
    let cases = cases();
    let impls: Vec<Impl> = IMPLS.iter().map(|(i, _)| *i).collect();
    for case in &cases {
        // Everyone accepts the real quote, and both full verifiers call it UpToDate…
        for (name, f) in &impls {
            f(case).unwrap_or_else(|e| panic!("{name} rejects {}: {e}", case.name));
        }
        let ours = TdxVerifier::new()
            .verify(&case.quote, Some(&case.ours), UnixTime::from_secs(case.now))
            .expect("verified above");
        let status = ours.tcb().expect("collateral given").status;
        assert_eq!(status, TcbStatus::UpToDate, "cloister on {}", case.name);
        let peer = dcap_qvl::verify::rustcrypto::verify(&case.quote, &case.peer, case.now)
            .expect("verified above");
        assert_eq!(peer.status, "UpToDate", "dcap-qvl on {}", case.name);
        // …and rejects it with a flipped byte of the TD report (MRTD), so no one skips the
        // quote signature.
        let mut bad = Case {
            name: case.name,
            quote: case.quote.clone(),
            collateral_json: case.collateral_json.clone(),
            ours: case.ours.clone(),
            peer: case.peer.clone(),
            now: case.now,
        };
        let mr_td = 48 + if case.quote[0] == 5 { 6 } else { 0 } + 136;
        bad.quote[mr_td] ^= 0x80;
        for (name, f) in &impls {
            assert!(f(&bad).is_err(), "{name} accepts a flipped {}", case.name);
        }
    }

    let sampling = Sampling {
        min: MIN_SAMPLES,
        max: MAX_SAMPLES,
        budget: BUDGET,
    };
    let mut sums = vec![0.0; impls.len()];
    for case in &cases {
        let medians = round_robin_medians_us(case, &impls, sampling);
        let line: Vec<String> = impls
            .iter()
            .zip(&medians)
            .map(|((name, _), m)| format!("{name} {m:.1}"))
            .collect();
        println!("{:<24} {}", case.name, line.join("   "));
        for (s, m) in sums.iter_mut().zip(&medians) {
            *s += m;
        }
    }
    let means: Vec<f64> = sums.iter().map(|s| s / cases.len() as f64).collect();
    let figures: Vec<(String, f64)> = IMPLS
        .iter()
        .zip(&means)
        .map(|((_, figure), m)| ((*figure).to_owned(), *m))
        .collect();
    for (k, v) in &figures {
        println!("{k:<32} {v:>10.1}");
    }
    let (cold, warm, no_coll, peer) = (means[0], means[1], means[2], means[3]);
    println!(
        "dcap-qvl / cloister = {:.2}x (cold)   {:.2}x (warm)   warm / no-collateral = {:.2}x",
        peer / cold,
        peer / warm,
        warm / no_coll
    );
    let path = cloister_benches::summary::merge(&figures).expect("writing the summary");
    println!("\nwrote {}", path.display());
}

fn cases() -> Vec<Case> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/tdx");
    let read = |name: &str| {
        let p = dir.join(name);
        std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    };
    let unhex = |name: &str| {
        let text: String = String::from_utf8(read(name))
            .expect("utf8")
            .split_whitespace()
            .collect();
        hex::decode(text).expect("hex")
    };
    let case = |name, quote, collateral: &str, now| {
        let collateral_json = read(collateral);
        Case {
            name,
            quote,
            ours: TdxCollateral::from_json(&collateral_json)
                .unwrap_or_else(|e| panic!("{collateral}: {e}")),
            peer: serde_json::from_slice(&collateral_json)
                .unwrap_or_else(|e| panic!("{collateral} (dcap-qvl): {e}")),
            collateral_json,
            now,
        }
    };
    vec![
        case(
            "phala tdx_quote",
            read("Phala-Network-dcap-qvl/tdx_quote"),
            "Phala-Network-dcap-qvl/tdx_quote_collateral.json",
            1_751_328_000, // 2025-07-01
        ),
        case(
            "phala near_quote",
            unhex("Phala-Network-dcap-qvl/near_quote_hex.txt"),
            "Phala-Network-dcap-qvl/near_quote_collateral.json",
            1_757_894_400, // 2025-09-15
        ),
        case(
            "go-tdx-guest v5 sample",
            read("google-go-tdx-guest/quote_v5_sample.dat"),
            "google-go-tdx-guest/assembled_quote_v5_sample_collateral.json",
            1_771_977_600, // 2026-02-25
        ),
    ]
}

fn cloister_warm(c: &Case) -> Result<(), String> {
    TdxVerifier::new()
        .verify(&c.quote, Some(&c.ours), UnixTime::from_secs(c.now))
        .map(drop)
        .map_err(|e| e.code().to_owned())
}

fn cloister_cold(c: &Case) -> Result<(), String> {
    let collateral =
        TdxCollateral::from_json(&c.collateral_json).map_err(|e| e.code().to_owned())?;
    TdxVerifier::new()
        .verify(&c.quote, Some(&collateral), UnixTime::from_secs(c.now))
        .map(drop)
        .map_err(|e| e.code().to_owned())
}

fn cloister_no_collateral(c: &Case) -> Result<(), String> {
    TdxVerifier::new()
        .verify(&c.quote, None, UnixTime::from_secs(c.now))
        .map(drop)
        .map_err(|e| e.code().to_owned())
}

fn peer_dcap_qvl(c: &Case) -> Result<(), String> {
    dcap_qvl::verify::rustcrypto::verify(&c.quote, &c.peer, c.now)
        .map(drop)
        .map_err(|e| format!("{e:#}"))
}
