//! The PCS client: four bounded requests to Intel PCS or a PCCS, each answer checked, then
//! assembled into one [`QuoteCollateralV3`].

use std::collections::HashMap;

use cloister_proto::evidence::MAX_COLLATERAL_ITEM_LEN;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::{
    CollateralConfig, CollateralError, INTEL_PCS_URL, INTEL_ROOT_CA_CRL_URL, QuoteCollateralV3,
    next_update, pcs_ca,
};

/// Header carrying the TCB info signer chain (TDX). SGX endpoints name it with an `SGX-` prefix;
/// both are accepted.
const HDR_TCB_CHAIN: &str = "TCB-Info-Issuer-Chain";
const HDR_TCB_CHAIN_SGX: &str = "SGX-TCB-Info-Issuer-Chain";
const HDR_QE_CHAIN: &str = "SGX-Enclave-Identity-Issuer-Chain";
const HDR_PCK_CRL_CHAIN: &str = "SGX-PCK-CRL-Issuer-Chain";

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
    /// [`CollateralError::BadUrl`] for a URL that is not http(s), [`CollateralError::ZeroLimit`]
    /// for a zero limit or timeout, [`CollateralError::HttpClient`] if no client can be built.
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
        if config.max_response_bytes == 0 {
            return Err(CollateralError::ZeroLimit {
                what: "the response limit",
            });
        }
        if config.timeout.is_zero() {
            return Err(CollateralError::ZeroLimit {
                what: "the timeout",
            });
        }
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::limited(3))
            .user_agent(concat!("cloister-host/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(CollateralError::HttpClient)?;
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
    ) -> Result<QuoteCollateralV3, CollateralError> {
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

        let collateral = QuoteCollateralV3 {
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
        next_update(&collateral)?;
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
            kind: kind(&e),
            source: e,
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

fn check_url(flag: &'static str, url: &str) -> Result<(), CollateralError> {
    let ok = reqwest::Url::parse(url).is_ok_and(|parsed| {
        matches!(parsed.scheme(), "http" | "https") && parsed.host_str().is_some()
    });
    if ok {
        Ok(())
    } else {
        Err(CollateralError::BadUrl {
            flag,
            url: url.to_owned(),
        })
    }
}

/// What kind of failure a reqwest error is (the error itself travels as the source).
fn kind(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_redirect() {
        "too many redirects"
    } else {
        "request failed"
    }
}

/// One fetched response.
struct Fetched {
    url: String,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Fetched {
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
    fn signed_json(&self, key: &'static str) -> Result<(String, String), CollateralError> {
        let url = || self.url.clone();
        let fields: HashMap<String, &RawValue> =
            serde_json::from_slice(&self.body).map_err(|source| CollateralError::NotJson {
                url: url(),
                what: "the body",
                source,
            })?;
        let raw = fields
            .get(key)
            .ok_or_else(|| CollateralError::MissingMember {
                url: url(),
                member: key,
            })?
            .get();
        if !raw.starts_with('{') {
            return Err(CollateralError::NotAnObject {
                url: url(),
                member: key,
            });
        }
        let signature = fields
            .get("signature")
            .ok_or_else(|| CollateralError::MissingMember {
                url: url(),
                member: "signature",
            })?;
        let sig = serde_json::from_str::<String>(signature.get())
            .ok()
            .and_then(|s| hex::decode(s).ok())
            .filter(|s| s.len() == 64)
            .ok_or_else(|| CollateralError::BadSignature { url: url() })?;
        Ok((raw.to_owned(), hex::encode(sig)))
    }

    /// A CRL body as DER: DER as is (Intel PCS), or hex of DER (a PCCS's `rootcacrl`).
    fn crl_der(&self) -> Result<Vec<u8>, CollateralError> {
        let der = if self.body.first() == Some(&0x30) {
            Some(self.body.clone())
        } else {
            std::str::from_utf8(&self.body)
                .ok()
                .and_then(|text| hex::decode(text.trim()).ok())
        };
        der.filter(|der| der.first() == Some(&0x30) && der.len() >= 2)
            .ok_or_else(|| CollateralError::BadCrl {
                url: self.url.clone(),
            })
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
    let got: Fmspc = serde_json::from_str(raw).map_err(|source| CollateralError::NotJson {
        url: url.to_owned(),
        what: "tcbInfo.fmspc",
        source,
    })?;
    if !got.fmspc.eq_ignore_ascii_case(fmspc_hex) {
        return Err(CollateralError::WrongFmspc {
            url: url.to_owned(),
            expected: fmspc_hex.to_owned(),
            found: got.fmspc,
        });
    }
    Ok(())
}

fn check_id(
    url: &str,
    raw: &str,
    item: &'static str,
    expected: &'static str,
) -> Result<(), CollateralError> {
    #[derive(Deserialize)]
    struct Id {
        id: String,
    }
    let got: Id = serde_json::from_str(raw).map_err(|source| CollateralError::NotJson {
        url: url.to_owned(),
        what: item,
        source,
    })?;
    if got.id != expected {
        return Err(CollateralError::WrongId {
            url: url.to_owned(),
            item,
            expected,
            found: got.id,
        });
    }
    Ok(())
}

/// Decodes `%XX` escapes (a `+` stays a `+`: base64 uses it). `None` for a bad escape or a
/// result that is not UTF-8.
pub(super) fn percent_decode(input: &[u8]) -> Option<String> {
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
