//! The signed manifest of a sealed model: what the model owner vouches for, signed with the
//! publisher's Ed25519 key, checked by the enclave before it decrypts a byte.
//!
//! The manifest is one CBOR map (RFC 8949) with text keys in this order, and nothing else:
//!
//! ```text
//! { "model_id": text, "version": text, "plaintext_sha384": bytes(48), "plaintext_len": uint,
//!   "chunk_size": uint, "files": [ {"path": text, "sha384": bytes(48), "len": uint}, ... ],
//!   "publisher": bytes(32) }
//! ```
//!
//! Integers take their shortest form and `files` is ascending by path, so one manifest has one
//! encoding; the parser re-encodes what it read and refuses anything that differs
//! (`model_manifest.not_canonical`), so `SHA-384(manifest bytes)`, which the sealed header
//! carries, names exactly one manifest. CBOR rather than JSON because every other signed
//! structure of Cloister is CBOR and digests travel as byte strings, not hex.
//!
//! `plaintext_sha384` is the model digest (SHA-384 of the [model archive](crate::model_archive)),
//! `plaintext_len` that archive's length, and `publisher` the raw Ed25519 public key of the
//! signer. The signature is Ed25519 over
//! `u32(len(label)) ‖ "cloister/model-manifest/v1" ‖ manifest bytes`.
//!
//! ```
//! use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
//! use cloister_proto::model_archive::{ArchiveEntry, ModelArchive};
//! use cloister_proto::model_manifest::{ModelManifest, SignedManifest, verify_manifest};
//!
//! let key = Ed25519KeyPair::generate().unwrap();
//! let publisher: [u8; 32] = key.public_key().as_ref().try_into().unwrap();
//! let archive = ModelArchive::new(vec![ArchiveEntry::new("model.onnx", b"graph")])?;
//! let manifest = ModelManifest::for_archive("m", "1.0.0", 65536, &archive, publisher)?;
//! let signed = SignedManifest::sign(&manifest, &key)?;
//! assert_eq!(verify_manifest(&signed, &publisher)?, manifest);
//! # Ok::<(), cloister_proto::model_manifest::ManifestError>(())
//! ```

use aws_lc_rs::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use serde::{Deserialize, Serialize};

use crate::DIGEST_LEN;
use crate::model_archive::{self, ArchiveError, MAX_FILES, ModelArchive};
use crate::sealed::{MAX_CHUNK_SIZE, MAX_MODEL_ID_LEN, MAX_PLAINTEXT_LEN, MIN_CHUNK_SIZE};

/// Domain separation label of the manifest signature.
pub const MANIFEST_LABEL: &[u8] = b"cloister/model-manifest/v1";
/// Largest encoded manifest: [`MAX_FILES`] entries of the longest path fit.
pub const MAX_MANIFEST_LEN: usize = 512 * 1024;
/// Longest model version.
pub const MAX_VERSION_LEN: usize = 64;
/// Ed25519 public key length.
pub const PUBLISHER_KEY_LEN: usize = 32;
/// Ed25519 signature length.
pub const SIGNATURE_LEN: usize = 64;

/// Why a manifest could not be made, signed, verified or parsed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// The signature does not verify under the publisher key the verifier trusts.
    #[error("model manifest signature does not verify under publisher key {publisher}")]
    BadSignature {
        /// The trusted key, hex.
        publisher: String,
    },
    /// The manifest names another publisher than the key that verified it (or that signs it).
    #[error("model manifest names publisher {found}, the key is {expected}")]
    PublisherMismatch {
        /// The verifying (or signing) key, hex.
        expected: String,
        /// The manifest's `publisher`, hex.
        found: String,
    },
    /// Longer than [`MAX_MANIFEST_LEN`].
    #[error("model manifest is {len} bytes, the limit is {limit}")]
    TooLarge {
        /// Its length.
        len: usize,
        /// [`MAX_MANIFEST_LEN`].
        limit: usize,
    },
    /// Not CBOR of the manifest's schema.
    #[error("model manifest is not valid CBOR of the manifest schema: {detail}")]
    Malformed {
        /// The decoder's message (the manifest is signed metadata, not secret).
        detail: String,
    },
    /// Valid, but not the canonical encoding of what it says.
    #[error("model manifest is not canonically encoded (it re-encodes differently)")]
    NotCanonical,
    /// A field is out of range or inconsistent with another.
    #[error("model manifest field {field} {problem}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// A file path breaks the archive's path rules.
    #[error(transparent)]
    Path(#[from] ArchiveError),
}

