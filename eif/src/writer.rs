//! Writes EIF v4 images in `EifBuilder::write_to` order: header, Kernel, Cmdline, Metadata,
//! Ramdisk..., Signature (research/nitro.md §1.3). Sections are contiguous and the header's
//! offset table points at each section header, so walking and seeking readers agree.
//!
//! Inputs are streamed; the header (which holds the CRC and the signature section's size) is
//! written last, so the output must be seekable. The CRC of the header is combined with the
//! CRC of the sections computed while streaming.

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use cloister_attestation::nitro::pcr::NitroMeasurer;

use crate::EifError;
use crate::cpio::CpioArchive;
use crate::header::{Arch, CRC_OFFSET, EifHeader, HEADER_LEN, MAX_SECTIONS, SectionEntry};
use crate::measure::Pcrs;
use crate::metadata::IdentityInfo;
use crate::section::{SECTION_HEADER_LEN, SectionHeader, SectionKind};
use crate::sign::SigningKey;

/// `EifBuilder`'s default enclave memory: 1 GiB.
pub const DEFAULT_MEM: u64 = 1 << 30;
/// `EifBuilder`'s default vCPU count.
pub const DEFAULT_CPUS: u64 = 2;

/// The bytes of one section: in memory, a file, or a directory archived as cpio.
#[derive(Debug)]
pub enum SectionSource {
    /// Bytes in memory.
    Bytes(Vec<u8>),
    /// A file, whose size was taken when the source was made.
    File {
        /// Its path.
        path: PathBuf,
        /// Its size when the source was made; a different size at write time is an error.
        len: u64,
    },
    /// A directory as a reproducible cpio archive.
    Cpio(CpioArchive),
}

impl SectionSource {
    /// A file source.
    ///
    /// # Errors
    ///
    /// `eif.io` if the file cannot be examined.
    pub fn file(path: &Path) -> Result<Self, EifError> {
        Ok(Self::File {
            path: path.to_path_buf(),
            len: std::fs::metadata(path)?.len(),
        })
    }

    /// A file, or a directory archived with `mtime` as every entry's time.
    ///
    /// # Errors
    ///
    /// As [`SectionSource::file`] and [`CpioArchive::from_dir`].
    pub fn file_or_dir(path: &Path, mtime: u32) -> Result<Self, EifError> {
        if std::fs::metadata(path)?.is_dir() {
            Ok(Self::Cpio(CpioArchive::from_dir(path, mtime)?))
        } else {
            Self::file(path)
        }
    }

    /// The section's data size.
    pub fn len(&self) -> u64 {
        match self {
            Self::Bytes(b) => b.len() as u64,
            Self::File { len, .. } => *len,
            Self::Cpio(a) => a.len(),
        }
    }

    /// Whether the section is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn write_to(&self, out: &mut dyn Write) -> Result<(), EifError> {
        match self {
            Self::Bytes(b) => out.write_all(b)?,
            Self::File { path, .. } => {
                std::io::copy(&mut File::open(path)?, out)?;
            }
            Self::Cpio(a) => a.write_to(out)?,
        }
        Ok(())
    }
}

/// What a build produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BuildOutput {
    /// The image's measurements.
    pub pcrs: Pcrs,
    /// The image's size in bytes.
    pub len: u64,
}

/// Assembles an EIF v4 image.
#[derive(Debug)]
pub struct EifBuilder {
    kernel: SectionSource,
    cmdline: Vec<u8>,
    metadata: IdentityInfo,
    ramdisks: Vec<SectionSource>,
    arch: Arch,
    default_mem: u64,
    default_cpus: u64,
    signer: Option<SigningKey>,
}

impl EifBuilder {
    /// A builder for an x86_64 image with `EifBuilder`'s defaults (1 GiB, 2 vCPUs). The
    /// command line is stored without a NUL terminator, as nitro-cli does.
    pub fn new(kernel: SectionSource, cmdline: &str, metadata: IdentityInfo) -> Self {
        Self {
            kernel,
            cmdline: cmdline.as_bytes().to_vec(),
            metadata,
            ramdisks: Vec::new(),
            arch: Arch::X86_64,
            default_mem: DEFAULT_MEM,
            default_cpus: DEFAULT_CPUS,
            signer: None,
        }
    }

    /// Appends a ramdisk (the first is the bootstrap ramdisk, measured into PCR1).
    #[must_use]
    pub fn ramdisk(mut self, source: SectionSource) -> Self {
        self.ramdisks.push(source);
        self
    }

    /// Sets the kernel architecture.
    #[must_use]
    pub fn arch(mut self, arch: Arch) -> Self {
        self.arch = arch;
        self
    }

    /// Signs the image with `key` (adds a signature section; PCR8 follows).
    #[must_use]
    pub fn sign_with(mut self, key: SigningKey) -> Self {
        self.signer = Some(key);
        self
    }

    /// Total size of the measured section data (for progress reporting).
    pub fn data_len(&self) -> u64 {
        self.kernel.len()
            + self.cmdline.len() as u64
            + self.ramdisks.iter().map(SectionSource::len).sum::<u64>()
    }

