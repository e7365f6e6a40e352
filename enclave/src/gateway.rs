//! The OHTTP gateway (RFC 9458 §4): opens a caller's request, runs it, and seals the answer to
//! that caller's HPKE context.
//!
//! Everything that fails *before* decapsulation is answered with a plaintext [`WireError`] that
//! the host may see (it names no content). Everything that fails *after* is answered inside the
//! encrypted response, as a Binary HTTP error with a `cloister-error` code, so the host learns
//! nothing about the request, not even why it failed: results and errors alike are padded with
//! zero bytes (RFC 9292 §3.8) to the sizes of [`cloister_proto::padding`] before they are sealed,
//! so their lengths do not tell them apart either. Nothing about the outcome is logged.
//!
//! A request is opened at most once: after decapsulation its HPKE `enc` goes into the replay
//! cache ([`crate::ledger::ReplayCache`]); the same encapsulated request again is refused with a
//! plaintext `ohttp.replayed` (the host that replayed it learns nothing it did not know), and a
//! cache full of live entries refuses new requests with `enclave.busy`.

use std::io::Cursor;
use std::time::Instant;

use cloister_proto::api::{HEADER_ERROR_CODE, HEADER_EVIDENCE_DIGEST, MEDIA_SIGNED_RESULT};
use cloister_proto::result::STATEMENT_VERSION;
use cloister_proto::{DIGEST_LEN, ResultStatement, SignedResult, WireError, padding, sha384};
use zeroize::Zeroizing;

use crate::EnclaveRuntime;
use crate::inference::InferenceError;
use crate::ledger::REPLAY_KEY_LEN;

/// Largest encapsulated request the gateway opens.
pub const MAX_OHTTP_REQUEST_LEN: usize = 256 * 1024;

/// An error inside the encrypted channel: an HTTP status and a stable code for the caller.
#[derive(Debug, thiserror::Error)]
enum InnerError {
    #[error("the request is not a valid Binary HTTP request")]
    BadMessage,
    #[error("only POST is served on inference paths")]
    MethodNotAllowed,
    #[error("no such route; inference is POST /v1/models/{{model_id}}/infer")]
    NotFound,
    #[error("no model with that id is loaded in this enclave")]
    UnknownModel,
    #[error(
        "missing or malformed {HEADER_EVIDENCE_DIGEST} header (hex SHA-384 of the verified evidence)"
    )]
    MissingEvidenceDigest,
    #[error("this enclave did not issue that evidence recently; fetch fresh evidence and retry")]
    UnknownEvidence,
    #[error("{0}")]
    Inference(#[from] InferenceError),
    #[error("encoding the result failed")]
    Encode,
}

impl InnerError {
    fn status(&self) -> u16 {
        match self {
            Self::BadMessage | Self::MissingEvidenceDigest => 400,
            Self::NotFound | Self::UnknownModel => 404,
            Self::MethodNotAllowed => 405,
            Self::UnknownEvidence => 409,
            Self::Inference(e) if e.code() == "inference.engine" => 500,
            Self::Inference(_) => 422,
            Self::Encode => 500,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::BadMessage => "request.bad_bhttp",
            Self::MethodNotAllowed => "request.method_not_allowed",
            Self::NotFound => "request.not_found",
            Self::UnknownModel => "request.unknown_model",
            Self::MissingEvidenceDigest => "request.missing_evidence_digest",
            Self::UnknownEvidence => "request.unknown_evidence",
            Self::Inference(e) => e.code(),
            Self::Encode => "enclave.encode",
        }
    }
}

/// Bytes before `enc` in an encapsulated request: key id (1), KEM, KDF and AEAD ids (2 each).
const REQUEST_HEADER_LEN: usize = 7;

/// The HPKE `enc` of an encapsulated request (RFC 9458 §4.3), the replay cache's key.
fn request_enc(enc_request: &[u8]) -> Option<[u8; REPLAY_KEY_LEN]> {
    enc_request
        .get(REQUEST_HEADER_LEN..REQUEST_HEADER_LEN + REPLAY_KEY_LEN)?
        .try_into()
        .ok()
}

