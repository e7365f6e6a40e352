//! Whole-system tests: the real enclave, host and client, as separate processes.
#![allow(
    clippy::expect_used,
    reason = "integration tests: a helper outside a #[test] fn panicking is the calling test failing"
)]

use cloister_tests as support;

mod ohttp_probe;

use std::io::Write;
use std::process::Command;

use cloister_attestation::UnixTime;
use cloister_client::ClientError;
use cloister_client::session::{Session, seal_request};
use cloister_client::verify::{TrustConfig, verify_bundle};
use cloister_proto::frame::{self, MAX_FRAME_LEN};
use cloister_proto::{Envelope, Message};
use cloister_tests::{System, bin, sample_input};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt")
}

#[test]
fn attested_inference_end_to_end() {
    let sys = System::start();
    rt().block_on(async {
        let s = Session::new(&sys.host_url).expect("session");
        let enclave = s
            .attest(&sys.trust(), UnixTime::now())
            .await
            .expect("attest");
        assert_eq!(enclave.appraised().claims().platform.as_str(), "mock");
        let r = s
            .infer(&enclave, "credit-risk-v1", &sample_input(), UnixTime::now())
            .await
            .expect("infer");
        let out: serde_json::Value = serde_json::from_slice(r.output()).expect("json");
        let p = out["default_probability"].as_f64().expect("probability");
        assert!((0.0..=1.0).contains(&p), "{p}");
        assert_eq!(r.statement().model_id, "credit-risk-v1");
    });
}

/// The host must never see a request or a result: a canary in the request (an unknown field, whose
/// name the enclave's error message repeats) and distinctive feature values appear nowhere in
/// the host's trace-level log or in any plaintext response the host served.
#[test]
fn host_never_sees_request_or_result_plaintext() {
    const CANARY: &str = "CANARY_7f3a9c_do_not_leak";
    let sys = System::start();
    let mut host_bodies: Vec<Vec<u8>> = vec![];
    let (rejected_code, result_text) = rt().block_on(async {
        let s = Session::new(&sys.host_url).expect("session");
        let enclave = s
            .attest(&sys.trust(), UnixTime::now())
            .await
            .expect("attest");
        host_bodies.push(enclave.bundle().to_cbor().expect("cbor"));
        let mut bad: serde_json::Value = serde_json::from_slice(&sample_input()).expect("json");
        bad["features"][CANARY] = serde_json::json!(1.0);
        let err = s
            .infer(
                &enclave,
                "credit-risk-v1",
                bad.to_string().as_bytes(),
                UnixTime::now(),
            )
            .await
            .expect_err("unknown feature accepted");
        let code = err.code();
        let mut good: serde_json::Value = serde_json::from_slice(&sample_input()).expect("json");
        good["features"]["income_k"] = serde_json::json!(73.123457);
        let r = s
            .infer(
                &enclave,
                "credit-risk-v1",
                good.to_string().as_bytes(),
                UnixTime::now(),
            )
            .await
            .expect("infer");
        // The same request through raw HTTP, to keep the host's exact response bytes.
        let (enc, _pending) =
            seal_request(&enclave, "credit-risk-v1", CANARY.as_bytes()).expect("seal");
        let raw = reqwest::Client::new()
            .post(format!("{}/v1/infer", sys.host_url))
            .header("content-type", "message/ohttp-req")
            .body(enc)
            .send()
            .await
            .expect("post");
        host_bodies.push(raw.bytes().await.expect("body").to_vec());
        (code, String::from_utf8_lossy(r.output()).into_owned())
    });
    // The caller itself learns why its request failed...
    assert_eq!(rejected_code, "inference.unknown_feature");
    let log = sys.host_log();
    assert!(
        log.contains("/v1/infer"),
        "host log is empty or not at trace level"
    );
    // ...but the host does not.
    for needle in [
        CANARY,
        "73.123457",
        result_text.as_str(),
        "default_probability",
        "income_k",
    ] {
        assert!(!log.contains(needle), "host log leaks {needle:?}");
        for body in &host_bodies {
            assert!(
                !String::from_utf8_lossy(body).contains(needle),
                "host response leaks {needle:?}"
            );
        }
    }
    let enclave_log = sys.enclave_log();
    for needle in [CANARY, "73.123457", result_text.as_str()] {
        assert!(
            !enclave_log.contains(needle),
            "enclave log leaks {needle:?}"
        );
    }
}

