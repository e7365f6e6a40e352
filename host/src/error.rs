//! The host's errors and how they look to a caller: a status, a stable code, a hint.
//! Messages are built from our own checks and the enclave's codes, never from bodies, and never
//! name an internal address (socket path, vsock CID) or repeat upstream error text: those go to
//! the log. Every error the host answers has this shape, `{"error": {code, message, hint}}`
//! ([`ErrorBody`]); the unknown OHTTP key id is also an RFC 9457 problem document (RFC 9458 §5.3).

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cloister_proto::WireError;
use cloister_proto::api::{ErrorBody, ErrorDetail};
use thiserror::Error;

use crate::edge::ohttp_keys::{MEDIA_PROBLEM, PROBLEM_OHTTP_KEY};

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
    /// Connecting to the enclave failed. The caller's message names neither the address nor
    /// the error; both are logged.
    #[error("enclave unavailable: it cannot be reached")]
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
    /// The enclave exited and the supervisor is starting it again: the request was refused at
    /// once rather than held until the enclave is back.
    #[error("the enclave is restarting")]
    EnclaveRestarting {
        /// The `Retry-After` sent, in seconds.
        retry_after_secs: u64,
    },
    /// The host is shutting down: it finishes the requests in flight and takes no new ones.
    #[error("the host is shutting down and takes no new requests")]
    Draining {
        /// The `Retry-After` sent, in seconds (another replica, or this one after its restart).
        retry_after_secs: u64,
    },
    /// The link to the enclave broke while the request waited for its answer.
    #[error("enclave unavailable: the connection was lost while waiting for the answer")]
    LinkLost,
    /// The enclave did not answer in time.
    #[error("enclave did not answer within {millis} ms")]
    Timeout {
        /// The time waited.
        millis: u64,
    },
    /// The enclave rejected the request. The caller gets the enclave's code, not its text.
    #[error("the enclave rejected the request [{}]", .0.code)]
    Enclave(WireError),
    /// The enclave answered with the wrong message kind.
    #[error("enclave answered with an unexpected message")]
    UnexpectedAnswer,
    /// The enclave's evidence bundle could not be encoded for the caller.
    #[error("encoding the evidence bundle [{code}]", code = .0.code())]
    BundleEncode(#[source] cloister_proto::ProtoError),
    /// The enclave's queue is full: the request was refused without waiting.
    #[error("the enclave's queue is full")]
    Overloaded {
        /// The `Retry-After` sent, in seconds.
        retry_after_secs: u64,
    },
    /// The request waited for a turn at the enclave for the whole queue timeout.
    #[error("no turn at the enclave within {millis} ms")]
    QueueTimeout {
        /// The time waited.
        millis: u64,
        /// The `Retry-After` sent, in seconds.
        retry_after_secs: u64,
    },
    /// The caller's IP address already has its share of requests in the queue.
    #[error("this client already has {limit} requests in progress")]
    ClientLimit {
        /// Requests per client.
        limit: usize,
        /// The `Retry-After` sent, in seconds.
        retry_after_secs: u64,
    },
    /// No route has this path.
    #[error("no such resource")]
    NotFound,
    /// The route exists but not with this method (the answer's `Allow` header lists those).
    #[error("method not allowed on this resource")]
    MethodNotAllowed,
    /// The request body is over the limit.
    #[error("the request body exceeds {limit} bytes")]
    BodyTooLarge {
        /// Largest body accepted.
        limit: usize,
    },
    /// The request body did not arrive in time.
    #[error("the request body did not arrive within {millis} ms")]
    BodyTimeout {
        /// The time allowed.
        millis: u64,
    },
    /// The request body could not be read (the connection broke or the framing was invalid).
    #[error("the request body could not be read")]
    BodyRead,
    /// The request's start line and headers are over the limit.
    #[error("the request line and headers exceed {limit} bytes")]
    HeaderTooLarge {
        /// Largest head accepted.
        limit: usize,
    },
    /// The encapsulated request names a key id that is not the gateway's (RFC 9458 §5.3).
    #[error("the OHTTP key id {got} is not the gateway's")]
    OhttpKeyUnknown {
        /// The key id the request named (its first byte: public).
        got: u8,
    },
}

