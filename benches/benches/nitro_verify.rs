//! Nitro attestation-document verification per document, Cloister against peers, in one run on
//! the same real AWS documents (`shared/fixtures/nitro`, each at the middle of its validity
//! window). Writes its figures into target/bench/summary.json:
//!
//! - `nitro-verify-cold-us`: `NitroVerifier::verify` with a fresh verifier and an empty chain
//!   cache each time (parse + 4 chain signatures + the COSE signature).
//! - `nitro-verify-warm-us`: the same verifier again, its chain cache filled (parse + the COSE
//!   signature; the document's own signature is always checked).
//! - `nitro-verify-nocache-us`: the default verifier (no cache), for reference.
//! - `nitro-verify-peer-attestation-doc-validation-us`: Evervault's pipeline
//!   (`validate_and_parse_attestation_doc`): its own decoder and structure check, webpki 0.22
//!   (ring) for the chain with the same algorithm list, its COSE check (`validate_cose_signature`)
//!   with the RustCrypto p384 0.13 prehash verifier it uses. Its public entry points read the
//!   system clock, which every real document's certificates have expired at, so the bench calls
//!   the same steps with the document's time instead.
//! - `nitro-verify-peer-aws-nitro-enclaves-cose-us`: `aws-nitro-enclaves-cose` (default features
//!   off: its default pulls OpenSSL) for the COSE_Sign1, `aws-nitro-enclaves-nsm-api`'s
//!   `AttestationDoc` for the payload, and our choice of the fastest parts for the rest:
//!   rustls-webpki with aws-lc-rs for the chain and aws-lc-rs for the signature, the same backend
//!   Cloister uses, so the comparison isolates everything but the raw ECDSA speed.
//!
//! Cloister must accept every document; a document a peer rejects is left out of every figure
//! (and named), so all figures cover the same documents. Figures are the
//! mean over documents of the per-document median. Wall-clock on a shared 2-core machine: compare
//! the ratios within one run, not absolute numbers across machines.
#![allow(
    clippy::expect_used,
    reason = "measurement code: a failed setup step aborts the benchmark run"
)]

use cloister_benches::timing::{Sampling, median, round_robin_medians_us};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use base64::Engine;
use cloister_attestation::nitro::{AWS_NITRO_ROOT_G1_DER, ChainCache};
use cloister_attestation::{NitroVerifier, UnixTime};

/// Per document and implementation: stop after this many samples or this much time.
const MAX_SAMPLES: usize = 400;
const MIN_SAMPLES: usize = 15;
const BUDGET: Duration = Duration::from_millis(700);

struct Doc {
    file: String,
    bytes: Vec<u8>,
    now: u64,
}

type Impl = cloister_benches::timing::Impl<Doc>;

