//! `model.json`: the model's id, version and input features, parsed and checked before the
//! graph is looked at.

use std::collections::HashSet;

use serde::Deserialize;

use super::{
    MAX_DESCRIPTION_LEN, MAX_INPUTS, MAX_MANIFEST_BYTES, MAX_NAME_LEN, MAX_UNIT_LEN,
    MAX_VERSION_LEN, ModelError, RESERVED_OUTPUT_NAMES,
};

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
pub(super) struct Manifest {
    pub(super) id: String,
    pub(super) version: String,
    #[serde(default)]
    pub(super) description: String,
    pub(super) inputs: Vec<FeatureSpec>,
    pub(super) output: String,
    #[serde(default)]
    pub(super) training: Option<TrainingInfo>,
}

pub(super) fn is_identifier(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z'))
        && s.len() <= MAX_NAME_LEN
        && bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_'))
}

pub(super) fn parse_manifest(bytes: &[u8]) -> Result<Manifest, ModelError> {
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
