//! The supervisor's configuration file (JSON, like every other Cloister configuration).
//!
//! ```json
//! {
//!   "address": "vsock://16:5000",
//!   "enclave": {"kind": "nitro", "eif_path": "/opt/cloister/enclave.eif",
//!               "cpu_count": 2, "memory_mib": 2048},
//!   "restart": {"initial_backoff_ms": 1000, "max_backoff_ms": 60000, "stable_after_ms": 300000},
//!   "ready_timeout_ms": 120000,
//!   "drain_timeout_ms": 30000,
//!   "link": {"pool_size": 2}
//! }
//! ```
//!
//! For the mock enclave, `"enclave": {"kind": "mock", "binary": "/usr/bin/cloister-enclave",
//! "args": ["--listen", "unix:/run/cloister/enclave.sock", ...]}` with a `unix://` address.
//! A Nitro enclave's CID is the address's: the supervisor passes it as `--enclave-cid`, so the
//! host always connects to the enclave it started.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::backoff::BackoffPolicy;
use crate::link::{LinkConfig, LinkConfigError};
use crate::transport::EnclaveAddr;

/// Largest configuration file read (it is a few hundred bytes).
pub const MAX_CONFIG_LEN: u64 = 64 * 1024;

/// Everything the supervisor needs: what to start, where it listens, how to restart it.
///
/// ```
/// use cloister_host::supervisor::config::{EnclaveSpec, SupervisorConfig};
/// let c = SupervisorConfig::from_json(br#"{
///     "address": "unix:///run/cloister/enclave.sock",
///     "enclave": {"kind": "mock", "binary": "/usr/bin/cloister-enclave",
///                 "args": ["--listen", "unix:/run/cloister/enclave.sock"]}
/// }"#).expect("valid");
/// assert!(matches!(c.enclave, EnclaveSpec::Mock { .. }));
/// assert_eq!(c.restart.max_backoff_ms, 30_000);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupervisorConfig {
    /// Where the enclave listens: `unix:///PATH` for the mock, `vsock://CID:PORT` for Nitro.
    pub address: EnclaveAddr,
    /// What to start.
    pub enclave: EnclaveSpec,
    /// Restart backoff.
    #[serde(default)]
    pub restart: RestartPolicy,
    /// How long a start may take until the enclave answers an attestation request, in ms
    /// (default 60 000; a Nitro enclave that unseals a large model needs more).
    #[serde(default = "default_ready_timeout_ms")]
    pub ready_timeout_ms: u64,
    /// How long shutdown waits for requests in flight, in ms (default 30 000).
    #[serde(default = "default_drain_timeout_ms")]
    pub drain_timeout_ms: u64,
    /// The connections to the enclave.
    #[serde(default)]
    pub link: LinkConfig,
}

/// The enclave to start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum EnclaveSpec {
    /// The mock enclave: a `cloister-enclave` process on this host (CI, demos; its evidence is
    /// accepted only by policies that name the mock root).
    Mock {
        /// The `cloister-enclave` executable.
        binary: PathBuf,
        /// Its arguments, e.g. `--listen unix:PATH --platform mock --mock-ca DIR --model DIR`.
        #[serde(default)]
        args: Vec<String>,
        /// Append the enclave's stderr (its log) here; default: the host's stderr.
        #[serde(default)]
        log_file: Option<PathBuf>,
    },
    /// An AWS Nitro enclave started with `nitro-cli run-enclave`.
    Nitro {
        /// The enclave image.
        eif_path: PathBuf,
        /// vCPUs given to the enclave (`--cpu-count`).
        cpu_count: u32,
        /// Memory given to the enclave in MiB (`--memory`).
        memory_mib: u64,
        /// `--debug-mode`: the console is readable and PCRs read as zero, so no production
        /// policy accepts its evidence.
        #[serde(default)]
        debug_mode: bool,
        /// The `nitro-cli` executable (default `nitro-cli` on PATH).
        #[serde(default = "default_nitro_cli")]
        nitro_cli: PathBuf,
        /// How often `nitro-cli describe-enclaves` checks that the enclave still runs, in ms
        /// (default 5 000).
        #[serde(default = "default_poll_ms")]
        poll_interval_ms: u64,
    },
}

/// How crashed enclaves are restarted: after `initial_backoff_ms`, doubling per crash up to
/// `max_backoff_ms` (with jitter), back to the start once an enclave has run
/// `stable_after_ms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RestartPolicy {
    /// First delay, in ms (default 500).
    pub initial_backoff_ms: u64,
    /// Longest delay, in ms (default 30 000).
    pub max_backoff_ms: u64,
    /// Run time after which a crash counts as the first again, in ms (default 60 000).
    pub stable_after_ms: u64,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        Self {
            initial_backoff_ms: 500,
            max_backoff_ms: 30_000,
            stable_after_ms: 60_000,
        }
    }
}

