//! The Cloister key custodian: releases a model's data key (DEK) only to an enclave whose
//! evidence verifies and whose claims the key's policy allows, and records every decision.
//!
//! Flow (ARCHITECTURE.md, "Keys"; wire format in [`cloister_proto::key_release`]): the enclave
//! asks for a challenge; binds its nonce, with a fresh X25519 release key, into its evidence;
//! the custodian redeems the challenge once, verifies and appraises the evidence under the
//! *key's* trust policy ([`cloister_attestation::TrustPolicy`], the same verifier callers use),
//! runs the key's optional Rego rule ([`rego`]), unwraps the DEK from the KEK ([`kek`]),
//! HPKE-seals it to the attested release key with `info` bound to the key id and the evidence
//! digest, and signs the response with its Ed25519 key, which enclaves pin.
//!
//! | module | its one job |
//! |---|---|
//! | [`service`] | the decisions: challenge, release, admin changes |
//! | [`api`] | HTTP: routes, body limits, admin bearer token |
//! | [`challenge`] | single-use, expiring, bounded nonces |
//! | [`store`] | keys (wrapped DEKs, policies, tenants) and the audit chain: [`store::Store`], on SQLite |
//! | [`kek`] | the key-encryption keys: a file or a PKCS#11 token, and the ring used in rotation |
//! | [`rego`] | a key's Rego release rule |
//! | [`audit`] | the hash-chained, signed audit records and their verification |
//! | [`admin_cli`] | `audit verify`, `audit export`, `rotate-kek` |
//! | [`config`] | `custodian.json` and `init` |
//! | [`start`] | loading the config's files and serving |
//! | [`error`] | the API's refusals and their JSON body |
//!
//! The HPKE `info` of a release is [`cloister_proto::key_release::key_release_info`], re-exported
//! here:
//!
//! ```
//! let a = cloister_custodian::key_release_info(b"model-1", &[0; 48]);
//! let b = cloister_custodian::key_release_info(b"model-1", &[1; 48]);
//! assert_ne!(a, b);
//! ```

pub mod admin_cli;
pub mod api;
pub mod audit;
pub mod challenge;
pub mod config;
pub mod error;
mod files;
pub mod kek;
pub mod rego;
pub mod service;
pub mod start;
pub mod store;

pub use cloister_proto::key_release::{KEY_RELEASE_LABEL, key_release_info};
pub use error::ApiError;
pub use service::Custodian;
pub use start::StartError;
