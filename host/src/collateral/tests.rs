//! Tests of the PCS client and the cache; also the fake PCCS of the API tests ([`crate::api`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::pcs::percent_decode;
use super::*;

/// dcap-qvl's TDX sample collateral (read at test time, never copied into the tree).
pub(crate) fn fixture() -> QuoteCollateralV3 {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/fixtures/tdx/Phala-Network-dcap-qvl/tdx_quote_collateral.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("fixture shape")
}

/// What the fake service does differently.
#[derive(Default)]
pub(crate) struct Faults {
    pub(crate) tcb_status: Option<StatusCode>,
    pub(crate) oversize_tcb: bool,
    pub(crate) bad_tcb_header: bool,
    pub(crate) no_qe_header: bool,
    pub(crate) root_crl_as_der: bool,
    pub(crate) non_json_qe: bool,
}

pub(crate) struct Pcs {
    c: QuoteCollateralV3,
    faults: Mutex<Faults>,
    pub(crate) requests: AtomicUsize,
    pub(crate) tcb_requests: AtomicUsize,
    root_crl_requests: AtomicUsize,
    queries: Mutex<Vec<String>>,
}

/// Percent-encodes everything but RFC 3986 unreserved characters, as Intel PCS does.
fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn with_header(name: &'static str, value: &str, body: impl IntoResponse) -> Response {
    let mut resp = body.into_response();
    resp.headers_mut().insert(
        HeaderName::from_static(name),
        HeaderValue::from_str(value).expect("header value"),
    );
    resp
}

fn hex_der(s: &str) -> Vec<u8> {
    hex::decode(s).expect("fixture hex")
}

async fn tcb(State(p): State<Arc<Pcs>>, Query(q): Query<HashMap<String, String>>) -> Response {
    p.requests.fetch_add(1, Ordering::SeqCst);
    p.tcb_requests.fetch_add(1, Ordering::SeqCst);
    p.queries
        .lock()
        .expect("lock")
        .push(format!("tcb fmspc={}", q.get("fmspc").map_or("", |s| s)));
    let f = p.faults.lock().expect("lock");
    if let Some(status) = f.tcb_status {
        return (status, "nope").into_response();
    }
    if f.oversize_tcb {
        return vec![b' '; 2 * 1024 * 1024].into_response();
    }
    // The PCS shape: the raw object, then the signature. A space and a newline around the
    // object make sure the raw text, not a re-serialization, is kept.
    let body = format!(
        "{{\"tcbInfo\": {} ,\n\"signature\":\"{}\"}}",
        p.c.tcb_info, p.c.tcb_info_signature
    );
    let chain = if f.bad_tcb_header {
        "%ZZnot-pem".to_owned()
    } else {
        url_encode(&p.c.tcb_info_issuer_chain)
    };
    with_header("tcb-info-issuer-chain", &chain, body)
}

async fn qe(State(p): State<Arc<Pcs>>) -> Response {
    p.requests.fetch_add(1, Ordering::SeqCst);
    let f = p.faults.lock().expect("lock");
    let body = if f.non_json_qe {
        "<html>maintenance</html>".to_owned()
    } else {
        format!(
            "{{\"enclaveIdentity\":{},\"signature\":\"{}\"}}",
            p.c.qe_identity, p.c.qe_identity_signature
        )
    };
    if f.no_qe_header {
        return body.into_response();
    }
    with_header(
        "sgx-enclave-identity-issuer-chain",
        &url_encode(&p.c.qe_identity_issuer_chain),
        body,
    )
}

async fn pckcrl(State(p): State<Arc<Pcs>>, Query(q): Query<HashMap<String, String>>) -> Response {
    p.requests.fetch_add(1, Ordering::SeqCst);
    p.queries.lock().expect("lock").push(format!(
        "pckcrl ca={} encoding={}",
        q.get("ca").map_or("", |s| s),
        q.get("encoding").map_or("", |s| s)
    ));
    with_header(
        "sgx-pck-crl-issuer-chain",
        &url_encode(&p.c.pck_crl_issuer_chain),
        hex_der(&p.c.pck_crl),
    )
}

