//! One streaming pass over an image: structure and CRC checks, PCR0/1/2 on two hash threads,
//! metadata and signature parsed, PCR8 from the certificate (research/nitro.md §1.5).
//!
//! PCR0 hashes kernel ‖ cmdline ‖ every ramdisk; PCR1 hashes kernel ‖ cmdline ‖ ramdisk 0, a
//! prefix of PCR0's stream, so it is a copy of PCR0's hash state finished when ramdisk 0 ends;
//! PCR2 hashes the other ramdisks, a second stream. The calling thread reads each byte once
//! into pooled 1 MiB chunks and checksums it; one thread hashes PCR0 (and PCR1), another
//! PCR2, so measuring costs about one SHA-384 pass of wall-clock time on two cores.

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, channel, sync_channel};

use cloister_attestation::nitro::pcr::{NitroMeasurer, PCR_LEN};

use crate::EifError;
use crate::header::EifHeader;
use crate::metadata::IdentityInfo;
use crate::reader::{EifReader, SectionInfo};
use crate::section::SectionKind;
use crate::sign::SignatureSection;

const CHUNK_LEN: usize = 1 << 20;
const CHANNEL_DEPTH: usize = 4;

/// The image measurements, as `describe-eif` reports them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pcrs {
    /// Kernel, cmdline and all ramdisks.
    pub pcr0: [u8; PCR_LEN],
    /// Kernel, cmdline and the first ramdisk.
    pub pcr1: [u8; PCR_LEN],
    /// The ramdisks after the first.
    pub pcr2: [u8; PCR_LEN],
    /// The signing certificate, for a signed image.
    pub pcr8: Option<[u8; PCR_LEN]>,
}

/// Everything one pass over a well-formed image learns.
#[derive(Debug)]
pub struct Inspection {
    header: EifHeader,
    sections: Vec<SectionInfo>,
    pcrs: Pcrs,
    metadata: IdentityInfo,
    signature: Option<SignatureSection>,
    signature_check: Option<Result<(), EifError>>,
}

impl Inspection {
    /// The file header.
    pub fn header(&self) -> &EifHeader {
        &self.header
    }

    /// Every section, in file order.
    pub fn sections(&self) -> &[SectionInfo] {
        &self.sections
    }

    /// PCR0, PCR1, PCR2 and (signed images) PCR8.
    pub fn pcrs(&self) -> &Pcrs {
        &self.pcrs
    }

    /// The identity metadata.
    pub fn metadata(&self) -> &IdentityInfo {
        &self.metadata
    }

    /// The signature section, for a signed image.
    pub fn signature(&self) -> Option<&SignatureSection> {
        self.signature.as_ref()
    }

    /// For a signed image, whether its signature verified over this image's PCR0.
    pub fn signature_check(&self) -> Option<&Result<(), EifError>> {
        self.signature_check.as_ref()
    }
}

/// Opens, checks and measures the EIF at `path`.
///
/// # Errors
///
/// `eif.io` if it cannot be read; any format error (`eif.*`).
pub fn inspect_file(path: &Path) -> Result<Inspection, EifError> {
    let file = File::open(path)?;
    let len = file.metadata()?.len();
    inspect(file, Some(len), |_, _| Ok(()))
}

