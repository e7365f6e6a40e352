//! Talking to an attested enclave through the untrusted host.

use std::io::Cursor;
use std::time::Duration;

use aws_lc_rs::signature::{ED25519, UnparsedPublicKey};
use cloister_attestation::UnixTime;
use cloister_proto::api::{
    HEADER_ERROR_CODE, HEADER_EVIDENCE_DIGEST, MEDIA_OHTTP_REQ, MEDIA_SIGNED_RESULT,
    ROUTE_ATTESTATION, ROUTE_INFER, inner_infer_path,
};
use cloister_proto::{EvidenceBundle, SignedResult, sha384};

use crate::ClientError;
use crate::ResultCheck;
use crate::verify::{TrustConfig, VerifiedEnclave, verify_bundle};

/// Bytes of the nonce a session binds into evidence.
pub const NONCE_LEN: usize = 32;
/// How far a result's signing time may be from the caller's clock.
pub const MAX_RESULT_SKEW_SECS: u64 = 300;
/// The largest body read from the host. An evidence bundle is at most 64 KiB of evidence plus
/// 16 collateral items of 64 KiB; an encapsulated response is a padded result (a few KiB for the
/// models served today). A host that sends more is cut off, not buffered.
pub const MAX_RESPONSE_BODY: usize = 2 * 1024 * 1024;

/// A caller's connection to one host.
pub struct Session {
    http: reqwest::Client,
    base: String,
}

/// A result whose signature and hashes checked out.
#[derive(Debug)]
pub struct VerifiedResult {
    signed: SignedResult,
}

impl VerifiedResult {
    /// The model's output (JSON bytes).
    pub fn output(&self) -> &[u8] {
        &self.signed.output
    }

    /// The signed statement.
    pub fn statement(&self) -> &cloister_proto::ResultStatement {
        &self.signed.statement
    }

    /// The enclave's signature.
    pub fn signature(&self) -> &[u8] {
        &self.signed.signature
    }
}

