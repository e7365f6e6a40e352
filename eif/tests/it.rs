//! Integration tests: known answers from `../shared/fixtures/eif` (SOURCE.txt), byte-exact
//! rebuilds, reproducibility, rejected mutations, and a no-panic property.
#![allow(
    clippy::expect_used,
    reason = "integration tests: a helper outside a #[test] fn panicking is the calling test failing"
)]

use std::io::Cursor;
use std::path::{Path, PathBuf};

use cloister_eif::metadata::BuildInfo;
use cloister_eif::{
    EifBuilder, EifError, IdentityInfo, Inspection, SectionSource, SignatureSection, SigningKey,
    inspect, inspect_file,
};

const PCR0: &str = "d2c997a2ef6cf098f0a3570743b5b72c89a96e88a5b7ed3c24970ce7c78279e1006fd08bb0090287276cfda608848ed8";
const PCR1: &str = "a1d84b7fd46cb596c1eda7bc72f0b5ef50eed10a6b40260e8340aeb17ebbf159c169d9fd00d07a73f6ed3a18a42efdc7";
const PCR2: &str = "68d4e1b589308c3e1fa30738a69e1fa270a4a71ee260935198377deef21e81672baaecb549c6ed70a2139aea0e4c152c";
const PCR8: &str = "4945f810ec4b80c73ff8238c3ac2af463de4e4ad48154ed36141bcc375fa8eb4f4f37d5f1a85d06fff3504b85dfb5d5a";
const PCR2_SINGLE: &str = "21b9efbc184807662e966d34f390821309eeac6802309798826296bf3e8bec7c10edb30948c90ba67310f7b964fc500a";
const CMDLINE: &str = "console=ttyS0 reboot=k panic=30";
const SIGNATURE_OFFSET: usize = 15877;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/fixtures/eif")
        .join(name)
}

fn read_text(name: &str) -> String {
    String::from_utf8(read(name)).expect("utf-8")
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).expect("fixture present (../shared/fixtures/eif)")
}

fn inspect_bytes(bytes: &[u8]) -> Result<Inspection, EifError> {
    inspect(Cursor::new(bytes), Some(bytes.len() as u64), |_, _| Ok(()))
}

/// The metadata eif_build 0.2.1 wrote for the fixtures (ImageVersion = --name, its quirk).
fn kat_metadata() -> IdentityInfo {
    IdentityInfo {
        image_name: "kat".into(),
        image_version: "kat".into(),
        build: BuildInfo {
            build_time: "1970-01-01T00:00:00+00:00".into(),
            build_tool: "eif_build".into(),
            build_tool_version: "0.2.1".into(),
            operating_system: "OS".into(),
            kernel_version: "kernel".into(),
        },
        docker_info: serde_json::Value::Null,
        custom: serde_json::Value::Null,
    }
}

fn kat_builder(ramdisks: &[&str]) -> EifBuilder {
    let mut b = EifBuilder::new(
        SectionSource::file(&fixture("kernel.bin")).expect("kernel"),
        CMDLINE,
        kat_metadata(),
    );
    for r in ramdisks {
        b = b.ramdisk(SectionSource::file(&fixture(r)).expect("ramdisk"));
    }
    b
}

fn build(b: &EifBuilder) -> (Vec<u8>, cloister_eif::BuildOutput) {
    let mut out = Cursor::new(Vec::new());
    let built = b.write(&mut out, &mut |_| {}).expect("build");
    (out.into_inner(), built)
}

fn fixture_key() -> SigningKey {
    SigningKey::from_pem(&read("signing_key_p384.pem"), &read("signing_cert.pem")).expect("key")
}

/// Recomputes the header CRC after a deliberate mutation, so a later check is what fails.
fn fix_crc(bytes: &mut [u8]) {
    let mut h = crc32fast::Hasher::new();
    h.update(&bytes[..544]);
    h.update(&bytes[548..]);
    let crc = h.finalize();
    bytes[544..548].copy_from_slice(&crc.to_be_bytes());
}

fn code(r: Result<Inspection, EifError>) -> &'static str {
    r.map(|_| ()).expect_err("must be rejected").code()
}

