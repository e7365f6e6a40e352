//! The verifier: bytes in, [`VerifiedNitroDocument`] out.
//!
//! Order of checks: parse (envelope, then document map) → `cabundle[0]` against the pinned
//! anchors → chain (`chain::verify_chain`) → COSE signature with the leaf key. Only when all
//! pass is a [`VerifiedNitroDocument`] built; its fields are private, so nothing else can make one.
//! With a [`ChainCache`] the chain step is answered from the cache when the same certificate bytes
//! were validated before and `now` is inside their window.

use crate::error::NitroError;
use std::collections::BTreeMap;
use std::sync::Arc;

use super::anchor::{TrustAnchor, sha256};
use super::chain;
use super::chain_cache::{CachedPath, ChainCache};
use super::cose;
use super::document::{NitroPayload, UnverifiedNitroDocument};
use crate::{AttestationError, Platform, UnixTime};

/// Verifies Nitro attestation documents against a set of pinned roots.
///
/// ```
/// use cloister_attestation::{NitroVerifier, UnixTime};
/// let verifier = NitroVerifier::aws();
/// let err = verifier.verify(b"not a document", UnixTime::from_secs(1_700_000_000)).unwrap_err();
/// assert_eq!(err.code(), "nitro.cose.malformed");
/// ```
#[derive(Clone, Debug)]
pub struct NitroVerifier {
    anchors: Vec<TrustAnchor>,
    /// Opt-in; clones of the verifier share it.
    chain_cache: Option<Arc<ChainCache>>,
}

impl NitroVerifier {
    /// A verifier that trusts only the AWS Nitro Enclaves Root G1.
    pub fn aws() -> Self {
        Self {
            anchors: vec![TrustAnchor::aws_nitro_root_g1()],
            chain_cache: None,
        }
    }

    /// Remembers successful certificate-path validations in `cache`, so documents from the same
    /// enclave check each CA signature once while the certificates stay valid. Verdicts are the
    /// same with and without a cache; see [`ChainCache`].
    #[must_use]
    pub fn with_chain_cache(self, cache: ChainCache) -> Self {
        self.with_shared_chain_cache(Arc::new(cache))
    }

    /// Like [`with_chain_cache`](Self::with_chain_cache), with a cache shared with other verifiers.
    #[must_use]
    pub fn with_shared_chain_cache(mut self, cache: Arc<ChainCache>) -> Self {
        self.chain_cache = Some(cache);
        self
    }

    /// The chain cache, if one was set.
    pub fn chain_cache(&self) -> Option<&ChainCache> {
        self.chain_cache.as_deref()
    }

    /// Adds a mock root. Documents chaining to it verify as [`Platform::Mock`] (whatever platform
    /// `anchor` was tagged with), and policy still refuses them unless it trusts this root.
    #[must_use]
    pub fn with_mock_root(mut self, anchor: TrustAnchor) -> Self {
        self.anchors.push(anchor.with_platform(Platform::Mock));
        self
    }

    /// The pinned anchors.
    pub fn anchors(&self) -> &[TrustAnchor] {
        &self.anchors
    }

    /// Parses and verifies a COSE_Sign1 attestation document at time `now`.
    ///
    /// # Errors
    ///
    /// `nitro.cose.*`, `nitro.payload.*` or `nitro.chain.*` naming the failed check.
    pub fn verify(
        &self,
        cose_bytes: &[u8],
        now: UnixTime,
    ) -> Result<VerifiedNitroDocument, AttestationError> {
        self.verify_parsed(UnverifiedNitroDocument::parse(cose_bytes)?, now)
    }

