//! Opening a sealed model: a 1 GiB model sealed in 1 MiB chunks (the default), opened on one
//! core and on every core, next to the raw AES-256-GCM decryption of the same backend
//! (aws-lc-rs) over the same buffer in one call on one core, and next to what the memory itself
//! allows, so that a shortfall can be told apart as the code's or the machine's.
//!
//! Figures, in GB/s of plaintext (1 GiB / median time) unless they are ratios:
//!
//! | figure | what is timed |
//! |---|---|
//! | `aes256gcm-raw-gbps` | one 1 GiB AES-256-GCM message opened in place in one call, one core |
//! | `aes256gcm-raw-16mib-gbps` | the same on a 16 MiB message, which fits the shared L3 cache (48 MiB here) |
//! | `aes256gcm-raw-1mib-gbps` | the same on a 1 MiB message, which fits one core's L2 cache: the cipher's own speed |
//! | `aes256gcm-raw-into-gbps` | the 1 GiB message decrypted from its buffer into another one (`open_separate_gather`) |
//! | `memcpy-gbps` | copying 1 GiB to another buffer, one core: one read and one write per byte |
//! | `memory-rmw-gbps` | XOR-ing 1 GiB in place, one core: in-place decryption's memory traffic with no cipher |
//! | `memcpy-gbps-all-cores` | `memcpy-gbps` split over every core |
//! | `unseal-gbps` | the sealed body opened in place chunk by chunk (`ChunkOpener::open_next`), one core |
//! | `unseal-gbps-all-cores` | the same on every core, one contiguous range of chunks per core (`open_at`) |
//! | `unseal-interleaved-gbps-all-cores` | the same with chunks dealt round-robin |
//! | `unseal-into-gbps`, `unseal-into-gbps-all-cores` | the library's path (`ChunkOpener::open_all_into`, as `Unsealer::open_into_parallel` runs it): every chunk decrypted from the read-only sealed bytes straight into the output buffer, on one thread and on every core |
//! | `unseal-into-cold-gbps-all-cores` | the same into a fresh, never-touched buffer: page faults and the kernel zeroing every page are in the timing |
//!
//! and the ratios `unseal-all-cores-vs-one`, `unseal-vs-raw`, `unseal-into-all-cores-vs-one`,
//! `unseal-into-vs-raw-into`, `raw-vs-memcpy`, `raw-vs-rmw` and `raw-1gib-vs-16mib`.
//!
//! The in-place figures (`unseal-gbps*`, `aes256gcm-raw-gbps`) do not time the copy that
//! refills the buffer between rounds; the `-into` figures need none. Copying each chunk into the
//! output buffer and opening it there (the unsealer's former path) measured slower than
//! decrypting straight into it, so it is not repeated here.
//!
//! Transparent huge pages cannot be requested in code without `unsafe` (`madvise`) or a new
//! dependency (`memmap2`'s safe `advise`). glibc requests them for every large allocation when
//! the binary runs with `GLIBC_TUNABLES=glibc.malloc.hugetlb=1`; the bench prints whether that is
//! set and how much of its memory the kernel backed with huge pages (`AnonHugePages`) before and
//! after the timed rounds (the kernel may split them meanwhile). On the KVM guest this was
//! written on they raised no figure, and the 1 GiB copy got slower.
//!
//! Wall-clock figures on a shared machine: compare ratios within one run.
#![allow(
    clippy::expect_used,
    reason = "measurement code: a failed setup step aborts the benchmark run"
)]

use std::hint::black_box;
use std::num::NonZeroUsize;
use std::time::Instant;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use cloister_proto::sealed::{
    ChunkOpener, DEFAULT_CHUNK_SIZE, DataKey, SealedHeader, TAG_LEN, seal,
};

const MODEL_LEN: usize = 1 << 30;
const ROUNDS: usize = 5;
/// Rounds of the cache-resident raw figures (16 MiB and 1 MiB).
const SMALL_ROUNDS: usize = 64;

