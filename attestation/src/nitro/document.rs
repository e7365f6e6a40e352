//! The attestation document: the CBOR map inside the COSE_Sign1 payload.
//!
//! Layout (AWS `aws-nitro-enclaves-nsm-api` `docs/attestation_process.md` §3.2, and every real
//! document): `module_id` (text), `digest` ("SHA384"), `timestamp` (uint, milliseconds),
//! `pcrs` (map uint → bstr), `certificate` (bstr, DER), `cabundle` (array of bstr, DER, root first),
//! then `public_key`, `user_data`, `nonce` (bstr or null).
//!
//! Judgment calls, each with its reason:
//! - Definite and indefinite lengths are both accepted: since 2026 AWS encodes the top-level map
//!   as `0xBF … 0xFF`.
//! - Unknown keys are skipped (forward compatibility), but every key, known or not, may appear
//!   only once: with duplicates, two parsers could read two different documents from one
//!   signature.
//! - `null` for a mandatory field counts as missing; `null` and absent are the same for the three
//!   optional fields (real documents always write all nine keys, with `null`).
//! - `user_data`, `nonce` and `public_key` may be up to 1024 bytes, the size the NSM really
//!   accepts (a real 1024/1024/1024 document exists), not the 512 in the prose of the AWS doc.

use crate::error::NitroError;
use std::collections::{BTreeMap, BTreeSet};

use coset::cbor::value::Value;

use super::cose::CoseEnvelope;
use crate::AttestationError;

/// Largest `user_data`, `nonce` or `public_key` the NSM accepts.
pub const MAX_OPTIONAL_FIELD_LEN: usize = 1024;
/// Largest DER certificate in `certificate` or `cabundle` (AWS spec: 1..1024 bytes; real ones are
/// 533–794 bytes).
pub const MAX_CERTIFICATE_LEN: usize = 1024;
/// Most `cabundle` entries accepted (real chains have 4).
pub const MAX_CABUNDLE_LEN: usize = 8;
/// Number of PCRs an NSM has.
pub const NUM_PCRS: u16 = 32;

/// A parsed attestation document whose signature and chain have **not** been checked.
///
/// Use it to inspect evidence (the CLI's `attest inspect`); nothing in this crate's policy accepts
/// it. [`NitroVerifier::verify`](super::NitroVerifier::verify) turns bytes into a
/// [`VerifiedNitroDocument`](super::VerifiedNitroDocument).
#[derive(Clone, Debug)]
pub struct UnverifiedNitroDocument {
    pub(crate) envelope: CoseEnvelope,
    pub(crate) payload: NitroPayload,
    pub(crate) certificate: Vec<u8>,
    pub(crate) cabundle: Vec<Vec<u8>>,
}

/// The fields of a document that describe the enclave (everything but the certificates), type
/// checked. Held by [`UnverifiedNitroDocument`] before the signature is checked and by
/// [`VerifiedNitroDocument`](super::VerifiedNitroDocument) after, which re-exposes them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NitroPayload {
    pub(crate) module_id: String,
    pub(crate) timestamp_ms: u64,
    pub(crate) pcrs: BTreeMap<u16, Vec<u8>>,
    pub(crate) public_key: Option<Vec<u8>>,
    pub(crate) user_data: Option<Vec<u8>>,
    pub(crate) nonce: Option<Vec<u8>>,
}

impl NitroPayload {
    /// The NSM module id.
    pub fn module_id(&self) -> &str {
        &self.module_id
    }

    /// When the NSM produced the document, milliseconds since the epoch.
    pub fn timestamp_ms(&self) -> u64 {
        self.timestamp_ms
    }

    /// PCR index → 48-byte value.
    pub fn pcrs(&self) -> &BTreeMap<u16, Vec<u8>> {
        &self.pcrs
    }

    /// `public_key` (an RSA SPKI when AWS KMS `Recipient` is used), if present.
    pub fn public_key(&self) -> Option<&[u8]> {
        self.public_key.as_deref()
    }

    /// `user_data` (the key binding, for Cloister enclaves), if present.
    pub fn user_data(&self) -> Option<&[u8]> {
        self.user_data.as_deref()
    }

    /// `nonce`, if present.
    pub fn nonce(&self) -> Option<&[u8]> {
        self.nonce.as_deref()
    }
}

impl UnverifiedNitroDocument {
    /// Parses a COSE_Sign1 attestation document without checking any signature.
    ///
    /// # Errors
    ///
    /// `nitro.cose.*` for a bad envelope, `nitro.payload.*` for a bad document map.
    pub fn parse(cose_bytes: &[u8]) -> Result<Self, AttestationError> {
        let envelope = CoseEnvelope::parse(cose_bytes)?;
        let fields = RawFields::decode(envelope.payload())?;
        fields.validate(envelope)
    }

