//! The relying party's trust policy: which platforms it accepts, and for each, the workload it
//! pins. One document for callers (`cloister infer --policy`), inspectors (`cloister attest
//! verify --policy`) and key custodians.
//!
//! The policy decides, never the evidence: evidence of a platform the document does not list is
//! refused (`policy.platform_not_allowed`) whatever the bundle or the host says; a platform entry
//! that pins no workload does not load unless it says `"dangerous_any_workload": true`; `{}`
//! accepts nothing. Appraisal always checks the key binding ([`AppraisalContext`]).
//!
//! File form (JSON, unknown fields rejected; every entry optional):
//!
//! ```json
//! {
//!   "nitro":   { "pcrs": { "0": "<96 hex>", "1": "…", "2": "…", "8": "…" }, "max_age_secs": 300 },
//!   "mock":    { "trusted_mock_root_sha256": "<64 hex>", "pcrs": { "0": "<96 hex>" } },
//!   "sev-snp": { "measurement": "<96 hex>", "host_data": "<64 hex>", "min_tcb": { "snp": 8 } },
//!   "tdx":     { "mr_td": "<96 hex>", "rtmr0": "…", "rtmr1": "…", "rtmr2": "…" },
//!   "models":  { "credit-risk-v1": "<96 hex: SHA-384 of the model>" }
//! }
//! ```
//!
//! Each platform entry has the form of its platform policy ([`NitroPolicy`], [`SnpPolicy`],
//! [`TdxPolicy`]); the workload pins each requires are: Nitro PCR0, mock the mock root and PCR0,
//! SEV-SNP MEASUREMENT, TDX MRTD and RTMR0-2. `models`, when present, lists the only models a
//! caller will send input to, with the digest the enclave must sign for each.
//!
//! ```
//! use cloister_attestation::trust_policy::TrustPolicy;
//! use cloister_attestation::Platform;
//!
//! // `{}` accepts nothing.
//! let nothing = TrustPolicy::from_json(b"{}")?;
//! assert_eq!(nothing.check_platform(Platform::Nitro).unwrap_err().code(), "policy.platform_not_allowed");
//!
//! // An entry that pins nothing does not load.
//! let err = TrustPolicy::from_json(br#"{"nitro": {}}"#).unwrap_err();
//! assert_eq!(err.code(), "policy.invalid");
//!
//! let pcr0 = "ab".repeat(48);
//! let policy = TrustPolicy::from_json(format!(r#"{{"nitro": {{"pcrs": {{"0": "{pcr0}"}}}}}}"#).as_bytes())?;
//! assert!(policy.check_platform(Platform::Nitro).is_ok());
//! assert!(policy.check_platform(Platform::Tdx).is_err());
//! # Ok::<(), cloister_attestation::AttestationError>(())
//! ```

use crate::error::PolicyError;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::appraisal::AppraisalContext;
use crate::evidence::{AppraisedEvidence, EVIDENCE_DIGEST_LEN, VerifiedEvidence};
use crate::nitro::NitroPolicy;
use crate::snp::SnpPolicy;
use crate::tdx::TdxPolicy;
use crate::{AttestationError, Claims, Platform, UnixTime};

/// Which platforms a relying party accepts and what it pins on each. See the module docs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "TrustPolicyFile", into = "TrustPolicyFile")]
pub struct TrustPolicy {
    nitro: Option<NitroPolicy>,
    mock: Option<NitroPolicy>,
    snp: Option<SnpPolicy>,
    tdx: Option<TdxPolicy>,
    models: BTreeMap<String, [u8; EVIDENCE_DIGEST_LEN]>,
}

impl TrustPolicy {
    /// The policy that accepts nothing; add platforms with the `with_*` methods.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses the JSON file form and checks every entry.
    ///
    /// # Errors
    ///
    /// `policy.invalid` naming the entry and what is wrong with it.
    pub fn from_json(json: &[u8]) -> Result<Self, AttestationError> {
        crate::error::policy_from_json(json)
    }

