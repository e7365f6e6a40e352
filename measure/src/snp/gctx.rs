//! The launch digest the AMD secure processor keeps while a guest is built: one PAGE_INFO
//! structure hashed per page (SEV-SNP ABI specification, 8.17.2 "PAGE_INFO").

use sha2::{Digest, Sha384};

/// SNP page types (SEV-SNP ABI, table "Page Types").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PageType {
    Normal = 1,
    Vmsa = 2,
    Zero = 3,
    Unmeasured = 4,
    Secrets = 5,
    Cpuid = 6,
}

/// The GPA the ABI gives every VMSA page in the digest.
const VMSA_GPA: u64 = 0xFFFF_FFFF_F000;
const PAGE_INFO_LEN: u16 = 0x70;

/// A launch digest being built.
#[derive(Clone, Debug)]
pub(crate) struct LaunchDigest([u8; 48]);

impl LaunchDigest {
    /// Starts from `seed`: 48 zero bytes, or a digest already taken over the firmware pages.
    pub(crate) fn new(seed: [u8; 48]) -> Self {
        Self(seed)
    }

    /// The digest so far.
    pub(crate) fn value(&self) -> [u8; 48] {
        self.0
    }

    /// Hashes one PAGE_INFO: the digest so far, the page's contents digest, its length, type,
    /// IMI flag and VMPL permissions (all zero for a VMM-built guest), and its GPA.
    fn update(&mut self, kind: PageType, gpa: u64, contents: &[u8; 48]) {
        let mut info = [0u8; PAGE_INFO_LEN as usize];
        info[..48].copy_from_slice(&self.0);
        info[48..96].copy_from_slice(contents);
        info[96..98].copy_from_slice(&PAGE_INFO_LEN.to_le_bytes());
        info[98] = kind as u8;
        // 99: IMI_PAGE = 0; 100..103: VMPL3..1 permissions = 0; 103: reserved.
        info[104..112].copy_from_slice(&gpa.to_le_bytes());
        self.0.copy_from_slice(&Sha384::digest(info));
    }

    /// Measured pages: each 4 KiB page of `data` by its SHA-384. `data` is whole pages.
    pub(crate) fn normal_pages(&mut self, gpa: u64, data: &[u8]) {
        for (i, page) in data.chunks(4096).enumerate() {
            let mut d = [0u8; 48];
            d.copy_from_slice(&Sha384::digest(page));
            self.update(PageType::Normal, gpa + 4096 * i as u64, &d);
        }
    }

    /// One VMSA page.
    pub(crate) fn vmsa_page(&mut self, page: &[u8; 4096]) {
        let mut d = [0u8; 48];
        d.copy_from_slice(&Sha384::digest(page));
        self.update(PageType::Vmsa, VMSA_GPA, &d);
    }

    /// Pages recorded with an all-zero contents digest, one per 4 KiB in `size`.
    pub(crate) fn zero_digest_pages(&mut self, kind: PageType, gpa: u64, size: u64) {
        for i in 0..size / 4096 {
            self.update(kind, gpa + 4096 * i, &[0u8; 48]);
        }
    }
}