#[test]
fn tampered_or_replayed_evidence_is_rejected_before_sending() {
    let sys = System::start();
    let trust = sys.trust();
    rt().block_on(async {
        let nonce = [7u8; 32];
        let session = Session::new(&sys.host_url).expect("session");
        let bundle = session.fetch_evidence(&nonce).await.expect("evidence");
        let now = UnixTime::now();
        verify_bundle(&trust, bundle.clone(), &nonce, now).expect("untampered bundle verifies");

        let mut b = bundle.clone();
        let mid = b.evidence.len() / 2;
        b.evidence[mid] ^= 1;
        assert!(matches!(
            verify_bundle(&trust, b, &nonce, now),
            Err(ClientError::Attestation(_))
        ));

        let mut b = bundle.clone();
        b.kem_pub[0] ^= 1; // a host substituting its own key
        let e = verify_bundle(&trust, b, &nonce, now).expect_err("substituted key accepted");
        assert_eq!(e.code(), "policy.binding_mismatch");

        let e = verify_bundle(&trust, bundle.clone(), &[8u8; 32], now)
            .expect_err("replayed evidence accepted");
        assert_eq!(e.code(), "bundle.nonce_mismatch");

        // `{}` accepts nothing, the demo's mock enclave included.
        let untrusting = TrustConfig::new(Default::default());
        let e = verify_bundle(&untrusting, bundle, &nonce, now)
            .expect_err("default trust accepted mock");
        assert_eq!(e.code(), "policy.platform_not_allowed");
    });
    // Nothing but attestation reached the host.
    assert!(!sys.host_log().contains("/v1/infer"));
}

