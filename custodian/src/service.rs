//! The custodian's decisions, without HTTP: issue a challenge, release a key, change a key's
//! entry. [`crate::api`] only moves bytes in and out of these.
//!
//! A release, in order (the first failing check answers):
//!
//! 1. the request's key id and bundle decode ([`EvidenceBundle::from_cbor`] checks its shape);
//! 2. the challenge named by the bundle's nonce is redeemed, once, for this key id;
//! 3. the key exists and is enabled;
//! 4. the key's trust policy lists the platform the bundle claims (so evidence of an unlisted
//!    platform is never parsed), the evidence verifies to a pinned root, and the policy
//!    appraises the platform it verified as, with the binding of the bundle's keys to the nonce;
//! 5. the key's Rego rule, if any, over the appraised claims;
//! 6. the DEK is unwrapped, HPKE-sealed to the attested release key with `info` bound to the key
//!    id and the evidence digest, and the response signed.
//!
//! The platform and policy come from the key's entry, never from the bundle: the bundle's
//! platform tag only selects which parser runs.

use std::sync::{Arc, Mutex, PoisonError};

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use cloister_attestation::binding::KeyBinding;
use cloister_attestation::{AppraisalContext, EvidenceVerifier, Platform, TrustPolicy, UnixTime};
use cloister_proto::key_release::{
    Challenge, ChallengeRequest, MAX_BUNDLE_B64_LEN, ReleaseRequest, ReleaseResponse, X25519_LEN,
    validate_key_id,
};
use cloister_proto::sealed::DataKey;
use cloister_proto::{EvidenceBundle, EvidencePlatform};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::audit::{AuditEvent, AuditSink};
use crate::challenge::ChallengeBook;
use crate::error::{ApiError, BundleProblem};
use crate::kek::Kek;
use crate::rego::{RegoDecision, ReleaseRego};
use crate::store::{KeyEntry, KeyStore, KeySummary};

/// The clock: Unix seconds. Read once per request, at the edge.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// Everything a custodian decides with.
pub struct Custodian {
    store: Mutex<KeyStore>,
    kek: Box<dyn Kek>,
    signer: Ed25519KeyPair,
    verifier: EvidenceVerifier,
    challenges: Mutex<ChallengeBook>,
    audit: Arc<dyn AuditSink>,
    clock: Clock,
}

/// `PUT /v1/admin/keys/{key_id}` body.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterKey {
    /// Standard base64 of the 32-byte DEK.
    pub dek: String,
    /// The trust policy document (the `cloister --policy` JSON form).
    pub trust_policy: serde_json::Value,
    /// Optional Rego release rule (`package cloister.release`).
    #[serde(default)]
    pub rego: Option<String>,
    /// Replace an existing entry of this key id.
    #[serde(default)]
    pub replace: bool,
}

/// `PUT /v1/admin/keys/{key_id}/policy` body.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SetPolicy {
    /// The new trust policy.
    pub trust_policy: serde_json::Value,
    /// The new Rego rule (absent: none).
    #[serde(default)]
    pub rego: Option<String>,
}

/// `PUT /v1/admin/keys/{key_id}/disabled` body.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SetDisabled {
    /// Whether the key is refused to everyone.
    pub disabled: bool,
}

impl Custodian {
    /// A custodian over `store`, wrapping with `kek`, signing with `signer`, verifying with
    /// `verifier`, recording to `audit`; challenges live `challenge_ttl_secs`, at most
    /// `max_challenges` at once. Uses the system clock.
    pub fn new(
        store: KeyStore,
        kek: Box<dyn Kek>,
        signer: Ed25519KeyPair,
        verifier: EvidenceVerifier,
        audit: Arc<dyn AuditSink>,
        challenge_ttl_secs: u64,
        max_challenges: usize,
    ) -> Self {
        Self {
            store: Mutex::new(store),
            kek,
            signer,
            verifier,
            challenges: Mutex::new(ChallengeBook::new(challenge_ttl_secs, max_challenges)),
            audit,
            clock: Arc::new(|| UnixTime::now().as_secs()),
        }
    }

