//! Arbitrary bytes through the sealed-model parsers (`cloister_proto::model_archive`,
//! `model_manifest`, `sealed_package`): the archive an unseal yields, the manifest inside a
//! sealed file, and the whole container up to the point a data key would be needed. Must
//! never panic, and never allocate what the input does not hold.
#![no_main]

use cloister_proto::model_archive::ModelArchive;
use cloister_proto::model_manifest::ModelManifest;
use cloister_proto::sealed_package::Unsealer;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(archive) = ModelArchive::parse(data) {
        // Whatever parses is canonical: it re-encodes to the same bytes.
        assert_eq!(archive.encode(), data);
    }
    if let Ok(manifest) = ModelManifest::parse(data) {
        assert_eq!(manifest.encode().ok().as_deref(), Some(data));
    }
    let _ = Unsealer::new(data, &[7; 32], "credit-risk-v1");
});
