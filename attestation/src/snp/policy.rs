//! Appraisal of verified SEV-SNP reports.
//!
//! [`SnpPolicy::appraise`] takes a [`VerifiedSnpReport`] (never raw bytes) and always checks the
//! key binding. The default policy: nothing accepted until MEASUREMENT is pinned (or
//! `dangerous_any_workload` is set), debug refused, a migration agent refused (it can export guest
//! memory, like debug), any VMPL, no minimum TCB, CURRENT_TCB may differ from COMMITTED_TCB (real
//! reports with provisional firmware exist), no CRL required, any chip. The signature, chain,
//! validity, TCB extensions and hwID were checked by the verifier already.
//!
//! File form (JSON, unknown fields rejected, every field optional but the MEASUREMENT pin):
//!
//! ```json
//! {
//!   "measurement": "<96 hex>", "host_data": "<64 hex>",
//!   "id_key_digest": "<96 hex>", "author_key_digest": "<96 hex>",
//!   "allowed_vmpls": [0], "allow_smt": true,
//!   "min_tcb": {"bootloader": 3, "tee": 0, "snp": 8, "microcode": 115, "fmc": 0},
//!   "require_committed_tcb": false, "require_crl": false,
//!   "chip_ids": ["<128 hex>"],
//!   "dangerous_allow_debug": false, "dangerous_allow_migration_agent": false,
//!   "dangerous_any_workload": false
//! }
//! ```

use crate::error::{PolicyError, SnpError};
use serde::{Deserialize, Serialize};

use super::report::TcbVersion;
use super::verify::VerifiedSnpReport;
use crate::AttestationError;
use crate::appraisal::{AppraisalContext, Appraised, check_report_data};

/// What to require of a verified SEV-SNP report. Every construction path (builders, JSON,
/// direct deserialization) goes through the same checks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "SnpPolicyFile", into = "SnpPolicyFile")]
pub struct SnpPolicy {
    measurement: Option<[u8; 48]>,
    host_data: Option<[u8; 32]>,
    id_key_digest: Option<[u8; 48]>,
    author_key_digest: Option<[u8; 48]>,
    allowed_vmpls: Option<Vec<u32>>,
    allow_debug: bool,
    allow_smt: bool,
    allow_migration_agent: bool,
    min_tcb: Option<MinTcb>,
    require_committed_tcb: bool,
    require_crl: bool,
    chip_ids: Option<Vec<Vec<u8>>>,
    any_workload: bool,
}

/// The JSON file form: hex strings for byte fields, escape hatches named `dangerous_*`.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SnpPolicyFile {
    #[serde(
        default,
        with = "crate::hex_field::optional",
        skip_serializing_if = "Option::is_none"
    )]
    measurement: Option<Vec<u8>>,
    #[serde(
        default,
        with = "crate::hex_field::optional",
        skip_serializing_if = "Option::is_none"
    )]
    host_data: Option<Vec<u8>>,
    #[serde(
        default,
        with = "crate::hex_field::optional",
        skip_serializing_if = "Option::is_none"
    )]
    id_key_digest: Option<Vec<u8>>,
    #[serde(
        default,
        with = "crate::hex_field::optional",
        skip_serializing_if = "Option::is_none"
    )]
    author_key_digest: Option<Vec<u8>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    allowed_vmpls: Option<Vec<u32>>,
    #[serde(default = "yes")]
    allow_smt: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    min_tcb: Option<MinTcb>,
    #[serde(default)]
    require_committed_tcb: bool,
    #[serde(default)]
    require_crl: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    chip_ids: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    dangerous_allow_debug: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    dangerous_allow_migration_agent: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    dangerous_any_workload: bool,
}

fn yes() -> bool {
    true
}

impl Default for SnpPolicy {
    /// Debug and migration agent refused; SMT allowed; nothing pinned (so nothing accepted
    /// until a MEASUREMENT is pinned or `dangerous_any_workload` is set).
    fn default() -> Self {
        Self {
            measurement: None,
            host_data: None,
            id_key_digest: None,
            author_key_digest: None,
            allowed_vmpls: None,
            allow_debug: false,
            allow_smt: true,
            allow_migration_agent: false,
            min_tcb: None,
            require_committed_tcb: false,
            require_crl: false,
            chip_ids: None,
            any_workload: false,
        }
    }
}

