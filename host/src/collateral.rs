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
//! `QuoteCollateralV3` shape, an object of nine strings ([`QuoteCollateral`]).
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
//! `nextUpdate` of its TCB info and QE identity, then refetches. The clock is an input.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cloister_attestation::UnixTime;
use cloister_proto::evidence::MAX_COLLATERAL_ITEM_LEN;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use thiserror::Error;

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

/// Header carrying the TCB info signer chain (TDX). SGX endpoints name it with an `SGX-` prefix;
/// both are accepted.
const HDR_TCB_CHAIN: &str = "TCB-Info-Issuer-Chain";
const HDR_TCB_CHAIN_SGX: &str = "SGX-TCB-Info-Issuer-Chain";
const HDR_QE_CHAIN: &str = "SGX-Enclave-Identity-Issuer-Chain";
const HDR_PCK_CRL_CHAIN: &str = "SGX-PCK-CRL-Issuer-Chain";

/// Fetching or assembling collateral failed. Messages name the URL or the item, never a body.
#[derive(Debug, Error)]
pub enum CollateralError {
    /// The configuration is unusable (a base URL that is not http(s), a zero limit).
    #[error("collateral configuration: {0}")]
    Config(String),
    /// The CA is not `platform` or `processor`.
    #[error("PCK CA {0:?} is neither \"platform\" nor \"processor\"")]
    BadCa(String),
    /// The quote's PCK certificate could not be read for FMSPC and CA.
    #[error("reading FMSPC and CA from the quote's PCK certificate: {0}")]
    Quote(String),
    /// The request failed: connection, TLS, timeout.
    #[error("GET {url}: {reason}")]
    Http {
        /// The URL asked.
        url: String,
        /// What failed.
        reason: String,
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
    /// A body did not have the expected shape.
    #[error("GET {url}: {what}")]
    BadBody {
        /// The URL asked.
        url: String,
        /// What is wrong with it.
        what: String,
    },
    /// The collateral does not parse, or one of its parts has no usable `nextUpdate`.
    #[error("{what}.nextUpdate: {reason}")]
    BadDate {
        /// What was being read.
        what: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The assembled collateral would not fit in one evidence-bundle item.
    #[error("assembled collateral is {len} bytes, more than the {limit} a bundle item takes")]
    Assembled {
        /// Its length.
        len: usize,
        /// [`MAX_COLLATERAL_ITEM_LEN`].
        limit: usize,
    },
}

impl CollateralError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Config(_) => "collateral.config",
            Self::BadCa(_) => "collateral.bad_ca",
            Self::Quote(_) => "collateral.quote",
            Self::Http { .. } => "collateral.http",
            Self::Status { .. } => "collateral.status",
            Self::TooLarge { .. } => "collateral.too_large",
            Self::MissingHeader { .. } => "collateral.missing_header",
            Self::BadHeader { .. } => "collateral.bad_header",
            Self::BadBody { .. } => "collateral.bad_body",
            Self::BadDate { .. } => "collateral.bad_date",
            Self::Assembled { .. } => "collateral.assembled_too_large",
        }
    }
}

/// The collateral of one TDX quote, in dcap-qvl's `QuoteCollateralV3` JSON shape. Every field is
/// a string; serialized with [`QuoteCollateral::to_json`] it is the bundle's collateral item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuoteCollateral {
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

