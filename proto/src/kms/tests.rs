//! Tests of [`super`]: the real enclaver vector (read by path from `shared/fixtures`, never
//! copied), messages this module builds the way KMS builds them, and broken input.

use std::ops::Range;
use std::path::PathBuf;
use std::sync::OnceLock;

use aws_lc_rs::cipher::{AES_256, EncryptionContext, PaddedBlockEncryptingKey, UnboundCipherKey};
use aws_lc_rs::rsa::{OaepPublicEncryptingKey, PublicEncryptingKey};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use proptest::prelude::*;

use super::envelope::dotted;
use super::*;

// --- the enclaver vector -------------------------------------------------------------------

/// `shared/fixtures/nitro/edgebitio+enclaver`, beside the project root (see its SOURCE.txt).
fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/fixtures/nitro/edgebitio+enclaver")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

struct Vector {
    cms: Vec<u8>,
    key: KmsRecipientKey,
    plaintext: Vec<u8>,
}

fn vector() -> &'static Vector {
    static VECTOR: OnceLock<Vector> = OnceLock::new();
    VECTOR.get_or_init(|| {
        let b64 = String::from_utf8(fixture("kms_ciphertext_for_recipient.cms.b64")).unwrap();
        let pem = String::from_utf8(fixture("recipient_rsa2048_pkcs8.pem")).unwrap();
        let pkcs8_b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        Vector {
            cms: B64.decode(b64.trim()).unwrap(),
            key: KmsRecipientKey::from_pkcs8_der(&B64.decode(pkcs8_b64).unwrap()).unwrap(),
            plaintext: fixture("expected_plaintext.txt"),
        }
    })
}

/// A generated key, shared (RSA key generation is the slow part of these tests).
fn generated() -> &'static KmsRecipientKey {
    static KEY: OnceLock<KmsRecipientKey> = OnceLock::new();
    KEY.get_or_init(|| KmsRecipientKey::generate().unwrap())
}

/// Where `needle` starts in `haystack`, as the range it covers.
fn find(haystack: &[u8], needle: &[u8]) -> Range<usize> {
    let start = haystack
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap();
    start..start + needle.len()
}

#[test]
fn enclaver_vector_opens_to_expected_plaintext() {
    let v = vector();
    assert_eq!(v.plaintext, b"Hello, World");
    let plaintext = v.key.open_ciphertext_for_recipient(&v.cms).unwrap();
    assert_eq!(*plaintext, v.plaintext);
}

#[test]
fn enclaver_vector_is_ber_with_indefinite_lengths() {
    // ContentInfo SEQUENCE, [0] and EnvelopedData all open with `0x80` (indefinite): DER
    // readers refuse this, which is why the module has its own BER reader.
    let cms = &vector().cms;
    assert_eq!(cms.get(..2), Some(&[0x30, 0x80][..]));
    assert_eq!(cms.get(13..17), Some(&[0xa0, 0x80, 0x30, 0x80][..]));
    assert_eq!(cms.get(cms.len() - 10..), Some(&[0; 10][..]));
}

#[test]
fn enclaver_recipient_id_is_sha256_of_spki() {
    let v = vector();
    let message = envelope::parse(&v.cms).unwrap();
    assert_eq!(message.subject_key_id, v.key.spki_sha256);
    assert_eq!(
        message.subject_key_id,
        digest(&SHA256, &v.key.public_key_spki_der()).as_ref()
    );
}

#[test]
fn another_key_gives_key_mismatch() {
    let err = generated()
        .open_ciphertext_for_recipient(&vector().cms)
        .unwrap_err();
    assert_eq!(
        err,
        KmsRecipientError::KeyMismatch {
            recipient_id_matches: Some(false)
        }
    );
    assert_eq!(err.code(), "kms.recipient.key_mismatch");
}

#[test]
fn every_truncation_is_an_error() {
    let v = vector();
    for len in 0..v.cms.len() {
        let err = v
            .key
            .open_ciphertext_for_recipient(&v.cms[..len])
            .unwrap_err();
        assert_eq!(
            err.code(),
            "kms.recipient.malformed",
            "prefix of {len} bytes"
        );
    }
}

