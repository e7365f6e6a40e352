//! Model loading and inference inside the enclave (tract-onnx, CPU, single-threaded).
//!
//! A model is two artifacts: `model.json`, a small manifest naming the model and its input
//! features (with the accepted range of each), and `model.onnx`, the graph. [`LoadedModel`]
//! checks that the two agree, optimizes the graph once into a runnable plan for a batch of one,
//! and then answers JSON requests:
//!
//! ```text
//! request : {"features": {"income_k": 52.0, "debt_to_income": 0.31, ...}}
//! response: {"model": "credit-risk-v1", "model_version": "1.0.0", "default_probability": 0.157119}
//! ```
//!
//! Confidentiality rules this module keeps:
//! - Request values are a client's confidential data. No error, `Display` or `Debug` output ever
//!   contains a submitted value; errors name the field at fault (for names the client made up,
//!   only when they look like an identifier) and the manifest's bounds, nothing else. Serde's own
//!   messages are never surfaced, because they quote offending values.
//! - Model weights belong to the model owner. tract's diagnostics can quote graph constants, so
//!   load errors say which stage failed, not tract's text; [`LoadedModel`]'s `Debug` shows only
//!   the id, version and digest.
//! - The parsed feature values are wiped after use (best effort: tract's own intermediate
//!   buffers are freed, not wiped).
//!
//! Nothing here touches the disk except [`LoadedModel::load_dir`]; [`LoadedModel::from_parts`]
//! works on bytes in memory (ONNX external-data tensors are rejected, never read from a path).

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::io::Read;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::Arc;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha384};
use tract_onnx::pb::tensor_proto::DataLocation;
use tract_onnx::prelude::multithread::Executor;
use tract_onnx::prelude::{
    DatumType, Framework, InferenceFact, InferenceModelExt, RunOptions, TDim, Tensor,
    TypedRunnableModel, tvec,
};
use tract_onnx::tract_hir::infer::GenericFactoid;
use zeroize::{Zeroize, Zeroizing};

/// Largest `model.json` accepted, in bytes.
pub const MAX_MANIFEST_BYTES: usize = 64 * 1024;
/// Largest `model.onnx` accepted, in bytes.
pub const MAX_ONNX_BYTES: usize = 512 * 1024 * 1024;
/// Largest inference request body accepted, in bytes.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;
/// Most input features a manifest may declare.
pub const MAX_INPUTS: usize = 1024;

const MAX_NAME_LEN: usize = 64;
const MAX_VERSION_LEN: usize = 64;
const MAX_UNIT_LEN: usize = 256;
const MAX_DESCRIPTION_LEN: usize = 4096;
/// Response keys that an output name must not shadow.
const RESERVED_OUTPUT_NAMES: [&str; 2] = ["model", "model_version"];

// ------------------------------------------------------------------------------------ errors

/// Why a model could not be loaded. Messages never quote model weights.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// A model file could not be read from disk ([`LoadedModel::load_dir`] only).
    #[error("cannot read model file `{file}`")]
    Io {
        /// `model.json` or `model.onnx`.
        file: &'static str,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
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
            ModelError::Io { .. } => "model.io",
            ModelError::ManifestInvalid { .. } => "model.manifest_invalid",
            ModelError::OnnxInvalid { .. } => "model.onnx_invalid",
            ModelError::ShapeMismatch { .. } => "model.shape_mismatch",
        }
    }

    fn manifest(reason: impl Into<String>) -> Self {
        ModelError::ManifestInvalid {
            reason: reason.into(),
        }
    }

    fn onnx(reason: impl Into<String>) -> Self {
        ModelError::OnnxInvalid {
            reason: reason.into(),
        }
    }

    fn shape(reason: impl Into<String>) -> Self {
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
fn client_name(raw: &str) -> String {
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

// ------------------------------------------------------------------------------------ manifest

/// One input feature as declared in `model.json`, in graph order.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureSpec {
    /// Feature name, `[a-z][a-z0-9_]*`, at most 64 characters; the request's key.
    pub name: String,
    /// Human-readable unit (documentation only).
    #[serde(default)]
    pub unit: String,
    /// Smallest accepted value (inclusive).
    pub min: f64,
    /// Largest accepted value (inclusive).
    pub max: f64,
}

/// Provenance of the model's training, as declared in `model.json` (informational).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingInfo {
    /// Seed of the training run.
    pub seed: u64,
    /// Number of samples in the training data set (train and test together).
    pub samples: u64,
    /// ROC AUC on the held-out test set.
    pub test_auc: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    id: String,
    version: String,
    #[serde(default)]
    description: String,
    inputs: Vec<FeatureSpec>,
    output: String,
    #[serde(default)]
    training: Option<TrainingInfo>,
}

