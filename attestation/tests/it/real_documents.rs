//! Every real AWS document in the fixtures verifies inside its window and only there.

use cloister_attestation::nitro::{AWS_NITRO_ROOT_G1_DER, AWS_NITRO_ROOT_G1_SHA256};
use cloister_attestation::{
    NitroPolicy, NitroVerifier, Platform, UnixTime, UnverifiedNitroDocument, VerifiedEvidence,
};

use crate::fixtures::{accept_cases, case, fixtures_dir, matches_manifest, read_nitro, verifiers};

#[test]
fn embedded_root_is_the_fixture_root_and_has_the_published_fingerprint() {
    let pem = std::fs::read(fixtures_dir().join("nitro/aws-root-g1/AWS_NitroEnclaves_Root-G1.pem"))
        .expect("root pem");
    let anchor = cloister_attestation::TrustAnchor::from_pem(Platform::Nitro, &pem).expect("pem");
    assert_eq!(anchor.der(), AWS_NITRO_ROOT_G1_DER);
    let sha: [u8; 32] = {
        use sha2::Digest;
        sha2::Sha256::digest(AWS_NITRO_ROOT_G1_DER).into()
    };
    assert_eq!(
        hex::encode(sha),
        "641a0321a3e244efe456463195d606317ed7cdcc3c1756e09893f3c68f79bb5b"
    );
    assert_eq!(AWS_NITRO_ROOT_G1_SHA256, hex::encode(sha));
}

#[test]
fn every_accept_file_verifies_inside_its_window_only() {
    for (label, verifier) in verifiers() {
        for case in accept_cases() {
            let f = &format!("{label} {}", case.file);
            for t in [case.valid_from, case.mid().as_secs(), case.valid_until] {
                let doc = verifier
                    .verify(&case.bytes, UnixTime::from_secs(t))
                    .unwrap_or_else(|e| panic!("{f} at {t}: {e} ({})", e.code()));
                assert_eq!(doc.platform(), Platform::Nitro, "{f}");
            }
            let e = verifier
                .verify(&case.bytes, UnixTime::from_secs(case.valid_from - 1))
                .expect_err("1 s before the window");
            assert_eq!(e.code(), "nitro.chain.not_yet_valid", "{f}: {e}");
            let e = verifier
                .verify(&case.bytes, UnixTime::from_secs(case.valid_until + 1))
                .expect_err("1 s after the window");
            assert_eq!(e.code(), "nitro.chain.expired", "{f}: {e}");
        }
    }
}

#[test]
fn verified_fields_match_the_manifest() {
    for (label, verifier) in verifiers() {
        for case in accept_cases() {
            let f = &format!("{label} {}", case.file);
            // Twice: with the cache, the second call is answered from it.
            let doc = verifier.verify(&case.bytes, case.mid()).expect("verifies");
            assert_eq!(
                verifier.verify(&case.bytes, case.mid()).expect("again"),
                doc
            );
            assert_eq!(doc.module_id(), case.module_id, "{f}");
            assert_eq!(doc.timestamp_ms(), case.timestamp_ms, "{f}");
            assert_eq!(doc.pcrs().len(), case.pcr_count, "{f}");
            for (i, v) in doc.pcrs() {
                let expected = case
                    .pcrs_nonzero
                    .get(i)
                    .cloned()
                    .unwrap_or_else(|| "00".repeat(48));
                assert_eq!(hex::encode(v), expected, "{f} PCR{i}");
            }
            assert!(
                matches_manifest(doc.public_key(), case.public_key.as_deref()),
                "{f} public_key"
            );
            assert!(
                matches_manifest(doc.user_data(), case.user_data.as_deref()),
                "{f} user_data"
            );
            assert!(
                matches_manifest(doc.nonce(), case.nonce.as_deref()),
                "{f} nonce"
            );
            assert_eq!(doc.is_debug(), case.is_debug(), "{f}");
            assert_eq!(hex::encode(doc.root_sha256()), AWS_NITRO_ROOT_G1_SHA256);

            let claims = VerifiedEvidence::Nitro(Box::new(doc.clone())).claims();
            assert_eq!(claims.platform, Platform::Nitro);
            assert_eq!(claims.debug, case.is_debug());
            assert_eq!(doc.nitro_claims().pcrs.len(), case.pcr_count);
            crate::claims_doc::assert_documented(&serde_json::to_value(&claims).expect("json"));
            let json = serde_json::to_string(&claims).expect("claims serialize");
            let back: cloister_attestation::Claims = serde_json::from_str(&json).expect("parse");
            assert_eq!(back, claims);
        }
    }
}

