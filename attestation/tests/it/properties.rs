//! Property tests: no byte string panics the parser or the verifier, and every mutation of a
//! real document is rejected.

use std::sync::OnceLock;

use cloister_attestation::{NitroPolicy, NitroVerifier, UnixTime, UnverifiedNitroDocument};
use proptest::prelude::*;

use crate::fixtures::{DocCase, case};

fn real() -> &'static DocCase {
    static CASE: OnceLock<DocCase> = OnceLock::new();
    CASE.get_or_init(|| case("yawn+nitro-attest/attestation.cose"))
}

fn indefinite() -> &'static DocCase {
    static CASE: OnceLock<DocCase> = OnceLock::new();
    CASE.get_or_init(|| case("aws_attestation_2026_01_03.repaired.b64"))
}

/// Parse, verify and (if it verified) appraise; must never panic.
fn exercise(bytes: &[u8], now: UnixTime) -> bool {
    let _ = UnverifiedNitroDocument::parse(bytes);
    match NitroVerifier::aws().verify(bytes, now) {
        Ok(doc) => {
            let _ = NitroPolicy::default()
                .dangerous_any_workload()
                .dangerous_appraise_without_binding(&doc, now);
            let _ = doc.nitro_claims();
            true
        }
        Err(e) => {
            // Every error renders and has a code and a hint.
            assert!(!e.to_string().is_empty());
            assert!(!e.code().is_empty() && !e.hint().is_empty());
            false
        }
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Set(usize, u8),
    Insert(usize, u8),
    Remove(usize),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
        1 => (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        1 => any::<usize>().prop_map(Mutation::Remove),
        1 => any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn apply(doc: &[u8], mutations: &[Mutation]) -> Vec<u8> {
    let mut out = doc.to_vec();
    for m in mutations {
        let len = out.len().max(1);
        match *m {
            Mutation::Set(i, b) => {
                if let Some(slot) = out.get_mut(i % len) {
                    *slot = b;
                }
            }
            Mutation::Insert(i, b) => out.insert(i % (out.len() + 1), b),
            Mutation::Remove(i) => {
                if !out.is_empty() {
                    out.remove(i % len);
                }
            }
            Mutation::Truncate(i) => out.truncate(i % len),
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        prop_assert!(!exercise(&bytes, UnixTime::from_secs(1_736_180_000)));
    }

    #[test]
    fn cbor_shaped_bytes_never_panic(
        head in prop_oneof![Just(vec![0x84u8]), Just(vec![0xd2, 0x84]), Just(vec![0x84, 0x44, 0xa1, 0x01, 0x38, 0x22, 0xa0])],
        tail in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        let mut bytes = head;
        bytes.extend(tail);
        prop_assert!(!exercise(&bytes, UnixTime::from_secs(1_736_180_000)));
    }

    #[test]
    fn mutated_real_documents_never_panic_and_are_rejected(
        mutations in proptest::collection::vec(mutation(), 1..4),
        which in any::<bool>(),
    ) {
        let c = if which { real() } else { indefinite() };
        let doc = apply(&c.bytes, &mutations);
        let accepted = exercise(&doc, c.mid());
        // Only the unchanged document may verify.
        prop_assert!(!accepted || doc == c.bytes);
    }
}
