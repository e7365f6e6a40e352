//! The caller-facing HTTP API. Handlers are thin: check the envelope of the request, relay the
//! bytes, map the enclave's answer to a status. Bodies are never logged.
//!
//! `GET /v1/attestation` adds one thing to what the enclave sends: for TDX evidence without
//! collateral, the Intel DCAP collateral ([`crate::collateral`]), so the caller's verifier needs no
//! network. If it cannot be had, the answer is a 503 `host.collateral_unavailable`, never a TDX
//! bundle without collateral.
//!
//! `GET /v1/ohttp-keys` serves the gateway's key configuration for standard OHTTP clients, and
//! `POST /v1/infer` refuses a request for another key id with RFC 9458's problem type before it
//! reaches the enclave ([`crate::edge::ohttp_keys`]). Every error, unknown paths and methods
//! included, is the JSON shape of [`HostError`]. Limits, timeouts and the queue are the edge's
//! ([`crate::edge::serve`]).

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use cloister_proto::api::{
    ErrorBody, ErrorDetail, MEDIA_EVIDENCE, MEDIA_OHTTP_REQ, MEDIA_OHTTP_RES, ROUTE_ATTESTATION,
    ROUTE_HEALTH, ROUTE_INFER,
};
use cloister_proto::message::{MAX_NONCE_LEN, MIN_NONCE_LEN};
use cloister_proto::{EvidenceBundle, EvidencePlatform, Message};
use serde::Deserialize;

use crate::collateral::{CollateralCache, CollateralError};
use crate::edge::KeyCache;
use crate::edge::ohttp_keys::{KEY_TTL, MEDIA_OHTTP_KEYS, ROUTE_OHTTP_KEYS};
use crate::error::HostError;
use crate::link::EnclaveLink;

/// Largest request body accepted on `/v1/infer` (the enclave's own limit is the same).
pub const MAX_INFER_BODY: usize = 256 * 1024;

/// Shared state of the handlers.
#[derive(Clone)]
pub struct AppState {
    /// The enclave connection.
    pub link: Arc<EnclaveLink>,
    /// DCAP collateral for TDX evidence (Intel PCS or a PCCS, cached).
    pub collateral: Arc<CollateralCache>,
}

/// What the handlers share: the caller-given state and the gateway key last seen.
#[derive(Clone)]
struct Shared {
    app: AppState,
    keys: Arc<KeyCache>,
}

/// The router: `GET /v1/attestation`, `POST /v1/infer`, `GET /v1/ohttp-keys`, `GET /healthz`;
/// any other path is `404 host.not_found`, any other method `405 host.method_not_allowed`
/// (with `Allow`), both as JSON.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route(ROUTE_ATTESTATION, get(attestation))
        .route(ROUTE_INFER, post(infer))
        .route(ROUTE_OHTTP_KEYS, get(ohttp_keys))
        .route(ROUTE_HEALTH, get(health))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_INFER_BODY))
        .with_state(Shared {
            app: state,
            keys: Arc::new(KeyCache::new()),
        })
}

async fn not_found() -> HostError {
    HostError::NotFound
}

async fn method_not_allowed() -> HostError {
    HostError::MethodNotAllowed
}

#[derive(Debug, Deserialize)]
struct NonceQuery {
    nonce: Option<String>,
}

/// An attestation answer that failed: the enclave side ([`HostError`]) or the collateral.
#[derive(Debug)]
enum AttestationFailure {
    Host(HostError),
    Collateral(CollateralError),
}

impl From<HostError> for AttestationFailure {
    fn from(e: HostError) -> Self {
        Self::Host(e)
    }
}

