#!/usr/bin/env python3
"""Generate Cloister's demonstration model, models/credit-risk-v1.

Re-runnable and deterministic: the same seed gives the same data set, the same
weights and byte-identical model.onnx / model.json / README.md / sample-input.json
(with the versions pinned in scripts/requirements-model.txt).

    python3.11 -m pip install -r scripts/requirements-model.txt
    python3.11 scripts/make-model.py            # writes models/credit-risk-v1/
    python3.11 scripts/make-model.py --check    # regenerates in memory, fails if files differ

THE DATA IS SYNTHETIC. The model is a demonstration payload for the enclave
runtime, not a credit decision tool.

Generative story (one applicant per row, all draws from one seeded PCG64 stream)
------------------------------------------------------------------------------
  income_k              annual income, thousand USD: log-normal, median 55, sigma 0.5
  credit_history_years  years since first credit line: Gamma(k=2.5, theta=4)
  debt_to_income        monthly debt payments / monthly income: 1.1 * Beta(2, 5),
                        shifted up for lower incomes (-0.06 * ln(income/55))
  credit_utilization    share of revolving credit in use: Beta(1.6, 2.8)
  late_payments_12m     payments 30+ days late in the last 12 months:
                        Poisson(0.15 + 1.6 * utilization^2 + 0.8 * dti)
  loan_amount_k         requested loan, thousand USD: log-normal around 0.35 * income, sigma 0.6
Every feature is clipped to the [min, max] range published in model.json.

The "true" default probability is logistic in a latent score:

  z = b0
      + 2.2 * (dti - 0.30)
      + 1.8 * (utilization - 0.35)
      + 0.55 * late - 0.02 * late^2                    (diminishing effect)
      - 0.55 * ln(income / 55)
      - 0.90 * (ln(1 + history) - ln 11)
      + 0.70 * ln(loan / (0.35 * income))              (loan-to-income)
      + 2.50 * (dti - 0.30) * (utilization - 0.35)     (interaction: leveraged AND maxed out)
      + 0.30 * late * exp(-history / 3)                (interaction: late payments on a thin file)
  p = sigmoid(z),  default ~ Bernoulli(p)

Model
-----
An MLP 6 -> 16 -> 8 -> 1 (ReLU, ReLU, sigmoid) trained in float64 with deterministic
mini-batch Adam (plain numpy) on the binary cross-entropy (+ small L2), 80/20 train/test split.
The ONNX graph (opset 13) bakes the training-set standardization in:

  features[N,6] -Sub(mean)-> -Div(std)-> MatMul/Add -> Relu -> MatMul/Add -> Relu
                -> MatMul/Add -> Sigmoid -> default_probability[N,1]
"""

from __future__ import annotations

import os

# Single-threaded BLAS before numpy is imported: fewer sources of run-to-run drift.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import pathlib  # noqa: E402
import struct  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402
import onnx  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

MODEL_ID = "credit-risk-v1"
MODEL_VERSION = "1.0.0"
SEED = 20240611
SAMPLES = 20_000
TEST_FRACTION = 0.2
HIDDEN = (16, 8)
EPOCHS = 60
BATCH = 256
LEARNING_RATE = 3e-3
L2 = 1e-4
INTERCEPT = -2.4  # b0 of the latent score: about one applicant in six defaults
OPSET = 13
IR_VERSION = 8

# (name, unit, min, max) in graph order. min/max are the generator's clip bounds and the
# range the enclave accepts; outside it the model would be extrapolating.
FEATURES = [
    ("income_k", "thousand USD per year", 8.0, 400.0),
    ("debt_to_income", "ratio: monthly debt payments / monthly income", 0.0, 1.2),
    ("credit_utilization", "ratio 0..1 of revolving credit in use", 0.0, 1.0),
    ("late_payments_12m", "count of payments 30+ days late in the last 12 months", 0.0, 24.0),
    ("credit_history_years", "years since the first credit line was opened", 0.0, 50.0),
    ("loan_amount_k", "thousand USD requested", 1.0, 500.0),
]
NAMES = [f[0] for f in FEATURES]

