//! `cloister attest verify --platform tdx`: a DCAP quote, optionally with collateral.

use cloister_attestation::tdx::{TdxCollateral, TdxVerifier};
use cloister_attestation::{Claims, TdxClaims, UnixTime, VerifiedEvidence};

use super::{Outcome, VerifyArgs, reject, usage};

/// Verifies the quote in `evidence` with `--collateral` (when given) at `now`, then appraises it
/// with the trust policy (default: UpToDate only, debug and missing SEPT_VE_DISABLE refused).
pub(super) fn run(args: &VerifyArgs, evidence: &[u8], now: UnixTime) -> Outcome {
    let collateral = match &args.collateral {
        Some(path) => match std::fs::read(path)
            .map_err(|e| e.to_string())
            .and_then(|b| TdxCollateral::from_json(&b).map_err(|e| e.to_string()))
        {
            Ok(c) => Some(c),
            Err(e) => return usage(args, &format!("--collateral {}: {e}", path.display())),
        },
        None => None,
    };
    match TdxVerifier::new().verify(evidence, collateral.as_ref(), now) {
        Ok(quote) => super::appraise(args, &VerifiedEvidence::Tdx(Box::new(quote)), now),
        Err(e) => reject(args, &e),
    }
}

pub(super) fn print_text(claims: &Claims, tdx: &TdxClaims) {
    println!("  platform:      {}", claims.platform.as_str());
    println!("  quote:         v{} ({})", tdx.quote_version, tdx.body);
    println!(
        "  tcb status:    {}{}",
        tdx.tcb_status.map_or("Unknown", |s| s.as_str()),
        tdx.tcb_date
            .as_deref()
            .map(|d| format!(" (tcbDate {d})"))
            .unwrap_or_else(|| " (no collateral)".to_owned())
    );
    if !tdx.advisory_ids.is_empty() {
        println!("  advisories:    {}", tdx.advisory_ids.join(", "));
    }
    println!("  fmspc:         {}", tdx.fmspc);
    println!("  debug:         {}", claims.debug);
    println!("  td_attributes: {}", tdx.td_attributes);
    println!("  mr_td:         {}", tdx.mr_td);
    for (i, r) in tdx.rtmr.iter().enumerate() {
        println!("  rtmr{i}:         {r}");
    }
    println!("  mr_config_id:  {}", tdx.mr_config_id);
    println!("  mr_owner:      {}", tdx.mr_owner);
    println!("  report_data:   {}", tdx.report_data);
    println!("  tee_tcb_svn:   {}", tdx.tee_tcb_svn);
    println!("  root:          sha256 {}", claims.root_sha256);
}
