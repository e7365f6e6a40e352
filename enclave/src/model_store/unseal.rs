//! [`unseal_model`]: a sealed model file and its data key in, a [`LoadedModel`] out.

use std::num::NonZeroUsize;

use cloister_proto::model_manifest::PUBLISHER_KEY_LEN;
use cloister_proto::sealed::DataKey;
use cloister_proto::sealed_package::Unsealer;

use super::{LockedBuffer, MemoryPolicy};
use crate::inference::{LoadedModel, ModelError};

/// Unseals and loads a model, failing closed if memory cannot be locked; see
/// [`unseal_model_with`].
///
/// # Errors
/// As [`unseal_model_with`].
pub fn unseal_model(
    sealed: &[u8],
    dek: &DataKey,
    publisher: &[u8; PUBLISHER_KEY_LEN],
    expected_model_id: &str,
) -> Result<LoadedModel, ModelError> {
    unseal_model_with(
        sealed,
        dek,
        publisher,
        expected_model_id,
        MemoryPolicy::locked(),
    )
}

/// Verifies the sealed model file's manifest under the trusted `publisher` key, checks the
/// header against it, decrypts the chunks on every available core straight from the file into
/// a [`LockedBuffer`] (a failing chunk fails the whole load), checks the archive's and
/// every file's SHA-384 against the manifest, and loads the model from that memory. The
/// buffer is wiped and freed before this returns, on every path.
///
/// The loaded model's `model.json` must carry the sealed model id and version: the custodian
/// released the key for that id, and the enclave serves the model under its `model.json` id.
///
/// ```no_run
/// # use cloister_proto::sealed::DataKey;
/// # use cloister_enclave::model_store::{unseal_model_with, MemoryPolicy};
/// # let (file, dek, publisher) = (Vec::new(), DataKey::from_bytes([0; 32]), [0u8; 32]);
/// let model = unseal_model_with(&file, &dek, &publisher, "credit-risk-v1", MemoryPolicy::locked())?;
/// println!("{}", hex::encode(model.digest())); // = the manifest's plaintext_sha384
/// # Ok::<(), cloister_enclave::inference::ModelError>(())
/// ```
///
/// # Errors
/// Each check has its own code: `sealed_package.*` (container, model id, header, manifest
/// hash, plaintext digest, file list), `model_manifest.*` (signature first), `sealed.*`
/// (header, length: truncated or extended; `sealed.chunk_rejected`: modified, reordered or
/// spliced), `archive.*`, `model.memory_lock`, `model.sealed_identity_mismatch`, and the
/// loader's `model.*`.
pub fn unseal_model_with(
    sealed: &[u8],
    dek: &DataKey,
    publisher: &[u8; PUBLISHER_KEY_LEN],
    expected_model_id: &str,
    policy: MemoryPolicy,
) -> Result<LoadedModel, ModelError> {
    let unsealer = Unsealer::new(sealed, publisher, expected_model_id)?;
    let manifest = unsealer.manifest().clone();
    let mut buf = LockedBuffer::new(unsealer.buffer_len(), policy)?;
    // Every core the process may use (cgroup and affinity limits included); one if unknown.
    let cores = std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN);
    let archive = unsealer.open_into_parallel(dek, buf.as_mut_slice(), cores)?;
    let model = LoadedModel::from_archive(&archive)?;
    // from_archive digests the same bytes the unsealer checked; this keeps that one path.
    debug_assert_eq!(&model.digest(), manifest.plaintext_sha384());
    for (field, sealed_value, loaded) in [
        ("id", manifest.model_id(), model.id()),
        ("version", manifest.version(), model.version()),
    ] {
        if sealed_value != loaded {
            return Err(ModelError::SealedIdentityMismatch {
                field,
                sealed: sealed_value.to_owned(),
                model_json: loaded.to_owned(),
            });
        }
    }
    Ok(model)
}
