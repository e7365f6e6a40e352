//! Pinned roots of trust.
//!
//! A document's `cabundle[0]` must be byte-equal to one of the verifier's anchors: the bundle's
//! root is never trusted by itself. Each anchor carries the [`Platform`] it vouches for, so the
//! AWS root yields `nitro` claims and a mock root yields `mock` claims that policy refuses unless
//! told otherwise.

use std::fmt;

use der::Decode;
use sha2::{Digest, Sha256};
use x509_cert::Certificate;

use crate::error::{CertCheck, CertError};
use crate::{AttestationError, ChainPosition, Platform};

/// DER of the AWS Nitro Enclaves Root G1 (`CN=aws.nitro-enclaves, OU=AWS, O=Amazon, C=US`, P-384,
/// valid 2019-10-28 to 2049-10-28), from AWS's `AWS_NitroEnclaves_Root-G1.zip`.
pub const AWS_NITRO_ROOT_G1_DER: &[u8] = include_bytes!("../roots/aws_nitro_enclaves_root_g1.der");

/// SHA-256 of [`AWS_NITRO_ROOT_G1_DER`], as AWS publishes it ("Verifying the root of trust").
pub const AWS_NITRO_ROOT_G1_SHA256: &str =
    "641a0321a3e244efe456463195d606317ed7cdcc3c1756e09893f3c68f79bb5b";

/// A pinned root certificate and the platform it vouches for.
#[derive(Clone, PartialEq, Eq)]
pub struct TrustAnchor {
    platform: Platform,
    der: Vec<u8>,
    sha256: [u8; 32],
}

impl TrustAnchor {
    /// The AWS Nitro Enclaves Root G1, tagged [`Platform::Nitro`].
    pub fn aws_nitro_root_g1() -> Self {
        Self::new_unchecked(Platform::Nitro, AWS_NITRO_ROOT_G1_DER.to_vec())
    }

    /// An anchor from a DER certificate.
    ///
    /// # Errors
    ///
    /// `nitro.chain.malformed_certificate` if `der` is not one DER X.509 certificate.
    pub fn from_der(platform: Platform, der: Vec<u8>) -> Result<Self, AttestationError> {
        Certificate::from_der(&der).map_err(|e| malformed(e.to_string()))?;
        Ok(Self::new_unchecked(platform, der))
    }

    /// An anchor from one PEM `CERTIFICATE` block.
    ///
    /// # Errors
    ///
    /// `nitro.chain.malformed_certificate` if `pem` is not a PEM certificate.
    pub fn from_pem(platform: Platform, pem: &[u8]) -> Result<Self, AttestationError> {
        let (label, der) = der::pem::decode_vec(pem).map_err(|e| malformed(e.to_string()))?;
        if label != "CERTIFICATE" {
            return Err(malformed(format!("PEM label {label:?}, expected CERTIFICATE")).into());
        }
        Self::from_der(platform, der)
    }

    fn new_unchecked(platform: Platform, der: Vec<u8>) -> Self {
        let sha256 = sha256(&der);
        Self {
            platform,
            der,
            sha256,
        }
    }

    /// The platform this root vouches for.
    pub fn platform(&self) -> Platform {
        self.platform
    }

    /// The root certificate, DER.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// SHA-256 of the DER certificate (its fingerprint).
    pub fn sha256(&self) -> [u8; 32] {
        self.sha256
    }

    pub(crate) fn with_platform(mut self, platform: Platform) -> Self {
        self.platform = platform;
        self
    }
}

impl fmt::Debug for TrustAnchor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrustAnchor")
            .field("platform", &self.platform)
            .field("sha256", &hex::encode(self.sha256))
            .finish()
    }
}

/// SHA-256 of `bytes`.
pub(crate) fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// `nitro.chain.malformed_certificate` about the root.
fn malformed(reason: String) -> CertError {
    CertError::new(ChainPosition::CaBundle(0), CertCheck::Malformed { reason })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_aws_root_has_the_published_fingerprint() {
        let anchor = TrustAnchor::aws_nitro_root_g1();
        assert_eq!(hex::encode(anchor.sha256()), AWS_NITRO_ROOT_G1_SHA256);
        assert_eq!(
            hex::encode(anchor.sha256()),
            "641a0321a3e244efe456463195d606317ed7cdcc3c1756e09893f3c68f79bb5b"
        );
        assert_eq!(anchor.platform(), Platform::Nitro);
        assert!(Certificate::from_der(anchor.der()).is_ok());
    }

    #[test]
    fn rejects_non_certificates() {
        let e = TrustAnchor::from_der(Platform::Mock, vec![1, 2, 3]).expect_err("garbage");
        assert_eq!(e.code(), "nitro.chain.malformed_certificate");
        let e = TrustAnchor::from_pem(
            Platform::Mock,
            b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        )
        .expect_err("wrong label");
        assert_eq!(e.code(), "nitro.chain.malformed_certificate");
    }
}