fn is_identifier(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z'))
        && s.len() <= MAX_NAME_LEN
        && bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_'))
}

fn parse_manifest(bytes: &[u8]) -> Result<Manifest, ModelError> {
    if bytes.len() > MAX_MANIFEST_BYTES {
        return Err(ModelError::manifest(format!(
            "larger than {MAX_MANIFEST_BYTES} bytes"
        )));
    }
    // The manifest is the model owner's metadata, not client data: serde's message is useful here.
    let m: Manifest =
        serde_json::from_slice(bytes).map_err(|e| ModelError::manifest(e.to_string()))?;

    let id_ok = m.id.len() <= MAX_NAME_LEN
        && m.id
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && m.id
            .bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-'));
    if !id_ok {
        return Err(ModelError::manifest(
            "`id` must be 1-64 characters of [a-z0-9._-], starting with a letter or digit",
        ));
    }
    let version_ok = !m.version.is_empty()
        && m.version.len() <= MAX_VERSION_LEN
        && m.version
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'-'));
    if !version_ok {
        return Err(ModelError::manifest(
            "`version` must be 1-64 characters of [A-Za-z0-9.+-]",
        ));
    }
    if m.description.len() > MAX_DESCRIPTION_LEN {
        return Err(ModelError::manifest(format!(
            "`description` is longer than {MAX_DESCRIPTION_LEN} bytes"
        )));
    }
    if m.inputs.is_empty() || m.inputs.len() > MAX_INPUTS {
        return Err(ModelError::manifest(format!(
            "`inputs` must list 1 to {MAX_INPUTS} features"
        )));
    }
    let mut seen = HashSet::with_capacity(m.inputs.len());
    for (i, f) in m.inputs.iter().enumerate() {
        if !is_identifier(&f.name) {
            return Err(ModelError::manifest(format!(
                "`inputs[{i}].name` must match [a-z][a-z0-9_]* and be at most {MAX_NAME_LEN} characters"
            )));
        }
        if !seen.insert(f.name.as_str()) {
            return Err(ModelError::manifest(format!(
                "`inputs[{i}].name` `{}` is declared twice",
                f.name
            )));
        }
        if f.unit.len() > MAX_UNIT_LEN {
            return Err(ModelError::manifest(format!(
                "`inputs[{i}].unit` is longer than {MAX_UNIT_LEN} bytes"
            )));
        }
        if !(f.min.is_finite() && f.max.is_finite() && f.min <= f.max) {
            return Err(ModelError::manifest(format!(
                "`inputs[{i}]` (`{}`) needs finite `min` <= `max`",
                f.name
            )));
        }
    }
    if !is_identifier(&m.output) || RESERVED_OUTPUT_NAMES.contains(&m.output.as_str()) {
        return Err(ModelError::manifest(
            "`output` must match [a-z][a-z0-9_]*, be at most 64 characters, and not be `model` or `model_version`",
        ));
    }
    if let Some(t) = &m.training
        && !(t.test_auc.is_finite() && (0.0..=1.0).contains(&t.test_auc))
    {
        return Err(ModelError::manifest(
            "`training.test_auc` must be within [0, 1]",
        ));
    }
    Ok(m)
}

// ------------------------------------------------------------------------------------ graph

