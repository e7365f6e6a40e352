//! Arbitrary bytes through the Nitro document parser and verifier (with and without the
//! certificate-chain cache) and, when a document verifies, through appraisal: a default policy
//! (pins nothing) must refuse it, `dangerous_any_workload` appraisal without a binding must not
//! panic, and appraisal for use with a key binding the document does not carry must fail.
//!
//! The verifier must never panic, whatever the input. Seeds: the real documents in
//! `shared/fixtures/nitro` (see `fuzz/README.md`).
#![no_main]

use std::sync::OnceLock;

use cloister_attestation::binding::KeyBinding;
use cloister_attestation::nitro::ChainCache;
use cloister_attestation::{
    AppraisalContext, NitroPolicy, NitroVerifier, UnixTime, UnverifiedNitroDocument,
};
use libfuzzer_sys::fuzz_target;

/// 2025-01-06T17:00:00Z: inside the window of `yawn+nitro-attest/attestation.cose`, so its chain
/// passes the time checks and mutations reach every later check.
const NOW: u64 = 1_736_182_800;

fn cached() -> &'static NitroVerifier {
    static V: OnceLock<NitroVerifier> = OnceLock::new();
    V.get_or_init(|| NitroVerifier::aws().with_chain_cache(ChainCache::new(64)))
}

fuzz_target!(|data: &[u8]| {
    let now = UnixTime::from_secs(NOW);
    if let Ok(doc) = UnverifiedNitroDocument::parse(data) {
        let _ = (
            doc.payload().module_id(),
            doc.payload().pcrs().len(),
            doc.cabundle().len(),
        );
    }
    let plain = NitroVerifier::aws().verify(data, now);
    let with_cache = cached().verify(data, now);
    // The cache must never change a verdict.
    assert_eq!(
        plain.as_ref().map_err(|e| e.code()),
        with_cache.as_ref().map_err(|e| e.code())
    );
    if let Ok(doc) = plain {
        let _ = doc.nitro_claims();
        let unbound = AppraisalContext::new(now, KeyBinding::default());
        // A policy that pins nothing accepts nothing.
        let refused = NitroPolicy::default()
            .appraise(&doc, &unbound)
            .expect_err("a default policy accepted a document");
        assert_eq!(refused.code(), "policy.no_workload_pinned");
        let any = NitroPolicy::default().dangerous_any_workload();
        let _ = any.dangerous_appraise_without_binding(&doc, now);
        // No AWS-signed document binds the empty keys and nonce.
        assert!(
            any.appraise(&doc, &unbound).is_err(),
            "appraised with a binding the document does not carry"
        );
    }
});
