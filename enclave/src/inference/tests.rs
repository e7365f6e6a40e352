#![allow(clippy::unwrap_used)]

use super::*;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha384};

/// Values printed by `scripts/make-model.py` (ONNX reference evaluator, float32).
pub(crate) const EXPECTED_SAMPLE: f64 = 0.157_118_529;
const EXPECTED_RISKY: f64 = 0.984_129_190;
const EXPECTED_SAFE: f64 = 0.000_653_687;
pub(crate) const TOLERANCE: f64 = 1e-5;
/// SHA-384 of the model archive of models/credit-risk-v1 (model.json and model.onnx; see
/// cloister_proto::model_archive), as models/credit-risk-v1/README.md quotes it.
pub(crate) const EXPECTED_DIGEST: &str = "eaf877957c32bb8668685a25a48ca7611b03fc4a042c0e196e75ecc0670b50d501b4a593e1199bbe5357488621b1e469";
/// SHA-384 of model.onnx alone: the digest before issue 13, which no longer names the model.
const ONNX_ONLY_DIGEST: &str = "db512d07dd5fe101347b850dc0af398953bb43579f5c69495d6d2ec414389df00a7fed475aebfe1029194fa94ea09333";

pub(crate) const SAMPLE: &str = r#"{"features": {"income_k": 52.0, "debt_to_income": 0.31, "credit_utilization": 0.42,
    "late_payments_12m": 1, "credit_history_years": 7.5, "loan_amount_k": 18.0}}"#;
const RISKY: &str = r#"{"features": {"income_k": 24.0, "debt_to_income": 0.75, "credit_utilization": 0.93,
    "late_payments_12m": 6, "credit_history_years": 1.5, "loan_amount_k": 40.0}}"#;
const SAFE: &str = r#"{"features": {"income_k": 140.0, "debt_to_income": 0.12, "credit_utilization": 0.08,
    "late_payments_12m": 0, "credit_history_years": 22.0, "loan_amount_k": 10.0}}"#;

const _: () = {
    const fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<LoadedModel>();
    assert_send_sync::<Arc<LoadedModel>>();
    assert_send_sync::<ModelError>();
    assert_send_sync::<InferenceError>();
};

pub(crate) fn model_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/credit-risk-v1")
}

fn parts() -> (Vec<u8>, Vec<u8>) {
    let dir = model_dir();
    (
        std::fs::read(dir.join("model.json")).unwrap(),
        std::fs::read(dir.join("model.onnx")).unwrap(),
    )
}

fn model() -> LoadedModel {
    LoadedModel::load_dir(&model_dir()).unwrap()
}

fn probability(m: &LoadedModel, request: &str) -> f64 {
    let out: serde_json::Value =
        serde_json::from_slice(&m.infer(request.as_bytes()).unwrap()).unwrap();
    out["default_probability"].as_f64().unwrap()
}

fn infer_err(m: &LoadedModel, request: &str) -> InferenceError {
    m.infer(request.as_bytes()).unwrap_err()
}

/// Replaces `"<name>": <anything up to , or }>` in SAMPLE with `replacement`.
fn sample_with(name: &str, replacement: &str) -> String {
    let start = SAMPLE.find(&format!("\"{name}\"")).unwrap();
    let end = start + SAMPLE[start..].find([',', '}']).unwrap();
    format!("{}{}{}", &SAMPLE[..start], replacement, &SAMPLE[end..])
}

fn manifest_with(edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    let (json, _) = parts();
    let mut v: serde_json::Value = serde_json::from_slice(&json).unwrap();
    edit(&mut v);
    serde_json::to_vec(&v).unwrap()
}

fn load_err(manifest: &[u8], onnx: &[u8]) -> ModelError {
    LoadedModel::from_parts(manifest, onnx).unwrap_err()
}