    /// The evidence digest over the signed extent of the COSE_Sign1 (see
    /// [`VerifiedNitroDocument::evidence_digest`](super::VerifiedNitroDocument::evidence_digest)).
    pub fn evidence_digest(&self) -> [u8; 48] {
        self.envelope.signed_extent_sha384()
    }

    /// The enclave's fields, as sent: nothing vouches for them yet.
    pub fn payload(&self) -> &NitroPayload {
        &self.payload
    }

    /// The DER leaf certificate.
    pub fn certificate(&self) -> &[u8] {
        &self.certificate
    }

    /// The DER CA certificates, root first.
    pub fn cabundle(&self) -> &[Vec<u8>] {
        &self.cabundle
    }
}

/// The known fields as found, before type checks.
#[derive(Default)]
struct RawFields {
    module_id: Option<Value>,
    digest: Option<Value>,
    timestamp: Option<Value>,
    pcrs: Option<Value>,
    certificate: Option<Value>,
    cabundle: Option<Value>,
    public_key: Option<Value>,
    user_data: Option<Value>,
    nonce: Option<Value>,
}

impl RawFields {
    fn decode(payload: &[u8]) -> Result<Self, AttestationError> {
        let mut rest = payload;
        let value: Value =
            coset::cbor::de::from_reader(&mut rest).map_err(|e| NitroError::PayloadMalformed {
                reason: format!("CBOR: {e}"),
            })?;
        if !rest.is_empty() {
            return Err(NitroError::PayloadTrailingBytes { count: rest.len() }.into());
        }
        let Value::Map(entries) = value else {
            return Err(NitroError::PayloadMalformed {
                reason: format!("payload is {}, expected a map", type_name(&value)),
            }
            .into());
        };
        let mut seen = BTreeSet::new();
        let mut f = Self::default();
        for (key, value) in entries {
            let Value::Text(key) = key else {
                return Err(NitroError::PayloadMalformed {
                    reason: format!("map key is {}, expected text", type_name(&key)),
                }
                .into());
            };
            let slot = match key.as_str() {
                "module_id" => &mut f.module_id,
                "digest" => &mut f.digest,
                "timestamp" => &mut f.timestamp,
                "pcrs" => &mut f.pcrs,
                "certificate" => &mut f.certificate,
                "cabundle" => &mut f.cabundle,
                "public_key" => &mut f.public_key,
                "user_data" => &mut f.user_data,
                "nonce" => &mut f.nonce,
                _ => {
                    // Unknown keys are skipped, but still may not repeat.
                    if !seen.insert(key.clone()) {
                        return Err(NitroError::DuplicateField { field: key }.into());
                    }
                    continue;
                }
            };
            if !seen.insert(key.clone()) {
                return Err(NitroError::DuplicateField { field: key }.into());
            }
            *slot = Some(value);
        }
        Ok(f)
    }

    fn validate(self, envelope: CoseEnvelope) -> Result<UnverifiedNitroDocument, AttestationError> {
        let module_id = match mandatory("module_id", self.module_id)? {
            Value::Text(s) if s.is_empty() => {
                return Err(NitroError::InvalidField {
                    field: "module_id",
                    reason: "empty".to_owned(),
                }
                .into());
            }
            Value::Text(s) => s,
            other => return Err(wrong_type("module_id", "text", &other)),
        };

        let pcr_len = match mandatory("digest", self.digest)? {
            Value::Text(s) if s == "SHA384" => 48,
            Value::Text(s) => return Err(NitroError::UnsupportedDigest { found: s }.into()),
            other => return Err(wrong_type("digest", "text", &other)),
        };

        let timestamp_ms = match mandatory("timestamp", self.timestamp)? {
            Value::Integer(i) => match u64::try_from(i) {
                Ok(0) | Err(_) => {
                    return Err(NitroError::InvalidField {
                        field: "timestamp",
                        reason: format!("{} is not a positive millisecond count", i128::from(i)),
                    }
                    .into());
                }
                Ok(t) => t,
            },
            other => return Err(wrong_type("timestamp", "uint", &other)),
        };

        let pcrs = parse_pcrs(mandatory("pcrs", self.pcrs)?, pcr_len)?;

        let certificate = match mandatory("certificate", self.certificate)? {
            Value::Bytes(b) => check_certificate_len("certificate", b)?,
            other => return Err(wrong_type("certificate", "bstr", &other)),
        };

        let cabundle = match mandatory("cabundle", self.cabundle)? {
            Value::Array(items) => {
                if items.is_empty() {
                    return Err(NitroError::InvalidField {
                        field: "cabundle",
                        reason: "empty; it must hold at least the root".to_owned(),
                    }
                    .into());
                }
                if items.len() > MAX_CABUNDLE_LEN {
                    return Err(NitroError::ChainTooLong {
                        len: items.len(),
                        max: MAX_CABUNDLE_LEN,
                    }
                    .into());
                }
                items
                    .into_iter()
                    .map(|item| match item {
                        Value::Bytes(b) => check_certificate_len("cabundle", b),
                        other => Err(wrong_type("cabundle", "array of bstr", &other)),
                    })
                    .collect::<Result<Vec<_>, _>>()?
            }
            other => return Err(wrong_type("cabundle", "array", &other)),
        };

        Ok(UnverifiedNitroDocument {
            envelope,
            payload: NitroPayload {
                module_id,
                timestamp_ms,
                pcrs,
                public_key: optional_bytes("public_key", self.public_key)?,
                user_data: optional_bytes("user_data", self.user_data)?,
                nonce: optional_bytes("nonce", self.nonce)?,
            },
            certificate,
            cabundle,
        })
    }
}

