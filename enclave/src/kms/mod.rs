//! AWS KMS interop: the enclave takes a model's data key from AWS KMS instead of the Cloister
//! custodian (see `docs/kms.md`).
//!
//! For a model whose configuration has a `"kms"` object ([`config`]), at start the enclave:
//!
//! 1. makes a fresh RSA-2048 [`KmsRecipientKey`] (this boot only, in memory);
//! 2. asks its platform for evidence whose `public_key` is that key's SPKI and whose
//!    `user_data` is, as for every evidence, the key binding of its identity keys to a fresh
//!    nonce ([`AttestationPlatform::attest_with_public_key`]: Nitro, and the mock);
//! 3. calls KMS `TrentService.Decrypt` with the configured `CiphertextBlob` and
//!    `Recipient: {AttestationDocument, RSAES_OAEP_SHA_256}` ([`request`]), signed with SigV4
//!    ([`sigv4`]) by run-time credentials ([`credentials`]), over TLS that ends in the enclave
//!    ([`tls`]) carried by the host's relay (a Unix socket the host pipes to
//!    `kms.<region>.amazonaws.com:443`);
//! 4. opens the reply's `CiphertextForRecipient` with the RSA key and uses the 32-byte
//!    plaintext as the model's [`DataKey`], exactly as a custodian release.
//!
//! KMS decides: its key policy's `kms:RecipientAttestation:ImageSha384` (PCR0) or `PCR<n>`
//! condition on the verified document. A reply with a `Plaintext` is refused (the host could
//! have read it). The CMS reply authenticates nothing by itself; it is trusted because it came
//! over this TLS session to the KMS host name.
//!
//! ```no_run
//! # async fn f(
//! #     config: &cloister_enclave::config::EnclaveConfig,
//! #     identity: &cloister_enclave::identity::EnclaveIdentity,
//! #     platform: &dyn cloister_enclave::platform::AttestationPlatform,
//! # ) -> Result<(), Box<dyn std::error::Error>> {
//! use cloister_enclave::config::ModelKey;
//! use cloister_enclave::kms::KmsClient;
//! use cloister_enclave::kms::credentials::AwsCredentials;
//!
//! let client = KmsClient::new("/run/cloister/kms.sock".into(), AwsCredentials::from_env()?);
//! for m in config.models() {
//!     if let ModelKey::Kms(kms) = &m.key {
//!         let now = cloister_attestation::UnixTime::now().as_secs() as i64;
//!         let dek = client.decrypt_data_key(kms, identity, platform, now).await?;
//!     }
//! }
//! # Ok(()) }
//! ```

pub mod config;
pub mod credentials;
pub mod request;
pub mod sigv4;
pub mod tls;

use std::path::PathBuf;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use cloister_attestation::binding::key_binding;
use cloister_proto::kms::{KmsRecipientError, KmsRecipientKey};
use cloister_proto::sealed::DataKey;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use rustls_pki_types::ServerName;
use thiserror::Error;
use tokio::net::UnixStream;

use self::config::KmsKeyRef;
use self::credentials::{AwsCredentials, CredentialsError};
use self::request::{DecryptRequest, DecryptResponse, KmsErrorBody};
use self::sigv4::{AmzDate, AmzDateError, SigningRequest};
use crate::identity::EnclaveIdentity;
use crate::key_release::Retry;
use crate::platform::{AttestationPlatform, PlatformError};

/// Largest KMS answer read: a `CiphertextForRecipient` of a 32-byte key is under 1 KiB.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;
/// How long one exchange with KMS may take.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(30);
/// The nonce bound into the evidence for KMS (KMS ignores it; the binding keeps the one rule).
const NONCE_LEN: usize = 32;
/// SigV4's service name for KMS.
const SERVICE: &str = "kms";

