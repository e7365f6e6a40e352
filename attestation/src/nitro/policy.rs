//! Nitro (and mock) appraisal: does a verified document satisfy what this relying party requires?
//!
//! [`NitroPolicy::appraise`] takes a [`VerifiedNitroDocument`] (never raw bytes) and an
//! [`AppraisalContext`], which always carries the caller's [`KeyBinding`](crate::binding::KeyBinding): there is no way to
//! appraise for use without checking that the evidence binds the keys and nonce the caller
//! expects. The [`AppraisedNitroDocument`] records the binding it checked.
//!
//! Fail closed: a policy that pins no PCR0 refuses every document (`policy.no_workload_pinned`)
//! unless it says `dangerous_any_workload`; debug enclaves and mock evidence are refused unless
//! the policy says otherwise. Every loosening is named `dangerous_*`.
//!
//! File form (JSON, unknown fields rejected; one platform entry of a
//! [`TrustPolicy`](crate::trust_policy::TrustPolicy)):
//!
//! ```json
//! {
//!   "pcrs": { "0": "<96 hex digits>", "8": "<96 hex digits>" },
//!   "max_age_secs": 300,
//!   "dangerous_allow_debug": false,
//!   "dangerous_any_workload": false,
//!   "trusted_mock_root_sha256": null
//! }
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::VerifiedNitroDocument;
use super::document::NUM_PCRS;
use super::pcr::PCR_LEN;
use crate::appraisal::{AppraisalContext, Appraised};
use crate::error::{PolicyError, hex_or_absent};
use crate::{AttestationError, Platform, UnixTime};

/// How far a document's timestamp may be ahead of the appraiser's clock.
pub const MAX_CLOCK_SKEW_SECS: u64 = 60;

/// What to require of Nitro (and mock) evidence.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "PolicyFile", into = "PolicyFile")]
pub struct NitroPolicy {
    pcrs: BTreeMap<u16, [u8; PCR_LEN]>,
    allow_debug: bool,
    max_age_secs: Option<u64>,
    trusted_mock_root_sha256: Option<[u8; 32]>,
    any_workload: bool,
}

impl NitroPolicy {
    /// Parses the JSON file form.
    ///
    /// # Errors
    ///
    /// `policy.invalid` for bad JSON, unknown fields, a PCR index outside 0..31, a value that
    /// is not 96 hex digits, or no PCR0 pin without `dangerous_any_workload`.
    pub fn from_json(json: &[u8]) -> Result<Self, AttestationError> {
        crate::error::policy_from_json(json)
    }

    /// The JSON file form (pretty-printed).
    pub fn to_json(&self) -> String {
        let file = PolicyFile::from(self.clone());
        // Serializing maps of strings, bools and integers into a String cannot fail.
        serde_json::to_string_pretty(&file).unwrap_or_default()
    }

    /// Requires PCR `index` to equal `value`.
    ///
    /// # Errors
    ///
    /// `api.misuse` if `index` is 32 or more (a Nitro NSM has PCRs 0..31).
    pub fn with_pcr(mut self, index: u16, value: [u8; PCR_LEN]) -> Result<Self, AttestationError> {
        if index >= NUM_PCRS {
            return Err(AttestationError::ApiMisuse {
                what: format!("PCR index {index} is outside 0..{NUM_PCRS}"),
            });
        }
        self.pcrs.insert(index, value);
        Ok(self)
    }

    /// Requires documents to be at most `secs` seconds old.
    #[must_use]
    pub fn with_max_age_secs(mut self, secs: u64) -> Self {
        self.max_age_secs = Some(secs);
        self
    }

    /// Accepts debug-mode enclaves (PCR0-2 zero). Their memory can be read by the host: use
    /// only in development.
    #[must_use]
    pub fn dangerous_allow_debug(mut self) -> Self {
        self.allow_debug = true;
        self
    }

    /// Accepts any workload: no PCR0 pin is required. Any genuine enclave on any account then
    /// passes: use only to inspect evidence or in tests.
    #[must_use]
    pub fn dangerous_any_workload(mut self) -> Self {
        self.any_workload = true;
        self
    }

