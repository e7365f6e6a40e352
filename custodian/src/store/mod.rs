//! Where the custodian keeps its state: key entries (wrapped DEKs, policies, owners) and the
//! audit chain, behind one [`Store`] trait so that another database can take over (the
//! PostgreSQL implementation of the replicas issue). [`SqliteStore`] is the embedded default.
//!
//! Every change of a key is made together with its audit record, in one transaction: there is
//! no change without its record and no record of a change that was not made. A release appends
//! its record before the sealed key leaves the custodian, and is refused if it cannot.
//!
//! ```
//! use aws_lc_rs::signature::Ed25519KeyPair;
//! use cloister_custodian::audit::AuditEvent;
//! use cloister_custodian::store::{KeyChange, SqliteStore, Store, StoredKey};
//! let dir = tempfile::tempdir()?;
//! let store = SqliteStore::open(&dir.path().join("custodian.db"), Ed25519KeyPair::generate()?)?;
//! let key = StoredKey::new("bank", "model-1", vec![0; 60], "file:00", "{}".into(), None, 1_700_000_000);
//! store.change(&KeyChange::Register { key, replace: false }, AuditEvent::admin(1_700_000_000, "bank", "model-1", "register"))?;
//! assert_eq!(store.key("model-1")?.map(|k| k.policy_version), Some(1));
//! assert_eq!(store.audit_records(1, 10)?.len(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod postgres;
mod sqlite;
mod tx;

use serde::{Deserialize, Serialize};

use cloister_proto::key_release::NONCE_LEN;

use crate::audit::{AuditEvent, AuditRecord};
use crate::challenge::{ChallengeError, StoredChallenge};

pub use postgres::{PostgresStore, PostgresStoreConfig, migrate};
pub use sqlite::{BUSY_TIMEOUT, SqliteStore};

/// A database error of any backend.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl StoreError {
    /// Maps a database error during `op`: `.map_err(StoreError::db("read a key"))`.
    pub(crate) fn db<E: Into<BoxError>>(op: &'static str) -> impl Fn(E) -> StoreError {
        move |e| StoreError::Database {
            op,
            source: e.into(),
        }
    }
}

/// One key's entry, as stored. The policy is kept as the JSON and Rego source it was accepted
/// as; the service compiles them (and caches the result per policy version).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredKey {
    /// The key id (unique across tenants).
    pub key_id: String,
    /// The tenant that owns the key: only its admin credential changes it.
    pub tenant: String,
    /// The DEK wrapped under the KEK `kek_id` for this key id.
    pub wrapped_dek: Vec<u8>,
    /// Which KEK wrapped it ([`crate::kek::Kek::kek_id`]).
    pub kek_id: String,
    /// The trust policy document (JSON).
    pub trust_policy: String,
    /// The Rego release rule, if any.
    pub rego: Option<String>,
    /// 1 at registration, one more at every replacement of the policy.
    pub policy_version: u64,
    /// A disabled key is never released.
    pub disabled: bool,
    /// Unix seconds of registration.
    pub created_at: u64,
    /// Unix seconds of the last change.
    pub updated_at: u64,
}

