//! The enclave's side of attested key release, and the fetch of sealed models from the host.
//!
//! At start, for each model of its measured [configuration](crate::config), the enclave asks the
//! key custodian (through the host's outbound relay: a byte pipe, so the host sees only TLS-less
//! HTTP whose one secret, the data key, is HPKE-sealed to a key the host never sees) for a
//! challenge, answers with evidence binding a fresh X25519 release key, its result-signing key
//! and the custodian's nonce, and opens the custodian's signed response with
//! [`open_release`](cloister_proto::key_release::open_release). The sealed model itself comes
//! from the host's model store (untrusted storage: the manifest signature and the STREAM
//! construction make any change a typed failure).
//!
//! A custodian that cannot be reached is retried with exponential backoff, a bounded number of
//! times; a denial is final (retrying cannot change the evidence).

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use cloister_attestation::binding::key_binding;
use cloister_proto::EvidenceBundle;
use cloister_proto::evidence::BUNDLE_VERSION;
use cloister_proto::key_release::{
    Challenge, ChallengeRequest, ROUTE_CHALLENGE, ROUTE_RELEASE, ReleaseDenied, ReleaseKeyPair,
    ReleaseRequest, ReleaseResponse, open_release,
};
use cloister_proto::sealed::DataKey;
use cloister_proto::served::ServedModels;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use serde_bytes::ByteBuf;
use thiserror::Error;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

use crate::identity::EnclaveIdentity;
use crate::platform::AttestationPlatform;

/// Largest custodian answer read (a release response is well under 1 KiB).
const MAX_RESPONSE_BYTES: usize = 64 * 1024;
/// Largest sealed model fetched from the host's store.
pub const MAX_SEALED_MODEL_BYTES: u64 = 16 * 1024 * 1024 * 1024;
/// How long one exchange with the custodian or the store may take.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(30);

/// The key release or the model fetch failed. The enclave does not start.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum KeyReleaseError {
    /// The custodian could not be reached through the relay, after every retry.
    #[error("the key custodian could not be reached through {relay} after {attempts} attempts")]
    CustodianUnreachable {
        /// The relay socket.
        relay: PathBuf,
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        #[source]
        source: std::io::Error,
    },
    /// The custodian refused the release (or the challenge) with its own code.
    #[error("the key custodian refused key {key_id}: [{code}] {message}{}", rule.as_ref().map(|r| format!(" (rule: {r})")).unwrap_or_default())]
    Denied {
        /// The key id.
        key_id: String,
        /// HTTP status.
        status: u16,
        /// The custodian's stable code.
        code: String,
        /// The custodian's message.
        message: String,
        /// The policy rule that denied, if one did.
        rule: Option<String>,
    },
    /// The custodian's answer was not what the protocol says.
    #[error("the key custodian's answer to {route} is malformed: {what}")]
    MalformedAnswer {
        /// The route.
        route: &'static str,
        /// What was wrong.
        what: String,
    },
    /// The response did not verify or open (bad signature, other key id or evidence, ...).
    #[error("the key custodian's response for key {key_id} does not open")]
    Open {
        /// The key id.
        key_id: String,
        /// The check that failed (its code is `key_release.*`).
        #[source]
        source: cloister_proto::key_release::KeyReleaseError,
    },
    /// Evidence for the release could not be produced.
    #[error("producing evidence for the key release")]
    Evidence(#[source] crate::platform::PlatformError),
    /// The evidence did not parse back (a backend bug).
    #[error("the release evidence does not parse")]
    EvidenceDigest(#[source] cloister_attestation::AttestationError),
    /// The host's model store could not be reached or answered badly.
    #[error("fetching sealed model {model_id} from the host's store {store}: {what}")]
    Store {
        /// The model id.
        model_id: String,
        /// The store socket.
        store: PathBuf,
        /// What went wrong.
        what: String,
    },
}

impl KeyReleaseError {
    /// Stable code: the enclave's own, or the nested check's.
    pub fn code(&self) -> &'static str {
        match self {
            Self::CustodianUnreachable { .. } => "enclave.key_release.unreachable",
            Self::Denied { .. } => "enclave.key_release.denied",
            Self::MalformedAnswer { .. } => "enclave.key_release.malformed_answer",
            Self::Open { source, .. } => source.code(),
            Self::Evidence(e) => e.code(),
            Self::EvidenceDigest(e) => e.code(),
            Self::Store { .. } => "enclave.model_store",
        }
    }

    /// What to do.
    pub fn hint(&self) -> &'static str {
        match self {
            Self::CustodianUnreachable { .. } => {
                "start the custodian and the host's --relay to it before the enclave"
            }
            Self::Denied { .. } => {
                "the custodian's policy for this key does not accept this enclave's evidence: check the measurement it pins (cloister mock init / eif describe --policy)"
            }
            Self::MalformedAnswer { .. } => {
                "the relay must lead to a Cloister key custodian speaking /v1/challenge and /v1/release"
            }
            Self::Open { .. } => {
                "the response was not signed by the custodian key in the enclave's configuration, or was meant for other evidence"
            }
            Self::Evidence(_) | Self::EvidenceDigest(_) => "check the attestation backend",
            Self::Store { .. } => {
                "start the host with --model-store and put MODEL_ID.sealed in its directory"
            }
        }
    }
}

