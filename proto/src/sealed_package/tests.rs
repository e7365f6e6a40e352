use super::*;
use crate::model_archive::ArchiveEntry;
use crate::model_manifest::tests::{key, public};

const CHUNK: u32 = 4096;

fn graph() -> Vec<u8> {
    (0..10_000u32).map(|i| (i * 31 % 251) as u8).collect()
}

fn seal_with(version: &str, chunk_size: u32, graph: &[u8], dek: &DataKey) -> Vec<u8> {
    let archive = ModelArchive::new(vec![
        ArchiveEntry::new("model.onnx", graph),
        ArchiveEntry::new("model.json", b"{\"id\":\"m\"}"),
    ])
    .expect("archive");
    let request = SealRequest {
        model_id: "m",
        version,
        chunk_size,
    };
    seal_model(&archive, &request, dek, &key(1), [4; 7], |_| {})
        .expect("seal")
        .0
}

fn dek() -> DataKey {
    DataKey::from_bytes([9; 32])
}

fn sample() -> Vec<u8> {
    seal_with("1.0.0", CHUNK, &graph(), &dek())
}

/// Unseals with the test publisher and model id; the code of the refusal, if any. Opens on one
/// thread and on several, and checks that they agree.
fn unseal(file: &[u8]) -> Result<Vec<u8>, &'static str> {
    let single = unseal_on(file, 1);
    for threads in [2, 3, 7, 64] {
        assert_eq!(unseal_on(file, threads), single, "{threads} threads");
    }
    single
}

fn unseal_on(file: &[u8], threads: usize) -> Result<Vec<u8>, &'static str> {
    let unsealer = Unsealer::new(file, &public(&key(1)), "m").map_err(|e| e.code())?;
    let mut buf = vec![0xaa; unsealer.buffer_len()];
    let threads = NonZeroUsize::new(threads).expect("non-zero");
    let result = unsealer
        .open_into_parallel(&dek(), &mut buf, threads)
        .map(|a| a.encode())
        .map_err(|e| e.code());
    if result.is_err() {
        // No partial model: nothing decrypted survives a refusal.
        assert!(buf.iter().all(|&b| b == 0) || buf.iter().all(|&b| b == 0xaa));
    }
    result
}

/// Offsets of the artifact and of its chunks within a sealed file.
fn layout(file: &[u8]) -> (usize, usize) {
    let package = SealedPackage::parse(file).expect("package");
    let artifact_at = file.len() - package.artifact().len();
    let (_, header_len) = SealedHeader::parse(package.artifact()).expect("header");
    (artifact_at, artifact_at + header_len)
}

#[test]
fn round_trips_with_the_documented_layout() {
    let file = sample();
    assert!(file.starts_with(b"CLSEALPKGv1"));
    let package = SealedPackage::parse(&file).expect("package");
    let manifest_len = package.signed_manifest().manifest_bytes().len();
    assert_eq!(
        &file[11..15],
        &(manifest_len as u32).to_be_bytes(),
        "u32 manifest length after the magic"
    );
    assert_eq!(
        &file[15..15 + manifest_len],
        package.signed_manifest().manifest_bytes()
    );
    assert_eq!(
        &file[15 + manifest_len..15 + manifest_len + 64],
        package.signed_manifest().signature()
    );
    assert!(package.artifact().starts_with(b"CLSEALv1"));

    let unsealer = Unsealer::new(&file, &public(&key(1)), "m").expect("verified");
    let manifest = unsealer.manifest().clone();
    assert_eq!(manifest.chunk_size(), CHUNK);
    let mut buf = vec![0; unsealer.buffer_len()];
    let archive = unsealer.open_into(&dek(), &mut buf).expect("open");
    assert_eq!(archive.get("model.onnx"), Some(&graph()[..]));
    assert_eq!(archive.sha384(), *manifest.plaintext_sha384());
    assert_eq!(archive.encoded_len(), manifest.plaintext_len());
    // Sealing is deterministic given the key, DEK and nonce prefix.
    assert_eq!(sample(), file);
}

#[test]
fn progress_reaches_the_plaintext_length() {
    let archive = ModelArchive::new(vec![ArchiveEntry::new("model.onnx", &[1; 9000])]).expect("a");
    let mut seen = Vec::new();
    let request = SealRequest {
        model_id: "m",
        version: "1",
        chunk_size: CHUNK,
    };
    seal_model(&archive, &request, &dek(), &key(1), [0; 7], |n| {
        seen.push(n)
    })
    .expect("seal");
    assert_eq!(seen, [4096, 8192, archive.encoded_len()]);
}

#[test]
fn the_manifest_is_checked_before_anything_is_decrypted() {
    let file = sample();
    let refused = |publisher: &[u8; 32], id: &str| {
        Unsealer::new(&file, publisher, id)
            .expect_err("refused")
            .code()
    };
    assert_eq!(
        refused(&public(&key(2)), "m"),
        "model_manifest.bad_signature"
    );
    assert_eq!(
        refused(&public(&key(1)), "other"),
        "sealed_package.model_id_mismatch"
    );
    let mut flipped = file.clone();
    flipped[20] ^= 1;
    assert_eq!(unseal(&flipped), Err("model_manifest.bad_signature"));
    let mut sig = file.clone();
    let (artifact_at, _) = layout(&file);
    sig[artifact_at - 1] ^= 1;
    assert_eq!(unseal(&sig), Err("model_manifest.bad_signature"));
}

