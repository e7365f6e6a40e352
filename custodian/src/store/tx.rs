//! The store's rules, written once over [`StoreTx`]: what a key change, a challenge issue, a
//! redemption and an audit append do inside one transaction. A database implements only the
//! row operations; the decisions (who owns a key, when a challenge may be redeemed, how the
//! chain is linked) stay here, so every backend makes the same ones.

use cloister_proto::key_release::NONCE_LEN;

use super::{ChangeOutcome, KeyChange, StoreError, StoredKey};
use crate::audit::{AuditEvent, AuditRecord, GENESIS_HASH};
use crate::challenge::{ChallengeError, StoredChallenge};

/// Row operations inside one open transaction. Reads used for a decision lock their rows
/// (`FOR UPDATE` where the database has it) until the transaction ends.
pub(crate) trait StoreTx {
    fn key(&mut self, key_id: &str) -> Result<Option<StoredKey>, StoreError>;
    fn put_key(&mut self, key: &StoredKey) -> Result<(), StoreError>;
    fn delete_key(&mut self, key_id: &str) -> Result<(), StoreError>;
    fn challenge(&mut self, nonce: &[u8]) -> Result<Option<StoredChallenge>, StoreError>;
    fn insert_challenge(
        &mut self,
        nonce: &[u8],
        key_id: &str,
        expires_at: u64,
    ) -> Result<(), StoreError>;
    fn mark_used(&mut self, nonce: &[u8]) -> Result<(), StoreError>;
    /// Deletes challenges that expired before `now`; returns how many unredeemed ones remain.
    fn purge_and_count_challenges(&mut self, now: u64) -> Result<u64, StoreError>;
    /// Serializes appenders (a no-op where the transaction already holds the write lock), then
    /// reads the chain head: its sequence number and hash.
    fn lock_chain_head(&mut self) -> Result<Option<(u64, String)>, StoreError>;
    fn insert_record(
        &mut self,
        seq: u64,
        time: u64,
        record: &AuditRecord,
    ) -> Result<(), StoreError>;
}

/// Appends `event` after the chain head; returns its sequence number.
pub(crate) fn append(
    tx: &mut dyn StoreTx,
    signer: &aws_lc_rs::signature::Ed25519KeyPair,
    event: &AuditEvent,
) -> Result<u64, StoreError> {
    let (seq, prev_hash) = match tx.lock_chain_head()? {
        Some((seq, hash)) => (seq + 1, hash),
        None => (1, GENESIS_HASH.to_owned()),
    };
    let record = AuditRecord::seal_after(event, seq, &prev_hash, signer);
    tx.insert_record(seq, event.time, &record)?;
    crate::audit::log(event);
    Ok(seq)
}

/// A challenge issue with its record.
pub(crate) fn issue_challenge(
    tx: &mut dyn StoreTx,
    signer: &aws_lc_rs::signature::Ed25519KeyPair,
    nonce: &[u8; NONCE_LEN],
    key_id: &str,
    expires_at: u64,
    max_outstanding: usize,
    event: &AuditEvent,
) -> Result<u64, StoreError> {
    let outstanding = tx.purge_and_count_challenges(event.time)?;
    if outstanding >= max_outstanding as u64 {
        return Err(ChallengeError::Busy {
            capacity: max_outstanding,
        }
        .into());
    }
    tx.insert_challenge(nonce, key_id, expires_at)?;
    append(tx, signer, event)
}

/// A redemption with the record of what it led to.
pub(crate) fn redeem_challenge(
    tx: &mut dyn StoreTx,
    signer: &aws_lc_rs::signature::Ed25519KeyPair,
    nonce: &[u8],
    key_id: &str,
    now: u64,
    event: &AuditEvent,
) -> Result<u64, StoreError> {
    tx.challenge(nonce)?
        .ok_or(ChallengeError::Unknown)?
        .check(key_id, now)?;
    tx.mark_used(nonce)?;
    append(tx, signer, event)
}

/// The entry `key_id` of `tenant`; another tenant's entry is unknown to this one.
fn owned(tx: &mut dyn StoreTx, tenant: &str, key_id: &str) -> Result<StoredKey, StoreError> {
    tx.key(key_id)?
        .filter(|k| k.tenant == tenant)
        .ok_or_else(|| StoreError::UnknownKey {
            key_id: key_id.to_owned(),
        })
}

