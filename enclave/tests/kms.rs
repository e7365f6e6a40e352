//! AWS KMS interop end to end, against a mock KMS over TLS on loopback (issue 14 item 5).
//!
//! The mock plays KMS's part of `TrentService.Decrypt` with a `Recipient`: it checks the SigV4
//! `Authorization` header's structure and recomputes its signature with the test secret,
//! verifies the attestation document with `cloister_attestation`'s verifier (trusting the mock
//! root), applies a key-policy condition like `kms:RecipientAttestation:ImageSha384` (PCR0),
//! and answers a `CiphertextForRecipient` built by `cloister_proto::kms::testing` to the
//! document's `public_key`. The enclave reaches it through a Unix socket piped to TCP, as the
//! host's `--relay` does; TLS ends in the enclave's client, trusting the test CA given in the
//! measured configuration as `dangerous_kms_ca_pem`.

#![allow(
    clippy::unwrap_used,
    reason = "integration tests: a helper outside a #[test] fn panicking is the calling test failing"
)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use cloister_attestation::mock::{MockCa, mock_image_pcr0};
use cloister_attestation::{NitroVerifier, UnixTime};
use cloister_enclave::config::{EnclaveConfig, ModelKey};
use cloister_enclave::identity::EnclaveIdentity;
use cloister_enclave::key_release::Retry;
use cloister_enclave::kms::config::KmsKeyRef;
use cloister_enclave::kms::credentials::AwsCredentials;
use cloister_enclave::kms::request::{DecryptRequest, DecryptResponse, KmsErrorBody};
use cloister_enclave::kms::sigv4::{self, AmzDate, SigningRequest};
use cloister_enclave::kms::{KmsClient, KmsError};
use cloister_enclave::platform::mock::MockPlatform;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::{TcpListener, UnixListener};

const ACCESS_KEY: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const TOKEN: &str = "session-token-example";
const REGION: &str = "eu-west-1";
const KEY_ARN: &str = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const KMS_HOST: &str = "kms.mock.test";
const BLOB: &[u8] = b"the CiphertextBlob of the model's data key";
const DEK: [u8; 32] = *b"model data key, 32 bytes exactly";

/// What the mock KMS is told.
struct MockKms {
    verifier: NitroVerifier,
    /// The key policy's `kms:RecipientAttestation:ImageSha384`, hex.
    image_sha384: String,
    /// Alter one byte of the reply's encrypted content.
    tamper: bool,
    /// `X-Amz-Date` the enclave is told to sign with.
    amz_date: AmzDate,
}

/// A test CA and a server certificate for [`KMS_HOST`] signed by it.
struct TestPki {
    ca_pem: String,
    server_cert: CertificateDer<'static>,
    server_key: PrivateKeyDer<'static>,
}

fn test_pki() -> TestPki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let server_key = KeyPair::generate().unwrap();
    let server_cert = CertificateParams::new(vec![KMS_HOST.to_owned()])
        .unwrap()
        .signed_by(&server_key, &issuer)
        .unwrap();
    TestPki {
        ca_pem: ca_cert.pem(),
        server_cert: server_cert.der().clone(),
        server_key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der())),
    }
}

/// Everything one test needs: a booted mock enclave platform, its identity, its config.
struct Enclave {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    ca: MockCa,
    platform: MockPlatform,
    identity: EnclaveIdentity,
    kms: KmsKeyRef,
    pcr0: [u8; 48],
}

fn enclave(pki: &TestPki, trust_test_ca: bool) -> Enclave {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_owned();
    let now = UnixTime::now();
    let ca = MockCa::generate(now).unwrap();
    ca.write_to_dir(&dir.join("ca")).unwrap();
    let image = b"a stand-in for the enclave image".to_vec();
    std::fs::write(dir.join("enclave.bin"), &image).unwrap();
    let mut kms = serde_json::json!({
        "region": REGION,
        "key_id": KEY_ARN,
        "ciphertext_blob": B64.encode(BLOB),
        "endpoint": format!("https://{KMS_HOST}"),
    });
    if trust_test_ca {
        kms["dangerous_kms_ca_pem"] = pki.ca_pem.clone().into();
    }
    let config = serde_json::to_vec(&serde_json::json!({
        "custodian_pub": "11".repeat(32),
        "publisher_pub": "22".repeat(32),
        "models": [{"model_id": "credit-risk-v1", "kms": kms}],
    }))
    .unwrap();
    let parsed = EnclaveConfig::from_json(&config).unwrap();
    let ModelKey::Kms(kms) = parsed.models()[0].key.clone() else {
        panic!("a kms model")
    };
    let platform = MockPlatform::boot(
        &dir.join("ca"),
        &dir.join("enclave.bin"),
        Some(&config),
        now,
    )
    .unwrap();
    Enclave {
        _dir: tmp,
        dir,
        ca,
        platform,
        identity: EnclaveIdentity::generate().unwrap(),
        kms,
        pcr0: mock_image_pcr0(&image, Some(&config)),
    }
}

