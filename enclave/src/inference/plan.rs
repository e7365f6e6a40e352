//! The ONNX graph: decoded, checked against the manifest (one float32 input row of the declared
//! features, one float32 output), optimized and planned once for a batch of one.

use std::sync::Arc;

use tract_onnx::pb::tensor_proto::DataLocation;
use tract_onnx::prelude::multithread::Executor;
use tract_onnx::prelude::{
    DatumType, Framework, InferenceFact, InferenceModelExt, RunOptions, TDim, TypedRunnableModel,
};
use tract_onnx::tract_hir::infer::GenericFactoid;

use super::ModelError;
use super::manifest::Manifest;

/// Decodes, checks against the manifest, and plans the graph for a batch of one.
pub(super) fn build_plan(
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