impl TryFrom<SnpPolicyFile> for SnpPolicy {
    type Error = AttestationError;

    fn try_from(f: SnpPolicyFile) -> Result<Self, Self::Error> {
        fn fixed<const N: usize>(
            name: &str,
            v: Option<Vec<u8>>,
        ) -> Result<Option<[u8; N]>, AttestationError> {
            Ok(v.map(|v| {
                <[u8; N]>::try_from(v.as_slice()).map_err(|_| PolicyError::Invalid {
                    reason: format!("{name} is {} bytes, expected {N}", v.len()),
                })
            })
            .transpose()?)
        }
        let mut chip_ids = None;
        if let Some(ids) = f.chip_ids {
            let mut out = Vec::with_capacity(ids.len());
            for c in ids {
                match hex::decode(&c) {
                    Ok(b) if b.len() == 64 || b.len() == 8 => out.push(b),
                    _ => {
                        return Err(PolicyError::Invalid {
                            reason: format!(
                                "chip_ids entry {c:?} is not 128 (or, Turin, 16) hex digits"
                            ),
                        }
                        .into());
                    }
                }
            }
            chip_ids = Some(out);
        }
        let p = Self {
            measurement: fixed("measurement", f.measurement)?,
            host_data: fixed("host_data", f.host_data)?,
            id_key_digest: fixed("id_key_digest", f.id_key_digest)?,
            author_key_digest: fixed("author_key_digest", f.author_key_digest)?,
            allowed_vmpls: f.allowed_vmpls,
            allow_debug: f.dangerous_allow_debug,
            allow_smt: f.allow_smt,
            allow_migration_agent: f.dangerous_allow_migration_agent,
            min_tcb: f.min_tcb,
            require_committed_tcb: f.require_committed_tcb,
            require_crl: f.require_crl,
            chip_ids,
            any_workload: f.dangerous_any_workload,
        };
        p.check_workload_pinned()
            .map_err(|e| PolicyError::Invalid {
                reason: format!(
                    "{e}: pin \"measurement\", or say \"dangerous_any_workload\": true"
                ),
            })?;
        Ok(p)
    }
}

impl From<SnpPolicy> for SnpPolicyFile {
    fn from(p: SnpPolicy) -> Self {
        Self {
            measurement: p.measurement.map(|v| v.to_vec()),
            host_data: p.host_data.map(|v| v.to_vec()),
            id_key_digest: p.id_key_digest.map(|v| v.to_vec()),
            author_key_digest: p.author_key_digest.map(|v| v.to_vec()),
            allowed_vmpls: p.allowed_vmpls,
            allow_smt: p.allow_smt,
            min_tcb: p.min_tcb,
            require_committed_tcb: p.require_committed_tcb,
            require_crl: p.require_crl,
            chip_ids: p.chip_ids.map(|ids| ids.iter().map(hex::encode).collect()),
            dangerous_allow_debug: p.allow_debug,
            dangerous_allow_migration_agent: p.allow_migration_agent,
            dangerous_any_workload: p.any_workload,
        }
    }
}

/// Minimum security patch levels; an absent component is not checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MinTcb {
    /// Minimum FMC SPL (Turin).
    #[serde(default)]
    pub fmc: Option<u8>,
    /// Minimum boot loader SPL.
    #[serde(default)]
    pub bootloader: Option<u8>,
    /// Minimum TEE SPL.
    #[serde(default)]
    pub tee: Option<u8>,
    /// Minimum SNP firmware SPL.
    #[serde(default)]
    pub snp: Option<u8>,
    /// Minimum microcode SPL.
    #[serde(default)]
    pub microcode: Option<u8>,
}

