//! Starting a custodian from its config: load the secrets and the key store (refusing to start
//! on anything wrong), bind, and serve until Ctrl-C.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use aws_lc_rs::signature::Ed25519KeyPair;
use cloister_attestation::nitro::TrustAnchor;
use cloister_attestation::{AttestationError, EvidenceVerifier, Platform};
use zeroize::Zeroizing;

use crate::api::{AdminTokens, AppState, app};
use crate::config::Config;
use crate::files::{PrivateFileError, check_private};
use crate::kek::{KekError, KekRing, open_kek};
use crate::service::Custodian;
use crate::store::{PostgresStore, SqliteStore, Store, StoreError};

/// Loads everything `config` names into the handlers' state.
///
/// # Errors
/// The first file that does not load, as a [`StartError`].
pub fn build(config: &Config) -> Result<AppState, StartError> {
    let keks = open_keks(config)?;
    let store = open_store(config)?;
    let mut tokens = Vec::with_capacity(config.tenants.len());
    for (tenant, t) in &config.tenants {
        let token = load_token(&t.admin_token)?;
        if tokens
            .iter()
            .any(|(_, other): &(String, Zeroizing<String>)| **other == *token)
        {
            return Err(StartError::Secret {
                what: "admin_token",
                path: t.admin_token.clone(),
                problem: format!("tenant {tenant} shares its token with another tenant"),
            });
        }
        tokens.push((tenant.clone(), token));
    }
    let mut verifier = EvidenceVerifier::new();
    if let Some(pem_path) = &config.dangerous_mock_root_pem {
        let pem = std::fs::read(pem_path).map_err(|source| StartError::Secret {
            what: "dangerous_mock_root_pem",
            path: pem_path.clone(),
            problem: source.to_string(),
        })?;
        let anchor =
            TrustAnchor::from_pem(Platform::Mock, &pem).map_err(|e| StartError::MockRoot {
                path: pem_path.clone(),
                source: Box::new(e),
            })?;
        tracing::warn!(
            "a mock CA root is pinned: keys whose policy trusts it accept mock evidence"
        );
        verifier = verifier.with_mock_root(anchor);
    }
    let custodian = Custodian::new(
        store,
        keks,
        load_signer(&config.signing_key)?,
        verifier,
        config.challenge_ttl_secs,
        config.max_outstanding_challenges,
    );
    Ok(AppState {
        custodian: Arc::new(custodian),
        admin_tokens: Arc::new(AdminTokens::new(tokens)),
        max_body_bytes: config.max_body_bytes,
    })
}

/// Opens the current KEK and the previous ones.
///
/// # Errors
/// `custodian.kek.*`.
pub fn open_keks(config: &Config) -> Result<KekRing, StartError> {
    let current = open_kek(&config.kek)?;
    let previous = config
        .previous_keks
        .iter()
        .map(open_kek)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(KekRing::new(current, previous))
}

/// Opens the store the config names (SQLite or PostgreSQL), signing audit records with the
/// custodian's key.
///
/// # Errors
/// `custodian.config.secret` (the signing key), `custodian.store.open`,
/// `custodian.store.not_migrated`.
pub fn open_store(config: &Config) -> Result<Arc<dyn Store>, StartError> {
    let signer = load_signer(&config.signing_key)?;
    Ok(match config.postgres() {
        Some(pg) => Arc::new(PostgresStore::connect(&pg, signer)?),
        None => Arc::new(SqliteStore::open(Path::new(&config.store), signer)?),
    })
}

/// Loads the signing key (PKCS#8, owner-only).
///
/// # Errors
/// `custodian.config.secret`.
pub fn load_signer(path: &Path) -> Result<Ed25519KeyPair, StartError> {
    let bytes = read_secret("signing_key", path)?;
    Ed25519KeyPair::from_pkcs8(&bytes).map_err(|e| StartError::Secret {
        what: "signing_key",
        path: path.to_owned(),
        problem: format!("not an Ed25519 PKCS#8 key: {e}"),
    })
}

fn load_token(path: &Path) -> Result<Zeroizing<String>, StartError> {
    let bytes = read_secret("admin_token", path)?;
    let token = std::str::from_utf8(&bytes)
        .map(|t| Zeroizing::new(t.trim().to_owned()))
        .map_err(|_| StartError::Secret {
            what: "admin_token",
            path: path.to_owned(),
            problem: "not UTF-8".to_owned(),
        })?;
    // A short token is guessable; `init` writes 64 hex characters.
    if token.len() < 32 {
        return Err(StartError::Secret {
            what: "admin_token",
            path: path.to_owned(),
            problem: format!("{} characters, at least 32 required", token.len()),
        });
    }
    Ok(token)
}

fn read_secret(what: &'static str, path: &Path) -> Result<Zeroizing<Vec<u8>>, StartError> {
    let problem = |problem: String| StartError::Secret {
        what,
        path: path.to_owned(),
        problem,
    };
    check_private(path).map_err(|e| match e {
        PrivateFileError::Io(e) => problem(e.to_string()),
        PrivateFileError::Mode(mode) => {
            problem(format!("mode {mode:o}: must be readable by its owner only"))
        }
    })?;
    std::fs::read(path)
        .map(Zeroizing::new)
        .map_err(|e| problem(e.to_string()))
}

