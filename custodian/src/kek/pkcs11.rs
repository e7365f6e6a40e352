//! [`Pkcs11Kek`]: the KEK as an AES-256 secret key inside a PKCS#11 token (an HSM, or SoftHSM2
//! for tests). The key is generated in the token as sensitive and non-extractable and never
//! leaves it: every wrap and unwrap is a `C_Encrypt`/`C_Decrypt` with `CKM_AES_GCM` in the token
//! (PKCS#11 v2.40 §2.11.1 / v3.0 §2.14.1 for the GCM parameters).
//!
//! The wrapped format is the one [`super::FileKek`] writes: `iv (12) ‖ ciphertext (32) ‖ tag (16)`
//! with the key id as AAD and a 128-bit tag, so the store does not care which backend wrapped.
//!
//! Judgment calls:
//! - **IV.** 96 random bits from aws-lc-rs per wrap (the custodian wraps a handful of keys per
//!   KEK, far below the 2^32 wraps at which random GCM IVs start to risk a collision). A token in
//!   FIPS mode may instead write its own IV into the parameter buffer: the IV stored is read back
//!   from that buffer after `C_Encrypt`, so either way it is the IV the token used.
//! - **Sessions.** A PKCS#11 session must not be used by two threads at once. Each call takes
//!   an idle session from a small pool (or opens one) and puts it back after a success; a session
//!   that saw an error is closed, since it may hold a half-done operation. One more session is
//!   held only to keep the user logged in: PKCS#11 logs an application out of a token when its
//!   last session there closes.
//! - **One module context per process.** `C_Initialize` is per process: the loaded modules are
//!   kept in a process-wide table, and a module someone else initialised is used as it is.
//!   Login, too, is per application and token: a second [`Pkcs11Kek`] on a token this process
//!   is already logged in to (the old and new KEK of a rotation) gets `CKR_USER_ALREADY_LOGGED_IN`,
//!   which is accepted.
//! - **Refusing weak keys.** [`Pkcs11Kek::open`] refuses a key whose value the token would
//!   reveal or export (`CKA_SENSITIVE` false or `CKA_EXTRACTABLE` true), or that is not AES-256:
//!   such a KEK would not be the HSM-held key the store's protection rests on.
//!
//! ```no_run
//! use cloister_custodian::kek::{Kek, Pkcs11Config, Pkcs11Kek};
//! use cloister_proto::sealed::DataKey;
//! let config = Pkcs11Config {
//!     module: "/usr/lib/softhsm/libsofthsm2.so".into(),
//!     token_label: "cloister".into(),
//!     key_label: "cloister-kek-1".into(),
//!     pin_file: Some("/etc/cloister/hsm-pin".into()),
//!     pin_env: None,
//! };
//! // Once, when provisioning: the key is created inside the token.
//! Pkcs11Kek::generate(&config)?;
//! // Every start:
//! let kek = Pkcs11Kek::open(&config)?;
//! assert_eq!(kek.kek_id(), "pkcs11:cloister/cloister-kek-1");
//! let wrapped = kek.wrap("model-1", &DataKey::from_bytes([9; 32]))?;
//! assert_eq!(kek.unwrap("model-1", &wrapped)?.expose(), &[9; 32]);
//! # Ok::<(), cloister_custodian::kek::KekError>(())
//! ```

use std::fmt;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use cloister_proto::sealed::DataKey;
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::{RawAuthPin, Ulong};
use zeroize::Zeroizing;

use super::{IV_LEN, KEK_LEN, Kek, KekError, Pkcs11Config, TAG_LEN, WRAPPED_LEN};

/// Idle sessions kept for reuse; more concurrent calls open (and later close) extra sessions.
const MAX_IDLE_SESSIONS: usize = 8;

/// A KEK held in a PKCS#11 token. See the [module docs](self).
pub struct Pkcs11Kek {
    token_label: String,
    key_label: String,
    key: ObjectHandle,
    sessions: SessionPool,
}

