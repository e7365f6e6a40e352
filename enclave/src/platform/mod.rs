//! Where evidence comes from: one trait, one implementation per platform.
//!
//! The runtime hands a backend the 48-byte key binding and the caller's nonce; the backend
//! returns raw evidence that carries both (Nitro: `user_data` and `nonce`; SEV-SNP: `REPORT_DATA`;
//! TDX: `REPORTDATA`). Backends: [`mock`], [`nitro`] (the NSM at `/dev/nsm`), [`snp`] (SEV-SNP
//! through configfs-tsm, [`tsm`], with `/dev/sev-guest` as a fallback) and [`tdx`] (Intel TDX DCAP
//! quotes through [`tsm`]; the host adds the DCAP collateral to the bundle).

pub mod mock;
pub mod nitro;
pub mod snp;
pub mod tdx;
pub mod tsm;

use cloister_proto::EvidencePlatform;
use thiserror::Error;

/// Raw evidence and what the verifier needs with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformEvidence {
    /// The platform's document, report or quote.
    pub evidence: Vec<u8>,
    /// Certificates or collateral (empty when the evidence carries its own chain).
    pub collateral: Vec<Vec<u8>>,
}

/// A backend failed to produce evidence.
#[derive(Debug, Error)]
pub enum PlatformError {
    /// Setting the backend up failed (files missing, device absent).
    #[error("attestation backend setup failed: {0}")]
    Setup(String),
    /// The backend refused or failed to attest.
    #[error("attestation failed: {0}")]
    Attest(String),
}

impl PlatformError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Setup(_) => "platform.setup",
            Self::Attest(_) => "platform.attest",
        }
    }
}

/// A source of attestation evidence.
pub trait AttestationPlatform: Send + Sync {
    /// Which platform the evidence is from.
    fn kind(&self) -> EvidencePlatform;

    /// Produces evidence binding `binding` (the key binding digest) and `nonce`.
    ///
    /// # Errors
    /// [`PlatformError::Attest`] when the backend fails.
    fn attest(&self, binding: &[u8; 48], nonce: &[u8]) -> Result<PlatformEvidence, PlatformError>;
}
