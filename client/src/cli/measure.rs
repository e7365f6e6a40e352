//! `cloister measure snp | tdx | initrd`: the launch measurements a SEV-SNP or TDX guest will
//! report, computed from the images it boots (the `cloister-measure` crate), and the trust
//! policy entry that pins them. `initrd` packs the enclave binary and its configuration into a
//! reproducible initrd, so that the measurements cover the configuration.

use std::path::{Path, PathBuf};

use cloister_attestation::{SnpPolicy, TdxPolicy, TrustPolicy};
use cloister_measure::snp::{Ovmf, OvmfSeed, SnpLaunch};
use cloister_measure::tdx::{InitrdOption, MrtdOrder, Rtmr0Inputs, TdxLaunch};
use cloister_measure::{BzImage, Cmdline, DEFAULT_CMDLINE_MAX, Input, MeasureError};

use super::{Outcome, temp_sibling, write_atomically};

/// Where `cloister measure initrd` puts the enclave's files inside the initrd.
pub(crate) const INITRD_BINARY: &str = "init";
/// The enclave's measured configuration inside the initrd.
pub(crate) const INITRD_CONFIG: &str = "etc/cloister/enclave-config.json";

/// `cloister measure` subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum MeasureCommand {
    /// SEV-SNP: the launch digest (MEASUREMENT) of a guest booting an OVMF image, optionally
    /// with a directly booted kernel, initrd and command line. Prints the digest as hex on the
    /// first line.
    Snp(SnpArgs),
    /// TDX: MRTD, and for direct kernel boot RTMR[1] and RTMR[2]; RTMR[0] only with
    /// --acpi-tables DIR (or as given with --rtmr0). RTMR[0] records QEMU's TD HOB and ACPI
    /// tables, which change with the QEMU version, machine type, memory, vCPUs and devices, so
    /// its inputs must be captured from exactly the production configuration; without them the
    /// policy leaves RTMR[0] unpinned and says why.
    Tdx(TdxArgs),
    /// Pack the enclave binary (as /init) and its configuration (as
    /// /etc/cloister/enclave-config.json) into a reproducible cpio initrd, so the kernel hashes
    /// (SEV-SNP) and RTMR[2] (TDX) measure the configuration.
    Initrd(InitrdArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct SnpArgs {
    /// The OVMF image the guest boots (OVMF.fd; for direct boot an AmdSevX64 build).
    #[arg(long, value_name = "FILE")]
    ovmf: PathBuf,
    /// The published launch digest of the OVMF image's own pages (sev-snp-measure --mode
    /// snp:ovmf-hash), used instead of hashing the image; it must be for this very image.
    #[arg(long, value_name = "HEX")]
    ovmf_hash: Option<String>,
    /// Kernel for measured direct boot (needs an OVMF with an SNP_KERNEL_HASHES section).
    #[arg(long, value_name = "FILE")]
    kernel: Option<PathBuf>,
    /// Initrd for direct boot; holds the enclave and its configuration (`cloister measure initrd`).
    #[arg(long, value_name = "FILE", requires = "kernel")]
    initrd: Option<PathBuf>,
    /// Kernel command line for direct boot.
    #[arg(long, value_name = "CMDLINE", requires = "kernel")]
    append: Option<String>,
    /// Number of vCPUs.
    #[arg(long, value_name = "N")]
    vcpus: u32,
    /// vCPU model by its QEMU name (EPYC-v4, EPYC-Milan, EPYC-Genoa, ...); only QEMU measures it.
    #[arg(long, value_name = "TYPE")]
    vcpu_type: String,
    /// The VMM's reset-state convention: qemu, ec2 (sev-snp-measure >= 0.0.13: RDX 0x600),
    /// ec2-legacy (virtee/sev 8.0.0: RDX 0, guests launched before EC2's 2026 VMSA change), gce.
    #[arg(long, value_name = "VMM")]
    vmm: String,
    /// SEV_FEATURES in hex: 0x1 (host kernel < 6.6 or >= 6.8), 0x21 (6.6 and 6.7).
    #[arg(long, value_name = "HEX")]
    guest_features: String,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Also write a trust policy whose sev-snp entry pins this MEASUREMENT.
    #[arg(long, value_name = "OUT")]
    policy: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub(crate) struct TdxArgs {
    /// The TDX firmware (an OVMF.fd with TDVF metadata).
    #[arg(long, value_name = "FILE")]
    firmware: PathBuf,
    /// Kernel (bzImage with EFI stub) for direct boot.
    #[arg(long, value_name = "FILE")]
    kernel: Option<PathBuf>,
    /// Initrd for direct boot; holds the enclave and its configuration (`cloister measure initrd`).
    #[arg(long, value_name = "FILE", requires = "kernel")]
    initrd: Option<PathBuf>,
    /// Kernel command line for direct boot.
    #[arg(long, value_name = "CMDLINE", requires = "kernel")]
    append: Option<String>,
    /// Guest memory (QEMU -m), e.g. 2G: QEMU places the initrd below the top of low memory,
    /// which changes the kernel it measures into RTMR[1].
    #[arg(long, value_name = "SIZE")]
    memory: String,
    /// Order QEMU adds the firmware pages in: single (QEMU 9 and later) or two-pass (QEMU 8.x).
    #[arg(long, value_name = "ORDER", default_value = "single")]
    mrtd_order: String,
    /// Where OVMF puts "initrd=initrd" in the kernel's load options: append (edk2 before
    /// stable202508, e.g. Debian's) or prepend (stable202508 and later).
    #[arg(long, value_name = "WHERE", default_value = "append")]
    initrd_option: String,
    /// Compute RTMR[0] from QEMU's ACPI fw_cfg blobs captured in DIR.
    ///
    /// RTMR[0] records the TD HOB (computed from --firmware and --memory), the firmware's
    /// variable store, the empty Secure Boot variables, and then platform inputs that vary with
    /// the QEMU version, machine type, vCPUs, memory and devices, so they must come from a TD
    /// started with exactly the production configuration:
    ///
    /// - `table-loader`, `rsdp`, `tables`: the raw fw_cfg files etc/table-loader,
    ///   etc/acpi/rsdp and etc/acpi/tables. Inside that TD, as root: `modprobe qemu_fw_cfg;
    ///   for f in table-loader acpi/rsdp acpi/tables; do cp
    ///   /sys/firmware/qemu_fw_cfg/by_name/etc/$f/raw DIR/$(basename $f); done`. Or, instead of
    ///   a blob, `NAME.sha384` holding its SHA-384 (96 hex) from the TD's event log: the three
    ///   EV_PLATFORM_CONFIG_FLAGS "ACPI DATA" events of RTMR[0], in that order.
    ///
    /// - `BootOrder` (optional; default 00 00) and `Boot####` for each entry it lists: the UEFI
    ///   variables' data, e.g. /sys/firmware/efi/efivars/BootOrder-8be4df61-93ca-11d2-aa0d-00e098032b8c
    ///   without its first 4 (attribute) bytes (`tail -c +5`). Boot0000 is optional; its
    ///   default is OVMF's UiApp boot option.
    ///
    /// The event list is that of OVMF before edk2 stable202505 with QEMU direct boot (as dstack
    /// TDs log it); stable202505 and later log more events, which are not modelled. The output names the inputs
    /// that took defaults, and --json lists every RTMR[0] event digest, to compare with the
    /// TD's event log.
    #[arg(long, value_name = "DIR", conflicts_with = "rtmr0")]
    acpi_tables: Option<PathBuf>,
    /// RTMR[0] as read from a TD started with exactly the production QEMU version, machine,
    /// memory, vCPUs and devices (96 hex); pinned in the policy as given.
    #[arg(long, value_name = "HEX")]
    rtmr0: Option<String>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Also write a trust policy whose tdx entry pins MRTD, RTMR[1], RTMR[2] (and RTMR[0] with
    /// --acpi-tables or --rtmr0).
    #[arg(long, value_name = "OUT")]
    policy: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub(crate) struct InitrdArgs {
    /// The enclave executable, stored as /init (mode 0755).
    #[arg(long, value_name = "FILE")]
    enclave_binary: PathBuf,
    /// The enclave's configuration, stored as /etc/cloister/enclave-config.json (mode 0644).
    #[arg(long, value_name = "FILE")]
    enclave_config: PathBuf,
    /// Output cpio file (written whole or not at all).
    #[arg(short, long, value_name = "OUT.cpio")]
    output: PathBuf,
}

/// Runs one `cloister measure` subcommand.
pub(crate) fn run(cmd: MeasureCommand) -> Outcome {
    let (name, result) = match cmd {
        MeasureCommand::Snp(a) => ("snp", snp(&a)),
        MeasureCommand::Tdx(a) => ("tdx", tdx(&a)),
        MeasureCommand::Initrd(a) => ("initrd", initrd(&a)),
    };
    match result {
        Ok(()) => Outcome::Ok,
        Err(Failure::Measure(e)) => {
            eprintln!(
                "cloister measure {name}: {e} [{}]\n  hint: {}",
                e.code(),
                e.hint()
            );
            Outcome::Error
        }
        Err(Failure::Usage(msg)) => {
            eprintln!("cloister measure {name}: {msg}");
            Outcome::Error
        }
    }
}

enum Failure {
    Measure(MeasureError),
    Usage(String),
}

impl From<MeasureError> for Failure {
    fn from(e: MeasureError) -> Self {
        Self::Measure(e)
    }
}

fn read_opt(p: &Option<PathBuf>) -> Result<Option<Input>, MeasureError> {
    p.as_deref().map(Input::read).transpose()
}

/// The SEV-SNP launch digest the arguments describe.
fn snp_digest(a: &SnpArgs) -> Result<[u8; 48], MeasureError> {
    let ovmf = Ovmf::parse(Input::read(&a.ovmf)?)?;
    let mut launch = SnpLaunch::new(
        &ovmf,
        a.vcpus,
        a.vcpu_type.parse()?,
        a.vmm.parse()?,
        a.guest_features.parse()?,
    )?;
    if let Some(seed) = &a.ovmf_hash {
        launch = launch.with_seed(seed.parse::<OvmfSeed>()?);
    }
    if let Some(kernel) = read_opt(&a.kernel)? {
        let initrd = read_opt(&a.initrd)?;
        // A bzImage states its own limit; anything else gets Linux's x86 default.
        let max = BzImage::parse(&kernel)
            .map(|k| k.cmdline_max())
            .unwrap_or(DEFAULT_CMDLINE_MAX);
        let cmdline = a
            .append
            .as_deref()
            .map(|c| Cmdline::new(c, max))
            .transpose()?;
        launch = launch.with_kernel(&kernel, initrd.as_ref(), cmdline.as_ref())?;
    }
    launch.measure()
}

fn snp(a: &SnpArgs) -> Result<(), Failure> {
    let digest = snp_digest(a)?;
    let hex = hex::encode(digest);
    if a.json {
        let doc = serde_json::json!({
            "platform": "sev-snp",
            "measurement": hex,
            "ovmf": a.ovmf.display().to_string(),
            "kernel": a.kernel.as_ref().map(|p| p.display().to_string()),
            "initrd": a.initrd.as_ref().map(|p| p.display().to_string()),
            "append": a.append,
            "vcpus": a.vcpus,
            "vcpu_type": a.vcpu_type,
            "vmm": a.vmm,
            "guest_features": a.guest_features,
        });
        println!("{doc}");
    } else {
        println!("{hex}");
        println!("  SEV-SNP MEASUREMENT of {}", a.ovmf.display());
    }
    if let Some(out) = &a.policy {
        let trust = TrustPolicy::new()
            .with_snp(SnpPolicy::default().with_measurement(digest))
            .map_err(|e| Failure::Usage(e.to_string()))?;
        write_atomically(out, trust.to_json().as_bytes()).map_err(Failure::Usage)?;
        eprintln!("wrote policy {}", out.display());
    }
    Ok(())
}

/// The TDX registers the arguments describe, and the reason RTMR[0] stays unpinned if it does.
struct TdxOutput {
    mrtd: [u8; 48],
    rtmr0: Option<[u8; 48]>,
    rtmr1: Option<[u8; 48]>,
    rtmr2: Option<[u8; 48]>,
    /// With --acpi-tables: the RTMR[0] event digests, and the inputs that took defaults.
    rtmr0_events: Vec<[u8; 48]>,
    rtmr0_defaults: Vec<&'static str>,
}

fn tdx_measure(a: &TdxArgs) -> Result<TdxOutput, MeasureError> {
    let firmware = Input::read(&a.firmware)?;
    let memory = cloister_measure::parse_size("--memory", &a.memory)?;
    let order: MrtdOrder = a.mrtd_order.parse()?;
    let option: InitrdOption = a.initrd_option.parse()?;
    let rtmr0 = a
        .rtmr0
        .as_deref()
        .map(|h| {
            hex::decode(h)
                .ok()
                .and_then(|v| <[u8; 48]>::try_from(v).ok())
                .ok_or_else(|| MeasureError::BadValue {
                    setting: "--rtmr0",
                    value: h.to_owned(),
                    reason: "not 96 hex digits".to_owned(),
                })
        })
        .transpose()?;
    let kernel = read_opt(&a.kernel)?;
    let initrd = read_opt(&a.initrd)?;
    let mut launch = TdxLaunch::new(&firmware, memory)?;
    let mut rtmr0_defaults = Vec::new();
    if let Some(dir) = &a.acpi_tables {
        let inputs = Rtmr0Inputs::from_dir(dir)?;
        rtmr0_defaults = inputs.defaults().to_vec();
        launch = launch.with_rtmr0(inputs);
    }
    if let Some(k) = &kernel {
        launch = launch.with_kernel(
            k,
            initrd.as_ref(),
            a.append.as_deref().unwrap_or(""),
            option,
        )?;
    }
    let m = launch.measure(order)?;
    Ok(TdxOutput {
        mrtd: m.mrtd,
        rtmr0: m.rtmr0.or(rtmr0),
        rtmr1: m.rtmr1,
        rtmr2: m.rtmr2,
        rtmr0_events: launch.rtmr0_events()?.unwrap_or_default(),
        rtmr0_defaults,
    })
}

/// Why the policy does not pin everything it should, or `None` when it pins MRTD and RTMR0-2.
fn tdx_unpinned(m: &TdxOutput) -> Option<String> {
    let mut why = Vec::new();
    if m.rtmr0.is_none() {
        why.push(
            "RTMR[0] (it records QEMU's ACPI tables and TD HOB, which vary with the QEMU version, \
             machine, memory, vCPUs and devices: give --acpi-tables DIR with the blobs captured \
             from a TD with exactly the production configuration, or --rtmr0 as read from one)",
        );
    }
    if m.rtmr1.is_none() {
        why.push("RTMR[1] and RTMR[2] (no --kernel: the firmware boots whatever it finds)");
    }
    (!why.is_empty()).then(|| why.join("; "))
}

fn tdx(a: &TdxArgs) -> Result<(), Failure> {
    let m = tdx_measure(a)?;
    let h = |v: &Option<[u8; 48]>| v.map(hex::encode);
    let unpinned = tdx_unpinned(&m);
    if a.json {
        let doc = serde_json::json!({
            "platform": "tdx",
            "mr_td": hex::encode(m.mrtd),
            "rtmr0": h(&m.rtmr0),
            "rtmr1": h(&m.rtmr1),
            "rtmr2": h(&m.rtmr2),
            "unpinned": unpinned,
            "rtmr0_events": m.rtmr0_events.iter().map(hex::encode).collect::<Vec<_>>(),
            "rtmr0_defaults": m.rtmr0_defaults,
            "acpi_tables": a.acpi_tables.as_ref().map(|p| p.display().to_string()),
            "firmware": a.firmware.display().to_string(),
            "memory": a.memory,
            "mrtd_order": a.mrtd_order,
        });
        println!("{doc}");
    } else {
        println!("{}", hex::encode(m.mrtd));
        println!("  MRTD   {}", hex::encode(m.mrtd));
        for (name, v) in [
            ("RTMR0", &m.rtmr0),
            ("RTMR1", &m.rtmr1),
            ("RTMR2", &m.rtmr2),
        ] {
            println!(
                "  {name}  {}",
                h(v).unwrap_or_else(|| "(not computed)".to_owned())
            );
        }
        if !m.rtmr0_defaults.is_empty() {
            println!(
                "  RTMR0 used OVMF's defaults for {} (not in --acpi-tables)",
                m.rtmr0_defaults.join(", ")
            );
        }
    }
    if let Some(out) = &a.policy {
        let json = tdx_policy_json(&m).map_err(Failure::Usage)?;
        write_atomically(out, json.as_bytes()).map_err(Failure::Usage)?;
        eprintln!("wrote policy {}", out.display());
        if let Some(why) = &unpinned {
            eprintln!(
                "cloister measure tdx: the policy does NOT pin {why}. It says \
                 \"dangerous_any_workload\": true so that it loads, and still checks every \
                 register it pins."
            );
        }
    }
    Ok(())
}

/// The trust policy accepting TDs with these registers. A TDX entry must pin MRTD and RTMR0-2
/// or say `dangerous_any_workload`; when a register is unknown the entry says it and pins the
/// rest, which the policy still checks.
fn tdx_policy_json(m: &TdxOutput) -> Result<String, String> {
    let mut p = TdxPolicy::default().with_mr_td(m.mrtd);
    for (i, v) in [(0, m.rtmr0), (1, m.rtmr1), (2, m.rtmr2)] {
        if let Some(v) = v {
            p = p.with_rtmr(i, v).map_err(|e| e.to_string())?;
        }
    }
    if tdx_unpinned(m).is_some() {
        p = p.dangerous_any_workload();
    }
    let trust = TrustPolicy::new().with_tdx(p).map_err(|e| e.to_string())?;
    Ok(trust.to_json())
}

fn initrd(a: &InitrdArgs) -> Result<(), Failure> {
    let epoch = std::env::var("SOURCE_DATE_EPOCH").unwrap_or_else(|_| "0".to_owned());
    let mtime: u32 = epoch.parse().map_err(|_| {
        Failure::Usage(format!(
            "SOURCE_DATE_EPOCH={epoch:?} is not Unix seconds that fit a cpio mtime (u32)"
        ))
    })?;
    let bytes =
        build_initrd(&a.enclave_binary, &a.enclave_config, mtime).map_err(Failure::Usage)?;
    write_atomically(&a.output, &bytes).map_err(Failure::Usage)?;
    eprintln!(
        "wrote initrd {} ({} bytes: /{INITRD_BINARY}, /{INITRD_CONFIG})",
        a.output.display(),
        bytes.len()
    );
    Ok(())
}

/// The reproducible initrd holding `binary` as `/init` and `config` as
/// `/etc/cloister/enclave-config.json` (the eif crate's cpio writer: sorted entries, zero
/// owners, fixed modes, `mtime` everywhere). The files are staged in a fresh directory under
/// the system temporary directory, removed afterwards.
pub(crate) fn build_initrd(binary: &Path, config: &Path, mtime: u32) -> Result<Vec<u8>, String> {
    use std::os::unix::fs::PermissionsExt;
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let stage = temp_sibling(&std::env::temp_dir().join(format!("cloister-initrd-{n}")));
    let result = (|| {
        let io = |what: &str, p: &Path| {
            let msg = format!("{what} {}", p.display());
            move |e: std::io::Error| format!("{msg}: {e}")
        };
        let etc = stage.join("etc/cloister");
        std::fs::create_dir_all(&etc).map_err(io("creating", &etc))?;
        let bin = stage.join(INITRD_BINARY);
        let cfg = stage.join(INITRD_CONFIG);
        std::fs::copy(binary, &bin).map_err(io("reading", binary))?;
        std::fs::copy(config, &cfg).map_err(io("reading", config))?;
        for (p, mode) in [
            (&bin, 0o755),
            (&cfg, 0o644),
            (&etc, 0o755),
            (&stage.join("etc"), 0o755),
        ] {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
                .map_err(io("setting the mode of", p))?;
        }
        let archive = cloister_eif::cpio::CpioArchive::from_dir(&stage, mtime)
            .map_err(|e| format!("archiving {}: {e}", stage.display()))?;
        let mut out = Vec::new();
        archive
            .write_to(&mut out)
            .map_err(|e| format!("archiving {}: {e}", stage.display()))?;
        Ok(out)
    })();
    let _ = std::fs::remove_dir_all(&stage);
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use cloister_measure::snp::{Section, SectionKind, SevLayout, Vmm};
    use cloister_measure::tdx::TdxMeasurements;

    /// A firmware known by its metadata: SEC memory, secrets, CPUID and a kernel hashes page
    /// whose table sits at offset 0xc00 (AmdSevX64's layout).
    fn amdsev_like() -> SevLayout {
        let s = |gpa, size, kind| Section::new("amdsev", gpa, size, kind).unwrap();
        SevLayout::new(
            "amdsev",
            vec![
                s(0x80_0000, 0x9000, SectionKind::SecMemory),
                s(0x80_d000, 0x1000, SectionKind::Secrets),
                s(0x80_e000, 0x1000, SectionKind::Cpuid),
                s(0x81_0000, 0x1000, SectionKind::KernelHashes),
            ],
            Some(0x80_b004),
            Some(0x81_0c00),
        )
    }

    #[test]
    fn regression_issue_19_one_config_byte_changes_the_snp_measurement() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("cloister-enclave");
        std::fs::write(&bin, b"\x7fELF enclave").unwrap();
        let config = |byte: u8| {
            let p = dir.path().join(format!("config-{byte}.json"));
            let mut c = br#"{"custodian_key":"00","log_level":"warn"}"#.to_vec();
            c[19] = byte;
            std::fs::write(&p, c).unwrap();
            p
        };
        let (c1, c2) = (config(b'0'), config(b'1'));
        let i1 = build_initrd(&bin, &c1, 0).unwrap();
        let i1_again = build_initrd(&bin, &c1, 0).unwrap();
        let i2 = build_initrd(&bin, &c2, 0).unwrap();
        assert_eq!(i1, i1_again, "the initrd is reproducible");
        assert_eq!(i1.len(), i2.len());
        assert_eq!(
            i1.iter().zip(&i2).filter(|(a, b)| a != b).count(),
            1,
            "one config byte, one initrd byte"
        );
        let seed = "00".repeat(48).parse().unwrap();
        let kernel = Input::new("vmlinuz", vec![0x90; 8192]);
        let digest = |initrd: Vec<u8>| {
            let initrd = Input::new("initrd", initrd);
            SnpLaunch::from_layout(
                amdsev_like(),
                seed,
                2,
                "EPYC-v4".parse().unwrap(),
                Vmm::Qemu,
                "0x1".parse().unwrap(),
            )
            .unwrap()
            .with_kernel(&kernel, Some(&initrd), None)
            .unwrap()
            .measure()
            .unwrap()
        };
        assert_ne!(digest(i1.clone()), digest(i2));
        assert_eq!(digest(i1), digest(i1_again));
    }

    /// A 64 KiB TDX firmware: a footer table whose TDX metadata entry points at a TDVF
    /// descriptor listing an extended BFV (the last page), a 16 KiB CFV (all 0xff, so holding
    /// no variables), a TD HOB and temporary memory.
    fn tiny_tdvf() -> Vec<u8> {
        let guid = |a: u32, b: u16, c: u16, d: [u8; 8]| {
            let mut g = Vec::new();
            g.extend_from_slice(&a.to_le_bytes());
            g.extend_from_slice(&b.to_le_bytes());
            g.extend_from_slice(&c.to_le_bytes());
            g.extend_from_slice(&d);
            g
        };
        let len = 0x1_0000usize;
        let desc_at = 0x8000usize;
        let mut img = vec![0u8; len];
        img[..0x4000].fill(0xff);
        let mut table = ((len - desc_at) as u32).to_le_bytes().to_vec();
        table.extend_from_slice(&22u16.to_le_bytes());
        table.extend(guid(
            0xe47a_6535,
            0x984a,
            0x4798,
            [0x86, 0x5e, 0x46, 0x85, 0xa7, 0xbf, 0x8e, 0xc2],
        ));
        table.extend_from_slice(&(22u16 + 18).to_le_bytes());
        table.extend(guid(
            0x96b5_82de,
            0x1fb2,
            0x45f7,
            [0xba, 0xea, 0xa3, 0x66, 0xc5, 0x5a, 0x08, 0x2d],
        ));
        img[len - 32 - table.len()..len - 32].copy_from_slice(&table);
        let mut d = b"TDVF".to_vec();
        d.extend_from_slice(&(16u32 + 4 * 32).to_le_bytes());
        d.extend_from_slice(&1u32.to_le_bytes());
        d.extend_from_slice(&4u32.to_le_bytes());
        for (off, raw, gpa, size, kind, attr) in [
            (0xf000u32, 0x1000u32, 0xffff_f000u64, 0x1000u64, 0u32, 1u32),
            (0, 0x4000, 0xffff_0000, 0x4000, 1, 0),
            (0, 0, 0x80_9000, 0x2000, 2, 0),
            (0, 0, 0x80_0000, 0x6000, 3, 0),
        ] {
            d.extend_from_slice(&off.to_le_bytes());
            d.extend_from_slice(&raw.to_le_bytes());
            d.extend_from_slice(&gpa.to_le_bytes());
            d.extend_from_slice(&size.to_le_bytes());
            d.extend_from_slice(&kind.to_le_bytes());
            d.extend_from_slice(&attr.to_le_bytes());
        }
        img[desc_at..desc_at + d.len()].copy_from_slice(&d);
        img
    }

    fn tdx_args(firmware: &Path, acpi: Option<&Path>) -> TdxArgs {
        TdxArgs {
            firmware: firmware.to_owned(),
            kernel: None,
            initrd: None,
            append: None,
            memory: "2G".to_owned(),
            mrtd_order: "single".to_owned(),
            initrd_option: "append".to_owned(),
            acpi_tables: acpi.map(Path::to_owned),
            rtmr0: None,
            json: false,
            policy: None,
        }
    }

    #[test]
    fn tdx_acpi_tables_dir_gives_rtmr0_and_one_blob_byte_changes_only_it() {
        let tmp = tempfile::tempdir().unwrap();
        let fw = tmp.path().join("OVMF.fd");
        std::fs::write(&fw, tiny_tdvf()).unwrap();
        let acpi = tmp.path().join("acpi");
        std::fs::create_dir(&acpi).unwrap();

        // Without the directory: no RTMR[0], and the reason names --acpi-tables.
        let plain = tdx_measure(&tdx_args(&fw, None)).unwrap();
        assert_eq!(plain.rtmr0, None);
        assert!(tdx_unpinned(&plain).unwrap().contains("--acpi-tables"));

        // An empty directory: a typed error naming the missing blob.
        let Err(MeasureError::Rtmr0InputMissing { file, .. }) =
            tdx_measure(&tdx_args(&fw, Some(&acpi)))
        else {
            panic!("expected measure.tdx.rtmr0_input_missing");
        };
        assert_eq!(file, "table-loader");

        let mut rsdp = b"RSD PTR ".to_vec();
        rsdp.resize(20, 0);
        std::fs::write(acpi.join("table-loader"), [0u8; 128]).unwrap();
        std::fs::write(acpi.join("rsdp"), &rsdp).unwrap();
        std::fs::write(acpi.join("tables"), b"FACS DSDT 1").unwrap();
        let a = tdx_measure(&tdx_args(&fw, Some(&acpi))).unwrap();
        std::fs::write(acpi.join("tables"), b"FACS DSDT 2").unwrap();
        let b = tdx_measure(&tdx_args(&fw, Some(&acpi))).unwrap();
        assert!(a.rtmr0.is_some() && b.rtmr0.is_some());
        assert_ne!(a.rtmr0, b.rtmr0);
        assert_eq!(
            (a.mrtd, a.rtmr1, a.rtmr2),
            (plain.mrtd, plain.rtmr1, plain.rtmr2)
        );
        assert_eq!((a.mrtd, a.rtmr1, a.rtmr2), (b.mrtd, b.rtmr1, b.rtmr2));
        assert_eq!(a.rtmr0_events.len(), 13);
        assert_eq!(a.rtmr0_defaults, ["BootOrder", "Boot0000"]);
        // Without a kernel RTMR[1] and RTMR[2] stay unpinned, but RTMR[0] no longer is.
        let why = tdx_unpinned(&a).unwrap();
        assert!(!why.contains("RTMR[0]"), "{why}");
        // With a kernel's registers too, the policy pins all four and loads as it is.
        let full = TdxOutput {
            rtmr1: Some([2; 48]),
            rtmr2: Some([3; 48]),
            ..a
        };
        let json = tdx_policy_json(&full).unwrap();
        assert!(!json.contains("dangerous_any_workload"), "{json}");
        assert!(json.contains(&hex::encode(full.rtmr0.unwrap())), "{json}");
    }

    #[test]
    fn tdx_acpi_tables_and_rtmr0_conflict() {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(subcommand)]
            cmd: MeasureCommand,
        }
        let args = |extra: &[&str]| {
            let mut v = vec!["t", "tdx", "--firmware", "f", "--memory", "2G"];
            v.extend_from_slice(extra);
            <Cli as clap::Parser>::try_parse_from(v)
        };
        assert!(args(&["--acpi-tables", "d"]).is_ok());
        let h = "00".repeat(48);
        assert!(args(&["--acpi-tables", "d", "--rtmr0", &h]).is_err());
    }

    #[test]
    fn tdx_policy_pins_what_is_known_and_says_the_rest() {
        let m = TdxMeasurements {
            mrtd: [1; 48],
            rtmr0: None,
            rtmr1: Some([2; 48]),
            rtmr2: Some([3; 48]),
        };
        let out = TdxOutput {
            mrtd: m.mrtd,
            rtmr0: m.rtmr0,
            rtmr1: m.rtmr1,
            rtmr2: m.rtmr2,
            rtmr0_events: Vec::new(),
            rtmr0_defaults: Vec::new(),
        };
        let json = tdx_policy_json(&out).unwrap();
        let trust = TrustPolicy::from_json(json.as_bytes()).unwrap();
        assert!(trust.tdx().is_some());
        assert!(json.contains("\"dangerous_any_workload\": true"), "{json}");
        assert!(json.contains(&"02".repeat(48)) && json.contains(&"03".repeat(48)));
        assert!(tdx_unpinned(&out).unwrap().contains("RTMR[0]"));
        let full = TdxOutput {
            rtmr0: Some([4; 48]),
            ..out
        };
        let json = tdx_policy_json(&full).unwrap();
        assert!(!json.contains("dangerous_any_workload"), "{json}");
        assert!(tdx_unpinned(&full).is_none());
    }
}
