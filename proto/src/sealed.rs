//! The sealed model artifact: a model encrypted under a 256-bit data key (DEK) so that storage,
//! the host and the network see only ciphertext, in the STREAM construction (Hoang, Reyhanitabar,
//! Rogaway, Vizár, "Online Authenticated-Encryption and its Nonce-Reuse Misuse-Resistance").
//!
//! ```text
//! header  = "CLSEALv1" ‖ version u16 ‖ lp16(model_id) ‖ chunk_size u32 ‖ plaintext_len u64
//!           ‖ manifest_sha384 [48] ‖ nonce_prefix [7]                       (all big-endian)
//! chunk i = AES-256-GCM(DEK, nonce = nonce_prefix ‖ i as u32 ‖ last_flag, aad = SHA-384(header),
//!                       plaintext[i·chunk_size .. min((i+1)·chunk_size, plaintext_len)]) ‖ tag
//! ```
//!
//! Every chunk is `chunk_size` bytes of plaintext but the last, which holds the rest (an empty
//! model is one empty last chunk). The counter in the nonce stops reordering; the last-chunk flag
//! stops truncation at a chunk boundary and extension; the header hash as AAD stops splicing
//! chunks of another artifact or changing the header (model id, lengths, manifest hash). Chunks
//! are independent given their index, so opening can run on every core.
//!
//! The DEK is fresh per artifact (`cloister model seal` draws it), so the random 7-byte nonce
//! prefix only separates artifacts that would share a key by mistake.
//!
//! ```
//! use cloister_proto::sealed::{DataKey, SealedHeader, seal, open};
//! let dek = DataKey::from_bytes([7; 32]);
//! let header = SealedHeader::new("credit-risk-v1", 4096, 10_000, [1; 48], [2; 7])?;
//! let sealed = seal(&dek, &header, &[0x5a; 10_000])?;
//! let (back, plain) = open(&dek, &sealed)?;
//! assert_eq!((back, &plain[..]), (header, &[0x5a; 10_000][..]));
//! # Ok::<(), cloister_proto::sealed::SealError>(())
//! ```

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use zeroize::{Zeroize, Zeroizing};

use crate::{DIGEST_LEN, sha384};

mod parallel;

/// The first eight bytes of every sealed artifact.
pub const MAGIC: [u8; 8] = *b"CLSEALv1";
/// The layout version after the magic.
pub const SEALED_VERSION: u16 = 1;
/// Smallest chunk: below it the 16-byte tag per chunk costs more than 0.4%.
pub const MIN_CHUNK_SIZE: u32 = 4 * 1024;
/// Largest chunk: the unit a reader holds in memory at once.
pub const MAX_CHUNK_SIZE: u32 = 16 * 1024 * 1024;
/// The chunk size `cloister model seal` uses unless told otherwise.
pub const DEFAULT_CHUNK_SIZE: u32 = 1024 * 1024;
/// Longest model id.
pub const MAX_MODEL_ID_LEN: usize = 128;
/// AES-256-GCM tag length.
pub const TAG_LEN: usize = 16;
/// Random bytes at the start of every chunk nonce.
pub const NONCE_PREFIX_LEN: usize = 7;
/// Largest plaintext: 2^32 chunks of the largest size would overflow the counter long before.
pub const MAX_PLAINTEXT_LEN: u64 = 1 << 40;

/// Why a sealed artifact could not be made or opened. Nothing of the plaintext is returned with
/// any of them: a failed open yields no partial model.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum SealError {
    /// The input does not start with [`MAGIC`].
    #[error("not a sealed Cloister model (no CLSEALv1 magic)")]
    BadMagic,
    /// Another layout version.
    #[error("sealed model version {got}, this build reads {SEALED_VERSION}")]
    UnsupportedVersion {
        /// The version found.
        got: u16,
    },
    /// The header ends early or a field is out of range.
    #[error("sealed model header: {field} {problem}")]
    BadHeader {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// The artifact is shorter or longer than its header says: truncated or extended.
    #[error("sealed model is {found} bytes, its header says {expected}")]
    LengthMismatch {
        /// What the header implies.
        expected: u64,
        /// What arrived.
        found: u64,
    },
    /// A chunk does not authenticate: modified, reordered, from another artifact, or the key is
    /// wrong.
    #[error("chunk {index} does not authenticate (modified, reordered, spliced, or the wrong key)")]
    ChunkRejected {
        /// Its index.
        index: u64,
    },
    /// A chunk was fed out of order or after the last one, or the stream ended early.
    #[error("chunk {index} is out of sequence: expected chunk {expected} of {count}")]
    OutOfSequence {
        /// The chunk offered.
        index: u64,
        /// The next chunk expected.
        expected: u64,
        /// How many the header says.
        count: u64,
    },
    /// The plaintext given to [`seal`], or the buffer given to
    /// [`ChunkOpener::open_all_into`], is not as long as the header says.
    #[error("plaintext is {found} bytes, the header says {expected}")]
    PlaintextLength {
        /// What the header says.
        expected: u64,
        /// What was given.
        found: u64,
    },
}

