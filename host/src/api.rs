//! The caller-facing HTTP API. Handlers are thin: check the envelope of the request, relay the
//! bytes, map the enclave's answer to a status. Bodies are never logged.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use cloister_proto::Message;
use cloister_proto::api::{
    MEDIA_EVIDENCE, MEDIA_OHTTP_REQ, MEDIA_OHTTP_RES, ROUTE_ATTESTATION, ROUTE_HEALTH, ROUTE_INFER,
};
use cloister_proto::message::{MAX_NONCE_LEN, MIN_NONCE_LEN};
use serde::Deserialize;

use crate::error::HostError;
use crate::link::EnclaveLink;

/// Largest request body accepted on `/v1/infer` (the enclave's own limit is the same).
pub const MAX_INFER_BODY: usize = 256 * 1024;

/// Shared state of the handlers.
#[derive(Clone)]
pub struct AppState {
    /// The enclave connection.
    pub link: Arc<EnclaveLink>,
}

/// The router: `GET /v1/attestation`, `POST /v1/infer`, `GET /healthz`.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route(ROUTE_ATTESTATION, get(attestation))
        .route(ROUTE_INFER, post(infer))
        .route(ROUTE_HEALTH, get(health))
        .layer(DefaultBodyLimit::max(MAX_INFER_BODY))
        .layer(middleware::from_fn(access_log))
        .with_state(state)
}

#[derive(Debug, Deserialize)]
struct NonceQuery {
    nonce: Option<String>,
}

async fn attestation(
    State(state): State<AppState>,
    query: Result<Query<NonceQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, HostError> {
    let bad = HostError::BadNonce {
        min: MIN_NONCE_LEN,
        max: MAX_NONCE_LEN,
    };
    let nonce = query
        .ok()
        .and_then(|Query(q)| q.nonce)
        .and_then(|h| hex::decode(h).ok())
        .filter(|n| (MIN_NONCE_LEN..=MAX_NONCE_LEN).contains(&n.len()))
        .ok_or(bad)?;
    match state.link.request(Message::AttestRequest { nonce }).await? {
        Message::Evidence(bundle) => {
            let body = bundle.to_cbor().map_err(|e| {
                HostError::Enclave(cloister_proto::WireError::new(e.code(), e.to_string()))
            })?;
            Ok(([(header::CONTENT_TYPE, MEDIA_EVIDENCE)], body).into_response())
        }
        Message::Error(e) => Err(HostError::Enclave(e)),
        _ => Err(HostError::UnexpectedAnswer),
    }
}

async fn infer(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, HostError> {
    let media_ok = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case(MEDIA_OHTTP_REQ))
        });
    if !media_ok {
        return Err(HostError::UnsupportedMediaType {
            expected: MEDIA_OHTTP_REQ,
        });
    }
    match state
        .link
        .request(Message::InferRequest {
            ohttp: body.to_vec(),
        })
        .await?
    {
        Message::InferResponse { ohttp } => Ok((
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(MEDIA_OHTTP_RES),
                ),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            ],
            ohttp,
        )
            .into_response()),
        Message::Error(e) => Err(HostError::Enclave(e)),
        _ => Err(HostError::UnexpectedAnswer),
    }
}

async fn health(State(state): State<AppState>) -> Response {
    match state.link.ensure_connected().await {
        Ok(()) => (
            StatusCode::OK,
            axum::Json(
                serde_json::json!({"status": "ok", "enclave": state.link.addr().to_string()}),
            ),
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

/// One line per request: method, route, status, duration, and the error code if any.
/// Never the query string, headers or body.
async fn access_log(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let start = Instant::now();
    let resp = next.run(req).await;
    let status = resp.status().as_u16();
    let micros = start.elapsed().as_micros() as u64;
    if resp.status().is_success() {
        tracing::info!(%method, path, status, micros, "request");
    } else {
        tracing::warn!(%method, path, status, micros, "request failed");
    }
    resp
}
