//! The custodian's decisions, without HTTP: issue a challenge, release a key, change a key's
//! entry. [`crate::api`] only moves bytes in and out of these.
//!
//! A release, in order (the first failing check answers):
//!
//! 1. the request's key id and bundle decode ([`EvidenceBundle::from_cbor`] checks its shape);
//! 2. the challenge named by the bundle's nonce is live and was issued for this key id (it is
//!    redeemed at the end, in the transaction that records the release or the refusal);
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

use std::collections::HashMap;
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

use crate::audit::AuditEvent;
use crate::challenge::fresh_nonce;
use crate::error::{ApiError, BundleProblem};
use crate::kek::KekRing;
use crate::rego::{RegoDecision, ReleaseRego};
use crate::store::{KeyChange, KeySummary, Store, StoreError, StoredKey};

/// The clock: Unix seconds. Read once per request, at the edge.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// What a release attempt learned before it ended, for its audit record.
#[derive(Default)]
struct ReleaseAttempt {
    /// The key's tenant, once the key was read.
    tenant: Option<String>,
    /// The nonce of a live challenge, once one was found.
    redeemable_nonce: Option<Vec<u8>>,
}

/// A key's trust policy and Rego rule, compiled once per distinct source.
struct CompiledPolicy {
    trust_policy: TrustPolicy,
    rego: Option<ReleaseRego>,
}

/// Most compiled policies kept; the cache is cleared when it would grow past this.
const MAX_COMPILED_POLICIES: usize = 4096;

