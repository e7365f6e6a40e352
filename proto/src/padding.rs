//! Response padding: the fixed sizes every encrypted response is padded to.
//!
//! The host sees the length of every OHTTP response it relays. If a result and each kind of
//! error had their own length, the host would learn which check a caller's input failed (an
//! out-of-range feature, an unknown model, a stale evidence digest) from a byte count. So the
//! enclave pads the Binary HTTP response (RFC 9292) with zero bytes, which §3.8 of that RFC
//! allows after a message, to the smallest *bucket* that holds it, before OHTTP encapsulation:
//!
//! | plaintext Binary HTTP length | padded to |
//! |---|---|
//! | up to 1 KiB | 1 KiB ([`BUCKETS`]\[0\]) |
//! | up to 4 KiB | 4 KiB |
//! | up to 16 KiB | 16 KiB |
//! | up to 64 KiB | 64 KiB |
//! | larger | the next multiple of 64 KiB ([`LARGE_STEP`]) |
//!
//! The encapsulated response the host sees is then `padded + 32` (response nonce) `+ 16` (AEAD
//! tag) bytes. Every error and every result of the demo model fits in the first bucket, so all
//! responses of one model have one length. What stays visible: which bucket a response falls
//! in (a model whose outputs vary from 900 bytes to 5 KiB shows two sizes), and the length of
//! requests, which the caller chooses (a caller may pad its own request the same way: the
//! enclave's Binary HTTP reader ignores trailing zero bytes).
//!
//! A reader of a padded response needs nothing special: a Binary HTTP parser reads up to the
//! end of the (possibly empty) trailer section and stops; the zero bytes after it are padding.

/// The fixed bucket sizes, ascending. Responses above the last are padded to a multiple of
/// [`LARGE_STEP`].
pub const BUCKETS: [usize; 4] = [1024, 4 * 1024, 16 * 1024, 64 * 1024];

/// Step above the last bucket: responses larger than 64 KiB are padded to a multiple of it.
pub const LARGE_STEP: usize = 64 * 1024;

/// The length a response of `len` bytes is padded to: the smallest bucket that holds it, or,
/// above the last bucket, the next multiple of [`LARGE_STEP`]. `None` only when that multiple
/// does not fit in `usize`, which no response that fits in a frame comes near.
///
/// ```
/// use cloister_proto::padding::padded_len;
/// assert_eq!(padded_len(0), Some(1024));
/// assert_eq!(padded_len(1024), Some(1024));
/// assert_eq!(padded_len(1025), Some(4096));
/// assert_eq!(padded_len(64 * 1024 + 1), Some(128 * 1024));
/// ```
pub fn padded_len(len: usize) -> Option<usize> {
    if let Some(&b) = BUCKETS.iter().find(|&&b| len <= b) {
        return Some(b);
    }
    len.div_ceil(LARGE_STEP).checked_mul(LARGE_STEP)
}

/// Appends zero bytes to `message` up to [`padded_len`] of its length.
///
/// # Errors
/// [`crate::ProtoError::FieldTooLarge`] when no padded length exists (see [`padded_len`]).
pub fn pad(message: &mut Vec<u8>) -> Result<(), crate::ProtoError> {
    let target = padded_len(message.len()).ok_or(crate::ProtoError::FieldTooLarge {
        field: "padded response",
        len: message.len(),
        limit: usize::MAX - LARGE_STEP + 1,
    })?;
    message.resize(target, 0);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn bucket_edges() {
        for (len, want) in [
            (0, 1024),
            (1, 1024),
            (1024, 1024),
            (1025, 4096),
            (4096, 4096),
            (4097, 16384),
            (16384, 16384),
            (16385, 65536),
            (65536, 65536),
            (65537, 131072),
            (131072, 131072),
            (131073, 196608),
            (1024 * 1024, 1024 * 1024),
        ] {
            assert_eq!(padded_len(len), Some(want), "{len}");
        }
        assert_eq!(padded_len(usize::MAX), None);
        assert_eq!(
            padded_len(usize::MAX - LARGE_STEP),
            Some(usize::MAX - LARGE_STEP + 1)
        );
        let mut v = vec![1u8; 10];
        pad(&mut v).expect("pad");
        assert_eq!(v.len(), 1024);
        assert!(v[10..].iter().all(|&b| b == 0));
        assert_eq!(&v[..10], &[1u8; 10]);
    }

    proptest! {
        #[test]
        fn padded_len_is_a_bucket_that_holds_the_input(len in 0usize..(8 * 1024 * 1024)) {
            let p = padded_len(len).expect("padded");
            prop_assert!(p >= len);
            prop_assert!(BUCKETS.contains(&p) || (p > LARGE_STEP && p.is_multiple_of(LARGE_STEP)));
            // The smallest such size: the size below it does not hold `len`.
            let smaller = BUCKETS.iter().rev().find(|&&b| b < p).copied()
                .unwrap_or(0).max(p.saturating_sub(LARGE_STEP));
            prop_assert!(smaller < len || p == BUCKETS[0]);
        }
    }
}
