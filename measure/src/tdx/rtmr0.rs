//! RTMR[0]: what OVMF's CC measurement protocol logs for TPM PCRs 1 and 7 before it boots
//! anything. Each event extends `RTMR = SHA-384(RTMR ‖ digest)` from zero, in this order (OVMF
//! before edk2 stable202505 with QEMU direct boot, as a dstack TD's event log shows it; the list
//! dstack-mr calls "Pre202505"; later edk2 logs more events, not modelled here):
//!
//! 1. the TD HOB QEMU wrote, without its end HOB ([`td_hob`]);
//! 2. the configuration firmware volume (CFV), the firmware's variable store as in the image;
//! 3. to 7. the UEFI variables SecureBoot, PK, KEK (EFI global variable GUID) and db, dbx (image
//!    security database GUID), all absent: SHA-384 of a `UEFI_VARIABLE_DATA` with no data;
//! 8. the separator, SHA-384 of four zero bytes;
//! 9. to 11. QEMU's fw_cfg files `etc/table-loader`, `etc/acpi/rsdp`, `etc/acpi/tables` as OVMF
//!    downloads them (before it patches pointers);
//! 12. the BootOrder variable's data;
//! 13. and on: the data of each `Boot####` BootOrder lists, in its order.
//!
//! Events 1, 2 and 3-8 follow from the firmware and the memory size; 9-13 are platform inputs
//! ([`Rtmr0Inputs`]).

use std::path::Path;

use super::rtmr::{Rtmr, sha384};
use super::tdvf::{Tdvf, TdvfSectionKind};
use crate::MeasureError;
use crate::footer::{Guid, read_u16};

/// `8be4df61-93ca-11d2-aa0d-00e098032b8c`: EFI_GLOBAL_VARIABLE (SecureBoot, PK, KEK, Boot####).
const EFI_GLOBAL_VARIABLE: Guid = Guid::new(
    0x8be4_df61,
    0x93ca,
    0x11d2,
    [0xaa, 0x0d, 0x00, 0xe0, 0x98, 0x03, 0x2b, 0x8c],
);

/// `d719b2cb-3d3a-4596-a3bc-dad00e67656f`: EFI_IMAGE_SECURITY_DATABASE_GUID (db, dbx).
const IMAGE_SECURITY_DATABASE: Guid = Guid::new(
    0xd719_b2cb,
    0x3d3a,
    0x4596,
    [0xa3, 0xbc, 0xda, 0xd0, 0x0e, 0x67, 0x65, 0x6f],
);

/// The Secure Boot variables OVMF measures (empty) before the separator, in its order.
const SECURE_BOOT_VARIABLES: [(Guid, &str); 5] = [
    (EFI_GLOBAL_VARIABLE, "SecureBoot"),
    (EFI_GLOBAL_VARIABLE, "PK"),
    (EFI_GLOBAL_VARIABLE, "KEK"),
    (IMAGE_SECURITY_DATABASE, "db"),
    (IMAGE_SECURITY_DATABASE, "dbx"),
];

/// `7cb8bdc9-f8eb-4f34-aaea-3ee4af6516a1`: the FvNameGuid of OVMF's DXE firmware volume
/// (`OvmfPkg/OvmfPkgX64.fdf`, `[FV.DXEFV]`).
const OVMF_DXEFV: Guid = Guid::new(
    0x7cb8_bdc9,
    0xf8eb,
    0x4f34,
    [0xaa, 0xea, 0x3e, 0xe4, 0xaf, 0x65, 0x16, 0xa1],
);

/// `462caa21-7614-4503-836e-8ab6f4662331`: the FILE_GUID of `MdeModulePkg/Application/UiApp`,
/// which OVMF sets as `PcdBootManagerMenuFile`.
const UIAPP_FILE: Guid = Guid::new(
    0x462c_aa21,
    0x7614,
    0x4503,
    [0x83, 0x6e, 0x8a, 0xb6, 0xf4, 0x66, 0x23, 0x31],
);

