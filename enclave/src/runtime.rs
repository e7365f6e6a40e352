//! The enclave's request handling, transport-free: a [`Message`] in, a [`Message`] out.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use cloister_attestation::binding::key_binding;
use cloister_proto::evidence::BUNDLE_VERSION;
use cloister_proto::served::SERVED_MODELS_SIGNATURE_LEN;
use cloister_proto::{
    DIGEST_LEN, EvidenceBundle, Message, ProtoError, ServedModel, ServedModels, WireError,
};
use serde_bytes::ByteBuf;
use thiserror::Error;

use crate::identity::{EnclaveIdentity, OHTTP_KEY_ID};
use crate::inference::LoadedModel;
use crate::ledger::{EvidenceLedger, ReplayCache};
use crate::platform::AttestationPlatform;

/// Building the runtime failed.
#[derive(Debug, Error)]
pub enum RuntimeError {
    /// Two models share an id.
    #[error("model id {0:?} is loaded twice; each model directory needs its own id")]
    DuplicateModel(String),
    /// No model was given.
    #[error("no model loaded; pass --model DIR at least once")]
    NoModel,
    /// The loaded models cannot be listed in the evidence bundle (too many, or a name too long).
    #[error("the served-models list is invalid: {0}; load at most 64 models")]
    ServedModels(#[source] ProtoError),
}

impl RuntimeError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::DuplicateModel(_) => "enclave.duplicate_model",
            Self::NoModel => "enclave.no_model",
            Self::ServedModels(_) => "enclave.served_models",
        }
    }
}

/// Everything the enclave holds: keys, platform backend, models, issued-evidence ledger,
/// replay cache, and the signed list of served models it publishes with its evidence.
pub struct EnclaveRuntime {
    identity: EnclaveIdentity,
    platform: Box<dyn AttestationPlatform>,
    models: HashMap<String, Arc<LoadedModel>>,
    served_models: ServedModels,
    served_models_signature: [u8; SERVED_MODELS_SIGNATURE_LEN],
    pub(crate) ledger: EvidenceLedger,
    pub(crate) replay: ReplayCache,
}

impl EnclaveRuntime {
    /// Assembles a runtime.
    ///
    /// # Errors
    /// [`RuntimeError`] on duplicate model ids, no model, or more models than a bundle lists.
    pub fn new(
        identity: EnclaveIdentity,
        platform: Box<dyn AttestationPlatform>,
        models: Vec<LoadedModel>,
    ) -> Result<Self, RuntimeError> {
        if models.is_empty() {
            return Err(RuntimeError::NoModel);
        }
        let mut map = HashMap::new();
        for m in models {
            let id = m.id().to_owned();
            if map.insert(id.clone(), Arc::new(m)).is_some() {
                return Err(RuntimeError::DuplicateModel(id));
            }
        }
        let served_models = ServedModels::new(
            map.values()
                .map(|m| ServedModel {
                    id: m.id().to_owned(),
                    version: m.version().to_owned(),
                    sha384: m.digest().to_vec(),
                })
                .collect(),
        )
        .map_err(RuntimeError::ServedModels)?;
        // The model set and sig_pub are both fixed for this boot: sign once.
        let served_models_signature = identity.sign(&served_models.signing_bytes());
        Ok(Self {
            identity,
            platform,
            models: map,
            served_models,
            served_models_signature,
            ledger: EvidenceLedger::default(),
            replay: ReplayCache::default(),
        })
    }

    /// The models this enclave serves, as published (signed) in every evidence bundle.
    pub fn served_models(&self) -> &ServedModels {
        &self.served_models
    }

    /// The identity keys.
    pub fn identity(&self) -> &EnclaveIdentity {
        &self.identity
    }

    /// A loaded model by id.
    pub fn model(&self, id: &str) -> Option<&Arc<LoadedModel>> {
        self.models.get(id)
    }

