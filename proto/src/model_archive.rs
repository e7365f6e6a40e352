//! The canonical archive of a model's files: the one byte string a model's digest is taken
//! over, whether the model is loaded from a directory or unsealed from a sealed artifact.
//!
//! ```text
//! archive = "CLMODELv1" ‖ count u32 ‖ entry*count                        (all big-endian)
//! entry   = lp16(path) ‖ len u64 ‖ bytes[len]
//! ```
//!
//! Entries are sorted by path (byte order) with no duplicates, so one set of files has exactly
//! one archive. A path is relative, `/`-separated UTF-8 of 1 to [`MAX_PATH_LEN`] bytes whose
//! segments are neither empty, `.` nor `..`, with no `\` and no control character; no path may
//! be both a file and a directory (`a` and `a/b`). The parser takes these rules as checks, so
//! every archive it accepts is the canonical one of its files and re-encodes to the same bytes.
//!
//! The model digest is `SHA-384(archive)` ([`ModelArchive::sha384`]): every file of the model,
//! graph and manifest alike. It is what the enclave serves in its signed served-models list,
//! what every signed result names as `model_sha384`, what a trust policy's `models` entry pins,
//! and what a sealed model's signed manifest calls `plaintext_sha384`.
//!
//! A model directory holds more than the model: `README.md` and `sample-input.json` are its
//! documentation and a fixture. The model is the files the enclave loads, [`MODEL_FILES`];
//! [`ModelFiles::read_model_dir`] reads exactly those, so editing a README changes no pin (and a
//! README may quote the digest without chasing its own tail).
//!
//! ```
//! use cloister_proto::model_archive::{ArchiveEntry, ModelArchive};
//! let archive = ModelArchive::new(vec![
//!     ArchiveEntry::new("model.onnx", b"graph"),
//!     ArchiveEntry::new("model.json", b"{}"),
//! ])?;
//! let bytes = archive.encode();
//! let back = ModelArchive::parse(&bytes)?;
//! assert_eq!(back.entries()[0].path(), "model.json");
//! assert_eq!(back.get("model.onnx"), Some(&b"graph"[..]));
//! assert_eq!(back.sha384(), cloister_proto::sha384(&bytes));
//! # Ok::<(), cloister_proto::model_archive::ArchiveError>(())
//! ```

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use sha2::Digest;

use crate::DIGEST_LEN;

/// The first nine bytes of every model archive.
pub const ARCHIVE_MAGIC: [u8; 9] = *b"CLMODELv1";
/// Most files one archive may hold: a model is a graph and a manifest, plus room to grow.
pub const MAX_FILES: usize = 1024;
/// Longest path inside an archive, in bytes.
pub const MAX_PATH_LEN: usize = 255;
/// Largest archive: the sealed format's plaintext limit (1 TiB).
pub const MAX_ARCHIVE_LEN: u64 = crate::sealed::MAX_PLAINTEXT_LEN;
/// The files of a Cloister model directory that make up the model, in archive order.
pub const MODEL_FILES: [&str; 2] = ["model.json", "model.onnx"];