#[test]
fn every_flipped_byte_is_an_error_except_where_cms_cannot_tell() {
    // EnvelopedData has no integrity check: a changed IV changes the first plaintext block
    // (the plaintext differs, or its padding breaks), and the recipient id is a label that only
    // KeyMismatch reports. Everywhere else a change must be refused. Integrity comes from TLS.
    let v = vector();
    let rid = find(&v.cms, &v.key.spki_sha256);
    let iv = find(&v.cms, &[0x2c, 0x2f, 0xf1, 0x11, 0x6a, 0xe6, 0xf8, 0x57]);
    let iv = iv.start..iv.start + 16;
    for pos in 0..v.cms.len() {
        for mask in [0x01, 0x80, 0xff] {
            let mut cms = v.cms.clone();
            cms[pos] ^= mask;
            match v.key.open_ciphertext_for_recipient(&cms) {
                Err(_) => {}
                Ok(_) if rid.contains(&pos) => {}
                Ok(plaintext) if iv.contains(&pos) => assert_ne!(*plaintext, v.plaintext),
                Ok(_) => panic!("byte {pos} ^ {mask:#04x} still opens"),
            }
        }
    }
}

proptest! {
    #[test]
    fn random_bytes_are_refused(bytes in prop::collection::vec(any::<u8>(), 0..1024)) {
        prop_assert!(vector().key.open_ciphertext_for_recipient(&bytes).is_err());
    }

    #[test]
    fn random_bytes_after_a_valid_prefix_never_panic(
        cut in any::<prop::sample::Index>(),
        tail in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let v = vector();
        let mut cms = v.cms[..cut.index(v.cms.len())].to_vec();
        cms.extend_from_slice(&tail);
        if let Ok(plaintext) = v.key.open_ciphertext_for_recipient(&cms) {
            prop_assert_eq!(cms, v.cms.clone());
            prop_assert_eq!(&*plaintext, &v.plaintext);
        }
    }

    #[test]
    fn random_edits_never_panic(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let v = vector();
        let mut cms = v.cms.clone();
        for (at, byte) in &edits {
            let at = at.index(cms.len());
            cms[at] = *byte;
        }
        let _ = v.key.open_ciphertext_for_recipient(&cms);
    }
}

// --- messages built the way KMS builds them ------------------------------------------------

/// A DER TLV (definite length).
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let len = content.len();
    let mut out = vec![tag];
    match len {
        0..0x80 => out.push(len as u8),
        0x80..0x100 => out.extend([0x81, len as u8]),
        _ => out.extend([0x82, (len >> 8) as u8, len as u8]),
    }
    out.extend_from_slice(content);
    out
}

/// A BER TLV with an indefinite length.
fn indefinite(tag: u8, content: &[u8]) -> Vec<u8> {
    [&[tag, 0x80][..], content, &[0, 0]].concat()
}

/// The content octets of a dotted OID.
fn oid_content(dotted: &str) -> Vec<u8> {
    let arcs: Vec<u64> = dotted.split('.').map(|a| a.parse().unwrap()).collect();
    let mut out = vec![];
    for arc in std::iter::once(arcs[0] * 40 + arcs[1]).chain(arcs[2..].iter().copied()) {
        let mut groups = vec![(arc & 0x7f) as u8];
        let mut rest = arc >> 7;
        while rest > 0 {
            groups.push((rest & 0x7f) as u8 | 0x80);
            rest >>= 7;
        }
        out.extend(groups.iter().rev());
    }
    out
}

fn oid(dotted: &str) -> Vec<u8> {
    tlv(0x06, &oid_content(dotted))
}

/// `AlgorithmIdentifier { oid, NULL }`.
fn alg_null(dotted: &str) -> Vec<u8> {
    tlv(0x30, &[oid(dotted), vec![0x05, 0x00]].concat())
}

/// DER `RSAES-OAEP-params`; `None` leaves a field at its DEFAULT.
fn oaep_params(hash: Option<&str>, mgf_hash: Option<&str>, label: Option<&[u8]>) -> Vec<u8> {
    let mut fields = vec![];
    if let Some(hash) = hash {
        fields.extend(tlv(0xa0, &alg_null(hash)));
    }
    if let Some(mgf_hash) = mgf_hash {
        let mgf = tlv(0x30, &[oid(dotted::MGF1), alg_null(mgf_hash)].concat());
        fields.extend(tlv(0xa1, &mgf));
    }
    if let Some(label) = label {
        let source = tlv(0x30, &[oid(dotted::P_SPECIFIED), tlv(0x04, label)].concat());
        fields.extend(tlv(0xa2, &source));
    }
    tlv(0x30, &fields)
}

/// [`tlv`] or [`indefinite`].
type Encoder = fn(u8, &[u8]) -> Vec<u8>;