    /// Whether a PCR0 pin is waived.
    pub fn is_any_workload(&self) -> bool {
        self.any_workload
    }

    /// Accepts mock evidence chaining to the mock root with this SHA-256. Mock evidence proves
    /// nothing about hardware: use only in CI and demos.
    #[must_use]
    pub fn dangerous_trust_mock_root(mut self, root_sha256: [u8; 32]) -> Self {
        self.trusted_mock_root_sha256 = Some(root_sha256);
        self
    }

    /// The pinned PCRs.
    pub fn pcrs(&self) -> &BTreeMap<u16, [u8; PCR_LEN]> {
        &self.pcrs
    }

    /// Whether debug enclaves are accepted.
    pub fn allow_debug(&self) -> bool {
        self.allow_debug
    }

    /// The maximum document age, if any.
    pub fn max_age_secs(&self) -> Option<u64> {
        self.max_age_secs
    }

    /// The trusted mock root, if any.
    pub fn trusted_mock_root_sha256(&self) -> Option<[u8; 32]> {
        self.trusted_mock_root_sha256
    }

    /// Checks `doc` against this policy and the key binding of `ctx`.
    ///
    /// Order: workload pinned, platform (mock trust), debug, PCR pins, freshness, key binding,
    /// nonce.
    ///
    /// # Errors
    ///
    /// `policy.*` naming the first requirement the document fails.
    pub fn appraise(
        &self,
        doc: &VerifiedNitroDocument,
        ctx: &AppraisalContext,
    ) -> Result<AppraisedNitroDocument, AttestationError> {
        self.check_workload(doc, ctx.now())?;
        let binding = ctx.binding();
        let expected = binding.digest();
        if doc.user_data() != Some(expected.as_slice()) {
            return Err(PolicyError::BindingMismatch {
                expected: hex::encode(expected),
                found: hex_or_absent(doc.user_data()),
            }
            .into());
        }
        if doc.nonce() != Some(binding.nonce.as_slice()) {
            return Err(PolicyError::NonceMismatch {
                expected: hex::encode(&binding.nonce),
                found: hex_or_absent(doc.nonce()),
            }
            .into());
        }
        Ok(Appraised::new(doc.clone(), binding.clone()))
    }

    /// Checks everything [`appraise`](Self::appraise) checks except the key binding, for tools
    /// that inspect evidence whose keys they do not know (`cloister attest verify`). Success is
    /// not an [`AppraisedNitroDocument`]: nothing that sends input or releases a key accepts it.
    ///
    /// # Errors
    ///
    /// As [`appraise`](Self::appraise), without `policy.binding_mismatch` and
    /// `policy.nonce_mismatch`.
    pub fn dangerous_appraise_without_binding(
        &self,
        doc: &VerifiedNitroDocument,
        now: UnixTime,
    ) -> Result<(), AttestationError> {
        self.check_workload(doc, now)
    }

    fn check_workload(
        &self,
        doc: &VerifiedNitroDocument,
        now: UnixTime,
    ) -> Result<(), AttestationError> {
        if !self.any_workload && !self.pcrs.contains_key(&0) {
            return Err(PolicyError::NoWorkloadPinned {
                platform: doc.platform(),
                required: "PCR0",
            }
            .into());
        }
        if doc.platform() == Platform::Mock
            && self.trusted_mock_root_sha256 != Some(doc.root_sha256())
        {
            return Err(PolicyError::MockNotTrusted {
                root_sha256: hex::encode(doc.root_sha256()),
                trusted: self
                    .trusted_mock_root_sha256
                    .map_or_else(|| "none".to_owned(), hex::encode),
            }
            .into());
        }

        if doc.is_debug() && !self.allow_debug {
            return Err(PolicyError::DebugForbidden {
                module_id: doc.module_id().to_owned(),
            }
            .into());
        }

        for (&index, expected) in &self.pcrs {
            let found = doc.pcr(index);
            if found != Some(expected.as_slice()) {
                return Err(PolicyError::PcrMismatch {
                    index,
                    expected: hex::encode(expected),
                    found: hex_or_absent(found),
                }
                .into());
            }
        }

        let now_ms = now.as_secs().saturating_mul(1000);
        let skew_ms = MAX_CLOCK_SKEW_SECS.saturating_mul(1000);
        if doc.timestamp_ms() > now_ms.saturating_add(skew_ms) {
            return Err(PolicyError::TimestampInFuture {
                timestamp_ms: doc.timestamp_ms(),
                now_secs: now.as_secs(),
                skew_secs: MAX_CLOCK_SKEW_SECS,
            }
            .into());
        }
        if let Some(max_age_secs) = self.max_age_secs {
            let age_ms = now_ms.saturating_sub(doc.timestamp_ms());
            if age_ms > max_age_secs.saturating_mul(1000) {
                return Err(PolicyError::TooOld {
                    age_secs: age_ms / 1000,
                    max_age_secs,
                }
                .into());
            }
        }
        Ok(())
    }
}