/// Why a set of files is not a canonical archive, or an archive does not parse.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArchiveError {
    /// The bytes do not start with [`ARCHIVE_MAGIC`].
    #[error("not a Cloister model archive (no CLMODELv1 magic)")]
    BadMagic,
    /// A field runs past the end of the input.
    #[error("model archive: {field} needs {needed} bytes, {available} remain")]
    Truncated {
        /// The field being read.
        field: &'static str,
        /// Bytes it needs.
        needed: u64,
        /// Bytes left.
        available: u64,
    },
    /// Bytes follow the last entry.
    #[error("model archive: {count} trailing bytes after the last file")]
    TrailingBytes {
        /// How many.
        count: usize,
    },
    /// More files than [`MAX_FILES`], or none at all.
    #[error("model archive holds {count} files, it must hold 1 to {limit}")]
    FileCount {
        /// The count found.
        count: u64,
        /// [`MAX_FILES`].
        limit: usize,
    },
    /// A path breaks the path rules (see the module documentation).
    #[error("model archive path {path:?} {problem}")]
    BadPath {
        /// The path (lossy UTF-8, at most [`MAX_PATH_LEN`] bytes of it).
        path: String,
        /// Which rule it breaks.
        problem: &'static str,
    },
    /// Paths are not strictly ascending: out of order or duplicated.
    #[error("model archive path {path:?} follows {previous:?}: paths must be strictly ascending")]
    Unsorted {
        /// The path before.
        previous: String,
        /// The path out of place.
        path: String,
    },
    /// A path is a file and also a directory of another path.
    #[error("model archive path {path:?} is a file and also the directory of {other:?}")]
    PathConflict {
        /// The file.
        path: String,
        /// A path beneath it.
        other: String,
    },
    /// The archive would exceed [`MAX_ARCHIVE_LEN`].
    #[error("model archive would be {len} bytes, the limit is {limit}")]
    TooLarge {
        /// Its length (saturated).
        len: u64,
        /// [`MAX_ARCHIVE_LEN`].
        limit: u64,
    },
    /// A model file is a symlink, a directory or a device, not a regular file.
    #[error("{}: not a regular file (symlinks are not followed)", path.display())]
    NotRegularFile {
        /// The file.
        path: PathBuf,
    },
    /// A model file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl ArchiveError {
    /// A stable dotted code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadMagic => "archive.bad_magic",
            Self::Truncated { .. } => "archive.truncated",
            Self::TrailingBytes { .. } => "archive.trailing_bytes",
            Self::FileCount { .. } => "archive.file_count",
            Self::BadPath { .. } => "archive.bad_path",
            Self::Unsorted { .. } => "archive.unsorted",
            Self::PathConflict { .. } => "archive.path_conflict",
            Self::TooLarge { .. } => "archive.too_large",
            Self::NotRegularFile { .. } => "archive.not_regular_file",
            Self::Io { .. } => "archive.io",
        }
    }

    /// What to do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            Self::NotRegularFile { .. } | Self::Io { .. } => {
                "a model directory needs model.json and model.onnx as regular files"
            }
            Self::FileCount { .. } | Self::TooLarge { .. } => {
                "the model is larger than this format allows"
            }
            _ => "the archive is damaged or was not made by cloister: seal the model again",
        }
    }
}

/// One file of an archive, borrowed: the archive never copies file bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ArchiveEntry<'a> {
    path: &'a str,
    bytes: &'a [u8],
}

impl<'a> ArchiveEntry<'a> {
    /// A file; its path is checked when the archive is built.
    pub fn new(path: &'a str, bytes: &'a [u8]) -> Self {
        Self { path, bytes }
    }

    /// The relative path.
    pub fn path(&self) -> &'a str {
        self.path
    }

    /// The contents.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }
}

impl std::fmt::Debug for ArchiveEntry<'_> {
    /// Path and length only: file contents may be a model owner's weights.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArchiveEntry")
            .field("path", &self.path)
            .field("len", &self.bytes.len())
            .finish()
    }
}

/// A checked, canonically ordered set of files, borrowing their bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelArchive<'a> {
    entries: Vec<ArchiveEntry<'a>>,
}

impl<'a> ModelArchive<'a> {
    /// Sorts `entries` by path and checks them (paths, duplicates, count, total size).
    ///
    /// # Errors
    /// `archive.file_count`, `archive.bad_path`, `archive.unsorted` (a duplicate path),
    /// `archive.path_conflict` or `archive.too_large`.
    pub fn new(mut entries: Vec<ArchiveEntry<'a>>) -> Result<Self, ArchiveError> {
        entries.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
        let archive = Self { entries };
        archive.check()?;
        Ok(archive)
    }

