//! The crate's one error type. Every variant names the input it is about (a file, a flag), what
//! was missing or wrong, and carries a stable dotted code ([`MeasureError::code`]) and a hint
//! ([`MeasureError::hint`]) that says what to do.

/// Why a measurement could not be computed. Nothing is half-computed: an error means no digest.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MeasureError {
    /// A file could not be read.
    #[error("reading {file}: {source}")]
    Io {
        /// The file.
        file: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The firmware has no SEV metadata (it is not an SEV-capable OVMF build).
    #[error("{file}: not an SEV-SNP OVMF: no {missing}")]
    NoSevMetadata {
        /// The firmware file.
        file: String,
        /// The structure that was looked for and not found.
        missing: &'static str,
    },
    /// The firmware's SEV metadata is present but malformed.
    #[error("{file}: malformed SEV metadata: {reason}")]
    BadSevMetadata {
        /// The firmware file.
        file: String,
        /// What is wrong.
        reason: String,
    },
    /// A kernel was given but the OVMF has no SNP_KERNEL_HASHES section, so nothing would
    /// measure it (the guest would boot an unmeasured kernel).
    #[error(
        "{file}: the OVMF metadata has no SNP_KERNEL_HASHES section (type 0x10), so --kernel {kernel} would not be measured"
    )]
    NoKernelHashesSection {
        /// The firmware file.
        file: String,
        /// The kernel that was given.
        kernel: String,
    },
    /// The launch-digest seed (a published "OVMF hash") is not 48 bytes of hex.
    #[error("OVMF hash seed {value:?}: {reason}")]
    BadSeed {
        /// The value given.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A vCPU type QEMU does not name.
    #[error("unknown vCPU type {name:?}; known: {known}")]
    UnknownVcpuType {
        /// The name given.
        name: String,
        /// The names this crate knows.
        known: String,
    },
    /// A value for a numeric setting (vCPU count, guest features, memory size) that is not one.
    #[error("{setting} {value:?}: {reason}")]
    BadValue {
        /// The setting (`--vcpus`, `--guest-features`, `--memory`, ...).
        setting: &'static str,
        /// The value given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The firmware has no TDX metadata (it is not a TDVF / TDX-capable OVMF build).
    #[error("{file}: not a TDX firmware: no {missing}")]
    NoTdxMetadata {
        /// The firmware file.
        file: String,
        /// The structure that was looked for and not found.
        missing: &'static str,
    },
    /// The firmware's TDVF metadata is present but malformed.
    #[error("{file}: malformed TDVF metadata: {reason}")]
    BadTdxMetadata {
        /// The firmware file.
        file: String,
        /// What is wrong.
        reason: String,
    },
    /// The kernel is not an x86 bzImage with an EFI stub (PE/COFF), which direct TDX boot needs.
    #[error("{file}: not a bzImage: {missing}")]
    NotBzImage {
        /// The kernel file.
        file: String,
        /// What is missing or wrong.
        missing: String,
    },
    /// The kernel command line does not fit.
    #[error("the kernel command line is {len} bytes with its NUL, but at most {max} fit ({limit})")]
    CmdlineTooLong {
        /// Its length in bytes, with the terminating NUL.
        len: usize,
        /// The most that fits, with the NUL.
        max: usize,
        /// Where the limit comes from.
        limit: String,
    },
    /// The kernel command line contains a NUL byte, which would end it early.
    #[error("the kernel command line contains a NUL byte at offset {offset}")]
    CmdlineNul {
        /// Byte offset of the first NUL.
        offset: usize,
    },
    /// The initrd does not fit below the address QEMU places it under.
    #[error("{file}: initrd of {size} bytes does not fit below {max:#x} with --memory {memory}")]
    InitrdTooLarge {
        /// The initrd file.
        file: String,
        /// Its size.
        size: u64,
        /// The highest address it may end at.
        max: u64,
        /// The guest memory size.
        memory: u64,
    },
    /// An input of RTMR[0] (a captured QEMU fw_cfg blob or UEFI boot variable) is not in the
    /// `--acpi-tables` directory.
    #[error("{dir}: RTMR[0] input {file:?} ({what}) is missing")]
    Rtmr0InputMissing {
        /// The directory given with `--acpi-tables`.
        dir: String,
        /// The file name that was looked for in it.
        file: String,
        /// What the file should hold.
        what: String,
    },
    /// An input of RTMR[0], or its directory, exists but cannot be read.
    #[error("{file}: RTMR[0] input cannot be read: {reason}")]
    Rtmr0InputUnreadable {
        /// The file or directory.
        file: String,
        /// The OS error, or why it is not usable.
        reason: String,
    },
    /// An input of RTMR[0] is present but is not what it should be (an empty blob, an RSDP
    /// without its signature, a BootOrder of odd length, both a blob and its digest, ...).
    #[error("{file}: bad RTMR[0] input: {reason}")]
    Rtmr0InputBad {
        /// The file.
        file: String,
        /// What is wrong.
        reason: String,
    },
    /// The firmware's configuration volume already holds UEFI variables (enrolled Secure Boot
    /// keys, say), so RTMR[0]'s variable events would carry data this crate does not model.
    #[error(
        "{file}: the configuration firmware volume holds UEFI variables (the first at offset {offset:#x}), so RTMR[0]'s Secure Boot variable events are not the empty ones this crate computes"
    )]
    CfvHasVariables {
        /// The firmware file.
        file: String,
        /// File offset of the first variable header.
        offset: usize,
    },
}

