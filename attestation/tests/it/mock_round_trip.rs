//! The mock platform end to end: generate a CA, boot a mock NSM, attest with a key binding,
//! verify with the production verifier, appraise.

use std::collections::BTreeMap;

use cloister_attestation::binding::KeyBinding;
use cloister_attestation::mock::{MockCa, MockIntermediate, MockNsm};
use cloister_attestation::nitro::pcr::nitro_measure;
use cloister_attestation::{
    AppraisalContext, AppraisedEvidence, NitroPolicy, NitroVerifier, Platform, PlatformClaims,
    TcbStatus, UnixTime,
};

const NOW: UnixTime = UnixTime::from_secs(1_760_000_000);

fn binding(nonce: &[u8]) -> KeyBinding {
    KeyBinding {
        kem_pub: vec![0x11; 32],
        sig_pub: vec![0x22; 32],
        nonce: nonce.to_vec(),
    }
}

struct Setup {
    ca: MockCa,
    nsm: MockNsm,
    pcr0: [u8; 48],
}

fn setup() -> Setup {
    let ca = MockCa::generate(NOW).expect("mock ca");
    let pcr0 = nitro_measure(b"the enclave executable");
    let pcrs = BTreeMap::from([
        (0, pcr0),
        (1, nitro_measure(b"kernel")),
        (2, nitro_measure(b"app")),
    ]);
    let nsm =
        MockNsm::boot(ca.intermediate(), pcrs, "mock-i-0-enc0".to_owned(), NOW).expect("boot");
    Setup { ca, nsm, pcr0 }
}

fn attest(s: &Setup, b: &KeyBinding, now: UnixTime) -> Vec<u8> {
    s.nsm
        .attest(Some(&b.digest()), Some(&b.nonce), None, now)
        .expect("attest")
}

#[test]
fn round_trip_with_binding_passes_a_policy_that_trusts_the_mock_root() {
    let s = setup();
    let b = binding(b"verifier-nonce-1");
    let evidence = attest(&s, &b, NOW);

    let verifier = NitroVerifier::aws().with_mock_root(s.ca.root_anchor());
    let verified = verifier.verify(&evidence, NOW).expect("verifies");
    assert_eq!(verified.platform(), Platform::Mock);
    assert_eq!(verified.user_data(), Some(&b.digest()[..]));
    assert_eq!(verified.nonce(), Some(&b"verifier-nonce-1"[..]));
    assert_eq!(verified.pcr(0), Some(&s.pcr0[..]));
    assert!(!verified.is_debug());

    let policy = NitroPolicy::default()
        .with_pcr(0, s.pcr0)
        .expect("index")
        .with_max_age_secs(60)
        .dangerous_trust_mock_root(s.ca.root_sha256());
    let ctx = AppraisalContext::new(NOW.saturating_add_secs(5), b.clone());
    let appraised = policy.appraise(&verified, &ctx).expect("appraised");
    let claims = AppraisedEvidence::Nitro(Box::new(appraised.clone())).claims();
    assert_eq!(claims.platform, Platform::Mock);
    assert_eq!(claims.workload_measurement, hex::encode(s.pcr0));
    assert_eq!(claims.tcb_status, TcbStatus::NotReported);
    let PlatformClaims::Nitro(nitro) = &claims.platform_claims else {
        panic!("mock evidence carries Nitro claims");
    };
    assert_eq!(nitro.module_id, "mock-i-0-enc0");
    assert_eq!(
        claims.key_binding.as_deref(),
        Some(hex::encode(b.digest()).as_str())
    );
    assert_eq!(claims.root_sha256, hex::encode(s.ca.root_sha256()));
    assert!(!claims.debug);
    let json = serde_json::to_value(claims).expect("json");
    crate::claims_doc::assert_documented(&json);
    assert_eq!(json["platform"], "mock");
    assert_eq!(json["workload_measurement"], hex::encode(s.pcr0));
    assert_eq!(json["tcb_status"], "not_reported");
    assert_eq!(
        json["platform_claims"]["nitro"]["pcrs"]["0"],
        hex::encode(s.pcr0)
    );
}

