//! Normalized claims: what policy reads and what the CLI prints.
//!
//! [`Claims`] is plain data (hex strings, no raw bytes) so it serializes the same way everywhere.
//! It is built from a [`VerifiedNitroDocument`](crate::nitro::VerifiedNitroDocument), never from
//! unverified bytes; deserializing a `Claims` from JSON gives a value to display or compare, not
//! evidence.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Which root of trust vouched for a document.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    /// AWS Nitro Enclaves, chained to the AWS Nitro Enclaves Root G1.
    Nitro,
    /// The mock platform used by CI and the demo, chained to a locally generated mock root.
    Mock,
    /// AMD SEV-SNP, chained to a pinned AMD ARK (Milan, Genoa or Turin).
    #[serde(rename = "sev-snp")]
    SevSnp,
    /// Intel TDX, a DCAP quote chained to the Intel SGX Root CA.
    Tdx,
}

impl Platform {
    /// The lowercase name used in JSON: `"nitro"`, `"mock"`, `"sev-snp"` or `"tdx"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Nitro => "nitro",
            Self::Mock => "mock",
            Self::SevSnp => "sev-snp",
            Self::Tdx => "tdx",
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The normalized content of verified evidence.
///
/// ```
/// # use cloister_attestation::{Claims, Platform};
/// let json = r#"{"platform":"mock","module_id":"m","timestamp_ms":1,"pcrs":{"0":"00"},
///   "user_data":null,"nonce":null,"public_key":null,"debug":true,"root_sha256":"ab"}"#;
/// let claims: Claims = serde_json::from_str(json).unwrap();
/// assert_eq!(claims.platform, Platform::Mock);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claims {
    /// The root of trust.
    pub platform: Platform,
    /// The NSM module id (`i-…-enc…` on AWS).
    pub module_id: String,
    /// When the NSM produced the document, milliseconds since the epoch.
    pub timestamp_ms: u64,
    /// PCR index → lowercase hex value.
    pub pcrs: BTreeMap<u16, String>,
    /// `user_data` as lowercase hex (the key binding, for Cloister enclaves).
    pub user_data: Option<String>,
    /// `nonce` as lowercase hex.
    pub nonce: Option<String>,
    /// `public_key` as lowercase hex.
    pub public_key: Option<String>,
    /// True for a debug-mode enclave (PCR0, PCR1 and PCR2 all zero).
    pub debug: bool,
    /// SHA-256 of the DER root certificate the chain ends in, lowercase hex.
    pub root_sha256: String,
}

/// The SEV-SNP claims: every appraisable report field, hex-encoded. They travel next to the
/// common [`Claims`] (where, for SEV-SNP, `module_id` is the CHIP_ID, `user_data` the
/// REPORT_DATA, `timestamp_ms` 0 because reports carry no time, and `pcrs` empty).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnpClaims {
    /// Report version (2-5).
    pub version: u32,
    /// `Milan`, `Genoa` or `Turin`: the pinned ARK the chain ends in.
    pub product: String,
    /// The VCEK/VLEK productName extension, e.g. `Milan-B0`.
    pub product_name: Option<String>,
    /// `vcek` or `vlek`.
    pub signer: String,
    /// Guest POLICY, hex.
    pub policy: String,
    /// POLICY allows SMT.
    pub smt_allowed: bool,
    /// POLICY allows a migration agent.
    pub migration_agent_allowed: bool,
    /// VMPL the report was requested at.
    pub vmpl: u32,
    /// GUEST_SVN.
    pub guest_svn: u32,
    /// MEASUREMENT.
    pub measurement: String,
    /// HOST_DATA.
    pub host_data: String,
    /// ID_KEY_DIGEST.
    pub id_key_digest: String,
    /// AUTHOR_KEY_DIGEST.
    pub author_key_digest: String,
    /// FAMILY_ID.
    pub family_id: String,
    /// IMAGE_ID.
    pub image_id: String,
    /// REPORT_ID.
    pub report_id: String,
    /// REPORT_ID_MA.
    pub report_id_ma: String,
    /// KEY_INFO.AUTHOR_KEY_EN.
    pub author_key_en: bool,
    /// KEY_INFO.MASK_CHIP_KEY.
    pub mask_chip_key: bool,
    /// CHIP_ID.
    pub chip_id: String,
    /// PLATFORM_INFO, hex.
    pub platform_info: String,
    /// REPORTED_TCB (equal to the VCEK/VLEK's TCB extensions).
    pub reported_tcb: SnpTcbClaims,
    /// CURRENT_TCB.
    pub current_tcb: SnpTcbClaims,
    /// COMMITTED_TCB.
    pub committed_tcb: SnpTcbClaims,
    /// LAUNCH_TCB.
    pub launch_tcb: SnpTcbClaims,
    /// Current firmware `major.minor.build`.
    pub current_version: String,
    /// Committed firmware `major.minor.build`.
    pub committed_version: String,
    /// LAUNCH_MIT_VECTOR (v5), hex.
    pub launch_mit_vector: Option<String>,
    /// CURRENT_MIT_VECTOR (v5), hex.
    pub current_mit_vector: Option<String>,
}

/// A TCB_VERSION in [`SnpClaims`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnpTcbClaims {
    /// FMC SPL (Turin only).
    pub fmc: Option<u8>,
    /// Boot loader SPL.
    pub bootloader: u8,
    /// TEE SPL.
    pub tee: u8,
    /// SNP firmware SPL.
    pub snp: u8,
    /// Microcode SPL.
    pub microcode: u8,
}

/// The TDX claims: every appraisable quote field, hex-encoded, and the TCB verdict. They travel
/// next to the common [`Claims`] (where, for TDX, `module_id` is the FMSPC, `user_data` the
/// REPORTDATA, `timestamp_ms` 0 because quotes carry no time, and `pcrs` empty).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TdxClaims {
    /// Quote version (4 or 5).
    pub quote_version: u16,
    /// `TD 1.0` or `TD 1.5`.
    pub body: String,
    /// TEE_TCB_SVN.
    pub tee_tcb_svn: String,
    /// MRSEAM.
    pub mr_seam: String,
    /// MRSIGNERSEAM.
    pub mr_signer_seam: String,
    /// SEAMATTRIBUTES.
    pub seam_attributes: String,
    /// TD_ATTRIBUTES as a 64-bit hex number.
    pub td_attributes: String,
    /// XFAM.
    pub xfam: String,
    /// MRTD.
    pub mr_td: String,
    /// MRCONFIGID.
    pub mr_config_id: String,
    /// MROWNER.
    pub mr_owner: String,
    /// MROWNERCONFIG.
    pub mr_owner_config: String,
    /// RTMR0..3.
    pub rtmr: Vec<String>,
    /// REPORTDATA.
    pub report_data: String,
    /// TEE_TCB_SVN2 (TD 1.5).
    pub tee_tcb_svn2: Option<String>,
    /// MRSERVICETD (TD 1.5).
    pub mr_service_td: Option<String>,
    /// FMSPC from the PCK certificate.
    pub fmspc: String,
    /// PCESVN from the PCK certificate.
    pub pce_svn: u16,
    /// TD_ATTRIBUTES.SEPT_VE_DISABLE.
    pub sept_ve_disable: bool,
    /// The TCB status (Intel's name), or `Unknown` without collateral.
    pub tcb_status: String,
    /// The matched TCB level's date.
    pub tcb_date: Option<String>,
    /// Advisory IDs of the matched levels.
    pub advisory_ids: Vec<String>,
}
