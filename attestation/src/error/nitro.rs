//! Errors of the AWS Nitro attestation document: the COSE_Sign1 envelope, the payload map and
//! the chain checks that are not plain X.509 (the pinned root, the chain length). X.509 checks
//! of the chain are [`CertError`](super::CertError)s.

const NOT_A_DOCUMENT: &str = "pass the raw COSE_Sign1 bytes the NSM returned (decode base64/hex first); the input is truncated, corrupted or not an attestation document";
const NOT_ES384: &str = "only AWS Nitro documents signed with ES384 are supported; this document was not produced by an NSM";
const ALTERED: &str = "the document was altered after the enclave signed it, or was signed by another key; request fresh evidence and do not trust this one";
const NOT_NSM_FORMAT: &str = "the attestation document does not follow the AWS NSM format; it was not produced by a genuine NSM (or a current mock)";

error_enum! {
    /// Why a Nitro attestation document was not accepted.
    pub enum NitroError {
        /// The input is larger than any real attestation document.
        #[error("attestation document is {len} bytes, more than the {max}-byte limit")]
        DocumentTooLarge {
            /// Length of the input.
            len: usize,
            /// The limit.
            max: usize,
        } => "nitro.cose.too_large", NOT_A_DOCUMENT;
        /// The input is not a well-formed COSE_Sign1 structure.
        #[error("malformed COSE_Sign1: {reason}")]
        CoseMalformed {
            /// What the decoder found.
            reason: String,
        } => "nitro.cose.malformed", NOT_A_DOCUMENT;
        /// The protected header does not name ES384.
        #[error("COSE protected header algorithm is {found}, expected ES384 (-35)")]
        CoseUnsupportedAlgorithm {
            /// The algorithm found (or "none").
            found: String,
        } => "nitro.cose.unsupported_algorithm", NOT_ES384;
        /// The protected header lists critical parameters this verifier does not understand.
        #[error("COSE protected header marks {count} parameter(s) critical; none are supported")]
        CoseCriticalHeader {
            /// Number of critical labels.
            count: usize,
        } => "nitro.cose.critical_header", NOT_ES384;
        /// The COSE signature is not a raw 96-byte `r‖s` ES384 signature.
        #[error("COSE signature is {len} bytes, expected 96 (raw r||s for ES384)")]
        CoseSignatureLength {
            /// Length found.
            len: usize,
        } => "nitro.cose.bad_signature_length", ALTERED;
        /// The COSE signature does not verify under the leaf certificate's key.
        #[error("COSE_Sign1 signature does not verify with the leaf certificate's P-384 key")]
        CoseBadSignature => "nitro.cose.bad_signature", ALTERED;
        /// The payload is not a well-formed CBOR map.
        #[error("malformed attestation document payload: {reason}")]
        PayloadMalformed {
            /// What the decoder found.
            reason: String,
        } => "nitro.payload.malformed", NOT_A_DOCUMENT;
        /// Bytes follow the payload's CBOR map.
        #[error("{count} trailing byte(s) after the payload map")]
        PayloadTrailingBytes {
            /// Number of bytes left over.
            count: usize,
        } => "nitro.payload.trailing_bytes", NOT_A_DOCUMENT;
        /// A mandatory field is absent (or null).
        #[error("attestation document lacks the mandatory field `{field}`")]
        MissingField {
            /// The field name.
            field: &'static str,
        } => "nitro.payload.missing_field", NOT_NSM_FORMAT;
        /// A map key occurs twice.
        #[error("attestation document has the key `{field}` more than once")]
        DuplicateField {
            /// The repeated key.
            field: String,
        } => "nitro.payload.duplicate_field", NOT_NSM_FORMAT;
        /// A field has the wrong CBOR type.
        #[error("field `{field}` is {found}, expected {expected}")]
        WrongType {
            /// The field name.
            field: &'static str,
            /// The CBOR type expected.
            expected: &'static str,
            /// The CBOR type found.
            found: &'static str,
        } => "nitro.payload.wrong_type", NOT_NSM_FORMAT;
        /// A field is longer than the NSM ever produces.
        #[error("field `{field}` is {len} bytes, more than the {max}-byte limit")]
        FieldTooLarge {
            /// The field name.
            field: &'static str,
            /// Its length.
            len: usize,
            /// The limit.
            max: usize,
        } => "nitro.payload.field_too_large", NOT_NSM_FORMAT;
        /// A field has the right type but an impossible value.
        #[error("field `{field}` is invalid: {reason}")]
        InvalidField {
            /// The field name.
            field: &'static str,
            /// What is wrong with it.
            reason: String,
        } => "nitro.payload.invalid_field", NOT_NSM_FORMAT;
        /// The document uses a digest other than SHA384.
        #[error("document digest is {found:?}, only \"SHA384\" is supported")]
        UnsupportedDigest {
            /// The digest name found.
            found: String,
        } => "nitro.payload.unsupported_digest", NOT_NSM_FORMAT;
        /// A PCR entry is malformed.
        #[error("PCR {index}: {reason}")]
        BadPcr {
            /// The PCR index as found (may be out of range).
            index: u64,
            /// What is wrong with it.
            reason: String,
        } => "nitro.payload.bad_pcr", NOT_NSM_FORMAT;
        /// `cabundle[0]` is not byte-equal to any pinned trust anchor.
        #[error("cabundle[0] (SHA-256 {root_sha256}) is not a pinned trust anchor")]
        UntrustedRoot {
            /// Hex SHA-256 of the DER root the document carries.
            root_sha256: String,
        } => "nitro.chain.untrusted_root",
            "the document chains to a root that is not pinned: use real Nitro evidence, or add the mock root (`cloister mock init`) to the verifier for test setups";
        /// More certificates than any real chain has.
        #[error("certificate chain has {len} CA certificates, more than the limit of {max}")]
        ChainTooLong {
            /// Number of cabundle entries.
            len: usize,
            /// The limit.
            max: usize,
        } => "nitro.chain.too_long",
            "the certificate chain in the document is not an AWS Nitro chain; request fresh evidence from the enclave";
    }
}
