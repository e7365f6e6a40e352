//! The COSE_Sign1 envelope (RFC 9052 §4.2) around a Nitro attestation document.
//!
//! AWS documents are `[protected: bstr {1: -35}, unprotected: {}, payload: bstr, signature: bstr]`,
//! untagged in every real sample; tag 18 is accepted too. The received `protected` and `payload`
//! bytes are kept verbatim: the signature covers them, so they must never be re-encoded.

use crate::error::NitroError;
use aws_lc_rs::digest;
use aws_lc_rs::signature::{self, ParsedPublicKey};
use coset::cbor::value::Value;
use coset::iana::Algorithm;
use coset::{AsCborValue, CoseSign1, RegisteredLabelWithPrivate};

use crate::AttestationError;

/// The largest COSE_Sign1 input accepted. Real documents are 4.3–7.6 KiB; with every optional
/// field at the NSM's 1024-byte maximum and a five-certificate chain they stay under 12 KiB.
pub const MAX_DOCUMENT_LEN: usize = 32 * 1024;

/// CBOR tag of a tagged COSE_Sign1 (RFC 9052 §2).
const COSE_SIGN1_TAG: u64 = 18;

/// Length of a raw ES384 signature: `r ‖ s`, 48 bytes each (RFC 9053 §2.1).
pub(crate) const ES384_SIGNATURE_LEN: usize = 96;

/// A decoded COSE_Sign1 whose signature has not been checked yet.
#[derive(Clone, Debug)]
pub(crate) struct CoseEnvelope {
    sign1: CoseSign1,
    signature: [u8; ES384_SIGNATURE_LEN],
}

impl CoseEnvelope {
    /// Decodes `bytes` (tagged or untagged) and checks the protected header names ES384.
    pub(crate) fn parse(bytes: &[u8]) -> Result<Self, AttestationError> {
        if bytes.len() > MAX_DOCUMENT_LEN {
            return Err(NitroError::DocumentTooLarge {
                len: bytes.len(),
                max: MAX_DOCUMENT_LEN,
            }
            .into());
        }
        let mut rest = bytes;
        let value: Value =
            coset::cbor::de::from_reader(&mut rest).map_err(|e| NitroError::CoseMalformed {
                reason: format!("CBOR: {e}"),
            })?;
        if !rest.is_empty() {
            return Err(NitroError::CoseMalformed {
                reason: format!("{} trailing byte(s) after the COSE_Sign1", rest.len()),
            }
            .into());
        }
        let value = match value {
            Value::Tag(COSE_SIGN1_TAG, inner) => *inner,
            Value::Tag(tag, _) => {
                return Err(NitroError::CoseMalformed {
                    reason: format!("CBOR tag {tag}, expected 18 (COSE_Sign1) or none"),
                }
                .into());
            }
            other => other,
        };
        let sign1 = CoseSign1::from_cbor_value(value).map_err(|e| NitroError::CoseMalformed {
            reason: e.to_string(),
        })?;

        let header = &sign1.protected.header;
        match &header.alg {
            Some(RegisteredLabelWithPrivate::Assigned(Algorithm::ES384)) => {}
            Some(other) => {
                return Err(NitroError::CoseUnsupportedAlgorithm {
                    found: format!("{other:?}"),
                }
                .into());
            }
            None => {
                return Err(NitroError::CoseUnsupportedAlgorithm {
                    found: "none".to_owned(),
                }
                .into());
            }
        }
        if !header.crit.is_empty() {
            return Err(NitroError::CoseCriticalHeader {
                count: header.crit.len(),
            }
            .into());
        }
        if sign1.payload.is_none() {
            return Err(NitroError::CoseMalformed {
                reason: "payload is nil (detached payloads are not used by Nitro)".to_owned(),
            }
            .into());
        }
        let signature: [u8; ES384_SIGNATURE_LEN] =
            sign1
                .signature
                .as_slice()
                .try_into()
                .map_err(|_| NitroError::CoseSignatureLength {
                    len: sign1.signature.len(),
                })?;
        Ok(Self { sign1, signature })
    }

    /// The payload bytes exactly as received.
    pub(crate) fn payload(&self) -> &[u8] {
        self.sign1.payload.as_deref().unwrap_or_default()
    }

