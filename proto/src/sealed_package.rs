//! The sealed model file (`cloister model seal -o SEALED`): the publisher's signed manifest,
//! then the [sealed artifact](crate::sealed) of the model archive, in one file.
//!
//! ```text
//! SEALED   = "CLSEALPKGv1" ‖ manifest_len u32 ‖ manifest[manifest_len] ‖ signature[64]
//!            ‖ artifact                                                    (big-endian)
//! artifact = "CLSEALv1" header ‖ chunks   (crate::sealed; runs to the end of the file)
//! ```
//!
//! `manifest` is the canonical CBOR [`ModelManifest`], `signature` the publisher's Ed25519
//! signature over it ([`crate::model_manifest`]). The artifact's header carries
//! `manifest_sha384 = SHA-384(manifest)` and is the AAD of every chunk, so the ciphertext is
//! bound to this one manifest: a manifest swapped for another fails the header check, and a
//! header edited to match fails every chunk.
//!
//! [`Unsealer`] runs the checks in this order, and returns no plaintext unless all pass:
//! 1. the container parses; the manifest's signature verifies under the trusted publisher key,
//!    then the manifest parses and names that publisher and the expected model id;
//! 2. the artifact header agrees with the manifest: model id, plaintext length, chunk size,
//!    and `manifest_sha384`; the artifact is exactly as long as the header says;
//! 3. every chunk authenticates (STREAM: reordering, truncation, extension and splicing fail
//!    here), decrypted into the caller's buffer, on one thread or on several
//!    ([`Unsealer::open_into_parallel`]; the chunk counter and last-chunk flag in each nonce make
//!    the order of decryption irrelevant, and the same failure is reported either way);
//! 4. `SHA-384(plaintext)` equals the manifest's `plaintext_sha384` (the DEK alone does not
//!    vouch for the content: anyone holding it could seal other bytes under the same header),
//!    the plaintext parses as a canonical model archive, and each file matches the manifest's
//!    path, length and SHA-384.
//!
//! ```
//! use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
//! use cloister_proto::model_archive::{ArchiveEntry, ModelArchive};
//! use cloister_proto::sealed::DataKey;
//! use cloister_proto::sealed_package::{SealRequest, Unsealer, seal_model};
//!
//! let key = Ed25519KeyPair::generate().unwrap();
//! let publisher: [u8; 32] = key.public_key().as_ref().try_into().unwrap();
//! let archive = ModelArchive::new(vec![ArchiveEntry::new("model.onnx", b"graph")])?;
//! let dek = DataKey::from_bytes([7; 32]);
//! let request = SealRequest { model_id: "m", version: "1", chunk_size: 4096 };
//! let (sealed, manifest) = seal_model(&archive, &request, &dek, &key, [1; 7], |_| {})?;
//!
//! let unsealer = Unsealer::new(&sealed, &publisher, "m")?;
//! let mut buf = vec![0; unsealer.buffer_len()];
//! let opened = unsealer.open_into(&dek, &mut buf)?;
//! assert_eq!(opened.get("model.onnx"), Some(&b"graph"[..]));
//! assert_eq!(opened.sha384(), *manifest.plaintext_sha384());
//! # Ok::<(), cloister_proto::sealed_package::PackageError>(())
//! ```

use std::num::NonZeroUsize;

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use zeroize::Zeroize;

use crate::model_archive::{ArchiveError, ModelArchive};
use crate::model_manifest::{
    ManifestError, ModelManifest, PUBLISHER_KEY_LEN, SIGNATURE_LEN, SignedManifest, verify_manifest,
};
use crate::sealed::{
    ChunkOpener, DataKey, NONCE_PREFIX_LEN, SealError, SealedHeader, TAG_LEN, seal_with_progress,
};

/// The first eleven bytes of a sealed model file.
pub const PACKAGE_MAGIC: [u8; 11] = *b"CLSEALPKGv1";

