//! The Cloister caller SDK: verify an enclave, then talk to it privately.
//!
//! 1. [`verify`]: fetch evidence with your own nonce, verify it (signature, chain to a pinned
//!    root at an explicit time, key binding) and appraise it against your policy. Only a
//!    [`verify::VerifiedEnclave`] can be used to send a request.
//! 2. [`session`]: encrypt a request to the attested key with Oblivious HTTP, send it through
//!    the untrusted host, open the response, and check the enclave's signature over it.
//!
//! ```no_run
//! # async fn run() -> Result<(), cloister_client::ClientError> {
//! use cloister_client::{session::Session, verify::TrustConfig};
//! use cloister_attestation::UnixTime;
//!
//! let trust = TrustConfig::from_files("policy.json".as_ref(), Some("mock/root.pem".as_ref()))?;
//! let session = Session::new("http://127.0.0.1:8080")?;
//! let enclave = session.attest(&trust, UnixTime::now()).await?;
//! let result = session
//!     .infer(&enclave, "credit-risk-v1", br#"{"features": {}}"#, UnixTime::now())
//!     .await?;
//! println!("{}", String::from_utf8_lossy(result.output()));
//! # Ok(()) }
//! ```

pub mod custodian_admin;
pub mod emulate;
mod error;
pub mod evidence_file;
pub mod session;
pub mod verify;

pub use error::{BundleCheck, ClientError, ResultCheck};