impl QuoteCollateral {
    /// The UTF-8 JSON object, the form the evidence bundle carries.
    pub fn to_json(&self) -> Vec<u8> {
        // Serializing a struct of strings cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// The earliest `nextUpdate` of the TCB info, the QE identity and both CRLs: when this
    /// collateral must be refetched, because a verifier will refuse it from then on. Read with
    /// the verifier's own parser, so the host and the caller agree on it.
    ///
    /// # Errors
    /// [`CollateralError::BadDate`] if the collateral does not parse or a date is missing.
    pub fn next_update(&self) -> Result<UnixTime, CollateralError> {
        let parsed =
            cloister_attestation::tdx::TdxCollateral::from_json(&self.to_json()).map_err(|e| {
                CollateralError::BadDate {
                    what: "collateral",
                    reason: e.to_string(),
                }
            })?;
        Ok(UnixTime::from_secs(parsed.window().1))
    }
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

/// Fetches collateral from one PCS or PCCS, uncached.
#[derive(Debug, Clone)]
pub struct PcsClient {
    http: reqwest::Client,
    base: String,
    root_ca_crl_url: String,
    max_response_bytes: usize,
}

impl PcsClient {
    /// A client for `config`.
    ///
    /// # Errors
    /// [`CollateralError::Config`] for a URL that is not http(s) or a zero limit.
    pub fn new(config: &CollateralConfig) -> Result<Self, CollateralError> {
        let base = config.pccs_url.trim_end_matches('/').to_owned();
        check_url("--pccs-url", &base)?;
        let root_ca_crl_url = match &config.root_ca_crl_url {
            Some(url) => {
                check_url("--root-ca-crl-url", url)?;
                url.clone()
            }
            None if base == INTEL_PCS_URL => INTEL_ROOT_CA_CRL_URL.to_owned(),
            None => format!("{base}/sgx/certification/v4/rootcacrl"),
        };
        if config.max_response_bytes == 0 || config.timeout.is_zero() {
            return Err(CollateralError::Config(
                "the response limit and the timeout must be above zero".to_owned(),
            ));
        }
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::limited(3))
            .user_agent(concat!("cloister-host/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| CollateralError::Config(format!("building the HTTP client: {e}")))?;
        Ok(Self {
            http,
            base,
            root_ca_crl_url,
            max_response_bytes: config.max_response_bytes,
        })
    }

    /// The Root CA CRL URL in use.
    pub fn root_ca_crl_url(&self) -> &str {
        &self.root_ca_crl_url
    }

    /// Fetches and assembles the collateral for a PCK certificate with `fmspc`, issued by the
    /// PCK `ca` (`"platform"` or `"processor"`): four requests, in sequence.
    ///
    /// # Errors
    /// The first [`CollateralError`] met; nothing partial is returned.
    pub async fn fetch(
        &self,
        fmspc: [u8; 6],
        ca: &str,
    ) -> Result<QuoteCollateral, CollateralError> {
        let ca = pcs_ca(ca)?;
        let fmspc_hex = hex::encode_upper(fmspc);

        let url = format!("{}/tdx/certification/v4/tcb?fmspc={fmspc_hex}", self.base);
        let r = self.get(&url).await?;
        let tcb_info_issuer_chain = match r.header_chain(HDR_TCB_CHAIN) {
            Err(CollateralError::MissingHeader { .. }) => r.header_chain(HDR_TCB_CHAIN_SGX),
            other => other,
        }?;
        let (tcb_info, tcb_info_signature) = r.signed_json("tcbInfo")?;
        check_tcb_info(&url, &tcb_info, &fmspc_hex)?;

        let url = format!("{}/tdx/certification/v4/qe/identity", self.base);
        let r = self.get(&url).await?;
        let qe_identity_issuer_chain = r.header_chain(HDR_QE_CHAIN)?;
        let (qe_identity, qe_identity_signature) = r.signed_json("enclaveIdentity")?;
        check_id(&url, &qe_identity, "enclaveIdentity", "TD_QE")?;

        let url = format!(
            "{}/sgx/certification/v4/pckcrl?ca={ca}&encoding=der",
            self.base
        );
        let r = self.get(&url).await?;
        let pck_crl_issuer_chain = r.header_chain(HDR_PCK_CRL_CHAIN)?;
        let pck_crl = hex::encode(r.crl_der()?);

        let r = self.get(&self.root_ca_crl_url).await?;
        let root_ca_crl = hex::encode(r.crl_der()?);

        let collateral = QuoteCollateral {
            pck_crl_issuer_chain,
            root_ca_crl,
            pck_crl,
            tcb_info_issuer_chain,
            tcb_info,
            tcb_info_signature,
            qe_identity_issuer_chain,
            qe_identity,
            qe_identity_signature,
        };
        collateral.next_update()?;
        let len = collateral.to_json().len();
        if len > MAX_COLLATERAL_ITEM_LEN {
            return Err(CollateralError::Assembled {
                len,
                limit: MAX_COLLATERAL_ITEM_LEN,
            });
        }
        Ok(collateral)
    }

    /// One bounded GET: status checked, body read up to the limit.
    async fn get(&self, url: &str) -> Result<Fetched, CollateralError> {
        let http = |e: reqwest::Error| CollateralError::Http {
            url: url.to_owned(),
            reason: describe(&e),
        };
        let mut resp = self.http.get(url).send().await.map_err(http)?;
        let status = resp.status();
        if !status.is_success() {
            return Err(CollateralError::Status {
                url: url.to_owned(),
                status: status.as_u16(),
            });
        }
        let too_large = || CollateralError::TooLarge {
            url: url.to_owned(),
            limit: self.max_response_bytes,
        };
        if resp
            .content_length()
            .is_some_and(|n| n > self.max_response_bytes as u64)
        {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(http)? {
            if body.len() + chunk.len() > self.max_response_bytes {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Fetched {
            url: url.to_owned(),
            headers: resp.headers().clone(),
            body,
        })
    }
}

fn check_url(flag: &str, url: &str) -> Result<(), CollateralError> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| CollateralError::Config(format!("{flag} {url:?}: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(CollateralError::Config(format!(
            "{flag} {url:?}: not an http(s) URL"
        )));
    }
    Ok(())
}

/// A reqwest error without the URL (which the caller adds) but with its kind.
fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_redirect() {
        "too many redirects"
    } else {
        "request failed"
    };
    let mut msg = kind.to_owned();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}

/// One fetched response.
struct Fetched {
    url: String,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Fetched {
    fn bad_body(&self, what: impl Into<String>) -> CollateralError {
        CollateralError::BadBody {
            url: self.url.clone(),
            what: what.into(),
        }
    }

    /// A URL-encoded PEM chain from header `name`.
    fn header_chain(&self, name: &'static str) -> Result<String, CollateralError> {
        let value = self
            .headers
            .get(name)
            .ok_or_else(|| CollateralError::MissingHeader {
                url: self.url.clone(),
                header: name,
            })?;
        let bad = || CollateralError::BadHeader {
            url: self.url.clone(),
            header: name,
        };
        let pem = percent_decode(value.as_bytes()).ok_or_else(bad)?;
        if !pem.contains("-----BEGIN CERTIFICATE-----")
            || !pem.contains("-----END CERTIFICATE-----")
        {
            return Err(bad());
        }
        Ok(pem)
    }

    /// `{"<key>": <object>, "signature": "<hex>"}`: the object's exact text and the signature
    /// as lowercase hex.
    fn signed_json(&self, key: &str) -> Result<(String, String), CollateralError> {
        let text = std::str::from_utf8(&self.body).map_err(|_| self.bad_body("not UTF-8"))?;
        let fields: HashMap<String, &RawValue> = serde_json::from_str(text)
            .map_err(|e| self.bad_body(format!("not a JSON object: {e}")))?;
        let raw = fields
            .get(key)
            .ok_or_else(|| self.bad_body(format!("no {key:?} member")))?
            .get();
        if !raw.starts_with('{') {
            return Err(self.bad_body(format!("{key:?} is not a JSON object")));
        }
        let signature: String = fields
            .get("signature")
            .ok_or_else(|| self.bad_body("no \"signature\" member"))
            .and_then(|s| {
                serde_json::from_str(s.get())
                    .map_err(|_| self.bad_body("\"signature\" is not a string"))
            })?;
        let sig = hex::decode(&signature)
            .ok()
            .filter(|s| s.len() == 64)
            .ok_or_else(|| self.bad_body("\"signature\" is not 64 bytes of hex (r‖s)"))?;
        Ok((raw.to_owned(), hex::encode(sig)))
    }

    /// A CRL body as DER: DER as is (Intel PCS), or hex of DER (a PCCS's `rootcacrl`).
    fn crl_der(&self) -> Result<Vec<u8>, CollateralError> {
        let der = if self.body.first() == Some(&0x30) {
            self.body.clone()
        } else {
            let text = std::str::from_utf8(&self.body)
                .map_err(|_| self.bad_body("CRL is neither DER nor hex"))?;
            hex::decode(text.trim()).map_err(|_| self.bad_body("CRL is neither DER nor hex"))?
        };
        if der.first() != Some(&0x30) || der.len() < 2 {
            return Err(self.bad_body("CRL is not a DER SEQUENCE"));
        }
        Ok(der)
    }
}

/// The TCB info must be TDX's and for the FMSPC asked (a PCCS mixing them up is caught here
/// rather than at every verifier).
fn check_tcb_info(url: &str, raw: &str, fmspc_hex: &str) -> Result<(), CollateralError> {
    check_id(url, raw, "tcbInfo", "TDX")?;
    #[derive(Deserialize)]
    struct Fmspc {
        fmspc: String,
    }
    let got: Fmspc = serde_json::from_str(raw).map_err(|e| CollateralError::BadBody {
        url: url.to_owned(),
        what: format!("tcbInfo.fmspc: {e}"),
    })?;
    if !got.fmspc.eq_ignore_ascii_case(fmspc_hex) {
        return Err(CollateralError::BadBody {
            url: url.to_owned(),
            what: format!("tcbInfo is for FMSPC {}, not {fmspc_hex}", got.fmspc),
        });
    }
    Ok(())
}

fn check_id(url: &str, raw: &str, what: &str, expected: &str) -> Result<(), CollateralError> {
    #[derive(Deserialize)]
    struct Id {
        id: String,
    }
    let got: Id = serde_json::from_str(raw).map_err(|e| CollateralError::BadBody {
        url: url.to_owned(),
        what: format!("{what}.id: {e}"),
    })?;
    if got.id != expected {
        return Err(CollateralError::BadBody {
            url: url.to_owned(),
            what: format!("{what}.id is {:?}, expected {expected:?}", got.id),
        });
    }
    Ok(())
}

/// Decodes `%XX` escapes (a `+` stays a `+`: base64 uses it). `None` for a bad escape or a
/// result that is not UTF-8.
fn percent_decode(input: &[u8]) -> Option<String> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i] == b'%' {
            let hex = input.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(input[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Reads the clock; tests inject their own.
pub type Clock = Arc<dyn Fn() -> UnixTime + Send + Sync>;

struct Entry {
    json: Arc<[u8]>,
    next_update: UnixTime,
}

/// Collateral by (FMSPC, CA), reused until the earliest `nextUpdate` of its TCB info and QE
/// identity. Concurrent misses share one fetch; failures are not cached; at most
/// [`CollateralConfig::max_entries`] entries are kept (the one that expires first is dropped).
pub struct CollateralCache {
    client: PcsClient,
    clock: Clock,
    max_entries: usize,
    entries: Mutex<HashMap<([u8; 6], &'static str), Entry>>,
    /// Held while fetching, so concurrent misses do not each go to the network.
    fetching: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for CollateralCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CollateralCache")
            .field("client", &self.client)
            .field("max_entries", &self.max_entries)
            .finish_non_exhaustive()
    }
}

impl CollateralCache {
    /// A cache over `config`'s service, on the system clock.
    ///
    /// # Errors
    /// As [`PcsClient::new`].
    pub fn new(config: &CollateralConfig) -> Result<Self, CollateralError> {
        Self::with_clock(config, Arc::new(UnixTime::now))
    }

    /// A cache on the clock `clock`.
    ///
    /// # Errors
    /// As [`PcsClient::new`], or a zero `max_entries`.
    pub fn with_clock(config: &CollateralConfig, clock: Clock) -> Result<Self, CollateralError> {
        if config.max_entries == 0 {
            return Err(CollateralError::Config(
                "the cache must hold at least one entry".to_owned(),
            ));
        }
        Ok(Self {
            client: PcsClient::new(config)?,
            clock,
            max_entries: config.max_entries,
            entries: Mutex::new(HashMap::new()),
            fetching: tokio::sync::Mutex::new(()),
        })
    }

    /// The bundle item (the `QuoteCollateralV3` JSON) for a PCK certificate with `fmspc` from
    /// the PCK `ca` (`"platform"` or `"processor"`): cached while fresh, fetched otherwise.
    ///
    /// # Errors
    /// [`CollateralError`] when it is not cached and cannot be fetched.
    pub async fn get(&self, fmspc: [u8; 6], ca: &str) -> Result<Arc<[u8]>, CollateralError> {
        let key = (fmspc, pcs_ca(ca)?);
        if let Some(hit) = self.lookup(&key) {
            return Ok(hit);
        }
        let _one_at_a_time = self.fetching.lock().await;
        // Another request may have fetched it while this one waited.
        if let Some(hit) = self.lookup(&key) {
            return Ok(hit);
        }
        let collateral = self.client.fetch(fmspc, key.1).await?;
        let next_update = collateral.next_update()?;
        let json: Arc<[u8]> = collateral.to_json().into();
        tracing::info!(
            fmspc = %hex::encode_upper(fmspc),
            ca = key.1,
            next_update = next_update.as_secs(),
            "DCAP collateral fetched"
        );
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= self.max_entries
            && !entries.contains_key(&key)
            && let Some(oldest) = entries
                .iter()
                .min_by_key(|(_, e)| e.next_update)
                .map(|(k, _)| *k)
        {
            entries.remove(&oldest);
        }
        entries.insert(
            key,
            Entry {
                json: Arc::clone(&json),
                next_update,
            },
        );
        Ok(json)
    }

    /// The bundle item for a TDX quote: FMSPC and CA from its PCK certificate, then [`get`].
    ///
    /// [`get`]: CollateralCache::get
    ///
    /// # Errors
    /// [`CollateralError::Quote`] if the quote's PCK certificate cannot be read; as [`get`].
    pub async fn for_quote(&self, quote: &[u8]) -> Result<Arc<[u8]>, CollateralError> {
        let (fmspc, ca) = pck_identity(quote)?;
        self.get(fmspc, ca).await
    }

    /// Entries currently held (fresh or not).
    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lookup(&self, key: &([u8; 6], &'static str)) -> Option<Arc<[u8]>> {
        let now = (self.clock)();
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(key)
            .filter(|e| now < e.next_update)
            .map(|e| Arc::clone(&e.json))
    }
}

/// FMSPC and PCK CA (`"platform"` or `"processor"`) from a TDX quote's PCK certificate.
///
/// # Errors
/// [`CollateralError::Quote`] if the quote or its PCK certificate cannot be read.
pub fn pck_identity(quote: &[u8]) -> Result<([u8; 6], &'static str), CollateralError> {
    use cloister_attestation::tdx::TdxQuote;
    let quote_err = |e: cloister_attestation::AttestationError| {
        CollateralError::Quote(format!("{e} [{}]", e.code()))
    };
    let id = TdxQuote::parse(quote)
        .map_err(quote_err)?
        .pck_identity()
        .map_err(quote_err)?;
    Ok((id.fmspc, id.ca.as_pcs_param()))
}

#[cfg(test)]
pub(crate) mod tests {
    //! Also the fake PCCS of the API tests ([`crate::api`]).

    use std::collections::HashMap;
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

    use axum::extract::{Query, State};
    use axum::http::{HeaderName, HeaderValue, StatusCode};
    use axum::response::{IntoResponse, Response};
    use axum::routing::get;

    use super::*;

    /// dcap-qvl's TDX sample collateral (read at test time, never copied into the tree).
    pub(crate) fn fixture() -> QuoteCollateral {
        let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/fixtures/tdx/Phala-Network-dcap-qvl/tdx_quote_collateral.json");
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        serde_json::from_str(&text).expect("fixture shape")
    }

    /// What the fake service does differently.
    #[derive(Default)]
    pub(crate) struct Faults {
        pub(crate) tcb_status: Option<StatusCode>,
        pub(crate) oversize_tcb: bool,
        pub(crate) bad_tcb_header: bool,
        pub(crate) no_qe_header: bool,
        pub(crate) root_crl_as_der: bool,
        pub(crate) non_json_qe: bool,
    }

    pub(crate) struct Pcs {
        c: QuoteCollateral,
        faults: Mutex<Faults>,
        pub(crate) requests: AtomicUsize,
        pub(crate) tcb_requests: AtomicUsize,
        root_crl_requests: AtomicUsize,
        queries: Mutex<Vec<String>>,
    }

    /// Percent-encodes everything but RFC 3986 unreserved characters, as Intel PCS does.
    fn url_encode(s: &str) -> String {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    }

    fn with_header(name: &'static str, value: &str, body: impl IntoResponse) -> Response {
        let mut resp = body.into_response();
        resp.headers_mut().insert(
            HeaderName::from_static(name),
            HeaderValue::from_str(value).expect("header value"),
        );
        resp
    }

    fn hex_der(s: &str) -> Vec<u8> {
        hex::decode(s).expect("fixture hex")
    }

    async fn tcb(State(p): State<Arc<Pcs>>, Query(q): Query<HashMap<String, String>>) -> Response {
        p.requests.fetch_add(1, Ordering::SeqCst);
        p.tcb_requests.fetch_add(1, Ordering::SeqCst);
        p.queries
            .lock()
            .expect("lock")
            .push(format!("tcb fmspc={}", q.get("fmspc").map_or("", |s| s)));
        let f = p.faults.lock().expect("lock");
        if let Some(status) = f.tcb_status {
            return (status, "nope").into_response();
        }
        if f.oversize_tcb {
            return vec![b' '; 2 * 1024 * 1024].into_response();
        }
        // The PCS shape: the raw object, then the signature. A space and a newline around the
        // object make sure the raw text, not a re-serialization, is kept.
        let body = format!(
            "{{\"tcbInfo\": {} ,\n\"signature\":\"{}\"}}",
            p.c.tcb_info, p.c.tcb_info_signature
        );
        let chain = if f.bad_tcb_header {
            "%ZZnot-pem".to_owned()
        } else {
            url_encode(&p.c.tcb_info_issuer_chain)
        };
        with_header("tcb-info-issuer-chain", &chain, body)
    }

    async fn qe(State(p): State<Arc<Pcs>>) -> Response {
        p.requests.fetch_add(1, Ordering::SeqCst);
        let f = p.faults.lock().expect("lock");
        let body = if f.non_json_qe {
            "<html>maintenance</html>".to_owned()
        } else {
            format!(
                "{{\"enclaveIdentity\":{},\"signature\":\"{}\"}}",
                p.c.qe_identity, p.c.qe_identity_signature
            )
        };
        if f.no_qe_header {
            return body.into_response();
        }
        with_header(
            "sgx-enclave-identity-issuer-chain",
            &url_encode(&p.c.qe_identity_issuer_chain),
            body,
        )
    }

    async fn pckcrl(
        State(p): State<Arc<Pcs>>,
        Query(q): Query<HashMap<String, String>>,
    ) -> Response {
        p.requests.fetch_add(1, Ordering::SeqCst);
        p.queries.lock().expect("lock").push(format!(
            "pckcrl ca={} encoding={}",
            q.get("ca").map_or("", |s| s),
            q.get("encoding").map_or("", |s| s)
        ));
        with_header(
            "sgx-pck-crl-issuer-chain",
            &url_encode(&p.c.pck_crl_issuer_chain),
            hex_der(&p.c.pck_crl),
        )
    }

    async fn rootcacrl(State(p): State<Arc<Pcs>>) -> Response {
        p.requests.fetch_add(1, Ordering::SeqCst);
        p.root_crl_requests.fetch_add(1, Ordering::SeqCst);
        if p.faults.lock().expect("lock").root_crl_as_der {
            hex_der(&p.c.root_ca_crl).into_response()
        } else {
            // A PCCS answers with the hex of the DER.
            p.c.root_ca_crl.clone().into_response()
        }
    }

    /// A fake PCCS on 127.0.0.1; the server task ends with the test's runtime.
    pub(crate) async fn serve(faults: Faults) -> (Arc<Pcs>, String) {
        let pcs = Arc::new(Pcs {
            c: fixture(),
            faults: Mutex::new(faults),
            requests: AtomicUsize::new(0),
            tcb_requests: AtomicUsize::new(0),
            root_crl_requests: AtomicUsize::new(0),
            queries: Mutex::new(Vec::new()),
        });
        let app = axum::Router::new()
            .route("/tdx/certification/v4/tcb", get(tcb))
            .route("/tdx/certification/v4/qe/identity", get(qe))
            .route("/sgx/certification/v4/pckcrl", get(pckcrl))
            .route("/sgx/certification/v4/rootcacrl", get(rootcacrl))
            .route("/IntelSGXRootCA.der", get(rootcacrl))
            .with_state(Arc::clone(&pcs));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        (pcs, format!("http://{addr}"))
    }

    pub(crate) fn config(base: &str) -> CollateralConfig {
        CollateralConfig {
            pccs_url: format!("{base}/"),
            timeout: Duration::from_secs(5),
            ..CollateralConfig::default()
        }
    }

    pub(crate) const FMSPC: [u8; 6] = [0xb0, 0xc0, 0x6f, 0, 0, 0];

    /// 2025-07-01T00:00:00Z, before the fixture's nextUpdate (2025-07-19T10:16:03Z).
    pub(crate) const JULY_1: u64 = 1_751_328_000;
    /// The earliest nextUpdate of the fixture's four parts: its PCK CRL's, 2025-07-19T10:00:35Z,
    /// before the TCB Info's (10:16:03Z). A cache kept until the TCB Info's would serve collateral that
    /// every verifier refuses for a quarter of an hour.
    const FIXTURE_NEXT_UPDATE: u64 = 1_752_919_235;

    pub(crate) fn clock_at(t: &Arc<AtomicU64>) -> Clock {
        let t = Arc::clone(t);
        Arc::new(move || UnixTime::from_secs(t.load(Ordering::SeqCst)))
    }

    #[tokio::test]
    async fn assembles_the_fixture_byte_exactly_from_a_pcs_shaped_service() {
        let (pcs, base) = serve(Faults::default()).await;
        let client = PcsClient::new(&config(&base)).expect("client");
        assert_eq!(
            client.root_ca_crl_url(),
            format!("{base}/sgx/certification/v4/rootcacrl")
        );
        let got = client.fetch(FMSPC, "platform").await.expect("fetch");
        let want = fixture();
        assert_eq!(got.tcb_info, want.tcb_info, "tcbInfo kept byte for byte");
        assert_eq!(got.qe_identity, want.qe_identity);
        assert_eq!(got, want, "every field as in dcap-qvl's sample");
        assert_eq!(
            pcs.queries.lock().expect("lock").as_slice(),
            ["tcb fmspc=B0C06F000000", "pckcrl ca=platform encoding=der"]
        );
        assert_eq!(pcs.requests.load(Ordering::SeqCst), 4);
        // The bundle item: a JSON object of exactly the nine strings.
        let json: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&got.to_json()).expect("json");
        assert_eq!(json.len(), 9);
        assert!(json.values().all(serde_json::Value::is_string));
        assert_eq!(json["tcb_info"].as_str(), Some(want.tcb_info.as_str()));
        // The verifier's parser takes the item as it is.
        cloister_attestation::tdx::TdxCollateral::from_json(&got.to_json())
            .expect("the attestation crate parses the bundle item");
        assert_eq!(
            got.next_update().expect("dates").as_secs(),
            FIXTURE_NEXT_UPDATE
        );
    }

    #[tokio::test]
    async fn the_root_crl_url_follows_the_service_or_the_override() {
        assert_eq!(
            PcsClient::new(&CollateralConfig::default())
                .expect("default")
                .root_ca_crl_url(),
            INTEL_ROOT_CA_CRL_URL
        );
        let (pcs, base) = serve(Faults {
            root_crl_as_der: true,
            ..Faults::default()
        })
        .await;
        let cfg = CollateralConfig {
            root_ca_crl_url: Some(format!("{base}/IntelSGXRootCA.der")),
            ..config(&base)
        };
        let got = PcsClient::new(&cfg)
            .expect("client")
            .fetch(FMSPC, "processor")
            .await
            .expect("fetch");
        assert_eq!(
            got.root_ca_crl,
            fixture().root_ca_crl,
            "DER body, hex in JSON"
        );
        assert_eq!(pcs.root_crl_requests.load(Ordering::SeqCst), 1);
        assert!(
            pcs.queries
                .lock()
                .expect("lock")
                .contains(&"pckcrl ca=processor encoding=der".to_owned())
        );
    }

    #[tokio::test]
    async fn the_cache_reuses_until_next_update_then_refetches() {
        let (pcs, base) = serve(Faults::default()).await;
        let now = Arc::new(AtomicU64::new(JULY_1));
        let cache = CollateralCache::with_clock(&config(&base), clock_at(&now)).expect("cache");
        let first = cache.get(FMSPC, "platform").await.expect("first");
        assert_eq!(pcs.tcb_requests.load(Ordering::SeqCst), 1);
        let second = cache.get(FMSPC, "platform").await.expect("second");
        assert_eq!(pcs.tcb_requests.load(Ordering::SeqCst), 1, "a cache hit");
        assert_eq!(first, second);
        assert_eq!(pcs.requests.load(Ordering::SeqCst), 4);
        // Another CA is another entry.
        cache.get(FMSPC, "processor").await.expect("processor");
        assert_eq!(pcs.tcb_requests.load(Ordering::SeqCst), 2);
        assert_eq!(cache.len(), 2);
        // One second before nextUpdate: still fresh. At nextUpdate: refetched.
        now.store(FIXTURE_NEXT_UPDATE - 1, Ordering::SeqCst);
        cache.get(FMSPC, "platform").await.expect("fresh");
        assert_eq!(pcs.tcb_requests.load(Ordering::SeqCst), 2);
        now.store(FIXTURE_NEXT_UPDATE, Ordering::SeqCst);
        let third = cache.get(FMSPC, "platform").await.expect("refetched");
        assert_eq!(pcs.tcb_requests.load(Ordering::SeqCst), 3, "refetched");
        assert_eq!(third, first);
    }

    #[tokio::test]
    async fn concurrent_misses_share_one_fetch_and_entries_are_bounded() {
        let (pcs, base) = serve(Faults::default()).await;
        let now = Arc::new(AtomicU64::new(JULY_1));
        let cfg = CollateralConfig {
            max_entries: 1,
            ..config(&base)
        };
        let cache = Arc::new(CollateralCache::with_clock(&cfg, clock_at(&now)).expect("cache"));
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let c = Arc::clone(&cache);
                tokio::spawn(async move { c.get(FMSPC, "platform").await })
            })
            .collect();
        for t in tasks {
            t.await.expect("join").expect("get");
        }
        assert_eq!(pcs.tcb_requests.load(Ordering::SeqCst), 1);
        cache.get(FMSPC, "processor").await.expect("processor");
        assert_eq!(cache.len(), 1, "bounded to max_entries");
    }

    #[tokio::test]
    async fn failures_are_typed_and_not_cached() {
        let (pcs, base) = serve(Faults {
            tcb_status: Some(StatusCode::NOT_FOUND),
            ..Faults::default()
        })
        .await;
        let now = Arc::new(AtomicU64::new(JULY_1));
        let cache = CollateralCache::with_clock(&config(&base), clock_at(&now)).expect("cache");
        let e = cache.get(FMSPC, "platform").await.expect_err("404");
        assert_eq!(e.code(), "collateral.status");
        assert!(e.to_string().contains("404"), "{e}");
        assert!(e.to_string().contains("/tdx/certification/v4/tcb"), "{e}");
        assert!(cache.is_empty());
        pcs.faults.lock().expect("lock").tcb_status = None;
        cache.get(FMSPC, "platform").await.expect("recovered");
        assert_eq!(pcs.tcb_requests.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn oversized_bodies_bad_headers_and_bad_bodies_are_refused() {
        async fn err(faults: Faults) -> CollateralError {
            let (_pcs, base) = serve(faults).await;
            PcsClient::new(&config(&base))
                .expect("client")
                .fetch(FMSPC, "platform")
                .await
                .expect_err("refused")
        }
        let e = err(Faults {
            oversize_tcb: true,
            ..Faults::default()
        })
        .await;
        assert_eq!(e.code(), "collateral.too_large", "{e}");
        let e = err(Faults {
            bad_tcb_header: true,
            ..Faults::default()
        })
        .await;
        assert_eq!(e.code(), "collateral.bad_header", "{e}");
        assert!(e.to_string().contains("TCB-Info-Issuer-Chain"), "{e}");
        let e = err(Faults {
            no_qe_header: true,
            ..Faults::default()
        })
        .await;
        assert_eq!(e.code(), "collateral.missing_header", "{e}");
        let e = err(Faults {
            non_json_qe: true,
            ..Faults::default()
        })
        .await;
        assert_eq!(e.code(), "collateral.bad_body", "{e}");
        assert!(
            !e.to_string().contains("maintenance"),
            "no body in errors: {e}"
        );
    }

    #[tokio::test]
    async fn a_tcb_info_for_another_fmspc_is_refused() {
        let (_pcs, base) = serve(Faults::default()).await;
        let e = PcsClient::new(&config(&base))
            .expect("client")
            .fetch([0x90, 0xc0, 0x6f, 0, 0, 0], "platform")
            .await
            .expect_err("other fmspc");
        assert_eq!(e.code(), "collateral.bad_body");
        assert!(e.to_string().contains("90C06F000000"), "{e}");
    }

    #[tokio::test]
    async fn an_unreachable_service_times_out_or_fails_to_connect() {
        // A bound listener that never accepts: the request must end within the timeout.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let cfg = CollateralConfig {
            timeout: Duration::from_millis(300),
            ..config(&base)
        };
        let e = PcsClient::new(&cfg)
            .expect("client")
            .fetch(FMSPC, "platform")
            .await
            .expect_err("no answer");
        assert_eq!(e.code(), "collateral.http", "{e}");
        drop(listener);
    }

    #[test]
    fn configuration_and_parameters_are_checked() {
        for bad in ["ftp://pcs.example", "not a url", "http://"] {
            let cfg = CollateralConfig {
                pccs_url: bad.to_owned(),
                ..CollateralConfig::default()
            };
            assert_eq!(
                PcsClient::new(&cfg).expect_err(bad).code(),
                "collateral.config"
            );
        }
        let cfg = CollateralConfig {
            max_entries: 0,
            ..CollateralConfig::default()
        };
        assert_eq!(
            CollateralCache::new(&cfg).expect_err("zero").code(),
            "collateral.config"
        );
        assert_eq!(pcs_ca("both").expect_err("ca").code(), "collateral.bad_ca");
        assert_eq!(
            percent_decode(b"-----BEGIN%20CERTIFICATE-----%0AAb+/=").as_deref(),
            Some("-----BEGIN CERTIFICATE-----\nAb+/=")
        );
        let mut c = fixture();
        c.qe_identity = c
            .qe_identity
            .replacen("\"nextUpdate\":\"", "\"nextUpdate\":\"x", 1);
        assert_eq!(
            c.next_update().expect_err("date").code(),
            "collateral.bad_date"
        );
        assert_eq!(percent_decode(b"%4"), None);
        assert_eq!(percent_decode(b"%zz"), None);
    }
}
