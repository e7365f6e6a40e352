//! A small, strict, schema-driven BER reader (X.690 §8) for the one structure KMS sends.
//!
//! Why not a crate: AWS KMS returns `CiphertextForRecipient` in BER with indefinite lengths and
//! a constructed `[0]` encryptedContent (the enclaver vector in `shared/fixtures/nitro` is exactly
//! that). RustCrypto's `der`/`cms` read DER only and reject the `0x80` length octet. The general
//! BER crates either pull a parser framework into this dependency-light crate (`asn1-rs`: nom
//! and proc macros, and enclaver's own `asn1-rs` code still walks constructed strings and the
//! OAEP parameters by hand) or add `pos + length` unchecked when skipping (`yasna` 0.6, a panic
//! under this workspace's overflow checks). `rasn-cms` brings a whole codec framework for one
//! message. The schema here is ten element types deep, so a reader of about two hundred lines,
//! whose every failure names the byte offset and the field, is the smaller thing to audit.
//!
//! Scope: single-byte identifiers only (CMS EnvelopedData uses no tag number above 30),
//! definite lengths of at most four octets, indefinite lengths on constructed elements,
//! constructed OCTET STRINGs (reassembled), nesting at most [`MAX_DEPTH`] levels. It never
//! indexes unchecked and never recurses deeper than [`MAX_DEPTH`].

use super::KmsRecipientError;

/// Deepest nesting of constructed elements accepted; the KMS message needs ten.
pub const MAX_DEPTH: usize = 16;

/// Identifier octets used by the CMS schema (class, constructed bit and tag number in one byte).
pub(super) mod tag {
    /// UNIVERSAL 2, primitive.
    pub(crate) const INTEGER: u8 = 0x02;
    /// UNIVERSAL 4, primitive (its constructed form is `0x24`).
    pub(crate) const OCTET_STRING: u8 = 0x04;
    /// UNIVERSAL 5, primitive.
    pub(crate) const NULL: u8 = 0x05;
    /// UNIVERSAL 6, primitive.
    pub(crate) const OID: u8 = 0x06;
    /// UNIVERSAL 16, constructed.
    pub(crate) const SEQUENCE: u8 = 0x30;
    /// UNIVERSAL 17, constructed.
    pub(crate) const SET: u8 = 0x31;
    /// CONTEXT 0, primitive (an IMPLICIT OCTET STRING; constructed form `0xa0`).
    pub(crate) const CONTEXT_0: u8 = 0x80;
    /// CONTEXT 0, constructed (EXPLICIT).
    pub(crate) const CONTEXT_0_CONSTRUCTED: u8 = 0xa0;
    /// CONTEXT 1, constructed (EXPLICIT).
    pub(crate) const CONTEXT_1_CONSTRUCTED: u8 = 0xa1;
    /// CONTEXT 2, constructed (EXPLICIT).
    pub(crate) const CONTEXT_2_CONSTRUCTED: u8 = 0xa2;
    /// The constructed bit of an identifier octet.
    pub(crate) const CONSTRUCTED: u8 = 0x20;
}

/// What is wrong with the BER encoding at the reported offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BerFault {
    /// The input ends inside an element.
    #[error("the input ends inside an element")]
    Truncated,
    /// An element's definite length reaches past the end of the element that contains it.
    #[error("the element's length reaches past the end of its parent")]
    LengthOverrun,
    /// Another element than the schema allows here (identifier octets compared).
    #[error("identifier 0x{found:02x}, expected 0x{expected:02x}")]
    UnexpectedTag {
        /// The identifier octet the schema requires.
        expected: u8,
        /// The identifier octet found.
        found: u8,
    },
    /// A multi-byte tag number (low bits `11111`), which CMS EnvelopedData never uses.
    #[error("multi-byte tag numbers are not used by CMS EnvelopedData")]
    HighTagNumber,
    /// End-of-contents octets where an element must be.
    #[error("end-of-contents where an element must be")]
    UnexpectedEndOfContents,
    /// An indefinite length on a primitive element (X.690 §8.1.3.2).
    #[error("indefinite length on a primitive element")]
    IndefinitePrimitive,
    /// A long-form length of more than four octets (or the reserved `0xff`).
    #[error("a length of {octets} octets")]
    LengthTooLong {
        /// Number of length octets announced.
        octets: u8,
    },
    /// Constructed elements nested deeper than the limit.
    #[error("nesting deeper than {limit} levels")]
    TooDeep {
        /// The limit, [`MAX_DEPTH`].
        limit: usize,
    },
    /// Elements (or bytes) left over where the schema ends.
    #[error("unexpected content after the last element")]
    TrailingContent,
    /// A required element is absent.
    #[error("a required element is absent")]
    Missing,
    /// An INTEGER that is empty, non-minimal, negative or wider than 64 bits.
    #[error("not a small non-negative INTEGER")]
    InvalidInteger,
    /// An OBJECT IDENTIFIER that is empty, non-minimal, unterminated or has an arc wider than 64 bits.
    #[error("not a valid OBJECT IDENTIFIER")]
    InvalidOid,
    /// A NULL with contents.
    #[error("NULL with {len} content octets")]
    InvalidNull {
        /// Its content length.
        len: usize,
    },
}

