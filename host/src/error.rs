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
    /// The enclave cannot be reached or the link broke.
    #[error("enclave unavailable: {0}")]
    EnclaveUnavailable(String),
    /// The enclave did not answer in time.
    #[error("enclave did not answer within {0} ms")]
    Timeout(u64),
    /// The enclave rejected the request.
    #[error("enclave rejected the request: {}", .0.message)]
    Enclave(WireError),
    /// The enclave answered with the wrong message kind.
    #[error("enclave answered with an unexpected message")]
    UnexpectedAnswer,
}

impl HostError {
    /// Stable code.
    pub fn code(&self) -> String {
        match self {
            Self::BadNonce { .. } => "host.bad_nonce".into(),
            Self::UnsupportedMediaType { .. } => "host.unsupported_media_type".into(),
            Self::EnclaveUnavailable(_) => "host.enclave_unavailable".into(),
            Self::Timeout(_) => "host.enclave_timeout".into(),
            Self::Enclave(e) => e.code.clone(),
            Self::UnexpectedAnswer => "host.unexpected_answer".into(),
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            Self::BadNonce { .. } => StatusCode::BAD_REQUEST,
            Self::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::EnclaveUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            Self::Enclave(e) if e.code.starts_with("ohttp.") || e.code.starts_with("proto.") => {
                StatusCode::BAD_REQUEST
            }
            Self::Enclave(_) | Self::UnexpectedAnswer => StatusCode::BAD_GATEWAY,
        }
    }

    fn hint(&self) -> &'static str {
        match self {
            Self::BadNonce { .. } => "send ?nonce= with 16 to 256 random bytes, hex-encoded",
            Self::UnsupportedMediaType { .. } => {
                "send the encapsulated request as message/ohttp-req"
            }
            Self::EnclaveUnavailable(_) | Self::Timeout(_) => {
                "check that the enclave is running and the host's --enclave address; then retry"
            }
            Self::Enclave(e) if e.code.starts_with("ohttp.") => {
                "fetch fresh evidence, verify it, and encrypt to the key it binds"
            }
            Self::Enclave(_) | Self::UnexpectedAnswer => {
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
