//! x86 Linux bzImage kernels (`Documentation/arch/x86/boot.rst`): the setup header checks,
//! QEMU's patches to it for direct boot, and the Authenticode digest the firmware measures.

use sha2::{Digest, Sha384};

use crate::footer::{read_u16, read_u32};
use crate::{DEFAULT_CMDLINE_MAX, Input, MeasureError};

/// QEMU's setup-header work area: the header must lie inside the first 4 KiB it reads.
const MIN_LEN: usize = 0x1000;
/// QEMU reserves this much below the top of low memory for ACPI data
/// (`acpi_data_size = 0x20000 + 0x8000` in hw/i386/x86.c for a q35 TD).
const ACPI_DATA_SIZE: u64 = 0x28000;

/// A kernel whose bzImage setup header and PE/COFF (EFI stub) header were found.
#[derive(Clone, Debug)]
pub struct BzImage<'a> {
    input: &'a Input,
}

impl<'a> BzImage<'a> {
    /// Checks that `kernel` is a bzImage with an EFI stub.
    ///
    /// ```
    /// use cloister_measure::{BzImage, Input};
    /// let tiny = Input::new("vmlinuz", vec![0u8; 512]);
    /// assert_eq!(BzImage::parse(&tiny).unwrap_err().code(), "measure.kernel.not_bzimage");
    /// ```
    ///
    /// # Errors
    ///
    /// `measure.kernel.not_bzimage` naming the file and what is missing.
    pub fn parse(kernel: &'a Input) -> Result<Self, MeasureError> {
        let b = kernel.bytes();
        let missing = |m: String| MeasureError::NotBzImage {
            file: kernel.name().to_owned(),
            missing: m,
        };
        if b.len() < MIN_LEN {
            return Err(missing(format!(
                "it is {} bytes, smaller than the {MIN_LEN}-byte setup area of any bzImage",
                b.len()
            )));
        }
        if read_u16(b, 0x1fe) != Some(0xaa55) {
            return Err(missing(
                "no boot sector signature 0xAA55 at 0x1fe".to_owned(),
            ));
        }
        if b.get(0x202..0x206) != Some(b"HdrS") {
            return Err(missing(
                "no setup header magic \"HdrS\" at 0x202".to_owned(),
            ));
        }
        let protocol = read_u16(b, 0x206).unwrap_or(0);
        if protocol < 0x20c {
            return Err(missing(format!(
                "boot protocol {protocol:#x}; direct EFI boot needs 2.12 or later"
            )));
        }
        let pe = read_u32(b, 0x3c).map(|v| v as usize);
        if b.get(..2) != Some(b"MZ") || pe.and_then(|at| b.get(at..at + 4)) != Some(b"PE\0\0") {
            return Err(missing(
                "no PE/COFF header (the kernel has no EFI stub)".to_owned(),
            ));
        }
        Ok(Self { input: kernel })
    }

    /// The most command-line bytes (with the NUL) the kernel accepts: its `cmdline_size` + 1.
    pub fn cmdline_max(&self) -> usize {
        read_u32(self.input.bytes(), 0x238)
            .map(|v| v as usize + 1)
            .unwrap_or(DEFAULT_CMDLINE_MAX)
    }