impl StoredKey {
    /// A new, enabled entry at policy version 1.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        tenant: &str,
        key_id: &str,
        wrapped_dek: Vec<u8>,
        kek_id: &str,
        trust_policy: String,
        rego: Option<String>,
        now: u64,
    ) -> Self {
        Self {
            key_id: key_id.to_owned(),
            tenant: tenant.to_owned(),
            wrapped_dek,
            kek_id: kek_id.to_owned(),
            trust_policy,
            rego,
            policy_version: 1,
            disabled: false,
            created_at: now,
            updated_at: now,
        }
    }

    /// What the admin API shows of an entry: no key material.
    pub fn summary(&self) -> KeySummary {
        let platforms = cloister_attestation::TrustPolicy::from_json(self.trust_policy.as_bytes())
            .map(|p| {
                p.platforms()
                    .iter()
                    .map(|p| p.as_str().to_owned())
                    .collect()
            })
            .unwrap_or_default();
        KeySummary {
            key_id: self.key_id.clone(),
            tenant: self.tenant.clone(),
            platforms,
            rego: self.rego.is_some(),
            policy_version: self.policy_version,
            kek_id: self.kek_id.clone(),
            disabled: self.disabled,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

/// An entry as the admin API reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeySummary {
    /// The key id.
    pub key_id: String,
    /// The owning tenant.
    pub tenant: String,
    /// The platforms its trust policy accepts.
    pub platforms: Vec<String>,
    /// Whether it has a Rego rule.
    pub rego: bool,
    /// The policy version releases are decided and audited under.
    pub policy_version: u64,
    /// Which KEK wraps its DEK.
    pub kek_id: String,
    /// Whether it is disabled.
    pub disabled: bool,
    /// Unix seconds of registration.
    pub created_at: u64,
    /// Unix seconds of the last change.
    pub updated_at: u64,
}

/// A change of the key entries. Changes name the tenant making them: a key of another tenant
/// is answered as unknown (and cannot be registered over).
#[derive(Clone, Debug)]
pub enum KeyChange {
    /// Registers `key` (its tenant is the owner); with `replace`, replaces the owner's existing
    /// entry of that id, one policy version up.
    Register {
        /// The new entry.
        key: StoredKey,
        /// Replace an existing entry of the same tenant.
        replace: bool,
    },
    /// Replaces the trust policy and Rego rule, one policy version up.
    SetPolicy {
        /// The tenant making the change.
        tenant: String,
        /// The key id.
        key_id: String,
        /// The new trust policy (JSON).
        trust_policy: String,
        /// The new Rego rule.
        rego: Option<String>,
        /// Unix seconds.
        now: u64,
    },
    /// Disables or enables the key.
    SetDisabled {
        /// The tenant making the change.
        tenant: String,
        /// The key id.
        key_id: String,
        /// The new state.
        disabled: bool,
        /// Unix seconds.
        now: u64,
    },
    /// Removes the key and its wrapped DEK.
    Remove {
        /// The tenant making the change.
        tenant: String,
        /// The key id.
        key_id: String,
    },
    /// Replaces the wrapped DEK by one under another KEK, if the entry is still wrapped under
    /// `from_kek_id` (compare and swap: a concurrent change wins, and the re-wrap is retried).
    Rewrap {
        /// The key id.
        key_id: String,
        /// The KEK it must still be wrapped under.
        from_kek_id: String,
        /// The new wrapped DEK.
        wrapped_dek: Vec<u8>,
        /// The KEK that wrapped it.
        kek_id: String,
        /// Unix seconds.
        now: u64,
    },
}

/// What a change did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangeOutcome {
    /// The entry after the change (`None` after a removal).
    pub key: Option<StoredKey>,
    /// Whether a registration replaced an entry.
    pub replaced: bool,
    /// The sequence number of its audit record.
    pub audit_seq: u64,
}

/// Key entries and the audit chain.
pub trait Store: Send + Sync {
    /// The entry of `key_id`, of any tenant.
    ///
    /// # Errors
    /// [`StoreError::Database`] or [`StoreError::Corrupt`].
    fn key(&self, key_id: &str) -> Result<Option<StoredKey>, StoreError>;

    /// Every entry of `tenant` (every entry with `None`), by key id.
    ///
    /// # Errors
    /// As [`key`](Self::key).
    fn keys(&self, tenant: Option<&str>) -> Result<Vec<StoredKey>, StoreError>;

    /// Makes `change` and appends `event` to the audit chain, both or neither. The event's
    /// `policy_version` and `kek_id` are filled from the entry after the change.
    ///
    /// # Errors
    /// [`StoreError::KeyExists`], [`StoreError::UnknownKey`], [`StoreError::Stale`] (a re-wrap
    /// lost to a concurrent change), [`StoreError::Database`].
    fn change(&self, change: &KeyChange, event: AuditEvent) -> Result<ChangeOutcome, StoreError>;

    /// Stores a fresh challenge for `key_id` and appends `event` (its record), both or neither;
    /// refuses when `max_outstanding` unexpired, unredeemed challenges exist. Forgets
    /// challenges that expired before `now`.
    ///
    /// # Errors
    /// [`StoreError::Challenge`] with `custodian.busy`, [`StoreError::Database`].
    fn issue_challenge(
        &self,
        nonce: &[u8; NONCE_LEN],
        key_id: &str,
        expires_at: u64,
        max_outstanding: usize,
        event: &AuditEvent,
    ) -> Result<u64, StoreError>;

