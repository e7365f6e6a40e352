//! Exponential backoff with jitter: how long to wait before the next connect to the enclave
//! ([`crate::link`]) or the next start of a crashed enclave ([`crate::supervisor`]).
//!
//! The n-th delay (from 0) is `initial * 2^n`, capped at `max`, then jittered to a uniformly
//! random point of its upper half ("equal jitter"): never less than half the nominal delay, so
//! the backoff still bounds the rate, and spread out so that many hosts (or many pool slots)
//! that lost the same enclave do not retry in lockstep.

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// The bounds of a backoff.
///
/// ```
/// use std::time::Duration;
/// use cloister_host::supervisor::backoff::{Backoff, BackoffPolicy};
///
/// let mut b = Backoff::new(BackoffPolicy::new(Duration::from_millis(100), Duration::from_secs(1)));
/// let first = b.next_delay();
/// assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
/// for _ in 0..10 {
///     assert!(b.next_delay() <= Duration::from_secs(1));
/// }
/// b.reset();
/// assert!(b.next_delay() <= Duration::from_millis(100));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffPolicy {
    initial: Duration,
    max: Duration,
}

impl BackoffPolicy {
    /// A policy from the first delay and the cap. A cap below `initial` is raised to `initial`
    /// (configurations are checked before they get here, see
    /// [`crate::supervisor::config::SupervisorConfig::validate`]).
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max: max.max(initial),
        }
    }

    /// The first delay.
    pub fn initial(&self) -> Duration {
        self.initial
    }

    /// The cap.
    pub fn max(&self) -> Duration {
        self.max
    }

    /// The nominal (unjittered) delay before retry `attempt` (from 0).
    pub fn nominal(&self, attempt: u32) -> Duration {
        // 2^31 times any non-zero initial delay is past every sensible cap.
        let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.max)
    }
}

/// A backoff in progress: counts the failures since the last [`Backoff::reset`].
#[derive(Debug, Clone)]
pub struct Backoff {
    policy: BackoffPolicy,
    attempt: u32,
}

impl Backoff {
    /// A fresh backoff: the next delay is about `policy.initial()`.
    pub fn new(policy: BackoffPolicy) -> Self {
        Self { policy, attempt: 0 }
    }

    /// The delay before the next attempt (jittered), counting one more failure.
    pub fn next_delay(&mut self) -> Duration {
        let nominal = self.policy.nominal(self.attempt);
        self.attempt = self.attempt.saturating_add(1);
        equal_jitter(nominal, random_u64())
    }

    /// Failures counted since the last reset.
    pub fn failures(&self) -> u32 {
        self.attempt
    }

    /// Back to the first delay (after a success, or a stable period).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// The policy.
    pub fn policy(&self) -> BackoffPolicy {
        self.policy
    }
}

/// A point in `[d/2, d]` chosen by `random`.
fn equal_jitter(d: Duration, random: u64) -> Duration {
    let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    let half = nanos / 2;
    let spread = nanos - half;
    let offset = random.checked_rem(spread.saturating_add(1)).unwrap_or(0);
    Duration::from_nanos(half.saturating_add(offset))
}

/// A random number good enough for jitter (not for keys): std's per-process random SipHash
/// keys, advanced on every call.
pub(crate) fn random_u64() -> u64 {
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn doubles_up_to_the_cap() {
        let p = BackoffPolicy::new(100 * MS, 1000 * MS);
        let nominal: Vec<_> = (0..6).map(|n| p.nominal(n)).collect();
        assert_eq!(
            nominal,
            [100 * MS, 200 * MS, 400 * MS, 800 * MS, 1000 * MS, 1000 * MS]
        );
        assert_eq!(p.nominal(u32::MAX), 1000 * MS);
        assert_eq!(BackoffPolicy::new(5 * MS, MS).max(), 5 * MS);
        assert_eq!(
            BackoffPolicy::new(Duration::ZERO, MS).nominal(7),
            Duration::ZERO
        );
    }

    #[test]
    fn jitter_stays_in_the_upper_half() {
        let d = 1000 * MS;
        assert_eq!(equal_jitter(d, 0), 500 * MS);
        assert_eq!(equal_jitter(d, 500_000_000), d);
        assert_eq!(equal_jitter(d, 500_000_001), 500 * MS);
        assert_eq!(equal_jitter(Duration::ZERO, 12345), Duration::ZERO);
        assert!(equal_jitter(Duration::MAX, u64::MAX) >= Duration::from_nanos(u64::MAX / 2));
        for _ in 0..100 {
            let j = equal_jitter(d, random_u64());
            assert!(j >= 500 * MS && j <= d, "{j:?}");
        }
    }

    #[test]
    fn delays_are_spread_and_reset() {
        let mut b = Backoff::new(BackoffPolicy::new(100 * MS, 10_000 * MS));
        let delays: Vec<_> = (0..4).map(|_| b.next_delay()).collect();
        assert_eq!(b.failures(), 4);
        for (n, d) in delays.iter().enumerate() {
            let nominal = b.policy().nominal(u32::try_from(n).expect("small"));
            assert!(*d >= nominal / 2 && *d <= nominal, "{n}: {d:?}");
        }
        b.reset();
        assert_eq!(b.failures(), 0);
        assert!(b.next_delay() <= 100 * MS);
        // Two backoffs started together do not retry in lockstep.
        let samples: std::collections::HashSet<_> = (0..16)
            .map(|_| Backoff::new(b.policy()).next_delay())
            .collect();
        assert!(samples.len() > 1);
    }
}
