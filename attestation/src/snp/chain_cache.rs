//! An opt-in cache of the CA half of the AMD chain: ARK self-signature, ASK/ASVK signature by the
//! ARK, their extensions and validity.
//!
//! Every report from one product goes through the same ARK and ASK (or ASVK), so a verifier that
//! sees many reports repeats two RSA-4096 PSS checks that always give the same answer. With a
//! [`SnpChainCache`] ([`SnpVerifier::with_chain_cache`](super::SnpVerifier::with_chain_cache))
//! the verifier remembers a successful ARK/ASK validation keyed by the two certificates' bytes,
//! with the window `[latest notBefore, earliest notAfter]` of the pair, and skips those two
//! signatures (and the CA extension and validity checks) when the bytes match and `now` is inside
//! the window. The VCEK/VLEK signature by the ASK, its validity and extensions, the CRL, the
//! names, the report signature, TCB and hwID are always checked.
//!
//! The same cache as the Nitro [`ChainCache`](crate::nitro::ChainCache) (the crate's shared window
//! cache), with nothing stored but the window. Why it is sound: the CA checks are a pure function of the ARK and
//! ASK bytes and `now`, and only the validity checks depend on `now`. The ARK is always the
//! pinned one, and the key (SHA-256 over both certificates, length-prefixed, domain-separated)
//! covers it anyway. Only successes are stored, so input cannot poison the cache; a `now`
//! outside the window goes through the full validation again, which then fails with the precise
//! error. Correctness never depends on the cache: the tests below run the real reports through a
//! verifier with and one without it.
//!
//! Bounded and thread-safe, as the shared window cache is.

use crate::UnixTime;
use crate::window_cache::{CacheStats, WindowCache, certificates_key};

/// Entries kept by [`SnpChainCache::default`]: there are a handful of AMD ARK/ASK/ASVK pairs.
pub const DEFAULT_SNP_CHAIN_CACHE_CAPACITY: usize = 64;

/// Hit and miss counts of an [`SnpChainCache`].
pub type SnpChainCacheStats = CacheStats;

/// A bounded, thread-safe cache of validated ARK → ASK/ASVK pairs.
///
/// ```
/// use cloister_attestation::snp::{SnpChainCache, SnpVerifier};
/// let verifier = SnpVerifier::new().with_chain_cache(SnpChainCache::new(16));
/// assert_eq!(verifier.chain_cache().map(SnpChainCache::len), Some(0));
/// ```
#[derive(Debug)]
pub struct SnpChainCache {
    pairs: WindowCache<()>,
}

impl SnpChainCache {
    /// A cache holding at most `capacity` pairs (at least one).
    pub fn new(capacity: usize) -> Self {
        Self {
            pairs: WindowCache::new(capacity),
        }
    }

    /// The most pairs kept.
    pub fn capacity(&self) -> usize {
        self.pairs.capacity()
    }

    /// Pairs currently kept.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Hit and miss counts.
    pub fn stats(&self) -> SnpChainCacheStats {
        self.pairs.stats()
    }

    /// Forgets every pair.
    pub fn clear(&self) {
        self.pairs.clear();
    }

    /// The key of a pair: SHA-256 over the length-prefixed ARK and ASK/ASVK DER.
    pub(crate) fn key(ark: &[u8], ask: &[u8]) -> [u8; 32] {
        certificates_key(b"cloister/snp-ca-chain/v1", 2, [ark, ask].into_iter())
    }

    /// True if the pair `key` was validated and `now` is inside its window.
    pub(crate) fn hit(&self, key: &[u8; 32], now: UnixTime) -> bool {
        self.pairs.get(key, now).is_some()
    }

    /// Remembers a successful validation valid over `[not_before, not_after]`.
    pub(crate) fn insert(&self, key: [u8; 32], not_before: u64, not_after: u64) {
        self.pairs.insert(key, (), not_before, not_after);
    }
}

