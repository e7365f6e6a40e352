//! Arbitrary bytes through the TDX collateral parser (`TdxCollateral::from_json`: the
//! `QuoteCollateralV3` JSON, the TCB Info and QE Identity JSON inside it, three PEM issuer
//! chains, two hex CRLs and two hex signatures) and, when it parses, through `window()` and the
//! verifier: a real quote from `shared/fixtures/tdx` is verified against it at a fixed time
//! inside that quote's collateral window (the quote whose FMSPC the collateral names, preferring
//! one whose time lies inside the collateral's window). Must never panic, and:
//!
//! - a verification that succeeds at `t` has `t` inside `window()` (the host's collateral cache
//!   expires entries by that window);
//! - the second verification with the same collateral (which reuses the remembered window of a
//!   first success) gives the same verdict as the first.
//!
//! Seeds: the real collateral files (`scripts/seed.sh`).
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use cloister_attestation::tdx::{TdxCollateral, TdxVerifier};
use cloister_attestation::UnixTime;
use libfuzzer_sys::fuzz_target;

/// A real quote, the FMSPC of its collateral, and a time inside its collateral's window (the
/// middle of the window the attestation tests use, `attestation/tests/tdx.rs`).
struct Case {
    quote: Vec<u8>,
    fmspc: String,
    now: UnixTime,
}

const CASES: [(&str, &str, u64); 3] = [
    // 2025-06-19T10:32:27Z ..= 2025-07-19T10:00:35Z
    (
        "Phala-Network-dcap-qvl/tdx_quote",
        "Phala-Network-dcap-qvl/tdx_quote_collateral.json",
        (1_750_329_147 + 1_752_919_235) / 2,
    ),
    // 2025-09-02T07:41:59Z ..= 2025-10-02T07:03:51Z
    (
        "Phala-Network-dcap-qvl/near_quote_hex.txt",
        "Phala-Network-dcap-qvl/near_quote_collateral.json",
        (1_756_798_919 + 1_759_388_631) / 2,
    ),
    // 2026-02-18T10:42:15Z ..= 2026-03-03T14:49:26Z
    (
        "google-go-tdx-guest/quote_v5_sample.dat",
        "google-go-tdx-guest/assembled_quote_v5_sample_collateral.json",
        (1_771_411_335 + 1_772_549_366) / 2,
    ),
];

/// A fixture from `shared/fixtures/tdx` (read by path, never copied); hex text is decoded.
fn read(rel: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/fixtures/tdx")
        .join(rel);
    let bytes = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("fixture {}: {e} (see fuzz/README.md)", path.display()));
    if rel.ends_with(".hex") || rel.ends_with("_hex.txt") {
        let text: String = String::from_utf8(bytes)
            .expect("hex fixture is text")
            .split_whitespace()
            .collect();
        return hex::decode(text.trim_start_matches("0x")).expect("hex fixture");
    }
    bytes
}

fn cases() -> &'static [Case] {
    static CASES_LOADED: OnceLock<Vec<Case>> = OnceLock::new();
    CASES_LOADED.get_or_init(|| {
        CASES
            .iter()
            .map(|&(quote, collateral, now)| {
                let c = TdxCollateral::from_json(&read(collateral))
                    .unwrap_or_else(|e| panic!("{collateral}: {e}"));
                let case = Case {
                    quote: read(quote),
                    fmspc: c.fmspc().to_ascii_lowercase(),
                    now: UnixTime::from_secs(now),
                };
                // The fixed time must make the unmutated pair verify, or the target tests less
                // than it claims.
                TdxVerifier::new()
                    .verify(&case.quote, Some(&c), case.now)
                    .unwrap_or_else(|e| panic!("{quote} with {collateral}: {e}"));
                case
            })
            .collect()
    })
}

fn pick<'a>(cases: &'a [Case], fmspc: &str, (from, until): (u64, u64)) -> &'a Case {
    let fmspc = fmspc.to_ascii_lowercase();
    let same = |c: &&Case| c.fmspc == fmspc;
    let inside = |c: &&Case| (from..=until).contains(&c.now.as_secs());
    cases
        .iter()
        .filter(same)
        .find(inside)
        .or_else(|| cases.iter().find(same))
        .unwrap_or(&cases[0])
}

fuzz_target!(|data: &[u8]| {
    let cases = cases();
    let Ok(collateral) = TdxCollateral::from_json(data) else {
        return;
    };
    let window = collateral.window();
    let case = pick(cases, collateral.fmspc(), window);
    let verifier = TdxVerifier::new();
    let first = verifier.verify(&case.quote, Some(&collateral), case.now);
    if first.is_ok() {
        let t = case.now.as_secs();
        assert!(
            window.0 <= t && t <= window.1,
            "verified at {t}, outside the collateral's window {window:?}"
        );
    }
    let second = verifier.verify(&case.quote, Some(&collateral), case.now);
    assert_eq!(
        first.as_ref().map(|v| v.tdx_claims()).map_err(|e| e.code()),
        second.as_ref().map(|v| v.tdx_claims()).map_err(|e| e.code()),
        "the remembered collateral window changed the verdict"
    );
});
