//! The one CBOR decode path of this crate: a whole buffer, one item, no trailing bytes.

use serde::de::DeserializeOwned;

use crate::ProtoError;

pub(crate) fn from_slice<T: DeserializeOwned>(
    bytes: &[u8],
    what: &'static str,
) -> Result<T, ProtoError> {
    let mut rest = bytes;
    let value = ciborium::de::from_reader(&mut rest).map_err(|e| ProtoError::malformed(what, e))?;
    if !rest.is_empty() {
        return Err(ProtoError::Malformed {
            what,
            detail: format!("{} trailing bytes after the item", rest.len()),
        });
    }
    Ok(value)
}

pub(crate) fn to_vec<T: serde::Serialize>(
    value: &T,
    what: &'static str,
) -> Result<Vec<u8>, ProtoError> {
    let mut out = Vec::new();
    ciborium::ser::into_writer(value, &mut out).map_err(|e| ProtoError::malformed(what, e))?;
    Ok(out)
}