impl Default for SnpChainCache {
    fn default() -> Self {
        Self::new(DEFAULT_SNP_CHAIN_CACHE_CAPACITY)
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::snp::SnpVerifier;

    fn fixture(rel: &str) -> Vec<u8> {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/fixtures/snp")
            .join(rel);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    fn milan() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        let hex_text: String = String::from_utf8(fixture("virtee-sev/report_milan.hex"))
            .expect("utf8")
            .split_whitespace()
            .collect();
        (
            hex::decode(hex_text).expect("hex"),
            fixture("virtee-sev/vcek_milan.der"),
            fixture("virtee-sev/cert_chain_milan"),
        )
    }

    /// 2025-01-01, inside the VCEK window 2023-04-03 .. 2030-04-03.
    const INSIDE: UnixTime = UnixTime::from_secs(1_735_689_600);

    #[test]
    fn hits_only_inside_the_window() {
        let cache = SnpChainCache::new(4);
        let key = SnpChainCache::key(&[1], &[2]);
        cache.insert(key, 100, 200);
        assert!(!cache.hit(&key, UnixTime::from_secs(99)));
        assert!(cache.hit(&key, UnixTime::from_secs(100)));
        assert!(cache.hit(&key, UnixTime::from_secs(200)));
        assert!(!cache.hit(&key, UnixTime::from_secs(201)));
        assert_eq!(cache.stats(), SnpChainCacheStats { hits: 2, misses: 2 });
    }

    #[test]
    fn keys_cover_both_certificates_and_their_boundary() {
        let base = SnpChainCache::key(&[1, 2], &[3]);
        assert_ne!(base, SnpChainCache::key(&[1, 2], &[4]));
        assert_ne!(base, SnpChainCache::key(&[9, 2], &[3]));
        assert_ne!(base, SnpChainCache::key(&[1], &[2, 3]));
        assert_eq!(base, SnpChainCache::key(&[1, 2], &[3]));
    }

    #[test]
    fn evicts_the_least_recently_used_when_full() {
        let cache = SnpChainCache::new(2);
        let [a, b, c] = [[1u8; 32], [2; 32], [3; 32]];
        let now = UnixTime::from_secs(150);
        cache.insert(a, 100, 200);
        cache.insert(b, 100, 200);
        assert!(cache.hit(&a, now));
        cache.insert(c, 100, 200);
        assert_eq!(cache.len(), 2);
        assert!(cache.hit(&a, now));
        assert!(!cache.hit(&b, now));
        assert!(cache.hit(&c, now));
        cache.clear();
        assert!(cache.is_empty());
        assert_eq!(SnpChainCache::new(0).capacity(), 1);
    }

    /// The real Milan report with and without the cache: same verdicts, the warm path hits, and
    /// a flipped report, VCEK or ASK byte is still rejected with a filled cache.
    #[test]
    fn verdicts_are_the_same_with_and_without_the_cache() {
        let (report, vcek, chain) = milan();
        for builtin in [true, false] {
            let base = if builtin {
                SnpVerifier::new()
            } else {
                SnpVerifier::new().with_chain_pem(&chain).expect("chain")
            };
            let cached = base.clone().with_chain_cache(SnpChainCache::default());
            for v in [&base, &cached] {
                let a = v.verify(&report, &vcek, INSIDE).expect("accept");
                let b = v.verify(&report, &vcek, INSIDE).expect("accept again");
                assert_eq!(a, b);
                // Outside the VCEK window (2022 and 2031): rejected, cache or not.
                let e = v
                    .verify(&report, &vcek, UnixTime::from_secs(1_650_000_000))
                    .expect_err("before");
                assert_eq!(e.code(), "snp.cert.not_yet_valid");
                let e = v
                    .verify(&report, &vcek, UnixTime::from_secs(1_930_000_000))
                    .expect_err("after");
                assert_eq!(e.code(), "snp.cert.expired");
                // Far outside the ARK/ASK window: the CA checks run again and fail.
                let e = v
                    .verify(&report, &vcek, UnixTime::from_secs(2_600_000_000))
                    .expect_err("after the ARK");
                assert_eq!(e.code(), "snp.cert.expired");
                let mut bad = report.clone();
                bad[21] ^= 0x80;
                assert!(v.verify(&bad, &vcek, INSIDE).is_err());
                let mut bad = vcek.clone();
                bad[40] ^= 1;
                assert!(v.verify(&report, &bad, INSIDE).is_err());
            }
            let stats = cached.chain_cache().expect("cache").stats();
            assert!(stats.hits >= 4, "{stats:?}");
            assert_eq!(cached.chain_cache().map(SnpChainCache::len), Some(1));
        }
        // A tampered ASK in a given chain is a different key: validated in full, rejected.
        let shared = std::sync::Arc::new(SnpChainCache::default());
        SnpVerifier::new()
            .with_chain_pem(&chain)
            .expect("chain")
            .with_chain_cache(std::sync::Arc::clone(&shared))
            .verify(&report, &vcek, INSIDE)
            .expect("fill");
        let certs = crate::snp::chain::read_chain(&chain).expect("certs");
        let mut pem = Vec::new();
        for (i, der) in certs.iter().enumerate() {
            let mut der = der.clone();
            if i == 0 {
                // The ASK comes first in KDS's cert_chain: flip a byte of its signature.
                let n = der.len() - 10;
                der[n] ^= 1;
            }
            pem.extend_from_slice(
                der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, &der)
                    .expect("pem")
                    .as_bytes(),
            );
        }
        let tampered = SnpVerifier::new()
            .with_chain_pem(&pem)
            .expect("chain")
            .with_chain_cache(std::sync::Arc::clone(&shared));
        tampered
            .verify(&report, &vcek, INSIDE)
            .expect_err("tampered ASK");
        assert_eq!(shared.len(), 1, "the tampered pair is not stored");
    }
}
