//! Mutations of real documents: every change to signed bytes, every reordering of the chain and
//! every substituted root is rejected.

use ciborium::value::Value;
use cloister_attestation::mock::MockCa;
use cloister_attestation::{NitroVerifier, UnixTime};

use crate::fixtures::{DocCase, case};

/// The four COSE_Sign1 elements of an untagged document.
struct Parts {
    protected: Vec<u8>,
    payload: Vec<u8>,
    signature: Vec<u8>,
}

fn split(doc: &[u8]) -> Parts {
    let value: Value = ciborium::de::from_reader(doc).expect("COSE parses");
    let Value::Array(items) = value else {
        panic!("not an array")
    };
    let bytes = |v: &Value| match v {
        Value::Bytes(b) => b.clone(),
        other => panic!("expected bytes, got {other:?}"),
    };
    Parts {
        protected: bytes(&items[0]),
        payload: bytes(&items[2]),
        signature: bytes(&items[3]),
    }
}

fn join(parts: &Parts) -> Vec<u8> {
    let v = Value::Array(vec![
        Value::Bytes(parts.protected.clone()),
        Value::Map(vec![]),
        Value::Bytes(parts.payload.clone()),
        Value::Bytes(parts.signature.clone()),
    ]);
    let mut out = Vec::new();
    ciborium::ser::into_writer(&v, &mut out).expect("encode");
    out
}

fn payload_map(payload: &[u8]) -> Vec<(Value, Value)> {
    match ciborium::de::from_reader(payload).expect("payload parses") {
        Value::Map(entries) => entries,
        other => panic!("payload is {other:?}"),
    }
}

fn encode_map(entries: Vec<(Value, Value)>) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::ser::into_writer(&Value::Map(entries), &mut out).expect("encode");
    out
}

/// Applies `f` to the payload map and re-encodes the document (keeping the old signature).
fn with_payload(doc: &[u8], f: impl FnOnce(&mut Vec<(Value, Value)>)) -> Vec<u8> {
    let mut parts = split(doc);
    let mut entries = payload_map(&parts.payload);
    f(&mut entries);
    parts.payload = encode_map(entries);
    join(&parts)
}

/// The document with its leaf certificate replaced (signature kept, so only checks that run before
/// the COSE signature can name the failure).
pub(crate) fn replace_certificate(doc: &[u8], leaf: Vec<u8>) -> Vec<u8> {
    with_payload(doc, |e| *field(e, "certificate") = Value::Bytes(leaf))
}

fn field<'a>(entries: &'a mut [(Value, Value)], key: &str) -> &'a mut Value {
    entries
        .iter_mut()
        .find(|(k, _)| *k == Value::Text(key.to_owned()))
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("no field {key}"))
}

fn cabundle(entries: &mut [(Value, Value)]) -> &mut Vec<Value> {
    match field(entries, "cabundle") {
        Value::Array(a) => a,
        other => panic!("cabundle is {other:?}"),
    }
}

fn reject_code(verifier: &NitroVerifier, doc: &[u8], now: UnixTime) -> &'static str {
    verifier
        .verify(doc, now)
        .expect_err("mutation must be rejected")
        .code()
}

/// Byte offsets of the signed region: the protected header bytes and the payload bytes.
fn signed_offsets(doc: &[u8]) -> (std::ops::Range<usize>, std::ops::Range<usize>) {
    // Real documents: 0x84, 0x44 + 4 protected bytes, 0xA0, 0x59 + u16 length, payload.
    assert_eq!(&doc[..2], &[0x84, 0x44]);
    assert_eq!(doc[6], 0xa0);
    assert_eq!(doc[7], 0x59);
    let len = usize::from(u16::from_be_bytes([doc[8], doc[9]]));
    (2..6, 10..10 + len)
}

fn flip_positions(c: &DocCase) {
    for (_, verifier) in crate::fixtures::verifiers() {
        flip_positions_with(&verifier, c);
    }
}

