//! The TCB status of a verified quote, chosen as Intel's Quote Verification Library does
//! (`TcbLevelCheck.cpp`, `QuoteVerifier.cpp`; `shared/research/snp_tdx.md` §2.3):
//!
//! 1. Platform level: the first TCB Info level (they come newest first) whose 16 SGX components
//!    and PCESVN are at most the PCK certificate's, and whose TDX components are at most
//!    TEE_TCB_SVN's. When TEE_TCB_SVN[1] (the TDX module major version) is non-zero, indices 0
//!    and 1 are skipped: the module is judged by its own identity instead (step 2). dcap-qvl
//!    compares all 16 and so reports "no matching level" for platforms Intel rates; we follow
//!    Intel.
//! 2. TDX module: with a non-zero major version, the `TDX_<major>` module identity must match
//!    MRSIGNERSEAM and SEAMATTRIBUTES (under its mask), and its first level with ISVSVN at most
//!    TEE_TCB_SVN[0] gives the module status; with major version 0, `tdxModule` is matched.
//! 3. QE: MRSIGNER, ISVPRODID, MISCSELECT and ATTRIBUTES (under masks) must match the QE
//!    Identity; its first level with ISVSVN at most the QE's gives the QE status.
//! 4. The platform status converges with the module's and the QE's: OutOfDate or Revoked there
//!    make the result OutOfDate (OutOfDateConfigurationNeeded when configuration is also
//!    needed) or Revoked.
//! 5. TD 1.5: when the result is OutOfDate only because the TD was launched on an older TDX
//!    module, and the current module (TEE_TCB_SVN2) would be UpToDate, the status is
//!    TDRelaunchAdvised (Intel's `checkForRelaunch`).
//!
//! No matching level anywhere is an error (Intel's STATUS_TCB_NOT_SUPPORTED), not a status.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::collateral::{IsvTcbLevel, QeIdentity, TcbInfo, TcbLevel};
use super::pki::PckIdentity;
use super::quote::{QeReport, TdReport, TdReportKind};
use crate::AttestationError;

/// A TCB status, as Intel's PCS and QVL name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum TcbStatus {
    /// The platform is patched to the latest TCB.
    UpToDate,
    /// Patched, but software mitigations (listed in the advisories) are needed.
    SWHardeningNeeded,
    /// Patched, but the platform configuration (BIOS) must change.
    ConfigurationNeeded,
    /// Both of the above.
    ConfigurationAndSWHardeningNeeded,
    /// The TD was launched on an out-of-date TDX module; the current one is up to date (TD 1.5).
    #[serde(rename = "TDRelaunchAdvised")]
    TdRelaunchAdvised,
    /// As [`TcbStatus::TdRelaunchAdvised`], with configuration needed.
    #[serde(rename = "TDRelaunchAdvisedConfigurationNeeded")]
    TdRelaunchAdvisedConfigurationNeeded,
    /// A TCB recovery happened; the platform is not patched.
    OutOfDate,
    /// Out of date, and configuration needed.
    OutOfDateConfigurationNeeded,
    /// Intel revoked this TCB level. Never acceptable.
    Revoked,
}

impl TcbStatus {
    /// Every status.
    pub const ALL: [Self; 9] = [
        Self::UpToDate,
        Self::SWHardeningNeeded,
        Self::ConfigurationNeeded,
        Self::ConfigurationAndSWHardeningNeeded,
        Self::TdRelaunchAdvised,
        Self::TdRelaunchAdvisedConfigurationNeeded,
        Self::OutOfDate,
        Self::OutOfDateConfigurationNeeded,
        Self::Revoked,
    ];

