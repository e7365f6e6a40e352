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
//!
//! | module | job |
//! |---|---|
//! | `error` | [`ModelError`] (loading) and [`InferenceError`] (serving), with stable codes |
//! | `manifest` | `model.json`: [`FeatureSpec`], [`TrainingInfo`], parsed and checked |
//! | `plan` | the ONNX graph checked against the manifest and planned for a batch of one |
//! | `model` | [`LoadedModel`]: the manifest and the plan together, answering requests |
//! | `request` | request parsing and the response shape, without serde's value-quoting messages |

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

mod error;
mod manifest;
mod model;
mod plan;
mod request;
#[cfg(test)]
pub(crate) mod tests;

pub use error::{InferenceError, ModelError};
pub use manifest::{FeatureSpec, TrainingInfo};
pub use model::LoadedModel;