impl Pkcs11Kek {
    /// Opens the KEK: loads the module, finds the token by label, logs in as user with the PIN
    /// from `pin_file` or `pin_env`, finds the secret key by label and checks it is a
    /// sensitive, non-extractable AES-256 key for encryption.
    ///
    /// # Errors
    /// The PIN source's ([`KekError::Pkcs11PinSource`], [`KekError::Pkcs11PinRead`],
    /// [`KekError::Pkcs11PinPermissions`], [`KekError::Pkcs11PinEnv`]),
    /// [`KekError::Pkcs11Module`], [`KekError::Pkcs11TokenNotFound`], [`KekError::Pkcs11Login`],
    /// [`KekError::Pkcs11KeyNotFound`], [`KekError::Pkcs11KeyUnsuitable`], or
    /// [`KekError::Pkcs11Token`] when the token fails.
    pub fn open(config: &Pkcs11Config) -> Result<Self, KekError> {
        let token = LoggedIn::new(config, false)?;
        let keys = token.secret_keys(&config.key_label)?;
        let [key] = keys[..] else {
            return Err(KekError::Pkcs11KeyNotFound {
                token_label: config.token_label.clone(),
                key_label: config.key_label.clone(),
                count: keys.len(),
            });
        };
        token.into_kek(config, key)
    }

    /// Creates the KEK inside the token, then opens it: an AES-256 secret key (`CKM_AES_KEY_GEN`)
    /// labelled `key_label`, with `CKA_TOKEN`, `CKA_PRIVATE` and `CKA_SENSITIVE` true,
    /// `CKA_EXTRACTABLE` false, and usable only to encrypt and decrypt. Refuses a label a secret
    /// key in the token already carries: a KEK that has wrapped keys must never be replaced.
    ///
    /// # Errors
    /// [`KekError::Pkcs11KeyExists`], and those of [`Pkcs11Kek::open`] but
    /// [`KekError::Pkcs11KeyNotFound`].
    pub fn generate(config: &Pkcs11Config) -> Result<Self, KekError> {
        let token = LoggedIn::new(config, true)?;
        if !token.secret_keys(&config.key_label)?.is_empty() {
            return Err(KekError::Pkcs11KeyExists {
                token_label: config.token_label.clone(),
                key_label: config.key_label.clone(),
            });
        }
        let value_len = Ulong::try_from(KEK_LEN).map_err(|e| token.error(e))?;
        let template = [
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::ValueLen(value_len),
            Attribute::Label(config.key_label.as_bytes().to_vec()),
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Encrypt(true),
            Attribute::Decrypt(true),
            Attribute::Wrap(false),
            Attribute::Unwrap(false),
            Attribute::Sign(false),
            Attribute::Verify(false),
            Attribute::Derive(false),
        ];
        let key = token
            .session
            .generate_key(&Mechanism::AesKeyGen, &template)
            .map_err(|e| token.error(e))?;
        token.into_kek(config, key)
    }

    fn token_error(&self, source: CkError) -> KekError {
        KekError::Pkcs11Token {
            token_label: self.token_label.clone(),
            source,
        }
    }
}

impl Kek for Pkcs11Kek {
    fn wrap(&self, key_id: &str, dek: &DataKey) -> Result<Vec<u8>, KekError> {
        let mut iv = [0; IV_LEN];
        aws_lc_rs::rand::fill(&mut iv).map_err(|_| KekError::WrapFailed)?;
        let body = self
            .sessions
            .run(|session| {
                let params = GcmParams::new(&mut iv, key_id.as_bytes(), tag_bits()?)?;
                session.encrypt(&Mechanism::AesGcm(params), self.key, dek.expose())
            })
            .map_err(|e| self.token_error(e))?;
        if body.len() != WRAPPED_LEN - IV_LEN {
            return Err(KekError::WrapFailed);
        }
        // `iv` now holds the IV the token used (see the module docs).
        let mut out = Vec::with_capacity(WRAPPED_LEN);
        out.extend_from_slice(&iv);
        out.extend_from_slice(&body);
        Ok(out)
    }

