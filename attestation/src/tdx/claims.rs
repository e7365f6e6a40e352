//! The fields of a verified TDX quote and its TCB verdict, as plain data for display and policy
//! engines.

use serde::{Deserialize, Serialize};

use super::quote::{TdReportKind, td_attributes};
use super::status::TcbStatus;
use super::verify::VerifiedTdxQuote;

/// The TDX claims: every appraisable quote field, hex-encoded, and the TCB verdict.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TdxClaims {
    /// Quote version (4 or 5).
    pub quote_version: u16,
    /// The TD report body (`"TD 1.0"` or `"TD 1.5"` in JSON).
    pub body: TdReportKind,
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
    /// The TCB status (Intel's name in JSON), or `null` when the quote was verified without
    /// collateral.
    pub tcb_status: Option<TcbStatus>,
    /// The matched TCB level's date.
    pub tcb_date: Option<String>,
    /// Advisory IDs of the matched levels.
    pub advisory_ids: Vec<String>,
}

impl VerifiedTdxQuote {
    /// The TDX claims.
    pub fn tdx_claims(&self) -> TdxClaims {
        let r = self.quote.report();
        TdxClaims {
            quote_version: self.quote.version(),
            body: r.kind(),
            tee_tcb_svn: hex::encode(r.tee_tcb_svn()),
            mr_seam: hex::encode(r.mr_seam()),
            mr_signer_seam: hex::encode(r.mr_signer_seam()),
            seam_attributes: hex::encode(r.seam_attributes()),
            td_attributes: format!("{:016x}", r.td_attributes()),
            xfam: hex::encode(r.xfam()),
            mr_td: hex::encode(r.mr_td()),
            mr_config_id: hex::encode(r.mr_config_id()),
            mr_owner: hex::encode(r.mr_owner()),
            mr_owner_config: hex::encode(r.mr_owner_config()),
            rtmr: r.rtmr().iter().map(hex::encode).collect(),
            report_data: hex::encode(r.report_data()),
            tee_tcb_svn2: r.tee_tcb_svn2().map(hex::encode),
            mr_service_td: r.mr_service_td().map(hex::encode),
            fmspc: hex::encode(self.pck.fmspc),
            pce_svn: self.pck.pce_svn,
            sept_ve_disable: r.td_attributes() & td_attributes::SEPT_VE_DISABLE != 0,
            tcb_status: self.tcb.as_ref().map(|t| t.status),
            tcb_date: self.tcb.as_ref().map(|t| t.tcb_date.clone()),
            advisory_ids: self
                .tcb
                .as_ref()
                .map(|t| t.advisory_ids.clone())
                .unwrap_or_default(),
        }
    }
}