    /// The Authenticode SHA-384 of the kernel as QEMU loads it for a TD with `memory` bytes of
    /// RAM and an initrd of `initrd_len` bytes (0 for none): QEMU writes the loader type, heap
    /// end, command-line address and initrd address into the setup header first, and the
    /// initrd address depends on the memory below 4 GiB.
    ///
    /// # Errors
    ///
    /// `measure.tdx.initrd_too_large`, `measure.kernel.not_bzimage` (section table cut off).
    pub fn qemu_authenticode(
        &self,
        initrd: Option<&Input>,
        memory: u64,
    ) -> Result<[u8; 48], MeasureError> {
        let mut k = self.input.bytes().to_vec();
        // Protocol >= 2.12 (checked in `parse`): the "new" layout, real mode at 0x10000 (loadflags
        // bit 0 set) else 0x90000.
        let (real_addr, cmdline_addr): (u32, u32) = if k[0x211] & 1 != 0 {
            (0x1_0000, 0x2_0000)
        } else {
            (0x9_0000, 0x9_a000)
        };
        k[0x210] = 0xb0; // type_of_loader: QEMU
        k[0x211] |= 0x80; // loadflags: CAN_USE_HEAP
        let heap_end = cmdline_addr - real_addr - 0x200;
        k[0x224..0x228].copy_from_slice(&heap_end.to_le_bytes());
        k[0x228..0x22c].copy_from_slice(&cmdline_addr.to_le_bytes());
        if let Some(initrd) = initrd.filter(|i| !i.bytes().is_empty()) {
            let size = initrd.bytes().len() as u64;
            let xloadflags = read_u16(&k, 0x236).unwrap_or(0);
            let mut max: u64 = if xloadflags & 0x40 != 0 {
                u64::from(u32::MAX)
            } else {
                0x37ff_ffff
            };
            // pc_q35: RAM of 0xB0000000 or more splits at 2 GiB, otherwise all of it is low.
            let below_4g = if memory >= 0xb000_0000 {
                0x8000_0000
            } else {
                memory
            };
            let available = below_4g.saturating_sub(ACPI_DATA_SIZE);
            if max >= available {
                max = available.saturating_sub(1);
            }
            if size >= max {
                return Err(MeasureError::InitrdTooLarge {
                    file: initrd.name().to_owned(),
                    size,
                    max,
                    memory,
                });
            }
            let addr = (max - size) & !0xfff;
            // Both fit in u32: `max` is at most u32::MAX and `size` below it.
            k[0x218..0x21c].copy_from_slice(&(addr as u32).to_le_bytes());
            k[0x21c..0x220].copy_from_slice(&(size as u32).to_le_bytes());
        }
        authenticode_sha384(&k).ok_or_else(|| MeasureError::NotBzImage {
            file: self.input.name().to_owned(),
            missing: "a complete PE/COFF section table".to_owned(),
        })
    }
}

