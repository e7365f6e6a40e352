//! P-384 keys for the mock PKI, backed by aws-lc-rs and usable by rcgen.
//!
//! rcgen's own `KeyPair` keeps a copy of the private key it never wipes; these wrappers keep the
//! only byte copy we hold (the PKCS#8 document, needed to write `*.key.pem`) in a
//! [`Zeroizing`] buffer, and the aws-lc-rs key object frees its secret itself.

use crate::error::MockError;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P384_SHA384_ASN1_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, KeyPair,
};
use zeroize::Zeroizing;

use crate::AttestationError;

/// PEM label of a PKCS#8 private key (RFC 7468 §10).
const PKCS8_PEM_LABEL: &str = "PRIVATE KEY";

fn crypto_error(what: &'static str) -> impl Fn(aws_lc_rs::error::Unspecified) -> AttestationError {
    move |_| {
        MockError::Crypto {
            what,
            reason: "aws-lc-rs reported an unspecified error".to_owned(),
        }
        .into()
    }
}

/// A CA signing key: P-384, signs X.509 certificates (ASN.1 DER ECDSA signatures).
pub(crate) struct CaKey {
    pkcs8: Zeroizing<Vec<u8>>,
    key: EcdsaKeyPair,
}

impl CaKey {
    /// A fresh random key.
    pub(crate) fn generate() -> Result<Self, AttestationError> {
        let key = EcdsaKeyPair::generate(&ECDSA_P384_SHA384_ASN1_SIGNING)
            .map_err(crypto_error("P-384 key generation"))?;
        let doc = key
            .to_pkcs8v1()
            .map_err(crypto_error("PKCS#8 serialization"))?;
        Ok(Self {
            pkcs8: Zeroizing::new(doc.as_ref().to_vec()),
            key,
        })
    }

    /// A key from a PKCS#8 PEM document; `Err` carries a reason for the caller to wrap.
    pub(crate) fn from_pkcs8_pem(pem: &[u8]) -> Result<Self, String> {
        let (label, der) = der::pem::decode_vec(pem).map_err(|e| e.to_string())?;
        let der = Zeroizing::new(der);
        if label != PKCS8_PEM_LABEL {
            return Err(format!("PEM label {label:?}, expected {PKCS8_PEM_LABEL:?}"));
        }
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_ASN1_SIGNING, &der)
            .map_err(|e| format!("not a P-384 PKCS#8 key: {e}"))?;
        Ok(Self { pkcs8: der, key })
    }

    /// The PKCS#8 PEM text.
    pub(crate) fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>, AttestationError> {
        Ok(
            der::pem::encode_string(PKCS8_PEM_LABEL, der::pem::LineEnding::LF, &self.pkcs8)
                .map(Zeroizing::new)
                .map_err(|e| MockError::Crypto {
                    what: "PEM encoding",
                    reason: e.to_string(),
                })?,
        )
    }

    /// The public key, an uncompressed SEC1 point.
    pub(crate) fn public_point(&self) -> &[u8] {
        self.key.public_key().as_ref()
    }
}

impl rcgen::PublicKeyData for CaKey {
    fn der_bytes(&self) -> &[u8] {
        self.public_point()
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        &rcgen::PKCS_ECDSA_P384_SHA384
    }
}

impl rcgen::SigningKey for CaKey {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        self.key
            .sign(&SystemRandom::new(), msg)
            .map(|s| s.as_ref().to_vec())
            .map_err(|_| rcgen::Error::RingUnspecified)
    }
}

/// The per-boot attestation key of a mock enclave: P-384, signs COSE (raw `r‖s` signatures).
/// It never leaves memory, so no byte copy is kept.
pub(crate) struct LeafKey {
    key: EcdsaKeyPair,
}

impl LeafKey {
    pub(crate) fn generate() -> Result<Self, AttestationError> {
        let key = EcdsaKeyPair::generate(&ECDSA_P384_SHA384_FIXED_SIGNING)
            .map_err(crypto_error("P-384 key generation"))?;
        Ok(Self { key })
    }

    /// A 96-byte raw ES384 signature over `msg`.
    pub(crate) fn sign_es384(&self, msg: &[u8]) -> Result<Vec<u8>, AttestationError> {
        self.key
            .sign(&SystemRandom::new(), msg)
            .map(|s| s.as_ref().to_vec())
            .map_err(crypto_error("ES384 signing"))
    }
}

impl rcgen::PublicKeyData for LeafKey {
    fn der_bytes(&self) -> &[u8] {
        self.key.public_key().as_ref()
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        &rcgen::PKCS_ECDSA_P384_SHA384
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_round_trip_keeps_the_key() {
        let key = CaKey::generate().expect("generate");
        let pem = key.to_pkcs8_pem().expect("pem");
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        let back = CaKey::from_pkcs8_pem(pem.as_bytes()).expect("parse");
        assert_eq!(back.public_point(), key.public_point());
        assert_eq!(key.public_point().len(), 97);
    }

    #[test]
    fn rejects_other_pem() {
        let err = CaKey::from_pkcs8_pem(
            b"-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n",
        )
        .err()
        .expect("wrong label");
        assert!(err.contains("label"), "{err}");
        assert!(CaKey::from_pkcs8_pem(b"garbage").is_err());
    }
}