impl HostError {
    /// Stable code.
    pub fn code(&self) -> String {
        match self {
            Self::BadNonce { .. } => "host.bad_nonce".into(),
            Self::UnsupportedMediaType { .. } => "host.unsupported_media_type".into(),
            Self::EnclaveUnavailable { .. } => "host.enclave_unavailable".into(),
            Self::LinkClosed => "host.link_closed".into(),
            Self::EnclaveRestarting { .. } => "host.enclave_restarting".into(),
            Self::Draining { .. } => "host.draining".into(),
            Self::LinkLost => "host.link_lost".into(),
            Self::Timeout { .. } => "host.enclave_timeout".into(),
            Self::Enclave(e) => e.code.clone(),
            Self::UnexpectedAnswer => "host.unexpected_answer".into(),
            Self::BundleEncode(_) => "host.bundle_encode".into(),
            Self::Overloaded { .. } => "host.overloaded".into(),
            Self::QueueTimeout { .. } => "host.queue_timeout".into(),
            Self::ClientLimit { .. } => "host.client_limit".into(),
            Self::NotFound => "host.not_found".into(),
            Self::MethodNotAllowed => "host.method_not_allowed".into(),
            Self::BodyTooLarge { .. } => "host.body_too_large".into(),
            Self::BodyTimeout { .. } => "host.body_timeout".into(),
            Self::BodyRead => "host.body_read".into(),
            Self::HeaderTooLarge { .. } => "host.header_too_large".into(),
            Self::OhttpKeyUnknown { .. } => "host.ohttp_key_unknown".into(),
        }
    }

    /// Seconds for `Retry-After`, for the errors that a later retry can cure.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Self::Overloaded { retry_after_secs }
            | Self::QueueTimeout {
                retry_after_secs, ..
            }
            | Self::ClientLimit {
                retry_after_secs, ..
            }
            | Self::EnclaveRestarting { retry_after_secs }
            | Self::Draining { retry_after_secs } => Some(*retry_after_secs),
            Self::Enclave(e) if e.code == ENCLAVE_BUSY => Some(1),
            _ => None,
        }
    }

    /// Whether the connection must close after this answer: the request may have left body
    /// bytes unread, or its head was refused.
    pub fn closes_connection(&self) -> bool {
        matches!(
            self,
            Self::BodyTooLarge { .. }
                | Self::BodyTimeout { .. }
                | Self::BodyRead
                | Self::HeaderTooLarge { .. }
        )
    }

    fn status(&self) -> StatusCode {
        match self {
            Self::BadNonce { .. } => StatusCode::BAD_REQUEST,
            Self::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::EnclaveUnavailable { .. } | Self::LinkClosed | Self::LinkLost => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            Self::Enclave(e) if e.code == ENCLAVE_BUSY => StatusCode::SERVICE_UNAVAILABLE,
            Self::Enclave(e) if e.code.starts_with("ohttp.") || e.code.starts_with("proto.") => {
                StatusCode::BAD_REQUEST
            }
            Self::Enclave(_) | Self::UnexpectedAnswer | Self::BundleEncode(_) => {
                StatusCode::BAD_GATEWAY
            }
            Self::Overloaded { .. }
            | Self::QueueTimeout { .. }
            | Self::EnclaveRestarting { .. }
            | Self::Draining { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::ClientLimit { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BodyTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            Self::BodyRead | Self::OhttpKeyUnknown { .. } => StatusCode::BAD_REQUEST,
            Self::HeaderTooLarge { .. } => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
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
            Self::Enclave(e) if e.code == ENCLAVE_BUSY => "retry after the Retry-After delay",
            Self::Enclave(e) if e.code.starts_with("ohttp.") => {
                "fetch fresh evidence, verify it, and encrypt to the key it binds"
            }
            Self::Enclave(e) if e.code.starts_with("proto.") => {
                "fix the request as the code says (see the API description), then retry"
            }
            Self::Enclave(_) | Self::UnexpectedAnswer | Self::BundleEncode(_) => {
                "retry; if it persists, report the code to the operator"
            }
            Self::Overloaded { .. } | Self::QueueTimeout { .. } => {
                "the host is at capacity: retry after the Retry-After delay"
            }
            Self::EnclaveRestarting { .. } => {
                "the enclave is being restarted: retry after the Retry-After delay"
            }
            Self::Draining { .. } => {
                "this host is shutting down: retry after the Retry-After delay (or at another replica)"
            }
            Self::ClientLimit { .. } => {
                "wait for your requests in progress to finish, or retry after the Retry-After delay"
            }
            Self::NotFound => {
                "the API is GET /v1/attestation?nonce=HEX, POST /v1/infer, GET /v1/ohttp-keys, GET /healthz"
            }
            Self::MethodNotAllowed => "use a method the Allow header lists",
            Self::BodyTooLarge { .. } => "send a smaller body",
            Self::BodyTimeout { .. } | Self::BodyRead => {
                "send the whole body promptly with a correct Content-Length, then retry"
            }
            Self::HeaderTooLarge { .. } => "send fewer or shorter headers",
            Self::OhttpKeyUnknown { .. } => {
                "fetch fresh evidence (or GET /v1/ohttp-keys and check it against the evidence), then encrypt to the key it binds"
            }
        }
    }

    /// Logs what the caller is not told: the enclave's address and the connect error, the
    /// enclave's own text. Never a body.
    fn log(&self) {
        match self {
            Self::EnclaveUnavailable { addr, source } => {
                tracing::warn!(code = "host.enclave_unavailable", enclave = %addr, error = %source, "enclave unreachable");
            }
            Self::Enclave(e) => {
                tracing::debug!(code = %e.code, message = %e.message, "the enclave refused a request");
            }
            Self::BundleEncode(e) => {
                tracing::warn!(code = e.code(), error = %e, "encoding an evidence bundle failed");
            }
            _ => {}
        }
    }
}

/// The enclave's code for a full replay cache: a retry later can succeed.
const ENCLAVE_BUSY: &str = "enclave.busy";

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
    /// The `run --config` file is unusable.
    #[error(transparent)]
    Config(#[from] crate::config::HostConfigError),
    /// The supervised enclave could not be started (or stopped at shutdown).
    #[error("the enclave: {0}")]
    Supervisor(#[from] crate::supervisor::SupervisorError),
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
            Self::Config(e) => e.code(),
            Self::Supervisor(e) => e.code(),
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
            Self::Config(e) => e.hint(),
            Self::Supervisor(e) => e.hint(),
        }
    }
}

