//! The API's decisions: each refusal has its own code, and only the happy path yields the key.

use axum::body::Body;
use axum::http::StatusCode;
use cloister_custodian::audit::AuditKind;
use cloister_proto::EvidencePlatform;
use cloister_proto::key_release::{ReleaseDenied, ReleaseResponse, open_release};

use crate::harness::{DEK, TOKEN, assert_refused, harness, nonce};

#[tokio::test]
async fn happy_path_over_loopback_yields_the_registered_dek() {
    let h = harness();
    h.register("model-1", h.mock_policy(h.pcr0), None).await;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(axum::serve(listener, h.app.clone()).into_future());
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(20))
        .build()
        .expect("client");
    let base = format!("http://{addr}");

    let challenge: cloister_proto::key_release::Challenge = client
        .post(format!("{base}/v1/challenge"))
        .json(&serde_json::json!({"key_id": "model-1"}))
        .send()
        .await
        .expect("challenge")
        .json()
        .await
        .expect("json");
    let attested = h.attest(&nonce(&challenge));
    let resp = client
        .post(format!("{base}/v1/release"))
        .json(&serde_json::json!({"key_id": "model-1", "bundle": attested.bundle_b64}))
        .send()
        .await
        .expect("release");
    assert_eq!(resp.status(), 200);
    let response: ReleaseResponse = resp.json().await.expect("json");
    server.abort();

    let dek = open_release(
        &response,
        "model-1",
        &attested.digest,
        &h.custodian_pub,
        &attested.release,
    )
    .expect("opens");
    assert_eq!(dek.expose(), &DEK);
    // Another release key cannot open it.
    let stranger = cloister_proto::key_release::ReleaseKeyPair::generate();
    assert!(
        open_release(
            &response,
            "model-1",
            &attested.digest,
            &h.custodian_pub,
            &stranger
        )
        .is_err()
    );

    let events = h.audit();
    let released = events
        .iter()
        .find(|b| b.event.kind == AuditKind::Release)
        .expect("release recorded");
    assert_eq!(released.event.key_id.as_deref(), Some("model-1"));
    assert_eq!(released.event.tenant.as_deref(), Some("bank"));
    assert_eq!(released.event.platform.as_deref(), Some("mock"));
    assert_eq!(released.event.policy_version, Some(1));
    assert_eq!(
        released.event.evidence_sha384.as_deref(),
        Some(hex::encode(attested.digest).as_str())
    );
    assert_eq!(
        released.event.measurement.as_deref(),
        Some(hex::encode(h.pcr0).as_str())
    );
    // Nothing recorded carries the key.
    assert!(!format!("{events:?}").contains(&hex::encode(DEK)));
}

#[tokio::test]
async fn a_replayed_challenge_is_refused() {
    let h = harness();
    h.register("model-1", h.mock_policy(h.pcr0), None).await;
    let c = h.challenge("model-1").await;
    let attested = h.attest(&nonce(&c));
    assert_eq!(h.release("model-1", &attested).await.0, StatusCode::OK);
    assert_refused(
        &h.release("model-1", &attested).await,
        StatusCode::CONFLICT,
        "custodian.challenge_used",
    );
}

#[tokio::test]
async fn evidence_for_another_nonce_is_refused() {
    let h = harness();
    h.register("model-1", h.mock_policy(h.pcr0), None).await;
    // A nonce this custodian never issued.
    let _ = h.challenge("model-1").await;
    let attested = h.attest(&[9; 32]);
    assert_refused(
        &h.release("model-1", &attested).await,
        StatusCode::FORBIDDEN,
        "custodian.challenge_unknown",
    );
    // An issued nonce in the bundle, but evidence that binds another: the binding check fails.
    let c = h.challenge("model-1").await;
    let other = h.attest(&[8; 32]);
    let mut bundle = cloister_proto::EvidenceBundle::from_cbor(
        &base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            &other.bundle_b64,
        )
        .expect("b64"),
    )
    .expect("bundle");
    bundle.nonce = nonce(&c).to_vec();
    let relabelled = crate::harness::Attested {
        bundle_b64: base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            bundle.to_cbor().expect("cbor"),
        ),
        ..other
    };
    let got = h.release("model-1", &relabelled).await;
    assert_eq!(got.0, StatusCode::FORBIDDEN, "{}", got.1);
    assert!(
        got.1["code"].as_str().expect("code").starts_with("policy."),
        "{}",
        got.1
    );
}

