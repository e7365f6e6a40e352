#![allow(clippy::unwrap_used)]

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use cloister_proto::model_archive::{ArchiveEntry, ModelArchive, ModelFiles};
use cloister_proto::sealed::{DataKey, TAG_LEN};
use cloister_proto::sealed_package::{SealRequest, SealedPackage, seal_model};

use super::locked::LockedBuffer;
use super::*;
use crate::inference::tests::{EXPECTED_DIGEST, EXPECTED_SAMPLE, SAMPLE, TOLERANCE, model_dir};
use crate::inference::{LoadedModel, ModelError};

const ID: &str = "credit-risk-v1";

fn publisher_key(seed: u8) -> Ed25519KeyPair {
    Ed25519KeyPair::from_seed_unchecked(&[seed; 32]).unwrap()
}

fn publisher(seed: u8) -> [u8; 32] {
    publisher_key(seed)
        .public_key()
        .as_ref()
        .try_into()
        .unwrap()
}

fn dek() -> DataKey {
    DataKey::from_bytes([0x42; 32])
}

/// Seals `archive` as the test publisher (seed 1), in 4 KiB chunks.
fn seal(archive: &ModelArchive<'_>, id: &str, version: &str) -> Vec<u8> {
    let request = SealRequest {
        model_id: id,
        version,
        chunk_size: 4096,
    };
    seal_model(archive, &request, &dek(), &publisher_key(1), [3; 7], |_| {})
        .unwrap()
        .0
}

/// The repository's demo model, sealed as it is.
fn sealed_demo(id: &str, version: &str) -> Vec<u8> {
    let files = ModelFiles::read_model_dir(&model_dir()).unwrap();
    seal(&files.archive().unwrap(), id, version)
}

/// The demo model plus a 10 KB file: four chunks, so chunks can be reordered.
fn sealed_padded() -> Vec<u8> {
    let files = ModelFiles::read_model_dir(&model_dir()).unwrap();
    let archive = files.archive().unwrap();
    let pad = vec![7u8; 10_000];
    let mut entries = archive.entries().to_vec();
    entries.push(ArchiveEntry::new("pad.bin", &pad));
    seal(&ModelArchive::new(entries).unwrap(), ID, "1.0.0")
}

fn unseal(file: &[u8]) -> Result<LoadedModel, ModelError> {
    unseal_model(file, &dek(), &publisher(1), ID)
}

fn code(file: &[u8]) -> &'static str {
    unseal(file).unwrap_err().code()
}

/// Where the chunks start in a sealed file.
fn chunks_at(file: &[u8]) -> usize {
    let package = SealedPackage::parse(file).unwrap();
    let artifact = package.artifact();
    let (_, header_len) = cloister_proto::sealed::SealedHeader::parse(artifact).unwrap();
    file.len() - artifact.len() + header_len
}

#[test]
fn the_sealed_demo_model_unseals_runs_and_serves_the_signed_digest() {
    let file = sealed_demo(ID, "1.0.0");
    let manifest = cloister_proto::sealed_package::Unsealer::new(&file, &publisher(1), ID)
        .unwrap()
        .manifest()
        .clone();
    let model = unseal(&file).unwrap();
    let out: serde_json::Value =
        serde_json::from_slice(&model.infer(SAMPLE.as_bytes()).unwrap()).unwrap();
    let p = out["default_probability"].as_f64().unwrap();
    assert!((p - EXPECTED_SAMPLE).abs() < TOLERANCE, "{p}");
    // One digest, three ways: the signed manifest's, the unsealed model's, the directory's.
    let from_dir = LoadedModel::load_dir(&model_dir()).unwrap();
    assert_eq!(&model.digest(), manifest.plaintext_sha384());
    assert_eq!(model.digest(), from_dir.digest());
    assert_eq!(hex::encode(model.digest()), EXPECTED_DIGEST);
    assert_eq!(
        manifest
            .files()
            .iter()
            .map(|f| f.path())
            .collect::<Vec<_>>(),
        ["model.json", "model.onnx"]
    );
}

