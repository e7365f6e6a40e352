//! Why the enclave could not start: one typed error for `cloister-enclave`'s `run`, with a
//! stable code and a hint (printed as `cloister-enclave: error [code]: message` then the hint).

use std::path::PathBuf;

use thiserror::Error;

use crate::identity::IdentityError;
use crate::inference::ModelError;
use crate::platform::PlatformError;
use crate::runtime::RuntimeError;

/// The enclave could not start or stopped serving.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StartError {
    /// The log subscriber could not be installed (another one already is).
    #[error("installing the log subscriber")]
    Logging(#[source] tracing_subscriber::util::TryInitError),
    /// A flag that only SEV-SNP takes was given for another platform.
    #[error("{flag} is only for --platform snp")]
    FlagNeedsSnp {
        /// The flag.
        flag: &'static str,
    },
    /// `--relay`, `--kms-relay` or `--model-store` is not a `unix:` address (the only transport the enclave's
    /// outbound connections have off Nitro so far).
    #[error("{flag} must be unix:PATH (or vsock:CID:PORT inside an enclave VM)")]
    UnixAddressRequired {
        /// The flag.
        flag: &'static str,
    },
    /// `--platform mock` without `--mock-ca`.
    #[error("--platform mock needs --mock-ca DIR")]
    MissingMockCa,
    /// The enclave's own executable (measured by the mock platform) could not be located.
    #[error("locating the enclave's own executable")]
    CurrentExe(#[source] std::io::Error),
    /// The attestation backend could not be set up.
    #[error("attestation backend")]
    Platform(#[from] PlatformError),
    /// A model directory could not be loaded.
    #[error("model {}", dir.display())]
    Model {
        /// The `--model` directory.
        dir: PathBuf,
        /// Why it could not be loaded.
        #[source]
        source: ModelError,
    },
    /// `--config` could not be read.
    #[error("reading the enclave configuration {}", path.display())]
    ReadConfig {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// `--config` is not valid.
    #[error("the enclave configuration")]
    Config(#[from] crate::config::ConfigError),
    /// A model's key could not be released, or its sealed artifact fetched.
    #[error("releasing the key of model {model_id}")]
    KeyRelease {
        /// The model.
        model_id: String,
        /// Why (boxed: the custodian's denial carries its code, message and rule).
        #[source]
        source: Box<crate::key_release::KeyReleaseError>,
    },
    /// A model's key could not be taken from AWS KMS.
    #[error("taking the key of model {model_id} from AWS KMS")]
    Kms {
        /// The model.
        model_id: String,
        /// Why (boxed: KMS's refusal carries its exception and message).
        #[source]
        source: Box<crate::kms::KmsError>,
    },
    /// A sealed model did not unseal.
    #[error("unsealing model {model_id}")]
    Unseal {
        /// The model.
        model_id: String,
        /// Why.
        #[source]
        source: ModelError,
    },
    /// The identity keys could not be generated.
    #[error("identity keys")]
    Identity(#[from] IdentityError),
    /// The runtime could not be built from the models.
    #[error("runtime")]
    Runtime(#[from] RuntimeError),
    /// The async runtime could not be started.
    #[error("starting the async runtime")]
    AsyncRuntime(#[source] std::io::Error),
    /// Listening on `--listen` failed, or the listener stopped.
    #[error("listening on {addr}")]
    Listen {
        /// The address.
        addr: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl StartError {
    /// Stable code: the enclave's own for its checks, the component's for a component's error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Logging(_) => "enclave.logging",
            Self::FlagNeedsSnp { .. } => "enclave.flag_needs_snp",
            Self::MissingMockCa => "enclave.missing_mock_ca",
            Self::UnixAddressRequired { .. } => "enclave.unix_address_required",
            Self::CurrentExe(_) => "enclave.current_exe",
            Self::Platform(e) => e.code(),
            Self::Model { source, .. } => source.code(),
            Self::ReadConfig { .. } => "enclave.config.read",
            Self::Config(e) => e.code(),
            Self::KeyRelease { source, .. } => source.code(),
            Self::Kms { source, .. } => source.code(),
            Self::Unseal { source, .. } => source.code(),
            Self::Identity(e) => e.code(),
            Self::Runtime(e) => e.code(),
            Self::AsyncRuntime(_) => "enclave.async_runtime",
            Self::Listen { .. } => "enclave.listen",
        }
    }

    /// What to do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            Self::Logging(_) => "report this: the enclave installs its log subscriber once",
            Self::FlagNeedsSnp { .. } => "drop the flag, or use --platform snp",
            Self::MissingMockCa => "run `cloister mock init DIR` and pass --mock-ca DIR",
            Self::UnixAddressRequired { .. } => "give the host's socket as unix:/path/to/socket",
            Self::CurrentExe(_) | Self::AsyncRuntime(_) => {
                "check the enclave's /proc and resource limits, then restart"
            }
            Self::Platform(PlatformError::MockCa(e) | PlatformError::MockBoot(e)) => e.hint(),
            Self::Platform(e) if e.is_setup() => {
                "check --platform, and that the platform's device or configfs-tsm is there \
                 (use --platform mock outside an enclave); check the files the flags name"
            }
            Self::Platform(_) => "the platform failed to attest at start: restart the enclave",
            Self::Model { source, .. } | Self::Unseal { source, .. } => source.hint(),
            Self::ReadConfig { .. } => "check --config: the measured configuration file",
            Self::Config(e) => e.hint(),
            Self::KeyRelease { source, .. } => source.hint(),
            Self::Kms { source, .. } => source.hint(),
            Self::Identity(_) => "the key generator failed: check the enclave's entropy source",
            Self::Runtime(_) => "give each --model directory once, with its own model id",
            Self::Listen { .. } => {
                "check --listen: the socket's directory must exist, the port must be free"
            }
        }
    }

    /// The message with every source below it, `outer: inner: ...` (a source whose text a
    /// message above already quotes is not repeated).
    pub fn chain(&self) -> String {
        let mut msg = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(s) = source {
            let text = s.to_string();
            if !msg.contains(&text) {
                msg.push_str(": ");
                msg.push_str(&text);
            }
            source = s.source();
        }
        msg
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_name_the_check_or_delegate_and_the_chain_keeps_sources() {
        let e = StartError::FlagNeedsSnp { flag: "--snp-crl" };
        assert_eq!(e.code(), "enclave.flag_needs_snp");
        let e = StartError::from(PlatformError::NsmAbsent);
        assert_eq!(e.code(), "platform.nsm_absent");
        let e = StartError::Listen {
            addr: "unix:/x".into(),
            source: std::io::Error::from(std::io::ErrorKind::AddrInUse),
        };
        assert_eq!(e.code(), "enclave.listen");
        assert!(std::error::Error::source(&e).is_some());
        assert_ne!(e.chain(), e.to_string(), "the source is printed too");
    }
}
