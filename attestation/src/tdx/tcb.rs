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

use super::collateral::{IsvTcbLevel, QeIdentity, TcbInfo, TcbLevel, TdxModule};
use super::pki::PckIdentity;
use super::quote::{QeReport, TdReport, TdReportKind};
use super::status::TcbStatus;
use crate::AttestationError;
use crate::error::TdxError;

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

impl TcbLevelRequirement {
    /// In words, what a platform with these values lacks to reach this level.
    fn shortfall(&self, sgx: &[u8; 16], pce_svn: u16, tee_tcb_svn: &[u8; 16]) -> String {
        let mut gaps = Vec::new();
        for (i, (&have, &need)) in sgx.iter().zip(&self.sgx_components).enumerate() {
            if have < need {
                gaps.push(format!("SGX component {i}: {have} < {need}"));
            }
        }
        if pce_svn < self.pce_svn {
            gaps.push(format!("PCESVN: {pce_svn} < {}", self.pce_svn));
        }
        for (i, (&have, &need)) in tee_tcb_svn
            .iter()
            .zip(&self.tdx_components)
            .enumerate()
            .skip(first_judged_tdx_component(tee_tcb_svn))
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
        format!(
            "level {} ({}) needs {}",
            self.tcb_date,
            self.status,
            gaps.join(", ")
        )
    }
}

/// With a TDX module major version (TEE_TCB_SVN[1] > 0) the module identity judges components
/// 0 and 1; the platform level then compares from index 2 (Intel's `isTdxTcbHigherOrEqual`).
fn first_judged_tdx_component(tee_tcb_svn: &[u8; 16]) -> usize {
    if tee_tcb_svn[1] > 0 { 2 } else { 0 }
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
        Some(level.shortfall(
            &self.platform_sgx_components,
            self.platform_pce_svn,
            &self.platform_tee_tcb_svn,
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
    let module = module_status(report, report.tee_tcb_svn(), tcb_info)?;
    let platform = platform_level(&levels, pck, report.tee_tcb_svn()).ok_or_else(|| {
        TdxError::NoMatchingTcbLevel {
            reason: no_level_reason(&levels, pck, report.tee_tcb_svn()),
        }
    })?;
    let platform_status = levels[platform].status;

    let mut status = platform_status;
    if let Some((_, m)) = &module {
        status = status.converge(m.tcb_status);
    }
    status = status.converge(qe_level.tcb_status);

    if report.kind() == TdReportKind::Td15
        && matches!(
            status,
            TcbStatus::OutOfDate | TcbStatus::OutOfDateConfigurationNeeded
        )
        && qe_level.tcb_status == TcbStatus::UpToDate
        && let Some(svn2) = report.tee_tcb_svn2()
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
        collateral_issued_at: tcb_info
            .header
            .issue_date
            .min(qe_identity.header.issue_date),
        platform_sgx_components: pck.sgx_components,
        platform_pce_svn: pck.pce_svn,
        platform_tee_tcb_svn: *report.tee_tcb_svn(),
        levels,
    })
}

