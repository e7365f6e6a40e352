//! Parse, verify and appraise enclave attestation evidence.
//!
//! Three types keep unverified bytes away from policy:
//!
//! 1. [`UnverifiedNitroDocument`]: the parsed COSE_Sign1 document, for inspection only.
//! 2. [`VerifiedNitroDocument`]: built only by [`NitroVerifier::verify`], after the COSE
//!    signature and the certificate chain to a pinned root were checked at an explicit time.
//! 3. [`AppraisedNitroDocument`]: built only by [`NitroPolicy::appraise`], after PCR pins, debug
//!    mode, mock trust, freshness and the [key binding](binding) were checked.
//!
//! [`EvidenceVerifier`] and [`TrustPolicy`] do the same for every platform at once, and
//! [`Claims`] are the normalized form, one shape for all of them, that the CLI prints and policy
//! engines read.
//!
//! AMD SEV-SNP follows the same three steps: [`snp::SnpReport`], [`snp::VerifiedSnpReport`]
//! (built by [`snp::SnpVerifier`]) and [`snp::AppraisedSnpReport`] (built by [`snp::SnpPolicy`]).
//!
//! Intel TDX likewise: [`tdx::TdxQuote`], [`tdx::VerifiedTdxQuote`] (built by
//! [`tdx::TdxVerifier`], with or without collateral) and [`tdx::AppraisedTdxQuote`] (built by
//! [`tdx::TdxPolicy`]).
//!
//! Time is always an input ([`UnixTime`]); nothing here reads the clock except
//! [`UnixTime::now`]. Every error has a stable [`code`](AttestationError::code) and a
//! [`hint`](AttestationError::hint).
//!
//! # Example: the mock round trip
//!
//! ```
//! use std::collections::BTreeMap;
//! use cloister_attestation::binding::KeyBinding;
//! use cloister_attestation::mock::{MockCa, MockNsm};
//! use cloister_attestation::{AppraisalContext, NitroPolicy, NitroVerifier, UnixTime};
//!
//! # fn main() -> Result<(), cloister_attestation::AttestationError> {
//! let now = UnixTime::from_secs(1_750_000_000);
//!
//! // The mock PKI and a booted mock enclave.
//! let ca = MockCa::generate(now)?;
//! let pcrs = BTreeMap::from([(0, [0x11; 48]), (1, [0x22; 48]), (2, [0x33; 48])]);
//! let nsm = MockNsm::boot(ca.intermediate(), pcrs, "mock-enclave".to_owned(), now)?;
//!
//! // The enclave binds its keys to the verifier's nonce.
//! let binding = KeyBinding { kem_pub: vec![1; 32], sig_pub: vec![2; 32], nonce: b"fresh".to_vec() };
//! let evidence = nsm.attest(Some(&binding.digest()), Some(&binding.nonce), None, now)?;
//!
//! // The verifier pins the mock root next to the AWS root…
//! let verifier = NitroVerifier::aws().with_mock_root(ca.root_anchor());
//! let verified = verifier.verify(&evidence, now)?;
//!
//! // …and the policy must trust that mock root explicitly.
//! let policy = NitroPolicy::default()
//!     .with_pcr(0, [0x11; 48])?
//!     .with_max_age_secs(300)
//!     .dangerous_trust_mock_root(ca.root_sha256());
//! let ctx = AppraisalContext::new(now, binding);
//! let appraised = policy.appraise(&verified, &ctx)?;
//! assert_eq!(appraised.verified().platform().as_str(), "mock");
//!
//! // A policy that does not trust that mock root refuses mock evidence…
//! let err = NitroPolicy::default().with_pcr(0, [0x11; 48])?.appraise(&verified, &ctx).unwrap_err();
//! assert_eq!(err.code(), "policy.mock_not_trusted");
//! // …and one that pins no workload refuses everything.
//! let err = NitroPolicy::default().appraise(&verified, &ctx).unwrap_err();
//! assert_eq!(err.code(), "policy.no_workload_pinned");
//! # Ok(())
//! # }
//! ```

pub mod appraisal;
pub mod binding;
mod claims;
mod error;
pub mod evidence;
mod hex_field;
pub mod nitro;
mod platform;
pub mod snp;
pub mod tdx;
mod time;
pub mod trust_policy;
mod window_cache;
mod x509;

pub use appraisal::{AppraisalContext, Appraised};
pub use claims::{Claims, PlatformClaims, TcbStatus};
pub use error::{
    AttestationError, CertCheck, CertError, CertRole, ChainCodes, ChainPosition, CodeDoc,
    CrlWindow, EvidenceError, MockError, NitroError, PolicyError, SnpError, TdxError,
};
pub use evidence::{AppraisedEvidence, EvidenceVerifier, VerifiedEvidence};
pub use nitro::mock;
pub use nitro::{
    AppraisedNitroDocument, NitroClaims, NitroPolicy, NitroVerifier, TrustAnchor,
    UnverifiedNitroDocument, VerifiedNitroDocument,
};
pub use platform::Platform;
pub use snp::{SnpClaims, SnpPolicy, SnpTcbClaims, SnpVerifier, VerifiedSnpReport};
pub use tdx::{TdxClaims, TdxPolicy, TdxVerifier, VerifiedTdxQuote};
pub use time::UnixTime;
pub use trust_policy::TrustPolicy;
pub use window_cache::CacheStats;
