//! The production guarantees, each against the real binary where a process boundary matters:
//! tenants, the audit chain (tampering found, nothing lost across a kill), KEK rotation while
//! serving, a disabled key never released again, a policy change taking effect at once.

use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use cloister_custodian::audit::AuditKind;

use crate::harness::{OTHER_TOKEN, assert_refused, harness, nonce};
use crate::process::{
    Served, audit_kinds, audit_verify, challenge_over_http, client, edit_config, init, path,
    register_over_http, release_over_http, run,
};

#[tokio::test]
async fn one_tenants_credential_and_policy_never_reach_another_tenants_key() {
    let h = harness();
    // The bank's key pins another workload; the clinic's policy would accept this enclave.
    h.register("bank-model", h.mock_policy([0x99; 48]), None)
        .await;
    let clinic = |method: &'static str, uri: &'static str, body: serde_json::Value| {
        h.send(
            method,
            uri,
            Some(OTHER_TOKEN),
            axum::body::Body::from(body.to_string()),
        )
    };
    let accepting =
        serde_json::json!({ "dek": B64.encode([1; 32]), "trust_policy": h.mock_policy(h.pcr0) });
    let got = clinic("PUT", "/v1/admin/keys/clinic-model", accepting.clone()).await;
    assert_eq!(got.0, StatusCode::CREATED, "{}", got.1);
    assert_eq!(got.1["tenant"], "clinic");

    // The clinic cannot take, replace, re-policy, disable, remove or even see the bank's key.
    let mut replacing = accepting.clone();
    replacing["replace"] = true.into();
    let got = clinic("PUT", "/v1/admin/keys/bank-model", replacing).await;
    assert_refused(&got, StatusCode::CONFLICT, "custodian.key_exists");
    let policy = serde_json::json!({ "trust_policy": h.mock_policy(h.pcr0) });
    let got = clinic("PUT", "/v1/admin/keys/bank-model/policy", policy).await;
    assert_refused(&got, StatusCode::NOT_FOUND, "custodian.unknown_key");
    let got = clinic(
        "PUT",
        "/v1/admin/keys/bank-model/disabled",
        serde_json::json!({"disabled": true}),
    )
    .await;
    assert_refused(&got, StatusCode::NOT_FOUND, "custodian.unknown_key");
    let got = clinic(
        "DELETE",
        "/v1/admin/keys/bank-model",
        serde_json::Value::Null,
    )
    .await;
    assert_refused(&got, StatusCode::NOT_FOUND, "custodian.unknown_key");
    let got = clinic("GET", "/v1/admin/keys", serde_json::Value::Null).await;
    assert_eq!(got.1.as_array().map(Vec::len), Some(1), "{}", got.1);
    assert_eq!(got.1[0]["key_id"], "clinic-model");

    // The enclave the clinic's policy accepts still cannot have the bank's key.
    let c = h.challenge("bank-model").await;
    let got = h.release("bank-model", &h.attest(&nonce(&c))).await;
    assert_refused(&got, StatusCode::FORBIDDEN, "policy.pcr_mismatch");
    let c = h.challenge("clinic-model").await;
    assert_eq!(
        h.release("clinic-model", &h.attest(&nonce(&c))).await.0,
        StatusCode::OK
    );

    // Every refused admin attempt is on the chain, under the tenant that tried.
    let denied_admin = h
        .audit()
        .into_iter()
        .filter(|b| b.event.kind == AuditKind::Denied && b.event.action.is_some())
        .inspect(|b| assert_eq!(b.event.tenant.as_deref(), Some("clinic")))
        .count();
    assert_eq!(denied_admin, 4);
}

