//! Appraisal of verified TDX quotes.
//!
//! [`TdxPolicy::appraise`] takes a [`VerifiedTdxQuote`] (never raw bytes) and always checks the
//! key binding. The default policy: nothing accepted until MRTD and RTMR0-2 are pinned (or
//! `dangerous_any_workload` is set), debug TDs refused, SEPT_VE_DISABLE required, reserved TUD bits refused, a service TD bound
//! to the TD (TD 1.5 MRSERVICETD non-zero: a migration TD can export the TD's state, like debug)
//! refused unless `mr_service_td` pins it, TCB status UpToDate only (a quote verified without
//! collateral has an unknown status and is refused unless `dangerous_allow_unknown_tcb`), no
//! collateral age limit beyond the collateral's own validity windows.
//!
//! File form (JSON, unknown fields rejected, every field optional but the workload pins):
//!
//! ```json
//! {
//!   "mr_td": "<96 hex>", "rtmr0": "<96 hex>", "rtmr1": "…", "rtmr2": "…", "rtmr3": "…",
//!   "mr_config_id": "<96 hex>", "mr_owner": "<96 hex>", "mr_service_td": "<96 hex>",
//!   "accepted_tcb_statuses": ["UpToDate"], "max_collateral_age_secs": 2592000,
//!   "dangerous_allow_debug": false, "dangerous_allow_sept_ve": false,
//!   "dangerous_allow_unknown_tcb": false, "dangerous_any_workload": false
//! }
//! ```

use crate::error::{PolicyError, TdxError};
use serde::{Deserialize, Serialize};

use super::quote::td_attributes;
use super::status::TcbStatus;
use super::verify::VerifiedTdxQuote;
use crate::appraisal::{AppraisalContext, Appraised, check_report_data};
use crate::{AttestationError, UnixTime};

/// What to require of a verified TDX quote. Every construction path (builders, JSON, direct
/// deserialization) goes through the same checks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "TdxPolicyFile", into = "TdxPolicyFile")]
pub struct TdxPolicy {
    mr_td: Option<[u8; 48]>,
    rtmr0: Option<[u8; 48]>,
    rtmr1: Option<[u8; 48]>,
    rtmr2: Option<[u8; 48]>,
    rtmr3: Option<[u8; 48]>,
    mr_config_id: Option<[u8; 48]>,
    mr_owner: Option<[u8; 48]>,
    mr_service_td: Option<[u8; 48]>,
    allow_debug: bool,
    require_sept_ve_disable: bool,
    accepted_tcb_statuses: Vec<TcbStatus>,
    allow_unknown_tcb: bool,
    max_collateral_age_secs: Option<u64>,
    any_workload: bool,
}

/// The JSON file form: escape hatches named `dangerous_*`.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TdxPolicyFile {
    #[serde(
        default,
        with = "crate::hex_field::optional",
        skip_serializing_if = "Option::is_none"
    )]
    mr_td: Option<[u8; 48]>,
    #[serde(
        default,
        with = "crate::hex_field::optional",
        skip_serializing_if = "Option::is_none"
    )]
    rtmr0: Option<[u8; 48]>,
    #[serde(
        default,
        with = "crate::hex_field::optional",
        skip_serializing_if = "Option::is_none"
    )]
    rtmr1: Option<[u8; 48]>,
    #[serde(
        default,
        with = "crate::hex_field::optional",
        skip_serializing_if = "Option::is_none"
    )]
    rtmr2: Option<[u8; 48]>,
    #[serde(
        default,
        with = "crate::hex_field::optional",
        skip_serializing_if = "Option::is_none"
    )]
    rtmr3: Option<[u8; 48]>,
    #[serde(
        default,
        with = "crate::hex_field::optional",
        skip_serializing_if = "Option::is_none"
    )]
    mr_config_id: Option<[u8; 48]>,
    #[serde(
        default,
        with = "crate::hex_field::optional",
        skip_serializing_if = "Option::is_none"
    )]
    mr_owner: Option<[u8; 48]>,
    #[serde(
        default,
        with = "crate::hex_field::optional",
        skip_serializing_if = "Option::is_none"
    )]
    mr_service_td: Option<[u8; 48]>,
    #[serde(default = "up_to_date_only")]
    accepted_tcb_statuses: Vec<TcbStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_collateral_age_secs: Option<u64>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    dangerous_allow_debug: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    dangerous_allow_sept_ve: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    dangerous_allow_unknown_tcb: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    dangerous_any_workload: bool,
}

