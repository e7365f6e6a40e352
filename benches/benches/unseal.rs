//! Opening a sealed model: a 1 GiB model sealed in 1 MiB chunks (the default), opened in place
//! on one core and on every core, next to the raw AES-256-GCM decryption of the same backend
//! (aws-lc-rs) over the same buffer in one call on one core. The ratio says what the STREAM
//! framing (per-chunk nonces, tags and bookkeeping) costs. Writes `aes256gcm-raw-gbps`,
//! `unseal-gbps` and `unseal-gbps-all-cores` into target/bench/summary.json.
//!
//! Wall-clock figures on a shared machine: compare ratios within one run.
#![allow(
    clippy::expect_used,
    reason = "measurement code: a failed setup step aborts the benchmark run"
)]

use std::time::Instant;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use cloister_proto::sealed::{
    ChunkOpener, DEFAULT_CHUNK_SIZE, DataKey, SealedHeader, TAG_LEN, seal,
};

const MODEL_LEN: usize = 1 << 30;
const ROUNDS: usize = 5;

fn main() {
    let dek = DataKey::from_bytes([0x42; 32]);
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
    let body_start = header.encode().len();

    // Raw: one AES-256-GCM message of the same size, opened in one call.
    let raw_key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, dek.expose()).expect("key"));
    let mut raw = plain.clone();
    raw_key
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key([3; 12]),
            Aad::empty(),
            &mut raw,
        )
        .expect("raw seal");
    drop(plain);

    let gbps = |secs: f64| MODEL_LEN as f64 / secs / 1e9;
    let mut raw_s = Vec::new();
    let mut one_s = Vec::new();
    let mut all_s = Vec::new();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut work = sealed[body_start..].to_vec();
    let mut raw_work = raw.clone();
    for _ in 0..ROUNDS {
        // Round-robin, so load from elsewhere hits all three alike. Each run opens a fresh copy
        // (in-place decryption consumes its input); the copy is outside the timing.
        raw_work.copy_from_slice(&raw);
        let t = Instant::now();
        raw_key
            .open_in_place(
                Nonce::assume_unique_for_key([3; 12]),
                Aad::empty(),
                &mut raw_work,
            )
            .expect("raw open");
        raw_s.push(t.elapsed().as_secs_f64());

        work.copy_from_slice(&sealed[body_start..]);
        let t = Instant::now();
        let mut opener = ChunkOpener::new(&dek, header.clone());
        for chunk in work.chunks_mut(DEFAULT_CHUNK_SIZE as usize + TAG_LEN) {
            opener.open_next(chunk).expect("chunk");
        }
        opener.finish().expect("complete");
        one_s.push(t.elapsed().as_secs_f64());

        work.copy_from_slice(&sealed[body_start..]);
        let t = Instant::now();
        let opener = ChunkOpener::new(&dek, header.clone());
        let chunk_len = DEFAULT_CHUNK_SIZE as usize + TAG_LEN;
        let chunks: Vec<&mut [u8]> = work.chunks_mut(chunk_len).collect();
        let per_thread = chunks.len().div_ceil(cores);
        let mut chunks = chunks.into_iter().enumerate().collect::<Vec<_>>();
        std::thread::scope(|s| {
            while !chunks.is_empty() {
                let batch: Vec<_> = chunks.drain(..per_thread.min(chunks.len())).collect();
                let opener = &opener;
                s.spawn(move || {
                    for (i, chunk) in batch {
                        opener.open_at(i as u64, chunk).expect("chunk");
                    }
                });
            }
        });
        all_s.push(t.elapsed().as_secs_f64());
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let raw_gbps = gbps(median(&mut raw_s));
    let one_gbps = gbps(median(&mut one_s));
    let all_gbps = gbps(median(&mut all_s));
    println!(
        "unseal 1 GiB, 1 MiB chunks, AES-256-GCM on aws-lc-rs, {cores} cores, median of {ROUNDS}"
    );
    println!("  aes256gcm-raw-gbps     {raw_gbps:8.3}");
    println!(
        "  unseal-gbps            {one_gbps:8.3}   ({:.1}% of raw)",
        100.0 * one_gbps / raw_gbps
    );
    println!(
        "  unseal-gbps-all-cores  {all_gbps:8.3}   ({:.2}x one core)",
        all_gbps / one_gbps
    );
    let figures = vec![
        ("aes256gcm-raw-gbps".to_owned(), raw_gbps),
        ("unseal-gbps".to_owned(), one_gbps),
        ("unseal-gbps-all-cores".to_owned(), all_gbps),
        ("unseal-vs-raw".to_owned(), one_gbps / raw_gbps),
    ];
    let path = cloister_benches::summary::merge(&figures).expect("writing the summary");
    println!("\nwrote {}", path.display());
}
