//! The Cloister key custodian: releases a model's data key only to an enclave whose evidence
//! verifies and whose claims its policy allows, and records every release.
//!
//! Planned shape (see ARCHITECTURE.md, "Keys"): challenge → evidence bundle (verified with
//! `cloister_attestation`, the same verifier callers use) → Rego policy → the DEK unwrapped
//! from the KEK (HSM via PKCS#11, or file) and HPKE-sealed to the attested `kem_pub` with
//! `info = "cloister/key-release/v1" ‖ key id ‖ evidence digest` → signed response → audit log.
//!
//! This crate holds the one piece that exists so far: the HPKE `info` string of a key release,
//! so the enclave and the custodian derive it identically once both sides are built.

/// Domain label of the key-release HPKE `info`.
pub const KEY_RELEASE_LABEL: &[u8] = b"cloister/key-release/v1";

/// HPKE `info` binding a wrapped key to its key id and to the evidence it was released against,
/// so a wrapped key is useless anywhere else. Each part is length-prefixed (u32 big-endian).
///
/// ```
/// let a = cloister_custodian::key_release_info(b"model-1", &[0; 48]);
/// let b = cloister_custodian::key_release_info(b"model-1", &[1; 48]);
/// assert_ne!(a, b);
/// ```
pub fn key_release_info(key_id: &[u8], evidence_sha384: &[u8; 48]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + KEY_RELEASE_LABEL.len() + 4 + key_id.len() + 4 + 48);
    for part in [KEY_RELEASE_LABEL, key_id, evidence_sha384.as_slice()] {
        out.extend_from_slice(&(part.len() as u32).to_be_bytes());
        out.extend_from_slice(part);
    }
    out
}