/// RAM of this size or more splits at 2 GiB, the rest above 4 GiB (QEMU `pc_q35_init`).
const LOW_MEMORY_SPLIT: u64 = 0xb000_0000;
/// HOB types (PI spec vol. 3): the PHIT and a resource descriptor.
const HOB_HANDOFF: u16 = 1;
const HOB_RESOURCE_DESCRIPTOR: u16 = 3;
/// The PHIT version QEMU writes (`EFI_HOB_HANDOFF_TABLE_VERSION`).
const HOB_HANDOFF_VERSION: u32 = 9;
/// EFI_RESOURCE_SYSTEM_MEMORY, and EFI_RESOURCE_MEMORY_UNACCEPTED (RAM the TD accepts later).
const RESOURCE_SYSTEM_MEMORY: u32 = 0;
const RESOURCE_MEMORY_UNACCEPTED: u32 = 7;
/// PRESENT | INITIALIZED | TESTED, on every resource QEMU describes.
const RESOURCE_ATTRIBUTES: u32 = 7;
/// Length of the end-of-list HOB QEMU appends (and OVMF does not measure).
const END_HOB_LEN: u64 = 8;

/// The `--acpi-tables` file holding fw_cfg `etc/table-loader`.
pub const TABLE_LOADER_FILE: &str = "table-loader";
/// The `--acpi-tables` file holding fw_cfg `etc/acpi/rsdp`.
pub const RSDP_FILE: &str = "rsdp";
/// The `--acpi-tables` file holding fw_cfg `etc/acpi/tables`.
pub const TABLES_FILE: &str = "tables";
/// The optional `--acpi-tables` file holding the BootOrder variable's data.
pub const BOOT_ORDER_FILE: &str = "BootOrder";
/// The suffix of a file holding a blob's SHA-384 (96 hex digits) instead of the blob.
pub const DIGEST_SUFFIX: &str = ".sha384";

/// The BootOrder OVMF creates for QEMU direct boot (edk2 before stable202505): one entry, 0000.
const DEFAULT_BOOT_ORDER: [u8; 2] = [0, 0];

/// The platform inputs of RTMR[0] that the firmware does not determine: QEMU's three ACPI
/// fw_cfg blobs (or their digests, as the TD's event log records them) and the boot variables
/// OVMF creates. They vary with the QEMU version, machine type, vCPUs, memory and devices.
///
/// ```
/// use cloister_measure::tdx::Rtmr0Inputs;
/// let loader = vec![0u8; 128];
/// let inputs = Rtmr0Inputs::new(&loader, b"RSD PTR \0\0\0\0\0\0\0\0\0\0\0\0", b"FACS")?;
/// assert_eq!(inputs.defaults(), ["BootOrder", "Boot0000"]);
/// # Ok::<(), cloister_measure::MeasureError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rtmr0Inputs {
    table_loader: [u8; 48],
    rsdp: [u8; 48],
    tables: [u8; 48],
    boot_order: Vec<u8>,
    boot_options: Vec<Vec<u8>>,
    defaults: Vec<&'static str>,
}

impl Rtmr0Inputs {
    /// The inputs from the three fw_cfg blobs, with OVMF's default boot variables (BootOrder
    /// `00 00`, Boot0000 the UiApp load option: [`Self::defaults`] lists them).
    ///
    /// # Errors
    ///
    /// `measure.tdx.rtmr0_input_bad` for an empty blob, a table-loader that is not whole
    /// 128-byte commands, or an RSDP without its `RSD PTR ` signature.
    pub fn new(table_loader: &[u8], rsdp: &[u8], tables: &[u8]) -> Result<Self, MeasureError> {
        let blob = |name: &str, b: &[u8]| {
            check_blob(name, b).map_err(|reason| MeasureError::Rtmr0InputBad {
                file: name.to_owned(),
                reason,
            })?;
            Ok::<_, MeasureError>(sha384(b))
        };
        Ok(Self {
            table_loader: blob(TABLE_LOADER_FILE, table_loader)?,
            rsdp: blob(RSDP_FILE, rsdp)?,
            tables: blob(TABLES_FILE, tables)?,
            boot_order: DEFAULT_BOOT_ORDER.to_vec(),
            boot_options: vec![uiapp_boot_option()],
            defaults: vec![BOOT_ORDER_FILE, "Boot0000"],
        })
    }