fn check_collateral_kind(
    tcb_info: &TcbInfo,
    qe_identity: &QeIdentity,
    pck: &PckIdentity,
) -> Result<(), AttestationError> {
    let mismatch = |field: &'static str, quote: String, collateral: String| {
        Err(TdxError::CollateralMismatch {
            field,
            quote,
            collateral,
        }
        .into())
    };
    if tcb_info.header.id != "TDX" || tcb_info.header.version < 3 {
        return mismatch(
            "TCB Info id/version",
            "TDX, version 3".to_owned(),
            format!("{} version {}", tcb_info.header.id, tcb_info.header.version),
        );
    }
    if qe_identity.header.id != "TD_QE" || !(2..=3).contains(&qe_identity.header.version) {
        return mismatch(
            "QE Identity id/version",
            "TD_QE, version 2".to_owned(),
            format!(
                "{} version {}",
                qe_identity.header.id, qe_identity.header.version
            ),
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
            return Err(TdxError::CollateralMalformed {
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
    let skip = first_judged_tdx_component(tee_tcb_svn);
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
    match levels.last() {
        None => "the TCB Info lists no TCB level".to_owned(),
        Some(lowest) => format!(
            "the platform is below every TCB level of the TCB Info; even the lowest, {}",
            lowest.shortfall(&pck.sgx_components, pck.pce_svn, svn)
        ),
    }
}

/// The module identity's matched level (step 2), `None` for major version 0.
fn module_status<'a>(
    report: &TdReport,
    tee_tcb_svn: &[u8; 16],
    tcb_info: &'a TcbInfo,
) -> Result<Option<(String, &'a IsvTcbLevel)>, AttestationError> {
    let major = tee_tcb_svn[1];
    let mismatch = |field, expected, found| TdxError::ModuleMismatch {
        field,
        expected,
        found,
    };
    let check = |m: &TdxModule, name: &str| {
        if m.mrsigner != report.mr_signer_seam() {
            return Err(mismatch(
                "MRSIGNERSEAM",
                format!("{} ({name}'s signer)", hex::encode(&m.mrsigner)),
                hex::encode(report.mr_signer_seam()),
            ));
        }
        if !masked_equal(report.seam_attributes(), &m.attributes, &m.attributes_mask) {
            return Err(mismatch(
                "SEAMATTRIBUTES",
                format!(
                    "{} under mask {} ({name})",
                    hex::encode(&m.attributes),
                    hex::encode(&m.attributes_mask)
                ),
                hex::encode(report.seam_attributes()),
            ));
        }
        Ok(())
    };
    if major == 0 {
        if let Some(m) = &tcb_info.tdx_module {
            check(m, "the TCB Info's tdxModule")?;
        }
        return Ok(None);
    }
    let id = format!("TDX_{major:02X}");
    let identity = tcb_info
        .tdx_module_identities
        .iter()
        .find(|m| m.id == id)
        .ok_or_else(|| {
            mismatch(
                "major version",
                "one the TCB Info lists".to_owned(),
                format!("{major} ({id})"),
            )
        })?;
    check(&identity.module, &id)?;
    let isvsvn = u16::from(tee_tcb_svn[0]);
    let level = identity
        .tcb_levels
        .iter()
        .find(|l| isvsvn >= l.tcb.isvsvn)
        .ok_or_else(|| TdxError::NoMatchingTcbLevel {
            reason: format!(
                "TDX module ISVSVN {isvsvn} is below every {id} level (lowest {})",
                identity.tcb_levels.last().map_or(0, |l| l.tcb.isvsvn)
            ),
        })?;
    Ok(Some((id, level)))
}

/// `found & mask == expected & mask`, byte by byte, over equal lengths.
fn masked_equal(found: &[u8], expected: &[u8], mask: &[u8]) -> bool {
    found.len() == expected.len()
        && found.len() == mask.len()
        && found
            .iter()
            .zip(expected)
            .zip(mask)
            .all(|((f, e), m)| f & m == e & m)
}

/// The QE identity match and its level (step 3).
fn qe_status<'a>(
    qe: &QeReport,
    identity: &'a QeIdentity,
) -> Result<&'a IsvTcbLevel, AttestationError> {
    let mismatch = |field: &'static str, expected: String, found: String| {
        Err(TdxError::QeIdentityMismatch {
            field,
            expected,
            found,
        }
        .into())
    };
    if identity.mrsigner != qe.mr_signer() {
        return mismatch(
            "MRSIGNER",
            hex::encode(&identity.mrsigner),
            hex::encode(qe.mr_signer()),
        );
    }
    if identity.isvprodid != qe.isv_prod_id() {
        return mismatch(
            "ISVPRODID",
            identity.isvprodid.to_string(),
            qe.isv_prod_id().to_string(),
        );
    }
    let misc = qe.misc_select().to_le_bytes();
    for (field, found, expected, mask) in [
        (
            "MISCSELECT",
            &misc[..],
            &identity.miscselect[..],
            &identity.miscselect_mask[..],
        ),
        (
            "ATTRIBUTES",
            &qe.attributes()[..],
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
        if !masked_equal(found, &expected, &mask) {
            return mismatch(field, hex::encode(&expected), hex::encode(found));
        }
    }
    Ok(identity
        .tcb_levels
        .iter()
        .find(|l| qe.isv_svn() >= l.tcb.isvsvn)
        .ok_or_else(|| TdxError::NoMatchingTcbLevel {
            reason: format!(
                "QE ISVSVN {} is below every QE Identity level (lowest {})",
                qe.isv_svn(),
                identity.tcb_levels.last().map_or(0, |l| l.tcb.isvsvn)
            ),
        })?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tdx::pki::PckCa;
    use crate::tdx::quote::{QE_REPORT_LEN, TD10_BODY_LEN, TD15_BODY_LEN};

    /// A TCB Info with two platform levels (UpToDate needs TDX comps [5, 0, 3]; OutOfDate needs
    /// [5, 0, 2]) and a TDX_01 identity (UpToDate from ISVSVN 6, OutOfDate from 4).
    fn tcb_info() -> TcbInfo {
        let level = |sgx: u8, tdx2: u8, status: &str| {
            let comps = |first: &[u8]| {
                let mut v: Vec<String> =
                    first.iter().map(|s| format!(r#"{{"svn":{s}}}"#)).collect();
                v.resize(16, r#"{"svn":0}"#.to_owned());
                format!("[{}]", v.join(","))
            };
            format!(
                r#"{{"tcb":{{"sgxtcbcomponents":{},"pcesvn":13,"tdxtcbcomponents":{}}},
                   "tcbDate":"2024-0{sgx}-01T00:00:00Z","tcbStatus":"{status}","advisoryIDs":["INTEL-SA-{sgx}"]}}"#,
                comps(&[sgx]),
                comps(&[5, 0, tdx2])
            )
        };
        let json = format!(
            r#"{{"id":"TDX","version":3,"issueDate":"2025-01-01T00:00:00Z","nextUpdate":"2025-02-01T00:00:00Z",
               "fmspc":"90C06F000000","pceId":"0000","tcbType":0,"tcbEvaluationDataNumber":18,
               "tdxModule":{{"mrsigner":"{z48}","attributes":"0000000000000000","attributesMask":"FFFFFFFFFFFFFFFF"}},
               "tdxModuleIdentities":[{{"id":"TDX_01","mrsigner":"{z48}","attributes":"0000000000000000",
                 "attributesMask":"FFFFFFFFFFFFFFFF","tcbLevels":[
                   {{"tcb":{{"isvsvn":6}},"tcbDate":"2024-11-13T00:00:00Z","tcbStatus":"UpToDate"}},
                   {{"tcb":{{"isvsvn":4}},"tcbDate":"2024-03-13T00:00:00Z","tcbStatus":"OutOfDate","advisoryIDs":["INTEL-SA-M"]}}]}}],
               "tcbLevels":[{},{}]}}"#,
            level(3, 3, "UpToDate"),
            level(2, 2, "OutOfDate"),
            z48 = "00".repeat(48)
        );
        serde_json::from_str(&json).expect("tcb info")
    }

    fn qe_identity(status: &str) -> QeIdentity {
        serde_json::from_str(&format!(
            r#"{{"id":"TD_QE","version":2,"issueDate":"2025-01-01T00:00:00Z","nextUpdate":"2025-02-01T00:00:00Z",
               "tcbEvaluationDataNumber":18,"miscselect":"00000000","miscselectMask":"FFFFFFFF",
               "attributes":"11000000000000000000000000000000","attributesMask":"FBFFFFFFFFFFFFFF0000000000000000",
               "mrsigner":"{}","isvprodid":2,
               "tcbLevels":[{{"tcb":{{"isvsvn":4}},"tcbDate":"2024-11-13T00:00:00Z","tcbStatus":"{status}"}}]}}"#,
            "dc".repeat(32)
        ))
        .expect("qe identity")
    }

    fn qe_report() -> QeReport {
        let mut b = [0u8; QE_REPORT_LEN];
        b[48] = 0x11; // ATTRIBUTES
        b[128..160].fill(0xdc); // MRSIGNER
        b[256] = 2; // ISVPRODID
        b[258] = 4; // ISVSVN
        QeReport::parse_for_tests(&b)
    }

    fn pck(sgx0: u8) -> PckIdentity {
        let mut sgx_components = [0u8; 16];
        sgx_components[0] = sgx0;
        PckIdentity {
            fmspc: [0x90, 0xc0, 0x6f, 0, 0, 0],
            ca: PckCa::Platform,
            pce_id: [0, 0],
            pce_svn: 13,
            sgx_components,
        }
    }

    fn report(tee_tcb_svn: [u8; 3], svn2: Option<[u8; 3]>) -> TdReport {
        // TEE_TCB_SVN is the first field of the body, TEE_TCB_SVN2 the first after TD 1.0's.
        let mut body = vec![0u8; TD15_BODY_LEN];
        body[..3].copy_from_slice(&tee_tcb_svn);
        let kind = match svn2 {
            Some(svn2) => {
                body[TD10_BODY_LEN..TD10_BODY_LEN + 3].copy_from_slice(&svn2);
                TdReportKind::Td15
            }
            None => {
                body.truncate(TD10_BODY_LEN);
                TdReportKind::Td10
            }
        };
        TdReport::parse_body_for_tests(&body, kind).expect("TD report body")
    }

    fn eval(
        r: &TdReport,
        pck_sgx0: u8,
        qe_status: &str,
    ) -> Result<TcbEvaluation, AttestationError> {
        evaluate(
            r,
            &qe_report(),
            &pck(pck_sgx0),
            &tcb_info(),
            &qe_identity(qe_status),
        )
    }

    #[test]
    fn module_version_zero_compares_every_tdx_component() {
        let e = eval(&report([5, 0, 3], None), 3, "UpToDate").expect("eval");
        assert_eq!((e.status, e.module_status), (TcbStatus::UpToDate, None));
        assert_eq!(e.advisory_ids, ["INTEL-SA-3"]);
        // TEE_TCB_SVN[0] = 4 < 5 with major version 0: no level at all.
        let err = eval(&report([4, 0, 3], None), 3, "UpToDate").expect_err("below");
        assert_eq!(err.code(), "tdx.tcb.no_matching_level");
    }

    #[test]
    fn with_a_module_version_the_identity_judges_components_0_and_1() {
        // ISVSVN 4 < the platform level's 5, but major version 1: Intel skips indices 0 and 1
        // (dcap-qvl would report no matching level) and TDX_01 rates ISVSVN 4 OutOfDate.
        let e = eval(&report([4, 1, 3], None), 3, "UpToDate").expect("eval");
        assert_eq!(e.platform_status, TcbStatus::UpToDate);
        assert_eq!(e.module_status, Some(TcbStatus::OutOfDate));
        assert_eq!(e.status, TcbStatus::OutOfDate);
        assert_eq!(e.advisory_ids, ["INTEL-SA-3", "INTEL-SA-M"]);
        let e = eval(&report([6, 1, 3], None), 3, "UpToDate").expect("eval");
        assert_eq!(e.status, TcbStatus::UpToDate);
        // An unknown major version, and an ISVSVN below every module level.
        let err = eval(&report([6, 3, 3], None), 3, "UpToDate").expect_err("TDX_03");
        assert_eq!(err.code(), "tdx.tcb.module_mismatch");
        let err = eval(&report([2, 1, 3], None), 3, "UpToDate").expect_err("isvsvn 2");
        assert_eq!(err.code(), "tdx.tcb.no_matching_level");
    }

    #[test]
    fn statuses_converge_with_the_module_and_the_qe() {
        // Platform OutOfDate (SGX comp 0 = 2).
        let e = eval(&report([6, 1, 3], None), 2, "UpToDate").expect("eval");
        assert_eq!(e.status, TcbStatus::OutOfDate);
        assert_eq!(e.tcb_date, "2024-02-01T00:00:00Z");
        // QE OutOfDate drags an UpToDate platform down; a revoked QE revokes.
        let e = eval(&report([6, 1, 3], None), 3, "OutOfDate").expect("eval");
        assert_eq!(
            (e.platform_status, e.status),
            (TcbStatus::UpToDate, TcbStatus::OutOfDate)
        );
        let e = eval(&report([6, 1, 3], None), 3, "Revoked").expect("eval");
        assert_eq!(e.status, TcbStatus::Revoked);
        for (platform, component, out) in [
            (
                TcbStatus::ConfigurationNeeded,
                TcbStatus::OutOfDate,
                TcbStatus::OutOfDateConfigurationNeeded,
            ),
            (
                TcbStatus::SWHardeningNeeded,
                TcbStatus::OutOfDate,
                TcbStatus::OutOfDate,
            ),
            (
                TcbStatus::SWHardeningNeeded,
                TcbStatus::UpToDate,
                TcbStatus::SWHardeningNeeded,
            ),
            (TcbStatus::OutOfDate, TcbStatus::Revoked, TcbStatus::Revoked),
        ] {
            assert_eq!(
                platform.converge(component),
                out,
                "{platform} + {component}"
            );
        }
    }

    #[test]
    fn a_td15_launched_on_an_old_module_is_told_to_relaunch() {
        // Launched with module ISVSVN 4 (OutOfDate); the current module (TEE_TCB_SVN2) is 6.
        let e = eval(&report([4, 1, 3], Some([6, 1, 3])), 3, "UpToDate").expect("eval");
        assert_eq!(e.status, TcbStatus::TdRelaunchAdvised);
        // Not when the current module is old too, nor for a TD 1.0 report.
        let e = eval(&report([4, 1, 3], Some([4, 1, 3])), 3, "UpToDate").expect("eval");
        assert_eq!(e.status, TcbStatus::OutOfDate);
        let e = eval(&report([4, 1, 3], None), 3, "UpToDate").expect("eval");
        assert_eq!(e.status, TcbStatus::OutOfDate);
    }

    #[test]
    fn the_shortfall_names_the_first_acceptable_level() {
        let e = eval(&report([6, 1, 2], None), 3, "UpToDate").expect("eval");
        assert_eq!(e.status, TcbStatus::OutOfDate);
        let s = e.shortfall(|s| s == TcbStatus::UpToDate).expect("a level");
        assert!(s.contains("TDX component 2: 2 < 3"), "{s}");
        assert!(e.shortfall(|s| s == TcbStatus::Revoked).is_none());
    }

    #[test]
    fn statuses_round_trip_intel_names() {
        for s in TcbStatus::ALL {
            assert_eq!(TcbStatus::from_name(s.as_str()), Some(s));
            let json = serde_json::to_string(&s).expect("json");
            assert_eq!(json, format!("\"{}\"", s.as_str()));
        }
    }
}
