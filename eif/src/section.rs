//! The 12-byte section header and the section types (research/nitro.md §1.2, §1.3).

use crate::EifError;

/// Size of a section header in bytes.
pub const SECTION_HEADER_LEN: usize = 12;

/// The type of a section. `Invalid` (0) and unknown codes are rejected when reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SectionKind {
    /// The kernel image (measured into PCR0 and PCR1).
    Kernel,
    /// The kernel command line, without NUL (PCR0, PCR1).
    Cmdline,
    /// A cpio initramfs: the first goes to PCR0 and PCR1, the others to PCR0 and PCR2.
    Ramdisk,
    /// The CBOR signature section (PCR8 comes from its certificate).
    Signature,
    /// The JSON identity metadata (not measured).
    Metadata,
}

impl SectionKind {
    /// The on-disk type code.
    pub fn code(self) -> u16 {
        match self {
            Self::Kernel => 1,
            Self::Cmdline => 2,
            Self::Ramdisk => 3,
            Self::Signature => 4,
            Self::Metadata => 5,
        }
    }

    /// The type for an on-disk code, if known.
    pub fn from_code(code: u16) -> Option<Self> {
        Some(match code {
            1 => Self::Kernel,
            2 => Self::Cmdline,
            3 => Self::Ramdisk,
            4 => Self::Signature,
            5 => Self::Metadata,
            _ => return None,
        })
    }

    /// The type position `index` of an image of `count` sections must have, as written by
    /// `EifBuilder::write_to`: Kernel, Cmdline, Metadata, Ramdisk, Ramdisk..., then Ramdisk or
    /// Signature last.
    pub(crate) fn check_position(self, index: usize, count: usize) -> Result<(), EifError> {
        let last = index + 1 == count;
        let (ok, expected) = match index {
            0 => (self == Self::Kernel, "Kernel"),
            1 => (self == Self::Cmdline, "Cmdline"),
            2 => (self == Self::Metadata, "Metadata"),
            3 => (self == Self::Ramdisk, "Ramdisk"),
            _ if last => (
                matches!(self, Self::Ramdisk | Self::Signature),
                "Ramdisk or Signature",
            ),
            _ => (self == Self::Ramdisk, "Ramdisk"),
        };
        if ok {
            Ok(())
        } else {
            Err(EifError::SectionOrder {
                index,
                found: self,
                expected,
            })
        }
    }
}

/// A parsed section header: type and data size (flags are always 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SectionHeader {
    /// The section type.
    pub kind: SectionKind,
    /// Size of the data that follows the header.
    pub size: u64,
}

impl SectionHeader {
    /// Parses the 12 bytes of the header of section `index`.
    ///
    /// # Errors
    ///
    /// `eif.unknown_section_type`, `eif.section_flags`.
    pub fn parse(bytes: &[u8; SECTION_HEADER_LEN], index: usize) -> Result<Self, EifError> {
        let code = u16::from_be_bytes([bytes[0], bytes[1]]);
        let flags = u16::from_be_bytes([bytes[2], bytes[3]]);
        let kind = SectionKind::from_code(code)
            .ok_or(EifError::UnknownSectionType { index, found: code })?;
        if flags != 0 {
            return Err(EifError::SectionFlags { index, flags });
        }
        let mut size = [0u8; 8];
        size.copy_from_slice(&bytes[4..12]);
        Ok(Self {
            kind,
            size: u64::from_be_bytes(size),
        })
    }

    /// The 12 header bytes.
    pub fn encode(&self) -> [u8; SECTION_HEADER_LEN] {
        let mut b = [0u8; SECTION_HEADER_LEN];
        b[0..2].copy_from_slice(&self.kind.code().to_be_bytes());
        b[4..12].copy_from_slice(&self.size.to_be_bytes());
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects() {
        for code in 1..=5 {
            let kind = SectionKind::from_code(code).expect("known");
            let h = SectionHeader { kind, size: 12345 };
            assert_eq!(SectionHeader::parse(&h.encode(), 0).ok(), Some(h));
        }
        let mut b = SectionHeader {
            kind: SectionKind::Kernel,
            size: 1,
        }
        .encode();
        b[1] = 0;
        assert!(matches!(
            SectionHeader::parse(&b, 2),
            Err(EifError::UnknownSectionType { index: 2, found: 0 })
        ));
        b[1] = 1;
        b[3] = 1;
        assert_eq!(
            SectionHeader::parse(&b, 0)
                .map(|_| ())
                .expect_err("must be rejected")
                .code(),
            "eif.section_flags"
        );
    }

    #[test]
    fn order_is_enforced() {
        use SectionKind::*;
        let ok = [Kernel, Cmdline, Metadata, Ramdisk, Ramdisk, Signature];
        for (i, k) in ok.iter().enumerate() {
            assert!(k.check_position(i, ok.len()).is_ok());
        }
        assert!(Signature.check_position(3, 4).is_err());
        assert!(Signature.check_position(4, 6).is_err());
        assert!(Ramdisk.check_position(2, 6).is_err());
    }
}