#[test]
fn loads_the_demo_model() {
    let m = model();
    assert_eq!(m.id(), "credit-risk-v1");
    assert_eq!(m.version(), "1.0.0");
    assert_eq!(m.output_name(), "default_probability");
    let names: Vec<&str> = m.inputs().iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "income_k",
            "debt_to_income",
            "credit_utilization",
            "late_payments_12m",
            "credit_history_years",
            "loan_amount_k"
        ]
    );
    assert_eq!(m.training().unwrap().seed, 20_240_611);
    assert!(m.description().contains("SYNTHETIC"));
    assert_eq!(hex::encode(m.digest()), EXPECTED_DIGEST);
    // The digest covers the manifest and the graph, in the canonical archive.
    let (json, onnx) = parts();
    assert_eq!(hex::encode(Sha384::digest(&onnx)), ONNX_ONLY_DIGEST);
    let mut archive = b"CLMODELv1\0\0\0\x02".to_vec();
    for (name, bytes) in [("model.json", &json), ("model.onnx", &onnx)] {
        archive.extend_from_slice(&(name.len() as u16).to_be_bytes());
        archive.extend_from_slice(name.as_bytes());
        archive.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
        archive.extend_from_slice(bytes);
    }
    assert_eq!(m.digest().as_slice(), Sha384::digest(&archive).as_slice());
    let debug = format!("{m:?}");
    assert!(debug.contains("credit-risk-v1") && debug.contains(EXPECTED_DIGEST));
}

#[test]
fn from_parts_matches_load_dir() {
    let (json, onnx) = parts();
    let a = LoadedModel::from_parts(&json, &onnx).unwrap();
    let b = model();
    assert_eq!(a.digest(), b.digest());
    assert_eq!(
        a.infer(SAMPLE.as_bytes()).unwrap(),
        b.infer(SAMPLE.as_bytes()).unwrap()
    );
}

#[test]
fn sample_matches_numpy_reference() {
    let m = model();
    let p = probability(&m, SAMPLE);
    assert!(
        (p - EXPECTED_SAMPLE).abs() < TOLERANCE,
        "got {p}, expected {EXPECTED_SAMPLE}"
    );
    let file = std::fs::read(model_dir().join("sample-input.json")).unwrap();
    let out: serde_json::Value = serde_json::from_slice(&m.infer(&file).unwrap()).unwrap();
    assert_eq!(out["model"], "credit-risk-v1");
    assert_eq!(out["model_version"], "1.0.0");
    assert_eq!(out.as_object().unwrap().len(), 3);
    assert!((out["default_probability"].as_f64().unwrap() - EXPECTED_SAMPLE).abs() < TOLERANCE);
}

#[test]
fn response_is_exact_json() {
    // The value sits near a 6th-decimal rounding boundary (0.1571185), so the last digit
    // may differ between f32 kernels; everything else is fixed.
    let out = String::from_utf8(model().infer(SAMPLE.as_bytes()).unwrap()).unwrap();
    let prefix =
        r#"{"model":"credit-risk-v1","model_version":"1.0.0","default_probability":0.15711"#;
    assert!(out.starts_with(prefix) && out.ends_with('}'), "{out}");
    let digits = &out[prefix.len()..out.len() - 1];
    assert!(digits == "8" || digits == "9", "{out}");
}