fn main() {
    let cores = std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN);
    let dek = DataKey::from_bytes([0x42; 32]);
    let raw_key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, dek.expose()).expect("key"));
    let plain: Vec<u8> = (0..MODEL_LEN).map(|i| (i % 251) as u8).collect();
    let header = SealedHeader::new(
        "bench",
        DEFAULT_CHUNK_SIZE,
        MODEL_LEN as u64,
        [1; 48],
        [2; 7],
    )
    .expect("header");
    let sealed = seal(&dek, &header, &plain).expect("seal");
    let body = &sealed[header.encode().len()..];

    // Raw: one AES-256-GCM message of the same size, opened in one call.
    let mut raw = plain.clone();
    raw_key
        .seal_in_place_append_tag(raw_nonce(), Aad::empty(), &mut raw)
        .expect("raw seal");
    drop(plain);
    let (raw_ciphertext, raw_tag) = raw.split_at(MODEL_LEN);

    // Every buffer is written once before any timing, so no page faults are timed (but where
    // named).
    let mut raw_work = raw.clone();
    let mut work = body.to_vec();
    let mut out = vec![1u8; MODEL_LEN];
    let mut copy_dst = vec![1u8; MODEL_LEN];
    let huge_pages_before = anon_huge_pages();

    let mut t = Timings::default();
    for _ in 0..ROUNDS {
        // Round-robin, so load from elsewhere hits every figure alike.
        t.memcpy
            .push(time(|| copy_dst.copy_from_slice(raw_ciphertext)));
        t.memcpy_all
            .push(time(|| copy_on(&mut copy_dst, raw_ciphertext, cores)));
        t.rmw.push(time(|| xor_in_place(&mut copy_dst)));

        raw_work.copy_from_slice(&raw);
        t.raw.push(time(|| {
            raw_key
                .open_in_place(raw_nonce(), Aad::empty(), &mut raw_work)
                .expect("raw open");
        }));
        t.raw_into.push(time(|| {
            raw_key
                .open_separate_gather(raw_nonce(), Aad::empty(), raw_ciphertext, raw_tag, &mut out)
                .expect("raw open");
        }));

        work.copy_from_slice(body);
        t.one.push(time(|| {
            let mut opener = ChunkOpener::new(&dek, header.clone());
            for chunk in work.chunks_mut(DEFAULT_CHUNK_SIZE as usize + TAG_LEN) {
                opener.open_next(chunk).expect("chunk");
            }
            opener.finish().expect("complete");
        }));
        work.copy_from_slice(body);
        t.all.push(time(|| {
            open_in_place_on(&dek, &header, &mut work, cores, false);
        }));
        work.copy_from_slice(body);
        t.interleaved.push(time(|| {
            open_in_place_on(&dek, &header, &mut work, cores, true);
        }));

        for (threads, samples) in [
            (NonZeroUsize::MIN, &mut t.into_one),
            (cores, &mut t.into_all),
        ] {
            samples.push(time(|| {
                ChunkOpener::new(&dek, header.clone())
                    .open_all_into(body, &mut out, threads)
                    .expect("open");
            }));
        }
        let mut cold = Vec::new();
        t.cold.push(time(|| {
            // calloc: fresh pages, mapped and zeroed by the kernel on first write, in the timing.
            cold = vec![0u8; MODEL_LEN];
            ChunkOpener::new(&dek, header.clone())
                .open_all_into(body, &mut cold, cores)
                .expect("open");
        }));
        // Freed (unmapped) outside the timing.
        drop(black_box(cold));
    }
    black_box((&out, &work, &raw_work, &copy_dst));
    let huge_pages_after = anon_huge_pages();
    let raw_small = raw_small_gbps(&raw_key, 16 << 20);
    let raw_l2 = raw_small_gbps(&raw_key, 1 << 20);

    let figures = t.figures(raw_small, raw_l2);
    let tunables = std::env::var("GLIBC_TUNABLES").unwrap_or_else(|_| "unset".into());
    println!(
        "unseal 1 GiB, 1 MiB chunks, AES-256-GCM on aws-lc-rs, {cores} cores, median of {ROUNDS} \
         (16 MiB and 1 MiB: of {SMALL_ROUNDS})"
    );
    println!(
        "huge pages backing this process: {huge_pages_before} before the rounds, \
         {huge_pages_after} after (GLIBC_TUNABLES {tunables})"
    );
    for (name, value) in &figures {
        println!("  {name:36} {value:8.3}");
    }
    let path = cloister_benches::summary::merge(&figures).expect("writing the summary");
    println!("\nwrote {}", path.display());
}

/// Samples of each figure: seconds per 1 GiB.
#[derive(Default)]
struct Timings {
    raw: Vec<f64>,
    raw_into: Vec<f64>,
    memcpy: Vec<f64>,
    memcpy_all: Vec<f64>,
    rmw: Vec<f64>,
    one: Vec<f64>,
    all: Vec<f64>,
    interleaved: Vec<f64>,
    into_one: Vec<f64>,
    into_all: Vec<f64>,
    cold: Vec<f64>,
}

