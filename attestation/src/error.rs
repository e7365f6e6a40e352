//! The crate's one error type.
//!
//! Every variant names the check that failed and carries the values that were compared (never a
//! secret: measurements, nonces and binding digests are public by design; private keys never
//! appear). [`AttestationError::code`] gives a stable dotted code for logs, metrics and the CLI's
//! JSON output; [`AttestationError::hint`] says what to do about it.
//!
//! Bad input (a malformed, forged, expired or refused document) is kept apart from API misuse (a
//! caller passing arguments that can never be valid, such as a PCR index of 40):
//! [`AttestationError::is_api_misuse`] tells them apart.

use std::fmt;
use std::path::PathBuf;

/// Where a certificate sits in a Nitro chain, as named in errors.
///
/// The chain runs `cabundle[0]` (the root) → `cabundle[1]` → … → `cabundle[n-1]` → leaf
/// (`certificate`), exactly as the attestation document lists it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChainPosition {
    /// `cabundle[i]`; index 0 is the root.
    CaBundle(usize),
    /// The document's `certificate` field: the per-enclave signing certificate.
    Leaf,
}

impl fmt::Display for ChainPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::CaBundle(0) => f.write_str("cabundle[0] (root)"),
            Self::CaBundle(i) => write!(f, "cabundle[{i}]"),
            Self::Leaf => f.write_str("leaf certificate"),
        }
    }
}

