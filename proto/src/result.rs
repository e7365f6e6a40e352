//! The enclave's signed inference result.
//!
//! The enclave signs the exact bytes of [`ResultStatement::signing_bytes`]: a domain label and
//! the request hash, output hash, model id and digest, evidence digest and time, each
//! length-prefixed so no two statements share an encoding. The caller checks the signature with
//! the attested `sig_pub`, then that each hash is the one it computed itself.

use serde::{Deserialize, Serialize};

use crate::evidence::exact;
use crate::{DIGEST_LEN, ProtoError};

/// Domain separation label of a result signature.
pub const RESULT_LABEL: &[u8] = b"cloister/result/v1";
/// Version of the statement layout.
pub const STATEMENT_VERSION: u16 = 1;
/// Ed25519 signature length.
pub const SIGNATURE_LEN: usize = 64;
/// Longest model id.
pub const MAX_MODEL_ID_LEN: usize = 128;
/// Largest inference output carried in a result.
pub const MAX_OUTPUT_LEN: usize = 1024 * 1024;

/// What the enclave vouches for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultStatement {
    /// [`STATEMENT_VERSION`].
    pub version: u16,
    /// SHA-384 of the caller's Binary HTTP request, exactly as decapsulated.
    #[serde(with = "serde_bytes")]
    pub request_sha384: Vec<u8>,
    /// SHA-384 of [`SignedResult::output`].
    #[serde(with = "serde_bytes")]
    pub output_sha384: Vec<u8>,
    /// The model that ran.
    pub model_id: String,
    /// SHA-384 of the model's bytes.
    #[serde(with = "serde_bytes")]
    pub model_sha384: Vec<u8>,
    /// SHA-384 of the evidence the caller verified before sending over its signed extent (`cloister_attestation::evidence::evidence_digest`).
    #[serde(with = "serde_bytes")]
    pub evidence_sha384: Vec<u8>,
    /// Enclave time of signing, Unix seconds.
    pub issued_at: u64,
}

impl ResultStatement {
    /// The exact bytes the enclave signs.
    pub fn signing_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        for part in [
            RESULT_LABEL,
            &self.version.to_be_bytes(),
            &self.request_sha384,
            &self.output_sha384,
            self.model_id.as_bytes(),
            &self.model_sha384,
            &self.evidence_sha384,
            &self.issued_at.to_be_bytes(),
        ] {
            // Every part is bounded by `validate` (at most MAX_MODEL_ID_LEN), so the cast is exact.
            out.extend_from_slice(&(part.len() as u32).to_be_bytes());
            out.extend_from_slice(part);
        }
        out
    }

    /// Checks version and field lengths.
    ///
    /// # Errors
    /// The first field of the wrong size.
    pub fn validate(&self) -> Result<(), ProtoError> {
        if self.version != STATEMENT_VERSION {
            return Err(ProtoError::UnsupportedVersion {
                what: "result statement",
                got: self.version,
                supported: STATEMENT_VERSION,
            });
        }
        exact("request_sha384", self.request_sha384.len(), DIGEST_LEN)?;
        exact("output_sha384", self.output_sha384.len(), DIGEST_LEN)?;
        exact("model_sha384", self.model_sha384.len(), DIGEST_LEN)?;
        exact("evidence_sha384", self.evidence_sha384.len(), DIGEST_LEN)?;
        if self.model_id.len() > MAX_MODEL_ID_LEN {
            return Err(ProtoError::FieldTooLarge {
                field: "model_id",
                len: self.model_id.len(),
                limit: MAX_MODEL_ID_LEN,
            });
        }
        Ok(())
    }
}

/// The body of a successful inference response inside OHTTP: statement, output, signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedResult {
    /// What is signed.
    pub statement: ResultStatement,
    /// The model's output (JSON), exactly the bytes `output_sha384` hashes.
    #[serde(with = "serde_bytes")]
    pub output: Vec<u8>,
    /// Ed25519 signature over `statement.signing_bytes()` by the attested `sig_pub`.
    #[serde(with = "serde_bytes")]
    pub signature: Vec<u8>,
}

impl SignedResult {
    /// Encodes as CBOR.
    ///
    /// # Errors
    /// Only if serialization fails.
    pub fn to_cbor(&self) -> Result<Vec<u8>, ProtoError> {
        crate::cbor::to_vec(self, "signed result")
    }

    /// Decodes and checks lengths. Does not verify the signature (the caller holds the key).
    ///
    /// # Errors
    /// [`ProtoError::Malformed`] or a length check.
    pub fn from_cbor(bytes: &[u8]) -> Result<Self, ProtoError> {
        let r: Self = crate::cbor::from_slice(bytes, "signed result")?;
        r.statement.validate()?;
        exact("signature", r.signature.len(), SIGNATURE_LEN)?;
        if r.output.len() > MAX_OUTPUT_LEN {
            return Err(ProtoError::FieldTooLarge {
                field: "output",
                len: r.output.len(),
                limit: MAX_OUTPUT_LEN,
            });
        }
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> SignedResult {
        SignedResult {
            statement: ResultStatement {
                version: STATEMENT_VERSION,
                request_sha384: vec![1; 48],
                output_sha384: vec![2; 48],
                model_id: "credit-risk-v1".into(),
                model_sha384: vec![3; 48],
                evidence_sha384: vec![4; 48],
                issued_at: 1_700_000_000,
            },
            output: b"{}".to_vec(),
            signature: vec![5; 64],
        }
    }

    #[test]
    fn round_trip() {
        let r = sample();
        assert_eq!(
            SignedResult::from_cbor(&r.to_cbor().expect("enc")).expect("dec"),
            r
        );
    }

    #[test]
    fn signing_bytes_separate_every_field() {
        let base = sample().statement;
        let mut variants = vec![];
        let mut s = base.clone();
        s.model_id.push('x');
        variants.push(s);
        let mut s = base.clone();
        s.issued_at += 1;
        variants.push(s);
        let mut s = base.clone();
        s.evidence_sha384[0] ^= 1;
        variants.push(s);
        let mut s = base.clone();
        s.request_sha384[47] ^= 1;
        variants.push(s);
        for v in variants {
            assert_ne!(v.signing_bytes(), base.signing_bytes());
        }
        assert!(
            base.signing_bytes()
                .starts_with(&[0, 0, 0, RESULT_LABEL.len() as u8])
        );
    }

    #[test]
    fn bad_lengths_are_rejected() {
        let mut r = sample();
        r.signature.pop();
        assert_eq!(
            SignedResult::from_cbor(&r.to_cbor().expect("enc"))
                .expect_err("short sig")
                .code(),
            "proto.bad_length"
        );
        let mut r = sample();
        r.statement.model_sha384.push(0);
        assert!(SignedResult::from_cbor(&r.to_cbor().expect("enc")).is_err());
    }
}