#[test]
fn the_indefinite_length_2026_document_verifies() {
    let c = case("aws_attestation_2026_01_03.repaired.b64");
    // 0x84 array(4), bstr protected, map, then the payload bstr whose first byte is 0xBF.
    let parsed = UnverifiedNitroDocument::parse(&c.bytes).expect("parses");
    assert_eq!(
        parsed.payload().module_id(),
        "i-0368fa67e156d6d23-enc019b8596b1a9dad6"
    );
    for (_, verifier) in verifiers() {
        verifier.verify(&c.bytes, c.mid()).expect("verifies");
        verifier.verify(&c.bytes, c.mid()).expect("verifies again");
    }
}

#[test]
fn one_kib_fields_are_accepted() {
    let c = case("blocky+nitrite/nitro_attestation.b64");
    let doc = NitroVerifier::aws()
        .verify(&c.bytes, c.mid())
        .expect("verifies");
    for field in [doc.public_key(), doc.user_data(), doc.nonce()] {
        assert_eq!(field.map(<[u8]>::len), Some(1024));
    }
}

#[test]
fn negative_files_are_rejected_with_specific_codes() {
    for (_, verifier) in verifiers() {
        let now = UnixTime::from_secs(1_767_478_000);
        // A null unprotected header, and inside: null cabundle, 8-byte PCRs, seconds timestamp.
        let malformed = read_nitro("blocky+nitrite/selfsigned_attestation_MALFORMED.b64", "b64");
        let e = verifier.verify(&malformed, now).expect_err("malformed");
        assert_eq!(e.code(), "nitro.cose.malformed", "{e}");
        // With the envelope repaired (unprotected = {}), the payload is refused for its null
        // cabundle.
        assert_eq!(&malformed[..7], &[0x84, 0x44, 0xa1, 0x01, 0x38, 0x22, 0xf6]);
        let mut repaired = malformed.clone();
        repaired[6] = 0xa0;
        let e = verifier
            .verify(&repaired, now)
            .expect_err("malformed payload");
        assert_eq!(e.code(), "nitro.payload.missing_field", "{e}");
        assert!(e.to_string().contains("cabundle"), "{e}");
        // Three bytes missing inside the payload while the lengths claim the full size.
        let corrupt = read_nitro(
            "base+nitro-validator/aws_attestation_2026_01_03.as_committed_CORRUPT.b64",
            "b64",
        );
        let e = verifier.verify(&corrupt, now).expect_err("corrupt");
        assert_eq!(e.code(), "nitro.cose.malformed", "{e}");
    }
}

#[test]
fn debug_documents_need_allow_debug() {
    let debug_cases: Vec<_> = accept_cases()
        .into_iter()
        .filter(|c| c.is_debug())
        .collect();
    assert!(debug_cases.len() >= 4, "{} debug cases", debug_cases.len());
    for c in debug_cases {
        let doc = NitroVerifier::aws()
            .verify(&c.bytes, c.mid())
            .expect("verifies");
        assert!(doc.is_debug());
        let ctx = c.mid();
        let e = NitroPolicy::default()
            .dangerous_any_workload()
            .dangerous_appraise_without_binding(&doc, ctx)
            .expect_err("debug");
        assert_eq!(e.code(), "policy.debug_forbidden", "{}", c.file);
        NitroPolicy::default()
            .dangerous_any_workload()
            .dangerous_allow_debug()
            .dangerous_appraise_without_binding(&doc, ctx)
            .unwrap_or_else(|e| panic!("{}: {e}", c.file));
    }
}

#[test]
fn production_documents_pass_the_default_policy() {
    for c in accept_cases().into_iter().filter(|c| !c.is_debug()) {
        let doc = NitroVerifier::aws()
            .verify(&c.bytes, c.mid())
            .expect("verifies");
        NitroPolicy::default()
            .dangerous_any_workload()
            .dangerous_appraise_without_binding(&doc, c.mid())
            .unwrap_or_else(|e| panic!("{}: {e}", c.file));
        assert_eq!(doc.nitro_claims().module_id, c.module_id);
    }
}

