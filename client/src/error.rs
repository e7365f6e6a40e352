use cloister_attestation::AttestationError;
use cloister_proto::ProtoError;
use thiserror::Error;

/// Everything that can stop a caller. Verification failures stop before any input is sent.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ClientError {
    /// A local file could not be read.
    #[error("reading {}: {source}", path.display())]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The host URL is not an http(s) URL.
    #[error("--host {url:?} must start with http:// or https://")]
    BadHostUrl {
        /// The URL given.
        url: String,
    },
    /// The HTTP client could not be built (TLS backend).
    #[error("building the HTTP client: {0}")]
    HttpClient(#[source] reqwest::Error),
    /// The operating system gave no randomness for the nonce.
    /// (getrandom's error is no `std::error::Error` without its `std` feature, so it is shown,
    /// not chained.)
    #[error("no randomness for the nonce: {0}")]
    NoRandomness(getrandom::Error),
    /// The evidence did not verify or the policy refused it.
    #[error("attestation rejected [{code}]: {0}", code = .0.code())]
    Attestation(#[from] AttestationError),
    /// A wire format was malformed.
    #[error("malformed message [{code}]: {0}", code = .0.code())]
    Proto(#[from] ProtoError),
    /// The evidence bundle contradicts itself or our request.
    #[error("evidence bundle rejected [{code}]: {0}", code = .0.code())]
    Bundle(BundleCheck),
    /// The host could not be reached or answered with an HTTP error.
    #[error("host {url}: {detail}")]
    Http {
        /// The URL.
        url: String,
        /// What happened, with the host's error code if it sent one.
        detail: String,
    },
    /// OHTTP encapsulation or decapsulation failed.
    #[error("OHTTP {0} failed")]
    Ohttp(&'static str),
    /// The enclave answered inside the encrypted channel with an error.
    #[error("enclave refused the request: HTTP {status} [{code}]: {message}")]
    Enclave {
        /// Inner HTTP status.
        status: u16,
        /// Stable code from the enclave.
        code: String,
        /// The enclave's message.
        message: String,
    },
    /// The signed result does not check out.
    #[error("signed result rejected [{code}]: {0}", code = .0.code())]
    Result(ResultCheck),
}

/// The check of an evidence bundle (beyond attestation and policy) that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum BundleCheck {
    /// The bundle echoes another nonce than the one we sent (replayed evidence?).
    #[error("the bundle echoes another nonce than ours (replayed evidence?)")]
    NonceMismatch,
    /// The served-models list is not signed by the attested `sig_pub`.
    #[error("the served-models list is not signed by the attested sig_pub")]
    ServedModelsSignature,
}

impl BundleCheck {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NonceMismatch => "bundle.nonce_mismatch",
            Self::ServedModelsSignature => "bundle.served_models_signature",
        }
    }
}

/// The check of a signed result that failed, in the order they run: the response's shape, the
/// signature by the attested key, then each hash and name against what the caller itself sent
/// and verified, then time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ResultCheck {
    /// The decrypted response is not a Binary HTTP message.
    #[error("the response is not Binary HTTP")]
    NotBhttp,
    /// The response's content-type is not the signed-result media type.
    #[error("content-type is not {}", cloister_proto::api::MEDIA_SIGNED_RESULT)]
    ContentType,
    /// The signature does not verify with the attested `sig_pub`.
    #[error("signature does not verify with the attested sig_pub")]
    BadSignature,
    /// The signed request hash is not the hash of the request we sent.
    #[error("request hash differs from the request we sent")]
    RequestHash,
    /// The signed output hash is not the hash of the output received.
    #[error("output hash differs from the output received")]
    OutputHash,
    /// The signed evidence digest is not the digest of the evidence we verified.
    #[error("evidence digest differs from the evidence we verified")]
    EvidenceDigest,
    /// The signed model id is not the model requested.
    #[error("signed model id differs from the model requested")]
    ModelId,
    /// The signed model digest is not the one the enclave attested it serves.
    #[error("model digest differs from the one the enclave attested it serves")]
    ModelDigest,
    /// The signing time is further than [`crate::session::MAX_RESULT_SKEW_SECS`] from our clock.
    #[error(
        "signing time is more than {} s from our clock",
        crate::session::MAX_RESULT_SKEW_SECS
    )]
    ClockSkew,
}

impl ResultCheck {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotBhttp => "result.not_bhttp",
            Self::ContentType => "result.content_type",
            Self::BadSignature => "result.bad_signature",
            Self::RequestHash => "result.request_hash",
            Self::OutputHash => "result.output_hash",
            Self::EvidenceDigest => "result.evidence_digest",
            Self::ModelId => "result.model_id",
            Self::ModelDigest => "result.model_digest",
            Self::ClockSkew => "result.clock_skew",
        }
    }
}

impl ClientError {
    /// Stable code for scripts.
    pub fn code(&self) -> String {
        match self {
            Self::Io { .. } => "client.io".into(),
            Self::BadHostUrl { .. } => "client.bad_host_url".into(),
            Self::HttpClient(_) => "client.http_client".into(),
            Self::NoRandomness(_) => "client.no_randomness".into(),
            Self::Attestation(e) => e.code().into(),
            Self::Proto(e) => e.code().into(),
            Self::Bundle(check) => check.code().into(),
            Self::Http { .. } => "client.http".into(),
            Self::Ohttp(_) => "client.ohttp".into(),
            Self::Enclave { code, .. } => code.clone(),
            Self::Result(check) => check.code().into(),
        }
    }

    /// Whether this is a verification failure (exit 1) rather than a usage or I/O error (exit 2).
    pub fn is_rejection(&self) -> bool {
        matches!(
            self,
            Self::Attestation(_) | Self::Bundle(_) | Self::Result(_)
        )
    }

    /// [`ClientError::Io`] for reading `path`.
    pub fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_owned(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RESULT_CHECKS: [ResultCheck; 9] = [
        ResultCheck::NotBhttp,
        ResultCheck::ContentType,
        ResultCheck::BadSignature,
        ResultCheck::RequestHash,
        ResultCheck::OutputHash,
        ResultCheck::EvidenceDigest,
        ResultCheck::ModelId,
        ResultCheck::ModelDigest,
        ResultCheck::ClockSkew,
    ];
    const BUNDLE_CHECKS: [BundleCheck; 2] = [
        BundleCheck::NonceMismatch,
        BundleCheck::ServedModelsSignature,
    ];

    #[test]
    fn every_check_of_a_result_or_bundle_has_its_own_code_and_is_a_rejection() {
        let mut codes = std::collections::BTreeSet::new();
        for c in RESULT_CHECKS {
            assert!(c.code().starts_with("result."), "{}", c.code());
            assert!(codes.insert(c.code()), "{} twice", c.code());
            let e = ClientError::Result(c);
            assert_eq!(e.code(), c.code());
            assert!(e.is_rejection());
        }
        for c in BUNDLE_CHECKS {
            assert!(c.code().starts_with("bundle."), "{}", c.code());
            assert!(codes.insert(c.code()), "{} twice", c.code());
            assert!(ClientError::Bundle(c).is_rejection());
            assert_eq!(ClientError::Bundle(c).code(), c.code());
        }
        let usage = ClientError::BadHostUrl {
            url: "ftp://x".into(),
        };
        assert_eq!(usage.code(), "client.bad_host_url");
        assert!(!usage.is_rejection());
    }
}
