//! A custodian in process with a mock CA pinned, and a mock enclave that attests with real
//! Nitro-format documents (the attestation crate's mock NSM: no new crypto here).

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use cloister_attestation::mock::{MockCa, MockNsm};
use cloister_attestation::nitro::pcr::nitro_measure;
use cloister_attestation::{EvidenceVerifier, NitroPolicy, TrustPolicy, UnixTime};
use cloister_custodian::Custodian;
use cloister_custodian::api::AdminTokens;
use cloister_custodian::api::{AppState, app};
use cloister_custodian::audit::{AuditBody, ChainVerifier};
use cloister_custodian::kek::{FileKek, KekRing};
use cloister_custodian::store::{SqliteStore, Store};
use cloister_proto::EvidencePlatform;
use cloister_proto::key_release::Challenge;
use tower::ServiceExt;

pub(crate) const TOKEN: &str = "0123456789abcdef0123456789abcdef-test-token";
/// The admin token of a second tenant.
pub(crate) const OTHER_TOKEN: &str = "fedcba9876543210fedcba9876543210-other-tenant";
pub(crate) const DEK: [u8; 32] = [0x42; 32];
pub(crate) const MAX_BODY: usize = 64 * 1024;

pub(crate) struct Harness {
    pub(crate) app: Router,
    pub(crate) state: AppState,
    pub(crate) custodian_pub: [u8; 32],
    pub(crate) store: Arc<SqliteStore>,
    pub(crate) custodian_signer_pub: Vec<u8>,
    pub(crate) ca: MockCa,
    pub(crate) nsm: MockNsm,
    pub(crate) pcr0: [u8; 48],
    _dir: tempfile::TempDir,
}

/// What the enclave keeps from one attestation: its release key and the evidence digest.
pub(crate) type Attested = cloister_tests::MockRelease;

pub(crate) fn harness() -> Harness {
    let now = UnixTime::now();
    let ca = MockCa::generate(now).expect("mock CA");
    let pcr0 = nitro_measure(b"the measured enclave image");
    let nsm = MockNsm::boot(
        ca.intermediate(),
        BTreeMap::from([(0, pcr0)]),
        "mock-custodian-test".to_owned(),
        now,
    )
    .expect("boot");
    let dir = tempfile::tempdir().expect("dir");
    let signer = Ed25519KeyPair::generate().expect("signer");
    let custodian_pub = signer.public_key().as_ref().try_into().expect("32");
    let pkcs8 = signer.to_pkcs8().expect("pkcs8");
    let store = Arc::new(
        SqliteStore::open(
            &dir.path().join("custodian.db"),
            Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("same key"),
        )
        .expect("store"),
    );
    let custodian = Custodian::new(
        store.clone(),
        KekRing::new(Box::new(FileKek::from_bytes([7; 32])), vec![]),
        signer,
        EvidenceVerifier::new().with_mock_root(ca.root_anchor()),
        30,
        100,
    );
    let state = AppState {
        custodian: Arc::new(custodian),
        admin_tokens: Arc::new(AdminTokens::new([
            ("bank".to_owned(), zeroize::Zeroizing::new(TOKEN.to_owned())),
            (
                "clinic".to_owned(),
                zeroize::Zeroizing::new(OTHER_TOKEN.to_owned()),
            ),
        ])),
        max_body_bytes: MAX_BODY,
    };
    Harness {
        app: app(state.clone()),
        state,
        custodian_pub,
        store,
        custodian_signer_pub: custodian_pub.to_vec(),
        ca,
        nsm,
        pcr0,
        _dir: dir,
    }
}

impl Harness {
    /// Every audit record, after checking the whole chain under the custodian's key.
    pub(crate) fn audit(&self) -> Vec<AuditBody> {
        let mut chain = ChainVerifier::new(&self.custodian_signer_pub);
        self.store
            .audit_records(1, 100_000)
            .expect("records")
            .iter()
            .map(|r| chain.check(r).expect("the chain verifies"))
            .collect()
    }

