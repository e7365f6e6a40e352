//! Arbitrary bytes as the firmware and the kernel of `cloister measure`: the GUIDed footer
//! table, the SEV metadata, the TDVF descriptor and the bzImage header are all read from the
//! input. Must never panic, and must never walk more memory than a firmware lays out (the
//! parsers bound it, so each run stays short).
#![no_main]

use cloister_measure::snp::{Ovmf, SnpLaunch, Vmm};
use cloister_measure::tdx::{MrtdOrder, TdxLaunch};
use cloister_measure::{BzImage, Input};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Whole pages, as a firmware file is: the input is padded in front, where OVMF's volumes
    // start, so the footer table stays at the end.
    let mut image = vec![0u8; (4096 - data.len() % 4096) % 4096];
    image.extend_from_slice(data);
    let fw = Input::new("fuzz.fd", image);
    if let Ok(ovmf) = Ovmf::parse(fw.clone())
        && let (Ok(cpu), Ok(features)) = ("EPYC-v4".parse(), "0x1".parse())
        && let Ok(launch) = SnpLaunch::new(&ovmf, 1, cpu, Vmm::Qemu, features)
    {
        let _ = launch.measure();
    }
    if let Ok(td) = TdxLaunch::new(&fw, 1 << 30) {
        let _ = td.measure(MrtdOrder::SinglePass);
    }
    let kernel = Input::new("fuzz-vmlinuz", data.to_vec());
    let _ = BzImage::parse(&kernel);
});
