//! Errors of the appraisal policy that apply to any platform (trust policy, binding, freshness,
//! pinned models) and of the Nitro policy.

const NOT_BOUND: &str = "the evidence is not bound to these keys and this nonce: it may be replayed; request new evidence with a fresh nonce";
const NOT_FRESH: &str =
    "request fresh evidence, or check the clocks of this machine and the enclave host";
const MODEL_NOT_SERVED: &str = "the enclave does not serve the model your policy pins: do not send it input; update the policy's models only for a model you have reviewed";

error_enum! {
    /// Why the appraisal policy refused verified evidence, or why a policy is invalid.
    pub enum PolicyError {
        /// Mock evidence, and the policy does not trust this mock root.
        #[error(
            "mock evidence (root SHA-256 {root_sha256}) is not trusted by this policy (trusted: {trusted})"
        )]
        MockNotTrusted {
            /// SHA-256 of the document's root.
            root_sha256: String,
            /// The policy's trusted mock root, or "none".
            trusted: String,
        } => "policy.mock_not_trusted",
            "this is mock evidence: to accept it in a test setup, list a mock entry with the mock CA's root SHA-256 in the trust policy (`cloister mock init` writes one); never in production";
        /// A debug-mode enclave (PCR0, PCR1, PCR2 all zero) and the policy forbids debug.
        #[error(
            "enclave {module_id} runs in debug mode (PCR0-2 all zero) and the policy forbids debug"
        )]
        DebugForbidden {
            /// The document's module id.
            module_id: String,
        } => "policy.debug_forbidden",
            "run the enclave without --debug-mode, or set dangerous_allow_debug in a policy used only for development";
        /// A pinned PCR differs.
        #[error("PCR{index} is {found}, policy expects {expected}")]
        PcrMismatch {
            /// PCR index.
            index: u16,
            /// Expected value, hex.
            expected: String,
            /// Value in the document, hex, or "absent".
            found: String,
        } => "policy.pcr_mismatch",
            "the enclave runs a different image than the policy pins: rebuild the image reproducibly or update the policy's PCR values from `cloister eif describe`";
        /// The document's user_data is not the expected key binding digest.
        #[error("user_data is {found}, expected the key binding {expected}")]
        BindingMismatch {
            /// Expected binding digest, hex.
            expected: String,
            /// user_data in the document, hex, or "absent".
            found: String,
        } => "policy.binding_mismatch", NOT_BOUND;
        /// The document's nonce is not the verifier's nonce.
        #[error("nonce is {found}, expected {expected}")]
        NonceMismatch {
            /// Expected nonce, hex.
            expected: String,
            /// Nonce in the document, hex, or "absent".
            found: String,
        } => "policy.nonce_mismatch", NOT_BOUND;
        /// The document is older than the policy's maximum age.
        #[error("document is {age_secs} s old, policy allows at most {max_age_secs} s")]
        TooOld {
            /// Age in seconds (rounded down).
            age_secs: u64,
            /// The policy's bound.
            max_age_secs: u64,
        } => "policy.too_old", NOT_FRESH;
        /// The document's timestamp is further in the future than the allowed clock skew.
        #[error(
            "document timestamp {timestamp_ms} ms is more than {skew_secs} s after now ({now_secs} s)"
        )]
        TimestampInFuture {
            /// The document's timestamp, epoch milliseconds.
            timestamp_ms: u64,
            /// The appraisal time, epoch seconds.
            now_secs: u64,
            /// The tolerated skew.
            skew_secs: u64,
        } => "policy.timestamp_in_future", NOT_FRESH;
        /// A policy file is not valid.
        #[error("invalid policy: {reason}")]
        Invalid {
            /// What is wrong.
            reason: String,
        } => "policy.invalid",
            "fix the policy file (see the attestation crate's README for its form); `cloister eif describe --policy` writes a Nitro entry";
        /// The evidence comes from a platform the trust policy does not list. What the bundle or
        /// the host says about the platform never widens what the policy accepts.
        #[error("{platform} evidence is not accepted: the trust policy lists {allowed}")]
        PlatformNotAllowed {
            /// The platform of the evidence (as verified, or as claimed when refused before).
            platform: crate::Platform,
            /// The platforms the policy lists, or "no platform".
            allowed: String,
        } => "policy.platform_not_allowed",
            "the enclave runs on a platform your trust policy does not list: do not send it input; add an entry for that platform only if you meant to trust it";
        /// A platform policy pins no workload and does not say `dangerous_any_workload`.
        #[error(
            "the {platform} policy pins no workload ({required}); it would accept any genuine enclave"
        )]
        NoWorkloadPinned {
            /// The platform whose entry is empty.
            platform: crate::Platform,
            /// What a pin for this platform must name.
            required: &'static str,
        } => "policy.no_workload_pinned",
            "pin the enclave image's measurements (Nitro: PCR0 from `cloister eif describe --policy`; SEV-SNP: MEASUREMENT; TDX: MRTD and RTMR0-2), or say \"dangerous_any_workload\": true for a test setup";
        /// The trust policy pins model digests and this model is not among them.
        #[error("model {model_id:?} is not pinned by the trust policy (pinned: {pinned})")]
        ModelNotPinned {
            /// The model the caller asked for.
            model_id: String,
            /// The pinned model ids.
            pinned: String,
        } => "policy.model_not_pinned", MODEL_NOT_SERVED;
        /// The enclave serves a model whose digest differs from the trust policy's pin, or does not
        /// say that it serves the model at all.
        #[error("model {model_id:?} has digest {found}, the trust policy pins {expected}")]
        ModelDigestMismatch {
            /// The model.
            model_id: String,
            /// The pinned SHA-384, hex.
            expected: String,
            /// What the enclave signed, hex, or "absent".
            found: String,
        } => "policy.model_digest_mismatch", MODEL_NOT_SERVED;
    }
}

/// Parses a policy's JSON file form; `policy.invalid` with the parser's message (which names
/// the line, the column and the field).
pub(crate) fn policy_from_json<T: serde::de::DeserializeOwned>(
    json: &[u8],
) -> Result<T, crate::AttestationError> {
    serde_json::from_slice(json).map_err(|e| {
        PolicyError::Invalid {
            reason: e.to_string(),
        }
        .into()
    })
}