#[test]
fn evervault_pcr_expectations() {
    // From evervault's test-specs.json: the non-debug document embedded in a TLS certificate.
    let c = case("extracted-from-SAN_non-debug-18-1-23.cbor");
    let doc = NitroVerifier::aws()
        .verify(&c.bytes, c.mid())
        .expect("verifies");
    let pcr = |h: &str| -> [u8; 48] {
        let mut out = [0; 48];
        hex::decode_to_slice(h, &mut out).expect("hex");
        out
    };
    let good = NitroPolicy::default()
        .with_pcr(0, pcr("d265a83faa7b4fa0d73b82b6d06253e894445922937d0ee5a74fe4891da9817611a71e71b98e5329232902de3cf419af"))
        .and_then(|p| p.with_pcr(1, pcr("bcdf05fefccaa8e55bf2c8d6dee9e79bbff31e34bf28a99aa19e6b29c37ee80b214a414b7607236edf26fcb78654e63f")))
        .and_then(|p| p.with_pcr(2, pcr("e4f634d24ad83b7f6e49fe283bafdb220f6252fb4a278a858e19d15b7cd0f263b9168ed0bacefb4444266df9f9a77f24")))
        .and_then(|p| p.with_pcr(8, pcr("97c5395a83c0d6a04d53ff962663c714c178c24500bf97f78456ed3721d922cf3f940614da4bb90107c439bc4a1443ca")))
        .expect("indices");
    let ctx = c.mid();
    good.dangerous_appraise_without_binding(&doc, ctx)
        .expect("pcrs match");
    let wrong = NitroPolicy::default().with_pcr(0, [0; 48]).expect("index");
    let e = wrong
        .dangerous_appraise_without_binding(&doc, ctx)
        .expect_err("pcr0 differs");
    assert_eq!(e.code(), "policy.pcr_mismatch");
    let absent = NitroPolicy::default()
        .dangerous_any_workload()
        .with_pcr(20, [0; 48])
        .expect("index");
    let e = absent
        .dangerous_appraise_without_binding(&doc, ctx)
        .expect_err("pcr20 absent");
    assert_eq!(e.code(), "policy.pcr_mismatch");
    assert!(e.to_string().contains("absent"), "{e}");
}

#[test]
fn san_embedded_documents_equal_the_extracted_files() {
    use base64::Engine;
    use der::Decode;
    use x509_cert::Certificate;
    use x509_cert::ext::pkix::SubjectAltName;
    use x509_cert::ext::pkix::name::GeneralName;
    for (pem, cbor) in [
        (
            "non-debug-cert-containing-attestation-document-18-1-23.pem",
            "extracted-from-SAN_non-debug-18-1-23.cbor",
        ),
        (
            "debug-mode-cert-containing-attestation-doc-18-1-23.pem",
            "extracted-from-SAN_debug-18-1-23.cbor",
        ),
    ] {
        let dir = "evervault+attestation-doc-validation/";
        // These PEM files use long base64 lines, which strict RFC 7468 decoders refuse.
        let pem = String::from_utf8(read_nitro(&format!("{dir}{pem}"), "raw")).expect("utf-8");
        // The first PEM block is the certificate carrying the document.
        let b64: String = pem
            .lines()
            .skip_while(|l| !l.starts_with("-----BEGIN"))
            .skip(1)
            .take_while(|l| !l.starts_with("-----END"))
            .flat_map(str::chars)
            .filter(|c| !c.is_whitespace())
            .collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .expect("base64");
        let cert = Certificate::from_der(&der).expect("der cert");
        let (_, san) = cert
            .tbs_certificate()
            .get_extension::<SubjectAltName>()
            .expect("san parses")
            .expect("san present");
        // The document is hex in the longest DNS label (split across labels of one name).
        let longest = san
            .0
            .iter()
            .filter_map(|n| match n {
                GeneralName::DnsName(d) => Some(d.as_str().to_owned()),
                _ => None,
            })
            .flat_map(|d| d.split('.').map(str::to_owned).collect::<Vec<_>>())
            .max_by_key(String::len)
            .expect("a dns name");
        let from_san = hex::decode(longest).expect("hex label");
        let extracted = read_nitro(&format!("{dir}{cbor}"), "raw");
        assert_eq!(from_san, extracted);
    }
}

