//! Errors of AMD SEV-SNP: the report, the VCEK/VLEK extensions, the ARK pin, the CRL, and the
//! SEV-SNP appraisal policy. X.509 checks of the AMD chain are [`CertError`](super::CertError)s.

const NOT_A_REPORT: &str = "pass the 1184-byte ATTESTATION_REPORT (raw, hex or base64) as the firmware returned it; this input is truncated, altered or not an SEV-SNP report";
const WRONG_PRODUCT: &str = "the VCEK/VLEK and chain must be those of the report's product (Milan, Genoa, Turin); fetch them for this report from AMD KDS";
const WRONG_CHIP_OR_TCB: &str = "the certificate is for another chip or TCB than this report: fetch the VCEK for the report's CHIP_ID and REPORTED_TCB (or the provider's VLEK)";
const PASS_AMD_CRL: &str =
    "pass the CRL AMD KDS serves for this product (…/vcek/v1/<product>/crl), PEM or DER";
const GUEST_DIFFERS: &str = "the guest or platform does not match the policy: update the firmware or the launch configuration, or the policy if the change is expected";

error_enum! {
    /// Why an SEV-SNP report was not accepted.
    pub enum SnpError {
        /// The SEV-SNP policy requires a CRL check and the evidence came without AMD's CRL.
        #[error("the policy requires AMD's CRL and the report was verified without one")]
        CrlRequired => "policy.snp.crl_required",
            "have the host attach AMD's CRL for the product (KDS .../crl) to the evidence bundle";
        /// The report is not 1184 bytes.
        #[error("SEV-SNP report is {len} bytes, expected {expected}")]
        ReportLength {
            /// Length of the input.
            len: usize,
            /// The only valid length.
            expected: usize,
        } => "snp.report.length", NOT_A_REPORT;
        /// A report version other than 2 to 5.
        #[error("SEV-SNP report version {version} is not supported (2 to 5 are)")]
        UnsupportedVersion {
            /// The version found.
            version: u32,
        } => "snp.report.unsupported_version", NOT_A_REPORT;
        /// SIGNATURE_ALGO is not ECDSA P-384 with SHA-384 (1).
        #[error("SEV-SNP report signature algorithm {algo}, expected 1 (ECDSA P-384 with SHA-384)")]
        UnsupportedSignatureAlgorithm {
            /// The value found.
            algo: u32,
        } => "snp.report.unsupported_signature_algorithm", NOT_A_REPORT;
        /// A reserved field or bit is not as the ABI requires.
        #[error(
            "SEV-SNP report: reserved field {field} at offset {offset:#x} is not as the ABI requires (zero; POLICY bit 17 one)"
        )]
        ReservedField {
            /// The field.
            field: &'static str,
            /// Byte offset in the report.
            offset: usize,
        } => "snp.report.reserved_field", NOT_A_REPORT;
        /// A report field holds an impossible value.
        #[error("SEV-SNP report field {field} is invalid: {reason}")]
        InvalidField {
            /// The field.
            field: &'static str,
            /// What is wrong.
            reason: String,
        } => "snp.report.invalid_field", NOT_A_REPORT;
        /// The report signature does not verify with the VCEK/VLEK.
        #[error("SEV-SNP report signature does not verify with the VCEK/VLEK's P-384 key")]
        BadSignature => "snp.report.bad_signature",
            "the report was altered, or the VCEK/VLEK is not the one of the chip and TCB that signed it: fetch the VCEK for this report's CHIP_ID and REPORTED_TCB from AMD KDS";
        /// An AMD VCEK/VLEK extension is malformed, repeated or missing.
        #[error("VCEK/VLEK extension {oid}: {reason}")]
        CertExtension {
            /// The extension OID.
            oid: String,
            /// What is wrong.
            reason: String,
        } => "snp.cert.bad_extension",
            "pass the VCEK/VLEK (DER or PEM) and, with --chain, the ASK/ASVK and ARK PEMs AMD KDS serves";
        /// The chain ends in an ARK that is not pinned.
        #[error("the chain's ARK (SHA-256 {sha256}) is not a pinned AMD ARK")]
        UntrustedArk {
            /// SHA-256 of the DER ARK.
            sha256: String,
        } => "snp.chain.untrusted_ark",
            "the certificate chain is forged or mixed up; use AMD's certificates (KDS cert_chain) and do not trust this evidence";
        /// A certificate the chain needs is not available.
        #[error("the AMD chain lacks {missing}")]
        ChainIncomplete {
            /// What is missing.
            missing: String,
        } => "snp.chain.incomplete",
            "pass --chain with the ASK (for a VCEK) or ASVK (for a VLEK) of the report's product";
        /// The product cannot be determined.
        #[error("cannot tell the AMD product: {reason}")]
        ProductUnknown {
            /// Why.
            reason: String,
        } => "snp.chain.product_unknown", WRONG_PRODUCT;
        /// The report, the caller and the chain disagree about the product.
        #[error("product {expected} expected, but found {found}")]
        ProductMismatch {
            /// The product the report or caller names.
            expected: &'static str,
            /// What disagrees.
            found: String,
        } => "snp.chain.product_mismatch", WRONG_PRODUCT;
        /// The report names one signing key (KEY_INFO) and the certificate is the other kind.
        #[error("the report says it is signed by the {report}, but the certificate is a {cert}")]
        SignerMismatch {
            /// vcek or vlek, from the report.
            report: &'static str,
            /// vcek or vlek, from the certificate's CN.
            cert: &'static str,
        } => "snp.binding.signer_mismatch", WRONG_CHIP_OR_TCB;
        /// The certificate's TCB extension differs from REPORTED_TCB.
        #[error("REPORTED_TCB {component} is {report}, the VCEK/VLEK certifies {cert}")]
        TcbMismatch {
            /// The component.
            component: &'static str,
            /// Value in the report.
            report: u8,
            /// Value in the certificate.
            cert: u8,
        } => "snp.binding.tcb_mismatch", WRONG_CHIP_OR_TCB;
        /// The VCEK's hwID differs from the report's CHIP_ID.
        #[error("CHIP_ID {report} differs from the VCEK's hwID {cert}")]
        ChipIdMismatch {
            /// CHIP_ID, hex.
            report: String,
            /// hwID, hex.
            cert: String,
        } => "snp.binding.chip_id_mismatch", WRONG_CHIP_OR_TCB;
        /// A CRL does not parse.
        #[error("CRL is malformed: {reason}")]
        CrlMalformed {
            /// What the parser found.
            reason: String,
        } => "snp.crl.malformed", PASS_AMD_CRL;
        /// A CRL is not signed by the chain's ARK.
        #[error("CRL is not signed by the chain's ARK: {reason}")]
        CrlBadSignature {
            /// Why.
            reason: String,
        } => "snp.crl.bad_signature", PASS_AMD_CRL;
        /// A CRL is not current at `now`.
        #[error("CRL is not current: {window}")]
        CrlOutdated {
            /// The window and the time compared.
            window: crate::error::CrlWindow,
        } => "snp.crl.outdated",
            "fetch a current CRL from AMD KDS, or verify at a time inside the CRL's window";
        /// A certificate of the chain is revoked.
        #[error("{cert} serial {serial} is revoked by the CRL")]
        Revoked {
            /// Which certificate.
            cert: crate::snp::SnpCert,
            /// Its serial, hex.
            serial: String,
        } => "snp.crl.revoked",
            "AMD revoked a certificate of this chain; do not trust this evidence";
        /// The guest policy allows debugging and the appraisal policy forbids it.
        #[error("SEV-SNP guest POLICY {policy} allows debugging and the policy forbids debug")]
        DebugForbidden {
            /// Guest POLICY, hex.
            policy: String,
        } => "policy.snp.debug_forbidden",
            "launch the guest without the DEBUG policy bit, or use --allow-debug / dangerous_allow_debug only in development";
        /// A guest POLICY bit the appraisal policy refuses.
        #[error("SEV-SNP guest POLICY {policy} sets {bit}, which the policy refuses")]
        PolicyBit {
            /// The bit.
            bit: &'static str,
            /// Guest POLICY, hex.
            policy: String,
        } => "policy.snp.policy_bit", GUEST_DIFFERS;
        /// The report's VMPL is not allowed.
        #[error("report VMPL {vmpl} is not in the allowed set {allowed}")]
        VmplNotAllowed {
            /// VMPL found.
            vmpl: u32,
            /// The allowed VMPLs.
            allowed: String,
        } => "policy.snp.vmpl_not_allowed", GUEST_DIFFERS;
        /// A pinned report field differs.
        #[error("{field} is {found}, policy expects {expected}")]
        FieldMismatch {
            /// The field.
            field: &'static str,
            /// Expected value.
            expected: String,
            /// Value in the report.
            found: String,
        } => "policy.snp.field_mismatch", GUEST_DIFFERS;
        /// REPORTED_TCB is below the policy's minimum.
        #[error("REPORTED_TCB {component} is {found}, policy requires at least {minimum}")]
        TcbBelowMinimum {
            /// The component.
            component: &'static str,
            /// The policy's minimum.
            minimum: u8,
            /// Value in the report.
            found: u8,
        } => "policy.snp.tcb_below_minimum", GUEST_DIFFERS;
        /// The chip is not on the policy's allowlist.
        #[error("CHIP_ID {chip_id} is not on the policy's allowlist")]
        ChipNotAllowed {
            /// CHIP_ID, hex.
            chip_id: String,
        } => "policy.snp.chip_not_allowed", GUEST_DIFFERS;
    }
}