#[test]
fn bad_requests_get_typed_errors_and_the_enclave_keeps_serving() {
    let mut sys = System::start();
    rt().block_on(async {
        let http = reqwest::Client::new();
        // Malformed OHTTP: rejected by the enclave, plaintext code, no payload.
        let resp = http
            .post(format!("{}/v1/infer", sys.host_url))
            .header("content-type", "message/ohttp-req")
            .body(vec![0x01, 0x00, 0x20, 0xde, 0xad])
            .send()
            .await
            .expect("post");
        assert_eq!(resp.status(), 400);
        let body: serde_json::Value = resp.json().await.expect("json");
        assert_eq!(body["error"]["code"], "ohttp.decapsulate");
        // Wrong media type and bad nonces: rejected by the host.
        let resp = http
            .post(format!("{}/v1/infer", sys.host_url))
            .body("x")
            .send()
            .await
            .expect("post");
        assert_eq!(resp.status(), 415);
        for q in [
            "",
            "?nonce=zz",
            "?nonce=00",
            &format!("?nonce={}", "00".repeat(300)),
        ] {
            let resp = reqwest::get(format!("{}/v1/attestation{q}", sys.host_url))
                .await
                .expect("get");
            assert_eq!(resp.status(), 400, "{q}");
            let body: serde_json::Value = resp.json().await.expect("json");
            assert_eq!(body["error"]["code"], "host.bad_nonce");
        }
        // Unknown model: refused inside the encrypted channel.
        let s = Session::new(&sys.host_url).expect("session");
        let enclave = s
            .attest(&sys.trust(), UnixTime::now())
            .await
            .expect("attest");
        let e = s
            .infer(&enclave, "no-such-model", &sample_input(), UnixTime::now())
            .await
            .expect_err("unknown model");
        assert_eq!(e.code(), "request.unknown_model");
        // An oversized frame straight to the enclave: typed error, connection closed.
        let mut raw = tokio::net::UnixStream::connect(sys.socket())
            .await
            .expect("connect");
        tokio::io::AsyncWriteExt::write_all(&mut raw, &((MAX_FRAME_LEN + 1) as u32).to_be_bytes())
            .await
            .expect("write");
        let answer = frame::read(&mut raw, MAX_FRAME_LEN)
            .await
            .expect("answer")
            .expect("frame");
        match answer.msg {
            Message::Error(e) => assert_eq!(e.code, "proto.frame_too_large"),
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(
            frame::read(&mut raw, MAX_FRAME_LEN).await.expect("eof"),
            None
        );
        // A truncated frame from another client changes nothing either.
        let mut raw = tokio::net::UnixStream::connect(sys.socket())
            .await
            .expect("connect");
        tokio::io::AsyncWriteExt::write_all(&mut raw, &[0, 0, 0, 50, 1, 2])
            .await
            .expect("write");
        drop(raw);
        // After all that, a good request still works, through the host and directly.
        s.infer(&enclave, "credit-risk-v1", &sample_input(), UnixTime::now())
            .await
            .expect("still serving");
        let mut direct = tokio::net::UnixStream::connect(sys.socket())
            .await
            .expect("connect");
        frame::write(
            &mut direct,
            &Envelope::new(9, Message::AttestRequest { nonce: vec![1; 32] }),
        )
        .await
        .expect("write");
        let env = frame::read(&mut direct, MAX_FRAME_LEN)
            .await
            .expect("read")
            .expect("frame");
        assert_eq!(env.id, 9);
        assert!(matches!(env.msg, Message::Evidence(_)));
    });
    assert!(sys.enclave_alive());
}

#[test]
fn a_changed_enclave_binary_changes_pcr0_and_is_refused() {
    let original = bin("cloister-enclave");
    let dir = tempfile::tempdir().expect("tmp");
    let modified = dir.path().join("cloister-enclave");
    std::fs::copy(&original, &modified).expect("copy");
    // Appending bytes leaves the ELF runnable but changes its measurement.
    std::fs::OpenOptions::new()
        .append(true)
        .open(&modified)
        .expect("open")
        .write_all(b"tampered")
        .expect("append");
    let sys = System::start_with(&modified, &[]);
    rt().block_on(async {
        let s = Session::new(&sys.host_url).expect("session");
        // policy.json pins PCR0 of the original binary.
        let e = s
            .attest(&sys.trust(), UnixTime::now())
            .await
            .expect_err("modified enclave accepted");
        assert_eq!(e.code(), "policy.pcr_mismatch");
    });
    assert!(!sys.host_log().contains("/v1/infer"));
}

#[test]
fn cli_infer_verifies_and_prints_the_signed_result() {
    let sys = System::start();
    let out = Command::new(bin("cloister"))
        .args(["infer", "--host", &sys.host_url, "--json", "--input"])
        .arg(support::model_dir().join("sample-input.json"))
        .arg("--policy")
        .arg(sys.policy_path())
        .arg("--mock-root")
        .arg(sys.root_pem())
        .output()
        .expect("cloister infer");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["verdict"], "accepted");
    assert!(v["result"]["default_probability"].is_number());
    assert_eq!(v["verified"]["platform"], "mock");

    // The empty trust policy refuses, with exit 1, before sending input.
    let empty = sys.dir.path().join("empty-policy.json");
    std::fs::write(&empty, "{}").expect("write");
    let out = Command::new(bin("cloister"))
        .args([
            "infer",
            "--host",
            &sys.host_url,
            "--input",
            r#"{"features":{}}"#,
        ])
        .arg("--policy")
        .arg(&empty)
        .arg("--mock-root")
        .arg(sys.root_pem())
        .output()
        .expect("cloister infer");
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("policy.platform_not_allowed"), "{stderr}");
    assert!(stderr.contains("your input was not sent"), "{stderr}");
}

#[test]
fn cli_attest_verify_accepts_mock_evidence_only_with_its_root_and_policy() {
    let sys = System::start();
    let bundle = rt().block_on(async {
        let session = Session::new(&sys.host_url).expect("session");
        session.fetch_evidence(&[0xab; 32]).await.expect("evidence")
    });

    let doc = sys.dir.path().join("doc.cose");
    std::fs::write(&doc, &bundle.evidence).expect("write");
    let run = |extra: &[&std::ffi::OsStr]| {
        Command::new(bin("cloister"))
            .args(["attest", "verify"])
            .arg(&doc)
            .args(extra)
            .output()
            .expect("run")
            .status
            .code()
    };
    let root = sys.root_pem();
    let policy = sys.policy_path();
    assert_eq!(run(&[]), Some(1), "mock evidence accepted without its root");
    assert_eq!(
        run(&["--root".as_ref(), root.as_os_str()]),
        Some(1),
        "mock accepted by the default policy"
    );
    assert_eq!(
        run(&[
            "--root".as_ref(),
            root.as_os_str(),
            "--policy".as_ref(),
            policy.as_os_str()
        ]),
        Some(0)
    );
    assert_eq!(run(&["--at".as_ref(), "not-a-time".as_ref()]), Some(2));
}