fn flip_positions_with(verifier: &NitroVerifier, c: &DocCase) {
    let now = c.mid();
    verifier.verify(&c.bytes, now).expect("original verifies");
    let (protected, payload) = signed_offsets(&c.bytes);
    let step = payload.len() / 40;
    let positions: Vec<usize> = protected
        .chain(payload.clone().step_by(step))
        .chain([payload.start + 1, payload.end - 1])
        .collect();
    assert!(positions.len() >= 40);
    for pos in positions {
        for mask in [0x01u8, 0x80] {
            let mut doc = c.bytes.clone();
            doc[pos] ^= mask;
            let e = verifier
                .verify(&doc, now)
                .expect_err("a flipped signed byte must be rejected");
            assert!(
                e.code().starts_with("nitro."),
                "{}: byte {pos} ^ {mask:#x}: {}",
                c.file,
                e.code()
            );
        }
    }
}

#[test]
fn flipping_signed_bytes_is_rejected() {
    flip_positions(&case("yawn+nitro-attest/attestation.cose"));
    flip_positions(&case("aws_attestation_2026_01_03.repaired.b64"));
}

#[test]
fn flipping_the_signature_is_rejected() {
    let c = case("valid-attestation-doc-bytes.cbor");
    let verifier = NitroVerifier::aws();
    let len = c.bytes.len();
    for pos in [len - 96, len - 60, len - 49, len - 48, len - 1] {
        let mut doc = c.bytes.clone();
        doc[pos] ^= 0x01;
        assert_eq!(
            reject_code(&verifier, &doc, c.mid()),
            "nitro.cose.bad_signature"
        );
    }
}

#[test]
fn payload_edits_break_the_cose_signature() {
    let c = case("yawn+nitro-attest/attestation.cose");
    let verifier = NitroVerifier::aws();
    let now = c.mid();
    // Re-encoding alone (same values) keeps the bytes of this definite-length document.
    let same = with_payload(&c.bytes, |_| {});
    assert_eq!(same, c.bytes);
    type Edit = Box<dyn Fn(&mut Vec<(Value, Value)>)>;
    let edits: Vec<Edit> = vec![
        Box::new(|e| {
            if let Value::Map(pcrs) = field(e, "pcrs") {
                pcrs[0].1 = Value::Bytes(vec![0xaa; 48]);
            }
        }),
        Box::new(|e| *field(e, "nonce") = Value::Bytes(b"replayed".to_vec())),
        Box::new(|e| *field(e, "module_id") = Value::Text("i-0-enc0".to_owned())),
        Box::new(|e| e.push((Value::Text("extra".to_owned()), Value::Null))),
        Box::new(|e| {
            e.retain(|(k, _)| *k != Value::Text("user_data".to_owned()));
        }),
    ];
    for edit in edits {
        let doc = with_payload(&c.bytes, edit);
        assert_eq!(
            reject_code(&verifier, &doc, now),
            "nitro.cose.bad_signature"
        );
    }
}

#[test]
fn indefinite_map_is_not_re_encoded() {
    // Re-encoding the 2026 document's indefinite map as a definite one changes the signed bytes,
    // so a verifier that re-encoded instead of using the received payload would fail here.
    let c = case("aws_attestation_2026_01_03.repaired.b64");
    let doc = with_payload(&c.bytes, |_| {});
    assert_ne!(doc, c.bytes);
    assert_eq!(
        reject_code(&NitroVerifier::aws(), &doc, c.mid()),
        "nitro.cose.bad_signature"
    );
}