/// Why a sealed model file could not be made, read or opened. None of them comes with any
/// plaintext: a failed unseal yields no partial model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PackageError {
    /// The file does not start with [`PACKAGE_MAGIC`].
    #[error("not a sealed Cloister model file (no CLSEALPKGv1 magic)")]
    BadMagic,
    /// The container ends inside a field.
    #[error("sealed model file: {field} needs {needed} bytes, {available} remain")]
    Truncated {
        /// The field.
        field: &'static str,
        /// Bytes it needs.
        needed: u64,
        /// Bytes left.
        available: u64,
    },
    /// The manifest's signature, encoding or content is refused.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// The manifest is for another model than the one expected.
    #[error("sealed model is {found:?}, expected {expected:?}")]
    ModelIdMismatch {
        /// The model id the enclave is configured for.
        expected: String,
        /// The manifest's model id.
        found: String,
    },
    /// The artifact header says otherwise than the signed manifest.
    #[error("sealed header {field} is {header}, the signed manifest says {manifest}")]
    HeaderMismatch {
        /// `model_id`, `plaintext_len` or `chunk_size`.
        field: &'static str,
        /// The manifest's value.
        manifest: String,
        /// The header's value.
        header: String,
    },
    /// The header's `manifest_sha384` is not the hash of this manifest: the artifact belongs
    /// to another manifest.
    #[error("sealed header names manifest {header}, this file's manifest is {manifest}")]
    ManifestHashMismatch {
        /// SHA-384 of the manifest in the file, hex.
        manifest: String,
        /// The header's `manifest_sha384`, hex.
        header: String,
    },
    /// The artifact's header or a chunk is refused (see [`SealError`]'s codes).
    #[error(transparent)]
    Sealed(#[from] SealError),
    /// The decrypted model is not the one the manifest's `plaintext_sha384` names.
    #[error("unsealed model has SHA-384 {found}, the signed manifest says {expected}")]
    PlaintextDigestMismatch {
        /// The manifest's digest, hex.
        expected: String,
        /// The decrypted bytes' digest, hex.
        found: String,
    },
    /// The decrypted bytes are not a canonical model archive.
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    /// A file of the decrypted archive disagrees with the manifest's list.
    #[error("model file {path:?}: {problem}")]
    FileMismatch {
        /// The file (or `(count)` when the number of files differs).
        path: String,
        /// What differs.
        problem: &'static str,
    },
    /// [`Unsealer::open_into`] was given a buffer of the wrong size (API misuse).
    #[error("unseal buffer is {found} bytes, it must be {expected}")]
    BufferSize {
        /// [`Unsealer::buffer_len`].
        expected: usize,
        /// What was given.
        found: usize,
    },
}

impl PackageError {
    /// A stable dotted code; wrapped errors keep their own.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadMagic => "sealed_package.bad_magic",
            Self::Truncated { .. } => "sealed_package.truncated",
            Self::Manifest(e) => e.code(),
            Self::ModelIdMismatch { .. } => "sealed_package.model_id_mismatch",
            Self::HeaderMismatch { .. } => "sealed_package.header_mismatch",
            Self::ManifestHashMismatch { .. } => "sealed_package.manifest_hash_mismatch",
            Self::Sealed(e) => e.code(),
            Self::PlaintextDigestMismatch { .. } => "sealed_package.plaintext_digest_mismatch",
            Self::Archive(e) => e.code(),
            Self::FileMismatch { .. } => "sealed_package.file_mismatch",
            Self::BufferSize { .. } => "sealed_package.buffer_size",
        }
    }

    /// What to do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            Self::Manifest(e) => e.hint(),
            Self::Archive(e) => e.hint(),
            Self::ModelIdMismatch { .. } => {
                "this sealed file holds another model: check the file and the configured model id"
            }
            Self::Sealed(SealError::ChunkRejected { .. }) => {
                "the ciphertext was altered, reordered or spliced, or the data key is not this \
                 model's: fetch the file again and check which key was released"
            }
            Self::BufferSize { .. } => "allocate Unsealer::buffer_len() bytes",
            _ => {
                "the sealed file is damaged, truncated or tampered with: fetch it again from \
                  its publisher"
            }
        }
    }
}

/// What to seal a model as.
#[derive(Clone, Copy, Debug)]
pub struct SealRequest<'a> {
    /// The model id (the sealed header's and the manifest's).
    pub model_id: &'a str,
    /// The model version.
    pub version: &'a str,
    /// Plaintext bytes per chunk ([`crate::sealed::DEFAULT_CHUNK_SIZE`] is a good choice).
    pub chunk_size: u32,
}