    /// A trust policy accepting this mock enclave (mock root, PCR0 `pcr0`).
    pub(crate) fn mock_policy(&self, pcr0: [u8; 48]) -> serde_json::Value {
        let policy = TrustPolicy::new()
            .with_mock(
                NitroPolicy::default()
                    .with_pcr(0, pcr0)
                    .expect("pcr")
                    .with_max_age_secs(60)
                    .dangerous_trust_mock_root(self.ca.root_sha256()),
            )
            .expect("mock entry");
        serde_json::from_str(&policy.to_json()).expect("json")
    }

    /// Sends a request; returns the status and the JSON body.
    pub(crate) async fn send(
        &self,
        method: &str,
        uri: &str,
        token: Option<&str>,
        body: Body,
    ) -> (StatusCode, serde_json::Value) {
        let mut req = Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", "application/json");
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let resp = self
            .app
            .clone()
            .oneshot(req.body(body).expect("request"))
            .await
            .expect("infallible");
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .expect("body");
        let json = if bytes.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|e| panic!("{status}: not JSON ({e}): {bytes:?}"))
        };
        (status, json)
    }

    pub(crate) async fn post(
        &self,
        uri: &str,
        body: serde_json::Value,
    ) -> (StatusCode, serde_json::Value) {
        self.send("POST", uri, None, Body::from(body.to_string()))
            .await
    }

    pub(crate) async fn admin(
        &self,
        method: &str,
        uri: &str,
        body: serde_json::Value,
    ) -> (StatusCode, serde_json::Value) {
        self.send(method, uri, Some(TOKEN), Body::from(body.to_string()))
            .await
    }

    /// Registers `key_id` with [`DEK`] under `trust_policy` and `rego`.
    pub(crate) async fn register(
        &self,
        key_id: &str,
        trust_policy: serde_json::Value,
        rego: Option<&str>,
    ) {
        let (status, body) = self
            .admin(
                "PUT",
                &format!("/v1/admin/keys/{key_id}"),
                serde_json::json!({
                    "dek": B64.encode(DEK),
                    "trust_policy": trust_policy,
                    "rego": rego,
                }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }

    pub(crate) async fn challenge(&self, key_id: &str) -> Challenge {
        let (status, body) = self
            .post("/v1/challenge", serde_json::json!({ "key_id": key_id }))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        serde_json::from_value(body).expect("challenge")
    }

    /// The mock enclave's evidence binding a fresh release key to `nonce`, as `platform`.
    pub(crate) fn attest_as(&self, nonce: &[u8], platform: EvidencePlatform) -> Attested {
        cloister_tests::mock_release_bundle(&self.nsm, nonce, platform)
    }

    pub(crate) fn attest(&self, nonce: &[u8]) -> Attested {
        self.attest_as(nonce, EvidencePlatform::Mock)
    }

    pub(crate) async fn release(
        &self,
        key_id: &str,
        attested: &Attested,
    ) -> (StatusCode, serde_json::Value) {
        self.post(
            "/v1/release",
            serde_json::json!({ "key_id": key_id, "bundle": attested.bundle_b64 }),
        )
        .await
    }
}

/// The decoded nonce of a challenge.
pub(crate) fn nonce(c: &Challenge) -> [u8; 32] {
    c.nonce_bytes().expect("nonce")
}

/// Asserts an error body: status, code, and the `{code, message, hint}` shape.
pub(crate) fn assert_refused(
    got: &(StatusCode, serde_json::Value),
    status: StatusCode,
    code: &str,
) {
    assert_eq!(got.0, status, "{}", got.1);
    assert_eq!(got.1["code"], code, "{}", got.1);
    assert!(
        got.1["message"].is_string() && got.1["hint"].is_string(),
        "{}",
        got.1
    );
}
