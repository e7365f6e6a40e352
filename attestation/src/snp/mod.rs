//! AMD SEV-SNP attestation reports: parse, verify, appraise.
//!
//! - [`report`]: the 1184-byte `ATTESTATION_REPORT`, versions 2-5 ([`SnpReport`]).
//! - [`certs`]: AMD certificates and the VCEK/VLEK extensions ([`VekExtensions`]).
//! - [`chain`]: ARK → ASK/ASVK → VCEK/VLEK with RSASSA-PSS, the pinned ARKs, the CRL.
//! - [`chain_cache`]: the opt-in [`SnpChainCache`] of validated ARK → ASK/ASVK pairs.
//! - [`verify`]: [`SnpVerifier`] and [`VerifiedSnpReport`].
//! - [`policy`]: [`SnpPolicy`] and [`AppraisedSnpReport`].
//! - [`claims`]: [`SnpClaims`], the report's fields for display and policy engines.
//!
//! Sources: AMD SEV-SNP ABI specification (ATTESTATION_REPORT, TCB_VERSION), AMD "VCEK
//! Certificate and KDS Interface Specification", `shared/research/snp_tdx.md` and the real
//! reports in `shared/fixtures/snp`.

pub mod certs;
pub mod chain;
pub mod chain_cache;
pub mod claims;
pub mod policy;
pub mod report;
pub mod verify;

pub use certs::{SnpCert, VekExtensions};
pub use chain::{PINNED_ARK_SHA256, SnpCrl, pinned_ark_der};
pub use chain_cache::{SnpChainCache, SnpChainCacheStats};
pub use claims::{SnpClaims, SnpTcbClaims};
pub use policy::{AppraisedSnpReport, MinTcb, SnpPolicy};
pub use report::{FirmwareVersion, Product, SigningKey, SnpReport, TcbVersion};
pub use verify::{SnpVerifier, VerifiedSnpReport};
