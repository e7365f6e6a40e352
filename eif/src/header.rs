//! The 548-byte EIF file header (research/nitro.md §1.1). All integers are big-endian.

use crate::EifError;

/// Size of the file header in bytes.
pub const HEADER_LEN: usize = 548;
/// The magic bytes every EIF starts with: `.eif`.
pub const MAGIC: [u8; 4] = *b".eif";
/// The only version this crate reads and writes.
pub const VERSION: u16 = 4;
/// `MAX_NUM_SECTIONS` of the format: the header's offset and size tables have 32 slots.
pub const MAX_SECTIONS: usize = 32;
/// An image needs at least Kernel, Cmdline, Metadata and one Ramdisk.
pub const MIN_SECTIONS: usize = 4;
/// Offset of the CRC field: the CRC covers `header[..CRC_OFFSET]`.
pub const CRC_OFFSET: usize = 544;

const FLAG_ARM64: u16 = 0x1;
const OFFSETS_AT: usize = 28;
const SIZES_AT: usize = OFFSETS_AT + 8 * MAX_SECTIONS;

/// CPU architecture of the image's kernel (header flag bit 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Arch {
    /// x86_64 bzImage (flags bit 0 clear).
    #[default]
    X86_64,
    /// aarch64 `Image` (flags bit 0 set, `EIF_HDR_ARCH_ARM64`).
    Aarch64,
}

/// Where one section's 12-byte header sits and how many data bytes follow it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SectionEntry {
    /// File offset of the section header (not of its data).
    pub offset: u64,
    /// Size of the section data, excluding the 12-byte section header.
    pub size: u64,
}

/// A parsed EIF v4 header. Only [`EifHeader::parse`] and the writer build one, so its
/// section table always has between [`MIN_SECTIONS`] and [`MAX_SECTIONS`] entries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EifHeader {
    pub(crate) arch: Arch,
    pub(crate) default_mem: u64,
    pub(crate) default_cpus: u64,
    pub(crate) sections: Vec<SectionEntry>,
    pub(crate) crc: u32,
}

impl EifHeader {
    /// Parses and checks the header: magic, version, flags and section count.
    ///
    /// # Errors
    ///
    /// `eif.bad_magic`, `eif.unsupported_version`, `eif.unknown_flags`, `eif.section_count`.
    pub fn parse(bytes: &[u8; HEADER_LEN]) -> Result<Self, EifError> {
        let magic = [bytes[0], bytes[1], bytes[2], bytes[3]];
        if magic != MAGIC {
            return Err(EifError::BadMagic { found: magic });
        }
        let version = be_u16(bytes, 4);
        if version != VERSION {
            return Err(EifError::UnsupportedVersion { found: version });
        }
        let flags = be_u16(bytes, 6);
        let arch = match flags {
            0 => Arch::X86_64,
            FLAG_ARM64 => Arch::Aarch64,
            _ => return Err(EifError::UnknownFlags { flags }),
        };
        let count = usize::from(be_u16(bytes, 26));
        if !(MIN_SECTIONS..=MAX_SECTIONS).contains(&count) {
            return Err(EifError::SectionCount {
                found: count as u64,
                min: MIN_SECTIONS as u64,
                max: MAX_SECTIONS as u64,
            });
        }
        let sections = (0..count)
            .map(|i| SectionEntry {
                offset: be_u64(bytes, OFFSETS_AT + 8 * i),
                size: be_u64(bytes, SIZES_AT + 8 * i),
            })
            .collect();
        Ok(Self {
            arch,
            default_mem: be_u64(bytes, 8),
            default_cpus: be_u64(bytes, 16),
            sections,
            crc: be_u32(bytes, CRC_OFFSET),
        })
    }