impl SnpPolicy {
    /// Parses the JSON file form and checks field lengths and the workload pin.
    ///
    /// # Errors
    ///
    /// `policy.invalid`.
    pub fn from_json(json: &[u8]) -> Result<Self, AttestationError> {
        crate::error::policy_from_json(json)
    }

    /// The JSON file form.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(&SnpPolicyFile::from(self.clone())).unwrap_or_default()
    }

    /// Requires MEASUREMENT to equal `m`.
    #[must_use]
    pub fn with_measurement(mut self, m: [u8; 48]) -> Self {
        self.measurement = Some(m);
        self
    }

    /// Requires HOST_DATA to equal `h`.
    #[must_use]
    pub fn with_host_data(mut self, h: [u8; 32]) -> Self {
        self.host_data = Some(h);
        self
    }

    /// Requires ID_KEY_DIGEST to equal `d`.
    #[must_use]
    pub fn with_id_key_digest(mut self, d: [u8; 48]) -> Self {
        self.id_key_digest = Some(d);
        self
    }

    /// Requires AUTHOR_KEY_DIGEST to equal `d`.
    #[must_use]
    pub fn with_author_key_digest(mut self, d: [u8; 48]) -> Self {
        self.author_key_digest = Some(d);
        self
    }

    /// Accepts only reports requested at one of these VMPLs.
    #[must_use]
    pub fn with_allowed_vmpls(mut self, vmpls: impl IntoIterator<Item = u32>) -> Self {
        self.allowed_vmpls = Some(vmpls.into_iter().collect());
        self
    }

    /// Requires REPORTED_TCB to be at least `min` per component.
    #[must_use]
    pub fn with_min_tcb(mut self, min: MinTcb) -> Self {
        self.min_tcb = Some(min);
        self
    }

    /// Requires CURRENT_TCB to equal COMMITTED_TCB (no provisional firmware).
    #[must_use]
    pub fn require_committed_tcb(mut self) -> Self {
        self.require_committed_tcb = true;
        self
    }

    /// Refuses guests whose POLICY allows SMT.
    #[must_use]
    pub fn forbid_smt(mut self) -> Self {
        self.allow_smt = false;
        self
    }

    /// Accepts only these chips (CHIP_ID, 64 bytes; or the 8 Turin uses). Protects against a
    /// relay of evidence from another machine when the fleet is known.
    #[must_use]
    pub fn with_chip_ids(mut self, ids: impl IntoIterator<Item = Vec<u8>>) -> Self {
        self.chip_ids = Some(ids.into_iter().collect());
        self
    }

    /// Requires the bundle to carry AMD's CRL for the product, and the report's chain to have
    /// been checked against it ([`VerifiedSnpReport::crl_checked`]).
    #[must_use]
    pub fn require_crl(mut self) -> Self {
        self.require_crl = true;
        self
    }

    /// Accepts any workload: no MEASUREMENT pin is required. Any genuine SEV-SNP guest then
    /// passes: use only to inspect evidence or in tests.
    #[must_use]
    pub fn dangerous_any_workload(mut self) -> Self {
        self.any_workload = true;
        self
    }

    /// `policy.no_workload_pinned` unless MEASUREMENT is pinned or `dangerous_any_workload` set.
    ///
    /// # Errors
    ///
    /// `policy.no_workload_pinned`.
    pub fn check_workload_pinned(&self) -> Result<(), AttestationError> {
        if self.any_workload || self.measurement.is_some() {
            return Ok(());
        }
        Err(PolicyError::NoWorkloadPinned {
            platform: crate::Platform::SevSnp,
            required: "MEASUREMENT",
        }
        .into())
    }

    /// Accepts debug guests: the hypervisor can read their memory. Development only.
    #[must_use]
    pub fn dangerous_allow_debug(mut self) -> Self {
        self.allow_debug = true;
        self
    }

    /// Accepts guests that a migration agent may export.
    #[must_use]
    pub fn dangerous_allow_migration_agent(mut self) -> Self {
        self.allow_migration_agent = true;
        self
    }

    /// Whether debug guests are accepted.
    pub fn allow_debug(&self) -> bool {
        self.allow_debug
    }

    /// Checks `report` against this policy and the key binding of `ctx` in REPORT_DATA
    /// (`binding.digest()` then 16 zero bytes; the nonce is inside the digest).
    ///
    /// # Errors
    ///
    /// `policy.*` naming the first requirement the report fails.
    pub fn appraise(
        &self,
        report: &VerifiedSnpReport,
        ctx: &AppraisalContext,
    ) -> Result<AppraisedSnpReport, AttestationError> {
        self.check_workload(report)?;
        check_report_data(report.report_data(), ctx)?;
        Ok(Appraised::new(report.clone(), ctx.binding().clone()))
    }

    /// Checks everything [`appraise`](Self::appraise) checks except the key binding, for tools
    /// that inspect evidence whose keys they do not know. Success is not an
    /// [`AppraisedSnpReport`]: nothing that sends input or releases a key accepts it.
    ///
    /// # Errors
    ///
    /// As [`appraise`](Self::appraise), without `policy.binding_mismatch`.
    pub fn dangerous_appraise_without_binding(
        &self,
        report: &VerifiedSnpReport,
        _now: crate::UnixTime,
    ) -> Result<(), AttestationError> {
        self.check_workload(report)
    }

    fn check_workload(&self, report: &VerifiedSnpReport) -> Result<(), AttestationError> {
        self.check_workload_pinned()?;
        if report.is_debug() && !self.allow_debug {
            return Err(SnpError::DebugForbidden {
                policy: format!("{:#x}", report.policy()),
            }
            .into());
        }
        if report.migration_agent_allowed() && !self.allow_migration_agent {
            return Err(SnpError::PolicyBit {
                bit: "MIGRATE_MA",
                policy: format!("{:#x}", report.policy()),
            }
            .into());
        }
        if report.smt_allowed() && !self.allow_smt {
            return Err(SnpError::PolicyBit {
                bit: "SMT",
                policy: format!("{:#x}", report.policy()),
            }
            .into());
        }
        if let Some(vmpls) = &self.allowed_vmpls
            && !vmpls.contains(&report.vmpl())
        {
            return Err(SnpError::VmplNotAllowed {
                vmpl: report.vmpl(),
                allowed: format!("{vmpls:?}"),
            }
            .into());
        }
        for (field, expected, found) in [
            (
                "MEASUREMENT",
                self.measurement.as_ref().map(|v| &v[..]),
                &report.measurement()[..],
            ),
            (
                "HOST_DATA",
                self.host_data.as_ref().map(|v| &v[..]),
                &report.host_data()[..],
            ),
            (
                "ID_KEY_DIGEST",
                self.id_key_digest.as_ref().map(|v| &v[..]),
                &report.id_key_digest()[..],
            ),
            (
                "AUTHOR_KEY_DIGEST",
                self.author_key_digest.as_ref().map(|v| &v[..]),
                &report.author_key_digest()[..],
            ),
        ] {
            if let Some(expected) = expected
                && expected != found
            {
                return Err(SnpError::FieldMismatch {
                    field,
                    expected: hex::encode(expected),
                    found: hex::encode(found),
                }
                .into());
            }
        }
        if let Some(min) = &self.min_tcb {
            check_min_tcb(min, report.reported_tcb())?;
        }
        if self.require_committed_tcb && report.current_tcb() != report.committed_tcb() {
            return Err(SnpError::FieldMismatch {
                field: "CURRENT_TCB",
                expected: format!("COMMITTED_TCB {:?}", report.committed_tcb()),
                found: format!("{:?}", report.current_tcb()),
            }
            .into());
        }
        if let Some(ids) = &self.chip_ids {
            let chip = report.chip_id();
            let listed = ids
                .iter()
                .any(|id| chip.starts_with(id) && chip[id.len().min(64)..].iter().all(|&x| x == 0));
            if !listed {
                return Err(SnpError::ChipNotAllowed {
                    chip_id: hex::encode(chip),
                }
                .into());
            }
        }
        if self.require_crl && !report.crl_checked() {
            return Err(SnpError::CrlRequired.into());
        }
        Ok(())
    }
}

