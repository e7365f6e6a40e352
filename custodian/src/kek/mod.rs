//! The key-encryption key (KEK) that wraps every data key at rest. The store holds only wrapped
//! DEKs; a plaintext DEK exists only between [`Kek::unwrap`] and the HPKE seal of one release.
//!
//! [`Kek`] wraps and unwraps, nothing else, so a KEK that never leaves its hardware fits behind
//! it. Two backends share one wrapped format, AES-256-GCM with the key id as AAD:
//! `wrapped = iv (12, random) ‖ ciphertext (32) ‖ tag (16)` ([`WRAPPED_LEN`] bytes), so a
//! wrapped DEK moved to another key id's entry does not unwrap.
//!
//! | module | backend | the KEK lives |
//! |---|---|---|
//! | [`file`](mod@file) | [`FileKek`] | in a local file of mode 0600 (development, single host) |
//! | [`pkcs11`](mod@pkcs11) | [`Pkcs11Kek`] | inside a PKCS#11 token (an HSM), never extractable |
//!
//! [`KekConfig`] names one of them and [`open_kek`] opens it.
//!
//! ```
//! use cloister_custodian::kek::{FileKek, Kek};
//! use cloister_proto::sealed::DataKey;
//! let kek = FileKek::from_bytes([3; 32]);
//! let wrapped = kek.wrap("model-1", &DataKey::from_bytes([9; 32]))?;
//! assert_eq!(kek.unwrap("model-1", &wrapped)?.expose(), &[9; 32]);
//! assert_eq!(kek.unwrap("model-2", &wrapped).unwrap_err().code(), "custodian.kek.unwrap_failed");
//! assert!(kek.kek_id().starts_with("file:"));
//! # Ok::<(), cloister_custodian::kek::KekError>(())
//! ```

pub mod file;
pub mod pkcs11;
mod ring;

use std::path::{Path, PathBuf};

use cloister_proto::sealed::DataKey;
use serde::{Deserialize, Serialize};

pub use file::FileKek;
pub use pkcs11::{KeyProblem, Pkcs11Kek};
pub use ring::KekRing;

/// Length of a KEK (AES-256), in a file or in a token.
pub const KEK_LEN: usize = 32;
/// Length of a wrapped DEK, for every backend: IV (12) ‖ ciphertext (32) ‖ GCM tag (16).
pub const WRAPPED_LEN: usize = IV_LEN + 32 + TAG_LEN;
/// AES-GCM IV length of a wrap.
pub(crate) const IV_LEN: usize = 12;
/// AES-GCM tag length of a wrap.
pub(crate) const TAG_LEN: usize = 16;

/// Wraps and unwraps data keys. Implementations must bind the wrap to `key_id`.
///
/// `Send + Sync`: the custodian calls one KEK from many tokio tasks at once.
pub trait Kek: Send + Sync {
    /// Wraps `dek` for the entry `key_id`.
    ///
    /// # Errors
    /// [`KekError::WrapFailed`] if the backend cannot wrap; a PKCS#11 KEK also
    /// [`KekError::Pkcs11Token`] when the token fails.
    fn wrap(&self, key_id: &str, dek: &DataKey) -> Result<Vec<u8>, KekError>;

    /// Unwraps a DEK wrapped for `key_id`.
    ///
    /// # Errors
    /// [`KekError::UnwrapFailed`] for another key id, another KEK, or modified bytes; a PKCS#11
    /// KEK also [`KekError::Pkcs11Token`] when the token fails.
    fn unwrap(&self, key_id: &str, wrapped: &[u8]) -> Result<DataKey, KekError>;

    /// A stable, non-secret name of this KEK, recorded beside what it wrapped (rotation, audit):
    /// `file:<16 hex digits>` for a [`FileKek`], `pkcs11:<token label>/<key label>` for a
    /// [`Pkcs11Kek`].
    fn kek_id(&self) -> String;
}