/// The Authenticode digest of a PE/COFF image (Microsoft PE/COFF specification, "Calculating
/// the PE Image Hash"): the headers without the checksum and the certificate-table directory
/// entry, then each section's raw data in file order, then any data after the last section
/// except the certificate table; then, as edk2's `DxeImageVerificationLib` and the TDX
/// measurement tools do, zero padding to a multiple of 8 bytes. `None` if a header is cut off.
fn authenticode_sha384(b: &[u8]) -> Option<[u8; 48]> {
    let pe = read_u32(b, 0x3c)? as usize;
    let coff = pe.checked_add(4)?;
    let sections = usize::from(read_u16(b, coff + 2)?);
    let opt_len = usize::from(read_u16(b, coff + 16)?);
    let opt = coff + 20;
    let dirs = match read_u16(b, opt)? {
        0x20b => opt + 112,
        _ => opt + 96,
    };
    let checksum = opt + 64;
    let cert_dir = dirs + 4 * 8;
    let headers_len = read_u32(b, opt + 60)? as usize;
    if !(checksum + 4 <= cert_dir && cert_dir + 8 <= headers_len && headers_len <= b.len()) {
        return None;
    }
    let mut h = Sha384::new();
    h.update(&b[..checksum]);
    h.update(&b[checksum + 4..cert_dir]);
    h.update(&b[cert_dir + 8..headers_len]);
    let mut hashed = headers_len;
    let mut raw: Vec<(usize, usize)> = Vec::new();
    let table = opt + opt_len;
    for i in 0..sections {
        let s = table + 40 * i;
        let size = read_u32(b, s + 16)? as usize;
        let at = read_u32(b, s + 20)? as usize;
        if size > 0 {
            raw.push((at, size));
        }
    }
    raw.sort_unstable();
    for (at, size) in raw {
        let end = at.saturating_add(size).min(b.len());
        if at < end {
            h.update(&b[at..end]);
        }
        hashed = hashed.saturating_add(size);
    }
    let cert_size = read_u32(b, cert_dir + 4)? as usize;
    if b.len() > hashed {
        let trailing = b.len() - hashed;
        let keep = trailing.saturating_sub(cert_size);
        h.update(&b[hashed..hashed + keep]);
    }
    let pad = (8 - b.len() % 8) % 8;
    h.update(&[0u8; 8][..pad]);
    Some(h.finalize().into())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A minimal bzImage with an EFI stub: boot sector, setup header (protocol 2.15), a PE32+
    /// header with one section covering the rest of the file.
    pub(crate) fn tiny_bzimage(len: usize, fill: u8) -> Vec<u8> {
        let mut k = vec![fill; len];
        k[..0x240].fill(0);
        k[0..2].copy_from_slice(b"MZ");
        k[0x3c..0x40].copy_from_slice(&0x80u32.to_le_bytes());
        k[0x80..0x84].copy_from_slice(b"PE\0\0");
        let coff = 0x84;
        k[coff + 2..coff + 4].copy_from_slice(&1u16.to_le_bytes());
        k[coff + 16..coff + 18].copy_from_slice(&240u16.to_le_bytes());
        let opt = coff + 20;
        k[opt..opt + 2].copy_from_slice(&0x20bu16.to_le_bytes());
        k[opt + 60..opt + 64].copy_from_slice(&0x200u32.to_le_bytes());
        let sec = opt + 240;
        // One section from 0x200 (as Linux's `.setup`), so the setup header QEMU patches is hashed.
        k[sec + 16..sec + 20].copy_from_slice(&((len - 0x200) as u32).to_le_bytes());
        k[sec + 20..sec + 24].copy_from_slice(&0x200u32.to_le_bytes());
        k[0x1fe..0x200].copy_from_slice(&0xaa55u16.to_le_bytes());
        k[0x202..0x206].copy_from_slice(b"HdrS");
        k[0x206..0x208].copy_from_slice(&0x20fu16.to_le_bytes());
        k[0x211] = 1;
        k[0x236..0x238].copy_from_slice(&0x40u16.to_le_bytes());
        k[0x238..0x23c].copy_from_slice(&2047u32.to_le_bytes());
        k
    }

    #[test]
    fn checks_what_is_missing() {
        let good = Input::new("k", tiny_bzimage(0x3000, 0x5a));
        let bz = BzImage::parse(&good).unwrap();
        assert_eq!(bz.cmdline_max(), 2048);
        for (at, what) in [(0x1fe, "0xAA55"), (0x202, "HdrS"), (0x80, "PE/COFF")] {
            let mut b = good.bytes().to_vec();
            b[at] ^= 0xff;
            let bad = Input::new("k", b);
            let err = BzImage::parse(&bad).unwrap_err();
            assert!(err.to_string().contains(what), "{err}");
        }
    }

    #[test]
    fn initrd_address_depends_on_low_memory_only() {
        let k = Input::new("k", tiny_bzimage(0x3000, 0x5a));
        let bz = BzImage::parse(&k).unwrap();
        let initrd = Input::new("i", vec![1; 0x10_0000]);
        let at = |m: u64| bz.qemu_authenticode(Some(&initrd), m).unwrap();
        assert_eq!(at(0xb000_0000), at(4 << 30));
        assert_eq!(at(2 << 30), at(4 << 30));
        assert_ne!(at(1 << 30), at(4 << 30));
        // Without an initrd the memory does not matter.
        assert_eq!(
            bz.qemu_authenticode(None, 1 << 30).unwrap(),
            bz.qemu_authenticode(None, 8 << 30).unwrap()
        );
        let huge = Input::new("big.cpio", vec![0; 0x10_0000]);
        let err = bz.qemu_authenticode(Some(&huge), 0x10_0000).unwrap_err();
        assert_eq!(err.code(), "measure.tdx.initrd_too_large");
    }
}