/// Decodes, checks against the manifest, and plans the graph for a batch of one.
fn build_plan(
    onnx_bytes: &[u8],
    manifest: &Manifest,
) -> Result<Arc<TypedRunnableModel>, ModelError> {
    let n_features = manifest.inputs.len();
    let onnx = tract_onnx::onnx();
    let mut reader = onnx_bytes;
    let proto = onnx
        .proto_model_for_read(&mut reader)
        .map_err(|_| ModelError::onnx("not a decodable ONNX ModelProto"))?;
    let graph = proto
        .graph
        .as_ref()
        .ok_or_else(|| ModelError::onnx("the ModelProto has no graph"))?;
    if graph
        .initializer
        .iter()
        .any(|t| t.data_location == Some(DataLocation::External as i32))
    {
        return Err(ModelError::onnx(
            "external tensor data is not supported (embed the weights)",
        ));
    }
    let model = onnx.model_for_proto_model(&proto).map_err(|_| {
        ModelError::onnx(
            "the graph could not be translated (unsupported operator or malformed node)",
        )
    })?;
    drop(proto);

    // Inputs: exactly one, float32, declared [batch, n_features].
    let inputs = model
        .input_outlets()
        .map_err(|_| ModelError::onnx("graph inputs are malformed"))?;
    if inputs.len() != 1 {
        return Err(ModelError::shape(format!(
            "the graph has {} inputs; expected exactly one [batch, {n_features}] float32 tensor",
            inputs.len()
        )));
    }
    let fact = model
        .input_fact(0)
        .map_err(|_| ModelError::onnx("graph input is malformed"))?;
    if let GenericFactoid::Only(dt) = fact.datum_type
        && dt != DatumType::F32
    {
        return Err(ModelError::shape(format!(
            "the graph input is {dt:?}; expected float32"
        )));
    }
    let dims: Vec<&GenericFactoid<TDim>> = fact.shape.dims().collect();
    if fact.shape.is_open() || dims.len() != 2 {
        return Err(ModelError::shape(format!(
            "the graph input must be declared with rank 2 [batch, {n_features}]"
        )));
    }
    match dims[0] {
        GenericFactoid::Only(d) => match d.to_i64() {
            Ok(1) | Err(_) => {} // batch of one, or symbolic
            Ok(other) => {
                return Err(ModelError::shape(format!(
                    "the graph input has a fixed batch of {other}; expected 1 or symbolic"
                )));
            }
        },
        GenericFactoid::Any => {}
    }
    match dims[1] {
        GenericFactoid::Only(d) => match d.to_i64() {
            Ok(n) if usize::try_from(n).ok() == Some(n_features) => {}
            Ok(n) => {
                return Err(ModelError::shape(format!(
                    "the graph takes {n} features; the manifest declares {n_features}"
                )));
            }
            Err(_) => {
                return Err(ModelError::shape(
                    "the graph input's feature dimension is symbolic",
                ));
            }
        },
        GenericFactoid::Any => {
            return Err(ModelError::shape(
                "the graph input's feature dimension is not declared",
            ));
        }
    }

    // Output: exactly one, labelled as the manifest says.
    let outputs = model
        .output_outlets()
        .map_err(|_| ModelError::onnx("graph outputs are malformed"))?;
    if outputs.len() != 1 {
        return Err(ModelError::shape(format!(
            "the graph has {} outputs; expected exactly one",
            outputs.len()
        )));
    }
    if model.outlet_label(outputs[0]) != Some(manifest.output.as_str()) {
        return Err(ModelError::shape(format!(
            "the graph has no output named `{}` (the manifest's `output`)",
            manifest.output
        )));
    }

    // Fix the batch to one and plan once.
    let typed = model
        .with_input_fact(
            0,
            InferenceFact::dt_shape(DatumType::F32, [1usize, n_features]),
        )
        .map_err(|_| ModelError::onnx("the batch-1 input fact could not be set"))?
        .into_optimized()
        .map_err(|_| {
            ModelError::onnx(
                "type/shape analysis or optimization failed for a [1, n] float32 input",
            )
        })?;
    let out = typed
        .output_fact(0)
        .map_err(|_| ModelError::onnx("optimized graph has no output"))?;
    if out.datum_type != DatumType::F32
        || out.shape.as_concrete().map(|s| s.iter().product::<usize>()) != Some(1)
    {
        return Err(ModelError::shape(format!(
            "output `{}` must be one float32 value per row",
            manifest.output
        )));
    }
    let options = RunOptions {
        executor: Some(Executor::SingleThread),
        ..RunOptions::default()
    };
    typed
        .into_runnable_with_options(&options)
        .map_err(|_| ModelError::onnx("the execution plan could not be built"))
}

// ------------------------------------------------------------------------------------ model

