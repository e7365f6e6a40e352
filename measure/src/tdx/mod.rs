//! Expected TDX measurements of a TD that QEMU builds from a TDVF firmware (OVMF with TDX
//! support), optionally booting a kernel directly: MRTD, RTMR[0] (given QEMU's ACPI blobs),
//! RTMR[1] and RTMR[2].
//!
//! - MRTD depends on the firmware image and the order QEMU adds its pages in ([`MrtdOrder`]).
//! - RTMR[1] on the kernel (after QEMU's setup-header patches, which depend on the initrd size
//!   and the memory below 4 GiB) and fixed boot-manager events.
//! - RTMR[2] on the command line (with OVMF's `initrd=initrd`, see [`InitrdOption`]) and the
//!   initrd: the enclave's configuration travels in the initrd, so RTMR[2] covers it.
//! - RTMR[0] on the firmware's TDVF sections and configuration volume, the memory size (the TD
//!   HOB QEMU writes), and platform inputs the firmware does not fix: QEMU's ACPI fw_cfg blobs
//!   and the boot variables ([`Rtmr0Inputs`]), which vary with the QEMU version, machine type,
//!   memory, vCPUs and devices. Computed only when they are given ([`TdxLaunch::with_rtmr0`]).
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
mod rtmr0;
mod tdvf;

pub use mrtd::MrtdOrder;
pub use rtmr::InitrdOption;
pub use rtmr0::{
    BOOT_ORDER_FILE, DIGEST_SUFFIX, RSDP_FILE, Rtmr0Inputs, TABLE_LOADER_FILE, TABLES_FILE,
};
pub use tdvf::{Tdvf, TdvfSection, TdvfSectionKind};

use crate::{BzImage, Cmdline, Input, MeasureError};