/// How an element's contents end.
#[derive(Clone, Copy)]
enum Len {
    Definite(usize),
    Indefinite,
}

/// An element's identifier and length, with the reader positioned at its contents.
struct Header {
    offset: usize,
    tag: u8,
    len: Len,
}

/// A cursor over one BER input, positioned inside the innermost open constructed element.
pub(super) struct Reader<'a> {
    input: &'a [u8],
    pos: usize,
    /// End of the innermost definite-length element (the input's length at the top).
    limit: usize,
    /// Whether the innermost open element has an indefinite length (ends at `00 00`).
    indefinite: bool,
    depth: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `input`.
    pub(super) fn new(input: &'a [u8]) -> Self {
        Self {
            input,
            pos: 0,
            limit: input.len(),
            indefinite: false,
            depth: 0,
        }
    }

    /// The current byte offset into the input.
    pub(super) fn offset(&self) -> usize {
        self.pos
    }

    /// A malformed-input error at `offset`, naming `field`.
    pub(super) fn fault(offset: usize, field: &'static str, fault: BerFault) -> KmsRecipientError {
        KmsRecipientError::Malformed {
            offset,
            field,
            fault,
        }
    }

    /// True when the innermost open element has no further elements: its definite length is
    /// used up, or (indefinite) the next two octets are end-of-contents.
    pub(super) fn at_end(&self) -> bool {
        if self.indefinite {
            // The end-of-contents octets must lie inside the enclosing definite-length element.
            let end = self.pos.saturating_add(2);
            end <= self.limit && self.input.get(self.pos..end) == Some(&[0, 0][..])
        } else {
            self.pos >= self.limit
        }
    }

    /// The identifier octet of the next element, if there is one.
    pub(super) fn peek_tag(&self) -> Option<u8> {
        if self.at_end() || self.pos >= self.limit {
            return None;
        }
        self.input.get(self.pos).copied()
    }

    /// Reads the next element, which must be constructed with identifier `tag`, and runs `body`
    /// on its contents; `body` must consume every element inside.
    pub(super) fn constructed<T>(
        &mut self,
        tag: u8,
        field: &'static str,
        body: impl FnOnce(&mut Self) -> Result<T, KmsRecipientError>,
    ) -> Result<T, KmsRecipientError> {
        let header = self.header(field)?;
        if header.tag != tag {
            return Err(Self::fault(
                header.offset,
                field,
                BerFault::UnexpectedTag {
                    expected: tag,
                    found: header.tag,
                },
            ));
        }
        self.enter(header, field, body)
    }

    /// Reads the next element, which must be primitive with identifier `tag`; returns its contents.
    pub(super) fn primitive(
        &mut self,
        tag: u8,
        field: &'static str,
    ) -> Result<&'a [u8], KmsRecipientError> {
        let header = self.header(field)?;
        match header.len {
            Len::Definite(len) if header.tag == tag => self.take(len, field),
            _ => Err(Self::fault(
                header.offset,
                field,
                BerFault::UnexpectedTag {
                    expected: tag,
                    found: header.tag,
                },
            )),
        }
    }

    /// Reads an OCTET STRING (or an IMPLICIT one whose primitive identifier is `tag`) in either
    /// form, appending its octets to `out`. The segments of a constructed form must be universal
    /// OCTET STRINGs (X.690 §8.7.3.2), themselves in either form.
    pub(super) fn octets(
        &mut self,
        tag: u8,
        field: &'static str,
        out: &mut Vec<u8>,
    ) -> Result<(), KmsRecipientError> {
        let header = self.header(field)?;
        match header.len {
            Len::Definite(len) if header.tag == tag => {
                out.extend_from_slice(self.take(len, field)?);
                Ok(())
            }
            _ if header.tag == tag | tag::CONSTRUCTED => self.enter(header, field, |r| {
                while !r.at_end() {
                    r.octets(tag::OCTET_STRING, field, out)?;
                }
                Ok(())
            }),
            _ => Err(Self::fault(
                header.offset,
                field,
                BerFault::UnexpectedTag {
                    expected: tag,
                    found: header.tag,
                },
            )),
        }
    }

    /// Skips the next element, whatever it is; returns its identifier octet.
    pub(super) fn skip(&mut self, field: &'static str) -> Result<u8, KmsRecipientError> {
        let header = self.header(field)?;
        let tag = header.tag;
        match header.len {
            Len::Definite(len) => {
                self.take(len, field)?;
            }
            Len::Indefinite => self.enter(header, field, |r| {
                while !r.at_end() {
                    r.skip(field)?;
                }
                Ok(())
            })?,
        }
        Ok(tag)
    }

    /// A small non-negative INTEGER (versions).
    pub(super) fn small_uint(&mut self, field: &'static str) -> Result<u64, KmsRecipientError> {
        let offset = self.pos;
        let content = self.primitive(tag::INTEGER, field)?;
        let invalid = || Self::fault(offset, field, BerFault::InvalidInteger);
        let (&first, rest) = content.split_first().ok_or_else(invalid)?;
        let non_minimal = first == 0 && rest.first().is_some_and(|&b| b < 0x80);
        if first >= 0x80 || non_minimal || content.len() > 8 {
            return Err(invalid());
        }
        Ok(content
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    }

    /// An OBJECT IDENTIFIER's content octets, checked to be well formed (X.690 §8.19).
    pub(super) fn oid(&mut self, field: &'static str) -> Result<&'a [u8], KmsRecipientError> {
        let offset = self.pos;
        let content = self.primitive(tag::OID, field)?;
        if oid_arcs(content).is_none() {
            return Err(Self::fault(offset, field, BerFault::InvalidOid));
        }
        Ok(content)
    }

    /// A NULL (empty contents).
    pub(super) fn null(&mut self, field: &'static str) -> Result<(), KmsRecipientError> {
        let offset = self.pos;
        let content = self.primitive(tag::NULL, field)?;
        if content.is_empty() {
            Ok(())
        } else {
            Err(Self::fault(
                offset,
                field,
                BerFault::InvalidNull { len: content.len() },
            ))
        }
    }

    /// Checks that the whole input was consumed.
    pub(super) fn finish(&self, field: &'static str) -> Result<(), KmsRecipientError> {
        if self.pos == self.input.len() {
            Ok(())
        } else {
            Err(Self::fault(self.pos, field, BerFault::TrailingContent))
        }
    }

    /// Reads identifier and length octets; leaves the reader at the contents.
    fn header(&mut self, field: &'static str) -> Result<Header, KmsRecipientError> {
        let offset = self.pos;
        let tag = self.byte(offset, field)?;
        if tag == 0 {
            return Err(Self::fault(
                offset,
                field,
                BerFault::UnexpectedEndOfContents,
            ));
        }
        if tag & 0x1f == 0x1f {
            return Err(Self::fault(offset, field, BerFault::HighTagNumber));
        }
        let first = self.byte(offset.saturating_add(1), field)?;
        let mut next = offset.saturating_add(2);
        let len = match first {
            0x80 if tag & tag::CONSTRUCTED == 0 => {
                return Err(Self::fault(offset, field, BerFault::IndefinitePrimitive));
            }
            0x80 => Len::Indefinite,
            short if short < 0x80 => Len::Definite(usize::from(short)),
            long => {
                let octets = long & 0x7f;
                if octets > 4 {
                    return Err(Self::fault(
                        offset,
                        field,
                        BerFault::LengthTooLong { octets },
                    ));
                }
                let mut len = 0usize;
                for _ in 0..octets {
                    len = (len << 8) | usize::from(self.byte(next, field)?);
                    next = next.saturating_add(1);
                }
                Len::Definite(len)
            }
        };
        self.pos = next;
        Ok(Header { offset, tag, len })
    }

    /// Runs `body` inside the element whose header was just read, then checks its end.
    fn enter<T>(
        &mut self,
        header: Header,
        field: &'static str,
        body: impl FnOnce(&mut Self) -> Result<T, KmsRecipientError>,
    ) -> Result<T, KmsRecipientError> {
        if self.depth >= MAX_DEPTH {
            return Err(Self::fault(
                header.offset,
                field,
                BerFault::TooDeep { limit: MAX_DEPTH },
            ));
        }
        let (outer_limit, outer_indefinite) = (self.limit, self.indefinite);
        match header.len {
            Len::Definite(len) => {
                self.limit = self.end_of(len, field)?;
                self.indefinite = false;
            }
            Len::Indefinite => self.indefinite = true,
        }
        self.depth += 1;
        let value = body(self)?;
        if !self.at_end() {
            return Err(Self::fault(self.pos, field, BerFault::TrailingContent));
        }
        if self.indefinite {
            // `at_end` saw the two end-of-contents octets.
            self.pos = self.pos.saturating_add(2);
        }
        self.depth -= 1;
        self.limit = outer_limit;
        self.indefinite = outer_indefinite;
        Ok(value)
    }

    /// Takes `len` content octets.
    fn take(&mut self, len: usize, field: &'static str) -> Result<&'a [u8], KmsRecipientError> {
        let end = self.end_of(len, field)?;
        let content = self
            .input
            .get(self.pos..end)
            .ok_or_else(|| Self::fault(self.pos, field, BerFault::Truncated))?;
        self.pos = end;
        Ok(content)
    }

    /// Where `len` octets from here end, if that is inside the current element.
    fn end_of(&self, len: usize, field: &'static str) -> Result<usize, KmsRecipientError> {
        match self.pos.checked_add(len) {
            Some(end) if end <= self.limit => Ok(end),
            Some(end) if self.limit < self.input.len() && end <= self.input.len() => {
                Err(Self::fault(self.pos, field, BerFault::LengthOverrun))
            }
            _ => Err(Self::fault(self.pos, field, BerFault::Truncated)),
        }
    }

    /// The octet at `offset`, which must lie inside the current element.
    fn byte(&self, offset: usize, field: &'static str) -> Result<u8, KmsRecipientError> {
        if offset >= self.limit {
            let fault = if self.limit < self.input.len() {
                BerFault::LengthOverrun
            } else {
                BerFault::Truncated
            };
            return Err(Self::fault(offset, field, fault));
        }
        self.input
            .get(offset)
            .copied()
            .ok_or_else(|| Self::fault(offset, field, BerFault::Truncated))
    }
}

/// The arcs of an OBJECT IDENTIFIER's content octets, or `None` if they are not well formed:
/// empty, a subidentifier with a leading `0x80`, an unterminated last subidentifier, or one
/// wider than 64 bits.
pub(super) fn oid_arcs(content: &[u8]) -> Option<Vec<u64>> {
    let mut arcs = Vec::new();
    let mut value = 0u64;
    let mut fresh = true;
    for &b in content {
        if fresh && b == 0x80 {
            return None;
        }
        if value >> 57 != 0 {
            return None;
        }
        value = (value << 7) | u64::from(b & 0x7f);
        fresh = b & 0x80 == 0;
        if fresh {
            if arcs.is_empty() {
                let first = value.min(80) / 40;
                arcs.push(first);
                arcs.push(value - first * 40);
            } else {
                arcs.push(value);
            }
            value = 0;
        }
    }
    (fresh && !arcs.is_empty()).then_some(arcs)
}

/// Dotted form of an OBJECT IDENTIFIER's content octets (for errors); `"?"` if malformed.
pub(super) fn oid_to_string(content: &[u8]) -> String {
    oid_arcs(content).map_or_else(
        || "?".to_owned(),
        |arcs| {
            arcs.iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(".")
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oid_to_string_follows_x690() {
        assert_eq!(
            oid_to_string(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x03]),
            "1.2.840.113549.1.7.3"
        );
        assert_eq!(
            oid_to_string(&[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2a]),
            "2.16.840.1.101.3.4.1.42"
        );
        assert_eq!(
            oid_to_string(&[0x2b, 0x0e, 0x03, 0x02, 0x1a]),
            "1.3.14.3.2.26"
        );
        // Arc 2.999 (first subidentifier 1079).
        assert_eq!(oid_to_string(&[0x88, 0x37]), "2.999");
        for bad in [&[][..], &[0x80, 0x01], &[0x2a, 0x86], &[0xff; 12]] {
            assert_eq!(oid_arcs(bad), None, "{bad:02x?}");
        }
    }

    #[test]
    fn indefinite_and_constructed_octets_reassemble() {
        // [0] constructed, indefinite, two segments (one itself constructed, definite), EOC.
        let input = [
            0xa0, 0x80, 0x04, 0x02, 1, 2, 0x24, 0x03, 0x04, 0x01, 3, 0x00, 0x00,
        ];
        let mut r = Reader::new(&input);
        let mut out = Vec::new();
        r.octets(tag::CONTEXT_0, "x", &mut out).unwrap();
        r.finish("x").unwrap();
        assert_eq!(out, [1, 2, 3]);
    }

    #[test]
    fn faults_name_offset_and_kind() {
        let cases: &[(&[u8], usize, BerFault)] = &[
            (&[0x30], 1, BerFault::Truncated),
            (&[0x04, 0x80], 0, BerFault::IndefinitePrimitive),
            (
                &[0x04, 0x85, 1, 1, 1, 1, 1],
                0,
                BerFault::LengthTooLong { octets: 5 },
            ),
            (&[0x1f, 0x01], 0, BerFault::HighTagNumber),
            (&[0x00, 0x00], 0, BerFault::UnexpectedEndOfContents),
            (&[0x04, 0x05, 1], 2, BerFault::Truncated),
            (&[0x24, 0x03, 0x04, 0x02, 1, 2], 4, BerFault::LengthOverrun),
            (&[0x24, 0x80, 0x04, 0x00], 4, BerFault::Truncated),
            (
                &[0x24, 0x80, 0x02, 0x00, 0x00, 0x00],
                2,
                BerFault::UnexpectedTag {
                    expected: 0x04,
                    found: 0x02,
                },
            ),
        ];
        for (input, offset, fault) in cases {
            let err = Reader::new(input)
                .octets(tag::OCTET_STRING, "f", &mut Vec::new())
                .unwrap_err();
            assert_eq!(err, Reader::fault(*offset, "f", *fault), "{input:02x?}");
        }
    }

    #[test]
    fn nesting_is_bounded() {
        // 0x24 0x80 repeated: constructed OCTET STRINGs nested without end.
        let input: Vec<u8> = [0x24, 0x80].repeat(MAX_DEPTH + 4);
        let err = Reader::new(&input)
            .octets(tag::OCTET_STRING, "f", &mut Vec::new())
            .unwrap_err();
        assert_eq!(
            err,
            Reader::fault(2 * MAX_DEPTH, "f", BerFault::TooDeep { limit: MAX_DEPTH })
        );
    }

    #[test]
    fn integers_are_small_minimal_and_non_negative() {
        let ok: &[(&[u8], u64)] = &[(&[0x02, 0x01, 0x02], 2), (&[0x02, 0x02, 0x00, 0x80], 128)];
        for (input, value) in ok {
            assert_eq!(Reader::new(input).small_uint("v").unwrap(), *value);
        }
        for bad in [
            &[0x02, 0x00][..],
            &[0x02, 0x01, 0xff],
            &[0x02, 0x02, 0x00, 0x01],
            &[0x02, 0x09, 1, 0, 0, 0, 0, 0, 0, 0, 0],
        ] {
            assert_eq!(
                Reader::new(bad).small_uint("v").unwrap_err(),
                Reader::fault(0, "v", BerFault::InvalidInteger)
            );
        }
    }
}