#[test]
fn default_policy_refuses_mock_evidence() {
    let s = setup();
    let b = binding(b"n");
    let evidence = attest(&s, &b, NOW);
    let verified = NitroVerifier::aws()
        .with_mock_root(s.ca.root_anchor())
        .verify(&evidence, NOW)
        .expect("verifies");
    let e = NitroPolicy::default()
        .dangerous_any_workload()
        .appraise(&verified, &AppraisalContext::new(NOW, b))
        .expect_err("mock refused by default");
    assert_eq!(e.code(), "policy.mock_not_trusted");

    // Trusting a different mock root does not help.
    let other = MockCa::generate(NOW).expect("other ca");
    let e = NitroPolicy::default()
        .dangerous_trust_mock_root(other.root_sha256())
        .dangerous_any_workload()
        .dangerous_appraise_without_binding(&verified, NOW)
        .expect_err("other mock root");
    assert_eq!(e.code(), "policy.mock_not_trusted");
}

#[test]
fn aws_verifier_refuses_mock_evidence() {
    let s = setup();
    let evidence = attest(&s, &binding(b"n"), NOW);
    let e = NitroVerifier::aws()
        .verify(&evidence, NOW)
        .expect_err("untrusted root");
    assert_eq!(e.code(), "nitro.chain.untrusted_root");
    assert!(
        e.to_string().contains(&hex::encode(s.ca.root_sha256())),
        "{e}"
    );
}

#[test]
fn another_mock_ca_cannot_vouch() {
    let s = setup();
    let evidence = attest(&s, &binding(b"n"), NOW);
    let other = MockCa::generate(NOW).expect("other ca");
    let e = NitroVerifier::aws()
        .with_mock_root(other.root_anchor())
        .verify(&evidence, NOW)
        .expect_err("other root");
    assert_eq!(e.code(), "nitro.chain.untrusted_root");
}

#[test]
fn binding_and_nonce_mismatches() {
    let s = setup();
    let b = binding(b"nonce-A");
    let evidence = attest(&s, &b, NOW);
    let verified = NitroVerifier::aws()
        .with_mock_root(s.ca.root_anchor())
        .verify(&evidence, NOW)
        .expect("verifies");
    let policy = NitroPolicy::default()
        .dangerous_trust_mock_root(s.ca.root_sha256())
        .dangerous_any_workload();

    // Other keys, same nonce: the binding digest differs.
    let mut other_keys = b.clone();
    other_keys.kem_pub = vec![0x33; 32];
    let e = policy
        .appraise(&verified, &AppraisalContext::new(NOW, other_keys))
        .expect_err("other keys");
    assert_eq!(e.code(), "policy.binding_mismatch");

    // A document whose user_data matches the binding but whose nonce field does not.
    let doc = s
        .nsm
        .attest(Some(&b.digest()), Some(b"nonce-B"), None, NOW)
        .expect("attest");
    let verified = NitroVerifier::aws()
        .with_mock_root(s.ca.root_anchor())
        .verify(&doc, NOW)
        .expect("verifies");
    let e = policy
        .appraise(&verified, &AppraisalContext::new(NOW, b.clone()))
        .expect_err("nonce differs");
    assert_eq!(e.code(), "policy.nonce_mismatch");

    // No nonce at all.
    let doc = s
        .nsm
        .attest(Some(&b.digest()), None, None, NOW)
        .expect("attest");
    let verified = NitroVerifier::aws()
        .with_mock_root(s.ca.root_anchor())
        .verify(&doc, NOW)
        .expect("verifies");
    let e = policy
        .appraise(&verified, &AppraisalContext::new(NOW, b))
        .expect_err("nonce absent");
    assert_eq!(e.code(), "policy.nonce_mismatch");
}

#[test]
fn freshness() {
    let s = setup();
    let evidence = attest(&s, &binding(b"n"), NOW);
    let verified = NitroVerifier::aws()
        .with_mock_root(s.ca.root_anchor())
        .verify(&evidence, NOW)
        .expect("verifies");
    let policy = NitroPolicy::default()
        .dangerous_any_workload()
        .dangerous_trust_mock_root(s.ca.root_sha256())
        .with_max_age_secs(300);
    let at = |secs: u64| UnixTime::from_secs(secs);
    policy
        .dangerous_appraise_without_binding(&verified, at(NOW.as_secs() + 300))
        .expect("300 s old");
    let e = policy
        .dangerous_appraise_without_binding(&verified, at(NOW.as_secs() + 301))
        .expect_err("301 s old");
    assert_eq!(e.code(), "policy.too_old");
    // 60 s of clock skew are tolerated, 61 s are not.
    policy
        .dangerous_appraise_without_binding(&verified, at(NOW.as_secs() - 60))
        .expect("60 s ahead");
    let e = policy
        .dangerous_appraise_without_binding(&verified, at(NOW.as_secs() - 61))
        .expect_err("61 s ahead");
    assert_eq!(e.code(), "policy.timestamp_in_future");
    // Without max_age, any age passes policy (the chain's 3 h validity still bounds it).
    NitroPolicy::default()
        .dangerous_any_workload()
        .dangerous_trust_mock_root(s.ca.root_sha256())
        .dangerous_appraise_without_binding(&verified, at(NOW.as_secs() + 100_000))
        .expect("no age bound");
}

