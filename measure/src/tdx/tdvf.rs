//! The TDVF metadata of a TDX firmware (Intel "TDX Virtual Firmware Design Guide", section 11,
//! and edk2 `OvmfPkg/ResetVector/X64/IntelTdxMetadata.asm`): the ranges QEMU adds to the TD,
//! and which of them it measures into MRTD.

use crate::MeasureError;
use crate::footer::{FooterTable, Guid, read_u32, read_u64};

/// `e47a6535-984a-4798-865e-4685a7bf8ec2`: u32 offset, from the end of the image, of the
/// TDVF descriptor.
const TDX_METADATA: Guid = Guid::new(
    0xe47a_6535,
    0x984a,
    0x4798,
    [0x86, 0x5e, 0x46, 0x85, 0xa7, 0xbf, 0x8e, 0xc2],
);

/// Attribute bit 0: the range's contents are extended into MRTD (TDH.MR.EXTEND).
const ATTR_MR_EXTEND: u32 = 1;
/// Attribute bit 1: the range is added later by TDH.MEM.PAGE.AUG, so not measured at all.
const ATTR_PAGE_AUG: u32 = 2;
/// The end of the guest physical address space (52 bits, the most TDX supports).
const MAX_GPA: u64 = 1 << 52;
/// The most memory the sections may add or extend before launch (OVMF's are a few MiB).
const MAX_MEASURED_BYTES: u64 = 4 << 30;

/// What one range holds (the descriptor's type field).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TdvfSectionKind {
    /// 0: the boot firmware volume (code).
    Bfv,
    /// 1: the configuration firmware volume (UEFI variables).
    Cfv,
    /// 2: the TD HOB QEMU writes.
    TdHob,
    /// 3: temporary memory.
    TempMem,
    /// 4-7 (td-shim): permanent memory, payload, payload parameters, TD info.
    Other(u32),
}

/// One TDVF range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TdvfSection {
    pub(crate) data_offset: u32,
    pub(crate) raw_size: u32,
    pub(crate) gpa: u64,
    pub(crate) mem_size: u64,
    pub(crate) kind: TdvfSectionKind,
    pub(crate) attributes: u32,
}

impl TdvfSection {
    /// What the range holds.
    pub fn kind(&self) -> TdvfSectionKind {
        self.kind
    }

    /// Whether its pages are added (TDH.MEM.PAGE.ADD) before launch, and so recorded in MRTD.
    pub(crate) fn added(&self) -> bool {
        self.attributes & ATTR_PAGE_AUG == 0
    }

    /// Whether its contents are extended into MRTD.
    pub(crate) fn extended(&self) -> bool {
        self.attributes & ATTR_MR_EXTEND != 0
    }
}

/// A TDX firmware image with its TDVF metadata parsed.
#[derive(Clone, Debug)]
pub struct Tdvf {
    /// The name errors use for the firmware file.
    pub(crate) file: String,
    pub(crate) image: Vec<u8>,
    pub(crate) sections: Vec<TdvfSection>,
}

impl Tdvf {
    /// Parses the TDVF descriptor of `image`.
    ///
    /// # Errors
    ///
    /// `measure.tdx.no_tdvf_metadata` when the firmware has none, `measure.tdx.bad_metadata`
    /// when it is malformed; both name `file`.
    pub fn parse(file: &str, image: &[u8]) -> Result<Self, MeasureError> {
        let bad = |reason: String| MeasureError::BadTdxMetadata {
            file: file.to_owned(),
            reason,
        };
        let table = FooterTable::parse(image)
            .map_err(bad)?
            .ok_or(MeasureError::NoTdxMetadata {
                file: file.to_owned(),
                missing: "GUIDed footer table (96b582de-…) before the reset vector",
            })?;
        let offset = table
            .get(TDX_METADATA)
            .ok_or(MeasureError::NoTdxMetadata {
                file: file.to_owned(),
                missing: "TDX metadata entry (e47a6535-…) in the footer table",
            })
            .and_then(|d| {
                read_u32(d, 0).ok_or_else(|| bad("the TDX metadata entry is cut off".into()))
            })?;
        let desc = image.len().checked_sub(offset as usize).ok_or_else(|| {
            bad(format!(
                "TDVF descriptor offset {offset:#x} is outside the image"
            ))
        })?;
        if image.get(desc..desc + 4) != Some(b"TDVF") {
            return Err(bad(format!(
                "no \"TDVF\" signature at {desc:#x} (offset {offset:#x} from the end)"
            )));
        }
        let cut = || bad("the TDVF descriptor is cut off".to_owned());
        let len = read_u32(image, desc + 4).ok_or_else(cut)?;
        let version = read_u32(image, desc + 8).ok_or_else(cut)?;
        let count = read_u32(image, desc + 12).ok_or_else(cut)?;
        if version != 1 {
            return Err(bad(format!(
                "TDVF descriptor version {version}, expected 1"
            )));
        }
        let needed = 16 + 32 * u64::from(count);
        if u64::from(len) < needed || desc as u64 + needed > image.len() as u64 {
            return Err(bad(format!(
                "TDVF descriptor of {len} bytes cannot hold {count} sections"
            )));
        }
        let mut sections = Vec::new();
        for i in 0..count as usize {
            let at = desc + 16 + 32 * i;
            let s = TdvfSection {
                data_offset: read_u32(image, at).ok_or_else(cut)?,
                raw_size: read_u32(image, at + 4).ok_or_else(cut)?,
                gpa: read_u64(image, at + 8).ok_or_else(cut)?,
                mem_size: read_u64(image, at + 16).ok_or_else(cut)?,
                kind: match read_u32(image, at + 24).ok_or_else(cut)? {
                    0 => TdvfSectionKind::Bfv,
                    1 => TdvfSectionKind::Cfv,
                    2 => TdvfSectionKind::TdHob,
                    3 => TdvfSectionKind::TempMem,
                    t => TdvfSectionKind::Other(t),
                },
                attributes: read_u32(image, at + 28).ok_or_else(cut)?,
            };
            if !s.gpa.is_multiple_of(4096) || !s.mem_size.is_multiple_of(4096) {
                return Err(bad(format!(
                    "section {i} at {:#x}, {:#x} bytes, is not whole pages",
                    s.gpa, s.mem_size
                )));
            }
            if u64::from(s.raw_size) > s.mem_size
                || u64::from(s.data_offset) + u64::from(s.raw_size) > image.len() as u64
            {
                return Err(bad(format!(
                    "section {i}: {} bytes at file offset {:#x} do not fit the image or its {:#x}-byte range",
                    s.raw_size, s.data_offset, s.mem_size
                )));
            }
            if s.gpa
                .checked_add(s.mem_size)
                .is_none_or(|end| end > MAX_GPA)
            {
                return Err(bad(format!(
                    "section {i} at {:#x}, {:#x} bytes, runs past the {}-bit guest physical address space",
                    s.gpa,
                    s.mem_size,
                    MAX_GPA.trailing_zeros()
                )));
            }
            sections.push(s);
        }
        // MRTD walks every page of the ranges it adds or extends: bounded here, so a hostile
        // descriptor is refused rather than hashed for hours.
        let walked = sections
            .iter()
            .filter(|s| s.added() || s.extended())
            .try_fold(0u64, |sum, s| sum.checked_add(s.mem_size))
            .filter(|sum| *sum <= MAX_MEASURED_BYTES);
        if walked.is_none() {
            return Err(bad(format!(
                "its sections add more than {} GiB to the TD before launch, more than any TDVF firmware lays out",
                MAX_MEASURED_BYTES >> 30
            )));
        }
        Ok(Self {
            file: file.to_owned(),
            image: image.to_vec(),
            sections,
        })
    }