/// A verified document that satisfied a [`NitroPolicy`]. Only [`NitroPolicy::appraise`] builds
/// one.
pub type AppraisedNitroDocument = Appraised<VerifiedNitroDocument>;

/// The JSON file form. Maps keep the serde defaults, so `{}` is the default policy.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[serde(default)]
    pcrs: BTreeMap<String, String>,
    #[serde(default)]
    max_age_secs: Option<u64>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    dangerous_allow_debug: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    dangerous_any_workload: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    trusted_mock_root_sha256: Option<String>,
}

impl TryFrom<PolicyFile> for NitroPolicy {
    type Error = AttestationError;

    fn try_from(file: PolicyFile) -> Result<Self, Self::Error> {
        let invalid = |reason: String| PolicyError::Invalid { reason };
        let mut pcrs = BTreeMap::new();
        for (key, value) in &file.pcrs {
            // Canonical decimal only: "07" or "+7" would make two keys name one PCR.
            let canonical = !key.is_empty()
                && key.bytes().all(|b| b.is_ascii_digit())
                && (key == "0" || !key.starts_with('0'));
            let index = key
                .parse::<u16>()
                .ok()
                .filter(|i| canonical && *i < NUM_PCRS)
                .ok_or_else(|| {
                    invalid(format!(
                        "pcrs key {key:?} is not a PCR index 0..{}",
                        NUM_PCRS - 1
                    ))
                })?;
            let bytes = decode_hex::<PCR_LEN>(value)
                .ok_or_else(|| invalid(format!("pcrs[{key}] is not {} hex digits", PCR_LEN * 2)))?;
            pcrs.insert(index, bytes);
        }
        let trusted_mock_root_sha256 = match &file.trusted_mock_root_sha256 {
            None => None,
            Some(hex) => Some(decode_hex::<32>(hex).ok_or_else(|| {
                invalid("trusted_mock_root_sha256 is not 64 hex digits".to_owned())
            })?),
        };
        if !file.dangerous_any_workload && !pcrs.contains_key(&0) {
            return Err(invalid(
                "pcrs has no \"0\": pin PCR0 (the enclave image), or say \"dangerous_any_workload\": true"
                    .to_owned(),
            ).into());
        }
        Ok(Self {
            pcrs,
            allow_debug: file.dangerous_allow_debug,
            max_age_secs: file.max_age_secs,
            trusted_mock_root_sha256,
            any_workload: file.dangerous_any_workload,
        })
    }
}

impl From<NitroPolicy> for PolicyFile {
    fn from(p: NitroPolicy) -> Self {
        Self {
            // Keys are written as decimal strings; BTreeMap<String, _> orders them as text,
            // which is fine for a file humans read and machines parse.
            pcrs: p
                .pcrs
                .iter()
                .map(|(i, v)| (i.to_string(), hex::encode(v)))
                .collect(),
            max_age_secs: p.max_age_secs,
            dangerous_allow_debug: p.allow_debug,
            dangerous_any_workload: p.any_workload,
            trusted_mock_root_sha256: p.trusted_mock_root_sha256.map(hex::encode),
        }
    }
}

