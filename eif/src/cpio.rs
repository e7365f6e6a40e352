//! Reproducible initramfs: a directory as a cpio "newc" archive (the format the Linux kernel
//! unpacks, `Documentation/driver-api/early-userspace/buffer-format.rst`).
//!
//! Entries are sorted by path bytes (parents before children); uid, gid, device numbers and
//! `check` are 0; mtime is the given value (`SOURCE_DATE_EPOCH` or 0); inode numbers count up
//! from 1 in archive order; nlink is 2 for directories and 1 otherwise. Only the permission
//! bits come from the file system. The same tree gives the same bytes on any machine.

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::EifError;

const HEADER_LEN: u64 = 110;
const TRAILER: &str = "TRAILER!!!";
const S_IFDIR: u32 = 0o040_000;
const S_IFREG: u32 = 0o100_000;
const S_IFLNK: u32 = 0o120_000;

#[derive(Clone, Debug)]
enum Body {
    Dir,
    File { path: PathBuf, size: u32 },
    Symlink { target: Vec<u8> },
}

#[derive(Clone, Debug)]
struct Entry {
    name: Vec<u8>,
    perm: u32,
    body: Body,
}

/// A planned archive: the directory was walked and sized; [`CpioArchive::write_to`] streams
/// the file contents and fails if any file changed size since.
#[derive(Clone, Debug)]
pub struct CpioArchive {
    entries: Vec<Entry>,
    mtime: u32,
    len: u64,
}

impl CpioArchive {
    /// Walks `dir` (symlinks are stored, not followed) and plans the archive.
    ///
    /// # Errors
    ///
    /// `eif.cpio` for a special file (device, FIFO, socket), a file of 4 GiB or more, or a
    /// path name too long; `eif.io` if the tree cannot be read.
    pub fn from_dir(dir: &Path, mtime: u32) -> Result<Self, EifError> {
        let mut entries = Vec::new();
        collect(dir, Vec::new(), &mut entries)?;
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        let mut len = 0u64;
        for e in &entries {
            len += entry_len(e.name.len(), body_len(&e.body));
        }
        len += entry_len(TRAILER.len(), 0);
        Ok(Self {
            entries,
            mtime,
            len,
        })
    }

    /// The archive size in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the archive holds no entry besides the trailer.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Writes the archive.
    ///
    /// # Errors
    ///
    /// `eif.cpio` if a file changed size since planning; `eif.io`.
    pub fn write_to(&self, out: &mut dyn Write) -> Result<(), EifError> {
        let mut ino = 0u32;
        for e in &self.entries {
            ino += 1;
            let (kind, nlink) = match e.body {
                Body::Dir => (S_IFDIR, 2),
                Body::File { .. } => (S_IFREG, 1),
                Body::Symlink { .. } => (S_IFLNK, 1),
            };
            let size = body_len(&e.body);
            write_header(out, ino, kind | e.perm, nlink, self.mtime, size, &e.name)?;
            match &e.body {
                Body::Dir => {}
                Body::Symlink { target } => out.write_all(target)?,
                Body::File { path, size } => copy_exact(path, u64::from(*size), out)?,
            }
            out.write_all(&[0u8; 3][..pad4(size as usize)])?;
        }
        write_header(out, 0, 0, 1, 0, 0, TRAILER.as_bytes())
    }
}

