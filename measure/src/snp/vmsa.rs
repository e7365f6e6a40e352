//! The initial VMSA (VM save area) page of each vCPU, whose SHA-384 the launch digest records
//! (AMD APM vol. 2, table B-4 "VMSA Layout, State Save Area for SEV-ES"). Only the fields a
//! VMM sets at reset are written; every other byte is zero.

use std::fmt;
use std::str::FromStr;

use crate::MeasureError;

/// The hypervisor that builds the guest: they differ in a few reset values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Vmm {
    /// QEMU/KVM (also what most clouds that run QEMU use).
    Qemu,
    /// AWS EC2, the convention of sev-snp-measure since 2026-04 (virtee/sev-snp-measure PR #60,
    /// checked by its author against a c6a.xlarge): RDX = 0x600.
    Ec2,
    /// AWS EC2 as it was measured before that change (virtee/sev 8.0.0 and sev-snp-measure-go):
    /// RDX = 0. For guests launched before EC2 updated its VMSA.
    Ec2Legacy,
    /// Google Compute Engine (sev-snp-measure only): SEC memory is recorded as unmeasured pages.
    Gce,
}

impl Vmm {
    /// The names `FromStr` accepts.
    pub const NAMES: &'static str = "qemu, ec2, ec2-legacy, gce";
}

impl FromStr for Vmm {
    type Err = MeasureError;

    fn from_str(s: &str) -> Result<Self, MeasureError> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "qemu" => Self::Qemu,
            "ec2" => Self::Ec2,
            "ec2-legacy" => Self::Ec2Legacy,
            "gce" => Self::Gce,
            _ => {
                return Err(MeasureError::BadValue {
                    setting: "--vmm",
                    value: s.to_owned(),
                    reason: format!("not one of {}", Self::NAMES),
                });
            }
        })
    }
}

impl fmt::Display for Vmm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Qemu => "qemu",
            Self::Ec2 => "ec2",
            Self::Ec2Legacy => "ec2-legacy",
            Self::Gce => "gce",
        })
    }
}

/// A guest vCPU model by its QEMU name; only its CPUID signature (family, model, stepping)
/// reaches the measurement, in RDX, and only under QEMU.
///
/// ```
/// use cloister_measure::snp::VcpuType;
/// let t: VcpuType = "EPYC-Milan".parse()?;
/// assert_eq!(t.signature(), 0x00a0_0f11);
/// assert!("Pentium".parse::<VcpuType>().is_err());
/// # Ok::<(), cloister_measure::MeasureError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VcpuType {
    name: &'static str,
    signature: u32,
}

/// QEMU model names and their (family, model, stepping).
const VCPU_TYPES: &[(&str, u32, u32, u32)] = &[
    ("EPYC", 23, 1, 2),
    ("EPYC-v1", 23, 1, 2),
    ("EPYC-v2", 23, 1, 2),
    ("EPYC-IBPB", 23, 1, 2),
    ("EPYC-v3", 23, 1, 2),
    ("EPYC-v4", 23, 1, 2),
    ("EPYC-Rome", 23, 49, 0),
    ("EPYC-Rome-v1", 23, 49, 0),
    ("EPYC-Rome-v2", 23, 49, 0),
    ("EPYC-Rome-v3", 23, 49, 0),
    ("EPYC-Milan", 25, 1, 1),
    ("EPYC-Milan-v1", 25, 1, 1),
    ("EPYC-Milan-v2", 25, 1, 1),
    ("EPYC-Genoa", 25, 17, 0),
    ("EPYC-Genoa-v1", 25, 17, 0),
    ("EPYC-Turin", 26, 0, 0),
];

/// The CPUID Fn0000_0001 EAX encoding: a family above 15 is 0xf plus an extended family.
const fn cpu_signature(family: u32, model: u32, stepping: u32) -> u32 {
    let (fam_lo, fam_hi) = if family > 0xf {
        (0xf, (family - 0xf) & 0xff)
    } else {
        (family, 0)
    };
    (fam_hi << 20) | ((model >> 4) << 16) | (fam_lo << 8) | ((model & 0xf) << 4) | (stepping & 0xf)
}

impl VcpuType {
    /// The model name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The CPUID signature placed in RDX.
    pub fn signature(&self) -> u32 {
        self.signature
    }
}

impl FromStr for VcpuType {
    type Err = MeasureError;

