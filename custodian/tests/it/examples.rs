//! The shipped example policies compile and decide as their comments say, against hand-written
//! claims in the common claims shape (`workload_measurement`, `debug`, `tcb_status`,
//! `platform_claims`), so they do not depend on today's `Claims` struct.

use cloister_custodian::rego::{RegoDecision, ReleaseRego};
use serde_json::json;

fn example(name: &str) -> ReleaseRego {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name);
    let source =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    ReleaseRego::compile(&source).unwrap_or_else(|e| panic!("{name}: {e}"))
}

const PINNED: &str = "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000";

fn input(platform: &str, claims: serde_json::Value) -> serde_json::Value {
    json!({"key_id": "model-1", "platform": platform, "claims": claims})
}

fn denied(d: RegoDecision) -> Vec<String> {
    match d {
        RegoDecision::Deny { reasons } => reasons,
        other => panic!("expected a denial, got {other:?}"),
    }
}

#[test]
fn nitro_pcr0_example() {
    let rego = example("nitro-pcr0.rego");
    let claims = |m: &str, debug: bool| {
        json!({"platform": "nitro", "workload_measurement": m, "debug": debug,
               "platform_claims": {"nitro": {"pcrs": {"0": m}}}})
    };
    assert_eq!(
        rego.evaluate(&input("nitro", claims(PINNED, false)))
            .expect("eval"),
        RegoDecision::Allow
    );
    let reasons = denied(
        rego.evaluate(&input("nitro", claims(&"ab".repeat(48), false)))
            .expect("eval"),
    );
    assert!(
        reasons[0].contains("is not the pinned image"),
        "{reasons:?}"
    );
    assert!(
        !denied(
            rego.evaluate(&input("nitro", claims(PINNED, true)))
                .expect("eval")
        )
        .is_empty()
    );
    assert_eq!(
        rego.evaluate(&input("tdx", claims(PINNED, false)))
            .expect("eval"),
        RegoDecision::NotAllowed
    );
}

#[test]
fn sev_snp_measurement_example() {
    let rego = example("sev-snp-measurement.rego");
    let claims = |snp: u64, microcode: u64| {
        json!({"platform": "sev-snp", "workload_measurement": PINNED, "debug": false,
               "tcb_status": "up_to_date",
               "platform_claims": {"sev-snp": {"reported_tcb": {"bootloader": 4, "tee": 0, "snp": snp, "microcode": microcode}}}})
    };
    assert_eq!(
        rego.evaluate(&input("sev-snp", claims(22, 213)))
            .expect("eval"),
        RegoDecision::Allow
    );
    let reasons = denied(
        rego.evaluate(&input("sev-snp", claims(21, 213)))
            .expect("eval"),
    );
    assert_eq!(reasons, ["reported SNP firmware 21 is below 22"]);
    assert!(
        !denied(
            rego.evaluate(&input("sev-snp", claims(22, 200)))
                .expect("eval")
        )
        .is_empty()
    );
}

#[test]
fn tdx_mrtd_example() {
    let rego = example("tdx-mrtd.rego");
    let claims = |mr_td: &str, status: &str| {
        json!({"platform": "tdx", "workload_measurement": mr_td, "debug": false, "tcb_status": status,
               "platform_claims": {"tdx": {"mr_td": mr_td}}})
    };
    assert_eq!(
        rego.evaluate(&input("tdx", claims(PINNED, "up_to_date")))
            .expect("eval"),
        RegoDecision::Allow
    );
    assert_eq!(
        denied(
            rego.evaluate(&input("tdx", claims(PINNED, "out_of_date")))
                .expect("eval")
        ),
        ["TCB status is out_of_date, up_to_date required"]
    );
    assert_eq!(
        rego.evaluate(&input("tdx", claims(&"cd".repeat(48), "up_to_date")))
            .expect("eval"),
        RegoDecision::NotAllowed
    );
}
