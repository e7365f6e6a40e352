//! Registering a sealed model's data key with the key custodian (`cloister model seal
//! --custodian URL`).
//!
//! ```text
//! PUT {custodian}/v1/admin/keys/{key_id}
//! Authorization: Bearer {admin token}
//! {"dek": base64(DEK), "trust_policy": {...}, "rego": "..."}      ("rego" only when given)
//! ```
//!
//! The custodian wraps the DEK under its KEK and releases it only to enclaves whose evidence
//! satisfies `trust_policy` (and `rego`). Any status but 2xx is a [`RegisterError::Refused`]
//! carrying the custodian's `{code, message, hint}` error body. The DEK and the token never
//! appear in an error or a log line.
//!
//! ```no_run
//! # async fn run() -> Result<(), cloister_client::custodian_admin::RegisterError> {
//! use cloister_client::custodian_admin::{KeyRegistration, register_key};
//! use cloister_proto::sealed::DataKey;
//! let dek = DataKey::from_bytes([0; 32]);
//! let registration = KeyRegistration {
//!     key_id: "credit-risk-v1",
//!     dek: &dek,
//!     trust_policy: serde_json::json!({"nitro": {"pcrs": {"0": "..."}}}),
//!     rego: None,
//! };
//! register_key("http://127.0.0.1:9000", "admin-token", &registration).await?;
//! # Ok(()) }
//! ```

use std::time::Duration;

use base64::Engine as _;
use cloister_proto::sealed::DataKey;
use zeroize::Zeroizing;

/// Largest error body read from the custodian.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// Why a data key could not be registered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegisterError {
    /// The custodian URL is not an http(s) URL.
    #[error("--custodian {url:?} must start with http:// or https://")]
    BadUrl {
        /// The URL given.
        url: String,
    },
    /// The key id cannot be a URL path segment.
    #[error("key id {key_id:?} must be 1-128 characters of [A-Za-z0-9._-]")]
    BadKeyId {
        /// The key id.
        key_id: String,
    },
    /// The HTTP client could not be built.
    #[error("building the HTTP client: {0}")]
    HttpClient(#[source] reqwest::Error),
    /// The custodian could not be reached, or the connection failed.
    #[error("custodian {url}: unreachable: {detail}")]
    Unreachable {
        /// The URL.
        url: String,
        /// What happened.
        detail: String,
    },
    /// The custodian answered with a status other than 2xx.
    #[error("custodian {url} refused the key: HTTP {status} [{code}]: {message}{}",
        if hint.is_empty() { String::new() } else { format!(" (hint: {hint})") })]
    Refused {
        /// The URL.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The custodian's error code (`-` if its body was not the JSON error shape).
        code: String,
        /// The custodian's message (or the start of its body).
        message: String,
        /// The custodian's hint, if any.
        hint: String,
    },
}

impl RegisterError {
    /// A stable dotted code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadUrl { .. } => "custodian_admin.bad_url",
            Self::BadKeyId { .. } => "custodian_admin.bad_key_id",
            Self::HttpClient(_) => "custodian_admin.http_client",
            Self::Unreachable { .. } => "custodian_admin.unreachable",
            Self::Refused { .. } => "custodian_admin.refused",
        }
    }

    /// What to do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            Self::BadUrl { .. } => "pass the custodian's base URL, e.g. http://127.0.0.1:9000",
            Self::BadKeyId { .. } => "use a model id of [A-Za-z0-9._-], or pass --key-id",
            Self::HttpClient(_) | Self::Unreachable { .. } => {
                "check that the custodian runs at --custodian; the sealed file and --dek-out \
                 were written, so registration can be retried"
            }
            Self::Refused { .. } => {
                "read the custodian's code and hint: a 401 means the --admin-token-file is wrong"
            }
        }
    }
}

/// One key registration.
#[derive(Debug)]
pub struct KeyRegistration<'a> {
    /// The custodian's key id (`cloister model seal` uses the model id).
    pub key_id: &'a str,
    /// The model's data key.
    pub dek: &'a DataKey,
    /// The trust policy an enclave's evidence must satisfy for release.
    pub trust_policy: serde_json::Value,
    /// An optional Rego policy, evaluated on top.
    pub rego: Option<String>,
}

