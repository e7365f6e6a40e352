//! The enclave's identity keys, made fresh at every boot and never exported.
//!
//! - `kem`: X25519, the OHTTP gateway (HPKE receiver) key; held inside the `ohttp` crate's server.
//! - `sig`: Ed25519, signs inference results.
//!
//! Both public keys are bound into every piece of evidence (see `cloister_attestation::binding`).

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use cloister_proto::evidence::{KEM_PUB_LEN, SIG_PUB_LEN};
use thiserror::Error;

/// OHTTP key identifier of the gateway key (RFC 9458 §3). One key per boot, so one id.
pub const OHTTP_KEY_ID: u8 = 1;

/// Failure to create the identity keys.
#[derive(Debug, Error)]
pub enum IdentityError {
    /// The key generator failed (entropy or backend).
    #[error("generating the {which} key failed")]
    KeyGeneration {
        /// Which key.
        which: &'static str,
    },
}

impl IdentityError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::KeyGeneration { .. } => "identity.key_generation",
        }
    }
}

/// The boot-time key pairs. Private halves never leave this struct; aws-lc clears the Ed25519
/// key on drop and the `ohttp` crate owns the X25519 secret.
pub struct EnclaveIdentity {
    gateway: ohttp::Server,
    kem_pub: [u8; KEM_PUB_LEN],
    signer: Ed25519KeyPair,
    sig_pub: [u8; SIG_PUB_LEN],
}

impl EnclaveIdentity {
    /// Generates both key pairs from the system's CSPRNG.
    ///
    /// # Errors
    /// [`IdentityError::KeyGeneration`] if a generator fails.
    pub fn generate() -> Result<Self, IdentityError> {
        use ohttp::hpke::{Aead, Kdf, Kem};
        let kem_err = |_| IdentityError::KeyGeneration { which: "kem" };
        ohttp::init();
        let suites = cloister_proto::ohttp_config::SUITES
            .iter()
            .map(|&(_, aead)| {
                let aead = if aead == cloister_proto::ohttp_config::AEAD_CHACHA20_POLY1305 {
                    Aead::ChaCha20Poly1305
                } else {
                    Aead::Aes128Gcm
                };
                ohttp::SymmetricSuite::new(Kdf::HkdfSha256, aead)
            })
            .collect();
        let config =
            ohttp::KeyConfig::new(OHTTP_KEY_ID, Kem::X25519Sha256, suites).map_err(kem_err)?;
        let encoded = config.encode().map_err(kem_err)?;
        // Encoding: key_id (1) ‖ kem_id (2) ‖ public key (32) ‖ suites.
        let kem_pub: [u8; KEM_PUB_LEN] = encoded
            .get(3..3 + KEM_PUB_LEN)
            .and_then(|s| s.try_into().ok())
            .ok_or(IdentityError::KeyGeneration { which: "kem" })?;
        // The caller rebuilds the config from kem_pub alone; both encodings must agree.
        if cloister_proto::ohttp_config::encode_key_config(OHTTP_KEY_ID, &kem_pub).ok()
            != Some(encoded)
        {
            return Err(IdentityError::KeyGeneration {
                which: "kem (config mismatch)",
            });
        }
        let gateway = ohttp::Server::new(config).map_err(kem_err)?;
        let signer = Ed25519KeyPair::generate()
            .map_err(|_| IdentityError::KeyGeneration { which: "sig" })?;
        let sig_pub: [u8; SIG_PUB_LEN] = signer
            .public_key()
            .as_ref()
            .try_into()
            .map_err(|_| IdentityError::KeyGeneration { which: "sig" })?;
        Ok(Self {
            gateway,
            kem_pub,
            signer,
            sig_pub,
        })
    }

    /// The X25519 public key (OHTTP gateway key).
    pub fn kem_pub(&self) -> &[u8; KEM_PUB_LEN] {
        &self.kem_pub
    }

    /// The Ed25519 public key that verifies results.
    pub fn sig_pub(&self) -> &[u8; SIG_PUB_LEN] {
        &self.sig_pub
    }

    /// The OHTTP gateway holding the X25519 secret.
    pub(crate) fn gateway(&self) -> &ohttp::Server {
        &self.gateway
    }

    /// Signs `msg` with the result-signing key.
    pub(crate) fn sign(&self, msg: &[u8]) -> [u8; 64] {
        let sig = self.signer.sign(msg);
        let mut out = [0u8; 64];
        out.copy_from_slice(sig.as_ref());
        out
    }
}

impl std::fmt::Debug for EnclaveIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnclaveIdentity")
            .field("kem_pub", &hex::encode(self.kem_pub))
            .field("sig_pub", &hex::encode(self.sig_pub))
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::signature::{ED25519, UnparsedPublicKey};

    #[test]
    fn keys_are_fresh_and_signatures_verify() {
        let a = EnclaveIdentity::generate().expect("gen");
        let b = EnclaveIdentity::generate().expect("gen");
        assert_ne!(a.kem_pub(), b.kem_pub());
        assert_ne!(a.sig_pub(), b.sig_pub());
        let sig = a.sign(b"statement");
        UnparsedPublicKey::new(&ED25519, a.sig_pub())
            .verify(b"statement", &sig)
            .expect("verify");
        assert!(
            UnparsedPublicKey::new(&ED25519, b.sig_pub())
                .verify(b"statement", &sig)
                .is_err()
        );
    }

    #[test]
    fn debug_output_has_no_secrets() {
        let a = EnclaveIdentity::generate().expect("gen");
        let s = format!("{a:?}");
        assert!(s.contains(&hex::encode(a.kem_pub())));
        assert!(s.ends_with(".. }"));
    }
}