/// Seals `archive` under `dek` and signs its manifest with the publisher `key`; returns the
/// sealed model file and the manifest. `nonce_prefix` should be random (the DEK is fresh per
/// artifact, so it only separates artifacts that would share a key by mistake); `progress`
/// receives the archive bytes sealed so far.
///
/// # Errors
/// `model_manifest.invalid` (id, version or chunk size out of range), `sealed.bad_header`.
pub fn seal_model(
    archive: &ModelArchive<'_>,
    request: &SealRequest<'_>,
    dek: &DataKey,
    key: &Ed25519KeyPair,
    nonce_prefix: [u8; NONCE_PREFIX_LEN],
    progress: impl FnMut(u64),
) -> Result<(Vec<u8>, ModelManifest), PackageError> {
    let mut publisher = [0u8; PUBLISHER_KEY_LEN];
    publisher.copy_from_slice(key.public_key().as_ref());
    let manifest = ModelManifest::for_archive(
        request.model_id,
        request.version,
        request.chunk_size,
        archive,
        publisher,
    )?;
    let signed = SignedManifest::sign(&manifest, key)?;
    let header = SealedHeader::new(
        request.model_id,
        request.chunk_size,
        manifest.plaintext_len(),
        signed.manifest_sha384(),
        nonce_prefix,
    )?;
    // The archive's encoding is the model's plaintext: wipe this copy once sealed.
    let mut plaintext = zeroize::Zeroizing::new(archive.encode());
    let artifact = seal_with_progress(dek, &header, &plaintext, progress)?;
    plaintext.zeroize();
    let mut out = package_prefix(&signed);
    out.extend_from_slice(&artifact);
    Ok((out, manifest))
}

/// The container before the artifact: magic, manifest length, manifest, signature.
fn package_prefix(signed: &SignedManifest) -> Vec<u8> {
    let manifest = signed.manifest_bytes();
    let mut out = Vec::with_capacity(PACKAGE_MAGIC.len() + 4 + manifest.len() + SIGNATURE_LEN);
    out.extend_from_slice(&PACKAGE_MAGIC);
    // Encoded manifests are far below u32::MAX (MAX_MANIFEST_LEN).
    out.extend_from_slice(&(manifest.len() as u32).to_be_bytes());
    out.extend_from_slice(manifest);
    out.extend_from_slice(signed.signature());
    out
}

/// A sealed model file split into its parts; nothing is verified yet.
#[derive(Debug)]
pub struct SealedPackage<'a> {
    signed: SignedManifest,
    artifact: &'a [u8],
}

impl<'a> SealedPackage<'a> {
    /// Splits a sealed model file.
    ///
    /// # Errors
    /// `sealed_package.bad_magic`, `sealed_package.truncated`, `model_manifest.too_large`.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, PackageError> {
        let rest =
            bytes
                .strip_prefix(&PACKAGE_MAGIC[..])
                .ok_or(if bytes.len() < PACKAGE_MAGIC.len() {
                    PackageError::Truncated {
                        field: "magic",
                        needed: PACKAGE_MAGIC.len() as u64,
                        available: bytes.len() as u64,
                    }
                } else {
                    PackageError::BadMagic
                })?;
        let (len, rest) = split(rest, 4, "manifest length")?;
        let mut len_be = [0u8; 4];
        len_be.copy_from_slice(len);
        let len = u32::from_be_bytes(len_be) as usize;
        if len > crate::model_manifest::MAX_MANIFEST_LEN {
            return Err(ManifestError::TooLarge {
                len,
                limit: crate::model_manifest::MAX_MANIFEST_LEN,
            }
            .into());
        }
        let (manifest, rest) = split(rest, len, "manifest")?;
        let (signature, artifact) = split(rest, SIGNATURE_LEN, "signature")?;
        let mut sig = [0u8; SIGNATURE_LEN];
        sig.copy_from_slice(signature);
        Ok(Self {
            signed: SignedManifest::from_parts(manifest.to_vec(), sig),
            artifact,
        })
    }

    /// The signed manifest, unverified.
    pub fn signed_manifest(&self) -> &SignedManifest {
        &self.signed
    }

    /// The sealed artifact (header and chunks).
    pub fn artifact(&self) -> &'a [u8] {
        self.artifact
    }
}

fn split<'b>(
    bytes: &'b [u8],
    n: usize,
    field: &'static str,
) -> Result<(&'b [u8], &'b [u8]), PackageError> {
    if bytes.len() < n {
        return Err(PackageError::Truncated {
            field,
            needed: n as u64,
            available: bytes.len() as u64,
        });
    }
    Ok(bytes.split_at(n))
}

/// A sealed model file whose manifest verified and whose header agrees with it (steps 1 and 2
/// of the module documentation), ready to decrypt.
#[derive(Debug)]
pub struct Unsealer<'a> {
    manifest: ModelManifest,
    header: SealedHeader,
    chunks: &'a [u8],
}

