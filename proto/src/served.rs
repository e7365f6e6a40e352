//! The models an enclave serves, signed by its attested `sig_pub`, published next to its evidence.
//!
//! The evidence binds `sig_pub`; `sig_pub` signs [`ServedModels::signing_bytes`]. A caller who
//! has verified the bundle (and so trusts `sig_pub`) checks the signature, then compares the
//! digest of the model it is about to use with the one its trust policy pins, *before* it sends
//! any input. Verification, with `aws_lc_rs` as the client does for results:
//!
//! ```text
//! // after verify_bundle(...) accepted `bundle` (so bundle.sig_pub is attested):
//! UnparsedPublicKey::new(&ED25519, &bundle.sig_pub)
//!     .verify(&bundle.served_models.signing_bytes(), &bundle.served_models_signature)?;
//! let digest = bundle.served_models.sha384_of(model_id)          // None: not served
//!     .ok_or("model not served by this enclave")?;
//! if digest != pinned_sha384 { refuse, send nothing }
//! ```
//!
//! [`crate::EvidenceBundle::validate`] (run by `from_cbor`) has already checked the lengths,
//! the order and uniqueness of ids, and the signature's length; it does not check the signature.
//!
//! The signed bytes carry no nonce: `sig_pub` is made fresh at every boot and the model set is
//! fixed for the life of that key, so a statement signed by one `sig_pub` cannot go stale.

use serde::{Deserialize, Serialize};

use crate::evidence::exact;
use crate::result::MAX_MODEL_ID_LEN;
use crate::{DIGEST_LEN, ProtoError};

/// Domain separation label of the served-models signature.
pub const SERVED_MODELS_LABEL: &[u8] = b"cloister/served-models/v1";
/// Most models one enclave may list.
pub const MAX_SERVED_MODELS: usize = 64;
/// Longest model version string.
pub const MAX_MODEL_VERSION_LEN: usize = 64;
/// Length of the Ed25519 signature over [`ServedModels::signing_bytes`].
pub const SERVED_MODELS_SIGNATURE_LEN: usize = 64;

/// One model the enclave has loaded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServedModel {
    /// The model id callers address (`/v1/models/{id}/infer`).
    pub id: String,
    /// The version from the model's manifest.
    pub version: String,
    /// SHA-384 of the model's bytes: the same `model_sha384` every result of it names.
    #[serde(with = "serde_bytes")]
    pub sha384: Vec<u8>,
}

/// Every model the enclave serves, ordered by id (strictly ascending: no duplicates).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServedModels {
    /// The models, ascending by `id`.
    pub models: Vec<ServedModel>,
}

impl ServedModels {
    /// Builds the canonical list: sorted by id.
    ///
    /// # Errors
    /// Any check of [`ServedModels::validate`] (duplicate ids, lengths, too many models).
    pub fn new(mut models: Vec<ServedModel>) -> Result<Self, ProtoError> {
        models.sort_by(|a, b| a.id.cmp(&b.id));
        let s = Self { models };
        s.validate()?;
        Ok(s)
    }

