//! Intel TDX against the real quotes and collateral in `shared/fixtures/tdx` (read by path,
//! never copied): the UpToDate quotes at the edges of their windows, the negative quotes with
//! their specific errors, the wrong root, and every single-byte flip of a quote and of the
//! collateral signatures.
#![allow(
    clippy::expect_used,
    reason = "integration tests: a helper outside a #[test] fn panicking is the calling test failing"
)]

#[path = "common/claims_doc.rs"]
mod claims_doc;

use std::path::PathBuf;

use cloister_attestation::binding::KeyBinding;
use cloister_attestation::tdx::{
    INTEL_SGX_ROOT_CA_SHA256, PckCa, TcbStatus, TdReportKind, TdxCollateral, TdxPolicy, TdxQuote,
    TdxVerifier, VerifiedTdxQuote,
};
use cloister_attestation::{
    AppraisalContext, AttestationError, Platform, UnixTime, VerifiedEvidence,
};

fn tdx_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/tdx")
}

/// A fixture file; hex text (with or without `0x`) is decoded.
fn read(rel: &str) -> Vec<u8> {
    let path = tdx_dir().join(rel);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if rel.ends_with(".hex") || rel.ends_with("_hex.txt") {
        let text: String = String::from_utf8(bytes)
            .expect("utf8")
            .split_whitespace()
            .collect();
        return hex::decode(text.trim_start_matches("0x")).expect("hex");
    }
    bytes
}

