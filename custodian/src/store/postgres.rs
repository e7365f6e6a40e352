//! [`Store`] on PostgreSQL, for several custodian replicas behind one load balancer.
//!
//! What makes N replicas one custodian:
//!
//! - **One chain.** Every append takes a transaction-scoped advisory lock
//!   ([`CHAIN_LOCK`]) before it reads the chain head, inside the transaction that also makes the
//!   change, issues the challenge or redeems it. Appends are serialized in commit order, so
//!   concurrent replicas extend one chain and never fork it; the advisory lock is always the
//!   last lock a transaction takes, so it cannot deadlock with the row locks before it.
//! - **Exactly once.** A redemption reads its challenge `FOR UPDATE`: of replicas racing for
//!   one challenge, the first commits it used with its record; the others then read it used.
//! - **No stale state.** Keys and policies are read from the database at every challenge and
//!   release (the compiled-policy cache is keyed by the policy's content), so a key disabled or
//!   a policy replaced through one replica decides the next release at every replica.
//! - **Bounded waits.** Connections come from a pool of `pool_size`; a request that finds none
//!   free within `checkout_timeout_ms` fails with `custodian.store.unavailable` (HTTP 503 with
//!   `Retry-After`), and a connection broken by a database restart is replaced at checkout.
//!
//! The schema is versioned in `custodian/migrations/postgres/` and applied by [`migrate`]
//! (`cloister-custodian migrate`); a custodian refuses to start on an older schema.

use std::time::Duration;

use aws_lc_rs::signature::Ed25519KeyPair;
use postgres::{NoTls, Row, Transaction};
use r2d2::{Pool, PooledConnection};
use r2d2_postgres::PostgresConnectionManager;
use serde::{Deserialize, Serialize};

use super::tx::StoreTx;
use super::{Store, StoreError, StoredKey};
use crate::audit::AuditRecord;
use crate::challenge::StoredChallenge;

/// The advisory lock key that serializes audit appends ("CLST" in ASCII).
pub(crate) const CHAIN_LOCK: i64 = 0x434c_5354;

/// The migrations, in order: (version, SQL).
const MIGRATIONS: &[(i64, &str)] = &[(1, include_str!("../../migrations/postgres/0001_init.sql"))];

/// The schema version this build needs.
pub(crate) const SCHEMA_VERSION: i64 = 1;

const KEY_COLUMNS: &str = super::sqlite::KEY_COLUMNS;

type Manager = PostgresConnectionManager<NoTls>;

/// How to reach the database.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresStoreConfig {
    /// `postgres://user@host:port/db` (a password, if any, from `PGPASSWORD` or `.pgpass`
    /// rather than the URL: the config is not a secret file).
    pub url: String,
    /// Most connections this replica holds.
    #[serde(default = "default_pool_size")]
    pub pool_size: u32,
    /// How long a request waits for a free connection before `custodian.store.unavailable`.
    #[serde(default = "default_checkout_timeout_ms")]
    pub checkout_timeout_ms: u64,
}

fn default_pool_size() -> u32 {
    16
}

fn default_checkout_timeout_ms() -> u64 {
    2_000
}

impl PostgresStoreConfig {
    /// A config for `url` with the default pool.
    pub fn new(url: &str) -> Self {
        Self {
            url: url.to_owned(),
            pool_size: default_pool_size(),
            checkout_timeout_ms: default_checkout_timeout_ms(),
        }
    }

    /// The URL without a password, for messages.
    pub fn location(&self) -> String {
        redact(&self.url)
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((userinfo, host)) if userinfo.contains(':') => {
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***@{host}")
        }
        _ => url.to_owned(),
    }
}