/// A validated model, optimized into a runnable batch-1 plan; cheap to share (`Send + Sync`),
/// and [`LoadedModel::infer`] takes `&self`, so one instance serves concurrent requests.
pub struct LoadedModel {
    id: String,
    version: String,
    description: String,
    inputs: Vec<FeatureSpec>,
    /// Feature name -> position in `inputs` (graph order).
    index: HashMap<String, usize>,
    output: String,
    training: Option<TrainingInfo>,
    digest: [u8; 48],
    plan: Arc<TypedRunnableModel>,
}

impl fmt::Debug for LoadedModel {
    /// Shows identity only; never the graph (it holds the owner's weights).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadedModel")
            .field("id", &self.id)
            .field("version", &self.version)
            .field("inputs", &self.inputs.len())
            .field("output", &self.output)
            .field("digest", &hex::encode(self.digest))
            .finish_non_exhaustive()
    }
}

impl LoadedModel {
    /// Loads `model.json` and `model.onnx` from `dir` and validates them (see [`Self::from_parts`]).
    pub fn load_dir(dir: &Path) -> Result<LoadedModel, ModelError> {
        let manifest = read_limited(&dir.join("model.json"), "model.json", MAX_MANIFEST_BYTES)?;
        let onnx = read_limited(&dir.join("model.onnx"), "model.onnx", MAX_ONNX_BYTES)?;
        LoadedModel::from_parts(&manifest, &onnx)
    }

    /// Builds a model from the manifest and ONNX bytes in memory; touches no file.
    ///
    /// Checks the manifest schema (unknown fields rejected) and values, that the graph has
    /// exactly one float32 input declared `[batch, n]` with `n` = the manifest's feature count,
    /// and exactly one output named as the manifest's `output`; then fixes the batch to 1 and
    /// optimizes the graph into a single-threaded plan, once.
    pub fn from_parts(manifest_json: &[u8], onnx_bytes: &[u8]) -> Result<LoadedModel, ModelError> {
        let manifest = parse_manifest(manifest_json)?;
        if onnx_bytes.len() > MAX_ONNX_BYTES {
            return Err(ModelError::onnx(format!(
                "larger than {MAX_ONNX_BYTES} bytes"
            )));
        }
        // tract may panic on some malformed graphs; a bad artifact must not take the enclave down.
        let plan = catch_unwind(AssertUnwindSafe(|| build_plan(onnx_bytes, &manifest)))
            .map_err(|_| ModelError::onnx("the engine panicked while loading the graph"))??;
        let mut digest = [0u8; 48];
        digest.copy_from_slice(&Sha384::digest(onnx_bytes));
        Ok(LoadedModel {
            id: manifest.id,
            version: manifest.version,
            description: manifest.description,
            index: manifest
                .inputs
                .iter()
                .enumerate()
                .map(|(i, f)| (f.name.clone(), i))
                .collect(),
            inputs: manifest.inputs,
            output: manifest.output,
            training: manifest.training,
            digest,
            plan,
        })
    }

    /// The manifest's `id`, e.g. `credit-risk-v1`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The manifest's `version`, e.g. `1.0.0`.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// SHA-384 of the ONNX bytes the model was loaded from.
    pub fn digest(&self) -> [u8; 48] {
        self.digest
    }

    /// The manifest's free-text description.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The input features in graph order, with their accepted ranges.
    pub fn inputs(&self) -> &[FeatureSpec] {
        &self.inputs
    }

    /// The output's name, which is also its key in the response.
    pub fn output_name(&self) -> &str {
        &self.output
    }

    /// Training provenance, if the manifest declares it.
    pub fn training(&self) -> Option<&TrainingInfo> {
        self.training.as_ref()
    }

    /// Runs one request and returns the JSON response bytes.
    ///
    /// `request_json` must be `{"features": {...}}` with every manifest feature exactly once, each
    /// a finite JSON number within its `[min, max]`, and nothing else. The response is
    /// `{"model": id, "model_version": version, <output>: value}`, the value rounded to 6 decimals.
    /// CPU-bound (a few microseconds for the demo model): call it from a blocking context.
    pub fn infer(&self, request_json: &[u8]) -> Result<Vec<u8>, InferenceError> {
        let features = self.parse_features(request_json)?;
        let value = catch_unwind(AssertUnwindSafe(|| self.run(&features))).map_err(|_| {
            InferenceError::Engine {
                reason: "the engine panicked",
            }
        })??;
        drop(features);
        let response = Response {
            model: &self.id,
            model_version: &self.version,
            output: &self.output,
            value: (f64::from(value) * 1e6).round() / 1e6,
        };
        serde_json::to_vec(&response).map_err(|_| InferenceError::Engine {
            reason: "the response could not be encoded",
        })
    }

