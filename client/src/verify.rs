//! Verify, then appraise, an enclave's evidence bundle. The result, [`VerifiedEnclave`], is the
//! only thing a [`crate::session::Session`] will encrypt a request to.

use std::path::Path;

use cloister_attestation::binding::KeyBinding;
use cloister_attestation::nitro::{NitroVerifier, TrustAnchor};
use cloister_attestation::policy::{AppraisalContext, AppraisedNitroDocument, NitroPolicy};
use cloister_attestation::snp::{AppraisedSnpReport, SnpPolicy, SnpVerifier};
use cloister_attestation::tdx::{AppraisedTdxQuote, TdxCollateral, TdxPolicy, TdxVerifier};
use cloister_attestation::{Claims, Platform, UnixTime};
use cloister_proto::{DIGEST_LEN, EvidenceBundle, EvidencePlatform};

use crate::ClientError;

/// Roots and policy a caller trusts.
pub struct TrustConfig {
    verifier: NitroVerifier,
    policy: NitroPolicy,
    /// SEV-SNP evidence is refused unless an SEV-SNP policy is configured.
    snp_policy: Option<SnpPolicy>,
    /// TDX evidence is refused unless a TDX policy is configured.
    tdx_policy: Option<TdxPolicy>,
}

impl TrustConfig {
    /// Trust the AWS Nitro root (always pinned) and, if given, a mock root, under `policy`.
    /// Mock evidence is accepted only if the policy also names that root's SHA-256.
    pub fn new(policy: NitroPolicy, mock_root: Option<TrustAnchor>) -> Self {
        let mut verifier = NitroVerifier::aws();
        if let Some(root) = mock_root {
            verifier = verifier.with_mock_root(root);
        }
        Self {
            verifier,
            policy,
            snp_policy: None,
            tdx_policy: None,
        }
    }

    /// Also accept AMD SEV-SNP evidence that satisfies `policy` (the report signed by the VCEK
    /// or VLEK the enclave sends along, chained to a pinned AMD ARK).
    #[must_use]
    pub fn with_snp_policy(mut self, policy: SnpPolicy) -> Self {
        self.snp_policy = Some(policy);
        self
    }

    /// Loads an SEV-SNP policy JSON file and accepts SEV-SNP evidence under it.
    ///
    /// # Errors
    /// [`ClientError::Io`] or [`ClientError::Attestation`] for an invalid policy.
    pub fn with_snp_policy_file(self, path: &Path) -> Result<Self, ClientError> {
        let bytes = std::fs::read(path).map_err(|e| ClientError::io(path, e))?;
        Ok(self.with_snp_policy(SnpPolicy::from_json(&bytes)?))
    }

    /// Also accept Intel TDX evidence that satisfies `policy` (verified against the pinned Intel
    /// SGX Root CA, with the DCAP collateral the host attached).
    #[must_use]
    pub fn with_tdx_policy(mut self, policy: TdxPolicy) -> Self {
        self.tdx_policy = Some(policy);
        self
    }

    /// Loads a TDX policy JSON file and accepts TDX evidence under it.
    ///
    /// # Errors
    /// [`ClientError::Io`] or [`ClientError::Attestation`] for an invalid policy.
    pub fn with_tdx_policy_file(self, path: &Path) -> Result<Self, ClientError> {
        let bytes = std::fs::read(path).map_err(|e| ClientError::io(path, e))?;
        Ok(self.with_tdx_policy(TdxPolicy::from_json(&bytes)?))
    }

    /// Loads a policy JSON file and, optionally, a mock root certificate (PEM).
    ///
    /// # Errors
    /// [`ClientError::Io`] or [`ClientError::Attestation`] for an invalid policy or certificate.
    pub fn from_files(policy: &Path, mock_root_pem: Option<&Path>) -> Result<Self, ClientError> {
        let bytes = std::fs::read(policy).map_err(|e| ClientError::io(policy, e))?;
        let policy = NitroPolicy::from_json(&bytes)?;
        let root = match mock_root_pem {
            Some(p) => {
                let pem = std::fs::read_to_string(p).map_err(|e| ClientError::io(p, e))?;
                Some(TrustAnchor::from_pem(Platform::Mock, pem.as_bytes())?)
            }
            None => None,
        };
        Ok(Self::new(policy, root))
    }

    /// The appraisal policy.
    pub fn policy(&self) -> &NitroPolicy {
        &self.policy
    }
}

/// Evidence that verified and passed policy, per platform.
#[derive(Debug)]
pub enum AppraisedEvidence {
    /// An AWS Nitro (or mock) attestation document.
    Nitro(Box<AppraisedNitroDocument>),
    /// An AMD SEV-SNP report.
    Snp(Box<AppraisedSnpReport>),
    /// An Intel TDX quote.
    Tdx(Box<AppraisedTdxQuote>),
}

impl AppraisedEvidence {
    /// The normalized claims.
    pub fn claims(&self) -> &Claims {
        match self {
            Self::Nitro(d) => d.claims(),
            Self::Snp(r) => r.claims(),
            Self::Tdx(q) => q.claims(),
        }
    }
}

/// An enclave whose evidence verified and passed policy, with the keys it binds.
#[derive(Debug)]
pub struct VerifiedEnclave {
    appraised: AppraisedEvidence,
    bundle: EvidenceBundle,
    evidence_digest: [u8; DIGEST_LEN],
}