/// Applies the migrations the database lacks; returns the versions applied. Safe to run from
/// several hosts at once (a session advisory lock serializes them).
///
/// # Errors
/// [`StoreError::Open`] if the database cannot be reached; [`StoreError::Database`] if a
/// migration fails (its transaction is rolled back).
pub fn migrate(config: &PostgresStoreConfig) -> Result<Vec<i64>, StoreError> {
    let mut client =
        postgres::Client::connect(&config.url, NoTls).map_err(|e| StoreError::Open {
            location: config.location(),
            source: Box::new(e),
        })?;
    let db = StoreError::db("migrate");
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                 version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
        )
        .map_err(&db)?;
    client
        .execute("SELECT pg_advisory_lock($1)", &[&(CHAIN_LOCK + 1)])
        .map_err(&db)?;
    let mut applied = Vec::new();
    let result = (|| {
        let current = schema_version(&mut client)?;
        for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
            let mut tx = client.transaction().map_err(&db)?;
            tx.batch_execute(sql).map_err(&db)?;
            let now = i64::try_from(cloister_attestation::UnixTime::now().as_secs()).unwrap_or(0);
            tx.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
                &[version, &now],
            )
            .map_err(&db)?;
            tx.commit().map_err(&db)?;
            applied.push(*version);
        }
        Ok(())
    })();
    let _ = client.execute("SELECT pg_advisory_unlock($1)", &[&(CHAIN_LOCK + 1)]);
    result.map(|()| applied)
}

fn schema_version(client: &mut postgres::Client) -> Result<i64, StoreError> {
    let db = StoreError::db("read the schema version");
    let exists: bool = client
        .query_one("SELECT to_regclass('schema_migrations') IS NOT NULL", &[])
        .map_err(&db)?
        .get(0);
    if !exists {
        return Ok(0);
    }
    Ok(client
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            &[],
        )
        .map_err(&db)?
        .get(0))
}

/// The replicated store.
pub struct PostgresStore {
    /// Always `Some` until dropped.
    pool: Option<Pool<Manager>>,
    signer: Ed25519KeyPair,
}

/// Closing a `postgres` connection blocks on its own runtime, which panics on an async worker
/// thread; the last handle of a custodian may be dropped there (at shutdown), so the pool is
/// closed on a plain thread.
impl Drop for PostgresStore {
    fn drop(&mut self) {
        if let Some(pool) = self.pool.take() {
            let _ = std::thread::spawn(move || drop(pool)).join();
        }
    }
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("pool", &self.pool.as_ref().map(Pool::state))
            .finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects a pool and checks the schema; audit records are signed by `signer`.
    ///
    /// # Errors
    /// [`StoreError::Open`] when the database cannot be reached, [`StoreError::NotMigrated`]
    /// when its schema is older than this build's.
    pub fn connect(
        config: &PostgresStoreConfig,
        signer: Ed25519KeyPair,
    ) -> Result<Self, StoreError> {
        let open_err = |e: StoreError| match e {
            StoreError::Database { source, .. } => StoreError::Open {
                location: config.location(),
                source,
            },
            other => other,
        };
        let pg: postgres::Config = config.url.parse().map_err(|e| StoreError::Open {
            location: config.location(),
            source: Box::new(e),
        })?;
        let pool = Pool::builder()
            .max_size(config.pool_size.max(1))
            .min_idle(Some(1))
            .connection_timeout(Duration::from_millis(config.checkout_timeout_ms.max(1)))
            .build(PostgresConnectionManager::new(pg, NoTls))
            .map_err(|e| StoreError::Open {
                location: config.location(),
                source: Box::new(e),
            })?;
        let mut conn = pool.get().map_err(|e| StoreError::Open {
            location: config.location(),
            source: Box::new(e),
        })?;
        let found = schema_version(&mut conn).map_err(open_err)?;
        if found != SCHEMA_VERSION {
            return Err(StoreError::NotMigrated {
                location: config.location(),
                found,
                needed: SCHEMA_VERSION,
            });
        }
        drop(conn);
        Ok(Self {
            pool: Some(pool),
            signer,
        })
    }

    fn conn(&self) -> Result<PooledConnection<Manager>, StoreError> {
        let pool = self.pool.as_ref().ok_or_else(|| StoreError::Database {
            op: "get a database connection",
            source: "the store is closed".into(),
        })?;
        pool.get()
            .map_err(StoreError::db("get a database connection"))
    }

