//! Verify, then appraise, an enclave's evidence bundle. The result, [`VerifiedEnclave`], is the
//! only thing a [`crate::session::Session`] will encrypt a request to.
//!
//! The caller's [`TrustPolicy`] decides which platforms are acceptable, never the bundle: the
//! host writes `bundle.platform`, so it is checked against the policy before anything is
//! verified, and the policy then appraises the platform the evidence verified as. Appraisal
//! always checks that the evidence binds the bundle's keys to this caller's nonce.

use std::path::Path;

use aws_lc_rs::signature::{ED25519, UnparsedPublicKey};
use cloister_attestation::binding::KeyBinding;
use cloister_attestation::nitro::TrustAnchor;
use cloister_attestation::{
    AppraisalContext, AppraisedEvidence, Claims, EvidenceVerifier, Platform, TrustPolicy, UnixTime,
};
use cloister_proto::{DIGEST_LEN, EvidenceBundle, EvidencePlatform};

use crate::{BundleCheck, ClientError};

/// The roots and the trust policy a caller trusts.
#[derive(Clone, Debug)]
pub struct TrustConfig {
    verifier: EvidenceVerifier,
    policy: TrustPolicy,
}

impl TrustConfig {
    /// Trust the platform roots (AWS Nitro root G1, AMD ARKs, Intel SGX root) under `policy`.
    pub fn new(policy: TrustPolicy) -> Self {
        Self {
            verifier: EvidenceVerifier::new(),
            policy,
        }
    }

    /// Also pin a mock root. Mock evidence is accepted only if the policy has a `mock` entry
    /// naming this root's SHA-256.
    #[must_use]
    pub fn with_mock_root(mut self, root: TrustAnchor) -> Self {
        self.verifier = self.verifier.with_mock_root(root);
        self
    }

    /// Loads a trust policy JSON file and, optionally, a mock root certificate (PEM).
    ///
    /// # Errors
    /// [`ClientError::Io`] or [`ClientError::Attestation`] for an invalid policy or certificate.
    pub fn from_files(policy: &Path, mock_root_pem: Option<&Path>) -> Result<Self, ClientError> {
        let bytes = std::fs::read(policy).map_err(|e| ClientError::io(policy, e))?;
        let mut trust = Self::new(TrustPolicy::from_json(&bytes)?);
        if let Some(p) = mock_root_pem {
            let pem = std::fs::read_to_string(p).map_err(|e| ClientError::io(p, e))?;
            trust = trust.with_mock_root(TrustAnchor::from_pem(Platform::Mock, pem.as_bytes())?);
        }
        Ok(trust)
    }

    /// The trust policy.
    pub fn policy(&self) -> &TrustPolicy {
        &self.policy
    }
}

/// An enclave whose evidence verified and passed policy, with the keys it binds and the models
/// it says (under its attested signing key) that it serves.
#[derive(Debug)]
pub struct VerifiedEnclave {
    appraised: AppraisedEvidence,
    bundle: EvidenceBundle,
    evidence_digest: [u8; DIGEST_LEN],
    policy: TrustPolicy,
}

impl VerifiedEnclave {
    /// The appraised evidence (claims, the checked binding, and the platform's own fields).
    pub fn appraised(&self) -> &AppraisedEvidence {
        &self.appraised
    }

    /// The normalized claims.
    pub fn claims(&self) -> Claims {
        self.appraised.claims()
    }

    /// The bundle as received.
    pub fn bundle(&self) -> &EvidenceBundle {
        &self.bundle
    }

    /// The attested X25519 key requests are encrypted to.
    pub fn kem_pub(&self) -> &[u8] {
        &self.appraised.binding().kem_pub
    }

    /// The attested Ed25519 key results are signed with.
    pub fn sig_pub(&self) -> &[u8] {
        &self.appraised.binding().sig_pub
    }

    /// SHA-384 over the signed extent of the evidence: what results name.
    pub fn evidence_digest(&self) -> &[u8; DIGEST_LEN] {
        &self.evidence_digest
    }

