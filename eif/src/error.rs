//! The one error type of this crate, with a stable code per variant.

use crate::section::SectionKind;

/// Why an EIF could not be read, written, measured, signed or verified.
///
/// Each variant names the failed check and carries the values compared; [`EifError::code`]
/// gives a stable machine-readable code.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EifError {
    /// The input ended before a header or a section did.
    #[error("EIF truncated: needed {needed} more bytes at offset {offset}")]
    Truncated {
        /// File offset where more bytes were needed.
        offset: u64,
        /// How many bytes were still missing there.
        needed: u64,
    },
    /// The first four bytes are not `.eif`.
    #[error("not an EIF: magic is {found:02x?}, expected 2e 65 69 66 (\".eif\")")]
    BadMagic {
        /// The bytes found.
        found: [u8; 4],
    },
    /// An EIF version other than 4.
    #[error("unsupported EIF version {found}: only version 4 is supported")]
    UnsupportedVersion {
        /// The version in the header.
        found: u16,
    },
    /// Header flags with bits other than the architecture bit.
    #[error("unknown EIF header flags {flags:#06x}: only bit 0 (aarch64) is defined")]
    UnknownFlags {
        /// The flags in the header.
        flags: u16,
    },
    /// More sections than the format allows, or fewer than an image needs.
    #[error("EIF declares {found} sections; an image has between {min} and {max}")]
    SectionCount {
        /// The count found.
        found: u64,
        /// The least count allowed.
        min: u64,
        /// The largest count allowed.
        max: u64,
    },
    /// A section header names a type this reader does not know.
    #[error("section {index} has unknown type {found}")]
    UnknownSectionType {
        /// Section index.
        index: usize,
        /// The type code found.
        found: u16,
    },
    /// A section header with nonzero flags.
    #[error("section {index} has flags {flags:#06x}; EIF defines none")]
    SectionFlags {
        /// Section index.
        index: usize,
        /// The flags found.
        flags: u16,
    },
    /// Sections not in the order Kernel, Cmdline, Metadata, Ramdisk..., Signature.
    #[error("section {index} is {found:?}, expected {expected}")]
    SectionOrder {
        /// Section index.
        index: usize,
        /// The type found there.
        found: SectionKind,
        /// What this position allows.
        expected: &'static str,
    },
    /// The file header and a section header disagree about where or how big a section is.
    #[error(
        "section {index}: header table says offset {table_offset} size {table_size}, \
         the file has it at offset {actual_offset} size {actual_size}"
    )]
    SectionTableMismatch {
        /// Section index.
        index: usize,
        /// Offset in the file header's table.
        table_offset: u64,
        /// Size in the file header's table.
        table_size: u64,
        /// Where the section header actually is.
        actual_offset: u64,
        /// The size its section header declares.
        actual_size: u64,
    },
    /// A section larger than the rest of the file, or than this reader accepts for its type.
    #[error("section {index} ({kind:?}) declares {size} bytes; at most {limit} are allowed here")]
    SectionTooLarge {
        /// Section index.
        index: usize,
        /// Its type.
        kind: SectionKind,
        /// The declared size.
        size: u64,
        /// The limit that was exceeded.
        limit: u64,
    },
    /// Bytes after the last section the header declares.
    #[error("{extra} unexpected bytes after the last section (offset {offset})")]
    TrailingBytes {
        /// Where they start.
        offset: u64,
        /// How many (at least).
        extra: u64,
    },
    /// The CRC32 in the header does not match the contents.
    #[error("EIF CRC mismatch: header says {expected:#010x}, contents give {computed:#010x}")]
    BadCrc {
        /// The CRC stored in the header.
        expected: u32,
        /// The CRC of the contents.
        computed: u32,
    },
    /// The metadata section is not the JSON `EifIdentityInfo`.
    #[error("metadata section is not valid identity JSON: {reason}")]
    BadMetadata {
        /// What was wrong.
        reason: String,
    },
    /// The signature section does not have the shape nitro-cli writes.
    #[error("signature section malformed: {reason}")]
    BadSignatureSection {
        /// What was wrong.
        reason: String,
    },
    /// The signing certificate could not be parsed.
    #[error("signing certificate invalid: {reason}")]
    BadCertificate {
        /// What was wrong.
        reason: String,
    },
    /// The signing key could not be parsed or does not match the certificate.
    #[error("signing key invalid: {reason}")]
    BadKey {
        /// What was wrong.
        reason: String,
    },
    /// A COSE algorithm other than ES384.
    #[error("unsupported signature algorithm {found}; only ES384 (P-384) is supported")]
    UnsupportedAlgorithm {
        /// The algorithm found.
        found: String,
    },
    /// The signed PCR is not the image's PCR0 (or not register 0).
    #[error("signature covers PCR{index} = {signed}, the image's PCR0 is {actual}")]
    SignedPcrMismatch {
        /// The register index that was signed.
        index: i64,
        /// The signed value, hex.
        signed: String,
        /// The computed PCR0, hex.
        actual: String,
    },
    /// The ECDSA signature does not verify with the certificate's key.
    #[error("image signature does not verify with the signing certificate's key")]
    SignatureInvalid,
    /// A ramdisk directory could not be turned into a cpio archive.
    #[error("cpio: {path}: {reason}")]
    Cpio {
        /// The offending path.
        path: String,
        /// What was wrong.
        reason: String,
    },
    /// An input given to the builder is unusable (API misuse or bad argument).
    #[error("invalid build input: {reason}")]
    InvalidInput {
        /// What was wrong.
        reason: String,
    },
    /// An I/O error reading or writing (not a format problem).
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

impl EifError {
    /// A stable, machine-readable code for this error (`eif.*`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Truncated { .. } => "eif.truncated",
            Self::BadMagic { .. } => "eif.bad_magic",
            Self::UnsupportedVersion { .. } => "eif.unsupported_version",
            Self::UnknownFlags { .. } => "eif.unknown_flags",
            Self::SectionCount { .. } => "eif.section_count",
            Self::UnknownSectionType { .. } => "eif.unknown_section_type",
            Self::SectionFlags { .. } => "eif.section_flags",
            Self::SectionOrder { .. } => "eif.section_order",
            Self::SectionTableMismatch { .. } => "eif.section_table_mismatch",
            Self::SectionTooLarge { .. } => "eif.section_too_large",
            Self::TrailingBytes { .. } => "eif.trailing_bytes",
            Self::BadCrc { .. } => "eif.bad_crc",
            Self::BadMetadata { .. } => "eif.bad_metadata",
            Self::BadSignatureSection { .. } => "eif.bad_signature_section",
            Self::BadCertificate { .. } => "eif.bad_certificate",
            Self::BadKey { .. } => "eif.bad_key",
            Self::UnsupportedAlgorithm { .. } => "eif.unsupported_algorithm",
            Self::SignedPcrMismatch { .. } => "eif.signed_pcr_mismatch",
            Self::SignatureInvalid => "eif.signature_invalid",
            Self::Cpio { .. } => "eif.cpio",
            Self::InvalidInput { .. } => "eif.invalid_input",
            Self::Io(_) => "eif.io",
        }
    }

    /// Whether this error says the image is malformed or forged (as opposed to an I/O or
    /// usage problem).
    pub fn is_bad_image(&self) -> bool {
        !matches!(
            self,
            Self::Io(_) | Self::InvalidInput { .. } | Self::Cpio { .. } | Self::BadKey { .. }
        )
    }
}