#[test]
fn known_answers_unsigned_signed_single() {
    for name in ["unsigned.eif", "signed.eif"] {
        let i = inspect_file(&fixture(name)).expect(name);
        assert_eq!(hex::encode(i.pcrs().pcr0), PCR0, "{name}");
        assert_eq!(hex::encode(i.pcrs().pcr1), PCR1, "{name}");
        assert_eq!(hex::encode(i.pcrs().pcr2), PCR2, "{name}");
        assert_eq!(i.metadata(), &kat_metadata());
    }
    let unsigned = inspect_file(&fixture("unsigned.eif")).expect("unsigned");
    assert_eq!(unsigned.pcrs().pcr8, None);
    assert!(unsigned.signature_check().is_none());
    let signed = inspect_file(&fixture("signed.eif")).expect("signed");
    assert_eq!(signed.pcrs().pcr8.map(hex::encode).as_deref(), Some(PCR8));
    assert!(matches!(signed.signature_check(), Some(Ok(()))));
    let single = inspect_file(&fixture("single_ramdisk.eif")).expect("single");
    assert_eq!(hex::encode(single.pcrs().pcr0), PCR1);
    assert_eq!(hex::encode(single.pcrs().pcr1), PCR1);
    assert_eq!(hex::encode(single.pcrs().pcr2), PCR2_SINGLE);
}

#[test]
fn header_matches_inspect_json() {
    for name in ["unsigned.eif", "signed.eif", "single_ramdisk.eif"] {
        let json: serde_json::Value =
            serde_json::from_slice(&read(&format!("{name}_inspect.json"))).expect("json");
        let i = inspect_file(&fixture(name)).expect(name);
        let h = i.header();
        assert_eq!(
            u64::from(h.version()),
            json["version"].as_u64().expect("version")
        );
        assert_eq!(h.default_mem(), json["default_mem"].as_u64().expect("mem"));
        assert_eq!(
            h.default_cpus(),
            json["default_cpus"].as_u64().expect("cpus")
        );
        assert_eq!(
            u64::from(h.crc()),
            json["crc_header"].as_u64().expect("crc")
        );
        let offsets: Vec<u64> = h.sections().iter().map(|s| s.offset).collect();
        let sizes: Vec<u64> = h.sections().iter().map(|s| s.size).collect();
        let want = |k: &str| -> Vec<u64> {
            json[k]
                .as_array()
                .expect(k)
                .iter()
                .filter_map(serde_json::Value::as_u64)
                .collect()
        };
        assert_eq!(offsets, want("section_offsets"), "{name}");
        assert_eq!(sizes, want("section_sizes"), "{name}");
    }
}

#[test]
fn rebuilding_the_fixture_inputs_is_byte_identical() {
    let (bytes, built) = build(&kat_builder(&["ramdisk_bootstrap.bin", "ramdisk_app.bin"]));
    assert_eq!(bytes, read("unsigned.eif"));
    assert_eq!(hex::encode(built.pcrs.pcr0), PCR0);
    assert_eq!(hex::encode(built.pcrs.pcr1), PCR1);
    assert_eq!(hex::encode(built.pcrs.pcr2), PCR2);
    let (bytes, _) = build(&kat_builder(&["ramdisk_bootstrap.bin"]));
    assert_eq!(bytes, read("single_ramdisk.eif"));
}

#[test]
fn our_signature_of_the_fixture_inputs_verifies_and_gives_pcr8() {
    let b = kat_builder(&["ramdisk_bootstrap.bin", "ramdisk_app.bin"]).sign_with(fixture_key());
    let (bytes, built) = build(&b);
    let theirs = read("signed.eif");
    // ECDSA is randomized, and serde_cbor's array-of-uints spends one or two bytes per
    // signature byte, so only the signature section's size and bytes (and the CRC) differ.
    let last_size_at = 284 + 8 * 5;
    assert_eq!(bytes[..last_size_at], theirs[..last_size_at]);
    assert_eq!(bytes[548..SIGNATURE_OFFSET], theirs[548..SIGNATURE_OFFSET]);
    assert_eq!(built.pcrs.pcr8.map(hex::encode).as_deref(), Some(PCR8));
    let i = inspect_bytes(&bytes).expect("our signed image");
    assert!(matches!(i.signature_check(), Some(Ok(()))));
    assert_eq!(i.pcrs().pcr8.map(hex::encode).as_deref(), Some(PCR8));
    let sig = i.signature().expect("signed");
    assert_eq!(sig.certificate().pem().as_bytes(), read("signing_cert.pem"));
}

