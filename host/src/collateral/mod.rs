//! Intel DCAP collateral for TDX evidence: fetched from Intel PCS or a PCCS, cached, and added
//! to the evidence bundle so a verifier needs no network.
//!
//! The host is untrusted, and that is fine here: the collateral is public and authenticates
//! itself (TCB info and QE identity are signed by the Intel SGX TCB Signing key, the CRLs by the
//! Intel CAs, all chaining to the Intel SGX Root CA the verifier pins). The host can withhold or
//! delay collateral, never forge it. It must not alter the signed bytes either, so the
//! `tcbInfo` and `enclaveIdentity` JSON values are kept as the exact text the service sent
//! ([`serde_json::value::RawValue`]), never re-serialized.
//!
//! What goes into the bundle is ONE collateral item: the UTF-8 JSON of dcap-qvl's
//! `QuoteCollateralV3` shape, an object of nine strings. The format is `cloister-proto`'s
//! ([`QuoteCollateralV3`]); this module only fetches and caches it:
//!
//! | module | job |
//! |---|---|
//! | [`pcs`] | [`PcsClient`]: four bounded requests to Intel PCS or a PCCS, checked and assembled |
//! | [`cache`] | [`CollateralCache`]: entries by (FMSPC, CA) until their earliest `nextUpdate` |
//! | this module | the configuration, the errors, and what both share |
//!
//! Endpoints (Intel PCS v4; a PCCS serves the same paths), from the base URL `--pccs-url`:
//!
//! | item | request | where the parts are |
//! |---|---|---|
//! | TCB info | `GET {base}/tdx/certification/v4/tcb?fmspc={FMSPC}` | body `{"tcbInfo":…,"signature":hex}`, header `TCB-Info-Issuer-Chain` |
//! | QE identity | `GET {base}/tdx/certification/v4/qe/identity` | body `{"enclaveIdentity":…,"signature":hex}`, header `SGX-Enclave-Identity-Issuer-Chain` |
//! | PCK CRL | `GET {base}/sgx/certification/v4/pckcrl?ca={platform\|processor}&encoding=der` | body DER, header `SGX-PCK-CRL-Issuer-Chain` |
//! | Root CA CRL | Intel PCS: [`INTEL_ROOT_CA_CRL_URL`]; a PCCS: `GET {base}/sgx/certification/v4/rootcacrl` | body DER (Intel) or hex of DER (PCCS) |
//!
//! Issuer chains arrive URL-encoded (percent-encoding) and are decoded to PEM. Each request is
//! bounded (timeout, [`CollateralConfig::max_response_bytes`]), and every failure is a typed
//! [`CollateralError`] with a stable code; nothing here logs a body.
//!
//! [`CollateralCache`] keys entries by (FMSPC, CA) and reuses one until the earliest
//! `nextUpdate` of its TCB info, QE identity and CRLs, then refetches. The clock is an input.

mod cache;
mod pcs;
#[cfg(test)]
pub(crate) mod tests;

use std::time::Duration;

use cloister_attestation::{AttestationError, UnixTime};
pub use cloister_proto::collateral::QuoteCollateralV3;
use thiserror::Error;

pub use cache::{Clock, CollateralCache};
pub use pcs::PcsClient;

/// Intel's production Provisioning Certification Service.
pub const INTEL_PCS_URL: &str = "https://api.trustedservices.intel.com";

/// Where Intel publishes the Intel SGX Root CA's CRL (DER).
pub const INTEL_ROOT_CA_CRL_URL: &str =
    "https://certificates.trustedservices.intel.com/IntelSGXRootCA.der";

/// Default bound on one response body.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// Default timeout of one request (connect, send, read).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);

/// Default number of (FMSPC, CA) entries the cache keeps (a host normally needs one).
pub const DEFAULT_MAX_ENTRIES: usize = 16;