    /// Parses an archive: the whole input, nothing before or after it.
    ///
    /// # Errors
    /// `archive.bad_magic`, `archive.truncated`, `archive.trailing_bytes`, and every check of
    /// [`ModelArchive::new`] (a non-canonical order is `archive.unsorted`, not re-sorted).
    pub fn parse(bytes: &'a [u8]) -> Result<Self, ArchiveError> {
        let mut r = Reader { bytes, pos: 0 };
        if r.take(ARCHIVE_MAGIC.len() as u64, "magic")? != ARCHIVE_MAGIC {
            return Err(ArchiveError::BadMagic);
        }
        let count = u64::from(u32::from_be_bytes(r.array("file count")?));
        if count == 0 || count > MAX_FILES as u64 {
            return Err(ArchiveError::FileCount {
                count,
                limit: MAX_FILES,
            });
        }
        let mut entries = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let path_len = u64::from(u16::from_be_bytes(r.array("path length")?));
            let raw = r.take(path_len, "path")?;
            let path = std::str::from_utf8(raw).map_err(|_| ArchiveError::BadPath {
                path: shown(&String::from_utf8_lossy(raw)),
                problem: "is not UTF-8",
            })?;
            let len = u64::from_be_bytes(r.array("file length")?);
            let bytes = r.take(len, "file bytes")?;
            entries.push(ArchiveEntry { path, bytes });
        }
        if r.pos != bytes.len() {
            return Err(ArchiveError::TrailingBytes {
                count: bytes.len() - r.pos,
            });
        }
        let archive = Self { entries };
        archive.check()?;
        Ok(archive)
    }

    /// The files, ascending by path.
    pub fn entries(&self) -> &[ArchiveEntry<'a>] {
        &self.entries
    }

    /// The contents of the file at `path`, if the archive holds it.
    pub fn get(&self, path: &str) -> Option<&'a [u8]> {
        self.entries
            .binary_search_by(|e| e.path.as_bytes().cmp(path.as_bytes()))
            .ok()
            .and_then(|i| self.entries.get(i))
            .map(|e| e.bytes)
    }

    /// The length of [`encode`](Self::encode)'s output.
    pub fn encoded_len(&self) -> u64 {
        encoded_len(self.entries.iter().map(|e| (e.path.len(), e.bytes.len())))
    }

    /// The canonical encoding.
    pub fn encode(&self) -> Vec<u8> {
        let capacity = usize::try_from(self.encoded_len()).unwrap_or(0);
        let mut out = Vec::with_capacity(capacity);
        self.write_parts(|part| out.extend_from_slice(part));
        out
    }

    /// The model digest: SHA-384 of [`encode`](Self::encode)'s output, computed without
    /// building it.
    pub fn sha384(&self) -> [u8; DIGEST_LEN] {
        let mut h = sha2::Sha384::new();
        self.write_parts(|part| h.update(part));
        h.finalize().into()
    }

    /// Feeds the encoding, part by part, to `sink`: the one place the layout is written.
    fn write_parts(&self, mut sink: impl FnMut(&[u8])) {
        sink(&ARCHIVE_MAGIC);
        // check() bounds the count by MAX_FILES and each path by MAX_PATH_LEN.
        sink(&(self.entries.len() as u32).to_be_bytes());
        for e in &self.entries {
            sink(&(e.path.len() as u16).to_be_bytes());
            sink(e.path.as_bytes());
            sink(&(e.bytes.len() as u64).to_be_bytes());
            sink(e.bytes);
        }
    }

    fn check(&self) -> Result<(), ArchiveError> {
        let count = self.entries.len();
        if count == 0 || count > MAX_FILES {
            return Err(ArchiveError::FileCount {
                count: count as u64,
                limit: MAX_FILES,
            });
        }
        let mut previous: Option<&str> = None;
        for e in &self.entries {
            check_path(e.path)?;
            if let Some(p) = previous
                && p.as_bytes() >= e.path.as_bytes()
            {
                return Err(ArchiveError::Unsorted {
                    previous: p.to_owned(),
                    path: e.path.to_owned(),
                });
            }
            previous = Some(e.path);
        }
        // A file may not also be a directory: `a` beside `a/b` cannot come from a file system.
        let files: HashSet<&str> = self.entries.iter().map(|e| e.path).collect();
        for e in &self.entries {
            for (i, _) in e.path.match_indices('/') {
                if let Some(dir) = e.path.get(..i)
                    && files.contains(dir)
                {
                    return Err(ArchiveError::PathConflict {
                        path: dir.to_owned(),
                        other: e.path.to_owned(),
                    });
                }
            }
        }
        let len = self.encoded_len();
        if len > MAX_ARCHIVE_LEN {
            return Err(ArchiveError::TooLarge {
                len,
                limit: MAX_ARCHIVE_LEN,
            });
        }
        Ok(())
    }
}

/// The archive length of files with these (path length, file length) pairs.
pub(crate) fn encoded_len(files: impl Iterator<Item = (usize, usize)>) -> u64 {
    let fixed = ARCHIVE_MAGIC.len() as u64 + 4;
    files.fold(fixed, |acc, (path, len)| {
        acc.saturating_add(2 + path as u64 + 8)
            .saturating_add(len as u64)
    })
}

/// Checks one path against the archive's path rules.
///
/// # Errors
/// `archive.bad_path`, naming the rule.
pub fn check_path(path: &str) -> Result<(), ArchiveError> {
    let bad = |problem| {
        Err(ArchiveError::BadPath {
            path: shown(path),
            problem,
        })
    };
    if path.is_empty() || path.len() > MAX_PATH_LEN {
        return bad("must be 1 to 255 bytes");
    }
    if path.chars().any(|c| c.is_control() || c == '\\') {
        return bad("contains a control character or a backslash");
    }
    for segment in path.split('/') {
        match segment {
            "" => return bad("is absolute or has an empty segment"),
            "." | ".." => return bad("has a `.` or `..` segment"),
            _ => {}
        }
    }
    Ok(())
}

