//! `cloister measure snp | tdx | initrd`: the launch measurements a SEV-SNP or TDX guest will
//! report, computed from the images it boots (the `cloister-measure` crate), and the trust
//! policy entry that pins them. `initrd` packs the enclave binary and its configuration into a
//! reproducible initrd, so that the measurements cover the configuration.

use std::path::{Path, PathBuf};

use cloister_attestation::{SnpPolicy, TdxPolicy, TrustPolicy};
use cloister_measure::snp::{Ovmf, OvmfSeed, SnpLaunch};
use cloister_measure::tdx::{InitrdOption, MrtdOrder, TdxLaunch};
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
    /// TDX: MRTD, and for direct kernel boot RTMR[1] and RTMR[2]. RTMR[0] is not computed: it
    /// records QEMU's ACPI tables and TD HOB, which change with the QEMU version, machine type,
    /// memory, vCPUs and devices; pin it with --rtmr0 from a TD started with exactly the
    /// production configuration, or the policy leaves it unpinned.
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
    /// RTMR[0] as read from a TD started with exactly the production QEMU version, machine,
    /// memory, vCPUs and devices (96 hex); pinned in the policy as given.
    #[arg(long, value_name = "HEX")]
    rtmr0: Option<String>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Also write a trust policy whose tdx entry pins MRTD, RTMR[1], RTMR[2] (and RTMR[0] with
    /// --rtmr0).
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
        rtmr0,
        rtmr1: m.rtmr1,
        rtmr2: m.rtmr2,
    })
}

/// Why the policy does not pin everything it should, or `None` when it pins MRTD and RTMR0-2.
fn tdx_unpinned(m: &TdxOutput) -> Option<String> {
    let mut why = Vec::new();
    if m.rtmr0.is_none() {
        why.push(
            "RTMR[0] (QEMU's ACPI tables and TD HOB vary with the QEMU version, machine, memory, \
             vCPUs and devices: give --rtmr0 from a TD with exactly the production configuration)",
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

    #[test]
    fn tdx_policy_pins_what_is_known_and_says_the_rest() {
        let m = TdxMeasurements {
            mrtd: [1; 48],
            rtmr1: Some([2; 48]),
            rtmr2: Some([3; 48]),
        };
        let out = TdxOutput {
            mrtd: m.mrtd,
            rtmr0: None,
            rtmr1: m.rtmr1,
            rtmr2: m.rtmr2,
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