async fn rootcacrl(State(p): State<Arc<Pcs>>) -> Response {
    p.requests.fetch_add(1, Ordering::SeqCst);
    p.root_crl_requests.fetch_add(1, Ordering::SeqCst);
    if p.faults.lock().expect("lock").root_crl_as_der {
        hex_der(&p.c.root_ca_crl).into_response()
    } else {
        // A PCCS answers with the hex of the DER.
        p.c.root_ca_crl.clone().into_response()
    }
}

/// A fake PCCS on 127.0.0.1; the server task ends with the test's runtime.
pub(crate) async fn serve(faults: Faults) -> (Arc<Pcs>, String) {
    let pcs = Arc::new(Pcs {
        c: fixture(),
        faults: Mutex::new(faults),
        requests: AtomicUsize::new(0),
        tcb_requests: AtomicUsize::new(0),
        root_crl_requests: AtomicUsize::new(0),
        queries: Mutex::new(Vec::new()),
    });
    let app = axum::Router::new()
        .route("/tdx/certification/v4/tcb", get(tcb))
        .route("/tdx/certification/v4/qe/identity", get(qe))
        .route("/sgx/certification/v4/pckcrl", get(pckcrl))
        .route("/sgx/certification/v4/rootcacrl", get(rootcacrl))
        .route("/IntelSGXRootCA.der", get(rootcacrl))
        .with_state(Arc::clone(&pcs));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (pcs, format!("http://{addr}"))
}

pub(crate) fn config(base: &str) -> CollateralConfig {
    CollateralConfig {
        pccs_url: format!("{base}/"),
        timeout: Duration::from_secs(5),
        ..CollateralConfig::default()
    }
}

pub(crate) const FMSPC: [u8; 6] = [0xb0, 0xc0, 0x6f, 0, 0, 0];

/// 2025-07-01T00:00:00Z, before the fixture's nextUpdate (2025-07-19T10:16:03Z).
pub(crate) const JULY_1: u64 = 1_751_328_000;
/// The earliest nextUpdate of the fixture's four parts: its PCK CRL's, 2025-07-19T10:00:35Z,
/// before the TCB Info's (10:16:03Z). A cache kept until the TCB Info's would serve collateral that
/// every verifier refuses for a quarter of an hour.
const FIXTURE_NEXT_UPDATE: u64 = 1_752_919_235;

pub(crate) fn clock_at(t: &Arc<AtomicU64>) -> Clock {
    let t = Arc::clone(t);
    Arc::new(move || UnixTime::from_secs(t.load(Ordering::SeqCst)))
}

#[tokio::test]
async fn assembles_the_fixture_byte_exactly_from_a_pcs_shaped_service() {
    let (pcs, base) = serve(Faults::default()).await;
    let client = PcsClient::new(&config(&base)).expect("client");
    assert_eq!(
        client.root_ca_crl_url(),
        format!("{base}/sgx/certification/v4/rootcacrl")
    );
    let got = client.fetch(FMSPC, "platform").await.expect("fetch");
    let want = fixture();
    assert_eq!(got.tcb_info, want.tcb_info, "tcbInfo kept byte for byte");
    assert_eq!(got.qe_identity, want.qe_identity);
    assert_eq!(got, want, "every field as in dcap-qvl's sample");
    assert_eq!(
        pcs.queries.lock().expect("lock").as_slice(),
        ["tcb fmspc=B0C06F000000", "pckcrl ca=platform encoding=der"]
    );
    assert_eq!(pcs.requests.load(Ordering::SeqCst), 4);
    // The bundle item: a JSON object of exactly the nine strings.
    let json: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&got.to_json()).expect("json");
    assert_eq!(json.len(), 9);
    assert!(json.values().all(serde_json::Value::is_string));
    assert_eq!(json["tcb_info"].as_str(), Some(want.tcb_info.as_str()));
    // The verifier's parser takes the item as it is.
    cloister_attestation::tdx::TdxCollateral::from_json(&got.to_json())
        .expect("the attestation crate parses the bundle item");
    assert_eq!(
        next_update(&got).expect("dates").as_secs(),
        FIXTURE_NEXT_UPDATE
    );
}

