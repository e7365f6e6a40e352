//! The one cache behind both chain caches ([`crate::nitro::ChainCache`] and
//! [`crate::snp::SnpChainCache`]): a bounded, thread-safe map from a SHA-256 key over certificate
//! bytes to what a successful validation of those certificates left behind, usable only while
//! `now` is inside the validity window `[latest notBefore, earliest notAfter]` of the certificates.
//!
//! Only successes are stored, so input cannot poison it; outside the window a lookup misses and
//! the caller runs the full validation again, which then fails with the precise error. Least
//! recently used entries go first when full. One `Mutex`: the critical section is a map lookup,
//! the key hashing runs outside it.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use aws_lc_rs::digest;

use crate::UnixTime;

/// Hit and miss counts since a cache was made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that needed a full validation (unknown certificates, or `now` outside the window).
    pub misses: u64,
}

/// SHA-256 over a domain label, the number of certificates, and each certificate
/// length-prefixed: injective over (label, certificate list). `count` must be the number of
/// items `certs` yields (passed separately so callers can chain iterators without collecting).
pub(crate) fn certificates_key<'a>(
    label: &[u8],
    count: usize,
    certs: impl Iterator<Item = &'a [u8]>,
) -> [u8; 32] {
    let mut h = digest::Context::new(&digest::SHA256);
    h.update(label);
    // Parsers bound certificates and their number far below 4 GiB; saturating keeps the encoding
    // injective for anything they let through.
    h.update(&u32::try_from(count).unwrap_or(u32::MAX).to_be_bytes());
    for der in certs {
        h.update(&u32::try_from(der.len()).unwrap_or(u32::MAX).to_be_bytes());
        h.update(der);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(h.finish().as_ref());
    out
}

pub(crate) struct WindowCache<V> {
    capacity: usize,
    inner: Mutex<Inner<V>>,
}

/// Shows the figures, never the cached keys.
impl<V: Clone> std::fmt::Debug for WindowCache<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WindowCache")
            .field("capacity", &self.capacity())
            .field("len", &self.len())
            .field("stats", &self.stats())
            .finish()
    }
}

struct Inner<V> {
    entries: HashMap<[u8; 32], Entry<V>>,
    /// Monotonic use counter, for least-recently-used eviction.
    clock: u64,
    stats: CacheStats,
}

struct Entry<V> {
    value: V,
    not_before: u64,
    not_after: u64,
    last_used: u64,
}

impl<V: Clone> WindowCache<V> {
    /// A cache holding at most `capacity` entries (at least one).
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            inner: Mutex::new(Inner {
                entries: HashMap::new(),
                clock: 0,
                stats: CacheStats::default(),
            }),
        }
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().entries.len()
    }

    pub(crate) fn stats(&self) -> CacheStats {
        self.lock().stats
    }

    pub(crate) fn clear(&self) {
        self.lock().entries.clear();
    }

    /// The value for `key` if `now` is inside its window.
    pub(crate) fn get(&self, key: &[u8; 32], now: UnixTime) -> Option<V> {
        let mut inner = self.lock();
        inner.clock += 1;
        let clock = inner.clock;
        let now = now.as_secs();
        let found = inner.entries.get_mut(key).and_then(|e| {
            (e.not_before <= now && now <= e.not_after).then(|| {
                e.last_used = clock;
                e.value.clone()
            })
        });
        if found.is_some() {
            inner.stats.hits += 1;
        } else {
            inner.stats.misses += 1;
        }
        found
    }

    /// Remembers a successful validation whose certificates are valid over
    /// `[not_before, not_after]` (epoch seconds, inclusive).
    pub(crate) fn insert(&self, key: [u8; 32], value: V, not_before: u64, not_after: u64) {
        let mut inner = self.lock();
        inner.clock += 1;
        let last_used = inner.clock;
        // O(capacity), only on insert into a full cache, which a verifier facing a few enclaves
        // or products never reaches.
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
                value,
                not_before,
                not_after,
                last_used,
            },
        );
    }

    fn lock(&self) -> MutexGuard<'_, Inner<V>> {
        // Every statement leaves the map consistent, so a panic elsewhere while the lock was held
        // leaves nothing half-applied: keep using it.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hits_only_inside_the_window_and_evicts_the_least_recently_used() {
        let cache = WindowCache::new(2);
        let (a, b, c) = ([1u8; 32], [2u8; 32], [3u8; 32]);
        cache.insert(a, 'a', 100, 200);
        assert_eq!(cache.get(&a, UnixTime::from_secs(99)), None);
        assert_eq!(cache.get(&a, UnixTime::from_secs(100)), Some('a'));
        assert_eq!(cache.get(&a, UnixTime::from_secs(200)), Some('a'));
        assert_eq!(cache.get(&a, UnixTime::from_secs(201)), None);
        assert_eq!(cache.stats(), CacheStats { hits: 2, misses: 2 });
        cache.insert(b, 'b', 0, 1000);
        assert_eq!(cache.get(&a, UnixTime::from_secs(150)), Some('a'));
        cache.insert(c, 'c', 0, 1000); // evicts b, used least recently
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.get(&b, UnixTime::from_secs(150)), None);
        assert_eq!(cache.get(&a, UnixTime::from_secs(150)), Some('a'));
        cache.clear();
        assert_eq!(cache.len(), 0);
        assert_eq!(cache.capacity(), 2);
    }

    #[test]
    fn keys_separate_labels_boundaries_and_counts() {
        let k = |label: &[u8], parts: &[&[u8]]| {
            certificates_key(label, parts.len(), parts.iter().copied())
        };
        let base = k(b"x", &[&[1, 2], &[3]]);
        assert_ne!(base, k(b"y", &[&[1, 2], &[3]]));
        assert_ne!(base, k(b"x", &[&[1], &[2, 3]]));
        assert_ne!(base, k(b"x", &[&[1, 2, 3]]));
        assert_ne!(base, k(b"x", &[&[1, 2], &[3], &[]]));
    }
}