#[test]
fn a_signature_over_another_image_is_refused() {
    let signed = read("signed.eif");
    let section = &signed[SIGNATURE_OFFSET + 12..];
    let sig = SignatureSection::parse(section).expect("parses");
    let mut other = [0u8; 48];
    other[0] = 1;
    assert_eq!(
        sig.verify(&other).expect_err("wrong pcr").code(),
        "eif.signed_pcr_mismatch"
    );
    // Flip a byte of the ECDSA signature (the last array element) and fix the CRC.
    let mut bad = signed.clone();
    let last = bad.len() - 1;
    bad[last] = if bad[last] == 0x00 { 0x01 } else { 0x00 };
    fix_crc(&mut bad);
    let i = inspect_bytes(&bad).expect("still well formed");
    assert_eq!(
        i.signature_check()
            .and_then(|r| r.as_ref().err())
            .map(EifError::code),
        Some("eif.signature_invalid")
    );
}

#[test]
fn malformed_images_get_typed_errors() {
    let good = read("unsigned.eif");
    let mut b = good.clone();
    b[600] ^= 1;
    assert_eq!(code(inspect_bytes(&b)), "eif.bad_crc");
    for cut in [0, 10, 547, 548, 559, 5000, good.len() - 1] {
        // With the length known, a section past the end is refused before reading it.
        let known = code(inspect_bytes(&good[..cut]));
        assert!(
            ["eif.truncated", "eif.section_too_large"].contains(&known),
            "cut at {cut}: {known}"
        );
        // Without a known length the streaming reader finds the same.
        let r = inspect(Cursor::new(&good[..cut]), None, |_, _| Ok(()));
        assert_eq!(code(r), "eif.truncated", "stream cut at {cut}");
    }
    let mut b = good.clone();
    b.push(0);
    assert_eq!(code(inspect_bytes(&b)), "eif.trailing_bytes");
    let mut b = good.clone();
    b[0] = b'E';
    assert_eq!(code(inspect_bytes(&b)), "eif.bad_magic");
    let mut b = good.clone();
    b[5] = 3;
    assert_eq!(code(inspect_bytes(&b)), "eif.unsupported_version");
    let mut b = good.clone();
    b[26..28].copy_from_slice(&33u16.to_be_bytes());
    assert_eq!(code(inspect_bytes(&b)), "eif.section_count");
    // Unknown section type in the kernel's section header.
    let mut b = good.clone();
    b[548..550].copy_from_slice(&9u16.to_be_bytes());
    assert_eq!(code(inspect_bytes(&b)), "eif.unknown_section_type");
    // Kernel section declaring more than the file holds (table agrees, so size is the issue).
    let mut b = good.clone();
    let huge = u64::MAX - 10;
    b[552..560].copy_from_slice(&huge.to_be_bytes());
    b[284..292].copy_from_slice(&huge.to_be_bytes());
    assert_eq!(code(inspect_bytes(&b)), "eif.section_too_large");
    let r = inspect(Cursor::new(&b), None, |_, _| Ok(()));
    assert_eq!(code(r), "eif.truncated");
    // Table and section header disagree.
    let mut b = good.clone();
    b[28..36].copy_from_slice(&549u64.to_be_bytes());
    assert_eq!(code(inspect_bytes(&b)), "eif.section_table_mismatch");
    // Kernel and cmdline swapped in type only.
    let mut b = good.clone();
    b[548..550].copy_from_slice(&2u16.to_be_bytes());
    assert_eq!(code(inspect_bytes(&b)), "eif.section_order");
    // Metadata that is not JSON (CRC fixed so the metadata check is what fails).
    let mut b = good.clone();
    b[5615] = b'[';
    fix_crc(&mut b);
    assert_eq!(code(inspect_bytes(&b)), "eif.bad_metadata");
}

#[test]
fn directory_ramdisks_build_reproducibly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("rootfs");
    std::fs::create_dir_all(root.join("etc")).expect("mkdir");
    std::fs::create_dir_all(root.join("bin")).expect("mkdir");
    std::fs::write(root.join("init"), b"#!/bin/sh\nexec /bin/app\n").expect("write");
    std::fs::write(root.join("bin/app"), vec![7u8; 100_000]).expect("write");
    std::fs::write(root.join("etc/hostname"), b"enclave\n").expect("write");
    let make = || {
        let b = EifBuilder::new(
            SectionSource::file(&fixture("kernel.bin")).expect("kernel"),
            CMDLINE,
            IdentityInfo::reproducible("app", "1.0", 0),
        )
        .ramdisk(SectionSource::file(&fixture("ramdisk_bootstrap.bin")).expect("ramdisk"))
        .ramdisk(SectionSource::file_or_dir(&root, 0).expect("rootfs"));
        build(&b)
    };
    let (first, built) = make();
    // A later modification time and a rewrite with the same content change nothing.
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(root.join("etc/hostname"), b"enclave\n").expect("rewrite");
    let (second, _) = make();
    assert_eq!(first, second);
    let i = inspect_bytes(&first).expect("readable");
    assert_eq!(i.pcrs(), &built.pcrs);
    assert_eq!(
        hex::encode(i.pcrs().pcr1),
        PCR1,
        "same kernel, cmdline, bootstrap"
    );
}

