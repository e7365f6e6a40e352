//! Normalized claims: what a policy engine reads and what `cloister attest verify --json` prints.
//!
//! [`Claims`] is one common core that means the same on every platform (the workload
//! measurement a policy pins, the key binding, debug, the TCB status as an enum, the root) plus
//! [`PlatformClaims`], the platform's own fields with their own types. It is plain data (hex
//! strings, enums, no raw bytes) built only from verified evidence
//! ([`VerifiedEvidence::claims`](crate::VerifiedEvidence::claims),
//! [`AppraisedEvidence::claims`](crate::AppraisedEvidence::claims)); deserializing a `Claims`
//! from JSON gives a value to display or compare, not evidence.
//!
//! The JSON form (documented field by field in `docs/claims.md`):
//!
//! ```json
//! {
//!   "platform": "sev-snp",
//!   "workload_measurement": "<96 hex digits>",
//!   "key_binding": "<128 hex digits>",
//!   "debug": false,
//!   "tcb_status": "vendor_certified",
//!   "root_sha256": "<64 hex digits>",
//!   "platform_claims": { "sev-snp": { "version": 3, "product": "Milan", "...": "..." } }
//! }
//! ```
//!
//! This module sits above the platforms: it reads their verified types and their claims, and no
//! platform module reads it.

use serde::{Deserialize, Serialize};

use crate::Platform;
use crate::nitro::{NitroClaims, VerifiedNitroDocument};
use crate::snp::{SnpClaims, VerifiedSnpReport};
use crate::tdx::{TdxClaims, VerifiedTdxQuote};

/// The normalized content of verified evidence, the same shape on every platform.
///
/// ```
/// # use cloister_attestation::{Claims, Platform, PlatformClaims, TcbStatus};
/// let json = r#"{"platform":"mock","workload_measurement":"11","key_binding":null,
///   "debug":false,"tcb_status":"not_reported","root_sha256":"ab",
///   "platform_claims":{"nitro":{"module_id":"m","timestamp_ms":1,"pcrs":{"0":"11"},
///   "user_data":null,"nonce":null,"public_key":null}}}"#;
/// let claims: Claims = serde_json::from_str(json).unwrap();
/// assert_eq!(claims.platform, Platform::Mock);
/// assert_eq!(claims.tcb_status, TcbStatus::NotReported);
/// assert!(matches!(claims.platform_claims, PlatformClaims::Nitro(_)));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claims {
    /// The platform whose root the evidence chains to.
    pub platform: Platform,
    /// The launched workload's measurement, the value a trust policy pins first, lowercase hex:
    /// PCR0 on Nitro and mock (the enclave image), MEASUREMENT on SEV-SNP (the launch digest),
    /// MRTD on TDX (the TD's initial contents). Empty for a Nitro document without PCR0.
    pub workload_measurement: String,
    /// The bytes that carry the key binding, lowercase hex: `user_data` on Nitro and mock
    /// (absent if the document has none), REPORT_DATA on SEV-SNP, REPORTDATA on TDX.
    pub key_binding: Option<String>,
    /// True when the platform lets the host read the guest's memory: all-zero PCR0-2 on Nitro,
    /// POLICY.DEBUG on SEV-SNP, TD_ATTRIBUTES.DEBUG on TDX.
    pub debug: bool,
    /// What is known about the platform's trusted computing base.
    pub tcb_status: TcbStatus,
    /// SHA-256 of the DER root certificate the chain ends in, lowercase hex.
    pub root_sha256: String,
    /// The platform's own fields.
    pub platform_claims: PlatformClaims,
}

/// The platform's own claims, tagged by platform in JSON (`{"sev-snp": {...}}`). Mock evidence
/// is a Nitro-format document, so it carries [`PlatformClaims::Nitro`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PlatformClaims {
    /// An AWS Nitro or mock attestation document.
    #[serde(rename = "nitro")]
    Nitro(NitroClaims),
    /// An AMD SEV-SNP report.
    #[serde(rename = "sev-snp")]
    Snp(Box<SnpClaims>),
    /// An Intel TDX quote.
    #[serde(rename = "tdx")]
    Tdx(Box<TdxClaims>),
}