#[test]
fn mock_documents_expire_like_real_ones() {
    let s = setup();
    let evidence = attest(&s, &binding(b"n"), NOW);
    let verifier = NitroVerifier::aws().with_mock_root(s.ca.root_anchor());
    let (nb, na) = s.nsm.leaf_validity();
    verifier.verify(&evidence, nb).expect("at notBefore");
    verifier.verify(&evidence, na).expect("at notAfter");
    let e = verifier
        .verify(&evidence, nb.saturating_sub_secs(1))
        .expect_err("before");
    assert_eq!(e.code(), "nitro.chain.not_yet_valid");
    let e = verifier
        .verify(&evidence, na.saturating_add_secs(1))
        .expect_err("after");
    assert_eq!(e.code(), "nitro.chain.expired");
}

#[test]
fn debug_mock_enclave_is_debug() {
    let ca = MockCa::generate(NOW).expect("mock ca");
    // boot takes the CA itself as well as its intermediate.
    let nsm = MockNsm::boot(&ca, BTreeMap::new(), "dbg".to_owned(), NOW).expect("boot");
    let doc = nsm.attest(None, None, None, NOW).expect("attest");
    let verified = NitroVerifier::aws()
        .with_mock_root(ca.root_anchor())
        .verify(&doc, NOW)
        .expect("verifies");
    assert!(verified.is_debug());
    let policy = NitroPolicy::default()
        .dangerous_trust_mock_root(ca.root_sha256())
        .dangerous_any_workload();
    let e = policy
        .clone()
        .dangerous_appraise_without_binding(&verified, NOW)
        .expect_err("debug");
    assert_eq!(e.code(), "policy.debug_forbidden");
    policy
        .dangerous_allow_debug()
        .dangerous_appraise_without_binding(&verified, NOW)
        .expect("debug allowed");
}

#[test]
fn ca_written_to_disk_drives_an_enclave_and_a_verifier() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = MockCa::generate(NOW).expect("mock ca");
    ca.write_to_dir(dir.path()).expect("write");

    // The enclave loads only the intermediate; the verifier loads only root.pem.
    let intermediate = MockIntermediate::load_dir(dir.path()).expect("load");
    let nsm = MockNsm::boot(
        &intermediate,
        BTreeMap::from([(0, [1; 48])]),
        "m".to_owned(),
        NOW,
    )
    .expect("boot");
    let doc = nsm.attest(None, Some(b"x"), None, NOW).expect("attest");
    let root_pem = std::fs::read(dir.path().join("root.pem")).expect("root.pem");
    let anchor =
        cloister_attestation::TrustAnchor::from_pem(Platform::Mock, &root_pem).expect("anchor");
    let verified = NitroVerifier::aws()
        .with_mock_root(anchor)
        .verify(&doc, NOW)
        .expect("verifies");
    assert_eq!(verified.root_sha256(), ca.root_sha256());

    // A reloaded full CA works the same.
    let reloaded = MockCa::load_dir(dir.path()).expect("load ca");
    let nsm = MockNsm::boot(
        reloaded.intermediate(),
        BTreeMap::new(),
        "m2".to_owned(),
        NOW,
    )
    .expect("boot");
    let doc = nsm.attest(None, None, None, NOW).expect("attest");
    NitroVerifier::aws()
        .with_mock_root(ca.root_anchor())
        .verify(&doc, NOW)
        .expect("verifies");
}

#[test]
fn mock_nsm_is_shareable_across_threads() {
    let s = setup();
    let verifier = NitroVerifier::aws().with_mock_root(s.ca.root_anchor());
    let nsm = &s.nsm;
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4u64)
            .map(|i| {
                scope.spawn(move || {
                    // Spread over the re-issue threshold so threads race on re-issuing.
                    let now = NOW.saturating_add_secs(i * 3600);
                    (now, nsm.attest(None, None, None, now).expect("attest"))
                })
            })
            .collect();
        for h in handles {
            let (now, doc) = h.join().expect("thread");
            verifier.verify(&doc, now).expect("verifies");
        }
    });
}