# Fixed applicants whose probabilities are printed and recorded (README, Rust unit tests).
SAMPLE = {
    "income_k": 52.0,
    "debt_to_income": 0.31,
    "credit_utilization": 0.42,
    "late_payments_12m": 1.0,
    "credit_history_years": 7.5,
    "loan_amount_k": 18.0,
}
RISKY = {
    "income_k": 24.0,
    "debt_to_income": 0.75,
    "credit_utilization": 0.93,
    "late_payments_12m": 6.0,
    "credit_history_years": 1.5,
    "loan_amount_k": 40.0,
}
SAFE = {
    "income_k": 140.0,
    "debt_to_income": 0.12,
    "credit_utilization": 0.08,
    "late_payments_12m": 0.0,
    "credit_history_years": 22.0,
    "loan_amount_k": 10.0,
}


# ----------------------------------------------------------------------------- data


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def true_logit(x: np.ndarray) -> np.ndarray:
    income, dti, util, late, hist, loan = (x[:, i] for i in range(6))
    return (
        INTERCEPT
        + 2.2 * (dti - 0.30)
        + 1.8 * (util - 0.35)
        + 0.55 * late
        - 0.02 * late**2
        - 0.55 * np.log(income / 55.0)
        - 0.90 * (np.log1p(hist) - np.log(11.0))
        + 0.70 * np.log(loan / (0.35 * income))
        + 2.50 * (dti - 0.30) * (util - 0.35)
        + 0.30 * late * np.exp(-hist / 3.0)
    )