    /// The JSON file form (pretty-printed).
    pub fn to_json(&self) -> String {
        // Maps of strings, numbers and booleans always serialize.
        serde_json::to_string_pretty(&TrustPolicyFile::from(self.clone())).unwrap_or_default()
    }

    /// Accepts AWS Nitro evidence under `policy`.
    ///
    /// # Errors
    ///
    /// `policy.no_workload_pinned` if it pins no PCR0 and does not say `dangerous_any_workload`;
    /// `policy.invalid` if it trusts a mock root (that belongs in [`with_mock`](Self::with_mock)).
    pub fn with_nitro(mut self, policy: NitroPolicy) -> Result<Self, AttestationError> {
        if policy.trusted_mock_root_sha256().is_some() {
            return Err(invalid(
                "the nitro entry trusts a mock root; mock evidence belongs in the mock entry",
            ));
        }
        require_pcr0(&policy, Platform::Nitro)?;
        self.nitro = Some(policy);
        Ok(self)
    }

    /// Accepts mock evidence under `policy`, which must name the mock root it trusts.
    ///
    /// # Errors
    ///
    /// `policy.invalid` without a trusted mock root; `policy.no_workload_pinned` without PCR0
    /// (unless `dangerous_any_workload`).
    pub fn with_mock(mut self, policy: NitroPolicy) -> Result<Self, AttestationError> {
        if policy.trusted_mock_root_sha256().is_none() {
            return Err(invalid(
                "the mock entry must name the mock root it trusts (trusted_mock_root_sha256)",
            ));
        }
        require_pcr0(&policy, Platform::Mock)?;
        self.mock = Some(policy);
        Ok(self)
    }

    /// Accepts AMD SEV-SNP evidence under `policy`.
    ///
    /// # Errors
    ///
    /// `policy.no_workload_pinned` if it pins no MEASUREMENT (unless `dangerous_any_workload`).
    pub fn with_snp(mut self, policy: SnpPolicy) -> Result<Self, AttestationError> {
        policy.check_workload_pinned()?;
        self.snp = Some(policy);
        Ok(self)
    }

    /// Accepts Intel TDX evidence under `policy`.
    ///
    /// # Errors
    ///
    /// `policy.no_workload_pinned` if it does not pin MRTD and RTMR0-2 (unless
    /// `dangerous_any_workload`).
    pub fn with_tdx(mut self, policy: TdxPolicy) -> Result<Self, AttestationError> {
        policy.check_workload_pinned()?;
        self.tdx = Some(policy);
        Ok(self)
    }

    /// Sends input only to model `id`, and only when the enclave signs `sha384` as its digest.
    /// Once one model is pinned, every model a caller uses must be.
    #[must_use]
    pub fn with_model(mut self, id: impl Into<String>, sha384: [u8; EVIDENCE_DIGEST_LEN]) -> Self {
        self.models.insert(id.into(), sha384);
        self
    }

    /// The Nitro entry.
    pub fn nitro(&self) -> Option<&NitroPolicy> {
        self.nitro.as_ref()
    }

    /// The mock entry.
    pub fn mock(&self) -> Option<&NitroPolicy> {
        self.mock.as_ref()
    }

    /// The SEV-SNP entry.
    pub fn snp(&self) -> Option<&SnpPolicy> {
        self.snp.as_ref()
    }

    /// The TDX entry.
    pub fn tdx(&self) -> Option<&TdxPolicy> {
        self.tdx.as_ref()
    }

    /// The pinned models (id → SHA-384); empty when the policy pins none.
    pub fn models(&self) -> &BTreeMap<String, [u8; EVIDENCE_DIGEST_LEN]> {
        &self.models
    }

    /// The platforms this policy accepts, in a fixed order.
    pub fn platforms(&self) -> Vec<Platform> {
        [
            (Platform::Nitro, self.nitro.is_some()),
            (Platform::Mock, self.mock.is_some()),
            (Platform::SevSnp, self.snp.is_some()),
            (Platform::Tdx, self.tdx.is_some()),
        ]
        .into_iter()
        .filter_map(|(p, listed)| listed.then_some(p))
        .collect()
    }

