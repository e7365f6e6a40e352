//! Firmware is input too: every byte of the parts the parsers read (the footer table, the SEV
//! metadata, the TDVF descriptor), changed one at a time, gives a measurement or a typed error;
//! never a panic, and never a walk over more memory than a firmware lays out. Complements the
//! unit tests that craft the attacks by hand (`sections_larger_than_any_td_are_refused`,
//! `metadata_larger_than_any_firmware_is_refused`).

// Helpers outside `#[test]` functions panic on failure too: that is the report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use cloister_measure::snp::{Ovmf, SnpLaunch, Vmm};
use cloister_measure::tdx::{MrtdOrder, TdxLaunch};
use cloister_measure::{BzImage, Input};

/// Every mutant through every parser and computation that takes a firmware. Errors must carry
/// a `measure.` code.
fn probe(bytes: Vec<u8>) {
    let fw = Input::new("mutant.fd", bytes);
    let coded = |e: cloister_measure::MeasureError| {
        assert!(e.code().starts_with("measure."), "{e}");
    };
    match Ovmf::parse(fw.clone()) {
        Ok(ovmf) => match SnpLaunch::new(
            &ovmf,
            2,
            "EPYC-v4".parse().unwrap(),
            Vmm::Qemu,
            "0x1".parse().unwrap(),
        ) {
            Ok(launch) => {
                if let Err(e) = launch.measure() {
                    coded(e);
                }
            }
            Err(e) => coded(e),
        },
        Err(e) => coded(e),
    }
    match TdxLaunch::new(&fw, 2 << 30) {
        Ok(td) => {
            for order in [MrtdOrder::SinglePass, MrtdOrder::TwoPass] {
                if let Err(e) = td.measure(order) {
                    coded(e);
                }
            }
        }
        Err(e) => coded(e),
    }
    if let Err(e) = BzImage::parse(&fw) {
        coded(e);
    }
}

/// `base` with byte `i` replaced by each of a few values, for every `i` in `range`.
fn flip_each(base: &[u8], range: std::ops::Range<usize>) -> usize {
    let mut n = 0;
    for i in range {
        for v in [base[i] ^ 0x01, base[i] ^ 0x80, 0x00, 0xff] {
            if v == base[i] {
                continue;
            }
            let mut m = base.to_vec();
            m[i] = v;
            probe(m);
            n += 1;
        }
    }
    n
}

#[test]
fn every_byte_of_the_sev_fixture_suffixes_changed() {
    let dir = common::sev_fixture_dir();
    let started = Instant::now();
    let mut probes = 0;
    for name in ["ovmf_AmdSev_suffix.bin", "ovmf_OvmfX64_suffix.bin"] {
        let base = std::fs::read(dir.join(name)).unwrap();
        probe(base.clone());
        probes += flip_each(&base, 0..base.len());
        // Cut to every page count, and padded in front to whole pages from every cut.
        for cut in (0..base.len()).step_by(97) {
            probe(base[cut..].to_vec());
            let mut padded = vec![0u8; cut];
            padded.extend_from_slice(&base[cut..]);
            probe(padded);
            probes += 2;
        }
    }
    // Bounded work whatever the bytes say (a hostile size once meant hours of hashing).
    assert!(
        started.elapsed() < Duration::from_secs(120),
        "{probes} probes took {:?}",
        started.elapsed()
    );
}

#[test]
fn every_byte_of_debian_ovmf_metadata_changed() {
    let Some(path) = common::oracle(
        "CLOISTER_DEBIAN_OVMF",
        "every_byte_of_debian_ovmf_metadata_changed",
    ) else {
        return;
    };
    let base = std::fs::read(path).unwrap();
    let find = |sig: &[u8]| {
        base.windows(sig.len())
            .rposition(|w| w == sig)
            .unwrap_or_else(|| panic!("no {sig:?} in Debian's OVMF.fd"))
    };
    // The TDVF descriptor (16 bytes + 32 per section) and the ASEV header (16 + 12 per
    // section), read where the footer table points; and the footer table before the reset
    // vector (the last 32 bytes).
    let tdvf = find(b"TDVF");
    let asev = find(b"ASEV");
    let tail = base.len() - 0x200;
    let mut probes = 0;
    for range in [
        tdvf..tdvf + 16 + 32 * 8,
        asev..asev + 16 + 12 * 8,
        tail..base.len(),
    ] {
        // Each probe hashes the whole 2 MiB image a few times: every second byte keeps the
        // run short while still reaching every field (none is a single byte wide).
        for i in range.step_by(2) {
            let mut m = base.clone();
            m[i] ^= 0xff;
            probe(m);
            probes += 1;
        }
    }
    assert!(probes > 300, "{probes}");
}