/// The code of an error answer, attached to the response for the request log
/// ([`crate::edge`] logs it with the request's id).
#[derive(Debug, Clone)]
pub struct ErrorCode(pub String);

impl IntoResponse for HostError {
    fn into_response(self) -> Response {
        self.log();
        let status = self.status();
        let code = self.code();
        let detail = ErrorDetail {
            code: code.clone(),
            message: self.to_string(),
            hint: self.hint().into(),
        };
        let mut resp = if let Self::OhttpKeyUnknown { .. } = self {
            // RFC 9458 §5.3's problem type, with our error object as an extension member
            // (RFC 9457 §3.2), so that both kinds of client read it.
            let problem = serde_json::json!({
                "type": PROBLEM_OHTTP_KEY,
                "title": "key identifier unknown",
                "status": status.as_u16(),
                "error": detail,
            });
            let mut resp = (status, Json(problem)).into_response();
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(MEDIA_PROBLEM),
            );
            resp
        } else {
            (status, Json(ErrorBody { error: detail })).into_response()
        };
        if let Some(secs) = self.retry_after_secs() {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp.extensions_mut().insert(ErrorCode(code));
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn answer(e: HostError) -> (StatusCode, axum::http::HeaderMap, serde_json::Value) {
        let resp = e.into_response();
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 16)
            .await
            .expect("body");
        (
            status,
            headers,
            serde_json::from_slice(&body).expect("json"),
        )
    }

    #[tokio::test]
    async fn the_enclave_address_and_upstream_text_stay_in_the_log() {
        let secret_path = "/run/secret/enclave-7.sock";
        let e = HostError::EnclaveUnavailable {
            addr: format!("unix:{secret_path}"),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "vsock cid 17 refused"),
        };
        let (status, _, body) = answer(e).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        let text = body.to_string();
        for leak in [secret_path, "cid 17", "refused"] {
            assert!(!text.contains(leak), "{text}");
        }
        let e = HostError::Enclave(WireError::new("ohttp.decapsulate", "upstream detail 42"));
        let (status, _, body) = answer(e).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"]["code"], "ohttp.decapsulate");
        assert!(!body.to_string().contains("upstream detail 42"));
    }

    #[tokio::test]
    async fn refusals_that_a_retry_cures_say_when() {
        for (e, status) in [
            (
                HostError::Overloaded {
                    retry_after_secs: 2,
                },
                StatusCode::SERVICE_UNAVAILABLE,
            ),
            (
                HostError::ClientLimit {
                    limit: 4,
                    retry_after_secs: 2,
                },
                StatusCode::TOO_MANY_REQUESTS,
            ),
            (
                HostError::QueueTimeout {
                    millis: 10,
                    retry_after_secs: 2,
                },
                StatusCode::SERVICE_UNAVAILABLE,
            ),
            (
                HostError::EnclaveRestarting {
                    retry_after_secs: 2,
                },
                StatusCode::SERVICE_UNAVAILABLE,
            ),
            (
                HostError::Draining {
                    retry_after_secs: 2,
                },
                StatusCode::SERVICE_UNAVAILABLE,
            ),
        ] {
            let code = e.code();
            let (got, headers, body) = answer(e).await;
            assert_eq!(got, status);
            assert_eq!(headers[header::RETRY_AFTER], "2");
            assert_eq!(body["error"]["code"], code.as_str());
        }
        let (status, headers, _) =
            answer(HostError::Enclave(WireError::new(ENCLAVE_BUSY, "full"))).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(headers[header::RETRY_AFTER], "1");
    }

    #[tokio::test]
    async fn an_unknown_key_id_is_the_rfc_9458_problem_and_our_error() {
        let (status, headers, body) = answer(HostError::OhttpKeyUnknown { got: 9 }).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(headers[header::CONTENT_TYPE], MEDIA_PROBLEM);
        assert_eq!(body["type"], PROBLEM_OHTTP_KEY);
        assert_eq!(body["error"]["code"], "host.ohttp_key_unknown");
    }
}