    /// Intel's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UpToDate => "UpToDate",
            Self::SWHardeningNeeded => "SWHardeningNeeded",
            Self::ConfigurationNeeded => "ConfigurationNeeded",
            Self::ConfigurationAndSWHardeningNeeded => "ConfigurationAndSWHardeningNeeded",
            Self::TdRelaunchAdvised => "TDRelaunchAdvised",
            Self::TdRelaunchAdvisedConfigurationNeeded => "TDRelaunchAdvisedConfigurationNeeded",
            Self::OutOfDate => "OutOfDate",
            Self::OutOfDateConfigurationNeeded => "OutOfDateConfigurationNeeded",
            Self::Revoked => "Revoked",
        }
    }

    /// Parses Intel's name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// Folds a component's (TDX module or QE) status into the platform's, as Intel's QVL does.
    fn converge(self, component: Self) -> Self {
        match component {
            Self::Revoked => Self::Revoked,
            Self::OutOfDate | Self::OutOfDateConfigurationNeeded => match self {
                Self::UpToDate | Self::SWHardeningNeeded => Self::OutOfDate,
                Self::ConfigurationNeeded | Self::ConfigurationAndSWHardeningNeeded => {
                    Self::OutOfDateConfigurationNeeded
                }
                other => other,
            },
            _ => self,
        }
    }
}

impl fmt::Display for TcbStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One platform TCB level's requirements, kept so a rejection can say what a platform lacks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcbLevelRequirement {
    /// The level's tcbDate.
    pub tcb_date: String,
    /// The level's status.
    pub status: TcbStatus,
    /// Minimum SGX component SVNs.
    pub sgx_components: [u8; 16],
    /// Minimum PCESVN.
    pub pce_svn: u16,
    /// Minimum TDX component SVNs.
    pub tdx_components: [u8; 16],
}

/// The outcome of the TCB evaluation of a quote against verified collateral.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcbEvaluation {
    /// The converged status: what policy judges.
    pub status: TcbStatus,
    /// The platform level's status alone.
    pub platform_status: TcbStatus,
    /// The TDX module identity's status (module major version > 0).
    pub module_status: Option<TcbStatus>,
    /// The QE identity's status.
    pub qe_status: TcbStatus,
    /// The matched platform level's tcbDate.
    pub tcb_date: String,
    /// Advisory IDs of the matched platform, module and QE levels, without repeats.
    pub advisory_ids: Vec<String>,
    /// The TCB Info's tcbEvaluationDataNumber.
    pub tcb_evaluation_data_number: u32,
    /// The oldest issue date of TCB Info and QE Identity, epoch seconds.
    pub collateral_issued_at: u64,
    /// The platform's own values: SGX components and PCESVN (PCK), TEE_TCB_SVN (quote).
    pub platform_sgx_components: [u8; 16],
    /// The PCK certificate's PCESVN.
    pub platform_pce_svn: u16,
    /// The quote's TEE_TCB_SVN.
    pub platform_tee_tcb_svn: [u8; 16],
    /// Every platform level of the TCB Info, in its order.
    pub levels: Vec<TcbLevelRequirement>,
}

impl TcbEvaluation {
    /// What the platform lacks to reach the first level whose status `accept` allows, in
    /// words; `None` when no level of the TCB Info is acceptable.
    pub fn shortfall(&self, accept: impl Fn(TcbStatus) -> bool) -> Option<String> {
        let level = self.levels.iter().find(|l| accept(l.status))?;
        let skip = if self.platform_tee_tcb_svn[1] > 0 {
            2
        } else {
            0
        };
        let mut gaps = Vec::new();
        for (i, (&have, &need)) in self
            .platform_sgx_components
            .iter()
            .zip(&level.sgx_components)
            .enumerate()
        {
            if have < need {
                gaps.push(format!("SGX component {i}: {have} < {need}"));
            }
        }
        if self.platform_pce_svn < level.pce_svn {
            gaps.push(format!(
                "PCESVN: {} < {}",
                self.platform_pce_svn, level.pce_svn
            ));
        }
        for (i, (&have, &need)) in self
            .platform_tee_tcb_svn
            .iter()
            .zip(&level.tdx_components)
            .enumerate()
            .skip(skip)
        {
            if have < need {
                gaps.push(format!("TDX component {i}: {have} < {need}"));
            }
        }
        if gaps.is_empty() {
            gaps.push(
                "the platform level is reached; the TDX module or the QE is behind".to_owned(),
            );
        }
        Some(format!(
            "level {} ({}) needs {}",
            level.tcb_date,
            level.status,
            gaps.join(", ")
        ))
    }
}