/// How often to try the custodian before giving up.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    /// Attempts in all (at least 1).
    pub attempts: u32,
    /// Wait after the first failure; doubled after each further one.
    pub first_backoff: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Self {
            attempts: 6,
            first_backoff: Duration::from_millis(200),
        }
    }
}

/// Talks to the key custodian through the host's outbound relay (a Unix socket in the mock; a
/// vsock port on Nitro).
#[derive(Debug, Clone)]
pub struct KeyReleaseClient {
    relay: PathBuf,
    custodian_pub: [u8; 32],
    retry: Retry,
}

impl KeyReleaseClient {
    /// A client reaching the custodian through `relay` and trusting only `custodian_pub`.
    pub fn new(relay: PathBuf, custodian_pub: [u8; 32]) -> Self {
        Self {
            relay,
            custodian_pub,
            retry: Retry::default(),
        }
    }

    /// Replaces the retry schedule.
    #[must_use]
    pub fn with_retry(mut self, retry: Retry) -> Self {
        self.retry = retry;
        self
    }

    /// Releases the data key `key_id`: challenge, evidence, release, open.
    ///
    /// # Errors
    ///
    /// [`KeyReleaseError`]: unreachable after the retries, denied, malformed, or not opening.
    pub async fn release(
        &self,
        key_id: &str,
        identity: &EnclaveIdentity,
        platform: &dyn AttestationPlatform,
    ) -> Result<DataKey, KeyReleaseError> {
        let challenge: Challenge = self
            .post_with_retry(
                ROUTE_CHALLENGE,
                key_id,
                &ChallengeRequest {
                    key_id: key_id.to_owned(),
                },
            )
            .await?;
        let nonce = challenge
            .nonce_bytes()
            .map_err(|e| KeyReleaseError::MalformedAnswer {
                route: ROUTE_CHALLENGE,
                what: e.to_string(),
            })?;
        let release_key = ReleaseKeyPair::generate();
        let release_pub = release_key.public_key();
        let binding = key_binding(&release_pub, identity.sig_pub(), &nonce);
        let ev = platform
            .attest(&binding, &nonce)
            .map_err(KeyReleaseError::Evidence)?;
        // The release bundle serves no model yet: it carries the empty list, signed like any
        // other, so it is a well-formed bundle for every verifier.
        let served_models = ServedModels::default();
        let bundle = EvidenceBundle {
            version: BUNDLE_VERSION,
            platform: platform.kind(),
            evidence: ev.evidence,
            collateral: ev.collateral.into_iter().map(ByteBuf::from).collect(),
            kem_pub: release_pub.to_vec(),
            sig_pub: identity.sig_pub().to_vec(),
            nonce: nonce.to_vec(),
            ohttp_key_id: 0,
            served_models_signature: identity.sign(&served_models.signing_bytes()).to_vec(),
            served_models,
        };
        let digest = cloister_attestation::evidence::evidence_digest(
            crate::runtime::verifier_platform(bundle.platform),
            &bundle.evidence,
        )
        .map_err(KeyReleaseError::EvidenceDigest)?;
        let cbor = bundle
            .to_cbor()
            .map_err(|e| KeyReleaseError::MalformedAnswer {
                route: ROUTE_RELEASE,
                what: format!("encoding our own bundle: {e}"),
            })?;
        let response: ReleaseResponse = self
            .post_with_retry(
                ROUTE_RELEASE,
                key_id,
                &ReleaseRequest {
                    key_id: key_id.to_owned(),
                    bundle: B64.encode(cbor),
                },
            )
            .await?;
        open_release(
            &response,
            key_id,
            &digest,
            &self.custodian_pub,
            &release_key,
        )
        .map_err(|source| KeyReleaseError::Open {
            key_id: key_id.to_owned(),
            source,
        })
    }