    /// Reads the inputs from `dir`:
    ///
    /// - `table-loader`, `rsdp`, `tables`: the raw fw_cfg files `etc/table-loader`,
    ///   `etc/acpi/rsdp`, `etc/acpi/tables`; or instead `NAME.sha384`, the blob's SHA-384 as 96
    ///   hex digits (as the TD's event log records it). Required.
    /// - `BootOrder`: the variable's data (efivarfs files start with 4 attribute bytes: drop
    ///   them). Optional: OVMF's `00 00` by default.
    /// - `Boot####` (upper-case hex) for each entry of BootOrder: the `EFI_LOAD_OPTION` data.
    ///   `Boot0000` is optional (OVMF's UiApp option by default); any other listed one is
    ///   required.
    ///
    /// # Errors
    ///
    /// `measure.tdx.rtmr0_input_missing` naming the directory, the file and what it holds;
    /// `measure.tdx.rtmr0_input_unreadable`; `measure.tdx.rtmr0_input_bad`.
    pub fn from_dir(dir: &Path) -> Result<Self, MeasureError> {
        let shown = dir.display().to_string();
        match std::fs::metadata(dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(MeasureError::Rtmr0InputUnreadable {
                    file: shown,
                    reason: "not a directory".to_owned(),
                });
            }
            Err(e) => {
                return Err(MeasureError::Rtmr0InputUnreadable {
                    file: shown,
                    reason: e.to_string(),
                });
            }
        }
        let blob = |name: &str, what: &str| -> Result<[u8; 48], MeasureError> {
            let digest_name = format!("{name}{DIGEST_SUFFIX}");
            match (read_optional(dir, name)?, read_optional(dir, &digest_name)?) {
                (Some(_), Some(_)) => Err(MeasureError::Rtmr0InputBad {
                    file: dir.join(name).display().to_string(),
                    reason: format!("both {name} and {digest_name} are given; keep one"),
                }),
                (Some(b), None) => {
                    check_blob(name, &b).map_err(|reason| MeasureError::Rtmr0InputBad {
                        file: dir.join(name).display().to_string(),
                        reason,
                    })?;
                    Ok(sha384(&b))
                }
                (None, Some(h)) => parse_digest(&h).ok_or_else(|| MeasureError::Rtmr0InputBad {
                    file: dir.join(&digest_name).display().to_string(),
                    reason: "not a SHA-384 digest (96 hex digits)".to_owned(),
                }),
                (None, None) => Err(MeasureError::Rtmr0InputMissing {
                    dir: shown.clone(),
                    file: name.to_owned(),
                    what: format!(
                        "the raw QEMU fw_cfg file {what}, or its SHA-384 in {digest_name}"
                    ),
                }),
            }
        };
        let table_loader = blob(TABLE_LOADER_FILE, "etc/table-loader")?;
        let rsdp = blob(RSDP_FILE, "etc/acpi/rsdp")?;
        let tables = blob(TABLES_FILE, "etc/acpi/tables")?;
        let mut defaults = Vec::new();
        let boot_order = match read_optional(dir, BOOT_ORDER_FILE)? {
            Some(b) if b.is_empty() || !b.len().is_multiple_of(2) => {
                return Err(MeasureError::Rtmr0InputBad {
                    file: dir.join(BOOT_ORDER_FILE).display().to_string(),
                    reason: format!(
                        "{} bytes: BootOrder is a non-empty array of u16 (drop efivarfs's 4 \
                         attribute bytes)",
                        b.len()
                    ),
                });
            }
            Some(b) => b,
            None => {
                defaults.push(BOOT_ORDER_FILE);
                DEFAULT_BOOT_ORDER.to_vec()
            }
        };
        let mut boot_options = Vec::new();
        for pair in boot_order.chunks_exact(2) {
            let n = u16::from_le_bytes([pair[0], pair[1]]);
            let name = format!("Boot{n:04X}");
            match read_optional(dir, &name)? {
                Some(b) => boot_options.push(b),
                None if n == 0 => {
                    defaults.push("Boot0000");
                    boot_options.push(uiapp_boot_option());
                }
                None => {
                    return Err(MeasureError::Rtmr0InputMissing {
                        dir: shown,
                        file: name,
                        what: format!(
                            "the data of UEFI variable Boot{n:04X}, which BootOrder lists"
                        ),
                    });
                }
            }
        }
        Ok(Self {
            table_loader,
            rsdp,
            tables,
            boot_order,
            boot_options,
            defaults,
        })
    }

    /// The inputs that were not given and took OVMF's defaults (`BootOrder`, `Boot0000`).
    pub fn defaults(&self) -> &[&'static str] {
        &self.defaults
    }
}

/// Reads `dir/name`, `None` when it does not exist.
fn read_optional(dir: &Path, name: &str) -> Result<Option<Vec<u8>>, MeasureError> {
    let path = dir.join(name);
    match std::fs::read(&path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(MeasureError::Rtmr0InputUnreadable {
            file: path.display().to_string(),
            reason: e.to_string(),
        }),
    }
}

/// 96 hex digits (surrounding white space allowed, as `sha384sum`-style tools write a newline).
fn parse_digest(text: &[u8]) -> Option<[u8; 48]> {
    let s = std::str::from_utf8(text).ok()?.trim();
    let s = s.split_whitespace().next()?;
    <[u8; 48]>::try_from(hex::decode(s).ok()?).ok()
}

