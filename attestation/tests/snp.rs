//! SEV-SNP against the real reports in `shared/fixtures/snp` (read by path, never copied): every
//! accept case inside and outside its certificate window, the debug and VLEK cases, wrong and
//! crafted certificates, single-byte flips, the AMD CRLs, and a property test that no input
//! panics the parser.
#![allow(
    clippy::expect_used,
    reason = "integration tests: a helper outside a #[test] fn panicking is the calling test failing"
)]

#[path = "common/claims_doc.rs"]
mod claims_doc;

use std::path::PathBuf;

use cloister_attestation::binding::KeyBinding;
use cloister_attestation::snp::{
    MinTcb, PINNED_ARK_SHA256, Product, SigningKey, SnpCrl, SnpPolicy, SnpReport, SnpVerifier,
    VekExtensions, pinned_ark_der,
};
use cloister_attestation::{
    AppraisalContext, AttestationError, Platform, PlatformClaims, TcbStatus, UnixTime,
    VerifiedEvidence,
};
use der::Decode;
use proptest::prelude::*;
use sha2::{Digest, Sha256};

fn snp_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/snp")
}

fn read(rel: &str) -> Vec<u8> {
    let path = snp_dir().join(rel);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if rel.ends_with(".hex") {
        let text: String = String::from_utf8(bytes)
            .expect("utf8")
            .split_whitespace()
            .collect();
        return hex::decode(text).expect("hex");
    }
    bytes
}

