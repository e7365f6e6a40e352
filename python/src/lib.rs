//! `cloister._cloister`: the native half of the Cloister Python SDK (PyO3, abi3).
//!
//! Thin on purpose: each function copies its arguments out of Python, releases the GIL, calls
//! the Rust crates (cloister-attestation, cloister-client, cloister-eif) and hands back plain
//! values or JSON text. The typed objects, the exception classes and the argument conveniences
//! (paths, `pathlib.Path`, dicts, datetimes) are the pure-Python layer in `python/cloister/`.

mod client;
mod eif;
mod errors;
mod verify;

use pyo3::prelude::*;

/// The native module, imported as `cloister._cloister`.
#[pymodule]
mod _cloister {
    #[pymodule_export]
    use super::client::NativeClient;
    #[pymodule_export]
    use super::eif::describe;
    #[pymodule_export]
    use super::verify::verify;

    use pyo3::prelude::*;

    #[pymodule_init]
    fn init(m: &Bound<'_, PyModule>) -> PyResult<()> {
        m.add("__version__", env!("CARGO_PKG_VERSION"))
    }
}
