//! Time as an input.
//!
//! Verification depends on the time (certificates expire, documents age), so every verifier and
//! policy takes a [`UnixTime`]. [`UnixTime::now`] is the one place in the crate that reads the
//! clock: call it at the edge (the CLI, a request handler) and pass the value down.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch (1970-01-01T00:00:00Z), UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct UnixTime(u64);

impl UnixTime {
    /// The time `secs` seconds after the epoch.
    ///
    /// ```
    /// use cloister_attestation::UnixTime;
    /// assert_eq!(UnixTime::from_secs(1_700_000_000).as_secs(), 1_700_000_000);
    /// ```
    pub const fn from_secs(secs: u64) -> Self {
        Self(secs)
    }

    /// Seconds since the epoch.
    pub const fn as_secs(self) -> u64 {
        self.0
    }

    /// The current wall-clock time (0 if the clock is set before 1970).
    ///
    /// This is the only function in the crate that reads the clock.
    pub fn now() -> Self {
        Self(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        )
    }

    /// `self + secs`, saturating at the largest representable time.
    pub const fn saturating_add_secs(self, secs: u64) -> Self {
        Self(self.0.saturating_add(secs))
    }

    /// `self - secs`, saturating at the epoch.
    pub const fn saturating_sub_secs(self, secs: u64) -> Self {
        Self(self.0.saturating_sub(secs))
    }
}

impl fmt::Display for UnixTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn now_is_after_2024() {
        assert!(UnixTime::now().as_secs() > 1_704_067_200);
    }

    #[test]
    fn saturating_arithmetic() {
        assert_eq!(UnixTime::from_secs(5).saturating_sub_secs(10).as_secs(), 0);
        assert_eq!(
            UnixTime::from_secs(u64::MAX)
                .saturating_add_secs(1)
                .as_secs(),
            u64::MAX
        );
    }
}
