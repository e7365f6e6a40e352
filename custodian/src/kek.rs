//! The key-encryption key (KEK) that wraps every data key at rest. The store holds only wrapped
//! DEKs; a plaintext DEK exists only between [`Kek::unwrap`] and the HPKE seal of one release.
//!
//! [`Kek`] is the seam for an HSM (PKCS#11) implementation: it wraps and unwraps, nothing else,
//! so a KEK that never leaves its hardware fits behind it. [`FileKek`] keeps 32 bytes in a file
//! of mode 0600 and wraps with AES-256-GCM: `wrapped = nonce (12, random) ‖ ciphertext (32) ‖
//! tag (16)`, AAD = the key id, so a wrapped DEK moved to another key id's entry does not unwrap.
//!
//! ```
//! use cloister_custodian::kek::{FileKek, Kek};
//! use cloister_proto::sealed::DataKey;
//! let kek = FileKek::from_bytes([3; 32]);
//! let wrapped = kek.wrap("model-1", &DataKey::from_bytes([9; 32]))?;
//! assert_eq!(kek.unwrap("model-1", &wrapped)?.expose(), &[9; 32]);
//! assert_eq!(kek.unwrap("model-2", &wrapped).unwrap_err().code(), "custodian.kek.unwrap_failed");
//! # Ok::<(), cloister_custodian::kek::KekError>(())
//! ```

use std::path::{Path, PathBuf};

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use cloister_proto::sealed::DataKey;
use zeroize::Zeroizing;

/// Length of a KEK (AES-256).
pub const KEK_LEN: usize = 32;
/// Length of a DEK wrapped by [`FileKek`].
pub const WRAPPED_LEN: usize = NONCE_LEN + 32 + 16;

/// Wraps and unwraps data keys. Implementations must bind the wrap to `key_id`.
pub trait Kek: Send + Sync {
    /// Wraps `dek` for the entry `key_id`.
    ///
    /// # Errors
    /// [`KekError::WrapFailed`] if the backend cannot wrap.
    fn wrap(&self, key_id: &str, dek: &DataKey) -> Result<Vec<u8>, KekError>;

    /// Unwraps a DEK wrapped for `key_id`.
    ///
    /// # Errors
    /// [`KekError::UnwrapFailed`] for another key id, another KEK, or modified bytes.
    fn unwrap(&self, key_id: &str, wrapped: &[u8]) -> Result<DataKey, KekError>;
}

/// A KEK kept in a local file (32 raw bytes, mode 0600). Development and single-host use; an
/// HSM-backed [`Kek`] replaces it in production.
pub struct FileKek {
    key: LessSafeKey,
}

impl FileKek {
    /// A KEK from its bytes.
    pub fn from_bytes(bytes: [u8; KEK_LEN]) -> Self {
        let bytes = Zeroizing::new(bytes);
        // AES-256 takes any 32 bytes: this cannot fail.
        let key = UnboundKey::new(&AES_256_GCM, &bytes[..]).unwrap_or_else(|_| unreachable!());
        Self {
            key: LessSafeKey::new(key),
        }
    }

    /// Loads the KEK file, refusing one that others can read.
    ///
    /// # Errors
    /// [`KekError::Read`], [`KekError::Permissions`] or [`KekError::BadLength`].
    pub fn load(path: &Path) -> Result<Self, KekError> {
        crate::files::check_private(path).map_err(|e| match e {
            crate::files::PrivateFileError::Io(source) => KekError::Read {
                path: path.to_owned(),
                source,
            },
            crate::files::PrivateFileError::Mode(mode) => KekError::Permissions {
                path: path.to_owned(),
                mode,
            },
        })?;
        let bytes = Zeroizing::new(std::fs::read(path).map_err(|source| KekError::Read {
            path: path.to_owned(),
            source,
        })?);
        let key: [u8; KEK_LEN] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| KekError::BadLength {
                path: path.to_owned(),
                len: bytes.len(),
            })?;
        Ok(Self::from_bytes(key))
    }
}

impl Kek for FileKek {
    fn wrap(&self, key_id: &str, dek: &DataKey) -> Result<Vec<u8>, KekError> {
        let mut nonce = [0; NONCE_LEN];
        // Random 96-bit nonces: a custodian wraps a handful of keys per KEK, far below the
        // 2^32 wraps at which random GCM nonces start to risk a collision.
        aws_lc_rs::rand::fill(&mut nonce).map_err(|_| KekError::WrapFailed)?;
        let mut out = Vec::with_capacity(WRAPPED_LEN);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(dek.expose());
        let mut body = out.split_off(NONCE_LEN);
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(key_id.as_bytes()),
                &mut body,
            )
            .map_err(|_| KekError::WrapFailed)?;
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
        let (nonce, sealed) = wrapped.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| failed())?;
        let mut buf = Zeroizing::new(sealed.to_vec());
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(key_id.as_bytes()), &mut buf)
            .map_err(|_| failed())?;
        let key: [u8; 32] = (&*plain).try_into().map_err(|_| failed())?;
        Ok(DataKey::from_bytes(key))
    }
}

/// Why the KEK could not be loaded or used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KekError {
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
}

impl KekError {
    /// A stable dotted code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Read { .. } => "custodian.kek.read",
            Self::Permissions { .. } => "custodian.kek.permissions",
            Self::BadLength { .. } => "custodian.kek.bad_length",
            Self::WrapFailed => "custodian.kek.wrap_failed",
            Self::UnwrapFailed { .. } => "custodian.kek.unwrap_failed",
        }
    }

    /// What to do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            Self::Read { .. } => {
                "check the kek path in custodian.json (`cloister-custodian init` writes one)"
            }
            Self::Permissions { .. } => "chmod 600 the KEK file",
            Self::BadLength { .. } => "the KEK file must hold exactly 32 random bytes",
            Self::WrapFailed => "retry; if it persists the system random source is failing",
            Self::UnwrapFailed { .. } => {
                "the key store and the KEK do not belong together: restore the KEK this store was written with"
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_are_fresh_and_bound_to_kek_and_key_id() {
        let kek = FileKek::from_bytes([1; 32]);
        let dek = DataKey::from_bytes([2; 32]);
        let a = kek.wrap("k", &dek).expect("wrap");
        let b = kek.wrap("k", &dek).expect("wrap");
        assert_eq!(a.len(), WRAPPED_LEN);
        assert_ne!(a, b, "random nonce");
        assert!(!a.windows(32).any(|w| w == [2; 32]), "no plaintext");
        assert!(FileKek::from_bytes([9; 32]).unwrap("k", &a).is_err());
        let mut flipped = a.clone();
        flipped[20] ^= 1;
        assert!(kek.unwrap("k", &flipped).is_err());
        assert!(kek.unwrap("k", &a[..40]).is_err());
    }

    #[test]
    fn a_kek_file_others_can_read_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("kek");
        std::fs::write(&path, [7; 32]).expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        assert_eq!(
            FileKek::load(&path).err().expect("mode").code(),
            "custodian.kek.permissions"
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        assert!(FileKek::load(&path).is_ok());
        std::fs::write(&path, [7; 31]).expect("write");
        assert_eq!(
            FileKek::load(&path).err().expect("len").code(),
            "custodian.kek.bad_length"
        );
    }
}
