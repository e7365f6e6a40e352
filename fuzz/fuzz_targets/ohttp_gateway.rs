//! The enclave's OHTTP gateway request path, through its public entry point:
//! `EnclaveRuntime::handle(Message::InferRequest { ohttp })` on a current-thread tokio runtime,
//! with the mock platform (a fresh mock CA) and the demo model `models/credit-risk-v1`, built
//! once. Must never panic.
//!
//! The first input byte picks how the rest reaches the gateway:
//!
//! - 0: as the encapsulated request itself (key id, suite, `enc`, ciphertext). Nothing made up
//!   opens, so the answer must be a plaintext `ohttp.decapsulate` (or `ohttp.request_too_large`).
//! - 1: as the Binary HTTP request inside, encapsulated by a real OHTTP client to the runtime's
//!   key config, so mutations reach the Binary HTTP parser, the router and the header checks.
//! - 2: as the body of a well-formed `POST /v1/models/credit-risk-v1/infer` naming evidence the
//!   runtime issued, encapsulated the same way, so mutations reach the model's input parser
//!   and the inference engine.
//!
//! For 1 and 2 the answer must be an encrypted response that the client opens, that parses as
//! Binary HTTP, and whose plaintext is exactly the first padding bucket (every result and every
//! error of the demo model fits in it, `cloister_proto::padding`), so its length tells the host
//! nothing; a 200 must carry a signed result over this request and this evidence that verifies
//! with the runtime's `sig_pub`.
#![no_main]

use std::io::Cursor;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use aws_lc_rs::signature::{ED25519, UnparsedPublicKey};
use cloister_attestation::UnixTime;
use cloister_attestation::mock::MockCa;
use cloister_enclave::EnclaveRuntime;
use cloister_enclave::gateway::MAX_OHTTP_REQUEST_LEN;
use cloister_enclave::identity::{EnclaveIdentity, OHTTP_KEY_ID};
use cloister_enclave::inference::LoadedModel;
use cloister_enclave::platform::mock::MockPlatform;
use cloister_proto::api::{HEADER_EVIDENCE_DIGEST, inner_infer_path};
use cloister_proto::{DIGEST_LEN, Message, SignedResult, padding, sha384};
use libfuzzer_sys::fuzz_target;

const MODEL: &str = "credit-risk-v1";

/// Evidence is accepted for `EVIDENCE_MAX_AGE` (10 minutes); fetch fresh evidence well before.
const REATTEST_AFTER: Duration = Duration::from_secs(60);

/// One booted enclave and what a caller knows of it.
struct Enclave {
    rt: Arc<EnclaveRuntime>,
    /// The OHTTP key config a caller builds from the evidence (`kem_pub`, key id).
    config: Vec<u8>,
    /// The latest evidence digest and when it was issued.
    evidence: Mutex<([u8; DIGEST_LEN], Instant)>,
}

impl Enclave {
    fn boot() -> Self {
        let now = UnixTime::now();
        let dir = tempfile::tempdir().expect("temporary directory");
        MockCa::generate(now)
            .expect("mock CA")
            .write_to_dir(dir.path())
            .expect("writing the mock CA");
        let image = dir.path().join("image");
        std::fs::write(&image, b"cloister fuzz ohttp_gateway image").expect("image");
        let platform = MockPlatform::boot(dir.path(), &image, now).expect("mock platform");
        let model_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models").join(MODEL);
        let model = LoadedModel::load_dir(&model_dir)
            .unwrap_or_else(|e| panic!("model {}: {e}", model_dir.display()));
        let rt = EnclaveRuntime::new(
            EnclaveIdentity::generate().expect("identity keys"),
            Box::new(platform),
            vec![model],
        )
        .expect("runtime");
        let config = cloister_proto::ohttp_config::encode_key_config(
            OHTTP_KEY_ID,
            rt.identity().kem_pub(),
        )
        .expect("key config");
        let enclave = Self {
            rt: Arc::new(rt),
            config,
            evidence: Mutex::new(([0; DIGEST_LEN], Instant::now())),
        };
        enclave.attest();
        enclave
    }

    fn attest(&self) -> [u8; DIGEST_LEN] {
        let bundle = self.rt.attest(&[7; 32]).expect("attest");
        let digest = cloister_enclave::runtime::evidence_digest(&bundle).expect("digest");
        *self.evidence.lock().unwrap_or_else(|p| p.into_inner()) = (digest, Instant::now());
        digest
    }

