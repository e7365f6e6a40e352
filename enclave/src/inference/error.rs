//! Why a model could not be loaded ([`ModelError`]) or a request could not be served
//! ([`InferenceError`]). Neither ever quotes a weight or a submitted value.

use cloister_proto::model_archive::ArchiveError;
use cloister_proto::sealed_package::PackageError;

use super::MAX_NAME_LEN;

/// Why a model could not be loaded. Messages never quote model weights.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// The model's files could not be read, or are not a canonical archive.
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    /// The archive lacks one of the model's files.
    #[error("the model has no `{file}`")]
    MissingFile {
        /// `model.json` or `model.onnx`.
        file: &'static str,
    },
    /// The archive holds a file this enclave does not load (so would not be what it serves).
    #[error(
        "the model holds `{path}`, which this enclave does not load (only model.json and model.onnx)"
    )]
    UnexpectedFile {
        /// The file's path in the archive.
        path: String,
    },
    /// A sealed model was refused: its container, signed manifest, header or ciphertext.
    #[error(transparent)]
    Unseal(#[from] PackageError),
    /// A sealed model's `model.json` names another id or version than its signed manifest.
    #[error("sealed as {field} {sealed:?}, but its model.json says {model_json:?}")]
    SealedIdentityMismatch {
        /// `id` or `version`.
        field: &'static str,
        /// The signed manifest's value.
        sealed: String,
        /// `model.json`'s value.
        model_json: String,
    },
    /// Memory to unseal into could not be locked (`mlock`), and unlocked memory was not
    /// explicitly allowed.
    #[error("cannot lock {len} bytes of memory to unseal the model into: {reason}")]
    MemoryLock {
        /// Bytes requested.
        len: usize,
        /// The operating system's error.
        reason: String,
    },
    /// `model.json` is not valid JSON, breaks the schema, or fails a semantic check.
    #[error("model manifest is invalid: {reason}")]
    ManifestInvalid {
        /// What is wrong, naming the field at fault.
        reason: String,
    },
    /// The ONNX bytes could not be decoded, translated, analysed, optimized or planned.
    #[error("ONNX model is invalid: {reason}")]
    OnnxInvalid {
        /// Which stage failed (tract's own message is withheld: it may quote weights).
        reason: String,
    },
    /// The ONNX graph's inputs or output do not agree with the manifest.
    #[error("ONNX graph does not match the manifest: {reason}")]
    ShapeMismatch {
        /// What disagrees.
        reason: String,
    },
}

impl ModelError {
    /// A stable, machine-readable code for this error (safe to log and to return to callers).
    pub fn code(&self) -> &'static str {
        match self {
            ModelError::Archive(e) => e.code(),
            ModelError::MissingFile { .. } => "model.missing_file",
            ModelError::UnexpectedFile { .. } => "model.unexpected_file",
            ModelError::Unseal(e) => e.code(),
            ModelError::MemoryLock { .. } => "model.memory_lock",
            ModelError::SealedIdentityMismatch { .. } => "model.sealed_identity_mismatch",
            ModelError::ManifestInvalid { .. } => "model.manifest_invalid",
            ModelError::OnnxInvalid { .. } => "model.onnx_invalid",
            ModelError::ShapeMismatch { .. } => "model.shape_mismatch",
        }
    }

    /// What to do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            ModelError::Archive(e) => e.hint(),
            ModelError::Unseal(e) => e.hint(),
            ModelError::MissingFile { .. } | ModelError::UnexpectedFile { .. } => {
                "a model is exactly model.json and model.onnx: seal or copy those two files"
            }
            ModelError::MemoryLock { .. } => {
                "raise RLIMIT_MEMLOCK (ulimit -l) above the model's size, or give the enclave \
                 CAP_IPC_LOCK"
            }
            ModelError::SealedIdentityMismatch { .. } => {
                "seal again with --model-id and --model-version equal to model.json's"
            }
            ModelError::ManifestInvalid { .. } => "fix model.json as the reason says",
            ModelError::OnnxInvalid { .. } | ModelError::ShapeMismatch { .. } => {
                "export the graph again: one float32 input [batch, n] and the manifest's output"
            }
        }
    }

    pub(super) fn manifest(reason: impl Into<String>) -> Self {
        ModelError::ManifestInvalid {
            reason: reason.into(),
        }
    }

    pub(super) fn onnx(reason: impl Into<String>) -> Self {
        ModelError::OnnxInvalid {
            reason: reason.into(),
        }
    }

    pub(super) fn shape(reason: impl Into<String>) -> Self {
        ModelError::ShapeMismatch {
            reason: reason.into(),
        }
    }
}

