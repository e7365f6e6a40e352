//! TDX known answers and bad input.
//!
//! The MRTD of Debian bookworm's `ovmf` 2022.11-6+deb12u2 `/usr/share/ovmf/OVMF.fd` (sha256
//! pinned below; scripts/measure-oracles.sh installs it with apt-get): both orders, as td-shim's
//! `td_shim_tee_info_hash.py` and a transcription of dstack-mr's algorithm compute them
//! (`../shared/research/measure.md` section 3; not checked against hardware). Its SEV-SNP digest
//! (1 vCPU, EPYC-v4, 0x1, QEMU, no kernel) is sev-snp-measure 0.0.13's.

// Helpers outside `#[test]` functions panic on failure too: that is the report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use cloister_measure::Input;
use cloister_measure::snp::{Ovmf, SnpLaunch, Vmm};
use cloister_measure::tdx::{InitrdOption, MrtdOrder, TdxLaunch};
use sha2::Digest;

const DEBIAN_OVMF_SHA256: &str = "7b456907dd0786d415999e801a1ac4637b8ed4d7cf5378cfc6edbe5e574dd773";

#[test]
fn debian_bookworm_ovmf_known_answers() {
    let Some(path) = common::oracle("CLOISTER_DEBIAN_OVMF", "debian_bookworm_ovmf_known_answers")
    else {
        return;
    };
    let fw = Input::read(&path).unwrap();
    assert_eq!(
        hex::encode(sha2::Sha256::digest(fw.bytes())),
        DEBIAN_OVMF_SHA256,
        "{} is not Debian bookworm's OVMF.fd 2022.11-6+deb12u2",
        path.display()
    );
    let td = TdxLaunch::new(&fw, 2 << 30).unwrap();
    // research/measure.md: bookworm single-pass 4c7206f0…1c47, two-pass acccbcc8…f7e1.
    assert_eq!(
        hex::encode(td.measure(MrtdOrder::SinglePass).unwrap().mrtd),
        "4c7206f0f483c524f12c366c711e9049030a8d47c471ee5aa9c4999a08de4057fb887fed0744d5631a212967fb231c47"
    );
    assert_eq!(
        hex::encode(td.measure(MrtdOrder::TwoPass).unwrap().mrtd),
        "acccbcc870a381adab0d3919d90a7f268ac3b0364771f202ed4bb4e892d045b33db3b32e6924cba830a724eed443f7e1"
    );
    // The same file has SEV metadata: sev-snp-measure 0.0.13 gives 11570979…97e3.
    let ovmf = Ovmf::parse(fw.clone()).unwrap();
    let launch = SnpLaunch::new(
        &ovmf,
        1,
        "EPYC-v4".parse().unwrap(),
        Vmm::Qemu,
        "0x1".parse().unwrap(),
    )
    .unwrap();
    assert_eq!(
        hex::encode(launch.measure().unwrap()),
        "11570979c77a0adb515761a702527c8b9e11554e730552621d950988613a3a75c6ff1703f540bd22a9beede8fe7a97e3"
    );
    // But no SNP_KERNEL_HASHES section: measured direct boot is refused, naming the file.
    let k = Input::new("vmlinuz", vec![]);
    let err = launch.with_kernel(&k, None, None).unwrap_err();
    assert_eq!(err.code(), "measure.snp.no_kernel_hashes");
    assert!(err.to_string().contains("OVMF.fd"), "{err}");
}

#[test]
fn firmware_without_tdx_metadata_is_a_typed_error() {
    let dir = common::sev_fixture_dir();
    // The AmdSev suffix is the last 4 KiB of an image: its TDX entry points before the suffix.
    let amdsev = Input::read(&dir.join("ovmf_AmdSev_suffix.bin")).unwrap();
    let err = TdxLaunch::new(&amdsev, 2 << 30).unwrap_err();
    assert_eq!(err.code(), "measure.tdx.bad_metadata");
    assert!(err.to_string().contains("ovmf_AmdSev_suffix.bin"), "{err}");
    let zeros = Input::new("OVMF_VARS.fd", vec![0; 8192]);
    let err = TdxLaunch::new(&zeros, 2 << 30).unwrap_err();
    assert_eq!(err.code(), "measure.tdx.no_tdvf_metadata");
    assert!(err.to_string().contains("OVMF_VARS.fd"), "{err}");
}

#[test]
fn kernel_too_small_for_a_bzimage_is_a_typed_error() {
    let Some(path) = common::oracle(
        "CLOISTER_DEBIAN_OVMF",
        "kernel_too_small_for_a_bzimage_is_a_typed_error",
    ) else {
        return;
    };
    let fw = Input::read(&path).unwrap();
    let kernel = Input::new("tiny-vmlinuz", vec![0u8; 100]);
    let err = TdxLaunch::new(&fw, 2 << 30)
        .unwrap()
        .with_kernel(&kernel, None, "console=hvc0", InitrdOption::Appended)
        .unwrap_err();
    assert_eq!(err.code(), "measure.kernel.not_bzimage");
    assert!(err.to_string().contains("tiny-vmlinuz"), "{err}");
}

#[test]
fn debian_bookworm_ovmf_rtmr0_fixed_events() {
    let Some(path) = common::oracle(
        "CLOISTER_DEBIAN_OVMF",
        "debian_bookworm_ovmf_rtmr0_fixed_events",
    ) else {
        return;
    };
    let fw = Input::read(&path).unwrap();
    let mut rsdp = b"RSD PTR ".to_vec();
    rsdp.resize(20, 0);
    let inputs = cloister_measure::tdx::Rtmr0Inputs::new(&[0; 128], &rsdp, b"tables").unwrap();
    let ev = TdxLaunch::new(&fw, 2 << 30)
        .unwrap()
        .with_rtmr0(inputs)
        .rtmr0_events()
        .unwrap()
        .unwrap();
    assert_eq!(ev.len(), 13);
    // The CFV is the firmware's own 0x20000-byte empty variable store (not the 0x84000-byte
    // store of 4 MiB builds, 344bc51c…6790): computed with Python's hashlib from the file.
    assert_eq!(
        hex::encode(ev[1]),
        "f87302177b059d54a2cf0c5f13340dbabf5c9dd60dc3f996c68b776fbe4de959769443a3d8ef6538b97d7e151c8298e8"
    );
    // SecureBoot and the separator, as a real TD's log records them.
    assert_eq!(
        hex::encode(ev[2]),
        "9dc3a1f80bcec915391dcda5ffbb15e7419f77eab462bbf72b42166fb70d50325e37b36f93537a863769bcf9bedae6fb"
    );
    assert_eq!(
        hex::encode(ev[7]),
        "394341b7182cd227c5c6b07ef8000cdfd86136c4292b8e576573ad7ed9ae41019f5818b4b971c9effc60e1ad9f1289f0"
    );
}
