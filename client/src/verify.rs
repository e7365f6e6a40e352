//! Verify, then appraise, an enclave's evidence bundle. The result, [`VerifiedEnclave`], is the
//! only thing a [`crate::session::Session`] will encrypt a request to.

use std::path::Path;

use cloister_attestation::binding::KeyBinding;
use cloister_attestation::nitro::{NitroVerifier, TrustAnchor};
use cloister_attestation::policy::{AppraisalContext, AppraisedNitroDocument, NitroPolicy};
use cloister_attestation::{Platform, UnixTime};
use cloister_proto::{DIGEST_LEN, EvidenceBundle, EvidencePlatform};

use crate::ClientError;

/// Roots and policy a caller trusts.
pub struct TrustConfig {
    verifier: NitroVerifier,
    policy: NitroPolicy,
}

impl TrustConfig {
    /// Trust the AWS Nitro root (always pinned) and, if given, a mock root, under `policy`.
    /// Mock evidence is accepted only if the policy also names that root's SHA-256.
    pub fn new(policy: NitroPolicy, mock_root: Option<TrustAnchor>) -> Self {
        let mut verifier = NitroVerifier::aws();
        if let Some(root) = mock_root {
            verifier = verifier.with_mock_root(root);
        }
        Self { verifier, policy }
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

/// An enclave whose evidence verified and passed policy, with the keys it binds.
#[derive(Debug)]
pub struct VerifiedEnclave {
    appraised: AppraisedNitroDocument,
    bundle: EvidenceBundle,
    evidence_digest: [u8; DIGEST_LEN],
}

impl VerifiedEnclave {
    /// The appraised document (claims, PCRs).
    pub fn appraised(&self) -> &AppraisedNitroDocument {
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
    let expected_platform = match bundle.platform {
        EvidencePlatform::Nitro => Platform::Nitro,
        EvidencePlatform::Mock => Platform::Mock,
        other => {
            return Err(ClientError::Config(format!(
                "{} evidence is not supported by this client yet",
                other.as_str()
            )));
        }
    };
    let document = trust.verifier.verify(&bundle.evidence, now)?;
    if document.platform() != expected_platform {
        return Err(ClientError::Bundle(format!(
            "bundle says {} but the document chains to a {} root",
            bundle.platform.as_str(),
            document.platform().as_str()
        )));
    }
    let ctx = AppraisalContext::at(now).with_binding(KeyBinding {
        kem_pub: bundle.kem_pub.clone(),
        sig_pub: bundle.sig_pub.clone(),
        nonce: bundle.nonce.clone(),
    });
    let appraised = trust.policy.appraise(&document, &ctx)?;
    let evidence_digest = bundle.evidence_digest();
    Ok(VerifiedEnclave {
        appraised,
        bundle,
        evidence_digest,
    })
}