    /// Verifies an already parsed document at time `now`.
    ///
    /// # Errors
    ///
    /// `nitro.chain.*` or `nitro.cose.bad_signature`.
    pub fn verify_parsed(
        &self,
        doc: UnverifiedNitroDocument,
        now: UnixTime,
    ) -> Result<VerifiedNitroDocument, AttestationError> {
        let root = doc.cabundle.first().ok_or(NitroError::InvalidField {
            field: "cabundle",
            reason: "empty; it must hold at least the root".to_owned(),
        })?;
        let anchor = self
            .anchors
            .iter()
            .find(|a| a.der() == root.as_slice())
            .ok_or_else(|| NitroError::UntrustedRoot {
                root_sha256: hex::encode(sha256(root)),
            })?;
        let verify_chain = || -> Result<CachedPath, AttestationError> {
            let chain = chain::verify_chain(anchor, &doc.cabundle, &doc.certificate, now)?;
            Ok(CachedPath {
                leaf_key: Arc::new(cose::leaf_key(&chain.leaf_public_key)?),
                not_before: chain.not_before,
                not_after: chain.not_after,
            })
        };
        let leaf_key = match &self.chain_cache {
            None => verify_chain()?.leaf_key,
            Some(cache) => {
                let key = ChainCache::key(&doc.cabundle, &doc.certificate);
                match cache.get(&key, now) {
                    Some(leaf_key) => leaf_key,
                    None => {
                        let path = verify_chain()?;
                        let leaf_key = Arc::clone(&path.leaf_key);
                        cache.insert(key, path);
                        leaf_key
                    }
                }
            }
        };
        doc.envelope.verify_signature(&leaf_key)?;
        Ok(VerifiedNitroDocument {
            evidence_sha384: doc.envelope.signed_extent_sha384(),
            platform: anchor.platform(),
            root_sha256: anchor.sha256(),
            payload: doc.payload,
        })
    }
}

/// An attestation document whose signature and chain to a pinned root were checked at a given
/// time. Only [`NitroVerifier`] builds one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedNitroDocument {
    evidence_sha384: [u8; 48],
    platform: Platform,
    root_sha256: [u8; 32],
    payload: NitroPayload,
}

impl VerifiedNitroDocument {
    /// The evidence digest that signed results and key releases name: SHA-384 over the signed
    /// extent of the COSE_Sign1 only (protected header, payload, signature; the unsigned header
    /// and the envelope's encoding choices left out), so a host that re-encodes the document
    /// changes no digest.
    pub fn evidence_digest(&self) -> [u8; 48] {
        self.evidence_sha384
    }

    /// The platform of the anchor the chain ends in.
    pub fn platform(&self) -> Platform {
        self.platform
    }

    /// The enclave's fields (module id, time, PCRs, `user_data`, `nonce`, `public_key`), now
    /// vouched for by the chain.
    pub fn payload(&self) -> &NitroPayload {
        &self.payload
    }

    /// The NSM module id.
    pub fn module_id(&self) -> &str {
        self.payload.module_id()
    }

    /// When the NSM produced the document, milliseconds since the epoch.
    pub fn timestamp_ms(&self) -> u64 {
        self.payload.timestamp_ms()
    }

    /// PCR index → 48-byte value.
    pub fn pcrs(&self) -> &BTreeMap<u16, Vec<u8>> {
        self.payload.pcrs()
    }

    /// One PCR, if the document has it.
    pub fn pcr(&self, index: u16) -> Option<&[u8]> {
        self.payload.pcrs().get(&index).map(Vec::as_slice)
    }

    /// `user_data` (the key binding, for Cloister enclaves).
    pub fn user_data(&self) -> Option<&[u8]> {
        self.payload.user_data()
    }

    /// `nonce`.
    pub fn nonce(&self) -> Option<&[u8]> {
        self.payload.nonce()
    }

    /// `public_key` (an RSA SPKI when AWS KMS `Recipient` is used).
    pub fn public_key(&self) -> Option<&[u8]> {
        self.payload.public_key()
    }

    /// SHA-256 of the DER root certificate the chain ends in.
    pub fn root_sha256(&self) -> [u8; 32] {
        self.root_sha256
    }

    /// True for a debug-mode enclave: PCR0, PCR1 and PCR2 all zero. A missing PCR among the three
    /// counts as zero, so a document that omits them is never taken for a production enclave.
    pub fn is_debug(&self) -> bool {
        (0..3).all(|i| self.pcr(i).is_none_or(|v| v.iter().all(|&b| b == 0)))
    }
}
