//! Challenges: fresh 32-byte nonces, each issued for one key id, redeemed at most once before
//! it expires. The evidence of a release must bind one, so a recorded release request cannot
//! be replayed and a stale one is refused.
//!
//! Challenges live in the [`Store`](crate::store::Store), so that any replica sharing the store
//! can redeem one, exactly once: the store redeems it in the same transaction that records the
//! release (or the refusal), so a challenge is either redeemed with its record or still
//! redeemable, never lost or doubled. At most `max_outstanding_challenges` are outstanding: when
//! full, new challenges are refused (`custodian.busy`) rather than the oldest evicted, which
//! would let a flood cancel honest enclaves' challenges. Redeemed and expired ones are kept until
//! their expiry, to tell "used" from "unknown".
//!
//! [`StoredChallenge::check`] is the one place the rules are written; every store calls it.
//!
//! ```
//! use cloister_custodian::challenge::StoredChallenge;
//! let c = StoredChallenge { key_id: "model-1".into(), expires_at: 1_030, used: false };
//! c.check("model-1", 1_010)?;
//! assert_eq!(c.check("model-2", 1_010).unwrap_err().code(), "custodian.challenge_key_mismatch");
//! assert_eq!(c.check("model-1", 1_031).unwrap_err().code(), "custodian.challenge_expired");
//! # Ok::<(), cloister_custodian::challenge::ChallengeError>(())
//! ```

use cloister_proto::key_release::NONCE_LEN;

/// Default number of outstanding challenges.
pub const DEFAULT_CAPACITY: usize = 10_000;

/// A challenge as a store keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredChallenge {
    /// The key id it was issued for.
    pub key_id: String,
    /// Unix seconds after which it is refused.
    pub expires_at: u64,
    /// Whether a release (or a refused release) has redeemed it.
    pub used: bool,
}

impl StoredChallenge {
    /// Whether it may be redeemed for `key_id` at `now`.
    ///
    /// # Errors
    /// [`ChallengeError::Used`], [`ChallengeError::Expired`], [`ChallengeError::KeyMismatch`].
    pub fn check(&self, key_id: &str, now: u64) -> Result<(), ChallengeError> {
        if self.used {
            return Err(ChallengeError::Used);
        }
        if now > self.expires_at {
            return Err(ChallengeError::Expired {
                expires_at: self.expires_at,
                now,
            });
        }
        if self.key_id != key_id {
            return Err(ChallengeError::KeyMismatch {
                issued_for: self.key_id.clone(),
                requested: key_id.to_owned(),
            });
        }
        Ok(())
    }
}

/// A fresh nonce from the system random source.
///
/// # Errors
/// [`ChallengeError::Random`].
pub fn fresh_nonce() -> Result<[u8; NONCE_LEN], ChallengeError> {
    let mut nonce = [0; NONCE_LEN];
    aws_lc_rs::rand::fill(&mut nonce).map_err(|_| ChallengeError::Random)?;
    Ok(nonce)
}

/// Why a challenge was not issued or not redeemed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChallengeError {
    /// The nonce was never issued here (or is long gone).
    #[error("the evidence's nonce is not a challenge this custodian issued")]
    Unknown,
    /// The challenge expired before it was redeemed.
    #[error("the challenge expired at {expires_at}, it is now {now}")]
    Expired {
        /// Its expiry, Unix seconds.
        expires_at: u64,
        /// The custodian's time.
        now: u64,
    },
    /// The challenge was redeemed already.
    #[error("the challenge was used already")]
    Used,
    /// The challenge was issued for another key.
    #[error("the challenge was issued for key {issued_for:?}, the release asks for {requested:?}")]
    KeyMismatch {
        /// The key id it was issued for.
        issued_for: String,
        /// The key id asked for.
        requested: String,
    },
    /// Too many challenges are outstanding.
    #[error("{capacity} challenges are outstanding")]
    Busy {
        /// The bound.
        capacity: usize,
    },
    /// The system random source failed.
    #[error("the system random source failed")]
    Random,
}

impl ChallengeError {
    /// A stable dotted code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unknown => "custodian.challenge_unknown",
            Self::Expired { .. } => "custodian.challenge_expired",
            Self::Used => "custodian.challenge_used",
            Self::KeyMismatch { .. } => "custodian.challenge_key_mismatch",
            Self::Busy { .. } => "custodian.busy",
            Self::Random => "custodian.random",
        }
    }

    /// What to do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            Self::Unknown => {
                "get a challenge from POST /v1/challenge and bind its nonce into the evidence"
            }
            Self::Expired { .. } => {
                "get a fresh challenge and send the release sooner (challenge_ttl_secs)"
            }
            Self::Used => "every release needs its own challenge: get a fresh one",
            Self::KeyMismatch { .. } => "ask for the challenge with the key id you release",
            Self::Busy { .. } => "retry after the challenge ttl",
            Self::Random => "the custodian host's random source is failing: check the system",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_refusal_is_typed_and_used_wins_over_the_rest() {
        let c = StoredChallenge {
            key_id: "k".into(),
            expires_at: 100,
            used: false,
        };
        assert_eq!(c.check("k", 100), Ok(()));
        assert_eq!(
            c.check("k", 101),
            Err(ChallengeError::Expired {
                expires_at: 100,
                now: 101
            })
        );
        assert!(matches!(
            c.check("j", 50),
            Err(ChallengeError::KeyMismatch { .. })
        ));
        let used = StoredChallenge { used: true, ..c };
        assert_eq!(used.check("j", 500), Err(ChallengeError::Used));
        assert_ne!(fresh_nonce().expect("nonce"), fresh_nonce().expect("nonce"));
    }
}