    /// Answers one message. Blocking work (signing, inference) runs off the async reactor.
    pub async fn handle(self: &Arc<Self>, msg: Message) -> Message {
        let rt = Arc::clone(self);
        let job = move || match msg {
            Message::AttestRequest { nonce } => match rt.attest(&nonce) {
                Ok(bundle) => Message::Evidence(bundle),
                Err(e) => Message::Error(e),
            },
            Message::InferRequest { ohttp } => {
                match crate::gateway::serve(&rt, &ohttp, Instant::now()) {
                    Ok(ohttp) => Message::InferResponse { ohttp },
                    Err(e) => Message::Error(e),
                }
            }
            Message::Evidence(_) | Message::InferResponse { .. } | Message::Error(_) => {
                Message::Error(WireError::new(
                    "enclave.unexpected_message",
                    "the enclave only answers attest and infer requests",
                ))
            }
        };
        tokio::task::spawn_blocking(job).await.unwrap_or_else(|_| {
            Message::Error(WireError::new("enclave.internal", "request handler failed"))
        })
    }

    /// Produces evidence binding both identity keys to `nonce`.
    ///
    /// # Errors
    /// A [`WireError`] with the nonce check's or the backend's code.
    pub fn attest(&self, nonce: &[u8]) -> Result<EvidenceBundle, WireError> {
        self.attest_at(nonce, Instant::now())
    }

    /// [`EnclaveRuntime::attest`] at an explicit time: the evidence is accepted in requests
    /// until `now` + [`crate::ledger::EVIDENCE_MAX_AGE`].
    ///
    /// # Errors
    /// As [`EnclaveRuntime::attest`].
    pub fn attest_at(&self, nonce: &[u8], now: Instant) -> Result<EvidenceBundle, WireError> {
        cloister_proto::message::validate_nonce(nonce)
            .map_err(|e| WireError::new(e.code(), e.to_string()))?;
        let kem_pub = self.identity.kem_pub();
        let sig_pub = self.identity.sig_pub();
        let binding = key_binding(kem_pub, sig_pub, nonce);
        let ev = self
            .platform
            .attest(&binding, nonce)
            .map_err(|e| WireError::new(e.code(), e.to_string()))?;
        let bundle = EvidenceBundle {
            version: BUNDLE_VERSION,
            platform: self.platform.kind(),
            evidence: ev.evidence,
            collateral: ev.collateral.into_iter().map(ByteBuf::from).collect(),
            kem_pub: kem_pub.to_vec(),
            sig_pub: sig_pub.to_vec(),
            nonce: nonce.to_vec(),
            ohttp_key_id: OHTTP_KEY_ID,
            served_models: self.served_models.clone(),
            served_models_signature: self.served_models_signature.to_vec(),
        };
        self.ledger.record(evidence_digest(&bundle)?, now);
        Ok(bundle)
    }
}

/// The digest a caller's request names for `bundle`: SHA-384 over the signed extent of the
/// evidence only (the attestation crate's one rule), so the host cannot make a caller's digest
/// and the enclave's disagree by re-encoding or padding the evidence.
///
/// # Errors
/// A [`WireError`] with the parser's code if the platform produced evidence that does not parse
/// (a backend bug: nothing is recorded and no bundle is served).
pub fn evidence_digest(bundle: &EvidenceBundle) -> Result<[u8; DIGEST_LEN], WireError> {
    cloister_attestation::evidence::evidence_digest(
        verifier_platform(bundle.platform),
        &bundle.evidence,
    )
    .map_err(|e| WireError::new(e.code(), e.to_string()))
}

/// The attestation crate's name for a bundle's platform tag (the enclave's own tag, from its
/// backend: never a caller's).
pub fn verifier_platform(
    platform: cloister_proto::EvidencePlatform,
) -> cloister_attestation::Platform {
    use cloister_attestation::Platform;
    use cloister_proto::EvidencePlatform as E;
    match platform {
        E::Nitro => Platform::Nitro,
        E::Mock => Platform::Mock,
        E::SevSnp => Platform::SevSnp,
        E::Tdx => Platform::Tdx,
    }
}