    /// Checks the ES384 signature over the Sig_structure
    /// `["Signature1", protected, h'', payload]` with `leaf_key` (see [`leaf_key`]).
    ///
    /// High-S signatures are accepted: ECDSA does not require low S, and about half of real AWS
    /// signatures have S > n/2.
    pub(crate) fn verify_signature(
        &self,
        leaf_key: &ParsedPublicKey,
    ) -> Result<(), AttestationError> {
        let digest = self.sig_structure_digest();
        Ok(leaf_key
            .verify_digest_sig(&digest, &self.signature)
            .map_err(|_| NitroError::CoseBadSignature)?)
    }

    /// The evidence digest: SHA-384 of the canonical encoding of what was verified, the untagged
    /// definite-length array `[protected, {}, payload, signature]`. The unprotected header is
    /// not signed, so it is left out (encoded as the empty map every real document carries); a
    /// tag, indefinite lengths or non-minimal heads are envelope choices the host could vary
    /// without touching a signed byte, so they change nothing here either. For every real AWS
    /// document this equals SHA-384 of the received bytes.
    pub(crate) fn signed_extent_sha384(&self) -> [u8; 48] {
        let protected = self
            .sign1
            .protected
            .original_data
            .as_deref()
            .unwrap_or_default();
        let mut ctx = digest::Context::new(&digest::SHA384);
        let mut head = [0u8; 9];
        // array(4)
        ctx.update(&[0x84]);
        ctx.update(bstr_head(protected.len(), &mut head));
        ctx.update(protected);
        // unprotected: empty map
        ctx.update(&[0xa0]);
        let payload = self.payload();
        ctx.update(bstr_head(payload.len(), &mut head));
        ctx.update(payload);
        ctx.update(bstr_head(self.signature.len(), &mut head));
        ctx.update(&self.signature);
        let mut out = [0u8; 48];
        out.copy_from_slice(ctx.finish().as_ref());
        out
    }

    /// SHA-384 of the Sig_structure (RFC 9052 §4.4), hashed in pieces straight from the received
    /// bytes rather than built in a buffer: the document is several KiB and this runs for every
    /// document.
    fn sig_structure_digest(&self) -> digest::Digest {
        let Some(protected) = self.sign1.protected.original_data.as_deref() else {
            // Not reached for parsed input (coset keeps the received bytes); fall back to coset's
            // own encoding.
            return digest::digest(&digest::SHA384, &self.sign1.tbs_data(&[]));
        };
        let mut ctx = digest::Context::new(&digest::SHA384);
        // array(4), text(10) "Signature1"
        ctx.update(&[0x84, 0x6a]);
        ctx.update(b"Signature1");
        let mut head = [0u8; 9];
        ctx.update(bstr_head(protected.len(), &mut head));
        ctx.update(protected);
        // external_aad: empty bstr
        ctx.update(&[0x40]);
        let payload = self.payload();
        ctx.update(bstr_head(payload.len(), &mut head));
        ctx.update(payload);
        ctx.finish()
    }
}

/// The leaf's uncompressed P-384 point as a key for [`CoseEnvelope::verify_signature`]. A point
/// that is not on the curve cannot verify anything, so it fails as a bad signature, as it would if
/// it were parsed at verification time.
pub(crate) fn leaf_key(point: &[u8]) -> Result<ParsedPublicKey, AttestationError> {
    Ok(
        ParsedPublicKey::new(&signature::ECDSA_P384_SHA384_FIXED, point)
            .map_err(|_| NitroError::CoseBadSignature)?,
    )
}