/// Why a blob cannot be the fw_cfg file `name`, if it cannot.
fn check_blob(name: &str, b: &[u8]) -> Result<(), String> {
    if b.is_empty() {
        return Err("empty".to_owned());
    }
    match name {
        TABLE_LOADER_FILE if !b.len().is_multiple_of(128) => Err(format!(
            "{} bytes: QEMU's linker/loader script is whole 128-byte commands",
            b.len()
        )),
        RSDP_FILE if !b.starts_with(b"RSD PTR ") || b.len() < 20 => {
            Err("no ACPI RSDP (\"RSD PTR \" signature, at least 20 bytes)".to_owned())
        }
        _ => Ok(()),
    }
}

/// The `Boot0000` OVMF creates (edk2 before stable202505): the boot manager menu, UiApp, as
/// an `EFI_LOAD_OPTION` of attributes ACTIVE | HIDDEN | CATEGORY_APP (0x109), description
/// `UiApp` (the module's UI section), and the device path FV(DXEFV)/FvFile(UiApp)/End.
pub(crate) fn uiapp_boot_option() -> Vec<u8> {
    let mut path = Vec::new();
    for (subtype, guid) in [(7u8, OVMF_DXEFV), (6, UIAPP_FILE)] {
        path.extend_from_slice(&[4, subtype]);
        path.extend_from_slice(&20u16.to_le_bytes());
        path.extend_from_slice(guid.bytes());
    }
    path.extend_from_slice(&[0x7f, 0xff, 4, 0]);
    let mut out = Vec::new();
    out.extend_from_slice(&0x109u32.to_le_bytes());
    out.extend_from_slice(&(path.len() as u16).to_le_bytes());
    out.extend(utf16z("UiApp"));
    out.extend_from_slice(&path);
    out
}

/// `s` as UTF-16LE with its NUL.
fn utf16z(s: &str) -> Vec<u8> {
    s.encode_utf16()
        .chain([0])
        .flat_map(u16::to_le_bytes)
        .collect()
}

/// The digest of an EV_EFI_VARIABLE_DRIVER_CONFIG event: SHA-384 of the `UEFI_VARIABLE_DATA`
/// {GUID, u64 name length in UTF-16 units, u64 data length, name (UTF-16LE, no NUL), data}.
pub(crate) fn variable_event(guid: Guid, name: &str, data: &[u8]) -> [u8; 48] {
    let utf16: Vec<u8> = name.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let mut b = Vec::with_capacity(32 + utf16.len() + data.len());
    b.extend_from_slice(guid.bytes());
    b.extend_from_slice(&((utf16.len() / 2) as u64).to_le_bytes());
    b.extend_from_slice(&(data.len() as u64).to_le_bytes());
    b.extend_from_slice(&utf16);
    b.extend_from_slice(data);
    sha384(&b)
}