/// Fetching or assembling collateral failed: one variant, and one stable code, per check.
/// Messages name the URL, the item or the values compared, never a body.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CollateralError {
    /// A base URL is not an http(s) URL with a host.
    #[error("{flag} {url:?} is not an http(s) URL with a host")]
    BadUrl {
        /// The flag (or configuration field) that gave it.
        flag: &'static str,
        /// The URL given.
        url: String,
    },
    /// A limit that must be above zero is zero.
    #[error("{what} must be above zero")]
    ZeroLimit {
        /// Which limit.
        what: &'static str,
    },
    /// The HTTP client could not be built (TLS backend).
    #[error("building the HTTP client")]
    HttpClient(#[source] reqwest::Error),
    /// The CA is not `platform` or `processor`.
    #[error("PCK CA {0:?} is neither \"platform\" nor \"processor\"")]
    BadCa(String),
    /// The quote's PCK certificate could not be read for FMSPC and CA.
    #[error("reading FMSPC and CA from the quote's PCK certificate [{code}]", code = .0.code())]
    Quote(#[source] AttestationError),
    /// The request failed: connection, TLS, timeout.
    #[error("GET {url}: {kind}")]
    Http {
        /// The URL asked.
        url: String,
        /// What kind of failure (timed out, connection failed, too many redirects).
        kind: &'static str,
        /// reqwest's error.
        #[source]
        source: reqwest::Error,
    },
    /// The service answered with a non-success status.
    #[error("GET {url}: status {status}")]
    Status {
        /// The URL asked.
        url: String,
        /// The HTTP status.
        status: u16,
    },
    /// The body was larger than allowed.
    #[error("GET {url}: body larger than {limit} bytes")]
    TooLarge {
        /// The URL asked.
        url: String,
        /// The limit.
        limit: usize,
    },
    /// A required header was missing.
    #[error("GET {url}: header {header} is missing")]
    MissingHeader {
        /// The URL asked.
        url: String,
        /// The header.
        header: &'static str,
    },
    /// A header was not a URL-encoded PEM certificate chain.
    #[error("GET {url}: header {header} is not a URL-encoded PEM certificate chain")]
    BadHeader {
        /// The URL asked.
        url: String,
        /// The header.
        header: &'static str,
    },
    /// A body (or a member of it) is not the JSON it should be.
    #[error("GET {url}: {what} is not the expected JSON")]
    NotJson {
        /// The URL asked.
        url: String,
        /// The body or member read.
        what: &'static str,
        /// serde_json's error (positions and expectations, never the body's text).
        #[source]
        source: serde_json::Error,
    },
    /// A signed body lacks a member.
    #[error("GET {url}: no {member:?} member")]
    MissingMember {
        /// The URL asked.
        url: String,
        /// The member.
        member: &'static str,
    },
    /// A signed body's payload member is not a JSON object.
    #[error("GET {url}: {member:?} is not a JSON object")]
    NotAnObject {
        /// The URL asked.
        url: String,
        /// The member.
        member: &'static str,
    },
    /// A signed body's `signature` is not a string of 64 bytes in hex (r‖s).
    #[error("GET {url}: \"signature\" is not a string of 64 bytes in hex (r‖s)")]
    BadSignature {
        /// The URL asked.
        url: String,
    },
    /// A CRL body is neither DER nor hex of DER, or not a DER SEQUENCE.
    #[error("GET {url}: the CRL is neither DER nor hex of a DER SEQUENCE")]
    BadCrl {
        /// The URL asked.
        url: String,
    },
    /// A signed item's `id` is not the one this endpoint serves.
    #[error("GET {url}: {item}.id is {found:?}, expected {expected:?}")]
    WrongId {
        /// The URL asked.
        url: String,
        /// `tcbInfo` or `enclaveIdentity`.
        item: &'static str,
        /// The id required.
        expected: &'static str,
        /// The id served.
        found: String,
    },
    /// The TCB info is for another FMSPC than the one asked.
    #[error("GET {url}: tcbInfo is for FMSPC {found}, not {expected}")]
    WrongFmspc {
        /// The URL asked.
        url: String,
        /// The FMSPC asked (upper-case hex).
        expected: String,
        /// The FMSPC served.
        found: String,
    },
    /// The assembled collateral does not parse with the verifier's parser (a `nextUpdate` is
    /// missing or unreadable, a CRL or JSON item is malformed).
    #[error("the assembled collateral does not parse [{code}]", code = .0.code())]
    BadDate(#[source] AttestationError),
    /// The assembled collateral would not fit in one evidence-bundle item.
    #[error("assembled collateral is {len} bytes, more than the {limit} a bundle item takes")]
    Assembled {
        /// Its length.
        len: usize,
        /// [`cloister_proto::evidence::MAX_COLLATERAL_ITEM_LEN`].
        limit: usize,
    },
}

impl CollateralError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadUrl { .. } => "collateral.bad_url",
            Self::ZeroLimit { .. } => "collateral.zero_limit",
            Self::HttpClient(_) => "collateral.http_client",
            Self::BadCa(_) => "collateral.bad_ca",
            Self::Quote(_) => "collateral.quote",
            Self::Http { .. } => "collateral.http",
            Self::Status { .. } => "collateral.status",
            Self::TooLarge { .. } => "collateral.too_large",
            Self::MissingHeader { .. } => "collateral.missing_header",
            Self::BadHeader { .. } => "collateral.bad_header",
            Self::NotJson { .. } => "collateral.not_json",
            Self::MissingMember { .. } => "collateral.missing_member",
            Self::NotAnObject { .. } => "collateral.not_an_object",
            Self::BadSignature { .. } => "collateral.bad_signature",
            Self::BadCrl { .. } => "collateral.bad_crl",
            Self::WrongId { .. } => "collateral.wrong_id",
            Self::WrongFmspc { .. } => "collateral.wrong_fmspc",
            Self::BadDate(_) => "collateral.bad_date",
            Self::Assembled { .. } => "collateral.assembled_too_large",
        }
    }
}

