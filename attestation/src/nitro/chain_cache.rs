//! An opt-in cache of successful certificate-path validations.
//!
//! A Nitro enclave keeps one leaf certificate (and the same four CA certificates) for hours, so a
//! verifier that sees many documents from one enclave would otherwise repeat the same four ECDSA
//! P-384 checks for every document. [`ChainCache`] remembers a successful
//! `chain::verify_chain` result keyed by the certificate bytes, with the window
//! `[latest notBefore, earliest notAfter]` of the certificates in the path, and the verifier skips
//! the path validation when the bytes and a `now` inside that window match. The COSE signature of
//! each document is always checked.
//!
//! Why this is sound: `verify_chain` is a pure function of (anchor, cabundle, leaf) bytes and
//! `now`, and only its validity checks depend on `now`. `cabundle[0]` must be byte-equal to the
//! anchor, so the key covers the anchor too. The key is SHA-256 over every certificate,
//! length-prefixed, leaf included: a changed leaf (or any changed CA) is a different key and is
//! validated in full. Only successes are stored, so input cannot poison the cache; a `now` outside
//! the stored window goes through the full validation again, which then fails with the precise
//! error. Correctness never depends on the cache: the test suite runs every real document through
//! a verifier with and one without it.
//!
//! Bounded and thread-safe: see the crate's shared window cache, which the SEV-SNP chain cache
//! uses too.

use std::sync::Arc;

use aws_lc_rs::signature::ParsedPublicKey;

use crate::UnixTime;
use crate::window_cache::{CacheStats, WindowCache, certificates_key};

/// Entries kept by [`ChainCache::default`]: far more distinct enclaves than one verifier sees.
pub const DEFAULT_CHAIN_CACHE_CAPACITY: usize = 1024;

/// Hit and miss counts of a [`ChainCache`].
pub type ChainCacheStats = CacheStats;

/// A bounded, thread-safe cache of verified certificate paths, for
/// [`NitroVerifier::with_chain_cache`](super::NitroVerifier::with_chain_cache).
///
/// ```
/// use cloister_attestation::NitroVerifier;
/// use cloister_attestation::nitro::ChainCache;
/// let verifier = NitroVerifier::aws().with_chain_cache(ChainCache::new(256));
/// assert_eq!(verifier.chain_cache().map(ChainCache::len), Some(0));
/// ```
#[derive(Debug)]
pub struct ChainCache {
    paths: WindowCache<Arc<ParsedPublicKey>>,
}

/// What a successful path validation leaves behind: the leaf's key, ready to verify COSE
/// signatures, and the window of the path, epoch seconds, inclusive.
#[derive(Clone, Debug)]
pub(crate) struct CachedPath {
    pub(crate) leaf_key: Arc<ParsedPublicKey>,
    pub(crate) not_before: u64,
    pub(crate) not_after: u64,
}

impl ChainCache {
    /// A cache holding at most `capacity` paths (at least one).
    pub fn new(capacity: usize) -> Self {
        Self {
            paths: WindowCache::new(capacity),
        }
    }

    /// The most paths kept.
    pub fn capacity(&self) -> usize {
        self.paths.capacity()
    }

    /// Paths currently kept.
    pub fn len(&self) -> usize {
        self.paths.len()
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Hit and miss counts.
    pub fn stats(&self) -> ChainCacheStats {
        self.paths.stats()
    }

    /// Forgets every path.
    pub fn clear(&self) {
        self.paths.clear();
    }

    /// The key of a path: SHA-256 over the length-prefixed certificates, root first, leaf last.
    pub(crate) fn key(cabundle: &[Vec<u8>], leaf: &[u8]) -> [u8; 32] {
        certificates_key(
            b"cloister/nitro-chain/v1",
            cabundle.len() + 1,
            cabundle.iter().map(Vec::as_slice).chain([leaf]),
        )
    }

    /// The cached leaf key for `key` if `now` is inside its path's window.
    pub(crate) fn get(&self, key: &[u8; 32], now: UnixTime) -> Option<Arc<ParsedPublicKey>> {
        self.paths.get(key, now)
    }

    /// Remembers a successful validation.
    pub(crate) fn insert(&self, key: [u8; 32], path: CachedPath) {
        self.paths
            .insert(key, path.leaf_key, path.not_before, path.not_after);
    }
}

impl Default for ChainCache {
    fn default() -> Self {
        Self::new(DEFAULT_CHAIN_CACHE_CAPACITY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(_tag: u8, not_before: u64, not_after: u64) -> CachedPath {
        // Any valid P-384 point: the AWS root's key.
        let root = crate::nitro::TrustAnchor::aws_nitro_root_g1();
        let point = root_point(root.der());
        CachedPath {
            leaf_key: Arc::new(crate::nitro::cose::leaf_key(&point).expect("P-384 point")),
            not_before,
            not_after,
        }
    }

    fn root_point(der: &[u8]) -> Vec<u8> {
        use der::Decode;
        let cert = x509_cert::Certificate::from_der(der).expect("root");
        cert.tbs_certificate()
            .subject_public_key_info()
            .subject_public_key
            .raw_bytes()
            .to_vec()
    }

    #[test]
    fn hits_only_inside_the_window() {
        let cache = ChainCache::new(4);
        let key = ChainCache::key(&[vec![1], vec![2]], &[3]);
        cache.insert(key, chain(1, 100, 200));
        assert!(cache.get(&key, UnixTime::from_secs(99)).is_none());
        assert!(cache.get(&key, UnixTime::from_secs(100)).is_some());
        assert!(cache.get(&key, UnixTime::from_secs(200)).is_some());
        assert!(cache.get(&key, UnixTime::from_secs(201)).is_none());
        assert_eq!(cache.stats(), ChainCacheStats { hits: 2, misses: 2 });
    }

    #[test]
    fn keys_cover_every_certificate_and_their_boundaries() {
        let base = ChainCache::key(&[vec![1, 2], vec![3]], &[4]);
        assert_ne!(base, ChainCache::key(&[vec![1, 2], vec![3]], &[5]), "leaf");
        assert_ne!(base, ChainCache::key(&[vec![1, 2], vec![9]], &[4]), "CA");
        assert_ne!(base, ChainCache::key(&[vec![1], vec![2, 3]], &[4]), "split");
        assert_ne!(base, ChainCache::key(&[vec![1, 2]], &[3, 4]), "count");
        assert_eq!(base, ChainCache::key(&[vec![1, 2], vec![3]], &[4]));
    }

    #[test]
    fn evicts_the_least_recently_used_when_full() {
        let cache = ChainCache::new(2);
        let [a, b, c] = [[1u8; 32], [2; 32], [3; 32]];
        let now = UnixTime::from_secs(150);
        cache.insert(a, chain(1, 100, 200));
        cache.insert(b, chain(2, 100, 200));
        assert!(cache.get(&a, now).is_some()); // b is now the oldest
        cache.insert(c, chain(3, 100, 200));
        assert_eq!(cache.len(), 2);
        assert!(cache.get(&a, now).is_some());
        assert!(cache.get(&b, now).is_none());
        assert!(cache.get(&c, now).is_some());
        cache.clear();
        assert!(cache.is_empty());
        assert_eq!(ChainCache::new(0).capacity(), 1);
    }
}