/// Seconds since the epoch of a `YYYY-MM-DD` date at 00:00 UTC.
fn day(date: &str) -> UnixTime {
    let d = time::Date::parse(
        date,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .expect("date");
    UnixTime::from_secs(d.midnight().assume_utc().unix_timestamp() as u64)
}

/// One real report with its VCEK/VLEK and (optionally) chain.
struct Case {
    name: &'static str,
    report: &'static str,
    vek: &'static str,
    chain: Option<&'static str>,
    inside: &'static str,
    product: Product,
    signer: SigningKey,
    version: u32,
}

const MS: &str = "microsoft-TEE-Attestation-Verification";

fn accept_cases() -> Vec<Case> {
    let c = |name, report, vek, chain, inside, product, signer, version| Case {
        name,
        report,
        vek,
        chain,
        inside,
        product,
        signer,
        version,
    };
    use Product::*;
    use SigningKey::*;
    vec![
        c(
            "virtee milan",
            "virtee-sev/report_milan.hex",
            "virtee-sev/vcek_milan.der",
            Some("virtee-sev/cert_chain_milan"),
            "2025-01-01",
            Milan,
            Vcek,
            2,
        ),
        c(
            "virtee milan built-in",
            "virtee-sev/report_milan.hex",
            "virtee-sev/vcek_milan.der",
            None,
            "2025-01-01",
            Milan,
            Vcek,
            2,
        ),
        c(
            "trustee milan",
            "confidential-containers-trustee/test-report.bin",
            "confidential-containers-trustee/test-vcek.der",
            None,
            "2025-01-01",
            Milan,
            Vcek,
            2,
        ),
        c(
            "trustee vlek",
            "confidential-containers-trustee/test-vlek-report.bin",
            "confidential-containers-trustee/test-vlek.der",
            Some("confidential-containers-trustee/milan_ask_ark_asvk.pem"),
            "2025-06-01",
            Milan,
            Vlek,
            3,
        ),
        c(
            "trustee vlek built-in",
            "confidential-containers-trustee/test-vlek-report.bin",
            "confidential-containers-trustee/test-vlek.der",
            None,
            "2025-06-01",
            Milan,
            Vlek,
            3,
        ),
        c(
            "trustee genoa",
            "confidential-containers-trustee/derived_e2e_evidence_report.bin",
            "confidential-containers-trustee/derived_e2e_evidence_vcek.der",
            Some("confidential-containers-trustee/genoa_ask_ark_asvk.pem"),
            "2026-01-01",
            Genoa,
            Vcek,
            3,
        ),
        c(
            "microsoft milan",
            "microsoft-TEE-Attestation-Verification/milan_attestation_report.bin",
            "microsoft-TEE-Attestation-Verification/milan_vcek.pem",
            Some("microsoft-TEE-Attestation-Verification/milan_ask.pem"),
            "2026-06-01",
            Milan,
            Vcek,
            3,
        ),
        c(
            "microsoft genoa",
            "microsoft-TEE-Attestation-Verification/genoa_attestation_report.bin",
            "microsoft-TEE-Attestation-Verification/genoa_vcek.pem",
            Some("microsoft-TEE-Attestation-Verification/genoa_ask.pem"),
            "2026-06-01",
            Genoa,
            Vcek,
            3,
        ),
        c(
            "microsoft turin",
            "microsoft-TEE-Attestation-Verification/turin_attestation_report.bin",
            "microsoft-TEE-Attestation-Verification/turin_vcek.pem",
            Some("microsoft-TEE-Attestation-Verification/turin_ask.pem"),
            "2026-06-01",
            Turin,
            Vcek,
            5,
        ),
        c(
            "microsoft turin built-in",
            "microsoft-TEE-Attestation-Verification/turin_attestation_report.bin",
            "microsoft-TEE-Attestation-Verification/turin_vcek.pem",
            None,
            "2026-06-01",
            Turin,
            Vcek,
            5,
        ),
    ]
}

fn verifier(case: &Case) -> SnpVerifier {
    match case.chain {
        Some(chain) => SnpVerifier::new()
            .with_chain_pem(&read(chain))
            .expect("chain"),
        None => SnpVerifier::new(),
    }
}

/// The VEK's validity window (DER or PEM), epoch seconds.
fn vek_window(rel: &str) -> (u64, u64) {
    let bytes = read(rel);
    let der = if bytes.first() == Some(&0x30) {
        bytes
    } else {
        der::pem::decode_vec(&bytes).expect("pem").1
    };
    let cert = x509_cert::Certificate::from_der(&der).expect("cert");
    let v = cert.tbs_certificate().validity();
    (
        v.not_before.to_unix_duration().as_secs(),
        v.not_after.to_unix_duration().as_secs(),
    )
}

#[test]
fn every_accept_fixture_verifies_inside_its_window_and_not_outside() {
    for case in accept_cases() {
        let report = read(case.report);
        let vek = read(case.vek);
        let v = verifier(&case);
        let ok = v
            .verify(&report, &vek, day(case.inside))
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        assert_eq!(ok.product(), case.product, "{}", case.name);
        assert_eq!(ok.signer(), case.signer, "{}", case.name);
        assert_eq!(ok.version(), case.version, "{}", case.name);
        let claims = VerifiedEvidence::Snp(Box::new(ok.clone())).claims();
        assert_eq!(claims.platform, Platform::SevSnp);
        assert_eq!(claims.tcb_status, TcbStatus::VendorCertified);
        assert_eq!(
            claims.workload_measurement,
            hex::encode(ok.report().measurement())
        );
        assert!(matches!(claims.platform_claims, PlatformClaims::Snp(_)));
        claims_doc::assert_documented(&serde_json::to_value(&claims).expect("json"));
        let pinned = PINNED_ARK_SHA256
            .iter()
            .find(|(p, _)| *p == case.product)
            .map(|(_, h)| *h);
        assert_eq!(Some(claims.root_sha256.as_str()), pinned, "{}", case.name);
        SnpPolicy::default()
            .dangerous_any_workload()
            .dangerous_appraise_without_binding(&ok, day(case.inside))
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));

        let (not_before, not_after) = vek_window(case.vek);
        v.verify(&report, &vek, UnixTime::from_secs(not_before))
            .unwrap_or_else(|e| panic!("{} at notBefore: {e}", case.name));
        v.verify(&report, &vek, UnixTime::from_secs(not_after))
            .unwrap_or_else(|e| panic!("{} at notAfter: {e}", case.name));
        let e = v
            .verify(&report, &vek, UnixTime::from_secs(not_before - 1))
            .expect_err(case.name);
        assert_eq!(e.code(), "snp.cert.not_yet_valid", "{}", case.name);
        let e = v
            .verify(&report, &vek, UnixTime::from_secs(not_after + 1))
            .expect_err(case.name);
        assert_eq!(e.code(), "snp.cert.expired", "{}", case.name);
    }
}

