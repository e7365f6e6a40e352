//! The enclave's measured configuration: everything it trusts besides its own code.
//!
//! The custodian's public key (whose signature on a key release the enclave checks), the
//! publisher's public key (whose signature on a sealed model's manifest it checks), the models
//! it loads with the custodian key id of each (or, instead, the AWS KMS key and
//! `CiphertextBlob` of each: [`crate::kms::config`]), and its log level. The file is part of the
//! enclave's measurement on every platform (on the mock, PCR0 covers it through
//! [`mock_image_pcr0`](cloister_attestation::mock::mock_image_pcr0); on Nitro it is inside the
//! image), so an enclave started with another custodian or publisher key shows another
//! measurement, and a policy pinning the old one refuses it.
//!
//! ```
//! use cloister_enclave::config::{EnclaveConfig, ModelKey};
//! let json = format!(
//!     r#"{{"custodian_pub":"{}","publisher_pub":"{}",
//!         "models":[{{"model_id":"credit-risk-v1","key_id":"credit-risk-v1"}}]}}"#,
//!     "11".repeat(32), "22".repeat(32));
//! let config = EnclaveConfig::from_json(json.as_bytes())?;
//! assert_eq!(
//!     config.models()[0].key,
//!     ModelKey::Custodian { key_id: "credit-risk-v1".into() }
//! );
//! # Ok::<(), cloister_enclave::config::ConfigError>(())
//! ```

use serde::Deserialize;
use thiserror::Error;

use crate::kms::config::{KmsFile, KmsKeyRef};
use crate::logging::LogLevel;

/// Most models one enclave loads from sealed artifacts.
pub const MAX_SEALED_MODELS: usize = 16;

/// A model the enclave unseals at start, and where its data key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedModelRef {
    /// The model id (the sealed artifact's and the manifest's).
    pub model_id: String,
    /// Who releases the model's data key.
    pub key: ModelKey,
}