    /// The SHA-384 the enclave signed for `model_id`, if it serves it.
    pub fn served_model_sha384(&self, model_id: &str) -> Option<&[u8]> {
        self.bundle.served_models.sha384_of(model_id)
    }

    /// Checks, before any input is sent, that the trust policy allows `model_id` as the enclave
    /// serves it.
    ///
    /// # Errors
    /// [`ClientError::Attestation`] with `policy.model_not_pinned` or
    /// `policy.model_digest_mismatch`.
    pub fn check_model(&self, model_id: &str) -> Result<(), ClientError> {
        Ok(self
            .policy
            .check_model(model_id, self.served_model_sha384(model_id))?)
    }
}

/// The platform a bundle claims, in the attestation crate's terms.
fn claimed_platform(platform: EvidencePlatform) -> Platform {
    match platform {
        EvidencePlatform::Nitro => Platform::Nitro,
        EvidencePlatform::Mock => Platform::Mock,
        EvidencePlatform::SevSnp => Platform::SevSnp,
        EvidencePlatform::Tdx => Platform::Tdx,
    }
}

/// Verifies `bundle` against `trust` at `now`, requiring it to echo `expected_nonce` and to bind
/// its keys to it.
///
/// Order: the bundle's shape and nonce; the claimed platform against the policy (so evidence of
/// an unlisted platform is refused before it is even parsed); the evidence with its collateral;
/// the policy entry of the platform it verified as, with the key binding; the signed list of
/// served models.
///
/// # Errors
/// [`ClientError::Bundle`] if the bundle contradicts the request, [`ClientError::Attestation`]
/// for any failed verification or policy check.
pub fn verify_bundle(
    trust: &TrustConfig,
    bundle: EvidenceBundle,
    expected_nonce: &[u8],
    now: UnixTime,
) -> Result<VerifiedEnclave, ClientError> {
    bundle.validate()?;
    if bundle.nonce != expected_nonce {
        return Err(ClientError::Bundle(BundleCheck::NonceMismatch));
    }
    let claimed = claimed_platform(bundle.platform);
    trust.policy.check_platform(claimed)?;
    let verified = trust
        .verifier
        .verify(claimed, &bundle.evidence, &bundle.collateral, now)?;
    let ctx = AppraisalContext::new(
        now,
        KeyBinding {
            kem_pub: bundle.kem_pub.clone(),
            sig_pub: bundle.sig_pub.clone(),
            nonce: bundle.nonce.clone(),
        },
    );
    let appraised = trust.policy.appraise(&verified, &ctx)?;
    // The served-models list is signed by the key the evidence just vouched for.
    UnparsedPublicKey::new(&ED25519, &appraised.binding().sig_pub)
        .verify(
            &bundle.served_models.signing_bytes(),
            &bundle.served_models_signature,
        )
        .map_err(|_| ClientError::Bundle(BundleCheck::ServedModelsSignature))?;
    Ok(VerifiedEnclave {
        evidence_digest: verified.evidence_digest(),
        appraised,
        bundle,
        policy: trust.policy.clone(),
    })
}

#[cfg(test)]
mod tests {
    use cloister_attestation::{NitroPolicy, SnpPolicy, TdxPolicy};
    use cloister_proto::evidence::{BUNDLE_VERSION, KEM_PUB_LEN, SIG_PUB_LEN};

    use super::*;

