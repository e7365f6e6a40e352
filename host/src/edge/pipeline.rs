//! One request's way in: head size, declared body size, admission, body within its deadline,
//! a turn at the enclave, then the router. Every refusal is a [`HostError`], so every answer
//! the edge makes itself has the JSON shape; nothing is read that a refusal makes useless.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, Request, Response, header};
use axum::response::IntoResponse;
use http_body_util::BodyExt;
use tokio::time::Instant;
use tower::ServiceExt;
use tracing::Instrument;

use super::{Admission, EdgeLimits};
use crate::error::{ErrorCode, HostError};

/// What one connection's requests share: the router, the enclave's admission, the caller's
/// address and how many requests the connection has carried.
pub(crate) struct Pipeline {
    router: Router,
    admission: Arc<Admission>,
    limits: Arc<EdgeLimits>,
    client: IpAddr,
    served: AtomicUsize,
}

impl Pipeline {
    pub(crate) fn new(
        router: Router,
        admission: Arc<Admission>,
        limits: Arc<EdgeLimits>,
        client: IpAddr,
    ) -> Self {
        Self {
            router,
            admission,
            limits,
            client,
            served: AtomicUsize::new(0),
        }
    }

    /// Answers one request under a fresh request id: every log line made while it is handled
    /// carries the id (the `request` span), the answer carries it in `x-request-id`, and one
    /// line logs its outcome. The connection is closed after the answer when the request may
    /// have left bytes unread, or the connection has carried its share of requests.
    pub(crate) async fn handle<B>(&self, req: Request<B>) -> Response<Body>
    where
        B: hyper::body::Body<Data = Bytes> + Send + 'static,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        let id = RequestId::next();
        let span = tracing::info_span!("request", id = %id);
        let started = Instant::now();
        // Only names the host knows go into the log: never a caller's raw path or query.
        let route = known_route(req.uri().path());
        let method = req.method().clone();
        let served = self
            .served
            .fetch_add(1, Ordering::Relaxed)
            .saturating_add(1);
        let (mut resp, close) = match self.admit_and_route(req).instrument(span.clone()).await {
            Ok(resp) => (resp, false),
            Err(e) => {
                let close = e.closes_connection();
                (e.into_response(), close)
            }
        };
        let code = resp.extensions().get::<ErrorCode>().map(|c| c.0.as_str());
        tracing::info!(
            parent: &span,
            method = %method,
            route,
            status = resp.status().as_u16(),
            code,
            micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
            "request answered"
        );
        if let Ok(value) = HeaderValue::from_str(&id.to_string()) {
            resp.headers_mut().insert(REQUEST_ID, value);
        }
        if close || served >= self.limits.max_requests_per_connection {
            resp.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        resp
    }

    async fn admit_and_route<B>(&self, req: Request<B>) -> Result<Response<Body>, HostError>
    where
        B: hyper::body::Body<Data = Bytes> + Send + 'static,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        check_head(&req, self.limits.max_header_bytes)?;
        check_declared_length(&req, self.limits.max_body_bytes)?;
        let ticket = self.admission.admit(self.client)?;
        let (parts, body) = req.into_parts();
        let body = read_body(body, &self.limits).await?;
        let turn = self.admission.turn(ticket).await?;
        let resp = match self
            .router
            .clone()
            .oneshot(Request::from_parts(parts, Body::from(body)))
            .await
        {
            Ok(resp) => resp,
            Err(never) => match never {},
        };
        // The router's answers are built whole: the enclave's work is done when it returns.
        drop(turn);
        Ok(resp)
    }
}

/// The response header that carries the request's id (the same id is in the host's log).
pub const REQUEST_ID: &str = "x-request-id";

/// The routes the host serves, as logged; anything else is `other`.
const KNOWN_ROUTES: [&str; 6] = [
    cloister_proto::api::ROUTE_ATTESTATION,
    cloister_proto::api::ROUTE_INFER,
    cloister_proto::api::ROUTE_HEALTH,
    super::ohttp_keys::ROUTE_OHTTP_KEYS,
    crate::metrics::ROUTE_METRICS,
    crate::metrics::ROUTE_OPENAPI,
];

fn known_route(path: &str) -> &'static str {
    KNOWN_ROUTES
        .iter()
        .find(|r| **r == path)
        .copied()
        .unwrap_or("other")
}

/// A request's id: this process's random prefix and a sequence number, so ids are unique
/// across restarts and say nothing about the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RequestId {
    prefix: u32,
    seq: u64,
}

impl RequestId {
    fn next() -> Self {
        static PREFIX: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
        static SEQ: AtomicU64 = AtomicU64::new(1);
        let prefix = *PREFIX.get_or_init(|| {
            // Truncation intended: 32 random bits are plenty to tell processes apart.
            crate::supervisor::backoff::random_u64() as u32
        });
        Self {
            prefix,
            seq: SEQ.fetch_add(1, Ordering::Relaxed),
        }
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:08x}-{:x}", self.prefix, self.seq)
    }
}

