//! What the three platform policies share: the [`AppraisalContext`] every appraisal takes, the
//! [`Appraised`] wrapper only a policy builds, and the REPORT_DATA binding check.
//!
//! This module sits below the platforms: `nitro`, `snp` and `tdx` import from it and from the
//! error and binding modules, never from one another or from the modules that combine them
//! (`evidence`, `claims`, `trust_policy`).
//!
//! ```
//! use cloister_attestation::binding::KeyBinding;
//! use cloister_attestation::{AppraisalContext, UnixTime};
//! let binding = KeyBinding { kem_pub: vec![1; 32], sig_pub: vec![2; 32], nonce: b"n".to_vec() };
//! let ctx = AppraisalContext::new(UnixTime::from_secs(1_750_000_000), binding.clone());
//! assert_eq!(ctx.binding(), &binding);
//! ```

use crate::binding::KeyBinding;
use crate::error::PolicyError;
use crate::{AttestationError, UnixTime};

/// The time and the expected key binding for one appraisal. Both are required: appraisal for
/// use always checks the binding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppraisalContext {
    now: UnixTime,
    binding: KeyBinding,
}

impl AppraisalContext {
    /// Appraise at `now`, requiring the evidence to bind `binding` (the enclave's keys and the
    /// caller's nonce).
    pub fn new(now: UnixTime, binding: KeyBinding) -> Self {
        Self { now, binding }
    }

    /// The appraisal time (freshness is measured against it).
    pub fn now(&self) -> UnixTime {
        self.now
    }

    /// The key binding the evidence must carry.
    pub fn binding(&self) -> &KeyBinding {
        &self.binding
    }
}

/// Verified evidence `V` that satisfied a platform policy, with the key binding that policy
/// checked. Only the platform policies' `appraise` build one (the constructor is crate-private),
/// so holding an `Appraised` is proof that both happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Appraised<V> {
    verified: V,
    binding: KeyBinding,
}

impl<V> Appraised<V> {
    /// Records that `verified` passed a policy that checked `binding`.
    pub(crate) fn new(verified: V, binding: KeyBinding) -> Self {
        Self { verified, binding }
    }

    /// The key binding that was checked: the keys and nonce this evidence vouches for.
    pub fn binding(&self) -> &KeyBinding {
        &self.binding
    }

    /// The verified evidence.
    pub fn verified(&self) -> &V {
        &self.verified
    }
}

/// Checks that a 64-byte REPORT_DATA (SEV-SNP) or REPORTDATA (TDX) carries the binding of
/// `ctx`: its digest, then 16 zero bytes.
///
/// # Errors
///
/// `policy.binding_mismatch` with both values.
pub(crate) fn check_report_data(
    found: &[u8; 64],
    ctx: &AppraisalContext,
) -> Result<(), AttestationError> {
    let expected = ctx.binding().report_data();
    if *found != expected {
        return Err(PolicyError::BindingMismatch {
            expected: hex::encode(expected),
            found: hex::encode(found),
        }
        .into());
    }
    Ok(())
}