/// The inner Binary HTTP request the client sends (client/src/session.rs), built here so the
/// probe can encapsulate it with keys the test can see.
fn inner_request(evidence_sha384: &[u8], model_id: &str, input: &[u8]) -> Vec<u8> {
    let mut msg = bhttp::Message::request(
        b"POST".to_vec(),
        b"https".to_vec(),
        b"enclave".to_vec(),
        cloister_proto::api::inner_infer_path(model_id).into_bytes(),
    );
    msg.put_header("content-type", "application/json");
    msg.put_header(
        cloister_proto::api::HEADER_EVIDENCE_DIGEST,
        hex::encode(evidence_sha384),
    );
    msg.write_content(input);
    let mut out = Vec::new();
    msg.write_bhttp(bhttp::Mode::KnownLength, &mut out)
        .expect("bhttp");
    out
}

/// POSTs an encapsulated request through the host; the status and the exact body bytes.
async fn post_raw(host_url: &str, body: Vec<u8>) -> (u16, Vec<u8>) {
    let resp = reqwest::Client::new()
        .post(format!("{host_url}/v1/infer"))
        .header("content-type", "message/ohttp-req")
        .body(body)
        .send()
        .await
        .expect("post");
    let status = resp.status().as_u16();
    (status, resp.bytes().await.expect("body").to_vec())
}

/// An out-of-range input (see enclave/src/inference/tests.rs): income above the manifest's range.
fn out_of_range_input() -> Vec<u8> {
    let mut v: serde_json::Value = serde_json::from_slice(&sample_input()).expect("json");
    v["features"]["income_k"] = serde_json::json!(400.01);
    v.to_string().into_bytes()
}

/// Issue 11, item 8: the enclave at the most verbose level it allows (`--log-level info`), and
/// with `RUST_LOG=trace` in its environment (which it must ignore), logs no key material.
/// The caller derives every secret of its requests and responses itself (HPKE by hand in
/// `ohttp_probe`; the `ohttp` crate's `ClientResponse` does not expose its keys) and the test
/// searches the enclave's log for each, in hex, base64 and `Debug` form; also for the markers of
/// the `ohttp` crate's HKDF trace, tract's parameter dump, and any inner outcome.
#[test]
fn enclave_log_holds_no_key_material_at_its_most_verbose_level() {
    let sys = System::start_configured(
        &bin("cloister-enclave"),
        &["--log-level", "info"],
        &[("RUST_LOG", "trace")],
        &[],
    );
    let mut secrets: Vec<Vec<u8>> = vec![];
    rt().block_on(async {
        let s = Session::new(&sys.host_url).expect("session");
        let enclave = s
            .attest(&sys.trust(), UnixTime::now())
            .await
            .expect("attest");
        let key_id = enclave.bundle().ohttp_key_id;
        let cases = [
            (sample_input(), 200, None),
            (out_of_range_input(), 422, Some("inference.out_of_range")),
            (sample_input(), 200, None),
        ];
        for (input, want_status, want_code) in cases {
            let inner = inner_request(enclave.evidence_digest(), "credit-risk-v1", &input);
            let probe = ohttp_probe::encapsulate(key_id, enclave.kem_pub(), &inner);
            let (status, body) = post_raw(&sys.host_url, probe.encapsulated.clone()).await;
            assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
            let opened = probe.open(&body);
            let msg = bhttp::Message::read_bhttp(&mut std::io::Cursor::new(&opened.plaintext[..]))
                .expect("padded bhttp response");
            assert_eq!(
                msg.control().status().map(u16::from),
                Some(want_status),
                "inner status"
            );
            assert_eq!(
                msg.header()
                    .get(cloister_proto::api::HEADER_ERROR_CODE.as_bytes())
                    .map(|c| String::from_utf8_lossy(c).into_owned())
                    .as_deref(),
                want_code
            );
            secrets.extend(probe.secrets);
            secrets.extend(opened.secrets);
            secrets.push(body);
            secrets.push(opened.plaintext);
            secrets.push(inner);
        }
        // And through the ordinary client too.
        s.infer(&enclave, "credit-risk-v1", &sample_input(), UnixTime::now())
            .await
            .expect("infer");
    });
    let log = sys.enclave_log();
    // The log is the real, most verbose one: boot facts and one line per served request.
    assert!(log.contains("model loaded"), "enclave log is empty:\n{log}");
    assert!(
        log.matches("request served").count() >= 5,
        "no per-request line at info:\n{log}"
    );
    for line in log.lines() {
        for marker in [
            "okm",
            "prk",
            "hkdf",
            "HKDF",
            "ohttp::",
            "ohttp",
            "tract",
            "Initializer",
            "DEBUG",
            "TRACE",
            "inference.",
            "request.",
            "out_of_range",
            "default_probability",
            "income_k",
        ] {
            assert!(
                !line.contains(marker),
                "enclave log line holds {marker:?}: {line}"
            );
        }
    }
    // Model ids only at boot: one "model loaded" line names it, nothing per request.
    assert_eq!(log.matches("credit-risk-v1").count(), 1, "{log}");
    for secret in &secrets {
        for needle in ohttp_probe::renderings(secret) {
            assert!(
                !log.contains(&needle),
                "enclave log holds key material or response bytes ({needle})"
            );
        }
    }
}