/// Checks and measures an EIF read from `input` (of `len` bytes, when known), handing every
/// data chunk of every section to `sink` in order (for extraction; pass `|_, _| Ok(())`).
///
/// # Errors
///
/// Any format error (`eif.*`), `eif.io`, or what `sink` returns.
pub fn inspect<R, F>(input: R, len: Option<u64>, mut sink: F) -> Result<Inspection, EifError>
where
    R: Read,
    F: FnMut(&SectionInfo, &[u8]) -> Result<(), EifError>,
{
    let mut reader = EifReader::new(input, len)?;
    std::thread::scope(|s| {
        let (tx0, rx0) = sync_channel::<Msg>(CHANNEL_DEPTH);
        let (tx2, rx2) = sync_channel::<Arc<Vec<u8>>>(CHANNEL_DEPTH);
        let (pool_tx, pool_rx) = channel::<Vec<u8>>();
        let pool0 = pool_tx.clone();
        let pcr01 = s.spawn(move || {
            let mut m0 = NitroMeasurer::new();
            let mut pcr1 = None;
            for msg in rx0 {
                match msg {
                    Msg::Data(chunk) => {
                        m0.update(&chunk);
                        recycle(chunk, &pool0);
                    }
                    // PCR1's stream is a prefix of PCR0's: finish a copy of the state here.
                    Msg::EndOfPcr1 => pcr1 = Some(m0.clone().finish()),
                }
            }
            (m0.finish(), pcr1)
        });
        let pcr2 = s.spawn(move || {
            let mut m2 = NitroMeasurer::new();
            for chunk in rx2 {
                m2.update(&chunk);
                recycle(chunk, &pool_tx);
            }
            m2.finish()
        });
        let walked = walk(&mut reader, &mut sink, &tx0, &tx2, &pool_rx);
        drop((tx0, tx2));
        let (pcr0, pcr1) = pcr01
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        let pcr2 = pcr2.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
        let (sections, metadata, signature) = walked?;
        // A walk that succeeded passed the section-order check, so it saw Metadata and a
        // first Ramdisk (which marks the end of PCR1's stream).
        let too_few = || EifError::SectionCount {
            found: sections.len() as u64,
            min: 4,
            max: 32,
        };
        let metadata = metadata.ok_or_else(too_few)?;
        let pcr1 = pcr1.ok_or_else(too_few)?;
        let signature_check = signature
            .as_ref()
            .map(|s: &SignatureSection| s.verify(&pcr0));
        Ok(Inspection {
            header: reader.header().clone(),
            sections,
            pcrs: Pcrs {
                pcr0,
                pcr1,
                pcr2,
                pcr8: signature.as_ref().map(|s| s.certificate().pcr8()),
            },
            metadata,
            signature,
            signature_check,
        })
    })
}

/// What the PCR0/PCR1 thread receives.
enum Msg {
    /// Measured bytes (all go to PCR0).
    Data(Arc<Vec<u8>>),
    /// The first ramdisk ended: PCR1 is PCR0's state so far.
    EndOfPcr1,
}

type Walked = (
    Vec<SectionInfo>,
    Option<IdentityInfo>,
    Option<SignatureSection>,
);

fn walk<R: Read, F>(
    reader: &mut EifReader<R>,
    sink: &mut F,
    tx0: &SyncSender<Msg>,
    tx2: &SyncSender<Arc<Vec<u8>>>,
    pool: &Receiver<Vec<u8>>,
) -> Result<Walked, EifError>
where
    F: FnMut(&SectionInfo, &[u8]) -> Result<(), EifError>,
{
    let hash_thread_gone = || EifError::Io(std::io::Error::other("a hash thread stopped"));
    let mut sections = Vec::new();
    let (mut metadata, mut signature) = (None, None);
    let mut ramdisks = 0usize;
    while let Some(info) = reader.next_section()? {
        sections.push(info);
        let to_pcr2 = match info.header.kind {
            SectionKind::Kernel | SectionKind::Cmdline => false,
            SectionKind::Ramdisk => {
                ramdisks += 1;
                ramdisks > 1
            }
            SectionKind::Metadata => {
                let bytes = reader.read_section_to_vec()?;
                sink(&info, &bytes)?;
                metadata = Some(IdentityInfo::parse(&bytes)?);
                continue;
            }
            SectionKind::Signature => {
                let bytes = reader.read_section_to_vec()?;
                sink(&info, &bytes)?;
                signature = Some(SignatureSection::parse(&bytes)?);
                continue;
            }
        };
        loop {
            let mut buf = pool.try_recv().unwrap_or_else(|_| vec![0; CHUNK_LEN]);
            buf.resize(CHUNK_LEN, 0);
            let mut filled = 0;
            while filled < CHUNK_LEN {
                let n = reader.read_data(&mut buf[filled..])?;
                if n == 0 {
                    break;
                }
                filled += n;
            }
            if filled == 0 {
                break;
            }
            buf.truncate(filled);
            sink(&info, &buf)?;
            let chunk = Arc::new(buf);
            if to_pcr2 {
                tx2.send(Arc::clone(&chunk))
                    .map_err(|_| hash_thread_gone())?;
            }
            tx0.send(Msg::Data(chunk)).map_err(|_| hash_thread_gone())?;
            if filled < CHUNK_LEN {
                break;
            }
        }
        if info.header.kind == SectionKind::Ramdisk && ramdisks == 1 {
            tx0.send(Msg::EndOfPcr1).map_err(|_| hash_thread_gone())?;
        }
    }
    Ok((sections, metadata, signature))
}

/// The last thread done with a chunk returns its buffer to the pool.
fn recycle(chunk: Arc<Vec<u8>>, pool: &std::sync::mpsc::Sender<Vec<u8>>) {
    if let Some(buf) = Arc::into_inner(chunk) {
        let _ = pool.send(buf);
    }
}
