//! The SEV metadata of an OVMF image (edk2 `OvmfPkg/ResetVector/X64/OvmfSevMetadata.asm`): the
//! guest memory ranges the VMM must pre-validate, and where the kernel hashes table and the AP
//! reset address are.

use crate::MeasureError;
use crate::footer::{FooterTable, Guid, read_u32};

/// `dc886566-984a-4798-a75e-5585a7bf67cc`: u32 offset, from the end of the image, of the
/// `ASEV` metadata header.
const SEV_METADATA: Guid = Guid::new(
    0xdc88_6566,
    0x984a,
    0x4798,
    [0xa7, 0x5e, 0x55, 0x85, 0xa7, 0xbf, 0x67, 0xcc],
);
/// `00f771de-1a7e-4fcb-890e-68c77e2fb44e`: u32 reset EIP of the application processors.
const SEV_ES_RESET_BLOCK: Guid = Guid::new(
    0x00f7_71de,
    0x1a7e,
    0x4fcb,
    [0x89, 0x0e, 0x68, 0xc7, 0x7e, 0x2f, 0xb4, 0x4e],
);
/// `7255371f-3a3b-4b04-927b-1da6efa8d454`: u32 GPA and u32 size of the kernel hashes table.
const SEV_HASH_TABLE: Guid = Guid::new(
    0x7255_371f,
    0x3a3b,
    0x4b04,
    [0x92, 0x7b, 0x1d, 0xa6, 0xef, 0xa8, 0xd4, 0x54],
);

/// What the VMM puts in one metadata range before launch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SectionKind {
    /// Type 1: memory OVMF's SEC phase uses, pre-validated as zero pages.
    SecMemory,
    /// Type 2: the SNP secrets page.
    Secrets,
    /// Type 3: the CPUID page.
    Cpuid,
    /// Type 4: the SVSM calling area, zero pages.
    SvsmCaa,
    /// Type 0x10: the page holding the kernel/initrd/cmdline hashes table.
    KernelHashes,
}

impl SectionKind {
    fn from_u32(t: u32) -> Option<Self> {
        Some(match t {
            1 => Self::SecMemory,
            2 => Self::Secrets,
            3 => Self::Cpuid,
            4 => Self::SvsmCaa,
            0x10 => Self::KernelHashes,
            _ => return None,
        })
    }
}

/// The most memory the ASEV ranges may cover together (OVMF's cover a few MiB).
const MAX_METADATA_BYTES: u64 = 4 << 30;

/// One metadata range: page-aligned GPA and size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Section {
    pub(crate) gpa: u64,
    pub(crate) size: u64,
    pub(crate) kind: SectionKind,
}

impl Section {
    /// A range; GPA and size must be page aligned and the size non-zero.
    ///
    /// # Errors
    ///
    /// `measure.snp.bad_metadata` naming `file`.
    pub fn new(file: &str, gpa: u64, size: u64, kind: SectionKind) -> Result<Self, MeasureError> {
        if !gpa.is_multiple_of(4096) || !size.is_multiple_of(4096) || size == 0 {
            return Err(MeasureError::BadSevMetadata {
                file: file.to_owned(),
                reason: format!(
                    "{kind:?} section at {gpa:#x}, {size:#x} bytes, is not whole pages"
                ),
            });
        }
        Ok(Self { gpa, size, kind })
    }

    /// The range's kind.
    pub fn kind(&self) -> SectionKind {
        self.kind
    }
}

/// Everything the launch digest needs from the firmware besides its bytes: the metadata ranges
/// in file order (never sorted: edk2 moved KERNEL_HASHES after the last SEC_MEM range in
/// stable202411, and the VMM measures them in the order the firmware lists them), the APs'
/// reset EIP and the hashes table's GPA.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SevLayout {
    pub(crate) file: String,
    pub(crate) sections: Vec<Section>,
    pub(crate) reset_eip: Option<u32>,
    pub(crate) hashes_table_gpa: Option<u64>,
}