/// The start line and headers, counted as on the wire, against `max` (431: RFC 6585 §5).
fn check_head<B>(req: &Request<B>, max: usize) -> Result<(), HostError> {
    let start_line = req.method().as_str().len()
        + req.uri().path_and_query().map_or(1, |p| p.as_str().len())
        + " HTTP/1.1\r\n ".len();
    let headers: usize = req
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + ": \r\n".len())
        .sum();
    if start_line + headers > max {
        return Err(HostError::HeaderTooLarge { limit: max });
    }
    Ok(())
}

/// A `Content-Length` over `max` is refused before a byte of the body is read.
fn check_declared_length<B>(req: &Request<B>, max: usize) -> Result<(), HostError> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    match declared {
        Some(n) if n > u64::try_from(max).unwrap_or(u64::MAX) => {
            Err(HostError::BodyTooLarge { limit: max })
        }
        _ => Ok(()),
    }
}

/// The whole body, at most `max_body_bytes`, arrived within `body_read_timeout`.
async fn read_body<B>(body: B, limits: &EdgeLimits) -> Result<Bytes, HostError>
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let deadline = Instant::now() + limits.body_read_timeout;
    let max = limits.max_body_bytes;
    let mut body = std::pin::pin!(body);
    let mut out: Vec<u8> = Vec::new();
    loop {
        let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
            Err(_) => {
                return Err(HostError::BodyTimeout {
                    millis: u64::try_from(limits.body_read_timeout.as_millis()).unwrap_or(u64::MAX),
                });
            }
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                tracing::debug!(error = %e, "reading a request body failed");
                return Err(HostError::BodyRead);
            }
            Ok(Some(Ok(frame))) => frame,
        };
        if let Ok(data) = frame.into_data() {
            if out.len().saturating_add(data.len()) > max {
                return Err(HostError::BodyTooLarge { limit: max });
            }
            if out.is_empty() && body.is_end_stream() {
                // The common case, one frame: no copy.
                return Ok(data);
            }
            out.extend_from_slice(&data);
        }
    }
    Ok(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use http_body_util::Full;
    use hyper::body::{Body as HttpBody, Frame};

    use super::*;

    fn limits() -> EdgeLimits {
        EdgeLimits {
            max_body_bytes: 16,
            body_read_timeout: Duration::from_millis(100),
            max_header_bytes: 200,
            ..EdgeLimits::default()
        }
    }

    /// A body that sends its frames, then stalls forever.
    struct Stalled(Vec<Bytes>);

    impl HttpBody for Stalled {
        type Data = Bytes;
        type Error = std::io::Error;

        fn poll_frame(
            self: std::pin::Pin<&mut Self>,
            _cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
            let this = self.get_mut();
            match this.0.pop() {
                Some(data) => std::task::Poll::Ready(Some(Ok(Frame::data(data)))),
                None => std::task::Poll::Pending,
            }
        }
    }

    #[tokio::test]
    async fn bodies_are_read_whole_within_their_limits() {
        let got = read_body(Full::new(Bytes::from_static(b"0123456789")), &limits())
            .await
            .expect("fits");
        assert_eq!(&got[..], b"0123456789");
        let e = read_body(Full::new(Bytes::from(vec![0u8; 17])), &limits())
            .await
            .expect_err("too large");
        assert_eq!(e.code(), "host.body_too_large");
        let e = read_body(Stalled(vec![Bytes::from_static(b"ab"); 9]), &limits())
            .await
            .expect_err("too large in pieces");
        assert_eq!(e.code(), "host.body_too_large");
        let start = std::time::Instant::now();
        let e = read_body(Stalled(vec![Bytes::from_static(b"ab"); 2]), &limits())
            .await
            .expect_err("stalled");
        assert_eq!(e.code(), "host.body_timeout");
        assert!(start.elapsed() >= Duration::from_millis(100));
    }

    #[test]
    fn request_ids_differ_and_only_known_routes_are_named() {
        let (a, b) = (RequestId::next(), RequestId::next());
        assert_ne!(a, b);
        assert_eq!(a.prefix, b.prefix);
        assert_eq!(a.to_string().len(), 8 + 1 + format!("{:x}", a.seq).len());
        assert_eq!(known_route("/v1/infer"), "/v1/infer");
        assert_eq!(known_route("/v1/infer/secret-path"), "other");
        assert_eq!(known_route("/v1/attestation"), "/v1/attestation");
    }

    #[test]
    fn heads_and_declared_lengths_are_checked_before_anything_is_read() {
        let req = |extra: usize, len: &str| {
            Request::post("/v1/infer")
                .header("x-pad", "a".repeat(extra))
                .header(header::CONTENT_LENGTH, len)
                .body(())
                .expect("request")
        };
        assert!(check_head(&req(10, "1"), 200).is_ok());
        assert_eq!(
            check_head(&req(200, "1"), 200).expect_err("large").code(),
            "host.header_too_large"
        );
        assert!(check_declared_length(&req(0, "16"), 16).is_ok());
        assert_eq!(
            check_declared_length(&req(0, "17"), 16)
                .expect_err("declared too large")
                .code(),
            "host.body_too_large"
        );
    }
}