fn collateral(rel: &str) -> TdxCollateral {
    TdxCollateral::from_json(&read(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn at(rfc3339: &str) -> UnixTime {
    let t = time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .expect("time");
    UnixTime::from_secs(t.unix_timestamp() as u64)
}

/// Phala's v4 quote verified with its collateral at 2025-07-01 (UpToDate).
fn verified_phala() -> (VerifiedTdxQuote, UnixTime) {
    let now = at("2025-07-01T00:00:00Z");
    let v = TdxVerifier::new()
        .verify(
            &read("Phala-Network-dcap-qvl/tdx_quote"),
            Some(&collateral(
                "Phala-Network-dcap-qvl/tdx_quote_collateral.json",
            )),
            now,
        )
        .expect("verify");
    (v, now)
}

fn code(r: Result<impl std::fmt::Debug, AttestationError>) -> &'static str {
    r.expect_err("expected a rejection").code()
}

/// A real quote with collateral that verifies UpToDate inside `[from, until]`; the window is
/// the intersection of every certificate, CRL, TCB Info and QE Identity window (the fixtures
/// README lists them).
struct UpToDate {
    quote: &'static str,
    collateral: &'static str,
    from: &'static str,
    until: &'static str,
    version: u16,
    kind: TdReportKind,
}

const UP_TO_DATE: [UpToDate; 3] = [
    UpToDate {
        quote: "Phala-Network-dcap-qvl/tdx_quote",
        collateral: "Phala-Network-dcap-qvl/tdx_quote_collateral.json",
        from: "2025-06-19T10:32:27Z",
        until: "2025-07-19T10:00:35Z",
        version: 4,
        kind: TdReportKind::Td10,
    },
    UpToDate {
        quote: "Phala-Network-dcap-qvl/near_quote_hex.txt",
        collateral: "Phala-Network-dcap-qvl/near_quote_collateral.json",
        from: "2025-09-02T07:41:59Z",
        until: "2025-10-02T07:03:51Z",
        version: 4,
        kind: TdReportKind::Td10,
    },
    UpToDate {
        quote: "google-go-tdx-guest/quote_v5_sample.dat",
        collateral: "google-go-tdx-guest/assembled_quote_v5_sample_collateral.json",
        from: "2026-02-18T10:42:15Z",
        until: "2026-03-03T14:49:26Z",
        version: 5,
        kind: TdReportKind::Td15,
    },
];

#[test]
fn up_to_date_quotes_verify_inside_their_windows_and_not_a_second_outside() {
    let verifier = TdxVerifier::new();
    for case in &UP_TO_DATE {
        let quote = read(case.quote);
        let coll = collateral(case.collateral);
        let (from, until) = (at(case.from), at(case.until));
        let mid = UnixTime::from_secs((from.as_secs() + until.as_secs()) / 2);
        for t in [from, mid, until] {
            let v = verifier
                .verify(&quote, Some(&coll), t)
                .unwrap_or_else(|e| panic!("{} at {t}: {e}", case.quote));
            let tcb = v.tcb().expect("evaluated");
            assert_eq!(tcb.status, TcbStatus::UpToDate, "{}", case.quote);
            assert_eq!(tcb.qe_status, TcbStatus::UpToDate, "{}", case.quote);
            assert_eq!(v.quote().version(), case.version);
            assert_eq!(v.report().kind(), case.kind);
            assert_eq!(hex::encode(v.root_sha256()), INTEL_SGX_ROOT_CA_SHA256);
            let claims = VerifiedEvidence::Tdx(Box::new(v.clone())).claims();
            assert_eq!(claims.platform, Platform::Tdx);
            assert_eq!(claims.tcb_status, cloister_attestation::TcbStatus::UpToDate);
            assert_eq!(claims.workload_measurement, hex::encode(v.report().mr_td()));
            claims_doc::assert_documented(&serde_json::to_value(&claims).expect("json"));
            TdxPolicy::default()
                .dangerous_any_workload()
                .dangerous_appraise_without_binding(&v, t)
                .unwrap_or_else(|e| panic!("{}: {e}", case.quote));
            assert_eq!(v.tdx_claims().tcb_status, Some(TcbStatus::UpToDate));
        }
        for t in [from.as_secs() - 1, until.as_secs() + 1] {
            let err = verifier
                .verify(&quote, Some(&coll), UnixTime::from_secs(t))
                .expect_err(case.quote);
            assert!(
                matches!(err.code(), "tdx.collateral.outdated" | "tdx.crl.outdated"),
                "{} at {t}: {err}",
                case.quote
            );
        }
    }
}

#[test]
fn the_pck_identity_names_the_collateral_to_fetch() {
    let quote = TdxQuote::parse(&read("Phala-Network-dcap-qvl/tdx_quote")).expect("parse");
    let id = quote.pck_identity().expect("pck");
    assert_eq!(hex::encode(id.fmspc), "b0c06f000000");
    assert_eq!(id.ca, PckCa::Platform);
    assert_eq!(id.ca.as_pcs_param(), "platform");
    let coll = collateral("Phala-Network-dcap-qvl/tdx_quote_collateral.json");
    assert!(coll.fmspc().eq_ignore_ascii_case("b0c06f000000"));
}

#[test]
fn no_matching_tcb_level_is_rejected_with_what_the_platform_lacks() {
    let verifier = TdxVerifier::new();
    // TD 1.5 quote: SGX component 8 is 3, every level needs 5.
    let err = verifier
        .verify(
            &read("Phala-Network-dcap-qvl/tdx_quote_outdated"),
            Some(&collateral(
                "Phala-Network-dcap-qvl/tdx_quote_outdated_collateral.json",
            )),
            at("2026-03-01T00:00:00Z"),
        )
        .expect_err("no level");
    assert_eq!(err.code(), "tdx.tcb.no_matching_level");
    assert!(err.to_string().contains("SGX component 7: 3 < 5"), "{err}");
    // Sapphire Rapids E4 with its 2023 collateral: below both levels.
    let err = verifier
        .verify(
            &read("google-go-tdx-guest/tdx_prod_quote_SPR_E4.dat"),
            Some(&collateral(
                "google-go-tdx-guest/assembled_SPR_E4_collateral_2023.json",
            )),
            at("2023-07-01T00:00:00Z"),
        )
        .expect_err("no level");
    assert_eq!(err.code(), "tdx.tcb.no_matching_level");
}

#[test]
fn the_spr_quote_lacks_sept_ve_disable() {
    let now = at("2023-07-01T00:00:00Z");
    let v = TdxVerifier::new()
        .verify(
            &read("google-go-tdx-guest/tdx_prod_quote_SPR_E4.dat"),
            None,
            now,
        )
        .expect("signatures and chain");
    assert!(v.tcb().is_none());
    let policy = TdxPolicy::default()
        .dangerous_allow_unknown_tcb()
        .dangerous_any_workload();
    assert_eq!(
        code(policy.clone().dangerous_appraise_without_binding(&v, now)),
        "policy.tdx.attribute"
    );
    policy
        .dangerous_allow_sept_ve()
        .dangerous_any_workload()
        .dangerous_appraise_without_binding(&v, now)
        .expect("accepted once SEPT_VE is allowed");
}

#[test]
fn a_debug_td_is_refused_unless_allowed() {
    let now = at("2025-01-01T00:00:00Z");
    let v = TdxVerifier::new()
        .verify(
            &read("confidential-containers-trustee/tdx_quote_4.dat"),
            None,
            now,
        )
        .expect("signatures and chain");
    assert!(v.is_debug());
    let policy = TdxPolicy::default()
        .dangerous_allow_unknown_tcb()
        .dangerous_any_workload();
    assert_eq!(
        code(policy.clone().dangerous_appraise_without_binding(&v, now)),
        "policy.tdx.debug_forbidden"
    );
    policy
        .dangerous_allow_debug()
        .dangerous_any_workload()
        .dangerous_appraise_without_binding(&v, now)
        .expect("debug allowed");
    assert!(VerifiedEvidence::Tdx(Box::new(v)).claims().debug);
}

#[test]
fn without_collateral_the_tcb_is_unknown_and_refused_by_default() {
    let now = at("2025-01-01T00:00:00Z");
    let v = TdxVerifier::new()
        .verify(&read("Phala-Network-dcap-qvl/tdx-quote.hex"), None, now)
        .expect("verify");
    assert_eq!(v.tdx_claims().tcb_status, None);
    assert_eq!(
        VerifiedEvidence::Tdx(Box::new(v.clone()))
            .claims()
            .tcb_status,
        cloister_attestation::TcbStatus::Unknown
    );
    assert_eq!(
        code(
            TdxPolicy::default()
                .dangerous_any_workload()
                .dangerous_appraise_without_binding(&v, now)
        ),
        "policy.tdx.tcb_unknown"
    );
    TdxPolicy::default()
        .dangerous_allow_unknown_tcb()
        .dangerous_any_workload()
        .dangerous_appraise_without_binding(&v, now)
        .expect("allowed");
    // Before the PCK certificate's notBefore.
    assert_eq!(
        code(TdxVerifier::new().verify(
            &read("Phala-Network-dcap-qvl/tdx-quote.hex"),
            None,
            at("2024-08-01T00:00:00Z")
        )),
        "tdx.cert.not_yet_valid"
    );
}

#[test]
fn other_real_quotes_verify_without_collateral() {
    let now = at("2026-01-01T00:00:00Z");
    for rel in [
        "openpcc-openpcc/extracted/test_azure_tdx_quote.bin",
        "openpcc-openpcc/extracted/test_gce_tdx_report.bin",
        "google-go-tdx-guest/ccel_cos-113-tdx-quote.dat",
        "Phala-Network-dcap-qvl/quote-from-tappd.hex",
        "confidential-containers-trustee/az-tdx-vtpm/td-quote.bin",
    ] {
        TdxVerifier::new()
            .verify(&read(rel), None, now)
            .unwrap_or_else(|e| panic!("{rel}: {e}"));
    }
}

#[test]
fn a_quote_checked_against_another_root_is_rejected() {
    // Any other P-256 root: the quote's chain carries the Intel root, which is then not pinned.
    let other = rcgen_root();
    let verifier = TdxVerifier::dangerous_with_root(&other).expect("root");
    let err = verifier
        .verify(
            &read("Phala-Network-dcap-qvl/tdx_quote"),
            None,
            at("2025-07-01T00:00:00Z"),
        )
        .expect_err("wrong root");
    assert_eq!(err.code(), "tdx.chain.untrusted_root", "{err}");
}

fn rcgen_root() -> Vec<u8> {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Intel SGX Root CA");
    params.self_signed(&key).expect("cert").der().to_vec()
}

#[test]
fn the_key_binding_is_the_first_48_bytes_of_reportdata() {
    // Real quotes carry someone else's REPORTDATA: a binding to our keys must not match.
    let (v, now) = verified_phala();
    let binding = KeyBinding {
        kem_pub: vec![1; 32],
        sig_pub: vec![2; 32],
        nonce: b"n".to_vec(),
    };
    let r = v.report();
    let pinned = (0..3)
        .try_fold(TdxPolicy::default().with_mr_td(*r.mr_td()), |p, i| {
            p.with_rtmr(i, r.rtmr()[i])
        })
        .expect("rtmr");
    assert_eq!(
        code(pinned.appraise(&v, &AppraisalContext::new(now, binding.clone()))),
        "policy.binding_mismatch"
    );
    // A policy without the workload pins refuses first, whatever the binding.
    assert_eq!(
        code(TdxPolicy::default().appraise(&v, &AppraisalContext::new(now, binding))),
        "policy.no_workload_pinned"
    );
}

#[test]
fn policy_pins_measurements_statuses_and_collateral_age() {
    let (v, now) = verified_phala();
    let ctx = now;
    let r = v.report().clone();
    let pinned = (0..4)
        .try_fold(TdxPolicy::default().with_mr_td(*r.mr_td()), |p, i| {
            p.with_rtmr(i, r.rtmr()[i])
        })
        .expect("rtmr")
        .with_mr_config_id(*r.mr_config_id())
        .with_mr_owner(*r.mr_owner());
    pinned
        .dangerous_appraise_without_binding(&v, ctx)
        .expect("pinned values match");
    let again = TdxPolicy::from_json(pinned.to_json().as_bytes()).expect("round trip");
    assert_eq!(again, pinned);
    assert_eq!(
        code(
            TdxPolicy::default()
                .dangerous_any_workload()
                .with_mr_td([0; 48])
                .dangerous_appraise_without_binding(&v, ctx)
        ),
        "policy.tdx.field_mismatch"
    );
    pinned
        .clone()
        .with_mr_owner([1; 48])
        .dangerous_appraise_without_binding(&v, ctx)
        .expect_err("MROWNER differs");
    assert!(TdxPolicy::default().with_rtmr(4, [0; 48]).is_err());
    // Only OutOfDate accepted: UpToDate is then refused, naming the level.
    let err = TdxPolicy::default()
        .dangerous_any_workload()
        .with_accepted_tcb_statuses([TcbStatus::OutOfDate])
        .expect("statuses")
        .dangerous_appraise_without_binding(&v, ctx)
        .expect_err("status");
    assert_eq!(err.code(), "policy.tdx.tcb_status");
    assert!(err.to_string().contains("level "), "{err}");
    assert!(
        TdxPolicy::default()
            .dangerous_any_workload()
            .with_accepted_tcb_statuses([TcbStatus::Revoked])
            .is_err()
    );
    // TCB Info issued 2025-06-19, so 11 days old on 2025-07-01.
    assert_eq!(
        code(
            TdxPolicy::default()
                .dangerous_any_workload()
                .with_max_collateral_age_secs(7 * 86_400)
                .dangerous_appraise_without_binding(&v, ctx)
        ),
        "policy.tdx.collateral_too_old"
    );
    TdxPolicy::default()
        .dangerous_any_workload()
        .with_max_collateral_age_secs(14 * 86_400)
        .dangerous_appraise_without_binding(&v, ctx)
        .expect("young enough");
}

/// Every byte of a quote, up to the end of its signature data, matters: flipping any one of
/// them must make verification fail.
#[test]
fn every_single_byte_flip_of_a_quote_is_rejected() {
    let verifier = TdxVerifier::new();
    for case in &UP_TO_DATE {
        let quote = read(case.quote);
        let coll = collateral(case.collateral);
        let now = at(case.from);
        let parsed = TdxQuote::parse(&quote).expect("parse");
        let end = parsed.encoded_len();
        verifier.verify(&quote, Some(&coll), now).expect("baseline");
        let mut accepted = Vec::new();
        for i in 0..end {
            let mut m = quote.clone();
            m[i] ^= 0x01;
            if verifier.verify(&m, Some(&coll), now).is_ok() {
                accepted.push(i);
            }
        }
        assert!(
            accepted.is_empty(),
            "{}: flips accepted at {accepted:?}",
            case.quote
        );
        // Bytes past the end of the signature data are the driver's padding: ignored.
        if quote.len() > end {
            let mut m = quote.clone();
            m[end] ^= 0xff;
            verifier
                .verify(&m, Some(&coll), now)
                .expect("padding is not part of the quote");
        }
    }
}

#[test]
fn every_single_byte_flip_of_a_collateral_signature_is_rejected() {
    let quote = read("Phala-Network-dcap-qvl/tdx_quote");
    let json = read("Phala-Network-dcap-qvl/tdx_quote_collateral.json");
    let now = at("2025-07-01T00:00:00Z");
    let doc: serde_json::Value = serde_json::from_slice(&json).expect("json");
    for field in ["tcb_info_signature", "qe_identity_signature"] {
        let sig = hex::decode(doc[field].as_str().expect("sig")).expect("hex");
        for i in 0..sig.len() {
            let mut s = sig.clone();
            s[i] ^= 0x01;
            let mut d = doc.clone();
            d[field] = serde_json::Value::String(hex::encode(&s));
            let c = TdxCollateral::from_json(d.to_string().as_bytes()).expect("parses");
            let err = TdxVerifier::new()
                .verify(&quote, Some(&c), now)
                .expect_err(field);
            assert_eq!(
                err.code(),
                "tdx.collateral.bad_signature",
                "{field}[{i}]: {err}"
            );
        }
    }
    // The signed JSON itself: one character changed inside a value.
    let tcb = doc["tcb_info"].as_str().expect("tcb_info");
    let mut d = doc.clone();
    d["tcb_info"] = serde_json::Value::String(tcb.replacen("\"pcesvn\":11", "\"pcesvn\":10", 1));
    assert_ne!(d["tcb_info"], doc["tcb_info"], "the edit applies");
    let c = TdxCollateral::from_json(d.to_string().as_bytes()).expect("parses");
    assert_eq!(
        code(TdxVerifier::new().verify(&quote, Some(&c), now)),
        "tdx.collateral.bad_signature"
    );
    // The CRLs: a flipped byte in the signature at the end of each DER.
    for field in ["pck_crl", "root_ca_crl"] {
        let mut der = hex::decode(doc[field].as_str().expect("crl")).expect("hex");
        let last = der.len() - 2;
        der[last] ^= 0x01;
        let mut d = doc.clone();
        d[field] = serde_json::Value::String(hex::encode(&der));
        let c = TdxCollateral::from_json(d.to_string().as_bytes()).expect("parses");
        assert_eq!(
            code(TdxVerifier::new().verify(&quote, Some(&c), now)),
            "tdx.crl.bad_signature",
            "{field}"
        );
    }
}

#[test]
fn collateral_for_another_platform_is_refused() {
    let err = TdxVerifier::new()
        .verify(
            &read("Phala-Network-dcap-qvl/tdx_quote"),
            Some(&collateral(
                "Phala-Network-dcap-qvl/near_quote_collateral.json",
            )),
            at("2025-09-15T00:00:00Z"),
        )
        .expect_err("other FMSPC");
    // The quote's PCK CRL window or the FMSPC: either way not this quote's collateral.
    assert!(
        matches!(err.code(), "tdx.collateral.mismatch" | "tdx.cert.expired"),
        "{err}"
    );
}

#[test]
fn malformed_inputs_get_typed_errors() {
    let quote = read("Phala-Network-dcap-qvl/tdx_quote");
    for (bytes, expected) in [
        (vec![], "tdx.quote.truncated"),
        (quote[..100].to_vec(), "tdx.quote.truncated"),
        (
            [&[3u8, 0][..], &quote[2..]].concat(),
            "tdx.quote.unsupported_version",
        ),
        (
            [&quote[..2], &[3u8, 0][..], &quote[4..]].concat(),
            "tdx.quote.unsupported_key_type",
        ),
        (
            [&quote[..4], &[0u8, 0, 0, 0][..], &quote[8..]].concat(),
            "tdx.quote.unsupported_tee_type",
        ),
    ] {
        assert_eq!(code(TdxQuote::parse(&bytes)), expected);
    }
    assert_eq!(
        code(TdxCollateral::from_json(b"not json")),
        "tdx.collateral.malformed"
    );
}

/// A collateral remembers its first successful verification (see `TdxCollateral::verify`):
/// whatever it saw before, its verdict at any time equals a fresh copy's.
#[test]
fn a_reused_collateral_gives_the_verdicts_of_a_fresh_one() {
    let verifier = TdxVerifier::new();
    for case in &UP_TO_DATE {
        let quote = read(case.quote);
        let json = read(case.collateral);
        let reused = TdxCollateral::from_json(&json).expect("collateral");
        let (from, until) = (at(case.from).as_secs(), at(case.until).as_secs());
        let times = [
            (from + until) / 2,
            from - 1,
            until,
            until + 1,
            from,
            from - 86_400 * 40,
            until + 86_400 * 40,
            from + 1,
        ];
        for t in times {
            let t = UnixTime::from_secs(t);
            let fresh = TdxCollateral::from_json(&json).expect("collateral");
            let expected = verifier
                .verify(&quote, Some(&fresh), t)
                .map(|v| v.tcb().cloned())
                .map_err(|e| e.code());
            let got = verifier
                .verify(&quote, Some(&reused), t)
                .map(|v| v.tcb().cloned())
                .map_err(|e| e.code());
            assert_eq!(got, expected, "{} at {t}", case.quote);
        }
        // Another root never profits from what the pinned root verified.
        let other = TdxVerifier::dangerous_with_root(&rcgen_root()).expect("root");
        assert!(other.verify(&quote, Some(&reused), at(case.from)).is_err());
    }
}

#[test]
fn a_service_td_must_be_pinned() {
    // The TD 1.5 quote has no service TD: the default accepts it, a pin of another one refuses.
    let now = at("2026-02-25T00:00:00Z");
    let v = TdxVerifier::new()
        .verify(
            &read("google-go-tdx-guest/quote_v5_sample.dat"),
            Some(&collateral(
                "google-go-tdx-guest/assembled_quote_v5_sample_collateral.json",
            )),
            now,
        )
        .expect("verify");
    assert_eq!(v.report().mr_service_td(), Some(&[0; 48]));
    TdxPolicy::default()
        .dangerous_any_workload()
        .dangerous_appraise_without_binding(&v, now)
        .expect("no service TD");
    let err = TdxPolicy::default()
        .with_mr_service_td([7; 48])
        .dangerous_any_workload()
        .dangerous_appraise_without_binding(&v, now)
        .expect_err("pinned service TD absent");
    assert_eq!(err.code(), "policy.tdx.field_mismatch");
    assert!(err.to_string().contains("MRSERVICETD"), "{err}");
}

/// A host or driver that pads a quote changes no digest that a result or key release names:
/// the evidence digest covers header through signature data only.
#[test]
fn padded_evidence_keeps_its_digest() {
    use cloister_attestation::evidence::{EvidenceVerifier, evidence_digest};
    use sha2::Digest;
    let quote = read("Phala-Network-dcap-qvl/tdx_quote");
    let coll = read("Phala-Network-dcap-qvl/tdx_quote_collateral.json");
    let now = at("2025-07-01T00:00:00Z");
    let end = TdxQuote::parse(&quote).expect("parse").encoded_len();
    let mut padded = quote.clone();
    padded.extend_from_slice(&[0; 1000]);
    let verifier = EvidenceVerifier::new();
    let a = verifier
        .verify(Platform::Tdx, &quote, &[&coll], now)
        .expect("verify");
    let b = verifier
        .verify(Platform::Tdx, &padded, &[&coll], now)
        .expect("verify padded");
    assert_eq!(a.evidence_digest(), b.evidence_digest());
    let expected: [u8; 48] = sha2::Sha384::digest(&quote[..end]).into();
    assert_eq!(a.evidence_digest(), expected);
    assert_eq!(
        evidence_digest(Platform::Tdx, &padded).expect("parse"),
        expected
    );
}
