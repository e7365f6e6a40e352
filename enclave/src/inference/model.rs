//! [`LoadedModel`]: a checked manifest and its planned graph, answering JSON requests.

use std::collections::HashMap;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::Arc;

use cloister_proto::model_archive::{ArchiveEntry, MODEL_FILES, ModelArchive, ModelFiles};
use tract_onnx::prelude::{Tensor, TypedRunnableModel, tvec};
use zeroize::Zeroizing;

use super::error::client_name;
use super::manifest::{FeatureSpec, TrainingInfo, parse_manifest};
use super::plan::build_plan;
use super::request::*;
use super::{InferenceError, MAX_ONNX_BYTES, MAX_REQUEST_BYTES, ModelError};

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
    /// Loads the model's files ([`MODEL_FILES`]: `model.json` and `model.onnx`) from `dir` and
    /// validates them (see [`Self::from_archive`]). Other files of the directory (README,
    /// sample inputs) are not part of the model and are not read.
    ///
    /// # Errors
    /// `archive.io` or `archive.not_regular_file` for a missing or odd file, then as
    /// [`Self::from_archive`].
    pub fn load_dir(dir: &Path) -> Result<LoadedModel, ModelError> {
        let files = ModelFiles::read_model_dir(dir)?;
        LoadedModel::from_archive(&files.archive()?)
    }

    /// Builds a model from the manifest and ONNX bytes in memory, as the archive of exactly
    /// those two files (see [`Self::from_archive`]).
    ///
    /// # Errors
    /// As [`Self::from_archive`].
    pub fn from_parts(manifest_json: &[u8], onnx_bytes: &[u8]) -> Result<LoadedModel, ModelError> {
        let archive = ModelArchive::new(vec![
            ArchiveEntry::new(MODEL_FILES[0], manifest_json),
            ArchiveEntry::new(MODEL_FILES[1], onnx_bytes),
        ])?;
        LoadedModel::from_archive(&archive)
    }

    /// Builds a model from its files in memory (a directory read whole, or an unsealed
    /// archive); touches no file. The model digest is the archive's SHA-384
    /// ([`ModelArchive::sha384`]): every file, manifest and graph alike, one way for every
    /// source, so a sealed model and the directory it was sealed from serve the same digest.
    ///
    /// The archive must hold exactly `model.json` and `model.onnx`. Checks the manifest schema
    /// (unknown fields rejected) and values, that the graph has exactly one float32 input
    /// declared `[batch, n]` with `n` = the manifest's feature count, and exactly one output
    /// named as the manifest's `output`; then fixes the batch to 1 and optimizes the graph into
    /// a single-threaded plan, once.
    ///
    /// ```
    /// use cloister_enclave::inference::LoadedModel;
    /// use cloister_proto::model_archive::ModelFiles;
    /// let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../models/credit-risk-v1");
    /// let files = ModelFiles::read_model_dir(dir.as_ref())?;
    /// let model = LoadedModel::from_archive(&files.archive()?)?;
    /// assert_eq!(model.digest(), files.archive()?.sha384());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// `model.missing_file`, `model.unexpected_file`, `model.manifest_invalid`,
    /// `model.onnx_invalid`, `model.shape_mismatch`.
    pub fn from_archive(archive: &ModelArchive<'_>) -> Result<LoadedModel, ModelError> {
        if let Some(extra) = archive
            .entries()
            .iter()
            .find(|e| !MODEL_FILES.contains(&e.path()))
        {
            return Err(ModelError::UnexpectedFile {
                path: extra.path().to_owned(),
            });
        }
        let [json_name, onnx_name] = MODEL_FILES;
        let manifest_json = archive
            .get(json_name)
            .ok_or(ModelError::MissingFile { file: json_name })?;
        let onnx_bytes = archive
            .get(onnx_name)
            .ok_or(ModelError::MissingFile { file: onnx_name })?;
        let manifest = parse_manifest(manifest_json)?;
        if onnx_bytes.len() > MAX_ONNX_BYTES {
            return Err(ModelError::onnx(format!(
                "larger than {MAX_ONNX_BYTES} bytes"
            )));
        }
        // tract may panic on some malformed graphs; a bad artifact must not take the enclave down.
        let plan = catch_unwind(AssertUnwindSafe(|| build_plan(onnx_bytes, &manifest)))
            .map_err(|_| ModelError::onnx("the engine panicked while loading the graph"))??;
        let digest = archive.sha384();
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

    /// The model digest: SHA-384 of the model archive it was loaded from (every file, manifest
    /// and graph). The served-models list and every result name it.
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