    async fn post_with_retry<Req: serde::Serialize, Resp: serde::de::DeserializeOwned>(
        &self,
        route: &'static str,
        key_id: &str,
        body: &Req,
    ) -> Result<Resp, KeyReleaseError> {
        let body = serde_json::to_vec(body).map_err(|e| KeyReleaseError::MalformedAnswer {
            route,
            what: format!("encoding the request: {e}"),
        })?;
        let attempts = self.retry.attempts.max(1);
        let mut backoff = self.retry.first_backoff;
        let mut attempt = 0;
        loop {
            attempt += 1;
            match tokio::time::timeout(EXCHANGE_TIMEOUT, post(&self.relay, route, &body)).await {
                Ok(Ok((status, bytes))) => return decode(route, key_id, status, &bytes),
                Ok(Err(source)) => {
                    if attempt >= attempts {
                        return Err(KeyReleaseError::CustodianUnreachable {
                            relay: self.relay.clone(),
                            attempts,
                            source,
                        });
                    }
                }
                Err(_) => {
                    if attempt >= attempts {
                        return Err(KeyReleaseError::CustodianUnreachable {
                            relay: self.relay.clone(),
                            attempts,
                            source: std::io::ErrorKind::TimedOut.into(),
                        });
                    }
                }
            }
            tracing::warn!(
                route,
                attempt,
                "key custodian unreachable, retrying in {} ms",
                backoff.as_millis()
            );
            tokio::time::sleep(backoff).await;
            backoff = backoff.saturating_mul(2);
        }
    }
}

/// One HTTP/1.1 POST of JSON over a fresh connection to the relay.
async fn post(relay: &Path, route: &str, body: &[u8]) -> std::io::Result<(u16, Bytes)> {
    let io_err = |e: hyper::Error| std::io::Error::other(e);
    let stream = UnixStream::connect(relay).await?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(io_err)?;
    let driver = tokio::spawn(conn);
    let request = hyper::Request::post(route)
        .header(hyper::header::HOST, "custodian")
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::copy_from_slice(body)))
        .map_err(std::io::Error::other)?;
    let response = sender.send_request(request).await.map_err(io_err)?;
    let status = response.status().as_u16();
    let bytes = Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
        .collect()
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))?
        .to_bytes();
    driver.abort();
    Ok((status, bytes))
}

fn decode<Resp: serde::de::DeserializeOwned>(
    route: &'static str,
    key_id: &str,
    status: u16,
    bytes: &[u8],
) -> Result<Resp, KeyReleaseError> {
    if (200..300).contains(&status) {
        return serde_json::from_slice(bytes).map_err(|e| KeyReleaseError::MalformedAnswer {
            route,
            what: e.to_string(),
        });
    }
    let denied: ReleaseDenied =
        serde_json::from_slice(bytes).map_err(|_| KeyReleaseError::MalformedAnswer {
            route,
            what: format!("HTTP {status} without the custodian's error body"),
        })?;
    Err(KeyReleaseError::Denied {
        key_id: key_id.to_owned(),
        status,
        code: denied.code,
        message: denied.message,
        rule: denied.rule,
    })
}

/// Fetches `MODEL_ID.sealed` from the host's model store at `store` (`GET <id>\n`, answered by
/// `OK <len>\n` and the bytes, or `ERR <code>\n`). The bytes are untrusted: unsealing checks
/// them.
///
/// # Errors
///
/// [`KeyReleaseError::Store`] naming what went wrong.
pub async fn fetch_sealed_model(store: &Path, model_id: &str) -> Result<Vec<u8>, KeyReleaseError> {
    let fail = |what: String| KeyReleaseError::Store {
        model_id: model_id.to_owned(),
        store: store.to_owned(),
        what,
    };
    let exchange = async {
        let stream = UnixStream::connect(store)
            .await
            .map_err(|e| fail(format!("connect: {e}")))?;
        let mut reader = BufReader::new(stream);
        reader
            .get_mut()
            .write_all(format!("GET {model_id}\n").as_bytes())
            .await
            .map_err(|e| fail(format!("write: {e}")))?;
        let mut line = String::new();
        (&mut reader)
            .take(256)
            .read_line(&mut line)
            .await
            .map_err(|e| fail(format!("read: {e}")))?;
        let line = line.trim_end();
        let len: u64 = match line.strip_prefix("OK ") {
            Some(n) => n
                .parse()
                .map_err(|_| fail(format!("bad length line {line:?}")))?,
            None => return Err(fail(format!("store answered {line:?}"))),
        };
        if len > MAX_SEALED_MODEL_BYTES {
            return Err(fail(format!(
                "{len} bytes is more than the {MAX_SEALED_MODEL_BYTES} allowed"
            )));
        }
        let mut bytes = Vec::new();
        (&mut reader)
            .take(len)
            .read_to_end(&mut bytes)
            .await
            .map_err(|e| fail(format!("read: {e}")))?;
        if bytes.len() as u64 != len {
            return Err(fail(format!("{} of {len} bytes before close", bytes.len())));
        }
        Ok(bytes)
    };
    tokio::time::timeout(EXCHANGE_TIMEOUT * 4, exchange)
        .await
        .map_err(|_| fail("timed out".to_owned()))?
}
