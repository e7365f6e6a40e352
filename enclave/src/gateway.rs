//! The OHTTP gateway (RFC 9458 §4): opens a caller's request, runs it, and seals the answer to
//! that caller's HPKE context.
//!
//! Everything that fails *before* decapsulation is answered with a plaintext [`WireError`] that
//! the host may see (it names no content). Everything that fails *after* is answered inside the
//! encrypted response, as a Binary HTTP error with a `cloister-error` code, so the host learns
//! nothing about the request, not even why it failed.

use std::io::Cursor;

use cloister_proto::api::{HEADER_ERROR_CODE, HEADER_EVIDENCE_DIGEST, MEDIA_SIGNED_RESULT};
use cloister_proto::result::STATEMENT_VERSION;
use cloister_proto::{DIGEST_LEN, ResultStatement, SignedResult, WireError, sha384};
use zeroize::Zeroizing;

use crate::EnclaveRuntime;
use crate::inference::InferenceError;

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

/// Opens, serves and seals one OHTTP request.
///
/// # Errors
/// A plaintext [`WireError`] only when the request cannot be opened (too large, not for our
/// key, corrupted) or the answer cannot be sealed; all other failures travel encrypted.
pub(crate) fn serve(rt: &EnclaveRuntime, enc_request: &[u8]) -> Result<Vec<u8>, WireError> {
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
    let response = match run(rt, &plain) {
        Ok(signed) => bhttp_response(200, None, MEDIA_SIGNED_RESULT, &signed),
        Err(e) => {
            tracing::debug!(code = e.code(), "inner request rejected");
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
    let response = Zeroizing::new(response);
    response_ctx
        .encapsulate(&response)
        .map_err(|_| WireError::new("ohttp.encapsulate", "sealing the OHTTP response failed"))
}

fn run(rt: &EnclaveRuntime, plain_request: &[u8]) -> Result<Vec<u8>, InnerError> {
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
    if !rt.ledger.contains(&evidence_sha384) {
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

fn bhttp_response(status: u16, code: Option<&str>, media: &str, body: &[u8]) -> Option<Vec<u8>> {
    let status = bhttp::StatusCode::try_from(status).ok()?;
    let mut msg = bhttp::Message::response(status);
    msg.put_header("content-type", media);
    if let Some(code) = code {
        msg.put_header(HEADER_ERROR_CODE, code);
    }
    msg.write_content(body);
    let mut out = Vec::new();
    msg.write_bhttp(bhttp::Mode::KnownLength, &mut out).ok()?;
    Some(out)
}