/// The earliest `nextUpdate` of the TCB info, the QE identity and both CRLs: when `collateral`
/// must be refetched, because a verifier will refuse it from then on. Read with the verifier's
/// own parser, so the host and the caller agree on it.
///
/// # Errors
/// [`CollateralError::BadDate`] if the collateral does not parse or a date is missing.
pub fn next_update(collateral: &QuoteCollateralV3) -> Result<UnixTime, CollateralError> {
    let parsed = cloister_attestation::tdx::TdxCollateral::from_json(&collateral.to_json())
        .map_err(CollateralError::BadDate)?;
    Ok(UnixTime::from_secs(parsed.window().1))
}

/// Where and how to fetch.
#[derive(Debug, Clone)]
pub struct CollateralConfig {
    /// Base URL of Intel PCS or a PCCS (no path: the `/tdx/…` and `/sgx/…` paths are added).
    pub pccs_url: String,
    /// Where the Root CA CRL comes from; `None`: [`INTEL_ROOT_CA_CRL_URL`] for Intel PCS, the
    /// PCCS's `rootcacrl` endpoint otherwise. DER and hex bodies are both accepted.
    pub root_ca_crl_url: Option<String>,
    /// Timeout of one request.
    pub timeout: Duration,
    /// Largest response body accepted.
    pub max_response_bytes: usize,
    /// Most cache entries kept.
    pub max_entries: usize,
}

impl Default for CollateralConfig {
    fn default() -> Self {
        Self {
            pccs_url: INTEL_PCS_URL.to_owned(),
            root_ca_crl_url: None,
            timeout: DEFAULT_TIMEOUT,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            max_entries: DEFAULT_MAX_ENTRIES,
        }
    }
}

/// The PCK CA parameter of the PCS API, checked.
fn pcs_ca(ca: &str) -> Result<&'static str, CollateralError> {
    match ca {
        "platform" => Ok("platform"),
        "processor" => Ok("processor"),
        other => Err(CollateralError::BadCa(other.to_owned())),
    }
}

/// FMSPC and PCK CA (`"platform"` or `"processor"`) from a TDX quote's PCK certificate.
///
/// # Errors
/// [`CollateralError::Quote`] if the quote or its PCK certificate cannot be read.
pub fn pck_identity(quote: &[u8]) -> Result<([u8; 6], &'static str), CollateralError> {
    use cloister_attestation::tdx::TdxQuote;
    let id = TdxQuote::parse(quote)
        .and_then(|q| q.pck_identity())
        .map_err(CollateralError::Quote)?;
    Ok((id.fmspc, id.ca.as_pcs_param()))
}