#[test]
fn turin_uses_the_8_byte_chip_id_and_fmc() {
    let report = read(&format!("{MS}/turin_attestation_report.bin"));
    let ok = SnpVerifier::new()
        .verify(
            &report,
            &read(&format!("{MS}/turin_vcek.pem")),
            day("2026-06-01"),
        )
        .expect("turin");
    assert_eq!(hex::encode(&ok.chip_id()[..8]), "59790fb1c39f35c1");
    assert!(ok.chip_id()[8..].iter().all(|&b| b == 0));
    let tcb = ok.reported_tcb();
    assert_eq!(
        (tcb.fmc, tcb.bootloader, tcb.tee, tcb.snp, tcb.microcode),
        (1, 1, 1, 4, 81)
    );
    let snp = ok.snp_claims();
    assert_eq!(snp.launch_mit_vector.as_deref(), Some("0x3f"));
    assert_eq!(snp.reported_tcb.fmc, Some(1));
}

#[test]
fn the_debug_report_needs_debug_allowed() {
    let report = read("google-go-sev-guest/attestation.bin");
    let ok = SnpVerifier::new()
        .with_chain_pem(&read("google-go-sev-guest/ask_ark_milan.pem"))
        .expect("chain")
        .verify(
            &report,
            &read("google-go-sev-guest/vcek.testcer"),
            day("2025-01-01"),
        )
        .expect("signature and chain are valid");
    assert!(ok.is_debug());
    let ctx = day("2025-01-01");
    let e = SnpPolicy::default()
        .dangerous_any_workload()
        .dangerous_appraise_without_binding(&ok, ctx)
        .expect_err("debug");
    assert_eq!(e.code(), "policy.snp.debug_forbidden");
    SnpPolicy::default()
        .dangerous_allow_debug()
        .dangerous_any_workload()
        .dangerous_appraise_without_binding(&ok, ctx)
        .expect("debug allowed");
}

#[test]
fn the_vlek_expires_on_2025_12_10() {
    let case = &accept_cases()[3];
    let (report, vek) = (read(case.report), read(case.vek));
    let v = verifier(case);
    v.verify(&report, &vek, day("2025-12-10"))
        .expect("last day");
    let e = v
        .verify(&report, &vek, day("2025-12-11"))
        .expect_err("after");
    assert_eq!(e.code(), "snp.cert.expired");
    // VMPL 1: accepted by default, refused when the policy allows only VMPL 0.
    let ok = v.verify(&report, &vek, day("2025-06-01")).expect("inside");
    assert_eq!(ok.vmpl(), 1);
    let e = SnpPolicy::default()
        .with_allowed_vmpls([0])
        .dangerous_any_workload()
        .dangerous_appraise_without_binding(&ok, day("2025-06-01"))
        .expect_err("vmpl");
    assert_eq!(e.code(), "policy.snp.vmpl_not_allowed");
    // A VLEK cannot pass for a VCEK through the ASK, and a VCEK report cannot take a VLEK.
    let e = SnpVerifier::new()
        .verify(
            &read("confidential-containers-trustee/test-report.bin"),
            &vek,
            day("2025-06-01"),
        )
        .expect_err("vlek for a vcek report");
    assert_eq!(e.code(), "snp.binding.signer_mismatch");
}

