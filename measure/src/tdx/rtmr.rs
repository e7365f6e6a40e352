//! RTMR[1] and RTMR[2] of a TD that OVMF boots a kernel into directly. OVMF's CC measurement
//! protocol maps TPM PCRs to RTMRs (edk2 `TdxMeasurementCommon.c`: PCR 1 and 7 to RTMR[0],
//! 2-6 to RTMR[1], 8-15 to RTMR[2]); each event extends `RTMR = SHA-384(RTMR ‖ digest)` from
//! zero.

use sha2::{Digest, Sha384};

/// Where OVMF puts `initrd=initrd` in the kernel's LoadOptions when QEMU passes an initrd:
/// appended (`" initrd=initrd"`) before edk2 stable202508, prepended (`"initrd=initrd "`) from
/// it (edk2 a2ac0fea49).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InitrdOption {
    /// edk2 before stable202508 (Debian bookworm's and trixie's OVMF).
    Appended,
    /// edk2 stable202508 and later.
    Prepended,
}

impl std::str::FromStr for InitrdOption {
    type Err = crate::MeasureError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "append" | "appended" => Ok(Self::Appended),
            "prepend" | "prepended" => Ok(Self::Prepended),
            _ => Err(crate::MeasureError::BadValue {
                setting: "--initrd-option",
                value: s.to_owned(),
                reason: "not one of append (edk2 < stable202508), prepend".to_owned(),
            }),
        }
    }
}

/// A runtime measurement register being replayed.
#[derive(Clone, Debug)]
pub(crate) struct Rtmr([u8; 48]);

impl Rtmr {
    pub(crate) fn new() -> Self {
        Self([0; 48])
    }

    pub(crate) fn extend(&mut self, digest: &[u8; 48]) {
        let mut h = Sha384::new();
        h.update(self.0);
        h.update(digest);
        self.0 = h.finalize().into();
    }

    pub(crate) fn value(&self) -> [u8; 48] {
        self.0
    }
}

pub(crate) fn sha384(b: &[u8]) -> [u8; 48] {
    Sha384::digest(b).into()
}

/// RTMR[1]: the kernel's Authenticode digest (PCR 4, EV_EFI_BOOT_SERVICES_APPLICATION), then the
/// boot-manager events OVMF logs around it: "Calling EFI Application from Boot Option", the
/// separator, and the two ExitBootServices actions.
pub(crate) fn rtmr1(kernel_authenticode: &[u8; 48]) -> [u8; 48] {
    let mut r = Rtmr::new();
    r.extend(kernel_authenticode);
    r.extend(&sha384(b"Calling EFI Application from Boot Option"));
    r.extend(&sha384(&[0u8; 4]));
    r.extend(&sha384(b"Exit Boot Services Invocation"));
    r.extend(&sha384(b"Exit Boot Services Returned with Success"));
    r.value()
}

/// The LoadOptions OVMF gives the kernel: the command line, with `initrd=initrd` when there is
/// an initrd.
pub(crate) fn load_options(cmdline: &str, initrd: bool, option: InitrdOption) -> String {
    match (initrd, option) {
        (false, _) => cmdline.to_owned(),
        (true, InitrdOption::Appended) => format!("{cmdline} initrd=initrd"),
        (true, InitrdOption::Prepended) if cmdline.is_empty() => "initrd=initrd".to_owned(),
        (true, InitrdOption::Prepended) => format!("initrd=initrd {cmdline}"),
    }
}

/// RTMR[2]: the Linux EFI stub's PCR 9 events, the LoadOptions (UTF-16LE with its NUL) and the
/// initrd it loads. Empty LoadOptions are not measured (OVMF passes none).
pub(crate) fn rtmr2(load_options: &str, initrd: Option<&[u8]>) -> [u8; 48] {
    let mut r = Rtmr::new();
    if !load_options.is_empty() {
        let mut utf16: Vec<u8> = load_options
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        utf16.extend_from_slice(&[0, 0]);
        r.extend(&sha384(&utf16));
    }
    if let Some(initrd) = initrd {
        r.extend(&sha384(initrd));
    }
    r.value()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_options_follow_the_edk2_version() {
        assert_eq!(
            load_options("quiet", false, InitrdOption::Appended),
            "quiet"
        );
        assert_eq!(
            load_options("quiet", true, InitrdOption::Appended),
            "quiet initrd=initrd"
        );
        assert_eq!(
            load_options("quiet", true, InitrdOption::Prepended),
            "initrd=initrd quiet"
        );
    }

    #[test]
    fn one_initrd_byte_changes_rtmr2() {
        let a = rtmr2("quiet initrd=initrd", Some(b"config: 1"));
        let b = rtmr2("quiet initrd=initrd", Some(b"config: 2"));
        assert_ne!(a, b);
    }
}
