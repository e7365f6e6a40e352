//! The enclave's log filter: part of its own, measured configuration, never of its environment.
//!
//! The host starts the enclave and controls its environment, so `RUST_LOG` is ignored. The
//! level comes from the enclave's command line (`--log-level`), which the launch measures (in a
//! Nitro EIF the command line is part of the image, in PCR0 and PCR2; for the mock platform
//! only the executable is measured, see SECURITY.md). The most verbose level allowed is `info`:
//! there is no way to ask for `debug` or `trace`. Every target outside this crate (`ohttp`, which
//! logs its HKDF outputs, i.e. response keys, at trace; `tract`, which logs model parameters at
//! trace; and every other dependency) is capped at `warn` whatever the level.
//!
//! What this crate logs at `info`: its public keys, the loaded models' ids, versions and
//! digests, and where it listens, once at boot; per request only that a request was served.

use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::Targets;

/// The crate whose own events pass at the configured level; every other target is capped.
pub const OWN_TARGET: &str = "cloister_enclave";

/// The most verbose level any dependency may log at inside the enclave.
pub const DEPENDENCY_MAX_LEVEL: LevelFilter = LevelFilter::WARN;

/// The levels the enclave accepts. There is deliberately no `debug` or `trace`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    clap::ValueEnum,
    serde::Deserialize,
    serde::Serialize,
)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Errors only.
    Error,
    /// Errors and warnings.
    Warn,
    /// Boot facts (public keys, model digests, listen address) and one line per served request.
    #[default]
    Info,
}

impl LogLevel {
    fn filter(self) -> LevelFilter {
        match self {
            Self::Error => LevelFilter::ERROR,
            Self::Warn => LevelFilter::WARN,
            Self::Info => LevelFilter::INFO,
        }
    }
}

/// The filter for `level`: this crate at `level`, everything else at `level` or
/// [`DEPENDENCY_MAX_LEVEL`], whichever is less verbose.
pub fn filter(level: LogLevel) -> Targets {
    let own = level.filter();
    Targets::new()
        .with_target(OWN_TARGET, own)
        .with_default(own.min(DEPENDENCY_MAX_LEVEL))
}

/// Installs the process-wide subscriber (stderr, plain text without colour codes) with
/// [`filter`]`(level)`. Events from the `log` crate (which `ohttp` and `tract` use) go through
/// the same filter. Reads no environment variable.
///
/// # Errors
/// When a global subscriber is already installed.
pub fn init(level: LogLevel) -> Result<(), tracing_subscriber::util::TryInitError> {
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(false)
                .with_filter(filter(level)),
        )
        .try_init()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    #[test]
    fn nothing_logs_below_info_and_dependencies_stay_at_warn() {
        for level in [LogLevel::Error, LogLevel::Warn, LogLevel::Info] {
            let f = filter(level);
            for target in [
                OWN_TARGET,
                "cloister_enclave::gateway",
                "ohttp::rh::hkdf",
                "tract_onnx",
                "tract_core::model",
                "bhttp",
                "tokio",
                "",
            ] {
                assert!(!f.would_enable(target, &Level::DEBUG), "{target} at debug");
                assert!(!f.would_enable(target, &Level::TRACE), "{target} at trace");
                assert!(f.would_enable(target, &Level::ERROR), "{target} at error");
            }
            for dep in [
                "ohttp::rh::hkdf",
                "ohttp",
                "tract_onnx::model",
                "tract_core",
                "hyper",
            ] {
                assert!(!f.would_enable(dep, &Level::INFO), "{dep} at info");
            }
        }
        let f = filter(LogLevel::Info);
        assert!(f.would_enable("cloister_enclave::server", &Level::INFO));
        let f = filter(LogLevel::Warn);
        assert!(!f.would_enable("cloister_enclave::server", &Level::INFO));
        assert!(f.would_enable("cloister_enclave::server", &Level::WARN));
        let f = filter(LogLevel::Error);
        assert!(!f.would_enable("cloister_enclave", &Level::WARN));
        assert!(!f.would_enable("ohttp", &Level::WARN));
    }

    #[test]
    fn the_command_line_offers_no_debug_or_trace() {
        use clap::ValueEnum;
        let names: Vec<String> = LogLevel::value_variants()
            .iter()
            .filter_map(|v| v.to_possible_value().map(|p| p.get_name().to_owned()))
            .collect();
        assert_eq!(names, ["error", "warn", "info"]);
        assert!(LogLevel::from_str("debug", true).is_err());
        assert!(LogLevel::from_str("trace", true).is_err());
    }
}