#[tokio::test]
async fn the_root_crl_url_follows_the_service_or_the_override() {
    assert_eq!(
        PcsClient::new(&CollateralConfig::default())
            .expect("default")
            .root_ca_crl_url(),
        INTEL_ROOT_CA_CRL_URL
    );
    let (pcs, base) = serve(Faults {
        root_crl_as_der: true,
        ..Faults::default()
    })
    .await;
    let cfg = CollateralConfig {
        root_ca_crl_url: Some(format!("{base}/IntelSGXRootCA.der")),
        ..config(&base)
    };
    let got = PcsClient::new(&cfg)
        .expect("client")
        .fetch(FMSPC, "processor")
        .await
        .expect("fetch");
    assert_eq!(
        got.root_ca_crl,
        fixture().root_ca_crl,
        "DER body, hex in JSON"
    );
    assert_eq!(pcs.root_crl_requests.load(Ordering::SeqCst), 1);
    assert!(
        pcs.queries
            .lock()
            .expect("lock")
            .contains(&"pckcrl ca=processor encoding=der".to_owned())
    );
}

#[tokio::test]
async fn the_cache_reuses_until_next_update_then_refetches() {
    let (pcs, base) = serve(Faults::default()).await;
    let now = Arc::new(AtomicU64::new(JULY_1));
    let cache = CollateralCache::with_clock(&config(&base), clock_at(&now)).expect("cache");
    let first = cache.get(FMSPC, "platform").await.expect("first");
    assert_eq!(pcs.tcb_requests.load(Ordering::SeqCst), 1);
    let second = cache.get(FMSPC, "platform").await.expect("second");
    assert_eq!(pcs.tcb_requests.load(Ordering::SeqCst), 1, "a cache hit");
    assert_eq!(first, second);
    assert_eq!(pcs.requests.load(Ordering::SeqCst), 4);
    // Another CA is another entry.
    cache.get(FMSPC, "processor").await.expect("processor");
    assert_eq!(pcs.tcb_requests.load(Ordering::SeqCst), 2);
    assert_eq!(cache.len(), 2);
    // One second before nextUpdate: still fresh. At nextUpdate: refetched.
    now.store(FIXTURE_NEXT_UPDATE - 1, Ordering::SeqCst);
    cache.get(FMSPC, "platform").await.expect("fresh");
    assert_eq!(pcs.tcb_requests.load(Ordering::SeqCst), 2);
    now.store(FIXTURE_NEXT_UPDATE, Ordering::SeqCst);
    let third = cache.get(FMSPC, "platform").await.expect("refetched");
    assert_eq!(pcs.tcb_requests.load(Ordering::SeqCst), 3, "refetched");
    assert_eq!(third, first);
}

#[tokio::test]
async fn concurrent_misses_share_one_fetch_and_entries_are_bounded() {
    let (pcs, base) = serve(Faults::default()).await;
    let now = Arc::new(AtomicU64::new(JULY_1));
    let cfg = CollateralConfig {
        max_entries: 1,
        ..config(&base)
    };
    let cache = Arc::new(CollateralCache::with_clock(&cfg, clock_at(&now)).expect("cache"));
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let c = Arc::clone(&cache);
            tokio::spawn(async move { c.get(FMSPC, "platform").await })
        })
        .collect();
    for t in tasks {
        t.await.expect("join").expect("get");
    }
    assert_eq!(pcs.tcb_requests.load(Ordering::SeqCst), 1);
    cache.get(FMSPC, "processor").await.expect("processor");
    assert_eq!(cache.len(), 1, "bounded to max_entries");
}