fn check_min_tcb(min: &MinTcb, tcb: TcbVersion) -> Result<(), AttestationError> {
    for (component, minimum, found) in [
        ("fmc", min.fmc, tcb.fmc),
        ("bootloader", min.bootloader, tcb.bootloader),
        ("tee", min.tee, tcb.tee),
        ("snp", min.snp, tcb.snp),
        ("microcode", min.microcode, tcb.microcode),
    ] {
        if let Some(minimum) = minimum
            && found < minimum
        {
            return Err(SnpError::TcbBelowMinimum {
                component,
                minimum,
                found,
            }
            .into());
        }
    }
    Ok(())
}

/// A verified report that satisfied a [`SnpPolicy`]. Only [`SnpPolicy::appraise`] builds one.
pub type AppraisedSnpReport = Appraised<VerifiedSnpReport>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binding::KeyBinding;

    #[test]
    fn default_is_empty_object_and_round_trips() {
        let e = SnpPolicy::from_json(b"{}").expect_err("nothing pinned");
        assert_eq!(e.code(), "policy.invalid");
        let p = SnpPolicy::from_json(br#"{"dangerous_any_workload": true}"#).expect("parse");
        assert_eq!(p, SnpPolicy::default().dangerous_any_workload());
        assert!(!p.allow_debug());
        let q = SnpPolicy::from_json(p.to_json().as_bytes()).expect("round trip");
        assert_eq!(p, q);
        let full = p
            .clone()
            .with_measurement([1; 48])
            .with_host_data([2; 32])
            .with_allowed_vmpls([0, 1])
            .with_min_tcb(MinTcb {
                microcode: Some(100),
                ..MinTcb::default()
            })
            .with_chip_ids([vec![9; 64]])
            .require_committed_tcb()
            .require_crl()
            .dangerous_allow_debug();
        assert_eq!(
            SnpPolicy::from_json(full.to_json().as_bytes()).expect("full"),
            full
        );
    }

    #[test]
    fn rejects_bad_files() {
        for bad in [
            r#"{"measurement": "00"}"#,
            r#"{"dangerous_any_workload": true, "host_data": "zz"}"#,
            r#"{"dangerous_any_workload": true, "chip_ids": ["0102"]}"#,
            r#"{"dangerous_any_workload": true, "allow_debug": true}"#,
            r#"{"dangerous_any_workload": true, "min_tcb": {"microcode": 300}}"#,
            r#"{"host_data": "0000000000000000000000000000000000000000000000000000000000000000"}"#,
        ] {
            assert_eq!(
                SnpPolicy::from_json(bad.as_bytes()).expect_err(bad).code(),
                "policy.invalid",
                "{bad}"
            );
        }
    }

    use super::super::report::{REPORT_LEN, SnpReport, policy_bits};
    use super::super::{Product, VerifiedSnpReport};
    use crate::UnixTime;

    fn synthetic(policy: u64, report_data: [u8; 64], chip: [u8; 64]) -> VerifiedSnpReport {
        let mut b = vec![0u8; REPORT_LEN];
        b[0] = 3;
        b[8..16].copy_from_slice(&(policy | policy_bits::RESERVED_ONE).to_le_bytes());
        b[0x34] = 1;
        b[0x50..0x90].copy_from_slice(&report_data);
        b[0x1A0..0x1E0].copy_from_slice(&chip);
        VerifiedSnpReport::for_tests(SnpReport::parse(&b).expect("parse"), Product::Genoa)
    }

    #[test]
    fn key_binding_is_the_first_48_bytes_of_report_data_and_the_rest_is_zero() {
        let binding = KeyBinding {
            kem_pub: vec![1; 32],
            sig_pub: vec![2; 32],
            nonce: b"nonce".to_vec(),
        };
        let mut data = [0u8; 64];
        data[..48].copy_from_slice(&binding.digest());
        let ctx = AppraisalContext::new(UnixTime::from_secs(0), binding);
        let p = SnpPolicy::default().dangerous_any_workload();
        p.appraise(&synthetic(0, data, [0; 64]), &ctx)
            .expect("bound");
        let mut tail = data;
        tail[63] = 1;
        let e = p
            .appraise(&synthetic(0, tail, [0; 64]), &ctx)
            .expect_err("tail");
        assert_eq!(e.code(), "policy.binding_mismatch");
        let mut head = data;
        head[0] ^= 1;
        let e = p
            .appraise(&synthetic(0, head, [0; 64]), &ctx)
            .expect_err("head");
        assert_eq!(e.code(), "policy.binding_mismatch");
    }

    #[test]
    fn policy_bits_and_chip_allowlist() {
        let now = UnixTime::from_secs(0);
        let p = SnpPolicy::default().dangerous_any_workload();
        let e = p
            .dangerous_appraise_without_binding(
                &synthetic(policy_bits::MIGRATE_MA, [0; 64], [0; 64]),
                now,
            )
            .expect_err("ma");
        assert_eq!(e.code(), "policy.snp.policy_bit");
        p.clone()
            .dangerous_allow_migration_agent()
            .dangerous_appraise_without_binding(
                &synthetic(policy_bits::MIGRATE_MA, [0; 64], [0; 64]),
                now,
            )
            .expect("ma allowed");
        let smt = synthetic(policy_bits::SMT, [0; 64], [0; 64]);
        p.dangerous_appraise_without_binding(&smt, now)
            .expect("smt allowed by default");
        let e = p
            .clone()
            .forbid_smt()
            .dangerous_appraise_without_binding(&smt, now)
            .expect_err("smt");
        assert_eq!(e.code(), "policy.snp.policy_bit");
        let e = p
            .dangerous_appraise_without_binding(
                &synthetic(policy_bits::DEBUG, [0; 64], [0; 64]),
                now,
            )
            .expect_err("debug");
        assert_eq!(e.code(), "policy.snp.debug_forbidden");
        // Turin allowlist entries are 8 bytes: the rest of CHIP_ID must be zero.
        let mut chip = [0u8; 64];
        chip[..8].copy_from_slice(&[7; 8]);
        let turin = synthetic(0, [0; 64], chip);
        p.clone()
            .with_chip_ids([vec![7; 8]])
            .dangerous_appraise_without_binding(&turin, now)
            .expect("listed");
        chip[8] = 1;
        let e = p
            .clone()
            .with_chip_ids([vec![7; 8]])
            .dangerous_appraise_without_binding(&synthetic(0, [0; 64], chip), now)
            .expect_err("prefix only");
        assert_eq!(e.code(), "policy.snp.chip_not_allowed");
    }

    #[test]
    fn unpinned_policies_refuse_and_crl_can_be_required() {
        let now = UnixTime::from_secs(0);
        let report = synthetic(0, [0; 64], [0; 64]);
        let e = SnpPolicy::default()
            .dangerous_appraise_without_binding(&report, now)
            .expect_err("nothing pinned");
        assert_eq!(e.code(), "policy.no_workload_pinned");
        SnpPolicy::default()
            .with_measurement([0; 48])
            .dangerous_appraise_without_binding(&report, now)
            .expect("pinned");
        let e = SnpPolicy::default()
            .dangerous_any_workload()
            .require_crl()
            .dangerous_appraise_without_binding(&report, now)
            .expect_err("no CRL was checked");
        assert_eq!(e.code(), "policy.snp.crl_required");
    }

    #[test]
    fn min_tcb_per_component() {
        let tcb = TcbVersion {
            fmc: 0,
            bootloader: 3,
            tee: 0,
            snp: 8,
            microcode: 115,
        };
        let ok = MinTcb {
            bootloader: Some(3),
            microcode: Some(115),
            ..MinTcb::default()
        };
        check_min_tcb(&ok, tcb).expect("equal is enough");
        let e = check_min_tcb(
            &MinTcb {
                snp: Some(9),
                ..MinTcb::default()
            },
            tcb,
        )
        .expect_err("below");
        assert_eq!(e.code(), "policy.snp.tcb_below_minimum");
    }
}