/// A key change with its record; the record's policy version and KEK id are the entry's after
/// the change (before it, for a removal).
pub(crate) fn apply_change(
    tx: &mut dyn StoreTx,
    signer: &aws_lc_rs::signature::Ed25519KeyPair,
    change: &KeyChange,
    mut event: AuditEvent,
) -> Result<ChangeOutcome, StoreError> {
    let (key, replaced) = match change {
        KeyChange::Register { key, replace } => {
            let mut next = key.clone();
            let replaced = match tx.key(&key.key_id)? {
                Some(old) if *replace && old.tenant == key.tenant => {
                    next.policy_version = old.policy_version + 1;
                    next.created_at = old.created_at;
                    true
                }
                Some(_) => {
                    return Err(StoreError::KeyExists {
                        key_id: key.key_id.clone(),
                    });
                }
                None => false,
            };
            tx.put_key(&next)?;
            (Some(next), replaced)
        }
        KeyChange::SetPolicy {
            tenant,
            key_id,
            trust_policy,
            rego,
            now,
        } => {
            let mut k = owned(tx, tenant, key_id)?;
            k.trust_policy.clone_from(trust_policy);
            k.rego.clone_from(rego);
            k.policy_version += 1;
            k.updated_at = *now;
            tx.put_key(&k)?;
            (Some(k), false)
        }
        KeyChange::SetDisabled {
            tenant,
            key_id,
            disabled,
            now,
        } => {
            let mut k = owned(tx, tenant, key_id)?;
            k.disabled = *disabled;
            k.updated_at = *now;
            tx.put_key(&k)?;
            (Some(k), false)
        }
        KeyChange::Remove { tenant, key_id } => {
            let k = owned(tx, tenant, key_id)?;
            tx.delete_key(&k.key_id)?;
            event.policy_version = Some(k.policy_version);
            event.kek_id = Some(k.kek_id);
            (None, false)
        }
        KeyChange::Rewrap {
            key_id,
            from_kek_id,
            wrapped_dek,
            kek_id,
            now,
        } => {
            let mut k = tx.key(key_id)?.ok_or_else(|| StoreError::UnknownKey {
                key_id: key_id.clone(),
            })?;
            if k.kek_id != *from_kek_id {
                return Err(StoreError::Stale {
                    key_id: key_id.clone(),
                });
            }
            k.wrapped_dek.clone_from(wrapped_dek);
            k.kek_id.clone_from(kek_id);
            k.updated_at = *now;
            tx.put_key(&k)?;
            (Some(k), false)
        }
    };
    if let Some(k) = &key {
        event.policy_version = Some(k.policy_version);
        event.kek_id = Some(k.kek_id.clone());
    }
    let audit_seq = append(tx, signer, &event)?;
    Ok(ChangeOutcome {
        key,
        replaced,
        audit_seq,
    })
}

/// The [`Store`](super::Store) methods that each run in one transaction, written once for
/// every backend: expanded inside `impl Store for X`, where `X` has
/// `fn write<T>(&self, op, impl FnOnce(&mut dyn StoreTx) -> Result<T, StoreError>)` and a
/// `signer` field.
macro_rules! transactional_store_methods {
    () => {
        fn change(
            &self,
            change: &super::KeyChange,
            event: crate::audit::AuditEvent,
        ) -> Result<super::ChangeOutcome, super::StoreError> {
            self.write("change a key", |t| {
                super::tx::apply_change(t, &self.signer, change, event)
            })
        }

        fn issue_challenge(
            &self,
            nonce: &[u8; cloister_proto::key_release::NONCE_LEN],
            key_id: &str,
            expires_at: u64,
            max_outstanding: usize,
            event: &crate::audit::AuditEvent,
        ) -> Result<u64, super::StoreError> {
            self.write("issue a challenge", |t| {
                super::tx::issue_challenge(
                    t,
                    &self.signer,
                    nonce,
                    key_id,
                    expires_at,
                    max_outstanding,
                    event,
                )
            })
        }

        fn redeem_challenge(
            &self,
            nonce: &[u8],
            key_id: &str,
            now: u64,
            event: &crate::audit::AuditEvent,
        ) -> Result<u64, super::StoreError> {
            self.write("redeem a challenge", |t| {
                super::tx::redeem_challenge(t, &self.signer, nonce, key_id, now, event)
            })
        }

        fn append(&self, event: &crate::audit::AuditEvent) -> Result<u64, super::StoreError> {
            self.write("append an audit record", |t| {
                super::tx::append(t, &self.signer, event)
            })
        }
    };
}
pub(crate) use transactional_store_methods;