    /// The ranges in file order.
    pub fn sections(&self) -> &[TdvfSection] {
        &self.sections
    }

    /// The bytes of page `page` of `s` as the TD sees them: the firmware data, zero past its
    /// raw size.
    pub(crate) fn page(&self, s: &TdvfSection, page: u64) -> [u8; 4096] {
        let mut out = [0u8; 4096];
        let start = page * 4096;
        let raw = u64::from(s.raw_size);
        if start < raw {
            let n = (raw - start).min(4096) as usize;
            let from = s.data_offset as usize + start as usize;
            out[..n].copy_from_slice(&self.image[from..from + n]);
        }
        out
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::footer::tests::image_with_table;

    /// A 64 KiB firmware whose TDVF descriptor lists `sections`
    /// (data offset, raw size, GPA, memory size, type, attributes).
    pub(crate) fn firmware_with(sections: &[(u32, u32, u64, u64, u32, u32)]) -> Vec<u8> {
        firmware_with_layout(0x1_0000, 0x1000, sections)
    }

    /// A `len`-byte firmware with its TDVF descriptor at `desc_at`, listing `sections`.
    pub(crate) fn firmware_with_layout(
        len: usize,
        desc_at: usize,
        sections: &[(u32, u32, u64, u64, u32, u32)],
    ) -> Vec<u8> {
        let mut img = image_with_table(
            len,
            &[(
                TDX_METADATA,
                ((len - desc_at) as u32).to_le_bytes().to_vec(),
            )],
        );
        let count = u32::try_from(sections.len()).unwrap();
        let mut d = Vec::new();
        d.extend_from_slice(b"TDVF");
        d.extend_from_slice(&(16 + 32 * count).to_le_bytes());
        d.extend_from_slice(&1u32.to_le_bytes());
        d.extend_from_slice(&count.to_le_bytes());
        for (off, raw, gpa, size, kind, attr) in sections {
            d.extend_from_slice(&off.to_le_bytes());
            d.extend_from_slice(&raw.to_le_bytes());
            d.extend_from_slice(&gpa.to_le_bytes());
            d.extend_from_slice(&size.to_le_bytes());
            d.extend_from_slice(&kind.to_le_bytes());
            d.extend_from_slice(&attr.to_le_bytes());
        }
        img[desc_at..desc_at + d.len()].copy_from_slice(&d);
        img
    }

    /// A hostile firmware must not make the MRTD computation walk 2^48 pages: memory sizes the
    /// VMM could never give a TD are refused when the descriptor is read.
    #[test]
    fn sections_larger_than_any_td_are_refused() {
        let bfv = (0xe000u32, 0x2000u32, 0xffff_e000u64, 0x2000u64, 0u32, 1u32);
        assert!(Tdvf::parse("ok.fd", &firmware_with(&[bfv])).is_ok());
        for (name, hostile) in [
            ("huge TEMP_MEM", (0, 0, 0x80_0000, 1u64 << 60, 3, 0)),
            ("wrapping range", (0, 0, u64::MAX - 0xfff, 0x2000, 2, 0)),
        ] {
            let err = Tdvf::parse("hostile.fd", &firmware_with(&[bfv, hostile])).expect_err(name);
            assert_eq!(err.code(), "measure.tdx.bad_metadata", "{name}: {err}");
            assert!(err.to_string().contains("hostile.fd"), "{err}");
        }
        // Many sections that are each plausible must not add up past the bound either.
        let temp = (0, 0, 0x1_0000_0000u64, 1u64 << 31, 3, 0);
        let err = Tdvf::parse("hostile.fd", &firmware_with(&[bfv, temp, temp, temp]))
            .expect_err("8 GiB of sections in total");
        assert_eq!(err.code(), "measure.tdx.bad_metadata");
    }
}