    fn unwrap(&self, key_id: &str, wrapped: &[u8]) -> Result<DataKey, KekError> {
        let failed = || KekError::UnwrapFailed {
            key_id: key_id.to_owned(),
        };
        if wrapped.len() != WRAPPED_LEN {
            return Err(failed());
        }
        let (iv, sealed) = wrapped.split_at(IV_LEN);
        let mut iv: [u8; IV_LEN] = iv.try_into().map_err(|_| failed())?;
        let plain = self.sessions.run(|session| {
            let params = GcmParams::new(&mut iv, key_id.as_bytes(), tag_bits()?)?;
            session
                .decrypt(&Mechanism::AesGcm(params), self.key, sealed)
                .map(Zeroizing::new)
        });
        let plain = match plain {
            Ok(plain) => plain,
            Err(e) if is_token_failure(&e) => return Err(self.token_error(e)),
            Err(_) => return Err(failed()),
        };
        let mut key = Zeroizing::new([0; KEK_LEN]);
        if plain.len() != key.len() {
            return Err(failed());
        }
        key.copy_from_slice(&plain);
        Ok(DataKey::from_bytes(*key))
    }

    fn kek_id(&self) -> String {
        format!("pkcs11:{}/{}", self.token_label, self.key_label)
    }
}

impl fmt::Debug for Pkcs11Kek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs11Kek")
            .field("kek_id", &self.kek_id())
            .finish_non_exhaustive()
    }
}

/// What makes a token key unsuitable as a KEK ([`KekError::Pkcs11KeyUnsuitable`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyProblem {
    /// Not an AES key of 32 bytes.
    NotAes256,
    /// `CKA_SENSITIVE` is not true: the token would reveal the key's value.
    NotSensitive,
    /// `CKA_EXTRACTABLE` is not false: the key can be wrapped out of the token.
    Extractable,
    /// `CKA_ENCRYPT` or `CKA_DECRYPT` is not true.
    CannotEncryptAndDecrypt,
}

impl fmt::Display for KeyProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotAes256 => "it is not an AES-256 key",
            Self::NotSensitive => "CKA_SENSITIVE is not true",
            Self::Extractable => "CKA_EXTRACTABLE is not false",
            Self::CannotEncryptAndDecrypt => "CKA_ENCRYPT and CKA_DECRYPT are not both true",
        })
    }
}

/// The GCM tag length in bits, as PKCS#11 takes it.
fn tag_bits() -> cryptoki::error::Result<Ulong> {
    Ulong::try_from(TAG_LEN * 8)
}

/// Whether a failed `C_Decrypt` is the token's or session's fault rather than the input's: those
/// are [`KekError::Pkcs11Token`]; everything else is [`KekError::UnwrapFailed`]. Tokens disagree
/// on how a GCM tag mismatch is reported: `CKR_ENCRYPTED_DATA_INVALID` by the spec's reading,
/// but SoftHSM2 2.6 answers `CKR_GENERAL_ERROR`, so no single code can be matched.
fn is_token_failure(e: &CkError) -> bool {
    match e {
        CkError::Pkcs11(rv, _) => matches!(
            rv,
            RvError::CryptokiNotInitialized
                | RvError::DeviceError
                | RvError::DeviceMemory
                | RvError::DeviceRemoved
                | RvError::HostMemory
                | RvError::KeyHandleInvalid
                | RvError::OperationActive
                | RvError::SessionClosed
                | RvError::SessionCount
                | RvError::SessionHandleInvalid
                | RvError::TokenNotPresent
                | RvError::TokenNotRecognized
                | RvError::UserNotLoggedIn
        ),
        CkError::LibraryLoading(_) | CkError::NullFunctionPointer | CkError::MissingSymbol(_) => {
            true
        }
        _ => false,
    }
}

