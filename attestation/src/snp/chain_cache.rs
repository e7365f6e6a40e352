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
//! The same design as the Nitro [`ChainCache`](crate::nitro::ChainCache) (which caches a leaf key,
//! so its code is not shared): why it is sound: the CA checks are a pure function of the ARK and
//! ASK bytes and `now`, and only the validity checks depend on `now`. The ARK is always the
//! pinned one, and the key (SHA-256 over both certificates, length-prefixed, domain-separated)
//! covers it anyway. Only successes are stored, so input cannot poison the cache; a `now`
//! outside the window goes through the full validation again, which then fails with the precise
//! error. Correctness never depends on the cache: the tests below run the real reports through a
//! verifier with and one without it.
//!
//! Bounded (least recently used entry evicted when full) and thread-safe (one `Mutex`; the
//! critical section is a hash-map lookup, the SHA-256 runs outside it).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};

use sha2::{Digest, Sha256};

use crate::UnixTime;

/// Entries kept by [`SnpChainCache::default`]: there are a handful of AMD ARK/ASK/ASVK pairs.
pub const DEFAULT_SNP_CHAIN_CACHE_CAPACITY: usize = 64;

/// A bounded, thread-safe cache of validated ARK → ASK/ASVK pairs.
///
/// ```
/// use cloister_attestation::snp::{SnpChainCache, SnpVerifier};
/// let verifier = SnpVerifier::new().with_chain_cache(SnpChainCache::new(16));
/// assert_eq!(verifier.chain_cache().map(SnpChainCache::len), Some(0));
/// ```
pub struct SnpChainCache {
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<[u8; 32], Entry>,
    clock: u64,
    hits: u64,
    misses: u64,
}

struct Entry {
    not_before: u64,
    not_after: u64,
    last_used: u64,
}

/// Hit and miss counts since the cache was made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SnpChainCacheStats {
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that needed the full ARK/ASK validation.
    pub misses: u64,
}

impl SnpChainCache {
    /// A cache holding at most `capacity` pairs (at least one).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            inner: Mutex::new(Inner::default()),
        }
    }

    /// The most pairs kept.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Pairs currently kept.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Hit and miss counts.
    pub fn stats(&self) -> SnpChainCacheStats {
        let inner = self.lock();
        SnpChainCacheStats {
            hits: inner.hits,
            misses: inner.misses,
        }
    }

    /// Forgets every pair.
    pub fn clear(&self) {
        self.lock().entries.clear();
    }

    /// The key of a pair: SHA-256 over the length-prefixed ARK and ASK/ASVK DER.
    pub(crate) fn key(ark: &[u8], ask: &[u8]) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(b"cloister/snp-ca-chain/v1");
        for der in [ark, ask] {
            // Certificates are bounded far below 4 GiB by the parser; saturating keeps the
            // encoding injective for anything it lets through.
            h.update(u32::try_from(der.len()).unwrap_or(u32::MAX).to_be_bytes());
            h.update(der);
        }
        h.finalize().into()
    }

    /// True if the pair `key` was validated and `now` is inside its window.
    pub(crate) fn hit(&self, key: &[u8; 32], now: UnixTime) -> bool {
        let mut inner = self.lock();
        inner.clock += 1;
        let clock = inner.clock;
        let now = now.as_secs();
        let found = inner.entries.get_mut(key).is_some_and(|e| {
            let inside = e.not_before <= now && now <= e.not_after;
            if inside {
                e.last_used = clock;
            }
            inside
        });
        if found {
            inner.hits += 1;
        } else {
            inner.misses += 1;
        }
        found
    }

    /// Remembers a successful validation valid over `[not_before, not_after]`.
    pub(crate) fn insert(&self, key: [u8; 32], not_before: u64, not_after: u64) {
        let mut inner = self.lock();
        inner.clock += 1;
        let last_used = inner.clock;
        if inner.entries.len() >= self.capacity
            && !inner.entries.contains_key(&key)
            && let Some(oldest) = inner
                .entries
                .iter()
                .min_by_key(|(_, e)| e.last_used)
                .map(|(k, _)| *k)
        {
            inner.entries.remove(&oldest);
        }
        inner.entries.insert(
            key,
            Entry {
                not_before,
                not_after,
                last_used,
            },
        );
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every statement leaves the map consistent, so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Default for SnpChainCache {
    fn default() -> Self {
        Self::new(DEFAULT_SNP_CHAIN_CACHE_CAPACITY)
    }
}

impl fmt::Debug for SnpChainCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.lock();
        f.debug_struct("SnpChainCache")
            .field("capacity", &self.capacity)
            .field("len", &inner.entries.len())
            .field("hits", &inner.hits)
            .field("misses", &inner.misses)
            .finish()
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
