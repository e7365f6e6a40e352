//! AWS Nitro Enclaves attestation documents: parse, verify, measure.
//!
//! - [`document`]: the CBOR document map inside the COSE_Sign1 payload
//!   ([`UnverifiedNitroDocument`]).
//! - `cose`: the COSE_Sign1 envelope and its ES384 signature.
//! - `chain`: X.509 path validation from the leaf to a pinned root.
//! - [`chain_cache`]: the opt-in [`ChainCache`] of verified paths.
//! - [`anchor`]: pinned roots ([`TrustAnchor`]), including the embedded AWS root.
//! - [`verify`]: [`NitroVerifier`] and [`VerifiedNitroDocument`].
//! - [`pcr`]: PCR arithmetic ([`pcr::nitro_measure`]).
//! - [`policy`]: [`NitroPolicy`] and [`AppraisedNitroDocument`].
//! - [`claims`]: [`NitroClaims`], the document's fields for display and policy engines.
//! - [`mock`]: the mock platform (Nitro-format documents under a local root) for CI and the demo.
//!
//! Sources: AWS `aws-nitro-enclaves-nsm-api/docs/attestation_process.md`, RFC 9052/9053
//! (COSE), RFC 5280 (X.509), and the real documents in `shared/fixtures/nitro`.

pub mod anchor;
mod chain;
pub mod chain_cache;
pub mod claims;
mod cose;
pub mod document;
pub mod mock;
pub mod pcr;
pub mod policy;
pub mod verify;

pub use anchor::{AWS_NITRO_ROOT_G1_DER, AWS_NITRO_ROOT_G1_SHA256, TrustAnchor};
pub use chain_cache::{ChainCache, ChainCacheStats};
pub use claims::NitroClaims;
pub use cose::MAX_DOCUMENT_LEN;
pub use document::{NitroPayload, UnverifiedNitroDocument};
pub use pcr::{NitroMeasurer, nitro_extend, nitro_measure};
pub use policy::{AppraisedNitroDocument, MAX_CLOCK_SKEW_SECS, NitroPolicy};
pub use verify::{NitroVerifier, VerifiedNitroDocument};