/// Taking a data key from KMS failed. The enclave does not start.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum KmsError {
    /// No usable AWS credentials.
    #[error("AWS credentials for KMS")]
    Credentials(#[from] CredentialsError),
    /// The TLS client could not be configured.
    #[error("configuring TLS to KMS: {what}")]
    TlsSetup {
        /// What failed.
        what: &'static str,
    },
    /// The RSA recipient key could not be generated.
    #[error("generating the KMS recipient key")]
    RecipientKey(#[source] KmsRecipientError),
    /// The platform could not produce evidence carrying the recipient key.
    #[error("producing the attestation document for KMS")]
    Evidence(#[source] PlatformError),
    /// The request time cannot be signed.
    #[error("signing the KMS request")]
    Date(#[source] AmzDateError),
    /// The KMS host name is not a TLS server name.
    #[error("{host} is not a valid TLS server name")]
    ServerName {
        /// The host.
        host: String,
    },
    /// KMS could not be reached through the relay, after every retry.
    #[error("KMS could not be reached through {relay} after {attempts} attempts")]
    Unreachable {
        /// The relay socket.
        relay: PathBuf,
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        #[source]
        source: std::io::Error,
    },
    /// The TLS handshake with the KMS host failed (certificate not for the host, not under the
    /// pinned roots, or a broken session).
    #[error("TLS to {host} failed")]
    Tls {
        /// The host.
        host: String,
        /// rustls's error.
        #[source]
        source: std::io::Error,
    },
    /// KMS refused the call with its own exception.
    #[error("KMS refused Decrypt with key {key_id}: HTTP {status} {kind}{}", message.as_ref().map(|m| format!(": {m}")).unwrap_or_default())]
    Denied {
        /// The key.
        key_id: String,
        /// HTTP status.
        status: u16,
        /// KMS's exception name (`AccessDeniedException`, `InvalidCiphertextException`, ...).
        kind: String,
        /// KMS's message.
        message: Option<String>,
    },
    /// KMS's answer is not what its API says.
    #[error("KMS's answer is malformed: {what}")]
    MalformedAnswer {
        /// What is wrong.
        what: String,
    },
    /// KMS answered with a `Plaintext`: the key left KMS readable by the host. Not used.
    #[error("KMS returned the plaintext outside the enclave's Recipient encryption; refused")]
    PlaintextInTheClear,
    /// The `CiphertextForRecipient` did not open.
    #[error("KMS's CiphertextForRecipient does not open")]
    Open(#[source] KmsRecipientError),
    /// The decrypted plaintext is not a 32-byte data key.
    #[error("the KMS plaintext is {len} bytes, a model data key is 32")]
    DataKeyLength {
        /// Its length.
        len: usize,
    },
}

impl KmsError {
    /// Stable code: the enclave's own, or the nested check's.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Credentials(e) => e.code(),
            Self::TlsSetup { .. } => "enclave.kms.tls_setup",
            Self::RecipientKey(e) | Self::Open(e) => e.code(),
            Self::Evidence(e) => e.code(),
            Self::Date(_) => "enclave.kms.bad_time",
            Self::ServerName { .. } => "enclave.kms.server_name",
            Self::Unreachable { .. } => "enclave.kms.unreachable",
            Self::Tls { .. } => "enclave.kms.tls",
            Self::Denied { .. } => "enclave.kms.denied",
            Self::MalformedAnswer { .. } => "enclave.kms.malformed_answer",
            Self::PlaintextInTheClear => "enclave.kms.plaintext_in_the_clear",
            Self::DataKeyLength { .. } => "enclave.kms.data_key_length",
        }
    }

    /// What to do.
    pub fn hint(&self) -> &'static str {
        match self {
            Self::Credentials(e) => e.hint(),
            Self::TlsSetup { .. } => "check the kms object's dangerous_kms_ca_pem (tests only)",
            Self::RecipientKey(e) | Self::Open(e) => e.hint(),
            Self::Evidence(_) => {
                "KMS Recipient interop needs --platform nitro (or mock): SEV-SNP and TDX evidence carry no public_key"
            }
            Self::Date(_) => "check the enclave's clock",
            Self::ServerName { .. } => "check the kms object's endpoint",
            Self::Unreachable { .. } => {
                "start the host with --relay unix:PATH=kms.<region>.amazonaws.com:443 (allowlisted) and give the enclave --kms-relay unix:PATH"
            }
            Self::Tls { .. } => {
                "the relay must lead to the KMS endpoint itself: its certificate must name the host and chain to the pinned Amazon roots"
            }
            Self::Denied { .. } => {
                "AccessDeniedException: the key policy's kms:RecipientAttestation condition (ImageSha384 = PCR0) does not match this image, or the credentials lack kms:Decrypt; see docs/kms.md"
            }
            Self::MalformedAnswer { .. } => "the relay must lead to AWS KMS's JSON API",
            Self::PlaintextInTheClear => {
                "report this: KMS must answer a Recipient request with CiphertextForRecipient only"
            }
            Self::DataKeyLength { .. } => {
                "wrap the model's 32-byte data key itself: aws kms encrypt --plaintext fileb://dek.bin"
            }
        }
    }
}

/// Calls KMS `Decrypt` with the enclave as `Recipient`, through the host's relay.
#[derive(Debug, Clone)]
pub struct KmsClient {
    relay: PathBuf,
    credentials: AwsCredentials,
    retry: Retry,
}

impl KmsClient {
    /// A client reaching KMS through the relay socket `relay`, signing with `credentials`.
    pub fn new(relay: PathBuf, credentials: AwsCredentials) -> Self {
        Self {
            relay,
            credentials,
            retry: Retry::default(),
        }
    }

    /// Replaces the retry schedule (for a relay that cannot be reached).
    #[must_use]
    pub fn with_retry(mut self, retry: Retry) -> Self {
        self.retry = retry;
        self
    }

    /// Takes the data key of `kms` from KMS: recipient key, evidence, signed `Decrypt`, open.
    /// `now` (Unix seconds) dates the signature.
    ///
    /// # Errors
    /// [`KmsError`] naming the failed step; KMS's refusal is [`KmsError::Denied`].
    pub async fn decrypt_data_key(
        &self,
        kms: &KmsKeyRef,
        identity: &EnclaveIdentity,
        platform: &dyn AttestationPlatform,
        now: i64,
    ) -> Result<DataKey, KmsError> {
        let recipient = KmsRecipientKey::generate().map_err(KmsError::RecipientKey)?;
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce)
            .map_err(|_| KmsError::RecipientKey(KmsRecipientError::KeyGenerationFailed))?;
        let binding = key_binding(identity.kem_pub(), identity.sig_pub(), &nonce);
        let evidence = platform
            .attest_with_public_key(&binding, &nonce, &recipient.public_key_spki_der())
            .map_err(KmsError::Evidence)?;
        let body = DecryptRequest::new(kms.ciphertext_blob(), kms.key_id(), &evidence.evidence)
            .to_json()
            .map_err(|e| KmsError::MalformedAnswer {
                what: format!("encoding the request: {e}"),
            })?;
        let request = self.signed_request(kms, body, now)?;
        let (status, bytes) = self.exchange_with_retry(kms, request).await?;
        let response = decode(kms, status, &bytes)?;
        if response.plaintext.is_some() {
            return Err(KmsError::PlaintextInTheClear);
        }
        let cms = response
            .ciphertext_for_recipient
            .ok_or_else(|| KmsError::MalformedAnswer {
                what: "no CiphertextForRecipient".to_owned(),
            })?;
        let cms = B64.decode(cms).map_err(|_| KmsError::MalformedAnswer {
            what: "CiphertextForRecipient is not base64".to_owned(),
        })?;
        let plaintext = recipient
            .open_ciphertext_for_recipient(&cms)
            .map_err(KmsError::Open)?;
        let mut bytes: [u8; 32] =
            plaintext
                .as_slice()
                .try_into()
                .map_err(|_| KmsError::DataKeyLength {
                    len: plaintext.len(),
                })?;
        let key = DataKey::from_bytes(bytes);
        // `DataKey` holds its own (zeroizing) copy; clear this one.
        zeroize::Zeroize::zeroize(&mut bytes);
        Ok(key)
    }

    /// The `Decrypt` request with its SigV4 `Authorization`.
    fn signed_request(
        &self,
        kms: &KmsKeyRef,
        body: Vec<u8>,
        now: i64,
    ) -> Result<hyper::Request<Full<Bytes>>, KmsError> {
        let date = AmzDate::from_unix(now).map_err(KmsError::Date)?;
        let host = kms.host_header();
        let mut headers = vec![
            ("content-type", request::CONTENT_TYPE),
            ("host", host.as_str()),
            ("x-amz-date", date.as_str()),
            ("x-amz-target", request::TARGET_DECRYPT),
        ];
        if let Some(token) = self.credentials.session_token() {
            headers.push(("x-amz-security-token", token));
        }
        let authorization = sigv4::authorization(
            &SigningRequest {
                method: "POST",
                path: "/",
                query: &[],
                headers: &headers,
                payload: &body,
            },
            &self.credentials,
            &date,
            kms.region(),
            SERVICE,
        );
        let mut builder = hyper::Request::post("/");
        for (name, value) in &headers {
            builder = builder.header(*name, *value);
        }
        builder
            .header(hyper::header::AUTHORIZATION, authorization)
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| KmsError::MalformedAnswer {
                what: format!("building the request: {e}"),
            })
    }

    async fn exchange_with_retry(
        &self,
        kms: &KmsKeyRef,
        request: hyper::Request<Full<Bytes>>,
    ) -> Result<(u16, Bytes), KmsError> {
        let tls = tls::client_config(kms.dangerous_ca_der())?;
        let server_name =
            ServerName::try_from(kms.host().to_owned()).map_err(|_| KmsError::ServerName {
                host: kms.host().to_owned(),
            })?;
        let attempts = self.retry.attempts.max(1);
        let mut backoff = self.retry.first_backoff;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (parts, body) = request.clone().into_parts();
            let this = hyper::Request::from_parts(parts, body);
            let exchange = exchange(&self.relay, &tls, server_name.clone(), this);
            let source = match tokio::time::timeout(EXCHANGE_TIMEOUT, exchange).await {
                Ok(Ok(answer)) => return Ok(answer),
                Ok(Err(Failure::Tls(source))) => {
                    return Err(KmsError::Tls {
                        host: kms.host().to_owned(),
                        source,
                    });
                }
                Ok(Err(Failure::Io(source))) => source,
                Err(_) => std::io::ErrorKind::TimedOut.into(),
            };
            if attempt >= attempts {
                return Err(KmsError::Unreachable {
                    relay: self.relay.clone(),
                    attempts,
                    source,
                });
            }
            tracing::warn!(
                attempt,
                "KMS unreachable, retrying in {} ms",
                backoff.as_millis()
            );
            tokio::time::sleep(backoff).await;
            backoff = backoff.saturating_mul(2);
        }
    }
}

