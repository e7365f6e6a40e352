//! Expected TDX measurements of a TD that QEMU builds from a TDVF firmware (OVMF with TDX
//! support), optionally booting a kernel directly: MRTD, RTMR[1] and RTMR[2].
//!
//! - MRTD depends on the firmware image and the order QEMU adds its pages in ([`MrtdOrder`]).
//! - RTMR[1] on the kernel (after QEMU's setup-header patches, which depend on the initrd size
//!   and the memory below 4 GiB) and fixed boot-manager events.
//! - RTMR[2] on the command line (with OVMF's `initrd=initrd`, see [`InitrdOption`]) and the
//!   initrd: the enclave's configuration travels in the initrd, so RTMR[2] covers it.
//! - RTMR[0] is not computed: it records the TD HOB, the UEFI variables and QEMU's ACPI tables,
//!   which vary with the QEMU version, machine type, memory, vCPUs and devices. Pin it from a
//!   TD started with exactly the production configuration.
//!
//! ```no_run
//! use cloister_measure::Input;
//! use cloister_measure::tdx::{MrtdOrder, TdxLaunch};
//! let fw = Input::read("OVMF.fd".as_ref())?;
//! let m = TdxLaunch::new(&fw, 2 << 30)?.measure(MrtdOrder::SinglePass)?;
//! println!("MRTD {}", hex::encode(m.mrtd));
//! # Ok::<(), cloister_measure::MeasureError>(())
//! ```

mod mrtd;
mod rtmr;
mod tdvf;

pub use mrtd::MrtdOrder;
pub use rtmr::InitrdOption;
pub use tdvf::{Tdvf, TdvfSection, TdvfSectionKind};

use crate::{BzImage, Cmdline, Input, MeasureError};

/// The expected registers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TdxMeasurements {
    /// MRTD.
    pub mrtd: [u8; 48],
    /// RTMR[1], with a directly booted kernel.
    pub rtmr1: Option<[u8; 48]>,
    /// RTMR[2], with a directly booted kernel.
    pub rtmr2: Option<[u8; 48]>,
}

/// A checked direct boot: a bzImage, an optional initrd and a command line that fits.
#[derive(Clone, Debug)]
struct DirectBoot<'a> {
    kernel: BzImage<'a>,
    initrd: Option<&'a Input>,
    cmdline: Cmdline,
}

/// Everything TDX measurements depend on, checked; [`TdxLaunch::measure`] computes them.
#[derive(Clone, Debug)]
pub struct TdxLaunch<'a> {
    firmware: Tdvf,
    memory: u64,
    boot: Option<DirectBoot<'a>>,
}

impl<'a> TdxLaunch<'a> {
    /// A TD with `memory` bytes of RAM booting `firmware`.
    ///
    /// # Errors
    ///
    /// `measure.tdx.no_tdvf_metadata`, `measure.tdx.bad_metadata` naming the firmware file.
    pub fn new(firmware: &Input, memory: u64) -> Result<Self, MeasureError> {
        Ok(Self {
            firmware: Tdvf::parse(firmware.name(), firmware.bytes())?,
            memory,
            boot: None,
        })
    }

    /// Direct boot of `kernel` with `initrd` and `cmdline` (empty for none).
    ///
    /// # Errors
    ///
    /// `measure.kernel.not_bzimage`; `measure.cmdline.too_long` against the kernel's own limit
    /// (with OVMF's `initrd=initrd` added); `measure.cmdline.nul`.
    pub fn with_kernel(
        mut self,
        kernel: &'a Input,
        initrd: Option<&'a Input>,
        cmdline: &str,
        initrd_option: InitrdOption,
    ) -> Result<Self, MeasureError> {
        let kernel = BzImage::parse(kernel)?;
        let options = rtmr::load_options(cmdline, initrd.is_some(), initrd_option);
        let cmdline = Cmdline::with_limit(
            &options,
            kernel.cmdline_max(),
            format!(
                "the cmdline_size of the kernel's setup header, with OVMF's \"initrd=initrd\"{}",
                if initrd.is_some() { " added" } else { "" }
            ),
        )?;
        self.boot = Some(DirectBoot {
            kernel,
            initrd,
            cmdline,
        });
        Ok(self)
    }

    /// The parsed firmware.
    pub fn firmware(&self) -> &Tdvf {
        &self.firmware
    }