    /// The exact bytes `sig_pub` signs: the label, the number of models, then each model's id,
    /// version and digest, every part preceded by its length as a big-endian `u32`.
    pub fn signing_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.models.len() * 128);
        let mut part = |p: &[u8]| {
            // Parts are bounded (validate), far below u32::MAX; saturate rather than wrap anyway.
            let len = u32::try_from(p.len()).unwrap_or(u32::MAX);
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(p);
        };
        part(SERVED_MODELS_LABEL);
        let count = u32::try_from(self.models.len()).unwrap_or(u32::MAX);
        part(&count.to_be_bytes());
        for m in &self.models {
            part(m.id.as_bytes());
            part(m.version.as_bytes());
            part(&m.sha384);
        }
        out
    }

    /// The digest of the model `id`, if this list names it.
    pub fn sha384_of(&self, id: &str) -> Option<&[u8]> {
        self.models
            .iter()
            .find(|m| m.id == id)
            .map(|m| m.sha384.as_slice())
    }

    /// Checks counts, lengths and canonical order.
    ///
    /// # Errors
    /// [`ProtoError::FieldTooLarge`], [`ProtoError::BadLength`], or
    /// [`ProtoError::Malformed`] for an empty id or ids not strictly ascending.
    pub fn validate(&self) -> Result<(), ProtoError> {
        if self.models.len() > MAX_SERVED_MODELS {
            return Err(ProtoError::FieldTooLarge {
                field: "served models",
                len: self.models.len(),
                limit: MAX_SERVED_MODELS,
            });
        }
        let mut previous: Option<&str> = None;
        for m in &self.models {
            if m.id.is_empty() {
                return Err(ProtoError::malformed("served models", "empty model id"));
            }
            if m.id.len() > MAX_MODEL_ID_LEN {
                return Err(ProtoError::FieldTooLarge {
                    field: "served model id",
                    len: m.id.len(),
                    limit: MAX_MODEL_ID_LEN,
                });
            }
            if m.version.len() > MAX_MODEL_VERSION_LEN {
                return Err(ProtoError::FieldTooLarge {
                    field: "served model version",
                    len: m.version.len(),
                    limit: MAX_MODEL_VERSION_LEN,
                });
            }
            exact("served model sha384", m.sha384.len(), DIGEST_LEN)?;
            if previous.is_some_and(|p| p >= m.id.as_str()) {
                return Err(ProtoError::malformed(
                    "served models",
                    "model ids are not strictly ascending (duplicate or unsorted)",
                ));
            }
            previous = Some(&m.id);
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample() -> ServedModels {
        ServedModels::new(vec![
            ServedModel {
                id: "credit-risk-v1".into(),
                version: "1.0.0".into(),
                sha384: vec![7; DIGEST_LEN],
            },
            ServedModel {
                id: "a-model".into(),
                version: "2".into(),
                sha384: vec![8; DIGEST_LEN],
            },
        ])
        .expect("valid")
    }

    #[test]
    fn new_sorts_and_lookup_works() {
        let s = sample();
        assert_eq!(s.models[0].id, "a-model");
        assert_eq!(s.sha384_of("credit-risk-v1"), Some(&[7u8; DIGEST_LEN][..]));
        assert_eq!(s.sha384_of("other"), None);
    }

    #[test]
    fn signing_bytes_separate_every_field() {
        let base = sample();
        let b = base.signing_bytes();
        assert!(b.starts_with(&[0, 0, 0, SERVED_MODELS_LABEL.len() as u8]));
        let mut variants = vec![];
        let mut s = base.clone();
        s.models[0].id.push('x');
        variants.push(s);
        let mut s = base.clone();
        s.models[1].version.push('1');
        variants.push(s);
        let mut s = base.clone();
        s.models[1].sha384[47] ^= 1;
        variants.push(s);
        let mut s = base.clone();
        s.models.pop();
        variants.push(s);
        // Moving a byte from the id to the version changes the encoding (length prefixes).
        let mut s = base.clone();
        s.models[0].id = "a-mode".into();
        s.models[0].version = "l2".into();
        variants.push(s);
        for v in variants {
            assert_ne!(v.signing_bytes(), b, "{v:?}");
        }
        assert_eq!(
            ServedModels::default().signing_bytes().len(),
            4 + SERVED_MODELS_LABEL.len() + 4 + 4
        );
    }

    #[test]
    fn invalid_lists_are_rejected() {
        let m = |id: &str| ServedModel {
            id: id.into(),
            version: "1".into(),
            sha384: vec![0; DIGEST_LEN],
        };
        assert_eq!(
            ServedModels::new(vec![m("a"), m("a")])
                .expect_err("dup")
                .code(),
            "proto.malformed"
        );
        let unsorted = ServedModels {
            models: vec![m("b"), m("a")],
        };
        assert_eq!(
            unsorted.validate().expect_err("order").code(),
            "proto.malformed"
        );
        assert_eq!(
            ServedModels::new(vec![m("")]).expect_err("empty").code(),
            "proto.malformed"
        );
        let long = "x".repeat(MAX_MODEL_ID_LEN + 1);
        assert_eq!(
            ServedModels::new(vec![m(&long)]).expect_err("long").code(),
            "proto.field_too_large"
        );
        let mut v = m("a");
        v.version = "v".repeat(MAX_MODEL_VERSION_LEN + 1);
        assert_eq!(
            ServedModels::new(vec![v]).expect_err("version").code(),
            "proto.field_too_large"
        );
        let mut d = m("a");
        d.sha384.pop();
        assert_eq!(
            ServedModels::new(vec![d]).expect_err("digest").code(),
            "proto.bad_length"
        );
        let many = (0..=MAX_SERVED_MODELS)
            .map(|i| m(&format!("m{i:03}")))
            .collect();
        assert_eq!(
            ServedModels::new(many).expect_err("many").code(),
            "proto.field_too_large"
        );
    }
}
