//! Normalized claims: what policy reads and what the CLI prints.
//!
//! [`Claims`] is plain data (hex strings, no raw bytes) so it serializes the same way everywhere.
//! It is built from a [`VerifiedNitroDocument`](crate::nitro::VerifiedNitroDocument), never from
//! unverified bytes; deserializing a `Claims` from JSON gives a value to display or compare, not
//! evidence.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Which root of trust vouched for a document.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    /// AWS Nitro Enclaves, chained to the AWS Nitro Enclaves Root G1.
    Nitro,
    /// The mock platform used by CI and the demo, chained to a locally generated mock root.
    Mock,
}

impl Platform {
    /// The lowercase name used in JSON: `"nitro"` or `"mock"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Nitro => "nitro",
            Self::Mock => "mock",
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The normalized content of verified evidence.
///
/// ```
/// # use cloister_attestation::{Claims, Platform};
/// let json = r#"{"platform":"mock","module_id":"m","timestamp_ms":1,"pcrs":{"0":"00"},
///   "user_data":null,"nonce":null,"public_key":null,"debug":true,"root_sha256":"ab"}"#;
/// let claims: Claims = serde_json::from_str(json).unwrap();
/// assert_eq!(claims.platform, Platform::Mock);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claims {
    /// The root of trust.
    pub platform: Platform,
    /// The NSM module id (`i-…-enc…` on AWS).
    pub module_id: String,
    /// When the NSM produced the document, milliseconds since the epoch.
    pub timestamp_ms: u64,
    /// PCR index → lowercase hex value.
    pub pcrs: BTreeMap<u16, String>,
    /// `user_data` as lowercase hex (the key binding, for Cloister enclaves).
    pub user_data: Option<String>,
    /// `nonce` as lowercase hex.
    pub nonce: Option<String>,
    /// `public_key` as lowercase hex.
    pub public_key: Option<String>,
    /// True for a debug-mode enclave (PCR0, PCR1 and PCR2 all zero).
    pub debug: bool,
    /// SHA-256 of the DER root certificate the chain ends in, lowercase hex.
    pub root_sha256: String,
}
