//! The evidence bundle: everything a caller or custodian needs to verify an enclave, with no
//! network access: the platform's raw evidence, the certificates or collateral it needs, and
//! the two enclave keys and the nonce that the evidence binds
//! (`binding = SHA-384("cloister/binding/v1" ‖ kem_pub ‖ sig_pub ‖ nonce)`, ARCHITECTURE.md).

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use crate::ProtoError;
use crate::served::{SERVED_MODELS_SIGNATURE_LEN, ServedModels};

/// Version of the bundle layout. 2 added [`EvidenceBundle::served_models`] and its signature.
pub const BUNDLE_VERSION: u16 = 2;
/// Largest raw evidence accepted (a Nitro document is about 4.5 KiB; a TDX quote about 5 KiB).
pub const MAX_EVIDENCE_LEN: usize = 64 * 1024;
/// Largest single collateral item (a VCEK, a TCB info JSON).
pub const MAX_COLLATERAL_ITEM_LEN: usize = 64 * 1024;
/// Most collateral items in one bundle.
pub const MAX_COLLATERAL_ITEMS: usize = 16;
/// X25519 public key length (`kem_pub`).
pub const KEM_PUB_LEN: usize = 32;
/// Ed25519 public key length (`sig_pub`).
pub const SIG_PUB_LEN: usize = 32;

/// Which platform produced the evidence. `Mock` is a Nitro-format document signed by a mock CA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EvidencePlatform {
    /// AWS Nitro Enclaves attestation document (COSE_Sign1).
    Nitro,
    /// The mock platform: Nitro format, mock root. Accepted only by policies that name its root.
    Mock,
    /// AMD SEV-SNP attestation report.
    SevSnp,
    /// Intel TDX DCAP quote.
    Tdx,
}

impl EvidencePlatform {
    /// The lowercase name used in JSON, the CLI and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Nitro => "nitro",
            Self::Mock => "mock",
            Self::SevSnp => "sev-snp",
            Self::Tdx => "tdx",
        }
    }
}

/// Evidence plus what it binds. Served by `GET /v1/attestation` as CBOR.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceBundle {
    /// [`BUNDLE_VERSION`].
    pub version: u16,
    /// Producing platform.
    pub platform: EvidencePlatform,
    /// Raw platform evidence (for Nitro and mock: the COSE_Sign1 document).
    #[serde(with = "serde_bytes")]
    pub evidence: Vec<u8>,
    /// Certificates or collateral the platform needs (empty for Nitro: the document carries its chain).
    pub collateral: Vec<ByteBuf>,
    /// The enclave's X25519 HPKE public key: the OHTTP gateway key.
    #[serde(with = "serde_bytes")]
    pub kem_pub: Vec<u8>,
    /// The enclave's Ed25519 public key: signs results.
    #[serde(with = "serde_bytes")]
    pub sig_pub: Vec<u8>,
    /// The verifier's nonce, echoed.
    #[serde(with = "serde_bytes")]
    pub nonce: Vec<u8>,
    /// OHTTP key identifier of `kem_pub` (RFC 9458 §3).
    pub ohttp_key_id: u8,
    /// Every model the enclave serves, with its digest. Not covered by the platform evidence:
    /// trust it only after [`EvidenceBundle::served_models_signature`] verifies with the attested
    /// `sig_pub` (see [`crate::served`] for the exact check).
    pub served_models: ServedModels,
    /// Ed25519 signature by `sig_pub` over `served_models.signing_bytes()` (64 bytes).
    #[serde(with = "serde_bytes")]
    pub served_models_signature: Vec<u8>,
}

impl EvidenceBundle {
    /// Encodes as CBOR.
    ///
    /// # Errors
    /// Only if serialization itself fails, which a valid bundle never does.
    pub fn to_cbor(&self) -> Result<Vec<u8>, ProtoError> {
        crate::cbor::to_vec(self, "evidence bundle")
    }

    /// Decodes and validates a CBOR bundle.
    ///
    /// # Errors
    /// [`ProtoError::Malformed`] or any check of [`EvidenceBundle::validate`].
    pub fn from_cbor(bytes: &[u8]) -> Result<Self, ProtoError> {
        let bundle: Self = crate::cbor::from_slice(bytes, "evidence bundle")?;
        bundle.validate()?;
        Ok(bundle)
    }