impl SevLayout {
    /// A layout known without the firmware file (for instance from a published metadata
    /// document such as EC2's); `name` is how errors refer to it.
    pub fn new(
        name: impl Into<String>,
        sections: Vec<Section>,
        reset_eip: Option<u32>,
        hashes_table_gpa: Option<u64>,
    ) -> Self {
        Self {
            file: name.into(),
            sections,
            reset_eip,
            hashes_table_gpa,
        }
    }

    /// Reads the layout from an OVMF image.
    ///
    /// # Errors
    ///
    /// `measure.snp.no_sev_metadata` if the image has no footer table or no SEV metadata entry;
    /// `measure.snp.bad_metadata` if either is malformed.
    pub fn parse(file: &str, image: &[u8]) -> Result<Self, MeasureError> {
        let bad = |reason: String| MeasureError::BadSevMetadata {
            file: file.to_owned(),
            reason,
        };
        let table = FooterTable::parse(image)
            .map_err(bad)?
            .ok_or(MeasureError::NoSevMetadata {
                file: file.to_owned(),
                missing: "GUIDed footer table (96b582de-…) before the reset vector",
            })?;
        let offset = table
            .get(SEV_METADATA)
            .ok_or(MeasureError::NoSevMetadata {
                file: file.to_owned(),
                missing: "SEV metadata entry (dc886566-…) in the footer table",
            })
            .and_then(|d| {
                read_u32(d, 0)
                    .ok_or_else(|| bad("the SEV metadata entry is shorter than 4 bytes".into()))
            })?;
        let header = image.len().checked_sub(offset as usize).ok_or_else(|| {
            bad(format!(
                "SEV metadata offset {offset:#x} is outside the image"
            ))
        })?;
        if image.get(header..header + 4) != Some(b"ASEV") {
            return Err(bad(format!(
                "no \"ASEV\" signature at {header:#x} (offset {offset:#x} from the end)"
            )));
        }
        let field = |i: usize| {
            read_u32(image, header + 4 * i)
                .ok_or_else(|| bad("the ASEV header is cut off".to_owned()))
        };
        let (len, version, count) = (field(1)?, field(2)?, field(3)?);
        if version != 1 {
            return Err(bad(format!("ASEV version {version}, expected 1")));
        }
        let needed = 16 + 12 * u64::from(count);
        if u64::from(len) < needed || header as u64 + needed > image.len() as u64 {
            return Err(bad(format!(
                "ASEV header of {len} bytes cannot hold {count} sections"
            )));
        }
        let mut sections = Vec::new();
        for i in 0..count as usize {
            let at = header + 16 + 12 * i;
            let (gpa, size, kind) = (
                field_at(image, at),
                field_at(image, at + 4),
                field_at(image, at + 8),
            );
            let kind = SectionKind::from_u32(kind)
                .ok_or_else(|| bad(format!("section {i} has unknown type {kind:#x}")))?;
            sections.push(Section::new(file, gpa.into(), size.into(), kind)?);
        }
        // The launch digest hashes every page of every range: bounded here, so a hostile header
        // (thousands of 4 GiB ranges) is refused rather than hashed for hours. Ranges are GPAs
        // below 4 GiB; one that runs past it wraps in the VMM's 32-bit fields.
        let mut total = 0u64;
        for (i, s) in sections.iter().enumerate() {
            if s.gpa + s.size > 1 << 32 {
                return Err(bad(format!(
                    "section {i} at {:#x}, {:#x} bytes, runs past 4 GiB",
                    s.gpa, s.size
                )));
            }
            total += s.size;
        }
        if total > MAX_METADATA_BYTES {
            return Err(bad(format!(
                "its sections cover {total:#x} bytes, more than the {} GiB any firmware lays out",
                MAX_METADATA_BYTES >> 30
            )));
        }
        let reset_eip = table
            .get(SEV_ES_RESET_BLOCK)
            .map(|d| {
                read_u32(d, 0).ok_or_else(|| bad("the SEV-ES reset block is cut off".to_owned()))
            })
            .transpose()?;
        let hashes_table_gpa = table
            .get(SEV_HASH_TABLE)
            .map(|d| {
                let gpa = read_u32(d, 0).ok_or_else(|| bad("the hash table entry is cut off".into()))?;
                let size = read_u32(d, 4).ok_or_else(|| bad("the hash table entry is cut off".into()))?;
                // OvmfPkgX64 builds carry the entry with GPA and size 0: no table.
                if gpa == 0 && size == 0 {
                    return Ok(None);
                }
                if (gpa & 0xfff) as usize + super::hashes::TABLE_LEN > 4096 || (size as usize) < super::hashes::TABLE_LEN {
                    return Err(bad(format!(
                        "the kernel hashes table at {gpa:#x} ({size} bytes) cannot hold the {}-byte table within its page",
                        super::hashes::TABLE_LEN
                    )));
                }
                Ok(Some(u64::from(gpa)))
            })
            .transpose()?
            .flatten();
        Ok(Self {
            file: file.to_owned(),
            sections,
            reset_eip,
            hashes_table_gpa,
        })
    }

