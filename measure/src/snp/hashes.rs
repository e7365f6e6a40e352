//! The kernel hashes table QEMU writes into the OVMF page of the SNP_KERNEL_HASHES section for
//! measured direct boot (QEMU `target/i386/sev.c`, `SevHashTable`), which OVMF checks the
//! kernel, initrd and command line it loads against.

use sha2::{Digest, Sha256};

use crate::footer::Guid;
use crate::{Cmdline, Input};

/// `9438d606-4f22-4cc9-b479-a793d411fd21`: the table header.
const TABLE_GUID: Guid = Guid::new(
    0x9438_d606,
    0x4f22,
    0x4cc9,
    [0xb4, 0x79, 0xa7, 0x93, 0xd4, 0x11, 0xfd, 0x21],
);
const CMDLINE_GUID: Guid = Guid::new(
    0x97d0_2dd8,
    0xbd20,
    0x4c94,
    [0xaa, 0x78, 0xe7, 0x71, 0x4d, 0x36, 0xab, 0x2a],
);
const INITRD_GUID: Guid = Guid::new(
    0x44ba_f731,
    0x3a2f,
    0x4bd7,
    [0x9a, 0xf1, 0x41, 0xe2, 0x91, 0x69, 0x78, 0x1d],
);
const KERNEL_GUID: Guid = Guid::new(
    0x4de7_9437,
    0xabd2,
    0x427f,
    [0xb8, 0x35, 0xd5, 0xb1, 0x72, 0xd2, 0x04, 0x5b],
);

/// Header (GUID, u16 length) then three entries (GUID, u16 length, SHA-256).
const ENTRY_LEN: usize = 16 + 2 + 32;
const USED_LEN: usize = 16 + 2 + 3 * ENTRY_LEN;
/// QEMU pads the table to a multiple of 16 bytes.
pub(crate) const TABLE_LEN: usize = USED_LEN.next_multiple_of(16);

/// The SHA-256 digests of a directly booted kernel, initrd and command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelHashes {
    cmdline: [u8; 32],
    initrd: [u8; 32],
    kernel: [u8; 32],
}

impl KernelHashes {
    /// QEMU's rules: the command line is hashed with its NUL (just a NUL when there is none),
    /// an absent initrd as the empty string, the kernel file whole.
    ///
    /// ```
    /// use cloister_measure::{Cmdline, Input, snp::KernelHashes};
    /// let kernel = Input::new("k", Vec::new());
    /// let h = KernelHashes::new(&kernel, None, None);
    /// let with_cmdline = KernelHashes::new(&kernel, None, Some(&Cmdline::new("quiet", 2048)?));
    /// assert_ne!(h, with_cmdline);
    /// # Ok::<(), cloister_measure::MeasureError>(())
    /// ```
    pub fn new(kernel: &Input, initrd: Option<&Input>, cmdline: Option<&Cmdline>) -> Self {
        let mut c = Sha256::new();
        c.update(cmdline.map(Cmdline::as_str).unwrap_or("").as_bytes());
        c.update([0u8]);
        let initrd = initrd.map(Input::bytes).unwrap_or(&[]);
        Self {
            cmdline: c.finalize().into(),
            initrd: Sha256::digest(initrd).into(),
            kernel: Sha256::digest(kernel.bytes()).into(),
        }
    }

    /// The 4 KiB page with the table at `offset` (the table GPA's offset in its page); the
    /// caller has checked that it fits.
    pub(crate) fn page(&self, offset: usize) -> [u8; 4096] {
        let mut t = Vec::with_capacity(TABLE_LEN);
        t.extend_from_slice(TABLE_GUID.bytes());
        t.extend_from_slice(&(USED_LEN as u16).to_le_bytes());
        for (g, h) in [
            (CMDLINE_GUID, &self.cmdline),
            (INITRD_GUID, &self.initrd),
            (KERNEL_GUID, &self.kernel),
        ] {
            t.extend_from_slice(g.bytes());
            t.extend_from_slice(&(ENTRY_LEN as u16).to_le_bytes());
            t.extend_from_slice(h);
        }
        t.resize(TABLE_LEN, 0);
        let mut page = [0u8; 4096];
        page[offset..offset + TABLE_LEN].copy_from_slice(&t);
        page
    }
}