fn main() {
    let docs = documents();
    let warm = NitroVerifier::aws().with_chain_cache(ChainCache::default());
    WARM.set(warm).expect("set once");
    let impls: [Impl; 5] = [
        ("cold", cloister_cold),
        ("warm", cloister_warm),
        ("nocache", cloister_nocache),
        ("peer-attestation-doc-validation", peer_evervault::verify),
        ("peer-aws-nitro-enclaves-cose", peer_cose::verify),
    ];
    // Cloister accepts every document (this also fills the warm cache); the figures use the
    // documents every peer accepts too, and name the ones left out.
    let docs: Vec<Doc> = docs
        .into_iter()
        .filter(|d| {
            impls.iter().all(|(name, f)| match f(d) {
                Ok(()) => true,
                Err(e) if name.starts_with("peer-") => {
                    println!("left out {}: {name} rejects it: {e}", d.file);
                    false
                }
                Err(e) => panic!("{name} rejects {}: {e}", d.file),
            })
        })
        .collect();
    assert!(docs.len() >= 5, "only {} documents in common", docs.len());
    // …and the verifiers reject a document outside its window, so none of them skips the time.
    for d in &docs {
        let late = Doc {
            now: d.now + 4 * 3600,
            file: d.file.clone(),
            bytes: d.bytes.clone(),
        };
        for (name, f) in &impls {
            assert!(f(&late).is_err(), "{name} accepts {} late", d.file);
        }
    }

    let mut per_impl = vec![Vec::new(); impls.len()];
    let mut floor = Vec::new();
    println!(
        "{:<70} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "document (median us)", "cold", "warm", "nocache", "evervault", "aws-cose", "1 P-384"
    );
    for d in &docs {
        let row = medians_us(d, &impls);
        for (i, m) in row.iter().enumerate() {
            per_impl[i].push(*m);
        }
        let p384 = p384_floor_us(d);
        floor.push(p384);
        println!(
            "{:<70} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1}",
            d.file, row[0], row[1], row[2], row[3], row[4], p384
        );
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let figures: Vec<(String, f64)> = impls
        .iter()
        .zip(&per_impl)
        .map(|((name, _), v)| (format!("nitro-verify-{name}-us"), mean(v)))
        .collect();
    println!();
    for (k, v) in &figures {
        println!("{k:<52} {v:>10.1}");
    }
    let fig = |k: &str| {
        figures
            .iter()
            .find(|(n, _)| n.as_str() == k)
            .map(|(_, v)| *v)
            .expect("figure")
    };
    let (cold, warm) = (fig("nitro-verify-cold-us"), fig("nitro-verify-warm-us"));
    let p384 = mean(&floor);
    let d0 = &docs[0];
    let parse = time_us(|| {
        cloister_attestation::UnverifiedNitroDocument::parse(&d0.bytes).expect("parses");
    });
    let parsed = cloister_attestation::UnverifiedNitroDocument::parse(&d0.bytes).expect("parses");
    let certs = time_us(|| {
        use der::Decode;
        for c in parsed
            .cabundle()
            .iter()
            .map(Vec::as_slice)
            .chain([parsed.certificate()])
        {
            x509_cert::Certificate::from_der(c).expect("certificate");
        }
    });
    println!(
        "parse one document: {parse:.1} us; decode its {} certificates (x509-cert): {certs:.1} us",
        parsed.cabundle().len() + 1
    );
    println!(
        "one P-384 verification: {p384:.1} us; cold = {:.2} of them, warm = {:.2}",
        cold / p384,
        warm / p384
    );
    let fastest_peer = fig("nitro-verify-peer-attestation-doc-validation-us")
        .min(fig("nitro-verify-peer-aws-nitro-enclaves-cose-us"));
    println!(
        "fastest peer / warm = {:.2}x (target >= 5)   fastest peer / cold = {:.2}x (target >= 1)",
        fastest_peer / warm,
        fastest_peer / cold
    );
    for (k, _) in figures.iter().filter(|(k, _)| k.contains("peer")) {
        let p = fig(k);
        println!("{k}: {:.2}x warm, {:.2}x cold", p / warm, p / cold);
    }
    let path = cloister_benches::summary::merge(&figures).expect("writing the summary");
    println!("\nwrote {}", path.display());
}

static WARM: OnceLock<NitroVerifier> = OnceLock::new();

fn cloister_cold(d: &Doc) -> Result<(), String> {
    NitroVerifier::aws()
        .with_chain_cache(ChainCache::default())
        .verify(&d.bytes, UnixTime::from_secs(d.now))
        .map(drop)
        .map_err(|e| e.code().to_owned())
}

fn cloister_warm(d: &Doc) -> Result<(), String> {
    WARM.get()
        .expect("set in main")
        .verify(&d.bytes, UnixTime::from_secs(d.now))
        .map(drop)
        .map_err(|e| e.code().to_owned())
}

fn cloister_nocache(d: &Doc) -> Result<(), String> {
    NitroVerifier::aws()
        .verify(&d.bytes, UnixTime::from_secs(d.now))
        .map(drop)
        .map_err(|e| e.code().to_owned())
}

fn medians_us(d: &Doc, impls: &[Impl]) -> Vec<f64> {
    let sampling = Sampling {
        min: MIN_SAMPLES,
        max: MAX_SAMPLES,
        budget: BUDGET,
    };
    round_robin_medians_us(d, impls, sampling)
}

fn time_us(mut f: impl FnMut()) -> f64 {
    let mut samples = Vec::new();
    let start = Instant::now();
    while samples.len() < MIN_SAMPLES
        || (samples.len() < MAX_SAMPLES && start.elapsed() < BUDGET / 4)
    {
        let t = Instant::now();
        f();
        samples.push(t.elapsed().as_secs_f64() * 1e6);
    }
    median(samples)
}

/// The floor under any verifier: one aws-lc-rs P-384 verification of this document's COSE
/// signature, digest precomputed and key parsed in advance. Cold needs five of these (four chain
/// links and the document), warm one.
fn p384_floor_us(d: &Doc) -> f64 {
    use aws_lc_rs::signature::{ECDSA_P384_SHA384_FIXED, ParsedPublicKey};
    use der::Decode;

    let doc = cloister_attestation::UnverifiedNitroDocument::parse(&d.bytes).expect("parses");
    let leaf = x509_cert::Certificate::from_der(doc.certificate()).expect("leaf");
    let point = leaf
        .tbs_certificate()
        .subject_public_key_info()
        .subject_public_key
        .raw_bytes();
    let key = ParsedPublicKey::new(&ECDSA_P384_SHA384_FIXED, point).expect("key");
    let cose = coset_parts(&d.bytes);
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA384, &cose.0);
    key.verify_digest_sig(&digest, &cose.1).expect("verifies");
    let mut samples = Vec::new();
    let start = Instant::now();
    while samples.len() < MIN_SAMPLES
        || (samples.len() < MAX_SAMPLES && start.elapsed() < BUDGET / 4)
    {
        let t = Instant::now();
        key.verify_digest_sig(&digest, &cose.1).expect("verifies");
        samples.push(t.elapsed().as_secs_f64() * 1e6);
    }
    median(samples)
}

