//! One entry point for every platform: evidence bytes in, [`VerifiedEvidence`] out; a
//! [`TrustPolicy`](crate::trust_policy::TrustPolicy) then turns that into [`AppraisedEvidence`].
//!
//! The platform an [`EvidenceVerifier`] is asked to verify selects only the parser and the pinned
//! roots: a Nitro document that chains to the mock root verifies as [`Platform::Mock`], whatever
//! the caller said, and the trust policy appraises the platform that verified, never the one the
//! untrusted side claimed.
//!
//! ```
//! use cloister_attestation::evidence::EvidenceVerifier;
//! use cloister_attestation::{Platform, UnixTime};
//!
//! let verifier = EvidenceVerifier::new();
//! let err = verifier
//!     .verify(Platform::Tdx, b"not a quote", &[] as &[&[u8]], UnixTime::from_secs(1_750_000_000))
//!     .unwrap_err();
//! assert!(err.code().starts_with("tdx."));
//! ```

use crate::binding::KeyBinding;
use crate::error::EvidenceError;
use crate::nitro::{
    AppraisedNitroDocument, NitroVerifier, TrustAnchor, UnverifiedNitroDocument,
    VerifiedNitroDocument,
};
use crate::snp::{AppraisedSnpReport, SnpCrl, SnpReport, SnpVerifier, VerifiedSnpReport};
use crate::tdx::{AppraisedTdxQuote, TdxCollateral, TdxQuote, TdxVerifier, VerifiedTdxQuote};
use crate::{AttestationError, Claims, Platform, UnixTime};

/// Length of an evidence digest (SHA-384).
pub const EVIDENCE_DIGEST_LEN: usize = 48;

/// Verifies evidence of any supported platform against pinned roots.
#[derive(Clone, Debug)]
pub struct EvidenceVerifier {
    nitro: NitroVerifier,
    snp: SnpVerifier,
    tdx: TdxVerifier,
}

impl Default for EvidenceVerifier {
    fn default() -> Self {
        Self::new()
    }
}

impl EvidenceVerifier {
    /// Trusts the AWS Nitro Enclaves Root G1, the pinned AMD ARKs and the Intel SGX Root CA.
    pub fn new() -> Self {
        Self {
            nitro: NitroVerifier::aws(),
            snp: SnpVerifier::new(),
            tdx: TdxVerifier::new(),
        }
    }

    /// Also pins a mock root: documents chaining to it verify as [`Platform::Mock`], and only a
    /// trust policy with a `mock` entry naming that root accepts them.
    #[must_use]
    pub fn with_mock_root(mut self, anchor: TrustAnchor) -> Self {
        self.nitro = self.nitro.with_mock_root(anchor);
        self
    }

    /// Replaces the Nitro verifier (to share a chain cache, say). Its anchors are the ones used.
    #[must_use]
    pub fn with_nitro_verifier(mut self, nitro: NitroVerifier) -> Self {
        self.nitro = nitro;
        self
    }

    /// Verifies `evidence` as produced by `platform`, with the `collateral` that platform needs,
    /// at `now`:
    ///
    /// - Nitro and mock: none (the document carries its chain). The root it chains to decides
    ///   which of the two it is; a mismatch with `platform` is refused.
    /// - SEV-SNP: the VCEK or VLEK (DER or PEM), then optionally AMD's CRL for the product
    ///   (DER or PEM), which is then checked and recorded ([`VerifiedSnpReport::crl_checked`]).
    /// - TDX: optionally Intel's collateral (QuoteCollateralV3 JSON); without it the TCB status
    ///   is unknown and the policy decides.
    ///
    /// # Errors
    ///
    /// The platform verifier's error, `evidence.collateral_missing` for SEV-SNP without a VEK,
    /// `evidence.collateral_unexpected` for collateral a platform does not take, or
    /// `evidence.platform_mismatch`.
    pub fn verify<C: AsRef<[u8]>>(
        &self,
        platform: Platform,
        evidence: &[u8],
        collateral: &[C],
        now: UnixTime,
    ) -> Result<VerifiedEvidence, AttestationError> {
        match platform {
            Platform::Nitro | Platform::Mock => {
                expect_at_most(platform, collateral, 0)?;
                let doc = self.nitro.verify(evidence, now)?;
                if doc.platform() != platform {
                    return Err(EvidenceError::PlatformMismatch {
                        claimed: platform,
                        verified: doc.platform(),
                    }
                    .into());
                }
                Ok(VerifiedEvidence::Nitro(Box::new(doc)))
            }
            Platform::SevSnp => {
                expect_at_most(platform, collateral, 2)?;
                let vek = collateral.first().ok_or(EvidenceError::CollateralMissing {
                    platform,
                    what: "the VCEK or VLEK certificate",
                })?;
                let report = match collateral.get(1) {
                    None => self.snp.verify(evidence, vek.as_ref(), now)?,
                    Some(crl) => self
                        .snp
                        .clone()
                        .with_crl(SnpCrl::from_pem_or_der(crl.as_ref())?)
                        .verify(evidence, vek.as_ref(), now)?,
                };
                Ok(VerifiedEvidence::Snp(Box::new(report)))
            }
            Platform::Tdx => {
                expect_at_most(platform, collateral, 1)?;
                let collateral = collateral
                    .first()
                    .map(|c| TdxCollateral::from_json(c.as_ref()))
                    .transpose()?;
                let quote = self.tdx.verify(evidence, collateral.as_ref(), now)?;
                Ok(VerifiedEvidence::Tdx(Box::new(quote)))
            }
        }
    }
}