/// Issue 4 item 4: a cached path is only trusted inside its window, and a different leaf gets a
/// full validation of its own.
#[test]
fn issue_4_chain_cache_respects_windows_and_leaves() {
    use cloister_attestation::nitro::{ChainCache, ChainCacheStats};

    let verifier = NitroVerifier::aws().with_chain_cache(ChainCache::new(8));
    let cache = || verifier.chain_cache().expect("cache set");
    let c = case("yawn+nitro-attest/attestation.cose");
    verifier.verify(&c.bytes, c.mid()).expect("fills the cache");
    verifier.verify(&c.bytes, c.mid()).expect("from the cache");
    assert_eq!(cache().len(), 1);
    assert_eq!(cache().stats(), ChainCacheStats { hits: 1, misses: 1 });

    // Outside the window the cached path is not used: the full check runs and fails precisely.
    let e = verifier
        .verify(&c.bytes, UnixTime::from_secs(c.valid_until + 1))
        .expect_err("after the window");
    assert_eq!(e.code(), "nitro.chain.expired");
    let e = verifier
        .verify(&c.bytes, UnixTime::from_secs(c.valid_from - 1))
        .expect_err("before the window");
    assert_eq!(e.code(), "nitro.chain.not_yet_valid");
    assert_eq!(cache().stats(), ChainCacheStats { hits: 1, misses: 3 });
    // Inside again, still cached.
    verifier
        .verify(&c.bytes, UnixTime::from_secs(c.valid_until))
        .expect("at the end of the window");
    assert_eq!(cache().stats().hits, 2);

    // Same CA certificates, another enclave's leaf: the leaf is validated on its own, and a leaf
    // whose signature does not verify is refused even though its CAs are cached.
    let parsed = UnverifiedNitroDocument::parse(&c.bytes).expect("parses");
    let mut forged_leaf = parsed.certificate().to_vec();
    let last = forged_leaf.len() - 1;
    forged_leaf[last] ^= 0x01; // inside the leaf's signature value
    let forged = crate::mutations::replace_certificate(&c.bytes, forged_leaf);
    let e = verifier.verify(&forged, c.mid()).expect_err("forged leaf");
    assert_eq!(e.code(), "nitro.chain.bad_signature", "{e}");
    assert_eq!(cache().len(), 1, "failures are never cached");

    // A leaf from another document (other CAs too): its own full check, its own entry.
    let other = case("aws_attestation_2026_01_03.repaired.b64");
    verifier
        .verify(&other.bytes, other.mid())
        .expect("other enclave");
    assert_eq!(cache().len(), 2);
}

/// The evidence digest covers what was signed, not how the host framed it: a real document
/// re-encoded with the COSE_Sign1 tag or as an indefinite-length array verifies to the same
/// digest, which for the document as AWS sends it is SHA-384 of its bytes.
#[test]
fn reencoded_documents_keep_their_digest() {
    use cloister_attestation::evidence::{EvidenceVerifier, evidence_digest};
    use sha2::Digest;
    let c = case("extracted-from-SAN_non-debug-18-1-23.cbor");
    assert_eq!(
        c.bytes[0], 0x84,
        "an untagged definite-length array, as AWS sends it"
    );
    let tagged = [&[0xd2][..], &c.bytes].concat();
    let indefinite = [&[0x9f][..], &c.bytes[1..], &[0xff]].concat();
    let expected: [u8; 48] = sha2::Sha384::digest(&c.bytes).into();
    let verifier = EvidenceVerifier::new();
    for bytes in [&c.bytes, &tagged, &indefinite] {
        let verified = verifier
            .verify(Platform::Nitro, bytes, &[] as &[&[u8]], c.mid())
            .expect("verifies");
        assert_eq!(verified.evidence_digest(), expected);
        assert_eq!(
            evidence_digest(Platform::Nitro, bytes).expect("parses"),
            expected
        );
    }
    // A flipped signature byte is another digest (and no longer verifies).
    let mut flipped = c.bytes.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    assert_ne!(
        evidence_digest(Platform::Nitro, &flipped).expect("parses"),
        expected
    );
}