    /// Refuses a platform the policy does not list: call it with what the untrusted side
    /// claims before verifying anything, and [`appraise`](Self::appraise) checks the verified
    /// platform again.
    ///
    /// # Errors
    ///
    /// `policy.platform_not_allowed`.
    pub fn check_platform(&self, platform: Platform) -> Result<(), AttestationError> {
        if self.platforms().contains(&platform) {
            return Ok(());
        }
        let listed = self.platforms();
        Err(PolicyError::PlatformNotAllowed {
            platform,
            allowed: if listed.is_empty() {
                "no platform".to_owned()
            } else {
                listed
                    .iter()
                    .map(|p| p.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        }
        .into())
    }

    /// Appraises verified evidence under the entry of the platform it verified as, with the key
    /// binding of `ctx`.
    ///
    /// # Errors
    ///
    /// `policy.platform_not_allowed`, or the platform policy's `policy.*` error.
    pub fn appraise(
        &self,
        evidence: &VerifiedEvidence,
        ctx: &AppraisalContext,
    ) -> Result<AppraisedEvidence, AttestationError> {
        self.check_platform(evidence.platform())?;
        Ok(match evidence {
            VerifiedEvidence::Nitro(doc) => AppraisedEvidence::Nitro(Box::new(
                self.nitro_entry(doc.platform())?.appraise(doc, ctx)?,
            )),
            VerifiedEvidence::Snp(report) => {
                AppraisedEvidence::Snp(Box::new(self.snp_entry()?.appraise(report, ctx)?))
            }
            VerifiedEvidence::Tdx(quote) => {
                AppraisedEvidence::Tdx(Box::new(self.tdx_entry()?.appraise(quote, ctx)?))
            }
        })
    }

    /// Everything [`appraise`](Self::appraise) checks except the key binding, for tools that
    /// inspect evidence whose keys they do not know. Returns claims, not [`AppraisedEvidence`]:
    /// nothing that sends input or releases a key accepts them.
    ///
    /// # Errors
    ///
    /// As [`appraise`](Self::appraise), without the binding checks.
    pub fn dangerous_appraise_without_binding(
        &self,
        evidence: &VerifiedEvidence,
        now: UnixTime,
    ) -> Result<Claims, AttestationError> {
        self.check_platform(evidence.platform())?;
        match evidence {
            VerifiedEvidence::Nitro(doc) => self
                .nitro_entry(doc.platform())?
                .dangerous_appraise_without_binding(doc, now)?,
            VerifiedEvidence::Snp(report) => self
                .snp_entry()?
                .dangerous_appraise_without_binding(report, now)?,
            VerifiedEvidence::Tdx(quote) => self
                .tdx_entry()?
                .dangerous_appraise_without_binding(quote, now)?,
        }
        Ok(evidence.claims())
    }

    /// Checks that the caller may send input to `model_id`, served with the digest `served`
    /// (what the enclave signed, if it named the model at all). With no model pinned every
    /// model passes; the signed result still names the digest it was computed with.
    ///
    /// # Errors
    ///
    /// `policy.model_not_pinned` or `policy.model_digest_mismatch`.
    pub fn check_model(
        &self,
        model_id: &str,
        served: Option<&[u8]>,
    ) -> Result<(), AttestationError> {
        if self.models.is_empty() {
            return Ok(());
        }
        let expected = self
            .models
            .get(model_id)
            .ok_or_else(|| PolicyError::ModelNotPinned {
                model_id: model_id.to_owned(),
                pinned: self.models.keys().cloned().collect::<Vec<_>>().join(", "),
            })?;
        if served != Some(expected.as_slice()) {
            return Err(PolicyError::ModelDigestMismatch {
                model_id: model_id.to_owned(),
                expected: hex::encode(expected),
                found: served.map_or_else(|| "absent".to_owned(), hex::encode),
            }
            .into());
        }
        Ok(())
    }

    fn nitro_entry(&self, platform: Platform) -> Result<&NitroPolicy, AttestationError> {
        let entry = match platform {
            Platform::Mock => self.mock.as_ref(),
            _ => self.nitro.as_ref(),
        };
        entry.ok_or_else(|| self.not_allowed(platform))
    }

    fn snp_entry(&self) -> Result<&SnpPolicy, AttestationError> {
        self.snp
            .as_ref()
            .ok_or_else(|| self.not_allowed(Platform::SevSnp))
    }

    fn tdx_entry(&self) -> Result<&TdxPolicy, AttestationError> {
        self.tdx
            .as_ref()
            .ok_or_else(|| self.not_allowed(Platform::Tdx))
    }

    fn not_allowed(&self, platform: Platform) -> AttestationError {
        self.check_platform(platform).err().unwrap_or(
            PolicyError::PlatformNotAllowed {
                platform,
                allowed: "no platform".to_owned(),
            }
            .into(),
        )
    }
}

fn invalid(reason: &str) -> AttestationError {
    PolicyError::Invalid {
        reason: reason.to_owned(),
    }
    .into()
}

fn require_pcr0(policy: &NitroPolicy, platform: Platform) -> Result<(), AttestationError> {
    if policy.is_any_workload() || policy.pcrs().contains_key(&0) {
        return Ok(());
    }
    Err(PolicyError::NoWorkloadPinned {
        platform,
        required: "PCR0",
    }
    .into())
}

/// The JSON file form.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TrustPolicyFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nitro: Option<NitroPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    mock: Option<NitroPolicy>,
    #[serde(default, rename = "sev-snp", skip_serializing_if = "Option::is_none")]
    snp: Option<SnpPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tdx: Option<TdxPolicy>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    models: BTreeMap<String, String>,
}

impl TryFrom<TrustPolicyFile> for TrustPolicy {
    type Error = AttestationError;

