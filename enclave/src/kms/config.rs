//! A model entry's `"kms"` object: which KMS key, in which region, opens which `CiphertextBlob`.
//!
//! Part of the enclave's measured configuration, like the rest of it: a change of key, region,
//! endpoint or trusted CA changes the measurement.
//!
//! ```json
//! "kms": {
//!   "region": "eu-west-1",
//!   "key_id": "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
//!   "ciphertext_blob": "<base64 of the CiphertextBlob that `aws kms encrypt` returned for the DEK>",
//!   "endpoint": "https://kms-fips.eu-west-1.amazonaws.com",
//!   "dangerous_kms_ca_pem": "-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----\n"
//! }
//! ```
//!
//! `endpoint` (optional) replaces `https://kms.<region>.amazonaws.com` as the TLS server name,
//! `Host` and signed host; `dangerous_kms_ca_pem` (optional, tests only) replaces the pinned
//! Amazon roots with the given CA certificates.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject as _;
use serde::Deserialize;

use crate::config::ConfigError;

/// Largest `CiphertextBlob` KMS produces for a symmetric key is 6144 bytes.
pub const MAX_CIPHERTEXT_BLOB_LEN: usize = 6144;
/// Largest `KeyId` KMS accepts.
pub const MAX_KEY_ID_LEN: usize = 2048;

/// The `"kms"` object as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct KmsFile {
    region: String,
    key_id: String,
    ciphertext_blob: String,
    #[serde(default)]
    endpoint: Option<String>,
    #[serde(default)]
    dangerous_kms_ca_pem: Option<String>,
}

/// A checked `"kms"` object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KmsKeyRef {
    region: String,
    key_id: String,
    ciphertext_blob: Vec<u8>,
    host: String,
    port: u16,
    dangerous_ca_der: Option<Vec<Vec<u8>>>,
}

fn bad(field: &'static str, problem: &'static str) -> ConfigError {
    ConfigError::BadKms { field, problem }
}

impl KmsFile {
    /// Checks every field.
    pub(crate) fn check(self) -> Result<KmsKeyRef, ConfigError> {
        let region_ok = !self.region.is_empty()
            && self.region.len() <= 32
            && self
                .region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !region_ok {
            return Err(bad(
                "region",
                "must be an AWS region name such as eu-west-1",
            ));
        }
        if self.key_id.is_empty()
            || self.key_id.len() > MAX_KEY_ID_LEN
            || !self.key_id.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(bad(
                "key_id",
                "must be a KMS key ARN, key id or alias of printable ASCII",
            ));
        }
        let ciphertext_blob = B64
            .decode(self.ciphertext_blob.trim())
            .map_err(|_| bad("ciphertext_blob", "is not standard base64"))?;
        if ciphertext_blob.is_empty() || ciphertext_blob.len() > MAX_CIPHERTEXT_BLOB_LEN {
            return Err(bad(
                "ciphertext_blob",
                "must decode to 1 to 6144 bytes (a KMS CiphertextBlob)",
            ));
        }
        let (host, port) = match &self.endpoint {
            None => (format!("kms.{}.amazonaws.com", self.region), 443),
            Some(url) => parse_endpoint(url)?,
        };
        let dangerous_ca_der = match &self.dangerous_kms_ca_pem {
            None => None,
            Some(pem) => {
                let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
                    .map(|c| c.map(|c| c.as_ref().to_vec()))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|_| bad("dangerous_kms_ca_pem", "is not PEM"))?;
                if certs.is_empty() {
                    return Err(bad("dangerous_kms_ca_pem", "holds no CERTIFICATE block"));
                }
                Some(certs)
            }
        };
        Ok(KmsKeyRef {
            region: self.region,
            key_id: self.key_id,
            ciphertext_blob,
            host,
            port,
            dangerous_ca_der,
        })
    }
}

/// `https://HOST[:PORT]`, nothing else.
fn parse_endpoint(url: &str) -> Result<(String, u16), ConfigError> {
    let fail = || bad("endpoint", "must be https://HOST or https://HOST:PORT");
    let rest = url.strip_prefix("https://").ok_or_else(fail)?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let (host, port) = match rest.rsplit_once(':') {
        Some((host, port)) => (host, port.parse::<u16>().map_err(|_| fail())?),
        None => (rest, 443),
    };
    let host_ok = !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    if !host_ok || port == 0 {
        return Err(fail());
    }
    Ok((host.to_ascii_lowercase(), port))
}

impl KmsKeyRef {
    /// The AWS region (the SigV4 scope's).
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The KMS key (`KeyId` of the request).
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The `CiphertextBlob` of the model's data key.
    pub fn ciphertext_blob(&self) -> &[u8] {
        &self.ciphertext_blob
    }

    /// The TLS server name and signed host.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The `Host` header: the host, with `:port` unless 443.
    pub fn host_header(&self) -> String {
        if self.port == 443 {
            self.host.clone()
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The CA certificates (DER) that replace the pinned Amazon roots, if the configuration
    /// says so (tests only).
    pub fn dangerous_ca_der(&self) -> Option<&[Vec<u8>]> {
        self.dangerous_ca_der.as_deref()
    }
}