/// Sessions on the KEK's token, each used by one thread at a time.
struct SessionPool {
    context: Pkcs11,
    slot: Slot,
    idle: Mutex<Vec<Session>>,
    /// Never used: held so that the application stays logged in (see the module docs).
    _login: Mutex<Session>,
}

impl SessionPool {
    /// Runs `op` on a session of its own.
    fn run<T>(
        &self,
        op: impl FnOnce(&Session) -> cryptoki::error::Result<T>,
    ) -> cryptoki::error::Result<T> {
        // A poisoned pool only means a thread panicked while pushing or popping; the sessions
        // in it are whole.
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let session = match idle {
            Some(session) => session,
            None => self.context.open_ro_session(self.slot)?,
        };
        // On error the session is dropped, which closes it: it may hold an unfinished operation.
        let out = op(&session)?;
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < MAX_IDLE_SESSIONS {
            idle.push(session);
        }
        Ok(out)
    }
}

/// A session logged in to the config's token, on the way to a [`Pkcs11Kek`].
struct LoggedIn {
    context: Pkcs11,
    slot: Slot,
    session: Session,
    token_label: String,
}

impl LoggedIn {
    /// Reads the PIN (before loading any code), loads the module, finds the token, opens a
    /// session (read-write to generate a key) and logs in as user.
    fn new(config: &Pkcs11Config, read_write: bool) -> Result<Self, KekError> {
        let mut pin = read_pin(config)?;
        // Moves the buffer (no copy) into the PIN type cryptoki takes, which zeroizes on drop.
        let pin = RawAuthPin::new(Box::new(std::mem::take(&mut *pin)));
        let context = load_module(&config.module)?;
        let token_error = |source| KekError::Pkcs11Token {
            token_label: config.token_label.clone(),
            source,
        };
        let slot = find_token(&context, &config.token_label).map_err(|e| match e {
            Ok(count) => KekError::Pkcs11TokenNotFound {
                token_label: config.token_label.clone(),
                count,
            },
            Err(source) => token_error(source),
        })?;
        let session = if read_write {
            context.open_rw_session(slot)
        } else {
            context.open_ro_session(slot)
        }
        .map_err(token_error)?;
        match session.login_with_raw(UserType::User, &pin) {
            // Login is per application and token: another KEK of this process logged in already.
            Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
            Err(source) => {
                return Err(KekError::Pkcs11Login {
                    token_label: config.token_label.clone(),
                    source,
                });
            }
        }
        Ok(Self {
            context,
            slot,
            session,
            token_label: config.token_label.clone(),
        })
    }

    fn error(&self, source: CkError) -> KekError {
        KekError::Pkcs11Token {
            token_label: self.token_label.clone(),
            source,
        }
    }

    /// The secret keys labelled `label`.
    fn secret_keys(&self, label: &str) -> Result<Vec<ObjectHandle>, KekError> {
        self.session
            .find_objects(&[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::Label(label.as_bytes().to_vec()),
            ])
            .map_err(|e| self.error(e))
    }

    /// Checks `key` and makes the KEK, keeping this session as the login holder.
    fn into_kek(self, config: &Pkcs11Config, key: ObjectHandle) -> Result<Pkcs11Kek, KekError> {
        let problem = self.key_problem(key)?;
        if let Some(problem) = problem {
            return Err(KekError::Pkcs11KeyUnsuitable {
                token_label: self.token_label,
                key_label: config.key_label.clone(),
                problem,
            });
        }
        Ok(Pkcs11Kek {
            token_label: self.token_label,
            key_label: config.key_label.clone(),
            key,
            sessions: SessionPool {
                context: self.context,
                slot: self.slot,
                idle: Mutex::new(Vec::new()),
                _login: Mutex::new(self.session),
            },
        })
    }

