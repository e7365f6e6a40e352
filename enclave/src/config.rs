//! The enclave's measured configuration: everything it trusts besides its own code.
//!
//! The custodian's public key (whose signature on a key release the enclave checks), the
//! publisher's public key (whose signature on a sealed model's manifest it checks), the models
//! it loads with the custodian key id of each, and its log level. The file is part of the
//! enclave's measurement on every platform (on the mock, PCR0 covers it through
//! [`mock_image_pcr0`](cloister_attestation::mock::mock_image_pcr0); on Nitro it is inside the
//! image), so an enclave started with another custodian or publisher key shows another
//! measurement, and a policy pinning the old one refuses it.
//!
//! ```
//! use cloister_enclave::config::EnclaveConfig;
//! let json = format!(
//!     r#"{{"custodian_pub":"{}","publisher_pub":"{}",
//!         "models":[{{"model_id":"credit-risk-v1","key_id":"credit-risk-v1"}}]}}"#,
//!     "11".repeat(32), "22".repeat(32));
//! let config = EnclaveConfig::from_json(json.as_bytes())?;
//! assert_eq!(config.models()[0].key_id, "credit-risk-v1");
//! # Ok::<(), cloister_enclave::config::ConfigError>(())
//! ```

use serde::Deserialize;
use thiserror::Error;

use crate::logging::LogLevel;

/// Most models one enclave loads from sealed artifacts.
pub const MAX_SEALED_MODELS: usize = 16;

/// A model the enclave unseals at start, and the custodian key that opens it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealedModelRef {
    /// The model id (the sealed artifact's and the manifest's).
    pub model_id: String,
    /// The custodian's key id for the model's data key.
    pub key_id: String,
}

/// The measured configuration (JSON, unknown fields rejected).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnclaveConfig {
    custodian_pub: [u8; 32],
    publisher_pub: [u8; 32],
    models: Vec<SealedModelRef>,
    log_level: LogLevel,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    custodian_pub: String,
    publisher_pub: String,
    models: Vec<SealedModelRef>,
    #[serde(default)]
    log_level: LogLevel,
}

/// The configuration file is not valid. Nothing starts.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// Not JSON of the documented shape.
    #[error("the enclave configuration is not valid JSON of the documented shape")]
    Malformed(#[source] serde_json::Error),
    /// A public key is not 64 hex digits.
    #[error("{field} must be 64 hex digits (an Ed25519 public key), found {found_len} characters")]
    BadKey {
        /// `custodian_pub` or `publisher_pub`.
        field: &'static str,
        /// Length of what was found.
        found_len: usize,
    },
    /// No models, too many, a bad id, or one listed twice.
    #[error("models: {problem}")]
    BadModels {
        /// What is wrong.
        problem: &'static str,
    },
}

impl ConfigError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "enclave.config.malformed",
            Self::BadKey { .. } => "enclave.config.bad_key",
            Self::BadModels { .. } => "enclave.config.bad_models",
        }
    }

    /// What to do.
    pub fn hint(&self) -> &'static str {
        match self {
            Self::Malformed(_) => {
                "fields: custodian_pub, publisher_pub (hex), models [{model_id, key_id}], log_level"
            }
            Self::BadKey { .. } => {
                "use `cloister-custodian pubkey` and `cloister model keygen` output as printed"
            }
            Self::BadModels { .. } => {
                "list 1 to 16 models, each once, with ids of letters, digits, '.', '_' or '-'"
            }
        }
    }
}

impl EnclaveConfig {
    /// Parses and checks the file form.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] naming the first problem.
    pub fn from_json(bytes: &[u8]) -> Result<Self, ConfigError> {
        let file: ConfigFile = serde_json::from_slice(bytes).map_err(ConfigError::Malformed)?;
        let key = |field: &'static str, hex_str: &str| {
            let mut out = [0u8; 32];
            hex::decode_to_slice(hex_str, &mut out).map_err(|_| ConfigError::BadKey {
                field,
                found_len: hex_str.len(),
            })?;
            Ok::<_, ConfigError>(out)
        };
        let custodian_pub = key("custodian_pub", &file.custodian_pub)?;
        let publisher_pub = key("publisher_pub", &file.publisher_pub)?;
        if file.models.is_empty() || file.models.len() > MAX_SEALED_MODELS {
            return Err(ConfigError::BadModels {
                problem: "between 1 and 16 models are required",
            });
        }
        let mut seen = std::collections::BTreeSet::new();
        for m in &file.models {
            if cloister_proto::key_release::validate_key_id(&m.key_id).is_err()
                || cloister_proto::key_release::validate_key_id(&m.model_id).is_err()
            {
                return Err(ConfigError::BadModels {
                    problem: "a model_id or key_id is not a valid id",
                });
            }
            if !seen.insert(m.model_id.as_str()) {
                return Err(ConfigError::BadModels {
                    problem: "a model_id is listed twice",
                });
            }
        }
        Ok(Self {
            custodian_pub,
            publisher_pub,
            models: file.models,
            log_level: file.log_level,
        })
    }

    /// The custodian's Ed25519 public key.
    pub fn custodian_pub(&self) -> &[u8; 32] {
        &self.custodian_pub
    }

    /// The model publisher's Ed25519 public key.
    pub fn publisher_pub(&self) -> &[u8; 32] {
        &self.publisher_pub
    }

    /// The models to unseal, in order.
    pub fn models(&self) -> &[SealedModelRef] {
        &self.models
    }

    /// The log level.
    pub fn log_level(&self) -> LogLevel {
        self.log_level
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(models: &str) -> String {
        format!(
            r#"{{"custodian_pub":"{}","publisher_pub":"{}","models":{models}}}"#,
            "11".repeat(32),
            "22".repeat(32)
        )
    }

    #[test]
    fn each_bad_file_has_its_code() {
        let ok = json(r#"[{"model_id":"m","key_id":"k"}]"#);
        let c = EnclaveConfig::from_json(ok.as_bytes()).expect("valid");
        assert_eq!(c.log_level(), LogLevel::Info);
        assert_eq!(c.custodian_pub(), &[0x11; 32]);
        for (bad, code) in [
            (json("[]"), "enclave.config.bad_models"),
            (
                json(r#"[{"model_id":"m","key_id":"k"},{"model_id":"m","key_id":"j"}]"#),
                "enclave.config.bad_models",
            ),
            (
                json(r#"[{"model_id":"../m","key_id":"k"}]"#),
                "enclave.config.bad_models",
            ),
            (ok.replace("\"11", "\"1"), "enclave.config.bad_key"),
            (ok.replace("models", "modles"), "enclave.config.malformed"),
            (
                ok.replace('}', r#","log_level":"debug"}"#),
                "enclave.config.malformed",
            ),
        ] {
            let e = EnclaveConfig::from_json(bad.as_bytes()).expect_err(&bad);
            assert_eq!(e.code(), code, "{bad}");
        }
    }
}
