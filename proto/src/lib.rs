//! Every wire format of Cloister, in one place, versioned and size-limited.
//!
//! | module | what crosses the wire |
//! |---|---|
//! | [`frame`] | host ↔ enclave: `u32` big-endian length, then one CBOR [`Envelope`] |
//! | [`message`] | the messages inside a frame, with a request id for multiplexing |
//! | [`evidence`] | the evidence bundle a caller verifies (`GET /v1/attestation`) |
//! | [`collateral`] | the DCAP collateral of a TDX quote inside the bundle (`QuoteCollateralV3` JSON) |
//! | [`ohttp_config`] | the OHTTP `KeyConfig` (RFC 9458 §3) built from the attested `kem_pub` |
//! | [`result`] | the enclave's signed inference result |
//! | [`model_archive`] | a model's files as one canonical archive; its SHA-384 is the model digest |
//! | [`model_manifest`] | the publisher-signed manifest of a sealed model |
//! | [`sealed`] | the sealed artifact: a model archive in chunked AES-256-GCM (STREAM) |
//! | [`sealed_package`] | the sealed model file: signed manifest, then the sealed artifact |
//! | [`served`] | the models an enclave serves, signed by its `sig_pub`, inside the evidence bundle |
//! | [`key_release`] | enclave ↔ custodian: challenge, release request, the signed, HPKE-sealed data key |
//! | [`padding`] | the fixed sizes encrypted responses are padded to |
//! | [`api`] | names shared by host, enclave and client: routes, media types, headers, error bodies |
//!
//! This crate depends on nothing of ours and does no I/O besides the frame codec's
//! `AsyncRead`/`AsyncWrite` helpers and [`model_archive::ModelFiles::read_model_dir`], so every component parses the same bytes the same way.
//!
//! ```
//! use cloister_proto::{frame, Envelope, Message};
//!
//! let env = Envelope::new(7, Message::AttestRequest { nonce: vec![1; 32] });
//! let bytes = frame::encode(&env)?;
//! let (back, used) = frame::decode(&bytes, frame::MAX_FRAME_LEN)?;
//! assert_eq!(used, bytes.len());
//! assert_eq!(back, env);
//! # Ok::<(), cloister_proto::ProtoError>(())
//! ```

pub mod api;
mod cbor;
pub mod collateral;
mod error;
pub mod evidence;
pub mod frame;
pub mod key_release;
pub mod kms;
pub mod message;
pub mod model_archive;
pub mod model_manifest;
pub mod ohttp_config;
pub mod padding;
pub mod result;
pub mod sealed;
pub mod sealed_package;
pub mod served;

pub use error::ProtoError;
pub use evidence::{EvidenceBundle, EvidencePlatform};
pub use message::{Envelope, Message, WireError};
pub use result::{ResultStatement, SignedResult};
pub use served::{ServedModel, ServedModels};

/// SHA-384 digest size; every digest in Cloister's formats is SHA-384.
pub const DIGEST_LEN: usize = 48;

/// SHA-384 of `data`, the one digest helper of the wire formats.
pub fn sha384(data: &[u8]) -> [u8; DIGEST_LEN] {
    use sha2::Digest;
    sha2::Sha384::digest(data).into()
}
