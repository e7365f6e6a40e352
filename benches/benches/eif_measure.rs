//! `eif-measure-gbps`: PCR0/1/2 of a 512 MiB EIF made here, measured by `cloister-eif` (one
//! streaming read, two hash threads), next to `sha384-pass-gbps`, one plain SHA-384 pass over
//! the same file (the floor: PCR0 alone needs one full pass). Target: measure ≥ 0.9× pass.
//!
//! Peer: AWS's `aws-nitro-enclaves-image-format` (0.8) has a non-optional `openssl`
//! dependency (and pulls the AWS KMS SDK), so it cannot be a dependency here (no OpenSSL in
//! this project) and `eif-measure-peer-aws-gbps` is not reported.
//!
//! Run: `cargo bench --release -p cloister-benches --bench eif_measure` (or `scripts/bench.sh`).
//! Both figures are best-of-N wall-clock throughputs with the file in the page cache.

use std::io::{BufWriter, Read, Write};
use std::path::Path;
use std::time::Instant;

use cloister_attestation::nitro::pcr::NitroMeasurer;
use cloister_eif::{EifBuilder, IdentityInfo, SectionSource};

const MIB: u64 = 1 << 20;
const RUNS: usize = 3;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let image = dir.path().join("bench.eif");
    let len = make_image(dir.path(), &image)?;
    let gb = len as f64 / 1e9;

    let mut pass = f64::MAX;
    let mut measure = f64::MAX;
    let mut pcr0 = [0u8; 48];
    for _ in 0..RUNS {
        let t = Instant::now();
        let digest = sha384_pass(&image)?;
        pass = pass.min(t.elapsed().as_secs_f64());
        std::hint::black_box(digest);

        let t = Instant::now();
        let inspection = cloister_eif::inspect_file(&image)?;
        measure = measure.min(t.elapsed().as_secs_f64());
        pcr0 = inspection.pcrs().pcr0;
    }
    let figures = vec![
        ("eif-measure-gbps".to_owned(), gb / measure),
        ("sha384-pass-gbps".to_owned(), gb / pass),
    ];
    println!(
        "eif_measure: {} MiB image, PCR0 {}…",
        len / MIB,
        hex::encode(&pcr0[..8])
    );
    for (k, v) in &figures {
        println!("  {k:<20} {v:.2} GB/s");
    }
    println!(
        "  ratio measure/pass   {:.2} (target ≥ 0.90)",
        pass / measure
    );
    let path = cloister_benches::summary::merge(&figures)?;
    println!("  merged into {}", path.display());
    Ok(())
}

/// One plain SHA-384 (Nitro measurement) pass over the whole file.
fn sha384_pass(path: &Path) -> std::io::Result<[u8; 48]> {
    let mut f = std::fs::File::open(path)?;
    let mut m = NitroMeasurer::new();
    let mut buf = vec![0u8; MIB as usize];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(m.finish());
        }
        m.update(&buf[..n]);
    }
}

/// A 512 MiB image: 16 MiB kernel, 32 MiB bootstrap ramdisk, the rest an application ramdisk.
fn make_image(dir: &Path, out: &Path) -> Result<u64, Box<dyn std::error::Error>> {
    let parts = [("kernel", 16 * MIB), ("rd0", 32 * MIB), ("rd1", 464 * MIB)];
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for (name, size) in parts {
        let mut w = BufWriter::new(std::fs::File::create(dir.join(name))?);
        let mut block = vec![0u8; MIB as usize];
        for _ in 0..size / MIB {
            for word in block.chunks_exact_mut(8) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                word.copy_from_slice(&state.to_le_bytes());
            }
            w.write_all(&block)?;
        }
        w.flush()?;
    }
    let built = EifBuilder::new(
        SectionSource::file(&dir.join("kernel"))?,
        "console=ttyS0",
        IdentityInfo::reproducible("bench", "1", 0),
    )
    .ramdisk(SectionSource::file(&dir.join("rd0"))?)
    .ramdisk(SectionSource::file(&dir.join("rd1"))?)
    .write(BufWriter::new(std::fs::File::create(out)?), &mut |_| {})?;
    for (name, _) in parts {
        std::fs::remove_file(dir.join(name))?;
    }
    Ok(built.len)
}