impl SealError {
    /// A stable dotted code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadMagic => "sealed.bad_magic",
            Self::UnsupportedVersion { .. } => "sealed.unsupported_version",
            Self::BadHeader { .. } => "sealed.bad_header",
            Self::LengthMismatch { .. } => "sealed.length_mismatch",
            Self::ChunkRejected { .. } => "sealed.chunk_rejected",
            Self::OutOfSequence { .. } => "sealed.out_of_sequence",
            Self::PlaintextLength { .. } => "sealed.plaintext_length",
        }
    }
}

/// A model's 256-bit data key. Zeroized on drop; `Debug` prints nothing of it.
pub struct DataKey(Zeroizing<[u8; 32]>);

impl DataKey {
    /// Wraps key bytes (the caller zeroizes its own copy).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// The key bytes, for wrapping under a KEK or HPKE-sealing to an enclave.
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }

    fn aead(&self) -> LessSafeKey {
        // AES-256 takes any 32 bytes: this cannot fail.
        LessSafeKey::new(
            UnboundKey::new(&AES_256_GCM, &self.0[..]).unwrap_or_else(|_| unreachable!()),
        )
    }
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(..)")
    }
}

/// The header of a sealed artifact: everything but the ciphertext.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedHeader {
    model_id: String,
    chunk_size: u32,
    plaintext_len: u64,
    manifest_sha384: [u8; DIGEST_LEN],
    nonce_prefix: [u8; NONCE_PREFIX_LEN],
}

impl SealedHeader {
    /// A header, checked.
    ///
    /// # Errors
    /// `sealed.bad_header` for an empty or too long model id, a chunk size outside
    /// [`MIN_CHUNK_SIZE`]..=[`MAX_CHUNK_SIZE`], or a plaintext longer than [`MAX_PLAINTEXT_LEN`].
    pub fn new(
        model_id: &str,
        chunk_size: u32,
        plaintext_len: u64,
        manifest_sha384: [u8; DIGEST_LEN],
        nonce_prefix: [u8; NONCE_PREFIX_LEN],
    ) -> Result<Self, SealError> {
        let bad = |field, problem| Err(SealError::BadHeader { field, problem });
        if model_id.is_empty() || model_id.len() > MAX_MODEL_ID_LEN {
            return bad("model_id", "must be 1 to 128 bytes");
        }
        if !(MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&chunk_size) {
            return bad("chunk_size", "must be 4 KiB to 16 MiB");
        }
        if plaintext_len > MAX_PLAINTEXT_LEN {
            return bad("plaintext_len", "exceeds 1 TiB");
        }
        Ok(Self {
            model_id: model_id.to_owned(),
            chunk_size,
            plaintext_len,
            manifest_sha384,
            nonce_prefix,
        })
    }

    /// The model id.
    pub fn model_id(&self) -> &str {
        &self.model_id
    }

    /// Plaintext bytes per chunk (the last holds the rest).
    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// The model's plaintext length.
    pub fn plaintext_len(&self) -> u64 {
        self.plaintext_len
    }

    /// SHA-384 of the signed manifest this artifact belongs to.
    pub fn manifest_sha384(&self) -> &[u8; DIGEST_LEN] {
        &self.manifest_sha384
    }

    /// How many chunks follow the header: at least one.
    pub fn chunk_count(&self) -> u64 {
        self.plaintext_len
            .div_ceil(u64::from(self.chunk_size))
            .max(1)
    }

    /// Plaintext bytes in chunk `index`.
    pub fn chunk_plaintext_len(&self, index: u64) -> usize {
        let start = index.saturating_mul(u64::from(self.chunk_size));
        let len = self
            .plaintext_len
            .saturating_sub(start)
            .min(u64::from(self.chunk_size));
        // At most chunk_size, a u32.
        usize::try_from(len).unwrap_or(0)
    }

