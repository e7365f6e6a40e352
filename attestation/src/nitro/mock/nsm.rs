//! The mock enclave's attestation signer: produces real COSE_Sign1 Nitro-format documents.
//!
//! Shaped like the real NSM so the production verifier runs unchanged: tagged COSE_Sign1,
//! protected header `{1: -35}`, empty unprotected header, payload keys in AWS order, every
//! optional field present (null when unset), PCRs 0..15 present (zero when unset), a per-boot
//! P-384 leaf certificate valid from 60 s before boot for 3 hours, re-issued when less than 10
//! minutes remain.

use crate::error::{MockError, NitroError};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Mutex, PoisonError};

use coset::cbor::value::Value;
use coset::{CoseSign1Builder, HeaderBuilder, TaggedCborSerializable, iana};

use super::ca::MockIntermediate;
use super::keys::LeafKey;
use crate::nitro::document::{MAX_OPTIONAL_FIELD_LEN, NUM_PCRS};
use crate::nitro::pcr::PCR_LEN;
use crate::{AttestationError, UnixTime};

/// Leaf certificates start this long before they are issued (as on real Nitro).
const LEAF_BACKDATE_SECS: u64 = 60;
/// Leaf certificate lifetime after issue: 3 hours (as on real Nitro).
const LEAF_LIFETIME_SECS: u64 = 3 * 3600;
/// Re-issue the leaf when it has less than this left.
const LEAF_REISSUE_MARGIN_SECS: u64 = 10 * 60;
/// PCRs a Nitro document always carries (locked at boot).
const BOOT_PCRS: u16 = 16;

/// A mock NSM: signs attestation documents with a per-boot key certified by the mock
/// intermediate CA. Shareable across threads (`attest` takes `&self`).
pub struct MockNsm {
    issuer: MockIntermediate,
    module_id: String,
    pcrs: BTreeMap<u16, [u8; PCR_LEN]>,
    leaf: Mutex<Leaf>,
}

struct Leaf {
    key: LeafKey,
    cert_der: Vec<u8>,
    not_before: UnixTime,
    not_after: UnixTime,
}

impl Leaf {
    fn issue(
        issuer: &MockIntermediate,
        module_id: &str,
        now: UnixTime,
    ) -> Result<Self, AttestationError> {
        let key = LeafKey::generate()?;
        let not_before = now.saturating_sub_secs(LEAF_BACKDATE_SECS);
        let not_after = now.saturating_add_secs(LEAF_LIFETIME_SECS);
        let cert_der = issuer.issue_leaf(module_id, &key, not_before, not_after)?;
        Ok(Self {
            key,
            cert_der,
            not_before,
            not_after,
        })
    }

    fn needs_reissue(&self, now: UnixTime) -> bool {
        now < self.not_before || now.saturating_add_secs(LEAF_REISSUE_MARGIN_SECS) > self.not_after
    }
}

impl MockNsm {
    /// Boots a mock NSM: makes the per-boot leaf key and certificate.
    ///
    /// `issuer` is a [`MockCa`](super::MockCa) or a [`MockIntermediate`] loaded from the CA
    /// directory (the enclave needs no root key).
    ///
    /// `pcrs` are the measured registers (the enclave computes them with
    /// [`nitro_measure`](crate::nitro::pcr::nitro_measure)); PCRs 0..15 that are not given read as
    /// zero, as on a real NSM.
    ///
    /// # Errors
    ///
    /// `api.misuse` for a PCR index of 32 or more or an empty `module_id`; `mock.crypto` if key
    /// generation or signing fails.
    pub fn boot(
        issuer: &impl AsRef<MockIntermediate>,
        pcrs: BTreeMap<u16, [u8; PCR_LEN]>,
        module_id: String,
        now: UnixTime,
    ) -> Result<Self, AttestationError> {
        if let Some(index) = pcrs.keys().find(|&&i| i >= NUM_PCRS) {
            return Err(AttestationError::ApiMisuse {
                what: format!("PCR index {index} is outside 0..{NUM_PCRS}"),
            });
        }
        if module_id.is_empty() {
            return Err(AttestationError::ApiMisuse {
                what: "module_id is empty".to_owned(),
            });
        }
        let mut all_pcrs: BTreeMap<u16, [u8; PCR_LEN]> =
            (0..BOOT_PCRS).map(|i| (i, [0; PCR_LEN])).collect();
        all_pcrs.extend(pcrs);
        let issuer = issuer.as_ref();
        let leaf = Leaf::issue(issuer, &module_id, now)?;
        Ok(Self {
            issuer: issuer.clone(),
            module_id,
            pcrs: all_pcrs,
            leaf: Mutex::new(leaf),
        })
    }