impl Session {
    /// A session with the host at `base_url` (e.g. `http://127.0.0.1:8080`).
    ///
    /// # Errors
    /// [`ClientError::BadHostUrl`] if the URL is not http(s), [`ClientError::HttpClient`] if the
    /// HTTP client cannot be built.
    pub fn new(base_url: &str) -> Result<Self, ClientError> {
        let base = base_url.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ClientError::BadHostUrl {
                url: base_url.to_owned(),
            });
        }
        // No redirects: the host is untrusted, and a redirect would carry the encrypted request
        // (and the caller's trust in this URL) somewhere else.
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(ClientError::HttpClient)?;
        Ok(Self { http, base })
    }

    /// Fetches evidence bound to a fresh nonce of ours and verifies it.
    ///
    /// # Errors
    /// Any transport, format, verification or policy failure.
    pub async fn attest(
        &self,
        trust: &TrustConfig,
        now: UnixTime,
    ) -> Result<VerifiedEnclave, ClientError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::getrandom(&mut nonce).map_err(ClientError::NoRandomness)?;
        let bundle = self.fetch_evidence(&nonce).await?;
        verify_bundle(trust, bundle, &nonce, now)
    }

    /// Fetches the evidence bundle for `nonce` without verifying it: for tools and tests that
    /// verify separately with [`verify_bundle`]. Prefer [`Session::attest`].
    ///
    /// # Errors
    /// Transport failures and a malformed bundle.
    pub async fn fetch_evidence(&self, nonce: &[u8]) -> Result<EvidenceBundle, ClientError> {
        let url = format!(
            "{}{}?nonce={}",
            self.base,
            ROUTE_ATTESTATION,
            hex::encode(nonce)
        );
        let body = self.send(self.http.get(&url), &url).await?;
        Ok(EvidenceBundle::from_cbor(&body)?)
    }

    /// Sends `input` (JSON) to `model_id` in the verified enclave and checks the signed answer.
    ///
    /// # Errors
    /// Transport and OHTTP failures, the enclave's own refusal ([`ClientError::Enclave`]), or
    /// a result that fails any check ([`ClientError::Result`]).
    pub async fn infer(
        &self,
        enclave: &VerifiedEnclave,
        model_id: &str,
        input: &[u8],
        now: UnixTime,
    ) -> Result<VerifiedResult, ClientError> {
        // The policy's model pins are checked against what the enclave signed before the input
        // is encrypted, let alone sent.
        enclave.check_model(model_id)?;
        let (enc_request, pending) = seal_request(enclave, model_id, input)?;
        let url = format!("{}{}", self.base, ROUTE_INFER);
        let enc_response = self
            .send(
                self.http
                    .post(&url)
                    .header("content-type", MEDIA_OHTTP_REQ)
                    .body(enc_request),
                &url,
            )
            .await?;
        pending.open(&enc_response, enclave, now)
    }

    async fn send(&self, req: reqwest::RequestBuilder, url: &str) -> Result<Vec<u8>, ClientError> {
        let http_err = |detail: String| ClientError::Http {
            url: url.to_owned(),
            detail,
        };
        let mut resp = req
            .send()
            .await
            .map_err(|e| http_err(format!("unreachable: {}", printable(&e.to_string()))))?;
        let status = resp.status();
        if resp
            .content_length()
            .is_some_and(|n| n > MAX_RESPONSE_BODY as u64)
        {
            return Err(http_err(format!(
                "HTTP {status}: the body is larger than {MAX_RESPONSE_BODY} bytes"
            )));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| http_err(format!("reading the body: {}", printable(&e.to_string()))))?
        {
            if body.len() + chunk.len() > MAX_RESPONSE_BODY {
                return Err(http_err(format!(
                    "HTTP {status}: the body is larger than {MAX_RESPONSE_BODY} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        if status.is_redirection() {
            return Err(http_err(format!(
                "HTTP {status}: the host redirects; redirects are not followed"
            )));
        }
        if !status.is_success() {
            // Everything in an error body is the host's text: printable characters only.
            let detail = serde_json::from_slice::<cloister_proto::api::ErrorBody>(&body)
                .map(|b| {
                    format!(
                        "HTTP {status} [{}]: {} (hint: {})",
                        printable(&b.error.code),
                        printable(&b.error.message),
                        printable(&b.error.hint)
                    )
                })
                .unwrap_or_else(|_| format!("HTTP {status}"));
            return Err(http_err(detail));
        }
        Ok(body)
    }
}

/// `text` with control characters (terminal escapes, newlines, NULs) replaced by U+FFFD and
/// cut at 512 characters: for anything the host or enclave says that a terminal will print.
///
/// ```
/// use cloister_client::session::printable;
/// assert_eq!(printable("ok\x1b[2Jwiped\n"), "ok\u{fffd}[2Jwiped\u{fffd}");
/// ```
pub fn printable(text: &str) -> String {
    text.chars()
        .take(512)
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .collect()
}

/// An encapsulated request's secret half: what is needed to open and check its response.
pub struct PendingResult {
    response_ctx: ohttp::ClientResponse,
    request: Vec<u8>,
    model_id: String,
}

/// Encapsulates an inference request to the verified enclave's attested key, for any transport
/// (the host's HTTP API, or straight to the enclave's socket in benchmarks).
///
/// # Errors
/// [`ClientError::Ohttp`] if encoding or encapsulation fails.
pub fn seal_request(
    enclave: &VerifiedEnclave,
    model_id: &str,
    input: &[u8],
) -> Result<(Vec<u8>, PendingResult), ClientError> {
    let mut msg = bhttp::Message::request(
        b"POST".to_vec(),
        b"https".to_vec(),
        b"enclave".to_vec(),
        inner_infer_path(model_id).into_bytes(),
    );
    msg.put_header("content-type", "application/json");
    msg.put_header(
        HEADER_EVIDENCE_DIGEST,
        hex::encode(enclave.evidence_digest()),
    );
    msg.write_content(input);
    let mut request = Vec::new();
    msg.write_bhttp(bhttp::Mode::KnownLength, &mut request)
        .map_err(|_| ClientError::Ohttp("encoding the Binary HTTP request"))?;
    // The key configuration is rebuilt from the attested key, never taken from the host.
    let config = cloister_proto::ohttp_config::encode_key_config(
        enclave.bundle().ohttp_key_id,
        enclave.kem_pub(),
    )?;
    let client = ohttp::ClientRequest::from_encoded_config(&config)
        .map_err(|_| ClientError::Ohttp("key configuration"))?;
    let (enc_request, response_ctx) = client
        .encapsulate(&request)
        .map_err(|_| ClientError::Ohttp("encapsulation"))?;
    Ok((
        enc_request,
        PendingResult {
            response_ctx,
            request,
            model_id: model_id.to_owned(),
        },
    ))
}

impl PendingResult {
    /// Opens the encapsulated response and checks the signed result.
    ///
    /// # Errors
    /// [`ClientError::Ohttp`], the enclave's refusal ([`ClientError::Enclave`]), or
    /// [`ClientError::Result`] for a result that fails a check.
    pub fn open(
        self,
        enc_response: &[u8],
        enclave: &VerifiedEnclave,
        now: UnixTime,
    ) -> Result<VerifiedResult, ClientError> {
        let plain = self
            .response_ctx
            .decapsulate(enc_response)
            .map_err(|_| ClientError::Ohttp("decapsulation of the response"))?;
        let response = bhttp::Message::read_bhttp(&mut Cursor::new(&plain[..]))
            .map_err(|_| ClientError::Result(ResultCheck::NotBhttp))?;
        let status = response.control().status().map(u16::from).unwrap_or(0);
        if status != 200 {
            let code = response
                .header()
                .get(HEADER_ERROR_CODE.as_bytes())
                .map(|c| printable(&String::from_utf8_lossy(c)))
                .unwrap_or_else(|| "enclave.unknown".into());
            let message = serde_json::from_slice::<serde_json::Value>(response.content())
                .ok()
                .and_then(|v| v["error"]["message"].as_str().map(printable))
                .unwrap_or_default();
            return Err(ClientError::Enclave {
                status,
                code,
                message,
            });
        }
        if response.header().get(b"content-type") != Some(MEDIA_SIGNED_RESULT.as_bytes()) {
            return Err(ClientError::Result(ResultCheck::ContentType));
        }
        let signed = SignedResult::from_cbor(response.content())?;
        check_result(&signed, enclave, &self.model_id, &self.request, now)
            .map_err(ClientError::Result)?;
        Ok(VerifiedResult { signed })
    }
}

/// Every check of a signed result, in order: signature by the attested key, then each hash
/// and name against what the caller itself sent and verified, then time.
fn check_result(
    signed: &SignedResult,
    enclave: &VerifiedEnclave,
    model_id: &str,
    request: &[u8],
    now: UnixTime,
) -> Result<(), ResultCheck> {
    let s = &signed.statement;
    UnparsedPublicKey::new(&ED25519, enclave.sig_pub())
        .verify(&s.signing_bytes(), &signed.signature)
        .map_err(|_| ResultCheck::BadSignature)?;
    let checks = [
        (
            s.request_sha384 == sha384(request),
            ResultCheck::RequestHash,
        ),
        (
            s.output_sha384 == sha384(&signed.output),
            ResultCheck::OutputHash,
        ),
        (
            &s.evidence_sha384[..] == enclave.evidence_digest(),
            ResultCheck::EvidenceDigest,
        ),
        (s.model_id == model_id, ResultCheck::ModelId),
        (
            enclave.served_model_sha384(model_id) == Some(&s.model_sha384[..]),
            ResultCheck::ModelDigest,
        ),
        (
            s.issued_at.abs_diff(now.as_secs()) <= MAX_RESULT_SKEW_SECS,
            ResultCheck::ClockSkew,
        ),
    ];
    match checks.into_iter().find(|(ok, _)| !ok) {
        Some((_, failed)) => Err(failed),
        None => Ok(()),
    }
}