    /// Parses and validates a request into the feature vector in graph order.
    fn parse_features(&self, request_json: &[u8]) -> Result<Zeroizing<Vec<f32>>, InferenceError> {
        if request_json.len() > MAX_REQUEST_BYTES {
            return Err(InferenceError::BadRequest {
                reason: "the body is larger than the limit",
            });
        }
        let raw: RawRequest = serde_json::from_slice(request_json).map_err(|e| {
            // Never surface serde's message: it quotes the offending value.
            InferenceError::BadRequest {
                reason: match e.classify() {
                    serde_json::error::Category::Data => {
                        "the body must be a JSON object {\"features\": {name: number, ...}}"
                    }
                    _ => "the body is not valid JSON",
                },
            }
        })?;
        if let Some(field) = &raw.unknown_field {
            return Err(InferenceError::UnknownField {
                field: client_name(field),
            });
        }
        if raw.duplicate_features {
            return Err(InferenceError::BadRequest {
                reason: "`features` is given more than once",
            });
        }
        let entries = match &raw.features {
            None => {
                return Err(InferenceError::BadRequest {
                    reason: "the body has no `features` field",
                });
            }
            Some(RawFeatures::NotAnObject) => {
                return Err(InferenceError::BadRequest {
                    reason: "`features` must be a JSON object",
                });
            }
            Some(RawFeatures::Entries(entries)) => entries,
        };

        let mut slots = Slots(vec![None; self.inputs.len()]);
        for (name, value) in entries {
            let Some(&ix) = self.index.get(name.as_str()) else {
                return Err(InferenceError::UnknownFeature {
                    feature: client_name(name),
                });
            };
            let spec = &self.inputs[ix];
            if slots.0[ix].is_some() {
                return Err(InferenceError::DuplicateFeature {
                    feature: spec.name.clone(),
                });
            }
            let RawValue::Number(x) = *value else {
                return Err(InferenceError::NotANumber {
                    feature: spec.name.clone(),
                });
            };
            if !(x.is_finite() && spec.min <= x && x <= spec.max) {
                return Err(InferenceError::OutOfRange {
                    feature: spec.name.clone(),
                    min: spec.min,
                    max: spec.max,
                });
            }
            slots.0[ix] = Some(x);
        }
        let mut out = Zeroizing::new(Vec::with_capacity(self.inputs.len()));
        for (spec, slot) in self.inputs.iter().zip(slots.0.iter()) {
            match slot {
                #[allow(clippy::cast_possible_truncation)] // f32 is the graph's input type
                Some(x) => out.push(*x as f32),
                None => {
                    return Err(InferenceError::MissingFeature {
                        feature: spec.name.clone(),
                    });
                }
            }
        }
        Ok(out)
    }

    /// Runs the plan on one row and returns the single output value.
    fn run(&self, features: &[f32]) -> Result<f32, InferenceError> {
        let input = Tensor::from_shape(&[1, features.len()], features).map_err(|_| {
            InferenceError::Engine {
                reason: "the input tensor could not be built",
            }
        })?;
        let outputs = self
            .plan
            .run(tvec!(input.into()))
            .map_err(|_| InferenceError::Engine {
                reason: "the model failed to run",
            })?;
        let first = outputs.first().ok_or(InferenceError::Engine {
            reason: "the model produced no output",
        })?;
        let view = first
            .to_plain_array_view::<f32>()
            .map_err(|_| InferenceError::Engine {
                reason: "the model output is not float32",
            })?;
        let mut values = view.iter();
        match (values.next(), values.next()) {
            (Some(v), None) if v.is_finite() => Ok(*v),
            (Some(_), None) => Err(InferenceError::Engine {
                reason: "the model output is not finite",
            }),
            _ => Err(InferenceError::Engine {
                reason: "the model output is not a single value",
            }),
        }
    }
}

mod request;
#[cfg(test)]
mod tests;

use request::*;