fn up_to_date_only() -> Vec<TcbStatus> {
    vec![TcbStatus::UpToDate]
}

impl Default for TdxPolicy {
    /// Nothing pinned (so nothing accepted until MRTD and RTMR0-2 are pinned or
    /// `dangerous_any_workload` is set), debug refused, SEPT_VE_DISABLE required, UpToDate
    /// only, unknown TCB refused.
    fn default() -> Self {
        Self {
            mr_td: None,
            rtmr0: None,
            rtmr1: None,
            rtmr2: None,
            rtmr3: None,
            mr_config_id: None,
            mr_owner: None,
            mr_service_td: None,
            allow_debug: false,
            require_sept_ve_disable: true,
            accepted_tcb_statuses: up_to_date_only(),
            allow_unknown_tcb: false,
            max_collateral_age_secs: None,
            any_workload: false,
        }
    }
}

impl TryFrom<TdxPolicyFile> for TdxPolicy {
    type Error = AttestationError;

    fn try_from(f: TdxPolicyFile) -> Result<Self, Self::Error> {
        if f.accepted_tcb_statuses.contains(&TcbStatus::Revoked) {
            return Err(PolicyError::Invalid {
                reason: "accepted_tcb_statuses lists Revoked: a revoked TCB is never acceptable"
                    .to_owned(),
            }
            .into());
        }
        let p = Self {
            mr_td: f.mr_td,
            rtmr0: f.rtmr0,
            rtmr1: f.rtmr1,
            rtmr2: f.rtmr2,
            rtmr3: f.rtmr3,
            mr_config_id: f.mr_config_id,
            mr_owner: f.mr_owner,
            mr_service_td: f.mr_service_td,
            allow_debug: f.dangerous_allow_debug,
            require_sept_ve_disable: !f.dangerous_allow_sept_ve,
            accepted_tcb_statuses: f.accepted_tcb_statuses,
            allow_unknown_tcb: f.dangerous_allow_unknown_tcb,
            max_collateral_age_secs: f.max_collateral_age_secs,
            any_workload: f.dangerous_any_workload,
        };
        p.check_workload_pinned()
            .map_err(|e| PolicyError::Invalid {
                reason: format!(
                    "{e}: pin mr_td, rtmr0, rtmr1 and rtmr2, or say \"dangerous_any_workload\": true"
                ),
            })?;
        Ok(p)
    }
}

impl From<TdxPolicy> for TdxPolicyFile {
    fn from(p: TdxPolicy) -> Self {
        Self {
            mr_td: p.mr_td,
            rtmr0: p.rtmr0,
            rtmr1: p.rtmr1,
            rtmr2: p.rtmr2,
            rtmr3: p.rtmr3,
            mr_config_id: p.mr_config_id,
            mr_owner: p.mr_owner,
            mr_service_td: p.mr_service_td,
            accepted_tcb_statuses: p.accepted_tcb_statuses,
            max_collateral_age_secs: p.max_collateral_age_secs,
            dangerous_allow_debug: p.allow_debug,
            dangerous_allow_sept_ve: !p.require_sept_ve_disable,
            dangerous_allow_unknown_tcb: p.allow_unknown_tcb,
            dangerous_any_workload: p.any_workload,
        }
    }
}

impl TdxPolicy {
    /// Parses the JSON file form.
    ///
    /// ```
    /// use cloister_attestation::tdx::TdxPolicy;
    /// let p = TdxPolicy::from_json(br#"{"dangerous_any_workload": true,
    ///     "accepted_tcb_statuses": ["UpToDate", "SWHardeningNeeded"]}"#)?;
    /// // No MRTD and RTMR0-2 pins, no policy.
    /// assert!(TdxPolicy::from_json(b"{}").is_err());
    /// assert!(TdxPolicy::from_json(br#"{"accepted_tcb_statuses": ["Revoked"]}"#).is_err());
    /// # Ok::<(), cloister_attestation::AttestationError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `policy.invalid`, also when Revoked is among the accepted statuses.
    pub fn from_json(json: &[u8]) -> Result<Self, AttestationError> {
        crate::error::policy_from_json(json)
    }