    fn write<T>(
        &self,
        op: &'static str,
        f: impl FnOnce(&mut dyn StoreTx) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.conn()?;
        let tx = conn.transaction().map_err(StoreError::db(op))?;
        let mut pg = PgTx(tx);
        let out = f(&mut pg)?;
        pg.0.commit().map_err(StoreError::db(op))?;
        Ok(out)
    }
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn read_key(r: &Row) -> StoredKey {
    let u = |i: usize| r.get::<_, i64>(i).unsigned_abs();
    StoredKey {
        key_id: r.get(0),
        tenant: r.get(1),
        wrapped_dek: r.get(2),
        kek_id: r.get(3),
        trust_policy: r.get(4),
        rego: r.get(5),
        policy_version: u(6),
        disabled: r.get(7),
        created_at: u(8),
        updated_at: u(9),
    }
}

fn read_challenge(r: &Row) -> StoredChallenge {
    StoredChallenge {
        key_id: r.get(0),
        expires_at: r.get::<_, i64>(1).unsigned_abs(),
        used: r.get(2),
    }
}

/// A READ COMMITTED transaction: decisions lock their rows (`FOR UPDATE`), appends the chain.
struct PgTx<'a>(Transaction<'a>);

impl StoreTx for PgTx<'_> {
    fn key(&mut self, key_id: &str) -> Result<Option<StoredKey>, StoreError> {
        self.0
            .query_opt(
                &format!("SELECT {KEY_COLUMNS} FROM keys WHERE key_id = $1 FOR UPDATE"),
                &[&key_id],
            )
            .map(|r| r.as_ref().map(read_key))
            .map_err(StoreError::db("read a key"))
    }

    fn put_key(&mut self, k: &StoredKey) -> Result<(), StoreError> {
        self.0
            .execute(
                &format!(
                    "INSERT INTO keys ({KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                     ON CONFLICT (key_id) DO UPDATE SET tenant = $2, wrapped_dek = $3, kek_id = $4,
                       trust_policy = $5, rego = $6, policy_version = $7, disabled = $8,
                       created_at = $9, updated_at = $10"
                ),
                &[
                    &k.key_id,
                    &k.tenant,
                    &k.wrapped_dek,
                    &k.kek_id,
                    &k.trust_policy,
                    &k.rego,
                    &to_i64(k.policy_version),
                    &k.disabled,
                    &to_i64(k.created_at),
                    &to_i64(k.updated_at),
                ],
            )
            .map(drop)
            .map_err(StoreError::db("write a key"))
    }

    fn delete_key(&mut self, key_id: &str) -> Result<(), StoreError> {
        self.0
            .execute("DELETE FROM keys WHERE key_id = $1", &[&key_id])
            .map(drop)
            .map_err(StoreError::db("remove a key"))
    }

    fn challenge(&mut self, nonce: &[u8]) -> Result<Option<StoredChallenge>, StoreError> {
        self.0
            .query_opt(
                "SELECT key_id, expires_at, used FROM challenges WHERE nonce = $1 FOR UPDATE",
                &[&nonce],
            )
            .map(|r| r.as_ref().map(read_challenge))
            .map_err(StoreError::db("read a challenge"))
    }

    fn insert_challenge(
        &mut self,
        nonce: &[u8],
        key_id: &str,
        expires_at: u64,
    ) -> Result<(), StoreError> {
        self.0
            .execute(
                "INSERT INTO challenges (nonce, key_id, expires_at, used) VALUES ($1, $2, $3, FALSE)",
                &[&nonce, &key_id, &to_i64(expires_at)],
            )
            .map(drop)
            .map_err(StoreError::db("issue a challenge"))
    }

    fn mark_used(&mut self, nonce: &[u8]) -> Result<(), StoreError> {
        self.0
            .execute(
                "UPDATE challenges SET used = TRUE WHERE nonce = $1",
                &[&nonce],
            )
            .map(drop)
            .map_err(StoreError::db("redeem a challenge"))
    }

    fn purge_and_count_challenges(&mut self, now: u64) -> Result<u64, StoreError> {
        let db = StoreError::db("count challenges");
        self.0
            .execute(
                "DELETE FROM challenges WHERE expires_at < $1",
                &[&to_i64(now)],
            )
            .map_err(&db)?;
        let n: i64 = self
            .0
            .query_one("SELECT COUNT(*) FROM challenges WHERE NOT used", &[])
            .map_err(&db)?
            .get(0);
        Ok(n.unsigned_abs())
    }

    fn lock_chain_head(&mut self) -> Result<Option<(u64, String)>, StoreError> {
        let db = StoreError::db("lock the chain head");
        self.0
            .execute("SELECT pg_advisory_xact_lock($1)", &[&CHAIN_LOCK])
            .map_err(&db)?;
        self.0
            .query_opt("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", &[])
            .map(|r| r.map(|r| (r.get::<_, i64>(0).unsigned_abs(), r.get(1))))
            .map_err(&db)
    }

    fn insert_record(
        &mut self,
        seq: u64,
        time: u64,
        record: &AuditRecord,
    ) -> Result<(), StoreError> {
        self.0
            .execute(
                "INSERT INTO audit (seq, time, body, hash, signature) VALUES ($1, $2, $3, $4, $5)",
                &[
                    &to_i64(seq),
                    &to_i64(time),
                    &record.body,
                    &record.hash,
                    &record.signature,
                ],
            )
            .map(drop)
            .map_err(StoreError::db("append an audit record"))
    }
}

