//! The SEV-SNP launch digest (the MEASUREMENT field of an attestation report) of a guest that a
//! VMM builds from an OVMF image, optionally with a directly booted kernel, initrd and command
//! line.
//!
//! Order of the pages, as QEMU (and EC2, GCE) add them with SNP_LAUNCH_UPDATE:
//!
//! 1. the whole OVMF image as measured pages, ending at 4 GiB: this part depends on the image
//!    alone and is published as an "OVMF hash" seed ([`OvmfSeed`]);
//! 2. the ranges of the OVMF's SEV metadata, in the order the file lists them ([`SevLayout`]);
//!    on EC2 the CPUID page comes after all the others;
//! 3. one VMSA page per vCPU, the boot processor first.
//!
//! ```no_run
//! use cloister_measure::Input;
//! use cloister_measure::snp::{Ovmf, SnpLaunch, Vmm};
//! let ovmf = Ovmf::parse(Input::read("OVMF.fd".as_ref())?)?;
//! let digest = SnpLaunch::new(&ovmf, 4, "EPYC-v4".parse()?, Vmm::Qemu, "0x1".parse()?)?
//!     .measure()?;
//! println!("{}", hex::encode(digest));
//! # Ok::<(), cloister_measure::MeasureError>(())
//! ```

mod gctx;
mod hashes;
mod metadata;
mod vmsa;

pub use hashes::KernelHashes;
pub use metadata::{Section, SectionKind, SevLayout};
pub use vmsa::{GuestFeatures, VcpuType, Vmm};

use crate::{Cmdline, Input, MeasureError};
use gctx::{LaunchDigest, PageType};

/// An OVMF image with its SEV metadata parsed.
#[derive(Clone, Debug)]
pub struct Ovmf {
    image: Input,
    layout: SevLayout,
}

impl Ovmf {
    /// Parses the SEV metadata of `image`.
    ///
    /// # Errors
    ///
    /// `measure.snp.no_sev_metadata` for a firmware without SEV metadata,
    /// `measure.snp.bad_metadata` if it is malformed or the image is not whole pages.
    pub fn parse(image: Input) -> Result<Self, MeasureError> {
        if image.bytes().is_empty() || !image.bytes().len().is_multiple_of(4096) {
            return Err(MeasureError::BadSevMetadata {
                file: image.name().to_owned(),
                reason: format!(
                    "the image is {} bytes, not a whole number of 4 KiB pages",
                    image.bytes().len()
                ),
            });
        }
        let layout = SevLayout::parse(image.name(), image.bytes())?;
        Ok(Self { image, layout })
    }

    /// The parsed metadata.
    pub fn layout(&self) -> &SevLayout {
        &self.layout
    }

    /// The launch digest after the image's own pages (step 1), as `sev-snp-measure --mode
    /// snp:ovmf-hash` prints it.
    pub fn seed(&self) -> OvmfSeed {
        let len = self.image.bytes().len() as u64;
        let mut ld = LaunchDigest::new([0; 48]);
        ld.normal_pages((1u64 << 32) - len, self.image.bytes());
        OvmfSeed(ld.value())
    }
}

/// The launch digest over an OVMF image's pages alone: computed by [`Ovmf::seed`], or
/// published by whoever built the image.
///
/// ```
/// use cloister_measure::snp::OvmfSeed;
/// let s: OvmfSeed = "ab".repeat(48).parse()?;
/// assert_eq!(s.to_string(), "ab".repeat(48));
/// assert_eq!("abc".parse::<OvmfSeed>().unwrap_err().code(), "measure.snp.bad_seed");
/// # Ok::<(), cloister_measure::MeasureError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OvmfSeed([u8; 48]);

impl OvmfSeed {
    /// The 48 bytes.
    pub fn bytes(&self) -> [u8; 48] {
        self.0
    }
}

impl std::str::FromStr for OvmfSeed {
    type Err = MeasureError;

    fn from_str(s: &str) -> Result<Self, MeasureError> {
        let bad = |reason| MeasureError::BadSeed {
            value: s.to_owned(),
            reason,
        };
        let v = hex::decode(s.trim()).map_err(|_| bad("not hex"))?;
        let a =
            <[u8; 48]>::try_from(v.as_slice()).map_err(|_| bad("not 48 bytes (96 hex digits)"))?;
        Ok(Self(a))
    }
}

impl std::fmt::Display for OvmfSeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

/// Everything an SEV-SNP launch digest depends on, checked; [`SnpLaunch::measure`] computes it.
#[derive(Clone, Debug)]
pub struct SnpLaunch {
    layout: SevLayout,
    seed: OvmfSeed,
    kernel: Option<KernelHashes>,
    vcpus: u32,
    vcpu_type: VcpuType,
    vmm: Vmm,
    features: GuestFeatures,
}