/// Starts the mock KMS on 127.0.0.1 and a relay socket piping to it; returns the socket.
async fn start(pki: &TestPki, state: MockKms, relay: &Path) -> PathBuf {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![pki.server_cert.clone()], pki.server_key.clone_key())
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let state = Arc::new(state);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let state = Arc::clone(&state);
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper::service::service_fn(move |req| {
                    let state = Arc::clone(&state);
                    async move { Ok::<_, std::convert::Infallible>(handle(&state, req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    // The host's relay, in miniature: every connection to the socket is piped to KMS's TCP port.
    let unix = UnixListener::bind(relay).unwrap();
    tokio::spawn(async move {
        while let Ok((mut inner, _)) = unix.accept().await {
            tokio::spawn(async move {
                if let Ok(mut outer) = tokio::net::TcpStream::connect(addr).await {
                    let _ = tokio::io::copy_bidirectional(&mut inner, &mut outer).await;
                }
            });
        }
    });
    relay.to_owned()
}

fn kms_error(status: u16, kind: &str, message: &str) -> Response<Full<Bytes>> {
    let body = serde_json::to_vec(&KmsErrorBody {
        kind: kind.to_owned(),
        message: Some(message.to_owned()),
    })
    .unwrap();
    Response::builder()
        .status(status)
        .header("content-type", "application/x-amz-json-1.1")
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}

/// KMS's side of `Decrypt` with a `Recipient`.
async fn handle(state: &MockKms, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .unwrap_or_default()
    };
    if req.method() != hyper::Method::POST
        || req.uri().path() != "/"
        || header("x-amz-target") != "TrentService.Decrypt"
        || header("content-type") != "application/x-amz-json-1.1"
        || header("host") != KMS_HOST
    {
        return kms_error(400, "UnknownOperationException", "not a Decrypt call");
    }
    let authorization = header("authorization");
    let amz_date = header("x-amz-date");
    let token = header("x-amz-security-token");
    let signed_values: Vec<(String, String)> = [
        "content-type",
        "host",
        "x-amz-date",
        "x-amz-security-token",
        "x-amz-target",
    ]
    .iter()
    .map(|n| ((*n).to_owned(), header(n)))
    .collect();
    let body = req.into_body().collect().await.unwrap().to_bytes();

    // SigV4: structure, scope, signed headers, then the signature recomputed with the secret.
    let expected_prefix = format!(
        "AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/{}/{REGION}/kms/aws4_request, \
         SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target, Signature=",
        state.amz_date.date()
    );
    let Some(signature) = authorization.strip_prefix(&expected_prefix) else {
        return kms_error(400, "IncompleteSignatureException", &authorization);
    };
    if amz_date != state.amz_date.as_str() || token != TOKEN {
        return kms_error(400, "InvalidSignatureException", "date or token");
    }
    let creds = AwsCredentials::new(ACCESS_KEY, SECRET, Some(TOKEN.to_owned())).unwrap();
    let headers: Vec<(&str, &str)> = signed_values
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let (_, recomputed) = sigv4::signature(
        &SigningRequest {
            method: "POST",
            path: "/",
            query: &[],
            headers: &headers,
            payload: &body,
        },
        &creds,
        &state.amz_date,
        REGION,
        "kms",
    );
    if signature.len() != 64 || signature != recomputed {
        return kms_error(400, "InvalidSignatureException", "signature mismatch");
    }

    let Ok(request) = serde_json::from_slice::<DecryptRequest>(&body) else {
        return kms_error(400, "SerializationException", "body");
    };
    if request.key_id != KEY_ARN
        || B64.decode(&request.ciphertext_blob).ok().as_deref() != Some(BLOB)
        || request.encryption_algorithm != "SYMMETRIC_DEFAULT"
        || request.recipient.key_encryption_algorithm != "RSAES_OAEP_SHA_256"
    {
        return kms_error(400, "InvalidCiphertextException", "blob, key or algorithm");
    }
    let Ok(document) = B64.decode(&request.recipient.attestation_document) else {
        return kms_error(400, "ValidationException", "document is not base64");
    };
    let verified = match state.verifier.verify(&document, UnixTime::now()) {
        Ok(v) => v,
        Err(e) => return kms_error(400, "ValidationException", e.code()),
    };
    // kms:RecipientAttestation:ImageSha384 with StringEqualsIgnoreCase.
    let pcr0 = verified.pcr(0).map(hex::encode).unwrap_or_default();
    if !pcr0.eq_ignore_ascii_case(&state.image_sha384) {
        return kms_error(
            400,
            "AccessDeniedException",
            "User is not authorized to perform: kms:Decrypt (kms:RecipientAttestation:ImageSha384)",
        );
    }
    assert_eq!(
        verified.user_data().map(<[u8]>::len),
        Some(48),
        "the key binding"
    );
    let Some(public_key) = verified.public_key() else {
        return kms_error(400, "ValidationException", "no public_key");
    };
    let mut cms = cloister_proto::kms::testing::ciphertext_for_recipient(public_key, &DEK).unwrap();
    if state.tamper {
        // The last byte of the next-to-last AES block: it flips the last padding byte, so the
        // PKCS#7 padding breaks deterministically (6 end-of-contents octets close the message).
        let at = cms.len() - 6 - 16 - 1;
        cms[at] ^= 0x01;
    }
    let body = serde_json::to_vec(&DecryptResponse {
        ciphertext_for_recipient: Some(B64.encode(cms)),
        plaintext: None,
        key_id: Some(KEY_ARN.to_owned()),
        encryption_algorithm: Some("SYMMETRIC_DEFAULT".to_owned()),
    })
    .unwrap();
    Response::builder()
        .header("content-type", "application/x-amz-json-1.1")
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}

/// Runs the enclave's KMS flow against a mock KMS told `image_sha384` and `tamper`.
async fn run(
    trust_test_ca: bool,
    policy_pcr0: Option<String>,
    tamper: bool,
) -> Result<[u8; 32], KmsError> {
    let pki = test_pki();
    let e = enclave(&pki, trust_test_ca);
    let now = i64::try_from(UnixTime::now().as_secs()).unwrap();
    let state = MockKms {
        verifier: NitroVerifier::aws().with_mock_root(e.ca.root_anchor()),
        image_sha384: policy_pcr0.unwrap_or_else(|| hex::encode(e.pcr0).to_uppercase()),
        tamper,
        amz_date: AmzDate::from_unix(now).unwrap(),
    };
    let relay = start(&pki, state, &e.dir.join("kms.sock")).await;
    let creds = AwsCredentials::new(ACCESS_KEY, SECRET, Some(TOKEN.to_owned())).unwrap();
    let client = KmsClient::new(relay, creds).with_retry(Retry {
        attempts: 1,
        first_backoff: std::time::Duration::from_millis(1),
    });
    client
        .decrypt_data_key(&e.kms, &e.identity, &e.platform, now)
        .await
        .map(|key| *key.expose())
}

#[tokio::test]
async fn the_enclave_takes_its_data_key_from_kms() {
    assert_eq!(run(true, None, false).await.unwrap(), DEK);
}

#[tokio::test]
async fn a_pcr0_the_key_policy_does_not_name_gets_kms_access_denied() {
    let err = run(true, Some("00".repeat(48)), false).await.unwrap_err();
    assert_eq!(err.code(), "enclave.kms.denied", "{err}");
    assert!(
        matches!(&err, KmsError::Denied { status: 400, kind, .. } if kind == "AccessDeniedException"),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_tampered_ciphertext_for_recipient_fails_typed() {
    let err = run(true, None, true).await.unwrap_err();
    assert!(matches!(err, KmsError::Open(_)), "{err:?}");
    assert_eq!(err.code(), "kms.recipient.content_decrypt_failed");
}

#[tokio::test]
async fn a_server_outside_the_pinned_amazon_roots_is_refused() {
    // Without dangerous_kms_ca_pem only the Amazon roots are trusted: the test CA is not.
    let err = run(false, None, false).await.unwrap_err();
    assert_eq!(err.code(), "enclave.kms.tls", "{err:?}");
}