/// Issue 11, item 5: the host relays the same encapsulated request twice; the enclave serves
/// it once and refuses the copy with `ohttp.replayed` (plaintext, nothing secret in it).
#[test]
fn a_replayed_ohttp_request_is_refused() {
    let sys = System::start();
    rt().block_on(async {
        let s = Session::new(&sys.host_url).expect("session");
        let enclave = s
            .attest(&sys.trust(), UnixTime::now())
            .await
            .expect("attest");
        let (enc, pending) =
            seal_request(&enclave, "credit-risk-v1", &sample_input()).expect("seal");
        let (status, first) = post_raw(&sys.host_url, enc.clone()).await;
        assert_eq!(status, 200);
        pending
            .open(&first, &enclave, UnixTime::now())
            .expect("first answer verifies");
        let (status, second) = post_raw(&sys.host_url, enc).await;
        assert_eq!(status, 400);
        let body: serde_json::Value = serde_json::from_slice(&second).expect("json");
        assert_eq!(body["error"]["code"], "ohttp.replayed");
        // The enclave keeps serving fresh requests.
        s.infer(&enclave, "credit-risk-v1", &sample_input(), UnixTime::now())
            .await
            .expect("fresh request");
    });
}

/// Issue 11, item 5: a valid input and an out-of-range one give encrypted responses of equal
/// length, so the host cannot tell from a length which check an input failed.
#[test]
fn results_and_errors_have_equal_encrypted_length() {
    let sys = System::start();
    rt().block_on(async {
        let s = Session::new(&sys.host_url).expect("session");
        let enclave = s
            .attest(&sys.trust(), UnixTime::now())
            .await
            .expect("attest");
        let mut lengths = vec![];
        for (model, input, ok) in [
            ("credit-risk-v1", sample_input(), true),
            ("credit-risk-v1", out_of_range_input(), false),
            ("no-such-model", sample_input(), false),
        ] {
            let (enc, pending) = seal_request(&enclave, model, &input).expect("seal");
            let (status, body) = post_raw(&sys.host_url, enc).await;
            assert_eq!(status, 200);
            lengths.push(body.len());
            let r = pending.open(&body, &enclave, UnixTime::now());
            assert_eq!(r.is_ok(), ok, "{model}: {:?}", r.err());
        }
        assert!(
            lengths.iter().all(|&l| l == lengths[0]),
            "lengths differ: {lengths:?}"
        );
        assert_eq!(
            lengths[0],
            32 + cloister_proto::padding::BUCKETS[0] + 16,
            "not padded to the first bucket"
        );
    });
}

/// Issue 11, item 5: the bundle lists every served model with its digest, signed by the
/// attested `sig_pub`; a host that edits the list breaks the signature.
#[test]
fn evidence_carries_served_models_signed_by_the_attested_key() {
    use aws_lc_rs::signature::{ED25519, UnparsedPublicKey};
    let sys = System::start();
    rt().block_on(async {
        let s = Session::new(&sys.host_url).expect("session");
        let enclave = s
            .attest(&sys.trust(), UnixTime::now())
            .await
            .expect("attest");
        let b = enclave.bundle();
        let key = UnparsedPublicKey::new(&ED25519, enclave.sig_pub());
        key.verify(&b.served_models.signing_bytes(), &b.served_models_signature)
            .expect("served models signature");
        let digest = b
            .served_models
            .sha384_of("credit-risk-v1")
            .expect("demo model listed")
            .to_vec();
        let r = s
            .infer(&enclave, "credit-risk-v1", &sample_input(), UnixTime::now())
            .await
            .expect("infer");
        assert_eq!(r.statement().model_sha384, digest);
        let mut edited = b.served_models.clone();
        edited.models[0].sha384[0] ^= 1;
        assert!(
            key.verify(&edited.signing_bytes(), &b.served_models_signature)
                .is_err()
        );
    });
}