impl<'a> Unsealer<'a> {
    /// Verifies the manifest under the trusted `publisher` key and checks the artifact header
    /// against it; decrypts nothing.
    ///
    /// # Errors
    /// The container's, the manifest's (`model_manifest.bad_signature` first),
    /// `sealed_package.model_id_mismatch`, the header's (`sealed.*`),
    /// `sealed_package.header_mismatch`, `sealed_package.manifest_hash_mismatch`, and
    /// `sealed.length_mismatch` for a truncated or extended artifact.
    pub fn new(
        file: &'a [u8],
        publisher: &[u8; PUBLISHER_KEY_LEN],
        expected_model_id: &str,
    ) -> Result<Self, PackageError> {
        let package = SealedPackage::parse(file)?;
        let manifest = verify_manifest(package.signed_manifest(), publisher)?;
        if manifest.model_id() != expected_model_id {
            return Err(PackageError::ModelIdMismatch {
                expected: expected_model_id.to_owned(),
                found: manifest.model_id().to_owned(),
            });
        }
        let artifact = package.artifact();
        let (header, header_len) = SealedHeader::parse(artifact)?;
        check_header(&header, &manifest, package.signed_manifest())?;
        if artifact.len() as u64 != header.sealed_len() {
            return Err(SealError::LengthMismatch {
                expected: header.sealed_len(),
                found: artifact.len() as u64,
            }
            .into());
        }
        Ok(Self {
            manifest,
            header,
            chunks: &artifact[header_len..],
        })
    }

    /// The verified manifest.
    pub fn manifest(&self) -> &ModelManifest {
        &self.manifest
    }

    /// The size [`open_into`](Self::open_into)'s buffer must have: the plaintext plus one tag.
    /// (The tag's room was needed when chunks were copied in and opened in place; they are now
    /// decrypted straight from the file, and the spare bytes are left zeroed.)
    pub fn buffer_len(&self) -> usize {
        // plaintext_len fits memory on any machine that could hold the sealed file.
        usize::try_from(self.header.plaintext_len())
            .unwrap_or(usize::MAX)
            .saturating_add(TAG_LEN)
    }

    /// Decrypts every chunk on the calling thread, straight into `out` (which may be locked
    /// memory: no plaintext is ever written anywhere else), then checks the plaintext against
    /// the manifest (step 4). Returns the archive, borrowing `out`. On any error `out` is
    /// zeroized: no partial or unaccepted plaintext is left behind.
    ///
    /// # Errors
    /// `sealed_package.buffer_size`, `sealed.chunk_rejected` (the lowest-index chunk that
    /// fails), `sealed_package.plaintext_digest_mismatch`, `archive.*`,
    /// `sealed_package.file_mismatch`.
    pub fn open_into<'o>(
        self,
        dek: &DataKey,
        out: &'o mut [u8],
    ) -> Result<ModelArchive<'o>, PackageError> {
        self.open_into_parallel(dek, out, NonZeroUsize::MIN)
    }

    /// As [`open_into`](Self::open_into), decrypting on the calling thread and up to
    /// `threads - 1` more (`std::thread::available_parallelism()` for every core; see
    /// [`ChunkOpener::open_all_into`]). The same guarantees and the same errors as on one thread:
    /// any failing chunk fails the whole open, the lowest-index one is reported, and `out` is
    /// zeroized. Step 4's SHA-384 checks still run on the calling thread.
    ///
    /// ```
    /// # use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
    /// # use cloister_proto::model_archive::{ArchiveEntry, ModelArchive};
    /// # use cloister_proto::sealed::DataKey;
    /// # use cloister_proto::sealed_package::{SealRequest, Unsealer, seal_model};
    /// # let key = Ed25519KeyPair::generate().unwrap();
    /// # let publisher: [u8; 32] = key.public_key().as_ref().try_into().unwrap();
    /// # let archive = ModelArchive::new(vec![ArchiveEntry::new("model.onnx", &[3; 50_000])])?;
    /// # let dek = DataKey::from_bytes([7; 32]);
    /// # let request = SealRequest { model_id: "m", version: "1", chunk_size: 4096 };
    /// # let (sealed, _) = seal_model(&archive, &request, &dek, &key, [1; 7], |_| {})?;
    /// let unsealer = Unsealer::new(&sealed, &publisher, "m")?;
    /// let mut buf = vec![0; unsealer.buffer_len()];
    /// let cores = std::thread::available_parallelism().unwrap_or(std::num::NonZeroUsize::MIN);
    /// let opened = unsealer.open_into_parallel(&dek, &mut buf, cores)?;
    /// assert_eq!(opened.get("model.onnx"), Some(&[3; 50_000][..]));
    /// # Ok::<(), cloister_proto::sealed_package::PackageError>(())
    /// ```
    ///
    /// # Errors
    /// As [`open_into`](Self::open_into).
    pub fn open_into_parallel<'o>(
        self,
        dek: &DataKey,
        out: &'o mut [u8],
        threads: NonZeroUsize,
    ) -> Result<ModelArchive<'o>, PackageError> {
        if out.len() != self.buffer_len() {
            return Err(PackageError::BufferSize {
                expected: self.buffer_len(),
                found: out.len(),
            });
        }
        let plaintext_len = out.len() - TAG_LEN;
        if let Err(e) = self.decrypt(dek, out, threads) {
            out.zeroize();
            return Err(e);
        }
        if let Err(e) = check_plaintext(&out[..plaintext_len], &self.manifest) {
            out.zeroize();
            return Err(e);
        }
        let out: &'o [u8] = out;
        // Checked just above; parsing borrows without copying, so doing it twice is cheap.
        Ok(ModelArchive::parse(&out[..plaintext_len])?)
    }

    /// Step 3: every chunk, decrypted from the file straight into `out`'s plaintext part. On
    /// error the caller zeroizes `out`.
    fn decrypt(
        &self,
        dek: &DataKey,
        out: &mut [u8],
        threads: NonZeroUsize,
    ) -> Result<(), PackageError> {
        let plaintext_len = out.len().saturating_sub(TAG_LEN);
        let (plain, spare) = out.split_at_mut(plaintext_len);
        ChunkOpener::new(dek, self.header.clone()).open_all_into(self.chunks, plain, threads)?;
        spare.zeroize();
        Ok(())
    }
}