impl SnpLaunch {
    /// A guest booting `ovmf` (no direct kernel boot) on `vcpus` vCPUs.
    ///
    /// # Errors
    ///
    /// `measure.bad_value` for zero vCPUs; `measure.snp.no_sev_metadata` when more than one vCPU
    /// is asked for and the OVMF has no AP reset address.
    pub fn new(
        ovmf: &Ovmf,
        vcpus: u32,
        vcpu_type: VcpuType,
        vmm: Vmm,
        features: GuestFeatures,
    ) -> Result<Self, MeasureError> {
        Self::from_layout(
            ovmf.layout.clone(),
            ovmf.seed(),
            vcpus,
            vcpu_type,
            vmm,
            features,
        )
    }

    /// A guest whose firmware is known by its metadata and published seed only.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn from_layout(
        layout: SevLayout,
        seed: OvmfSeed,
        vcpus: u32,
        vcpu_type: VcpuType,
        vmm: Vmm,
        features: GuestFeatures,
    ) -> Result<Self, MeasureError> {
        if vcpus == 0 {
            return Err(MeasureError::BadValue {
                setting: "--vcpus",
                value: "0".into(),
                reason: "a guest needs at least one vCPU".into(),
            });
        }
        if vcpus > 1 && layout.reset_eip.is_none() {
            return Err(MeasureError::NoSevMetadata {
                file: layout.file.clone(),
                missing: "SEV-ES reset block (00f771de-…), which gives the APs' reset address",
            });
        }
        Ok(Self {
            layout,
            seed,
            kernel: None,
            vcpus,
            vcpu_type,
            vmm,
            features,
        })
    }

    /// Uses `seed` for the firmware pages instead of hashing the image: the published value
    /// must be for this very image, or the digest is wrong.
    #[must_use]
    pub fn with_seed(mut self, seed: OvmfSeed) -> Self {
        self.seed = seed;
        self
    }

    /// Measured direct boot of `kernel` (with `initrd` and `cmdline`).
    ///
    /// # Errors
    ///
    /// `measure.snp.no_kernel_hashes` if the firmware has no SNP_KERNEL_HASHES section or no
    /// hashes table entry.
    pub fn with_kernel(
        mut self,
        kernel: &Input,
        initrd: Option<&Input>,
        cmdline: Option<&Cmdline>,
    ) -> Result<Self, MeasureError> {
        if !self.layout.has_kernel_hashes() || self.layout.hashes_table_gpa.is_none() {
            return Err(MeasureError::NoKernelHashesSection {
                file: self.layout.file.clone(),
                kernel: kernel.name().to_owned(),
            });
        }
        self.kernel = Some(KernelHashes::new(kernel, initrd, cmdline));
        Ok(self)
    }

    /// The launch digest.
    ///
    /// # Errors
    ///
    /// `measure.snp.bad_metadata` if the kernel hashes section is not exactly one page.
    pub fn measure(&self) -> Result<[u8; 48], MeasureError> {
        let mut ld = LaunchDigest::new(self.seed.bytes());
        let ec2 = matches!(self.vmm, Vmm::Ec2 | Vmm::Ec2Legacy);
        for s in &self.layout.sections {
            match s.kind {
                SectionKind::SecMemory if self.vmm == Vmm::Gce => {
                    ld.zero_digest_pages(PageType::Unmeasured, s.gpa, s.size);
                }
                SectionKind::SecMemory | SectionKind::SvsmCaa => {
                    ld.zero_digest_pages(PageType::Zero, s.gpa, s.size);
                }
                SectionKind::Secrets => ld.zero_digest_pages(PageType::Secrets, s.gpa, 4096),
                SectionKind::Cpuid if ec2 => {}
                SectionKind::Cpuid => ld.zero_digest_pages(PageType::Cpuid, s.gpa, 4096),
                SectionKind::KernelHashes => match (&self.kernel, self.layout.hashes_table_gpa) {
                    (Some(k), Some(table)) => {
                        if s.size != 4096 {
                            return Err(MeasureError::BadSevMetadata {
                                file: self.layout.file.clone(),
                                reason: format!(
                                    "the SNP_KERNEL_HASHES section is {:#x} bytes, not one page",
                                    s.size
                                ),
                            });
                        }
                        ld.normal_pages(s.gpa, &k.page((table & 0xfff) as usize));
                    }
                    _ => ld.zero_digest_pages(PageType::Zero, s.gpa, s.size),
                },
            }
        }
        if ec2 {
            for s in &self.layout.sections {
                if s.kind == SectionKind::Cpuid {
                    ld.zero_digest_pages(PageType::Cpuid, s.gpa, 4096);
                }
            }
        }
        for i in 0..self.vcpus {
            let eip = if i == 0 {
                vmsa::BSP_EIP
            } else {
                // `from_layout` refused more than one vCPU without a reset EIP.
                self.layout.reset_eip.unwrap_or(vmsa::BSP_EIP)
            };
            ld.vmsa_page(&vmsa::vmsa_page(
                eip,
                self.vmm,
                self.vcpu_type,
                self.features,
            ));
        }
        Ok(ld.value())
    }
}