    /// The challenge `nonce`, if it is known.
    ///
    /// # Errors
    /// [`StoreError::Database`].
    fn challenge(&self, nonce: &[u8]) -> Result<Option<StoredChallenge>, StoreError>;

    /// Redeems the challenge `nonce` for `key_id` at `now` and appends `event` (the release or
    /// the refusal it led to), both or neither. Of concurrent redemptions, by any replica, one
    /// wins; the others get `custodian.challenge_used`.
    ///
    /// # Errors
    /// [`StoreError::Challenge`] (unknown, used, expired, another key), [`StoreError::Database`].
    fn redeem_challenge(
        &self,
        nonce: &[u8],
        key_id: &str,
        now: u64,
        event: &AuditEvent,
    ) -> Result<u64, StoreError>;

    /// Appends `event` to the audit chain; returns its sequence number.
    ///
    /// # Errors
    /// [`StoreError::Database`]: the record was not written.
    fn append(&self, event: &AuditEvent) -> Result<u64, StoreError>;

    /// Up to `limit` audit records from sequence number `from_seq` on, in chain order.
    ///
    /// # Errors
    /// [`StoreError::Database`].
    fn audit_records(&self, from_seq: u64, limit: usize) -> Result<Vec<AuditRecord>, StoreError>;
}

/// Why the store could not be read or changed. Nothing was changed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database cannot be opened or set up.
    #[error("cannot open the store {location}: {source}")]
    Open {
        /// The database file, or the PostgreSQL URL without its password.
        location: String,
        /// The database error.
        #[source]
        source: BoxError,
    },
    /// The PostgreSQL schema is older than this build (or missing).
    #[error("the store {location} has schema version {found}, this build needs {needed}")]
    NotMigrated {
        /// The PostgreSQL URL without its password.
        location: String,
        /// The applied version (0: none).
        found: i64,
        /// The version this build needs.
        needed: i64,
    },
    /// A read or write failed (the database is busy, full, or gone; or no pooled connection
    /// came free in time); nothing was changed. Retryable.
    #[error("the store failed to {op}: {source}")]
    Database {
        /// What was being done.
        op: &'static str,
        /// The database error.
        #[source]
        source: BoxError,
    },
    /// A stored entry does not hold what it should.
    #[error("the stored entry {key_id} is corrupt: {field}")]
    Corrupt {
        /// The entry.
        key_id: String,
        /// The field at fault.
        field: &'static str,
    },
    /// The key id is registered already (by this or another tenant).
    #[error("key {key_id} is registered already")]
    KeyExists {
        /// The key id.
        key_id: String,
    },
    /// No such key id for this tenant.
    #[error("no key {key_id} is registered")]
    UnknownKey {
        /// The key id.
        key_id: String,
    },
    /// A challenge was refused.
    #[error(transparent)]
    Challenge(#[from] ChallengeError),
    /// A re-wrap found the entry changed since it was read.
    #[error("key {key_id} changed during its re-wrap")]
    Stale {
        /// The key id.
        key_id: String,
    },
}

impl StoreError {
    /// A stable dotted code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Open { .. } => "custodian.store.open",
            Self::NotMigrated { .. } => "custodian.store.not_migrated",
            Self::Database { .. } => "custodian.store.unavailable",
            Self::Corrupt { .. } => "custodian.store.corrupt",
            Self::KeyExists { .. } => "custodian.key_exists",
            Self::UnknownKey { .. } => "custodian.unknown_key",
            Self::Stale { .. } => "custodian.store.stale",
            Self::Challenge(e) => e.code(),
        }
    }

    /// What to do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            Self::Open { .. } => {
                "check the store path in custodian.json, its directory's permissions and free space"
            }
            Self::NotMigrated { .. } => {
                "run `cloister-custodian migrate --config FILE` once, then start the custodians"
            }
            Self::Database { .. } => "retry; if it persists check the database's disk and locks",
            Self::Corrupt { .. } => {
                "restore the store from a backup; the custodian does not release a key it cannot fully read"
            }
            Self::KeyExists { .. } => {
                "send \"replace\": true to replace your own key, or pick another key id"
            }
            Self::UnknownKey { .. } => "register the key first (PUT /v1/admin/keys/{key_id})",
            Self::Stale { .. } => "run rotate-kek again: it re-reads the entry",
            Self::Challenge(e) => e.hint(),
        }
    }
}