/// Step 2: the artifact header agrees with the signed manifest.
fn check_header(
    header: &SealedHeader,
    manifest: &ModelManifest,
    signed: &SignedManifest,
) -> Result<(), PackageError> {
    let mismatch = |field, manifest: String, header: String| {
        Err(PackageError::HeaderMismatch {
            field,
            manifest,
            header,
        })
    };
    if header.model_id() != manifest.model_id() {
        return mismatch(
            "model_id",
            manifest.model_id().to_owned(),
            header.model_id().to_owned(),
        );
    }
    if header.plaintext_len() != manifest.plaintext_len() {
        return mismatch(
            "plaintext_len",
            manifest.plaintext_len().to_string(),
            header.plaintext_len().to_string(),
        );
    }
    if header.chunk_size() != manifest.chunk_size() {
        return mismatch(
            "chunk_size",
            manifest.chunk_size().to_string(),
            header.chunk_size().to_string(),
        );
    }
    let manifest_sha384 = signed.manifest_sha384();
    if header.manifest_sha384() != &manifest_sha384 {
        return Err(PackageError::ManifestHashMismatch {
            manifest: hex::encode(manifest_sha384),
            header: hex::encode(header.manifest_sha384()),
        });
    }
    Ok(())
}

/// Step 4: the decrypted bytes are the archive the manifest describes.
fn check_plaintext(plaintext: &[u8], manifest: &ModelManifest) -> Result<(), PackageError> {
    let found = crate::sha384(plaintext);
    if &found != manifest.plaintext_sha384() {
        return Err(PackageError::PlaintextDigestMismatch {
            expected: hex::encode(manifest.plaintext_sha384()),
            found: hex::encode(found),
        });
    }
    let archive = ModelArchive::parse(plaintext)?;
    if archive.entries().len() != manifest.files().len() {
        return Err(PackageError::FileMismatch {
            path: "(count)".into(),
            problem: "the archive and the manifest list different numbers of files",
        });
    }
    for (entry, listed) in archive.entries().iter().zip(manifest.files()) {
        let problem = if entry.path() != listed.path() {
            Some("the archive and the manifest name different files")
        } else if entry.bytes().len() as u64 != listed.len() {
            Some("length differs from the manifest")
        } else if &crate::sha384(entry.bytes()) != listed.sha384() {
            Some("SHA-384 differs from the manifest")
        } else {
            None
        };
        if let Some(problem) = problem {
            return Err(PackageError::FileMismatch {
                path: entry.path().to_owned(),
                problem,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