    /// The JSON file form.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(&TdxPolicyFile::from(self.clone())).unwrap_or_default()
    }

    /// Requires MRTD to equal `v`.
    #[must_use]
    pub fn with_mr_td(mut self, v: [u8; 48]) -> Self {
        self.mr_td = Some(v);
        self
    }

    /// Requires RTMR`index` (0-3) to equal `v`.
    ///
    /// # Errors
    ///
    /// `api.misuse` for an index above 3.
    pub fn with_rtmr(mut self, index: usize, v: [u8; 48]) -> Result<Self, AttestationError> {
        let slot = match index {
            0 => &mut self.rtmr0,
            1 => &mut self.rtmr1,
            2 => &mut self.rtmr2,
            3 => &mut self.rtmr3,
            _ => {
                return Err(AttestationError::ApiMisuse {
                    what: format!("RTMR index {index}; TDX has RTMR0-3"),
                });
            }
        };
        *slot = Some(v);
        Ok(self)
    }

    /// Requires MRCONFIGID to equal `v`.
    #[must_use]
    pub fn with_mr_config_id(mut self, v: [u8; 48]) -> Self {
        self.mr_config_id = Some(v);
        self
    }

    /// Requires MROWNER to equal `v`.
    #[must_use]
    pub fn with_mr_owner(mut self, v: [u8; 48]) -> Self {
        self.mr_owner = Some(v);
        self
    }

    /// Accepts a TD 1.5 TD bound to the service TD (a migration TD, say) measured `v`; without
    /// this pin a non-zero MRSERVICETD is refused.
    #[must_use]
    pub fn with_mr_service_td(mut self, v: [u8; 48]) -> Self {
        self.mr_service_td = Some(v);
        self
    }

    /// Accepts these TCB statuses (replacing the default UpToDate).
    ///
    /// # Errors
    ///
    /// `api.misuse` when `statuses` contains Revoked.
    pub fn with_accepted_tcb_statuses(
        mut self,
        statuses: impl IntoIterator<Item = TcbStatus>,
    ) -> Result<Self, AttestationError> {
        let statuses: Vec<TcbStatus> = statuses.into_iter().collect();
        if statuses.contains(&TcbStatus::Revoked) {
            return Err(AttestationError::ApiMisuse {
                what: "a revoked TCB is never acceptable".to_owned(),
            });
        }
        self.accepted_tcb_statuses = statuses;
        Ok(self)
    }

    /// Refuses collateral (TCB Info, QE Identity) issued more than `secs` before the appraisal
    /// time: a stale cache can hide a TCB recovery for up to 30 days.
    #[must_use]
    pub fn with_max_collateral_age_secs(mut self, secs: u64) -> Self {
        self.max_collateral_age_secs = Some(secs);
        self
    }

    /// Accepts quotes verified without collateral, whose TCB status is unknown: a platform
    /// with known vulnerabilities then passes. With collateral the status is known and this
    /// never overrides it.
    #[must_use]
    pub fn dangerous_allow_unknown_tcb(mut self) -> Self {
        self.allow_unknown_tcb = true;
        self
    }

    /// Accepts any workload: MRTD and RTMR0-2 need not be pinned. Any genuine TD then passes:
    /// use only to inspect evidence or in tests.
    #[must_use]
    pub fn dangerous_any_workload(mut self) -> Self {
        self.any_workload = true;
        self
    }

    /// `policy.no_workload_pinned` unless MRTD and RTMR0-2 are pinned or
    /// `dangerous_any_workload` is set.
    ///
    /// # Errors
    ///
    /// `policy.no_workload_pinned` naming the first missing pin.
    pub fn check_workload_pinned(&self) -> Result<(), AttestationError> {
        if self.any_workload {
            return Ok(());
        }
        for (name, pin) in [
            ("MRTD", &self.mr_td),
            ("RTMR0", &self.rtmr0),
            ("RTMR1", &self.rtmr1),
            ("RTMR2", &self.rtmr2),
        ] {
            if pin.is_none() {
                return Err(PolicyError::NoWorkloadPinned {
                    platform: crate::Platform::Tdx,
                    required: name,
                }
                .into());
            }
        }
        Ok(())
    }

    /// Accepts debug TDs: the host can read and change their memory. Development only.
    #[must_use]
    pub fn dangerous_allow_debug(mut self) -> Self {
        self.allow_debug = true;
        self
    }

    /// Accepts TDs without SEPT_VE_DISABLE, which lets the host single-step them through
    /// EPT violations.
    #[must_use]
    pub fn dangerous_allow_sept_ve(mut self) -> Self {
        self.require_sept_ve_disable = false;
        self
    }

    /// Checks `quote` against this policy and the key binding of `ctx` in REPORTDATA
    /// (`binding.digest()` then 16 zero bytes).
    ///
    /// # Errors
    ///
    /// `policy.*` naming the first requirement the quote fails.
    pub fn appraise(
        &self,
        quote: &VerifiedTdxQuote,
        ctx: &AppraisalContext,
    ) -> Result<AppraisedTdxQuote, AttestationError> {
        self.check_workload(quote, ctx.now())?;
        check_report_data(quote.report().report_data(), ctx)?;
        Ok(Appraised::new(quote.clone(), ctx.binding().clone()))
    }

    /// Checks everything [`appraise`](Self::appraise) checks except the key binding, for tools
    /// that inspect evidence whose keys they do not know. Success is not an
    /// [`AppraisedTdxQuote`]: nothing that sends input or releases a key accepts it.
    ///
    /// # Errors
    ///
    /// As [`appraise`](Self::appraise), without `policy.binding_mismatch`.
    pub fn dangerous_appraise_without_binding(
        &self,
        quote: &VerifiedTdxQuote,
        now: UnixTime,
    ) -> Result<(), AttestationError> {
        self.check_workload(quote, now)
    }

    fn check_workload(
        &self,
        quote: &VerifiedTdxQuote,
        now: UnixTime,
    ) -> Result<(), AttestationError> {
        self.check_workload_pinned()?;
        let r = quote.report();
        let attributes = format!("{:016x}", r.td_attributes());
        if quote.is_debug() && !self.allow_debug {
            return Err(TdxError::DebugForbidden { attributes }.into());
        }
        if r.td_attributes() & td_attributes::TUD_RESERVED != 0 {
            return Err(TdxError::Attribute {
                attribute: "TUD reserved bits 1-7",
                attributes,
            }
            .into());
        }
        if self.require_sept_ve_disable && r.td_attributes() & td_attributes::SEPT_VE_DISABLE == 0 {
            return Err(TdxError::Attribute {
                attribute: "SEPT_VE_DISABLE unset",
                attributes,
            }
            .into());
        }
        for (field, expected, found) in [
            ("MRTD", &self.mr_td, r.mr_td()),
            ("RTMR0", &self.rtmr0, &r.rtmr()[0]),
            ("RTMR1", &self.rtmr1, &r.rtmr()[1]),
            ("RTMR2", &self.rtmr2, &r.rtmr()[2]),
            ("RTMR3", &self.rtmr3, &r.rtmr()[3]),
            ("MRCONFIGID", &self.mr_config_id, r.mr_config_id()),
            ("MROWNER", &self.mr_owner, r.mr_owner()),
        ] {
            if let Some(expected) = expected
                && expected != found
            {
                return Err(TdxError::FieldMismatch {
                    field,
                    expected: hex::encode(expected),
                    found: hex::encode(found),
                }
                .into());
            }
        }
        // TD 1.0 has no service TDs: MRSERVICETD is then all zero by definition.
        let service_td = r.mr_service_td().copied().unwrap_or([0; 48]);
        let expected_service_td = self.mr_service_td.unwrap_or([0; 48]);
        if service_td != expected_service_td {
            return Err(TdxError::FieldMismatch {
                field: "MRSERVICETD",
                expected: hex::encode(expected_service_td),
                found: hex::encode(service_td),
            }
            .into());
        }
        match quote.tcb() {
            None if !self.allow_unknown_tcb => return Err(TdxError::TcbUnknown.into()),
            None => {}
            Some(tcb) => {
                let accepted = |s: TcbStatus| {
                    s != TcbStatus::Revoked && self.accepted_tcb_statuses.contains(&s)
                };
                if !accepted(tcb.status) {
                    return Err(TdxError::TcbStatusNotAccepted {
                        status: tcb.status,
                        tcb_date: tcb.tcb_date.clone(),
                        advisory_ids: tcb.advisory_ids.join(", "),
                        accepted: self
                            .accepted_tcb_statuses
                            .iter()
                            .map(|s| s.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                        needed: tcb.shortfall(accepted).unwrap_or_else(|| {
                            "no level of the current TCB Info is acceptable".to_owned()
                        }),
                    }
                    .into());
                }
                if let Some(max) = self.max_collateral_age_secs {
                    let age = now.as_secs().saturating_sub(tcb.collateral_issued_at);
                    if age > max {
                        return Err(TdxError::CollateralTooOld {
                            age_secs: age,
                            max_secs: max,
                        }
                        .into());
                    }
                }
            }
        }
        Ok(())
    }
}

/// A verified quote that satisfied a [`TdxPolicy`]. Only [`TdxPolicy::appraise`] builds one.
pub type AppraisedTdxQuote = Appraised<VerifiedTdxQuote>;
