//! [`Store`] on an SQLite file (the bundled library: no system SQLite needed).
//!
//! WAL journal, `synchronous = FULL` (a committed record survives a power cut), and every write
//! in an `IMMEDIATE` transaction, which takes SQLite's write lock first: appends from this
//! process and from another one on the same file (`rotate-kek` next to a running custodian) are
//! serialized, so the chain never forks. Writers wait up to [`BUSY_TIMEOUT`] for the lock.

use std::path::Path;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use aws_lc_rs::signature::Ed25519KeyPair;
use rusqlite::{Connection, OptionalExtension, Row, Transaction, TransactionBehavior, params};

use super::tx::StoreTx;
use super::{Store, StoreError, StoredKey};
use crate::audit::AuditRecord;
use crate::challenge::StoredChallenge;

/// How long a writer waits for another's transaction.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The schema version this build writes (`PRAGMA user_version`).
const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS keys (
    key_id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    wrapped_dek BLOB NOT NULL,
    kek_id TEXT NOT NULL,
    trust_policy TEXT NOT NULL,
    rego TEXT,
    policy_version INTEGER NOT NULL,
    disabled INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY,
    time INTEGER NOT NULL,
    body TEXT NOT NULL,
    hash TEXT NOT NULL,
    signature TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_time ON audit (time);
CREATE TABLE IF NOT EXISTS challenges (
    nonce BLOB PRIMARY KEY,
    key_id TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    used INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS challenges_expiry ON challenges (expires_at);
";

/// The columns of `keys`, in [`read_key`]'s order.
pub(super) const KEY_COLUMNS: &str = "key_id, tenant, wrapped_dek, kek_id, trust_policy, rego, \
                                      policy_version, disabled, created_at, updated_at";

/// The embedded store.
pub struct SqliteStore {
    conn: Mutex<Connection>,
    signer: Ed25519KeyPair,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`; audit records are signed by `signer`.
    ///
    /// # Errors
    /// [`StoreError::Open`], also for a database of a newer schema.
    pub fn open(path: &Path, signer: Ed25519KeyPair) -> Result<Self, StoreError> {
        let open_err = |source: rusqlite::Error| StoreError::Open {
            location: path.display().to_string(),
            source: Box::new(source),
        };
        let conn = Connection::open(path).map_err(open_err)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(open_err)?;
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(open_err)?;
        if version > SCHEMA_VERSION {
            return Err(open_err(rusqlite::Error::InvalidParameterName(format!(
                "schema version {version}, this build reads up to {SCHEMA_VERSION}"
            ))));
        }
        conn.execute_batch(SCHEMA).map_err(open_err)?;
        conn.pragma_update(None, "user_version", SCHEMA_VERSION)
            .map_err(open_err)?;
        Ok(Self {
            conn: Mutex::new(conn),
            signer,
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` in an IMMEDIATE transaction and commits.
    fn write<T>(
        &self,
        op: &'static str,
        f: impl FnOnce(&mut dyn StoreTx) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(StoreError::db(op))?;
        let out = f(&mut SqliteTx(&tx))?;
        tx.commit().map_err(StoreError::db(op))?;
        Ok(out)
    }
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn read_key(r: &Row<'_>) -> rusqlite::Result<StoredKey> {
    let u = |i: usize| -> rusqlite::Result<u64> { Ok(r.get::<_, i64>(i)?.unsigned_abs()) };
    Ok(StoredKey {
        key_id: r.get(0)?,
        tenant: r.get(1)?,
        wrapped_dek: r.get(2)?,
        kek_id: r.get(3)?,
        trust_policy: r.get(4)?,
        rego: r.get(5)?,
        policy_version: u(6)?,
        disabled: r.get::<_, i64>(7)? != 0,
        created_at: u(8)?,
        updated_at: u(9)?,
    })
}

fn key_in(conn: &Connection, key_id: &str) -> Result<Option<StoredKey>, StoreError> {
    conn.query_row(
        &format!("SELECT {KEY_COLUMNS} FROM keys WHERE key_id = ?1"),
        [key_id],
        read_key,
    )
    .optional()
    .map_err(StoreError::db("read a key"))
}

fn challenge_in(conn: &Connection, nonce: &[u8]) -> Result<Option<StoredChallenge>, StoreError> {
    conn.query_row(
        "SELECT key_id, expires_at, used FROM challenges WHERE nonce = ?1",
        [nonce],
        |r| {
            Ok(StoredChallenge {
                key_id: r.get(0)?,
                expires_at: r.get::<_, i64>(1)?.unsigned_abs(),
                used: r.get::<_, i64>(2)? != 0,
            })
        },
    )
    .optional()
    .map_err(StoreError::db("read a challenge"))
}

/// An IMMEDIATE transaction: it holds the database's write lock, so reads need no row locks.
struct SqliteTx<'a>(&'a Transaction<'a>);

impl StoreTx for SqliteTx<'_> {
    fn key(&mut self, key_id: &str) -> Result<Option<StoredKey>, StoreError> {
        key_in(self.0, key_id)
    }

    fn put_key(&mut self, k: &StoredKey) -> Result<(), StoreError> {
        self.0
            .execute(
                &format!(
                    "INSERT OR REPLACE INTO keys ({KEY_COLUMNS}) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
                ),
                params![
                    k.key_id,
                    k.tenant,
                    k.wrapped_dek,
                    k.kek_id,
                    k.trust_policy,
                    k.rego,
                    to_i64(k.policy_version),
                    i64::from(k.disabled),
                    to_i64(k.created_at),
                    to_i64(k.updated_at),
                ],
            )
            .map(drop)
            .map_err(StoreError::db("write a key"))
    }

    fn delete_key(&mut self, key_id: &str) -> Result<(), StoreError> {
        self.0
            .execute("DELETE FROM keys WHERE key_id = ?1", [key_id])
            .map(drop)
            .map_err(StoreError::db("remove a key"))
    }

    fn challenge(&mut self, nonce: &[u8]) -> Result<Option<StoredChallenge>, StoreError> {
        challenge_in(self.0, nonce)
    }

    fn insert_challenge(
        &mut self,
        nonce: &[u8],
        key_id: &str,
        expires_at: u64,
    ) -> Result<(), StoreError> {
        self.0
            .execute(
                "INSERT INTO challenges (nonce, key_id, expires_at, used) VALUES (?1, ?2, ?3, 0)",
                params![nonce, key_id, to_i64(expires_at)],
            )
            .map(drop)
            .map_err(StoreError::db("issue a challenge"))
    }

    fn mark_used(&mut self, nonce: &[u8]) -> Result<(), StoreError> {
        self.0
            .execute("UPDATE challenges SET used = 1 WHERE nonce = ?1", [nonce])
            .map(drop)
            .map_err(StoreError::db("redeem a challenge"))
    }

    fn purge_and_count_challenges(&mut self, now: u64) -> Result<u64, StoreError> {
        let db = StoreError::db("count challenges");
        self.0
            .execute(
                "DELETE FROM challenges WHERE expires_at < ?1",
                [to_i64(now)],
            )
            .map_err(&db)?;
        let n: i64 = self
            .0
            .query_row("SELECT COUNT(*) FROM challenges WHERE used = 0", [], |r| {
                r.get(0)
            })
            .map_err(&db)?;
        Ok(n.unsigned_abs())
    }

    fn lock_chain_head(&mut self) -> Result<Option<(u64, String)>, StoreError> {
        self.0
            .query_row(
                "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
                [],
                |r| Ok((r.get::<_, i64>(0)?.unsigned_abs(), r.get(1)?)),
            )
            .optional()
            .map_err(StoreError::db("read the chain head"))
    }

    fn insert_record(
        &mut self,
        seq: u64,
        time: u64,
        record: &AuditRecord,
    ) -> Result<(), StoreError> {
        self.0
            .execute(
                "INSERT INTO audit (seq, time, body, hash, signature) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    to_i64(seq),
                    to_i64(time),
                    record.body,
                    record.hash,
                    record.signature
                ],
            )
            .map(drop)
            .map_err(StoreError::db("append an audit record"))
    }
}

impl Store for SqliteStore {
    fn key(&self, key_id: &str) -> Result<Option<StoredKey>, StoreError> {
        key_in(&self.conn(), key_id)
    }

    fn keys(&self, tenant: Option<&str>) -> Result<Vec<StoredKey>, StoreError> {
        let db = StoreError::db("list keys");
        let conn = self.conn();
        let mut stmt = conn
            .prepare(&format!(
                "SELECT {KEY_COLUMNS} FROM keys WHERE ?1 IS NULL OR tenant = ?1 ORDER BY key_id"
            ))
            .map_err(&db)?;
        let rows = stmt.query_map([tenant], read_key).map_err(&db)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(&db)
    }

    fn challenge(&self, nonce: &[u8]) -> Result<Option<StoredChallenge>, StoreError> {
        challenge_in(&self.conn(), nonce)
    }

    super::tx::transactional_store_methods!();

    fn audit_records(&self, from_seq: u64, limit: usize) -> Result<Vec<AuditRecord>, StoreError> {
        let db = StoreError::db("read the audit chain");
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT body, hash, signature FROM audit WHERE seq >= ?1 ORDER BY seq LIMIT ?2",
            )
            .map_err(&db)?;
        let rows = stmt
            .query_map(
                params![to_i64(from_seq), i64::try_from(limit).unwrap_or(i64::MAX)],
                |r| {
                    Ok(AuditRecord {
                        body: r.get(0)?,
                        hash: r.get(1)?,
                        signature: r.get(2)?,
                    })
                },
            )
            .map_err(&db)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(&db)
    }
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::signature::KeyPair;

    use super::*;
    use crate::audit::ChainVerifier;
    use crate::audit::{AuditEvent, GENESIS_HASH};
    use crate::store::{ChangeOutcome, KeyChange};

    fn store(dir: &tempfile::TempDir) -> (SqliteStore, Vec<u8>) {
        let signer = Ed25519KeyPair::generate().expect("key");
        let pk = signer.public_key().as_ref().to_vec();
        (
            SqliteStore::open(&dir.path().join("c.db"), signer).expect("open"),
            pk,
        )
    }

    fn key(tenant: &str, id: &str) -> StoredKey {
        StoredKey::new(tenant, id, vec![1; 60], "file:aa", "{}".into(), None, 10)
    }

    fn register(s: &SqliteStore, k: StoredKey, replace: bool) -> Result<ChangeOutcome, StoreError> {
        let e = AuditEvent::admin(10, &k.tenant, &k.key_id, "register");
        s.change(&KeyChange::Register { key: k, replace }, e)
    }

    #[test]
    fn tenants_cannot_touch_each_others_keys() {
        let dir = tempfile::tempdir().expect("dir");
        let (s, _) = store(&dir);
        register(&s, key("a", "k1"), false).expect("a registers");
        let e = register(&s, key("b", "k1"), true).expect_err("b cannot take a's id");
        assert_eq!(e.code(), "custodian.key_exists");
        for change in [
            KeyChange::SetDisabled {
                tenant: "b".into(),
                key_id: "k1".into(),
                disabled: true,
                now: 11,
            },
            KeyChange::Remove {
                tenant: "b".into(),
                key_id: "k1".into(),
            },
            KeyChange::SetPolicy {
                tenant: "b".into(),
                key_id: "k1".into(),
                trust_policy: "{}".into(),
                rego: None,
                now: 11,
            },
        ] {
            let e = s
                .change(&change, AuditEvent::admin(11, "b", "k1", "x"))
                .expect_err("b is refused");
            assert_eq!(e.code(), "custodian.unknown_key");
        }
        let k = s.key("k1").expect("read").expect("still there");
        assert_eq!((k.tenant.as_str(), k.disabled), ("a", false));
        assert_eq!(s.keys(Some("b")).expect("list").len(), 0);
        // Only the successful change is on record.
        assert_eq!(s.audit_records(1, 100).expect("audit").len(), 1);
    }

    #[test]
    fn policy_versions_count_up_and_rewrap_is_compare_and_swap() {
        let dir = tempfile::tempdir().expect("dir");
        let (s, pk) = store(&dir);
        register(&s, key("a", "k1"), false).expect("register");
        let out = register(&s, key("a", "k1"), true).expect("replace");
        assert!(out.replaced);
        assert_eq!(out.key.as_ref().map(|k| k.policy_version), Some(2));
        let rewrap = |from: &str| KeyChange::Rewrap {
            key_id: "k1".into(),
            from_kek_id: from.into(),
            wrapped_dek: vec![2; 60],
            kek_id: "file:bb".into(),
            now: 12,
        };
        let ev = || AuditEvent::rotate_kek(12, "a", "k1", "file:bb");
        s.change(&rewrap("file:aa"), ev()).expect("rewrap");
        assert_eq!(
            s.change(&rewrap("file:aa"), ev())
                .expect_err("stale")
                .code(),
            "custodian.store.stale"
        );
        let k = s.key("k1").expect("read").expect("key");
        assert_eq!((k.kek_id.as_str(), k.wrapped_dek[0]), ("file:bb", 2));

        let mut chain = ChainVerifier::new(&pk);
        for r in s.audit_records(1, 100).expect("audit") {
            chain.check(&r).expect("chain");
        }
        assert_eq!(chain.verified(), 3);
    }

    #[test]
    fn two_connections_append_to_one_chain() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("c.db");
        let signer = Ed25519KeyPair::generate().expect("key");
        let pkcs8 = signer.public_key().as_ref().to_vec();
        let a = SqliteStore::open(&path, signer).expect("a");
        // The same key, a second handle (as rotate-kek next to a running custodian).
        let b =
            SqliteStore::open(&path, Ed25519KeyPair::generate().expect("other key")).expect("b");
        std::thread::scope(|s| {
            s.spawn(|| {
                for i in 0..50 {
                    a.append(&AuditEvent::challenge(i, "t", "a")).expect("a");
                }
            });
            s.spawn(|| {
                for i in 0..50 {
                    b.append(&AuditEvent::challenge(i, "t", "b")).expect("b");
                }
            });
        });
        let records = a.audit_records(1, 1000).expect("read");
        assert_eq!(records.len(), 100);
        // Links are intact whoever wrote; signatures are each writer's.
        let mut prev = GENESIS_HASH.to_owned();
        for (i, r) in records.iter().enumerate() {
            let body = r.parsed().expect("body");
            assert_eq!(body.seq, i as u64 + 1);
            assert_eq!(body.prev_hash, prev);
            prev.clone_from(&r.hash);
        }
        assert_eq!(pkcs8.len(), 32);
    }

    #[test]
    fn of_racing_redemptions_one_wins_and_each_leaves_one_record() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("c.db");
        let stores: Vec<_> = (0..3)
            .map(|_| {
                SqliteStore::open(&path, Ed25519KeyPair::generate().expect("key")).expect("open")
            })
            .collect();
        for round in 0..20u8 {
            let nonce = [round; 32];
            stores[0]
                .issue_challenge(&nonce, "k", 100, 10, &AuditEvent::challenge(10, "t", "k"))
                .expect("issue");
            let wins: Vec<bool> = std::thread::scope(|s| {
                let handles: Vec<_> = stores
                    .iter()
                    .map(|st| {
                        s.spawn(move || {
                            st.redeem_challenge(&nonce, "k", 11, &AuditEvent::release(11, "t", "k"))
                                .map_err(|e| e.code())
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| match h.join().expect("join") {
                        Ok(_) => true,
                        Err(code) => {
                            assert_eq!(code, "custodian.challenge_used");
                            false
                        }
                    })
                    .collect()
            });
            assert_eq!(wins.iter().filter(|w| **w).count(), 1, "round {round}");
        }
        let records = stores[1].audit_records(1, 1000).expect("records");
        // 20 challenges and 20 releases: the losers wrote nothing.
        assert_eq!(records.len(), 40);
        let busy = stores[2]
            .issue_challenge(
                &[0xff; 32],
                "k",
                100,
                0,
                &AuditEvent::challenge(10, "t", "k"),
            )
            .expect_err("full");
        assert_eq!(busy.code(), "custodian.busy");
    }
}