impl ManifestError {
    /// A stable dotted code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadSignature { .. } => "model_manifest.bad_signature",
            Self::PublisherMismatch { .. } => "model_manifest.publisher_mismatch",
            Self::TooLarge { .. } => "model_manifest.too_large",
            Self::Malformed { .. } => "model_manifest.malformed",
            Self::NotCanonical => "model_manifest.not_canonical",
            Self::Invalid { .. } => "model_manifest.invalid",
            Self::Path(e) => e.code(),
        }
    }

    /// What to do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            Self::BadSignature { .. } | Self::PublisherMismatch { .. } => {
                "the sealed model was not signed by the publisher this enclave trusts, or was \
                 altered: get it from its publisher, or configure the right publisher key"
            }
            _ => "the manifest is damaged or was not made by `cloister model seal`: seal again",
        }
    }
}

/// One file of the model as the manifest lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestFile {
    path: String,
    #[serde(with = "serde_bytes")]
    sha384: [u8; DIGEST_LEN],
    len: u64,
}

impl ManifestFile {
    /// The relative path inside the model archive.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// SHA-384 of the file's bytes.
    pub fn sha384(&self) -> &[u8; DIGEST_LEN] {
        &self.sha384
    }

    /// The file's length.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the file is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// What the publisher signs about a sealed model. Only [`ModelManifest::for_archive`] and
/// [`ModelManifest::parse`] build one, and both check it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelManifest {
    model_id: String,
    version: String,
    #[serde(with = "serde_bytes")]
    plaintext_sha384: [u8; DIGEST_LEN],
    plaintext_len: u64,
    chunk_size: u32,
    files: Vec<ManifestFile>,
    #[serde(with = "serde_bytes")]
    publisher: [u8; PUBLISHER_KEY_LEN],
}

impl ModelManifest {
    /// The manifest of `archive`, to be sealed in chunks of `chunk_size` and signed by
    /// `publisher`.
    ///
    /// # Errors
    /// `model_manifest.invalid` for a model id, version or chunk size out of range.
    pub fn for_archive(
        model_id: &str,
        version: &str,
        chunk_size: u32,
        archive: &ModelArchive<'_>,
        publisher: [u8; PUBLISHER_KEY_LEN],
    ) -> Result<Self, ManifestError> {
        let m = Self {
            model_id: model_id.to_owned(),
            version: version.to_owned(),
            plaintext_sha384: archive.sha384(),
            plaintext_len: archive.encoded_len(),
            chunk_size,
            files: archive
                .entries()
                .iter()
                .map(|e| ManifestFile {
                    path: e.path().to_owned(),
                    sha384: crate::sha384(e.bytes()),
                    len: e.bytes().len() as u64,
                })
                .collect(),
            publisher,
        };
        m.check()?;
        Ok(m)
    }

    /// Parses the canonical encoding. Call this only on bytes whose signature verified
    /// ([`verify_manifest`] does both, in that order).
    ///
    /// # Errors
    /// `model_manifest.too_large`, `model_manifest.malformed`, `model_manifest.not_canonical`,
    /// `model_manifest.invalid`, or `archive.bad_path` / `archive.unsorted` for a file path.
    pub fn parse(bytes: &[u8]) -> Result<Self, ManifestError> {
        if bytes.len() > MAX_MANIFEST_LEN {
            return Err(ManifestError::TooLarge {
                len: bytes.len(),
                limit: MAX_MANIFEST_LEN,
            });
        }
        let mut rest = bytes;
        let m: Self =
            ciborium::de::from_reader(&mut rest).map_err(|e| ManifestError::Malformed {
                detail: e.to_string(),
            })?;
        if m.encode()? != bytes {
            return Err(ManifestError::NotCanonical);
        }
        m.check()?;
        Ok(m)
    }