impl IntoResponse for AttestationFailure {
    fn into_response(self) -> Response {
        match self {
            Self::Host(e) => e.into_response(),
            Self::Collateral(e) => {
                // The message names URLs (perhaps a PCCS's internal one) and the FMSPC: the log
                // gets it, the caller only the code.
                tracing::warn!(code = e.code(), error = %e, "DCAP collateral unavailable");
                let body = ErrorBody {
                    error: ErrorDetail {
                        code: COLLATERAL_UNAVAILABLE.into(),
                        message: format!(
                            "the Intel DCAP collateral for this TDX quote is unavailable [{}]",
                            e.code()
                        ),
                        hint: "the host fetches it from Intel PCS or a PCCS: check \
                               cloister-host --pccs-url and its network access, then retry"
                            .into(),
                    },
                };
                (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
            }
        }
    }
}

/// Stable code of a TDX attestation answered without its collateral.
pub const COLLATERAL_UNAVAILABLE: &str = "host.collateral_unavailable";

/// Adds the DCAP collateral to TDX evidence that has none; other bundles pass unchanged.
///
/// # Errors
/// [`CollateralError`] when the quote cannot be read or the collateral cannot be fetched.
pub async fn complete_collateral(
    bundle: &mut EvidenceBundle,
    cache: &CollateralCache,
) -> Result<(), CollateralError> {
    if bundle.platform != EvidencePlatform::Tdx || !bundle.collateral.is_empty() {
        return Ok(());
    }
    let item = cache.for_quote(&bundle.evidence).await?;
    bundle.collateral.push(item.to_vec().into());
    Ok(())
}

async fn attestation(
    State(shared): State<Shared>,
    query: Result<Query<NonceQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, AttestationFailure> {
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
    let state = &shared.app;
    match state.link.request(Message::AttestRequest { nonce }).await? {
        Message::Evidence(mut bundle) => {
            shared.keys.observe(&bundle, Instant::now());
            complete_collateral(&mut bundle, &state.collateral)
                .await
                .map_err(AttestationFailure::Collateral)?;
            let body = bundle.to_cbor().map_err(HostError::BundleEncode)?;
            Ok(([(header::CONTENT_TYPE, MEDIA_EVIDENCE)], body).into_response())
        }
        Message::Error(e) => Err(HostError::Enclave(e).into()),
        _ => Err(HostError::UnexpectedAnswer.into()),
    }
}

async fn infer(
    State(shared): State<Shared>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
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
    let body = body.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            HostError::BodyTooLarge {
                limit: MAX_INFER_BODY,
            }
        } else {
            HostError::BodyRead
        }
    })?;
    let state = &shared.app;
    // RFC 9458 §4.3: the first byte of an encapsulated request is its key id, in the clear. An
    // empty body has none; the enclave refuses it as corrupted.
    if let Some(&key_id) = body.first()
        && !shared
            .keys
            .knows(&state.link, key_id, Instant::now())
            .await?
    {
        return Err(HostError::OhttpKeyUnknown { got: key_id });
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

/// The gateway's key configuration, `application/ohttp-keys` (RFC 9458 §3.2), from the key the
/// enclave's evidence names. A caller checks it against the `kem_pub` of evidence it verified.
async fn ohttp_keys(State(shared): State<Shared>) -> Result<Response, HostError> {
    let key = shared
        .keys
        .fresh(&shared.app.link, KEY_TTL, Instant::now())
        .await?;
    let body = key.ohttp_keys().map_err(HostError::BundleEncode)?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(MEDIA_OHTTP_KEYS),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        body,
    )
        .into_response())
}