/// Which KEK the custodian uses: a `custodian.json` value.
///
/// Either a KEK file:
///
/// ```json
/// { "file": "kek.bin" }
/// ```
///
/// or an AES-256 key inside a PKCS#11 token, whose user PIN comes from a file of mode 0600
/// (`pin_file`) or an environment variable (`pin_env`), exactly one of the two; the PIN itself
/// never appears in the config:
///
/// ```json
/// {
///   "pkcs11": {
///     "module": "/usr/lib/softhsm/libsofthsm2.so",
///     "token_label": "cloister",
///     "key_label": "cloister-kek-1",
///     "pin_file": "hsm-pin"
///   }
/// }
/// ```
///
/// ```
/// use cloister_custodian::kek::KekConfig;
/// let config: KekConfig = serde_json::from_str(
///     r#"{"pkcs11": {"module": "/usr/lib/softhsm/libsofthsm2.so", "token_label": "cloister",
///        "key_label": "cloister-kek-1", "pin_env": "CLOISTER_HSM_PIN"}}"#,
/// )?;
/// assert!(matches!(config, KekConfig::Pkcs11(_)));
/// let file: KekConfig = serde_json::from_str(r#"{"file": "kek.bin"}"#)?;
/// assert_eq!(file, KekConfig::File("kek.bin".into()));
/// assert!(serde_json::from_str::<KekConfig>(r#"{"file": "kek.bin", "extra": 1}"#).is_err());
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum KekConfig {
    /// A KEK file (32 random bytes, mode 0600): [`FileKek::load`].
    File(PathBuf),
    /// An AES-256 key in a PKCS#11 token: [`Pkcs11Kek::open`].
    Pkcs11(Pkcs11Config),
}

impl KekConfig {
    /// Resolves relative paths against `base` (the directory of `custodian.json`): the KEK file,
    /// the PIN file, and a module path with a directory in it. A bare module file name
    /// (`libsofthsm2.so`) is left for the dynamic loader's search path.
    ///
    /// ```
    /// use std::path::Path;
    /// use cloister_custodian::kek::KekConfig;
    /// let mut config = KekConfig::File("kek.bin".into());
    /// config.resolve_paths(Path::new("/etc/cloister"));
    /// assert_eq!(config, KekConfig::File("/etc/cloister/kek.bin".into()));
    /// ```
    pub fn resolve_paths(&mut self, base: &Path) {
        let resolve = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        match self {
            Self::File(path) => resolve(path),
            Self::Pkcs11(config) => {
                if config.module.components().count() > 1 {
                    resolve(&mut config.module);
                }
                if let Some(pin_file) = config.pin_file.as_mut() {
                    resolve(pin_file);
                }
            }
        }
    }
}

/// Where a [`Pkcs11Kek`] lives and how to log in to its token. See [`KekConfig`] for the JSON.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pkcs11Config {
    /// The PKCS#11 module (shared library) to load, such as
    /// `/usr/lib/softhsm/libsofthsm2.so`. Loading it runs its code: name only a trusted file.
    pub module: PathBuf,
    /// The label of the token holding the KEK.
    pub token_label: String,
    /// The label (`CKA_LABEL`) of the AES-256 secret key inside that token.
    pub key_label: String,
    /// A file holding the user PIN (mode 0600; one trailing newline is ignored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin_file: Option<PathBuf>,
    /// The name of an environment variable holding the user PIN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin_env: Option<String>,
}

/// Opens the KEK `config` names.
///
/// # Errors
/// Those of [`FileKek::load`] or [`Pkcs11Kek::open`].
///
/// ```
/// use cloister_custodian::kek::{KekConfig, open_kek};
/// let missing = KekConfig::File("/nonexistent/kek.bin".into());
/// assert_eq!(open_kek(&missing).err().map(|e| e.code()), Some("custodian.kek.read"));
/// ```
pub fn open_kek(config: &KekConfig) -> Result<Box<dyn Kek>, KekError> {
    Ok(match config {
        KekConfig::File(path) => Box::new(FileKek::load(path)?),
        KekConfig::Pkcs11(config) => Box::new(Pkcs11Kek::open(config)?),
    })
}

