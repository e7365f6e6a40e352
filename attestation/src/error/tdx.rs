//! Errors of Intel TDX: the DCAP quote, the PCK chain's pin and SGX extension, CRLs,
//! collateral, the TCB level, and the TDX appraisal policy. X.509 checks of the Intel chains are
//! [`CertError`](super::CertError)s.

const NOT_A_QUOTE: &str = "pass the DCAP quote (raw, hex or base64) as configfs-tsm or the TDX driver returned it; this input is truncated, altered, or not a TDX quote v4/v5";
const QUOTE_ALTERED: &str = "the quote was altered after the Quoting Enclave signed it; do not trust it and request a fresh quote";
const NOT_DCAP_CHAINS: &str = "the quote's PCK chain or the collateral's issuer chains are not Intel DCAP chains; use the quote as generated and collateral from Intel PCS or a PCCS";
const PASS_INTEL_CRLS: &str =
    "pass the PCK CRL and root CA CRL Intel PCS (or a PCCS) serves, with their issuer chain";
const COLLATERAL_STALE: &str = "collateral lives about 30 days: fetch current collateral from Intel PCS or a PCCS, or verify at a time inside its window (--at)";
const PASS_PCS_COLLATERAL: &str = "pass collateral exactly as Intel PCS served it, in the QuoteCollateralV3 JSON shape (tcb_info, qe_identity as raw JSON text; signatures hex; chains PEM; CRLs hex DER)";
const NOT_INTELS_QE_OR_MODULE: &str = "the Quoting Enclave or TDX module is not one Intel's collateral describes; do not trust this quote";
const TD_DIFFERS: &str = "the TD does not match the policy: launch it with SEPT_VE_DISABLE and the pinned measurements, or update the policy if the change is expected";