/// Evaluates the quote's TCB against verified TCB Info and QE Identity.
pub(crate) fn evaluate(
    report: &TdReport,
    qe: &QeReport,
    pck: &PckIdentity,
    tcb_info: &TcbInfo,
    qe_identity: &QeIdentity,
) -> Result<TcbEvaluation, AttestationError> {
    check_collateral_kind(tcb_info, qe_identity, pck)?;
    let levels = tcb_info
        .tcb_levels
        .iter()
        .map(requirement)
        .collect::<Result<Vec<_>, _>>()?;

    let qe_level = qe_status(qe, qe_identity)?;
    let module = module_status(report, &report.tee_tcb_svn, tcb_info)?;
    let platform = platform_level(&levels, pck, &report.tee_tcb_svn).ok_or_else(|| {
        AttestationError::TdxTcbNotSupported {
            reason: no_level_reason(&levels, pck, &report.tee_tcb_svn),
        }
    })?;
    let platform_status = levels[platform].status;

    let mut status = platform_status;
    if let Some((_, m)) = &module {
        status = status.converge(m.tcb_status);
    }
    status = status.converge(qe_level.tcb_status);

    if report.kind == TdReportKind::Td15
        && matches!(
            status,
            TcbStatus::OutOfDate | TcbStatus::OutOfDateConfigurationNeeded
        )
        && qe_level.tcb_status == TcbStatus::UpToDate
        && let Some(svn2) = &report.tee_tcb_svn2
        && let Some(relaunched) = platform_level(&levels, pck, svn2)
    {
        let module_now = module_status(report, svn2, tcb_info)?;
        let module_ok = module_now
            .as_ref()
            .is_none_or(|(_, m)| m.tcb_status == TcbStatus::UpToDate);
        if module_ok {
            match levels[relaunched].status {
                TcbStatus::UpToDate => status = TcbStatus::TdRelaunchAdvised,
                TcbStatus::ConfigurationNeeded => {
                    status = TcbStatus::TdRelaunchAdvisedConfigurationNeeded;
                }
                _ => {}
            }
        }
    }

    let mut advisory_ids: Vec<String> = Vec::new();
    let module_advisories = module.as_ref().map(|(_, m)| m.advisory_ids.as_slice());
    for id in tcb_info.tcb_levels[platform]
        .advisory_ids
        .iter()
        .chain(module_advisories.unwrap_or_default())
        .chain(&qe_level.advisory_ids)
    {
        if !advisory_ids.contains(id) {
            advisory_ids.push(id.clone());
        }
    }
    Ok(TcbEvaluation {
        status,
        platform_status,
        module_status: module.map(|(_, m)| m.tcb_status),
        qe_status: qe_level.tcb_status,
        tcb_date: levels[platform].tcb_date.clone(),
        advisory_ids,
        tcb_evaluation_data_number: tcb_info.tcb_evaluation_data_number,
        collateral_issued_at: tcb_info.issue_date.min(qe_identity.issue_date),
        platform_sgx_components: pck.sgx_components,
        platform_pce_svn: pck.pce_svn,
        platform_tee_tcb_svn: report.tee_tcb_svn,
        levels,
    })
}

fn check_collateral_kind(
    tcb_info: &TcbInfo,
    qe_identity: &QeIdentity,
    pck: &PckIdentity,
) -> Result<(), AttestationError> {
    let mismatch = |field: &'static str, quote: String, collateral: String| {
        Err(AttestationError::TdxCollateralMismatch {
            field,
            quote,
            collateral,
        })
    };
    if tcb_info.id != "TDX" || tcb_info.version < 3 {
        return mismatch(
            "TCB Info id/version",
            "TDX, version 3".to_owned(),
            format!("{} version {}", tcb_info.id, tcb_info.version),
        );
    }
    if qe_identity.id != "TD_QE" || !(2..=3).contains(&qe_identity.version) {
        return mismatch(
            "QE Identity id/version",
            "TD_QE, version 2".to_owned(),
            format!("{} version {}", qe_identity.id, qe_identity.version),
        );
    }
    if !tcb_info.fmspc.eq_ignore_ascii_case(&hex::encode(pck.fmspc)) {
        return mismatch("FMSPC", hex::encode(pck.fmspc), tcb_info.fmspc.clone());
    }
    if !tcb_info
        .pce_id
        .eq_ignore_ascii_case(&hex::encode(pck.pce_id))
    {
        return mismatch("PCE-ID", hex::encode(pck.pce_id), tcb_info.pce_id.clone());
    }
    Ok(())
}