/// Exactly `N` bytes of hex (either case), or `None`.
fn decode_hex<const N: usize>(s: &str) -> Option<[u8; N]> {
    let mut out = [0u8; N];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_empty_policy_pins_nothing_and_does_not_load() {
        let p = NitroPolicy::default();
        assert!(!p.allow_debug());
        assert_eq!(p.trusted_mock_root_sha256(), None);
        assert_eq!(p.max_age_secs(), None);
        assert!(p.pcrs().is_empty());
        assert!(!p.is_any_workload());
        let e = NitroPolicy::from_json(b"{}").expect_err("no PCR0");
        assert_eq!(e.code(), "policy.invalid");
        let any = NitroPolicy::from_json(br#"{"dangerous_any_workload": true}"#).expect("parse");
        assert_eq!(any, NitroPolicy::default().dangerous_any_workload());
        assert_eq!(
            NitroPolicy::from_json(any.to_json().as_bytes()).expect("parse"),
            any
        );
    }

    #[test]
    fn full_policy_round_trips() {
        let p = NitroPolicy::default()
            .with_pcr(0, [0xab; 48])
            .and_then(|p| p.with_pcr(31, [0x01; 48]))
            .expect("valid indices")
            .with_max_age_secs(300)
            .dangerous_allow_debug()
            .dangerous_trust_mock_root([7; 32]);
        let json = p.to_json();
        assert_eq!(NitroPolicy::from_json(json.as_bytes()).expect("parse"), p);
        let v: serde_json::Value = serde_json::from_str(&json).expect("json");
        assert_eq!(v["pcrs"]["0"], hex::encode([0xab; 48]));
        assert_eq!(v["max_age_secs"], 300);
        assert_eq!(v["dangerous_allow_debug"], true);
    }

    #[test]
    fn parses_the_documented_file_form() {
        let json = format!(
            r#"{{"pcrs": {{"0": "{}"}}, "dangerous_allow_debug": false, "max_age_secs": null,
                "trusted_mock_root_sha256": null}}"#,
            "AB".repeat(48)
        );
        let p = NitroPolicy::from_json(json.as_bytes()).expect("parse");
        assert_eq!(p.pcrs().get(&0), Some(&[0xab; 48]));
    }

    #[test]
    fn rejects_bad_files() {
        let pcr = "00".repeat(48);
        let bad = [
            format!(r#"{{"pcrs": {{"0": "{pcr}"}}, "allow_debug": true}}"#),
            format!(r#"{{"pcrs": {{"0": "{pcr}"}}, "allow_debugg": true}}"#),
            format!(r#"{{"pcrs": {{"32": "{pcr}"}}}}"#),
            format!(r#"{{"pcrs": {{"-1": "{pcr}"}}}}"#),
            format!(r#"{{"pcrs": {{"00": "{pcr}"}}}}"#),
            format!(r#"{{"pcrs": {{"x": "{pcr}"}}}}"#),
            format!(r#"{{"pcrs": {{"1": "{pcr}"}}}}"#),
            r#"{"pcrs": {"0": "00"}}"#.to_owned(),
            format!(r#"{{"pcrs": {{"0": "{pcr}0"}}}}"#),
            format!(r#"{{"pcrs": {{"0": "{}"}}}}"#, "zz".repeat(48)),
            format!(r#"{{"pcrs": {{"0": "{pcr}"}}, "trusted_mock_root_sha256": "abcd"}}"#),
            format!(r#"{{"pcrs": {{"0": "{pcr}"}}, "max_age_secs": -1}}"#),
            "{}".to_owned(),
            "not json".to_owned(),
        ];
        for json in bad {
            let e = NitroPolicy::from_json(json.as_bytes()).expect_err(&json);
            assert_eq!(e.code(), "policy.invalid", "{json}");
        }
    }

    #[test]
    fn deserializing_directly_validates_too() {
        // serde(try_from): no construction path skips the checks.
        let e = serde_json::from_str::<NitroPolicy>("{}").expect_err("no PCR0");
        assert!(e.to_string().contains("dangerous_any_workload"), "{e}");
    }

    #[test]
    fn pcr_index_out_of_range_is_api_misuse() {
        let e = NitroPolicy::default()
            .with_pcr(32, [0; 48])
            .expect_err("index 32");
        assert!(e.is_api_misuse());
    }
}
