//! AWS Signature Version 4 (HMAC-SHA256), the signing every AWS JSON API call needs.
//!
//! Implemented from AWS's published description ("Create a signed AWS API request", IAM user
//! guide): canonical request → string to sign → signing key derived from the secret by four
//! HMACs over date, region, service and `aws4_request` → `Authorization` header. HMAC and
//! SHA-256 are aws-lc-rs's. Checked against AWS's SigV4 test-suite vectors (see the tests).
//!
//! ```
//! use cloister_enclave::kms::credentials::AwsCredentials;
//! use cloister_enclave::kms::sigv4::{AmzDate, SigningRequest, authorization};
//!
//! let creds = AwsCredentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", None)?;
//! let date = AmzDate::from_unix(1_440_938_160)?; // 2015-08-30T12:36:00Z
//! assert_eq!(date.as_str(), "20150830T123600Z");
//! let request = SigningRequest {
//!     method: "GET",
//!     path: "/",
//!     query: &[],
//!     headers: &[("host", "example.amazonaws.com"), ("x-amz-date", date.as_str())],
//!     payload: b"",
//! };
//! let auth = authorization(&request, &creds, &date, "us-east-1", "service");
//! assert!(auth.ends_with("Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt::Write as _;

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::hmac;

use super::credentials::AwsCredentials;

/// The only algorithm this module signs with.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// A request time as SigV4 writes it, `YYYYMMDDTHHMMSSZ` (UTC): the `X-Amz-Date` header and,
/// its first 8 characters, the credential scope's date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmzDate(String);

impl AmzDate {
    /// The time `secs` seconds after the Unix epoch.
    ///
    /// # Errors
    /// [`AmzDateError`] if the time is outside what `time` represents.
    pub fn from_unix(secs: i64) -> Result<Self, AmzDateError> {
        let t = time::OffsetDateTime::from_unix_timestamp(secs).map_err(|_| AmzDateError)?;
        let format =
            time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
        t.format(format).map(Self).map_err(|_| AmzDateError)
    }

    /// `YYYYMMDDTHHMMSSZ`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `YYYYMMDD`.
    pub fn date(&self) -> &str {
        self.0.get(..8).unwrap_or(&self.0)
    }
}

/// A time that cannot be written as an `X-Amz-Date`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the time cannot be written as an X-Amz-Date")]
pub struct AmzDateError;

/// What is signed: the parts of an HTTP request that SigV4 covers.
#[derive(Debug, Clone, Copy)]
pub struct SigningRequest<'a> {
    /// `GET`, `POST`, ...
    pub method: &'a str,
    /// The absolute path, already URI-encoded (`/` for every AWS JSON API).
    pub path: &'a str,
    /// Query parameters, not encoded (this module encodes and sorts them).
    pub query: &'a [(&'a str, &'a str)],
    /// Every header to sign (at least `host` and `x-amz-date`), any case and order.
    pub headers: &'a [(&'a str, &'a str)],
    /// The body.
    pub payload: &'a [u8],
}

/// The `Authorization` header value for `request`, signed for `region` and `service` at `date`.
pub fn authorization(
    request: &SigningRequest<'_>,
    credentials: &AwsCredentials,
    date: &AmzDate,
    region: &str,
    service: &str,
) -> String {
    let (signed_headers, signature) = signature(request, credentials, date, region, service);
    format!(
        "{ALGORITHM} Credential={}/{}, SignedHeaders={signed_headers}, Signature={signature}",
        credentials.access_key_id(),
        scope(date, region, service),
    )
}

/// The signed-headers list and the hex signature of `request`.
pub fn signature(
    request: &SigningRequest<'_>,
    credentials: &AwsCredentials,
    date: &AmzDate,
    region: &str,
    service: &str,
) -> (String, String) {
    let (canonical, signed_headers) = canonical_request(request);
    let to_sign = string_to_sign(&canonical, date, region, service);
    let key = signing_key(
        credentials.secret_access_key(),
        date.date(),
        region,
        service,
    );
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &key), to_sign.as_bytes());
    (signed_headers, hex::encode(tag.as_ref()))
}

/// The canonical request (Task 1) and its signed-headers list.
pub fn canonical_request(request: &SigningRequest<'_>) -> (String, String) {
    let mut query: Vec<(String, String)> = request
        .query
        .iter()
        .map(|(k, v)| (uri_encode(k), uri_encode(v)))
        .collect();
    query.sort();
    let query = query
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");

    // Lower-case names; values trimmed, inner runs of spaces collapsed; repeated names joined
    // with commas in the order given; sorted by name.
    let mut headers: Vec<(String, String)> = Vec::with_capacity(request.headers.len());
    for (name, value) in request.headers {
        let name = name.to_ascii_lowercase();
        let value = value.split_whitespace().collect::<Vec<_>>().join(" ");
        match headers.iter_mut().find(|(n, _)| *n == name) {
            Some((_, v)) => {
                v.push(',');
                v.push_str(&value);
            }
            None => headers.push((name, value)),
        }
    }
    headers.sort_by(|a, b| a.0.cmp(&b.0));
    let mut canonical_headers = String::new();
    for (name, value) in &headers {
        let _ = writeln!(canonical_headers, "{name}:{value}");
    }
    let signed_headers = headers
        .iter()
        .map(|(n, _)| n.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let canonical = format!(
        "{}\n{}\n{query}\n{canonical_headers}\n{signed_headers}\n{}",
        request.method,
        request.path,
        sha256_hex(request.payload),
    );
    (canonical, signed_headers)
}

/// The string to sign (Task 2).
pub fn string_to_sign(
    canonical_request: &str,
    date: &AmzDate,
    region: &str,
    service: &str,
) -> String {
    format!(
        "{ALGORITHM}\n{}\n{}\n{}",
        date.as_str(),
        scope(date, region, service),
        sha256_hex(canonical_request.as_bytes())
    )
}

/// The signing key (Task 3): `HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service),
/// "aws4_request")`.
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let seed = zeroize::Zeroizing::new(format!("AWS4{secret}").into_bytes());
    let mut tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &seed), date.as_bytes());
    for part in [region, service, "aws4_request"] {
        tag = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, tag.as_ref()),
            part.as_bytes(),
        );
    }
    let mut out = [0; 32];
    // HMAC-SHA256 tags are 32 bytes.
    out.copy_from_slice(tag.as_ref());
    out
}

/// `DATE/REGION/SERVICE/aws4_request`.
fn scope(date: &AmzDate, region: &str, service: &str) -> String {
    format!("{}/{region}/{service}/aws4_request", date.date())
}

/// Lower-case hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(digest(&SHA256, bytes).as_ref())
}

/// RFC 3986 percent-encoding of everything but the unreserved characters, upper-case hex.
fn uri_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests;