#[test]
fn sink_sees_every_section_in_order() {
    let good = read("signed.eif");
    let mut seen: Vec<(usize, usize)> = Vec::new();
    inspect(Cursor::new(&good), None, |info, data| {
        match seen.last_mut() {
            Some((i, n)) if *i == info.index => *n += data.len(),
            _ => seen.push((info.index, data.len())),
        }
        Ok(())
    })
    .expect("reads");
    assert_eq!(
        seen,
        [
            (0, 5000),
            (1, 31),
            (2, 237),
            (3, 3000),
            (4, 7001),
            (5, 1939)
        ]
    );
}

mod no_panic {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = inspect_bytes(&bytes);
        }

        #[test]
        fn mutated_fixtures_never_panic(
            which in 0usize..3,
            edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
            cut in any::<usize>(),
            fix in any::<bool>(),
        ) {
            let name = ["unsigned.eif", "signed.eif", "single_ramdisk.eif"][which];
            let mut b = read(name);
            for (at, v) in edits {
                let len = b.len();
                b[at % len] = v;
            }
            b.truncate(cut % (b.len() + 1) + 548.min(b.len()));
            if fix && b.len() > 548 {
                fix_crc(&mut b);
            }
            let _ = inspect_bytes(&b);
            let _ = inspect(Cursor::new(&b), None, |_, _| Ok(()));
        }
    }
}

#[test]
fn describe_has_nitro_cli_keys_and_fixture_values() {
    let signed = inspect_file(&fixture("signed.eif")).expect("signed");
    let d: serde_json::Value =
        serde_json::from_str(&cloister_eif::Description::of(&signed).to_json()).expect("json");
    let expected: serde_json::Value = serde_json::from_str(
        read_text("eif_build_signed.stdout")
            .split_once('\n')
            .expect("2 parts")
            .1,
    )
    .expect("stdout json");
    assert_eq!(d["Measurements"], expected);
    assert_eq!(d["EifVersion"], 4);
    assert_eq!(d["IsSigned"], true);
    assert_eq!(d["CheckCRC"], true);
    assert_eq!(d["SignatureCheck"], true);
    assert_eq!(d["ArmKernel"], false);
    assert_eq!(d["ImageName"], "kat");
    assert_eq!(d["Metadata"]["BuildTool"], "eif_build");
    let unsigned = inspect_file(&fixture("unsigned.eif")).expect("unsigned");
    let d: serde_json::Value =
        serde_json::from_str(&cloister_eif::Description::of(&unsigned).to_json()).expect("json");
    let expected: serde_json::Value = serde_json::from_str(
        read_text("eif_build_unsigned.stdout")
            .split_once('\n')
            .expect("2 parts")
            .1,
    )
    .expect("stdout json");
    assert_eq!(d["Measurements"], expected);
    assert!(d.get("SignatureCheck").is_none() && d.get("IsSigned") == Some(&false.into()));
}

#[test]
fn three_ramdisks_measure_by_the_rule() {
    let b = kat_builder(&[
        "ramdisk_bootstrap.bin",
        "ramdisk_app.bin",
        "ramdisk_bootstrap.bin",
    ]);
    let (bytes, built) = build(&b);
    let i = inspect_bytes(&bytes).expect("readable");
    let (k, boot, app) = (
        read("kernel.bin"),
        read("ramdisk_bootstrap.bin"),
        read("ramdisk_app.bin"),
    );
    let rule = cloister_eif::measure_section_stream;
    assert_eq!(
        i.pcrs().pcr0,
        rule(&[&k, CMDLINE.as_bytes(), &boot, &app, &boot])
    );
    assert_eq!(hex::encode(i.pcrs().pcr1), PCR1);
    assert_eq!(i.pcrs().pcr2, rule(&[&app, &boot]));
    assert_eq!(i.pcrs(), &built.pcrs);
}