#[tokio::test]
async fn failures_are_typed_and_not_cached() {
    let (pcs, base) = serve(Faults {
        tcb_status: Some(StatusCode::NOT_FOUND),
        ..Faults::default()
    })
    .await;
    let now = Arc::new(AtomicU64::new(JULY_1));
    let cache = CollateralCache::with_clock(&config(&base), clock_at(&now)).expect("cache");
    let e = cache.get(FMSPC, "platform").await.expect_err("404");
    assert_eq!(e.code(), "collateral.status");
    assert!(
        matches!(&e, CollateralError::Status { url, status: 404 } if url.contains("/tdx/certification/v4/tcb")),
        "{e:?}"
    );
    assert!(cache.is_empty());
    pcs.faults.lock().expect("lock").tcb_status = None;
    cache.get(FMSPC, "platform").await.expect("recovered");
    assert_eq!(pcs.tcb_requests.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn oversized_bodies_bad_headers_and_bad_bodies_are_refused() {
    async fn err(faults: Faults) -> CollateralError {
        let (_pcs, base) = serve(faults).await;
        PcsClient::new(&config(&base))
            .expect("client")
            .fetch(FMSPC, "platform")
            .await
            .expect_err("refused")
    }
    let e = err(Faults {
        oversize_tcb: true,
        ..Faults::default()
    })
    .await;
    assert_eq!(e.code(), "collateral.too_large", "{e}");
    let e = err(Faults {
        bad_tcb_header: true,
        ..Faults::default()
    })
    .await;
    assert_eq!(e.code(), "collateral.bad_header", "{e}");
    assert!(
        matches!(
            e,
            CollateralError::BadHeader {
                header: "TCB-Info-Issuer-Chain",
                ..
            }
        ),
        "{e:?}"
    );
    let e = err(Faults {
        no_qe_header: true,
        ..Faults::default()
    })
    .await;
    assert_eq!(e.code(), "collateral.missing_header", "{e}");
    let e = err(Faults {
        non_json_qe: true,
        ..Faults::default()
    })
    .await;
    assert_eq!(e.code(), "collateral.not_json", "{e}");
    assert!(
        !e.to_string().contains("maintenance"),
        "no body in errors: {e}"
    );
}

#[tokio::test]
async fn a_tcb_info_for_another_fmspc_is_refused() {
    let (_pcs, base) = serve(Faults::default()).await;
    let e = PcsClient::new(&config(&base))
        .expect("client")
        .fetch([0x90, 0xc0, 0x6f, 0, 0, 0], "platform")
        .await
        .expect_err("other fmspc");
    assert_eq!(e.code(), "collateral.wrong_fmspc");
    assert!(
        matches!(&e, CollateralError::WrongFmspc { expected, found, .. }
            if expected == "90C06F000000" && found == "B0C06F000000"),
        "{e:?}"
    );
}

#[tokio::test]
async fn an_unreachable_service_times_out_or_fails_to_connect() {
    // A bound listener that never accepts: the request must end within the timeout.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let cfg = CollateralConfig {
        timeout: Duration::from_millis(300),
        ..config(&base)
    };
    let e = PcsClient::new(&cfg)
        .expect("client")
        .fetch(FMSPC, "platform")
        .await
        .expect_err("no answer");
    assert_eq!(e.code(), "collateral.http", "{e}");
    drop(listener);
}

#[test]
fn configuration_and_parameters_are_checked() {
    for bad in ["ftp://pcs.example", "not a url", "http://"] {
        let cfg = CollateralConfig {
            pccs_url: bad.to_owned(),
            ..CollateralConfig::default()
        };
        assert_eq!(
            PcsClient::new(&cfg).expect_err(bad).code(),
            "collateral.bad_url"
        );
    }
    let cfg = CollateralConfig {
        max_entries: 0,
        ..CollateralConfig::default()
    };
    assert_eq!(
        CollateralCache::new(&cfg).expect_err("zero").code(),
        "collateral.zero_limit"
    );
    for cfg in [
        CollateralConfig {
            max_response_bytes: 0,
            ..CollateralConfig::default()
        },
        CollateralConfig {
            timeout: Duration::ZERO,
            ..CollateralConfig::default()
        },
    ] {
        assert_eq!(
            PcsClient::new(&cfg).expect_err("zero").code(),
            "collateral.zero_limit"
        );
    }
    assert_eq!(pcs_ca("both").expect_err("ca").code(), "collateral.bad_ca");
    assert_eq!(
        percent_decode(b"-----BEGIN%20CERTIFICATE-----%0AAb+/=").as_deref(),
        Some("-----BEGIN CERTIFICATE-----\nAb+/=")
    );
    let mut c = fixture();
    c.qe_identity = c
        .qe_identity
        .replacen("\"nextUpdate\":\"", "\"nextUpdate\":\"x", 1);
    assert_eq!(
        next_update(&c).expect_err("date").code(),
        "collateral.bad_date"
    );
    assert_eq!(percent_decode(b"%4"), None);
    assert_eq!(percent_decode(b"%zz"), None);
}