#[test]
fn riskier_applicant_scores_higher() {
    let m = model();
    let risky = probability(&m, RISKY);
    let safe = probability(&m, SAFE);
    assert!((risky - EXPECTED_RISKY).abs() < TOLERANCE, "risky {risky}");
    assert!((safe - EXPECTED_SAFE).abs() < TOLERANCE, "safe {safe}");
    assert!(risky > probability(&m, SAMPLE) && probability(&m, SAMPLE) > safe);
    // Monotone in late payments, everything else equal.
    let more_late = sample_with("late_payments_12m", r#""late_payments_12m": 5"#);
    assert!(probability(&m, &more_late) > probability(&m, SAMPLE));
}

#[test]
fn bounds_are_inclusive() {
    let m = model();
    let low = sample_with("income_k", r#""income_k": 8"#);
    let high = sample_with("income_k", r#""income_k": 400.0"#);
    assert!(probability(&m, &low).is_finite());
    assert!(probability(&m, &high).is_finite());
}

#[test]
fn shared_across_threads() {
    let m = Arc::new(model());
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let m = Arc::clone(&m);
            std::thread::spawn(move || (0..50).map(|_| probability(&m, SAMPLE)).collect::<Vec<_>>())
        })
        .collect();
    for h in handles {
        for p in h.join().unwrap() {
            assert!((p - EXPECTED_SAMPLE).abs() < TOLERANCE);
        }
    }
}

#[test]
fn request_errors_have_stable_codes() {
    let m = model();
    let cases: Vec<(String, &str)> = vec![
        ("not json".into(), "inference.bad_request"),
        ("[1, 2]".into(), "inference.bad_request"),
        ("{}".into(), "inference.bad_request"),
        (r#"{"features": [1, 2, 3]}"#.into(), "inference.bad_request"),
        (r#"{"features": null}"#.into(), "inference.bad_request"),
        (
            format!("{} ", SAMPLE.replacen('{', r#"{"extra": 1, "#, 1)),
            "inference.bad_request",
        ),
        (
            SAMPLE.replacen("}}", r#"}, "features": {}}"#, 1),
            "inference.bad_request",
        ),
        (
            sample_with("income_k", r#""income_k": "52""#),
            "inference.bad_request",
        ),
        (
            sample_with("income_k", r#""income_k": null"#),
            "inference.bad_request",
        ),
        (
            sample_with("income_k", r#""income_k": 52, "income_k": 53"#),
            "inference.bad_request",
        ),
        (
            sample_with("income_k", r#""income_k": 1e999"#),
            "inference.bad_request",
        ),
        (
            format!("{SAMPLE}{}", " ".repeat(MAX_REQUEST_BYTES)),
            "inference.bad_request",
        ),
        (
            sample_with("income_k", r#""zzz": 1"#),
            "inference.unknown_feature",
        ),
        (
            sample_with("income_k", r#""Income_K": 52"#),
            "inference.unknown_feature",
        ),
        (
            sample_with("income_k", r#""income_k": 52, "bonus": 1"#),
            "inference.unknown_feature",
        ),
        (
            SAMPLE.replacen(r#""income_k": 52.0, "#, "", 1),
            "inference.missing_feature",
        ),
        (
            sample_with("income_k", r#""income_k": 7.99"#),
            "inference.out_of_range",
        ),
        (
            sample_with("income_k", r#""income_k": 400.01"#),
            "inference.out_of_range",
        ),
        (
            sample_with("credit_utilization", r#""credit_utilization": -0.1"#),
            "inference.out_of_range",
        ),
    ];
    for (request, code) in &cases {
        let err = infer_err(&m, request);
        assert_eq!(err.code(), *code, "request {request:?} gave {err}");
    }
    let missing = infer_err(&m, &SAMPLE.replacen(r#""income_k": 52.0, "#, "", 1));
    assert!(
        matches!(&missing, InferenceError::MissingFeature { feature } if feature == "income_k")
    );
    assert_eq!(missing.to_string(), "missing feature `income_k`");
    let range = infer_err(&m, &sample_with("income_k", r#""income_k": 7.99"#));
    assert_eq!(
        range.to_string(),
        "feature `income_k` is outside its accepted range [8, 400]"
    );
    let unknown = infer_err(&m, &sample_with("income_k", r#""zzz": 1"#));
    assert_eq!(unknown.to_string(), "unknown feature `zzz`");
    let extra = infer_err(&m, &SAMPLE.replacen('{', r#"{"extra": 1, "#, 1));
    assert_eq!(
        extra.to_string(),
        "bad request: unknown top-level field `extra`"
    );
    let engine = InferenceError::Engine { reason: "x" };
    assert_eq!(engine.code(), "inference.engine");
}

#[test]
fn error_messages_never_contain_submitted_values() {
    let m = model();
    const SECRET_NUM: &str = "987654.321";
    const SECRET_STR: &str = "SECRET_31337";
    let cases = [
        sample_with("income_k", &format!(r#""income_k": {SECRET_NUM}"#)),
        sample_with("income_k", &format!(r#""income_k": -{SECRET_NUM}"#)),
        sample_with("income_k", &format!(r#""income_k": "{SECRET_STR}""#)),
        sample_with("income_k", &format!(r#""income_k": ["{SECRET_STR}"]"#)),
        sample_with(
            "income_k",
            &format!(r#""income_k": {{"v": "{SECRET_STR}"}}"#),
        ),
        sample_with(
            "income_k",
            &format!(r#""income_k": 52, "income_k": {SECRET_NUM}"#),
        ),
        sample_with(
            "income_k",
            &format!(r#""income_k": 52, "extra": {SECRET_NUM}"#),
        ),
        sample_with("income_k", &format!(r#""income {SECRET_STR} k": 52"#)),
        SAMPLE.replacen('{', &format!(r#"{{"extra": "{SECRET_STR}", "#), 1),
        SAMPLE.replacen('{', &format!(r#"{{"{SECRET_STR} here": 1, "#), 1),
        format!(r#"{{"features": "{SECRET_STR}"}}"#),
        format!(r#"{{"features": {SECRET_NUM}}}"#),
        format!(r#"{{"features": {{"income_k": {SECRET_NUM}"#),
        format!(r#"["{SECRET_STR}", {SECRET_NUM}]"#),
        format!(r#""{SECRET_STR}""#),
        format!("{SAMPLE} {SECRET_STR}"),
        sample_with("income_k", &format!(r#""income_k": {SECRET_NUM}e999"#)),
    ];
    for request in &cases {
        let err = infer_err(&m, request);
        for text in [err.to_string(), format!("{err:?}")] {
            assert!(
                !text.contains("987654") && !text.contains("31337"),
                "error for {request:?} leaks the value: {text}"
            );
        }
    }
}

#[test]
fn manifest_errors() {
    let (_, onnx) = parts();
    let cases: Vec<Vec<u8>> = vec![
        b"not json".to_vec(),
        manifest_with(|v| v["extra"] = 1.into()),
        manifest_with(|v| v["inputs"][0]["extra"] = 1.into()),
        manifest_with(|v| v["training"]["extra"] = 1.into()),
        manifest_with(|v| {
            v.as_object_mut()
                .unwrap()
                .remove("id")
                .map(drop)
                .unwrap_or(())
        }),
        manifest_with(|v| v["id"] = "Bad Id".into()),
        manifest_with(|v| v["version"] = "".into()),
        manifest_with(|v| v["inputs"] = serde_json::json!([])),
        manifest_with(|v| v["inputs"][1]["name"] = "income_k".into()),
        manifest_with(|v| v["inputs"][1]["name"] = "Debt".into()),
        manifest_with(|v| v["inputs"][0]["min"] = 500.0.into()),
        manifest_with(|v| v["output"] = "model".into()),
        manifest_with(|v| v["training"]["test_auc"] = 1.5.into()),
        vec![b' '; MAX_MANIFEST_BYTES + 1],
    ];
    for manifest in &cases {
        assert_eq!(load_err(manifest, &onnx).code(), "model.manifest_invalid");
    }
}

#[test]
fn onnx_and_shape_errors() {
    let (json, onnx) = parts();
    assert_eq!(
        load_err(&json, b"definitely not onnx").code(),
        "model.onnx_invalid"
    );
    assert_eq!(
        load_err(&json, &onnx[..onnx.len() / 2]).code(),
        "model.onnx_invalid"
    );
    assert_eq!(load_err(&json, b"").code(), "model.onnx_invalid");
    let five = manifest_with(|v| {
        v["inputs"].as_array_mut().unwrap().pop();
    });
    let err = load_err(&five, &onnx);
    assert_eq!(err.code(), "model.shape_mismatch");
    assert_eq!(
        err.to_string(),
        "ONNX graph does not match the manifest: the graph takes 6 features; the manifest declares 5"
    );
    let seven = manifest_with(|v| {
        v["inputs"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"name": "extra", "min": 0, "max": 1}));
    });
    assert_eq!(load_err(&seven, &onnx).code(), "model.shape_mismatch");
    let renamed = manifest_with(|v| v["output"] = "probability".into());
    assert_eq!(load_err(&renamed, &onnx).code(), "model.shape_mismatch");
}

#[test]
fn missing_dir_is_io_error() {
    let err = LoadedModel::load_dir(Path::new("/nonexistent/cloister-model")).unwrap_err();
    assert_eq!(err.code(), "archive.io");
    assert!(err.to_string().contains("model.json"));
}

#[test]
fn an_archive_must_hold_exactly_the_model_files() {
    use cloister_proto::model_archive::{ArchiveEntry, ModelArchive};
    let (json, onnx) = parts();
    let only_json = ModelArchive::new(vec![ArchiveEntry::new("model.json", &json)]).unwrap();
    let err = LoadedModel::from_archive(&only_json).unwrap_err();
    assert_eq!(err.code(), "model.missing_file");
    assert!(err.to_string().contains("model.onnx"), "{err}");
    let extra = ModelArchive::new(vec![
        ArchiveEntry::new("model.json", &json),
        ArchiveEntry::new("model.onnx", &onnx),
        ArchiveEntry::new("weights/extra.bin", b"x"),
    ])
    .unwrap();
    let err = LoadedModel::from_archive(&extra).unwrap_err();
    assert_eq!(err.code(), "model.unexpected_file");
    assert!(err.to_string().contains("weights/extra.bin"), "{err}");
}
