//! Property tests of the TDX quote parser, verifier and collateral parser: no input panics them,
//! and no change to a real quote, up to the end of its signature data, verifies.
//!
//! Real inputs: Phala's `tdx_quote` and its collateral in `shared/fixtures/tdx` (read by path,
//! never copied), UpToDate at 2025-07-01. The quote is 5006 bytes; its signature data ends at
//! 4936, and the 70 zero bytes after it are the driver's buffer padding, not part of the quote.
#![allow(
    clippy::expect_used,
    reason = "integration tests: a helper outside a #[test] fn panicking is the calling test failing"
)]

use std::path::PathBuf;
use std::sync::OnceLock;

use cloister_attestation::tdx::{TcbEvaluation, TcbStatus, TdxCollateral, TdxQuote, TdxVerifier};
use cloister_attestation::{AttestationError, UnixTime, VerifiedEvidence};
use proptest::prelude::*;

/// 2025-07-01T00:00:00Z: inside the Phala quote's collateral window.
const NOW: UnixTime = UnixTime::from_secs(1_751_328_000);

struct Real {
    quote: Vec<u8>,
    /// Where the quote ends: the end of its signature data.
    end: usize,
    collateral_json: Vec<u8>,
    collateral: TdxCollateral,
    /// The verdict on the unchanged quote.
    tcb: TcbEvaluation,
}

fn real() -> &'static Real {
    static REAL: OnceLock<Real> = OnceLock::new();
    REAL.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/fixtures/tdx/Phala-Network-dcap-qvl");
        let read = |name: &str| {
            let p = dir.join(name);
            std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        };
        let quote = read("tdx_quote");
        let collateral_json = read("tdx_quote_collateral.json");
        let collateral = TdxCollateral::from_json(&collateral_json).expect("collateral");
        let verified = TdxVerifier::new()
            .verify(&quote, Some(&collateral), NOW)
            .expect("the real quote verifies");
        let tcb = verified.tcb().expect("collateral given").clone();
        assert_eq!(tcb.status, TcbStatus::UpToDate);
        // A v4 quote: header (48), TD 1.0 body (584), signature data length (u32 LE), data.
        assert_eq!(quote[0], 4);
        let len = u32::from_le_bytes(quote[632..636].try_into().expect("4 bytes"));
        let end = 636 + len as usize;
        assert_eq!(end, 4936, "the fixture's signature data ends at 4936");
        assert!(
            quote[end..].iter().all(|&b| b == 0),
            "zero padding after it"
        );
        Real {
            quote,
            end,
            collateral_json,
            collateral,
            tcb,
        }
    })
}

/// Every error renders, with a code and a hint.
fn check_error(e: &AttestationError) {
    assert!(!e.to_string().is_empty());
    assert!(!e.code().is_empty() && !e.hint().is_empty());
}

/// Parses and verifies `bytes` without collateral; must never panic. True if it verified.
fn exercise_without_collateral(bytes: &[u8]) -> bool {
    if let Ok(q) = TdxQuote::parse(bytes) {
        let _ = format!("{q:?}");
        let _ = q.pck_identity();
    }
    match TdxVerifier::new().verify(bytes, None, NOW) {
        Ok(v) => {
            let _ = serde_json::to_string(&VerifiedEvidence::Tdx(Box::new(v)).claims());
            true
        }
        Err(e) => {
            check_error(&e);
            false
        }
    }
}

/// Verifies `quote` with the real collateral; must never panic.
fn verify_with_collateral(quote: &[u8]) -> Result<TcbEvaluation, AttestationError> {
    TdxVerifier::new()
        .verify(quote, Some(&real().collateral), NOW)
        .map(|v| v.tcb().expect("collateral given").clone())
        .inspect_err(check_error)
}

#[derive(Debug, Clone)]
enum Mutation {
    /// Set the byte at this offset (below the quote's end) to this value, changing it.
    Set(usize, u8),
    /// Keep only this many bytes (fewer than the quote's end).
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let end = real().end;
    prop_oneof![
        6 => (0..end, 1u8..=255).prop_map(|(i, x)| Mutation::Set(i, real().quote[i] ^ x)),
        1 => (0..end).prop_map(Mutation::Truncate),
    ]
}

#[derive(Debug, Clone)]
enum JsonMutation {
    Set(usize, u8),
    Insert(usize, u8),
    Remove(usize),
    Truncate(usize),
}

fn json_mutation() -> impl Strategy<Value = JsonMutation> {
    prop_oneof![
        4 => (any::<usize>(), any::<u8>()).prop_map(|(i, b)| JsonMutation::Set(i, b)),
        // Printable bytes too, so that strings and hex stay valid UTF-8 more often.
        2 => (any::<usize>(), 0x20u8..0x7f).prop_map(|(i, b)| JsonMutation::Set(i, b)),
        1 => (any::<usize>(), any::<u8>()).prop_map(|(i, b)| JsonMutation::Insert(i, b)),
        1 => any::<usize>().prop_map(JsonMutation::Remove),
        1 => any::<usize>().prop_map(JsonMutation::Truncate),
    ]
}

