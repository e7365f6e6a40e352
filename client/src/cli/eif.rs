//! `cloister eif describe | build | extract`: Nitro enclave images (the `cloister-eif` crate).

use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};

use cloister_attestation::{NitroPolicy, TrustPolicy};
use cloister_eif::section::SectionKind;
use cloister_eif::{
    Arch, Description, EifBuilder, EifError, IdentityInfo, Inspection, SectionSource, SigningKey,
};

use super::{Outcome, temp_sibling, write_atomically};

/// Images smaller than this build without a progress bar.
const PROGRESS_MIN_BYTES: u64 = 4 << 20;

/// `cloister eif` subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum EifCommand {
    /// Check an image (structure, CRC, signature) and print its PCRs, as `nitro-cli describe-eif`.
    Describe(DescribeArgs),
    /// Build a reproducible image from a kernel, a command line and ramdisks (files or dirs).
    Build(BuildArgs),
    /// Write an image's kernel, cmdline, ramdisks, metadata and signature out as files.
    Extract(ExtractArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct DescribeArgs {
    /// The EIF file.
    file: PathBuf,
    /// Print the nitro-cli `describe-eif` JSON document.
    #[arg(long)]
    json: bool,
    /// Also write a trust policy whose nitro entry pins PCR0, PCR1, PCR2 (and PCR8 if signed)
    /// to this file, for `cloister infer --policy` and `cloister attest verify --policy`.
    #[arg(long, value_name = "OUT")]
    policy: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub(crate) struct BuildArgs {
    /// Kernel image (bzImage on x86_64, Image on aarch64).
    #[arg(long, value_name = "FILE")]
    kernel: PathBuf,
    /// Kernel command line (stored without a NUL terminator).
    #[arg(long, value_name = "STR")]
    cmdline: String,
    /// A ramdisk: a cpio file, or a directory archived reproducibly. Repeat; the first is the
    /// bootstrap ramdisk (PCR1), the rest are the application (PCR2).
    #[arg(long, value_name = "DIR_OR_CPIO", required = true)]
    ramdisk: Vec<PathBuf>,
    /// P-384 private key (PEM) to sign the image with; needs --sign-cert.
    #[arg(long, value_name = "KEY", requires = "sign_cert")]
    sign_key: Option<PathBuf>,
    /// Certificate (PEM) of --sign-key; PCR8 measures it.
    #[arg(long, value_name = "CERT", requires = "sign_key")]
    sign_cert: Option<PathBuf>,
    /// Image name in the metadata section.
    #[arg(long, default_value = "cloister-enclave")]
    name: String,
    /// Image version in the metadata section.
    #[arg(long, default_value = "0.0.0")]
    image_version: String,
    /// Kernel architecture.
    #[arg(long, value_enum, default_value = "x86-64")]
    arch: ArchArg,
    /// Output file (written whole or not at all).
    #[arg(short, long, value_name = "OUT.eif")]
    output: PathBuf,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum ArchArg {
    X86_64,
    Aarch64,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ExtractArgs {
    /// The EIF file.
    file: PathBuf,
    /// Directory to create (it must not exist, or be empty).
    dir: PathBuf,
}

/// Runs one `cloister eif` subcommand.
pub(crate) fn run(cmd: EifCommand) -> Outcome {
    let (name, result) = match cmd {
        EifCommand::Describe(a) => ("describe", describe(&a)),
        EifCommand::Build(a) => ("build", build(&a)),
        EifCommand::Extract(a) => ("extract", extract(&a)),
    };
    match result {
        Ok(outcome) => outcome,
        Err(Failure::Image(path, e)) => {
            eprintln!(
                "cloister eif {name}: {}: {e} [{}]",
                path.display(),
                e.code()
            );
            if e.is_bad_image() {
                Outcome::Rejected
            } else {
                Outcome::Error
            }
        }
        Err(Failure::Usage(msg)) => {
            eprintln!("cloister eif {name}: {msg}");
            Outcome::Error
        }
    }
}

enum Failure {
    Image(PathBuf, EifError),
    Usage(String),
}

fn at(path: &Path) -> impl FnOnce(EifError) -> Failure + '_ {
    move |e| Failure::Image(path.to_path_buf(), e)
}

fn io_at(path: &Path, what: &str) -> impl FnOnce(std::io::Error) -> Failure {
    let msg = format!("{what} {}", path.display());
    move |e| Failure::Usage(format!("{msg}: {e}"))
}

fn describe(a: &DescribeArgs) -> Result<Outcome, Failure> {
    let image = cloister_eif::inspect_file(&a.file).map_err(at(&a.file))?;
    let d = Description::of(&image);
    if a.json {
        println!("{}", d.to_json());
    } else {
        print_human(&image, &d);
    }
    if let Some(out) = &a.policy {
        let json = policy_json(&image).map_err(Failure::Usage)?;
        write_atomically(out, json.as_bytes()).map_err(Failure::Usage)?;
        eprintln!("wrote policy {}", out.display());
    }
    Ok(match image.signature_check() {
        Some(Err(e)) => {
            eprintln!(
                "cloister eif describe: signature check failed: {e} [{}]",
                e.code()
            );
            Outcome::Rejected
        }
        _ => Outcome::Ok,
    })
}

fn print_human(image: &Inspection, d: &Description) {
    let m = &d.measurements;
    println!(
        "EIF version {} ({})",
        d.eif_version,
        if d.arm_kernel { "aarch64" } else { "x86_64" }
    );
    println!("image       {} {}", d.image_name, d.image_version);
    for s in image.sections() {
        println!(
            "  {:>10} @ {:<10} {:>12} bytes",
            format!("{:?}", s.header.kind),
            s.offset,
            s.header.size
        );
    }
    println!("CRC         ok");
    println!("PCR0        {}", m.pcr0);
    println!("PCR1        {}", m.pcr1);
    println!("PCR2        {}", m.pcr2);
    if let Some(p8) = &m.pcr8 {
        println!("PCR8        {p8}");
    }
    match image.signature_check() {
        None => println!("signature   none"),
        Some(Ok(())) => println!("signature   valid (ES384 over PCR0)"),
        Some(Err(e)) => println!("signature   INVALID: {e}"),
    }
}

/// The trust policy accepting only Nitro enclaves running this image.
fn policy_json(image: &Inspection) -> Result<String, String> {
    let p = image.pcrs();
    let mut policy = NitroPolicy::default();
    let mut pins = vec![(0, p.pcr0), (1, p.pcr1), (2, p.pcr2)];
    pins.extend(p.pcr8.map(|v| (8, v)));
    for (i, v) in pins {
        policy = policy.with_pcr(i, v).map_err(|e| e.to_string())?;
    }
    let trust = TrustPolicy::new()
        .with_nitro(policy)
        .map_err(|e| e.to_string())?;
    Ok(trust.to_json())
}

fn build(a: &BuildArgs) -> Result<Outcome, Failure> {
    let epoch = source_date_epoch().map_err(Failure::Usage)?;
    let mtime = u32::try_from(epoch).map_err(|_| {
        Failure::Usage(format!(
            "SOURCE_DATE_EPOCH={epoch} does not fit a cpio mtime (u32)"
        ))
    })?;
    let kernel = SectionSource::file(&a.kernel).map_err(at(&a.kernel))?;
    let meta = IdentityInfo::reproducible(&a.name, &a.image_version, epoch);
    let mut b = EifBuilder::new(kernel, &a.cmdline, meta).arch(match a.arch {
        ArchArg::X86_64 => Arch::X86_64,
        ArchArg::Aarch64 => Arch::Aarch64,
    });
    for r in &a.ramdisk {
        b = b.ramdisk(SectionSource::file_or_dir(r, mtime).map_err(at(r))?);
    }
    if let (Some(k), Some(c)) = (&a.sign_key, &a.sign_cert) {
        let key = std::fs::read(k).map_err(io_at(k, "reading --sign-key"))?;
        let cert = std::fs::read(c).map_err(io_at(c, "reading --sign-cert"))?;
        b = b.sign_with(SigningKey::from_pem(&key, &cert).map_err(at(k))?);
    }
    let tmp = temp_sibling(&a.output);
    let file = File::create(&tmp).map_err(io_at(&tmp, "creating"))?;
    let total = b.data_len();
    let bar = (total > PROGRESS_MIN_BYTES && std::io::stderr().is_terminal()).then(|| {
        let bar = indicatif::ProgressBar::new(total);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {bytes}/{total_bytes} {bytes_per_sec}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let mut progress = |n: u64| {
        if let Some(bar) = &bar {
            bar.set_position(n);
        }
    };
    let written = b
        .write(BufWriter::with_capacity(1 << 20, file), &mut progress)
        .and_then(|o| {
            File::open(&tmp)?.sync_all()?;
            Ok(o)
        });
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let built = match written {
        Ok(b) => b,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(Failure::Image(a.output.clone(), e));
        }
    };
    std::fs::rename(&tmp, &a.output).map_err(io_at(&a.output, "renaming into place"))?;
    let p = built.pcrs;
    let mut m = serde_json::json!({
        "HashAlgorithm": "Sha384 { ... }",
        "PCR0": hex::encode(p.pcr0),
        "PCR1": hex::encode(p.pcr1),
        "PCR2": hex::encode(p.pcr2),
    });
    if let (Some(p8), Some(obj)) = (p.pcr8, m.as_object_mut()) {
        obj.insert("PCR8".into(), hex::encode(p8).into());
    }
    eprintln!("wrote {} ({} bytes)", a.output.display(), built.len);
    let doc = serde_json::json!({ "Measurements": m });
    println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    Ok(Outcome::Ok)
}

/// `SOURCE_DATE_EPOCH` (reproducible-builds.org), or 0.
fn source_date_epoch() -> Result<i64, String> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Err(_) => Ok(0),
        Ok(s) => s
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|v| *v >= 0)
            .ok_or_else(|| {
                format!("SOURCE_DATE_EPOCH={s:?} is not a non-negative integer (Unix seconds)")
            }),
    }
}

fn extract(a: &ExtractArgs) -> Result<Outcome, Failure> {
    if let Ok(mut entries) = std::fs::read_dir(&a.dir)
        && entries.next().is_some()
    {
        return Err(Failure::Usage(format!(
            "{} exists and is not empty",
            a.dir.display()
        )));
    }
    let tmp = temp_sibling(&a.dir);
    std::fs::create_dir_all(&tmp).map_err(io_at(&tmp, "creating"))?;
    let result = extract_into(&a.file, &tmp);
    if let Err(e) = result {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    let _ = std::fs::remove_dir(&a.dir);
    std::fs::rename(&tmp, &a.dir).map_err(io_at(&a.dir, "renaming into place"))?;
    eprintln!("extracted {} into {}", a.file.display(), a.dir.display());
    Ok(Outcome::Ok)
}

fn extract_into(file: &Path, dir: &Path) -> Result<(), Failure> {
    let f = File::open(file).map_err(io_at(file, "opening"))?;
    let len = f.metadata().map_err(io_at(file, "examining"))?.len();
    let mut current: Option<(usize, BufWriter<File>)> = None;
    let mut ramdisks = 0usize;
    let image = cloister_eif::inspect(f, Some(len), |info, data| {
        if current.as_ref().map(|(i, _)| *i) != Some(info.index) {
            if let Some((_, mut w)) = current.take() {
                w.flush()?;
            }
            let name = match info.header.kind {
                SectionKind::Kernel => "kernel".to_owned(),
                SectionKind::Cmdline => "cmdline".to_owned(),
                SectionKind::Metadata => "metadata.json".to_owned(),
                SectionKind::Signature => "signature".to_owned(),
                SectionKind::Ramdisk => {
                    ramdisks += 1;
                    format!("ramdisk-{}", ramdisks - 1)
                }
            };
            current = Some((info.index, BufWriter::new(File::create(dir.join(name))?)));
        }
        if let Some((_, w)) = current.as_mut() {
            w.write_all(data)?;
        }
        Ok(())
    })
    .map_err(at(file))?;
    if let Some((_, mut w)) = current.take() {
        w.flush().map_err(io_at(dir, "writing into"))?;
    }
    // Sections with no data never reached the sink: create them empty.
    let mut n = 0usize;
    for s in image.sections() {
        let name = match s.header.kind {
            SectionKind::Kernel => "kernel".to_owned(),
            SectionKind::Cmdline => "cmdline".to_owned(),
            SectionKind::Metadata => "metadata.json".to_owned(),
            SectionKind::Signature => "signature".to_owned(),
            SectionKind::Ramdisk => {
                n += 1;
                format!("ramdisk-{}", n - 1)
            }
        };
        let path = dir.join(name);
        if !path.exists() {
            File::create(&path).map_err(io_at(&path, "creating"))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/fixtures/eif")
            .join(name)
    }

    #[test]
    fn policy_pins_the_fixture_pcrs_and_parses_back() {
        let image = cloister_eif::inspect_file(&fixture("signed.eif")).expect("signed");
        let json = policy_json(&image).expect("policy");
        let trust = TrustPolicy::from_json(json.as_bytes()).expect("accepted by attest verify");
        assert_eq!(trust.platforms(), [cloister_attestation::Platform::Nitro]);
        let policy = trust.nitro().expect("nitro entry");
        let pins: Vec<u16> = policy.pcrs().keys().copied().collect();
        assert_eq!(pins, [0, 1, 2, 8]);
        assert_eq!(policy.pcrs().get(&8), image.pcrs().pcr8.as_ref());
    }

    #[test]
    fn extract_writes_every_section() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("x");
        let a = ExtractArgs {
            file: fixture("signed.eif"),
            dir: out.clone(),
        };
        assert!(matches!(extract(&a), Ok(Outcome::Ok)));
        let read = |n: &str| std::fs::read(out.join(n)).expect(n);
        assert_eq!(
            read("kernel"),
            std::fs::read(fixture("kernel.bin")).expect("kernel")
        );
        assert_eq!(read("cmdline"), b"console=ttyS0 reboot=k panic=30");
        assert_eq!(
            read("ramdisk-1"),
            std::fs::read(fixture("ramdisk_app.bin")).expect("app")
        );
        assert_eq!(read("signature").len(), 1939);
        assert!(read("metadata.json").starts_with(b"{\"ImageName\":\"kat\""));
        // A second extraction into the now non-empty directory is refused.
        assert!(matches!(extract(&a), Err(Failure::Usage(_))));
    }

    #[test]
    fn build_twice_gives_identical_signed_images() {
        let dir = tempfile::tempdir().expect("tempdir");
        let rootfs = dir.path().join("rootfs");
        std::fs::create_dir_all(rootfs.join("bin")).expect("mkdir");
        std::fs::write(rootfs.join("init"), b"#!/bin/sh\n").expect("write");
        std::fs::write(rootfs.join("bin/app"), [1u8; 4096]).expect("write");
        let args = |out: &str| BuildArgs {
            kernel: fixture("kernel.bin"),
            cmdline: "console=ttyS0".into(),
            ramdisk: vec![fixture("ramdisk_bootstrap.bin"), rootfs.clone()],
            sign_key: None,
            sign_cert: None,
            name: "app".into(),
            image_version: "1".into(),
            arch: ArchArg::X86_64,
            output: dir.path().join(out),
        };
        assert!(matches!(build(&args("a.eif")), Ok(Outcome::Ok)));
        assert!(matches!(build(&args("b.eif")), Ok(Outcome::Ok)));
        let a = std::fs::read(dir.path().join("a.eif")).expect("a");
        assert_eq!(a, std::fs::read(dir.path().join("b.eif")).expect("b"));
        let signed = BuildArgs {
            sign_key: Some(fixture("signing_key_p384.pem")),
            sign_cert: Some(fixture("signing_cert.pem")),
            ..args("s.eif")
        };
        assert!(matches!(build(&signed), Ok(Outcome::Ok)));
        let image = cloister_eif::inspect_file(&dir.path().join("s.eif")).expect("signed");
        assert!(matches!(image.signature_check(), Some(Ok(()))));
        assert_eq!(
            image.pcrs().pcr8.map(hex::encode).as_deref(),
            Some(
                "4945f810ec4b80c73ff8238c3ac2af463de4e4ad48154ed36141bcc375fa8eb4\
                 f4f37d5f1a85d06fff3504b85dfb5d5a"
            )
        );
        assert!(!dir.path().read_dir().expect("ls").any(|e| {
            e.map(|e| e.file_name().to_string_lossy().contains(".partial"))
                .unwrap_or(false)
        }));
    }
}