#[tokio::test]
async fn a_policy_change_decides_the_next_release_and_a_disabled_key_stays_refused() {
    let h = harness();
    h.register("model-1", h.mock_policy(h.pcr0), None).await;
    // A challenge issued while the old policy held is decided by the new one.
    let c = h.challenge("model-1").await;
    let got = h
        .admin(
            "PUT",
            "/v1/admin/keys/model-1/policy",
            serde_json::json!({ "trust_policy": h.mock_policy([0x55; 48]) }),
        )
        .await;
    assert_eq!(got.1["policy_version"], 2, "{}", got.1);
    let got = h.release("model-1", &h.attest(&nonce(&c))).await;
    assert_refused(&got, StatusCode::FORBIDDEN, "policy.pcr_mismatch");

    h.admin(
        "PUT",
        "/v1/admin/keys/model-1/policy",
        serde_json::json!({ "trust_policy": h.mock_policy(h.pcr0) }),
    )
    .await;
    let c = h.challenge("model-1").await;
    h.admin(
        "PUT",
        "/v1/admin/keys/model-1/disabled",
        serde_json::json!({"disabled": true}),
    )
    .await;
    let got = h.release("model-1", &h.attest(&nonce(&c))).await;
    assert_refused(&got, StatusCode::FORBIDDEN, "custodian.key_disabled");
    let got = h
        .post("/v1/challenge", serde_json::json!({"key_id": "model-1"}))
        .await;
    assert_refused(&got, StatusCode::FORBIDDEN, "custodian.key_disabled");

    let records = h.audit();
    let release = records
        .iter()
        .filter(|b| b.event.kind == AuditKind::Release)
        .count();
    assert_eq!(release, 0);
    let versions: Vec<_> = records
        .iter()
        .filter(|b| b.event.action.as_deref() == Some("set_policy"))
        .map(|b| b.event.policy_version)
        .collect();
    assert_eq!(versions, [Some(2), Some(3)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_record_is_found_and_a_kill_between_challenge_and_release_loses_nothing() {
    let h = harness();
    let (_dir, config, token) = init(&h);
    let served = Served::start(&config);
    register_over_http(&served.addr, &token, "model-1", h.mock_policy(h.pcr0)).await;
    assert_eq!(
        release_over_http(&h, &served.addr, "model-1").await.0,
        StatusCode::OK
    );
    let nonce = challenge_over_http(&served.addr, "model-1").await;
    served.kill();

    // The challenge outlived the kill (it is in the store with its record): the restarted
    // custodian redeems it once, and a replay of the same request is refused.
    let served = Served::start(&config);
    let attested = h.attest(&nonce);
    let send = || {
        client()
            .post(format!("http://{}/v1/release", served.addr))
            .json(&serde_json::json!({ "key_id": "model-1", "bundle": attested.bundle_b64 }))
            .send()
    };
    assert_eq!(send().await.expect("release").status(), StatusCode::OK);
    assert_eq!(send().await.expect("replay").status(), StatusCode::CONFLICT);
    drop(served);

    let (ok, report) = audit_verify(&config);
    assert!(ok, "{report}");
    assert!(report.contains("6 record(s)"), "{report}");
    let kinds = audit_kinds(&config);
    let kind = |k: &str| kinds.iter().filter(|(kind, _)| kind == k).count();
    assert_eq!(
        (
            kind("admin"),
            kind("challenge"),
            kind("release"),
            kind("denied")
        ),
        (1, 2, 2, 1),
        "{kinds:?}"
    );
    assert_eq!(
        kinds[5].1.as_deref(),
        Some("custodian.challenge_used"),
        "{kinds:?}"
    );

    // One edited field of one stored record is found, at that record.
    let db = rusqlite::Connection::open(config.with_file_name("custodian.db")).expect("db");
    db.execute(
        "UPDATE audit SET body = replace(body, '\"kind\":\"release\"', '\"kind\":\"denied\"') WHERE seq = 3",
        [],
    )
    .expect("edit");
    let (ok, report) = audit_verify(&config);
    assert!(!ok, "{report}");
    assert!(
        report.contains("custodian.audit.hash") && report.contains("record 3"),
        "{report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_kek_rewraps_every_key_while_releases_continue() {
    let h = harness();
    let (dir, config, token) = init(&h);
    let served = Served::start(&config);
    for id in ["model-1", "model-2", "model-3"] {
        register_over_http(&served.addr, &token, id, h.mock_policy(h.pcr0)).await;
    }
    drop(served);

    // A new KEK becomes current; the old one only unwraps.
    let new_kek = dir.path().join("c/kek-2.bin");
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&new_kek)
            .expect("kek");
        f.write_all(&[0x5a; 32]).expect("write");
    }
    edit_config(&config, |c| {
        c["previous_keks"] = serde_json::json!([c["kek"].clone()]);
        c["kek"] = serde_json::json!({ "file": "kek-2.bin" });
    });
    let served = Served::start(&config);
    let rotate = {
        let config = config.clone();
        tokio::task::spawn_blocking(move || run(&["rotate-kek", "--config", path(&config)]))
    };
    let mut released = 0;
    while !rotate.is_finished() || released < 6 {
        let key_id = ["model-1", "model-2", "model-3"][released % 3];
        let got = release_over_http(&h, &served.addr, key_id).await;
        assert_eq!(got.0, StatusCode::OK, "{}", got.1);
        released += 1;
    }
    let out = rotate.await.expect("join");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("re-wrapped 3 key(s)"));
    drop(served);

    // The old KEK can go: every key opens under the new one alone.
    edit_config(&config, |c| {
        c.as_object_mut().expect("object").remove("previous_keks");
    });
    std::fs::remove_file(config.with_file_name("kek.bin")).expect("old KEK destroyed");
    let served = Served::start(&config);
    for id in ["model-1", "model-2", "model-3"] {
        assert_eq!(
            release_over_http(&h, &served.addr, id).await.0,
            StatusCode::OK
        );
    }
    let list: serde_json::Value = client()
        .get(format!("http://{}/v1/admin/keys", served.addr))
        .bearer_auth(&token)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    let kek_ids: std::collections::BTreeSet<_> = list
        .as_array()
        .expect("array")
        .iter()
        .map(|k| k["kek_id"].as_str().expect("kek_id").to_owned())
        .collect();
    assert_eq!(kek_ids.len(), 1, "{list}");
    drop(served);
    let (ok, report) = audit_verify(&config);
    assert!(ok, "{report}");
    assert_eq!(
        audit_kinds(&config)
            .iter()
            .filter(|(k, _)| k == "rotate_kek")
            .count(),
        3
    );
}
