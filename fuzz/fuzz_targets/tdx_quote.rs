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

use cloister_attestation::tdx::{TdxCollateral, TdxPolicy, TdxQuote, TdxVerifier, VerifiedTdxQuote};
use cloister_attestation::binding::KeyBinding;
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
        let _ = v.tdx_claims();
        appraise(&v, now);
    }
}

/// A default policy (pins nothing) must refuse; `dangerous_any_workload` appraisal without a
/// binding must not panic; appraisal for use with a binding the quote does not carry must fail.
fn appraise(v: &VerifiedTdxQuote, now: UnixTime) {
    let unbound = AppraisalContext::new(now, KeyBinding::default());
    let refused = TdxPolicy::default()
        .appraise(v, &unbound)
        .expect_err("a default policy accepted a quote");
    assert_eq!(refused.code(), "policy.no_workload_pinned");
    let any = TdxPolicy::default().dangerous_any_workload();
    let _ = any.dangerous_appraise_without_binding(v, now);
    // No Intel-signed quote binds the empty keys and nonce.
    assert!(
        any.appraise(v, &unbound).is_err(),
        "appraised with a binding the quote does not carry"
    );
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
        let _ = v.tdx_claims();
        appraise(&v, now);
    }
});
