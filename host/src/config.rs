//! The configuration file of `cloister-host run --config FILE`: everything the command-line form
//! takes, plus the enclave the host starts and supervises.
//!
//! ```json
//! {
//!   "listen": "0.0.0.0:8080",
//!   "supervisor": {
//!     "address": "vsock://16:5000",
//!     "enclave": {"kind": "nitro", "eif_path": "/opt/cloister/enclave.eif",
//!                 "cpu_count": 2, "memory_mib": 2048}
//!   },
//!   "relays": ["unix:/run/cloister/custodian.sock=custodian.example.com:443"],
//!   "relay_allowlist": "/etc/cloister/vsock-proxy.yaml",
//!   "model_store": "unix:/run/cloister/models.sock=/var/lib/cloister/models",
//!   "edge": {"max_in_flight": 64, "max_per_client": 32, "queue_timeout_ms": 10000},
//!   "log_format": "json"
//! }
//! ```
//!
//! `supervisor` is a [`SupervisorConfig`]; `edge` overrides some of [`EdgeLimits`]' defaults
//! (durations in ms). Unknown fields are refused everywhere, so a misspelt limit is an error
//! rather than a default silently kept.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer};
use thiserror::Error;

use crate::collateral::INTEL_PCS_URL;
use crate::edge::{EdgeLimits, EdgeLimitsError};
use crate::model_store::ModelStoreSpec;
use crate::relay::RelaySpec;
use crate::supervisor::config::{ConfigError, SupervisorConfig, read_bounded};

/// How the host writes its log (stderr).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// One JSON object per line, for log pipelines: `timestamp`, `level`, `fields` (with
    /// `message`), `target`, and the `request` span with its `id` for request lines.
    #[default]
    Json,
    /// Human-readable lines.
    Text,
}

/// `cloister-host run --config FILE`.
///
/// ```
/// use cloister_host::config::HostConfig;
/// let c = HostConfig::from_json(br#"{
///     "listen": "127.0.0.1:0",
///     "supervisor": {"address": "unix:///run/e.sock",
///                    "enclave": {"kind": "mock", "binary": "/usr/bin/cloister-enclave"}},
///     "edge": {"max_per_client": 256}
/// }"#).expect("valid");
/// assert_eq!(c.edge_limits().max_per_client, 256);
/// assert_eq!(c.edge_limits().max_in_flight, 64);
/// assert!(HostConfig::from_json(br#"{"listen": "127.0.0.1:0"}"#).is_err());
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostConfig {
    /// HTTP listen address for callers.
    pub listen: SocketAddr,
    /// Write the bound address here once listening.
    #[serde(default)]
    pub addr_file: Option<PathBuf>,
    /// The enclave to start and supervise, and the link to it.
    pub supervisor: SupervisorConfig,
    /// Outbound relays for the enclave, each `unix:PATH=HOST:PORT` (needs `relay_allowlist`).
    #[serde(default, deserialize_with = "parsed_list")]
    pub relays: Vec<RelaySpec>,
    /// The relays' allowed destinations, in AWS vsock-proxy's allowlist format.
    #[serde(default)]
    pub relay_allowlist: Option<PathBuf>,
    /// Sealed models served to the enclave, `unix:PATH=DIR`.
    #[serde(default, deserialize_with = "parsed_option")]
    pub model_store: Option<ModelStoreSpec>,
    /// Intel PCS or a PCCS for TDX collateral.
    #[serde(default = "default_pccs_url")]
    pub pccs_url: String,
    /// Where the Intel SGX Root CA CRL comes from.
    #[serde(default)]
    pub root_ca_crl_url: Option<String>,
    /// Overrides of the edge's limits.
    #[serde(default)]
    pub edge: EdgeOverrides,
    /// The log's format (default `json`).
    #[serde(default)]
    pub log_format: LogFormat,
}

