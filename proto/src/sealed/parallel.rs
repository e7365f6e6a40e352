//! [`ChunkOpener::open_all_into`]: every chunk of an artifact opened on several threads, all or
//! nothing.
//!
//! Chunks are independent given their index (the nonce carries the index and the last-chunk
//! flag, the AAD the header hash), so they can open in any order on any thread and still enforce
//! everything the sequential stream does: a chunk moved to another index, a last chunk that is
//! not the header's last, or a chunk from another artifact fails its tag, and the body's length
//! is checked against the header before anything is decrypted (truncation and extension).
//!
//! Threads take work from one shared cursor, in index order, about [`CLAIM_BYTES`] at a time. A
//! thread that a busy machine slows down just takes fewer claims; static ranges would leave the
//! other cores waiting for it. Handing claims out in order also makes the error the one a single
//! core would report: once a chunk fails, no claim is handed out after it, and every chunk before
//! it has been handed out already, so the lowest failing index is found and reported.

use std::any::Any;
use std::num::NonZeroUsize;
use std::sync::{Mutex, MutexGuard, PoisonError};

use zeroize::Zeroize;

use super::{ChunkOpener, SealError, TAG_LEN};

/// Plaintext handed to a thread per claim (at least one chunk): large enough that the shared
/// cursor's lock is taken rarely even with 4 KiB chunks, small enough to balance the load.
const CLAIM_BYTES: usize = 1024 * 1024;

impl ChunkOpener {
    /// Opens every chunk of `chunks` (the artifact after its header: each chunk's ciphertext ‖
    /// tag, in order) into `out` (exactly the plaintext length), on the calling thread and up to
    /// `threads - 1` more (`std::thread::available_parallelism()` for every core). The sealed
    /// bytes are only read: each chunk is decrypted straight into its place in `out`.
    ///
    /// All or nothing: on any error (a length as well as a chunk) `out` is zeroized before this
    /// returns, so no partial or unauthenticated plaintext is left behind. Independent of
    /// [`open_next`](Self::open_next)'s position.
    ///
    /// ```
    /// use std::num::NonZeroUsize;
    /// use cloister_proto::sealed::{ChunkOpener, DataKey, SealedHeader, seal};
    /// let dek = DataKey::from_bytes([7; 32]);
    /// let header = SealedHeader::new("m", 4096, 10_000, [1; 48], [2; 7])?;
    /// let sealed = seal(&dek, &header, &[0x5a; 10_000])?;
    /// let chunks = &sealed[header.encode().len()..];
    /// let mut plain = vec![0; 10_000];
    /// let threads = NonZeroUsize::new(4).unwrap_or(NonZeroUsize::MIN);
    /// ChunkOpener::new(&dek, header).open_all_into(chunks, &mut plain, threads)?;
    /// assert_eq!(plain, [0x5a; 10_000]);
    /// # Ok::<(), cloister_proto::sealed::SealError>(())
    /// ```
    ///
    /// # Errors
    /// `sealed.length_mismatch` if `chunks` is not as long as the header says (truncated or
    /// extended), `sealed.plaintext_length` if `out` is not, and `sealed.chunk_rejected` for the
    /// lowest-index chunk that does not authenticate: the error a single core would report.
    ///
    /// # Panics
    /// Only if a thread panics (a bug); `out` is zeroized first when a helper thread did.
    pub fn open_all_into(
        &self,
        chunks: &[u8],
        out: &mut [u8],
        threads: NonZeroUsize,
    ) -> Result<(), SealError> {
        let (outcome, panicked) = match self.check_lengths(chunks, out) {
            Ok(()) => self.open_all_unchecked(chunks, out, threads),
            Err(e) => (Err(e), None),
        };
        if outcome.is_err() || panicked.is_some() {
            out.zeroize();
        }
        if let Some(payload) = panicked {
            std::panic::resume_unwind(payload);
        }
        outcome
    }

    /// The body and the buffer are as long as the header says.
    fn check_lengths(&self, chunks: &[u8], out: &[u8]) -> Result<(), SealError> {
        let plaintext_len = self.header.plaintext_len();
        let expected = plaintext_len + self.header.chunk_count() * TAG_LEN as u64;
        if chunks.len() as u64 != expected {
            return Err(SealError::LengthMismatch {
                expected,
                found: chunks.len() as u64,
            });
        }
        if out.len() as u64 != plaintext_len {
            return Err(SealError::PlaintextLength {
                expected: plaintext_len,
                found: out.len() as u64,
            });
        }
        Ok(())
    }