    /// The canonical encoding (see the module documentation).
    ///
    /// # Errors
    /// `model_manifest.malformed` if the encoder fails (it cannot for these types).
    pub fn encode(&self) -> Result<Vec<u8>, ManifestError> {
        let mut out = Vec::new();
        ciborium::ser::into_writer(self, &mut out).map_err(|e| ManifestError::Malformed {
            detail: e.to_string(),
        })?;
        Ok(out)
    }

    /// The model id the artifact is sealed for.
    pub fn model_id(&self) -> &str {
        &self.model_id
    }

    /// The model's version.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The model digest: SHA-384 of the model archive.
    pub fn plaintext_sha384(&self) -> &[u8; DIGEST_LEN] {
        &self.plaintext_sha384
    }

    /// The model archive's length.
    pub fn plaintext_len(&self) -> u64 {
        self.plaintext_len
    }

    /// Plaintext bytes per sealed chunk.
    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// The model's files, ascending by path.
    pub fn files(&self) -> &[ManifestFile] {
        &self.files
    }

    /// The publisher's Ed25519 public key.
    pub fn publisher(&self) -> &[u8; PUBLISHER_KEY_LEN] {
        &self.publisher
    }

    /// The manifest as JSON for people (digests and key in hex), as `cloister model inspect`
    /// prints it.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "model_id": self.model_id,
            "version": self.version,
            "plaintext_sha384": hex::encode(self.plaintext_sha384),
            "plaintext_len": self.plaintext_len,
            "chunk_size": self.chunk_size,
            "files": self.files.iter().map(|f| serde_json::json!({
                "path": f.path, "sha384": hex::encode(f.sha384), "len": f.len,
            })).collect::<Vec<_>>(),
            "publisher": hex::encode(self.publisher),
        })
    }

    fn check(&self) -> Result<(), ManifestError> {
        let bad = |field, problem| Err(ManifestError::Invalid { field, problem });
        if self.model_id.is_empty()
            || self.model_id.len() > MAX_MODEL_ID_LEN
            || self.model_id.chars().any(char::is_control)
        {
            return bad(
                "model_id",
                "must be 1 to 128 bytes without control characters",
            );
        }
        if self.version.is_empty()
            || self.version.len() > MAX_VERSION_LEN
            || self.version.chars().any(char::is_control)
        {
            return bad(
                "version",
                "must be 1 to 64 bytes without control characters",
            );
        }
        if !(MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&self.chunk_size) {
            return bad("chunk_size", "must be 4 KiB to 16 MiB");
        }
        if self.files.is_empty() || self.files.len() > MAX_FILES {
            return bad("files", "must list 1 to 1024 files");
        }
        let mut previous: Option<&str> = None;
        for f in &self.files {
            model_archive::check_path(&f.path)?;
            if let Some(p) = previous
                && p.as_bytes() >= f.path.as_bytes()
            {
                return Err(ArchiveError::Unsorted {
                    previous: p.to_owned(),
                    path: f.path.clone(),
                }
                .into());
            }
            previous = Some(&f.path);
        }
        if self.plaintext_len > MAX_PLAINTEXT_LEN {
            return bad("plaintext_len", "exceeds 1 TiB");
        }
        let lens = self.files.iter().map(|f| {
            let len = usize::try_from(f.len).unwrap_or(usize::MAX);
            (f.path.len(), len)
        });
        if model_archive::encoded_len(lens) != self.plaintext_len {
            return bad(
                "plaintext_len",
                "is not the archive length of the listed files",
            );
        }
        Ok(())
    }
}

/// A manifest's exact bytes and the publisher's signature over them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedManifest {
    manifest: Vec<u8>,
    signature: [u8; SIGNATURE_LEN],
}