/// The shortest CBOR head of a byte string of `len` bytes (RFC 8949 §3.1, major type 2).
fn bstr_head(len: usize, out: &mut [u8; 9]) -> &[u8] {
    let len = len as u64; // usize is at most 64 bits on every supported target
    if len < 24 {
        out[0] = 0x40 | len as u8;
        &out[..1]
    } else if len <= 0xff {
        out[0] = 0x58;
        out[1] = len as u8;
        &out[..2]
    } else if len <= 0xffff {
        out[0] = 0x59;
        out[1..3].copy_from_slice(&(len as u16).to_be_bytes());
        &out[..3]
    } else if len <= 0xffff_ffff {
        out[0] = 0x5a;
        out[1..5].copy_from_slice(&(len as u32).to_be_bytes());
        &out[..5]
    } else {
        out[0] = 0x5b;
        out[1..9].copy_from_slice(&len.to_be_bytes());
        &out[..9]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(v: Value) -> Vec<u8> {
        let mut out = Vec::new();
        coset::cbor::ser::into_writer(&v, &mut out).expect("encoding a Value into a Vec");
        out
    }

    fn sign1(protected: Vec<u8>, sig_len: usize) -> Value {
        Value::Array(vec![
            Value::Bytes(protected),
            Value::Map(vec![]),
            Value::Bytes(vec![0xa0]),
            Value::Bytes(vec![0; sig_len]),
        ])
    }

    #[test]
    fn accepts_untagged_and_tagged() {
        let v = sign1(vec![0xa1, 0x01, 0x38, 0x22], 96);
        assert!(CoseEnvelope::parse(&encode(v.clone())).is_ok());
        let tagged = Value::Tag(18, Box::new(v));
        assert!(CoseEnvelope::parse(&encode(tagged)).is_ok());
    }

    #[test]
    fn rejects_other_tag_alg_and_signature_length() {
        let v = sign1(vec![0xa1, 0x01, 0x38, 0x22], 96);
        let e = CoseEnvelope::parse(&encode(Value::Tag(98, Box::new(v)))).expect_err("must reject");
        assert_eq!(e.code(), "nitro.cose.malformed");
        // {1: -7} = ES256
        let e = CoseEnvelope::parse(&encode(sign1(vec![0xa1, 0x01, 0x26], 96)))
            .expect_err("must reject");
        assert_eq!(e.code(), "nitro.cose.unsupported_algorithm");
        let e = CoseEnvelope::parse(&encode(sign1(vec![], 96))).expect_err("must reject");
        assert_eq!(e.code(), "nitro.cose.unsupported_algorithm");
        let e = CoseEnvelope::parse(&encode(sign1(vec![0xa1, 0x01, 0x38, 0x22], 102)))
            .expect_err("must reject");
        assert_eq!(e.code(), "nitro.cose.bad_signature_length");
    }

    #[test]
    fn rejects_trailing_bytes_and_oversize() {
        let mut bytes = encode(sign1(vec![0xa1, 0x01, 0x38, 0x22], 96));
        bytes.push(0);
        let e = CoseEnvelope::parse(&bytes).expect_err("must reject");
        assert_eq!(e.code(), "nitro.cose.malformed");
        let e = CoseEnvelope::parse(&vec![0; MAX_DOCUMENT_LEN + 1]).expect_err("must reject");
        assert_eq!(e.code(), "nitro.cose.too_large");
    }

    #[test]
    fn streamed_sig_structure_equals_cosets() {
        for len in [0usize, 23, 24, 255, 256, 65_535, 65_536] {
            let v = Value::Array(vec![
                Value::Bytes(vec![0xa1, 0x01, 0x38, 0x22]),
                Value::Map(vec![]),
                Value::Bytes(vec![7; len]),
                Value::Bytes(vec![0; 96]),
            ]);
            let bytes = encode(v);
            let rest = &bytes[..];
            // Parse without the size limit, to reach the 4-byte length heads too.
            let value: Value = coset::cbor::de::from_reader(rest).expect("cbor");
            let sign1 = CoseSign1::from_cbor_value(value).expect("sign1");
            let env = CoseEnvelope {
                sign1,
                signature: [0; ES384_SIGNATURE_LEN],
            };
            let expected = digest::digest(&digest::SHA384, &env.sign1.tbs_data(&[]));
            assert_eq!(
                env.sig_structure_digest().as_ref(),
                expected.as_ref(),
                "payload of {len} bytes"
            );
        }
    }

    #[test]
    fn rejects_critical_headers() {
        // {1: -35, 2: [4], 4: h'01'}: kid marked critical.
        let protected = vec![0xa3, 0x01, 0x38, 0x22, 0x02, 0x81, 0x04, 0x04, 0x41, 0x01];
        let e = CoseEnvelope::parse(&encode(sign1(protected, 96))).expect_err("must reject");
        assert_eq!(e.code(), "nitro.cose.critical_header");
    }
}