#[test]
fn each_tampering_is_refused_with_its_own_code() {
    let file = sealed_demo(ID, "1.0.0");
    let at = chunks_at(&file);
    // Truncated and extended.
    assert_eq!(code(&file[..file.len() - 1]), "sealed.length_mismatch");
    let mut long = file.clone();
    long.extend_from_slice(&[0; TAG_LEN]);
    assert_eq!(code(&long), "sealed.length_mismatch");
    // A modified chunk.
    let mut modified = file.clone();
    modified[at + 100] ^= 0x80;
    assert_eq!(code(&modified), "sealed.chunk_rejected");
    // Reordered chunks (of a four-chunk file).
    let padded = sealed_padded();
    let p = chunks_at(&padded);
    let c = 4096 + TAG_LEN;
    let mut swapped = padded.clone();
    swapped[p..p + c].copy_from_slice(&padded[p + c..p + 2 * c]);
    swapped[p + c..p + 2 * c].copy_from_slice(&padded[p..p + c]);
    assert_eq!(code(&swapped), "sealed.chunk_rejected");
    // The same file in order decrypts, and is then refused whole for its extra file.
    assert_eq!(code(&padded), "model.unexpected_file");
    // A manifest signed by another publisher, or tampered with.
    assert_eq!(
        unseal_model(&file, &dek(), &publisher(2), ID)
            .unwrap_err()
            .code(),
        "model_manifest.bad_signature"
    );
    let mut manifest_byte = file.clone();
    manifest_byte[20] ^= 1;
    assert_eq!(code(&manifest_byte), "model_manifest.bad_signature");
    // A validly signed manifest of another seal of the same model (another version): the
    // header was sealed for the first manifest's hash.
    let other = sealed_demo(ID, "1.0.1");
    let spliced = [
        &other[..artifact_start(&other)],
        &file[artifact_start(&file)..],
    ]
    .concat();
    assert_eq!(code(&spliced), "sealed_package.manifest_hash_mismatch");
    // Another model id than the enclave expects.
    assert_eq!(
        unseal_model(&file, &dek(), &publisher(1), "fraud-v2")
            .unwrap_err()
            .code(),
        "sealed_package.model_id_mismatch"
    );
    // The wrong data key.
    assert_eq!(
        unseal_model(&file, &DataKey::from_bytes([1; 32]), &publisher(1), ID)
            .unwrap_err()
            .code(),
        "sealed.chunk_rejected"
    );
}

/// Where the sealed artifact (after the signed manifest) starts in a sealed file.
fn artifact_start(file: &[u8]) -> usize {
    file.len() - SealedPackage::parse(file).unwrap().artifact().len()
}

#[test]
fn a_sealed_id_or_version_that_model_json_contradicts_is_refused() {
    let file = sealed_demo("renamed", "1.0.0");
    let err = unseal_model(&file, &dek(), &publisher(1), "renamed").unwrap_err();
    assert_eq!(err.code(), "model.sealed_identity_mismatch");
    assert!(err.to_string().contains("credit-risk-v1"), "{err}");
    let file = sealed_demo(ID, "9.9.9");
    assert_eq!(code(&file), "model.sealed_identity_mismatch");
}

#[test]
fn locked_buffers_are_page_aligned_and_fail_closed() {
    let page = region::page::size();
    let buf = LockedBuffer::new(5000, MemoryPolicy::locked()).unwrap();
    assert!(buf.is_locked());
    assert_eq!(buf.len(), 5000);
    assert_eq!(buf.as_slice().as_ptr() as usize % page, 0);
    assert!(buf.as_slice().iter().all(|&b| b == 0));
    assert_eq!(
        format!("{buf:?}"),
        "LockedBuffer { len: 5000, locked: true }"
    );
    let refuse = |_: *const u8, _: usize| {
        Err(region::Error::SystemCall(
            std::io::Error::from_raw_os_error(12),
        ))
    };
    let err = LockedBuffer::with_locker(64, MemoryPolicy::locked(), refuse).unwrap_err();
    assert_eq!(err.code(), "model.memory_lock");
    assert!(err.hint().contains("RLIMIT_MEMLOCK"));
    let unlocked =
        LockedBuffer::with_locker(64, MemoryPolicy::dangerous_allow_unlocked_memory(), refuse)
            .unwrap();
    assert!(!unlocked.is_locked());
    assert_eq!(unlocked.len(), 64);
}