impl SignedManifest {
    /// Encodes and signs `manifest` with the publisher `key`.
    ///
    /// # Errors
    /// `model_manifest.publisher_mismatch` if `key` is not the manifest's `publisher` (API
    /// misuse: the enclave would refuse the result).
    pub fn sign(manifest: &ModelManifest, key: &Ed25519KeyPair) -> Result<Self, ManifestError> {
        if key.public_key().as_ref() != manifest.publisher.as_slice() {
            return Err(ManifestError::PublisherMismatch {
                expected: hex::encode(key.public_key().as_ref()),
                found: hex::encode(manifest.publisher),
            });
        }
        let bytes = manifest.encode()?;
        let mut signature = [0u8; SIGNATURE_LEN];
        signature.copy_from_slice(key.sign(&signing_bytes(&bytes)).as_ref());
        Ok(Self {
            manifest: bytes,
            signature,
        })
    }

    /// Wraps received bytes; nothing is checked until [`verify_manifest`].
    pub fn from_parts(manifest: Vec<u8>, signature: [u8; SIGNATURE_LEN]) -> Self {
        Self {
            manifest,
            signature,
        }
    }

    /// The manifest's exact bytes (what the sealed header's `manifest_sha384` hashes).
    pub fn manifest_bytes(&self) -> &[u8] {
        &self.manifest
    }

    /// The Ed25519 signature.
    pub fn signature(&self) -> &[u8; SIGNATURE_LEN] {
        &self.signature
    }

    /// SHA-384 of the manifest bytes.
    pub fn manifest_sha384(&self) -> [u8; DIGEST_LEN] {
        crate::sha384(&self.manifest)
    }
}

/// Verifies the signature under the trusted `publisher` key, then parses the manifest and
/// checks that it names that publisher. No byte of the manifest is parsed before its signature
/// verifies.
///
/// # Errors
/// `model_manifest.bad_signature` first, then any error of [`ModelManifest::parse`], then
/// `model_manifest.publisher_mismatch`.
pub fn verify_manifest(
    signed: &SignedManifest,
    publisher: &[u8; PUBLISHER_KEY_LEN],
) -> Result<ModelManifest, ManifestError> {
    UnparsedPublicKey::new(&ED25519, publisher)
        .verify(&signing_bytes(&signed.manifest), &signed.signature)
        .map_err(|_| ManifestError::BadSignature {
            publisher: hex::encode(publisher),
        })?;
    let manifest = ModelManifest::parse(&signed.manifest)?;
    if &manifest.publisher != publisher {
        return Err(ManifestError::PublisherMismatch {
            expected: hex::encode(publisher),
            found: hex::encode(manifest.publisher),
        });
    }
    Ok(manifest)
}