#[tokio::test]
async fn an_unknown_key_id_is_refused() {
    let h = harness();
    assert_refused(
        &h.post("/v1/challenge", serde_json::json!({"key_id": "nope"}))
            .await,
        StatusCode::NOT_FOUND,
        "custodian.unknown_key",
    );
    assert_refused(
        &h.post("/v1/challenge", serde_json::json!({"key_id": "../etc"}))
            .await,
        StatusCode::BAD_REQUEST,
        "custodian.bad_key_id",
    );
    // A challenge for a key removed before the release.
    h.register("gone", h.mock_policy(h.pcr0), None).await;
    let c = h.challenge("gone").await;
    assert_eq!(
        h.admin("DELETE", "/v1/admin/keys/gone", serde_json::Value::Null)
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    assert_refused(
        &h.release("gone", &h.attest(&nonce(&c))).await,
        StatusCode::NOT_FOUND,
        "custodian.unknown_key",
    );
}

#[tokio::test]
async fn a_key_pinning_another_measurement_is_refused_by_that_check() {
    let h = harness();
    h.register("model-1", h.mock_policy([0x99; 48]), None).await;
    let c = h.challenge("model-1").await;
    let got = h.release("model-1", &h.attest(&nonce(&c))).await;
    assert_refused(&got, StatusCode::FORBIDDEN, "policy.pcr_mismatch");
    assert_eq!(got.1["rule"], "policy.pcr_mismatch");
    assert!(h.audit().iter().any(|b| b.event.kind == AuditKind::Denied
        && b.event.code.as_deref() == Some("policy.pcr_mismatch")));
}

#[tokio::test]
async fn a_rego_deny_names_its_reason() {
    let h = harness();
    let rego = r#"package cloister.release
        default allow := false
        allow if input.platform == "mock"
        deny contains "mock enclaves are for CI only" if input.key_id == "prod-model""#;
    h.register("prod-model", h.mock_policy(h.pcr0), Some(rego))
        .await;
    h.register("ci-model", h.mock_policy(h.pcr0), Some(rego))
        .await;
    let c = h.challenge("prod-model").await;
    let got = h.release("prod-model", &h.attest(&nonce(&c))).await;
    assert_refused(&got, StatusCode::FORBIDDEN, "custodian.rego_denied");
    let denied: ReleaseDenied = serde_json::from_value(got.1).expect("shape");
    assert_eq!(
        denied.rule.as_deref(),
        Some("deny: mock enclaves are for CI only")
    );
    // The same rule allows the other key.
    let c = h.challenge("ci-model").await;
    assert_eq!(
        h.release("ci-model", &h.attest(&nonce(&c))).await.0,
        StatusCode::OK
    );
    // A rule whose allow stays false.
    let never = "package cloister.release\ndefault allow := false";
    h.register("never", h.mock_policy(h.pcr0), Some(never))
        .await;
    let c = h.challenge("never").await;
    let got = h.release("never", &h.attest(&nonce(&c))).await;
    assert_refused(&got, StatusCode::FORBIDDEN, "custodian.rego_not_allowed");
    assert_eq!(got.1["rule"], "allow");
}

#[tokio::test]
async fn the_admin_api_needs_the_token() {
    let h = harness();
    let body = || Body::from(serde_json::json!({"dek": "AAAA", "trust_policy": {}}).to_string());
    for token in [None, Some("wrong"), Some(&TOKEN[..TOKEN.len() - 1])] {
        let got = h.send("PUT", "/v1/admin/keys/k", token, body()).await;
        assert_refused(&got, StatusCode::UNAUTHORIZED, "custodian.unauthorized");
    }
    let got = h
        .send("GET", "/v1/admin/keys", Some("wrong"), Body::empty())
        .await;
    assert_refused(&got, StatusCode::UNAUTHORIZED, "custodian.unauthorized");
}

#[tokio::test]
async fn a_ten_megabyte_release_body_is_refused_with_413_json() {
    let h = harness();
    let huge = format!(
        r#"{{"key_id":"model-1","bundle":"{}"}}"#,
        "A".repeat(10 * 1024 * 1024)
    );
    let got = h.send("POST", "/v1/release", None, Body::from(huge)).await;
    assert_refused(
        &got,
        StatusCode::PAYLOAD_TOO_LARGE,
        "custodian.body_too_large",
    );
    // Admin routes too (after the token check).
    let got = h
        .send(
            "PUT",
            "/v1/admin/keys/k",
            Some(TOKEN),
            Body::from(vec![b' '; 1024 * 1024]),
        )
        .await;
    assert_refused(
        &got,
        StatusCode::PAYLOAD_TOO_LARGE,
        "custodian.body_too_large",
    );
}

#[tokio::test]
async fn a_bundle_claiming_an_unlisted_platform_is_refused() {
    let h = harness();
    h.register("model-1", h.mock_policy(h.pcr0), None).await;
    // The bundle says TDX; the key's policy lists only the mock platform.
    let c = h.challenge("model-1").await;
    let got = h
        .release("model-1", &h.attest_as(&nonce(&c), EvidencePlatform::Tdx))
        .await;
    assert_refused(&got, StatusCode::FORBIDDEN, "policy.platform_not_allowed");
    // A key whose policy lists only real Nitro refuses mock evidence, whatever the label.
    let nitro_only = serde_json::json!({"nitro": {"pcrs": {"0": hex::encode(h.pcr0)}}});
    h.register("nitro-key", nitro_only, None).await;
    let c = h.challenge("nitro-key").await;
    let got = h.release("nitro-key", &h.attest(&nonce(&c))).await;
    assert_refused(&got, StatusCode::FORBIDDEN, "policy.platform_not_allowed");
    let c = h.challenge("nitro-key").await;
    let got = h
        .release(
            "nitro-key",
            &h.attest_as(&nonce(&c), EvidencePlatform::Nitro),
        )
        .await;
    assert_refused(&got, StatusCode::FORBIDDEN, "evidence.platform_mismatch");
}

#[tokio::test]
async fn registration_is_checked_whole_before_anything_is_stored() {
    let h = harness();
    let reg = |policy: serde_json::Value, rego: Option<&str>, dek: &str| serde_json::json!({"dek": dek, "trust_policy": policy, "rego": rego});
    let dek = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, DEK);
    let cases = [
        (
            reg(
                h.mock_policy(h.pcr0),
                Some("package x\nallow := true"),
                &dek,
            ),
            "custodian.rego.wrong_package",
        ),
        (
            reg(
                h.mock_policy(h.pcr0),
                Some("package cloister.release\nallow if {"),
                &dek,
            ),
            "custodian.rego.compile",
        ),
        (
            reg(serde_json::json!({"nitro": {}}), None, &dek),
            "custodian.invalid_trust_policy",
        ),
        (
            reg(h.mock_policy(h.pcr0), None, "AAAA"),
            "custodian.bad_dek",
        ),
    ];
    for (body, code) in cases {
        let got = h.admin("PUT", "/v1/admin/keys/k", body).await;
        assert_refused(&got, StatusCode::BAD_REQUEST, code);
    }
    let (_, list) = h
        .admin("GET", "/v1/admin/keys", serde_json::Value::Null)
        .await;
    assert_eq!(list, serde_json::json!([]));

    h.register("k", h.mock_policy(h.pcr0), None).await;
    let got = h
        .admin(
            "PUT",
            "/v1/admin/keys/k",
            reg(h.mock_policy(h.pcr0), None, &dek),
        )
        .await;
    assert_refused(&got, StatusCode::CONFLICT, "custodian.key_exists");
    // A policy change that fails leaves the old policy in force.
    let got = h
        .admin(
            "PUT",
            "/v1/admin/keys/k/policy",
            serde_json::json!({"trust_policy": h.mock_policy(h.pcr0), "rego": "nonsense"}),
        )
        .await;
    assert_refused(&got, StatusCode::BAD_REQUEST, "custodian.rego.compile");
    let c = h.challenge("k").await;
    assert_eq!(
        h.release("k", &h.attest(&nonce(&c))).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_disabled_key_is_refused_until_enabled() {
    let h = harness();
    h.register("k", h.mock_policy(h.pcr0), None).await;
    let c = h.challenge("k").await;
    let (status, summary) = h
        .admin(
            "PUT",
            "/v1/admin/keys/k/disabled",
            serde_json::json!({"disabled": true}),
        )
        .await;
    assert_eq!(
        (status, &summary["disabled"]),
        (StatusCode::OK, &serde_json::json!(true))
    );
    assert_refused(
        &h.release("k", &h.attest(&nonce(&c))).await,
        StatusCode::FORBIDDEN,
        "custodian.key_disabled",
    );
    assert_refused(
        &h.post("/v1/challenge", serde_json::json!({"key_id": "k"}))
            .await,
        StatusCode::FORBIDDEN,
        "custodian.key_disabled",
    );
    h.admin(
        "PUT",
        "/v1/admin/keys/k/disabled",
        serde_json::json!({"disabled": false}),
    )
    .await;
    let c = h.challenge("k").await;
    assert_eq!(
        h.release("k", &h.attest(&nonce(&c))).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn malformed_requests_get_the_json_error_shape() {
    let h = harness();
    for (uri, body) in [
        ("/v1/challenge", "not json"),
        ("/v1/challenge", r#"{"key_id":"k","extra":1}"#),
        ("/v1/release", r#"{"key_id":"k"}"#),
    ] {
        let got = h.send("POST", uri, None, Body::from(body)).await;
        assert_refused(&got, StatusCode::BAD_REQUEST, "custodian.bad_request");
    }
    h.register("k", h.mock_policy(h.pcr0), None).await;
    let got = h
        .post(
            "/v1/release",
            serde_json::json!({"key_id": "k", "bundle": "!!"}),
        )
        .await;
    assert_refused(&got, StatusCode::BAD_REQUEST, "custodian.bad_bundle");
    let got = h.send("GET", "/nowhere", None, Body::empty()).await;
    assert_refused(&got, StatusCode::NOT_FOUND, "custodian.not_found");
    assert_eq!(h.state.max_body_bytes, crate::harness::MAX_BODY);
}