/// The TD HOB QEMU writes for `fw` and `memory` bytes of RAM (`hw/i386/tdvf-hob.c`), without
/// the end HOB: a PHIT, then one resource descriptor per RAM range in address order, the
/// firmware's TD_HOB and TEMP_MEM ranges as accepted system memory, the rest unaccepted.
///
/// # Errors
///
/// `measure.tdx.bad_metadata` for a firmware without a TD_HOB section or with overlapping
/// ranges; `measure.bad_value` (`--memory`) when a range is not in low RAM.
pub(crate) fn td_hob(fw: &Tdvf, memory: u64) -> Result<Vec<u8>, MeasureError> {
    let bad = |reason: String| MeasureError::BadTdxMetadata {
        file: fw.file.clone(),
        reason,
    };
    let base = fw
        .sections()
        .iter()
        .find(|s| s.kind == TdvfSectionKind::TdHob)
        .map(|s| s.gpa)
        .ok_or_else(|| {
            bad("no TD_HOB section: QEMU would have nowhere to write the TD HOB".into())
        })?;
    let low = if memory >= LOW_MEMORY_SPLIT {
        0x8000_0000
    } else {
        memory
    };
    let high = memory - low;
    let mut accepted: Vec<(u64, u64)> = fw
        .sections()
        .iter()
        .filter(|s| matches!(s.kind, TdvfSectionKind::TdHob | TdvfSectionKind::TempMem))
        .filter(|s| s.mem_size > 0)
        .map(|s| (s.gpa, s.gpa.saturating_add(s.mem_size)))
        .collect();
    accepted.sort_unstable();

    let mut hob = Vec::with_capacity(56 + 48 * (2 * accepted.len() + 2));
    hob.extend_from_slice(&HOB_HANDOFF.to_le_bytes());
    hob.extend_from_slice(&56u16.to_le_bytes());
    hob.extend_from_slice(&0u32.to_le_bytes());
    hob.extend_from_slice(&HOB_HANDOFF_VERSION.to_le_bytes());
    hob.extend_from_slice(&0u32.to_le_bytes()); // boot mode
    hob.extend_from_slice(&[0; 32]); // memory top/bottom, free memory top/bottom
    hob.extend_from_slice(&0u64.to_le_bytes()); // EfiEndOfHobList, set below
    let mut resource = |kind: u32, start: u64, len: u64| {
        hob.extend_from_slice(&HOB_RESOURCE_DESCRIPTOR.to_le_bytes());
        hob.extend_from_slice(&48u16.to_le_bytes());
        hob.extend_from_slice(&0u32.to_le_bytes());
        hob.extend_from_slice(&[0; 16]); // owner GUID
        hob.extend_from_slice(&kind.to_le_bytes());
        hob.extend_from_slice(&RESOURCE_ATTRIBUTES.to_le_bytes());
        hob.extend_from_slice(&start.to_le_bytes());
        hob.extend_from_slice(&len.to_le_bytes());
    };
    let mut cursor = 0u64;
    for (start, end) in accepted {
        if start < cursor {
            return Err(bad(format!("TD_HOB/TEMP_MEM ranges overlap at {start:#x}")));
        }
        if end > low {
            return Err(MeasureError::BadValue {
                setting: "--memory",
                value: memory.to_string(),
                reason: format!(
                    "the firmware's TD HOB or temporary memory at {start:#x}..{end:#x} is not \
                     in the TD's {low:#x} bytes of low RAM"
                ),
            });
        }
        if start > cursor {
            resource(RESOURCE_MEMORY_UNACCEPTED, cursor, start - cursor);
        }
        resource(RESOURCE_SYSTEM_MEMORY, start, end - start);
        cursor = end;
    }
    if cursor < low {
        resource(RESOURCE_MEMORY_UNACCEPTED, cursor, low - cursor);
    }
    if high > 0 {
        resource(RESOURCE_MEMORY_UNACCEPTED, 1 << 32, high);
    }
    let end_of_list = base + hob.len() as u64 + END_HOB_LEN;
    hob[48..56].copy_from_slice(&end_of_list.to_le_bytes());
    Ok(hob)
}

/// File offset, within `cfv`, of the first variable of the variable store the firmware volume
/// holds, if any: after the FV header (`_FVH` at 0x28, its length at 0x30) comes the 28-byte
/// variable store header, then variables, each starting with 0x55AA, 4-byte aligned.
fn first_variable(cfv: &[u8]) -> Option<usize> {
    if cfv.get(0x28..0x2c) != Some(b"_FVH") {
        return None;
    }
    let at = (usize::from(read_u16(cfv, 0x30)?) + 28).next_multiple_of(4);
    (read_u16(cfv, at)? == 0x55aa).then_some(at)
}

/// The CFV event's digest: SHA-384 of the firmware's configuration volume.
///
/// # Errors
///
/// `measure.tdx.bad_metadata` without a CFV section; `measure.tdx.cfv_has_variables` when the
/// volume already holds variables.
pub(crate) fn cfv_digest(fw: &Tdvf) -> Result<[u8; 48], MeasureError> {
    let s = fw
        .sections()
        .iter()
        .find(|s| s.kind == TdvfSectionKind::Cfv)
        .ok_or_else(|| MeasureError::BadTdxMetadata {
            file: fw.file.clone(),
            reason: "no CFV section, which RTMR[0] measures".to_owned(),
        })?;
    let from = s.data_offset as usize;
    // Tdvf::parse checked that the raw data is inside the image.
    let cfv = &fw.image[from..from + s.raw_size as usize];
    if let Some(at) = first_variable(cfv) {
        return Err(MeasureError::CfvHasVariables {
            file: fw.file.clone(),
            offset: from + at,
        });
    }
    Ok(sha384(cfv))
}

/// The digests RTMR[0] is extended with, in order.
pub(crate) fn events(
    fw: &Tdvf,
    memory: u64,
    inputs: &Rtmr0Inputs,
) -> Result<Vec<[u8; 48]>, MeasureError> {
    let mut ev = vec![sha384(&td_hob(fw, memory)?), cfv_digest(fw)?];
    for (guid, name) in SECURE_BOOT_VARIABLES {
        ev.push(variable_event(guid, name, &[]));
    }
    ev.push(sha384(&[0; 4]));
    ev.extend([inputs.table_loader, inputs.rsdp, inputs.tables]);
    ev.push(sha384(&inputs.boot_order));
    ev.extend(inputs.boot_options.iter().map(|o| sha384(o)));
    Ok(ev)
}

