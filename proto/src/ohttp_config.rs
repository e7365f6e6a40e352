//! The OHTTP gateway's `KeyConfig` (RFC 9458 §3.1), derived from the attested `kem_pub`.
//!
//! A caller never takes a key configuration from the host: it rebuilds it from the `kem_pub`
//! that verified evidence binds, so the host cannot substitute its own key.
//!
//! Suites: KEM DHKEM(X25519, HKDF-SHA256), KDF HKDF-SHA256, AEAD ChaCha20-Poly1305 (256-bit key)
//! first, AES-128-GCM second for clients that only speak the RFC's common suite. AES-256-GCM, which
//! ARCHITECTURE.md names, is not offered: the `ohttp` crate's pure-Rust HPKE backend implements
//! only AES-128-GCM and ChaCha20-Poly1305 (ohttp 0.8 `rh/hpke.rs`, `Config::supported`), and the
//! alternative backend is NSS (C). ChaCha20-Poly1305 keeps the 256-bit key strength.

use crate::ProtoError;
use crate::evidence::{KEM_PUB_LEN, exact};

/// HPKE KEM id of DHKEM(X25519, HKDF-SHA256) (RFC 9180 §7.1).
pub const KEM_X25519_SHA256: u16 = 0x0020;
/// HPKE KDF id of HKDF-SHA256.
pub const KDF_HKDF_SHA256: u16 = 0x0001;
/// HPKE AEAD id of AES-128-GCM.
pub const AEAD_AES_128_GCM: u16 = 0x0001;
/// HPKE AEAD id of ChaCha20-Poly1305.
pub const AEAD_CHACHA20_POLY1305: u16 = 0x0003;

/// Symmetric suites offered, in order of preference: `(kdf, aead)`.
pub const SUITES: [(u16, u16); 2] = [
    (KDF_HKDF_SHA256, AEAD_CHACHA20_POLY1305),
    (KDF_HKDF_SHA256, AEAD_AES_128_GCM),
];

/// Encodes the key configuration for `kem_pub` under `key_id`.
///
/// ```
/// let cfg = cloister_proto::ohttp_config::encode_key_config(1, &[9; 32])?;
/// assert_eq!(cfg.len(), 1 + 2 + 32 + 2 + 8);
/// # Ok::<(), cloister_proto::ProtoError>(())
/// ```
///
/// # Errors
/// [`ProtoError::BadLength`] unless `kem_pub` is 32 bytes.
pub fn encode_key_config(key_id: u8, kem_pub: &[u8]) -> Result<Vec<u8>, ProtoError> {
    exact("kem_pub", kem_pub.len(), KEM_PUB_LEN)?;
    let mut out = Vec::with_capacity(1 + 2 + KEM_PUB_LEN + 2 + 4 * SUITES.len());
    out.push(key_id);
    out.extend_from_slice(&KEM_X25519_SHA256.to_be_bytes());
    out.extend_from_slice(kem_pub);
    let suites_len = (4 * SUITES.len()) as u16;
    out.extend_from_slice(&suites_len.to_be_bytes());
    for (kdf, aead) in SUITES {
        out.extend_from_slice(&kdf.to_be_bytes());
        out.extend_from_slice(&aead.to_be_bytes());
    }
    Ok(out)
}
