//! Every decision the custodian makes, as an event for an [`AuditSink`]. Events carry key ids,
//! platforms, digests and codes: never key material or evidence bytes.
//!
//! [`TracingAudit`] logs each event at info; [`MemoryAudit`] also keeps them, for tests. A
//! tamper-evident log (hash chain, signed checkpoints) plugs in behind the same trait.

use std::sync::Mutex;

/// One decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuditEvent {
    /// A challenge was issued for `key_id`.
    ChallengeIssued {
        /// The key id.
        key_id: String,
    },
    /// The DEK of `key_id` was sealed to an enclave whose evidence passed its policy.
    Released {
        /// The key id.
        key_id: String,
        /// The platform the evidence verified as.
        platform: String,
        /// Hex SHA-384 of the evidence's signed extent.
        evidence_sha384: String,
    },
    /// A challenge or release was refused.
    Denied {
        /// The key id asked for (as sent; validated ids only).
        key_id: Option<String>,
        /// The refusal's stable code.
        code: String,
        /// The policy rule or Rego reason, when one refused.
        rule: Option<String>,
    },
    /// An administrator changed a key entry.
    Admin {
        /// `register`, `replace`, `set_policy`, `disable`, `enable` or `remove`.
        action: &'static str,
        /// The key id.
        key_id: String,
    },
}

/// Where decisions are recorded.
pub trait AuditSink: Send + Sync {
    /// Records `event`. Must not fail the decision: a sink that cannot record logs the failure.
    fn record(&self, event: &AuditEvent);
}

/// Logs each event with `tracing` at info, under the target `cloister_custodian::audit`.
#[derive(Debug, Default, Clone, Copy)]
pub struct TracingAudit;

impl AuditSink for TracingAudit {
    fn record(&self, event: &AuditEvent) {
        match event {
            AuditEvent::ChallengeIssued { key_id } => {
                tracing::info!(target: "cloister_custodian::audit", key_id, "challenge issued");
            }
            AuditEvent::Released {
                key_id,
                platform,
                evidence_sha384,
            } => tracing::info!(
                target: "cloister_custodian::audit",
                key_id, platform, evidence_sha384, "key released"
            ),
            AuditEvent::Denied { key_id, code, rule } => tracing::info!(
                target: "cloister_custodian::audit",
                key_id = key_id.as_deref().unwrap_or("-"),
                code,
                rule = rule.as_deref().unwrap_or("-"),
                "denied"
            ),
            AuditEvent::Admin { action, key_id } => {
                tracing::info!(target: "cloister_custodian::audit", action, key_id, "admin change");
            }
        }
    }
}

/// Keeps every event in memory (and logs it like [`TracingAudit`]).
#[derive(Debug, Default)]
pub struct MemoryAudit {
    events: Mutex<Vec<AuditEvent>>,
}

impl MemoryAudit {
    /// The events recorded so far.
    pub fn events(&self) -> Vec<AuditEvent> {
        self.events
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

impl AuditSink for MemoryAudit {
    fn record(&self, event: &AuditEvent) {
        TracingAudit.record(event);
        self.events
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(event.clone());
    }
}