    /// The encoded header.
    pub fn encode(&self) -> Vec<u8> {
        let id = self.model_id.as_bytes();
        let mut out = Vec::with_capacity(8 + 2 + 2 + id.len() + 4 + 8 + DIGEST_LEN + 7);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&SEALED_VERSION.to_be_bytes());
        // model_id.len() <= MAX_MODEL_ID_LEN, checked by `new` and `parse`.
        out.extend_from_slice(&(id.len() as u16).to_be_bytes());
        out.extend_from_slice(id);
        out.extend_from_slice(&self.chunk_size.to_be_bytes());
        out.extend_from_slice(&self.plaintext_len.to_be_bytes());
        out.extend_from_slice(&self.manifest_sha384);
        out.extend_from_slice(&self.nonce_prefix);
        out
    }

    /// Parses a header from the start of `bytes`; returns it and its encoded length.
    ///
    /// # Errors
    /// `sealed.bad_magic`, `sealed.unsupported_version` or `sealed.bad_header`.
    pub fn parse(bytes: &[u8]) -> Result<(Self, usize), SealError> {
        let mut r = Reader { bytes, pos: 0 };
        if r.take(MAGIC.len(), "magic")? != MAGIC {
            return Err(SealError::BadMagic);
        }
        let version = u16::from_be_bytes(r.array("version")?);
        if version != SEALED_VERSION {
            return Err(SealError::UnsupportedVersion { got: version });
        }
        let id_len = usize::from(u16::from_be_bytes(r.array("model_id length")?));
        let id =
            std::str::from_utf8(r.take(id_len, "model_id")?).map_err(|_| SealError::BadHeader {
                field: "model_id",
                problem: "is not UTF-8",
            })?;
        let chunk_size = u32::from_be_bytes(r.array("chunk_size")?);
        let plaintext_len = u64::from_be_bytes(r.array("plaintext_len")?);
        let manifest_sha384 = r.array("manifest_sha384")?;
        let nonce_prefix = r.array("nonce_prefix")?;
        let header = Self::new(id, chunk_size, plaintext_len, manifest_sha384, nonce_prefix)?;
        Ok((header, r.pos))
    }

    /// The length of the whole artifact this header describes.
    pub fn sealed_len(&self) -> u64 {
        self.encode().len() as u64 + self.plaintext_len + self.chunk_count() * TAG_LEN as u64
    }

    fn nonce(&self, index: u64) -> Result<Nonce, SealError> {
        let counter = u32::try_from(index).map_err(|_| SealError::BadHeader {
            field: "plaintext_len",
            problem: "needs more than 2^32 chunks",
        })?;
        let mut n = [0u8; 12];
        n[..NONCE_PREFIX_LEN].copy_from_slice(&self.nonce_prefix);
        n[NONCE_PREFIX_LEN..11].copy_from_slice(&counter.to_be_bytes());
        n[11] = u8::from(index + 1 == self.chunk_count());
        Ok(Nonce::assume_unique_for_key(n))
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], SealError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or(SealError::BadHeader {
            field,
            problem: "is cut short",
        })?;
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], SealError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, field)?);
        Ok(out)
    }
}

/// Opens the chunks of one artifact, in order or (with [`ChunkOpener::open_at`],
/// [`ChunkOpener::open_at_into`]) in any order on several threads, or all of them at once on
/// several threads ([`ChunkOpener::open_all_into`]).
pub struct ChunkOpener {
    key: LessSafeKey,
    header: SealedHeader,
    aad: [u8; DIGEST_LEN],
    next: u64,
}

impl ChunkOpener {
    /// An opener for the artifact whose header is `header`, under `dek`.
    pub fn new(dek: &DataKey, header: SealedHeader) -> Self {
        Self {
            key: dek.aead(),
            aad: sha384(&header.encode()),
            header,
            next: 0,
        }
    }

    /// The header.
    pub fn header(&self) -> &SealedHeader {
        &self.header
    }