/// A `CiphertextForRecipient` as KMS builds it (DER unless `ber_segment` is set), every part
/// replaceable to build the refusals.
#[derive(Clone)]
struct Kms {
    content_type: &'static str,
    version: u8,
    ktri_version: u8,
    key_algorithm: &'static str,
    /// DER RSAES-OAEP-params, `None` to leave them out.
    oaep_params: Option<Vec<u8>>,
    /// OAEP label used to encrypt (must match `oaep_params` to open).
    label: Vec<u8>,
    inner_content_type: &'static str,
    cipher: &'static str,
    iv: Vec<u8>,
    cek: Vec<u8>,
    /// More RecipientInfos after the KeyTransRecipientInfo.
    extra_recipients: Vec<Vec<u8>>,
    /// Replaces the KeyTransRecipientInfo.
    recipient: Option<Vec<u8>>,
    /// Replaces the AES-256-CBC ciphertext.
    content: Option<Vec<u8>>,
    /// BER: indefinite lengths, and the content as a constructed OCTET STRING of segments of
    /// this many bytes.
    ber_segment: Option<usize>,
}

impl Kms {
    fn new() -> Self {
        Self {
            content_type: dotted::ENVELOPED_DATA,
            version: 2,
            ktri_version: 2,
            key_algorithm: dotted::RSAES_OAEP,
            oaep_params: Some(oaep_params(
                Some(dotted::SHA256),
                Some(dotted::SHA256),
                None,
            )),
            label: vec![],
            inner_content_type: dotted::DATA,
            cipher: dotted::AES256_CBC,
            iv: vec![0x17; 16],
            cek: vec![0x42; 32],
            extra_recipients: vec![],
            recipient: None,
            content: None,
            ber_segment: None,
        }
    }

    fn seal(&self, to: &KmsRecipientKey, plaintext: &[u8]) -> Vec<u8> {
        let spki = to.public_key_spki_der();
        let rsa =
            OaepPublicEncryptingKey::new(PublicEncryptingKey::from_der(&spki).unwrap()).unwrap();
        let mut encrypted_key = vec![0; rsa.ciphertext_size()];
        let label = (!self.label.is_empty()).then_some(self.label.as_slice());
        rsa.encrypt(
            &OAEP_SHA256_MGF1SHA256,
            &self.cek,
            &mut encrypted_key,
            label,
        )
        .unwrap();
        let key_algorithm = [
            oid(self.key_algorithm),
            self.oaep_params.clone().unwrap_or_default(),
        ]
        .concat();
        let ktri = self.recipient.clone().unwrap_or_else(|| {
            tlv(
                0x30,
                &[
                    tlv(0x02, &[self.ktri_version]),
                    tlv(0x80, digest(&SHA256, &spki).as_ref()),
                    tlv(0x30, &key_algorithm),
                    tlv(0x04, &encrypted_key),
                ]
                .concat(),
            )
        });
        let recipients = [vec![ktri], self.extra_recipients.clone()]
            .concat()
            .concat();

        let content = self.content.clone().unwrap_or_else(|| {
            let aes = PaddedBlockEncryptingKey::cbc_pkcs7(
                UnboundCipherKey::new(&AES_256, &self.cek).unwrap(),
            )
            .unwrap();
            let mut buf = plaintext.to_vec();
            let iv: [u8; 16] = self.iv.clone().try_into().unwrap();
            aes.less_safe_encrypt(&mut buf, EncryptionContext::Iv128(FixedLength::from(iv)))
                .unwrap();
            buf
        });
        let (constructed, encrypted_content): (Encoder, _) = match self.ber_segment {
            None => (tlv, tlv(0x80, &content)),
            Some(n) => {
                let segments: Vec<u8> = content.chunks(n).flat_map(|c| tlv(0x04, c)).collect();
                (indefinite, indefinite(0xa0, &segments))
            }
        };
        let encrypted_content_info = constructed(
            0x30,
            &[
                oid(self.inner_content_type),
                tlv(0x30, &[oid(self.cipher), tlv(0x04, &self.iv)].concat()),
                encrypted_content,
            ]
            .concat(),
        );
        let enveloped_data = constructed(
            0x30,
            &[
                tlv(0x02, &[self.version]),
                tlv(0x31, &recipients),
                encrypted_content_info,
            ]
            .concat(),
        );
        constructed(
            0x30,
            &[oid(self.content_type), constructed(0xa0, &enveloped_data)].concat(),
        )
    }

    fn open(&self, plaintext: &[u8]) -> Result<Zeroizing<Vec<u8>>, KmsRecipientError> {
        generated().open_ciphertext_for_recipient(&self.seal(generated(), plaintext))
    }
}