def generate(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    income = np.exp(rng.normal(np.log(55.0), 0.5, n))
    hist = rng.gamma(2.5, 4.0, n)
    dti = 1.1 * rng.beta(2.0, 5.0, n) - 0.06 * np.log(income / 55.0)
    util = rng.beta(1.6, 2.8, n)
    late = rng.poisson(0.15 + 1.6 * util**2 + 0.8 * np.clip(dti, 0.0, None)).astype(np.float64)
    loan = np.exp(rng.normal(np.log(0.35 * income), 0.6, n))
    x = np.stack([income, dti, util, late, hist, loan], axis=1)
    lo = np.array([f[2] for f in FEATURES])
    hi = np.array([f[3] for f in FEATURES])
    x = np.clip(x, lo, hi)
    p = sigmoid(true_logit(x))
    y = (rng.random(n) < p).astype(np.float64)
    return x, y, p


# ----------------------------------------------------------------------------- metrics


def auc(y: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC by the Mann-Whitney rank statistic, ties given their average rank."""
    order = np.argsort(score, kind="mergesort")
    s = score[order]
    ranks = np.empty(len(s), dtype=np.float64)
    i = 0
    while i < len(s):
        j = i
        while j + 1 < len(s) and s[j + 1] == s[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    pos = y == 1
    n_pos = int(pos.sum())
    n_neg = len(y) - n_pos
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def accuracy(y: np.ndarray, p: np.ndarray) -> float:
    return float(((p >= 0.5) == (y == 1)).mean())


# ----------------------------------------------------------------------------- model


def init_params(rng: np.random.Generator) -> list[np.ndarray]:
    sizes = [len(FEATURES), *HIDDEN, 1]
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        params.append(rng.normal(0.0, np.sqrt(2.0 / fan_in), (fan_in, fan_out)))  # He init
        params.append(np.zeros(fan_out))
    return params


def forward(params: list[np.ndarray], xs: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Returns sigmoid output [N] and the activations needed for backprop."""
    w1, b1, w2, b2, w3, b3 = params
    h1 = np.maximum(xs @ w1 + b1, 0.0)
    h2 = np.maximum(h1 @ w2 + b2, 0.0)
    out = sigmoid(h2 @ w3 + b3)[:, 0]
    return out, [xs, h1, h2]


def gradients(params, xs, y):
    w1, b1, w2, b2, w3, b3 = params
    p, (a0, h1, h2) = forward(params, xs)
    n = len(y)
    d3 = ((p - y) / n)[:, None]  # d(mean BCE)/d(logit)
    g_w3 = h2.T @ d3 + L2 * w3
    g_b3 = d3.sum(axis=0)
    d2 = (d3 @ w3.T) * (h2 > 0)
    g_w2 = h1.T @ d2 + L2 * w2
    g_b2 = d2.sum(axis=0)
    d1 = (d2 @ w2.T) * (h1 > 0)
    g_w1 = a0.T @ d1 + L2 * w1
    g_b1 = d1.sum(axis=0)
    return [g_w1, g_b1, g_w2, g_b2, g_w3, g_b3]


def train(rng: np.random.Generator, xs: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
    params = init_params(rng)
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    step = 0
    for _epoch in range(EPOCHS):
        perm = rng.permutation(len(y))
        for start in range(0, len(y), BATCH):
            idx = perm[start : start + BATCH]
            grads = gradients(params, xs[idx], y[idx])
            step += 1
            for k, g in enumerate(grads):
                m[k] = beta1 * m[k] + (1 - beta1) * g
                v[k] = beta2 * v[k] + (1 - beta2) * g * g
                m_hat = m[k] / (1 - beta1**step)
                v_hat = v[k] / (1 - beta2**step)
                params[k] = params[k] - LEARNING_RATE * m_hat / (np.sqrt(v_hat) + eps)
    return params


# ----------------------------------------------------------------------------- export


def to_onnx(params: list[np.ndarray], mean: np.ndarray, std: np.ndarray) -> bytes:
    w1, b1, w2, b2, w3, b3 = (p.astype(np.float32) for p in params)
    inits = [
        numpy_helper.from_array(mean.astype(np.float32), "feature_mean"),
        numpy_helper.from_array(std.astype(np.float32), "feature_std"),
        numpy_helper.from_array(w1, "fc1.weight"),
        numpy_helper.from_array(b1, "fc1.bias"),
        numpy_helper.from_array(w2, "fc2.weight"),
        numpy_helper.from_array(b2, "fc2.bias"),
        numpy_helper.from_array(w3, "fc3.weight"),
        numpy_helper.from_array(b3, "fc3.bias"),
    ]
    nodes = [
        helper.make_node("Sub", ["features", "feature_mean"], ["centered"], name="standardize_sub"),
        helper.make_node("Div", ["centered", "feature_std"], ["standardized"], name="standardize_div"),
        helper.make_node("MatMul", ["standardized", "fc1.weight"], ["fc1.mm"], name="fc1_matmul"),
        helper.make_node("Add", ["fc1.mm", "fc1.bias"], ["fc1.out"], name="fc1_add"),
        helper.make_node("Relu", ["fc1.out"], ["fc1.act"], name="fc1_relu"),
        helper.make_node("MatMul", ["fc1.act", "fc2.weight"], ["fc2.mm"], name="fc2_matmul"),
        helper.make_node("Add", ["fc2.mm", "fc2.bias"], ["fc2.out"], name="fc2_add"),
        helper.make_node("Relu", ["fc2.out"], ["fc2.act"], name="fc2_relu"),
        helper.make_node("MatMul", ["fc2.act", "fc3.weight"], ["fc3.mm"], name="fc3_matmul"),
        helper.make_node("Add", ["fc3.mm", "fc3.bias"], ["logit"], name="fc3_add"),
        helper.make_node("Sigmoid", ["logit"], ["default_probability"], name="output_sigmoid"),
    ]
    graph = helper.make_graph(
        nodes,
        MODEL_ID,
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", len(FEATURES)])],
        [helper.make_tensor_value_info("default_probability", TensorProto.FLOAT, ["N", 1])],
        initializer=inits,
    )
    graph.doc_string = "features (in order): " + ", ".join(NAMES)
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="cloister/scripts/make-model.py",
        producer_version=MODEL_VERSION,
    )
    model.ir_version = IR_VERSION
    model.doc_string = "Synthetic-data demonstration model. Not a credit decision tool."
    onnx.checker.check_model(model, full_check=True)
    return model.SerializeToString(deterministic=True)


def onnx_predict(onnx_bytes: bytes, rows: np.ndarray) -> np.ndarray:
    sess = ReferenceEvaluator(onnx.load_from_string(onnx_bytes))
    (out,) = sess.run(None, {"features": rows.astype(np.float32)})
    return out


def row(applicant: dict[str, float]) -> np.ndarray:
    return np.array([[applicant[n] for n in NAMES]], dtype=np.float64)


# ----------------------------------------------------------------------------- files


def model_digest(model_json: bytes, onnx_bytes: bytes) -> str:
    """SHA-384 of the canonical model archive (proto/src/model_archive.rs): "CLMODELv1", the
    file count (u32), then per file in path order lp16(path), u64 length, bytes."""
    out = b"CLMODELv1" + struct.pack(">I", 2)
    for name, data in (("model.json", model_json), ("model.onnx", onnx_bytes)):
        out += struct.pack(">H", len(name)) + name.encode() + struct.pack(">Q", len(data)) + data
    return hashlib.sha384(out).hexdigest()


def readme(metrics: dict, expected: dict[str, float], onnx_bytes: bytes, model_json: bytes) -> str:
    feature_rows = "\n".join(
        f"| {i} | `{n}` | {u} | {lo:g} | {hi:g} |" for i, (n, u, lo, hi) in enumerate(FEATURES)
    )
    return f"""# credit-risk-v1 — demonstration model

> **Synthetic data only. This is a demonstration payload for the Cloister enclave runtime,
> not a credit decision tool.** It was trained on data drawn from a made-up generative story
> (documented in `scripts/make-model.py`); it knows nothing about real people or real lending,
> and its outputs must not be used to make or inform any decision about anyone.

## What it computes

Given one applicant's six features it returns `default_probability`, the model's estimate of
the probability that the (synthetic) applicant defaults.

ONNX (opset {OPSET}, IR {IR_VERSION}): input `features` float32 `[N, 6]`, output
`default_probability` float32 `[N, 1]`. The graph standardizes the raw features itself
(`Sub` training mean, `Div` training standard deviation), then runs an MLP
6 → 16 → 8 → 1 (`MatMul`/`Add`/`Relu`, final `Sigmoid`). 257 weights, {len(onnx_bytes)} bytes.

| index | feature | unit | min | max |
|---|---|---|---|---|
{feature_rows}

`model.json` is the manifest the enclave validates against the graph; requests outside
[min, max] are rejected, not extrapolated. `sample-input.json` is a plaintext inference request body
(`{{"features": {{name: number, ...}}}}`, every feature required, no others), the
content a caller encrypts into its OHTTP request.

## Metrics (seed {SEED}, {SAMPLES} samples, {int(SAMPLES * (1 - TEST_FRACTION))} train / {int(SAMPLES * TEST_FRACTION)} test)

| | train | test |
|---|---|---|
| accuracy (threshold 0.5) | {metrics["train_accuracy"]:.4f} | {metrics["test_accuracy"]:.4f} |
| ROC AUC | {metrics["train_auc"]:.4f} | {metrics["test_auc"]:.4f} |

Default rate {metrics["default_rate"]:.4f}; the generator's true probability reaches test AUC
{metrics["bayes_test_auc"]:.4f} (the ceiling to expect on this data).

Expected outputs (ONNX reference evaluator, float32), also asserted by the enclave's unit tests:

| applicant | default_probability |
|---|---|
| `sample-input.json` | {expected["sample"]:.6f} |
| riskier applicant (see script: `RISKY`) | {expected["risky"]:.6f} |
| safer applicant (see script: `SAFE`) | {expected["safe"]:.6f} |

Model digest (what `LoadedModel::digest` reports, the served-models list signs and a trust
policy's `models` entry pins): SHA-384 of the canonical model archive of `model.json` and
`model.onnx` (`cloister_proto::model_archive`; this README and `sample-input.json` are not part
of the model):
`{model_digest(model_json, onnx_bytes)}`

SHA-384 of `model.onnx` alone:
`{hashlib.sha384(onnx_bytes).hexdigest()}`

## Regenerate

```sh
python3.11 -m pip install -r scripts/requirements-model.txt
python3.11 scripts/make-model.py          # rewrites this directory
python3.11 scripts/make-model.py --check  # verifies the committed files are what the script makes
```

Everything here is written by the script (this README included); the output is
byte-identical for the same seed and pinned package versions on the same CPU architecture
(BLAS kernels can round differently elsewhere: `--check` tells). If the bytes change, update
the expected values and digests in `enclave/src/inference/tests.rs`.
"""


def build() -> tuple[dict[str, bytes], dict, dict[str, float]]:
    rng = np.random.default_rng(SEED)
    x, y, p_true = generate(rng, SAMPLES)
    n_test = int(SAMPLES * TEST_FRACTION)
    perm = rng.permutation(SAMPLES)
    test_idx, train_idx = perm[:n_test], perm[n_test:]
    x_tr, y_tr, x_te, y_te = x[train_idx], y[train_idx], x[test_idx], y[test_idx]

    mean = x_tr.mean(axis=0)
    std = x_tr.std(axis=0)
    # Train on exactly the standardization the graph will apply (float32 constants).
    mean32, std32 = mean.astype(np.float32), std.astype(np.float32)
    standardize = lambda a: (a - mean32.astype(np.float64)) / std32.astype(np.float64)  # noqa: E731

    params = train(rng, standardize(x_tr), y_tr)
    onnx_bytes = to_onnx(params, mean32, std32)

    # Metrics from the exported float32 graph itself, not the float64 training copy.
    p_tr = onnx_predict(onnx_bytes, x_tr)[:, 0].astype(np.float64)
    p_te = onnx_predict(onnx_bytes, x_te)[:, 0].astype(np.float64)
    p64_te, _ = forward(params, standardize(x_te))
    drift = float(np.max(np.abs(p64_te - p_te)))
    assert drift < 1e-4, f"float32 export drifted from float64 training model by {drift}"
    metrics = {
        "train_accuracy": accuracy(y_tr, p_tr),
        "test_accuracy": accuracy(y_te, p_te),
        "train_auc": auc(y_tr, p_tr),
        "test_auc": auc(y_te, p_te),
        "bayes_test_auc": auc(y_te, p_true[test_idx]),
        "default_rate": float(y.mean()),
    }
    expected = {
        name: float(onnx_predict(onnx_bytes, row(app))[0, 0])
        for name, app in (("sample", SAMPLE), ("risky", RISKY), ("safe", SAFE))
    }

    manifest = {
        "id": MODEL_ID,
        "version": MODEL_VERSION,
        "description": (
            "Demonstration credit-risk MLP trained on SYNTHETIC data only; not a credit "
            "decision tool. Returns the estimated probability of default for one applicant."
        ),
        "inputs": [{"name": n, "unit": u, "min": lo, "max": hi} for n, u, lo, hi in FEATURES],
        "output": "default_probability",
        "training": {
            "seed": SEED,
            "samples": SAMPLES,
            "test_auc": round(metrics["test_auc"], 4),
        },
    }
    model_json = (json.dumps(manifest, indent=2) + "\n").encode()
    files = {
        "model.onnx": onnx_bytes,
        "model.json": model_json,
        "sample-input.json": (json.dumps({"features": SAMPLE}, indent=2) + "\n").encode(),
        "README.md": readme(metrics, expected, onnx_bytes, model_json).encode(),
    }
    return files, metrics, expected


def main() -> int:
    repo = pathlib.Path(__file__).resolve().parent.parent
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--out", type=pathlib.Path, default=repo / "models" / MODEL_ID)
    ap.add_argument("--check", action="store_true", help="compare with the files on disk, write nothing")
    args = ap.parse_args()

    files, metrics, expected = build()
    for k, v in metrics.items():
        print(f"{k:>16}: {v:.4f}")
    for k, v in expected.items():
        print(f"{'expected ' + k:>16}: {v:.9f}")
    print(f"{'onnx bytes':>16}: {len(files['model.onnx'])}")
    print(f"{'onnx sha384':>16}: {hashlib.sha384(files['model.onnx']).hexdigest()}")
    print(f"{'model sha384':>16}: {model_digest(files['model.json'], files['model.onnx'])}")

    if args.check:
        stale = [n for n, b in files.items() if not (args.out / n).is_file() or (args.out / n).read_bytes() != b]
        if stale:
            print(f"STALE in {args.out}: {', '.join(stale)}", file=sys.stderr)
            return 1
        print(f"up to date: {args.out}")
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (args.out / name).write_bytes(data)
    print(f"wrote {', '.join(files)} to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