    /// Replaces the clock (tests).
    #[must_use]
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The custodian's Ed25519 public key: what enclaves pin.
    pub fn public_key(&self) -> [u8; 32] {
        let mut out = [0; 32];
        out.copy_from_slice(self.signer.public_key().as_ref());
        out
    }

    /// Issues a challenge for a registered, enabled key.
    ///
    /// # Errors
    /// `custodian.bad_key_id`, `custodian.unknown_key`, `custodian.key_disabled`,
    /// `custodian.busy`.
    pub fn challenge(&self, req: &ChallengeRequest) -> Result<Challenge, ApiError> {
        let result = self.issue(req);
        match &result {
            Ok(_) => self.audit.record(&AuditEvent::ChallengeIssued {
                key_id: req.key_id.clone(),
            }),
            Err(e) => self.deny(Some(&req.key_id), e),
        }
        result
    }

    fn issue(&self, req: &ChallengeRequest) -> Result<Challenge, ApiError> {
        validate_key_id(&req.key_id).map_err(ApiError::BadKeyId)?;
        self.enabled_entry(&req.key_id)?;
        let (nonce, expires_at) = self
            .challenges
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .issue(&req.key_id, (self.clock)())?;
        Ok(Challenge {
            nonce: B64.encode(nonce),
            expires_at,
        })
    }

    /// Releases a key to the enclave whose evidence the request carries. See the module docs
    /// for the order of checks.
    ///
    /// # Errors
    /// The first check that fails, as an [`ApiError`].
    pub fn release(&self, req: &ReleaseRequest) -> Result<ReleaseResponse, ApiError> {
        match self.try_release(req) {
            Ok((response, platform)) => {
                self.audit.record(&AuditEvent::Released {
                    key_id: response.key_id.clone(),
                    platform: platform.as_str().to_owned(),
                    evidence_sha384: response.evidence_sha384.clone(),
                });
                Ok(response)
            }
            Err(e) => {
                self.deny(Some(&req.key_id), &e);
                Err(e)
            }
        }
    }

    fn try_release(&self, req: &ReleaseRequest) -> Result<(ReleaseResponse, Platform), ApiError> {
        let now = (self.clock)();
        validate_key_id(&req.key_id).map_err(ApiError::BadKeyId)?;
        let bundle = decode_bundle(&req.bundle)?;
        self.challenges
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .redeem(&bundle.nonce, &req.key_id, now)?;
        let entry = self.enabled_entry(&req.key_id)?;

        let policy = &entry.trust_policy;
        let claimed = claimed_platform(bundle.platform);
        policy.check_platform(claimed).map_err(ApiError::Evidence)?;
        let when = UnixTime::from_secs(now);
        let verified = self
            .verifier
            .verify(claimed, &bundle.evidence, &bundle.collateral, when)
            .map_err(ApiError::Evidence)?;
        let ctx = AppraisalContext::new(
            when,
            KeyBinding {
                kem_pub: bundle.kem_pub.clone(),
                sig_pub: bundle.sig_pub.clone(),
                nonce: bundle.nonce.clone(),
            },
        );
        let appraised = policy
            .appraise(&verified, &ctx)
            .map_err(ApiError::Evidence)?;
        let platform = appraised.platform();

        if let Some(rego) = &entry.rego {
            let claims = serde_json::to_value(appraised.claims()).map_err(|e| {
                ApiError::RegoFailed(crate::rego::RegoError::Eval {
                    detail: format!("claims do not serialize: {e}"),
                })
            })?;
            let input = serde_json::json!({
                "key_id": req.key_id,
                "platform": platform.as_str(),
                "claims": claims,
            });
            match rego.evaluate(&input).map_err(ApiError::RegoFailed)? {
                RegoDecision::Allow => {}
                RegoDecision::Deny { reasons } => return Err(ApiError::RegoDenied { reasons }),
                RegoDecision::NotAllowed => return Err(ApiError::RegoNotAllowed),
            }
        }

        // The binding was checked: this is the key the evidence vouches for. Its length was
        // checked by EvidenceBundle::validate.
        let release_pub: [u8; X25519_LEN] = appraised
            .binding()
            .kem_pub
            .as_slice()
            .try_into()
            .map_err(|_| {
                ApiError::Seal(cloister_proto::key_release::KeyReleaseError::SealFailed)
            })?;
        let dek = self
            .kek
            .unwrap(&req.key_id, &entry.wrapped_dek)
            .map_err(ApiError::Kek)?;
        let response = ReleaseResponse::seal_and_sign(
            &self.signer,
            &req.key_id,
            &appraised.evidence_digest(),
            &dek,
            &release_pub,
            now,
        )
        .map_err(ApiError::Seal)?;
        Ok((response, platform))
    }