/// The [`EdgeLimits`] a configuration may change; absent fields keep their defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EdgeOverrides {
    /// [`EdgeLimits::max_in_flight`].
    pub max_in_flight: Option<usize>,
    /// [`EdgeLimits::max_queued`].
    pub max_queued: Option<usize>,
    /// [`EdgeLimits::queue_timeout`], in ms.
    pub queue_timeout_ms: Option<u64>,
    /// [`EdgeLimits::max_per_client`].
    pub max_per_client: Option<usize>,
    /// [`EdgeLimits::retry_after`], in ms.
    pub retry_after_ms: Option<u64>,
    /// [`EdgeLimits::max_connections`].
    pub max_connections: Option<usize>,
    /// [`EdgeLimits::header_read_timeout`], in ms.
    pub header_read_timeout_ms: Option<u64>,
    /// [`EdgeLimits::body_read_timeout`], in ms.
    pub body_read_timeout_ms: Option<u64>,
    /// [`EdgeLimits::write_timeout`], in ms.
    pub write_timeout_ms: Option<u64>,
    /// [`EdgeLimits::max_requests_per_connection`].
    pub max_requests_per_connection: Option<usize>,
    /// [`EdgeLimits::max_header_bytes`].
    pub max_header_bytes: Option<usize>,
    /// [`EdgeLimits::max_body_bytes`].
    pub max_body_bytes: Option<usize>,
    /// [`EdgeLimits::drain_timeout`], in ms.
    pub drain_timeout_ms: Option<u64>,
}

impl EdgeOverrides {
    /// `base` with these overrides applied.
    pub fn apply(&self, base: EdgeLimits) -> EdgeLimits {
        let ms = |v: Option<u64>, d: Duration| v.map_or(d, Duration::from_millis);
        EdgeLimits {
            max_in_flight: self.max_in_flight.unwrap_or(base.max_in_flight),
            max_queued: self.max_queued.unwrap_or(base.max_queued),
            queue_timeout: ms(self.queue_timeout_ms, base.queue_timeout),
            max_per_client: self.max_per_client.unwrap_or(base.max_per_client),
            retry_after: ms(self.retry_after_ms, base.retry_after),
            max_connections: self.max_connections.unwrap_or(base.max_connections),
            header_read_timeout: ms(self.header_read_timeout_ms, base.header_read_timeout),
            body_read_timeout: ms(self.body_read_timeout_ms, base.body_read_timeout),
            write_timeout: ms(self.write_timeout_ms, base.write_timeout),
            max_requests_per_connection: self
                .max_requests_per_connection
                .unwrap_or(base.max_requests_per_connection),
            max_header_bytes: self.max_header_bytes.unwrap_or(base.max_header_bytes),
            max_body_bytes: self.max_body_bytes.unwrap_or(base.max_body_bytes),
            drain_timeout: ms(self.drain_timeout_ms, base.drain_timeout),
        }
    }
}

impl HostConfig {
    /// Parses and checks a configuration.
    ///
    /// # Errors
    /// [`HostConfigError::Parse`], or a check of [`HostConfig::validate`].
    pub fn from_json(bytes: &[u8]) -> Result<Self, HostConfigError> {
        let config: Self = serde_json::from_slice(bytes).map_err(HostConfigError::Parse)?;
        config.validate()?;
        Ok(config)
    }

    /// Reads, parses and checks a configuration file (at most
    /// [`crate::supervisor::config::MAX_CONFIG_LEN`] bytes).
    ///
    /// # Errors
    /// [`HostConfigError::Read`], or as [`HostConfig::from_json`].
    pub fn load(path: &Path) -> Result<Self, HostConfigError> {
        let bytes = read_bounded(path).map_err(|source| HostConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_json(&bytes)
    }

    /// The checks serde cannot make: the supervisor's, the edge limits', and relays only with
    /// an allowlist (fail closed: no open proxy).
    ///
    /// # Errors
    /// The first failed check.
    pub fn validate(&self) -> Result<(), HostConfigError> {
        self.supervisor
            .validate()
            .map_err(HostConfigError::Supervisor)?;
        self.edge_limits().check().map_err(HostConfigError::Edge)?;
        if !self.relays.is_empty() && self.relay_allowlist.is_none() {
            return Err(HostConfigError::RelayAllowlistMissing);
        }
        Ok(())
    }

    /// The edge limits: the defaults with `edge`'s overrides.
    pub fn edge_limits(&self) -> EdgeLimits {
        self.edge.apply(EdgeLimits::default())
    }
}

/// An unusable `--config` file.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum HostConfigError {
    /// The file could not be read, or is too large.
    #[error("reading the host configuration {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Not JSON of the expected shape (the message names the field and line).
    #[error("host configuration: {0}")]
    Parse(#[source] serde_json::Error),
    /// The `supervisor` section fails its checks.
    #[error("host configuration, supervisor: {0}")]
    Supervisor(#[source] ConfigError),
    /// The `edge` section sets a limit to zero.
    #[error("host configuration, edge: {0}")]
    Edge(#[source] EdgeLimitsError),
    /// `relays` without `relay_allowlist`.
    #[error("host configuration: relays need relay_allowlist")]
    RelayAllowlistMissing,
}

impl HostConfigError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Read { .. } => "host.config_read",
            Self::Parse(_) => "host.config_parse",
            Self::Supervisor(e) => e.code(),
            Self::Edge(e) => e.code(),
            Self::RelayAllowlistMissing => "host.relay_allowlist_missing",
        }
    }