    fn fixture(rel: &str) -> Vec<u8> {
        let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/fixtures/tdx/Phala-Network-dcap-qvl")
            .join(rel);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// A real TDX quote and collateral in a bundle: the quote binds someone else's keys.
    fn tdx_bundle(collateral: Vec<Vec<u8>>) -> EvidenceBundle {
        EvidenceBundle {
            version: BUNDLE_VERSION,
            platform: EvidencePlatform::Tdx,
            evidence: fixture("tdx_quote"),
            collateral: collateral.into_iter().map(Into::into).collect(),
            kem_pub: vec![1; KEM_PUB_LEN],
            sig_pub: vec![2; SIG_PUB_LEN],
            nonce: vec![7; 16],
            ohttp_key_id: 1,
            served_models: cloister_proto::ServedModels::default(),
            served_models_signature: vec![0; cloister_proto::served::SERVED_MODELS_SIGNATURE_LEN],
        }
    }

    const AT: u64 = 1_751_328_000; // 2025-07-01, inside the fixture collateral's window

    fn code(r: Result<VerifiedEnclave, ClientError>) -> String {
        r.expect_err("rejected").code()
    }

    fn tdx_any() -> TrustPolicy {
        TrustPolicy::new()
            .with_tdx(TdxPolicy::default().dangerous_any_workload())
            .expect("tdx entry")
    }

    /// A genuine AWS Nitro document (evervault's fixture) and a moment inside its window.
    fn nitro_document() -> (Vec<u8>, UnixTime) {
        let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/fixtures/nitro/evervault+attestation-doc-validation/valid-attestation-doc-bytes.cbor");
        let doc = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        (doc, UnixTime::from_secs(1_665_651_500))
    }

    fn nitro_bundle(platform: EvidencePlatform) -> (EvidenceBundle, UnixTime) {
        let (evidence, now) = nitro_document();
        (
            EvidenceBundle {
                platform,
                evidence,
                ..tdx_bundle(vec![])
            },
            now,
        )
    }

    /// The substitution attack: the host answers a caller who meant TDX with a genuine Nitro
    /// enclave of its own. The caller's policy lists only TDX, so the bundle is refused before
    /// its evidence is even parsed.
    #[test]
    fn a_genuine_nitro_enclave_is_refused_by_a_tdx_only_policy() {
        let trust = TrustConfig::new(tdx_any());
        let (bundle, now) = nitro_bundle(EvidencePlatform::Nitro);
        assert_eq!(
            code(verify_bundle(&trust, bundle, &[7; 16], now)),
            "policy.platform_not_allowed"
        );
        // Relabelled as TDX, it fails as a TDX quote; relabelled as mock, it verifies as Nitro.
        let (bundle, now) = nitro_bundle(EvidencePlatform::Tdx);
        assert!(code(verify_bundle(&trust, bundle, &[7; 16], now)).starts_with("tdx.quote."));
    }

    #[test]
    fn a_genuine_nitro_enclave_running_another_image_is_refused() {
        let other_pcr0 = NitroPolicy::default()
            .with_pcr(0, [0x42; 48])
            .expect("PCR0");
        let trust = TrustConfig::new(TrustPolicy::new().with_nitro(other_pcr0).expect("nitro"));
        let (bundle, now) = nitro_bundle(EvidencePlatform::Nitro);
        assert_eq!(
            code(verify_bundle(&trust, bundle, &[7; 16], now)),
            "policy.pcr_mismatch"
        );
        // Offered as mock, a real document is caught by its root.
        let mock_root = NitroPolicy::default()
            .with_pcr(0, [0x42; 48])
            .expect("PCR0")
            .dangerous_trust_mock_root([1; 32]);
        let trust = TrustConfig::new(TrustPolicy::new().with_mock(mock_root).expect("mock"));
        let (bundle, now) = nitro_bundle(EvidencePlatform::Mock);
        assert_eq!(
            code(verify_bundle(&trust, bundle, &[7; 16], now)),
            "evidence.platform_mismatch"
        );
    }

    #[test]
    fn the_empty_policy_accepts_nothing() {
        let trust = TrustConfig::new(TrustPolicy::from_json(b"{}").expect("parse"));
        let (bundle, now) = nitro_bundle(EvidencePlatform::Nitro);
        assert_eq!(
            code(verify_bundle(&trust, bundle, &[7; 16], now)),
            "policy.platform_not_allowed"
        );
        let bundle = tdx_bundle(vec![fixture("tdx_quote_collateral.json")]);
        assert_eq!(
            code(verify_bundle(
                &trust,
                bundle,
                &[7; 16],
                UnixTime::from_secs(AT)
            )),
            "policy.platform_not_allowed"
        );
    }

    #[test]
    fn tdx_evidence_needs_a_tdx_entry() {
        let nitro_only = TrustPolicy::new()
            .with_nitro(NitroPolicy::default().with_pcr(0, [0; 48]).expect("PCR0"))
            .expect("nitro");
        let trust = TrustConfig::new(nitro_only);
        let bundle = tdx_bundle(vec![fixture("tdx_quote_collateral.json")]);
        let r = verify_bundle(&trust, bundle, &[7; 16], UnixTime::from_secs(AT));
        assert_eq!(code(r), "policy.platform_not_allowed");
    }

    #[test]
    fn tdx_evidence_is_verified_with_its_collateral_then_bound_to_the_keys() {
        let trust = TrustConfig::new(tdx_any());
        // The quote and its collateral verify (UpToDate); the REPORTDATA is not our binding.
        let bundle = tdx_bundle(vec![fixture("tdx_quote_collateral.json")]);
        let r = verify_bundle(&trust, bundle, &[7; 16], UnixTime::from_secs(AT));
        assert_eq!(code(r), "policy.binding_mismatch");
        // Without collateral the default TDX policy refuses the unknown TCB first.
        let r = verify_bundle(
            &trust,
            tdx_bundle(vec![]),
            &[7; 16],
            UnixTime::from_secs(AT),
        );
        assert_eq!(code(r), "policy.tdx.tcb_unknown");
        // Collateral that is not collateral.
        let r = verify_bundle(
            &trust,
            tdx_bundle(vec![b"{}".to_vec()]),
            &[7; 16],
            UnixTime::from_secs(AT),
        );
        assert_eq!(code(r), "tdx.collateral.malformed");
        // Outside the collateral's window.
        let bundle = tdx_bundle(vec![fixture("tdx_quote_collateral.json")]);
        let r = verify_bundle(
            &trust,
            bundle,
            &[7; 16],
            UnixTime::from_secs(AT + 30 * 86_400),
        );
        assert_eq!(code(r), "tdx.crl.outdated");
    }

    #[test]
    fn snp_evidence_is_verified_with_its_vcek_then_bound_to_the_keys() {
        let snp = |rel: &str| {
            let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../shared/fixtures/snp/confidential-containers-trustee")
                .join(rel);
            std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        };
        let bundle = |collateral: Vec<Vec<u8>>| EvidenceBundle {
            platform: EvidencePlatform::SevSnp,
            evidence: snp("test-report.bin"),
            collateral: collateral.into_iter().map(Into::into).collect(),
            ..tdx_bundle(vec![])
        };
        let now = UnixTime::from_secs(1_735_689_600); // 2025-01-01, inside the VCEK's validity
        let untrusting = TrustConfig::new(tdx_any());
        let r = verify_bundle(
            &untrusting,
            bundle(vec![snp("test-vcek.der")]),
            &[7; 16],
            now,
        );
        assert_eq!(code(r), "policy.platform_not_allowed");
        let any = SnpPolicy::default().dangerous_any_workload();
        let trust = TrustConfig::new(TrustPolicy::new().with_snp(any.clone()).expect("snp"));
        // The report verifies with its VCEK; its REPORT_DATA is not our binding.
        let r = verify_bundle(&trust, bundle(vec![snp("test-vcek.der")]), &[7; 16], now);
        assert_eq!(code(r), "policy.binding_mismatch");
        let r = verify_bundle(&trust, bundle(vec![]), &[7; 16], now);
        assert_eq!(code(r), "evidence.collateral_missing");
        // A policy that requires AMD's CRL refuses a bundle without one.
        let strict = TrustConfig::new(TrustPolicy::new().with_snp(any.require_crl()).expect("snp"));
        let r = verify_bundle(&strict, bundle(vec![snp("test-vcek.der")]), &[7; 16], now);
        assert_eq!(code(r), "policy.snp.crl_required");
    }
}