    /// Runs the threads; the outcome, and the payload of a helper thread that panicked.
    fn open_all_unchecked(
        &self,
        chunks: &[u8],
        out: &mut [u8],
        threads: NonZeroUsize,
    ) -> (Result<(), SealError>, Option<Box<dyn Any + Send>>) {
        let count = self.header.chunk_count();
        let chunk_size = self.header.chunk_size() as usize;
        let per_claim = (CLAIM_BYTES / chunk_size).max(1) as u64;
        let claims = usize::try_from(count.div_ceil(per_claim)).unwrap_or(usize::MAX);
        let cursor = Mutex::new(Cursor {
            next: 0,
            count,
            per_claim,
            sealed: chunks,
            out,
            failure: None,
        });
        let helpers = threads.get().min(claims).saturating_sub(1);
        let panicked = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..helpers)
                .map_while(|_| {
                    // A helper that cannot be spawned is not an error: the threads that did
                    // start (at least this one) take its share.
                    std::thread::Builder::new()
                        .name("cloister-unseal".into())
                        .spawn_scoped(scope, || self.work(&cursor))
                        .ok()
                })
                .collect();
            self.work(&cursor);
            let mut panicked = None;
            for handle in handles {
                if let Err(payload) = handle.join() {
                    panicked.get_or_insert(payload);
                }
            }
            panicked
        });
        let cursor = cursor.into_inner().unwrap_or_else(PoisonError::into_inner);
        match cursor.failure {
            Some((_, e)) => (Err(e), panicked),
            // Every claim was handed out and none failed (unless a helper panicked mid-claim,
            // which the caller handles).
            None => (Ok(()), panicked),
        }
    }

    /// One thread's loop: claim, open in order, stop at the first failure.
    fn work(&self, cursor: &Mutex<Cursor<'_, '_>>) {
        loop {
            // Its own statement, so the lock is released before decrypting.
            let claim = lock(cursor).claim(&self.header);
            let Some(claim) = claim else { return };
            for (index, sealed, out) in claim {
                if let Err(e) = self.open_at_into(index, sealed, out) {
                    lock(cursor).fail(index, e);
                    return;
                }
            }
        }
    }
}

/// The critical sections below cannot panic, so a poisoned lock holds consistent data.
fn lock<'m, 's, 'o>(cursor: &'m Mutex<Cursor<'s, 'o>>) -> MutexGuard<'m, Cursor<'s, 'o>> {
    cursor.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The chunks not yet handed out, and the lowest failure so far.
struct Cursor<'s, 'o> {
    next: u64,
    count: u64,
    per_claim: u64,
    sealed: &'s [u8],
    out: &'o mut [u8],
    failure: Option<(u64, SealError)>,
}

/// A run of consecutive chunks: (index, ciphertext ‖ tag, plaintext slot) for each.
type Claim<'s, 'o> = Vec<(u64, &'s [u8], &'o mut [u8])>;

impl<'s, 'o> Cursor<'s, 'o> {
    /// The next run of chunks, or `None` when all are handed out or one has failed.
    fn claim(&mut self, header: &super::SealedHeader) -> Option<Claim<'s, 'o>> {
        if self.failure.is_some() || self.next >= self.count {
            return None;
        }
        let end = self.next.saturating_add(self.per_claim).min(self.count);
        let mut claim = Vec::with_capacity(usize::try_from(end - self.next).unwrap_or(0));
        for index in self.next..end {
            let len = header.chunk_plaintext_len(index);
            let (Some((sealed, sealed_rest)), Some((out, out_rest))) = (
                self.sealed.split_at_checked(len + TAG_LEN),
                std::mem::take(&mut self.out).split_at_mut_checked(len),
            ) else {
                // open_all_into checked both lengths against the header: unreachable, but a
                // chunk that cannot be cut out must never count as opened.
                self.fail(
                    index,
                    SealError::LengthMismatch {
                        expected: header.sealed_len(),
                        found: self.sealed.len() as u64,
                    },
                );
                return None;
            };
            claim.push((index, sealed, out));
            (self.sealed, self.out) = (sealed_rest, out_rest);
        }
        self.next = end;
        Some(claim)
    }