    /// The expected MRTD, RTMR[1] and RTMR[2].
    ///
    /// # Errors
    ///
    /// `measure.tdx.initrd_too_large` when QEMU could not place the initrd.
    pub fn measure(&self, order: MrtdOrder) -> Result<TdxMeasurements, MeasureError> {
        let mrtd = mrtd::mrtd(&self.firmware, order);
        let (rtmr1, rtmr2) = match &self.boot {
            None => (None, None),
            Some(b) => {
                let auth = b.kernel.qemu_authenticode(b.initrd, self.memory)?;
                (
                    Some(rtmr::rtmr1(&auth)),
                    Some(rtmr::rtmr2(b.cmdline.as_str(), b.initrd.map(Input::bytes))),
                )
            }
        };
        Ok(TdxMeasurements { mrtd, rtmr1, rtmr2 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bzimage::tests::tiny_bzimage;
    use crate::footer::{Guid, tests::image_with_table};

    /// A 64 KiB firmware whose TDVF descriptor lists an 8 KiB extended BFV (the image's last
    /// two pages) and an 8 KiB TD HOB that is only added.
    fn synthetic_tdvf() -> Input {
        let len = 0x1_0000usize;
        let guid = Guid::new(
            0xe47a_6535,
            0x984a,
            0x4798,
            [0x86, 0x5e, 0x46, 0x85, 0xa7, 0xbf, 0x8e, 0xc2],
        );
        let desc_at = 0x1000usize;
        let mut img = image_with_table(
            len,
            &[(guid, ((len - desc_at) as u32).to_le_bytes().to_vec())],
        );
        let mut d = Vec::new();
        d.extend_from_slice(b"TDVF");
        d.extend_from_slice(&(16u32 + 64).to_le_bytes());
        d.extend_from_slice(&1u32.to_le_bytes());
        d.extend_from_slice(&2u32.to_le_bytes());
        for (off, raw, gpa, size, kind, attr) in [
            (0xe000u32, 0x2000u32, 0xffff_e000u64, 0x2000u64, 0u32, 1u32),
            (0, 0, 0x80_0000, 0x2000, 2, 0),
        ] {
            d.extend_from_slice(&off.to_le_bytes());
            d.extend_from_slice(&raw.to_le_bytes());
            d.extend_from_slice(&gpa.to_le_bytes());
            d.extend_from_slice(&size.to_le_bytes());
            d.extend_from_slice(&kind.to_le_bytes());
            d.extend_from_slice(&attr.to_le_bytes());
        }
        img[desc_at..desc_at + d.len()].copy_from_slice(&d);
        Input::new("synthetic.fd", img)
    }

    #[test]
    fn orders_differ_and_parse_lists_sections() {
        let fw = synthetic_tdvf();
        let td = TdxLaunch::new(&fw, 2 << 30).unwrap();
        assert_eq!(td.firmware().sections().len(), 2);
        assert_eq!(td.firmware().sections()[1].kind(), TdvfSectionKind::TdHob);
        let a = td.measure(MrtdOrder::SinglePass).unwrap();
        let b = td.measure(MrtdOrder::TwoPass).unwrap();
        assert_ne!(a.mrtd, b.mrtd);
        assert_eq!(a.rtmr1, None);
    }

    #[test]
    fn one_config_byte_in_the_initrd_changes_rtmr2_only() {
        let fw = synthetic_tdvf();
        let kernel = Input::new("vmlinuz", tiny_bzimage(0x3000, 0x5a));
        let i1 = Input::new("a.cpio", b"{\"log_level\":\"warn\"}".to_vec());
        let i2 = Input::new("b.cpio", b"{\"log_level\":\"warm\"}".to_vec());
        let m = |i: &Input| {
            TdxLaunch::new(&fw, 2 << 30)
                .unwrap()
                .with_kernel(&kernel, Some(i), "console=hvc0", InitrdOption::Appended)
                .unwrap()
                .measure(MrtdOrder::SinglePass)
                .unwrap()
        };
        let (a, b) = (m(&i1), m(&i2));
        assert_eq!(a.mrtd, b.mrtd);
        assert_eq!(a.rtmr1, b.rtmr1, "same initrd size, same kernel patches");
        assert_ne!(a.rtmr2, b.rtmr2);
    }

    #[test]
    fn cmdline_too_long_for_the_kernel_is_a_typed_error() {
        let fw = synthetic_tdvf();
        let kernel = Input::new("vmlinuz", tiny_bzimage(0x3000, 0x5a));
        let initrd = Input::new("i", vec![1]);
        // 2048 with the NUL fits alone, but not with " initrd=initrd".
        let long = "x".repeat(2040);
        let err = TdxLaunch::new(&fw, 2 << 30)
            .unwrap()
            .with_kernel(&kernel, Some(&initrd), &long, InitrdOption::Appended)
            .unwrap_err();
        assert_eq!(err.code(), "measure.cmdline.too_long");
        assert!(err.to_string().contains("initrd=initrd"), "{err}");
    }
}
