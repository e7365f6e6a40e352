//! Rust errors to Python exceptions.
//!
//! The exception classes live in Python (`cloister/_errors.py`), so that users can subclass,
//! pickle and type-check them like any other; this module only says which one: a `kind` (the
//! layer that failed), the stable `code` the CLI prints, the message and the hint.
//! `cloister._errors.from_native` picks the class.

use cloister_attestation::AttestationError;
use cloister_client::ClientError;
use cloister_eif::EifError;
use pyo3::prelude::*;

/// Why a call failed, in the terms the Python layer maps to an exception class.
#[derive(Debug)]
pub(crate) struct Failure {
    /// The layer: `nitro`, `snp`, `tdx`, `cert`, `policy`, `evidence`, `mock`, `bundle`,
    /// `result`, `enclave`, `transport`, `eif`, `usage`.
    kind: &'static str,
    /// The stable dotted code.
    code: String,
    /// What happened.
    message: String,
    /// What to do about it (empty when the layer has no hint).
    hint: String,
    /// For the enclave's own refusal: its inner HTTP status.
    status: Option<u16>,
    /// Whether the caller's input had left the process when this happened (inference only).
    input_sent: bool,
}

impl Failure {
    /// A usage error: an argument that can never be valid, with the CLI's code for it.
    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Self::with_code("usage", "cli.usage", message)
    }

    fn with_code(kind: &'static str, code: &str, message: impl Into<String>) -> Self {
        Self {
            kind,
            code: code.to_owned(),
            message: message.into(),
            hint: String::new(),
            status: None,
            input_sent: false,
        }
    }

    /// A transport or runtime failure with its code.
    pub(crate) fn transport(code: &str, message: impl Into<String>) -> Self {
        Self::with_code("transport", code, message)
    }

    /// Turns a failure to read the argument `arg` into a usage error: the input is not what the
    /// argument says it is. The code still says why.
    pub(crate) fn as_usage(&mut self, arg: &str) {
        self.kind = "usage";
        self.message = format!("{arg}=: {}", self.message);
    }

    /// Marks the failure as having happened after the input was sent.
    pub(crate) fn after_sending(mut self) -> Self {
        self.input_sent = true;
        self
    }

    /// Raises the Python exception for this failure.
    pub(crate) fn into_pyerr(self, py: Python<'_>) -> PyErr {
        let build = || -> PyResult<PyErr> {
            let from_native = py.import("cloister._errors")?.getattr("from_native")?;
            let exc = from_native.call1((
                self.kind,
                self.code.as_str(),
                self.message.as_str(),
                self.hint.as_str(),
                self.status,
                self.input_sent,
            ))?;
            Ok(PyErr::from_value(exc))
        };
        // If the Python layer cannot be imported, the module is used on its own: say what
        // failed anyway, with the code in the message.
        build().unwrap_or_else(|import_error| {
            let _ = import_error;
            pyo3::exceptions::PyRuntimeError::new_err(format!("[{}] {}", self.code, self.message))
        })
    }
}

impl From<AttestationError> for Failure {
    fn from(e: AttestationError) -> Self {
        let kind = match &e {
            AttestationError::Nitro(_) => "nitro",
            AttestationError::Snp(_) => "snp",
            AttestationError::Tdx(_) => "tdx",
            AttestationError::Cert(_) => "cert",
            AttestationError::Policy(_) => "policy",
            AttestationError::Evidence(_) => "evidence",
            AttestationError::Mock(_) => "mock",
            // ApiMisuse, and any layer added later, is the caller's problem until mapped.
            _ => "usage",
        };
        let kind = if e.is_api_misuse() { "usage" } else { kind };
        Self {
            hint: e.hint().to_owned(),
            ..Self::with_code(kind, e.code(), e.to_string())
        }
    }
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Self {
        let code = e.code();
        let message = e.to_string();
        match e {
            ClientError::Attestation(inner) => Self::from(inner),
            ClientError::Bundle(_) => Self::with_code("bundle", &code, message),
            ClientError::Result(_) => Self::with_code("result", &code, message),
            ClientError::Enclave { status, .. } => Self {
                status: Some(status),
                ..Self::with_code("enclave", &code, message)
            },
            ClientError::BadHostUrl { .. } | ClientError::Io { .. } => {
                Self::with_code("usage", &code, message)
            }
            _ => Self::with_code("transport", &code, message),
        }
    }
}

impl From<EifError> for Failure {
    fn from(e: EifError) -> Self {
        let kind = if e.is_bad_image() { "eif" } else { "usage" };
        Self::with_code(kind, e.code(), e.to_string())
    }
}

/// `Result<T, Failure>` to a Python result.
pub(crate) fn raise<T>(py: Python<'_>, r: Result<T, Failure>) -> PyResult<T> {
    r.map_err(|f| f.into_pyerr(py))
}
