//! The fields of a verified Nitro (or mock) document, as plain data for display and policy
//! engines: hex strings, no raw bytes, so they serialize the same way everywhere.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::VerifiedNitroDocument;

/// A Nitro (or mock) document's fields. Built from a [`VerifiedNitroDocument`], never from
/// unverified bytes; deserializing one from JSON gives a value to display or compare, not
/// evidence.
///
/// ```
/// # use cloister_attestation::nitro::NitroClaims;
/// let json = r#"{"module_id":"m","timestamp_ms":1,"pcrs":{"0":"00"},
///   "user_data":null,"nonce":null,"public_key":null}"#;
/// let claims: NitroClaims = serde_json::from_str(json).unwrap();
/// assert_eq!(claims.pcrs[&0], "00");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NitroClaims {
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
}

impl VerifiedNitroDocument {
    /// The document's fields as [`NitroClaims`].
    pub fn nitro_claims(&self) -> NitroClaims {
        NitroClaims {
            module_id: self.module_id().to_owned(),
            timestamp_ms: self.timestamp_ms(),
            pcrs: self
                .pcrs()
                .iter()
                .map(|(i, v)| (*i, hex::encode(v)))
                .collect(),
            user_data: self.user_data().map(hex::encode),
            nonce: self.nonce().map(hex::encode),
            public_key: self.public_key().map(hex::encode),
        }
    }
}
