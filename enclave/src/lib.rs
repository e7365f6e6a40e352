//! The minimal in-enclave runtime of Cloister.
//!
//! At start it makes its two identity keys ([`identity`]), loads its models ([`inference`]) and
//! serves the host over one framed transport ([`server`], [`transport`]). Two things cross the
//! boundary: attestation requests, answered with evidence that binds the keys to the caller's
//! nonce ([`runtime`], [`platform`]), and OHTTP requests, which only this process can open and
//! whose answers are signed and encrypted back to the caller ([`gateway`]).
//!
//! Plaintext requests, results and private keys exist only here, in memory, and are zeroized
//! after use; nothing logged contains them ([`logging`]: the level is the enclave's own
//! configuration, dependencies never log below `warn`). Encrypted responses are padded to fixed
//! sizes and replayed requests refused ([`gateway`], [`ledger`]). A model's data key comes from the
//! Cloister custodian ([`key_release`]) or from AWS KMS to the attested RSA key ([`kms`]).

pub mod config;
pub mod gateway;
pub mod identity;
pub mod inference;
pub mod key_release;
pub mod kms;
pub mod ledger;
pub mod logging;
pub mod model_store;
pub mod outbound;
pub mod platform;
pub mod runtime;
pub mod server;
pub mod start;
pub mod transport;

pub use runtime::EnclaveRuntime;
