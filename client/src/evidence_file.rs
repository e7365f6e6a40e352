//! Reading evidence from a file that may hold raw bytes, hex (with or without `0x`) or base64.

/// Decodes `bytes` as hex or base64 text when it is that, else returns it as raw evidence.
///
/// Text is tried only if every byte is printable ASCII or whitespace, so binary CBOR, which
/// starts with a non-text byte (0xd2 or 0x84 for COSE_Sign1), is never mistaken for text.
///
/// ```
/// use cloister_client::evidence_file::decode_evidence_text;
/// assert_eq!(decode_evidence_text(b"0xd284"), vec![0xd2, 0x84]);
/// assert_eq!(decode_evidence_text(b"0oQ=\n"), vec![0xd2, 0x84]);
/// assert_eq!(decode_evidence_text(&[0xd2, 0x84]), vec![0xd2, 0x84]);
/// ```
pub fn decode_evidence_text(bytes: &[u8]) -> Vec<u8> {
    use base64::Engine;
    let is_text = bytes
        .iter()
        .all(|b| b.is_ascii_graphic() || b.is_ascii_whitespace());
    if !is_text || bytes.is_empty() {
        return bytes.to_vec();
    }
    let compact: Vec<u8> = bytes
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    let hex_part = compact.strip_prefix(b"0x").unwrap_or(&compact);
    if hex_part.len().is_multiple_of(2)
        && hex_part.iter().all(u8::is_ascii_hexdigit)
        && let Ok(v) = hex::decode(hex_part)
    {
        return v;
    }
    for engine in [
        &base64::engine::general_purpose::STANDARD,
        &base64::engine::general_purpose::STANDARD_NO_PAD,
        &base64::engine::general_purpose::URL_SAFE,
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ] {
        if let Ok(v) = engine.decode(&compact) {
            return v;
        }
    }
    bytes.to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_binary_is_kept() {
        let raw = [0x84u8, 0x44, 0xa1, 0x01, 0x38, 0x22];
        assert_eq!(decode_evidence_text(&raw), raw);
    }

    #[test]
    fn hex_and_base64_are_decoded() {
        assert_eq!(decode_evidence_text(b"D284\n"), vec![0xd2, 0x84]);
        assert_eq!(
            decode_evidence_text(b"hEShATgi"),
            vec![0x84, 0x44, 0xa1, 0x01, 0x38, 0x22]
        );
    }
}
