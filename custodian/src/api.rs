//! The custodian's HTTP API. Handlers parse the body, call [`Custodian`], and answer JSON;
//! every error is a [`cloister_proto::key_release::ReleaseDenied`] body with its status.
//!
//! | route | auth | body → answer |
//! |---|---|---|
//! | `POST /v1/challenge` | none | `ChallengeRequest` → `Challenge` |
//! | `POST /v1/release` | none (the evidence is the credential) | `ReleaseRequest` → `ReleaseResponse` |
//! | `GET /v1/admin/keys` | bearer | → `[KeySummary]` |
//! | `PUT /v1/admin/keys/{key_id}` | bearer | [`RegisterKey`] → `KeySummary` (201, or 200 replaced) |
//! | `PUT /v1/admin/keys/{key_id}/policy` | bearer | [`SetPolicy`] → `KeySummary` |
//! | `PUT /v1/admin/keys/{key_id}/disabled` | bearer | [`SetDisabled`] → `KeySummary` |
//! | `DELETE /v1/admin/keys/{key_id}` | bearer | → 204 |
//! | `GET /healthz` | none | → `ok` |
//!
//! Bodies are limited to `max_body_bytes` and are read no further than that: a larger one is
//! answered 413 `custodian.body_too_large`. The admin token is checked before the body is read.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use cloister_proto::key_release::{
    Challenge, ChallengeRequest, ROUTE_CHALLENGE, ROUTE_RELEASE, ReleaseRequest, ReleaseResponse,
};
use serde::de::DeserializeOwned;
use zeroize::Zeroizing;

use crate::error::ApiError;
use crate::service::{Custodian, RegisterKey, SetDisabled, SetPolicy};
use crate::store::KeySummary;

/// Shared state of the handlers.
#[derive(Clone)]
pub struct AppState {
    /// The decisions.
    pub custodian: Arc<Custodian>,
    /// The admin bearer token.
    pub admin_token: Arc<Zeroizing<String>>,
    /// Largest request body.
    pub max_body_bytes: usize,
}

/// The router.
pub fn app(state: AppState) -> Router {
    let admin = Router::new()
        .route("/v1/admin/keys", get(list_keys))
        .route("/v1/admin/keys/{key_id}", put(register).delete(remove))
        .route("/v1/admin/keys/{key_id}/policy", put(set_policy))
        .route("/v1/admin/keys/{key_id}/disabled", put(set_disabled))
        // route_layer: the token is checked before any body is read, and only on these routes.
        .route_layer(middleware::from_fn_with_state(state.clone(), admin_auth));
    Router::new()
        .route(ROUTE_CHALLENGE, post(challenge))
        .route(ROUTE_RELEASE, post(release))
        .route("/healthz", get(|| async { "ok" }))
        .merge(admin)
        .fallback(|| async { ApiError::NotFound })
        .layer(DefaultBodyLimit::max(state.max_body_bytes))
        .with_state(state)
}

async fn admin_auth(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if authorized(req.headers(), &state.admin_token) {
        next.run(req).await
    } else {
        ApiError::Unauthorized.into_response()
    }
}

/// Compares the bearer token in constant time.
fn authorized(headers: &HeaderMap, token: &str) -> bool {
    let Some(sent) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    aws_lc_rs::constant_time::verify_slices_are_equal(sent.as_bytes(), token.as_bytes()).is_ok()
}

/// Parses a JSON body, mapping the body limit to 413.
fn json<T: DeserializeOwned>(
    what: &'static str,
    body: Result<Bytes, BytesRejection>,
    limit: usize,
) -> Result<T, ApiError> {
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::BodyTooLarge { limit }
        } else {
            ApiError::BadRequest {
                what,
                detail: e.body_text(),
            }
        }
    })?;
    serde_json::from_slice(&body).map_err(|e| ApiError::BadRequest {
        what,
        detail: e.to_string(),
    })
}

async fn challenge(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<axum::Json<Challenge>, ApiError> {
    let req: ChallengeRequest = json("challenge request", body, state.max_body_bytes)?;
    Ok(axum::Json(state.custodian.challenge(&req)?))
}

async fn release(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<axum::Json<ReleaseResponse>, ApiError> {
    let req: ReleaseRequest = json("release request", body, state.max_body_bytes)?;
    // Verification is CPU-bound (signatures, chains): keep it off the async workers.
    let custodian = state.custodian.clone();
    let response = tokio::task::spawn_blocking(move || custodian.release(&req))
        .await
        .map_err(|e| ApiError::Internal {
            what: format!("release task: {e}"),
        })??;
    Ok(axum::Json(response))
}

async fn list_keys(State(state): State<AppState>) -> axum::Json<Vec<KeySummary>> {
    axum::Json(state.custodian.list())
}

async fn register(
    State(state): State<AppState>,
    Path(key_id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, axum::Json<KeySummary>), ApiError> {
    let req: RegisterKey = json("key registration", body, state.max_body_bytes)?;
    let (summary, replaced) = state.custodian.register(&key_id, &req)?;
    let status = if replaced {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, axum::Json(summary)))
}

async fn set_policy(
    State(state): State<AppState>,
    Path(key_id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<axum::Json<KeySummary>, ApiError> {
    let req: SetPolicy = json("policy", body, state.max_body_bytes)?;
    Ok(axum::Json(state.custodian.set_policy(&key_id, &req)?))
}

async fn set_disabled(
    State(state): State<AppState>,
    Path(key_id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<axum::Json<KeySummary>, ApiError> {
    let req: SetDisabled = json("disabled flag", body, state.max_body_bytes)?;
    Ok(axum::Json(state.custodian.set_disabled(&key_id, &req)?))
}

async fn remove(
    State(state): State<AppState>,
    Path(key_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.custodian.remove(&key_id)?;
    Ok(StatusCode::NO_CONTENT)
}
