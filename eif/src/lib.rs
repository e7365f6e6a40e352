#![doc = include_str!("../README.md")]
//!
//! Layout, CRC, PCR rules and signature shape follow `research/nitro.md` §1 (AWS's
//! `aws-nitro-enclaves-image-format` and QEMU's `hw/core/eif.c`).

mod cbor;
pub mod cpio;
pub mod describe;
mod error;
pub mod header;
pub mod measure;
pub mod metadata;
pub mod reader;
pub mod section;
pub mod sign;
pub mod writer;

pub use describe::Description;
pub use error::EifError;
pub use header::{Arch, EifHeader};
pub use measure::{Inspection, Pcrs, inspect, inspect_file};
pub use metadata::IdentityInfo;
pub use reader::EifReader;
pub use section::SectionKind;
pub use sign::{SignatureSection, SigningCertificate, SigningKey};
pub use writer::{BuildOutput, EifBuilder, SectionSource};

/// Nitro PCR of a stream of section bytes: `SHA384(0^48 ‖ SHA384(stream))`
/// (`aws-nitro-enclaves-image-format` `EifHasher`, research/nitro.md §1.5).
///
/// ```
/// // PCR2 of an image with a single ramdisk is the measurement of nothing.
/// let pcr2 = cloister_eif::measure_section_stream(&[]);
/// assert!(hex::encode(pcr2).starts_with("21b9efbc"));
/// ```
pub fn measure_section_stream(sections: &[&[u8]]) -> [u8; 48] {
    let mut m = cloister_attestation::nitro::pcr::NitroMeasurer::new();
    for s in sections {
        m.update(s);
    }
    m.finish()
}
