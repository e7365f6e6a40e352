//! The fields of a verified SEV-SNP report, as plain data for display and policy engines.

use serde::{Deserialize, Serialize};

use super::report::{Product, SigningKey, TcbVersion};
use super::verify::VerifiedSnpReport;

/// The SEV-SNP claims: every appraisable report field, hex-encoded, with the product and signer
/// as enums.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnpClaims {
    /// Report version (2-5).
    pub version: u32,
    /// The pinned ARK the chain ends in (`"Milan"`, `"Genoa"` or `"Turin"` in JSON).
    pub product: Product,
    /// The VCEK/VLEK productName extension, e.g. `Milan-B0`.
    pub product_name: Option<String>,
    /// The key that signed the report (`"vcek"` or `"vlek"` in JSON).
    pub signer: SigningKey,
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

impl VerifiedSnpReport {
    /// Every report field, for display and policy engines.
    pub fn snp_claims(&self) -> SnpClaims {
        let tcb = |t: TcbVersion| SnpTcbClaims {
            fmc: (self.product == Product::Turin).then_some(t.fmc),
            bootloader: t.bootloader,
            tee: t.tee,
            snp: t.snp,
            microcode: t.microcode,
        };
        let r = &self.report;
        SnpClaims {
            version: r.version,
            product: self.product,
            product_name: self.product_name.clone(),
            signer: self.signer,
            policy: format!("{:#x}", r.policy),
            smt_allowed: self.smt_allowed(),
            migration_agent_allowed: self.migration_agent_allowed(),
            vmpl: r.vmpl,
            guest_svn: r.guest_svn,
            measurement: hex::encode(r.measurement),
            host_data: hex::encode(r.host_data),
            id_key_digest: hex::encode(r.id_key_digest),
            author_key_digest: hex::encode(r.author_key_digest),
            family_id: hex::encode(r.family_id),
            image_id: hex::encode(r.image_id),
            report_id: hex::encode(r.report_id),
            report_id_ma: hex::encode(r.report_id_ma),
            author_key_en: r.author_key_en,
            mask_chip_key: r.mask_chip_key,
            chip_id: hex::encode(r.chip_id),
            platform_info: format!("{:#x}", r.platform_info),
            reported_tcb: tcb(self.reported_tcb),
            current_tcb: tcb(self.current_tcb),
            committed_tcb: tcb(self.committed_tcb),
            launch_tcb: tcb(self.launch_tcb),
            current_version: r.current_version.to_string(),
            committed_version: r.committed_version.to_string(),
            launch_mit_vector: r.launch_mit_vector.map(|v| format!("{v:#x}")),
            current_mit_vector: r.current_mit_vector.map(|v| format!("{v:#x}")),
        }
    }
}