    /// Opens the next chunk in place (`chunk` = ciphertext ‖ tag) and returns its plaintext,
    /// a prefix of `chunk`.
    ///
    /// # Errors
    /// `sealed.out_of_sequence` after the last chunk or for a chunk of the wrong size,
    /// `sealed.chunk_rejected` if it does not authenticate.
    pub fn open_next<'c>(&mut self, chunk: &'c mut [u8]) -> Result<&'c mut [u8], SealError> {
        let plain = self.open_at(self.next, chunk)?;
        self.next += 1;
        Ok(plain)
    }

    /// Opens chunk `index` in place; chunks are independent, so this can run on any thread.
    ///
    /// # Errors
    /// As [`open_next`](Self::open_next).
    pub fn open_at<'c>(&self, index: u64, chunk: &'c mut [u8]) -> Result<&'c mut [u8], SealError> {
        let count = self.header.chunk_count();
        let expected_len = self.header.chunk_plaintext_len(index) + TAG_LEN;
        if index >= count || chunk.len() != expected_len {
            return Err(SealError::OutOfSequence {
                index,
                expected: self.next,
                count,
            });
        }
        let nonce = self.header.nonce(index)?;
        let opened = self
            .key
            .open_in_place(nonce, Aad::from(&self.aad[..]), chunk)
            .map(|plain| plain.len());
        match opened {
            Ok(len) => Ok(&mut chunk[..len]),
            Err(_) => {
                // Leave no unauthenticated plaintext behind.
                chunk.zeroize();
                Err(SealError::ChunkRejected { index })
            }
        }
    }

    /// Opens chunk `index` from `sealed` (its ciphertext ‖ tag, e.g. straight from the file,
    /// left untouched) into `out`, which must be exactly its plaintext length: the ciphertext is
    /// read once and the plaintext written once, with no copy in between. Like
    /// [`open_at`](Self::open_at) it can run on any thread; on failure `out` is zeroized.
    ///
    /// ```
    /// use cloister_proto::sealed::{ChunkOpener, DataKey, SealedHeader, seal};
    /// let dek = DataKey::from_bytes([7; 32]);
    /// let header = SealedHeader::new("m", 4096, 5000, [1; 48], [2; 7])?;
    /// let sealed = seal(&dek, &header, &[0x5a; 5000])?;
    /// let first = &sealed[header.encode().len()..][..4096 + 16];
    /// let mut plain = [0; 4096];
    /// ChunkOpener::new(&dek, header).open_at_into(0, first, &mut plain)?;
    /// assert_eq!(plain, [0x5a; 4096]);
    /// # Ok::<(), cloister_proto::sealed::SealError>(())
    /// ```
    ///
    /// # Errors
    /// `sealed.out_of_sequence` for an index past the last chunk or a `sealed` or `out` of the
    /// wrong size, `sealed.chunk_rejected` if it does not authenticate.
    pub fn open_at_into(&self, index: u64, sealed: &[u8], out: &mut [u8]) -> Result<(), SealError> {
        let count = self.header.chunk_count();
        let len = self.header.chunk_plaintext_len(index);
        if index >= count || sealed.len() != len + TAG_LEN || out.len() != len {
            return Err(SealError::OutOfSequence {
                index,
                expected: self.next,
                count,
            });
        }
        let nonce = self.header.nonce(index)?;
        let (ciphertext, tag) = sealed.split_at(len);
        let opened =
            self.key
                .open_separate_gather(nonce, Aad::from(&self.aad[..]), ciphertext, tag, out);
        if opened.is_err() {
            // aws-lc writes the plaintext before it checks the tag: leave none of it behind.
            out.zeroize();
            return Err(SealError::ChunkRejected { index });
        }
        Ok(())
    }

    /// Succeeds only when every chunk was opened with [`open_next`](Self::open_next): a stream
    /// that stops early is truncated.
    ///
    /// # Errors
    /// `sealed.out_of_sequence`.
    pub fn finish(self) -> Result<SealedHeader, SealError> {
        let count = self.header.chunk_count();
        if self.next != count {
            return Err(SealError::OutOfSequence {
                index: self.next,
                expected: self.next,
                count,
            });
        }
        Ok(self.header)
    }
}

/// Seals `plaintext` (exactly `header.plaintext_len()` bytes) under `dek`.
///
/// # Errors
/// `sealed.plaintext_length` if the lengths differ.
pub fn seal(dek: &DataKey, header: &SealedHeader, plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
    seal_with_progress(dek, header, plaintext, |_| {})
}