fn apply_json(json: &[u8], mutations: &[JsonMutation]) -> Vec<u8> {
    let mut out = json.to_vec();
    for m in mutations {
        let len = out.len().max(1);
        match *m {
            JsonMutation::Set(i, b) => {
                if let Some(slot) = out.get_mut(i % len) {
                    *slot = b;
                }
            }
            JsonMutation::Insert(i, b) => out.insert(i % (out.len() + 1), b),
            JsonMutation::Remove(i) => {
                if !out.is_empty() {
                    out.remove(i % len);
                }
            }
            JsonMutation::Truncate(i) => out.truncate(i % len),
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    // (a) Arbitrary bytes never panic the parser or the verifier, and never verify.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..8192)) {
        prop_assert!(!exercise_without_collateral(&bytes));
    }

    // (a) The same, starting with a prefix of the real quote (header, body, lengths, part of the
    // PCK chain) so that random bytes reach the later parsing stages and the chain checks. Only
    // the real quote's own bytes up to its end can verify.
    #[test]
    fn quote_shaped_bytes_never_panic(
        prefix in 0usize..5006,
        tail in proptest::collection::vec(any::<u8>(), 0..3200),
    ) {
        let r = real();
        let mut bytes = r.quote[..prefix].to_vec();
        bytes.extend(tail);
        bytes.truncate(8192);
        let accepted = exercise_without_collateral(&bytes);
        prop_assert!(!accepted || bytes.get(..r.end) == Some(&r.quote[..r.end]));
    }

}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4096, ..ProptestConfig::default() })]

    // (b) Any change to a byte of the quote before its end, and any truncation before its end,
    // fails verification.
    #[test]
    fn every_change_to_the_real_quote_is_rejected(m in mutation()) {
        let r = real();
        let mut quote = r.quote.clone();
        match m {
            Mutation::Set(i, v) => quote[i] = v,
            Mutation::Truncate(n) => quote.truncate(n),
        }
        let verdict = verify_with_collateral(&quote);
        prop_assert!(verdict.is_err(), "{m:?} verified: {verdict:?}");
    }

}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    // (b) What follows the end of the signature data is padding: changing or extending it
    // changes nothing.
    #[test]
    fn bytes_after_the_end_are_ignored(
        padding in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let r = real();
        let mut quote = r.quote[..r.end].to_vec();
        quote.extend(padding);
        prop_assert_eq!(verify_with_collateral(&quote).ok(), Some(r.tcb.clone()));
    }

    // (c) Arbitrary strings and bytes never panic the collateral parser.
    #[test]
    fn arbitrary_collateral_never_panics(s in any::<String>(), bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
        prop_assert!(TdxCollateral::from_json(s.as_bytes()).is_err());
        prop_assert!(TdxCollateral::from_json(&bytes).is_err());
    }

    // (c) Mutated copies of the real collateral never panic the parser or the verifier; when
    // one still verifies (a change outside what Intel signed: JSON whitespace, hex case, text
    // around the PEM blocks), the verdict is exactly the unchanged one.
    #[test]
    fn mutated_collateral_never_panics_nor_changes_the_verdict(
        mutations in proptest::collection::vec(json_mutation(), 1..4),
    ) {
        let r = real();
        let json = apply_json(&r.collateral_json, &mutations);
        match TdxCollateral::from_json(&json) {
            Err(e) => check_error(&e),
            Ok(c) => {
                let _ = (c.fmspc(), c.window());
                match TdxVerifier::new().verify(&r.quote, Some(&c), NOW) {
                    Ok(v) => prop_assert_eq!(v.tcb(), Some(&r.tcb)),
                    Err(e) => check_error(&e),
                }
            }
        }
    }
}

/// Every offset before the quote's end with several changes each (every value at the bytes of
/// the PCK chain's PEM armour and line breaks), with the collateral: about 74,000 verifications
/// (most fail early), 5 s in release. None may verify: the chain must be canonical PEM, so even
/// its final line feed (once malleable into a NUL, read as padding) is covered.
#[test]
fn exhaustive_single_byte_changes() {
    let r = real();
    let pem_start = r
        .quote
        .windows(5)
        .position(|w| w == b"-----")
        .expect("PEM chain");
    let is_base64 = |b: u8| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=';
    let mut accepted = Vec::new();
    for i in 0..r.end {
        let original = r.quote[i];
        let values: Vec<u8> = if i >= pem_start && !is_base64(original) {
            (0..=255).filter(|&v| v != original).collect()
        } else {
            [0x01u8, 0x80, 0xff, 0x20]
                .iter()
                .map(|x| original ^ x)
                .chain([0x00, b'\n', b'\r', b' ', b'A'])
                .filter(|&v| v != original)
                .collect()
        };
        for v in values {
            let mut quote = r.quote.clone();
            quote[i] = v;
            if verify_with_collateral(&quote).is_ok() {
                accepted.push((i, v));
            }
        }
    }
    assert!(
        accepted.is_empty(),
        "accepted changes (offset, value): {accepted:?}"
    );
}
