//! [`FileKek`]: the KEK as 32 bytes in a local file of mode 0600, wrapping with AES-256-GCM in
//! process (aws-lc-rs). Development and single-host use; [`super::Pkcs11Kek`] keeps the KEK in
//! an HSM instead.
//!
//! ```
//! use cloister_custodian::kek::{FileKek, Kek, WRAPPED_LEN};
//! use cloister_proto::sealed::DataKey;
//! let kek = FileKek::from_bytes([3; 32]);
//! let wrapped = kek.wrap("model-1", &DataKey::from_bytes([9; 32]))?;
//! assert_eq!(wrapped.len(), WRAPPED_LEN);
//! assert_eq!(kek.unwrap("model-1", &wrapped)?.expose(), &[9; 32]);
//! # Ok::<(), cloister_custodian::kek::KekError>(())
//! ```

use std::path::Path;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::digest::{SHA256, digest};
use cloister_proto::sealed::DataKey;
use zeroize::Zeroizing;

use super::{KEK_LEN, Kek, KekError, WRAPPED_LEN};

/// Domain separation of [`Kek::kek_id`] for a file KEK.
const KEK_ID_CONTEXT: &[u8] = b"cloister/kek-id/v1";

/// A KEK kept in a local file (32 raw bytes, mode 0600). Development and single-host use; an
/// HSM-backed [`Kek`] replaces it in production.
pub struct FileKek {
    key: LessSafeKey,
    kek_id: String,
}

impl FileKek {
    /// A KEK from its bytes. Its [`Kek::kek_id`] is `file:` and the hex of the first 8 bytes of
    /// SHA-256(`cloister/kek-id/v1` ‖ key): it names the key without revealing it.
    ///
    /// ```
    /// use cloister_custodian::kek::{FileKek, Kek};
    /// let id = FileKek::from_bytes([3; 32]).kek_id();
    /// assert_eq!(id.len(), "file:".len() + 16);
    /// assert_eq!(id, FileKek::from_bytes([3; 32]).kek_id());
    /// assert_ne!(id, FileKek::from_bytes([4; 32]).kek_id());
    /// ```
    pub fn from_bytes(bytes: [u8; KEK_LEN]) -> Self {
        let bytes = Zeroizing::new(bytes);
        // AES-256 takes any 32 bytes: this cannot fail.
        let key = UnboundKey::new(&AES_256_GCM, &bytes[..]).unwrap_or_else(|_| unreachable!());
        let mut input = Zeroizing::new(Vec::with_capacity(KEK_ID_CONTEXT.len() + KEK_LEN));
        input.extend_from_slice(KEK_ID_CONTEXT);
        input.extend_from_slice(&bytes[..]);
        let hash = digest(&SHA256, &input);
        let prefix = hash.as_ref().get(..8).unwrap_or_default();
        Self {
            key: LessSafeKey::new(key),
            kek_id: format!("file:{}", hex::encode(prefix)),
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

    fn kek_id(&self) -> String {
        self.kek_id.clone()
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
    fn kek_id_is_stable() {
        // sha256(b"cloister/kek-id/v1" + bytes([1] * 32)).hexdigest()[:16], computed in Python:
        // the id is recorded beside wrapped keys, so it must never change for the same key.
        assert_eq!(
            FileKek::from_bytes([1; 32]).kek_id(),
            "file:52d94b6cd83c53fd"
        );
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