/// `{"status": "ok"}` when the enclave link is up. It does not name the enclave's address.
async fn health(State(shared): State<Shared>) -> Response {
    match shared.app.link.ensure_connected().await {
        Ok(()) => (
            StatusCode::OK,
            axum::Json(serde_json::json!({"status": "ok"})),
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use axum::body::Body;
    use cloister_proto::evidence::{BUNDLE_VERSION, KEM_PUB_LEN, SIG_PUB_LEN};
    use cloister_proto::frame::{self, MAX_FRAME_LEN};
    use cloister_proto::{Envelope, WireError};
    use tower::ServiceExt;

    use super::*;
    use crate::collateral::tests::{self as pcs, Faults};
    use crate::collateral::{CollateralConfig, QuoteCollateralV3};
    use crate::transport::EnclaveAddr;

    fn bundle(
        platform: EvidencePlatform,
        evidence: Vec<u8>,
        collateral: Vec<Vec<u8>>,
    ) -> EvidenceBundle {
        EvidenceBundle {
            version: BUNDLE_VERSION,
            platform,
            evidence,
            collateral: collateral.into_iter().map(Into::into).collect(),
            kem_pub: vec![1; KEM_PUB_LEN],
            sig_pub: vec![2; SIG_PUB_LEN],
            nonce: Vec::new(),
            ohttp_key_id: 1,
            served_models: cloister_proto::ServedModels::default(),
            served_models_signature: vec![0; cloister_proto::served::SERVED_MODELS_SIGNATURE_LEN],
        }
    }

    /// dcap-qvl's TDX sample quote (FMSPC B0C06F000000, PCK Platform CA).
    fn tdx_quote() -> Vec<u8> {
        let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/fixtures/tdx/Phala-Network-dcap-qvl/tdx_quote");
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// A fake enclave on a Unix socket: every attestation request gets `template` with the
    /// caller's nonce.
    async fn fake_enclave(template: EvidenceBundle) -> (tempfile::TempDir, Arc<EnclaveLink>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("enclave.sock");
        let listener = tokio::net::UnixListener::bind(&path).expect("bind");
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let t = template.clone();
                tokio::spawn(async move {
                    while let Ok(Some(env)) = frame::read(&mut s, MAX_FRAME_LEN).await {
                        let answer = match env.msg {
                            Message::AttestRequest { nonce } => {
                                let mut b = t.clone();
                                b.nonce = nonce;
                                Message::Evidence(b)
                            }
                            _ => Message::Error(WireError::new("test.unexpected", "unexpected")),
                        };
                        if frame::write(&mut s, &Envelope::new(env.id, answer))
                            .await
                            .is_err()
                        {
                            break;
                        }
                    }
                });
            }
        });
        (dir, Arc::new(EnclaveLink::new(EnclaveAddr::Unix(path))))
    }

    /// A cache on the fake PCCS at `base`, its clock inside the fixture's validity.
    fn cache(base: &str) -> Arc<CollateralCache> {
        let now = Arc::new(AtomicU64::new(pcs::JULY_1));
        Arc::new(
            CollateralCache::with_clock(&pcs::config(base), pcs::clock_at(&now)).expect("cache"),
        )
    }

    async fn attest(app: &Router) -> (StatusCode, Vec<u8>) {
        let uri = format!("{ROUTE_ATTESTATION}?nonce={}", hex::encode([9u8; 32]));
        let resp = app
            .clone()
            .oneshot(
                axum::http::Request::get(uri)
                    .body(Body::empty())
                    .expect("request"),
            )
            .await
            .expect("infallible");
        let status = resp.status();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .expect("body");
        (status, body.to_vec())
    }

    fn error_code(body: &[u8]) -> String {
        let e: ErrorBody = serde_json::from_slice(body).expect("error body");
        e.error.code
    }

    #[tokio::test]
    async fn tdx_evidence_gets_the_collateral_and_the_next_request_hits_the_cache() {
        let (server, base) = pcs::serve(Faults::default()).await;
        let (_dir, link) = fake_enclave(bundle(EvidencePlatform::Tdx, tdx_quote(), vec![])).await;
        let app = app(AppState {
            link,
            collateral: cache(&base),
        });
        for _ in 0..2 {
            let (status, body) = attest(&app).await;
            assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
            let got = EvidenceBundle::from_cbor(&body).expect("bundle");
            assert_eq!(got.evidence, tdx_quote());
            assert_eq!(
                got.collateral.len(),
                1,
                "one item: the QuoteCollateralV3 JSON"
            );
            let c: QuoteCollateralV3 = serde_json::from_slice(&got.collateral[0]).expect("json");
            assert_eq!(c, pcs::fixture());
        }
        assert_eq!(server.tcb_requests.load(Ordering::SeqCst), 1, "cached");
    }

    #[tokio::test]
    async fn a_collateral_fetch_failure_is_a_503_never_a_bare_bundle() {
        let (_server, base) = pcs::serve(Faults {
            tcb_status: Some(StatusCode::NOT_FOUND),
            ..Faults::default()
        })
        .await;
        let (_dir, link) = fake_enclave(bundle(EvidencePlatform::Tdx, tdx_quote(), vec![])).await;
        let app = app(AppState {
            link,
            collateral: cache(&base),
        });
        let (status, body) = attest(&app).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(error_code(&body), COLLATERAL_UNAVAILABLE);
        let mut b = bundle(EvidencePlatform::Tdx, tdx_quote(), vec![]);
        let e = complete_collateral(&mut b, &cache(&base))
            .await
            .expect_err("404");
        assert_eq!(e.code(), "collateral.status");
        assert!(b.collateral.is_empty(), "nothing half-applied");
    }

    #[tokio::test]
    async fn a_tdx_quote_that_cannot_be_read_is_a_503() {
        let (server, base) = pcs::serve(Faults::default()).await;
        let (_dir, link) =
            fake_enclave(bundle(EvidencePlatform::Tdx, vec![0xee; 600], vec![])).await;
        let app = app(AppState {
            link,
            collateral: cache(&base),
        });
        let (status, body) = attest(&app).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(error_code(&body), COLLATERAL_UNAVAILABLE);
        let mut b = bundle(EvidencePlatform::Tdx, vec![0xee; 600], vec![]);
        let e = complete_collateral(&mut b, &cache(&base))
            .await
            .expect_err("unreadable quote");
        assert_eq!(e.code(), "collateral.quote");
        assert_eq!(server.requests.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn other_bundles_and_tdx_bundles_with_collateral_pass_unchanged() {
        let (server, base) = pcs::serve(Faults::default()).await;
        for template in [
            bundle(EvidencePlatform::Mock, vec![0xd2; 300], vec![]),
            bundle(
                EvidencePlatform::SevSnp,
                vec![0; 1184],
                vec![b"vcek".to_vec()],
            ),
            bundle(EvidencePlatform::Tdx, tdx_quote(), vec![b"{}".to_vec()]),
        ] {
            let (_dir, link) = fake_enclave(template.clone()).await;
            let app = app(AppState {
                link,
                collateral: cache(&base),
            });
            let (status, body) = attest(&app).await;
            assert_eq!(status, StatusCode::OK);
            let got = EvidenceBundle::from_cbor(&body).expect("bundle");
            assert_eq!(got.platform, template.platform);
            assert_eq!(got.collateral, template.collateral);
        }
        assert_eq!(server.requests.load(Ordering::SeqCst), 0, "nothing fetched");
    }

    /// Without the edge in front (`oneshot`), the router's own refusals are JSON too.
    #[tokio::test]
    async fn the_routers_own_refusals_are_json_with_codes() {
        let (_dir, link) = fake_enclave(bundle(EvidencePlatform::Mock, vec![1], vec![])).await;
        let app = app(AppState {
            link,
            collateral: Arc::new(CollateralCache::new(&CollateralConfig::default()).expect("c")),
        });
        let cases = [
            (
                axum::http::Request::get("/v2/unknown").body(Body::empty()),
                StatusCode::NOT_FOUND,
                "host.not_found",
            ),
            (
                axum::http::Request::put(ROUTE_INFER).body(Body::empty()),
                StatusCode::METHOD_NOT_ALLOWED,
                "host.method_not_allowed",
            ),
            (
                axum::http::Request::post(ROUTE_INFER)
                    .header(header::CONTENT_TYPE, MEDIA_OHTTP_REQ)
                    .body(Body::from(vec![1u8; MAX_INFER_BODY + 1])),
                StatusCode::PAYLOAD_TOO_LARGE,
                "host.body_too_large",
            ),
            (
                axum::http::Request::post(ROUTE_INFER)
                    .header(header::CONTENT_TYPE, MEDIA_OHTTP_REQ)
                    .body(Body::from(vec![9u8; 64])),
                StatusCode::BAD_REQUEST,
                "host.ohttp_key_unknown",
            ),
        ];
        for (req, status, code) in cases {
            let resp = app
                .clone()
                .oneshot(req.expect("request"))
                .await
                .expect("infallible");
            assert_eq!(resp.status(), status, "{code}");
            let body = axum::body::to_bytes(resp.into_body(), 1 << 16)
                .await
                .expect("body");
            let json: serde_json::Value = serde_json::from_slice(&body).expect("json");
            assert_eq!(json["error"]["code"], code);
        }
    }

    #[tokio::test]
    async fn ohttp_keys_come_from_the_enclaves_bundle_and_health_names_no_address() {
        let (_dir, link) = fake_enclave(bundle(EvidencePlatform::Mock, vec![1], vec![])).await;
        let app = app(AppState {
            link,
            collateral: Arc::new(CollateralCache::new(&CollateralConfig::default()).expect("c")),
        });
        let get = |uri: &str| {
            axum::http::Request::get(uri)
                .body(Body::empty())
                .expect("req")
        };
        let resp = app
            .clone()
            .oneshot(get(ROUTE_OHTTP_KEYS))
            .await
            .expect("ok");
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()[header::CONTENT_TYPE], MEDIA_OHTTP_KEYS);
        let body = axum::body::to_bytes(resp.into_body(), 1 << 16)
            .await
            .expect("body");
        let want = crate::edge::GatewayKey::new(1, [1; KEM_PUB_LEN])
            .ohttp_keys()
            .expect("encode");
        assert_eq!(body.as_ref(), want.as_slice());
        let resp = app.clone().oneshot(get(ROUTE_HEALTH)).await.expect("ok");
        let body = axum::body::to_bytes(resp.into_body(), 1 << 16)
            .await
            .expect("body");
        assert_eq!(body.as_ref(), br#"{"status":"ok"}"#);
    }

    #[test]
    fn the_default_configuration_points_at_intel_pcs() {
        let cfg = CollateralConfig::default();
        assert_eq!(cfg.pccs_url, crate::collateral::INTEL_PCS_URL);
        assert!(CollateralCache::new(&cfg).is_ok());
    }
}