#[test]
fn a_manifest_from_another_seal_does_not_fit_the_artifact() {
    let file = sample();
    let (artifact_at, _) = layout(&file);
    // Same model, same lengths, another version: a validly signed manifest, but the header
    // names the hash of the original one.
    let other = seal_with("1.0.1", CHUNK, &graph(), &dek());
    let (other_at, _) = layout(&other);
    let swapped = [&other[..other_at], &file[artifact_at..]].concat();
    assert_eq!(
        unseal(&swapped),
        Err("sealed_package.manifest_hash_mismatch")
    );
    // Another chunk size: the header disagrees with the manifest.
    let wide = seal_with("1.0.0", 2 * CHUNK, &graph(), &dek());
    let (wide_at, _) = layout(&wide);
    let mixed = [&file[..artifact_at], &wide[wide_at..]].concat();
    assert_eq!(unseal(&mixed), Err("sealed_package.header_mismatch"));
}

#[test]
fn truncated_extended_reordered_and_modified_chunks_are_refused() {
    let file = sample();
    let (_, chunks_at) = layout(&file);
    let c = CHUNK as usize + TAG_LEN;
    assert_eq!(
        unseal(&file[..file.len() - 1]),
        Err("sealed.length_mismatch")
    );
    assert_eq!(
        unseal(&file[..chunks_at + c]),
        Err("sealed.length_mismatch")
    );
    let mut long = file.clone();
    long.extend_from_slice(&[0; TAG_LEN]);
    assert_eq!(unseal(&long), Err("sealed.length_mismatch"));
    let mut swapped = file.clone();
    swapped[chunks_at..chunks_at + c].copy_from_slice(&file[chunks_at + c..chunks_at + 2 * c]);
    swapped[chunks_at + c..chunks_at + 2 * c].copy_from_slice(&file[chunks_at..chunks_at + c]);
    assert_eq!(unseal(&swapped), Err("sealed.chunk_rejected"));
    for at in [chunks_at, chunks_at + c + 17, file.len() - 1] {
        let mut modified = file.clone();
        modified[at] ^= 1;
        assert_eq!(unseal(&modified), Err("sealed.chunk_rejected"), "byte {at}");
    }
    // The nonce prefix is the one header field the manifest does not repeat: the AAD covers it.
    let mut prefix = file.clone();
    prefix[chunks_at - 1] ^= 1;
    assert_eq!(unseal(&prefix), Err("sealed.chunk_rejected"));
    // The wrong data key.
    let unsealer = Unsealer::new(&file, &public(&key(1)), "m").expect("verified");
    let mut buf = vec![0; unsealer.buffer_len()];
    let e = unsealer
        .open_into(&DataKey::from_bytes([8; 32]), &mut buf)
        .expect_err("wrong key");
    assert_eq!(e.code(), "sealed.chunk_rejected");
    assert!(buf.iter().all(|&b| b == 0), "the buffer is wiped");
}

#[test]
fn issue_13_parallel_open_matches_one_core_and_fails_closed() {
    // 64 chunks: more than the claim size, so threads share the work.
    let big: Vec<u8> = (0..64 * CHUNK).map(|i| (i * 7 % 253) as u8).collect();
    let file = seal_with("1.0.0", CHUNK, &big, &dek());
    let (_, chunks_at) = layout(&file);
    let c = CHUNK as usize + TAG_LEN;
    let opened = unseal(&file).expect("opens on every thread count");
    assert_eq!(unseal_on(&file, 1), Ok(opened));
    // A flipped byte in the first, a middle and the last chunk; two chunks swapped. The same
    // error on every thread count (unseal checks), and the buffer left zeroed (unseal_on).
    let count = (file.len() - chunks_at).div_ceil(c);
    for chunk in [0, count / 2, count - 1] {
        let mut bad = file.clone();
        bad[(chunks_at + chunk * c + 5).min(file.len() - 1)] ^= 1;
        assert_eq!(unseal(&bad), Err("sealed.chunk_rejected"), "chunk {chunk}");
    }
    let mut swapped = file.clone();
    let (a, b) = (chunks_at + 40 * c, chunks_at + 41 * c);
    swapped[a..b].copy_from_slice(&file[b..b + c]);
    swapped[b..b + c].copy_from_slice(&file[a..b]);
    assert_eq!(unseal(&swapped), Err("sealed.chunk_rejected"));
    // Truncated and extended: refused before anything is decrypted.
    assert_eq!(
        unseal(&file[..file.len() - c]),
        Err("sealed.length_mismatch")
    );
    let mut long = file.clone();
    long.extend_from_slice(&file[chunks_at..chunks_at + c]);
    assert_eq!(unseal(&long), Err("sealed.length_mismatch"));
    // The wrong key on several threads wipes the buffer, spare tag bytes included.
    let unsealer = Unsealer::new(&file, &public(&key(1)), "m").expect("verified");
    let mut buf = vec![0xaa; unsealer.buffer_len()];
    let threads = NonZeroUsize::new(3).expect("non-zero");
    let e = unsealer
        .open_into_parallel(&DataKey::from_bytes([8; 32]), &mut buf, threads)
        .expect_err("wrong key");
    assert_eq!(e.code(), "sealed.chunk_rejected");
    assert!(buf.iter().all(|&b| b == 0), "the buffer is wiped");
}