impl RestartPolicy {
    /// As a [`BackoffPolicy`].
    pub fn backoff(&self) -> BackoffPolicy {
        BackoffPolicy::new(
            Duration::from_millis(self.initial_backoff_ms),
            Duration::from_millis(self.max_backoff_ms),
        )
    }

    /// [`RestartPolicy::stable_after_ms`] as a duration.
    pub fn stable_after(&self) -> Duration {
        Duration::from_millis(self.stable_after_ms)
    }
}

fn default_ready_timeout_ms() -> u64 {
    60_000
}

fn default_drain_timeout_ms() -> u64 {
    30_000
}

fn default_nitro_cli() -> PathBuf {
    PathBuf::from("nitro-cli")
}

fn default_poll_ms() -> u64 {
    5_000
}

impl SupervisorConfig {
    /// Parses and checks a configuration.
    ///
    /// # Errors
    /// [`ConfigError::Parse`] or a [`SupervisorConfig::validate`] error.
    pub fn from_json(bytes: &[u8]) -> Result<Self, ConfigError> {
        let config: Self = serde_json::from_slice(bytes).map_err(ConfigError::Parse)?;
        config.validate()?;
        Ok(config)
    }

    /// Reads, parses and checks a configuration file.
    ///
    /// # Errors
    /// [`ConfigError::Read`] (also for a file over [`MAX_CONFIG_LEN`]), or as
    /// [`SupervisorConfig::from_json`].
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let bytes = read_bounded(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_json(&bytes)
    }

    /// Checks what serde cannot: the address fits the enclave kind, bounds are sane.
    ///
    /// # Errors
    /// [`ConfigError`] naming the field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        match (&self.enclave, &self.address) {
            (EnclaveSpec::Mock { binary, .. }, EnclaveAddr::Unix(_)) => {
                if binary.as_os_str().is_empty() {
                    return Err(ConfigError::Empty {
                        field: "enclave.binary",
                    });
                }
            }
            (
                EnclaveSpec::Nitro {
                    eif_path,
                    cpu_count,
                    memory_mib,
                    poll_interval_ms,
                    ..
                },
                EnclaveAddr::Vsock { .. },
            ) => {
                if eif_path.as_os_str().is_empty() {
                    return Err(ConfigError::Empty {
                        field: "enclave.eif_path",
                    });
                }
                for (field, value) in [
                    ("enclave.cpu_count", u64::from(*cpu_count)),
                    ("enclave.memory_mib", *memory_mib),
                    ("enclave.poll_interval_ms", *poll_interval_ms),
                ] {
                    if value == 0 {
                        return Err(ConfigError::Zero { field });
                    }
                }
            }
            (spec, addr) => {
                return Err(ConfigError::AddressKind {
                    kind: spec.kind(),
                    address: addr.to_string(),
                });
            }
        }
        for (field, value) in [
            (
                "restart.initial_backoff_ms",
                self.restart.initial_backoff_ms,
            ),
            ("ready_timeout_ms", self.ready_timeout_ms),
        ] {
            if value == 0 {
                return Err(ConfigError::Zero { field });
            }
        }
        if self.restart.max_backoff_ms < self.restart.initial_backoff_ms {
            return Err(ConfigError::RestartBounds {
                initial: self.restart.initial_backoff_ms,
                max: self.restart.max_backoff_ms,
            });
        }
        self.link.validate().map_err(ConfigError::Link)
    }

    /// [`SupervisorConfig::ready_timeout_ms`] as a duration.
    pub fn ready_timeout(&self) -> Duration {
        Duration::from_millis(self.ready_timeout_ms)
    }

    /// [`SupervisorConfig::drain_timeout_ms`] as a duration.
    pub fn drain_timeout(&self) -> Duration {
        Duration::from_millis(self.drain_timeout_ms)
    }
}

/// Reads a configuration file of at most [`MAX_CONFIG_LEN`] bytes (a larger one is an
/// [`std::io::ErrorKind::InvalidData`] error, not a truncated read).
pub(crate) fn read_bounded(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_CONFIG_LEN + 1)
        .read_to_end(&mut bytes)?;
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > MAX_CONFIG_LEN {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {MAX_CONFIG_LEN} bytes"),
        ));
    }
    Ok(bytes)
}

impl EnclaveSpec {
    /// `mock` or `nitro`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Mock { .. } => "mock",
            Self::Nitro { .. } => "nitro",
        }
    }
}

/// A configuration that cannot be used.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("reading the supervisor configuration {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Not JSON of the expected shape (the message names the field and line).
    #[error("supervisor configuration: {0}")]
    Parse(#[source] serde_json::Error),
    /// The address does not fit the enclave kind.
    #[error("a {kind} enclave cannot listen on {address}")]
    AddressKind {
        /// `mock` or `nitro`.
        kind: &'static str,
        /// The configured address.
        address: String,
    },
    /// A required path is empty.
    #[error("{field} is empty")]
    Empty {
        /// The field.
        field: &'static str,
    },
    /// A count or duration is 0.
    #[error("{field} must be more than 0")]
    Zero {
        /// The field.
        field: &'static str,
    },
    /// `restart.max_backoff_ms` is below `restart.initial_backoff_ms`.
    #[error("restart.max_backoff_ms {max} is below restart.initial_backoff_ms {initial}")]
    RestartBounds {
        /// `initial_backoff_ms`.
        initial: u64,
        /// `max_backoff_ms`.
        max: u64,
    },
    /// The `link` section is out of bounds.
    #[error(transparent)]
    Link(LinkConfigError),
}

