//! Arbitrary bytes through the EIF reader and measurement (`cloister_eif::inspect`): every
//! section header, size, CRC and the signature section are parsed from untrusted input.
//! Must never panic, and must never read more than the input holds.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = cloister_eif::inspect(std::io::Cursor::new(data), Some(data.len() as u64), |_, _| Ok(()));
    // A reader that is not told the length must come to the same kind of end.
    let _ = cloister_eif::inspect(std::io::Cursor::new(data), None, |_, _| Ok(()));
});