/// (Sig_structure bytes, raw signature) of a COSE_Sign1, via aws-nitro-enclaves-cose's types.
fn coset_parts(bytes: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let cose = aws_nitro_enclaves_cose::CoseSign1::from_bytes(bytes).expect("cose");
    let (_, payload) = cose
        .get_protected_and_payload::<peer_cose::Sha>(None)
        .expect("payload");
    let protected = protected_bytes(bytes);
    let mut tbs = vec![0x84, 0x6a];
    tbs.extend_from_slice(b"Signature1");
    push_bstr(&mut tbs, &protected);
    tbs.push(0x40);
    push_bstr(&mut tbs, &payload);
    (tbs, signature_bytes(bytes))
}

fn push_bstr(out: &mut Vec<u8>, b: &[u8]) {
    match b.len() {
        n if n < 24 => out.push(0x40 | n as u8),
        n if n <= 0xff => out.extend_from_slice(&[0x58, n as u8]),
        n => {
            out.push(0x59);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
    }
    out.extend_from_slice(b);
}

/// Real documents: 0x84, 0x44 + 4 protected bytes, …, 0x58 0x60 + 96 signature bytes at the end.
fn protected_bytes(doc: &[u8]) -> Vec<u8> {
    assert_eq!(&doc[..2], &[0x84, 0x44]);
    doc[2..6].to_vec()
}

fn signature_bytes(doc: &[u8]) -> Vec<u8> {
    let sig = &doc[doc.len() - 96..];
    assert_eq!(&doc[doc.len() - 98..doc.len() - 96], &[0x58, 0x60]);
    sig.to_vec()
}

/// The real AWS documents of the fixture manifest, each at the middle of its window.
fn documents() -> Vec<Doc> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/nitro");
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.join("manifest.json")).expect("shared/fixtures/nitro/manifest.json"),
    )
    .expect("manifest is JSON");
    let docs: Vec<Doc> = manifest
        .as_array()
        .expect("array")
        .iter()
        .filter(|e| {
            e["kind"] == "attestation"
                && e["cose_signature_ok"] == true
                && e["chains_to_aws_root_g1"] == true
        })
        .map(|e| {
            let file = e["file"].as_str().expect("file").to_owned();
            let raw = std::fs::read(dir.join(&file)).expect("fixture");
            let bytes = match e["format"].as_str() {
                Some("b64") => {
                    let text: Vec<u8> = raw
                        .into_iter()
                        .filter(|b| !b.is_ascii_whitespace())
                        .collect();
                    base64::engine::general_purpose::STANDARD
                        .decode(text)
                        .expect("base64")
                }
                _ => raw,
            };
            let from = e["valid_from_epoch"].as_u64().expect("valid_from_epoch");
            let until = e["valid_until_epoch"].as_u64().expect("valid_until_epoch");
            Doc {
                file,
                bytes,
                now: from + (until - from) / 2,
            }
        })
        .collect();
    assert!(docs.len() >= 7, "{} documents", docs.len());
    docs
}