#[test]
fn round_trip_der_as_kms_builds_it() {
    let key = generated();
    for plaintext in [&b""[..], b"Hello, World", &[0x5a; 32], &[0xa5; 4096]] {
        let cms = Kms::new().seal(key, plaintext);
        assert_eq!(cms.get(1), Some(&0x82), "definite lengths");
        assert_eq!(*key.open_ciphertext_for_recipient(&cms).unwrap(), plaintext);
    }
}

#[test]
fn round_trip_ber_indefinite_with_segmented_content() {
    for segment in [1, 7, 16, 1000] {
        let kms = Kms {
            ber_segment: Some(segment),
            ..Kms::new()
        };
        assert_eq!(
            *kms.open(b"a model data key, 32 bytes long!").unwrap(),
            *b"a model data key, 32 bytes long!"
        );
    }
}

#[test]
fn round_trip_with_absent_hash_parameters_and_a_label() {
    // RFC 4055 §2.1: SHA-256 AlgorithmIdentifiers with absent parameters are accepted too.
    let bare = |hash: &str| tlv(0x30, &oid(hash));
    let params = tlv(
        0x30,
        &[
            tlv(0xa0, &bare(dotted::SHA256)),
            tlv(
                0xa1,
                &tlv(0x30, &[oid(dotted::MGF1), bare(dotted::SHA256)].concat()),
            ),
        ]
        .concat(),
    );
    let kms = Kms {
        oaep_params: Some(params),
        ..Kms::new()
    };
    assert_eq!(*kms.open(b"x").unwrap(), *b"x");

    let kms = Kms {
        oaep_params: Some(oaep_params(
            Some(dotted::SHA256),
            Some(dotted::SHA256),
            Some(b"label"),
        )),
        label: b"label".to_vec(),
        ..Kms::new()
    };
    assert_eq!(*kms.open(b"y").unwrap(), *b"y");
}

#[test]
fn sha1_oaep_parameters_are_refused() {
    let sha1 = |field: &'static str| KmsRecipientError::UnsupportedAlgorithm {
        field,
        oid: dotted::SHA1.to_owned(),
        expected: dotted::SHA256,
    };
    let hash = "RSAES-OAEP-params.hashFunc";
    let mgf_hash = "RSAES-OAEP-params.maskGenFunc.parameters";
    let cases = [
        (None, sha1(hash)),                 // all DEFAULT
        (Some(tlv(0x30, &[])), sha1(hash)), // all DEFAULT
        (
            Some(oaep_params(Some(dotted::SHA1), Some(dotted::SHA256), None)),
            sha1(hash),
        ),
        (
            Some(oaep_params(Some(dotted::SHA256), None, None)),
            sha1(mgf_hash),
        ), // MGF1-SHA-1
        (
            Some(oaep_params(Some(dotted::SHA256), Some(dotted::SHA1), None)),
            sha1(mgf_hash),
        ),
    ];
    for (params, expected) in cases {
        let kms = Kms {
            oaep_params: params,
            ..Kms::new()
        };
        let err = kms.open(b"k").unwrap_err();
        assert_eq!(err, expected);
        assert_eq!(err.code(), "kms.recipient.unsupported_algorithm");
    }
}

#[test]
fn other_algorithms_are_refused_with_their_oid() {
    let cases = [
        (
            Kms {
                key_algorithm: "1.2.840.113549.1.1.1",
                ..Kms::new()
            },
            "keyEncryptionAlgorithm.algorithm",
            "1.2.840.113549.1.1.1",
        ),
        (
            Kms {
                cipher: "2.16.840.1.101.3.4.1.2",
                ..Kms::new()
            },
            "contentEncryptionAlgorithm.algorithm",
            "2.16.840.1.101.3.4.1.2",
        ),
        (
            Kms {
                oaep_params: Some(oaep_params(
                    Some("2.16.840.1.101.3.4.2.2"),
                    Some(dotted::SHA256),
                    None,
                )),
                ..Kms::new()
            },
            "RSAES-OAEP-params.hashFunc",
            "2.16.840.1.101.3.4.2.2",
        ),
    ];
    for (kms, field, oid) in cases {
        let err = kms.open(b"k").unwrap_err();
        assert!(
            matches!(&err, KmsRecipientError::UnsupportedAlgorithm { field: f, oid: o, .. } if *f == field && o == oid),
            "{err:?}"
        );
    }
}