    /// Registers a key: the DEK is wrapped, the trust policy and Rego checked, all before
    /// anything is stored. Returns the entry's summary and whether an entry was replaced.
    ///
    /// # Errors
    /// `custodian.bad_key_id`, `custodian.bad_dek`, `custodian.invalid_trust_policy`,
    /// `custodian.rego.*`, `custodian.key_exists`, `custodian.kek.*`, `custodian.store.write`.
    pub fn register(
        &self,
        key_id: &str,
        req: &RegisterKey,
    ) -> Result<(KeySummary, bool), ApiError> {
        validate_key_id(key_id).map_err(ApiError::BadKeyId)?;
        let dek = decode_dek(&req.dek)?;
        let (trust_policy, rego) = check_policy(&req.trust_policy, req.rego.as_deref())?;
        let wrapped_dek = self.kek.wrap(key_id, &dek).map_err(ApiError::Kek)?;
        let now = (self.clock)();
        let entry = KeyEntry {
            wrapped_dek,
            trust_policy,
            rego,
            disabled: false,
            created_at: now,
            updated_at: now,
        };
        let summary = entry.summary(key_id);
        let replaced = self.store().register(key_id, entry, req.replace)?;
        self.audit.record(&AuditEvent::Admin {
            action: if replaced { "replace" } else { "register" },
            key_id: key_id.to_owned(),
        });
        Ok((summary, replaced))
    }

    /// Replaces a key's trust policy and Rego rule.
    ///
    /// # Errors
    /// As [`register`](Self::register), and `custodian.unknown_key`.
    pub fn set_policy(&self, key_id: &str, req: &SetPolicy) -> Result<KeySummary, ApiError> {
        validate_key_id(key_id).map_err(ApiError::BadKeyId)?;
        let (trust_policy, rego) = check_policy(&req.trust_policy, req.rego.as_deref())?;
        let now = (self.clock)();
        let entry = self.store().update(key_id, |e| {
            e.trust_policy = trust_policy;
            e.rego = rego;
            e.updated_at = now;
        })?;
        self.audit.record(&AuditEvent::Admin {
            action: "set_policy",
            key_id: key_id.to_owned(),
        });
        Ok(entry.summary(key_id))
    }

    /// Disables or enables a key.
    ///
    /// # Errors
    /// `custodian.bad_key_id`, `custodian.unknown_key`, `custodian.store.write`.
    pub fn set_disabled(&self, key_id: &str, req: &SetDisabled) -> Result<KeySummary, ApiError> {
        validate_key_id(key_id).map_err(ApiError::BadKeyId)?;
        let now = (self.clock)();
        let entry = self.store().update(key_id, |e| {
            e.disabled = req.disabled;
            e.updated_at = now;
        })?;
        self.audit.record(&AuditEvent::Admin {
            action: if req.disabled { "disable" } else { "enable" },
            key_id: key_id.to_owned(),
        });
        Ok(entry.summary(key_id))
    }