error_enum! {
    /// Why a TDX quote was not accepted.
    pub enum TdxError {
        /// The quote ends before a field.
        #[error("TDX quote truncated: {what} needs {needed} bytes, {available} left")]
        QuoteTruncated {
            /// What was being read.
            what: &'static str,
            /// Bytes needed.
            needed: usize,
            /// Bytes left.
            available: usize,
        } => "tdx.quote.truncated", NOT_A_QUOTE;
        /// A quote version other than 4 or 5.
        #[error("DCAP quote version {version} is not supported (TDX quotes are version 4 or 5)")]
        UnsupportedVersion {
            /// Version found.
            version: u16,
        } => "tdx.quote.unsupported_version", NOT_A_QUOTE;
        /// A TEE type other than TDX (0x81).
        #[error("quote TEE type {tee_type:#x} is not TDX (0x81)")]
        UnsupportedTeeType {
            /// TEE type found.
            tee_type: u32,
        } => "tdx.quote.unsupported_tee_type", NOT_A_QUOTE;
        /// An attestation key type other than ECDSA-256-with-P-256 (2).
        #[error("attestation key type {key_type} is not supported (only 2, ECDSA P-256)")]
        UnsupportedKeyType {
            /// Key type found.
            key_type: u16,
        } => "tdx.quote.unsupported_key_type", NOT_A_QUOTE;
        /// A v5 body type other than TD 1.0 (2) or TD 1.5 (3).
        #[error("quote body type {body_type} is not a TD report (2 = TD 1.0, 3 = TD 1.5)")]
        UnsupportedBodyType {
            /// Body type found.
            body_type: u16,
        } => "tdx.quote.unsupported_body_type", NOT_A_QUOTE;
        /// A field of the quote has an invalid value or the nested lengths do not add up.
        #[error("TDX quote field {field}: {reason}")]
        InvalidField {
            /// The field.
            field: &'static str,
            /// Why.
            reason: String,
        } => "tdx.quote.invalid_field", NOT_A_QUOTE;
        /// The quote signature does not verify with the attestation key.
        #[error("the quote signature does not verify with the attestation key")]
        BadQuoteSignature => "tdx.quote.bad_signature", QUOTE_ALTERED;
        /// The QE report signature does not verify with the PCK.
        #[error("the QE report signature does not verify with the PCK certificate's key")]
        BadQeReportSignature => "tdx.qe_report.bad_signature", QUOTE_ALTERED;
        /// The QE report does not bind the attestation key.
        #[error(
            "QE report REPORTDATA {found} is not SHA-256(attestation key ‖ QE auth data) ‖ 0^32 = {expected}"
        )]
        QeBindingMismatch {
            /// Expected REPORTDATA, hex.
            expected: String,
            /// REPORTDATA found, hex.
            found: String,
        } => "tdx.qe_report.binding_mismatch", QUOTE_ALTERED;
        /// A chain carries a self-signed certificate that is not the pinned root.
        #[error("{position} is a root with SHA-256 {sha256}, not the pinned Intel SGX Root CA")]
        UntrustedRoot {
            /// SHA-256 of its DER, hex.
            sha256: String,
            /// Where it sits.
            position: crate::tdx::TdxCert,
        } => "tdx.chain.untrusted_root",
            "a chain does not lead to the pinned Intel SGX Root CA (forged, or a test PKI); do not trust this evidence";
        /// A chain carries more certificates than its shape has.
        #[error("the {role} chain has {len} certificates, at most {max} belong to it")]
        ChainTooLong {
            /// The first certificate's role, which names the chain.
            role: crate::tdx::TdxCert,
            /// Certificates in the chain.
            len: usize,
            /// Certificates a chain of this shape has.
            max: usize,
        } => "tdx.chain.too_long", NOT_DCAP_CHAINS;
        /// A chain lacks a certificate.
        #[error("certificate chain incomplete: missing {missing}")]
        ChainIncomplete {
            /// What is missing.
            missing: String,
        } => "tdx.chain.incomplete", NOT_DCAP_CHAINS;
        /// The PCK certificate's SGX extension is missing or malformed.
        #[error("PCK certificate SGX extension: {reason}")]
        PckExtension {
            /// Why.
            reason: String,
        } => "tdx.cert.bad_extension", NOT_DCAP_CHAINS;
        /// A certificate is revoked.
        #[error("{cert} serial {serial} is revoked by the {crl}")]
        Revoked {
            /// Which certificate.
            cert: crate::tdx::TdxCert,
            /// Which CRL.
            crl: &'static str,
            /// Its serial, hex.
            serial: String,
        } => "tdx.crl.revoked",
            "Intel revoked a certificate of this chain; do not trust this evidence";
        /// A CRL does not parse.
        #[error("{crl}: {reason}")]
        CrlMalformed {
            /// Which CRL.
            crl: &'static str,
            /// Why.
            reason: String,
        } => "tdx.crl.malformed", PASS_INTEL_CRLS;
        /// A CRL is not signed by its issuer.
        #[error("{crl}: {reason}")]
        CrlBadSignature {
            /// Which CRL.
            crl: &'static str,
            /// Why.
            reason: String,
        } => "tdx.crl.bad_signature", PASS_INTEL_CRLS;
        /// A CRL is not current.
        #[error("{crl} is not current: {window}")]
        CrlOutdated {
            /// Which CRL.
            crl: &'static str,
            /// The window and the time compared.
            window: crate::error::CrlWindow,
        } => "tdx.crl.outdated", COLLATERAL_STALE;
        /// The collateral document does not parse.
        #[error("collateral {field}: {reason}")]
        CollateralMalformed {
            /// The field.
            field: &'static str,
            /// Why.
            reason: String,
        } => "tdx.collateral.malformed", PASS_PCS_COLLATERAL;
        /// TCB Info or QE Identity signature does not verify.
        #[error("the {which} signature does not verify with the TCB Signing certificate")]
        CollateralBadSignature {
            /// `TCB Info` or `QE Identity`.
            which: &'static str,
        } => "tdx.collateral.bad_signature", PASS_PCS_COLLATERAL;
        /// TCB Info or QE Identity is outside its issueDate..nextUpdate window.
        #[error(
            "{which} is valid from {} to {}, verification time {}",
            crate::UnixTime::from_secs(*issue_date),
            crate::UnixTime::from_secs(*next_update),
            crate::UnixTime::from_secs(*now)
        )]
        CollateralOutdated {
            /// `TCB Info` or `QE Identity`.
            which: &'static str,
            /// Its issueDate, epoch seconds.
            issue_date: u64,
            /// Its nextUpdate, epoch seconds.
            next_update: u64,
            /// The verification time, epoch seconds.
            now: u64,
        } => "tdx.collateral.outdated", COLLATERAL_STALE;
        /// The collateral is for another platform than the quote.
        #[error("collateral {field} is {collateral}, the quote's is {quote}")]
        CollateralMismatch {
            /// The field compared.
            field: &'static str,
            /// The quote's value.
            quote: String,
            /// The collateral's value.
            collateral: String,
        } => "tdx.collateral.mismatch",
            "fetch the collateral for this quote's FMSPC and PCK CA (TDX TCB Info, TD_QE identity)";
        /// The QE report does not match the QE Identity.
        #[error("QE report {field} is {found}, QE Identity expects {expected}")]
        QeIdentityMismatch {
            /// The field.
            field: &'static str,
            /// Expected.
            expected: String,
            /// Found.
            found: String,
        } => "tdx.qe_identity.mismatch", NOT_INTELS_QE_OR_MODULE;
        /// No TCB level matches (Intel: STATUS_TCB_NOT_SUPPORTED).
        #[error("no matching TCB level: {reason}")]
        NoMatchingTcbLevel {
            /// Why, with the values compared.
            reason: String,
        } => "tdx.tcb.no_matching_level",
            "the platform is below every TCB level Intel lists: update the BIOS, microcode and TDX module, then request a new quote";
        /// The TDX module does not match the TCB Info's module identity.
        #[error("TDX module {field} is {found}, the TCB Info expects {expected}")]
        ModuleMismatch {
            /// The field compared.
            field: &'static str,
            /// What the TCB Info's module identity says.
            expected: String,
            /// What the quote says.
            found: String,
        } => "tdx.tcb.module_mismatch", NOT_INTELS_QE_OR_MODULE;
        /// A debug TD and the policy forbids debug.
        #[error("TD_ATTRIBUTES {attributes} has DEBUG set and the policy forbids debug TDs")]
        DebugForbidden {
            /// TD_ATTRIBUTES, hex.
            attributes: String,
        } => "policy.tdx.debug_forbidden",
            "launch the TD without DEBUG, or use --allow-debug / dangerous_allow_debug only in development";
        /// A TD attribute the policy refuses (SEPT_VE_DISABLE unset, reserved bits).
        #[error("TD_ATTRIBUTES {attributes}: {attribute}, which the policy refuses")]
        Attribute {
            /// The attribute.
            attribute: &'static str,
            /// TD_ATTRIBUTES, hex.
            attributes: String,
        } => "policy.tdx.attribute", TD_DIFFERS;
        /// A pinned measurement differs.
        #[error("{field} is {found}, policy expects {expected}")]
        FieldMismatch {
            /// The field.
            field: &'static str,
            /// Expected value.
            expected: String,
            /// Value in the quote.
            found: String,
        } => "policy.tdx.field_mismatch", TD_DIFFERS;
        /// The quote was verified without collateral and the policy requires a known TCB status.
        #[error("TCB status unknown: the quote was verified without collateral")]
        TcbUnknown => "policy.tdx.tcb_unknown",
            "pass --collateral (Intel PCS or PCCS collateral for this quote) so the TCB status is known, or --allow-unknown-tcb to accept signatures and chain only";
        /// The TCB status is not among the accepted ones.
        #[error(
            "TCB status {status} (tcbDate {tcb_date}, advisories [{advisory_ids}]) is not accepted ({accepted}); {needed}"
        )]
        TcbStatusNotAccepted {
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
        } => "policy.tdx.tcb_status",
            "update the platform (BIOS, microcode, TDX module) to the level named, or accept this status in the policy if the advisories do not apply";
        /// The collateral is older than the policy allows.
        #[error("collateral issued {age_secs} s before the appraisal time, policy allows {max_secs} s")]
        CollateralTooOld {
            /// Age.
            age_secs: u64,
            /// Maximum.
            max_secs: u64,
        } => "policy.tdx.collateral_too_old",
            "fetch fresh collateral from Intel PCS or a PCCS: a stale cache can hide a TCB recovery";
    }
}