    /// What, if anything, disqualifies `key` as a KEK. An attribute the token does not report
    /// counts as the unsafe value.
    fn key_problem(&self, key: ObjectHandle) -> Result<Option<KeyProblem>, KekError> {
        let attributes = self
            .session
            .get_attributes(
                key,
                &[
                    AttributeType::KeyType,
                    AttributeType::ValueLen,
                    AttributeType::Sensitive,
                    AttributeType::Extractable,
                    AttributeType::Encrypt,
                    AttributeType::Decrypt,
                ],
            )
            .map_err(|e| self.error(e))?;
        let (mut aes, mut len) = (false, None);
        let (mut sensitive, mut extractable, mut encrypt, mut decrypt) =
            (false, true, false, false);
        for attribute in attributes {
            match attribute {
                Attribute::KeyType(t) => aes = t == KeyType::AES,
                Attribute::ValueLen(l) => len = Some(usize::from(l)),
                Attribute::Sensitive(b) => sensitive = b,
                Attribute::Extractable(b) => extractable = b,
                Attribute::Encrypt(b) => encrypt = b,
                Attribute::Decrypt(b) => decrypt = b,
                _ => {}
            }
        }
        Ok(if !aes || len != Some(KEK_LEN) {
            Some(KeyProblem::NotAes256)
        } else if !sensitive {
            Some(KeyProblem::NotSensitive)
        } else if extractable {
            Some(KeyProblem::Extractable)
        } else if !(encrypt && decrypt) {
            Some(KeyProblem::CannotEncryptAndDecrypt)
        } else {
            None
        })
    }
}

/// The user PIN from the one source the config names. Raw bytes: PKCS#11 PINs need not be UTF-8.
fn read_pin(config: &Pkcs11Config) -> Result<Zeroizing<Vec<u8>>, KekError> {
    match (&config.pin_file, &config.pin_env) {
        (Some(path), None) => {
            crate::files::check_private(path).map_err(|e| match e {
                crate::files::PrivateFileError::Io(source) => KekError::Pkcs11PinRead {
                    path: path.to_owned(),
                    source,
                },
                crate::files::PrivateFileError::Mode(mode) => KekError::Pkcs11PinPermissions {
                    path: path.to_owned(),
                    mode,
                },
            })?;
            let mut pin =
                Zeroizing::new(
                    std::fs::read(path).map_err(|source| KekError::Pkcs11PinRead {
                        path: path.to_owned(),
                        source,
                    })?,
                );
            // `echo PIN > file` leaves a newline that is not part of the PIN.
            if pin.last() == Some(&b'\n') {
                pin.pop();
                if pin.last() == Some(&b'\r') {
                    pin.pop();
                }
            }
            Ok(pin)
        }
        (None, Some(var)) => {
            let missing = || KekError::Pkcs11PinEnv { var: var.clone() };
            // `var_os` may panic on a name that cannot be a variable's.
            if var.is_empty() || var.contains(['=', '\0']) {
                return Err(missing());
            }
            let pin = std::env::var_os(var)
                .map(OsStringExt::into_vec)
                .filter(|pin| !pin.is_empty())
                .ok_or_else(missing)?;
            Ok(Zeroizing::new(pin))
        }
        (file, env) => Err(KekError::Pkcs11PinSource {
            given: usize::from(file.is_some()) + usize::from(env.is_some()),
        }),
    }
}

/// The process's context for `module`, loading and initialising it on first use.
fn load_module(module: &Path) -> Result<Pkcs11, KekError> {
    static LOADED: Mutex<Vec<(PathBuf, Pkcs11)>> = Mutex::new(Vec::new());
    let mut loaded = LOADED.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((_, context)) = loaded.iter().find(|(path, _)| path == module) {
        return Ok(context.clone());
    }
    let error = |source| KekError::Pkcs11Module {
        module: module.to_owned(),
        source,
    };
    let context = Pkcs11::new(module).map_err(error)?;
    match context.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        // Initialised already by another context on the same library in this process.
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(source) => return Err(error(source)),
    }
    loaded.push((module.to_owned(), context.clone()));
    Ok(context)
}

