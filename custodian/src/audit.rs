//! The audit trail: every challenge, release, denial and admin change as one record of a hash
//! chain, signed by the custodian. Records carry tenants, key ids, platforms, measurements,
//! digests, policy versions and codes: never key material, evidence bytes or tokens.
//!
//! A record is its [`AuditBody`] (JSON, fields in declaration order), the hash
//! `SHA-384("cloister/audit-record/v1" ‖ 0x00 ‖ body JSON)` and an Ed25519 signature over that
//! hash. Each body names its sequence number and the hash of the record before it
//! ([`GENESIS_HASH`] for the first), so editing, reordering or deleting a record inside the
//! chain breaks the check at that record; re-signing needs the custodian's key.
//! [`verify_chain`] walks a chain and names the first broken record. (Cutting records off the
//! end leaves a valid shorter chain: compare the head with an exported copy.)
//!
//! ```
//! use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
//! use cloister_custodian::audit::{AuditEvent, AuditRecord, ChainVerifier};
//! let signer = Ed25519KeyPair::generate()?;
//! let first = AuditRecord::seal(&AuditEvent::challenge(1_700_000_000, "t", "model-1"), 1, None, &signer);
//! let second = AuditRecord::seal(&AuditEvent::challenge(1_700_000_001, "t", "model-1"), 2, Some(&first), &signer);
//! let mut chain = ChainVerifier::new(signer.public_key().as_ref());
//! chain.check(&first)?;
//! chain.check(&second)?;
//! assert_eq!(chain.verified(), 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use aws_lc_rs::digest::{SHA384, digest};
use aws_lc_rs::signature::{ED25519, Ed25519KeyPair, UnparsedPublicKey};
use serde::{Deserialize, Serialize};

/// The `prev_hash` of the first record: 48 zero bytes, hex.
pub const GENESIS_HASH: &str = "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000";

/// Domain separation of the record hash.
const RECORD_HASH_LABEL: &[u8] = b"cloister/audit-record/v1\0";

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditKind {
    /// A challenge was issued.
    Challenge,
    /// A data key was sealed to an enclave.
    Release,
    /// A challenge, release or admin request was refused.
    Denied,
    /// An administrator changed a key.
    Admin,
    /// `rotate-kek` re-wrapped a key's DEK.
    RotateKek,
}

/// One decision, before it is numbered, chained and signed. Build it with the constructors.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditEvent {
    /// Unix seconds.
    pub time: u64,
    /// What happened.
    pub kind: AuditKind,
    /// The tenant the key (or the admin credential) belongs to, when known.
    pub tenant: Option<String>,
    /// The key id, when one was named (validated ids only).
    pub key_id: Option<String>,
    /// For admin records: `register`, `replace`, `set_policy`, `disable`, `enable`, `remove`.
    pub action: Option<String>,
    /// The platform the evidence verified as.
    pub platform: Option<String>,
    /// The workload measurement the evidence carried (PCR0, MEASUREMENT or MRTD), hex.
    pub measurement: Option<String>,
    /// SHA-384 of the evidence's signed extent, hex.
    pub evidence_sha384: Option<String>,
    /// The version of the key's policy that decided.
    pub policy_version: Option<u64>,
    /// Which KEK wraps the key's DEK (after the change, for admin and rotation records).
    pub kek_id: Option<String>,
    /// The stable code of a refusal.
    pub code: Option<String>,
    /// The policy rule or Rego reason that refused, when one did.
    pub rule: Option<String>,
}

impl AuditEvent {
    fn new(time: u64, kind: AuditKind) -> Self {
        Self {
            time,
            kind,
            tenant: None,
            key_id: None,
            action: None,
            platform: None,
            measurement: None,
            evidence_sha384: None,
            policy_version: None,
            kek_id: None,
            code: None,
            rule: None,
        }
    }

    /// A challenge issued for `key_id` of `tenant`.
    pub fn challenge(time: u64, tenant: &str, key_id: &str) -> Self {
        Self {
            tenant: Some(tenant.to_owned()),
            key_id: Some(key_id.to_owned()),
            ..Self::new(time, AuditKind::Challenge)
        }
    }