/// Why the KEK could not be loaded or used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KekError {
    /// A DEK is wrapped under a KEK this custodian has not loaded.
    #[error("key {key_id} is wrapped under KEK {kek_id}, which is not loaded")]
    UnknownKekId {
        /// The key id.
        key_id: String,
        /// The KEK its entry names.
        kek_id: String,
    },
    /// The KEK file cannot be read.
    #[error("cannot read the KEK file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The KEK file is readable or writable by group or others.
    #[error("the KEK file {path} has mode {mode:o}; it must be readable by its owner only")]
    Permissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The KEK file is not 32 bytes.
    #[error("the KEK file {path} holds {len} bytes, a KEK is {KEK_LEN}")]
    BadLength {
        /// The file.
        path: PathBuf,
        /// Its length.
        len: usize,
    },
    /// Wrapping failed (the random source or the cipher).
    #[error("cannot wrap the data key")]
    WrapFailed,
    /// The wrapped DEK does not open under this KEK for this key id.
    #[error("the wrapped data key of {key_id} does not unwrap under this KEK")]
    UnwrapFailed {
        /// The key id.
        key_id: String,
    },
    /// The PKCS#11 config names no PIN source, or both.
    #[error(
        "the pkcs11 KEK config names {given} PIN sources; exactly one of pin_file and pin_env is needed"
    )]
    Pkcs11PinSource {
        /// How many of `pin_file` and `pin_env` are set (0 or 2).
        given: usize,
    },
    /// The PIN file cannot be read.
    #[error("cannot read the PKCS#11 PIN file {path}: {source}")]
    Pkcs11PinRead {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The PIN file is readable or writable by group or others.
    #[error("the PKCS#11 PIN file {path} has mode {mode:o}; it must be readable by its owner only")]
    Pkcs11PinPermissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The PIN environment variable is unset or empty.
    #[error("the PKCS#11 PIN environment variable {var} is unset or empty")]
    Pkcs11PinEnv {
        /// The variable's name.
        var: String,
    },
    /// The PKCS#11 module cannot be loaded or initialised.
    #[error("cannot load the PKCS#11 module {module}: {source}")]
    Pkcs11Module {
        /// The module path.
        module: PathBuf,
        /// The loader's or `C_Initialize`'s error.
        #[source]
        source: cryptoki::error::Error,
    },
    /// No token, or more than one, carries the label.
    #[error("{count} PKCS#11 tokens are labelled {token_label:?}; exactly one is needed")]
    Pkcs11TokenNotFound {
        /// The label looked for.
        token_label: String,
        /// How many tokens carry it (0, or more than 1).
        count: usize,
    },
    /// The token refused the user PIN (wrong, locked, expired).
    #[error("cannot log in to the PKCS#11 token {token_label:?} as user: {source}")]
    Pkcs11Login {
        /// The token.
        token_label: String,
        /// The token's refusal.
        #[source]
        source: cryptoki::error::Error,
    },
    /// No secret key, or more than one, carries the label.
    #[error(
        "{count} secret keys in the PKCS#11 token {token_label:?} are labelled {key_label:?}; exactly one is needed"
    )]
    Pkcs11KeyNotFound {
        /// The token.
        token_label: String,
        /// The key label looked for.
        key_label: String,
        /// How many secret keys carry it (0, or more than 1).
        count: usize,
    },
    /// `generate` found a secret key with the label already.
    #[error("the PKCS#11 token {token_label:?} already holds a secret key labelled {key_label:?}")]
    Pkcs11KeyExists {
        /// The token.
        token_label: String,
        /// The key label.
        key_label: String,
    },
    /// The key with the label is not a KEK this custodian will use.
    #[error("the key {key_label:?} in the PKCS#11 token {token_label:?} is unsuitable: {problem}")]
    Pkcs11KeyUnsuitable {
        /// The token.
        token_label: String,
        /// The key label.
        key_label: String,
        /// What is wrong with it.
        problem: KeyProblem,
    },
    /// A token operation failed (session, search, key generation, cipher).
    #[error("the PKCS#11 token {token_label:?} failed: {source}")]
    Pkcs11Token {
        /// The token.
        token_label: String,
        /// The token's error (it names the PKCS#11 function).
        #[source]
        source: cryptoki::error::Error,
    },
}