/// As [`seal`], calling `progress` with the plaintext bytes sealed so far after every chunk
/// (for a progress bar).
///
/// # Errors
/// `sealed.plaintext_length` if the lengths differ.
pub fn seal_with_progress(
    dek: &DataKey,
    header: &SealedHeader,
    plaintext: &[u8],
    mut progress: impl FnMut(u64),
) -> Result<Vec<u8>, SealError> {
    if plaintext.len() as u64 != header.plaintext_len {
        return Err(SealError::PlaintextLength {
            expected: header.plaintext_len,
            found: plaintext.len() as u64,
        });
    }
    let key = dek.aead();
    let encoded = header.encode();
    let aad = sha384(&encoded);
    let capacity = usize::try_from(header.sealed_len()).unwrap_or(usize::MAX);
    let mut out = Vec::with_capacity(capacity);
    out.extend_from_slice(&encoded);
    let chunk = usize::try_from(header.chunk_size).unwrap_or(usize::MAX);
    for index in 0..header.chunk_count() {
        let start = usize::try_from(index)
            .unwrap_or(usize::MAX)
            .saturating_mul(chunk);
        let part = &plaintext[start..start + header.chunk_plaintext_len(index)];
        let at = out.len();
        out.extend_from_slice(part);
        let tag = key
            .seal_in_place_separate_tag(header.nonce(index)?, Aad::from(&aad[..]), &mut out[at..])
            .map_err(|_| SealError::ChunkRejected { index })?;
        out.extend_from_slice(tag.as_ref());
        progress((start + part.len()) as u64);
    }
    Ok(out)
}

