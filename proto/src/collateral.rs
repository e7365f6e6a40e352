//! The DCAP collateral of one TDX quote, as the evidence bundle carries it: the UTF-8 JSON of
//! dcap-qvl's `QuoteCollateralV3` shape, an object of nine strings.
//!
//! The host writes it (fetched from Intel PCS or a PCCS); verifiers read it with their own parser
//! (`cloister_attestation::tdx::TdxCollateral::from_json`, which depends on nothing of ours). The
//! `tcb_info` and `qe_identity` strings are the exact JSON text Intel signed, never
//! re-serialized.
//!
//! ```
//! use cloister_proto::collateral::QuoteCollateralV3;
//!
//! let c = QuoteCollateralV3 {
//!     pck_crl_issuer_chain: "-----BEGIN CERTIFICATE-----…".into(),
//!     root_ca_crl: "3082".into(),
//!     pck_crl: "3082".into(),
//!     tcb_info_issuer_chain: "-----BEGIN CERTIFICATE-----…".into(),
//!     tcb_info: r#"{"id":"TDX"}"#.into(),
//!     tcb_info_signature: "00".repeat(64),
//!     qe_identity_issuer_chain: "-----BEGIN CERTIFICATE-----…".into(),
//!     qe_identity: r#"{"id":"TD_QE"}"#.into(),
//!     qe_identity_signature: "00".repeat(64),
//! };
//! let json = c.to_json();
//! assert!(json.starts_with(br#"{"pck_crl_issuer_chain":"#));
//! assert_eq!(QuoteCollateralV3::from_json(&json)?, c);
//! # Ok::<(), serde_json::Error>(())
//! ```

use serde::{Deserialize, Serialize};

/// The collateral of one TDX quote in dcap-qvl's `QuoteCollateralV3` JSON shape. Every field is
/// a string; serialized with [`QuoteCollateralV3::to_json`] it is the bundle's collateral item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuoteCollateralV3 {
    /// PEM chain that signed the PCK CRL.
    pub pck_crl_issuer_chain: String,
    /// Hex of the Intel SGX Root CA's CRL (DER).
    pub root_ca_crl: String,
    /// Hex of the PCK Platform or Processor CA's CRL (DER).
    pub pck_crl: String,
    /// PEM chain that signed the TCB info.
    pub tcb_info_issuer_chain: String,
    /// The `tcbInfo` JSON value, byte for byte as served.
    pub tcb_info: String,
    /// Hex ECDSA P-256 signature (r‖s) over `tcb_info`.
    pub tcb_info_signature: String,
    /// PEM chain that signed the QE identity.
    pub qe_identity_issuer_chain: String,
    /// The `enclaveIdentity` JSON value, byte for byte as served.
    pub qe_identity: String,
    /// Hex ECDSA P-256 signature (r‖s) over `qe_identity`.
    pub qe_identity_signature: String,
}

impl QuoteCollateralV3 {
    /// The UTF-8 JSON object, the form the evidence bundle carries (fields in declaration order).
    pub fn to_json(&self) -> Vec<u8> {
        // A struct of nine `String`s always serializes: serde_json fails only on maps with
        // non-string keys and on I/O errors, and a `Vec` writer has none.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Reads the JSON object; unknown fields are refused.
    ///
    /// # Errors
    /// The JSON error when `bytes` is not an object of exactly these nine strings.
    pub fn from_json(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_and_missing_fields_are_refused() {
        assert!(QuoteCollateralV3::from_json(b"{}").is_err());
        let mut v: serde_json::Value = serde_json::from_slice(
            &QuoteCollateralV3 {
                pck_crl_issuer_chain: String::new(),
                root_ca_crl: String::new(),
                pck_crl: String::new(),
                tcb_info_issuer_chain: String::new(),
                tcb_info: String::new(),
                tcb_info_signature: String::new(),
                qe_identity_issuer_chain: String::new(),
                qe_identity: String::new(),
                qe_identity_signature: String::new(),
            }
            .to_json(),
        )
        .unwrap_or_default();
        assert!(QuoteCollateralV3::from_json(v.to_string().as_bytes()).is_ok());
        v["extra"] = serde_json::Value::from("x");
        assert!(QuoteCollateralV3::from_json(v.to_string().as_bytes()).is_err());
    }
}