    /// The header bytes, with `crc` in the CRC field.
    pub(crate) fn encode(&self, crc: u32) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..4].copy_from_slice(&MAGIC);
        b[4..6].copy_from_slice(&VERSION.to_be_bytes());
        let flags = match self.arch {
            Arch::X86_64 => 0,
            Arch::Aarch64 => FLAG_ARM64,
        };
        b[6..8].copy_from_slice(&flags.to_be_bytes());
        b[8..16].copy_from_slice(&self.default_mem.to_be_bytes());
        b[16..24].copy_from_slice(&self.default_cpus.to_be_bytes());
        // The writer never builds more than MAX_SECTIONS (32) entries, so this fits a u16.
        let count = u16::try_from(self.sections.len()).unwrap_or(u16::MAX);
        b[26..28].copy_from_slice(&count.to_be_bytes());
        for (i, s) in self.sections.iter().take(MAX_SECTIONS).enumerate() {
            b[OFFSETS_AT + 8 * i..OFFSETS_AT + 8 * i + 8].copy_from_slice(&s.offset.to_be_bytes());
            b[SIZES_AT + 8 * i..SIZES_AT + 8 * i + 8].copy_from_slice(&s.size.to_be_bytes());
        }
        b[CRC_OFFSET..].copy_from_slice(&crc.to_be_bytes());
        b
    }

    /// The EIF version (always 4).
    pub fn version(&self) -> u16 {
        VERSION
    }

    /// The kernel's architecture.
    pub fn arch(&self) -> Arch {
        self.arch
    }

    /// Default enclave memory in bytes (informational).
    pub fn default_mem(&self) -> u64 {
        self.default_mem
    }

    /// Default vCPU count (informational).
    pub fn default_cpus(&self) -> u64 {
        self.default_cpus
    }

    /// The section table: header offset and data size of each section.
    pub fn sections(&self) -> &[SectionEntry] {
        &self.sections
    }

    /// The CRC32 stored in the header.
    pub fn crc(&self) -> u32 {
        self.crc
    }
}

fn be_u16(b: &[u8; HEADER_LEN], at: usize) -> u16 {
    let mut a = [0u8; 2];
    a.copy_from_slice(&b[at..at + 2]);
    u16::from_be_bytes(a)
}

fn be_u32(b: &[u8; HEADER_LEN], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_be_bytes(a)
}

fn be_u64(b: &[u8; HEADER_LEN], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_be_bytes(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> EifHeader {
        EifHeader {
            arch: Arch::Aarch64,
            default_mem: 1 << 30,
            default_cpus: 2,
            sections: (0..5)
                .map(|i| SectionEntry {
                    offset: 548 + i * 100,
                    size: 88,
                })
                .collect(),
            crc: 0,
        }
    }

    #[test]
    fn round_trips() {
        let h = sample();
        let bytes = h.encode(0xdead_beef);
        let back = EifHeader::parse(&bytes).expect("parses");
        assert_eq!(back.crc(), 0xdead_beef);
        assert_eq!(EifHeader { crc: 0, ..back }, h);
    }

    #[test]
    fn rejects_bad_fields() {
        let good = sample().encode(0);
        let mut b = good;
        b[0] = b'x';
        assert_eq!(
            EifHeader::parse(&b)
                .map(|_| ())
                .expect_err("must be rejected")
                .code(),
            "eif.bad_magic"
        );
        let mut b = good;
        b[5] = 3;
        assert_eq!(
            EifHeader::parse(&b)
                .map(|_| ())
                .expect_err("must be rejected")
                .code(),
            "eif.unsupported_version"
        );
        let mut b = good;
        b[7] = 2;
        assert_eq!(
            EifHeader::parse(&b)
                .map(|_| ())
                .expect_err("must be rejected")
                .code(),
            "eif.unknown_flags"
        );
        for n in [0u8, 3, 33, 255] {
            let mut b = good;
            b[27] = n;
            assert_eq!(
                EifHeader::parse(&b)
                    .map(|_| ())
                    .expect_err("must be rejected")
                    .code(),
                "eif.section_count",
                "{n}"
            );
        }
    }
}