    fn from_str(s: &str) -> Result<Self, MeasureError> {
        VCPU_TYPES
            .iter()
            .find(|t| t.0.eq_ignore_ascii_case(s))
            .map(|&(name, f, m, st)| Self {
                name,
                signature: cpu_signature(f, m, st),
            })
            .ok_or_else(|| MeasureError::UnknownVcpuType {
                name: s.to_owned(),
                known: VCPU_TYPES
                    .iter()
                    .map(|t| t.0)
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }
}

/// The SEV_FEATURES the host kernel enables for the guest (VMSA offset 0x3B0): 0x1 (SNP
/// active) for hosts before 6.6 or from 6.8; 0x21 (also DebugSwap) on 6.6 and 6.7.
///
/// ```
/// use cloister_measure::snp::GuestFeatures;
/// assert_eq!("0x21".parse::<GuestFeatures>()?.bits(), 0x21);
/// assert!("0x0".parse::<GuestFeatures>().is_err());
/// # Ok::<(), cloister_measure::MeasureError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GuestFeatures(u64);

impl GuestFeatures {
    /// The bits; bit 0 (SNP active) is always set.
    pub fn bits(&self) -> u64 {
        self.0
    }
}

impl FromStr for GuestFeatures {
    type Err = MeasureError;

    fn from_str(s: &str) -> Result<Self, MeasureError> {
        let bad = |reason: &str| MeasureError::BadValue {
            setting: "--guest-features",
            value: s.to_owned(),
            reason: reason.to_owned(),
        };
        let digits = s
            .strip_prefix("0x")
            .or_else(|| s.strip_prefix("0X"))
            .unwrap_or(s);
        let v = u64::from_str_radix(digits, 16).map_err(|_| bad("not a hex number such as 0x1"))?;
        if v & 1 == 0 {
            return Err(bad("bit 0 (SNP active) must be set"));
        }
        Ok(Self(v))
    }
}

/// The reset EIP of the boot processor.
pub(crate) const BSP_EIP: u32 = 0xffff_fff0;

/// Builds the VMSA page of a vCPU that starts at `eip`.
pub(crate) fn vmsa_page(eip: u32, vmm: Vmm, vcpu: VcpuType, features: GuestFeatures) -> [u8; 4096] {
    let ec2 = matches!(vmm, Vmm::Ec2 | Vmm::Ec2Legacy);
    let cs_attr = if ec2 && eip == BSP_EIP { 0x9a } else { 0x9b };
    let (ss_attr, tr_attr) = if ec2 { (0x92, 0x83) } else { (0x93, 0x8b) };
    let rdx: u64 = match vmm {
        Vmm::Qemu => vcpu.signature().into(),
        Vmm::Ec2 | Vmm::Gce => 0x600,
        Vmm::Ec2Legacy => 0,
    };
    let (mxcsr, fcw): (u32, u16) = if vmm == Vmm::Qemu {
        (0x1f80, 0x37f)
    } else {
        (0, 0)
    };
    let g_pat: u64 = if vmm == Vmm::Gce {
        0x0007_0106
    } else {
        0x0007_0406_0007_0406
    };

    let mut p = [0u8; 4096];
    let mut seg = |at: usize, selector: u16, attrib: u16, base: u64| {
        p[at..at + 2].copy_from_slice(&selector.to_le_bytes());
        p[at + 2..at + 4].copy_from_slice(&attrib.to_le_bytes());
        p[at + 4..at + 8].copy_from_slice(&0xffffu32.to_le_bytes());
        p[at + 8..at + 16].copy_from_slice(&base.to_le_bytes());
    };
    seg(0x00, 0, 0x93, 0); // ES
    seg(0x10, 0xf000, cs_attr, u64::from(eip & 0xffff_0000)); // CS
    seg(0x20, 0, ss_attr, 0); // SS
    seg(0x30, 0, 0x93, 0); // DS
    seg(0x40, 0, 0x93, 0); // FS
    seg(0x50, 0, 0x93, 0); // GS
    seg(0x60, 0, 0, 0); // GDTR
    seg(0x70, 0, 0x82, 0); // LDTR
    seg(0x80, 0, 0, 0); // IDTR
    seg(0x90, 0, tr_attr, 0); // TR
    let mut put = |at: usize, v: u64| p[at..at + 8].copy_from_slice(&v.to_le_bytes());
    put(0xd0, 0x1000); // EFER.SVME
    put(0x148, 0x40); // CR4.MCE
    put(0x158, 0x10); // CR0.ET
    put(0x160, 0x400); // DR7
    put(0x168, 0xffff_0ff0); // DR6
    put(0x170, 0x2); // RFLAGS
    put(0x178, u64::from(eip & 0xffff)); // RIP
    put(0x268, g_pat);
    put(0x310, rdx);
    put(0x3b0, features.bits());
    put(0x3e8, 0x1); // XCR0.X87
    p[0x408..0x40c].copy_from_slice(&mxcsr.to_le_bytes());
    p[0x410..0x412].copy_from_slice(&fcw.to_le_bytes());
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_match_qemu_models() {
        let sig = |n: &str| n.parse::<VcpuType>().unwrap().signature();
        assert_eq!(sig("EPYC-v4"), 0x0080_0f12);
        assert_eq!(sig("epyc-rome"), 0x0083_0f10);
        assert_eq!(sig("EPYC-Milan"), 0x00a0_0f11);
        assert_eq!(sig("EPYC-Genoa"), 0x00a1_0f10);
        assert_eq!(sig("EPYC-Turin"), 0x00b0_0f00);
    }

    #[test]
    fn parses_vmm_and_features() {
        assert_eq!("EC2".parse::<Vmm>().unwrap(), Vmm::Ec2);
        assert_eq!(
            "bochs".parse::<Vmm>().unwrap_err().code(),
            "measure.bad_value"
        );
        assert_eq!("1".parse::<GuestFeatures>().unwrap().bits(), 1);
        assert!("zz".parse::<GuestFeatures>().is_err());
    }
}