#[test]
fn each_structural_check_has_its_error() {
    let kari = tlv(0xa1, &[0x02, 0x01, 0x03]);
    let cases = [
        (
            Kms {
                content_type: dotted::DATA,
                ..Kms::new()
            },
            KmsRecipientError::ContentType {
                field: "ContentInfo.contentType",
                oid: dotted::DATA.to_owned(),
                expected: dotted::ENVELOPED_DATA,
            },
        ),
        (
            Kms {
                inner_content_type: dotted::ENVELOPED_DATA,
                ..Kms::new()
            },
            KmsRecipientError::ContentType {
                field: "EncryptedContentInfo.contentType",
                oid: dotted::ENVELOPED_DATA.to_owned(),
                expected: dotted::DATA,
            },
        ),
        (
            Kms {
                version: 0,
                ..Kms::new()
            },
            KmsRecipientError::UnsupportedVersion {
                field: "EnvelopedData.version",
                version: 0,
                expected: 2,
            },
        ),
        (
            Kms {
                ktri_version: 0,
                ..Kms::new()
            },
            KmsRecipientError::UnsupportedVersion {
                field: "KeyTransRecipientInfo.version",
                version: 0,
                expected: 2,
            },
        ),
        (
            Kms {
                extra_recipients: vec![kari.clone()],
                ..Kms::new()
            },
            KmsRecipientError::RecipientCount { count: 2 },
        ),
        (
            Kms {
                recipient: Some(kari),
                ..Kms::new()
            },
            KmsRecipientError::UnsupportedRecipientType { tag: 0xa1 },
        ),
        (
            Kms {
                iv: vec![0x17; 8],
                content: Some(vec![0; 16]),
                ..Kms::new()
            },
            KmsRecipientError::BadIv { len: 8 },
        ),
        (
            Kms {
                cek: vec![0x42; 16],
                content: Some(vec![0; 16]),
                ..Kms::new()
            },
            KmsRecipientError::BadContentKeyLength { len: 16 },
        ),
        (
            Kms {
                content: Some(vec![0; 15]),
                ..Kms::new()
            },
            KmsRecipientError::ContentDecryptFailed { len: 15 },
        ),
        (
            Kms {
                content: Some(vec![]),
                ..Kms::new()
            },
            KmsRecipientError::ContentDecryptFailed { len: 0 },
        ),
    ];
    for (kms, expected) in cases {
        assert_eq!(kms.open(b"k").unwrap_err(), expected);
    }
}

#[test]
fn broken_padding_is_content_decrypt_failed() {
    // Sixteen zero bytes padded to 32, then the padding block dropped: the last byte of the
    // remaining block decrypts to 0, never valid PKCS#7 padding.
    let kms = Kms::new();
    let aes =
        PaddedBlockEncryptingKey::cbc_pkcs7(UnboundCipherKey::new(&AES_256, &kms.cek).unwrap())
            .unwrap();
    let mut buf = vec![0; 16];
    let iv: [u8; 16] = kms.iv.clone().try_into().unwrap();
    aes.less_safe_encrypt(&mut buf, EncryptionContext::Iv128(FixedLength::from(iv)))
        .unwrap();
    buf.truncate(16);
    let kms = Kms {
        content: Some(buf),
        ..kms
    };
    assert_eq!(
        kms.open(b"").unwrap_err(),
        KmsRecipientError::ContentDecryptFailed { len: 16 }
    );
}