    /// The module id written into every document.
    pub fn module_id(&self) -> &str {
        &self.module_id
    }

    /// The PCRs written into every document.
    pub fn pcrs(&self) -> &BTreeMap<u16, [u8; PCR_LEN]> {
        &self.pcrs
    }

    /// Validity of the current leaf certificate (notBefore, notAfter).
    pub fn leaf_validity(&self) -> (UnixTime, UnixTime) {
        let leaf = self.leaf.lock().unwrap_or_else(PoisonError::into_inner);
        (leaf.not_before, leaf.not_after)
    }

    /// Produces a signed attestation document (tagged COSE_Sign1 bytes) at time `now`.
    ///
    /// # Errors
    ///
    /// `nitro.payload.field_too_large` if a field exceeds the NSM's 1024 bytes; `mock.crypto`
    /// if signing fails.
    pub fn attest(
        &self,
        user_data: Option<&[u8]>,
        nonce: Option<&[u8]>,
        public_key: Option<&[u8]>,
        now: UnixTime,
    ) -> Result<Vec<u8>, AttestationError> {
        for (field, value) in [
            ("user_data", user_data),
            ("nonce", nonce),
            ("public_key", public_key),
        ] {
            if let Some(v) = value
                && v.len() > MAX_OPTIONAL_FIELD_LEN
            {
                return Err(NitroError::FieldTooLarge {
                    field,
                    len: v.len(),
                    max: MAX_OPTIONAL_FIELD_LEN,
                }
                .into());
            }
        }

        // A poisoned lock only means another thread panicked mid-attest; the leaf is either the
        // old or the new complete value, both usable.
        let mut leaf = self.leaf.lock().unwrap_or_else(PoisonError::into_inner);
        if leaf.needs_reissue(now) {
            *leaf = Leaf::issue(&self.issuer, &self.module_id, now)?;
        }

        let optional = |v: Option<&[u8]>| v.map_or(Value::Null, |b| Value::Bytes(b.to_vec()));
        let text = |s: &str| Value::Text(s.to_owned());
        let payload = Value::Map(vec![
            (text("module_id"), text(&self.module_id)),
            (text("digest"), text("SHA384")),
            (
                text("timestamp"),
                Value::Integer(now.as_secs().saturating_mul(1000).into()),
            ),
            (
                text("pcrs"),
                Value::Map(
                    self.pcrs
                        .iter()
                        .map(|(i, v)| (Value::Integer((*i).into()), Value::Bytes(v.to_vec())))
                        .collect(),
                ),
            ),
            (text("certificate"), Value::Bytes(leaf.cert_der.clone())),
            (
                text("cabundle"),
                Value::Array(vec![
                    Value::Bytes(self.issuer.root_der().to_vec()),
                    Value::Bytes(self.issuer.certificate_der().to_vec()),
                ]),
            ),
            (text("public_key"), optional(public_key)),
            (text("user_data"), optional(user_data)),
            (text("nonce"), optional(nonce)),
        ]);
        let mut payload_bytes = Vec::new();
        coset::cbor::ser::into_writer(&payload, &mut payload_bytes).map_err(|e| {
            MockError::Crypto {
                what: "CBOR encoding",
                reason: e.to_string(),
            }
        })?;

        let protected = HeaderBuilder::new()
            .algorithm(iana::Algorithm::ES384)
            .build();
        let sign1 = CoseSign1Builder::new()
            .protected(protected)
            .payload(payload_bytes)
            .try_create_signature(&[], |tbs| leaf.key.sign_es384(tbs))?
            .build();
        Ok(sign1.to_tagged_vec().map_err(|e| MockError::Crypto {
            what: "COSE encoding",
            reason: e.to_string(),
        })?)
    }
}

