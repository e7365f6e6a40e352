//! Two bounded, time-limited memories of the gateway:
//!
//! - [`EvidenceLedger`]: the digests of evidence this enclave has issued in the last
//!   [`EVIDENCE_MAX_AGE`], so a result can name the evidence its caller verified, and a caller
//!   cannot make the enclave sign over evidence it never made, or made long ago.
//! - [`ReplayCache`]: the HPKE encapsulated keys (`enc`) of OHTTP requests the gateway has opened
//!   in the last [`REPLAY_WINDOW`], so a host that relays the same encapsulated request twice gets
//!   `ohttp.replayed` the second time. An entry is recorded only after its request decapsulated,
//!   so a host cannot fill the cache with junk; when the cache is full of live entries, new
//!   requests are refused (`enclave.busy`) rather than a live entry evicted, since evicting one
//!   would reopen its replay window.
//!
//! Time is an input (`now`, a monotonic [`Instant`]) so tests move the clock without sleeping.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use cloister_proto::DIGEST_LEN;

/// How long evidence this enclave issued is accepted in a request (`request.unknown_evidence`
/// after that: the caller fetches fresh evidence).
pub const EVIDENCE_MAX_AGE: Duration = Duration::from_secs(10 * 60);

/// How many evidence digests are remembered at most. When full, the oldest falls out first,
/// even if younger than [`EVIDENCE_MAX_AGE`]; its callers fetch fresh evidence.
pub const LEDGER_CAPACITY: usize = 4096;

/// How long an opened request's `enc` is remembered: as long as any evidence is accepted, so
/// a request cannot be replayed while the evidence it names is still honoured.
pub const REPLAY_WINDOW: Duration = EVIDENCE_MAX_AGE;

/// Most requests remembered at once (about 12 MiB at most). Above it, that is more than
/// this many requests in one [`REPLAY_WINDOW`], new requests get `enclave.busy` until the
/// oldest entries expire.
pub const REPLAY_CACHE_CAPACITY: usize = 1 << 17;

/// Length of the key the replay cache keeps: an X25519 HPKE `enc` (RFC 9180 §7.1).
pub const REPLAY_KEY_LEN: usize = 32;

fn expired(recorded: Instant, now: Instant, max_age: Duration) -> bool {
    now.saturating_duration_since(recorded) >= max_age
}

/// Evidence digests issued recently, each with its time of issue.
#[derive(Debug, Default)]
pub(crate) struct EvidenceLedger {
    inner: Mutex<LedgerInner>,
}

#[derive(Debug, Default)]
struct LedgerInner {
    order: VecDeque<([u8; DIGEST_LEN], Instant)>,
    issued: HashMap<[u8; DIGEST_LEN], Instant>,
}

impl LedgerInner {
    fn expire(&mut self, now: Instant) {
        while let Some(&(d, t)) = self.order.front() {
            if !expired(t, now, EVIDENCE_MAX_AGE) {
                break;
            }
            self.order.pop_front();
            self.issued.remove(&d);
        }
    }
}

impl EvidenceLedger {
    /// Records evidence issued at `now`.
    pub(crate) fn record(&self, digest: [u8; DIGEST_LEN], now: Instant) {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.expire(now);
        if g.issued.contains_key(&digest) {
            return;
        }
        g.issued.insert(digest, now);
        g.order.push_back((digest, now));
        if g.order.len() > LEDGER_CAPACITY
            && let Some((old, _)) = g.order.pop_front()
        {
            g.issued.remove(&old);
        }
    }

    /// Whether `digest` names evidence issued less than [`EVIDENCE_MAX_AGE`] before `now`.
    pub(crate) fn contains(&self, digest: &[u8; DIGEST_LEN], now: Instant) -> bool {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.expire(now);
        g.issued
            .get(digest)
            .is_some_and(|&t| !expired(t, now, EVIDENCE_MAX_AGE))
    }
}

/// Why the replay cache refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ReplayRefusal {
    /// The same `enc` was opened within the window.
    #[error("this OHTTP request was already served; encapsulate every request afresh")]
    Replayed,
    /// The cache holds only live entries; evicting one would reopen its replay window.
    #[error("the enclave is at its request limit for the replay window; retry in a few minutes")]
    Full,
}

impl ReplayRefusal {
    pub(crate) fn code(self) -> &'static str {
        match self {
            Self::Replayed => "ohttp.replayed",
            Self::Full => "enclave.busy",
        }
    }
}

/// The `enc` of every OHTTP request opened in the last [`REPLAY_WINDOW`].
#[derive(Debug)]
pub(crate) struct ReplayCache {
    capacity: usize,
    inner: Mutex<ReplayInner>,
}

#[derive(Debug, Default)]
struct ReplayInner {
    order: VecDeque<([u8; REPLAY_KEY_LEN], Instant)>,
    seen: HashSet<[u8; REPLAY_KEY_LEN]>,
}

impl Default for ReplayCache {
    fn default() -> Self {
        Self::with_capacity(REPLAY_CACHE_CAPACITY)
    }
}