mod peer_evervault {
    //! Evervault's `validate_and_parse_attestation_doc`, step by step, with the time passed in.

    use attestation_doc_validation::attestation_doc::{
        decode_attestation_document, validate_cose_signature,
    };
    use aws_nitro_enclaves_cose::crypto::SigningPublicKey;
    use aws_nitro_enclaves_cose::crypto::{Hash, MessageDigest, SignatureAlgorithm};
    use aws_nitro_enclaves_cose::error::CoseError;
    use p384_013::ecdsa::signature::hazmat::PrehashVerifier;
    use sha2::Digest;

    use super::{AWS_NITRO_ROOT_G1_DER, Doc};

    /// The list in attestation-doc-validation's `cert.rs`.
    static SUPPORTED_SIG_ALGS: &[&webpki_022::SignatureAlgorithm] = &[
        &webpki_022::ECDSA_P256_SHA256,
        &webpki_022::ECDSA_P256_SHA384,
        &webpki_022::ECDSA_P384_SHA256,
        &webpki_022::ECDSA_P384_SHA384,
        &webpki_022::ED25519,
    ];

    pub(super) fn verify(d: &Doc) -> Result<(), String> {
        let (cose, doc) = decode_attestation_document(&d.bytes).map_err(|e| e.to_string())?;
        // cert::validate_cert_trust_chain, with `now` from the bench instead of the clock (it
        // parses the root from PEM on each call; the DER here is slightly kinder to it).
        let ee = webpki_022::EndEntityCert::try_from(doc.certificate.as_slice())
            .map_err(|e| e.to_string())?;
        let anchors = [
            webpki_022::TrustAnchor::try_from_cert_der(AWS_NITRO_ROOT_G1_DER)
                .map_err(|e| e.to_string())?,
        ];
        let intermediates: Vec<&[u8]> = doc.cabundle.iter().map(|c| c.as_slice()).collect();
        ee.verify_is_valid_tls_server_cert(
            SUPPORTED_SIG_ALGS,
            &webpki_022::TlsServerTrustAnchors(&anchors),
            &intermediates,
            webpki_022::Time::from_seconds_since_unix_epoch(d.now),
        )
        .map_err(|e| e.to_string())?;
        // The COSE signature with the leaf's key, parsed with x509-parser as the crate does.
        let leaf =
            attestation_doc_validation::parse_cert(&doc.certificate).map_err(|e| e.to_string())?;
        let key = P384Key(leaf.public_key().subject_public_key.data.to_vec());
        validate_cose_signature::<Sha>(&key, &cose).map_err(|e| e.to_string())
    }

    /// The crate's private `CryptoClient` hash: sha2 0.10.
    struct Sha;

    impl Hash for Sha {
        fn hash(digest: MessageDigest, data: &[u8]) -> Result<Vec<u8>, CoseError> {
            Ok(match digest {
                MessageDigest::Sha256 => sha2::Sha256::digest(data).to_vec(),
                MessageDigest::Sha384 => sha2::Sha384::digest(data).to_vec(),
                MessageDigest::Sha512 => sha2::Sha512::digest(data).to_vec(),
            })
        }
    }

    /// The crate's private `PublicKey`: RustCrypto p384 0.13, prehash verification.
    struct P384Key(Vec<u8>);

    impl SigningPublicKey for P384Key {
        fn get_parameters(&self) -> Result<(SignatureAlgorithm, MessageDigest), CoseError> {
            Ok((SignatureAlgorithm::ES384, MessageDigest::Sha384))
        }

        fn verify(&self, digest: &[u8], signature: &[u8]) -> Result<bool, CoseError> {
            let key = p384_013::ecdsa::VerifyingKey::from_sec1_bytes(&self.0)
                .map_err(|_| CoseError::UnverifiedSignature)?;
            let sig = p384_013::ecdsa::Signature::from_slice(signature)
                .map_err(|_| CoseError::UnverifiedSignature)?;
            Ok(key.verify_prehash(digest, &sig).is_ok())
        }
    }
}

mod peer_cose {
    //! aws-nitro-enclaves-cose + nsm-api's AttestationDoc + rustls-webpki (aws-lc-rs) chain.