/// Binds `config.listen`, writes the bound address to `addr_file` (if given), and serves until
/// Ctrl-C.
///
/// # Errors
/// [`build`]'s errors, `custodian.bind`, `custodian.addr_file`, `custodian.serve`.
pub async fn serve(config: &Config, addr_file: Option<&Path>) -> Result<(), StartError> {
    // The stores block (the PostgreSQL client runs its own small runtime): set them up off the
    // async workers. Needs the multi-threaded runtime, which `main` builds.
    let state = tokio::task::block_in_place(|| build(config))?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| StartError::Bind {
            addr: config.listen,
            source,
        })?;
    let bound = listener.local_addr().map_err(|source| StartError::Bind {
        addr: config.listen,
        source,
    })?;
    if let Some(path) = addr_file {
        // Write then rename, so a watcher never reads a half-written address.
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, bound.to_string())
            .and_then(|()| std::fs::rename(&tmp, path))
            .map_err(|source| StartError::AddrFile {
                path: path.to_owned(),
                source,
            })?;
    }
    tracing::info!(
        listen = %bound,
        public_key = %hex::encode(state.custodian.public_key()),
        "custodian serving"
    );
    axum::serve(listener, app(state))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(StartError::Serve)
}

/// Why the custodian did not start (or `init` did not finish).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The config file cannot be read.
    #[error("cannot read the config {path}: {source}")]
    ConfigRead {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The config file is not a valid config.
    #[error("invalid config {path}: {detail}")]
    ConfigInvalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// A secret file (signing key, admin token) does not load.
    #[error("{what} {path}: {problem}")]
    Secret {
        /// Which config entry.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// The mock root does not load.
    #[error("dangerous_mock_root_pem {path}: {source}")]
    MockRoot {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: Box<AttestationError>,
    },
    /// The KEK does not load.
    #[error(transparent)]
    Kek(#[from] KekError),
    /// The audit chain is broken at a record.
    #[error(transparent)]
    AuditBroken(crate::audit::ChainBreak),
    /// The export could not be written.
    #[error("cannot write the export: {0}")]
    ExportWrite(#[source] std::io::Error),
    /// The key store does not load.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// `init` found a file it would overwrite.
    #[error("{path} exists; init never overwrites a key")]
    InitExists {
        /// The file.
        path: PathBuf,
    },
    /// `init` could not write a file.
    #[error("cannot write {path}: {source}")]
    InitWrite {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The system random source failed.
    #[error("the system random source failed")]
    Random,
    /// The listen address cannot be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// `--addr-file` cannot be written.
    #[error("cannot write the address file {path}: {source}")]
    AddrFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The server failed.
    #[error("serving failed: {0}")]
    Serve(#[source] std::io::Error),
    /// The async runtime could not start.
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

impl StartError {
    /// A stable dotted code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::ConfigRead { .. } => "custodian.config.read",
            Self::ConfigInvalid { .. } => "custodian.config.invalid",
            Self::Secret { .. } => "custodian.config.secret",
            Self::MockRoot { .. } => "custodian.config.mock_root",
            Self::Kek(e) => e.code(),
            Self::AuditBroken(b) => b.code(),
            Self::ExportWrite(_) => "custodian.export.write",
            Self::Store(e) => e.code(),
            Self::InitExists { .. } => "custodian.init.exists",
            Self::InitWrite { .. } => "custodian.init.write",
            Self::Random => "custodian.random",
            Self::Bind { .. } => "custodian.bind",
            Self::AddrFile { .. } => "custodian.addr_file",
            Self::Serve(_) => "custodian.serve",
            Self::Runtime(_) => "custodian.runtime",
        }
    }

    /// What to do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            Self::ConfigRead { .. } => {
                "pass the custodian.json that `cloister-custodian init --dir DIR` wrote"
            }
            Self::ConfigInvalid { .. } => "fix the named field (custodian/README.md lists them)",
            Self::Secret { .. } => {
                "the file must exist, be readable by its owner only (chmod 600), and hold what init wrote"
            }
            Self::MockRoot { .. } => "point it at the root.pem `cloister mock init` wrote",
            Self::Kek(e) => e.hint(),
            Self::AuditBroken(_) => {
                "the stored audit trail was altered at this record: keep the database as evidence, compare with the last export, and investigate who had write access"
            }
            Self::ExportWrite(_) => "check the output (disk space, a closed pipe)",
            Self::Store(e) => e.hint(),
            Self::InitExists { .. } => "init into an empty directory",
            Self::InitWrite { .. } => "check that the directory is writable",
            Self::Random => "the system random source is failing: check the host",
            Self::Bind { .. } => "pick a free address (listen in custodian.json)",
            Self::AddrFile { .. } => "check that --addr-file's directory exists and is writable",
            Self::Serve(_) | Self::Runtime(_) => "check the system's resources and retry",
        }
    }
}