/// Why an inference request was refused or failed.
///
/// No variant carries, and no message contains, a value the client submitted: feature names
/// come from the manifest, names the client made up are shown only if they look like an
/// identifier (see [`InferenceError::UnknownFeature`]), and bounds come from the manifest.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InferenceError {
    /// The body is not JSON, is too large, or does not have the shape `{"features": {...}}`.
    #[error("bad request: {reason}")]
    BadRequest {
        /// A fixed description of the problem.
        reason: &'static str,
    },
    /// The body has a top-level field other than `features`.
    #[error("bad request: unknown top-level field {field}")]
    UnknownField {
        /// The field's name, back-quoted, or a placeholder if it does not look like an identifier.
        field: String,
    },
    /// A feature appears more than once in `features`.
    #[error("bad request: feature `{feature}` is given more than once")]
    DuplicateFeature {
        /// The feature's name (from the manifest).
        feature: String,
    },
    /// A feature's value is not a JSON number.
    #[error("bad request: feature `{feature}` must be a JSON number")]
    NotANumber {
        /// The feature's name (from the manifest).
        feature: String,
    },
    /// A feature the manifest declares is absent.
    #[error("missing feature `{feature}`")]
    MissingFeature {
        /// The feature's name (from the manifest).
        feature: String,
    },
    /// `features` names something the manifest does not declare.
    #[error("unknown feature {feature}")]
    UnknownFeature {
        /// The client's name for it, back-quoted, if it is 1-64 characters of `[A-Za-z0-9_.-]`;
        /// otherwise a placeholder, so that a value pasted into a key is not echoed.
        feature: String,
    },
    /// A feature's value is not finite or lies outside the manifest's `[min, max]`.
    #[error("feature `{feature}` is outside its accepted range [{min}, {max}]")]
    OutOfRange {
        /// The feature's name (from the manifest).
        feature: String,
        /// The manifest's lower bound.
        min: f64,
        /// The manifest's upper bound.
        max: f64,
    },
    /// The engine failed or produced a non-finite output.
    #[error("inference engine failed: {reason}")]
    Engine {
        /// A fixed description of the failing step (tract's own message is withheld).
        reason: &'static str,
    },
}

impl InferenceError {
    /// A stable, machine-readable code for this error (safe to log and to return to callers).
    pub fn code(&self) -> &'static str {
        match self {
            InferenceError::BadRequest { .. }
            | InferenceError::UnknownField { .. }
            | InferenceError::DuplicateFeature { .. }
            | InferenceError::NotANumber { .. } => "inference.bad_request",
            InferenceError::MissingFeature { .. } => "inference.missing_feature",
            InferenceError::UnknownFeature { .. } => "inference.unknown_feature",
            InferenceError::OutOfRange { .. } => "inference.out_of_range",
            InferenceError::Engine { .. } => "inference.engine",
        }
    }
}

/// Shows a client-chosen name only if it is a plain identifier, else a placeholder.
pub(super) fn client_name(raw: &str) -> String {
    let plain = !raw.is_empty()
        && raw.len() <= MAX_NAME_LEN
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if plain {
        format!("`{raw}`")
    } else {
        "(name withheld: not a plain identifier)".to_owned()
    }
}
