//! Prometheus metrics of the host, served at `GET /metrics` in the OpenMetrics text format.
//!
//! What is counted never contains a payload or a caller identity: routes (the matched pattern,
//! never the raw path), statuses, latencies, the enclave queue, restarts, reconnects and relay
//! refusals. Counters kept elsewhere (the relay's, the supervisor's) are read at scrape time
//! through [`HostMetrics::register_snapshot`], so those modules need not know about Prometheus.
//!
//! ```
//! use std::sync::Arc;
//! use cloister_host::metrics::HostMetrics;
//! let metrics = Arc::new(HostMetrics::new());
//! metrics.observe("/v1/infer", 200, std::time::Duration::from_micros(800));
//! metrics.register_snapshot("cloister_host_enclave_restarts", "Enclave restarts.", || 2);
//! metrics.register_gauge_snapshot("cloister_host_queue_waiting", "Requests waiting.", || 3);
//! let text = metrics.encode();
//! assert!(text.contains("cloister_host_queue_waiting 3"));
//! assert!(text.contains("cloister_host_requests_total{route=\"/v1/infer\",status=\"200\"} 1"));
//! assert!(text.contains("cloister_host_enclave_restarts_total 2"));
//! ```

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The OpenMetrics media type of `/metrics`.
pub const OPENMETRICS_TEXT: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Labels of a request: the route pattern and the status code.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    status: String,
}

/// The route label alone.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabel {
    route: String,
}

type SnapshotFn = Box<dyn Fn() -> u64 + Send + Sync>;

/// How a value read at scrape time is exported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SnapshotKind {
    /// Only grows (`_total` is appended).
    Counter,
    /// Goes up and down (a depth, a state).
    Gauge,
}

/// Values read from elsewhere at each scrape.
#[derive(Default)]
struct Snapshots(Mutex<Vec<(String, String, SnapshotKind, SnapshotFn)>>);

impl std::fmt::Debug for Snapshots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshots").finish_non_exhaustive()
    }
}

impl prometheus_client::collector::Collector for Snapshots {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let snapshots = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        for (name, help, kind, read) in snapshots.iter() {
            let value = read();
            match kind {
                SnapshotKind::Counter => {
                    let counter = ConstCounter::new(value);
                    let metric =
                        encoder.encode_descriptor(name, help, None, counter.metric_type())?;
                    counter.encode(metric)?;
                }
                SnapshotKind::Gauge => {
                    let gauge = ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX));
                    let metric =
                        encoder.encode_descriptor(name, help, None, gauge.metric_type())?;
                    gauge.encode(metric)?;
                }
            }
        }
        Ok(())
    }
}

/// The host's metrics.
#[derive(Debug)]
pub struct HostMetrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabel, Histogram>,
    in_flight: Gauge,
    snapshots: Arc<Snapshots>,
}