impl VerifiedEnclave {
    /// The appraised evidence (claims, and the platform's own fields).
    pub fn appraised(&self) -> &AppraisedEvidence {
        &self.appraised
    }

    /// The bundle as received.
    pub fn bundle(&self) -> &EvidenceBundle {
        &self.bundle
    }

    /// The attested X25519 key requests are encrypted to.
    pub fn kem_pub(&self) -> &[u8] {
        &self.bundle.kem_pub
    }

    /// The attested Ed25519 key results are signed with.
    pub fn sig_pub(&self) -> &[u8] {
        &self.bundle.sig_pub
    }

    /// SHA-384 of the raw evidence.
    pub fn evidence_digest(&self) -> &[u8; DIGEST_LEN] {
        &self.evidence_digest
    }
}

/// Verifies `bundle` against `trust` at `now`, requiring it to echo `expected_nonce` and to bind
/// its keys to it.
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
        return Err(ClientError::Bundle(
            "the bundle echoes another nonce than ours (replayed evidence?)".into(),
        ));
    }
    let ctx = AppraisalContext::at(now).with_binding(KeyBinding {
        kem_pub: bundle.kem_pub.clone(),
        sig_pub: bundle.sig_pub.clone(),
        nonce: bundle.nonce.clone(),
    });
    let appraised = match bundle.platform {
        EvidencePlatform::Nitro | EvidencePlatform::Mock => {
            AppraisedEvidence::Nitro(Box::new(appraise_nitro(trust, &bundle, &ctx)?))
        }
        EvidencePlatform::Tdx => {
            let policy = trust.tdx_policy.as_ref().ok_or_else(|| {
                ClientError::Config(
                    "the enclave sent TDX evidence and no TDX policy is configured (--tdx-policy)"
                        .into(),
                )
            })?;
            // The host attaches Intel's collateral; it is self-authenticating (Intel-signed), so
            // its origin does not matter. Without it the TCB status is unknown and the policy
            // decides.
            let collateral = bundle
                .collateral
                .first()
                .map(|c| TdxCollateral::from_json(c))
                .transpose()?;
            let quote = TdxVerifier::new().verify(&bundle.evidence, collateral.as_ref(), now)?;
            AppraisedEvidence::Tdx(Box::new(policy.appraise(&quote, &ctx)?))
        }
        EvidencePlatform::SevSnp => {
            let policy = trust.snp_policy.as_ref().ok_or_else(|| {
                ClientError::Config(
                    "the enclave sent SEV-SNP evidence and no SEV-SNP policy is configured \
                     (--snp-policy)"
                        .into(),
                )
            })?;
            // The enclave sends the VCEK (or VLEK) along; the verifier chains it to a pinned ARK.
            let vek = bundle.collateral.first().ok_or_else(|| {
                ClientError::Bundle(
                    "SEV-SNP evidence without its VCEK/VLEK: start the enclave with --snp-vcek"
                        .into(),
                )
            })?;
            let report = SnpVerifier::new().verify(&bundle.evidence, vek, now)?;
            AppraisedEvidence::Snp(Box::new(policy.appraise(&report, &ctx)?))
        }
    };
    let evidence_digest = bundle.evidence_digest();
    Ok(VerifiedEnclave {
        appraised,
        bundle,
        evidence_digest,
    })
}

/// Nitro and mock: the document must chain to the root its bundle names.
fn appraise_nitro(
    trust: &TrustConfig,
    bundle: &EvidenceBundle,
    ctx: &AppraisalContext,
) -> Result<AppraisedNitroDocument, ClientError> {
    let expected_platform = if bundle.platform == EvidencePlatform::Mock {
        Platform::Mock
    } else {
        Platform::Nitro
    };
    let document = trust.verifier.verify(&bundle.evidence, ctx.now)?;
    if document.platform() != expected_platform {
        return Err(ClientError::Bundle(format!(
            "bundle says {} but the document chains to a {} root",
            bundle.platform.as_str(),
            document.platform().as_str()
        )));
    }
    Ok(trust.policy.appraise(&document, ctx)?)
}

#[cfg(test)]
mod tests {
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

    #[test]
    fn tdx_evidence_needs_a_tdx_policy() {
        let trust = TrustConfig::new(NitroPolicy::default(), None);
        let bundle = tdx_bundle(vec![fixture("tdx_quote_collateral.json")]);
        let r = verify_bundle(&trust, bundle, &[7; 16], UnixTime::from_secs(AT));
        assert_eq!(code(r), "client.config");
    }

    #[test]
    fn tdx_evidence_is_verified_with_its_collateral_then_bound_to_the_keys() {
        let trust =
            TrustConfig::new(NitroPolicy::default(), None).with_tdx_policy(TdxPolicy::default());
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
        let untrusting = TrustConfig::new(NitroPolicy::default(), None);
        let r = verify_bundle(
            &untrusting,
            bundle(vec![snp("test-vcek.der")]),
            &[7; 16],
            now,
        );
        assert_eq!(code(r), "client.config");
        let trust =
            TrustConfig::new(NitroPolicy::default(), None).with_snp_policy(SnpPolicy::default());
        // The report verifies with its VCEK; its REPORT_DATA is not our binding.
        let r = verify_bundle(&trust, bundle(vec![snp("test-vcek.der")]), &[7; 16], now);
        assert_eq!(code(r), "policy.binding_mismatch");
        let r = verify_bundle(&trust, bundle(vec![]), &[7; 16], now);
        assert_eq!(code(r), "client.bundle_mismatch");
    }
}
