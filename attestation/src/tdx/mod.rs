//! Intel TDX DCAP quotes: parse, verify, appraise.
//!
//! - [`quote`]: quote versions 4 and 5, TD 1.0 and TD 1.5 bodies ([`TdxQuote`]).
//! - [`pki`]: the pinned Intel SGX Root CA, the PCK and TCB Signing chains, CRLs, the PCK's SGX
//!   extension ([`PckIdentity`]).
//! - [`collateral`]: TCB Info, QE Identity and CRLs in the `QuoteCollateralV3` JSON shape
//!   ([`TdxCollateral`]).
//! - [`status`]: Intel's TCB status names ([`TcbStatus`]).
//! - [`tcb`]: the TCB level, chosen as Intel's QVL does ([`TcbEvaluation`]).
//! - [`claims`]: [`TdxClaims`], the quote's fields and TCB verdict for display and policy engines.
//! - [`verify`]: [`TdxVerifier`] and [`VerifiedTdxQuote`].
//! - [`policy`]: [`TdxPolicy`] and [`AppraisedTdxQuote`].
//!
//! Sources: Intel "TDX DCAP Quote Generation Library and Quote Verification Library" (quote
//! format), Intel PCS API v4 (collateral), Intel's QVL (`TcbLevelCheck.cpp`) for the TCB rules,
//! `shared/research/snp_tdx.md` and the real quotes in `shared/fixtures/tdx`.
//!
//! ```no_run
//! use cloister_attestation::tdx::{TdxCollateral, TdxPolicy, TdxVerifier};
//! use cloister_attestation::binding::KeyBinding;
//! use cloister_attestation::{AppraisalContext, UnixTime};
//! # fn main() -> Result<(), cloister_attestation::AttestationError> {
//! let quote = std::fs::read("quote.bin").unwrap_or_default();
//! let collateral = TdxCollateral::from_json(&std::fs::read("collateral.json").unwrap_or_default())?;
//! let now = UnixTime::now();
//! let verified = TdxVerifier::new().verify(&quote, Some(&collateral), now)?;
//! let policy = TdxPolicy::from_json(&std::fs::read("policy.json").unwrap_or_default())?;
//! // The keys and nonce the quote must bind (from the evidence bundle and your challenge).
//! let binding = KeyBinding { kem_pub: vec![], sig_pub: vec![], nonce: vec![] };
//! let appraised = policy.appraise(&verified, &AppraisalContext::new(now, binding))?;
//! println!("{:?}", appraised.verified().tdx_claims().tcb_status);
//! # Ok(())
//! # }
//! ```

pub mod claims;
pub mod collateral;
pub mod pki;
pub mod policy;
pub mod quote;
pub mod status;
pub mod tcb;
pub mod verify;

pub use claims::TdxClaims;
pub use collateral::TdxCollateral;
pub use pki::{INTEL_SGX_ROOT_CA_DER, INTEL_SGX_ROOT_CA_SHA256, PckCa, PckIdentity, TdxCert};
pub use policy::{AppraisedTdxQuote, TdxPolicy};
pub use quote::{QeReport, TdReport, TdReportKind, TdxQuote};
pub use status::TcbStatus;
pub use tcb::{TcbEvaluation, TcbLevelRequirement};
pub use verify::{TdxVerifier, VerifiedTdxQuote};
