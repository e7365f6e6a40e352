use cloister_attestation::AttestationError;
use cloister_proto::ProtoError;
use thiserror::Error;

/// Everything that can stop a caller. Verification failures stop before any input is sent.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ClientError {
    /// A local file could not be read.
    #[error("reading {path}: {detail}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        detail: String,
    },
    /// A local configuration is unusable.
    #[error("{0}")]
    Config(String),
    /// The evidence did not verify or the policy refused it.
    #[error("attestation rejected [{code}]: {0}", code = .0.code())]
    Attestation(#[from] AttestationError),
    /// A wire format was malformed.
    #[error("malformed message [{code}]: {0}", code = .0.code())]
    Proto(#[from] ProtoError),
    /// The evidence bundle contradicts itself or our request.
    #[error("evidence bundle rejected: {0}")]
    Bundle(String),
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
    #[error("signed result rejected: {0}")]
    Result(String),
}

impl ClientError {
    /// Stable code for scripts.
    pub fn code(&self) -> String {
        match self {
            Self::Io { .. } => "client.io".into(),
            Self::Config(_) => "client.config".into(),
            Self::Attestation(e) => e.code().into(),
            Self::Proto(e) => e.code().into(),
            Self::Bundle(_) => "client.bundle_mismatch".into(),
            Self::Http { .. } => "client.http".into(),
            Self::Ohttp(_) => "client.ohttp".into(),
            Self::Enclave { code, .. } => code.clone(),
            Self::Result(_) => "client.result_rejected".into(),
        }
    }

    /// Whether this is a verification failure (exit 1) rather than a usage or I/O error (exit 2).
    pub fn is_rejection(&self) -> bool {
        matches!(
            self,
            Self::Attestation(_) | Self::Bundle(_) | Self::Result(_)
        )
    }

    pub(crate) fn io(path: &std::path::Path, e: std::io::Error) -> Self {
        Self::Io {
            path: path.display().to_string(),
            detail: e.to_string(),
        }
    }
}