    /// Checks version, key lengths and size limits. Says nothing about authenticity:
    /// that is the attestation verifier's job.
    ///
    /// # Errors
    /// The first limit the bundle breaks.
    pub fn validate(&self) -> Result<(), ProtoError> {
        if self.version != BUNDLE_VERSION {
            return Err(ProtoError::UnsupportedVersion {
                what: "evidence bundle",
                got: self.version,
                supported: BUNDLE_VERSION,
            });
        }
        limit("evidence", self.evidence.len(), MAX_EVIDENCE_LEN)?;
        limit(
            "collateral count",
            self.collateral.len(),
            MAX_COLLATERAL_ITEMS,
        )?;
        for item in &self.collateral {
            limit("collateral item", item.len(), MAX_COLLATERAL_ITEM_LEN)?;
        }
        exact("kem_pub", self.kem_pub.len(), KEM_PUB_LEN)?;
        exact("sig_pub", self.sig_pub.len(), SIG_PUB_LEN)?;
        crate::message::validate_nonce(&self.nonce)?;
        self.served_models.validate()?;
        exact(
            "served_models_signature",
            self.served_models_signature.len(),
            SERVED_MODELS_SIGNATURE_LEN,
        )
    }
}

fn limit(field: &'static str, len: usize, limit: usize) -> Result<(), ProtoError> {
    if len > limit {
        return Err(ProtoError::FieldTooLarge { field, len, limit });
    }
    Ok(())
}

pub(crate) fn exact(field: &'static str, len: usize, expected: usize) -> Result<(), ProtoError> {
    if len != expected {
        return Err(ProtoError::BadLength {
            field,
            expected,
            len,
        });
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample_bundle() -> EvidenceBundle {
        EvidenceBundle {
            version: BUNDLE_VERSION,
            platform: EvidencePlatform::Mock,
            evidence: vec![0xd2; 300],
            collateral: vec![ByteBuf::from(vec![1, 2, 3])],
            kem_pub: vec![1; KEM_PUB_LEN],
            sig_pub: vec![2; SIG_PUB_LEN],
            nonce: vec![3; 32],
            ohttp_key_id: 1,
            served_models: crate::served::tests::sample(),
            served_models_signature: vec![4; SERVED_MODELS_SIGNATURE_LEN],
        }
    }

    #[test]
    fn round_trip() {
        let b = sample_bundle();
        assert_eq!(
            EvidenceBundle::from_cbor(&b.to_cbor().expect("enc")).expect("dec"),
            b
        );
    }

    #[test]
    fn wrong_key_lengths_and_versions_are_rejected() {
        let mut b = sample_bundle();
        b.kem_pub.pop();
        assert_eq!(
            b.validate().expect_err("short kem").code(),
            "proto.bad_length"
        );
        let mut b = sample_bundle();
        b.sig_pub.push(0);
        assert_eq!(
            b.validate().expect_err("long sig").code(),
            "proto.bad_length"
        );
        let mut b = sample_bundle();
        b.version = 1;
        assert_eq!(
            b.validate().expect_err("version").code(),
            "proto.unsupported_version"
        );
        let mut b = sample_bundle();
        b.evidence = vec![0; MAX_EVIDENCE_LEN + 1];
        let bytes = b.to_cbor().expect("enc");
        assert_eq!(
            EvidenceBundle::from_cbor(&bytes).expect_err("big").code(),
            "proto.field_too_large"
        );
    }

    #[test]
    fn served_models_are_validated_with_the_bundle() {
        let mut b = sample_bundle();
        b.served_models_signature.pop();
        let bytes = b.to_cbor().expect("enc");
        assert_eq!(
            EvidenceBundle::from_cbor(&bytes)
                .expect_err("short sig")
                .code(),
            "proto.bad_length"
        );
        let mut b = sample_bundle();
        b.served_models.models.reverse();
        let bytes = b.to_cbor().expect("enc");
        assert_eq!(
            EvidenceBundle::from_cbor(&bytes)
                .expect_err("unsorted")
                .code(),
            "proto.malformed"
        );
        // A version 1 bundle (no served models) is refused as a whole, not half-read.
        let mut v: ciborium::Value =
            ciborium::from_reader(&sample_bundle().to_cbor().expect("enc")[..]).expect("value");
        if let ciborium::Value::Map(entries) = &mut v {
            entries.retain(|(k, _)| {
                !matches!(
                    k.as_text(),
                    Some("served_models" | "served_models_signature")
                )
            });
            for (k, val) in entries.iter_mut() {
                if k.as_text() == Some("version") {
                    *val = ciborium::Value::Integer(1.into());
                }
            }
        }
        let mut old = Vec::new();
        ciborium::into_writer(&v, &mut old).expect("enc");
        assert!(EvidenceBundle::from_cbor(&old).is_err());
    }

    #[test]
    fn platform_names_are_stable() {
        for (p, s) in [
            (EvidencePlatform::Nitro, "nitro"),
            (EvidencePlatform::Mock, "mock"),
            (EvidencePlatform::SevSnp, "sev-snp"),
            (EvidencePlatform::Tdx, "tdx"),
        ] {
            assert_eq!(p.as_str(), s);
            assert_eq!(serde_json::to_string(&p).expect("json"), format!("\"{s}\""));
        }
    }
}
