//! The KEKs a custodian holds: the current one, which wraps every new DEK, and the previous
//! ones, which only unwrap, until `rotate-kek` has moved every entry to the current one. Each
//! entry names the KEK that wrapped it, so unwrapping never guesses.

use cloister_proto::sealed::DataKey;

use super::{Kek, KekError};

/// The current KEK and the previous ones, each known by its [`Kek::kek_id`].
///
/// ```
/// use cloister_custodian::kek::{FileKek, Kek, KekRing};
/// use cloister_proto::sealed::DataKey;
/// let old = KekRing::new(Box::new(FileKek::from_bytes([1; 32])), vec![]);
/// let (wrapped, old_id) = old.wrap("m", &DataKey::from_bytes([9; 32]))?;
/// let ring = KekRing::new(Box::new(FileKek::from_bytes([2; 32])), vec![Box::new(FileKek::from_bytes([1; 32]))]);
/// assert_eq!(ring.unwrap("m", &old_id, &wrapped)?.expose(), &[9; 32]);
/// assert_ne!(ring.current_id(), old_id);
/// # Ok::<(), cloister_custodian::kek::KekError>(())
/// ```
pub struct KekRing {
    current: Box<dyn Kek>,
    current_id: String,
    previous: Vec<(String, Box<dyn Kek>)>,
}

impl KekRing {
    /// A ring wrapping with `current`, unwrapping with it and `previous`.
    pub fn new(current: Box<dyn Kek>, previous: Vec<Box<dyn Kek>>) -> Self {
        Self {
            current_id: current.kek_id(),
            current,
            previous: previous.into_iter().map(|k| (k.kek_id(), k)).collect(),
        }
    }

    /// The id of the KEK new DEKs are wrapped under.
    pub fn current_id(&self) -> &str {
        &self.current_id
    }

    /// Wraps under the current KEK; returns the wrapped DEK and the KEK's id.
    ///
    /// # Errors
    /// As [`Kek::wrap`].
    pub fn wrap(&self, key_id: &str, dek: &DataKey) -> Result<(Vec<u8>, String), KekError> {
        Ok((self.current.wrap(key_id, dek)?, self.current_id.clone()))
    }

    /// Unwraps with the KEK named `kek_id`.
    ///
    /// # Errors
    /// [`KekError::UnknownKekId`] when that KEK is not loaded; as [`Kek::unwrap`].
    pub fn unwrap(&self, key_id: &str, kek_id: &str, wrapped: &[u8]) -> Result<DataKey, KekError> {
        let kek = if kek_id == self.current_id {
            &self.current
        } else {
            &self
                .previous
                .iter()
                .find(|(id, _)| id == kek_id)
                .ok_or_else(|| KekError::UnknownKekId {
                    key_id: key_id.to_owned(),
                    kek_id: kek_id.to_owned(),
                })?
                .1
        };
        kek.unwrap(key_id, wrapped)
    }
}

impl std::fmt::Debug for KekRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KekRing")
            .field("current", &self.current_id)
            .field(
                "previous",
                &self.previous.iter().map(|(id, _)| id).collect::<Vec<_>>(),
            )
            .finish()
    }
}