#[test]
fn other_content_sealed_under_the_same_header_is_refused() {
    // Whoever holds the DEK can seal any bytes under the header; the signed digest stops it.
    let file = sample();
    let (artifact_at, chunks_at) = layout(&file);
    let (header, _) = SealedHeader::parse(&file[artifact_at..]).expect("header");
    let mut other = graph();
    other[5000] ^= 1;
    let forged_archive = ModelArchive::new(vec![
        ArchiveEntry::new("model.onnx", &other),
        ArchiveEntry::new("model.json", b"{\"id\":\"m\"}"),
    ])
    .expect("archive");
    let resealed = crate::sealed::seal(&dek(), &header, &forged_archive.encode()).expect("seal");
    let forged = [&file[..artifact_at], &resealed[..]].concat();
    assert_eq!(forged.len(), file.len());
    assert_ne!(forged[chunks_at..], file[chunks_at..]);
    assert_eq!(
        unseal(&forged),
        Err("sealed_package.plaintext_digest_mismatch")
    );
}

#[test]
fn a_manifest_whose_file_list_disagrees_is_refused() {
    // The publisher signs a manifest with the right archive digest but a wrong file digest.
    let file = sample();
    let package = SealedPackage::parse(&file).expect("package");
    let mut value: ciborium::Value =
        ciborium::de::from_reader(package.signed_manifest().manifest_bytes()).expect("cbor");
    let files = value
        .as_map_mut()
        .and_then(|m| m.iter_mut().find(|(k, _)| k.as_text() == Some("files")))
        .and_then(|(_, v)| v.as_array_mut())
        .expect("files");
    let digest = files[1]
        .as_map_mut()
        .and_then(|m| m.iter_mut().find(|(k, _)| k.as_text() == Some("sha384")))
        .and_then(|(_, v)| v.as_bytes_mut())
        .expect("sha384");
    digest[0] ^= 1;
    let mut manifest = Vec::new();
    ciborium::ser::into_writer(&value, &mut manifest).expect("encode");
    let manifest_obj = ModelManifest::parse(&manifest).expect("still canonical and valid");
    let signed = SignedManifest::sign(&manifest_obj, &key(1)).expect("sign");
    let header = SealedHeader::new(
        "m",
        CHUNK,
        manifest_obj.plaintext_len(),
        signed.manifest_sha384(),
        [4; 7],
    )
    .expect("header");
    // Re-seal the original plaintext under the new header (the DEK holder can; so can the
    // publisher): only the file list is wrong.
    let unsealer = Unsealer::new(&file, &public(&key(1)), "m").expect("verified");
    let mut plain = vec![0; unsealer.buffer_len()];
    let archive = unsealer
        .open_into(&dek(), &mut plain)
        .expect("open")
        .encode();
    let artifact = crate::sealed::seal(&dek(), &header, &archive).expect("seal");
    let mut forged = package_prefix(&signed);
    forged.extend_from_slice(&artifact);
    assert_eq!(unseal(&forged), Err("sealed_package.file_mismatch"));
}

#[test]
fn container_errors_and_misuse_are_typed() {
    let file = sample();
    let code = |b: &[u8]| SealedPackage::parse(b).expect_err("refused").code();
    assert_eq!(code(b"CLSEALPKGv2...."), "sealed_package.bad_magic");
    assert_eq!(code(b"CLSEAL"), "sealed_package.truncated");
    assert_eq!(code(&file[..13]), "sealed_package.truncated");
    assert_eq!(code(&file[..40]), "sealed_package.truncated");
    assert_eq!(
        code(b"CLSEALPKGv1\xff\xff\xff\xff"),
        "model_manifest.too_large"
    );
    // Missing artifact: the header does not parse.
    let (artifact_at, _) = layout(&file);
    assert_eq!(unseal(&file[..artifact_at]), Err("sealed.bad_header"));
    let unsealer = Unsealer::new(&file, &public(&key(1)), "m").expect("verified");
    let mut small = vec![0; unsealer.buffer_len() - 1];
    assert_eq!(
        unsealer
            .open_into(&dek(), &mut small)
            .expect_err("misuse")
            .code(),
        "sealed_package.buffer_size"
    );
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn no_bytes_panic_the_unsealer(mut bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = unseal(&bytes);
            let mut prefixed = PACKAGE_MAGIC.to_vec();
            prefixed.append(&mut bytes);
            let _ = unseal(&prefixed);
        }
    }
}