#[test]
fn chain_substitutions_are_rejected() {
    let c = case("yawn+nitro-attest/attestation.cose");
    let now = c.mid();
    let aws = NitroVerifier::aws();

    let swapped = with_payload(&c.bytes, |e| cabundle(e).swap(0, 1));
    assert_eq!(
        reject_code(&aws, &swapped, now),
        "nitro.chain.untrusted_root"
    );

    let reversed = with_payload(&c.bytes, |e| cabundle(e).reverse());
    assert_eq!(
        reject_code(&aws, &reversed, now),
        "nitro.chain.untrusted_root"
    );

    let no_root = with_payload(&c.bytes, |e| {
        cabundle(e).remove(0);
    });
    assert_eq!(
        reject_code(&aws, &no_root, now),
        "nitro.chain.untrusted_root"
    );

    // The intermediate order inside the bundle is checked too (root stays first).
    let shuffled = with_payload(&c.bytes, |e| cabundle(e).swap(1, 2));
    assert_eq!(
        reject_code(&aws, &shuffled, now),
        "nitro.chain.issuer_mismatch"
    );

    let no_instance_ca = with_payload(&c.bytes, |e| {
        cabundle(e).pop();
    });
    assert_eq!(
        reject_code(&aws, &no_instance_ca, now),
        "nitro.chain.issuer_mismatch"
    );

    // A mock root put in place of the AWS root, with a verifier that trusts the mock root.
    let mock = MockCa::generate(now).expect("mock ca");
    let mock_root = mock.root_der().to_vec();
    let replaced = with_payload(&c.bytes, |e| {
        cabundle(e)[0] = Value::Bytes(mock_root.clone())
    });
    assert_eq!(
        reject_code(&aws, &replaced, now),
        "nitro.chain.untrusted_root"
    );
    let with_mock = NitroVerifier::aws().with_mock_root(mock.root_anchor());
    assert_eq!(
        reject_code(&with_mock, &replaced, now),
        "nitro.chain.issuer_mismatch"
    );

    // The leaf of another real document under this chain.
    let other = case("valid-attestation-doc-bytes.cbor");
    let other_leaf = match field(
        &mut payload_map(&split(&other.bytes).payload),
        "certificate",
    ) {
        Value::Bytes(b) => b.clone(),
        v => panic!("{v:?}"),
    };
    let foreign_leaf = with_payload(&c.bytes, |e| {
        *field(e, "certificate") = Value::Bytes(other_leaf)
    });
    assert!(reject_code(&aws, &foreign_leaf, now).starts_with("nitro.chain."));

    // The leaf certificate given as the document's only CA: a leaf cannot issue.
    let leaf_as_ca = with_payload(&c.bytes, |e| {
        let leaf = field(e, "certificate").clone();
        let root = cabundle(e)[0].clone();
        *cabundle(e) = vec![root, leaf];
    });
    assert!(reject_code(&aws, &leaf_as_ca, now).starts_with("nitro.chain."));
}

#[test]
fn envelope_changes() {
    let c = case("yawn+nitro-attest/attestation.cose");
    let aws = NitroVerifier::aws();
    let now = c.mid();

    // Tag 18 is not signed: the tagged form of a real document verifies.
    let mut tagged = vec![0xd2];
    tagged.extend_from_slice(&c.bytes);
    aws.verify(&tagged, now).expect("tagged form verifies");

    let mut other_tag = vec![0xd8, 0x62];
    other_tag.extend_from_slice(&c.bytes);
    assert_eq!(reject_code(&aws, &other_tag, now), "nitro.cose.malformed");

    let mut trailing = c.bytes.clone();
    trailing.push(0x00);
    assert_eq!(reject_code(&aws, &trailing, now), "nitro.cose.malformed");

    let mut parts = split(&c.bytes);
    parts.protected = vec![0xa1, 0x01, 0x26]; // ES256
    assert_eq!(
        reject_code(&aws, &join(&parts), now),
        "nitro.cose.unsupported_algorithm"
    );

    let mut parts = split(&c.bytes);
    parts.signature.pop();
    assert_eq!(
        reject_code(&aws, &join(&parts), now),
        "nitro.cose.bad_signature_length"
    );

    let truncated = &c.bytes[..c.bytes.len() - 3];
    assert_eq!(reject_code(&aws, truncated, now), "nitro.cose.malformed");
}
