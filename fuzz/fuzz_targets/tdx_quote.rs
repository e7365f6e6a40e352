//! Arbitrary bytes through the TDX quote parser and verifier, and through the collateral parser
//! and the verifier with collateral.
//!
//! The whole input is tried as a quote (`TdxQuote::parse`, `TdxVerifier::verify` without
//! collateral). When its first two bytes (little-endian) are a length `n` that fits, the input is
//! also split as `n` bytes of `QuoteCollateralV3` JSON followed by a quote, and the quote is
//! verified with and without that collateral at a fixed time. Must never panic, and a quote that
//! verifies with collateral must verify without it. Seeds: the real quotes in
//! `shared/fixtures/tdx`, alone and prefixed by their collateral (`scripts/seed.sh`).
#![no_main]

use cloister_attestation::tdx::{TdxCollateral, TdxPolicy, TdxQuote, TdxVerifier};
use cloister_attestation::{AppraisalContext, UnixTime};
use libfuzzer_sys::fuzz_target;

/// 2025-07-01T00:00:00Z: inside the collateral window of Phala's `tdx_quote`, so its collateral
/// passes the time checks and mutations reach the TCB evaluation.
const NOW: u64 = 1_751_328_000;

fn quote_alone(quote: &[u8], now: UnixTime) {
    if let Ok(q) = TdxQuote::parse(quote) {
        let _ = format!("{q:?}");
        let _ = q.pck_identity();
    }
    if let Ok(v) = TdxVerifier::new().verify(quote, None, now) {
        let _ = (v.claims(), v.tdx_claims());
    }
}

fuzz_target!(|data: &[u8]| {
    let now = UnixTime::from_secs(NOW);
    quote_alone(data, now);

    let Some((len, rest)) = data.split_first_chunk::<2>() else {
        return;
    };
    let Some((json, quote)) = rest.split_at_checked(usize::from(u16::from_le_bytes(*len))) else {
        return;
    };
    let Ok(collateral) = TdxCollateral::from_json(json) else {
        return;
    };
    let _ = (collateral.fmspc(), collateral.window());
    let verifier = TdxVerifier::new();
    let with = verifier.verify(quote, Some(&collateral), now);
    let without = verifier.verify(quote, None, now);
    if let Ok(v) = with {
        // Collateral only adds checks.
        assert!(
            without.is_ok(),
            "verifies with collateral, not without: {:?}",
            without.err()
        );
        let _ = (v.claims(), v.tdx_claims());
        let _ = TdxPolicy::default().appraise(&v, &AppraisalContext::at(now));
    }
});
