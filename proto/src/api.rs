//! Names shared by the host's HTTP API, the enclave's OHTTP gateway and the client.

use serde::{Deserialize, Serialize};

/// `GET` with `?nonce=<hex>`: returns an [`crate::EvidenceBundle`] as CBOR.
pub const ROUTE_ATTESTATION: &str = "/v1/attestation";
/// `POST` an OHTTP request; returns an OHTTP response.
pub const ROUTE_INFER: &str = "/v1/infer";
/// `GET`: liveness of the host and its enclave link.
pub const ROUTE_HEALTH: &str = "/healthz";

/// Media type of an encapsulated OHTTP request (RFC 9458 §9.2).
pub const MEDIA_OHTTP_REQ: &str = "message/ohttp-req";
/// Media type of an encapsulated OHTTP response (RFC 9458 §9.3).
pub const MEDIA_OHTTP_RES: &str = "message/ohttp-res";
/// Media type of the evidence bundle.
pub const MEDIA_EVIDENCE: &str = "application/cloister-evidence+cbor";
/// Media type of a [`crate::SignedResult`] inside the Binary HTTP response.
pub const MEDIA_SIGNED_RESULT: &str = "application/cloister-result+cbor";

/// Inner (Binary HTTP) path prefix of an inference request: `/v1/models/{model_id}/infer`.
pub const INNER_MODELS_PREFIX: &str = "/v1/models/";
/// Inner path suffix.
pub const INNER_INFER_SUFFIX: &str = "/infer";
/// Inner request header: hex SHA-384 of the evidence the caller verified.
pub const HEADER_EVIDENCE_DIGEST: &str = "cloister-evidence-sha384";
/// Inner response header carrying a stable error code when the status is not 200.
pub const HEADER_ERROR_CODE: &str = "cloister-error";

/// Inner path of an inference request for `model_id`.
pub fn inner_infer_path(model_id: &str) -> String {
    format!("{INNER_MODELS_PREFIX}{model_id}{INNER_INFER_SUFFIX}")
}

/// The model id named by an inner path, if it has the inference shape.
pub fn model_id_from_inner_path(path: &str) -> Option<&str> {
    let id = path
        .strip_prefix(INNER_MODELS_PREFIX)?
        .strip_suffix(INNER_INFER_SUFFIX)?;
    (!id.is_empty() && !id.contains('/')).then_some(id)
}

/// JSON error body of the host's HTTP API: `{"error": {...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// A stable code, what was wrong, and what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// Stable dotted code.
    pub code: String,
    /// What was wrong.
    pub message: String,
    /// What to do about it.
    pub hint: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inner_paths_round_trip() {
        assert_eq!(
            model_id_from_inner_path(&inner_infer_path("m-1")),
            Some("m-1")
        );
        for bad in [
            "/v1/models//infer",
            "/v1/models/a/b/infer",
            "/v1/other",
            "/v1/models/x",
        ] {
            assert_eq!(model_id_from_inner_path(bad), None, "{bad}");
        }
    }
}
