//! Arbitrary bytes through the SEV-SNP report parser and the VCEK/VLEK certificate and extension parser.
//! Inputs of exactly 1184 bytes reach every field check of the report; other lengths are
//! tried as certificates. Must never panic.
#![no_main]

use cloister_attestation::snp::{SnpReport, VekExtensions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(report) = SnpReport::parse(data) {
        let _ = format!("{report:?}");
    }
    if let Ok(ext) = VekExtensions::from_der(data) {
        let _ = format!("{ext:?}");
    }
});