    use std::sync::OnceLock;
    use std::time::Duration;

    use aws_lc_rs::signature::{ECDSA_P384_SHA384_FIXED, ParsedPublicKey};
    use aws_nitro_enclaves_cose::CoseSign1;
    use aws_nitro_enclaves_cose::crypto::{
        Hash, MessageDigest, SignatureAlgorithm, SigningPublicKey,
    };
    use aws_nitro_enclaves_cose::error::CoseError;
    use aws_nitro_enclaves_nsm_api::api::AttestationDoc;
    use der::Decode;
    use rustls_pki_types::{CertificateDer, TrustAnchor, UnixTime};

    use super::{AWS_NITRO_ROOT_G1_DER, Doc};

    fn anchor() -> &'static TrustAnchor<'static> {
        static A: OnceLock<TrustAnchor<'static>> = OnceLock::new();
        A.get_or_init(|| {
            let der = CertificateDer::from(AWS_NITRO_ROOT_G1_DER);
            webpki::anchor_from_trusted_cert(&der)
                .expect("AWS root")
                .to_owned()
        })
    }

    pub(super) fn verify(d: &Doc) -> Result<(), String> {
        let cose = CoseSign1::from_bytes(&d.bytes).map_err(|e| e.to_string())?;
        let payload = cose.get_payload::<Sha>(None).map_err(|e| e.to_string())?;
        let doc = AttestationDoc::from_binary(&payload).map_err(|e| format!("{e:?}"))?;
        if doc.cabundle.first().map(|c| c.as_slice()) != Some(AWS_NITRO_ROOT_G1_DER) {
            return Err("cabundle[0] is not the AWS root".to_owned());
        }
        let leaf_der = CertificateDer::from(doc.certificate.as_slice());
        let ee = webpki::EndEntityCert::try_from(&leaf_der).map_err(|e| e.to_string())?;
        let intermediates: Vec<CertificateDer<'_>> = doc
            .cabundle
            .iter()
            .skip(1)
            .map(|c| CertificateDer::from(c.as_slice()))
            .collect();
        ee.verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            std::slice::from_ref(anchor()),
            &intermediates,
            UnixTime::since_unix_epoch(Duration::from_secs(d.now)),
            webpki::KeyUsage::server_auth(),
            None,
            None,
        )
        .map_err(|e| e.to_string())?;
        let leaf = x509_cert::Certificate::from_der(&doc.certificate).map_err(|e| e.to_string())?;
        let point = leaf
            .tbs_certificate()
            .subject_public_key_info()
            .subject_public_key
            .raw_bytes();
        let key = LcKey(
            ParsedPublicKey::new(&ECDSA_P384_SHA384_FIXED, point).map_err(|e| e.to_string())?,
        );
        match cose.verify_signature::<Sha>(&key) {
            Ok(true) => Ok(()),
            Ok(false) => Err("bad COSE signature".to_owned()),
            Err(e) => Err(e.to_string()),
        }
    }

    pub(super) struct Sha;

    impl Hash for Sha {
        fn hash(digest: MessageDigest, data: &[u8]) -> Result<Vec<u8>, CoseError> {
            let alg = match digest {
                MessageDigest::Sha256 => &aws_lc_rs::digest::SHA256,
                MessageDigest::Sha384 => &aws_lc_rs::digest::SHA384,
                MessageDigest::Sha512 => &aws_lc_rs::digest::SHA512,
            };
            Ok(aws_lc_rs::digest::digest(alg, data).as_ref().to_vec())
        }
    }

    struct LcKey(ParsedPublicKey);

    impl SigningPublicKey for LcKey {
        fn get_parameters(&self) -> Result<(SignatureAlgorithm, MessageDigest), CoseError> {
            Ok((SignatureAlgorithm::ES384, MessageDigest::Sha384))
        }

        fn verify(&self, digest: &[u8], signature: &[u8]) -> Result<bool, CoseError> {
            let digest =
                aws_lc_rs::digest::Digest::import_less_safe(digest, &aws_lc_rs::digest::SHA384)
                    .map_err(|_| CoseError::UnverifiedSignature)?;
            Ok(self.0.verify_digest_sig(&digest, signature).is_ok())
        }
    }
}