    /// A refusal with its code (and rule), for a key id if one was named.
    pub fn denied(
        time: u64,
        tenant: Option<&str>,
        key_id: Option<&str>,
        code: &str,
        rule: Option<String>,
    ) -> Self {
        Self {
            tenant: tenant.map(str::to_owned),
            key_id: key_id.map(str::to_owned),
            code: Some(code.to_owned()),
            rule,
            ..Self::new(time, AuditKind::Denied)
        }
    }

    /// An admin change of `key_id` by `tenant`.
    pub fn admin(time: u64, tenant: &str, key_id: &str, action: &str) -> Self {
        Self {
            tenant: Some(tenant.to_owned()),
            key_id: Some(key_id.to_owned()),
            action: Some(action.to_owned()),
            ..Self::new(time, AuditKind::Admin)
        }
    }

    /// A release of `key_id` (fill in platform, measurement, digest and policy version).
    pub fn release(time: u64, tenant: &str, key_id: &str) -> Self {
        Self {
            tenant: Some(tenant.to_owned()),
            key_id: Some(key_id.to_owned()),
            ..Self::new(time, AuditKind::Release)
        }
    }

    /// A re-wrap of `key_id` under the KEK `kek_id`.
    pub fn rotate_kek(time: u64, tenant: &str, key_id: &str, kek_id: &str) -> Self {
        Self {
            tenant: Some(tenant.to_owned()),
            key_id: Some(key_id.to_owned()),
            kek_id: Some(kek_id.to_owned()),
            ..Self::new(time, AuditKind::RotateKek)
        }
    }
}

/// The signed part of a record: the event, its place in the chain and the link back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditBody {
    /// 1 for the first record, then consecutive.
    pub seq: u64,
    /// The hash of record `seq - 1` (hex), or [`GENESIS_HASH`].
    pub prev_hash: String,
    /// What happened.
    #[serde(flatten)]
    pub event: AuditEvent,
}

/// One stored record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// The body exactly as stored and hashed (JSON).
    pub body: String,
    /// SHA-384 over the label and `body`, hex.
    pub hash: String,
    /// Ed25519 signature over the 48 hash bytes, hex.
    pub signature: String,
}

impl AuditRecord {
    /// Numbers `event` as `seq`, links it to `prev` (None for the first record) and signs it.
    pub fn seal(
        event: &AuditEvent,
        seq: u64,
        prev: Option<&AuditRecord>,
        signer: &Ed25519KeyPair,
    ) -> Self {
        Self::seal_after(event, seq, prev.map_or(GENESIS_HASH, |p| &p.hash), signer)
    }

    /// As [`seal`](Self::seal), given the previous record's hash (hex).
    pub fn seal_after(
        event: &AuditEvent,
        seq: u64,
        prev_hash: &str,
        signer: &Ed25519KeyPair,
    ) -> Self {
        let body = AuditBody {
            seq,
            prev_hash: prev_hash.to_owned(),
            event: event.clone(),
        };
        // A struct of strings and integers always serializes.
        let body = serde_json::to_string(&body).unwrap_or_default();
        let hash = record_hash(&body);
        let signature = signer.sign(&hash);
        Self {
            body,
            hash: hex::encode(hash),
            signature: hex::encode(signature.as_ref()),
        }
    }

    /// The parsed body.
    ///
    /// # Errors
    /// The JSON error when the stored body was edited into something else.
    pub fn parsed(&self) -> Result<AuditBody, serde_json::Error> {
        serde_json::from_str(&self.body)
    }
}

fn record_hash(body: &str) -> [u8; 48] {
    let mut input = Vec::with_capacity(RECORD_HASH_LABEL.len() + body.len());
    input.extend_from_slice(RECORD_HASH_LABEL);
    input.extend_from_slice(body.as_bytes());
    let mut out = [0; 48];
    out.copy_from_slice(digest(&SHA384, &input).as_ref());
    out
}