#[test]
fn missing_and_trailing_parts_are_malformed() {
    let cms = Kms::new().seal(generated(), b"k");
    let mut trailing = cms.clone();
    trailing.push(0);
    let err = generated()
        .open_ciphertext_for_recipient(&trailing)
        .unwrap_err();
    assert_eq!(
        err,
        KmsRecipientError::Malformed {
            offset: cms.len(),
            field: "ContentInfo",
            fault: BerFault::TrailingContent
        }
    );

    // An unprotectedAttrs [1] after the EncryptedContentInfo.
    let attrs = Kms {
        ber_segment: Some(16),
        ..Kms::new()
    }
    .seal(generated(), b"k");
    let at = attrs.len() - 6; // before the EOCs of EnvelopedData, [0] and ContentInfo
    let with_attrs = [&attrs[..at], &tlv(0xa1, &[])[..], &attrs[at..]].concat();
    let err = generated()
        .open_ciphertext_for_recipient(&with_attrs)
        .unwrap_err();
    assert!(
        matches!(err, KmsRecipientError::Malformed { fault: BerFault::TrailingContent, offset, .. } if offset == at),
        "{err:?}"
    );

    // The rid as issuerAndSerialNumber (a SEQUENCE) instead of a subjectKeyIdentifier.
    let ktri = tlv(
        0x30,
        &[
            tlv(0x02, &[2]),
            tlv(0x30, &[]),
            alg_null(dotted::RSAES_OAEP),
            tlv(0x04, &[0; 256]),
        ]
        .concat(),
    );
    let err = Kms {
        recipient: Some(ktri),
        ..Kms::new()
    }
    .open(b"k")
    .unwrap_err();
    assert!(
        matches!(
            err,
            KmsRecipientError::Malformed {
                field: "KeyTransRecipientInfo.rid",
                fault: BerFault::UnexpectedTag {
                    expected: 0x80,
                    found: 0x30
                },
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn deeply_nested_content_is_refused() {
    let nested = (0..MAX_DEPTH).fold(tlv(0x04, b"x"), |inner, _| indefinite(0x24, &inner));
    let cms = Kms {
        ber_segment: Some(16),
        ..Kms::new()
    }
    .seal(generated(), b"k");
    // Replace the constructed encryptedContent's first segment with the nested one.
    let first = find(&cms, &[0xa0, 0x80, 0x04, 0x10]);
    let deep = [
        &cms[..first.start + 2],
        &nested[..],
        &cms[first.start + 2..],
    ]
    .concat();
    let err = generated()
        .open_ciphertext_for_recipient(&deep)
        .unwrap_err();
    assert!(
        matches!(
            err,
            KmsRecipientError::Malformed {
                fault: BerFault::TooDeep { limit: MAX_DEPTH },
                ..
            }
        ),
        "{err:?}"
    );
}

// --- keys and errors -------------------------------------------------------------------------

#[test]
fn generated_key_is_rsa_2048_and_its_debug_shows_no_secret() {
    let key = generated();
    let spki = key.public_key_spki_der();
    assert_eq!(
        PublicEncryptingKey::from_der(&spki)
            .unwrap()
            .key_size_bits(),
        2048
    );
    let debug = format!("{key:?}");
    assert_eq!(
        debug,
        format!(
            "KmsRecipientKey {{ spki_sha256: {:?}, .. }}",
            hex::encode(key.spki_sha256)
        )
    );
}

#[test]
fn bad_inputs_for_keys_and_size() {
    assert_eq!(
        KmsRecipientKey::from_pkcs8_der(b"not a key").unwrap_err(),
        KmsRecipientError::InvalidPrivateKey
    );
    let huge = vec![0x30; MAX_CIPHERTEXT_FOR_RECIPIENT_LEN + 1];
    assert_eq!(
        generated()
            .open_ciphertext_for_recipient(&huge)
            .unwrap_err(),
        KmsRecipientError::TooLarge {
            len: MAX_CIPHERTEXT_FOR_RECIPIENT_LEN + 1,
            limit: MAX_CIPHERTEXT_FOR_RECIPIENT_LEN
        }
    );
}

#[test]
fn codes_are_stable_distinct_and_hinted() {
    let all = [
        KmsRecipientError::TooLarge { len: 0, limit: 0 },
        KmsRecipientError::Malformed {
            offset: 0,
            field: "f",
            fault: BerFault::Truncated,
        },
        KmsRecipientError::ContentType {
            field: "f",
            oid: String::new(),
            expected: "",
        },
        KmsRecipientError::UnsupportedVersion {
            field: "f",
            version: 0,
            expected: 2,
        },
        KmsRecipientError::RecipientCount { count: 0 },
        KmsRecipientError::UnsupportedRecipientType { tag: 0 },
        KmsRecipientError::UnsupportedAlgorithm {
            field: "f",
            oid: String::new(),
            expected: "",
        },
        KmsRecipientError::BadIv { len: 0 },
        KmsRecipientError::KeyMismatch {
            recipient_id_matches: None,
        },
        KmsRecipientError::BadContentKeyLength { len: 0 },
        KmsRecipientError::ContentDecryptFailed { len: 0 },
        KmsRecipientError::KeyGenerationFailed,
        KmsRecipientError::InvalidPrivateKey,
    ];
    let codes: std::collections::BTreeSet<_> = all.iter().map(KmsRecipientError::code).collect();
    assert_eq!(codes.len(), all.len());
    for err in &all {
        assert!(err.code().starts_with("kms.recipient."), "{}", err.code());
        assert!(!err.hint().is_empty());
        assert!(!err.to_string().is_empty());
    }
}