#[test]
fn a_certificate_of_another_chip_or_product_is_rejected() {
    let gce = read("openpcc-openpcc/extracted/test_gce_sevsnp_report.bin");
    let e = SnpVerifier::new()
        .verify(
            &gce,
            &read("openpcc-openpcc/extracted/test_vcek.pem"),
            day("2026-01-01"),
        )
        .expect_err("genoa vcek for a milan report");
    assert_eq!(e.code(), "snp.chain.product_mismatch");
    // Same product, another chip: Trustee's Milan VCEK for virtee's Milan report.
    let e = SnpVerifier::new()
        .verify(
            &read("virtee-sev/report_milan.hex"),
            &read("confidential-containers-trustee/test-vcek.der"),
            day("2025-01-01"),
        )
        .expect_err("other chip");
    assert_eq!(e.code(), "snp.report.bad_signature");
    // A chain of another product.
    let e = SnpVerifier::new()
        .with_chain_pem(&read("virtee-sev/builtin_genoa_ask.pem"))
        .expect("chain")
        .verify(
            &read("virtee-sev/report_milan.hex"),
            &read("virtee-sev/vcek_milan.der"),
            day("2025-01-01"),
        )
        .expect_err("genoa ask for a milan vcek");
    assert_eq!(e.code(), "snp.chain.incomplete");
    let mut chain = read("virtee-sev/builtin_milan_ask.pem");
    chain.extend(read("virtee-sev/builtin_genoa_ark.pem"));
    let e = SnpVerifier::new()
        .with_chain_pem(&chain)
        .expect("chain")
        .verify(
            &read("virtee-sev/report_milan.hex"),
            &read("virtee-sev/vcek_milan.der"),
            day("2025-01-01"),
        )
        .expect_err("milan ask with the genoa ark");
    assert_eq!(e.code(), "snp.chain.product_mismatch");
    // The given product must agree with CPUID.
    let e = SnpVerifier::new()
        .with_product(Product::Turin)
        .verify(
            &gce,
            &read("openpcc-openpcc/extracted/test_vcek.pem"),
            day("2026-01-01"),
        )
        .expect_err("product");
    assert_eq!(e.code(), "snp.chain.product_mismatch");
}

#[test]
fn crafted_hwid_certificates_parse_both_encodings_and_are_rejected() {
    let legacy = read("confidential-containers-trustee/test-vcek-invalid-legacy.der");
    let new = read("confidential-containers-trustee/test-vcek-invalid-new.der");
    let a = VekExtensions::from_der(&legacy).expect("legacy");
    let b = VekExtensions::from_der(&new).expect("new");
    let counting: Vec<u8> = (0..64).collect();
    assert_eq!(a.hwid.as_deref(), Some(&counting[..]), "raw 64-byte hwID");
    assert_eq!(b.hwid.as_deref(), Some(&counting[..]), "OCTET STRING hwID");
    let report = read("confidential-containers-trustee/test-report.bin");
    for cert in [&legacy, &new] {
        let e = SnpVerifier::new()
            .verify(&report, cert, day("2025-01-01"))
            .expect_err("crafted");
        assert!(e.code().starts_with("snp."), "{e}");
    }
    // Real certificates: raw (virtee, 2023) and wrapped (Microsoft, 2026) forms, serial 0.
    let real = VekExtensions::from_der(&read("virtee-sev/vcek_milan.der")).expect("virtee");
    assert_eq!(real.hwid.as_ref().map(Vec::len), Some(64));
    assert_eq!(real.product_name.as_deref(), Some("Milan-B0"));
    let turin_pem = read(&format!("{MS}/turin_vcek.pem"));
    let turin = der::pem::decode_vec(&turin_pem).expect("pem").1;
    let t = VekExtensions::from_der(&turin).expect("turin");
    assert_eq!(t.hwid.as_ref().map(Vec::len), Some(8));
    assert_eq!(t.fmc, Some(1));
}

fn flip_all(report: &[u8], vek: &[u8], v: &SnpVerifier, now: UnixTime, what: &str) {
    for i in 0..report.len() {
        let mut r = report.to_vec();
        r[i] ^= 0x01;
        assert!(
            v.verify(&r, vek, now).is_err(),
            "{what}: report byte {i:#x} flipped accepted"
        );
    }
    for i in 0..vek.len() {
        let mut c = vek.to_vec();
        c[i] ^= 0x01;
        assert!(
            v.verify(report, &c, now).is_err(),
            "{what}: certificate byte {i} flipped accepted"
        );
    }
}

