//! Challenges: fresh 32-byte nonces, each issued for one key id, redeemed at most once before
//! it expires. The evidence of a release must bind one, so a recorded release request cannot
//! be replayed and a stale one is refused.
//!
//! The book is bounded: at most `capacity` challenges are outstanding (redeemed and expired ones
//! are kept until their expiry plus one ttl, to tell "used" and "expired" from "unknown", and
//! count towards the bound). When full it refuses new challenges (`custodian.busy`) rather than
//! evicting the oldest, which would let a flood cancel honest enclaves' challenges.
//!
//! ```
//! use cloister_custodian::challenge::ChallengeBook;
//! let mut book = ChallengeBook::new(30, 100);
//! let (nonce, expires_at) = book.issue("model-1", 1_000)?;
//! assert_eq!(expires_at, 1_030);
//! book.redeem(&nonce, "model-1", 1_010)?;
//! assert_eq!(book.redeem(&nonce, "model-1", 1_011).unwrap_err().code(), "custodian.challenge_used");
//! # Ok::<(), cloister_custodian::challenge::ChallengeError>(())
//! ```

use std::collections::{HashMap, VecDeque};

use cloister_proto::key_release::NONCE_LEN;

/// Default number of outstanding challenges.
pub const DEFAULT_CAPACITY: usize = 10_000;

/// Outstanding challenges.
#[derive(Debug)]
pub struct ChallengeBook {
    ttl_secs: u64,
    capacity: usize,
    issued: HashMap<[u8; NONCE_LEN], Issued>,
    /// Nonces in issue order, to purge from the front.
    order: VecDeque<[u8; NONCE_LEN]>,
}

#[derive(Debug)]
struct Issued {
    key_id: String,
    expires_at: u64,
    redeemed: bool,
}

impl ChallengeBook {
    /// An empty book whose challenges live `ttl_secs` and of which at most `capacity` are kept.
    pub fn new(ttl_secs: u64, capacity: usize) -> Self {
        Self {
            ttl_secs,
            capacity,
            issued: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// Issues a fresh nonce for `key_id` at `now`; returns it with its expiry (Unix seconds).
    ///
    /// # Errors
    /// `custodian.busy` when `capacity` challenges are outstanding; `custodian.random` if the
    /// system random source fails.
    pub fn issue(
        &mut self,
        key_id: &str,
        now: u64,
    ) -> Result<([u8; NONCE_LEN], u64), ChallengeError> {
        self.purge(now);
        if self.issued.len() >= self.capacity {
            return Err(ChallengeError::Busy {
                capacity: self.capacity,
            });
        }
        let mut nonce = [0; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).map_err(|_| ChallengeError::Random)?;
        let expires_at = now.saturating_add(self.ttl_secs);
        self.issued.insert(
            nonce,
            Issued {
                key_id: key_id.to_owned(),
                expires_at,
                redeemed: false,
            },
        );
        self.order.push_back(nonce);
        Ok((nonce, expires_at))
    }

    /// Redeems `nonce` for `key_id` at `now`. Any redemption of a known, unexpired challenge
    /// uses it up, whether or not the release then succeeds.
    ///
    /// # Errors
    /// `custodian.challenge_unknown`, `custodian.challenge_expired`, `custodian.challenge_used`
    /// or `custodian.challenge_key_mismatch`.
    pub fn redeem(&mut self, nonce: &[u8], key_id: &str, now: u64) -> Result<(), ChallengeError> {
        self.purge(now);
        let issued = <[u8; NONCE_LEN]>::try_from(nonce)
            .ok()
            .and_then(|n| self.issued.get_mut(&n))
            .ok_or(ChallengeError::Unknown)?;
        if issued.redeemed {
            return Err(ChallengeError::Used);
        }
        if now > issued.expires_at {
            return Err(ChallengeError::Expired {
                expires_at: issued.expires_at,
                now,
            });
        }
        issued.redeemed = true;
        if issued.key_id != key_id {
            return Err(ChallengeError::KeyMismatch {
                issued_for: issued.key_id.clone(),
                requested: key_id.to_owned(),
            });
        }
        Ok(())
    }

    /// How many challenges are kept.
    pub fn len(&self) -> usize {
        self.issued.len()
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.issued.is_empty()
    }

    /// Forgets challenges one ttl past their expiry.
    fn purge(&mut self, now: u64) {
        while let Some(front) = self.order.front() {
            let stale = self
                .issued
                .get(front)
                .is_none_or(|i| i.expires_at.saturating_add(self.ttl_secs) < now);
            if !stale {
                break;
            }
            if let Some(nonce) = self.order.pop_front() {
                self.issued.remove(&nonce);
            }
        }
    }
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
    fn each_refusal_is_typed() {
        let mut book = ChallengeBook::new(30, 10);
        let (n, _) = book.issue("a", 100).expect("issue");
        assert_eq!(
            book.redeem(&[0; 32], "a", 101),
            Err(ChallengeError::Unknown)
        );
        assert_eq!(
            book.redeem(&n[..31], "a", 101),
            Err(ChallengeError::Unknown)
        );
        assert_eq!(
            book.redeem(&n, "a", 131),
            Err(ChallengeError::Expired {
                expires_at: 130,
                now: 131
            })
        );
        let (n, _) = book.issue("a", 200).expect("issue");
        assert_eq!(
            book.redeem(&n, "b", 201).expect_err("key").code(),
            "custodian.challenge_key_mismatch"
        );
        // A mismatched attempt used it up.
        assert_eq!(book.redeem(&n, "a", 202), Err(ChallengeError::Used));
    }

    #[test]
    fn the_book_is_bounded_and_forgets_stale_challenges() {
        let mut book = ChallengeBook::new(30, 3);
        for _ in 0..3 {
            book.issue("a", 100).expect("issue");
        }
        assert_eq!(
            book.issue("a", 100),
            Err(ChallengeError::Busy { capacity: 3 })
        );
        // Past expiry plus one ttl they are gone and room is made.
        let (n, _) = book.issue("a", 161).expect("room again");
        assert_eq!(book.len(), 1);
        book.redeem(&n, "a", 162).expect("redeem");
    }
}
