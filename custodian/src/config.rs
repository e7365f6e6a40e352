//! `custodian.json` and the files it names, as written by `cloister-custodian init`.
//!
//! ```json
//! {
//!   "listen": "127.0.0.1:7450",
//!   "kek": { "file": "kek.bin" },
//!   "previous_keks": [],
//!   "signing_key": "signing-key.pk8",
//!   "tenants": { "default": { "admin_token": "admin-token" } },
//!   "store": "custodian.db",
//!   "challenge_ttl_secs": 30,
//!   "max_outstanding_challenges": 10000,
//!   "max_body_bytes": 65536
//! }
//! ```
//!
//! Relative paths are relative to the directory of `custodian.json`. The KEK (32 random bytes),
//! the Ed25519 signing key (PKCS#8) and the admin tokens are files of mode 0600; the custodian
//! refuses to start if group or others can read them. `kek` may instead name a PKCS#11 token
//! (`{"pkcs11": {...}}`, see [`crate::kek::KekConfig`]); `previous_keks` are KEKs that only
//! unwrap, during a rotation (`cloister-custodian rotate-kek`). Each tenant owns the keys
//! registered with its admin token. `store` is the SQLite database of keys and the audit chain. `dangerous_mock_root_pem` (absent by
//! default) pins a mock CA root for CI and the demo: mock evidence is still refused unless a
//! key's trust policy names that root.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use serde::{Deserialize, Serialize};

use crate::files::create_private;
use crate::kek::KekConfig;
use crate::start::StartError;

/// Default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7450";
/// Default challenge lifetime.
pub const DEFAULT_CHALLENGE_TTL_SECS: u64 = 30;
/// Default request body limit.
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024;
/// The config file `init` writes.
pub const CONFIG_FILE: &str = "custodian.json";

/// The custodian's configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// HTTP listen address (loopback by default; port 0 picks a free port).
    pub listen: SocketAddr,
    /// The KEK that wraps new DEKs.
    pub kek: KekConfig,
    /// KEKs that only unwrap (keys not yet moved by `rotate-kek`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub previous_keks: Vec<KekConfig>,
    /// The Ed25519 signing key (PKCS#8 DER): signs release responses and audit records.
    pub signing_key: PathBuf,
    /// Tenant name → its admin credential.
    pub tenants: BTreeMap<String, TenantConfig>,
    /// Where keys, challenges and the audit chain live: an SQLite file (the embedded default),
    /// or `postgres://user@host:port/db` for replicas sharing one database (run
    /// `cloister-custodian migrate` first).
    pub store: String,
    /// Most PostgreSQL connections of this replica (default 16).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_pool_size: Option<u32>,
    /// How long a request waits for a free PostgreSQL connection, in ms (default 2000), before
    /// it is answered 503 with `Retry-After`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_checkout_timeout_ms: Option<u64>,
    /// How long a challenge may be redeemed.
    #[serde(default = "default_ttl")]
    pub challenge_ttl_secs: u64,
    /// Most challenges outstanding at once.
    #[serde(default = "default_max_challenges")]
    pub max_outstanding_challenges: usize,
    /// Largest request body.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// A mock CA root (PEM) to pin next to the platform roots. CI and demos only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dangerous_mock_root_pem: Option<PathBuf>,
}

/// One tenant's admin credential.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    /// The file holding its admin bearer token (mode 0600).
    pub admin_token: PathBuf,
}

/// The tenant `init` creates.
pub const DEFAULT_TENANT: &str = "default";

fn default_ttl() -> u64 {
    DEFAULT_CHALLENGE_TTL_SECS
}

fn default_max_challenges() -> usize {
    crate::challenge::DEFAULT_CAPACITY
}

fn default_max_body() -> usize {
    DEFAULT_MAX_BODY_BYTES
}