#[test]
fn any_single_flipped_byte_in_a_report_or_vcek_is_rejected() {
    let now = day("2026-06-01");
    flip_all(
        &read("virtee-sev/report_milan.hex"),
        &read("virtee-sev/vcek_milan.der"),
        &SnpVerifier::new(),
        now,
        "virtee milan v2",
    );
    let turin_pem = read(&format!("{MS}/turin_vcek.pem"));
    let turin = der::pem::decode_vec(&turin_pem).expect("pem").1;
    flip_all(
        &read(&format!("{MS}/turin_attestation_report.bin")),
        &turin,
        &SnpVerifier::new(),
        now,
        "microsoft turin v5",
    );
    flip_all(
        &read("confidential-containers-trustee/test-vlek-report.bin"),
        &read("confidential-containers-trustee/test-vlek.der"),
        &SnpVerifier::new(),
        day("2025-06-01"),
        "trustee vlek v3",
    );
}

#[test]
fn any_single_flipped_byte_in_the_ask_is_rejected() {
    let report = read("virtee-sev/report_milan.hex");
    let vek = read("virtee-sev/vcek_milan.der");
    let ask = der::pem::decode_vec(&read("virtee-sev/builtin_milan_ask.pem"))
        .expect("pem")
        .1;
    let now = day("2025-01-01");
    SnpVerifier::new()
        .with_chain_pem(&ask)
        .expect("DER chain")
        .verify(&report, &vek, now)
        .expect("unmodified");
    for i in 0..ask.len() {
        let mut c = ask.clone();
        c[i] ^= 0x01;
        let verdict = SnpVerifier::new()
            .with_chain_pem(&c)
            .and_then(|v| v.verify(&report, &vek, now));
        assert!(verdict.is_err(), "ASK byte {i} flipped accepted");
    }
}

#[test]
fn the_genoa_crl_revokes_the_old_ask_and_passes_the_current_one() {
    let crl = SnpCrl::from_pem_or_der(&read("openpcc-openpcc/extracted/test_amd_genoa_crl.pem"))
        .expect("crl");
    assert!(
        crl.is_revoked(&[0x02, 0x00, 0x01]),
        "ASK serial 0x20001 is revoked"
    );
    assert!(
        !crl.is_revoked(&[0x02, 0x00, 0x02]),
        "current ASK 0x20002 is not"
    );
    let case = &accept_cases()[5];
    let (report, vek) = (read(case.report), read(case.vek));
    // Inside the CRL's window (2024-10-23 .. 2025-11-03) and the VCEK's (from 2025-05-27).
    verifier(case)
        .with_crl(crl.clone())
        .verify(&report, &vek, day("2025-06-01"))
        .expect("current ASK is not revoked");
    let e = verifier(case)
        .with_crl(crl.clone())
        .verify(&report, &vek, day("2025-11-04"))
        .expect_err("stale CRL");
    assert_eq!(e.code(), "snp.crl.outdated");
    // The Milan CRL is ARK-Milan's: it verifies on a Milan chain, not on a Genoa one.
    let milan_crl =
        SnpCrl::from_pem_or_der(&read("openpcc-openpcc/extracted/test_amd_milan_crl.pem"))
            .expect("milan crl");
    let e = verifier(case)
        .with_crl(milan_crl.clone())
        .verify(&report, &vek, day("2025-06-01"))
        .expect_err("wrong ARK");
    assert_eq!(e.code(), "snp.crl.bad_signature");
    SnpVerifier::new()
        .with_crl(milan_crl)
        .verify(
            &read("confidential-containers-trustee/test-report.bin"),
            &read("confidential-containers-trustee/test-vcek.der"),
            day("2025-06-01"),
        )
        .expect("milan chain, milan crl");
    // A CRL with one flipped byte in its signed part no longer verifies.
    let pem = read("openpcc-openpcc/extracted/test_amd_genoa_crl.pem");
    let mut der = der::pem::decode_vec(&pem).expect("pem").1;
    let i = der.len() / 3;
    der[i] ^= 0x01;
    let verdict = SnpCrl::from_pem_or_der(&der).and_then(|crl| {
        verifier(case)
            .with_crl(crl)
            .verify(&report, &vek, day("2025-06-01"))
    });
    assert!(verdict.is_err());
}