fn requirement(level: &TcbLevel) -> Result<TcbLevelRequirement, AttestationError> {
    let sixteen = |what: &'static str, comps: &[super::collateral::TcbComponent]| {
        let mut out = [0u8; 16];
        if comps.len() != 16 {
            return Err(AttestationError::TdxCollateralMalformed {
                field: "tcb_info",
                reason: format!(
                    "a level of {} has {} {what} components, expected 16",
                    level.tcb_date,
                    comps.len()
                ),
            });
        }
        for (o, c) in out.iter_mut().zip(comps) {
            *o = c.svn;
        }
        Ok(out)
    };
    Ok(TcbLevelRequirement {
        tcb_date: level.tcb_date.clone(),
        status: level.tcb_status,
        sgx_components: sixteen("SGX", &level.tcb.sgxtcbcomponents)?,
        pce_svn: level.tcb.pcesvn,
        tdx_components: sixteen("TDX", &level.tcb.tdxtcbcomponents)?,
    })
}

/// Index of the first level the platform reaches (step 1).
fn platform_level(
    levels: &[TcbLevelRequirement],
    pck: &PckIdentity,
    tee_tcb_svn: &[u8; 16],
) -> Option<usize> {
    let skip = if tee_tcb_svn[1] > 0 { 2 } else { 0 };
    levels.iter().position(|l| {
        pck.sgx_components
            .iter()
            .zip(&l.sgx_components)
            .all(|(have, need)| have >= need)
            && pck.pce_svn >= l.pce_svn
            && tee_tcb_svn
                .iter()
                .zip(&l.tdx_components)
                .skip(skip)
                .all(|(have, need)| have >= need)
    })
}

fn no_level_reason(levels: &[TcbLevelRequirement], pck: &PckIdentity, svn: &[u8; 16]) -> String {
    let Some(lowest) = levels.last() else {
        return "the TCB Info lists no TCB level".to_owned();
    };
    let eval = TcbEvaluation {
        status: lowest.status,
        platform_status: lowest.status,
        module_status: None,
        qe_status: lowest.status,
        tcb_date: String::new(),
        advisory_ids: Vec::new(),
        tcb_evaluation_data_number: 0,
        collateral_issued_at: 0,
        platform_sgx_components: pck.sgx_components,
        platform_pce_svn: pck.pce_svn,
        platform_tee_tcb_svn: *svn,
        levels: vec![lowest.clone()],
    };
    format!(
        "the platform is below every TCB level of the TCB Info; even the lowest, {}",
        eval.shortfall(|_| true).unwrap_or_default()
    )
}

