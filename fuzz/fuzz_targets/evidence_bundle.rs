//! Arbitrary bytes through the evidence bundle decoder (`EvidenceBundle::from_cbor`: CBOR, then
//! the version, key-length, size and served-models checks of `validate`) and, when a bundle
//! decodes, through `validate` again, `served_models.signing_bytes()`, `sha384_of` for every
//! listed id, the evidence digest of its evidence (the platform parser, as the enclave and the
//! client compute it), and an encode → decode round trip that must give an equal bundle.
//! Must never panic. Seeds: bundles around the real Nitro documents and TDX quotes
//! (`scripts/seed.sh`).
#![no_main]

use cloister_attestation::Platform;
use cloister_attestation::evidence::evidence_digest;
use cloister_proto::{EvidenceBundle, EvidencePlatform};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(bundle) = EvidenceBundle::from_cbor(data) else {
        return;
    };
    bundle
        .validate()
        .expect("from_cbor returned a bundle that does not validate");
    let signed = bundle.served_models.signing_bytes();
    assert!(signed.len() >= 4 + cloister_proto::served::SERVED_MODELS_LABEL.len() + 4);
    for m in &bundle.served_models.models {
        assert_eq!(
            bundle.served_models.sha384_of(&m.id),
            Some(m.sha384.as_slice()),
            "sha384_of does not find listed model {:?}",
            m.id
        );
    }
    let platform = match bundle.platform {
        EvidencePlatform::Nitro => Platform::Nitro,
        EvidencePlatform::Mock => Platform::Mock,
        EvidencePlatform::SevSnp => Platform::SevSnp,
        EvidencePlatform::Tdx => Platform::Tdx,
    };
    let _ = evidence_digest(platform, &bundle.evidence);

    let bytes = bundle.to_cbor().expect("a valid bundle encodes");
    let back = EvidenceBundle::from_cbor(&bytes).expect("an encoded bundle decodes");
    assert_eq!(back, bundle, "encode → decode changed the bundle");
    assert_eq!(back.served_models.signing_bytes(), signed);
    // Encoding is deterministic: the re-encoded bundle encodes to the same bytes.
    assert_eq!(back.to_cbor().expect("encodes"), bytes);
});