/// The one slot whose token is labelled `label`; `Err(Ok(count))` when `count != 1` carry it.
fn find_token(context: &Pkcs11, label: &str) -> Result<Slot, Result<usize, CkError>> {
    let mut found = Vec::new();
    for slot in context.get_slots_with_token().map_err(Err)? {
        if context.get_token_info(slot).map_err(Err)?.label() == label {
            found.push(slot);
        }
    }
    match found[..] {
        [slot] => Ok(slot),
        _ => Err(Ok(found.len())),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn config(pin_file: Option<PathBuf>, pin_env: Option<&str>) -> Pkcs11Config {
        Pkcs11Config {
            module: "/nonexistent/libpkcs11-module.so".into(),
            token_label: "t".into(),
            key_label: "k".into(),
            pin_file,
            pin_env: pin_env.map(str::to_owned),
        }
    }

    fn code(config: &Pkcs11Config) -> &'static str {
        Pkcs11Kek::open(config).expect_err("refused").code()
    }

    #[test]
    fn exactly_one_pin_source_is_needed() {
        assert_eq!(code(&config(None, None)), "custodian.kek.pkcs11_pin_source");
        let both = config(Some("pin".into()), Some("PIN"));
        assert_eq!(code(&both), "custodian.kek.pkcs11_pin_source");
        assert_eq!(
            Pkcs11Kek::generate(&both).expect_err("refused").code(),
            "custodian.kek.pkcs11_pin_source"
        );
    }

    #[test]
    fn a_pin_file_others_can_read_is_refused_before_the_module_loads() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("pin");
        std::fs::write(&path, "1234\n").expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        let c = config(Some(path.clone()), None);
        assert_eq!(code(&c), "custodian.kek.pkcs11_pin_permissions");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        // The PIN is read; the module does not exist.
        let e = Pkcs11Kek::open(&c).expect_err("refused");
        assert_eq!(e.code(), "custodian.kek.pkcs11_module");
        assert!(std::error::Error::source(&e).is_some());
        let missing = config(Some(dir.path().join("absent")), None);
        assert_eq!(code(&missing), "custodian.kek.pkcs11_pin_read");
    }

    #[test]
    fn a_pin_file_loses_one_trailing_newline_only() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("pin");
        for (content, pin) in [
            (&b"1234\n"[..], &b"1234"[..]),
            (b"1234\r\n", b"1234"),
            (b"12 34", b"12 34"),
            (b"1234\n\n", b"1234\n"),
        ] {
            std::fs::write(&path, content).expect("write");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
            let read = read_pin(&config(Some(path.clone()), None)).expect("pin");
            assert_eq!(read.as_slice(), pin);
        }
    }

    #[test]
    fn an_unset_or_impossible_pin_variable_is_refused() {
        for var in ["CLOISTER_TEST_SURELY_UNSET_PIN_VARIABLE", "", "A=B", "A\0B"] {
            assert_eq!(
                code(&config(None, Some(var))),
                "custodian.kek.pkcs11_pin_env",
                "{var:?}"
            );
        }
    }

    #[test]
    fn every_error_has_a_pkcs11_code_and_a_hint() {
        let errors = [
            KekError::Pkcs11PinSource { given: 0 },
            KekError::Pkcs11PinEnv { var: "V".into() },
            KekError::Pkcs11TokenNotFound {
                token_label: "t".into(),
                count: 0,
            },
            KekError::Pkcs11KeyNotFound {
                token_label: "t".into(),
                key_label: "k".into(),
                count: 2,
            },
            KekError::Pkcs11KeyExists {
                token_label: "t".into(),
                key_label: "k".into(),
            },
            KekError::Pkcs11KeyUnsuitable {
                token_label: "t".into(),
                key_label: "k".into(),
                problem: KeyProblem::Extractable,
            },
            KekError::Pkcs11Login {
                token_label: "t".into(),
                source: CkError::Pkcs11(RvError::PinIncorrect, cryptoki::context::Function::Login),
            },
        ];
        for e in errors {
            assert!(e.code().starts_with("custodian.kek.pkcs11_"), "{e}");
            assert!(!e.hint().is_empty());
        }
    }
}