/// The expected registers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TdxMeasurements {
    /// MRTD.
    pub mrtd: [u8; 48],
    /// RTMR[0], when its platform inputs were given.
    pub rtmr0: Option<[u8; 48]>,
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
    rtmr0: Option<Rtmr0Inputs>,
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
            rtmr0: None,
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

    /// Computes RTMR[0] too, from these platform inputs.
    pub fn with_rtmr0(mut self, inputs: Rtmr0Inputs) -> Self {
        self.rtmr0 = Some(inputs);
        self
    }

    /// The digests RTMR[0] is extended with, in order (compare them with the TD's event log
    /// when RTMR[0] does not match), or `None` without [`Self::with_rtmr0`].
    ///
    /// # Errors
    ///
    /// As [`Self::measure`] for RTMR[0].
    pub fn rtmr0_events(&self) -> Result<Option<Vec<[u8; 48]>>, MeasureError> {
        self.rtmr0
            .as_ref()
            .map(|i| rtmr0::events(&self.firmware, self.memory, i))
            .transpose()
    }

    /// The parsed firmware.
    pub fn firmware(&self) -> &Tdvf {
        &self.firmware
    }

    /// The expected MRTD, RTMR[0] (with [`Self::with_rtmr0`]), RTMR[1] and RTMR[2].
    ///
    /// # Errors
    ///
    /// `measure.tdx.initrd_too_large` when QEMU could not place the initrd; for RTMR[0],
    /// `measure.tdx.bad_metadata` (no TD_HOB or CFV section), `measure.tdx.cfv_has_variables`,
    /// `measure.bad_value` when the firmware's TD HOB is not in the TD's RAM.
    pub fn measure(&self, order: MrtdOrder) -> Result<TdxMeasurements, MeasureError> {
        let mrtd = mrtd::mrtd(&self.firmware, order);
        let rtmr0 = self.rtmr0_events()?.map(|e| rtmr0::replay(&e));
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
        Ok(TdxMeasurements {
            mrtd,
            rtmr0,
            rtmr1,
            rtmr2,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bzimage::tests::tiny_bzimage;

    /// A 64 KiB firmware whose TDVF descriptor lists an 8 KiB extended BFV (the image's last
    /// two pages) and an 8 KiB TD HOB that is only added.
    fn synthetic_tdvf() -> Input {
        Input::new(
            "synthetic.fd",
            tdvf::tests::firmware_with(&[
                (0xe000, 0x2000, 0xffff_e000, 0x2000, 0, 1),
                (0, 0, 0x80_0000, 0x2000, 2, 0),
            ]),
        )
    }

    /// A 256 KiB firmware with Debian bookworm OVMF.fd's TDVF layout scaled down: an extended
    /// BFV (the last 64 KiB), a 128 KiB CFV holding the empty 2 MiB-layout variable store, and
    /// the same TD_HOB and TEMP_MEM ranges (0x800000+0x6000, TD HOB 0x809000+0x2000,
    /// 0x80b000+0x2000, 0x810000+0x10000).
    fn bookworm_like_tdvf() -> Input {
        let mut img = tdvf::tests::firmware_with_layout(
            0x4_0000,
            0x2_1000,
            &[
                (0x3_0000, 0x1_0000, 0xffff_0000, 0x1_0000, 0, 1),
                (0, 0x2_0000, 0xfffc_0000, 0x2_0000, 1, 0),
                (0, 0, 0x81_0000, 0x1_0000, 3, 0),
                (0, 0, 0x80_b000, 0x2000, 3, 0),
                (0, 0, 0x80_9000, 0x2000, 2, 0),
                (0, 0, 0x80_0000, 0x6000, 3, 0),
            ],
        );
        img[..0x2_0000].copy_from_slice(&rtmr0::tests::empty_varstore(0x2_0000, 0xe000));
        Input::new("bookworm-like.fd", img)
    }

    fn acpi(tables: &[u8]) -> Rtmr0Inputs {
        let mut rsdp = b"RSD PTR ".to_vec();
        rsdp.resize(20, 0);
        Rtmr0Inputs::new(&[1; 256], &rsdp, tables).unwrap()
    }

    /// The resource descriptors of a TD HOB: (type, attributes, start, length).
    fn resources(hob: &[u8]) -> Vec<(u32, u32, u64, u64)> {
        let u32_at = |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
        let u64_at = |b: &[u8], at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap());
        hob[56..]
            .chunks(48)
            .map(|r| {
                assert_eq!(&r[..8], &[3, 0, 48, 0, 0, 0, 0, 0], "resource HOB header");
                assert_eq!(&r[8..24], &[0; 16], "owner GUID");
                (u32_at(r, 24), u32_at(r, 28), u64_at(r, 32), u64_at(r, 40))
            })
            .collect()
    }

    #[test]
    fn td_hob_field_by_field() {
        let fw = Tdvf::parse("fw", bookworm_like_tdvf().bytes()).unwrap();
        let hob = rtmr0::td_hob(&fw, 2 << 30).unwrap();
        // PHIT: type 1, length 56, version 9, boot mode and memory fields zero.
        assert_eq!(&hob[..8], &[1, 0, 56, 0, 0, 0, 0, 0]);
        assert_eq!(&hob[8..12], &9u32.to_le_bytes());
        assert_eq!(&hob[12..48], &[0; 36]);
        assert_eq!(hob.len(), 56 + 8 * 48);
        // EndOfHobList: the TD HOB's GPA + this list + the 8-byte end HOB.
        assert_eq!(&hob[48..56], &(0x80_9000u64 + 440 + 8).to_le_bytes());
        let (acc, unacc) = (0u32, 7u32);
        let low = vec![
            (unacc, 7, 0, 0x80_0000),
            (acc, 7, 0x80_0000, 0x6000),
            (unacc, 7, 0x80_6000, 0x3000),
            (acc, 7, 0x80_9000, 0x2000),
            (acc, 7, 0x80_b000, 0x2000),
            (unacc, 7, 0x80_d000, 0x3000),
            (acc, 7, 0x81_0000, 0x1_0000),
        ];
        let mut want = low.clone();
        want.push((unacc, 7, 0x82_0000, 0x8000_0000 - 0x82_0000));
        assert_eq!(resources(&hob), want);
        // 1 GiB: all low. 0xB0000000 and 4 GiB: low RAM ends at 2 GiB, the rest above 4 GiB.
        for (memory, tail) in [
            (
                1u64 << 30,
                vec![(unacc, 7, 0x82_0000, (1 << 30) - 0x82_0000)],
            ),
            (
                0xafff_f000,
                vec![(unacc, 7, 0x82_0000, 0xafff_f000 - 0x82_0000)],
            ),
            (
                0xb000_0000,
                vec![
                    (unacc, 7, 0x82_0000, 0x8000_0000 - 0x82_0000),
                    (unacc, 7, 1 << 32, 0x3000_0000),
                ],
            ),
            (
                4 << 30,
                vec![
                    (unacc, 7, 0x82_0000, 0x8000_0000 - 0x82_0000),
                    (unacc, 7, 1 << 32, 2 << 30),
                ],
            ),
        ] {
            let hob = rtmr0::td_hob(&fw, memory).unwrap();
            let mut want = low.clone();
            want.extend(tail);
            assert_eq!(resources(&hob), want, "{memory:#x}");
            let end = 0x80_9000u64 + hob.len() as u64 + 8;
            assert_eq!(&hob[48..56], &end.to_le_bytes());
        }
        // RAM that does not reach the firmware's temporary memory.
        let err = rtmr0::td_hob(&fw, 0x80_0000).unwrap_err();
        assert_eq!(err.code(), "measure.bad_value");
        assert!(err.to_string().contains("--memory"), "{err}");
    }

    #[test]
    fn one_acpi_byte_changes_rtmr0_and_nothing_else() {
        let fw = bookworm_like_tdvf();
        let kernel = Input::new("vmlinuz", tiny_bzimage(0x3000, 0x5a));
        let initrd = Input::new("i.cpio", b"config".to_vec());
        let m = |tables: &[u8], memory: u64| {
            TdxLaunch::new(&fw, memory)
                .unwrap()
                .with_kernel(
                    &kernel,
                    Some(&initrd),
                    "console=hvc0",
                    InitrdOption::Appended,
                )
                .unwrap()
                .with_rtmr0(acpi(tables))
                .measure(MrtdOrder::SinglePass)
                .unwrap()
        };
        let a = m(b"DSDT 1", 2 << 30);
        let b = m(b"DSDT 2", 2 << 30);
        assert!(a.rtmr0.is_some());
        assert_ne!(a.rtmr0, b.rtmr0);
        assert_eq!((a.mrtd, a.rtmr1, a.rtmr2), (b.mrtd, b.rtmr1, b.rtmr2));
        // The memory size changes the TD HOB, so RTMR[0] too (and not MRTD).
        let c = m(b"DSDT 1", 4 << 30);
        assert_ne!(a.rtmr0, c.rtmr0);
        assert_eq!(a.mrtd, c.mrtd);
        // Without the inputs, no RTMR[0], and the rest as before.
        let none = TdxLaunch::new(&fw, 2 << 30)
            .unwrap()
            .measure(MrtdOrder::SinglePass)
            .unwrap();
        assert_eq!((none.rtmr0, none.mrtd), (None, a.mrtd));
    }

    #[test]
    fn rtmr0_events_are_the_documented_list() {
        let fw = bookworm_like_tdvf();
        let td = TdxLaunch::new(&fw, 2 << 30)
            .unwrap()
            .with_rtmr0(acpi(b"FACS"));
        let ev = td.rtmr0_events().unwrap().unwrap();
        assert_eq!(ev.len(), 13);
        let hex = |d: &[u8; 48]| hex::encode(d);
        // The CFV: Debian bookworm OVMF.fd's empty 0x20000-byte variable store.
        assert_eq!(
            hex(&ev[1]),
            "f87302177b059d54a2cf0c5f13340dbabf5c9dd60dc3f996c68b776fbe4de959769443a3d8ef6538b97d7e151c8298e8"
        );
        assert_eq!(&hex(&ev[2])[..8], "9dc3a1f8", "SecureBoot");
        assert_eq!(&hex(&ev[7])[..8], "394341b7", "separator");
        assert_eq!(ev[10], rtmr::sha384(b"FACS"));
        assert_eq!(&hex(&ev[11])[..8], "1dd6f7b4", "BootOrder 00 00");
        assert_eq!(&hex(&ev[12])[..8], "23ada07f", "Boot0000 UiApp");
        let hob = rtmr0::td_hob(td.firmware(), 2 << 30).unwrap();
        assert_eq!(ev[0], rtmr::sha384(&hob));
        assert_eq!(
            td.measure(MrtdOrder::SinglePass).unwrap().rtmr0,
            Some(rtmr0::replay(&ev))
        );
    }

    #[test]
    fn rtmr0_refuses_a_cfv_with_variables_and_a_firmware_without_one() {
        let mut bytes = bookworm_like_tdvf().bytes().to_vec();
        bytes[0x64..0x66].copy_from_slice(&0x55aau16.to_le_bytes());
        let fw = Input::new("secboot.fd", bytes);
        let err = TdxLaunch::new(&fw, 2 << 30)
            .unwrap()
            .with_rtmr0(acpi(b"x"))
            .measure(MrtdOrder::SinglePass)
            .unwrap_err();
        assert_eq!(err.code(), "measure.tdx.cfv_has_variables");
        assert!(err.to_string().contains("secboot.fd"), "{err}");
        // synthetic_tdvf has a BFV and a TD HOB but no CFV.
        let fw = synthetic_tdvf();
        let err = TdxLaunch::new(&fw, 2 << 30)
            .unwrap()
            .with_rtmr0(acpi(b"x"))
            .measure(MrtdOrder::SinglePass)
            .unwrap_err();
        assert_eq!(err.code(), "measure.tdx.bad_metadata");
        assert!(err.to_string().contains("CFV"), "{err}");
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
        assert_eq!(a.rtmr0, None);
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