/// Opens a whole sealed artifact held in memory. All or nothing: on any error no plaintext is
/// returned and the partial buffer is zeroized.
///
/// # Errors
/// Any [`SealError`]: a bad header, a length that does not match (truncated or extended), or a
/// chunk that does not authenticate.
pub fn open(dek: &DataKey, sealed: &[u8]) -> Result<(SealedHeader, Zeroizing<Vec<u8>>), SealError> {
    let (header, header_len) = SealedHeader::parse(sealed)?;
    if sealed.len() as u64 != header.sealed_len() {
        return Err(SealError::LengthMismatch {
            expected: header.sealed_len(),
            found: sealed.len() as u64,
        });
    }
    let mut buf = Zeroizing::new(sealed[header_len..].to_vec());
    let mut opener = ChunkOpener::new(dek, header);
    let mut plain = Zeroizing::new(Vec::with_capacity(
        usize::try_from(opener.header().plaintext_len()).unwrap_or(0),
    ));
    let mut rest: &mut [u8] = &mut buf[..];
    for index in 0..opener.header().chunk_count() {
        let len = opener.header().chunk_plaintext_len(index) + TAG_LEN;
        let (chunk, tail) = rest.split_at_mut(len);
        plain.extend_from_slice(opener.open_next(chunk)?);
        rest = tail;
    }
    let header = opener.finish()?;
    Ok((header, plain))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEN: u64 = 3 * 4096 + 100;

    fn sample() -> (DataKey, SealedHeader, Vec<u8>, Vec<u8>) {
        let dek = DataKey::from_bytes([9; 32]);
        let header = SealedHeader::new("m", 4096, LEN, [3; 48], [4; 7]).expect("header");
        let plain: Vec<u8> = (0..LEN).map(|i| (i * 31 % 251) as u8).collect();
        let sealed = seal(&dek, &header, &plain).expect("seal");
        (dek, header, plain, sealed)
    }

    fn code(r: Result<(SealedHeader, Zeroizing<Vec<u8>>), SealError>) -> &'static str {
        r.expect_err("rejected").code()
    }

    #[test]
    fn round_trips_and_has_the_specified_length() {
        let (dek, header, plain, sealed) = sample();
        assert_eq!(header.chunk_count(), 4);
        assert_eq!(sealed.len() as u64, header.sealed_len());
        let (back, opened) = open(&dek, &sealed).expect("open");
        assert_eq!(back, header);
        assert_eq!(&opened[..], &plain[..]);
        // An empty model is one empty last chunk.
        let empty = SealedHeader::new("m", 4096, 0, [3; 48], [4; 7]).expect("header");
        let sealed = seal(&dek, &empty, &[]).expect("seal");
        assert_eq!(empty.chunk_count(), 1);
        assert!(open(&dek, &sealed).expect("open").1.is_empty());
    }

    #[test]
    fn every_flipped_byte_is_rejected() {
        let (dek, _, _, sealed) = sample();
        // Every byte of the header and of the first and last chunks, and a sample of the rest.
        let last_start = sealed.len() - 100 - TAG_LEN;
        for i in (0..sealed.len()).filter(|&i| i < 200 || i >= last_start - 50 || i % 97 == 0) {
            let mut bad = sealed.clone();
            bad[i] ^= 1;
            assert!(open(&dek, &bad).is_err(), "byte {i}");
        }
    }

    #[test]
    fn truncation_extension_reordering_and_splicing_are_rejected() {
        let (dek, header, plain, sealed) = sample();
        let h = header.encode().len();
        let c = 4096 + TAG_LEN;
        // Truncated at a chunk boundary (the header's length no longer matches).
        assert_eq!(
            code(open(&dek, &sealed[..h + 3 * c])),
            "sealed.length_mismatch"
        );
        // Extended.
        let mut long = sealed.clone();
        long.extend_from_slice(&[0; TAG_LEN]);
        assert_eq!(code(open(&dek, &long)), "sealed.length_mismatch");
        // Two chunks swapped.
        let mut swapped = sealed.clone();
        let (a, b) = (h..h + c, h + c..h + 2 * c);
        let first = sealed[a.clone()].to_vec();
        swapped.copy_within(b.clone(), a.start);
        swapped[b].copy_from_slice(&first);
        assert_eq!(code(open(&dek, &swapped)), "sealed.chunk_rejected");
        // A header claiming fewer chunks: the old last chunk's flag no longer matches. Shorten
        // by a whole chunk and relabel the length: the chunk now last was sealed as not last.
        let short = SealedHeader::new("m", 4096, 3 * 4096, [3; 48], [4; 7]).expect("header");
        let mut relabelled = short.encode();
        relabelled.extend_from_slice(&sealed[h..h + 3 * c]);
        assert_eq!(code(open(&dek, &relabelled)), "sealed.chunk_rejected");
        // A chunk of another artifact (other manifest, same key and prefix).
        let other = SealedHeader::new("m", 4096, LEN, [5; 48], [4; 7]).expect("header");
        let other_sealed = seal(&dek, &other, &plain).expect("seal");
        let mut spliced = sealed.clone();
        spliced[h..h + c].copy_from_slice(&other_sealed[h..h + c]);
        assert_eq!(code(open(&dek, &spliced)), "sealed.chunk_rejected");
        // The wrong key.
        assert_eq!(
            code(open(&DataKey::from_bytes([8; 32]), &sealed)),
            "sealed.chunk_rejected"
        );
    }

    #[test]
    fn streaming_stops_short_and_out_of_order() {
        let (dek, header, _, sealed) = sample();
        let h = header.encode().len();
        let c = 4096 + TAG_LEN;
        let mut opener = ChunkOpener::new(&dek, header.clone());
        let mut first = sealed[h..h + c].to_vec();
        opener.open_next(&mut first).expect("chunk 0");
        assert_eq!(
            opener.finish().expect_err("stopped early").code(),
            "sealed.out_of_sequence"
        );
        // Chunks opened at their own index on any thread agree with the stream.
        let opener = ChunkOpener::new(&dek, header);
        let mut third = sealed[h + 2 * c..h + 3 * c].to_vec();
        assert!(opener.open_at(2, &mut third).is_ok());
        let mut third = sealed[h + 2 * c..h + 3 * c].to_vec();
        assert_eq!(
            opener
                .open_at(1, &mut third)
                .expect_err("wrong index")
                .code(),
            "sealed.chunk_rejected"
        );
        assert!(opener.open_at(4, &mut third).is_err());
    }

    #[test]
    fn bad_headers_are_typed() {
        let (dek, _, _, sealed) = sample();
        let mut magic = sealed.clone();
        magic[0] = b'X';
        assert_eq!(code(open(&dek, &magic)), "sealed.bad_magic");
        let mut version = sealed.clone();
        version[9] = 2;
        assert_eq!(code(open(&dek, &version)), "sealed.unsupported_version");
        assert_eq!(code(open(&dek, &sealed[..20])), "sealed.bad_header");
        assert_eq!(code(open(&dek, &[])), "sealed.bad_header");
        for (id, chunk) in [("", 4096), ("m", 1024), ("m", 32 << 20)] {
            assert!(SealedHeader::new(id, chunk, 1, [0; 48], [0; 7]).is_err());
        }
        let long_id = "x".repeat(MAX_MODEL_ID_LEN + 1);
        assert!(SealedHeader::new(&long_id, 4096, 1, [0; 48], [0; 7]).is_err());
        let header = SealedHeader::new("m", 4096, 10, [0; 48], [0; 7]).expect("header");
        assert_eq!(
            seal(&dek, &header, &[0; 9]).expect_err("length").code(),
            "sealed.plaintext_length"
        );
        assert_eq!(format!("{dek:?}"), "DataKey(..)");
    }
}