    /// Writes the image to `out` (from its current start), reporting bytes of section data
    /// written so far to `progress`.
    ///
    /// # Errors
    ///
    /// `eif.invalid_input` for no ramdisk, too many ramdisks or an input that changed size;
    /// `eif.io`, `eif.cpio`, `eif.bad_key`.
    pub fn write<W: Write + Seek>(
        &self,
        mut out: W,
        progress: &mut dyn FnMut(u64),
    ) -> Result<BuildOutput, EifError> {
        let signed = self.signer.is_some();
        let count = 3 + self.ramdisks.len() + usize::from(signed);
        if self.ramdisks.is_empty() || count > MAX_SECTIONS {
            return Err(EifError::InvalidInput {
                reason: format!(
                    "{} ramdisks: an image needs between 1 and {} ramdisks",
                    self.ramdisks.len(),
                    MAX_SECTIONS - 3 - usize::from(signed)
                ),
            });
        }
        let metadata = self.metadata.to_bytes();
        let cmdline = SectionSource::Bytes(self.cmdline.clone());
        let meta_src = SectionSource::Bytes(metadata);
        let mut plan: Vec<(SectionKind, &SectionSource)> = vec![
            (SectionKind::Kernel, &self.kernel),
            (SectionKind::Cmdline, &cmdline),
            (SectionKind::Metadata, &meta_src),
        ];
        plan.extend(self.ramdisks.iter().map(|r| (SectionKind::Ramdisk, r)));

        let start = out.stream_position()?;
        out.write_all(&[0u8; HEADER_LEN])?;
        let mut entries = Vec::with_capacity(count);
        let mut pos = HEADER_LEN as u64;
        let mut crc = crc32fast::Hasher::new();
        let (mut m0, mut m1, mut m2) = (
            NitroMeasurer::new(),
            NitroMeasurer::new(),
            NitroMeasurer::new(),
        );
        let mut done = 0u64;
        for (i, (kind, src)) in plan.iter().enumerate() {
            let size = src.len();
            let header = SectionHeader { kind: *kind, size }.encode();
            out.write_all(&header)?;
            crc.update(&header);
            let measured: Vec<&mut NitroMeasurer> = match kind {
                SectionKind::Metadata | SectionKind::Signature => vec![],
                SectionKind::Ramdisk if i > 3 => vec![&mut m0, &mut m2],
                _ => vec![&mut m0, &mut m1],
            };
            let mut tee = Tee {
                out: &mut out,
                crc: &mut crc,
                measurers: measured,
                written: 0,
                base: done,
                progress,
            };
            src.write_to(&mut tee)?;
            if tee.written != size {
                return Err(EifError::InvalidInput {
                    reason: format!(
                        "{kind:?} input changed size while building ({size} → {} bytes)",
                        tee.written
                    ),
                });
            }
            if !matches!(kind, SectionKind::Metadata) {
                done += size;
            }
            entries.push(SectionEntry { offset: pos, size });
            pos += SECTION_HEADER_LEN as u64 + size;
        }
        let pcr0 = m0.finish();
        let mut pcr8 = None;
        if let Some(key) = &self.signer {
            let data = key.signature_section(&pcr0)?;
            let header = SectionHeader {
                kind: SectionKind::Signature,
                size: data.len() as u64,
            }
            .encode();
            out.write_all(&header)?;
            out.write_all(&data)?;
            crc.update(&header);
            crc.update(&data);
            entries.push(SectionEntry {
                offset: pos,
                size: data.len() as u64,
            });
            pos += SECTION_HEADER_LEN as u64 + data.len() as u64;
            pcr8 = Some(key.certificate().pcr8());
        }
        let mut header = EifHeader {
            arch: self.arch,
            default_mem: self.default_mem,
            default_cpus: self.default_cpus,
            sections: entries,
            crc: 0,
        };
        let unsigned = header.encode(0);
        let mut total = crc32fast::Hasher::new();
        total.update(&unsigned[..CRC_OFFSET]);
        total.combine(&crc);
        header.crc = total.finalize();
        out.seek(SeekFrom::Start(start))?;
        out.write_all(&header.encode(header.crc))?;
        out.seek(SeekFrom::Start(start + pos))?;
        out.flush()?;
        Ok(BuildOutput {
            pcrs: Pcrs {
                pcr0,
                pcr1: m1.finish(),
                pcr2: m2.finish(),
                pcr8,
            },
            len: pos,
        })
    }
}

/// Writes through to `out` while checksumming, measuring and counting.
struct Tee<'a, W> {
    out: &'a mut W,
    crc: &'a mut crc32fast::Hasher,
    measurers: Vec<&'a mut NitroMeasurer>,
    written: u64,
    base: u64,
    progress: &'a mut dyn FnMut(u64),
}

impl<W: Write> Write for Tee<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.out.write(buf)?;
        let data = &buf[..n];
        self.crc.update(data);
        for m in &mut self.measurers {
            m.update(data);
        }
        self.written += n as u64;
        (self.progress)(self.base + self.written);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}