fn signing_bytes(manifest: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + MANIFEST_LABEL.len() + manifest.len());
    out.extend_from_slice(&(MANIFEST_LABEL.len() as u32).to_be_bytes());
    out.extend_from_slice(MANIFEST_LABEL);
    out.extend_from_slice(manifest);
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model_archive::ArchiveEntry;

    pub(crate) fn key(seed: u8) -> Ed25519KeyPair {
        Ed25519KeyPair::from_seed_unchecked(&[seed; 32]).expect("key")
    }

    pub(crate) fn public(key: &Ed25519KeyPair) -> [u8; 32] {
        key.public_key().as_ref().try_into().expect("32 bytes")
    }

    fn sample(publisher: [u8; 32]) -> ModelManifest {
        let archive = ModelArchive::new(vec![
            ArchiveEntry::new("model.onnx", b"graph"),
            ArchiveEntry::new("model.json", b"{}"),
        ])
        .expect("archive");
        ModelManifest::for_archive("credit-risk-v1", "1.0.0", 4096, &archive, publisher)
            .expect("manifest")
    }

    #[test]
    fn signs_verifies_and_round_trips() {
        let k = key(1);
        let m = sample(public(&k));
        assert_eq!(m.files().len(), 2);
        assert_eq!(m.files()[0].path(), "model.json");
        assert_eq!(m.files()[1].sha384(), &crate::sha384(b"graph"));
        assert_eq!(m.plaintext_len(), 13 + 22 + 25);
        let signed = SignedManifest::sign(&m, &k).expect("sign");
        assert_eq!(verify_manifest(&signed, &public(&k)).expect("verify"), m);
        assert_eq!(
            ModelManifest::parse(signed.manifest_bytes()).expect("parse"),
            m
        );
        assert_eq!(m.to_json()["files"][1]["path"], "model.onnx");
        assert_eq!(m.to_json()["publisher"], hex::encode(public(&k)));
    }

    #[test]
    fn signature_and_publisher_are_checked_first() {
        let k = key(1);
        let m = sample(public(&k));
        let signed = SignedManifest::sign(&m, &k).expect("sign");
        let other = public(&key(2));
        let code =
            |s: &SignedManifest, p: &[u8; 32]| verify_manifest(s, p).expect_err("bad").code();
        assert_eq!(code(&signed, &other), "model_manifest.bad_signature");
        let mut flipped = signed.clone();
        flipped.manifest[3] ^= 1;
        assert_eq!(code(&flipped, &public(&k)), "model_manifest.bad_signature");
        let mut sig = signed.clone();
        sig.signature[0] ^= 1;
        assert_eq!(code(&sig, &public(&k)), "model_manifest.bad_signature");
        // A manifest naming another publisher, signed by a key the verifier trusts.
        let stranger = sample(other);
        let bytes = stranger.encode().expect("encode");
        let sig = key(1).sign(&signing_bytes(&bytes));
        let forged = SignedManifest::from_parts(bytes, sig.as_ref().try_into().expect("64"));
        assert_eq!(
            code(&forged, &public(&k)),
            "model_manifest.publisher_mismatch"
        );
        // Signing with a key that is not the manifest's publisher is refused.
        assert_eq!(
            SignedManifest::sign(&stranger, &k)
                .expect_err("misuse")
                .code(),
            "model_manifest.publisher_mismatch"
        );
    }

    #[test]
    fn parse_is_strict() {
        let m = sample([7; 32]);
        let bytes = m.encode().expect("encode");
        let mut long = bytes.clone();
        long.push(0);
        assert_eq!(
            ModelManifest::parse(&long).expect_err("trailing").code(),
            "model_manifest.not_canonical"
        );
        assert_eq!(
            ModelManifest::parse(&bytes[..10])
                .expect_err("short")
                .code(),
            "model_manifest.malformed"
        );
        assert_eq!(
            ModelManifest::parse(&[]).expect_err("empty").code(),
            "model_manifest.malformed"
        );
        let big = vec![0; MAX_MANIFEST_LEN + 1];
        assert_eq!(
            ModelManifest::parse(&big).expect_err("big").code(),
            "model_manifest.too_large"
        );
        // Semantically wrong manifests, encoded canonically.
        let edit = |f: &dyn Fn(&mut ModelManifest)| {
            let mut m = m.clone();
            f(&mut m);
            ModelManifest::parse(&m.encode().expect("encode"))
                .expect_err("invalid")
                .code()
        };
        assert_eq!(edit(&|m| m.plaintext_len += 1), "model_manifest.invalid");
        assert_eq!(edit(&|m| m.chunk_size = 1), "model_manifest.invalid");
        assert_eq!(edit(&|m| m.model_id.clear()), "model_manifest.invalid");
        assert_eq!(
            edit(&|m| m.version = "v\n".into()),
            "model_manifest.invalid"
        );
        assert_eq!(edit(&|m| m.files.clear()), "model_manifest.invalid");
        assert_eq!(edit(&|m| m.files.swap(0, 1)), "archive.unsorted");
        assert_eq!(
            edit(&|m| m.files[0].path = "../x".into()),
            "archive.bad_path"
        );
        // A non-canonical integer (chunk_size 4096 as a 64-bit uint) is refused.
        let pos = bytes
            .windows(3)
            .position(|w| w == [0x19, 0x10, 0x00])
            .expect("4096 encoded as u16");
        let mut wide = bytes[..pos].to_vec();
        wide.extend_from_slice(&[0x1b, 0, 0, 0, 0, 0, 0, 0x10, 0]);
        wide.extend_from_slice(&bytes[pos + 3..]);
        assert_eq!(
            ModelManifest::parse(&wide).expect_err("wide").code(),
            "model_manifest.not_canonical"
        );
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
                let _ = ModelManifest::parse(&bytes);
            }
        }
    }
}
