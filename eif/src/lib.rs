//! Nitro Enclave Image Format (EIF) support for Cloister.
//!
//! Key custodians pin PCRs, so they must be able to compute them from an image; builders must
//! be able to reproduce an image bit for bit. This crate will read, write, sign and measure EIF
//! version 4 images exactly as `nitro-cli` does (see the EIF issue and `research/nitro.md` §1).
//!
//! What exists today is the measurement rule every EIF PCR uses, shared with the attestation
//! crate so there is one implementation of it:
//!
//! ```
//! // PCR2 of an image with a single ramdisk is the measurement of nothing.
//! let pcr2 = cloister_eif::measure_section_stream(&[]);
//! assert!(hex::encode(pcr2).starts_with("21b9efbc"));
//! ```

/// Nitro PCR of a stream of section bytes: `SHA-384(0^48 ‖ SHA-384(stream))`
/// (`aws-nitro-enclaves-image-format` `EifHasher`, research/nitro.md §1.5).
pub fn measure_section_stream(sections: &[&[u8]]) -> [u8; 48] {
    let mut m = cloister_attestation::nitro::pcr::NitroMeasurer::new();
    for s in sections {
        m.update(s);
    }
    m.finish()
}