#[test]
fn the_pinned_arks_are_the_public_amd_roots() {
    for (product, expected) in PINNED_ARK_SHA256 {
        let der = pinned_ark_der(product);
        assert_eq!(hex::encode(Sha256::digest(&der)), expected, "{product}");
        // Byte-equal to every public copy in the fixtures.
        let lower = product.as_str().to_lowercase();
        for rel in [
            format!("virtee-sev/builtin_{lower}_ark.pem"),
            format!("{MS}/src_pinned_arks_{lower}_ark.pem"),
        ] {
            let fixture = der::pem::decode_vec(&read(&rel)).expect("pem").1;
            assert_eq!(fixture, der, "{rel}");
        }
    }
}

#[test]
fn a_chain_must_end_in_a_pinned_ark() {
    // The real ARK-Milan with one signature byte changed: same name, not the pinned bytes.
    let mut ark = pinned_ark_der(Product::Milan);
    let last = ark.len() - 1;
    ark[last] ^= 0x01;
    let fake = der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, &ark).expect("pem");
    let mut chain = read("virtee-sev/builtin_milan_ask.pem");
    chain.extend(fake.as_bytes());
    let e = SnpVerifier::new()
        .with_chain_pem(&chain)
        .expect("chain")
        .verify(
            &read("virtee-sev/report_milan.hex"),
            &read("virtee-sev/vcek_milan.der"),
            day("2025-01-01"),
        )
        .expect_err("unpinned ARK");
    assert_eq!(e.code(), "snp.chain.untrusted_ark");
    // The Genoa ARK given for a Milan chain.
    let mut chain = read("virtee-sev/builtin_milan_ask.pem");
    chain.extend(read("virtee-sev/builtin_genoa_ark.pem"));
    let e = SnpVerifier::new()
        .with_chain_pem(&chain)
        .expect("chain")
        .verify(
            &read("virtee-sev/report_milan.hex"),
            &read("virtee-sev/vcek_milan.der"),
            day("2025-01-01"),
        )
        .expect_err("genoa ark");
    assert_eq!(e.code(), "snp.chain.product_mismatch");
}