/// A path as an error shows it: bounded, never more than [`MAX_PATH_LEN`] bytes.
fn shown(path: &str) -> String {
    let mut end = path.len().min(MAX_PATH_LEN);
    while !path.is_char_boundary(end) {
        end -= 1;
    }
    path[..end].to_owned()
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: u64, field: &'static str) -> Result<&'a [u8], ArchiveError> {
        let available = (self.bytes.len() - self.pos) as u64;
        if n > available {
            return Err(ArchiveError::Truncated {
                field,
                needed: n,
                available,
            });
        }
        // n <= available, which is a usize.
        let end = self.pos + n as usize;
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], ArchiveError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N as u64, field)?);
        Ok(out)
    }
}

/// The files of a model, read from a directory and owned; [`ModelFiles::archive`] borrows them.
pub struct ModelFiles {
    files: Vec<(String, Vec<u8>)>,
}

impl ModelFiles {
    /// Reads [`MODEL_FILES`] from `dir`. Each must be a regular file (a symlink is refused, not
    /// followed) no larger than the archive allows.
    ///
    /// ```no_run
    /// use cloister_proto::model_archive::ModelFiles;
    /// let files = ModelFiles::read_model_dir("models/credit-risk-v1".as_ref())?;
    /// println!("{}", hex::encode(files.archive()?.sha384()));
    /// # Ok::<(), cloister_proto::model_archive::ArchiveError>(())
    /// ```
    ///
    /// # Errors
    /// `archive.not_regular_file`, `archive.io`, or `archive.too_large`.
    pub fn read_model_dir(dir: &Path) -> Result<Self, ArchiveError> {
        let mut files = Vec::with_capacity(MODEL_FILES.len());
        for name in MODEL_FILES {
            let path = dir.join(name);
            let io = |source| ArchiveError::Io {
                path: path.clone(),
                source,
            };
            let meta = std::fs::symlink_metadata(&path).map_err(io)?;
            if !meta.file_type().is_file() {
                return Err(ArchiveError::NotRegularFile { path });
            }
            if meta.len() > MAX_ARCHIVE_LEN {
                return Err(ArchiveError::TooLarge {
                    len: meta.len(),
                    limit: MAX_ARCHIVE_LEN,
                });
            }
            let bytes = std::fs::read(&path).map_err(io)?;
            files.push((name.to_owned(), bytes));
        }
        Ok(Self { files })
    }

    /// Files held in memory, e.g. for tests.
    pub fn from_files(files: Vec<(String, Vec<u8>)>) -> Self {
        Self { files }
    }

    /// The canonical archive of these files.
    ///
    /// # Errors
    /// As [`ModelArchive::new`].
    pub fn archive(&self) -> Result<ModelArchive<'_>, ArchiveError> {
        ModelArchive::new(
            self.files
                .iter()
                .map(|(p, b)| ArchiveEntry::new(p, b))
                .collect(),
        )
    }
}