impl KekError {
    /// A stable dotted code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnknownKekId { .. } => "custodian.kek.unknown_kek_id",
            Self::Read { .. } => "custodian.kek.read",
            Self::Permissions { .. } => "custodian.kek.permissions",
            Self::BadLength { .. } => "custodian.kek.bad_length",
            Self::WrapFailed => "custodian.kek.wrap_failed",
            Self::UnwrapFailed { .. } => "custodian.kek.unwrap_failed",
            Self::Pkcs11PinSource { .. } => "custodian.kek.pkcs11_pin_source",
            Self::Pkcs11PinRead { .. } => "custodian.kek.pkcs11_pin_read",
            Self::Pkcs11PinPermissions { .. } => "custodian.kek.pkcs11_pin_permissions",
            Self::Pkcs11PinEnv { .. } => "custodian.kek.pkcs11_pin_env",
            Self::Pkcs11Module { .. } => "custodian.kek.pkcs11_module",
            Self::Pkcs11TokenNotFound { .. } => "custodian.kek.pkcs11_token_not_found",
            Self::Pkcs11Login { .. } => "custodian.kek.pkcs11_login",
            Self::Pkcs11KeyNotFound { .. } => "custodian.kek.pkcs11_key_not_found",
            Self::Pkcs11KeyExists { .. } => "custodian.kek.pkcs11_key_exists",
            Self::Pkcs11KeyUnsuitable { .. } => "custodian.kek.pkcs11_key_unsuitable",
            Self::Pkcs11Token { .. } => "custodian.kek.pkcs11_token",
        }
    }

    /// What to do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            Self::UnknownKekId { .. } => {
                "list the KEK that wrapped it in previous_keks of custodian.json (rotate-kek moves every key to the current one)"
            }
            Self::Read { .. } => {
                "check the kek path in custodian.json (`cloister-custodian init` writes one)"
            }
            Self::Permissions { .. } => "chmod 600 the KEK file",
            Self::BadLength { .. } => "the KEK file must hold exactly 32 random bytes",
            Self::WrapFailed => "retry; if it persists the system random source is failing",
            Self::UnwrapFailed { .. } => {
                "the key store and the KEK do not belong together: restore the KEK this store was written with"
            }
            Self::Pkcs11PinSource { .. } => {
                "set exactly one of pin_file (a file of mode 0600) and pin_env (a variable name) in the pkcs11 KEK config"
            }
            Self::Pkcs11PinRead { .. } => "check the pin_file path in the pkcs11 KEK config",
            Self::Pkcs11PinPermissions { .. } => "chmod 600 the PIN file",
            Self::Pkcs11PinEnv { .. } => {
                "export the variable named by pin_env with the token's user PIN before starting the custodian"
            }
            Self::Pkcs11Module { .. } => {
                "check the module path in the pkcs11 KEK config (for SoftHSM2, scripts/softhsm.sh prints it)"
            }
            Self::Pkcs11TokenNotFound { .. } => {
                "check token_label against the module's tokens (`softhsm2-util --show-slots`, `pkcs11-tool -L`); labels must be unique"
            }
            Self::Pkcs11Login { .. } => {
                "check the user PIN; a token locks the user PIN after too many wrong tries and the SO must reset it"
            }
            Self::Pkcs11KeyNotFound { .. } => {
                "check key_label, or create the KEK in the token first (Pkcs11Kek::generate); labels must be unique"
            }
            Self::Pkcs11KeyExists { .. } => {
                "choose a new key_label; never replace a KEK that has wrapped keys"
            }
            Self::Pkcs11KeyUnsuitable { .. } => {
                "use an AES-256 key with CKA_SENSITIVE true, CKA_EXTRACTABLE false and CKA_ENCRYPT/CKA_DECRYPT true (Pkcs11Kek::generate makes one)"
            }
            Self::Pkcs11Token { .. } => {
                "check the token (connected, not full); the error names the PKCS#11 function that failed"
            }
        }
    }
}