/// Why evidence was not accepted, or why an operation on it failed.
///
/// Codes are stable: add variants, never rename a code.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AttestationError {
    // ----- COSE_Sign1 envelope -----------------------------------------------------------------
    /// The input is larger than any real attestation document.
    #[error("attestation document is {len} bytes, more than the {max}-byte limit")]
    DocumentTooLarge {
        /// Length of the input.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The input is not a well-formed COSE_Sign1 structure.
    #[error("malformed COSE_Sign1: {reason}")]
    CoseMalformed {
        /// What the decoder found.
        reason: String,
    },
    /// The protected header does not name ES384.
    #[error("COSE protected header algorithm is {found}, expected ES384 (-35)")]
    CoseUnsupportedAlgorithm {
        /// The algorithm found (or "none").
        found: String,
    },
    /// The protected header lists critical parameters this verifier does not understand.
    #[error("COSE protected header marks {count} parameter(s) critical; none are supported")]
    CoseCriticalHeader {
        /// Number of critical labels.
        count: usize,
    },
    /// The COSE signature is not a raw 96-byte `r‖s` ES384 signature.
    #[error("COSE signature is {len} bytes, expected 96 (raw r||s for ES384)")]
    CoseSignatureLength {
        /// Length found.
        len: usize,
    },
    /// The COSE signature does not verify under the leaf certificate's key.
    #[error("COSE_Sign1 signature does not verify with the leaf certificate's P-384 key")]
    CoseBadSignature,

    // ----- payload (the attestation document map) ----------------------------------------------
    /// The payload is not a well-formed CBOR map.
    #[error("malformed attestation document payload: {reason}")]
    PayloadMalformed {
        /// What the decoder found.
        reason: String,
    },
    /// Bytes follow the payload's CBOR map.
    #[error("{count} trailing byte(s) after the payload map")]
    PayloadTrailingBytes {
        /// Number of bytes left over.
        count: usize,
    },
    /// A mandatory field is absent (or null).
    #[error("attestation document lacks the mandatory field `{field}`")]
    MissingField {
        /// The field name.
        field: &'static str,
    },
    /// A map key occurs twice.
    #[error("attestation document has the key `{field}` more than once")]
    DuplicateField {
        /// The repeated key.
        field: String,
    },
    /// A field has the wrong CBOR type.
    #[error("field `{field}` is {found}, expected {expected}")]
    WrongType {
        /// The field name.
        field: &'static str,
        /// The CBOR type expected.
        expected: &'static str,
        /// The CBOR type found.
        found: &'static str,
    },
    /// A field is longer than the NSM ever produces.
    #[error("field `{field}` is {len} bytes, more than the {max}-byte limit")]
    FieldTooLarge {
        /// The field name.
        field: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A field has the right type but an impossible value.
    #[error("field `{field}` is invalid: {reason}")]
    InvalidField {
        /// The field name.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The document uses a digest other than SHA384.
    #[error("document digest is {found:?}, only \"SHA384\" is supported")]
    UnsupportedDigest {
        /// The digest name found.
        found: String,
    },
    /// A PCR entry is malformed.
    #[error("PCR {index}: {reason}")]
    BadPcr {
        /// The PCR index as found (may be out of range).
        index: u64,
        /// What is wrong with it.
        reason: String,
    },

    // ----- certificate chain --------------------------------------------------------------------
    /// A certificate in the chain does not parse as DER X.509.
    #[error("{position} is not a valid DER X.509 certificate: {reason}")]
    CertificateMalformed {
        /// Which certificate.
        position: ChainPosition,
        /// What the parser found.
        reason: String,
    },
    /// `cabundle[0]` is not byte-equal to any pinned trust anchor.
    #[error("cabundle[0] (SHA-256 {root_sha256}) is not a pinned trust anchor")]
    UntrustedRoot {
        /// Hex SHA-256 of the DER root the document carries.
        root_sha256: String,
    },
    /// A certificate's notAfter is before `now`.
    #[error("{position} expired: notAfter {not_after} < now {now} (epoch seconds)")]
    CertificateExpired {
        /// Which certificate.
        position: ChainPosition,
        /// Its notAfter, epoch seconds.
        not_after: u64,
        /// The verification time, epoch seconds.
        now: u64,
    },
    /// A certificate's notBefore is after `now`.
    #[error("{position} is not yet valid: notBefore {not_before} > now {now} (epoch seconds)")]
    CertificateNotYetValid {
        /// Which certificate.
        position: ChainPosition,
        /// Its notBefore, epoch seconds.
        not_before: u64,
        /// The verification time, epoch seconds.
        now: u64,
    },
    /// A certificate's signature does not verify with its issuer's key.
    #[error("{position}: signature does not verify with the issuer's key")]
    ChainBadSignature {
        /// Which certificate.
        position: ChainPosition,
    },
    /// A certificate's issuer name differs from the subject name of the next certificate up.
    #[error("{position}: issuer `{issuer}` differs from the parent's subject `{parent_subject}`")]
    IssuerMismatch {
        /// Which certificate.
        position: ChainPosition,
        /// Its issuer name.
        issuer: String,
        /// The subject of the certificate above it.
        parent_subject: String,
    },
    /// A certificate that issues others is not marked as a CA.
    #[error("{position} issues certificates but lacks basicConstraints CA=true")]
    NotCa {
        /// Which certificate.
        position: ChainPosition,
    },
    /// A CA's pathLenConstraint is smaller than the number of CAs below it.
    #[error("{position} allows {path_len} intermediate CA(s) below it, the chain has {below}")]
    PathLenExceeded {
        /// Which certificate.
        position: ChainPosition,
        /// Its pathLenConstraint.
        path_len: u8,
        /// Intermediate CAs below it in this chain.
        below: usize,
    },
    /// A certificate's keyUsage lacks the bit its role needs.
    #[error("{position}: keyUsage lacks {missing}")]
    KeyUsage {
        /// Which certificate.
        position: ChainPosition,
        /// The missing usage.
        missing: &'static str,
    },
    /// The leaf certificate is a CA.
    #[error("the leaf certificate has basicConstraints CA=true")]
    LeafIsCa,
    /// A signature or key algorithm this verifier does not implement.
    #[error("{position}: unsupported algorithm {algorithm}")]
    UnsupportedAlgorithm {
        /// Which certificate.
        position: ChainPosition,
        /// The algorithm (OID or description).
        algorithm: String,
    },
    /// A critical extension this verifier does not process (RFC 5280 §4.2: must reject).
    #[error("{position}: unsupported critical extension {oid}")]
    UnsupportedCriticalExtension {
        /// Which certificate.
        position: ChainPosition,
        /// The extension OID.
        oid: String,
    },
    /// More certificates than any real chain has.
    #[error("certificate chain has {len} CA certificates, more than the limit of {max}")]
    ChainTooLong {
        /// Number of cabundle entries.
        len: usize,
        /// The limit.
        max: usize,
    },

    // ----- policy -------------------------------------------------------------------------------
    /// Mock evidence, and the policy does not trust this mock root.
    #[error(
        "mock evidence (root SHA-256 {root_sha256}) is not trusted by this policy (trusted: {trusted})"
    )]
    MockNotTrusted {
        /// SHA-256 of the document's root.
        root_sha256: String,
        /// The policy's trusted mock root, or "none".
        trusted: String,
    },
    /// A debug-mode enclave (PCR0, PCR1, PCR2 all zero) and the policy forbids debug.
    #[error(
        "enclave {module_id} runs in debug mode (PCR0-2 all zero) and the policy forbids debug"
    )]
    DebugForbidden {
        /// The document's module id.
        module_id: String,
    },
    /// A pinned PCR differs.
    #[error("PCR{index} is {found}, policy expects {expected}")]
    PcrMismatch {
        /// PCR index.
        index: u16,
        /// Expected value, hex.
        expected: String,
        /// Value in the document, hex, or "absent".
        found: String,
    },
    /// The document's user_data is not the expected key binding digest.
    #[error("user_data is {found}, expected the key binding {expected}")]
    BindingMismatch {
        /// Expected binding digest, hex.
        expected: String,
        /// user_data in the document, hex, or "absent".
        found: String,
    },
    /// The document's nonce is not the verifier's nonce.
    #[error("nonce is {found}, expected {expected}")]
    NonceMismatch {
        /// Expected nonce, hex.
        expected: String,
        /// Nonce in the document, hex, or "absent".
        found: String,
    },
    /// The document is older than the policy's maximum age.
    #[error("document is {age_secs} s old, policy allows at most {max_age_secs} s")]
    TooOld {
        /// Age in seconds (rounded down).
        age_secs: u64,
        /// The policy's bound.
        max_age_secs: u64,
    },
    /// The document's timestamp is further in the future than the allowed clock skew.
    #[error(
        "document timestamp {timestamp_ms} ms is more than {skew_secs} s after now ({now_secs} s)"
    )]
    TimestampInFuture {
        /// The document's timestamp, epoch milliseconds.
        timestamp_ms: u64,
        /// The appraisal time, epoch seconds.
        now_secs: u64,
        /// The tolerated skew.
        skew_secs: u64,
    },
    /// A policy file is not valid.
    #[error("invalid policy: {reason}")]
    PolicyInvalid {
        /// What is wrong.
        reason: String,
    },
    /// The SEV-SNP policy requires a CRL check and the evidence came without AMD's CRL.
    #[error("the policy requires AMD's CRL and the report was verified without one")]
    SnpCrlRequired,
    /// The evidence verified as another platform than the one it was offered as (a real
    /// Nitro document offered as mock, or the reverse).
    #[error("evidence offered as {claimed} verifies as {verified}")]
    EvidencePlatformMismatch {
        /// What the bundle said.
        claimed: crate::Platform,
        /// What the root of the evidence says.
        verified: crate::Platform,
    },
    /// Evidence without collateral its platform needs.
    #[error("{platform} evidence needs {what}, and none was sent")]
    EvidenceCollateralMissing {
        /// The platform.
        platform: crate::Platform,
        /// What is missing.
        what: &'static str,
    },
    /// More collateral items than the platform takes.
    #[error("{platform} evidence takes at most {max} collateral item(s), {count} were sent")]
    EvidenceCollateralUnexpected {
        /// The platform.
        platform: crate::Platform,
        /// Items sent.
        count: usize,
        /// Items the platform takes.
        max: usize,
    },
    /// The evidence comes from a platform the trust policy does not list. What the bundle or
    /// the host says about the platform never widens what the policy accepts.
    #[error("{platform} evidence is not accepted: the trust policy lists {allowed}")]
    PlatformNotAllowed {
        /// The platform of the evidence (as verified, or as claimed when refused before).
        platform: crate::Platform,
        /// The platforms the policy lists, or "no platform".
        allowed: String,
    },
    /// A platform policy pins no workload and does not say `dangerous_any_workload`.
    #[error(
        "the {platform} policy pins no workload ({required}); it would accept any genuine enclave"
    )]
    NoWorkloadPinned {
        /// The platform whose entry is empty.
        platform: crate::Platform,
        /// What a pin for this platform must name.
        required: &'static str,
    },
    /// The trust policy pins model digests and this model is not among them.
    #[error("model {model_id:?} is not pinned by the trust policy (pinned: {pinned})")]
    ModelNotPinned {
        /// The model the caller asked for.
        model_id: String,
        /// The pinned model ids.
        pinned: String,
    },
    /// The enclave serves a model whose digest differs from the trust policy's pin, or does not
    /// say that it serves the model at all.
    #[error("model {model_id:?} has digest {found}, the trust policy pins {expected}")]
    ModelDigestMismatch {
        /// The model.
        model_id: String,
        /// The pinned SHA-384, hex.
        expected: String,
        /// What the enclave signed, hex, or "absent".
        found: String,
    },

    // ----- mock platform ------------------------------------------------------------------------
    /// Reading or writing a mock CA file failed.
    #[error("mock CA file {path}: {source}")]
    MockIo {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A mock CA directory lacks one of its files.
    #[error(
        "mock CA file {path} does not exist; run `cloister mock init DIR` to create the mock CA"
    )]
    MockMissingFile {
        /// The missing file.
        path: PathBuf,
    },
    /// A mock CA file does not hold what it should.
    #[error("mock CA file {path} is invalid: {reason}")]
    MockInvalidFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Generating a key or certificate for the mock platform failed.
    #[error("mock platform: {what} failed: {reason}")]
    MockCrypto {
        /// The operation.
        what: &'static str,
        /// The library's message.
        reason: String,
    },

    // ----- SEV-SNP ------------------------------------------------------------------------------
    /// The report is not 1184 bytes.
    #[error("SEV-SNP report is {len} bytes, expected {expected}")]
    SnpReportLength {
        /// Length of the input.
        len: usize,
        /// The only valid length.
        expected: usize,
    },
    /// A report version other than 2 to 5.
    #[error("SEV-SNP report version {version} is not supported (2 to 5 are)")]
    SnpUnsupportedVersion {
        /// The version found.
        version: u32,
    },
    /// SIGNATURE_ALGO is not ECDSA P-384 with SHA-384 (1).
    #[error("SEV-SNP report signature algorithm {algo}, expected 1 (ECDSA P-384 with SHA-384)")]
    SnpUnsupportedSignatureAlgorithm {
        /// The value found.
        algo: u32,
    },
    /// A reserved field or bit is not as the ABI requires.
    #[error(
        "SEV-SNP report: reserved field {field} at offset {offset:#x} is not as the ABI requires (zero; POLICY bit 17 one)"
    )]
    SnpReservedField {
        /// The field.
        field: &'static str,
        /// Byte offset in the report.
        offset: usize,
    },
    /// A report field holds an impossible value.
    #[error("SEV-SNP report field {field} is invalid: {reason}")]
    SnpInvalidField {
        /// The field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The report signature does not verify with the VCEK/VLEK.
    #[error("SEV-SNP report signature does not verify with the VCEK/VLEK's P-384 key")]
    SnpBadSignature,
    /// A certificate does not parse.
    #[error("{cert} is not a valid certificate: {reason}")]
    SnpCertMalformed {
        /// Which certificate.
        cert: crate::snp::SnpCert,
        /// What the parser found.
        reason: String,
    },
    /// A certificate's name is not the one its role requires.
    #[error("{cert}: expected {expected}, found {found:?}")]
    SnpCertName {
        /// Which certificate.
        cert: crate::snp::SnpCert,
        /// What was required.
        expected: String,
        /// What was found.
        found: String,
    },
    /// A certificate's signature does not verify with its issuer's key.
    #[error("{cert}: signature does not verify with the issuer's RSA key (RSASSA-PSS SHA-384)")]
    SnpCertBadSignature {
        /// Which certificate.
        cert: crate::snp::SnpCert,
    },
    /// A certificate's notAfter is before `now`.
    #[error("{cert} expired: notAfter {not_after} < now {now} (epoch seconds)")]
    SnpCertExpired {
        /// Which certificate.
        cert: crate::snp::SnpCert,
        /// notAfter, epoch seconds.
        not_after: u64,
        /// The verification time.
        now: u64,
    },
    /// A certificate's notBefore is after `now`.
    #[error("{cert} is not yet valid: notBefore {not_before} > now {now} (epoch seconds)")]
    SnpCertNotYetValid {
        /// Which certificate.
        cert: crate::snp::SnpCert,
        /// notBefore, epoch seconds.
        not_before: u64,
        /// The verification time.
        now: u64,
    },
    /// An algorithm, key type or critical extension this verifier does not accept.
    #[error("{cert}: unsupported {algorithm}")]
    SnpUnsupportedAlgorithm {
        /// Which certificate.
        cert: crate::snp::SnpCert,
        /// What was found.
        algorithm: String,
    },
    /// An AMD VCEK/VLEK extension is malformed, repeated or missing.
    #[error("VCEK/VLEK extension {oid}: {reason}")]
    SnpCertExtension {
        /// The extension OID.
        oid: String,
        /// What is wrong.
        reason: String,
    },
    /// The chain ends in an ARK that is not pinned.
    #[error("the chain's ARK (SHA-256 {sha256}) is not a pinned AMD ARK")]
    SnpUntrustedArk {
        /// SHA-256 of the DER ARK.
        sha256: String,
    },
    /// A certificate the chain needs is not available.
    #[error("the AMD chain lacks {missing}")]
    SnpChainIncomplete {
        /// What is missing.
        missing: String,
    },
    /// The product cannot be determined.
    #[error("cannot tell the AMD product: {reason}")]
    SnpProductUnknown {
        /// Why.
        reason: String,
    },
    /// The report, the caller and the chain disagree about the product.
    #[error("product {expected} expected, but found {found}")]
    SnpProductMismatch {
        /// The product the report or caller names.
        expected: &'static str,
        /// What disagrees.
        found: String,
    },
    /// The report names one signing key (KEY_INFO) and the certificate is the other kind.
    #[error("the report says it is signed by the {report}, but the certificate is a {cert}")]
    SnpSignerMismatch {
        /// vcek or vlek, from the report.
        report: &'static str,
        /// vcek or vlek, from the certificate's CN.
        cert: &'static str,
    },
    /// The certificate's TCB extension differs from REPORTED_TCB.
    #[error("REPORTED_TCB {component} is {report}, the VCEK/VLEK certifies {cert}")]
    SnpTcbMismatch {
        /// The component.
        component: &'static str,
        /// Value in the report.
        report: u8,
        /// Value in the certificate.
        cert: u8,
    },
    /// The VCEK's hwID differs from the report's CHIP_ID.
    #[error("CHIP_ID {report} differs from the VCEK's hwID {cert}")]
    SnpChipIdMismatch {
        /// CHIP_ID, hex.
        report: String,
        /// hwID, hex.
        cert: String,
    },
    /// A CRL does not parse.
    #[error("CRL is malformed: {reason}")]
    SnpCrlMalformed {
        /// What the parser found.
        reason: String,
    },
    /// A CRL is not signed by the chain's ARK.
    #[error("CRL is not signed by the chain's ARK: {reason}")]
    SnpCrlBadSignature {
        /// Why.
        reason: String,
    },
    /// A CRL is not current at `now`.
    #[error("CRL is not current: {reason}")]
    SnpCrlOutdated {
        /// Why.
        reason: String,
    },
    /// A certificate of the chain is revoked.
    #[error("{cert} serial {serial} is revoked by the CRL")]
    SnpRevoked {
        /// Which certificate.
        cert: crate::snp::SnpCert,
        /// Its serial, hex.
        serial: String,
    },
    /// The guest policy allows debugging and the appraisal policy forbids it.
    #[error("SEV-SNP guest POLICY {policy} allows debugging and the policy forbids debug")]
    SnpDebugForbidden {
        /// Guest POLICY, hex.
        policy: String,
    },
    /// A guest POLICY bit the appraisal policy refuses.
    #[error("SEV-SNP guest POLICY {policy} sets {bit}, which the policy refuses")]
    SnpPolicyBit {
        /// The bit.
        bit: &'static str,
        /// Guest POLICY, hex.
        policy: String,
    },
    /// The report's VMPL is not allowed.
    #[error("report VMPL {vmpl} is not in the allowed set {allowed}")]
    SnpVmplNotAllowed {
        /// VMPL found.
        vmpl: u32,
        /// The allowed VMPLs.
        allowed: String,
    },
    /// A pinned report field differs.
    #[error("{field} is {found}, policy expects {expected}")]
    SnpFieldMismatch {
        /// The field.
        field: &'static str,
        /// Expected value.
        expected: String,
        /// Value in the report.
        found: String,
    },
    /// REPORTED_TCB is below the policy's minimum.
    #[error("REPORTED_TCB {component} is {found}, policy requires at least {minimum}")]
    SnpTcbBelowMinimum {
        /// The component.
        component: &'static str,
        /// The policy's minimum.
        minimum: u8,
        /// Value in the report.
        found: u8,
    },
    /// The chip is not on the policy's allowlist.
    #[error("CHIP_ID {chip_id} is not on the policy's allowlist")]
    SnpChipNotAllowed {
        /// CHIP_ID, hex.
        chip_id: String,
    },

    // ----- Intel TDX ----------------------------------------------------------------------------
    /// The quote ends before a field.
    #[error("TDX quote truncated: {what} needs {needed} bytes, {available} left")]
    TdxQuoteTruncated {
        /// What was being read.
        what: &'static str,
        /// Bytes needed.
        needed: usize,
        /// Bytes left.
        available: usize,
    },
    /// A quote version other than 4 or 5.
    #[error("DCAP quote version {version} is not supported (TDX quotes are version 4 or 5)")]
    TdxUnsupportedVersion {
        /// Version found.
        version: u16,
    },
    /// A TEE type other than TDX (0x81).
    #[error("quote TEE type {tee_type:#x} is not TDX (0x81)")]
    TdxUnsupportedTeeType {
        /// TEE type found.
        tee_type: u32,
    },
    /// An attestation key type other than ECDSA-256-with-P-256 (2).
    #[error("attestation key type {key_type} is not supported (only 2, ECDSA P-256)")]
    TdxUnsupportedKeyType {
        /// Key type found.
        key_type: u16,
    },
    /// A v5 body type other than TD 1.0 (2) or TD 1.5 (3).
    #[error("quote body type {body_type} is not a TD report (2 = TD 1.0, 3 = TD 1.5)")]
    TdxUnsupportedBodyType {
        /// Body type found.
        body_type: u16,
    },
    /// A field of the quote has an invalid value or the nested lengths do not add up.
    #[error("TDX quote field {field}: {reason}")]
    TdxInvalidField {
        /// The field.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// The quote signature does not verify with the attestation key.
    #[error("the quote signature does not verify with the attestation key")]
    TdxBadQuoteSignature,
    /// The QE report signature does not verify with the PCK.
    #[error("the QE report signature does not verify with the PCK certificate's key")]
    TdxBadQeReportSignature,
    /// The QE report does not bind the attestation key.
    #[error(
        "QE report REPORTDATA {found} is not SHA-256(attestation key ‖ QE auth data) ‖ 0^32 = {expected}"
    )]
    TdxQeBindingMismatch {
        /// Expected REPORTDATA, hex.
        expected: String,
        /// REPORTDATA found, hex.
        found: String,
    },
    /// A certificate does not parse or is not what its position requires.
    #[error("{cert}: {reason}")]
    TdxCertMalformed {
        /// Which certificate.
        cert: crate::tdx::TdxCert,
        /// Why.
        reason: String,
    },
    /// A certificate's name does not fit its position.
    #[error("{cert}: expected {expected}, found {found}")]
    TdxCertName {
        /// Which certificate.
        cert: crate::tdx::TdxCert,
        /// What was expected.
        expected: String,
        /// What was found.
        found: String,
    },
    /// A certificate's signature does not verify with its issuer's key.
    #[error("{cert}: signature does not verify with the issuer's key")]
    TdxCertBadSignature {
        /// Which certificate.
        cert: crate::tdx::TdxCert,
    },
    /// A certificate expired before the verification time.
    #[error("{cert} expired at {not_after}, verification time {now}")]
    TdxCertExpired {
        /// Which certificate.
        cert: crate::tdx::TdxCert,
        /// notAfter, epoch seconds.
        not_after: u64,
        /// The verification time.
        now: u64,
    },
    /// A certificate is not yet valid at the verification time.
    #[error("{cert} is valid from {not_before}, verification time {now}")]
    TdxCertNotYetValid {
        /// Which certificate.
        cert: crate::tdx::TdxCert,
        /// notBefore, epoch seconds.
        not_before: u64,
        /// The verification time.
        now: u64,
    },
    /// A chain carries a self-signed certificate that is not the pinned root.
    #[error("{position} is a root with SHA-256 {sha256}, not the pinned Intel SGX Root CA")]
    TdxUntrustedRoot {
        /// SHA-256 of its DER, hex.
        sha256: String,
        /// Where it sits.
        position: crate::tdx::TdxCert,
    },
    /// A chain lacks a certificate.
    #[error("certificate chain incomplete: missing {missing}")]
    TdxChainIncomplete {
        /// What is missing.
        missing: String,
    },
    /// The PCK certificate's SGX extension is missing or malformed.
    #[error("PCK certificate SGX extension: {reason}")]
    TdxPckExtension {
        /// Why.
        reason: String,
    },
    /// A certificate is revoked.
    #[error("{cert} serial {serial} is revoked by the {crl}")]
    TdxRevoked {
        /// Which certificate.
        cert: crate::tdx::TdxCert,
        /// Which CRL.
        crl: &'static str,
        /// Its serial, hex.
        serial: String,
    },
    /// A CRL does not parse.
    #[error("{crl}: {reason}")]
    TdxCrlMalformed {
        /// Which CRL.
        crl: &'static str,
        /// Why.
        reason: String,
    },
    /// A CRL is not signed by its issuer.
    #[error("{crl}: {reason}")]
    TdxCrlBadSignature {
        /// Which CRL.
        crl: &'static str,
        /// Why.
        reason: String,
    },
    /// A CRL is not current.
    #[error("{crl} is not current: {reason}")]
    TdxCrlOutdated {
        /// Which CRL.
        crl: &'static str,
        /// Why.
        reason: String,
    },
    /// The collateral document does not parse.
    #[error("collateral {field}: {reason}")]
    TdxCollateralMalformed {
        /// The field.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// TCB Info or QE Identity signature does not verify.
    #[error("the {which} signature does not verify with the TCB Signing certificate")]
    TdxCollateralBadSignature {
        /// `TCB Info` or `QE Identity`.
        which: &'static str,
    },
    /// TCB Info or QE Identity is outside its issueDate..nextUpdate window.
    #[error("{which} is not current: {reason}")]
    TdxCollateralOutdated {
        /// `TCB Info` or `QE Identity`.
        which: &'static str,
        /// Why.
        reason: String,
    },
    /// The collateral is for another platform than the quote.
    #[error("collateral {field} is {collateral}, the quote's is {quote}")]
    TdxCollateralMismatch {
        /// The field compared.
        field: &'static str,
        /// The quote's value.
        quote: String,
        /// The collateral's value.
        collateral: String,
    },
    /// The QE report does not match the QE Identity.
    #[error("QE report {field} is {found}, QE Identity expects {expected}")]
    TdxQeIdentityMismatch {
        /// The field.
        field: &'static str,
        /// Expected.
        expected: String,
        /// Found.
        found: String,
    },
    /// No TCB level matches (Intel: STATUS_TCB_NOT_SUPPORTED).
    #[error("no matching TCB level: {reason}")]
    TdxTcbNotSupported {
        /// Why, with the values compared.
        reason: String,
    },
    /// The TDX module does not match the TCB Info's module identity.
    #[error("TDX module mismatch: {reason}")]
    TdxModuleMismatch {
        /// Why.
        reason: String,
    },
    /// A debug TD and the policy forbids debug.
    #[error("TD_ATTRIBUTES {attributes} has DEBUG set and the policy forbids debug TDs")]
    TdxDebugForbidden {
        /// TD_ATTRIBUTES, hex.
        attributes: String,
    },
    /// A TD attribute the policy refuses (SEPT_VE_DISABLE unset, reserved bits).
    #[error("TD_ATTRIBUTES {attributes}: {attribute}, which the policy refuses")]
    TdxAttribute {
        /// The attribute.
        attribute: &'static str,
        /// TD_ATTRIBUTES, hex.
        attributes: String,
    },
    /// A pinned measurement differs.
    #[error("{field} is {found}, policy expects {expected}")]
    TdxFieldMismatch {
        /// The field.
        field: &'static str,
        /// Expected value.
        expected: String,
        /// Value in the quote.
        found: String,
    },
    /// The quote was verified without collateral and the policy requires a known TCB status.
    #[error("TCB status unknown: the quote was verified without collateral")]
    TdxTcbUnknown,
    /// The TCB status is not among the accepted ones.
    #[error(
        "TCB status {status} (tcbDate {tcb_date}, advisories [{advisory_ids}]) is not accepted ({accepted}); {needed}"
    )]
    TdxTcbStatusNotAccepted {
        /// The status.
        status: crate::tdx::TcbStatus,
        /// The matched level's date.
        tcb_date: String,
        /// Advisory IDs.
        advisory_ids: String,
        /// The accepted statuses.
        accepted: String,
        /// What the platform lacks for the first acceptable level.
        needed: String,
    },
    /// The collateral is older than the policy allows.
    #[error("collateral issued {age_secs} s before the appraisal time, policy allows {max_secs} s")]
    TdxCollateralTooOld {
        /// Age.
        age_secs: u64,
        /// Maximum.
        max_secs: u64,
    },

    // ----- API misuse ---------------------------------------------------------------------------
    /// The caller passed an argument that can never be valid (a bug in the caller, not bad
    /// evidence).
    #[error("API misuse: {what}")]
    ApiMisuse {
        /// What was wrong with the call.
        what: String,
    },
}

