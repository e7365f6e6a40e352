//! A streaming EIF reader that trusts no size.
//!
//! [`EifReader`] walks sections sequentially (as AWS's `EifReader` does) and checks that each
//! section header sits exactly where the header's offset table says and declares exactly the
//! size the size table says (as QEMU's seeking reader requires), so both kinds of reader see
//! the same image. Every byte passes through the CRC once; the whole-image checks (no trailing
//! bytes, CRC) run when [`EifReader::next_section`] returns `None`, so `Ok(None)` means the
//! image is well formed.

use std::io::Read;

use crate::EifError;
use crate::header::{CRC_OFFSET, EifHeader, HEADER_LEN};
use crate::section::{SECTION_HEADER_LEN, SectionHeader, SectionKind};

/// Largest metadata section accepted (nitro-cli caps custom metadata at 4 KiB; Docker
/// inspect JSON is larger but nowhere near this).
pub const MAX_METADATA_LEN: u64 = 16 << 20;
/// Largest signature section accepted (one certificate and one COSE_Sign1, as CBOR arrays).
pub const MAX_SIGNATURE_LEN: u64 = 1 << 20;

/// One section about to be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SectionInfo {
    /// Position in the image (0 = kernel).
    pub index: usize,
    /// File offset of the section header.
    pub offset: u64,
    /// Type and data size.
    pub header: SectionHeader,
}

/// Reads an EIF from any [`Read`], one section at a time.
#[derive(Debug)]
pub struct EifReader<R> {
    inner: R,
    header: EifHeader,
    file_len: Option<u64>,
    crc: crc32fast::Hasher,
    pos: u64,
    next_index: usize,
    remaining: u64,
    current: Option<SectionInfo>,
    done: bool,
}

impl<R: Read> EifReader<R> {
    /// Reads and checks the file header. `file_len`, when known (a file's metadata), lets the
    /// reader reject a section larger than the rest of the file before reading it.
    ///
    /// # Errors
    ///
    /// `eif.truncated` and the header errors of [`EifHeader::parse`]; `eif.io`.
    pub fn new(mut inner: R, file_len: Option<u64>) -> Result<Self, EifError> {
        let mut bytes = [0u8; HEADER_LEN];
        read_full(&mut inner, &mut bytes, 0)?;
        let header = EifHeader::parse(&bytes)?;
        let mut crc = crc32fast::Hasher::new();
        crc.update(&bytes[..CRC_OFFSET]);
        Ok(Self {
            inner,
            header,
            file_len,
            crc,
            pos: HEADER_LEN as u64,
            next_index: 0,
            remaining: 0,
            current: None,
            done: false,
        })
    }

    /// The file header.
    pub fn header(&self) -> &EifHeader {
        &self.header
    }

    /// Moves to the next section, skipping (but checksumming) unread data of the current one.
    /// Returns `None` after the last section, once the whole image has checked out.
    ///
    /// # Errors
    ///
    /// Any format error (`eif.*`), including `eif.bad_crc` and `eif.trailing_bytes` at the end.
    pub fn next_section(&mut self) -> Result<Option<SectionInfo>, EifError> {
        let mut scratch = [0u8; 8192];
        while self.read_data(&mut scratch)? > 0 {}
        self.current = None;
        if self.done {
            return Ok(None);
        }
        let count = self.header.sections.len();
        let index = self.next_index;
        if index == count {
            self.finish()?;
            return Ok(None);
        }
        let offset = self.pos;
        let mut bytes = [0u8; SECTION_HEADER_LEN];
        read_full(&mut self.inner, &mut bytes, offset)?;
        self.crc.update(&bytes);
        self.pos += SECTION_HEADER_LEN as u64;
        let header = SectionHeader::parse(&bytes, index)?;
        header.kind.check_position(index, count)?;
        let entry = self.header.sections[index];
        if entry.offset != offset || entry.size != header.size {
            return Err(EifError::SectionTableMismatch {
                index,
                table_offset: entry.offset,
                table_size: entry.size,
                actual_offset: offset,
                actual_size: header.size,
            });
        }
        let type_limit = match header.kind {
            SectionKind::Metadata => MAX_METADATA_LEN,
            SectionKind::Signature => MAX_SIGNATURE_LEN,
            _ => u64::MAX,
        };
        let file_limit = self
            .file_len
            .map_or(u64::MAX, |len| len.saturating_sub(self.pos));
        let limit = type_limit.min(file_limit);
        if header.size > limit {
            return Err(EifError::SectionTooLarge {
                index,
                kind: header.kind,
                size: header.size,
                limit,
            });
        }
        let info = SectionInfo {
            index,
            offset,
            header,
        };
        self.next_index += 1;
        self.remaining = header.size;
        self.current = Some(info);
        Ok(Some(info))
    }

    /// Reads data of the current section into `buf`; returns 0 at its end.
    ///
    /// # Errors
    ///
    /// `eif.truncated` if the input ends inside the section; `eif.io`.
    pub fn read_data(&mut self, buf: &mut [u8]) -> Result<usize, EifError> {
        if self.remaining == 0 || buf.is_empty() {
            return Ok(0);
        }
        let want = usize::try_from(self.remaining)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let n = loop {
            match self.inner.read(&mut buf[..want]) {
                Ok(0) => {
                    return Err(EifError::Truncated {
                        offset: self.pos,
                        needed: self.remaining,
                    });
                }
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        };
        self.crc.update(&buf[..n]);
        self.pos += n as u64;
        self.remaining -= n as u64;
        Ok(n)
    }

    /// Reads all data of the current section into a vector (its size was bounded when the
    /// section header was read).
    ///
    /// # Errors
    ///
    /// As [`EifReader::read_data`].
    pub fn read_section_to_vec(&mut self) -> Result<Vec<u8>, EifError> {
        let mut out = Vec::with_capacity(usize::try_from(self.remaining.min(1 << 20)).unwrap_or(0));
        let mut buf = [0u8; 8192];
        loop {
            let n = self.read_data(&mut buf)?;
            if n == 0 {
                return Ok(out);
            }
            out.extend_from_slice(&buf[..n]);
        }
    }

    fn finish(&mut self) -> Result<(), EifError> {
        self.done = true;
        let mut probe = [0u8; 1];
        loop {
            match self.inner.read(&mut probe) {
                Ok(0) => break,
                Ok(_) => {
                    return Err(EifError::TrailingBytes {
                        offset: self.pos,
                        extra: self
                            .file_len
                            .map_or(1, |l| l.saturating_sub(self.pos).max(1)),
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        let computed = self.crc.clone().finalize();
        if computed != self.header.crc {
            return Err(EifError::BadCrc {
                expected: self.header.crc,
                computed,
            });
        }
        Ok(())
    }
}

/// Fills `buf` or reports how much was missing at `offset`.
fn read_full<R: Read>(r: &mut R, buf: &mut [u8], offset: u64) -> Result<(), EifError> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => {
                return Err(EifError::Truncated {
                    offset: offset + got as u64,
                    needed: (buf.len() - got) as u64,
                });
            }
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