fn mandatory(field: &'static str, value: Option<Value>) -> Result<Value, AttestationError> {
    match value {
        None | Some(Value::Null) => Err(NitroError::MissingField { field }.into()),
        Some(v) => Ok(v),
    }
}

fn optional_bytes(
    field: &'static str,
    value: Option<Value>,
) -> Result<Option<Vec<u8>>, AttestationError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bytes(b)) if b.len() > MAX_OPTIONAL_FIELD_LEN => {
            Err(NitroError::FieldTooLarge {
                field,
                len: b.len(),
                max: MAX_OPTIONAL_FIELD_LEN,
            }
            .into())
        }
        Some(Value::Bytes(b)) => Ok(Some(b)),
        Some(other) => Err(wrong_type(field, "bstr or null", &other)),
    }
}

fn check_certificate_len(field: &'static str, der: Vec<u8>) -> Result<Vec<u8>, AttestationError> {
    if der.is_empty() {
        return Err(NitroError::InvalidField {
            field,
            reason: "empty certificate".to_owned(),
        }
        .into());
    }
    if der.len() > MAX_CERTIFICATE_LEN {
        return Err(NitroError::FieldTooLarge {
            field,
            len: der.len(),
            max: MAX_CERTIFICATE_LEN,
        }
        .into());
    }
    Ok(der)
}

fn parse_pcrs(value: Value, pcr_len: usize) -> Result<BTreeMap<u16, Vec<u8>>, AttestationError> {
    let Value::Map(entries) = value else {
        return Err(wrong_type("pcrs", "map", &value));
    };
    if entries.is_empty() || entries.len() > usize::from(NUM_PCRS) {
        return Err(NitroError::InvalidField {
            field: "pcrs",
            reason: format!("{} entries, expected 1..={NUM_PCRS}", entries.len()),
        }
        .into());
    }
    let mut pcrs = BTreeMap::new();
    for (key, value) in entries {
        let Value::Integer(i) = key else {
            return Err(wrong_type("pcrs", "map with uint keys", &key));
        };
        let index = match u16::try_from(i) {
            Ok(index) if index < NUM_PCRS => index,
            _ => {
                return Err(NitroError::BadPcr {
                    index: u64::try_from(i).unwrap_or(u64::MAX),
                    reason: format!("index {} is outside 0..{NUM_PCRS}", i128::from(i)),
                }
                .into());
            }
        };
        let Value::Bytes(bytes) = value else {
            return Err(NitroError::BadPcr {
                index: u64::from(index),
                reason: format!("value is {}, expected bstr", type_name(&value)),
            }
            .into());
        };
        if bytes.len() != pcr_len {
            return Err(NitroError::BadPcr {
                index: u64::from(index),
                reason: format!("{} bytes, expected {pcr_len} for SHA384", bytes.len()),
            }
            .into());
        }
        if pcrs.insert(index, bytes).is_some() {
            return Err(NitroError::BadPcr {
                index: u64::from(index),
                reason: "index appears twice".to_owned(),
            }
            .into());
        }
    }
    Ok(pcrs)
}

fn wrong_type(field: &'static str, expected: &'static str, found: &Value) -> AttestationError {
    NitroError::WrongType {
        field,
        expected,
        found: type_name(found),
    }
    .into()
}

