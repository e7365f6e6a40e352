//! The key binding: one rule, on every platform, that ties an enclave's fresh keys to a
//! verifier's nonce.
//!
//! `binding = SHA-384(lp("cloister/binding/v1") ‖ lp(kem_pub) ‖ lp(sig_pub) ‖ lp(nonce))`, where
//! `lp(x)` is `x` prefixed by its length as a big-endian `u32`. Length prefixes make the encoding
//! injective: no two different (kem_pub, sig_pub, nonce) triples hash the same input. On Nitro the
//! enclave puts the binding in `user_data` and the nonce in `nonce`; on SEV-SNP and TDX it puts
//! [`report_data`] (the binding, then 16 zero bytes) in REPORT_DATA / REPORTDATA.

use sha2::{Digest, Sha384};

/// Domain-separation label hashed first.
pub const BINDING_LABEL: &[u8] = b"cloister/binding/v1";

/// The 48-byte SHA-384 key binding of `kem_pub`, `sig_pub` and `nonce`.
///
/// ```
/// use cloister_attestation::binding::key_binding;
/// let a = key_binding(b"kem", b"sig", b"nonce");
/// assert_eq!(a.len(), 48);
/// // Moving a byte between fields changes the digest: every part is length-prefixed.
/// assert_ne!(a, key_binding(b"ke", b"msig", b"nonce"));
/// ```
pub fn key_binding(kem_pub: &[u8], sig_pub: &[u8], nonce: &[u8]) -> [u8; 48] {
    let mut h = Sha384::new();
    for part in [BINDING_LABEL, kem_pub, sig_pub, nonce] {
        // A part longer than u32::MAX cannot exist in evidence (documents are a few KiB); clamping
        // keeps this function total, and such an input can never match a real binding anyway.
        let len = u32::try_from(part.len()).unwrap_or(u32::MAX);
        h.update(len.to_be_bytes());
        h.update(part);
    }
    h.finalize().into()
}

/// The 64-byte REPORT_DATA (SEV-SNP) or REPORTDATA (TDX) carrying `binding`: the binding, then
/// 16 zero bytes. The nonce is inside the binding, so nothing else goes there.
///
/// ```
/// use cloister_attestation::binding::report_data;
/// let data = report_data(&[7; 48]);
/// assert_eq!((&data[..48], &data[48..]), (&[7u8; 48][..], &[0u8; 16][..]));
/// ```
pub fn report_data(binding: &[u8; 48]) -> [u8; 64] {
    let mut data = [0u8; 64];
    data[..48].copy_from_slice(binding);
    data
}

/// The public values an enclave binds into its evidence.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct KeyBinding {
    /// The enclave's HPKE (X25519) public key.
    pub kem_pub: Vec<u8>,
    /// The enclave's result-signing public key.
    pub sig_pub: Vec<u8>,
    /// The verifier's challenge.
    pub nonce: Vec<u8>,
}

impl KeyBinding {
    /// The binding digest, [`key_binding`] of the three fields.
    pub fn digest(&self) -> [u8; 48] {
        key_binding(&self.kem_pub, &self.sig_pub, &self.nonce)
    }

    /// The SEV-SNP / TDX report data for this binding, [`report_data`] of the digest.
    pub fn report_data(&self) -> [u8; 64] {
        report_data(&self.digest())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_specified_construction() {
        let mut input = Vec::new();
        for part in [&b"cloister/binding/v1"[..], b"K", b"SS", b""] {
            input.extend_from_slice(&(part.len() as u32).to_be_bytes());
            input.extend_from_slice(part);
        }
        let expected: [u8; 48] = Sha384::digest(&input).into();
        assert_eq!(key_binding(b"K", b"SS", b""), expected);
    }

    #[test]
    fn known_answer() {
        // Computed independently with Python: sha384(lp(label) + lp(bytes(range(32))) +
        // lp(b"\xaa" * 32) + lp(b"nonce-123")) with lp(x) = len(x).to_bytes(4, "big") + x.
        let kem: Vec<u8> = (0..32).collect();
        assert_eq!(
            hex::encode(key_binding(&kem, &[0xaa; 32], b"nonce-123")),
            "99e8939fba2fdb01478e4a40d165387dd49849d7304dc3fddcc5a0a2b38a22c0\
             34db60006f71f874f7da49d40de3f35b"
        );
    }

    #[test]
    fn struct_digest_equals_function() {
        let b = KeyBinding {
            kem_pub: vec![1; 32],
            sig_pub: vec![2; 32],
            nonce: vec![3; 16],
        };
        assert_eq!(b.digest(), key_binding(&[1; 32], &[2; 32], &[3; 16]));
    }

    #[test]
    fn fields_are_not_interchangeable() {
        assert_ne!(key_binding(b"a", b"b", b"c"), key_binding(b"b", b"a", b"c"));
        assert_ne!(key_binding(b"ab", b"", b"c"), key_binding(b"a", b"b", b"c"));
    }
}