/// The module identity's matched level (step 2), `None` for major version 0.
fn module_status<'a>(
    report: &TdReport,
    tee_tcb_svn: &[u8; 16],
    tcb_info: &'a TcbInfo,
) -> Result<Option<(String, &'a IsvTcbLevel)>, AttestationError> {
    let major = tee_tcb_svn[1];
    let masked_equal = |found: &[u8], expected: &[u8], mask: &[u8]| {
        found.len() == expected.len()
            && found.len() == mask.len()
            && found
                .iter()
                .zip(expected)
                .zip(mask)
                .all(|((f, e), m)| f & m == e & m)
    };
    let mismatch = |reason: String| AttestationError::TdxModuleMismatch { reason };
    if major == 0 {
        if let Some(m) = &tcb_info.tdx_module {
            if m.mrsigner != report.mr_signer_seam {
                return Err(mismatch(format!(
                    "MRSIGNERSEAM {} is not the TCB Info's tdxModule signer {}",
                    hex::encode(report.mr_signer_seam),
                    hex::encode(&m.mrsigner)
                )));
            }
            if !masked_equal(&report.seam_attributes, &m.attributes, &m.attributes_mask) {
                return Err(mismatch(format!(
                    "SEAMATTRIBUTES {} do not match tdxModule {} under mask {}",
                    hex::encode(report.seam_attributes),
                    hex::encode(&m.attributes),
                    hex::encode(&m.attributes_mask)
                )));
            }
        }
        return Ok(None);
    }
    let id = format!("TDX_{major:02X}");
    let identity = tcb_info
        .tdx_module_identities
        .iter()
        .find(|m| m.id == id)
        .ok_or_else(|| {
            mismatch(format!(
                "the quote's TDX module major version {major} ({id}) is not in the TCB Info"
            ))
        })?;
    if identity.mrsigner != report.mr_signer_seam {
        return Err(mismatch(format!(
            "MRSIGNERSEAM {} is not {id}'s signer {}",
            hex::encode(report.mr_signer_seam),
            hex::encode(&identity.mrsigner)
        )));
    }
    if !masked_equal(
        &report.seam_attributes,
        &identity.attributes,
        &identity.attributes_mask,
    ) {
        return Err(mismatch(format!(
            "SEAMATTRIBUTES {} do not match {id}'s {} under mask {}",
            hex::encode(report.seam_attributes),
            hex::encode(&identity.attributes),
            hex::encode(&identity.attributes_mask)
        )));
    }
    let isvsvn = u16::from(tee_tcb_svn[0]);
    let level = identity
        .tcb_levels
        .iter()
        .find(|l| isvsvn >= l.tcb.isvsvn)
        .ok_or_else(|| AttestationError::TdxTcbNotSupported {
            reason: format!(
                "TDX module ISVSVN {isvsvn} is below every {id} level (lowest {})",
                identity.tcb_levels.last().map_or(0, |l| l.tcb.isvsvn)
            ),
        })?;
    Ok(Some((id, level)))
}

/// The QE identity match and its level (step 3).
fn qe_status<'a>(
    qe: &QeReport,
    identity: &'a QeIdentity,
) -> Result<&'a IsvTcbLevel, AttestationError> {
    let mismatch = |field: &'static str, expected: String, found: String| {
        Err(AttestationError::TdxQeIdentityMismatch {
            field,
            expected,
            found,
        })
    };
    if identity.mrsigner != qe.mr_signer {
        return mismatch(
            "MRSIGNER",
            hex::encode(&identity.mrsigner),
            hex::encode(qe.mr_signer),
        );
    }
    if identity.isvprodid != qe.isv_prod_id {
        return mismatch(
            "ISVPRODID",
            identity.isvprodid.to_string(),
            qe.isv_prod_id.to_string(),
        );
    }
    let misc = qe.misc_select.to_le_bytes();
    for (field, found, expected, mask) in [
        (
            "MISCSELECT",
            &misc[..],
            &identity.miscselect[..],
            &identity.miscselect_mask[..],
        ),
        (
            "ATTRIBUTES",
            &qe.attributes[..],
            &identity.attributes[..],
            &identity.attributes_mask[..],
        ),
    ] {
        // The identity writes MISCSELECT as a big-endian hex u32; the report holds it
        // little-endian.
        let (expected, mask): (Vec<u8>, Vec<u8>) = if field == "MISCSELECT" {
            (
                expected.iter().rev().copied().collect(),
                mask.iter().rev().copied().collect(),
            )
        } else {
            (expected.to_vec(), mask.to_vec())
        };
        let ok = found.len() == expected.len()
            && found.len() == mask.len()
            && found
                .iter()
                .zip(&expected)
                .zip(&mask)
                .all(|((f, e), m)| f & m == e & m);
        if !ok {
            return mismatch(field, hex::encode(&expected), hex::encode(found));
        }
    }
    identity
        .tcb_levels
        .iter()
        .find(|l| qe.isv_svn >= l.tcb.isvsvn)
        .ok_or_else(|| AttestationError::TdxTcbNotSupported {
            reason: format!(
                "QE ISVSVN {} is below every QE Identity level (lowest {})",
                qe.isv_svn,
                identity.tcb_levels.last().map_or(0, |l| l.tcb.isvsvn)
            ),
        })
}