impl MeasureError {
    /// The stable dotted code of the failed check.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Io { .. } => "measure.io",
            Self::NoSevMetadata { .. } => "measure.snp.no_sev_metadata",
            Self::BadSevMetadata { .. } => "measure.snp.bad_metadata",
            Self::NoKernelHashesSection { .. } => "measure.snp.no_kernel_hashes",
            Self::BadSeed { .. } => "measure.snp.bad_seed",
            Self::UnknownVcpuType { .. } => "measure.snp.unknown_vcpu_type",
            Self::BadValue { .. } => "measure.bad_value",
            Self::NoTdxMetadata { .. } => "measure.tdx.no_tdvf_metadata",
            Self::BadTdxMetadata { .. } => "measure.tdx.bad_metadata",
            Self::NotBzImage { .. } => "measure.kernel.not_bzimage",
            Self::CmdlineTooLong { .. } => "measure.cmdline.too_long",
            Self::CmdlineNul { .. } => "measure.cmdline.nul",
            Self::InitrdTooLarge { .. } => "measure.tdx.initrd_too_large",
            Self::Rtmr0InputMissing { .. } => "measure.tdx.rtmr0_input_missing",
            Self::Rtmr0InputUnreadable { .. } => "measure.tdx.rtmr0_input_unreadable",
            Self::Rtmr0InputBad { .. } => "measure.tdx.rtmr0_input_bad",
            Self::CfvHasVariables { .. } => "measure.tdx.cfv_has_variables",
        }
    }

    /// What an operator should do about this error.
    pub fn hint(&self) -> &'static str {
        match self {
            Self::Io { .. } => "check the path and its permissions",
            Self::NoSevMetadata { .. } => {
                "give the OVMF.fd the guest boots; SEV-SNP needs an OVMF built with SEV support \
                 (OvmfPkgX64 or, for direct kernel boot, AmdSev/AmdSevX64.dsc), not OVMF_CODE.fd"
            }
            Self::BadSevMetadata { .. } => {
                "the firmware file is truncated or corrupt; re-download it and check its hash"
            }
            Self::NoKernelHashesSection { .. } => {
                "measured direct kernel boot needs an OVMF built from OvmfPkg/AmdSev/AmdSevX64.dsc; \
                 or drop --kernel/--initrd/--append"
            }
            Self::BadSeed { .. } => {
                "give the 96 hex digits that `sev-snp-measure --mode snp:ovmf-hash` prints"
            }
            Self::UnknownVcpuType { .. } => {
                "use a QEMU CPU model name such as EPYC-v4, EPYC-Milan or EPYC-Genoa"
            }
            Self::BadValue { .. } => "see `cloister measure --help` for the accepted forms",
            Self::NoTdxMetadata { .. } => {
                "give the firmware the TD boots: an OVMF built with TDX support (OvmfPkgX64 since \
                 edk2 stable202205, or IntelTdx/IntelTdxX64.dsc), not OVMF_CODE.fd"
            }
            Self::BadTdxMetadata { .. } => {
                "the firmware file is truncated or corrupt; re-download it and check its hash"
            }
            Self::NotBzImage { .. } => {
                "give the kernel file QEMU boots with -kernel: an x86_64 bzImage with the EFI stub \
                 (vmlinuz), not vmlinux or a compressed archive"
            }
            Self::CmdlineTooLong { .. } => "shorten --append, or move settings into the initrd",
            Self::CmdlineNul { .. } => "remove the NUL byte from --append",
            Self::InitrdTooLarge { .. } => "give the TD more --memory or use a smaller initrd",
            Self::Rtmr0InputMissing { .. } | Self::Rtmr0InputUnreadable { .. } => {
                "capture the blobs inside a TD started with exactly the production QEMU version, \
                 machine, vCPUs, memory and devices (see `cloister measure tdx --help`), or leave \
                 out --acpi-tables and the policy leaves RTMR[0] unpinned"
            }
            Self::Rtmr0InputBad { .. } => {
                "copy the fw_cfg files' raw contents (…/qemu_fw_cfg/by_name/etc/…/raw), the UEFI \
                 variables without efivarfs's 4 attribute bytes, or a digest as 96 hex digits in \
                 NAME.sha384 (not both)"
            }
            Self::CfvHasVariables { .. } => {
                "use a firmware whose variable store is empty (as Debian's OVMF.fd), or pin \
                 RTMR[0] with --rtmr0 from a TD booted with this firmware"
            }
        }
    }

    /// Wraps an I/O error on `file`.
    pub(crate) fn io(file: &std::path::Path, source: std::io::Error) -> Self {
        Self::Io {
            file: file.display().to_string(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_dotted_and_hints_are_present() {
        let samples = [
            MeasureError::CmdlineNul { offset: 3 },
            MeasureError::NoSevMetadata {
                file: "f".into(),
                missing: "x",
            },
            MeasureError::NoTdxMetadata {
                file: "f".into(),
                missing: "x",
            },
        ];
        for e in samples {
            assert!(e.code().starts_with("measure."));
            assert!(!e.hint().is_empty());
        }
    }
}
