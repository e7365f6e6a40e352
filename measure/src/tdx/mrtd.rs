//! MRTD: the SHA-384 the TDX module keeps over the TD's initial pages (Intel TDX module ABI:
//! TDH.MEM.PAGE.ADD and TDH.MR.EXTEND each hash one 128-byte block, the extend then 256 bytes of
//! the page).

use sha2::{Digest, Sha384};

use super::tdvf::Tdvf;

/// The order QEMU issues the page additions and extensions in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MrtdOrder {
    /// Each page added, then its 16 chunks extended (QEMU 9 and later, KVM's
    /// KVM_TDX_INIT_MEM_REGION with the measure flag; td-shim's tools).
    SinglePass,
    /// Per range, all pages added first, then all extended (the QEMU 8.x TDX patches).
    TwoPass,
}

impl std::str::FromStr for MrtdOrder {
    type Err = crate::MeasureError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "single" | "single-pass" => Ok(Self::SinglePass),
            "two-pass" => Ok(Self::TwoPass),
            _ => Err(crate::MeasureError::BadValue {
                setting: "--mrtd-order",
                value: s.to_owned(),
                reason: "not one of single, two-pass".to_owned(),
            }),
        }
    }
}

fn block(tag: &[u8], gpa: u64) -> [u8; 128] {
    let mut b = [0u8; 128];
    b[..tag.len()].copy_from_slice(tag);
    b[16..24].copy_from_slice(&gpa.to_le_bytes());
    b
}

/// The MRTD of a TD built from `fw` in `order`.
pub(crate) fn mrtd(fw: &Tdvf, order: MrtdOrder) -> [u8; 48] {
    let mut h = Sha384::new();
    let add = |h: &mut Sha384, gpa: u64| h.update(block(b"MEM.PAGE.ADD", gpa));
    let extend = |h: &mut Sha384, gpa: u64, page: &[u8; 4096]| {
        for (i, chunk) in page.chunks(256).enumerate() {
            h.update(block(b"MR.EXTEND", gpa + 256 * i as u64));
            h.update(chunk);
        }
    };
    // Ranges neither added nor extended (PAGE.AUG memory) leave no trace in MRTD, whatever
    // their size: not walked.
    for s in fw.sections().iter().filter(|s| s.added() || s.extended()) {
        let pages = s.mem_size / 4096;
        match order {
            MrtdOrder::SinglePass => {
                for p in 0..pages {
                    let gpa = s.gpa + 4096 * p;
                    if s.added() {
                        add(&mut h, gpa);
                    }
                    if s.extended() {
                        extend(&mut h, gpa, &fw.page(s, p));
                    }
                }
            }
            MrtdOrder::TwoPass => {
                if s.added() {
                    for p in 0..pages {
                        add(&mut h, s.gpa + 4096 * p);
                    }
                }
                if s.extended() {
                    for p in 0..pages {
                        extend(&mut h, s.gpa + 4096 * p, &fw.page(s, p));
                    }
                }
            }
        }
    }
    h.finalize().into()
}
