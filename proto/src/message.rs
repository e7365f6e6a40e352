//! Messages between host and enclave. The host only ever moves opaque bytes: it never sees
//! an OHTTP plaintext, and evidence is public by design.

use serde::{Deserialize, Serialize};

use crate::{EvidenceBundle, ProtoError};

/// Version of the host ↔ enclave message set. Bump on any incompatible change.
pub const PROTOCOL_VERSION: u16 = 1;

/// Longest nonce a caller may ask to be bound into evidence (Nitro's NSM limit is 1024 bytes;
/// the binding hashes it, so the cap is about resource use, not the platform).
pub const MAX_NONCE_LEN: usize = 256;

/// Shortest nonce accepted: below 16 bytes a replay becomes guessable.
pub const MIN_NONCE_LEN: usize = 16;

/// One frame's content: version, request id, message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// [`PROTOCOL_VERSION`] of the sender.
    pub v: u16,
    /// Chosen by the host per request; the enclave echoes it so answers can come back in any order.
    pub id: u64,
    /// The message.
    pub msg: Message,
}

impl Envelope {
    /// An envelope at the current [`PROTOCOL_VERSION`].
    pub fn new(id: u64, msg: Message) -> Self {
        Self {
            v: PROTOCOL_VERSION,
            id,
            msg,
        }
    }

    /// Checks the version and the per-message limits after decoding.
    ///
    /// # Errors
    /// [`ProtoError::UnsupportedVersion`] or a field limit error.
    pub fn validate(&self) -> Result<(), ProtoError> {
        if self.v != PROTOCOL_VERSION {
            return Err(ProtoError::UnsupportedVersion {
                what: "envelope",
                got: self.v,
                supported: PROTOCOL_VERSION,
            });
        }
        match &self.msg {
            Message::AttestRequest { nonce } => validate_nonce(nonce),
            Message::Evidence(bundle) => bundle.validate(),
            Message::InferRequest { .. } | Message::InferResponse { .. } | Message::Error(_) => {
                Ok(())
            }
        }
    }
}

/// Checks a caller-chosen nonce against [`MIN_NONCE_LEN`]..=[`MAX_NONCE_LEN`].
///
/// # Errors
/// [`ProtoError::FieldTooLarge`] or [`ProtoError::BadLength`].
pub fn validate_nonce(nonce: &[u8]) -> Result<(), ProtoError> {
    if nonce.len() > MAX_NONCE_LEN {
        return Err(ProtoError::FieldTooLarge {
            field: "nonce",
            len: nonce.len(),
            limit: MAX_NONCE_LEN,
        });
    }
    if nonce.len() < MIN_NONCE_LEN {
        return Err(ProtoError::BadLength {
            field: "nonce (minimum)",
            expected: MIN_NONCE_LEN,
            len: nonce.len(),
        });
    }
    Ok(())
}

/// What host and enclave say to each other.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Message {
    /// Host → enclave: produce evidence bound to this caller's nonce.
    AttestRequest {
        /// The caller's nonce, bound into the evidence.
        #[serde(with = "serde_bytes")]
        nonce: Vec<u8>,
    },
    /// Enclave → host: evidence for an [`Message::AttestRequest`].
    Evidence(EvidenceBundle),
    /// Host → enclave: an encapsulated OHTTP request (`message/ohttp-req`), opaque to the host.
    InferRequest {
        /// The caller's bytes, unchanged.
        #[serde(with = "serde_bytes")]
        ohttp: Vec<u8>,
    },
    /// Enclave → host: an encapsulated OHTTP response (`message/ohttp-res`), opaque to the host.
    InferResponse {
        /// Bytes for the caller, unchanged by the host.
        #[serde(with = "serde_bytes")]
        ohttp: Vec<u8>,
    },
    /// Enclave → host: the request failed before an encrypted answer could be made.
    Error(WireError),
}

/// An error that crosses a trust boundary: a stable code and a message that carries no payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireError {
    /// Stable dotted code, e.g. `ohttp.decapsulate`.
    pub code: String,
    /// What went wrong, for humans. Never contains request or response content.
    pub message: String,
}

impl WireError {
    /// A wire error from a code and a message.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
        }
    }
}