fn expect_at_most<C>(
    platform: Platform,
    collateral: &[C],
    max: usize,
) -> Result<(), AttestationError> {
    if collateral.len() > max {
        return Err(EvidenceError::CollateralUnexpected {
            platform,
            count: collateral.len(),
            max,
        }
        .into());
    }
    Ok(())
}

/// The evidence digest of `evidence` from `platform`, without verifying it: for the enclave,
/// which names the evidence it issued, and for anyone who must match a digest to bytes. Equal to
/// [`VerifiedEvidence::evidence_digest`] of the same evidence once verified.
///
/// ```
/// use cloister_attestation::evidence::evidence_digest;
/// use cloister_attestation::Platform;
/// assert!(evidence_digest(Platform::SevSnp, &[0; 10]).is_err());
/// ```
///
/// # Errors
///
/// The platform parser's error for evidence that does not parse.
pub fn evidence_digest(
    platform: Platform,
    evidence: &[u8],
) -> Result<[u8; EVIDENCE_DIGEST_LEN], AttestationError> {
    Ok(match platform {
        Platform::Nitro | Platform::Mock => {
            UnverifiedNitroDocument::parse(evidence)?.evidence_digest()
        }
        Platform::SevSnp => SnpReport::parse(evidence)?.evidence_digest(),
        Platform::Tdx => TdxQuote::parse(evidence)?.evidence_digest(),
    })
}

/// Evidence whose signature and chain to a pinned root were checked, of any platform.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VerifiedEvidence {
    /// An AWS Nitro or mock attestation document.
    Nitro(Box<VerifiedNitroDocument>),
    /// An AMD SEV-SNP report.
    Snp(Box<VerifiedSnpReport>),
    /// An Intel TDX quote.
    Tdx(Box<VerifiedTdxQuote>),
}

impl VerifiedEvidence {
    /// The platform whose root the evidence chains to.
    pub fn platform(&self) -> Platform {
        match self {
            Self::Nitro(d) => d.platform(),
            Self::Snp(_) => Platform::SevSnp,
            Self::Tdx(_) => Platform::Tdx,
        }
    }

    /// The normalized claims.
    pub fn claims(&self) -> Claims {
        match self {
            Self::Nitro(d) => Claims::of_nitro(d),
            Self::Snp(r) => Claims::of_snp(r),
            Self::Tdx(q) => Claims::of_tdx(q),
        }
    }

    /// SHA-384 over the signed extent of the evidence only (Nitro: the COSE_Sign1's protected
    /// header, payload and signature; SEV-SNP: the 1184-byte report; TDX: header through
    /// signature data), so re-encoding or padding by the host changes no digest that a result
    /// or a key release names.
    pub fn evidence_digest(&self) -> [u8; EVIDENCE_DIGEST_LEN] {
        match self {
            Self::Nitro(d) => d.evidence_digest(),
            Self::Snp(r) => r.evidence_digest(),
            Self::Tdx(q) => q.evidence_digest(),
        }
    }
}

/// Evidence that verified and satisfied a trust policy, with the key binding that was checked.
/// Only [`TrustPolicy::appraise`](crate::trust_policy::TrustPolicy::appraise) (through the
/// platform policies) builds one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AppraisedEvidence {
    /// An AWS Nitro (or mock) attestation document.
    Nitro(Box<AppraisedNitroDocument>),
    /// An AMD SEV-SNP report.
    Snp(Box<AppraisedSnpReport>),
    /// An Intel TDX quote.
    Tdx(Box<AppraisedTdxQuote>),
}

impl AppraisedEvidence {
    /// The normalized claims.
    pub fn claims(&self) -> Claims {
        match self {
            Self::Nitro(d) => Claims::of_nitro(d.verified()),
            Self::Snp(r) => Claims::of_snp(r.verified()),
            Self::Tdx(q) => Claims::of_tdx(q.verified()),
        }
    }

    /// The platform that verified.
    pub fn platform(&self) -> Platform {
        match self {
            Self::Nitro(d) => d.verified().platform(),
            Self::Snp(_) => Platform::SevSnp,
            Self::Tdx(_) => Platform::Tdx,
        }
    }

    /// The key binding that was checked: the keys and nonce this evidence vouches for.
    pub fn binding(&self) -> &KeyBinding {
        match self {
            Self::Nitro(d) => d.binding(),
            Self::Snp(r) => r.binding(),
            Self::Tdx(q) => q.binding(),
        }
    }

    /// The evidence digest (see [`VerifiedEvidence::evidence_digest`]).
    pub fn evidence_digest(&self) -> [u8; EVIDENCE_DIGEST_LEN] {
        match self {
            Self::Nitro(d) => d.verified().evidence_digest(),
            Self::Snp(r) => r.verified().evidence_digest(),
            Self::Tdx(q) => q.verified().evidence_digest(),
        }
    }
}
