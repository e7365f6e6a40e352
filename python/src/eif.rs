//! `cloister.eif.describe`: the `cloister eif describe --json` document of an image.

use std::io::Cursor;
use std::path::PathBuf;

use cloister_eif::{Description, EifError, Inspection};
use pyo3::prelude::*;

use crate::errors::raise;

/// Checks an image (structure, CRCs, signature) and measures it, from a file path (streamed) or
/// from the image's bytes; returns the nitro-cli `describe-eif` JSON. The GIL is released while
/// the image is read and hashed.
#[pyfunction]
#[pyo3(signature = (*, path=None, image=None))]
pub(crate) fn describe(
    py: Python<'_>,
    path: Option<PathBuf>,
    image: Option<Vec<u8>>,
) -> PyResult<String> {
    let inspected = py.detach(move || -> Result<Inspection, EifError> {
        match (path, image) {
            (Some(path), _) => cloister_eif::inspect_file(&path),
            (None, Some(bytes)) => {
                let len = u64::try_from(bytes.len()).ok();
                cloister_eif::inspect(Cursor::new(bytes), len, |_, _| Ok(()))
            }
            (None, None) => Err(EifError::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "describe needs path= or image=",
            ))),
        }
    });
    let image = raise(py, inspected.map_err(Into::into))?;
    Ok(Description::of(&image).to_json())
}