/// Why one exchange failed: the handshake (final) or the transport (retried).
enum Failure {
    Tls(std::io::Error),
    Io(std::io::Error),
}

/// One HTTP/1.1 exchange over a fresh TLS session through the relay.
async fn exchange(
    relay: &std::path::Path,
    tls: &std::sync::Arc<rustls::ClientConfig>,
    server_name: ServerName<'static>,
    request: hyper::Request<Full<Bytes>>,
) -> Result<(u16, Bytes), Failure> {
    let io = |e: hyper::Error| Failure::Io(std::io::Error::other(e));
    let stream = UnixStream::connect(relay).await.map_err(Failure::Io)?;
    let stream = tokio_rustls::TlsConnector::from(std::sync::Arc::clone(tls))
        .connect(server_name, stream)
        .await
        .map_err(|e| {
            // A peer that closes before the handshake completes is a transport failure.
            if e.get_ref().is_some_and(|inner| inner.is::<rustls::Error>()) {
                Failure::Tls(e)
            } else {
                Failure::Io(e)
            }
        })?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(io)?;
    let driver = tokio::spawn(conn);
    let response = sender.send_request(request).await.map_err(io)?;
    let status = response.status().as_u16();
    let bytes = Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
        .collect()
        .await
        .map_err(|e| Failure::Io(std::io::Error::other(e.to_string())))?
        .to_bytes();
    driver.abort();
    Ok((status, bytes))
}

/// The `Decrypt` answer, or KMS's exception as [`KmsError::Denied`].
fn decode(kms: &KmsKeyRef, status: u16, bytes: &[u8]) -> Result<DecryptResponse, KmsError> {
    if status == 200 {
        return serde_json::from_slice(bytes).map_err(|e| KmsError::MalformedAnswer {
            what: format!("Decrypt response: {e}"),
        });
    }
    let error: KmsErrorBody =
        serde_json::from_slice(bytes).map_err(|_| KmsError::MalformedAnswer {
            what: format!("HTTP {status} without KMS's error body"),
        })?;
    Err(KmsError::Denied {
        key_id: kms.key_id().to_owned(),
        status,
        kind: error.short_kind().to_owned(),
        message: error.message,
    })
}
