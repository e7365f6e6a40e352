//! The exact CBOR shapes nitro-cli's `serde_cbor` writes for the signature section
//! (research/nitro.md §1.6): byte vectors become **arrays of unsigned integers**, structs become
//! maps with text keys. Encoding is done by hand so the bytes are exactly serde_cbor's
//! (minimal-length heads); decoding goes through ciborium and checks the shape strictly.

use ciborium::value::Value;

/// Appends a CBOR head (major type + minimal-length argument).
pub(crate) fn head(out: &mut Vec<u8>, major: u8, arg: u64) {
    let m = major << 5;
    if arg < 24 {
        out.push(m | arg as u8);
    } else if let Ok(a) = u8::try_from(arg) {
        out.extend_from_slice(&[m | 24, a]);
    } else if let Ok(a) = u16::try_from(arg) {
        out.push(m | 25);
        out.extend_from_slice(&a.to_be_bytes());
    } else if let Ok(a) = u32::try_from(arg) {
        out.push(m | 26);
        out.extend_from_slice(&a.to_be_bytes());
    } else {
        out.push(m | 27);
        out.extend_from_slice(&arg.to_be_bytes());
    }
}

/// A text string.
pub(crate) fn text(out: &mut Vec<u8>, s: &str) {
    head(out, 3, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// `Vec<u8>` as serde_cbor writes it: an array of unsigned integers.
pub(crate) fn uint_array(out: &mut Vec<u8>, bytes: &[u8]) {
    head(out, 4, bytes.len() as u64);
    for &b in bytes {
        head(out, 0, u64::from(b));
    }
}

/// Reads an array of unsigned integers, each at most 255, back into bytes.
pub(crate) fn as_uint_array(v: &Value) -> Option<Vec<u8>> {
    let Value::Array(items) = v else { return None };
    items
        .iter()
        .map(|i| match i {
            Value::Integer(n) => u8::try_from(i128::from(*n)).ok(),
            _ => None,
        })
        .collect()
}

/// Looks up the text key `key` in a map that must have exactly the keys `keys`.
pub(crate) fn struct_fields<'a, const N: usize>(
    v: &'a Value,
    keys: [&str; N],
) -> Option<[&'a Value; N]> {
    let Value::Map(pairs) = v else { return None };
    if pairs.len() != N {
        return None;
    }
    let mut out = [&Value::Null; N];
    for (slot, key) in out.iter_mut().zip(keys) {
        *slot = pairs
            .iter()
            .find(|(k, _)| matches!(k, Value::Text(t) if t == key))
            .map(|(_, v)| v)?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_are_minimal() {
        let mut v = Vec::new();
        uint_array(&mut v, &[0, 23, 24, 255]);
        assert_eq!(v, [0x84, 0x00, 0x17, 0x18, 0x18, 0x18, 0xff]);
        let mut v = Vec::new();
        head(&mut v, 4, 737);
        assert_eq!(v, [0x99, 0x02, 0xe1]);
        let value: Value =
            ciborium::from_reader(&[0x84u8, 0x00, 0x17, 0x18, 0x18, 0x18, 0xff][..]).expect("cbor");
        assert_eq!(as_uint_array(&value), Some(vec![0, 23, 24, 255]));
    }
}