/// Sends `registration` to the custodian at `base_url` with the admin bearer `token`.
///
/// # Errors
/// Any [`RegisterError`].
pub async fn register_key(
    base_url: &str,
    token: &str,
    registration: &KeyRegistration<'_>,
) -> Result<(), RegisterError> {
    let base = base_url.trim_end_matches('/');
    if !(base.starts_with("http://") || base.starts_with("https://")) {
        return Err(RegisterError::BadUrl {
            url: base_url.to_owned(),
        });
    }
    let id = registration.key_id;
    let id_ok = !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        && id != "."
        && id != "..";
    if !id_ok {
        return Err(RegisterError::BadKeyId {
            key_id: id.to_owned(),
        });
    }
    let url = format!("{base}/v1/admin/keys/{id}");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(RegisterError::HttpClient)?;
    let mut body = serde_json::json!({
        "dek": base64::engine::general_purpose::STANDARD.encode(registration.dek.expose()),
        "trust_policy": registration.trust_policy,
    });
    if let (Some(rego), Some(obj)) = (&registration.rego, body.as_object_mut()) {
        obj.insert("rego".into(), rego.clone().into());
    }
    // The body holds the DEK in base64: wipe it once sent.
    let body = Zeroizing::new(serde_json::to_vec(&body).unwrap_or_default());
    let unreachable = |detail: String| RegisterError::Unreachable {
        url: url.clone(),
        detail,
    };
    let mut resp = http
        .put(&url)
        .bearer_auth(token)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body.to_vec())
        .send()
        .await
        .map_err(|e| unreachable(printable(&e.to_string())))?;
    let status = resp.status();
    if status.is_success() {
        return Ok(());
    }
    let mut raw = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| unreachable(format!("reading the body: {}", printable(&e.to_string()))))?
    {
        let room = MAX_ERROR_BODY.saturating_sub(raw.len());
        raw.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if room <= chunk.len() {
            break;
        }
    }
    let json: Option<serde_json::Value> = serde_json::from_slice(&raw).ok();
    let field = |name: &str| {
        json.as_ref()
            .and_then(|v| v.get(name))
            .and_then(|v| v.as_str())
            .map(printable)
    };
    Err(RegisterError::Refused {
        url,
        status: status.as_u16(),
        code: field("code").unwrap_or_else(|| "-".into()),
        message: field("message")
            .unwrap_or_else(|| printable(&String::from_utf8_lossy(&raw[..raw.len().min(200)]))),
        hint: field("hint").unwrap_or_default(),
    })
}

/// A remote string made safe for a terminal: control characters replaced, length bounded.
fn printable(s: &str) -> String {
    s.chars()
        .take(500)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A one-request HTTP server: answers `response` and returns the request it read.
    async fn serve_once(response: String) -> (String, tokio::task::JoinHandle<Vec<u8>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let task = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.expect("accept");
            let mut req = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                let n = s.read(&mut buf).await.expect("read");
                req.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&req).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let len = text
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length: ")
                                .map(|v| v.trim().parse::<usize>().expect("len"))
                        })
                        .unwrap_or(0);
                    if req.len() >= end + 4 + len || n == 0 {
                        break;
                    }
                }
            }
            s.write_all(response.as_bytes()).await.expect("write");
            req
        });
        (url, task)
    }

    fn registration(dek: &DataKey) -> KeyRegistration<'_> {
        KeyRegistration {
            key_id: "credit-risk-v1",
            dek,
            trust_policy: serde_json::json!({"mock": {"pcrs": {}}}),
            rego: Some("package cloister\nallow := true".into()),
        }
    }

    #[tokio::test]
    async fn puts_the_key_with_the_bearer_token() {
        let (url, task) =
            serve_once("HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n".into()).await;
        let dek = DataKey::from_bytes([5; 32]);
        register_key(&url, "s3cret", &registration(&dek))
            .await
            .expect("registered");
        let req = String::from_utf8(task.await.expect("server")).expect("utf8");
        assert!(
            req.starts_with("PUT /v1/admin/keys/credit-risk-v1 HTTP/1.1\r\n"),
            "{req}"
        );
        assert!(
            req.to_ascii_lowercase()
                .contains("authorization: bearer s3cret"),
            "{req}"
        );
        let body: serde_json::Value =
            serde_json::from_str(&req[req.find("\r\n\r\n").expect("body") + 4..]).expect("json");
        assert_eq!(
            body["dek"],
            base64::engine::general_purpose::STANDARD.encode([5; 32])
        );
        assert_eq!(body["trust_policy"]["mock"]["pcrs"], serde_json::json!({}));
        assert_eq!(body["rego"], "package cloister\nallow := true");
    }

    #[tokio::test]
    async fn a_refusal_carries_the_custodians_error_body() {
        let body =
            r#"{"code":"admin.unauthorized","message":"bad token","hint":"check the token file"}"#;
        let (url, _task) = serve_once(format!(
            "HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        ))
        .await;
        let dek = DataKey::from_bytes([5; 32]);
        let e = register_key(&url, "wrong", &registration(&dek))
            .await
            .expect_err("refused");
        assert_eq!(e.code(), "custodian_admin.refused");
        let shown = e.to_string();
        assert!(
            shown.contains("HTTP 401 [admin.unauthorized]: bad token (hint: check the token file)"),
            "{shown}"
        );
        assert!(!shown.contains("BQUF"), "the DEK never shows: {shown}");
    }

    #[tokio::test]
    async fn bad_urls_and_ids_are_refused_before_sending() {
        let dek = DataKey::from_bytes([5; 32]);
        let e = register_key("ftp://x", "t", &registration(&dek))
            .await
            .expect_err("url");
        assert_eq!(e.code(), "custodian_admin.bad_url");
        let mut r = registration(&dek);
        r.key_id = "../admin";
        let e = register_key("http://127.0.0.1:1", "t", &r)
            .await
            .expect_err("id");
        assert_eq!(e.code(), "custodian_admin.bad_key_id");
        let e = register_key("http://127.0.0.1:1", "t", &registration(&dek))
            .await
            .expect_err("down");
        assert_eq!(e.code(), "custodian_admin.unreachable");
    }
}