impl AttestationError {
    /// A stable dotted code naming the failed check, for logs, metrics and JSON output.
    ///
    /// ```
    /// use cloister_attestation::AttestationError;
    /// assert_eq!(AttestationError::CoseBadSignature.code(), "nitro.cose.bad_signature");
    /// ```
    pub fn code(&self) -> &'static str {
        match self {
            Self::DocumentTooLarge { .. } => "nitro.cose.too_large",
            Self::CoseMalformed { .. } => "nitro.cose.malformed",
            Self::CoseUnsupportedAlgorithm { .. } => "nitro.cose.unsupported_algorithm",
            Self::CoseCriticalHeader { .. } => "nitro.cose.critical_header",
            Self::CoseSignatureLength { .. } => "nitro.cose.bad_signature_length",
            Self::CoseBadSignature => "nitro.cose.bad_signature",
            Self::PayloadMalformed { .. } => "nitro.payload.malformed",
            Self::PayloadTrailingBytes { .. } => "nitro.payload.trailing_bytes",
            Self::MissingField { .. } => "nitro.payload.missing_field",
            Self::DuplicateField { .. } => "nitro.payload.duplicate_field",
            Self::WrongType { .. } => "nitro.payload.wrong_type",
            Self::FieldTooLarge { .. } => "nitro.payload.field_too_large",
            Self::InvalidField { .. } => "nitro.payload.invalid_field",
            Self::UnsupportedDigest { .. } => "nitro.payload.unsupported_digest",
            Self::BadPcr { .. } => "nitro.payload.bad_pcr",
            Self::CertificateMalformed { .. } => "nitro.chain.malformed_certificate",
            Self::UntrustedRoot { .. } => "nitro.chain.untrusted_root",
            Self::CertificateExpired { .. } => "nitro.chain.expired",
            Self::CertificateNotYetValid { .. } => "nitro.chain.not_yet_valid",
            Self::ChainBadSignature { .. } => "nitro.chain.bad_signature",
            Self::IssuerMismatch { .. } => "nitro.chain.issuer_mismatch",
            Self::NotCa { .. } => "nitro.chain.not_ca",
            Self::PathLenExceeded { .. } => "nitro.chain.path_len_exceeded",
            Self::KeyUsage { .. } => "nitro.chain.key_usage",
            Self::LeafIsCa => "nitro.chain.leaf_is_ca",
            Self::UnsupportedAlgorithm { .. } => "nitro.chain.unsupported_algorithm",
            Self::UnsupportedCriticalExtension { .. } => {
                "nitro.chain.unsupported_critical_extension"
            }
            Self::ChainTooLong { .. } => "nitro.chain.too_long",
            Self::MockNotTrusted { .. } => "policy.mock_not_trusted",
            Self::DebugForbidden { .. } => "policy.debug_forbidden",
            Self::PcrMismatch { .. } => "policy.pcr_mismatch",
            Self::BindingMismatch { .. } => "policy.binding_mismatch",
            Self::NonceMismatch { .. } => "policy.nonce_mismatch",
            Self::TooOld { .. } => "policy.too_old",
            Self::TimestampInFuture { .. } => "policy.timestamp_in_future",
            Self::PolicyInvalid { .. } => "policy.invalid",
            Self::PlatformNotAllowed { .. } => "policy.platform_not_allowed",
            Self::EvidencePlatformMismatch { .. } => "evidence.platform_mismatch",
            Self::SnpCrlRequired => "policy.snp.crl_required",
            Self::EvidenceCollateralMissing { .. } => "evidence.collateral_missing",
            Self::EvidenceCollateralUnexpected { .. } => "evidence.collateral_unexpected",
            Self::NoWorkloadPinned { .. } => "policy.no_workload_pinned",
            Self::ModelNotPinned { .. } => "policy.model_not_pinned",
            Self::ModelDigestMismatch { .. } => "policy.model_digest_mismatch",
            Self::MockIo { .. } => "mock.io",
            Self::MockMissingFile { .. } => "mock.missing_file",
            Self::MockInvalidFile { .. } => "mock.invalid_file",
            Self::MockCrypto { .. } => "mock.crypto",
            Self::SnpReportLength { .. } => "snp.report.length",
            Self::SnpUnsupportedVersion { .. } => "snp.report.unsupported_version",
            Self::SnpUnsupportedSignatureAlgorithm { .. } => {
                "snp.report.unsupported_signature_algorithm"
            }
            Self::SnpReservedField { .. } => "snp.report.reserved_field",
            Self::SnpInvalidField { .. } => "snp.report.invalid_field",
            Self::SnpBadSignature => "snp.report.bad_signature",
            Self::SnpCertMalformed { .. } => "snp.cert.malformed",
            Self::SnpCertName { .. } => "snp.cert.name",
            Self::SnpCertBadSignature { .. } => "snp.cert.bad_signature",
            Self::SnpCertExpired { .. } => "snp.cert.expired",
            Self::SnpCertNotYetValid { .. } => "snp.cert.not_yet_valid",
            Self::SnpUnsupportedAlgorithm { .. } => "snp.cert.unsupported_algorithm",
            Self::SnpCertExtension { .. } => "snp.cert.bad_extension",
            Self::SnpUntrustedArk { .. } => "snp.chain.untrusted_ark",
            Self::SnpChainIncomplete { .. } => "snp.chain.incomplete",
            Self::SnpProductUnknown { .. } => "snp.chain.product_unknown",
            Self::SnpProductMismatch { .. } => "snp.chain.product_mismatch",
            Self::SnpSignerMismatch { .. } => "snp.binding.signer_mismatch",
            Self::SnpTcbMismatch { .. } => "snp.binding.tcb_mismatch",
            Self::SnpChipIdMismatch { .. } => "snp.binding.chip_id_mismatch",
            Self::SnpCrlMalformed { .. } => "snp.crl.malformed",
            Self::SnpCrlBadSignature { .. } => "snp.crl.bad_signature",
            Self::SnpCrlOutdated { .. } => "snp.crl.outdated",
            Self::SnpRevoked { .. } => "snp.crl.revoked",
            Self::SnpDebugForbidden { .. } => "policy.snp.debug_forbidden",
            Self::SnpPolicyBit { .. } => "policy.snp.policy_bit",
            Self::SnpVmplNotAllowed { .. } => "policy.snp.vmpl_not_allowed",
            Self::SnpFieldMismatch { .. } => "policy.snp.field_mismatch",
            Self::SnpTcbBelowMinimum { .. } => "policy.snp.tcb_below_minimum",
            Self::SnpChipNotAllowed { .. } => "policy.snp.chip_not_allowed",
            Self::TdxQuoteTruncated { .. } => "tdx.quote.truncated",
            Self::TdxUnsupportedVersion { .. } => "tdx.quote.unsupported_version",
            Self::TdxUnsupportedTeeType { .. } => "tdx.quote.unsupported_tee_type",
            Self::TdxUnsupportedKeyType { .. } => "tdx.quote.unsupported_key_type",
            Self::TdxUnsupportedBodyType { .. } => "tdx.quote.unsupported_body_type",
            Self::TdxInvalidField { .. } => "tdx.quote.invalid_field",
            Self::TdxBadQuoteSignature => "tdx.quote.bad_signature",
            Self::TdxBadQeReportSignature => "tdx.qe_report.bad_signature",
            Self::TdxQeBindingMismatch { .. } => "tdx.qe_report.binding_mismatch",
            Self::TdxCertMalformed { .. } => "tdx.cert.malformed",
            Self::TdxCertName { .. } => "tdx.cert.name",
            Self::TdxCertBadSignature { .. } => "tdx.cert.bad_signature",
            Self::TdxCertExpired { .. } => "tdx.cert.expired",
            Self::TdxCertNotYetValid { .. } => "tdx.cert.not_yet_valid",
            Self::TdxUntrustedRoot { .. } => "tdx.chain.untrusted_root",
            Self::TdxChainIncomplete { .. } => "tdx.chain.incomplete",
            Self::TdxPckExtension { .. } => "tdx.cert.bad_extension",
            Self::TdxRevoked { .. } => "tdx.crl.revoked",
            Self::TdxCrlMalformed { .. } => "tdx.crl.malformed",
            Self::TdxCrlBadSignature { .. } => "tdx.crl.bad_signature",
            Self::TdxCrlOutdated { .. } => "tdx.crl.outdated",
            Self::TdxCollateralMalformed { .. } => "tdx.collateral.malformed",
            Self::TdxCollateralBadSignature { .. } => "tdx.collateral.bad_signature",
            Self::TdxCollateralOutdated { .. } => "tdx.collateral.outdated",
            Self::TdxCollateralMismatch { .. } => "tdx.collateral.mismatch",
            Self::TdxQeIdentityMismatch { .. } => "tdx.qe_identity.mismatch",
            Self::TdxTcbNotSupported { .. } => "tdx.tcb.no_matching_level",
            Self::TdxModuleMismatch { .. } => "tdx.tcb.module_mismatch",
            Self::TdxDebugForbidden { .. } => "policy.tdx.debug_forbidden",
            Self::TdxAttribute { .. } => "policy.tdx.attribute",
            Self::TdxFieldMismatch { .. } => "policy.tdx.field_mismatch",
            Self::TdxTcbUnknown => "policy.tdx.tcb_unknown",
            Self::TdxTcbStatusNotAccepted { .. } => "policy.tdx.tcb_status",
            Self::TdxCollateralTooOld { .. } => "policy.tdx.collateral_too_old",
            Self::ApiMisuse { .. } => "api.misuse",
        }
    }

    /// What an operator or developer should do about this error.
    pub fn hint(&self) -> &'static str {
        match self {
            Self::DocumentTooLarge { .. }
            | Self::CoseMalformed { .. }
            | Self::PayloadMalformed { .. }
            | Self::PayloadTrailingBytes { .. } => {
                "pass the raw COSE_Sign1 bytes the NSM returned (decode base64/hex first); the input is truncated, corrupted or not an attestation document"
            }
            Self::CoseUnsupportedAlgorithm { .. } | Self::CoseCriticalHeader { .. } => {
                "only AWS Nitro documents signed with ES384 are supported; this document was not produced by an NSM"
            }
            Self::CoseSignatureLength { .. } | Self::CoseBadSignature => {
                "the document was altered after the enclave signed it, or was signed by another key; request fresh evidence and do not trust this one"
            }
            Self::MissingField { .. }
            | Self::DuplicateField { .. }
            | Self::WrongType { .. }
            | Self::FieldTooLarge { .. }
            | Self::InvalidField { .. }
            | Self::UnsupportedDigest { .. }
            | Self::BadPcr { .. } => {
                "the attestation document does not follow the AWS NSM format; it was not produced by a genuine NSM (or a current mock)"
            }
            Self::CertificateMalformed { .. }
            | Self::UnsupportedAlgorithm { .. }
            | Self::UnsupportedCriticalExtension { .. }
            | Self::ChainTooLong { .. } => {
                "the certificate chain in the document is not an AWS Nitro chain; request fresh evidence from the enclave"
            }
            Self::UntrustedRoot { .. } => {
                "the document chains to a root that is not pinned: use real Nitro evidence, or add the mock root (`cloister mock init`) to the verifier for test setups"
            }
            Self::CertificateExpired { .. } | Self::CertificateNotYetValid { .. } => {
                "Nitro certificates live about 3 hours: request fresh evidence, check this machine's clock, or verify stored evidence at the time it was produced"
            }
            Self::ChainBadSignature { .. }
            | Self::IssuerMismatch { .. }
            | Self::NotCa { .. }
            | Self::PathLenExceeded { .. }
            | Self::KeyUsage { .. }
            | Self::LeafIsCa => {
                "the certificate chain is forged or reordered; do not trust this evidence"
            }
            Self::MockNotTrusted { .. } => {
                "this is mock evidence: to accept it in a test setup, list a mock entry with the mock CA's root SHA-256 in the trust policy (`cloister mock init` writes one); never in production"
            }
            Self::DebugForbidden { .. } => {
                "run the enclave without --debug-mode, or set dangerous_allow_debug in a policy used only for development"
            }
            Self::PcrMismatch { .. } => {
                "the enclave runs a different image than the policy pins: rebuild the image reproducibly or update the policy's PCR values from `cloister eif describe`"
            }
            Self::BindingMismatch { .. } | Self::NonceMismatch { .. } => {
                "the evidence is not bound to these keys and this nonce: it may be replayed; request new evidence with a fresh nonce"
            }
            Self::TooOld { .. } | Self::TimestampInFuture { .. } => {
                "request fresh evidence, or check the clocks of this machine and the enclave host"
            }
            Self::PolicyInvalid { .. } => {
                "fix the policy file (see the attestation crate's README for its form); `cloister eif describe --policy` writes a Nitro entry"
            }
            Self::SnpCrlRequired => {
                "have the host attach AMD's CRL for the product (KDS .../crl) to the evidence bundle"
            }
            Self::EvidencePlatformMismatch { .. } => {
                "the host labelled the evidence with another platform than the one it comes from: do not trust this host's answer"
            }
            Self::EvidenceCollateralMissing { .. } => {
                "SEV-SNP evidence travels with its VCEK/VLEK: start the enclave with --snp-vcek, or pass --vcek"
            }
            Self::EvidenceCollateralUnexpected { .. } => {
                "the bundle carries collateral its platform does not use: the host added it; do not trust this answer"
            }
            Self::PlatformNotAllowed { .. } => {
                "the enclave runs on a platform your trust policy does not list: do not send it input; add an entry for that platform only if you meant to trust it"
            }
            Self::NoWorkloadPinned { .. } => {
                "pin the enclave image's measurements (Nitro: PCR0 from `cloister eif describe --policy`; SEV-SNP: MEASUREMENT; TDX: MRTD and RTMR0-2), or say \"dangerous_any_workload\": true for a test setup"
            }
            Self::ModelNotPinned { .. } | Self::ModelDigestMismatch { .. } => {
                "the enclave does not serve the model your policy pins: do not send it input; update the policy's models only for a model you have reviewed"
            }
            Self::MockIo { .. } => "check the path and its permissions",
            Self::MockMissingFile { .. } => "run `cloister mock init DIR` to create the mock CA",
            Self::MockInvalidFile { .. } => {
                "recreate the mock CA with `cloister mock init DIR` (the files were edited or truncated)"
            }
            Self::MockCrypto { .. } => "this is a bug or a broken crypto library; report it",
            Self::SnpReportLength { .. }
            | Self::SnpUnsupportedVersion { .. }
            | Self::SnpUnsupportedSignatureAlgorithm { .. }
            | Self::SnpReservedField { .. }
            | Self::SnpInvalidField { .. } => {
                "pass the 1184-byte ATTESTATION_REPORT (raw, hex or base64) as the firmware returned it; this input is truncated, altered or not an SEV-SNP report"
            }
            Self::SnpBadSignature => {
                "the report was altered, or the VCEK/VLEK is not the one of the chip and TCB that signed it: fetch the VCEK for this report's CHIP_ID and REPORTED_TCB from AMD KDS"
            }
            Self::SnpCertMalformed { .. }
            | Self::SnpCertName { .. }
            | Self::SnpUnsupportedAlgorithm { .. }
            | Self::SnpCertExtension { .. } => {
                "pass the VCEK/VLEK (DER or PEM) and, with --chain, the ASK/ASVK and ARK PEMs AMD KDS serves"
            }
            Self::SnpCertBadSignature { .. } | Self::SnpUntrustedArk { .. } => {
                "the certificate chain is forged or mixed up; use AMD's certificates (KDS cert_chain) and do not trust this evidence"
            }
            Self::SnpCertExpired { .. } | Self::SnpCertNotYetValid { .. } => {
                "VCEKs live 7 years and VLEKs about 1: verify at the time the report was produced (--at) or fetch a current VCEK/VLEK"
            }
            Self::SnpChainIncomplete { .. } => {
                "pass --chain with the ASK (for a VCEK) or ASVK (for a VLEK) of the report's product"
            }
            Self::SnpProductUnknown { .. } | Self::SnpProductMismatch { .. } => {
                "the VCEK/VLEK and chain must be those of the report's product (Milan, Genoa, Turin); fetch them for this report from AMD KDS"
            }
            Self::SnpSignerMismatch { .. }
            | Self::SnpTcbMismatch { .. }
            | Self::SnpChipIdMismatch { .. } => {
                "the certificate is for another chip or TCB than this report: fetch the VCEK for the report's CHIP_ID and REPORTED_TCB (or the provider's VLEK)"
            }
            Self::SnpCrlMalformed { .. } | Self::SnpCrlBadSignature { .. } => {
                "pass the CRL AMD KDS serves for this product (…/vcek/v1/<product>/crl), PEM or DER"
            }
            Self::SnpCrlOutdated { .. } => {
                "fetch a current CRL from AMD KDS, or verify at a time inside the CRL's window"
            }
            Self::SnpRevoked { .. } => {
                "AMD revoked a certificate of this chain; do not trust this evidence"
            }
            Self::SnpDebugForbidden { .. } => {
                "launch the guest without the DEBUG policy bit, or use --allow-debug / dangerous_allow_debug only in development"
            }
            Self::SnpPolicyBit { .. }
            | Self::SnpVmplNotAllowed { .. }
            | Self::SnpFieldMismatch { .. }
            | Self::SnpTcbBelowMinimum { .. }
            | Self::SnpChipNotAllowed { .. } => {
                "the guest or platform does not match the policy: update the firmware or the launch configuration, or the policy if the change is expected"
            }
            Self::TdxQuoteTruncated { .. }
            | Self::TdxUnsupportedVersion { .. }
            | Self::TdxUnsupportedTeeType { .. }
            | Self::TdxUnsupportedKeyType { .. }
            | Self::TdxUnsupportedBodyType { .. }
            | Self::TdxInvalidField { .. } => {
                "pass the DCAP quote (raw, hex or base64) as configfs-tsm or the TDX driver returned it; this input is truncated, altered, or not a TDX quote v4/v5"
            }
            Self::TdxBadQuoteSignature
            | Self::TdxBadQeReportSignature
            | Self::TdxQeBindingMismatch { .. } => {
                "the quote was altered after the Quoting Enclave signed it; do not trust it and request a fresh quote"
            }
            Self::TdxCertMalformed { .. }
            | Self::TdxCertName { .. }
            | Self::TdxPckExtension { .. }
            | Self::TdxChainIncomplete { .. } => {
                "the quote's PCK chain or the collateral's issuer chains are not Intel DCAP chains; use the quote as generated and collateral from Intel PCS or a PCCS"
            }
            Self::TdxCertBadSignature { .. } | Self::TdxUntrustedRoot { .. } => {
                "a chain does not lead to the pinned Intel SGX Root CA (forged, or a test PKI); do not trust this evidence"
            }
            Self::TdxCertExpired { .. } | Self::TdxCertNotYetValid { .. } => {
                "verify at a time inside every certificate's validity (--at), or fetch current certificates"
            }
            Self::TdxRevoked { .. } => {
                "Intel revoked a certificate of this chain; do not trust this evidence"
            }
            Self::TdxCrlMalformed { .. } | Self::TdxCrlBadSignature { .. } => {
                "pass the PCK CRL and root CA CRL Intel PCS (or a PCCS) serves, with their issuer chain"
            }
            Self::TdxCrlOutdated { .. } | Self::TdxCollateralOutdated { .. } => {
                "collateral lives about 30 days: fetch current collateral from Intel PCS or a PCCS, or verify at a time inside its window (--at)"
            }
            Self::TdxCollateralMalformed { .. } | Self::TdxCollateralBadSignature { .. } => {
                "pass collateral exactly as Intel PCS served it, in the QuoteCollateralV3 JSON shape (tcb_info, qe_identity as raw JSON text; signatures hex; chains PEM; CRLs hex DER)"
            }
            Self::TdxCollateralMismatch { .. } => {
                "fetch the collateral for this quote's FMSPC and PCK CA (TDX TCB Info, TD_QE identity)"
            }
            Self::TdxQeIdentityMismatch { .. } | Self::TdxModuleMismatch { .. } => {
                "the Quoting Enclave or TDX module is not one Intel's collateral describes; do not trust this quote"
            }
            Self::TdxTcbNotSupported { .. } => {
                "the platform is below every TCB level Intel lists: update the BIOS, microcode and TDX module, then request a new quote"
            }
            Self::TdxDebugForbidden { .. } => {
                "launch the TD without DEBUG, or use --allow-debug / dangerous_allow_debug only in development"
            }
            Self::TdxAttribute { .. } | Self::TdxFieldMismatch { .. } => {
                "the TD does not match the policy: launch it with SEPT_VE_DISABLE and the pinned measurements, or update the policy if the change is expected"
            }
            Self::TdxTcbUnknown => {
                "pass --collateral (Intel PCS or PCCS collateral for this quote) so the TCB status is known, or --allow-unknown-tcb to accept signatures and chain only"
            }
            Self::TdxTcbStatusNotAccepted { .. } => {
                "update the platform (BIOS, microcode, TDX module) to the level named, or accept this status in the policy if the advisories do not apply"
            }
            Self::TdxCollateralTooOld { .. } => {
                "fetch fresh collateral from Intel PCS or a PCCS: a stale cache can hide a TCB recovery"
            }
            Self::ApiMisuse { .. } => "this is a bug in the calling code; fix the call",
        }
    }

    /// True when the error is the caller's bug rather than bad evidence.
    pub fn is_api_misuse(&self) -> bool {
        matches!(self, Self::ApiMisuse { .. })
    }
}

/// Hex of `bytes`, or "absent".
pub(crate) fn hex_or_absent(bytes: Option<&[u8]>) -> String {
    bytes.map_or_else(|| "absent".to_owned(), hex::encode)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_dotted_and_hints_non_empty() {
        let samples = [
            AttestationError::CoseBadSignature,
            AttestationError::LeafIsCa,
            AttestationError::MissingField { field: "pcrs" },
            AttestationError::UntrustedRoot {
                root_sha256: "00".into(),
            },
            AttestationError::ApiMisuse { what: "x".into() },
        ];
        for e in samples {
            assert!(e.code().contains('.'), "{}", e.code());
            assert!(!e.hint().is_empty());
            assert!(!e.to_string().is_empty());
        }
    }

    #[test]
    fn chain_position_display() {
        assert_eq!(ChainPosition::CaBundle(0).to_string(), "cabundle[0] (root)");
        assert_eq!(ChainPosition::CaBundle(2).to_string(), "cabundle[2]");
        assert_eq!(ChainPosition::Leaf.to_string(), "leaf certificate");
    }
}