impl Default for HostMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl HostMetrics {
    /// The metric families, registered and empty.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "cloister_host_requests",
            "Requests answered, by route pattern and status.",
            requests.clone(),
        );
        // 50 µs to ~6.5 s in 18 doublings: relay overhead to slow inferences.
        let latency = Family::<RouteLabel, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.000_05, 2.0, 18))
        });
        registry.register(
            "cloister_host_request_duration_seconds",
            "Time from request to response head, by route pattern.",
            latency.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "cloister_host_requests_in_flight",
            "Requests being handled now (the enclave queue and its callers).",
            in_flight.clone(),
        );
        let snapshots = Arc::new(Snapshots::default());
        registry.register_collector(Box::new(snapshots.clone()));
        Self {
            registry,
            requests,
            latency,
            in_flight,
            snapshots,
        }
    }

    /// Records one answered request.
    pub fn observe(&self, route: &str, status: u16, elapsed: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                route: route.to_owned(),
                status: status.to_string(),
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabel {
                route: route.to_owned(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// Adds a counter read from `read` at every scrape (`name` without `_total`).
    pub fn register_snapshot(
        &self,
        name: &str,
        help: &str,
        read: impl Fn() -> u64 + Send + Sync + 'static,
    ) {
        self.push_snapshot(name, help, SnapshotKind::Counter, Box::new(read));
    }

    /// Adds a gauge read from `read` at every scrape (a queue depth, a state).
    pub fn register_gauge_snapshot(
        &self,
        name: &str,
        help: &str,
        read: impl Fn() -> u64 + Send + Sync + 'static,
    ) {
        self.push_snapshot(name, help, SnapshotKind::Gauge, Box::new(read));
    }

    fn push_snapshot(&self, name: &str, help: &str, kind: SnapshotKind, read: SnapshotFn) {
        self.snapshots
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((name.to_owned(), help.to_owned(), kind, read));
    }

    /// The OpenMetrics text of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// The caller API's OpenAPI description, kept in the repository (`host/openapi.json`) and
/// checked against the running host by schemathesis in `scripts/test.sh`.
pub const OPENAPI_JSON: &str = include_str!("../openapi.json");

/// Adds `GET /metrics` and `GET /openapi.json` to `router` and counts and times every route it
/// matched (unmatched paths are answered by the router's fallback and not counted).
///
/// ```
/// use std::sync::Arc;
/// use cloister_host::metrics::{HostMetrics, instrument};
/// let router = axum::Router::new().route("/v1/x", axum::routing::get(|| async { "x" }));
/// let _app = instrument(router, Arc::new(HostMetrics::new()));
/// ```
pub fn instrument(router: axum::Router, metrics: Arc<HostMetrics>) -> axum::Router {
    let extra = axum::Router::new()
        .route(ROUTE_METRICS, axum::routing::get(serve_metrics))
        .route(
            ROUTE_OPENAPI,
            axum::routing::get(|| async {
                (
                    [(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/json"),
                    )],
                    OPENAPI_JSON,
                )
            }),
        )
        .with_state(metrics.clone());
    router
        .route_layer(axum::middleware::from_fn_with_state(metrics, track))
        .merge(extra)
}

/// Where the metrics are served.
pub const ROUTE_METRICS: &str = "/metrics";
/// Where the OpenAPI description is served.
pub const ROUTE_OPENAPI: &str = "/openapi.json";

/// `GET /metrics`.
pub async fn serve_metrics(State(metrics): State<Arc<HostMetrics>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(OPENMETRICS_TEXT),
        )],
        metrics.encode(),
    )
        .into_response()
}

/// Middleware: counts and times every request under its route pattern (`other` when no route
/// matched, so raw paths never become labels).
pub async fn track(State(metrics): State<Arc<HostMetrics>>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "other".to_owned(), |p| p.as_str().to_owned());
    let started = Instant::now();
    metrics.in_flight.inc();
    let response = next.run(req).await;
    metrics.in_flight.dec();
    metrics.observe(&route, response.status().as_u16(), started.elapsed());
    response
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceExt;

    use super::*;

    #[test]
    fn the_openapi_description_names_every_route() {
        let spec: serde_json::Value = serde_json::from_str(OPENAPI_JSON).expect("json");
        for route in [
            cloister_proto::api::ROUTE_ATTESTATION,
            cloister_proto::api::ROUTE_INFER,
            cloister_proto::api::ROUTE_HEALTH,
            crate::edge::ohttp_keys::ROUTE_OHTTP_KEYS,
            ROUTE_METRICS,
        ] {
            assert!(spec["paths"][route].is_object(), "{route} missing");
        }
    }

    #[tokio::test]
    async fn routes_not_paths_become_labels() {
        let metrics = Arc::new(HostMetrics::new());
        let app = Router::new()
            .route("/v1/things/{id}", get(|| async { "ok" }))
            .route_layer(axum::middleware::from_fn_with_state(metrics.clone(), track))
            .route("/metrics", get(serve_metrics))
            .with_state(metrics.clone());
        for uri in ["/v1/things/secret-1", "/v1/things/secret-2"] {
            let resp = app
                .clone()
                .oneshot(Request::get(uri).body(Body::empty()).expect("req"))
                .await
                .expect("resp");
            assert_eq!(resp.status(), 200);
        }
        let resp = app
            .oneshot(Request::get("/metrics").body(Body::empty()).expect("req"))
            .await
            .expect("resp");
        assert_eq!(resp.headers()[header::CONTENT_TYPE], OPENMETRICS_TEXT);
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .expect("body");
        let text = String::from_utf8(body.to_vec()).expect("utf-8");
        assert!(
            text.contains(
                "cloister_host_requests_total{route=\"/v1/things/{id}\",status=\"200\"} 2"
            ),
            "{text}"
        );
        assert!(!text.contains("secret"), "{text}");
        assert!(
            text.contains("cloister_host_request_duration_seconds_bucket"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