impl Timings {
    fn figures(&mut self, raw_small: f64, raw_l2: f64) -> Vec<(String, f64)> {
        let gbps = |v: &mut Vec<f64>| MODEL_LEN as f64 / median(v) / 1e9;
        let raw = gbps(&mut self.raw);
        let raw_into = gbps(&mut self.raw_into);
        let memcpy = gbps(&mut self.memcpy);
        let rmw = gbps(&mut self.rmw);
        let one = gbps(&mut self.one);
        let all = gbps(&mut self.all);
        let into_one = gbps(&mut self.into_one);
        let into_all = gbps(&mut self.into_all);
        let figures = [
            ("aes256gcm-raw-gbps", raw),
            ("aes256gcm-raw-16mib-gbps", raw_small),
            ("aes256gcm-raw-1mib-gbps", raw_l2),
            ("aes256gcm-raw-into-gbps", raw_into),
            ("memcpy-gbps", memcpy),
            ("memory-rmw-gbps", rmw),
            ("memcpy-gbps-all-cores", gbps(&mut self.memcpy_all)),
            ("unseal-gbps", one),
            ("unseal-gbps-all-cores", all),
            (
                "unseal-interleaved-gbps-all-cores",
                gbps(&mut self.interleaved),
            ),
            ("unseal-into-gbps", into_one),
            ("unseal-into-gbps-all-cores", into_all),
            ("unseal-into-cold-gbps-all-cores", gbps(&mut self.cold)),
            ("unseal-all-cores-vs-one", all / one),
            ("unseal-vs-raw", one / raw),
            ("unseal-into-all-cores-vs-one", into_all / into_one),
            ("unseal-into-vs-raw-into", into_one / raw_into),
            ("raw-vs-memcpy", raw / memcpy),
            ("raw-vs-rmw", raw / rmw),
            ("raw-1gib-vs-16mib", raw / raw_small),
        ];
        figures.map(|(k, v)| (k.to_owned(), v)).into()
    }
}

fn raw_nonce() -> Nonce {
    Nonce::assume_unique_for_key([3; 12])
}

fn time(f: impl FnOnce()) -> f64 {
    let t = Instant::now();
    f();
    t.elapsed().as_secs_f64()
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// `dst.copy_from_slice(src)` split into one contiguous part per thread.
fn copy_on(dst: &mut [u8], src: &[u8], threads: NonZeroUsize) {
    let part = src.len().div_ceil(threads.get());
    std::thread::scope(|s| {
        for (d, from) in dst.chunks_mut(part).zip(src.chunks(part)) {
            s.spawn(move || d.copy_from_slice(from));
        }
    });
}

/// One read and one write of every byte, in place, as fast as the memory allows.
fn xor_in_place(buf: &mut [u8]) {
    for b in buf.iter_mut() {
        *b ^= 0x5a;
    }
    black_box(buf);
}

/// The sealed body opened in place with `open_at` on `threads` threads: one contiguous range of
/// chunks each, or dealt round-robin.
fn open_in_place_on(
    dek: &DataKey,
    header: &SealedHeader,
    work: &mut [u8],
    threads: NonZeroUsize,
    interleaved: bool,
) {
    let opener = ChunkOpener::new(dek, header.clone());
    let chunk_len = DEFAULT_CHUNK_SIZE as usize + TAG_LEN;
    let n = threads.get();
    let per_thread = work.len().div_ceil(chunk_len).div_ceil(n);
    let mut parts: Vec<Vec<(u64, &mut [u8])>> = (0..n).map(|_| Vec::new()).collect();
    for (i, chunk) in work.chunks_mut(chunk_len).enumerate() {
        let thread = if interleaved { i % n } else { i / per_thread };
        parts[thread].push((i as u64, chunk));
    }
    let opener = &opener;
    std::thread::scope(|s| {
        for part in parts {
            s.spawn(move || {
                for (i, chunk) in part {
                    opener.open_at(i, chunk).expect("chunk");
                }
            });
        }
    });
}

/// Raw AES-256-GCM on a `len`-byte message that stays in the caches: re-sealed in place (not
/// timed) before each timed open.
fn raw_small_gbps(key: &LessSafeKey, len: usize) -> f64 {
    let mut buf: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
    let mut samples = Vec::with_capacity(SMALL_ROUNDS);
    for _ in 0..SMALL_ROUNDS {
        buf.truncate(len);
        key.seal_in_place_append_tag(raw_nonce(), Aad::empty(), &mut buf)
            .expect("seal");
        samples.push(time(|| {
            key.open_in_place(raw_nonce(), Aad::empty(), &mut buf)
                .expect("open");
        }));
    }
    len as f64 / median(&mut samples) / 1e9
}

/// `AnonHugePages` of this process (Linux), as the kernel reports it.
fn anon_huge_pages() -> String {
    std::fs::read_to_string("/proc/self/smaps_rollup")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("AnonHugePages:"))
                .map(|v| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned())
}