impl fmt::Debug for MockNsm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockNsm")
            .field("module_id", &self.module_id)
            .field("root_sha256", &hex::encode(self.issuer.root_sha256()))
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nitro::mock::MockCa;
    use crate::{NitroVerifier, Platform};

    const NOW: UnixTime = UnixTime::from_secs(1_750_000_000);

    fn nsm(ca: &MockCa) -> MockNsm {
        let pcrs = BTreeMap::from([(0, [1; 48]), (1, [2; 48]), (2, [3; 48]), (16, [4; 48])]);
        MockNsm::boot(ca.intermediate(), pcrs, "mock-enclave".to_owned(), NOW).expect("boot")
    }

    #[test]
    fn document_has_the_aws_shape() {
        let ca = MockCa::generate(NOW).expect("ca");
        let doc = nsm(&ca)
            .attest(None, Some(b"n"), None, NOW)
            .expect("attest");
        // Tag 18, array(4), bstr(4) {1: -35}, empty map.
        assert_eq!(&doc[..8], &[0xd2, 0x84, 0x44, 0xa1, 0x01, 0x38, 0x22, 0xa0]);
        let parsed = crate::nitro::UnverifiedNitroDocument::parse(&doc).expect("parse");
        assert_eq!(parsed.payload().pcrs().len(), 17);
        assert_eq!(parsed.payload().pcrs()[&5], vec![0; 48]);
        assert_eq!(parsed.cabundle().len(), 2);
        assert_eq!(parsed.payload().nonce(), Some(&b"n"[..]));
        assert_eq!(parsed.payload().user_data(), None);
        assert_eq!(parsed.payload().timestamp_ms(), NOW.as_secs() * 1000);
    }

    #[test]
    fn verifies_through_the_production_verifier() {
        let ca = MockCa::generate(NOW).expect("ca");
        let doc = nsm(&ca)
            .attest(Some(b"u"), None, None, NOW)
            .expect("attest");
        let verified = NitroVerifier::aws()
            .with_mock_root(ca.root_anchor())
            .verify(&doc, NOW)
            .expect("verify");
        assert_eq!(verified.platform(), Platform::Mock);
        assert_eq!(verified.root_sha256(), ca.root_sha256());
        assert!(!verified.is_debug());
    }

    #[test]
    fn leaf_is_reissued_before_it_expires() {
        let ca = MockCa::generate(NOW).expect("ca");
        let nsm = nsm(&ca);
        let (nb, na) = nsm.leaf_validity();
        assert_eq!(nb.as_secs(), NOW.as_secs() - 60);
        assert_eq!(na.as_secs(), NOW.as_secs() + 3 * 3600);
        let verifier = NitroVerifier::aws().with_mock_root(ca.root_anchor());
        // 2 h 49 min later: 11 minutes left, same leaf.
        let t1 = NOW.saturating_add_secs(2 * 3600 + 49 * 60);
        let d1 = nsm.attest(None, None, None, t1).expect("attest");
        assert_eq!(nsm.leaf_validity().1, na);
        verifier.verify(&d1, t1).expect("verify");
        // 2 h 51 min later: 9 minutes left, a new leaf.
        let t2 = NOW.saturating_add_secs(2 * 3600 + 51 * 60);
        let d2 = nsm.attest(None, None, None, t2).expect("attest");
        assert_eq!(nsm.leaf_validity().1, t2.saturating_add_secs(3 * 3600));
        verifier.verify(&d2, t2).expect("verify");
        // Far in the future the leaf is renewed, and the documents still verify.
        let t3 = NOW.saturating_add_secs(400 * 24 * 3600);
        let d3 = nsm.attest(None, None, None, t3).expect("attest");
        verifier.verify(&d3, t3).expect("verify");
    }

    #[test]
    fn rejects_bad_arguments() {
        let ca = MockCa::generate(NOW).expect("ca");
        let e = MockNsm::boot(
            ca.intermediate(),
            BTreeMap::from([(32, [0; 48])]),
            "m".to_owned(),
            NOW,
        )
        .expect_err("pcr 32");
        assert!(e.is_api_misuse());
        let e = MockNsm::boot(ca.intermediate(), BTreeMap::new(), String::new(), NOW)
            .expect_err("empty module id");
        assert!(e.is_api_misuse());
        let e = nsm(&ca)
            .attest(Some(&[0; 1025]), None, None, NOW)
            .expect_err("too large");
        assert_eq!(e.code(), "nitro.payload.field_too_large");
        assert!(
            nsm(&ca)
                .attest(Some(&[0; 1024]), Some(&[0; 1024]), Some(&[0; 1024]), NOW)
                .is_ok()
        );
    }
}
