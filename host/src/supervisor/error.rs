//! Why the supervisor could not start, restart or stop the enclave.

use std::path::PathBuf;

use thiserror::Error;

use super::config::ConfigError;

/// A lifecycle step that failed. Messages name programs, files and exit statuses, never
/// anything the enclave was sent.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SupervisorError {
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The enclave binary or `nitro-cli` could not be run.
    #[error("running {}: {source}", program.display())]
    Spawn {
        /// The executable.
        program: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The mock enclave's log file could not be opened.
    #[error("opening the enclave log {}: {source}", path.display())]
    LogFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// `nitro-cli` failed.
    #[error("nitro-cli {command} failed ({status}): {stderr}")]
    NitroCli {
        /// The subcommand, e.g. `run-enclave`.
        command: &'static str,
        /// How it ended: `exit status: 1`, or `no answer in 60000 ms`.
        status: String,
        /// The end of its standard error.
        stderr: String,
    },
    /// `nitro-cli` printed something that is not the JSON it documents.
    #[error("reading the output of nitro-cli {command}: {source}")]
    NitroCliOutput {
        /// The subcommand.
        command: &'static str,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// The enclave exited before it answered an attestation request.
    #[error("the enclave exited before it was ready: {how}")]
    ExitedBeforeReady {
        /// Its exit status, or what `nitro-cli describe-enclaves` said.
        how: String,
    },
    /// The enclave did not answer an attestation request in time.
    #[error("the enclave was not ready after {millis} ms (last attempt: {last})")]
    NotReady {
        /// Time waited.
        millis: u64,
        /// The code of the last failure (`host.enclave_unavailable`, an enclave error code, ...).
        last: String,
    },
    /// Shutdown was asked for while starting.
    #[error("shutting down")]
    ShuttingDown,
    /// The mock enclave could not be stopped.
    #[error("stopping the enclave: {0}")]
    Stop(#[source] std::io::Error),
    /// The supervising task ended abnormally (a panic).
    #[error("the supervisor task failed")]
    Monitor,
}

impl SupervisorError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Config(e) => e.code(),
            Self::Spawn { .. } => "supervisor.spawn",
            Self::LogFile { .. } => "supervisor.log_file",
            Self::NitroCli { .. } => "supervisor.nitro_cli",
            Self::NitroCliOutput { .. } => "supervisor.nitro_cli_output",
            Self::ExitedBeforeReady { .. } => "supervisor.exited_before_ready",
            Self::NotReady { .. } => "supervisor.not_ready",
            Self::ShuttingDown => "supervisor.shutting_down",
            Self::Stop(_) => "supervisor.stop",
            Self::Monitor => "supervisor.monitor",
        }
    }

    /// What to do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            Self::Config(e) => e.hint(),
            Self::Spawn { .. } => {
                "check enclave.binary (mock) or enclave.nitro_cli (Nitro): the path, and that it is executable"
            }
            Self::LogFile { .. } => {
                "check that enclave.log_file's directory exists and is writable"
            }
            Self::NitroCli { .. } => {
                "read nitro-cli's message; `nitro-cli explain E<code>` explains its error codes; check the EIF, CPU and memory against the allocator (/etc/nitro_enclaves/allocator.yaml)"
            }
            Self::NitroCliOutput { .. } => "check the nitro-cli version (1.2 or later prints JSON)",
            Self::ExitedBeforeReady { .. } => {
                "read the enclave's log (enclave.log_file, or `nitro-cli console` in debug mode)"
            }
            Self::NotReady { .. } => {
                "check that the enclave listens on the configured address; raise ready_timeout_ms if its start is slow"
            }
            Self::ShuttingDown => "none: the host is stopping",
            Self::Stop(_) => "stop the enclave process by hand",
            Self::Monitor => "restart the host, and report the log to the developers",
        }
    }
}