    fn try_from(file: TrustPolicyFile) -> Result<Self, Self::Error> {
        // Entry errors name the entry: a policy file with four entries should say which is wrong.
        let in_entry = |entry: &str, e: AttestationError| invalid(&format!("{entry}: {e}"));
        let mut policy = Self::new();
        if let Some(p) = file.nitro {
            policy = policy.with_nitro(p).map_err(|e| in_entry("nitro", e))?;
        }
        if let Some(p) = file.mock {
            policy = policy.with_mock(p).map_err(|e| in_entry("mock", e))?;
        }
        if let Some(p) = file.snp {
            policy = policy.with_snp(p).map_err(|e| in_entry("sev-snp", e))?;
        }
        if let Some(p) = file.tdx {
            policy = policy.with_tdx(p).map_err(|e| in_entry("tdx", e))?;
        }
        for (id, digest) in file.models {
            let mut sha384 = [0u8; EVIDENCE_DIGEST_LEN];
            hex::decode_to_slice(&digest, &mut sha384).map_err(|_| {
                invalid(&format!(
                    "models[{id:?}] is not {} hex digits (SHA-384)",
                    EVIDENCE_DIGEST_LEN * 2
                ))
            })?;
            if id.is_empty() {
                return Err(invalid("models has an empty model id"));
            }
            policy = policy.with_model(id, sha384);
        }
        Ok(policy)
    }
}

impl From<TrustPolicy> for TrustPolicyFile {
    fn from(p: TrustPolicy) -> Self {
        Self {
            nitro: p.nitro,
            mock: p.mock,
            snp: p.snp,
            tdx: p.tdx,
            models: p
                .models
                .iter()
                .map(|(id, d)| (id.clone(), hex::encode(d)))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nitro_entry() -> NitroPolicy {
        NitroPolicy::default()
            .with_pcr(0, [0xab; 48])
            .expect("PCR0 is valid")
    }

    #[test]
    fn the_empty_document_accepts_no_platform() {
        let p = TrustPolicy::from_json(b"{}").expect("parse");
        assert!(p.platforms().is_empty());
        for platform in [
            Platform::Nitro,
            Platform::Mock,
            Platform::SevSnp,
            Platform::Tdx,
        ] {
            let e = p.check_platform(platform).expect_err("refused");
            assert_eq!(e.code(), "policy.platform_not_allowed");
        }
    }

    #[test]
    fn entries_without_pins_do_not_load() {
        for json in [
            r#"{"nitro": {}}"#,
            r#"{"mock": {"trusted_mock_root_sha256": "0000000000000000000000000000000000000000000000000000000000000000"}}"#,
            r#"{"sev-snp": {}}"#,
            r#"{"sev-snp": {"host_data": "0000000000000000000000000000000000000000000000000000000000000000"}}"#,
            r#"{"tdx": {}}"#,
        ] {
            let e = TrustPolicy::from_json(json.as_bytes()).expect_err(json);
            assert_eq!(e.code(), "policy.invalid", "{json}");
        }
        // …unless they say so, by name.
        for json in [
            r#"{"nitro": {"dangerous_any_workload": true}}"#,
            r#"{"sev-snp": {"dangerous_any_workload": true}}"#,
            r#"{"tdx": {"dangerous_any_workload": true}}"#,
        ] {
            TrustPolicy::from_json(json.as_bytes()).expect(json);
        }
    }

    #[test]
    fn tdx_needs_mrtd_and_rtmr0_to_2() {
        let h = "00".repeat(48);
        let partial = format!(r#"{{"tdx": {{"mr_td": "{h}", "rtmr0": "{h}", "rtmr1": "{h}"}}}}"#);
        let e = TrustPolicy::from_json(partial.as_bytes()).expect_err("RTMR2 missing");
        assert!(e.to_string().contains("RTMR2"), "{e}");
        let full = format!(
            r#"{{"tdx": {{"mr_td": "{h}", "rtmr0": "{h}", "rtmr1": "{h}", "rtmr2": "{h}"}}}}"#
        );
        TrustPolicy::from_json(full.as_bytes()).expect("pinned");
    }

    #[test]
    fn mock_roots_stay_in_the_mock_entry() {
        let with_root = nitro_entry().dangerous_trust_mock_root([1; 32]);
        let e = TrustPolicy::new()
            .with_nitro(with_root.clone())
            .expect_err("nitro with a mock root");
        assert_eq!(e.code(), "policy.invalid");
        let e = TrustPolicy::new()
            .with_mock(nitro_entry())
            .expect_err("mock without a root");
        assert_eq!(e.code(), "policy.invalid");
        let p = TrustPolicy::new().with_mock(with_root).expect("mock");
        assert_eq!(p.platforms(), vec![Platform::Mock]);
        assert!(p.check_platform(Platform::Nitro).is_err());
    }

    #[test]
    fn round_trips_and_rejects_unknown_fields() {
        let p = TrustPolicy::new()
            .with_nitro(nitro_entry())
            .expect("nitro")
            .with_model("credit-risk-v1", [7; 48]);
        let json = p.to_json();
        assert_eq!(TrustPolicy::from_json(json.as_bytes()).expect("parse"), p);
        let e = TrustPolicy::from_json(br#"{"nitr0": {}}"#).expect_err("typo");
        assert_eq!(e.code(), "policy.invalid");
        let e = TrustPolicy::from_json(br#"{"models": {"m": "00"}}"#).expect_err("short");
        assert_eq!(e.code(), "policy.invalid");
        // Deserialized directly, the same checks run (serde try_from).
        assert!(serde_json::from_str::<TrustPolicy>(r#"{"nitro": {}}"#).is_err());
    }

    #[test]
    fn model_pins() {
        let open = TrustPolicy::new();
        assert!(open.check_model("anything", None).is_ok());
        let p = TrustPolicy::new().with_model("m", [7; 48]);
        assert!(p.check_model("m", Some(&[7; 48])).is_ok());
        assert_eq!(
            p.check_model("m", Some(&[8; 48]))
                .expect_err("digest")
                .code(),
            "policy.model_digest_mismatch"
        );
        assert_eq!(
            p.check_model("m", None).expect_err("absent").code(),
            "policy.model_digest_mismatch"
        );
        assert_eq!(
            p.check_model("other", Some(&[7; 48]))
                .expect_err("unpinned")
                .code(),
            "policy.model_not_pinned"
        );
    }
}