    /// A digest of evidence the runtime issued and still accepts.
    fn evidence(&self) -> [u8; DIGEST_LEN] {
        let (digest, at) = *self.evidence.lock().unwrap_or_else(|p| p.into_inner());
        if at.elapsed() < REATTEST_AFTER {
            digest
        } else {
            self.attest()
        }
    }
}

fn tokio() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("current-thread runtime")
    })
}

/// The enclave; replaced by a fresh one when its replay cache is full (`enclave.busy`), which a
/// long run of successful decapsulations reaches within the replay window.
fn enclave() -> Arc<Enclave> {
    Arc::clone(&slot().lock().unwrap_or_else(|p| p.into_inner()))
}

fn slot() -> &'static Mutex<Arc<Enclave>> {
    static E: OnceLock<Mutex<Arc<Enclave>>> = OnceLock::new();
    E.get_or_init(|| Mutex::new(Arc::new(Enclave::boot())))
}

fn reboot() {
    *slot().lock().unwrap_or_else(|p| p.into_inner()) = Arc::new(Enclave::boot());
}

fn serve(enclave: &Enclave, ohttp: Vec<u8>) -> Message {
    tokio().block_on(enclave.rt.handle(Message::InferRequest { ohttp }))
}

/// The inner request a caller sends to the demo model, naming `evidence`, with `body`.
fn infer_request(evidence: &[u8; DIGEST_LEN], body: &[u8]) -> Vec<u8> {
    let mut msg = bhttp::Message::request(
        b"POST".to_vec(),
        b"https".to_vec(),
        b"enclave".to_vec(),
        inner_infer_path(MODEL).into_bytes(),
    );
    msg.put_header("content-type", "application/json");
    msg.put_header(HEADER_EVIDENCE_DIGEST, hex::encode(evidence));
    msg.write_content(body);
    let mut out = Vec::new();
    msg.write_bhttp(bhttp::Mode::KnownLength, &mut out)
        .expect("encoding a Binary HTTP request");
    out
}

/// Encapsulates `inner` as a caller would, serves it, opens the answer and checks it.
fn round_trip(enclave: &Enclave, inner: &[u8], evidence: Option<&[u8; DIGEST_LEN]>) {
    let (request, ctx) = ohttp::ClientRequest::from_encoded_config(&enclave.config)
        .expect("client from the key config")
        .encapsulate(inner)
        .expect("encapsulate");
    let too_large = request.len() > MAX_OHTTP_REQUEST_LEN;
    let response = match serve(enclave, request) {
        Message::InferResponse { ohttp } => ohttp,
        Message::Error(e) if e.code == "enclave.busy" => return reboot(),
        Message::Error(e) if too_large && e.code == "ohttp.request_too_large" => return,
        other => panic!("an opened request was answered in plaintext: {other:?}"),
    };
    let plain = ctx.decapsulate(&response).expect("the caller opens the response");
    assert_eq!(
        plain.len(),
        padding::BUCKETS[0],
        "a response of the demo model is not padded to the first bucket"
    );
    let msg = bhttp::Message::read_bhttp(&mut Cursor::new(&plain[..]))
        .expect("the response is Binary HTTP");
    let status = msg.control().status().map(u16::from).expect("a response status");
    if status != 200 {
        return;
    }
    let evidence = evidence.expect("a 200 without valid evidence");
    let signed = SignedResult::from_cbor(msg.content()).expect("a 200 carries a signed result");
    let s = &signed.statement;
    assert_eq!(s.request_sha384, sha384(inner), "the result names another request");
    assert_eq!(s.evidence_sha384, evidence, "the result names other evidence");
    assert_eq!(s.output_sha384, sha384(&signed.output));
    assert_eq!(s.model_id, MODEL);
    UnparsedPublicKey::new(&ED25519, enclave.rt.identity().sig_pub())
        .verify(&s.signing_bytes(), &signed.signature)
        .expect("the result's signature verifies with sig_pub");
}

fuzz_target!(|data: &[u8]| {
    let enclave = enclave();
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => match serve(&enclave, rest.to_vec()) {
            Message::Error(e)
                if e.code == "ohttp.decapsulate"
                    || (e.code == "ohttp.request_too_large"
                        && rest.len() > MAX_OHTTP_REQUEST_LEN) => {}
            other => panic!("made-up bytes were not refused as undecapsulatable: {other:?}"),
        },
        1 => round_trip(&enclave, rest, None),
        _ => {
            let evidence = enclave.evidence();
            round_trip(&enclave, &infer_request(&evidence, rest), Some(&evidence));
        }
    }
});
