//! `cloister.Client`'s native half: the `cloister infer` flow on the cloister-client crate.
//!
//! Every call runs on a small Tokio runtime with the GIL released, so other Python threads (and
//! `AsyncClient`'s executor) keep running while the host answers. The order is the CLI's: fresh
//! nonce, evidence fetched, verified and appraised (and the model pins checked) before the input
//! is even encrypted; only then is the request sealed to the attested key and sent, and the
//! response opened and its signature and hashes checked.

use cloister_attestation::nitro::TrustAnchor;
use cloister_attestation::{Platform, TrustPolicy, UnixTime};
use cloister_client::ClientError;
use cloister_client::session::Session;
use cloister_client::verify::{TrustConfig, VerifiedEnclave};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::errors::{Failure, raise};

/// A connection to one Cloister host under one trust policy.
#[pyclass(module = "cloister._cloister", frozen)]
pub(crate) struct NativeClient {
    session: Session,
    trust: TrustConfig,
    runtime: tokio::runtime::Runtime,
}

#[pymethods]
impl NativeClient {
    /// `host_url`: the host's base URL; `policy`: trust policy JSON bytes; `mock_root`: PEM of
    /// a mock root, for enclaves on the mock platform.
    #[new]
    #[pyo3(signature = (host_url, policy, mock_root=None))]
    fn new(
        py: Python<'_>,
        host_url: &str,
        policy: Vec<u8>,
        mock_root: Option<Vec<u8>>,
    ) -> PyResult<Self> {
        raise(py, build(host_url, &policy, mock_root.as_deref()))
    }

    /// Fetches evidence bound to a fresh nonce and verifies it; returns the verified enclave as
    /// JSON (claims, evidence digest, attested keys, served models).
    fn attest(&self, py: Python<'_>) -> PyResult<String> {
        let attested = py.detach(|| {
            self.runtime
                .block_on(self.session.attest(&self.trust, UnixTime::now()))
                .map_err(Failure::from)
        });
        let enclave = raise(py, attested)?;
        Ok(enclave_json(&enclave).to_string())
    }

    /// Verifies the enclave, then sends `input` to `model` and checks the signed result;
    /// returns `(output, result_json)`.
    fn infer<'py>(
        &self,
        py: Python<'py>,
        model: &str,
        input: Vec<u8>,
    ) -> PyResult<(Bound<'py, PyBytes>, String)> {
        let outcome = py.detach(|| self.runtime.block_on(self.run_infer(model, &input)));
        let (output, json) = raise(py, outcome)?;
        Ok((PyBytes::new(py, &output), json))
    }
}

impl NativeClient {
    async fn run_infer(&self, model: &str, input: &[u8]) -> Result<(Vec<u8>, String), Failure> {
        // Verification comes first: on any failure here, nothing of the input has left.
        let enclave = self.session.attest(&self.trust, UnixTime::now()).await?;
        enclave.check_model(model)?;
        let result = self
            .session
            .infer(&enclave, model, input, UnixTime::now())
            .await
            .map_err(|e| {
                // `infer` checks the model pins again before it seals anything; every later
                // error comes after the request was sent.
                let sent = !matches!(e, ClientError::Attestation(_));
                let f = Failure::from(e);
                if sent { f.after_sending() } else { f }
            })?;
        let st = result.statement();
        let json = serde_json::json!({
            "statement": {
                "version": st.version,
                "request_sha384": hex::encode(&st.request_sha384),
                "output_sha384": hex::encode(&st.output_sha384),
                "model_id": st.model_id,
                "model_sha384": hex::encode(&st.model_sha384),
                "evidence_sha384": hex::encode(&st.evidence_sha384),
                "issued_at": st.issued_at,
            },
            "signature": hex::encode(result.signature()),
            "enclave": enclave_json(&enclave),
        });
        Ok((result.output().to_vec(), json.to_string()))
    }
}

fn build(host_url: &str, policy: &[u8], mock_root: Option<&[u8]>) -> Result<NativeClient, Failure> {
    let policy = TrustPolicy::from_json(policy).map_err(|e| {
        let mut f = Failure::from(e);
        f.as_usage("policy");
        f
    })?;
    let mut trust = TrustConfig::new(policy);
    if let Some(pem) = mock_root {
        let anchor = TrustAnchor::from_pem(Platform::Mock, pem).map_err(|e| {
            let mut f = Failure::from(e);
            f.as_usage("mock_root");
            f
        })?;
        trust = trust.with_mock_root(anchor);
    }
    let session = Session::new(host_url)?;
    // One worker: requests are I/O-bound, and `block_on` from several Python threads at once
    // (AsyncClient's executor) is served by the same runtime.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("cloister-client")
        .enable_all()
        .build()
        .map_err(|e| {
            Failure::transport("client.runtime", format!("starting the async runtime: {e}"))
        })?;
    Ok(NativeClient {
        session,
        trust,
        runtime,
    })
}

/// What was verified about the enclave, as the Python layer reads it.
fn enclave_json(enclave: &VerifiedEnclave) -> serde_json::Value {
    let served: Vec<_> = enclave
        .bundle()
        .served_models
        .models
        .iter()
        .map(|m| serde_json::json!({"id": m.id, "version": m.version, "sha384": hex::encode(&m.sha384)}))
        .collect();
    serde_json::json!({
        "claims": enclave.claims(),
        "evidence_sha384": hex::encode(enclave.evidence_digest()),
        "kem_pub": hex::encode(enclave.kem_pub()),
        "sig_pub": hex::encode(enclave.sig_pub()),
        "served_models": served,
    })
}