/// What the evidence says about the platform's trusted computing base, on one scale for every
/// platform. The TDX values are Intel's statuses; the others say why there is no such verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TcbStatus {
    /// Nitro and mock: AWS operates the hypervisor and the NSM; documents carry no TCB level.
    NotReported,
    /// SEV-SNP: REPORTED_TCB is the level the VCEK/VLEK certifies (checked by verification).
    /// AMD publishes no verdict on it; a policy's minimum TCB decides.
    VendorCertified,
    /// TDX without collateral: nothing says how current the platform is.
    Unknown,
    /// TDX: patched to the latest TCB.
    UpToDate,
    /// TDX: patched, but software mitigations are needed.
    SwHardeningNeeded,
    /// TDX: patched, but the platform configuration must change.
    ConfigurationNeeded,
    /// TDX: both of the above.
    ConfigurationAndSwHardeningNeeded,
    /// TDX 1.5: launched on an out-of-date TDX module; the current one is up to date.
    TdRelaunchAdvised,
    /// TDX 1.5: as above, with configuration needed.
    TdRelaunchAdvisedConfigurationNeeded,
    /// TDX: a TCB recovery happened and the platform is not patched.
    OutOfDate,
    /// TDX: out of date, and configuration needed.
    OutOfDateConfigurationNeeded,
    /// TDX: Intel revoked this TCB level.
    Revoked,
}

impl From<crate::tdx::TcbStatus> for TcbStatus {
    fn from(status: crate::tdx::TcbStatus) -> Self {
        use crate::tdx::TcbStatus as Intel;
        match status {
            Intel::UpToDate => Self::UpToDate,
            Intel::SWHardeningNeeded => Self::SwHardeningNeeded,
            Intel::ConfigurationNeeded => Self::ConfigurationNeeded,
            Intel::ConfigurationAndSWHardeningNeeded => Self::ConfigurationAndSwHardeningNeeded,
            Intel::TdRelaunchAdvised => Self::TdRelaunchAdvised,
            Intel::TdRelaunchAdvisedConfigurationNeeded => {
                Self::TdRelaunchAdvisedConfigurationNeeded
            }
            Intel::OutOfDate => Self::OutOfDate,
            Intel::OutOfDateConfigurationNeeded => Self::OutOfDateConfigurationNeeded,
            Intel::Revoked => Self::Revoked,
        }
    }
}

impl Claims {
    /// The claims of a verified Nitro or mock document.
    pub(crate) fn of_nitro(doc: &VerifiedNitroDocument) -> Self {
        Self {
            platform: doc.platform(),
            workload_measurement: doc.pcr(0).map(hex::encode).unwrap_or_default(),
            key_binding: doc.user_data().map(hex::encode),
            debug: doc.is_debug(),
            tcb_status: TcbStatus::NotReported,
            root_sha256: hex::encode(doc.root_sha256()),
            platform_claims: PlatformClaims::Nitro(doc.nitro_claims()),
        }
    }

    /// The claims of a verified SEV-SNP report.
    pub(crate) fn of_snp(report: &VerifiedSnpReport) -> Self {
        let r = report.report();
        Self {
            platform: Platform::SevSnp,
            workload_measurement: hex::encode(r.measurement),
            key_binding: Some(hex::encode(r.report_data)),
            debug: report.is_debug(),
            tcb_status: TcbStatus::VendorCertified,
            root_sha256: hex::encode(report.ark_sha256()),
            platform_claims: PlatformClaims::Snp(Box::new(report.snp_claims())),
        }
    }

    /// The claims of a verified TDX quote.
    pub(crate) fn of_tdx(quote: &VerifiedTdxQuote) -> Self {
        let r = quote.quote().report();
        Self {
            platform: Platform::Tdx,
            workload_measurement: hex::encode(r.mr_td()),
            key_binding: Some(hex::encode(r.report_data())),
            debug: quote.is_debug(),
            tcb_status: quote
                .tcb()
                .map_or(TcbStatus::Unknown, |t| TcbStatus::from(t.status)),
            root_sha256: hex::encode(quote.root_sha256()),
            platform_claims: PlatformClaims::Tdx(Box::new(quote.tdx_claims())),
        }
    }
}