/// Everything a custodian decides with.
pub struct Custodian {
    store: Arc<dyn Store>,
    keks: KekRing,
    signer: Ed25519KeyPair,
    verifier: EvidenceVerifier,
    challenge_ttl_secs: u64,
    max_challenges: usize,
    /// Keyed by SHA-256 of the policy's sources, so any change (through any custodian sharing
    /// the store) is a miss and takes effect at the next release.
    compiled: Mutex<HashMap<[u8; 32], Arc<CompiledPolicy>>>,
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
    /// A custodian over `store`, wrapping with `keks`, signing responses with `signer`,
    /// verifying with `verifier`; challenges live `challenge_ttl_secs`, at most
    /// `max_challenges` at once. Uses the system clock.
    pub fn new(
        store: Arc<dyn Store>,
        keks: KekRing,
        signer: Ed25519KeyPair,
        verifier: EvidenceVerifier,
        challenge_ttl_secs: u64,
        max_challenges: usize,
    ) -> Self {
        Self {
            store,
            keks,
            signer,
            verifier,
            challenge_ttl_secs,
            max_challenges,
            compiled: Mutex::new(HashMap::new()),
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

    /// Issues a challenge for a registered, enabled key, and records it.
    ///
    /// # Errors
    /// `custodian.bad_key_id`, `custodian.unknown_key`, `custodian.key_disabled`,
    /// `custodian.busy`, `custodian.store.unavailable` (nothing issued).
    pub fn challenge(&self, req: &ChallengeRequest) -> Result<Challenge, ApiError> {
        let now = (self.clock)();
        let mut tenant = None;
        let result = self.issue(req, now, &mut tenant);
        if let Err(e) = &result {
            self.deny(now, tenant.as_deref(), Some(&req.key_id), e);
        }
        result
    }

    fn issue(
        &self,
        req: &ChallengeRequest,
        now: u64,
        tenant: &mut Option<String>,
    ) -> Result<Challenge, ApiError> {
        validate_key_id(&req.key_id).map_err(ApiError::BadKeyId)?;
        let key = self.enabled_key(&req.key_id, tenant)?;
        let nonce = fresh_nonce()?;
        let expires_at = now.saturating_add(self.challenge_ttl_secs);
        // Stored with its record, or not at all.
        self.store.issue_challenge(
            &nonce,
            &req.key_id,
            expires_at,
            self.max_challenges,
            &AuditEvent::challenge(now, &key.tenant, &req.key_id),
        )?;
        Ok(Challenge {
            nonce: B64.encode(nonce),
            expires_at,
        })
    }

    /// Releases a key to the enclave whose evidence the request carries. See the module docs
    /// for the order of checks. The release is on the audit chain before the response leaves.
    ///
    /// # Errors
    /// The first check that fails, as an [`ApiError`].
    pub fn release(&self, req: &ReleaseRequest) -> Result<ReleaseResponse, ApiError> {
        let now = (self.clock)();
        let mut attempt = ReleaseAttempt::default();
        let outcome = self.try_release(req, now, &mut attempt);
        let Some(nonce) = attempt.redeemable_nonce else {
            // Refused before a live challenge was found: nothing to redeem.
            if let Err(e) = &outcome {
                self.deny(now, attempt.tenant.as_deref(), Some(&req.key_id), e);
            }
            return outcome.map(|(response, _)| response);
        };
        // The challenge is redeemed in the transaction that records what it led to: the
        // release, or the refusal. Of racing replicas, one redeems; the others are refused.
        let event = match &outcome {
            Ok((_, event)) => event.clone(),
            Err(e) => AuditEvent::denied(
                now,
                attempt.tenant.as_deref(),
                Some(&req.key_id),
                e.code(),
                e.rule(),
            ),
        };
        match self
            .store
            .redeem_challenge(&nonce, &req.key_id, now, &event)
        {
            Ok(_) => outcome.map(|(response, _)| response),
            Err(e) => {
                let e = ApiError::from(e);
                self.deny(now, attempt.tenant.as_deref(), Some(&req.key_id), &e);
                Err(e)
            }
        }
    }

    fn try_release(
        &self,
        req: &ReleaseRequest,
        now: u64,
        attempt: &mut ReleaseAttempt,
    ) -> Result<(ReleaseResponse, AuditEvent), ApiError> {
        validate_key_id(&req.key_id).map_err(ApiError::BadKeyId)?;
        let bundle = decode_bundle(&req.bundle)?;
        // A cheap check first, so that evidence for no live challenge costs no verification.
        self.store
            .challenge(&bundle.nonce)?
            .ok_or(crate::challenge::ChallengeError::Unknown)?
            .check(&req.key_id, now)?;
        attempt.redeemable_nonce = Some(bundle.nonce.clone());
        let key = self.enabled_key(&req.key_id, &mut attempt.tenant)?;
        let compiled = self.compiled(&key)?;

        let policy = &compiled.trust_policy;
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
        let claims = appraised.claims();

        if let Some(rego) = &compiled.rego {
            let claims = serde_json::to_value(&claims).map_err(|e| {
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
            .keks
            .unwrap(&req.key_id, &key.kek_id, &key.wrapped_dek)
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
        let mut event = AuditEvent::release(now, &key.tenant, &req.key_id);
        event.platform = Some(platform.as_str().to_owned());
        event.measurement = Some(claims.workload_measurement.clone());
        event.evidence_sha384 = Some(response.evidence_sha384.clone());
        event.policy_version = Some(key.policy_version);
        event.kek_id = Some(key.kek_id.clone());
        Ok((response, event))
    }

    /// Registers a key for `tenant`: the DEK is wrapped, the trust policy and Rego checked,
    /// all before anything is stored. Returns the entry's summary and whether an entry was
    /// replaced.
    ///
    /// # Errors
    /// `custodian.bad_key_id`, `custodian.bad_dek`, `custodian.invalid_trust_policy`,
    /// `custodian.rego.*`, `custodian.key_exists` (also when another tenant owns the id),
    /// `custodian.kek.*`, `custodian.store.*`.
    pub fn register(
        &self,
        tenant: &str,
        key_id: &str,
        req: &RegisterKey,
    ) -> Result<(KeySummary, bool), ApiError> {
        let now = (self.clock)();
        let action = if req.replace { "replace" } else { "register" };
        self.admin(now, tenant, key_id, action, || {
            validate_key_id(key_id).map_err(ApiError::BadKeyId)?;
            let dek = decode_dek(&req.dek)?;
            let (trust_policy, rego) = check_policy(&req.trust_policy, req.rego.as_deref())?;
            let (wrapped_dek, kek_id) = self.keks.wrap(key_id, &dek).map_err(ApiError::Kek)?;
            let key = StoredKey::new(
                tenant,
                key_id,
                wrapped_dek,
                &kek_id,
                trust_policy,
                rego,
                now,
            );
            Ok(KeyChange::Register {
                key,
                replace: req.replace,
            })
        })
    }

    /// Replaces a key's trust policy and Rego rule (the next release is decided by them, and
    /// audited with the new policy version).
    ///
    /// # Errors
    /// As [`register`](Self::register), and `custodian.unknown_key`.
    pub fn set_policy(
        &self,
        tenant: &str,
        key_id: &str,
        req: &SetPolicy,
    ) -> Result<KeySummary, ApiError> {
        let now = (self.clock)();
        self.admin(now, tenant, key_id, "set_policy", || {
            validate_key_id(key_id).map_err(ApiError::BadKeyId)?;
            let (trust_policy, rego) = check_policy(&req.trust_policy, req.rego.as_deref())?;
            Ok(KeyChange::SetPolicy {
                tenant: tenant.to_owned(),
                key_id: key_id.to_owned(),
                trust_policy,
                rego,
                now,
            })
        })
        .map(|(summary, _)| summary)
    }

    /// Disables or enables a key. A disabled key is refused at the challenge and at the
    /// release, even for a challenge issued before.
    ///
    /// # Errors
    /// `custodian.bad_key_id`, `custodian.unknown_key`, `custodian.store.*`.
    pub fn set_disabled(
        &self,
        tenant: &str,
        key_id: &str,
        req: &SetDisabled,
    ) -> Result<KeySummary, ApiError> {
        let now = (self.clock)();
        let action = if req.disabled { "disable" } else { "enable" };
        self.admin(now, tenant, key_id, action, || {
            validate_key_id(key_id).map_err(ApiError::BadKeyId)?;
            Ok(KeyChange::SetDisabled {
                tenant: tenant.to_owned(),
                key_id: key_id.to_owned(),
                disabled: req.disabled,
                now,
            })
        })
        .map(|(summary, _)| summary)
    }

    /// Removes a key and its wrapped DEK.
    ///
    /// # Errors
    /// `custodian.bad_key_id`, `custodian.unknown_key`, `custodian.store.*`.
    pub fn remove(&self, tenant: &str, key_id: &str) -> Result<(), ApiError> {
        let now = (self.clock)();
        self.admin(now, tenant, key_id, "remove", || {
            validate_key_id(key_id).map_err(ApiError::BadKeyId)?;
            Ok(KeyChange::Remove {
                tenant: tenant.to_owned(),
                key_id: key_id.to_owned(),
            })
        })
        .map(drop)
    }

    /// The summaries of `tenant`'s keys.
    ///
    /// # Errors
    /// `custodian.store.*`.
    pub fn list(&self, tenant: &str) -> Result<Vec<KeySummary>, ApiError> {
        Ok(self
            .store
            .keys(Some(tenant))?
            .iter()
            .map(StoredKey::summary)
            .collect())
    }

    /// Builds a change with `prepare`, applies it with its audit record; a refusal is audited
    /// as a denial of `action`.
    fn admin(
        &self,
        now: u64,
        tenant: &str,
        key_id: &str,
        action: &str,
        prepare: impl FnOnce() -> Result<KeyChange, ApiError>,
    ) -> Result<(KeySummary, bool), ApiError> {
        let result = prepare().and_then(|change| {
            let outcome = self
                .store
                .change(&change, AuditEvent::admin(now, tenant, key_id, action))?;
            let summary = outcome.key.as_ref().map(StoredKey::summary);
            Ok((summary, outcome.replaced))
        });
        match result {
            Ok((summary, replaced)) => Ok((
                summary.unwrap_or_else(|| KeySummary {
                    key_id: key_id.to_owned(),
                    tenant: tenant.to_owned(),
                    platforms: vec![],
                    rego: false,
                    policy_version: 0,
                    kek_id: String::new(),
                    disabled: true,
                    created_at: now,
                    updated_at: now,
                }),
                replaced,
            )),
            Err(e) => {
                let mut event = AuditEvent::denied(
                    now,
                    Some(tenant),
                    Some(key_id).filter(|k| validate_key_id(k).is_ok()),
                    e.code(),
                    e.rule(),
                );
                event.action = Some(action.to_owned());
                self.record_denial(&event);
                Err(e)
            }
        }
    }

    /// The key, if it exists and is enabled; notes its tenant for the audit record.
    fn enabled_key(
        &self,
        key_id: &str,
        tenant: &mut Option<String>,
    ) -> Result<StoredKey, ApiError> {
        let key = self
            .store
            .key(key_id)?
            .ok_or_else(|| StoreError::UnknownKey {
                key_id: key_id.to_owned(),
            })?;
        *tenant = Some(key.tenant.clone());
        if key.disabled {
            return Err(ApiError::KeyDisabled {
                key_id: key_id.to_owned(),
            });
        }
        Ok(key)
    }

    /// The compiled policy of `key`, from the cache when its sources are unchanged.
    fn compiled(&self, key: &StoredKey) -> Result<Arc<CompiledPolicy>, ApiError> {
        let mut id = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        id.update(&(key.trust_policy.len() as u64).to_be_bytes());
        id.update(key.trust_policy.as_bytes());
        id.update(key.rego.as_deref().unwrap_or("").as_bytes());
        let mut cache_key = [0; 32];
        cache_key.copy_from_slice(id.finish().as_ref());
        if let Some(hit) = self
            .compiled
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&cache_key)
        {
            return Ok(hit.clone());
        }
        let corrupt = |field| {
            ApiError::Store(StoreError::Corrupt {
                key_id: key.key_id.clone(),
                field,
            })
        };
        let compiled = Arc::new(CompiledPolicy {
            trust_policy: TrustPolicy::from_json(key.trust_policy.as_bytes())
                .map_err(|_| corrupt("trust_policy"))?,
            rego: key
                .rego
                .as_deref()
                .map(ReleaseRego::compile)
                .transpose()
                .map_err(|_| corrupt("rego"))?,
        });
        let mut cache = self.compiled.lock().unwrap_or_else(PoisonError::into_inner);
        if cache.len() >= MAX_COMPILED_POLICIES {
            cache.clear();
        }
        cache.insert(cache_key, compiled.clone());
        Ok(compiled)
    }

    fn deny(&self, now: u64, tenant: Option<&str>, key_id: Option<&str>, e: &ApiError) {
        // Only a well-formed id is worth recording (and safe to log).
        let key_id = key_id.filter(|k| validate_key_id(k).is_ok());
        self.record_denial(&AuditEvent::denied(now, tenant, key_id, e.code(), e.rule()));
    }

    /// A denial that cannot be recorded does not change the answer (it is a refusal anyway);
    /// it is logged as an error for the operator.
    fn record_denial(&self, event: &AuditEvent) {
        if let Err(e) = self.store.append(event) {
            tracing::error!(code = e.code(), error = %e, "an audit record of a denial was not written");
        }
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

/// Checks that a trust policy loads and a Rego rule compiles; returns their sources as
/// stored (the policy in its normalized JSON form).
fn check_policy(
    trust_policy: &serde_json::Value,
    rego: Option<&str>,
) -> Result<(String, Option<String>), ApiError> {
    let json = serde_json::to_vec(trust_policy).map_err(|e| ApiError::BadRequest {
        what: "trust_policy",
        detail: e.to_string(),
    })?;
    let policy = TrustPolicy::from_json(&json).map_err(ApiError::InvalidTrustPolicy)?;
    if let Some(source) = rego {
        ReleaseRego::compile(source).map_err(ApiError::InvalidRego)?;
    }
    Ok((policy.to_json(), rego.map(str::to_owned)))
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