    /// Records a failure; the lowest index wins.
    fn fail(&mut self, index: u64, error: SealError) {
        if self
            .failure
            .as_ref()
            .is_none_or(|(first, _)| index < *first)
        {
            self.failure = Some((index, error));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sealed::{DataKey, SealedHeader, seal};

    const CHUNK: u32 = 4096;
    /// 13 chunks, the last one short.
    const LEN: u64 = 12 * CHUNK as u64 + 1000;

    fn sample() -> (DataKey, SealedHeader, Vec<u8>, Vec<u8>) {
        let dek = DataKey::from_bytes([9; 32]);
        let header = SealedHeader::new("m", CHUNK, LEN, [3; 48], [4; 7]).expect("header");
        let plain: Vec<u8> = (0..LEN).map(|i| (i * 31 % 251) as u8).collect();
        let sealed = seal(&dek, &header, &plain).expect("seal");
        let body = sealed[header.encode().len()..].to_vec();
        (dek, header, plain, body)
    }

    fn threads(n: usize) -> NonZeroUsize {
        NonZeroUsize::new(n).expect("non-zero")
    }

    /// Opens `body` under `header` on `n` threads into a buffer pre-filled with 0xaa; the
    /// plaintext or the error, checking that a failure leaves the buffer zeroed.
    fn open(
        dek: &DataKey,
        header: &SealedHeader,
        body: &[u8],
        n: usize,
    ) -> Result<Vec<u8>, SealError> {
        let mut out = vec![0xaa; header.plaintext_len() as usize];
        let opener = ChunkOpener::new(dek, header.clone());
        match opener.open_all_into(body, &mut out, threads(n)) {
            Ok(()) => Ok(out),
            Err(e) => {
                assert!(out.iter().all(|&b| b == 0), "{n} threads: buffer wiped");
                Err(e)
            }
        }
    }

    /// What the sequential stream reports for the same body.
    fn open_sequentially(
        dek: &DataKey,
        header: &SealedHeader,
        body: &[u8],
    ) -> Result<(), SealError> {
        let mut opener = ChunkOpener::new(dek, header.clone());
        let mut rest = body.to_vec();
        let mut rest = &mut rest[..];
        for index in 0..header.chunk_count() {
            let len = header.chunk_plaintext_len(index) + TAG_LEN;
            let (chunk, tail) = rest.split_at_mut(len.min(rest.len()));
            opener.open_next(chunk)?;
            rest = tail;
        }
        opener.finish().map(|_| ())
    }

    const THREAD_COUNTS: [usize; 6] = [1, 2, 3, 7, 13, 64];

    #[test]
    fn every_thread_count_gives_the_single_core_plaintext() {
        let (dek, header, plain, body) = sample();
        assert_eq!(header.chunk_count(), 13);
        for n in THREAD_COUNTS {
            assert_eq!(open(&dek, &header, &body, n).expect("open"), plain, "{n}");
        }
        // More chunks per claim than chunks, more threads than chunks, an empty model.
        let small = SealedHeader::new("m", CHUNK, 10, [3; 48], [4; 7]).expect("header");
        let empty = SealedHeader::new("m", CHUNK, 0, [3; 48], [4; 7]).expect("header");
        for (h, p) in [(small, &[7u8; 10][..]), (empty, &[][..])] {
            let sealed = seal(&dek, &h, p).expect("seal");
            let body = &sealed[h.encode().len()..];
            for n in THREAD_COUNTS {
                assert_eq!(open(&dek, &h, body, n).expect("open"), p, "{n}");
            }
        }
    }

    #[test]
    fn large_chunks_claim_one_at_a_time() {
        // 1 MiB chunks: one chunk per claim, so two threads interleave.
        let dek = DataKey::from_bytes([1; 32]);
        let header = SealedHeader::new("m", 1 << 20, 5 << 20, [0; 48], [0; 7]).expect("header");
        let plain: Vec<u8> = (0..5u32 << 20).map(|i| (i % 241) as u8).collect();
        let sealed = seal(&dek, &header, &plain).expect("seal");
        let body = &sealed[header.encode().len()..];
        for n in [1, 2, 3, 7] {
            assert_eq!(open(&dek, &header, body, n).expect("open"), plain, "{n}");
        }
        let mut bad = body.to_vec();
        bad[3 << 20] ^= 1;
        for n in [1, 2, 3, 7] {
            assert_eq!(
                open(&dek, &header, &bad, n),
                Err(SealError::ChunkRejected { index: 2 })
            );
        }
    }

    #[test]
    fn a_flipped_byte_in_any_chunk_fails_as_on_one_core() {
        let (dek, header, _, body) = sample();
        let c = CHUNK as usize + TAG_LEN;
        // The first and last byte of each chunk (ciphertext start, tag end), and one inside.
        for at in (0..13).flat_map(|i| [i * c, i * c + 100, ((i + 1) * c).min(body.len()) - 1]) {
            let mut bad = body.clone();
            bad[at] ^= 1;
            let single = open_sequentially(&dek, &header, &bad).expect_err("rejected");
            assert_eq!(single.code(), "sealed.chunk_rejected");
            for n in THREAD_COUNTS {
                let parallel = open(&dek, &header, &bad, n).expect_err("rejected");
                assert_eq!(parallel, single, "byte {at}, {n} threads");
            }
        }
        // Several bad chunks: the lowest index is reported, whichever thread finds it.
        let mut bad = body.clone();
        for i in [11, 5, 9] {
            bad[i * c + 7] ^= 1;
        }
        for n in THREAD_COUNTS {
            assert_eq!(
                open(&dek, &header, &bad, n),
                Err(SealError::ChunkRejected { index: 5 })
            );
        }
    }

    #[test]
    fn swapped_truncated_and_extended_bodies_fail_as_on_one_core() {
        let (dek, header, _, body) = sample();
        let c = CHUNK as usize + TAG_LEN;
        let mut swapped = body.clone();
        swapped[2 * c..3 * c].copy_from_slice(&body[3 * c..4 * c]);
        swapped[3 * c..4 * c].copy_from_slice(&body[2 * c..3 * c]);
        // The last (short) chunk moved is a length problem, so swap two full chunks only; and the
        // first and the last full chunk, which differ only in position.
        let mut ends = body.clone();
        ends[..c].copy_from_slice(&body[11 * c..12 * c]);
        ends[11 * c..12 * c].copy_from_slice(&body[..c]);
        for (bad, index) in [(&swapped, 2), (&ends, 0)] {
            assert_eq!(
                open_sequentially(&dek, &header, bad),
                Err(SealError::ChunkRejected { index })
            );
            for n in THREAD_COUNTS {
                assert_eq!(
                    open(&dek, &header, bad, n),
                    Err(SealError::ChunkRejected { index })
                );
            }
        }
        // Truncated at a chunk boundary, by one byte, and extended by a tag's worth.
        let mut long = body.clone();
        long.extend_from_slice(&[0; TAG_LEN]);
        for bad in [&body[..12 * c], &body[..body.len() - 1], &long[..]] {
            for n in THREAD_COUNTS {
                assert_eq!(
                    open(&dek, &header, bad, n).expect_err("length").code(),
                    "sealed.length_mismatch"
                );
            }
        }
        // A header claiming one chunk fewer (its hash, the AAD, changes too, so chunk 0 is the
        // first to fail; the old chunk 11, sealed as not last, would fail as well).
        let short = SealedHeader::new("m", CHUNK, 12 * CHUNK as u64, [3; 48], [4; 7]).expect("h");
        let cut = &body[..12 * c];
        let single = open_sequentially(&dek, &short, cut).expect_err("rejected");
        assert_eq!(single, SealError::ChunkRejected { index: 0 });
        for n in THREAD_COUNTS {
            assert_eq!(open(&dek, &short, cut, n).expect_err("rejected"), single);
        }
        // The wrong key fails chunk 0, and a wrong-sized buffer is refused before decrypting.
        let wrong = DataKey::from_bytes([8; 32]);
        for n in THREAD_COUNTS {
            assert_eq!(
                open(&wrong, &header, &body, n),
                Err(SealError::ChunkRejected { index: 0 })
            );
        }
        let mut small = vec![0; LEN as usize - 1];
        let opener = ChunkOpener::new(&dek, header);
        assert_eq!(
            opener
                .open_all_into(&body, &mut small, threads(2))
                .expect_err("misuse")
                .code(),
            "sealed.plaintext_length"
        );
    }

    #[test]
    fn one_chunk_opens_into_its_slot_or_is_wiped() {
        let (dek, header, plain, body) = sample();
        let opener = ChunkOpener::new(&dek, header);
        let c = CHUNK as usize + TAG_LEN;
        let mut out = vec![0xaa; CHUNK as usize];
        opener
            .open_at_into(1, &body[c..2 * c], &mut out)
            .expect("open");
        assert_eq!(out, plain[CHUNK as usize..2 * CHUNK as usize]);
        let e = opener
            .open_at_into(2, &body[c..2 * c], &mut out)
            .expect_err("wrong index");
        assert_eq!(e, SealError::ChunkRejected { index: 2 });
        assert!(out.iter().all(|&b| b == 0));
        // Wrong sizes and an index past the end are out of sequence, not decrypted.
        for (index, sealed, len) in [(1, &body[c..2 * c - 1], 4096), (1, &body[c..2 * c], 4095)] {
            let mut out = vec![0; len];
            let e = opener
                .open_at_into(index, sealed, &mut out)
                .expect_err("size");
            assert_eq!(e.code(), "sealed.out_of_sequence");
        }
        let e = opener
            .open_at_into(13, &body[..c], &mut out)
            .expect_err("past the end");
        assert_eq!(e.code(), "sealed.out_of_sequence");
    }
}