/// The CBOR major type of `v`, for error messages.
fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Integer(_) => "an integer",
        Value::Bytes(_) => "a byte string",
        Value::Float(_) => "a float",
        Value::Text(_) => "a text string",
        Value::Bool(_) => "a bool",
        Value::Null => "null",
        Value::Tag(..) => "a tagged item",
        Value::Array(_) => "an array",
        Value::Map(_) => "a map",
        _ => "an unknown CBOR item",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A COSE_Sign1 (bogus signature) around `payload`.
    fn wrap(payload: Vec<u8>) -> Vec<u8> {
        let v = Value::Array(vec![
            Value::Bytes(vec![0xa1, 0x01, 0x38, 0x22]),
            Value::Map(vec![]),
            Value::Bytes(payload),
            Value::Bytes(vec![0; 96]),
        ]);
        let mut out = Vec::new();
        coset::cbor::ser::into_writer(&v, &mut out).expect("encode");
        out
    }

    fn encode(v: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        coset::cbor::ser::into_writer(v, &mut out).expect("encode");
        out
    }

    fn good_fields() -> Vec<(Value, Value)> {
        let pcrs = (0..16)
            .map(|i| (Value::Integer(i.into()), Value::Bytes(vec![0; 48])))
            .collect();
        vec![
            (
                Value::Text("module_id".into()),
                Value::Text("i-1-enc2".into()),
            ),
            (Value::Text("digest".into()), Value::Text("SHA384".into())),
            (
                Value::Text("timestamp".into()),
                Value::Integer(1_700_000_000_000u64.into()),
            ),
            (Value::Text("pcrs".into()), Value::Map(pcrs)),
            (
                Value::Text("certificate".into()),
                Value::Bytes(vec![0x30; 10]),
            ),
            (
                Value::Text("cabundle".into()),
                Value::Array(vec![Value::Bytes(vec![0x30; 10])]),
            ),
            (Value::Text("public_key".into()), Value::Null),
            (Value::Text("user_data".into()), Value::Bytes(vec![1, 2, 3])),
            (Value::Text("nonce".into()), Value::Null),
        ]
    }

    fn parse_fields(
        fields: Vec<(Value, Value)>,
    ) -> Result<UnverifiedNitroDocument, AttestationError> {
        UnverifiedNitroDocument::parse(&wrap(encode(&Value::Map(fields))))
    }

    fn set(fields: &mut [(Value, Value)], key: &str, value: Value) {
        for (k, v) in fields.iter_mut() {
            if *k == Value::Text(key.into()) {
                *v = value;
                return;
            }
        }
        panic!("no field {key}");
    }

    #[test]
    fn parses_a_well_formed_document() {
        let doc = parse_fields(good_fields()).expect("parses");
        assert_eq!(doc.payload().module_id(), "i-1-enc2");
        assert_eq!(doc.payload().timestamp_ms(), 1_700_000_000_000);
        assert_eq!(doc.payload().pcrs().len(), 16);
        assert_eq!(doc.payload().user_data(), Some(&[1u8, 2, 3][..]));
        assert_eq!(doc.payload().public_key(), None);
        assert_eq!(doc.payload().nonce(), None);
        assert_eq!(doc.cabundle().len(), 1);
    }

    #[test]
    fn accepts_an_indefinite_length_map_and_unknown_keys() {
        let mut fields = good_fields();
        fields.push((Value::Text("future_field".into()), Value::Bool(true)));
        let mut bytes = vec![0xbf];
        for (k, v) in &fields {
            bytes.extend(encode(k));
            bytes.extend(encode(v));
        }
        bytes.push(0xff);
        let doc = UnverifiedNitroDocument::parse(&wrap(bytes)).expect("indefinite map parses");
        assert_eq!(doc.payload().module_id(), "i-1-enc2");
    }

    #[test]
    fn absent_optional_fields_are_none() {
        let fields: Vec<_> = good_fields()
            .into_iter()
            .filter(|(k, _)| *k != Value::Text("user_data".into()))
            .collect();
        assert_eq!(
            parse_fields(fields).expect("parses").payload().user_data(),
            None
        );
    }

    #[test]
    fn rejects_duplicates_missing_and_wrong_types() {
        let mut dup = good_fields();
        dup.push((Value::Text("nonce".into()), Value::Null));
        assert_eq!(
            parse_fields(dup).expect_err("dup").code(),
            "nitro.payload.duplicate_field"
        );

        let mut dup_unknown = good_fields();
        dup_unknown.push((Value::Text("x".into()), Value::Null));
        dup_unknown.push((Value::Text("x".into()), Value::Null));
        assert_eq!(
            parse_fields(dup_unknown).expect_err("dup").code(),
            "nitro.payload.duplicate_field"
        );

        for field in [
            "module_id",
            "digest",
            "timestamp",
            "pcrs",
            "certificate",
            "cabundle",
        ] {
            let fields: Vec<_> = good_fields()
                .into_iter()
                .filter(|(k, _)| *k != Value::Text(field.into()))
                .collect();
            let e = parse_fields(fields).expect_err("missing");
            assert_eq!(e.code(), "nitro.payload.missing_field", "{field}");
            let mut fields = good_fields();
            set(&mut fields, field, Value::Null);
            let e = parse_fields(fields).expect_err("null");
            assert_eq!(e.code(), "nitro.payload.missing_field", "{field}");
        }

        let mut f = good_fields();
        set(&mut f, "module_id", Value::Bytes(vec![1]));
        assert_eq!(
            parse_fields(f).expect_err("type").code(),
            "nitro.payload.wrong_type"
        );
        let mut f = good_fields();
        set(&mut f, "nonce", Value::Text("n".into()));
        assert_eq!(
            parse_fields(f).expect_err("type").code(),
            "nitro.payload.wrong_type"
        );
        let mut f = good_fields();
        set(&mut f, "timestamp", Value::Integer((-1).into()));
        assert_eq!(
            parse_fields(f).expect_err("neg").code(),
            "nitro.payload.invalid_field"
        );
        let mut f = good_fields();
        set(&mut f, "module_id", Value::Text(String::new()));
        assert_eq!(
            parse_fields(f).expect_err("empty").code(),
            "nitro.payload.invalid_field"
        );
        let mut f = good_fields();
        set(&mut f, "digest", Value::Text("SHA256".into()));
        assert_eq!(
            parse_fields(f).expect_err("digest").code(),
            "nitro.payload.unsupported_digest"
        );
        let mut f = good_fields();
        set(&mut f, "cabundle", Value::Array(vec![]));
        assert_eq!(
            parse_fields(f).expect_err("empty").code(),
            "nitro.payload.invalid_field"
        );
    }

    #[test]
    fn field_size_limits() {
        let mut f = good_fields();
        set(&mut f, "user_data", Value::Bytes(vec![0; 1024]));
        assert!(parse_fields(f).is_ok());
        for field in ["user_data", "nonce", "public_key"] {
            let mut f = good_fields();
            set(&mut f, field, Value::Bytes(vec![0; 1025]));
            assert_eq!(
                parse_fields(f).expect_err("too large").code(),
                "nitro.payload.field_too_large"
            );
        }
        let mut f = good_fields();
        set(&mut f, "certificate", Value::Bytes(vec![0; 1025]));
        assert_eq!(
            parse_fields(f).expect_err("too large").code(),
            "nitro.payload.field_too_large"
        );
    }

    #[test]
    fn pcr_rules() {
        let cases = [
            Value::Map(vec![]),
            Value::Map(vec![(Value::Integer(32.into()), Value::Bytes(vec![0; 48]))]),
            Value::Map(vec![(Value::Integer(0.into()), Value::Bytes(vec![0; 32]))]),
            Value::Map(vec![(Value::Integer(0.into()), Value::Text("0".into()))]),
            Value::Map(vec![
                (Value::Integer(1.into()), Value::Bytes(vec![0; 48])),
                (Value::Integer(1.into()), Value::Bytes(vec![0; 48])),
            ]),
            Value::Array(vec![]),
        ];
        for pcrs in cases {
            let mut f = good_fields();
            set(&mut f, "pcrs", pcrs.clone());
            let e = parse_fields(f).expect_err("bad pcrs");
            assert!(e.code().starts_with("nitro.payload."), "{pcrs:?}: {e}");
        }
    }

    #[test]
    fn rejects_trailing_bytes_and_non_map_payloads() {
        let mut payload = encode(&Value::Map(good_fields()));
        payload.push(0xf6);
        let e = UnverifiedNitroDocument::parse(&wrap(payload)).expect_err("trailing");
        assert_eq!(e.code(), "nitro.payload.trailing_bytes");
        let e = UnverifiedNitroDocument::parse(&wrap(encode(&Value::Array(vec![]))))
            .expect_err("array");
        assert_eq!(e.code(), "nitro.payload.malformed");
        let e = UnverifiedNitroDocument::parse(&wrap(vec![0xbf])).expect_err("unterminated");
        assert_eq!(e.code(), "nitro.payload.malformed");
    }
}
