//! Access to the real Nitro documents in `shared/fixtures/nitro` (read by path, never copied).

use std::collections::BTreeMap;
use std::path::PathBuf;

use base64::Engine;
use cloister_attestation::nitro::ChainCache;
use cloister_attestation::{NitroVerifier, UnixTime};
use serde_json::Value;

/// `shared/fixtures`, beside the project root.
pub(crate) fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures")
}

/// Reads `nitro/<rel>`, decoding base64 when `format` is "b64".
pub(crate) fn read_nitro(rel: &str, format: &str) -> Vec<u8> {
    let path = fixtures_dir().join("nitro").join(rel);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    match format {
        "raw" => bytes,
        "b64" => {
            let text: Vec<u8> = bytes
                .into_iter()
                .filter(|b| !b.is_ascii_whitespace())
                .collect();
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .unwrap_or_else(|e| panic!("{rel}: base64: {e}"))
        }
        other => panic!("{rel}: unknown format {other}"),
    }
}

/// One real AWS-signed document the manifest says must verify.
#[derive(Debug, Clone)]
pub(crate) struct DocCase {
    pub(crate) file: String,
    pub(crate) bytes: Vec<u8>,
    pub(crate) module_id: String,
    pub(crate) timestamp_ms: u64,
    pub(crate) valid_from: u64,
    pub(crate) valid_until: u64,
    pub(crate) pcrs_nonzero: BTreeMap<u16, String>,
    pub(crate) pcr_count: usize,
    /// Manifest values: hex, or a hex prefix followed by "...(N bytes)", or null.
    pub(crate) public_key: Option<String>,
    pub(crate) user_data: Option<String>,
    pub(crate) nonce: Option<String>,
}

impl DocCase {
    pub(crate) fn mid(&self) -> UnixTime {
        UnixTime::from_secs(self.valid_from + (self.valid_until - self.valid_from) / 2)
    }

    /// Debug enclaves have PCR0, PCR1 and PCR2 all zero.
    pub(crate) fn is_debug(&self) -> bool {
        !(0..3).any(|i| self.pcrs_nonzero.contains_key(&i))
    }
}

pub(crate) fn manifest() -> Vec<Value> {
    let path = fixtures_dir().join("nitro/manifest.json");
    let text = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    match serde_json::from_slice(&text).expect("manifest.json is JSON") {
        Value::Array(entries) => entries,
        _ => panic!("manifest.json is not an array"),
    }
}

/// Every manifest entry of kind "attestation" with a good COSE signature and an AWS chain.
pub(crate) fn accept_cases() -> Vec<DocCase> {
    let cases: Vec<DocCase> = manifest()
        .into_iter()
        .filter(|e| {
            e["kind"] == "attestation"
                && e["cose_signature_ok"] == true
                && e["chains_to_aws_root_g1"] == true
        })
        .map(|e| {
            let file = e["file"].as_str().expect("file").to_owned();
            let format = e["format"].as_str().expect("format");
            let bytes = read_nitro(&file, format);
            let opt = |k: &str| e[k].as_str().map(str::to_owned);
            DocCase {
                module_id: e["module_id"].as_str().expect("module_id").to_owned(),
                timestamp_ms: e["timestamp_ms"].as_u64().expect("timestamp_ms"),
                valid_from: e["valid_from_epoch"].as_u64().expect("valid_from_epoch"),
                valid_until: e["valid_until_epoch"].as_u64().expect("valid_until_epoch"),
                pcrs_nonzero: e["pcrs_nonzero"]
                    .as_object()
                    .expect("pcrs_nonzero")
                    .iter()
                    .map(|(k, v)| {
                        (
                            k.parse().expect("pcr index"),
                            v.as_str().expect("pcr hex").to_owned(),
                        )
                    })
                    .collect(),
                pcr_count: e["pcr_indices"].as_array().expect("pcr_indices").len(),
                public_key: opt("public_key"),
                user_data: opt("user_data"),
                nonce: opt("nonce"),
                file,
                bytes,
            }
        })
        .collect();
    assert!(
        cases.len() >= 9,
        "expected at least 9 accept files, found {}",
        cases.len()
    );
    cases
}

/// The case for one file.
pub(crate) fn case(file_suffix: &str) -> DocCase {
    accept_cases()
        .into_iter()
        .find(|c| c.file.ends_with(file_suffix))
        .unwrap_or_else(|| panic!("no accept case {file_suffix}"))
}

/// Checks bytes against a manifest value ("hex" or "hexprefix...(N bytes)").
pub(crate) fn matches_manifest(actual: Option<&[u8]>, expected: Option<&str>) -> bool {
    match (actual, expected) {
        (None, None) => true,
        (Some(a), Some(e)) => {
            let hex = hex::encode(a);
            match e.split_once("...(") {
                Some((prefix, rest)) => {
                    let n: usize = rest.trim_end_matches(" bytes)").parse().expect("length");
                    hex.starts_with(prefix) && a.len() == n
                }
                None => hex == e,
            }
        }
        _ => false,
    }
}

/// The verifiers every real-document test runs with: one without and one with a chain cache.
/// Tests reuse each verifier across calls, so the cached one answers from a warm cache after the
/// first document; every verdict must be the same either way.
pub(crate) fn verifiers() -> [(&'static str, NitroVerifier); 2] {
    [
        ("uncached", NitroVerifier::aws()),
        (
            "cached",
            NitroVerifier::aws().with_chain_cache(ChainCache::new(16)),
        ),
    ]
}
