//! The KMS JSON API bodies of `TrentService.Decrypt` with a `Recipient` (AWS KMS API
//! reference, "Decrypt"), and KMS's error body.
//!
//! ```
//! use cloister_enclave::kms::request::DecryptRequest;
//! let body = DecryptRequest::new(b"blob", "arn:aws:kms:eu-west-1:1:key/k", b"doc").to_json()?;
//! let v: serde_json::Value = serde_json::from_slice(&body)?;
//! assert_eq!(v["Recipient"]["KeyEncryptionAlgorithm"], "RSAES_OAEP_SHA_256");
//! assert_eq!(v["CiphertextBlob"], "YmxvYg==");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};

/// `X-Amz-Target` of the call.
pub const TARGET_DECRYPT: &str = "TrentService.Decrypt";
/// `Content-Type` of every KMS JSON call.
pub const CONTENT_TYPE: &str = "application/x-amz-json-1.1";
/// The only symmetric algorithm a model key is wrapped with.
pub const SYMMETRIC_DEFAULT: &str = "SYMMETRIC_DEFAULT";
/// The only `Recipient` key encryption algorithm KMS offers.
pub const RSAES_OAEP_SHA_256: &str = "RSAES_OAEP_SHA_256";

/// The `Decrypt` request body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct DecryptRequest {
    /// Base64 of the `CiphertextBlob`.
    pub ciphertext_blob: String,
    /// The KMS key.
    pub key_id: String,
    /// Always [`SYMMETRIC_DEFAULT`].
    pub encryption_algorithm: String,
    /// The enclave as recipient.
    pub recipient: Recipient,
}

/// `Recipient`: the attestation document whose `public_key` KMS encrypts the plaintext to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Recipient {
    /// Base64 of the COSE_Sign1 attestation document.
    pub attestation_document: String,
    /// Always [`RSAES_OAEP_SHA_256`].
    pub key_encryption_algorithm: String,
}

impl DecryptRequest {
    /// The request for `ciphertext_blob` under `key_id`, to the enclave of `attestation_document`.
    pub fn new(ciphertext_blob: &[u8], key_id: &str, attestation_document: &[u8]) -> Self {
        Self {
            ciphertext_blob: B64.encode(ciphertext_blob),
            key_id: key_id.to_owned(),
            encryption_algorithm: SYMMETRIC_DEFAULT.to_owned(),
            recipient: Recipient {
                attestation_document: B64.encode(attestation_document),
                key_encryption_algorithm: RSAES_OAEP_SHA_256.to_owned(),
            },
        }
    }

    /// The JSON body.
    ///
    /// # Errors
    /// Never in practice (strings only); serde's error otherwise.
    pub fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }
}

/// The `Decrypt` response body, as far as a `Recipient` call uses it. Other fields are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DecryptResponse {
    /// Base64 of the CMS EnvelopedData encrypted to the document's `public_key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ciphertext_for_recipient: Option<String>,
    /// Must be absent or null with a `Recipient`: the enclave refuses a plaintext in the clear.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plaintext: Option<String>,
    /// The key that decrypted (an ARN).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// The algorithm used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_algorithm: Option<String>,
}

/// KMS's error body: `{"__type": "AccessDeniedException", "message": "..."}` (some errors
/// spell it `Message`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KmsErrorBody {
    /// The exception name, possibly prefixed with a namespace and `#`.
    #[serde(rename = "__type")]
    pub kind: String,
    /// The message.
    #[serde(default, alias = "Message", skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl KmsErrorBody {
    /// The exception name without a `namespace#` prefix.
    pub fn short_kind(&self) -> &str {
        self.kind.rsplit('#').next().unwrap_or(&self.kind)
    }
}
