//! Nitro PCR arithmetic.
//!
//! A Nitro PCR is a SHA-384 register that starts at 48 zero bytes; extending it with `data` sets
//! it to `SHA384(old ‖ data)`. Image measurements (PCR0/1/2/8) extend a fresh register once with
//! the SHA-384 of the measured bytes, so `PCR = SHA384(0^48 ‖ SHA384(bytes))`.

use sha2::{Digest, Sha384};

/// Length of a SHA-384 PCR.
pub const PCR_LEN: usize = 48;

/// `SHA384(old ‖ data)`: one NSM `ExtendPCR`.
pub fn nitro_extend(old: &[u8; PCR_LEN], data: &[u8]) -> [u8; PCR_LEN] {
    let mut h = Sha384::new();
    h.update(old);
    h.update(data);
    h.finalize().into()
}

/// The PCR value a fresh register holds after measuring `data`:
/// `SHA384(0^48 ‖ SHA384(data))`.
///
/// ```
/// use cloister_attestation::nitro::pcr::{nitro_measure, NitroMeasurer};
/// let mut m = NitroMeasurer::new();
/// m.update(b"hello ");
/// m.update(b"world");
/// assert_eq!(m.finish(), nitro_measure(b"hello world"));
/// ```
pub fn nitro_measure(data: &[u8]) -> [u8; PCR_LEN] {
    let mut m = NitroMeasurer::new();
    m.update(data);
    m.finish()
}

/// Streaming form of [`nitro_measure`], for files too large to hold in memory.
#[derive(Clone, Debug, Default)]
pub struct NitroMeasurer {
    inner: Sha384,
}

impl NitroMeasurer {
    /// A measurer with no data yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds more bytes.
    pub fn update(&mut self, data: &[u8]) {
        self.inner.update(data);
    }

    /// The PCR value: `SHA384(0^48 ‖ SHA384(all bytes fed))`.
    pub fn finish(self) -> [u8; PCR_LEN] {
        let digest: [u8; PCR_LEN] = self.inner.finalize().into();
        nitro_extend(&[0; PCR_LEN], &digest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measure_is_extend_of_the_digest() {
        let digest: [u8; 48] = Sha384::digest(b"abc").into();
        assert_eq!(nitro_measure(b"abc"), nitro_extend(&[0; 48], &digest));
    }

    #[test]
    fn known_answer_for_empty_input() {
        // SHA384(0^48 || SHA384("")), computed independently with Python's hashlib; it is also
        // the PCR2 of a single-ramdisk EIF (nothing measured), "21b9efbc…500a" in the fixtures.
        assert_eq!(
            hex::encode(nitro_measure(b"")),
            "21b9efbc184807662e966d34f390821309eeac6802309798826296bf3e8bec7c\
             10edb30948c90ba67310f7b964fc500a",
        );
    }

    #[test]
    fn streaming_matches_one_shot_for_any_split() {
        let data: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
        let whole = nitro_measure(&data);
        for split in [0, 1, 47, 48, 4096, 9_999, 10_000] {
            let mut m = NitroMeasurer::new();
            m.update(&data[..split]);
            m.update(&data[split..]);
            assert_eq!(m.finish(), whole, "split at {split}");
        }
    }
}