/// Opens, serves and seals one OHTTP request at time `now`.
///
/// # Errors
/// A plaintext [`WireError`] only when the request cannot be opened (too large, not for our
/// key, corrupted), was opened before (`ohttp.replayed`), finds the replay cache full
/// (`enclave.busy`), or the answer cannot be sealed; all other failures travel encrypted.
pub(crate) fn serve(
    rt: &EnclaveRuntime,
    enc_request: &[u8],
    now: Instant,
) -> Result<Vec<u8>, WireError> {
    if enc_request.len() > MAX_OHTTP_REQUEST_LEN {
        return Err(WireError::new(
            "ohttp.request_too_large",
            format!("encapsulated request exceeds {MAX_OHTTP_REQUEST_LEN} bytes"),
        ));
    }
    let (plain, response_ctx) = rt.identity().gateway().decapsulate(enc_request).map_err(|_| {
        WireError::new(
            "ohttp.decapsulate",
            "the OHTTP request could not be opened: wrong key id, unsupported suite or corrupted; fetch fresh evidence and re-encrypt",
        )
    })?;
    let plain = Zeroizing::new(plain);
    // Recorded only now that the request opened: a host cannot fill the cache with junk.
    let enc = request_enc(enc_request).ok_or_else(|| {
        WireError::new(
            "ohttp.decapsulate",
            "the OHTTP request has no X25519 encapsulated key",
        )
    })?;
    rt.replay
        .check_and_record(enc, now)
        .map_err(|r| WireError::new(r.code(), r.to_string()))?;
    let response = match run(rt, &plain, now) {
        Ok(signed) => bhttp_response(200, None, MEDIA_SIGNED_RESULT, &Zeroizing::new(signed)),
        Err(e) => {
            let body = serde_json::json!({"error": {"code": e.code(), "message": e.to_string()}});
            bhttp_response(
                e.status(),
                Some(e.code()),
                "application/json",
                body.to_string().as_bytes(),
            )
        }
    }
    .ok_or_else(|| WireError::new("enclave.encode", "encoding the Binary HTTP response failed"))?;
    response_ctx
        .encapsulate(&response)
        .map_err(|_| WireError::new("ohttp.encapsulate", "sealing the OHTTP response failed"))
}

fn run(rt: &EnclaveRuntime, plain_request: &[u8], now: Instant) -> Result<Vec<u8>, InnerError> {
    let msg = bhttp::Message::read_bhttp(&mut Cursor::new(plain_request))
        .map_err(|_| InnerError::BadMessage)?;
    let control = msg.control();
    let path = control.path().ok_or(InnerError::BadMessage)?;
    let path = std::str::from_utf8(path).map_err(|_| InnerError::BadMessage)?;
    let model_id =
        cloister_proto::api::model_id_from_inner_path(path).ok_or(InnerError::NotFound)?;
    if control.method() != Some(b"POST".as_slice()) {
        return Err(InnerError::MethodNotAllowed);
    }
    let model = rt.model(model_id).ok_or(InnerError::UnknownModel)?;
    let evidence_sha384: [u8; DIGEST_LEN] = msg
        .header()
        .get(HEADER_EVIDENCE_DIGEST.as_bytes())
        .and_then(|v| hex::decode(v).ok())
        .and_then(|v| v.try_into().ok())
        .ok_or(InnerError::MissingEvidenceDigest)?;
    if !rt.ledger.contains(&evidence_sha384, now) {
        return Err(InnerError::UnknownEvidence);
    }
    let output = Zeroizing::new(model.infer(msg.content())?);
    let statement = ResultStatement {
        version: STATEMENT_VERSION,
        request_sha384: sha384(plain_request).to_vec(),
        output_sha384: sha384(&output).to_vec(),
        model_id: model.id().to_owned(),
        model_sha384: model.digest().to_vec(),
        evidence_sha384: evidence_sha384.to_vec(),
        issued_at: cloister_attestation::UnixTime::now().as_secs(),
    };
    let signature = rt.identity().sign(&statement.signing_bytes()).to_vec();
    let signed = SignedResult {
        statement,
        output: output.to_vec(),
        signature,
    };
    let bytes = signed.to_cbor().map_err(|_| InnerError::Encode);
    // The CBOR copy of the output is the only one left; the struct's copy is cleared here.
    let mut signed = signed;
    zeroize::Zeroize::zeroize(&mut signed.output);
    bytes
}