    /// What to do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            Self::Read { .. } => {
                "check that the --config file exists, is readable and under 64 KiB"
            }
            Self::Parse(_) => {
                "fix the field the message names; the shape is in the cloister_host::config docs and host/README.md"
            }
            Self::Supervisor(e) => e.hint(),
            Self::Edge(e) => e.hint(),
            Self::RelayAllowlistMissing => {
                "add relay_allowlist: a vsock-proxy allowlist file listing every relay destination"
            }
        }
    }
}

fn default_pccs_url() -> String {
    INTEL_PCS_URL.to_owned()
}

/// A list of values given in their command-line string form.
fn parsed_list<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr<Err = String>,
{
    Vec::<String>::deserialize(deserializer)?
        .iter()
        .map(|s| s.parse().map_err(serde::de::Error::custom))
        .collect()
}

/// An optional value given in its command-line string form.
fn parsed_option<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr<Err = String>,
{
    Option::<String>::deserialize(deserializer)?
        .map(|s| s.parse().map_err(serde::de::Error::custom))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOCK: &str = r#""supervisor": {"address": "unix:///run/e.sock",
        "enclave": {"kind": "mock", "binary": "/usr/bin/cloister-enclave"}}"#;

    fn parse(extra: &str) -> Result<HostConfig, HostConfigError> {
        HostConfig::from_json(format!(r#"{{"listen": "127.0.0.1:0", {MOCK}{extra}}}"#).as_bytes())
    }

    #[test]
    fn the_command_line_forms_are_accepted_in_the_file() {
        let c = parse(
            r#", "relays": ["unix:/run/r.sock=custodian.example.com:443"],
                "relay_allowlist": "/etc/a.yaml",
                "model_store": "unix:/run/m.sock=/var/models",
                "log_format": "text""#,
        )
        .expect("valid");
        assert_eq!(c.relays.len(), 1);
        assert_eq!(
            c.model_store.as_ref().map(ModelStoreSpec::dir),
            Some(Path::new("/var/models"))
        );
        assert_eq!(c.log_format, LogFormat::Text);
        assert_eq!(c.pccs_url, INTEL_PCS_URL);
    }

    #[test]
    fn every_unusable_file_is_refused_with_its_code() {
        let code = |extra: &str| parse(extra).expect_err("refused").code();
        assert_eq!(
            code(r#", "relays": ["unix:/r.sock=a.example:443"]"#),
            "host.relay_allowlist_missing"
        );
        assert_eq!(
            code(r#", "relays": ["a.example:443"]"#),
            "host.config_parse"
        );
        assert_eq!(
            code(r#", "edge": {"max_in_flight": 0}"#),
            "host.edge_limits"
        );
        assert_eq!(
            code(r#", "edge": {"max_inflight": 4}"#),
            "host.config_parse"
        );
        assert_eq!(code(r#", "listen_addr": "x""#), "host.config_parse");
        let nitro_on_unix = HostConfig::from_json(
            br#"{"listen": "127.0.0.1:0", "supervisor": {"address": "unix:///e.sock",
                 "enclave": {"kind": "nitro", "eif_path": "/e.eif", "cpu_count": 2, "memory_mib": 512}}}"#,
        )
        .expect_err("nitro needs vsock");
        assert_eq!(nitro_on_unix.code(), "supervisor.config_address");
        let missing = HostConfig::load(Path::new("/nonexistent/host.json")).expect_err("missing");
        assert_eq!(missing.code(), "host.config_read");
    }

    #[test]
    fn overrides_change_only_what_they_name() {
        let c =
            parse(r#", "edge": {"queue_timeout_ms": 250, "max_per_client": 300}"#).expect("valid");
        let limits = c.edge_limits();
        assert_eq!(limits.queue_timeout, Duration::from_millis(250));
        assert_eq!(limits.max_per_client, 300);
        assert_eq!(
            EdgeLimits {
                queue_timeout: EdgeLimits::default().queue_timeout,
                max_per_client: EdgeLimits::default().max_per_client,
                ..limits
            },
            EdgeLimits::default()
        );
    }
}
