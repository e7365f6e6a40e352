//! [`ApiError`]: every refusal the custodian's HTTP API answers with, mapped to a status and to
//! the JSON body [`ReleaseDenied`] `{code, message, hint, rule?}`.
//!
//! Refusals of a release name the check that failed (an attestation code such as
//! `policy.pcr_mismatch`, or a `custodian.*` code) and, for a policy, the rule; server-side
//! failures (store writes, the KEK) answer a generic message and log the detail, so no response
//! echoes a path or a key.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cloister_attestation::AttestationError;
use cloister_proto::ProtoError;
use cloister_proto::key_release::{KeyReleaseError, ReleaseDenied};

use crate::challenge::ChallengeError;
use crate::kek::KekError;
use crate::rego::RegoError;
use crate::store::StoreError;

/// A refusal or failure of an API request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The admin bearer token is missing or wrong.
    #[error("admin requests need the custodian's bearer token")]
    Unauthorized,
    /// The body is not the JSON this route takes.
    #[error("bad {what}: {detail}")]
    BadRequest {
        /// Which body.
        what: &'static str,
        /// serde's description (no body bytes).
        detail: String,
    },
    /// The body exceeds the configured limit; it was not read past the limit.
    #[error("request body exceeds {limit} bytes")]
    BodyTooLarge {
        /// `max_body_bytes`.
        limit: usize,
    },
    /// No such route.
    #[error("no such route")]
    NotFound,
    /// A key id outside the allowed form.
    #[error(transparent)]
    BadKeyId(KeyReleaseError),
    /// The DEK is not base64 of 32 bytes.
    #[error("dek must be base64 of 32 bytes{}", len.map(|l| format!(", got {l} bytes")).unwrap_or_default())]
    BadDek {
        /// Its decoded length, `None` for invalid base64.
        len: Option<usize>,
    },
    /// The trust policy does not load.
    #[error("trust policy: {0}")]
    InvalidTrustPolicy(AttestationError),
    /// The Rego rule does not compile.
    #[error(transparent)]
    InvalidRego(RegoError),
    /// The key store refused or failed.
    #[error(transparent)]
    Store(StoreError),
    /// The key is disabled.
    #[error("key {key_id} is disabled")]
    KeyDisabled {
        /// The key id.
        key_id: String,
    },
    /// The bundle is not base64 CBOR of a well-formed evidence bundle.
    #[error("evidence bundle: {0}")]
    BadBundle(BundleProblem),
    /// The challenge was not redeemed, or none could be issued.
    #[error(transparent)]
    Challenge(ChallengeError),
    /// The evidence did not verify, or the key's trust policy refused it.
    #[error("evidence refused: {0}")]
    Evidence(AttestationError),
    /// The key's Rego rule denied, with its reasons.
    #[error("the key's release rule denies: {}", reasons.join("; "))]
    RegoDenied {
        /// The `deny` reasons.
        reasons: Vec<String>,
    },
    /// The key's Rego rule did not allow (`allow` not true).
    #[error("the key's release rule does not allow this enclave")]
    RegoNotAllowed,
    /// The key's Rego rule failed at run time (refused: fail closed).
    #[error(transparent)]
    RegoFailed(RegoError),
    /// The KEK could not unwrap the DEK.
    #[error(transparent)]
    Kek(KekError),
    /// The DEK could not be sealed to the attested release key.
    #[error(transparent)]
    Seal(KeyReleaseError),
    /// A task of the custodian's own failed (a panic in a worker).
    #[error("internal failure: {what}")]
    Internal {
        /// What failed.
        what: String,
    },
}

/// What is wrong with a release request's bundle.
#[derive(Debug, thiserror::Error)]
pub enum BundleProblem {
    /// Not base64, or larger than the limit.
    #[error("not base64 of at most {max} characters")]
    Encoding {
        /// The limit.
        max: usize,
    },
    /// The CBOR does not decode or validate.
    #[error("{0}")]
    Proto(ProtoError),
}