    /// Removes a key and its wrapped DEK.
    ///
    /// # Errors
    /// `custodian.bad_key_id`, `custodian.unknown_key`, `custodian.store.write`.
    pub fn remove(&self, key_id: &str) -> Result<(), ApiError> {
        validate_key_id(key_id).map_err(ApiError::BadKeyId)?;
        self.store().remove(key_id)?;
        self.audit.record(&AuditEvent::Admin {
            action: "remove",
            key_id: key_id.to_owned(),
        });
        Ok(())
    }

    /// Every key's summary.
    pub fn list(&self) -> Vec<KeySummary> {
        self.store().iter().map(|(id, e)| e.summary(id)).collect()
    }

    fn store(&self) -> std::sync::MutexGuard<'_, KeyStore> {
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn enabled_entry(&self, key_id: &str) -> Result<KeyEntry, ApiError> {
        let entry = self.store().get(key_id).cloned().ok_or_else(|| {
            crate::store::StoreError::UnknownKey {
                key_id: key_id.to_owned(),
            }
        })?;
        if entry.disabled {
            return Err(ApiError::KeyDisabled {
                key_id: key_id.to_owned(),
            });
        }
        Ok(entry)
    }

    fn deny(&self, key_id: Option<&str>, e: &ApiError) {
        self.audit.record(&AuditEvent::Denied {
            // Only a well-formed id is worth recording (and safe to log).
            key_id: key_id
                .filter(|k| validate_key_id(k).is_ok())
                .map(str::to_owned),
            code: e.code().to_owned(),
            rule: e.rule(),
        });
    }
}

impl std::fmt::Debug for Custodian {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Custodian")
            .field("public_key", &hex::encode(self.public_key()))
            .finish_non_exhaustive()
    }
}

fn decode_bundle(b64: &str) -> Result<EvidenceBundle, ApiError> {
    let encoding = || {
        ApiError::BadBundle(BundleProblem::Encoding {
            max: MAX_BUNDLE_B64_LEN,
        })
    };
    if b64.len() > MAX_BUNDLE_B64_LEN {
        return Err(encoding());
    }
    let cbor = B64.decode(b64).map_err(|_| encoding())?;
    EvidenceBundle::from_cbor(&cbor).map_err(|e| ApiError::BadBundle(BundleProblem::Proto(e)))
}

fn decode_dek(b64: &str) -> Result<DataKey, ApiError> {
    let bytes = Zeroizing::new(
        B64.decode(b64)
            .map_err(|_| ApiError::BadDek { len: None })?,
    );
    let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| ApiError::BadDek {
        len: Some(bytes.len()),
    })?;
    Ok(DataKey::from_bytes(key))
}

/// Loads a trust policy and compiles a Rego rule; both must succeed.
fn check_policy(
    trust_policy: &serde_json::Value,
    rego: Option<&str>,
) -> Result<(TrustPolicy, Option<ReleaseRego>), ApiError> {
    let json = serde_json::to_vec(trust_policy).map_err(|e| ApiError::BadRequest {
        what: "trust_policy",
        detail: e.to_string(),
    })?;
    let policy = TrustPolicy::from_json(&json).map_err(ApiError::InvalidTrustPolicy)?;
    let rego = rego
        .map(ReleaseRego::compile)
        .transpose()
        .map_err(ApiError::InvalidRego)?;
    Ok((policy, rego))
}

/// The platform a bundle claims, in the attestation crate's terms.
fn claimed_platform(platform: EvidencePlatform) -> Platform {
    match platform {
        EvidencePlatform::Nitro => Platform::Nitro,
        EvidencePlatform::Mock => Platform::Mock,
        EvidencePlatform::SevSnp => Platform::SevSnp,
        EvidencePlatform::Tdx => Platform::Tdx,
    }
}