/// Room for the response's control data and headers beyond its body, so the buffer that holds
/// the plaintext is not reallocated (leaving an unzeroized copy behind) while it is written.
const HEADROOM: usize = 256;

/// A known-length Binary HTTP response, zero-padded to [`padding::padded_len`] of its length.
fn bhttp_response(
    status: u16,
    code: Option<&str>,
    media: &str,
    body: &[u8],
) -> Option<Zeroizing<Vec<u8>>> {
    let status = bhttp::StatusCode::try_from(status).ok()?;
    let mut msg = bhttp::Message::response(status);
    msg.put_header("content-type", media);
    if let Some(code) = code {
        msg.put_header(HEADER_ERROR_CODE, code);
    }
    msg.write_content(body);
    let capacity = padding::padded_len(body.len().checked_add(HEADROOM)?)?;
    let mut out = Zeroizing::new(Vec::with_capacity(capacity));
    msg.write_bhttp(bhttp::Mode::KnownLength, &mut *out).ok()?;
    padding::pad(&mut out).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use aws_lc_rs::signature::{ED25519, UnparsedPublicKey};
    use cloister_attestation::UnixTime;
    use cloister_attestation::mock::MockCa;
    use cloister_proto::api::inner_infer_path;

    use super::*;
    use crate::identity::{EnclaveIdentity, OHTTP_KEY_ID};
    use crate::inference::LoadedModel;
    use crate::ledger::{EVIDENCE_MAX_AGE, ReplayCache};
    use crate::platform::mock::MockPlatform;

    /// The mock platform with a fresh CA: real Nitro-format evidence, as in the demo.
    fn mock_platform() -> MockPlatform {
        let now = UnixTime::now();
        let dir = tempfile::tempdir().expect("tmp");
        MockCa::generate(now)
            .expect("mock ca")
            .write_to_dir(dir.path())
            .expect("write ca");
        let image = dir.path().join("image");
        std::fs::write(&image, b"gateway test image").expect("image");
        MockPlatform::boot(dir.path(), &image, None, now).expect("mock platform")
    }

    fn runtime() -> EnclaveRuntime {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/credit-risk-v1");
        let model = LoadedModel::load_dir(&dir).expect("model");
        EnclaveRuntime::new(
            EnclaveIdentity::generate().expect("keys"),
            Box::new(mock_platform()),
            vec![model],
        )
        .expect("runtime")
    }

    const SAMPLE: &str = r#"{"features": {"income_k": 52.0, "debt_to_income": 0.31, "credit_utilization": 0.42, "late_payments_12m": 1.0, "credit_history_years": 7.5, "loan_amount_k": 18.0}}"#;

    fn out_of_range() -> String {
        SAMPLE.replace("52.0", "400.01")
    }

    /// What a caller does: attest with its nonce, then seal a request naming that evidence.
    struct Caller {
        evidence_sha384: [u8; DIGEST_LEN],
        config: Vec<u8>,
    }

    impl Caller {
        fn attest(rt: &EnclaveRuntime, now: Instant) -> Self {
            let bundle = rt.attest_at(&[5; 32], now).expect("attest");
            Self {
                evidence_sha384: crate::runtime::evidence_digest(&bundle).expect("digest"),
                config: cloister_proto::ohttp_config::encode_key_config(
                    OHTTP_KEY_ID,
                    rt.identity().kem_pub(),
                )
                .expect("config"),
            }
        }

        fn seal(&self, model: &str, input: &[u8]) -> (Vec<u8>, ohttp::ClientResponse) {
            let mut msg = bhttp::Message::request(
                b"POST".to_vec(),
                b"https".to_vec(),
                b"enclave".to_vec(),
                inner_infer_path(model).into_bytes(),
            );
            msg.put_header("content-type", "application/json");
            msg.put_header(HEADER_EVIDENCE_DIGEST, hex::encode(self.evidence_sha384));
            msg.write_content(input);
            let mut request = Vec::new();
            msg.write_bhttp(bhttp::Mode::KnownLength, &mut request)
                .expect("bhttp");
            ohttp::ClientRequest::from_encoded_config(&self.config)
                .expect("client")
                .encapsulate(&request)
                .expect("encapsulate")
        }
    }

    /// Opens a response the way the client does (client/src/session.rs): decapsulate, then
    /// `bhttp::Message::read_bhttp` on the whole plaintext, padding included.
    fn open(ctx: ohttp::ClientResponse, enc_response: &[u8]) -> (u16, Option<String>, Vec<u8>) {
        let plain = ctx.decapsulate(enc_response).expect("decapsulate");
        assert!(
            padding::BUCKETS.contains(&plain.len()),
            "plaintext of {} bytes is not padded to a bucket",
            plain.len()
        );
        let msg = bhttp::Message::read_bhttp(&mut Cursor::new(&plain[..])).expect("padded bhttp");
        let status = msg.control().status().map(u16::from).unwrap_or(0);
        let code = msg
            .header()
            .get(HEADER_ERROR_CODE.as_bytes())
            .map(|c| String::from_utf8_lossy(c).into_owned());
        (status, code, msg.content().to_vec())
    }

    #[test]
    fn results_and_errors_have_equal_encrypted_lengths() {
        let rt = runtime();
        let now = Instant::now();
        let caller = Caller::attest(&rt, now);
        let mut lengths = vec![];
        let cases: [(&str, String, Option<&str>); 5] = [
            ("credit-risk-v1", SAMPLE.to_owned(), None),
            (
                "credit-risk-v1",
                out_of_range(),
                Some("inference.out_of_range"),
            ),
            (
                "credit-risk-v1",
                SAMPLE.replace("income_k", "zzz"),
                Some("inference.unknown_feature"),
            ),
            (
                "no-such-model",
                SAMPLE.to_owned(),
                Some("request.unknown_model"),
            ),
            (
                "credit-risk-v1",
                "{".repeat(3000),
                Some("inference.bad_request"),
            ),
        ];
        for (model, input, want) in &cases {
            let (req, ctx) = caller.seal(model, input.as_bytes());
            let resp = serve(&rt, &req, now).expect("served");
            let (status, code, body) = open(ctx, &resp);
            match want {
                None => {
                    assert_eq!(status, 200);
                    SignedResult::from_cbor(&body).expect("signed result");
                }
                Some(want) => {
                    assert_ne!(status, 200);
                    assert_eq!(code.as_deref(), Some(*want));
                }
            }
            lengths.push(resp.len());
        }
        assert!(
            lengths.iter().all(|&l| l == lengths[0]),
            "encrypted lengths differ: {lengths:?}"
        );
        // 32-byte response nonce, the first bucket, the 16-byte AEAD tag.
        assert_eq!(lengths[0], 32 + padding::BUCKETS[0] + 16);
    }

    #[test]
    fn a_replayed_request_is_refused_in_plaintext_without_running() {
        let rt = runtime();
        let now = Instant::now();
        let caller = Caller::attest(&rt, now);
        let (req, _ctx) = caller.seal("credit-risk-v1", SAMPLE.as_bytes());
        serve(&rt, &req, now).expect("first");
        let later = now + Duration::from_secs(1);
        let e = serve(&rt, &req, later).expect_err("replay served");
        assert_eq!(e.code, "ohttp.replayed");
        // Still refused at the last instant its evidence is accepted.
        let e = serve(&rt, &req, now + EVIDENCE_MAX_AGE - Duration::from_millis(1))
            .expect_err("replay served late");
        assert_eq!(e.code, "ohttp.replayed");
        // A fresh encapsulation of the same content is a new request.
        let (again, ctx) = caller.seal("credit-risk-v1", SAMPLE.as_bytes());
        let (status, _, _) = open(ctx, &serve(&rt, &again, later).expect("fresh"));
        assert_eq!(status, 200);
    }

    #[test]
    fn junk_does_not_fill_the_replay_cache_and_a_full_cache_refuses() {
        let mut rt = runtime();
        rt.replay = ReplayCache::with_capacity(2);
        let now = Instant::now();
        let caller = Caller::attest(&rt, now);
        // Requests that do not decapsulate are not recorded.
        let (good, _) = caller.seal("credit-risk-v1", SAMPLE.as_bytes());
        for i in 0..10u8 {
            let mut junk = good.clone();
            let last = junk.len() - 1;
            junk[last] ^= i + 1;
            assert_eq!(
                serve(&rt, &junk, now).expect_err("junk").code,
                "ohttp.decapsulate"
            );
        }
        for _ in 0..2 {
            let (req, _) = caller.seal("credit-risk-v1", SAMPLE.as_bytes());
            serve(&rt, &req, now).expect("room");
        }
        let (req, _) = caller.seal("credit-risk-v1", SAMPLE.as_bytes());
        let e = serve(&rt, &req, now).expect_err("over capacity");
        assert_eq!(e.code, "enclave.busy");
        assert!(!e.message.contains("credit"), "{}", e.message);
        // Once the window has passed, the same (never served) request is accepted.
        let (status, _, _) = {
            let (req, ctx) = caller.seal("credit-risk-v1", SAMPLE.as_bytes());
            let later = now + crate::ledger::REPLAY_WINDOW;
            // The evidence has expired by then too: the answer is an encrypted refusal.
            open(ctx, &serve(&rt, &req, later).expect("served"))
        };
        assert_eq!(status, 409);
    }

    #[test]
    fn evidence_older_than_its_max_age_is_refused_inside_the_encryption() {
        let rt = runtime();
        let t0 = Instant::now();
        let caller = Caller::attest(&rt, t0);
        let (req, ctx) = caller.seal("credit-risk-v1", SAMPLE.as_bytes());
        let resp = serve(&rt, &req, t0 + EVIDENCE_MAX_AGE).expect("served");
        let (status, code, _) = open(ctx, &resp);
        assert_eq!(status, 409);
        assert_eq!(code.as_deref(), Some("request.unknown_evidence"));
    }

    #[test]
    fn evidence_lists_every_served_model_signed_by_sig_pub() {
        let rt = runtime();
        let b = rt.attest_at(&[9; 32], Instant::now()).expect("attest");
        b.validate().expect("valid bundle");
        assert_eq!(b.served_models.models.len(), 1);
        let m = rt.model("credit-risk-v1").expect("model");
        assert_eq!(
            b.served_models.sha384_of("credit-risk-v1"),
            Some(&m.digest()[..])
        );
        assert_eq!(b.served_models.models[0].version, m.version());
        UnparsedPublicKey::new(&ED25519, &b.sig_pub)
            .verify(&b.served_models.signing_bytes(), &b.served_models_signature)
            .expect("served models signature");
        // A host that edits the list breaks the signature.
        let mut edited = b.served_models.clone();
        edited.models[0].sha384[0] ^= 1;
        assert!(
            UnparsedPublicKey::new(&ED25519, &b.sig_pub)
                .verify(&edited.signing_bytes(), &b.served_models_signature)
                .is_err()
        );
        let bytes = b.to_cbor().expect("cbor");
        assert_eq!(
            cloister_proto::EvidenceBundle::from_cbor(&bytes).expect("decode"),
            b
        );
    }
}