impl ConfigError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Read { .. } => "supervisor.config_read",
            Self::Parse(_) => "supervisor.config_parse",
            Self::AddressKind { .. } => "supervisor.config_address",
            Self::Empty { .. } => "supervisor.config_empty",
            Self::Zero { .. } => "supervisor.config_zero",
            Self::RestartBounds { .. } => "supervisor.config_restart_bounds",
            Self::Link(e) => e.code(),
        }
    }

    /// What to do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            Self::Read { .. } => {
                "check that the --config file exists, is readable and under 64 KiB"
            }
            Self::Parse(_) => {
                "fix the field the message names; see the cloister_host::supervisor::config docs for the shape"
            }
            Self::AddressKind { .. } => {
                "a mock enclave listens on unix:///PATH, a Nitro enclave on vsock://CID:PORT"
            }
            Self::Empty { .. } => "give the path of the enclave binary or image",
            Self::Zero { .. } => "give counts, sizes and durations above 0",
            Self::RestartBounds { .. } => {
                "set restart.max_backoff_ms at or above restart.initial_backoff_ms"
            }
            Self::Link(e) => e.hint(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOCK: &str = r#"{"address": "unix:///tmp/e.sock",
        "enclave": {"kind": "mock", "binary": "/bin/cloister-enclave", "args": ["--listen", "unix:/tmp/e.sock"]}}"#;

    fn nitro(extra: &str) -> String {
        format!(
            r#"{{"address": "vsock://16:5000", "enclave": {{"kind": "nitro",
            "eif_path": "/opt/e.eif", "cpu_count": 2, "memory_mib": 1024 {extra}}}}}"#
        )
    }

    #[test]
    fn parses_both_kinds_with_defaults() {
        let mock = SupervisorConfig::from_json(MOCK.as_bytes()).expect("mock");
        assert_eq!(mock.restart, RestartPolicy::default());
        assert_eq!(mock.link, LinkConfig::default());
        assert_eq!(mock.ready_timeout(), Duration::from_secs(60));
        let nitro = SupervisorConfig::from_json(nitro("").as_bytes()).expect("nitro");
        match nitro.enclave {
            EnclaveSpec::Nitro {
                cpu_count,
                memory_mib,
                debug_mode,
                nitro_cli,
                ..
            } => {
                assert_eq!((cpu_count, memory_mib, debug_mode), (2, 1024, false));
                assert_eq!(nitro_cli, PathBuf::from("nitro-cli"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn refuses_what_cannot_work() {
        let cases = [
            (
                r#"{"address": "vsock://16:5000", "enclave": {"kind": "mock", "binary": "/b"}}"#
                    .to_string(),
                "supervisor.config_address",
            ),
            (
                r#"{"address": "unix:///e.sock", "enclave": {"kind": "mock", "binary": ""}}"#
                    .to_string(),
                "supervisor.config_empty",
            ),
            (nitro(r#", "cpu_count": 0"#), "supervisor.config_parse"),
            (
                nitro("").replace(r#""cpu_count": 2"#, r#""cpu_count": 0"#),
                "supervisor.config_zero",
            ),
            (nitro(r#", "cid": 16"#), "supervisor.config_parse"),
            (
                nitro("").replace(
                    r#""vsock://16:5000","#,
                    r#""vsock://16:5000", "restart": {"initial_backoff_ms": 10, "max_backoff_ms": 1},"#,
                ),
                "supervisor.config_restart_bounds",
            ),
            (
                nitro("").replace(
                    r#""vsock://16:5000","#,
                    r#""vsock://16:5000", "link": {"pool_size": 0},"#,
                ),
                "link.pool_size",
            ),
            (
                nitro("").replace(r#""kind": "nitro""#, r#""kind": "sgx""#),
                "supervisor.config_parse",
            ),
        ];
        for (json, code) in cases {
            let err = SupervisorConfig::from_json(json.as_bytes()).expect_err(&json);
            assert_eq!(err.code(), code, "{json}: {err}");
            assert!(!err.hint().is_empty());
        }
    }

    #[test]
    fn load_names_the_file() {
        let err = SupervisorConfig::load(Path::new("/nonexistent/host.json")).expect_err("missing");
        assert_eq!(err.code(), "supervisor.config_read");
        assert!(err.to_string().contains("/nonexistent/host.json"), "{err}");
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("host.json");
        std::fs::write(&path, MOCK).expect("write");
        SupervisorConfig::load(&path).expect("loads");
    }
}