impl ApiError {
    /// A stable dotted code: `custodian.*`, or for refused evidence the attestation check's own
    /// code (`policy.pcr_mismatch`, `nitro.cose.bad_signature`, …).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthorized => "custodian.unauthorized",
            Self::BadRequest { .. } => "custodian.bad_request",
            Self::BodyTooLarge { .. } => "custodian.body_too_large",
            Self::NotFound => "custodian.not_found",
            Self::BadKeyId(_) => "custodian.bad_key_id",
            Self::BadDek { .. } => "custodian.bad_dek",
            Self::InvalidTrustPolicy(_) => "custodian.invalid_trust_policy",
            Self::InvalidRego(e) | Self::RegoFailed(e) => e.code(),
            Self::Store(e) => e.code(),
            Self::KeyDisabled { .. } => "custodian.key_disabled",
            Self::BadBundle(_) => "custodian.bad_bundle",
            Self::Challenge(e) => e.code(),
            Self::Evidence(e) => e.code(),
            Self::RegoDenied { .. } => "custodian.rego_denied",
            Self::RegoNotAllowed => "custodian.rego_not_allowed",
            Self::Kek(e) => e.code(),
            Self::Seal(e) => e.code(),
            Self::Internal { .. } => "custodian.internal",
        }
    }

    /// What to do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            Self::Unauthorized => {
                "send `Authorization: Bearer <token>` with the token from the admin_token file"
            }
            Self::BadRequest { .. } => {
                "send the JSON body this route documents (custodian/README.md)"
            }
            Self::BodyTooLarge { .. } => {
                "send a smaller body, or raise max_body_bytes in custodian.json"
            }
            Self::NotFound => "see custodian/README.md for the routes",
            Self::BadKeyId(e) | Self::Seal(e) => e.hint(),
            Self::BadDek { .. } => "send the data key as standard base64 of exactly 32 bytes",
            Self::InvalidTrustPolicy(e) | Self::Evidence(e) => e.hint(),
            Self::InvalidRego(e) | Self::RegoFailed(e) => e.hint(),
            Self::Store(e) => e.hint(),
            Self::KeyDisabled { .. } => "an administrator disabled this key; ask them to enable it",
            Self::BadBundle(_) => {
                "send the evidence bundle as standard base64 of its CBOR (EvidenceBundle::to_cbor)"
            }
            Self::Challenge(e) => e.hint(),
            Self::RegoDenied { .. } | Self::RegoNotAllowed => {
                "the key's release rule refuses this enclave: run the image and platform it allows"
            }
            Self::Kek(e) => e.hint(),
            Self::Internal { .. } => "retry; report it with the custodian's log if it repeats",
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::BadRequest { .. }
            | Self::BadKeyId(_)
            | Self::BadDek { .. }
            | Self::InvalidTrustPolicy(_)
            | Self::InvalidRego(_)
            | Self::BadBundle(_)
            | Self::Seal(_) => StatusCode::BAD_REQUEST,
            Self::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Store(StoreError::KeyExists { .. }) => StatusCode::CONFLICT,
            Self::Store(StoreError::UnknownKey { .. }) => StatusCode::NOT_FOUND,
            Self::Store(StoreError::Stale { .. }) => StatusCode::CONFLICT,
            // Retryable: the database is busy or briefly gone; nothing was released or changed.
            Self::Store(StoreError::Database { .. }) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Store(_) | Self::Kek(_) | Self::Internal { .. } => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            Self::Challenge(ChallengeError::Used) => StatusCode::CONFLICT,
            Self::Challenge(ChallengeError::Busy { .. }) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Challenge(ChallengeError::Random) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Challenge(_)
            | Self::KeyDisabled { .. }
            | Self::Evidence(_)
            | Self::RegoDenied { .. }
            | Self::RegoNotAllowed
            | Self::RegoFailed(_) => StatusCode::FORBIDDEN,
        }
    }

    /// The rule that refused, for policy denials: the Rego reasons, `allow`, or the attestation
    /// check's code.
    pub fn rule(&self) -> Option<String> {
        match self {
            Self::RegoDenied { reasons } => Some(format!("deny: {}", reasons.join("; "))),
            Self::RegoNotAllowed => Some("allow".to_owned()),
            Self::Evidence(e) => Some(e.code().to_owned()),
            _ => None,
        }
    }

    /// The response body. Server-side failures say only that they happened.
    pub fn body(&self) -> ReleaseDenied {
        let message = if self.status().is_server_error() {
            "the custodian failed internally; its log has the detail".to_owned()
        } else {
            self.to_string()
        };
        ReleaseDenied {
            code: self.code().to_owned(),
            message,
            hint: self.hint().to_owned(),
            rule: self.rule(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(code = self.code(), error = %self, "request failed");
        }
        let mut response = (status, axum::Json(self.body())).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            // Busy (challenges) or the store briefly unreachable: nothing was done; try again.
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static(RETRY_AFTER_SECS),
            );
        }
        response
    }
}

/// `Retry-After` of a 503, in seconds.
pub const RETRY_AFTER_SECS: &str = "1";

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Challenge(c) => Self::Challenge(c),
            other => Self::Store(other),
        }
    }
}

impl From<ChallengeError> for ApiError {
    fn from(e: ChallengeError) -> Self {
        Self::Challenge(e)
    }
}