/// A trust policy that pins model digests: the client compares them with the list the enclave
/// signed with its attested key, before any input is encrypted. A wrong digest or an unpinned
/// model stops the call with nothing sent; the right digest goes through.
#[test]
fn pinned_model_digests_are_checked_before_input_is_sent() {
    let sys = System::start();
    let base = std::fs::read(sys.policy_path()).expect("policy");
    let base = cloister_attestation::TrustPolicy::from_json(&base).expect("mock init's policy");
    let trust_with = |policy: cloister_attestation::TrustPolicy| {
        TrustConfig::new(policy).with_mock_root(
            cloister_attestation::nitro::TrustAnchor::from_pem(
                cloister_attestation::Platform::Mock,
                std::fs::read_to_string(sys.root_pem())
                    .expect("root")
                    .as_bytes(),
            )
            .expect("anchor"),
        )
    };
    rt().block_on(async {
        let s = Session::new(&sys.host_url).expect("session");
        let served = s
            .attest(&sys.trust(), UnixTime::now())
            .await
            .expect("attest")
            .served_model_sha384("credit-risk-v1")
            .expect("the enclave serves the demo model")
            .to_vec();
        let served: [u8; 48] = served.try_into().expect("48 bytes");
        let mut other = served;
        other[0] ^= 1;
        for (policy, code) in [
            (
                base.clone().with_model("credit-risk-v1", other),
                "policy.model_digest_mismatch",
            ),
            (
                base.clone().with_model("another-model", served),
                "policy.model_not_pinned",
            ),
        ] {
            let trust = trust_with(policy);
            let enclave = s.attest(&trust, UnixTime::now()).await.expect("attest");
            let e = s
                .infer(&enclave, "credit-risk-v1", &sample_input(), UnixTime::now())
                .await
                .expect_err("model pin ignored");
            assert_eq!(e.code(), code);
        }
        assert!(
            !sys.host_log().contains("/v1/infer"),
            "input was sent to an enclave whose model the policy does not pin"
        );
        let trust = trust_with(base.clone().with_model("credit-risk-v1", served));
        let enclave = s.attest(&trust, UnixTime::now()).await.expect("attest");
        let result = s
            .infer(&enclave, "credit-risk-v1", &sample_input(), UnixTime::now())
            .await
            .expect("pinned digest matches");
        assert_eq!(result.statement().model_sha384, served.to_vec());
    });
}

#[test]
fn the_host_exports_metrics_and_its_openapi_description_without_payloads() {
    let sys = System::start();
    rt().block_on(async {
        let nonce = "ab".repeat(32);
        let resp = reqwest::get(format!("{}/v1/attestation?nonce={nonce}", sys.host_url))
            .await
            .expect("attestation");
        assert_eq!(resp.status(), 200);
        let resp = reqwest::get(format!("{}/metrics", sys.host_url))
            .await
            .expect("metrics");
        assert_eq!(resp.status(), 200);
        assert!(
            resp.headers()["content-type"]
                .to_str()
                .expect("ascii")
                .starts_with("application/openmetrics-text")
        );
        let text = resp.text().await.expect("text");
        assert!(
            text.contains(
                "cloister_host_requests_total{route=\"/v1/attestation\",status=\"200\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains("cloister_host_enclave_reconnects_total"),
            "{text}"
        );
        assert!(text.contains("cloister_host_relay_refused_total"), "{text}");
        // Labels are route patterns: the caller's nonce appears nowhere.
        assert!(!text.contains(&nonce), "{text}");
        let spec: serde_json::Value = reqwest::get(format!("{}/openapi.json", sys.host_url))
            .await
            .expect("openapi")
            .json()
            .await
            .expect("json");
        assert_eq!(spec["openapi"], "3.0.3");
        assert!(spec["paths"]["/v1/infer"]["post"].is_object());
    });
}