/// Checks records one after the other, in chain order.
#[derive(Debug)]
pub struct ChainVerifier {
    public_key: Vec<u8>,
    expected_seq: u64,
    prev_hash: String,
}

impl ChainVerifier {
    /// A verifier of a chain from its first record, signed by `public_key` (Ed25519, 32 bytes).
    pub fn new(public_key: &[u8]) -> Self {
        Self {
            public_key: public_key.to_vec(),
            expected_seq: 1,
            prev_hash: GENESIS_HASH.to_owned(),
        }
    }

    /// How many records verified so far.
    pub fn verified(&self) -> u64 {
        self.expected_seq - 1
    }

    /// The hash of the last verified record (the chain head), hex.
    pub fn head(&self) -> &str {
        &self.prev_hash
    }

    /// Checks the next record.
    ///
    /// # Errors
    /// [`ChainBreak`] naming the record and the check; the verifier should not be used after.
    pub fn check(&mut self, record: &AuditRecord) -> Result<AuditBody, ChainBreak> {
        let seq = self.expected_seq;
        let broken = |check| ChainBreak { seq, check };
        let body = record
            .parsed()
            .map_err(|_| broken(BrokenCheck::BodyUnreadable))?;
        if body.seq != seq {
            return Err(broken(BrokenCheck::Sequence { found: body.seq }));
        }
        if body.prev_hash != self.prev_hash {
            return Err(broken(BrokenCheck::PrevHash));
        }
        let hash = record_hash(&record.body);
        if hex::encode(hash) != record.hash {
            return Err(broken(BrokenCheck::Hash));
        }
        let signature = hex::decode(&record.signature).unwrap_or_default();
        UnparsedPublicKey::new(&ED25519, &self.public_key)
            .verify(&hash, &signature)
            .map_err(|_| broken(BrokenCheck::Signature))?;
        self.expected_seq += 1;
        self.prev_hash.clone_from(&record.hash);
        Ok(body)
    }
}

/// The first record of a chain that does not check, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("audit record {seq} is broken: {check}")]
pub struct ChainBreak {
    /// The position where the record was expected (1-based).
    pub seq: u64,
    /// The failed check.
    pub check: BrokenCheck,
}

/// Which check of a record failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BrokenCheck {
    /// The body is not a record body.
    #[error("its body does not parse")]
    BodyUnreadable,
    /// The body names another sequence number (a record was removed, repeated or moved).
    #[error("its body says seq {found}")]
    Sequence {
        /// The number in the body.
        found: u64,
    },
    /// It does not link to the record before it.
    #[error("prev_hash is not the hash of the record before it")]
    PrevHash,
    /// Its stored hash is not the hash of its body (the body was edited).
    #[error("its body does not hash to its stored hash (edited)")]
    Hash,
    /// The custodian's key did not sign it.
    #[error("its signature does not verify under the custodian's key")]
    Signature,
}

impl ChainBreak {
    /// A stable dotted code.
    pub fn code(&self) -> &'static str {
        match self.check {
            BrokenCheck::BodyUnreadable => "custodian.audit.body_unreadable",
            BrokenCheck::Sequence { .. } => "custodian.audit.sequence",
            BrokenCheck::PrevHash => "custodian.audit.prev_hash",
            BrokenCheck::Hash => "custodian.audit.hash",
            BrokenCheck::Signature => "custodian.audit.signature",
        }
    }
}

