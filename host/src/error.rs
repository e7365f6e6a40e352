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

/// Why `cloister-host` could not start or stopped serving.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StartError {
    /// The async runtime could not be started.
    #[error("starting the async runtime: {0}")]
    AsyncRuntime(#[source] std::io::Error),
    /// The collateral configuration (`--pccs-url`, `--root-ca-crl-url`) is unusable.
    #[error("DCAP collateral: {0}")]
    Collateral(#[from] crate::collateral::CollateralError),
    /// `--listen` could not be bound.
    #[error("binding {addr}: {source}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The bound address could not be read back.
    #[error("reading the bound address: {0}")]
    LocalAddr(#[source] std::io::Error),
    /// `--addr-file` could not be written.
    #[error("writing {}: {source}", path.display())]
    AddrFile {
        /// The file.
        path: std::path::PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Serving stopped with an error.
    #[error("serving: {0}")]
    Serve(#[source] std::io::Error),
    /// `--relay` was given without `--relay-allowlist` (fail closed: no open proxy).
    #[error("--relay needs --relay-allowlist")]
    RelayAllowlistMissing,
    /// A `--relay` destination is not on the allowlist.
    #[error("relay destination {destination} is not in the allowlist {}", allowlist.display())]
    RelayNotAllowed {
        /// The destination, `HOST:PORT`.
        destination: String,
        /// The allowlist file.
        allowlist: std::path::PathBuf,
    },
    /// `--relay-allowlist` could not be read.
    #[error("reading the relay allowlist {}: {source}", path.display())]
    AllowlistRead {
        /// The file.
        path: std::path::PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// `--relay-allowlist` is not a vsock-proxy allowlist.
    #[error("relay allowlist {}: {source}", path.display())]
    Allowlist {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong, and where.
        #[source]
        source: crate::relay::AllowlistError,
    },
    /// A Unix socket path (`--relay`, `--model-store`) holds a live socket or a non-socket file.
    #[error("{} is in use (a live socket, or not a socket)", path.display())]
    SocketInUse {
        /// The path.
        path: std::path::PathBuf,
    },
    /// A Unix socket (`--relay`, `--model-store`) could not be bound.
    #[error("binding the Unix socket {}: {source}", path.display())]
    SocketBind {
        /// The path.
        path: std::path::PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The `--model-store` directory is missing or not a directory.
    #[error("model store directory {}: {source}", dir.display())]
    ModelStoreDir {
        /// The directory.
        dir: std::path::PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl StartError {
    /// Stable code: the host's own, or the collateral's or allowlist's for their configuration.
    pub fn code(&self) -> &'static str {
        match self {
            Self::AsyncRuntime(_) => "host.async_runtime",
            Self::Collateral(e) => e.code(),
            Self::Bind { .. } => "host.bind",
            Self::LocalAddr(_) => "host.local_addr",
            Self::AddrFile { .. } => "host.addr_file",
            Self::Serve(_) => "host.serve",
            Self::RelayAllowlistMissing => "host.relay_allowlist_missing",
            Self::RelayNotAllowed { .. } => "host.relay_not_allowed",
            Self::AllowlistRead { .. } => "host.allowlist_read",
            Self::Allowlist { source, .. } => source.code(),
            Self::SocketInUse { .. } => "host.socket_in_use",
            Self::SocketBind { .. } => "host.socket_bind",
            Self::ModelStoreDir { .. } => "host.model_store_dir",
        }
    }

    /// What to do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            Self::AsyncRuntime(_) | Self::LocalAddr(_) | Self::Serve(_) => {
                "check the host's resource limits, then restart"
            }
            Self::Collateral(_) => {
                "give --pccs-url (and --root-ca-crl-url) as http(s) URLs with a host"
            }
            Self::Bind { .. } => "choose a free --listen address (127.0.0.1:0 picks a port)",
            Self::AddrFile { .. } => "check that --addr-file's directory exists and is writable",
            Self::RelayAllowlistMissing => {
                "give --relay-allowlist FILE (vsock-proxy format) listing every --relay destination"
            }
            Self::RelayNotAllowed { .. } => {
                "add `- {address: HOST, port: PORT}` for it to the --relay-allowlist file, or fix the --relay destination"
            }
            Self::AllowlistRead { .. } => {
                "check that the --relay-allowlist file exists, is readable and under 1 MiB"
            }
            Self::Allowlist { .. } => {
                "write the --relay-allowlist file as `allowlist:` followed by `- {address: HOST, port: PORT}` lines"
            }
            Self::SocketInUse { .. } => {
                "stop the process listening there, or choose another socket path in --relay/--model-store"
            }
            Self::SocketBind { .. } => {
                "check that the socket's directory exists and is writable by the host's user"
            }
            Self::ModelStoreDir { .. } => {
                "give --model-store unix:PATH=DIR with DIR an existing directory of <model_id>.sealed files"
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
