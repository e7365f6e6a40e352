//! The host's errors and how they look to a caller: a status, a stable code, a hint.
//! Messages are built from our own checks and the enclave's codes, never from bodies.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cloister_proto::WireError;
use cloister_proto::api::{ErrorBody, ErrorDetail};
use thiserror::Error;

/// A request the host could not serve.
#[derive(Debug, Error)]
pub enum HostError {
    /// `nonce` query parameter missing or not hex.
    #[error("query parameter nonce must be {min}..={max} bytes as hex")]
    BadNonce {
        /// Minimum nonce bytes.
        min: usize,
        /// Maximum nonce bytes.
        max: usize,
    },
    /// Wrong content type on `/v1/infer`.
    #[error("content-type must be {expected}")]
    UnsupportedMediaType {
        /// The media type required.
        expected: &'static str,
    },
    /// Connecting to the enclave failed.
    #[error("enclave unavailable: connecting to {addr}")]
    EnclaveUnavailable {
        /// The enclave's address (`unix:PATH` or `vsock:CID:PORT`).
        addr: String,
        /// The connect error.
        #[source]
        source: std::io::Error,
    },
    /// The link to the enclave was closed before the request could be sent.
    #[error("enclave unavailable: the connection is closed")]
    LinkClosed,
    /// The link to the enclave broke while the request waited for its answer.
    #[error("enclave unavailable: the connection was lost while waiting for the answer")]
    LinkLost,
    /// The enclave did not answer in time.
    #[error("enclave did not answer within {millis} ms")]
    Timeout {
        /// The time waited.
        millis: u64,
    },
    /// The enclave rejected the request.
    #[error("enclave rejected the request: {}", .0.message)]
    Enclave(WireError),
    /// The enclave answered with the wrong message kind.
    #[error("enclave answered with an unexpected message")]
    UnexpectedAnswer,
    /// The enclave's evidence bundle could not be encoded for the caller.
    #[error("encoding the evidence bundle [{code}]", code = .0.code())]
    BundleEncode(#[source] cloister_proto::ProtoError),
}

impl HostError {
    /// Stable code.
    pub fn code(&self) -> String {
        match self {
            Self::BadNonce { .. } => "host.bad_nonce".into(),
            Self::UnsupportedMediaType { .. } => "host.unsupported_media_type".into(),
            Self::EnclaveUnavailable { .. } => "host.enclave_unavailable".into(),
            Self::LinkClosed => "host.link_closed".into(),
            Self::LinkLost => "host.link_lost".into(),
            Self::Timeout { .. } => "host.enclave_timeout".into(),
            Self::Enclave(e) => e.code.clone(),
            Self::UnexpectedAnswer => "host.unexpected_answer".into(),
            Self::BundleEncode(_) => "host.bundle_encode".into(),
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            Self::BadNonce { .. } => StatusCode::BAD_REQUEST,
            Self::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::EnclaveUnavailable { .. } | Self::LinkClosed | Self::LinkLost => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            Self::Enclave(e) if e.code.starts_with("ohttp.") || e.code.starts_with("proto.") => {
                StatusCode::BAD_REQUEST
            }
            Self::Enclave(_) | Self::UnexpectedAnswer | Self::BundleEncode(_) => {
                StatusCode::BAD_GATEWAY
            }
        }
    }

    fn hint(&self) -> &'static str {
        match self {
            Self::BadNonce { .. } => "send ?nonce= with 16 to 256 random bytes, hex-encoded",
            Self::UnsupportedMediaType { .. } => {
                "send the encapsulated request as message/ohttp-req"
            }
            Self::EnclaveUnavailable { .. }
            | Self::LinkClosed
            | Self::LinkLost
            | Self::Timeout { .. } => {
                "check that the enclave is running and the host's --enclave address; then retry"
            }
            Self::Enclave(e) if e.code.starts_with("ohttp.") => {
                "fetch fresh evidence, verify it, and encrypt to the key it binds"
            }
            Self::Enclave(_) | Self::UnexpectedAnswer | Self::BundleEncode(_) => {
                "retry; if it persists, report the code to the operator"
            }
        }
    }
}

impl IntoResponse for HostError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code(),
                message: self.to_string(),
                hint: self.hint().into(),
            },
        };
        (status, Json(body)).into_response()
    }
}
