//! The OHTTP gateway's key as standard OHTTP clients want it: `GET /v1/ohttp-keys` in the
//! `application/ohttp-keys` form (RFC 9458 §3.2), and the key id a request must name (§5.3).
//!
//! The host learns the key from the enclave's own evidence bundle (`ohttp_key_id`, `kem_pub`),
//! fetched with a host nonce or seen on its way to a caller of `/v1/attestation`. It is public,
//! and the host is untrusted: a caller still checks the configuration against the `kem_pub` that
//! evidence it verified itself binds; a host that substitutes a key is caught there. The suites
//! are the gateway's ([`cloister_proto::ohttp_config`]): DHKEM(X25519, HKDF-SHA256) with
//! HKDF-SHA256 and ChaCha20-Poly1305, then AES-128-GCM.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cloister_proto::evidence::KEM_PUB_LEN;
use cloister_proto::ohttp_config::encode_key_config;
use cloister_proto::{EvidenceBundle, Message, ProtoError};

use crate::error::HostError;
use crate::link::EnclaveLink;

/// `GET`: the gateway's key configurations as `application/ohttp-keys`.
pub const ROUTE_OHTTP_KEYS: &str = "/v1/ohttp-keys";
/// Media type of a list of length-prefixed key configurations (RFC 9458 §9.1).
pub const MEDIA_OHTTP_KEYS: &str = "application/ohttp-keys";
/// The problem type of a request for an unknown key id (RFC 9458 §5.3).
pub const PROBLEM_OHTTP_KEY: &str = "https://iana.org/assignments/http-problem-types#ohttp-key";
/// Media type of a problem document (RFC 9457).
pub const MEDIA_PROBLEM: &str = "application/problem+json";
/// How long `/v1/ohttp-keys` serves a key without asking the enclave again. An enclave that
/// restarted has a new key: a caller verifying fresh evidence sees the change at once, a caller
/// of `/v1/ohttp-keys` within this time.
pub const KEY_TTL: Duration = Duration::from_secs(30);
/// At most one fetch per this interval because a request named a key id the host did not know:
/// a flood of wrong key ids costs the enclave one attestation a second.
pub const MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(1);

/// Tag of the nonces the host asks evidence for: public, never trusted by anyone (the caller
/// checks the key against its own evidence), unique within the process by a counter.
const NONCE_TAG: &[u8; 24] = b"cloister-host/ohttp-keys";

/// The gateway's public key and its key id, as one evidence bundle names them.
///
/// ```
/// use cloister_host::edge::GatewayKey;
///
/// let key = GatewayKey::new(1, [9; 32]);
/// let list = key.ohttp_keys()?;
/// assert_eq!(&list[..2], &[0, 45], "one configuration: 1 + 2 + 32 + 2 + 2 × 4 bytes");
/// assert_eq!(list[2], 1, "key id");
/// assert_eq!(&list[3..5], &[0x00, 0x20], "DHKEM(X25519, HKDF-SHA256)");
/// # Ok::<(), cloister_proto::ProtoError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GatewayKey {
    key_id: u8,
    kem_pub: [u8; KEM_PUB_LEN],
}

impl GatewayKey {
    /// The key `kem_pub` under `key_id`.
    pub fn new(key_id: u8, kem_pub: [u8; KEM_PUB_LEN]) -> Self {
        Self { key_id, kem_pub }
    }

    /// The key a bundle names; `None` if its `kem_pub` is not an X25519 key's length.
    pub fn from_bundle(bundle: &EvidenceBundle) -> Option<Self> {
        let kem_pub = bundle.kem_pub.as_slice().try_into().ok()?;
        Some(Self::new(bundle.ohttp_key_id, kem_pub))
    }

    /// The key id (the first byte of every request encapsulated to this key).
    pub fn key_id(&self) -> u8 {
        self.key_id
    }

    /// The X25519 public key.
    pub fn kem_pub(&self) -> &[u8; KEM_PUB_LEN] {
        &self.kem_pub
    }

    /// The `application/ohttp-keys` body: the one key configuration preceded by its length as
    /// two bytes, big-endian (RFC 9458 §3.2).
    ///
    /// # Errors
    /// None in practice: [`ProtoError`] only if the configuration could not be encoded.
    pub fn ohttp_keys(&self) -> Result<Vec<u8>, ProtoError> {
        let config = encode_key_config(self.key_id, &self.kem_pub)?;
        let len = u16::try_from(config.len()).map_err(|_| ProtoError::FieldTooLarge {
            field: "ohttp key config",
            len: config.len(),
            limit: usize::from(u16::MAX),
        })?;
        let mut out = Vec::with_capacity(2 + config.len());
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&config);
        Ok(out)
    }
}

/// The gateway key last seen, and when. One per router.
#[derive(Debug, Default)]
pub struct KeyCache {
    seen: Mutex<Option<(GatewayKey, Instant)>>,
    /// Held while fetching, so that concurrent misses cost the enclave one attestation.
    fetching: tokio::sync::Mutex<()>,
    nonces: AtomicU64,
}