/// Who releases a model's data key: exactly one of `key_id` and `kms` in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelKey {
    /// The Cloister custodian, under this key id (`"key_id"`).
    Custodian {
        /// The custodian's key id.
        key_id: String,
    },
    /// AWS KMS, to this enclave's attested RSA key (`"kms"`; see [`crate::kms`]).
    Kms(KmsKeyRef),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelFile {
    model_id: String,
    #[serde(default)]
    key_id: Option<String>,
    #[serde(default)]
    kms: Option<KmsFile>,
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
    models: Vec<ModelFile>,
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
    /// A model names neither or both of `key_id` and `kms`.
    #[error("model {model_id}: give exactly one of key_id (Cloister custodian) and kms (AWS KMS)")]
    KeySource {
        /// The model.
        model_id: String,
    },
    /// A field of a model's `kms` object is not valid.
    #[error("kms.{field} {problem}")]
    BadKms {
        /// The field.
        field: &'static str,
        /// What is wrong.
        problem: &'static str,
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
            Self::KeySource { .. } => "enclave.config.key_source",
            Self::BadKms { .. } => "enclave.config.bad_kms",
        }
    }

    /// What to do.
    pub fn hint(&self) -> &'static str {
        match self {
            Self::Malformed(_) => {
                "fields: custodian_pub, publisher_pub (hex), models [{model_id, key_id | kms}], log_level; kms: {region, key_id, ciphertext_blob, endpoint?, dangerous_kms_ca_pem?}"
            }
            Self::BadKey { .. } => {
                "use `cloister-custodian pubkey` and `cloister model keygen` output as printed"
            }
            Self::BadModels { .. } => {
                "list 1 to 16 models, each once, with ids of letters, digits, '.', '_' or '-'"
            }
            Self::KeySource { .. } => {
                "give each model either \"key_id\" or a \"kms\" object, not both (docs/kms.md)"
            }
            Self::BadKms { .. } => {
                "see docs/kms.md: region like eu-west-1, key_id the key ARN, ciphertext_blob the base64 CiphertextBlob of `aws kms encrypt`, endpoint https://HOST[:PORT]"
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
        let mut models = Vec::with_capacity(file.models.len());
        for m in file.models {
            if cloister_proto::key_release::validate_key_id(&m.model_id).is_err() {
                return Err(ConfigError::BadModels {
                    problem: "a model_id or key_id is not a valid id",
                });
            }
            if !seen.insert(m.model_id.clone()) {
                return Err(ConfigError::BadModels {
                    problem: "a model_id is listed twice",
                });
            }
            let key = match (m.key_id, m.kms) {
                (Some(key_id), None) => {
                    if cloister_proto::key_release::validate_key_id(&key_id).is_err() {
                        return Err(ConfigError::BadModels {
                            problem: "a model_id or key_id is not a valid id",
                        });
                    }
                    ModelKey::Custodian { key_id }
                }
                (None, Some(kms)) => ModelKey::Kms(kms.check()?),
                _ => {
                    return Err(ConfigError::KeySource {
                        model_id: m.model_id,
                    });
                }
            };
            models.push(SealedModelRef {
                model_id: m.model_id,
                key,
            });
        }
        Ok(Self {
            custodian_pub,
            publisher_pub,
            models,
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

    const KMS: &str = r#"{"region":"eu-west-1","key_id":"arn:aws:kms:eu-west-1:111122223333:key/k","ciphertext_blob":"AQID"}"#;

    #[test]
    fn a_kms_model_parses_with_its_defaults_and_overrides() {
        let c = EnclaveConfig::from_json(
            json(&format!(r#"[{{"model_id":"m","kms":{KMS}}}]"#)).as_bytes(),
        )
        .expect("valid");
        let ModelKey::Kms(kms) = &c.models()[0].key else {
            panic!("not kms")
        };
        assert_eq!(
            (kms.region(), kms.host(), kms.host_header().as_str()),
            (
                "eu-west-1",
                "kms.eu-west-1.amazonaws.com",
                "kms.eu-west-1.amazonaws.com"
            )
        );
        assert_eq!(kms.ciphertext_blob(), &[1, 2, 3]);
        assert!(kms.dangerous_ca_der().is_none());
        let with_endpoint = KMS.replace('}', r#","endpoint":"https://KMS.Mock.Test:8443"}"#);
        let c = EnclaveConfig::from_json(
            json(&format!(r#"[{{"model_id":"m","kms":{with_endpoint}}}]"#)).as_bytes(),
        )
        .expect("valid");
        let ModelKey::Kms(kms) = &c.models()[0].key else {
            panic!("not kms")
        };
        assert_eq!(
            (kms.host(), kms.host_header().as_str()),
            ("kms.mock.test", "kms.mock.test:8443")
        );
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
            (json(r#"[{"model_id":"m"}]"#), "enclave.config.key_source"),
            (
                json(&format!(r#"[{{"model_id":"m","key_id":"k","kms":{KMS}}}]"#)),
                "enclave.config.key_source",
            ),
            (
                json(&format!(
                    r#"[{{"model_id":"m","kms":{}}}]"#,
                    KMS.replace("eu-west-1", "EU WEST")
                )),
                "enclave.config.bad_kms",
            ),
            (
                json(&format!(
                    r#"[{{"model_id":"m","kms":{}}}]"#,
                    KMS.replace("AQID", "!!")
                )),
                "enclave.config.bad_kms",
            ),
            (
                json(&format!(
                    r#"[{{"model_id":"m","kms":{}}}]"#,
                    KMS.replace('}', r#","endpoint":"http://x"}"#)
                )),
                "enclave.config.bad_kms",
            ),
            (
                json(&format!(
                    r#"[{{"model_id":"m","kms":{}}}]"#,
                    KMS.replace('}', r#","dangerous_kms_ca_pem":"nope"}"#)
                )),
                "enclave.config.bad_kms",
            ),
            (
                json(&format!(
                    r#"[{{"model_id":"m","kms":{}}}]"#,
                    KMS.replace('}', r#","extra":1}"#)
                )),
                "enclave.config.malformed",
            ),
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