/// Logs `event` at info under the target `cloister_custodian::audit` (the durable record is the
/// store's; this is for the operator's log pipeline).
pub fn log(event: &AuditEvent) {
    let tenant = event.tenant.as_deref().unwrap_or("-");
    let key_id = event.key_id.as_deref().unwrap_or("-");
    match event.kind {
        AuditKind::Challenge => {
            tracing::info!(target: "cloister_custodian::audit", tenant, key_id, "challenge issued");
        }
        AuditKind::Release => tracing::info!(
            target: "cloister_custodian::audit",
            tenant,
            key_id,
            platform = event.platform.as_deref().unwrap_or("-"),
            policy_version = event.policy_version.unwrap_or(0),
            evidence_sha384 = event.evidence_sha384.as_deref().unwrap_or("-"),
            "key released"
        ),
        AuditKind::Denied => tracing::info!(
            target: "cloister_custodian::audit",
            tenant,
            key_id,
            action = event.action.as_deref().unwrap_or("-"),
            code = event.code.as_deref().unwrap_or("-"),
            rule = event.rule.as_deref().unwrap_or("-"),
            "denied"
        ),
        AuditKind::Admin => tracing::info!(
            target: "cloister_custodian::audit",
            tenant,
            key_id,
            action = event.action.as_deref().unwrap_or("-"),
            policy_version = event.policy_version.unwrap_or(0),
            "admin change"
        ),
        AuditKind::RotateKek => tracing::info!(
            target: "cloister_custodian::audit",
            tenant,
            key_id,
            kek_id = event.kek_id.as_deref().unwrap_or("-"),
            "data key re-wrapped"
        ),
    }
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::signature::KeyPair;

    use super::*;

    fn chain(n: u64, signer: &Ed25519KeyPair) -> Vec<AuditRecord> {
        let mut out: Vec<AuditRecord> = Vec::new();
        for seq in 1..=n {
            let event = AuditEvent::denied(seq, Some("t"), Some("k"), "custodian.x", None);
            out.push(AuditRecord::seal(&event, seq, out.last(), signer));
        }
        out
    }

    fn first_break(records: &[AuditRecord], public_key: &[u8]) -> Option<ChainBreak> {
        let mut v = ChainVerifier::new(public_key);
        records.iter().find_map(|r| v.check(r).err())
    }

    #[test]
    fn every_kind_of_tampering_is_found_at_its_record() {
        let signer = Ed25519KeyPair::generate().expect("key");
        let pk = signer.public_key().as_ref().to_vec();
        let records = chain(5, &signer);
        assert_eq!(first_break(&records, &pk), None);

        let mut edited = records.clone();
        edited[2].body = edited[2].body.replace("custodian.x", "custodian.y");
        assert_eq!(
            first_break(&edited, &pk),
            Some(ChainBreak {
                seq: 3,
                check: BrokenCheck::Hash
            })
        );

        let mut removed = records.clone();
        removed.remove(1);
        assert_eq!(first_break(&removed, &pk).map(|b| b.seq), Some(2));

        let mut swapped = records.clone();
        swapped.swap(3, 4);
        assert_eq!(first_break(&swapped, &pk).map(|b| b.seq), Some(4));

        // Re-hashed after an edit: the signature no longer matches.
        let mut rehashed = records.clone();
        rehashed[1].body = rehashed[1].body.replace("custodian.x", "custodian.y");
        rehashed[1].hash = hex::encode(record_hash(&rehashed[1].body));
        let b = first_break(&rehashed, &pk).expect("break");
        assert_eq!((b.seq, b.check), (2, BrokenCheck::Signature));
        assert_eq!(b.code(), "custodian.audit.signature");

        let other = Ed25519KeyPair::generate().expect("key");
        assert_eq!(
            first_break(&records, other.public_key().as_ref()).map(|b| b.check),
            Some(BrokenCheck::Signature)
        );
    }

    #[test]
    fn a_record_holds_no_more_than_its_event() {
        let signer = Ed25519KeyPair::generate().expect("key");
        let mut e = AuditEvent::release(7, "bank", "model-1");
        e.platform = Some("mock".into());
        e.policy_version = Some(3);
        let r = AuditRecord::seal(&e, 1, None, &signer);
        let body: serde_json::Value = serde_json::from_str(&r.body).expect("json");
        assert_eq!(body["kind"], "release");
        assert_eq!(body["policy_version"], 3);
        assert_eq!(body["prev_hash"], GENESIS_HASH);
        assert_eq!(r.parsed().expect("parse").event, e);
    }
}