impl ReplayCache {
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Self {
            capacity,
            inner: Mutex::default(),
        }
    }

    /// Records `enc`, opened at `now`, unless it was opened within the window (refused:
    /// [`ReplayRefusal::Replayed`]) or the cache is full of live entries (refused:
    /// [`ReplayRefusal::Full`], nothing recorded). Call only after decapsulation succeeded.
    pub(crate) fn check_and_record(
        &self,
        enc: [u8; REPLAY_KEY_LEN],
        now: Instant,
    ) -> Result<(), ReplayRefusal> {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(&(k, t)) = g.order.front() {
            if !expired(t, now, REPLAY_WINDOW) {
                break;
            }
            g.order.pop_front();
            g.seen.remove(&k);
        }
        if g.seen.contains(&enc) {
            return Err(ReplayRefusal::Replayed);
        }
        if g.seen.len() >= self.capacity {
            return Err(ReplayRefusal::Full);
        }
        g.seen.insert(enc);
        g.order.push_back((enc, now));
        Ok(())
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .seen
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(i: u64) -> [u8; DIGEST_LEN] {
        let mut d = [0u8; DIGEST_LEN];
        d[..8].copy_from_slice(&i.to_be_bytes());
        d
    }

    fn enc(i: u64) -> [u8; REPLAY_KEY_LEN] {
        let mut d = [0u8; REPLAY_KEY_LEN];
        d[..8].copy_from_slice(&i.to_be_bytes());
        d
    }

    #[test]
    fn ledger_remembers_the_most_recent_and_forgets_the_oldest() {
        let l = EvidenceLedger::default();
        let now = Instant::now();
        for i in 0..=LEDGER_CAPACITY as u64 {
            l.record(digest(i), now);
        }
        assert!(!l.contains(&digest(0), now));
        assert!(l.contains(&digest(LEDGER_CAPACITY as u64), now));
    }

    #[test]
    fn ledger_expires_evidence_by_age() {
        let l = EvidenceLedger::default();
        let t0 = Instant::now();
        l.record(digest(1), t0);
        let t1 = t0 + Duration::from_secs(300);
        l.record(digest(2), t1);
        let just_before = t0 + EVIDENCE_MAX_AGE - Duration::from_millis(1);
        assert!(l.contains(&digest(1), just_before));
        assert!(l.contains(&digest(2), just_before));
        let at_expiry = t0 + EVIDENCE_MAX_AGE;
        assert!(
            !l.contains(&digest(1), at_expiry),
            "evidence older than its max age is still accepted"
        );
        assert!(l.contains(&digest(2), at_expiry));
        assert!(!l.contains(&digest(2), t1 + EVIDENCE_MAX_AGE));
        // Re-recording an expired digest starts it afresh.
        l.record(digest(1), at_expiry);
        assert!(l.contains(&digest(1), at_expiry + Duration::from_secs(1)));
        // An unknown digest is never accepted.
        assert!(!l.contains(&digest(3), t0));
    }

    #[test]
    fn replay_cache_refuses_a_second_use_within_the_window() {
        let c = ReplayCache::with_capacity(8);
        let t0 = Instant::now();
        assert_eq!(c.check_and_record(enc(1), t0), Ok(()));
        assert_eq!(
            c.check_and_record(enc(1), t0 + REPLAY_WINDOW - Duration::from_millis(1)),
            Err(ReplayRefusal::Replayed)
        );
        assert_eq!(ReplayRefusal::Replayed.code(), "ohttp.replayed");
        assert_eq!(c.check_and_record(enc(2), t0), Ok(()));
    }

    #[test]
    fn replay_cache_keeps_entries_for_as_long_as_evidence_is_accepted() {
        // A request naming evidence issued at t0 and first served at t0 can be replayed only
        // once that evidence has expired.
        const _: () = assert!(REPLAY_WINDOW.as_secs() >= EVIDENCE_MAX_AGE.as_secs());
        let c = ReplayCache::with_capacity(8);
        let l = EvidenceLedger::default();
        let t0 = Instant::now();
        l.record(digest(9), t0);
        c.check_and_record(enc(1), t0).expect("first");
        let mut t = t0;
        while l.contains(&digest(9), t) {
            assert_eq!(
                c.check_and_record(enc(1), t),
                Err(ReplayRefusal::Replayed),
                "replay accepted {:?} after first use while its evidence is live",
                t - t0
            );
            t += Duration::from_secs(7);
        }
        // Once the window has passed the entry is gone (and the evidence with it).
        assert_eq!(c.check_and_record(enc(1), t0 + REPLAY_WINDOW), Ok(()));
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn a_full_replay_cache_refuses_rather_than_evicts() {
        let c = ReplayCache::with_capacity(3);
        let t0 = Instant::now();
        for i in 0..3 {
            c.check_and_record(enc(i), t0 + Duration::from_secs(i))
                .expect("room");
        }
        let t = t0 + Duration::from_secs(10);
        assert_eq!(c.check_and_record(enc(3), t), Err(ReplayRefusal::Full));
        assert_eq!(ReplayRefusal::Full.code(), "enclave.busy");
        // Nothing was evicted: every live entry still refuses its replay...
        for i in 0..3 {
            assert_eq!(c.check_and_record(enc(i), t), Err(ReplayRefusal::Replayed));
        }
        // ...and the refused request was not recorded.
        assert_eq!(c.len(), 3);
        // When the oldest expires, there is room for exactly one more.
        let later = t0 + REPLAY_WINDOW;
        assert_eq!(c.check_and_record(enc(3), later), Ok(()));
        assert_eq!(c.check_and_record(enc(4), later), Err(ReplayRefusal::Full));
        let later = later + Duration::from_secs(1);
        assert_eq!(c.check_and_record(enc(0), later), Ok(()), "expired entry");
    }
}
