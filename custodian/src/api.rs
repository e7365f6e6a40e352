//! The custodian's HTTP API. Handlers parse the body, call [`Custodian`], and answer JSON;
//! every error is a [`cloister_proto::key_release::ReleaseDenied`] body with its status.
//!
//! | route | auth | body → answer |
//! |---|---|---|
//! | `POST /v1/challenge` | none | `ChallengeRequest` → `Challenge` |
//! | `POST /v1/release` | none (the evidence is the credential) | `ReleaseRequest` → `ReleaseResponse` |
//! | `GET /v1/admin/keys` | bearer | → the tenant's `[KeySummary]` |
//! | `PUT /v1/admin/keys/{key_id}` | bearer | [`RegisterKey`] → `KeySummary` (201, or 200 replaced) |
//! | `PUT /v1/admin/keys/{key_id}/policy` | bearer | [`SetPolicy`] → `KeySummary` |
//! | `PUT /v1/admin/keys/{key_id}/disabled` | bearer | [`SetDisabled`] → `KeySummary` |
//! | `DELETE /v1/admin/keys/{key_id}` | bearer | → 204 |
//! | `GET /healthz` | none | → `ok` |
//!
//! Bodies are limited to `max_body_bytes` and are read no further than that: a larger one is
//! answered 413 `custodian.body_too_large`. The admin token is checked before the body is read;
//! it names the tenant (each tenant has its own token), and every admin route acts on that
//! tenant's keys only: another tenant's key is answered as unknown. Handlers that touch the
//! store or verify evidence run on the blocking pool, off the async workers.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Extension, Path, Request, State};
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
    /// Each tenant's admin bearer token.
    pub admin_tokens: Arc<AdminTokens>,
    /// Largest request body.
    pub max_body_bytes: usize,
}

/// The tenant an admin request acts for: the owner of the bearer token it presented.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tenant(pub String);

/// Tenant name → admin bearer token.
#[derive(Default)]
pub struct AdminTokens(Vec<(String, Zeroizing<String>)>);

impl AdminTokens {
    /// Tokens from `(tenant, token)` pairs.
    pub fn new(tokens: impl IntoIterator<Item = (String, Zeroizing<String>)>) -> Self {
        Self(tokens.into_iter().collect())
    }

    /// The tenant whose token `headers` carry. Every token is compared, in constant time, so
    /// the answer's timing does not tell which tenant (or how much of a token) matched.
    fn tenant_of(&self, headers: &HeaderMap) -> Option<Tenant> {
        let sent = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))?;
        let mut found = None;
        for (tenant, token) in &self.0 {
            if aws_lc_rs::constant_time::verify_slices_are_equal(sent.as_bytes(), token.as_bytes())
                .is_ok()
            {
                found = Some(Tenant(tenant.clone()));
            }
        }
        found
    }
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

async fn admin_auth(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    match state.admin_tokens.tenant_of(req.headers()) {
        Some(tenant) => {
            req.extensions_mut().insert(tenant);
            next.run(req).await
        }
        None => ApiError::Unauthorized.into_response(),
    }
}

/// Runs `f` on the blocking pool: store writes wait for the disk, releases verify signatures.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::Internal {
            what: format!("task: {e}"),
        })?
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
    let custodian = state.custodian.clone();
    Ok(axum::Json(
        blocking(move || custodian.challenge(&req)).await?,
    ))
}

async fn release(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<axum::Json<ReleaseResponse>, ApiError> {
    let req: ReleaseRequest = json("release request", body, state.max_body_bytes)?;
    let custodian = state.custodian.clone();
    Ok(axum::Json(blocking(move || custodian.release(&req)).await?))
}

async fn list_keys(
    State(state): State<AppState>,
    Extension(Tenant(tenant)): Extension<Tenant>,
) -> Result<axum::Json<Vec<KeySummary>>, ApiError> {
    let custodian = state.custodian.clone();
    Ok(axum::Json(blocking(move || custodian.list(&tenant)).await?))
}

async fn register(
    State(state): State<AppState>,
    Extension(Tenant(tenant)): Extension<Tenant>,
    Path(key_id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, axum::Json<KeySummary>), ApiError> {
    let req: RegisterKey = json("key registration", body, state.max_body_bytes)?;
    let custodian = state.custodian.clone();
    let (summary, replaced) = blocking(move || custodian.register(&tenant, &key_id, &req)).await?;
    let status = if replaced {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, axum::Json(summary)))
}

async fn set_policy(
    State(state): State<AppState>,
    Extension(Tenant(tenant)): Extension<Tenant>,
    Path(key_id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<axum::Json<KeySummary>, ApiError> {
    let req: SetPolicy = json("policy", body, state.max_body_bytes)?;
    let custodian = state.custodian.clone();
    Ok(axum::Json(
        blocking(move || custodian.set_policy(&tenant, &key_id, &req)).await?,
    ))
}

async fn set_disabled(
    State(state): State<AppState>,
    Extension(Tenant(tenant)): Extension<Tenant>,
    Path(key_id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<axum::Json<KeySummary>, ApiError> {
    let req: SetDisabled = json("disabled flag", body, state.max_body_bytes)?;
    let custodian = state.custodian.clone();
    Ok(axum::Json(
        blocking(move || custodian.set_disabled(&tenant, &key_id, &req)).await?,
    ))
}

async fn remove(
    State(state): State<AppState>,
    Extension(Tenant(tenant)): Extension<Tenant>,
    Path(key_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let custodian = state.custodian.clone();
    blocking(move || custodian.remove(&tenant, &key_id)).await?;
    Ok(StatusCode::NO_CONTENT)
}