/// The register after extending it with `events` from zero.
pub(crate) fn replay(events: &[[u8; 48]]) -> [u8; 48] {
    let mut r = Rtmr::new();
    for e in events {
        r.extend(e);
    }
    r.value()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn h(d: [u8; 48]) -> String {
        hex::encode(d)
    }

    #[test]
    fn secure_boot_variable_events_match_a_real_td_log() {
        // Digests from a dstack TD's event log (RTMR[0] events 3-7, whose payloads are these
        // UEFI_VARIABLE_DATA with no data); also tinfoil's tdx-measure golden values.
        let want = [
            "9dc3a1f80bcec915391dcda5ffbb15e7419f77eab462bbf72b42166fb70d50325e37b36f93537a863769bcf9bedae6fb",
            "6f2e3cbc14f9def86980f5f66fd85e99d63e69a73014ed8a5633ce56eca5b64b692108c56110e22acadcef58c3250f1b",
            "d607c0efb41c0d757d69bca0615c3a9ac0b1db06c557d992e906c6b7dee40e0e031640c7bfd7bcd35844ef9edeadc6f9",
            "08a74f8963b337acb6c93682f934496373679dd26af1089cb4eaf0c30cf260a12e814856385ab8843e56a9acea19e127",
            "18cc6e01f0c6ea99aa23f8a280423e94ad81d96d0aeb5180504fc0f7a40cb3619dd39bd6a95ec1680a86ed6ab0f9828d",
        ];
        for ((guid, name), want) in SECURE_BOOT_VARIABLES.iter().zip(want) {
            assert_eq!(h(variable_event(*guid, name, &[])), want, "{name}");
        }
        // The definition, spelled out for SecureBoot.
        let mut b = hex::decode("61dfe48bca93d211aa0d00e098032b8c").unwrap();
        b.extend_from_slice(&10u64.to_le_bytes());
        b.extend_from_slice(&0u64.to_le_bytes());
        b.extend("SecureBoot".encode_utf16().flat_map(u16::to_le_bytes));
        assert_eq!(
            variable_event(EFI_GLOBAL_VARIABLE, "SecureBoot", &[]),
            sha384(&b)
        );
    }

    #[test]
    fn default_boot_variables_match_a_real_td_log() {
        // The Boot0000 data in the same log's EV_EFI_VARIABLE_BOOT event, and its digest
        // (dstack-mr's fixed "Pre202505" Boot0000 digest).
        assert_eq!(
            hex::encode(uiapp_boot_option()),
            "090100002c0055006900410070007000000004071400c9bdb87cebf8344faaea3ee4af6516a10406140021aa2c4614760345836e8ab6f46623317fff0400"
        );
        assert_eq!(
            h(sha384(&uiapp_boot_option())),
            "23ada07f5261f12f34a0bd8e46760962d6b4d576a416f1fea1c64bc656b1d28eacf7047ae6e967c58fd2a98bfa74c298"
        );
        assert_eq!(
            h(sha384(&DEFAULT_BOOT_ORDER)),
            "1dd6f7b457ad880d840d41c961283bab688e94e4b59359ea45686581e90feccea3c624b1226113f824f315eb60ae0a7c"
        );
        assert_eq!(
            h(sha384(&[0; 4])),
            "394341b7182cd227c5c6b07ef8000cdfd86136c4292b8e576573ad7ed9ae41019f5818b4b971c9effc60e1ad9f1289f0"
        );
    }

    /// The empty variable store edk2 builds into OVMF's CFV (`OvmfPkg/VarStore.fdf.inc`): an FV
    /// header (EFI_SYSTEM_NV_DATA_FV_GUID, 4 KiB blocks), an authenticated variable store
    /// header over `live` bytes, an event-log page, and a fault-tolerant-write working block
    /// header; the rest 0xff.
    pub(crate) fn empty_varstore(size: usize, live: usize) -> Vec<u8> {
        let mut b = vec![0xffu8; size];
        let mut fv = vec![0u8; 16];
        fv.extend(hex::decode("8d2bf1ff96768b4ca9852747075b4f50").unwrap());
        fv.extend_from_slice(&(size as u64).to_le_bytes());
        fv.extend_from_slice(b"_FVH");
        fv.extend_from_slice(&0x0004_feffu32.to_le_bytes());
        fv.extend_from_slice(&0x48u16.to_le_bytes());
        fv.extend_from_slice(&[0, 0, 0, 0, 0, 2]); // checksum, ext header, reserved, revision
        fv.extend_from_slice(&((size / 4096) as u32).to_le_bytes());
        fv.extend_from_slice(&4096u32.to_le_bytes());
        fv.extend_from_slice(&[0; 8]);
        let sum = fv.chunks(2).fold(0u16, |a, c| {
            a.wrapping_add(u16::from_le_bytes([c[0], c[1]]))
        });
        fv[0x32..0x34].copy_from_slice(&0u16.wrapping_sub(sum).to_le_bytes());
        b[..0x48].copy_from_slice(&fv);
        let mut store = hex::decode("782cf3aa7b949a43a1802e144ec37792").unwrap();
        store.extend_from_slice(&((live - 0x48) as u32).to_le_bytes());
        store.extend_from_slice(&[0x5a, 0xfe, 0, 0, 0, 0, 0, 0]);
        b[0x48..0x48 + 28].copy_from_slice(&store);
        let mut ftw = hex::decode("2b29589e687c7d49a0ce6500fd9f1b95").unwrap();
        ftw.extend_from_slice(&0x642c_af2cu32.to_le_bytes());
        ftw.extend_from_slice(&[0xfe, 0xff, 0xff, 0xff]);
        ftw.extend_from_slice(&0xfe0u64.to_le_bytes());
        b[live + 0x1000..live + 0x1020].copy_from_slice(&ftw);
        b
    }

    #[test]
    fn empty_4mib_varstore_is_the_published_cfv_digest() {
        // dstack-mr's and tdx-measure's constant, and the CFV event of a real dstack TD's log
        // (a 0x84000-byte CFV at 0xffc00000).
        let store = empty_varstore(0x84000, 0x40000);
        assert_eq!(
            h(sha384(&store)),
            "344bc51c980ba621aaa00da3ed7436f7d6e549197dfe699515dfa2c6583d95e6412af21c097d473155875ffd561d6790"
        );
        assert_eq!(first_variable(&store), None);
        let mut with_var = store;
        with_var[0x64..0x66].copy_from_slice(&0x55aau16.to_le_bytes());
        assert_eq!(first_variable(&with_var), Some(0x64));
    }

    #[test]
    fn real_td_log_replays_to_its_rtmr0() {
        // A dstack TD's RTMR[0] log (13 events) and the RTMR[0] its quote reported. Events 1
        // (TD HOB) and 9-11 (ACPI) are taken from the log; the rest are computed here.
        let logged = |s: &str| <[u8; 48]>::try_from(hex::decode(s).unwrap()).unwrap();
        let mut ev = vec![
            logged(
                "0e35f1b315ba6c912cf791e5c79dd9d3a2b8704516aa27d4e5aa78fb09ede04aef2bbd02ac7a8734c48562b9c26ba35d",
            ),
            sha384(&empty_varstore(0x84000, 0x40000)),
        ];
        for (guid, name) in SECURE_BOOT_VARIABLES {
            ev.push(variable_event(guid, name, &[]));
        }
        ev.push(sha384(&[0; 4]));
        for acpi in [
            "68cd79315e70aecd4afe7c1b23a5ed7b3b8e51a477e1739f111b3156def86bbc56ebf239dcd4591bc7a9fff90023f481",
            "6bc203b3843388cc4918459c3f5c6d1300a796fb594781b7ecfaa3ae7456975f095bfcc1156c9f2d25e8b8bc1b520f66",
            "ec9e8622a100c399d71062a945f95d8e4cdb7294e8b1c6d17a6a8d37b5084444000a78b007ef533f290243421256d25c",
        ] {
            ev.push(logged(acpi));
        }
        ev.push(sha384(&DEFAULT_BOOT_ORDER));
        ev.push(sha384(&uiapp_boot_option()));
        assert_eq!(
            h(replay(&ev)),
            "85e0855a6384fa1c8a6ab36d0dcbfaa11a5753e5a070c08218ae5fe872fcb86967fd2449c29e22e59dc9fec998cb6547"
        );
    }

    fn write(dir: &Path, name: &str, b: &[u8]) {
        std::fs::write(dir.join(name), b).unwrap();
    }

    fn rsdp() -> Vec<u8> {
        let mut r = b"RSD PTR ".to_vec();
        r.resize(20, 0);
        r
    }

    #[test]
    fn from_dir_names_what_is_missing_or_bad() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let err = Rtmr0Inputs::from_dir(&dir.join("nope")).unwrap_err();
        assert_eq!(err.code(), "measure.tdx.rtmr0_input_unreadable");
        assert!(err.to_string().contains("nope"), "{err}");

        let err = Rtmr0Inputs::from_dir(dir).unwrap_err();
        assert_eq!(err.code(), "measure.tdx.rtmr0_input_missing");
        let msg = err.to_string();
        assert!(msg.contains(&dir.display().to_string()), "{msg}");
        assert!(
            msg.contains("\"table-loader\"") && msg.contains("etc/table-loader"),
            "{msg}"
        );
        assert!(msg.contains("table-loader.sha384"), "{msg}");

        write(dir, TABLE_LOADER_FILE, &[0; 100]);
        let err = Rtmr0Inputs::from_dir(dir).unwrap_err();
        assert_eq!(err.code(), "measure.tdx.rtmr0_input_bad");
        assert!(err.to_string().contains("128-byte"), "{err}");
        write(dir, TABLE_LOADER_FILE, &[0; 128]);

        write(dir, RSDP_FILE, b"not an rsdp at all!!");
        let err = Rtmr0Inputs::from_dir(dir).unwrap_err();
        assert_eq!(err.code(), "measure.tdx.rtmr0_input_bad");
        assert!(err.to_string().contains("rsdp"), "{err}");
        write(dir, RSDP_FILE, &rsdp());

        let err = Rtmr0Inputs::from_dir(dir).unwrap_err();
        assert!(err.to_string().contains("etc/acpi/tables"), "{err}");
        write(dir, TABLES_FILE, b"FACS....DSDT....");
        let blobs = Rtmr0Inputs::from_dir(dir).unwrap();
        assert_eq!(blobs.defaults(), ["BootOrder", "Boot0000"]);
        assert_eq!(
            blobs,
            Rtmr0Inputs::new(&[0; 128], &rsdp(), b"FACS....DSDT....").unwrap()
        );

        // A digest file is the same input as its blob; both at once are refused.
        let digest = hex::encode(sha384(b"FACS....DSDT...."));
        write(dir, "tables.sha384", format!("{digest}\n").as_bytes());
        let err = Rtmr0Inputs::from_dir(dir).unwrap_err();
        assert_eq!(err.code(), "measure.tdx.rtmr0_input_bad");
        assert!(err.to_string().contains("keep one"), "{err}");
        std::fs::remove_file(dir.join(TABLES_FILE)).unwrap();
        assert_eq!(Rtmr0Inputs::from_dir(dir).unwrap(), blobs);
        write(dir, "tables.sha384", b"abcd");
        let err = Rtmr0Inputs::from_dir(dir).unwrap_err();
        assert!(err.to_string().contains("tables.sha384"), "{err}");
        write(dir, "tables.sha384", digest.as_bytes());

        // BootOrder: whole u16s; every entry but 0000 needs its Boot#### file.
        write(dir, BOOT_ORDER_FILE, &[7, 0, 0, 0, 0, 0]);
        let err = Rtmr0Inputs::from_dir(dir).unwrap_err();
        assert_eq!(err.code(), "measure.tdx.rtmr0_input_missing");
        assert!(err.to_string().contains("Boot0007"), "{err}");
        write(dir, BOOT_ORDER_FILE, &[0, 0, 1]);
        let err = Rtmr0Inputs::from_dir(dir).unwrap_err();
        assert_eq!(err.code(), "measure.tdx.rtmr0_input_bad");
        assert!(err.to_string().contains("attribute bytes"), "{err}");
        write(dir, BOOT_ORDER_FILE, &[0, 0, 0x0a, 0]);
        write(dir, "Boot000A", b"option ten");
        let two = Rtmr0Inputs::from_dir(dir).unwrap();
        assert_eq!(two.defaults(), ["Boot0000"]);
        assert_eq!(
            two.boot_options,
            vec![uiapp_boot_option(), b"option ten".to_vec()]
        );
        write(dir, "Boot0000", b"option zero");
        assert!(Rtmr0Inputs::from_dir(dir).unwrap().defaults().is_empty());
    }

    #[test]
    fn digest_files_parse_with_white_space() {
        let d = "ab".repeat(48);
        assert_eq!(parse_digest(format!("{d}\n").as_bytes()), Some([0xab; 48]));
        assert_eq!(
            parse_digest(format!("{d}  tables\n").as_bytes()),
            Some([0xab; 48])
        );
        assert_eq!(parse_digest(b"abcd"), None);
    }
}