impl Store for PostgresStore {
    fn key(&self, key_id: &str) -> Result<Option<StoredKey>, StoreError> {
        self.conn()?
            .query_opt(
                &format!("SELECT {KEY_COLUMNS} FROM keys WHERE key_id = $1"),
                &[&key_id],
            )
            .map(|r| r.as_ref().map(read_key))
            .map_err(StoreError::db("read a key"))
    }

    fn keys(&self, tenant: Option<&str>) -> Result<Vec<StoredKey>, StoreError> {
        self.conn()?
            .query(
                &format!(
                    "SELECT {KEY_COLUMNS} FROM keys WHERE $1::TEXT IS NULL OR tenant = $1 ORDER BY key_id"
                ),
                &[&tenant],
            )
            .map(|rows| rows.iter().map(read_key).collect())
            .map_err(StoreError::db("list keys"))
    }

    fn challenge(&self, nonce: &[u8]) -> Result<Option<StoredChallenge>, StoreError> {
        self.conn()?
            .query_opt(
                "SELECT key_id, expires_at, used FROM challenges WHERE nonce = $1",
                &[&nonce],
            )
            .map(|r| r.as_ref().map(read_challenge))
            .map_err(StoreError::db("read a challenge"))
    }

    super::tx::transactional_store_methods!();

    fn audit_records(&self, from_seq: u64, limit: usize) -> Result<Vec<AuditRecord>, StoreError> {
        self.conn()?
            .query(
                "SELECT body, hash, signature FROM audit WHERE seq >= $1 ORDER BY seq LIMIT $2",
                &[&to_i64(from_seq), &i64::try_from(limit).unwrap_or(i64::MAX)],
            )
            .map(|rows| {
                rows.iter()
                    .map(|r| AuditRecord {
                        body: r.get(0),
                        hash: r.get(1),
                        signature: r.get(2),
                    })
                    .collect()
            })
            .map_err(StoreError::db("read the audit chain"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_password_in_messages() {
        assert_eq!(
            redact("postgres://cloister:s3cret@db:5432/c"),
            "postgres://cloister:***@db:5432/c"
        );
        assert_eq!(
            redact("postgres://cloister@db/c"),
            "postgres://cloister@db/c"
        );
        assert_eq!(PostgresStoreConfig::new("postgres://a@b/c").pool_size, 16);
    }

    #[test]
    fn migrations_are_numbered_in_order() {
        for (i, (v, sql)) in MIGRATIONS.iter().enumerate() {
            assert_eq!(*v, i as i64 + 1);
            assert!(!sql.trim().is_empty());
        }
        assert_eq!(MIGRATIONS.last().map(|(v, _)| *v), Some(SCHEMA_VERSION));
    }
}