impl Config {
    /// Reads `path`, resolving relative paths against its directory.
    ///
    /// # Errors
    /// `custodian.config.read` or `custodian.config.invalid`.
    pub fn load(path: &Path) -> Result<Self, StartError> {
        let bytes = std::fs::read(path).map_err(|source| StartError::ConfigRead {
            path: path.to_owned(),
            source,
        })?;
        let mut config: Self =
            serde_json::from_slice(&bytes).map_err(|e| StartError::ConfigInvalid {
                path: path.to_owned(),
                detail: e.to_string(),
            })?;
        if config.tenants.is_empty() {
            return Err(StartError::ConfigInvalid {
                path: path.to_owned(),
                detail: "no tenants: nobody could register a key".to_owned(),
            });
        }
        if let Some(bad) = config
            .tenants
            .keys()
            .find(|t| cloister_proto::key_release::validate_key_id(t).is_err())
        {
            return Err(StartError::ConfigInvalid {
                path: path.to_owned(),
                detail: format!("tenant name {bad:?} must be 1-128 of [A-Za-z0-9._-]"),
            });
        }
        if config.challenge_ttl_secs == 0 || config.max_outstanding_challenges == 0 {
            return Err(StartError::ConfigInvalid {
                path: path.to_owned(),
                detail: "challenge_ttl_secs and max_outstanding_challenges must be positive"
                    .to_owned(),
            });
        }
        let base = path.parent().unwrap_or(Path::new("."));
        if !config.store_is_postgres() && Path::new(&config.store).is_relative() {
            config.store = base.join(&config.store).display().to_string();
        }
        for p in [&mut config.signing_key]
            .into_iter()
            .chain(config.tenants.values_mut().map(|t| &mut t.admin_token))
        {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        config.kek.resolve_paths(base);
        for k in &mut config.previous_keks {
            k.resolve_paths(base);
        }
        if let Some(p) = config.dangerous_mock_root_pem.as_mut()
            && p.is_relative()
        {
            *p = base.join(&*p);
        }
        Ok(config)
    }
}

impl Config {
    /// Whether `store` names a PostgreSQL database.
    pub fn store_is_postgres(&self) -> bool {
        self.store.starts_with("postgres://") || self.store.starts_with("postgresql://")
    }

    /// The PostgreSQL settings, when `store` names a database.
    pub fn postgres(&self) -> Option<crate::store::PostgresStoreConfig> {
        self.store_is_postgres().then(|| {
            let mut pg = crate::store::PostgresStoreConfig::new(&self.store);
            if let Some(n) = self.store_pool_size {
                pg.pool_size = n;
            }
            if let Some(ms) = self.store_checkout_timeout_ms {
                pg.checkout_timeout_ms = ms;
            }
            pg
        })
    }
}

/// What `init` made.
#[derive(Debug)]
pub struct Initialized {
    /// The config file written.
    pub config_path: PathBuf,
    /// The custodian's Ed25519 public key, for enclaves to pin.
    pub public_key: [u8; 32],
}

/// Creates `dir` (if needed) and writes a KEK, a signing key, an admin token and
/// `custodian.json` into it. Never overwrites: an existing file is an error.
///
/// # Errors
/// `custodian.init.exists`, `custodian.init.write` or `custodian.random`.
pub fn init(dir: &Path, listen: SocketAddr) -> Result<Initialized, StartError> {
    std::fs::create_dir_all(dir).map_err(|source| StartError::InitWrite {
        path: dir.to_owned(),
        source,
    })?;
    let config = Config {
        listen,
        kek: KekConfig::File("kek.bin".into()),
        previous_keks: vec![],
        signing_key: "signing-key.pk8".into(),
        tenants: BTreeMap::from([(
            DEFAULT_TENANT.to_owned(),
            TenantConfig {
                admin_token: "admin-token".into(),
            },
        )]),
        store: "custodian.db".into(),
        store_pool_size: None,
        store_checkout_timeout_ms: None,
        challenge_ttl_secs: DEFAULT_CHALLENGE_TTL_SECS,
        max_outstanding_challenges: crate::challenge::DEFAULT_CAPACITY,
        max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        dangerous_mock_root_pem: None,
    };
    let config_path = dir.join(CONFIG_FILE);
    // Refuse before writing anything, so a second init leaves the first one whole.
    for name in [
        "kek.bin",
        "signing-key.pk8",
        "admin-token",
        "custodian.db",
        CONFIG_FILE,
    ] {
        let path = dir.join(name);
        if path.exists() {
            return Err(StartError::InitExists { path });
        }
    }

    let mut kek = zeroize::Zeroizing::new([0u8; crate::kek::KEK_LEN]);
    aws_lc_rs::rand::fill(&mut kek[..]).map_err(|_| StartError::Random)?;
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| StartError::Random)?;
    let signer = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).map_err(|_| StartError::Random)?;
    let mut token = zeroize::Zeroizing::new([0u8; 32]);
    aws_lc_rs::rand::fill(&mut token[..]).map_err(|_| StartError::Random)?;
    let token_hex = zeroize::Zeroizing::new(hex::encode(&token[..]));

    let write = |name: &Path, bytes: &[u8]| {
        let path = dir.join(name);
        create_private(&path, bytes).map_err(|source| StartError::InitWrite { path, source })
    };
    write(Path::new("kek.bin"), &kek[..])?;
    write(&config.signing_key, pkcs8.as_ref())?;
    write(Path::new("admin-token"), token_hex.as_bytes())?;
    let json = serde_json::to_vec_pretty(&config).map_err(|e| StartError::InitWrite {
        path: config_path.clone(),
        source: std::io::Error::other(e),
    })?;
    write(Path::new(CONFIG_FILE), &json)?;

    let mut public_key = [0; 32];
    public_key.copy_from_slice(signer.public_key().as_ref());
    Ok(Initialized {
        config_path,
        public_key,
    })
}