    /// The metadata ranges in file order.
    pub fn sections(&self) -> &[Section] {
        &self.sections
    }

    /// Whether the firmware can measure a directly booted kernel.
    pub fn has_kernel_hashes(&self) -> bool {
        self.sections
            .iter()
            .any(|s| s.kind == SectionKind::KernelHashes)
    }
}

/// A u32 the caller has bounds-checked.
fn field_at(image: &[u8], at: usize) -> u32 {
    read_u32(image, at).unwrap_or(0)
}

#[cfg(test)]
mod hostile_tests {
    use super::*;
    use crate::footer::tests::image_with_table;

    /// A 64 KiB OVMF whose ASEV header lists `sections` (GPA, size, type).
    fn ovmf_with(sections: &[(u32, u32, u32)]) -> Vec<u8> {
        let len = 0x1_0000usize;
        let header_at = 0x1000usize;
        let mut img = image_with_table(
            len,
            &[(
                SEV_METADATA,
                ((len - header_at) as u32).to_le_bytes().to_vec(),
            )],
        );
        let count = u32::try_from(sections.len()).unwrap();
        let mut h = Vec::new();
        h.extend_from_slice(b"ASEV");
        h.extend_from_slice(&(16 + 12 * count).to_le_bytes());
        h.extend_from_slice(&1u32.to_le_bytes());
        h.extend_from_slice(&count.to_le_bytes());
        for (gpa, size, kind) in sections {
            h.extend_from_slice(&gpa.to_le_bytes());
            h.extend_from_slice(&size.to_le_bytes());
            h.extend_from_slice(&kind.to_le_bytes());
        }
        img[header_at..header_at + h.len()].copy_from_slice(&h);
        img
    }

    /// Each ASEV size fits in a u32, but a hostile header may list thousands of 4 GiB ranges:
    /// the launch digest would then hash for hours. More memory than any firmware lays out is
    /// refused when the header is read.
    #[test]
    fn metadata_larger_than_any_firmware_is_refused() {
        let sec_mem = (0x80_0000, 0x9000, 1);
        assert!(SevLayout::parse("ok.fd", &ovmf_with(&[sec_mem])).is_ok());
        let huge = (0x1000_0000, 0xffff_f000, 1);
        let err = SevLayout::parse("hostile.fd", &ovmf_with(&[sec_mem, huge, huge]))
            .expect_err("8 GiB of ranges");
        assert_eq!(err.code(), "measure.snp.bad_metadata");
        assert!(err.to_string().contains("hostile.fd"), "{err}");
        let wrap = (0xffff_f000, 0x2000, 1);
        let err = SevLayout::parse("hostile.fd", &ovmf_with(&[wrap])).expect_err("past 4 GiB");
        assert_eq!(err.code(), "measure.snp.bad_metadata");
    }
}
