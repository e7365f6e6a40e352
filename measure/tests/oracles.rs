//! Differential tests: the same inputs through cloister-measure, virtee/sev's own measurement
//! (the `sev` crate, `snp` + `crypto_nossl`, no OpenSSL) and sev-snp-measure from PyPI (in the
//! virtual environment scripts/measure-oracles.sh makes), expecting the same digest.
//!
//! Where the oracles disagree, on EC2's RDX: sev-snp-measure 0.0.13 puts 0x600 in RDX (its PR
//! #60, 2026-04, matched on a c6a.xlarge), virtee/sev 8.0.0 puts 0. `--vmm ec2` follows
//! sev-snp-measure; `--vmm ec2-legacy` follows virtee/sev 8.0.0 (guests launched before EC2's
//! change). Both are checked here against the oracle whose convention they follow.

// Helpers outside `#[test]` functions panic on failure too: that is the report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};

use cloister_measure::snp::{Ovmf, SnpLaunch, Vmm};
use cloister_measure::{Cmdline, Input};
use sev::measurement::snp::{SnpMeasurementArgs, snp_calc_launch_digest};
use sev::measurement::vcpu_types::CpuType;
use sev::measurement::vmsa::{GuestFeatures, VMMType};

struct Case {
    ovmf: PathBuf,
    vcpus: u32,
    features: u64,
    vmm: Vmm,
    kernel: Option<(PathBuf, PathBuf, Option<&'static str>)>,
}

fn ours(c: &Case) -> String {
    let ovmf = Ovmf::parse(Input::read(&c.ovmf).unwrap()).unwrap();
    let features = format!("{:#x}", c.features).parse().unwrap();
    let mut l =
        SnpLaunch::new(&ovmf, c.vcpus, "EPYC-v4".parse().unwrap(), c.vmm, features).unwrap();
    let inputs = c.kernel.as_ref().map(|(k, i, a)| {
        (
            Input::read(k).unwrap(),
            Input::read(i).unwrap(),
            a.map(|a| Cmdline::new(a, 2048).unwrap()),
        )
    });
    if let Some((k, i, a)) = &inputs {
        l = l.with_kernel(k, Some(i), a.as_ref()).unwrap();
    }
    hex::encode(l.measure().unwrap())
}

fn sev_crate(c: &Case) -> String {
    let args = SnpMeasurementArgs {
        vcpus: c.vcpus,
        vcpu_type: CpuType::EpycV4,
        ovmf_file: c.ovmf.clone(),
        guest_features: GuestFeatures(c.features),
        kernel_file: c.kernel.as_ref().map(|k| k.0.clone()),
        initrd_file: c.kernel.as_ref().map(|k| k.1.clone()),
        append: c.kernel.as_ref().and_then(|k| k.2),
        ovmf_hash_str: None,
        vmm_type: Some(match c.vmm {
            Vmm::Qemu => VMMType::QEMU,
            Vmm::Ec2Legacy => VMMType::EC2,
            other => panic!("virtee/sev 8.0.0 has no {other} convention"),
        }),
    };
    snp_calc_launch_digest(args).unwrap().get_hex_ld()
}

fn sev_snp_measure(tool: &Path, c: &Case) -> String {
    let mut cmd = std::process::Command::new(tool);
    cmd.args(["--mode", "snp", "--vcpu-type", "EPYC-v4"])
        .arg(format!("--vcpus={}", c.vcpus))
        .arg(format!("--guest-features={:#x}", c.features))
        .arg(format!(
            "--vmm-type={}",
            match c.vmm {
                Vmm::Qemu => "QEMU",
                Vmm::Ec2 => "ec2",
                Vmm::Gce => "gce",
                Vmm::Ec2Legacy => panic!("sev-snp-measure 0.0.13 has no RDX-0 EC2 convention"),
            }
        ))
        .arg("--ovmf")
        .arg(&c.ovmf);
    if let Some((k, i, a)) = &c.kernel {
        cmd.arg("--kernel").arg(k).arg("--initrd").arg(i);
        if let Some(a) = a {
            cmd.arg(format!("--append={a}"));
        }
    }
    let out = cmd.output().expect("running sev-snp-measure");
    assert!(
        out.status.success(),
        "sev-snp-measure: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A kernel and initrd of a few pages with distinct bytes, so the hashes table is not the
/// empty-file one the crate fixtures use.
fn boot_files(dir: &Path) -> (PathBuf, PathBuf) {
    let k = dir.join("vmlinuz");
    let i = dir.join("initrd.cpio");
    std::fs::write(
        &k,
        (0..20_000u32).map(|v| (v % 251) as u8).collect::<Vec<_>>(),
    )
    .unwrap();
    std::fs::write(&i, b"cloister enclave config: {\"log_level\":\"warn\"}").unwrap();
    (k, i)
}

#[test]
fn sev_crate_agrees_on_qemu_and_legacy_ec2() {
    let dir = common::sev_fixture_dir();
    let tmp = tempfile::tempdir().unwrap();
    let (k, i) = boot_files(tmp.path());
    let amdsev = dir.join("ovmf_AmdSev_suffix.bin");
    for (vcpus, features, vmm, append) in [
        (
            1,
            0x1,
            Vmm::Qemu,
            Some("console=ttyS0 cloister.config=initrd"),
        ),
        (3, 0x21, Vmm::Qemu, None),
        (2, 0x1, Vmm::Ec2Legacy, Some("quiet")),
    ] {
        let c = Case {
            ovmf: amdsev.clone(),
            vcpus,
            features,
            vmm,
            kernel: Some((k.clone(), i.clone(), append)),
        };
        assert_eq!(ours(&c), sev_crate(&c), "{vcpus} vCPU {features:#x} {vmm}");
    }
    let c = Case {
        ovmf: dir.join("ovmf_OvmfX64_suffix.bin"),
        vcpus: 2,
        features: 0x1,
        vmm: Vmm::Qemu,
        kernel: None,
    };
    assert_eq!(ours(&c), sev_crate(&c));
}

#[test]
fn sev_snp_measure_agrees_on_qemu_ec2_and_gce() {
    let Some(tool) = common::oracle(
        "CLOISTER_SEV_SNP_MEASURE",
        "sev_snp_measure_agrees_on_qemu_ec2_and_gce",
    ) else {
        return;
    };
    let dir = common::sev_fixture_dir();
    let tmp = tempfile::tempdir().unwrap();
    let (k, i) = boot_files(tmp.path());
    let amdsev = dir.join("ovmf_AmdSev_suffix.bin");
    for (vcpus, features, vmm, append) in [
        (
            1,
            0x1,
            Vmm::Qemu,
            Some("console=ttyS0 cloister.config=initrd"),
        ),
        (4, 0x21, Vmm::Qemu, None),
        // `--vmm ec2` is sev-snp-measure's convention (RDX 0x600).
        (2, 0x1, Vmm::Ec2, Some("quiet")),
        (2, 0x1, Vmm::Gce, None),
    ] {
        let c = Case {
            ovmf: amdsev.clone(),
            vcpus,
            features,
            vmm,
            kernel: Some((k.clone(), i.clone(), append)),
        };
        assert_eq!(
            ours(&c),
            sev_snp_measure(&tool, &c),
            "{vcpus} vCPU {features:#x} {vmm}"
        );
    }
    if let Some(debian) = common::oracle(
        "CLOISTER_DEBIAN_OVMF",
        "sev_snp_measure_agrees_on_qemu_ec2_and_gce (Debian OVMF)",
    ) {
        for vmm in [Vmm::Qemu, Vmm::Ec2, Vmm::Gce] {
            let c = Case {
                ovmf: debian.clone(),
                vcpus: 2,
                features: 0x1,
                vmm,
                kernel: None,
            };
            assert_eq!(ours(&c), sev_snp_measure(&tool, &c), "Debian OVMF {vmm}");
        }
    }
}