fn collect(root: &Path, prefix: Vec<u8>, out: &mut Vec<Entry>) -> Result<(), EifError> {
    let dir = if prefix.is_empty() {
        root.to_path_buf()
    } else {
        root.join(std::ffi::OsStr::from_bytes(&prefix))
    };
    for item in std::fs::read_dir(&dir)? {
        let item = item?;
        let mut name = prefix.clone();
        if !name.is_empty() {
            name.push(b'/');
        }
        name.extend_from_slice(item.file_name().as_bytes());
        let path = item.path();
        let meta = std::fs::symlink_metadata(&path)?;
        let perm = meta.permissions().mode() & 0o7777;
        let bad = |reason: &str| EifError::Cpio {
            path: path.display().to_string(),
            reason: reason.to_owned(),
        };
        let ft = meta.file_type();
        let body = if ft.is_dir() {
            Body::Dir
        } else if ft.is_file() {
            let size = u32::try_from(meta.len()).map_err(|_| bad("file of 4 GiB or more"))?;
            Body::File {
                path: path.clone(),
                size,
            }
        } else if ft.is_symlink() {
            Body::Symlink {
                target: std::fs::read_link(&path)?.as_os_str().as_bytes().to_vec(),
            }
        } else {
            return Err(bad(
                "special files (devices, FIFOs, sockets) are not archived",
            ));
        };
        if name.len() >= 4096 {
            return Err(bad("path name too long"));
        }
        let is_dir = matches!(body, Body::Dir);
        out.push(Entry {
            name: name.clone(),
            perm,
            body,
        });
        if is_dir {
            collect(root, name, out)?;
        }
    }
    Ok(())
}

fn body_len(b: &Body) -> u32 {
    match b {
        Body::Dir => 0,
        Body::File { size, .. } => *size,
        // Bounded by PATH_MAX on Linux.
        Body::Symlink { target } => u32::try_from(target.len()).unwrap_or(u32::MAX),
    }
}

fn pad4(n: usize) -> usize {
    (4 - n % 4) % 4
}

fn entry_len(name_len: usize, size: u32) -> u64 {
    let head = HEADER_LEN as usize + name_len + 1;
    (head + pad4(head)) as u64 + u64::from(size) + pad4(size as usize) as u64
}

fn write_header(
    out: &mut dyn Write,
    ino: u32,
    mode: u32,
    nlink: u32,
    mtime: u32,
    size: u32,
    name: &[u8],
) -> Result<(), EifError> {
    // Name length is bounded (< 4096) when planning.
    let namesize = u32::try_from(name.len() + 1).unwrap_or(u32::MAX);
    let fields = [ino, mode, 0, 0, nlink, mtime, size, 0, 0, 0, 0, namesize, 0];
    let mut head = String::with_capacity(HEADER_LEN as usize);
    head.push_str("070701");
    for f in fields {
        head.push_str(&format!("{f:08X}"));
    }
    out.write_all(head.as_bytes())?;
    out.write_all(name)?;
    out.write_all(&[0])?;
    out.write_all(&[0u8; 3][..pad4(HEADER_LEN as usize + name.len() + 1)])?;
    Ok(())
}

fn copy_exact(path: &Path, size: u64, out: &mut dyn Write) -> Result<(), EifError> {
    let mut f = File::open(path)?.take(size + 1);
    let copied = std::io::copy(&mut f, out)?;
    if copied != size {
        return Err(EifError::Cpio {
            path: path.display().to_string(),
            reason: format!("changed size while archiving ({size} → {copied} bytes)"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_is_sorted_normalised_and_sized() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        std::fs::create_dir_all(root.join("bin")).expect("mkdir");
        std::fs::write(root.join("init"), b"#!/bin/sh\n").expect("write");
        std::fs::write(root.join("bin/app"), b"app").expect("write");
        std::os::unix::fs::symlink("init", root.join("linit")).expect("symlink");
        let a = CpioArchive::from_dir(root, 0).expect("plan");
        let mut bytes = Vec::new();
        a.write_to(&mut bytes).expect("write");
        assert_eq!(bytes.len() as u64, a.len());
        assert_eq!(bytes.len() % 4, 0);
        let text = String::from_utf8_lossy(&bytes);
        let order: Vec<usize> = ["bin\0", "bin/app\0", "init\0", "linit\0", "TRAILER!!!\0"]
            .iter()
            .map(|n| text.find(n).expect("entry present"))
            .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
        // First header: ino 1, directory, uid/gid 0, nlink 2, mtime 0.
        assert!(text.starts_with("07070100000001000041"));
        assert_eq!(&text[22..54], "00000000000000000000000200000000");
    }
}