#[test]
fn policy_knobs_on_a_real_report() {
    let case = &accept_cases()[6]; // microsoft milan v3, ID block, host_data set
    let now = day(case.inside);
    let ok = verifier(case)
        .verify(&read(case.report), &read(case.vek), now)
        .expect("verify");
    let ctx = now;
    let code = |p: SnpPolicy| {
        p.dangerous_any_workload()
            .dangerous_appraise_without_binding(&ok, ctx)
            .expect_err("policy")
            .code()
    };
    SnpPolicy::default()
        .with_measurement(*ok.measurement())
        .with_host_data(*ok.host_data())
        .with_id_key_digest(*ok.id_key_digest())
        .with_allowed_vmpls([0])
        .with_min_tcb(MinTcb {
            microcode: Some(ok.reported_tcb().microcode),
            ..MinTcb::default()
        })
        .with_chip_ids([ok.chip_id().to_vec()])
        .dangerous_appraise_without_binding(&ok, ctx)
        .expect("all pins match");
    assert_eq!(
        code(SnpPolicy::default().with_measurement([0; 48])),
        "policy.snp.field_mismatch"
    );
    assert_eq!(
        code(SnpPolicy::default().with_host_data([0; 32])),
        "policy.snp.field_mismatch"
    );
    assert_eq!(
        code(SnpPolicy::default().with_id_key_digest([0; 48])),
        "policy.snp.field_mismatch"
    );
    assert_eq!(
        code(SnpPolicy::default().with_min_tcb(MinTcb {
            microcode: Some(ok.reported_tcb().microcode + 1),
            ..MinTcb::default()
        })),
        "policy.snp.tcb_below_minimum"
    );
    assert_eq!(
        code(SnpPolicy::default().with_chip_ids([vec![0; 64]])),
        "policy.snp.chip_not_allowed"
    );
    assert_eq!(
        code(SnpPolicy::default().with_allowed_vmpls([1, 2])),
        "policy.snp.vmpl_not_allowed"
    );
    if ok.smt_allowed() {
        assert_eq!(
            code(SnpPolicy::default().forbid_smt()),
            "policy.snp.policy_bit"
        );
    }
    // REPORT_DATA is not this binding.
    let binding = KeyBinding {
        kem_pub: vec![1; 32],
        sig_pub: vec![2; 32],
        nonce: b"n".to_vec(),
    };
    let e = SnpPolicy::default()
        .dangerous_any_workload()
        .appraise(&ok, &AppraisalContext::new(now, binding.clone()))
        .expect_err("binding");
    assert_eq!(e.code(), "policy.binding_mismatch");
    // A policy that pins nothing refuses before it looks at anything else.
    let e = SnpPolicy::default()
        .appraise(&ok, &AppraisalContext::new(now, binding))
        .expect_err("unpinned");
    assert_eq!(e.code(), "policy.no_workload_pinned");
    let e = SnpPolicy::default()
        .with_measurement(*ok.measurement())
        .appraise(&ok, &AppraisalContext::new(now, KeyBinding::default()))
        .expect_err("binding");
    assert_eq!(e.code(), "policy.binding_mismatch");
    // Trustee's Milan report has CURRENT_TCB (ucode 206) != COMMITTED? Only checked when asked.
    let t = SnpVerifier::new()
        .verify(
            &read("confidential-containers-trustee/test-report.bin"),
            &read("confidential-containers-trustee/test-vcek.der"),
            day("2025-01-01"),
        )
        .expect("trustee");
    let strict = SnpPolicy::default().require_committed_tcb();
    let verdict = strict
        .dangerous_any_workload()
        .dangerous_appraise_without_binding(&t, day("2025-01-01"));
    assert_eq!(verdict.is_ok(), t.current_tcb() == t.committed_tcb());
}

#[test]
fn reports_parse_with_the_expected_fields() {
    let r = SnpReport::parse(&read("virtee-sev/report_milan.hex")).expect("v2");
    assert_eq!(r.version(), 2);
    assert_eq!(r.cpuid(), None);
    assert_eq!(r.policy(), 0x30000);
    let r = SnpReport::parse(&read(
        "openpcc-openpcc/extracted/test_gce_sevsnp_report.bin",
    ))
    .expect("v4");
    assert_eq!(r.version(), 4);
    assert_eq!(r.product_from_cpuid(), Some(Product::Milan));
    let e: AttestationError = SnpReport::parse(&[0; 1184]).expect_err("v0");
    assert_eq!(e.code(), "snp.report.unsupported_version");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic_the_parser(bytes in proptest::collection::vec(any::<u8>(), 0..1300)) {
        let _ = SnpReport::parse(&bytes);
    }

    #[test]
    fn mutated_reports_never_panic_and_never_verify(
        edits in proptest::collection::vec((0usize..1184, any::<u8>()), 1..8),
    ) {
        let mut report = read("virtee-sev/report_milan.hex");
        let original = report.clone();
        for (i, b) in edits {
            report[i] = b;
        }
        let verdict = SnpVerifier::new().verify(&report, &read("virtee-sev/vcek_milan.der"), day("2025-01-01"));
        prop_assert_eq!(verdict.is_ok(), report == original);
    }

    #[test]
    fn arbitrary_certificates_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = VekExtensions::from_der(&bytes);
        let _ = SnpCrl::from_pem_or_der(&bytes);
        let _ = SnpVerifier::new().verify(&read("virtee-sev/report_milan.hex"), &bytes, day("2025-01-01"));
    }
}