impl std::fmt::Debug for ModelFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.files.iter().map(|(p, b)| (p, b.len())))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two() -> Vec<u8> {
        ModelArchive::new(vec![
            ArchiveEntry::new("model.onnx", b"graph"),
            ArchiveEntry::new("model.json", b"{}"),
        ])
        .expect("archive")
        .encode()
    }

    fn code(bytes: &[u8]) -> &'static str {
        ModelArchive::parse(bytes).expect_err("rejected").code()
    }

    #[test]
    fn encodes_the_documented_layout() {
        let bytes = two();
        let mut expected = b"CLMODELv1\0\0\0\x02".to_vec();
        expected.extend_from_slice(b"\0\x0amodel.json\0\0\0\0\0\0\0\x02{}");
        expected.extend_from_slice(b"\0\x0amodel.onnx\0\0\0\0\0\0\0\x05graph");
        assert_eq!(bytes, expected);
        let archive = ModelArchive::parse(&bytes).expect("parse");
        assert_eq!(archive.encoded_len(), bytes.len() as u64);
        assert_eq!(archive.sha384(), crate::sha384(&bytes));
        assert_eq!(archive.encode(), bytes);
        assert_eq!(archive.get("model.json"), Some(&b"{}"[..]));
        assert_eq!(archive.get("nope"), None);
        let dbg = format!("{archive:?}");
        assert!(dbg.contains("len: 5") && !dbg.contains("graph\""), "{dbg}");
    }

    #[test]
    fn paths_are_checked() {
        for (path, ok) in [
            ("a", true),
            ("dir/sub/file.bin", true),
            ("ünï/cödé", true),
            ("", false),
            ("/abs", false),
            ("a//b", false),
            ("a/", false),
            ("../up", false),
            ("a/./b", false),
            ("a/../b", false),
            ("win\\path", false),
            ("nul\0", false),
            ("new\nline", false),
        ] {
            assert_eq!(check_path(path).is_ok(), ok, "{path:?}");
        }
        assert!(check_path(&"x".repeat(MAX_PATH_LEN)).is_ok());
        assert!(check_path(&"x".repeat(MAX_PATH_LEN + 1)).is_err());
        let dup = ModelArchive::new(vec![
            ArchiveEntry::new("a", b""),
            ArchiveEntry::new("a", b""),
        ]);
        assert_eq!(dup.expect_err("dup").code(), "archive.unsorted");
        let conflict = ModelArchive::new(vec![
            ArchiveEntry::new("a", b""),
            ArchiveEntry::new("a-b", b""),
            ArchiveEntry::new("a/b", b""),
        ]);
        assert_eq!(
            conflict.expect_err("conflict").code(),
            "archive.path_conflict"
        );
        assert_eq!(
            ModelArchive::new(vec![]).expect_err("empty").code(),
            "archive.file_count"
        );
    }

    #[test]
    fn malformed_archives_are_typed() {
        let bytes = two();
        assert_eq!(code(b"CLMODELv2\0\0\0\x01"), "archive.bad_magic");
        assert_eq!(code(&[]), "archive.truncated");
        assert_eq!(code(&bytes[..bytes.len() - 1]), "archive.truncated");
        let mut long = bytes.clone();
        long.push(0);
        assert_eq!(code(&long), "archive.trailing_bytes");
        assert_eq!(code(b"CLMODELv1\0\0\0\0"), "archive.file_count");
        assert_eq!(code(b"CLMODELv1\xff\xff\xff\xff"), "archive.file_count");
        // The two entries swapped: well-formed, but not canonical.
        let swapped = [&bytes[..13], &bytes[13 + 22..], &bytes[13..13 + 22]].concat();
        assert_eq!(code(&swapped), "archive.unsorted");
        // A length that claims more than the input holds is refused before any allocation.
        let mut huge = b"CLMODELv1\0\0\0\x01\0\x01a".to_vec();
        huge.extend_from_slice(&u64::MAX.to_be_bytes());
        assert_eq!(code(&huge), "archive.truncated");
        let mut bad_utf8 = b"CLMODELv1\0\0\0\x01\0\x01\xff".to_vec();
        bad_utf8.extend_from_slice(&0u64.to_be_bytes());
        assert_eq!(code(&bad_utf8), "archive.bad_path");
        let mut dotdot = b"CLMODELv1\0\0\0\x01\0\x02..".to_vec();
        dotdot.extend_from_slice(&0u64.to_be_bytes());
        assert_eq!(code(&dotdot), "archive.bad_path");
    }

    #[test]
    fn reads_exactly_the_model_files_of_a_directory() {
        let dir = std::env::temp_dir().join(format!("cloister-archive-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join("model.json"), b"{}").expect("write");
        std::fs::write(dir.join("model.onnx"), b"graph").expect("write");
        std::fs::write(dir.join("README.md"), b"docs are not the model").expect("write");
        let files = ModelFiles::read_model_dir(&dir).expect("read");
        assert_eq!(files.archive().expect("archive").encode(), two());
        std::fs::remove_file(dir.join("model.onnx")).expect("rm");
        let e = ModelFiles::read_model_dir(&dir).expect_err("missing");
        assert_eq!(e.code(), "archive.io");
        assert!(e.to_string().contains("model.onnx"), "{e}");
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(dir.join("model.json"), dir.join("model.onnx"))
                .expect("symlink");
            let e = ModelFiles::read_model_dir(&dir).expect_err("symlink");
            assert_eq!(e.code(), "archive.not_regular_file");
        }
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
                let _ = ModelArchive::parse(&bytes);
                let mut prefixed = ARCHIVE_MAGIC.to_vec();
                prefixed.extend_from_slice(&bytes);
                if let Ok(a) = ModelArchive::parse(&prefixed) {
                    prop_assert_eq!(a.encode(), prefixed);
                }
            }
        }
    }
}
