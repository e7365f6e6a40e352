//! The enclave's request handling, transport-free: a [`Message`] in, a [`Message`] out.

use std::collections::HashMap;
use std::sync::Arc;

use cloister_attestation::binding::key_binding;
use cloister_proto::evidence::BUNDLE_VERSION;
use cloister_proto::{EvidenceBundle, Message, WireError};
use serde_bytes::ByteBuf;
use thiserror::Error;

use crate::identity::{EnclaveIdentity, OHTTP_KEY_ID};
use crate::inference::LoadedModel;
use crate::ledger::EvidenceLedger;
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
}

/// Everything the enclave holds: keys, platform backend, models, issued-evidence ledger.
pub struct EnclaveRuntime {
    identity: EnclaveIdentity,
    platform: Box<dyn AttestationPlatform>,
    models: HashMap<String, Arc<LoadedModel>>,
    pub(crate) ledger: EvidenceLedger,
}

impl EnclaveRuntime {
    /// Assembles a runtime.
    ///
    /// # Errors
    /// [`RuntimeError`] on duplicate model ids or no model.
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
        Ok(Self {
            identity,
            platform,
            models: map,
            ledger: EvidenceLedger::default(),
        })
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
            Message::InferRequest { ohttp } => match crate::gateway::serve(&rt, &ohttp) {
                Ok(ohttp) => Message::InferResponse { ohttp },
                Err(e) => Message::Error(e),
            },
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
        };
        self.ledger.record(bundle.evidence_digest());
        Ok(bundle)
    }
}