impl KeyCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the key of a bundle on its way to a caller, seen at `now`.
    pub fn observe(&self, bundle: &EvidenceBundle, now: Instant) {
        if let Some(key) = GatewayKey::from_bundle(bundle) {
            *self.lock() = Some((key, now));
        }
    }

    /// The key last seen, if any, and when.
    pub fn last(&self) -> Option<(GatewayKey, Instant)> {
        *self.lock()
    }

    /// A key seen no longer than `max_age` before `now`, asking the enclave if there is none.
    ///
    /// # Errors
    /// The link's [`HostError`]s; [`HostError::Enclave`] if the enclave refuses;
    /// [`HostError::UnexpectedAnswer`] for an answer that is not a bundle with a key.
    pub async fn fresh(
        &self,
        link: &EnclaveLink,
        max_age: Duration,
        now: Instant,
    ) -> Result<GatewayKey, HostError> {
        let recent = |c: &Self| {
            c.last()
                .filter(|(_, at)| now.saturating_duration_since(*at) <= max_age)
                .map(|(key, _)| key)
        };
        if let Some(key) = recent(self) {
            return Ok(key);
        }
        let _fetching = self.fetching.lock().await;
        // Someone else may have fetched while this request waited.
        if let Some(key) = recent(self) {
            return Ok(key);
        }
        let mut nonce = NONCE_TAG.to_vec();
        nonce.extend_from_slice(&self.nonces.fetch_add(1, Ordering::Relaxed).to_be_bytes());
        let bundle = match link.request(Message::AttestRequest { nonce }).await? {
            Message::Evidence(bundle) => bundle,
            Message::Error(e) => return Err(HostError::Enclave(e)),
            _ => return Err(HostError::UnexpectedAnswer),
        };
        let key = GatewayKey::from_bundle(&bundle).ok_or(HostError::UnexpectedAnswer)?;
        *self.lock() = Some((key, now));
        Ok(key)
    }

    /// Whether `key_id` names the gateway's key. On a mismatch the key is fetched again, at most
    /// once per [`MIN_REFRESH_INTERVAL`], in case the enclave changed it.
    ///
    /// # Errors
    /// As [`KeyCache::fresh`], when the key must be fetched.
    pub async fn knows(
        &self,
        link: &EnclaveLink,
        key_id: u8,
        now: Instant,
    ) -> Result<bool, HostError> {
        match self.last() {
            Some((key, _)) if key.key_id == key_id => Ok(true),
            Some((_, at)) if now.saturating_duration_since(at) < MIN_REFRESH_INTERVAL => Ok(false),
            _ => Ok(self.fresh(link, MIN_REFRESH_INTERVAL, now).await?.key_id == key_id),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(GatewayKey, Instant)>> {
        // A plain value, written whole: a panic elsewhere cannot leave it half-written.
        self.seen
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use cloister_proto::EvidencePlatform;
    use cloister_proto::evidence::{BUNDLE_VERSION, SIG_PUB_LEN};

    use super::*;

    fn bundle(key_id: u8, kem_pub: Vec<u8>) -> EvidenceBundle {
        EvidenceBundle {
            version: BUNDLE_VERSION,
            platform: EvidencePlatform::Mock,
            evidence: vec![1],
            collateral: vec![],
            kem_pub,
            sig_pub: vec![2; SIG_PUB_LEN],
            nonce: vec![3; 32],
            ohttp_key_id: key_id,
            served_models: cloister_proto::ServedModels::default(),
            served_models_signature: vec![0; cloister_proto::served::SERVED_MODELS_SIGNATURE_LEN],
        }
    }

    #[test]
    fn the_list_form_is_a_length_then_the_gateway_config() {
        let key = GatewayKey::new(7, [5; KEM_PUB_LEN]);
        let list = key.ohttp_keys().expect("encode");
        let config = encode_key_config(7, &[5; KEM_PUB_LEN]).expect("config");
        assert_eq!(
            usize::from(u16::from_be_bytes([list[0], list[1]])),
            config.len()
        );
        assert_eq!(&list[2..], config.as_slice());
        // key_id, kem_id, pk, then the suites: (HKDF-SHA256, ChaCha20-Poly1305), (…, AES-128-GCM).
        assert_eq!(&list[2 + 35..], &[0, 8, 0, 1, 0, 3, 0, 1, 0, 1]);
    }

    #[tokio::test]
    async fn a_wrong_key_id_asks_the_enclave_at_most_once_a_second() {
        // No enclave there: any fetch fails, so an answer without an error fetched nothing.
        let dir = tempfile::tempdir().expect("tempdir");
        let link = EnclaveLink::new(crate::transport::EnclaveAddr::Unix(
            dir.path().join("none.sock"),
        ));
        let cache = KeyCache::new();
        let t0 = Instant::now();
        let fetch = cache.knows(&link, 1, t0).await.expect_err("nothing cached");
        assert_eq!(fetch.code(), "host.enclave_unavailable");
        cache.observe(&bundle(1, vec![4; KEM_PUB_LEN]), t0);
        assert!(cache.knows(&link, 1, t0).await.expect("cached"));
        let soon = t0 + MIN_REFRESH_INTERVAL / 2;
        assert!(!cache.knows(&link, 2, soon).await.expect("not refetched"));
        let later = t0 + MIN_REFRESH_INTERVAL * 2;
        assert!(cache.knows(&link, 2, later).await.is_err(), "refetched");
        assert!(
            cache.fresh(&link, KEY_TTL, later).await.is_ok(),
            "within the TTL"
        );
    }

    #[test]
    fn a_bundle_with_a_short_key_names_no_key_and_changes_nothing() {
        let cache = KeyCache::new();
        let now = Instant::now();
        cache.observe(&bundle(1, vec![4; KEM_PUB_LEN]), now);
        cache.observe(&bundle(2, vec![4; KEM_PUB_LEN - 1]), now);
        let (key, at) = cache.last().expect("seen");
        assert_eq!((key.key_id(), at), (1, now));
        assert_eq!(key.kem_pub(), &[4; KEM_PUB_LEN]);
    }
}
