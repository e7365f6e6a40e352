//! The verifier: quote bytes (and optionally collateral) in, [`VerifiedTdxQuote`] out.
//!
//! Order of checks: parse → PCK chain (PCK ← PCK CA ← pinned Intel SGX Root CA) at `now` → QE
//! report signature by the PCK → QE binding `SHA-256(attestation key ‖ QE auth data)` → quote
//! signature by the attestation key → the PCK's SGX extension. With collateral: root CRL, TCB
//! Info and QE Identity chains and signatures, PCK CRL and its issuer, every validity window,
//! then the TCB evaluation ([`tcb`](super::tcb)). Without collateral the TCB status is unknown.

use crate::error::{CertCheck, CertError, TdxError};
use aws_lc_rs::signature::{self, UnparsedPublicKey};

use super::collateral::TdxCollateral;
use super::pki::{self, ChainShape, IntelCert, PckIdentity, TdxCert};
use super::quote::{TdReport, TdxQuote, td_attributes};
use super::tcb::{self, TcbEvaluation};
use crate::{AttestationError, UnixTime};

/// Verifies TDX quotes against the pinned Intel SGX Root CA.
///
/// ```
/// use cloister_attestation::tdx::TdxVerifier;
/// use cloister_attestation::UnixTime;
/// let err = TdxVerifier::new()
///     .verify(&[0u8; 64], None, UnixTime::from_secs(1_750_000_000))
///     .unwrap_err();
/// assert_eq!(err.code(), "tdx.quote.unsupported_version");
/// ```
#[derive(Clone, Debug)]
pub struct TdxVerifier {
    /// The anchor; an `Err` only if the embedded root failed to parse, which
    /// `pki::tests::pinned_root_is_intels` rules out; verification then fails, never panics.
    root: Result<IntelCert, String>,
}

impl Default for TdxVerifier {
    fn default() -> Self {
        Self::new()
    }
}

impl TdxVerifier {
    /// A verifier anchored in the pinned Intel SGX Root CA.
    pub fn new() -> Self {
        Self {
            root: pki::pinned_root().map_err(|e| e.to_string()),
        }
    }

    /// A verifier anchored in another root (DER), such as the test PKI of Intel's QVL sample
    /// data. Production verifiers never need this.
    ///
    /// # Errors
    ///
    /// `tdx.cert.malformed` when `der` is not a certificate.
    pub fn dangerous_with_root(der: &[u8]) -> Result<Self, AttestationError> {
        Ok(Self {
            root: Ok(IntelCert::intel(der.to_vec(), TdxCert::Root)?),
        })
    }

    /// Parses and verifies `quote` at `now`, with `collateral` when given.
    ///
    /// # Errors
    ///
    /// `tdx.quote.*`, `tdx.cert.*`, `tdx.chain.*`, `tdx.qe_report.*`, `tdx.collateral.*`,
    /// `tdx.crl.*`, `tdx.qe_identity.*` or `tdx.tcb.*`, naming the failed check.
    pub fn verify(
        &self,
        quote: &[u8],
        collateral: Option<&TdxCollateral>,
        now: UnixTime,
    ) -> Result<VerifiedTdxQuote, AttestationError> {
        self.verify_parsed(TdxQuote::parse(quote)?, collateral, now)
    }

    /// Verifies an already parsed quote.
    ///
    /// # Errors
    ///
    /// As [`TdxVerifier::verify`].
    pub fn verify_parsed(
        &self,
        quote: TdxQuote,
        collateral: Option<&TdxCollateral>,
        now: UnixTime,
    ) -> Result<VerifiedTdxQuote, AttestationError> {
        let root = self.root.as_ref().map_err(|reason| {
            CertError::new(
                TdxCert::Root,
                CertCheck::Malformed {
                    reason: reason.clone(),
                },
            )
        })?;
        let chain = pki::read_quote_chain(quote.pck_chain_pem())?;
        let pck_chain =
            pki::verify_chain(&chain, root, TdxCert::Pck, ChainShape::LeafUnderCa, now)?;
        let pck_key = pki::p256_point(&pck_chain.leaf, TdxCert::Pck)?;
        UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, pck_key)
            .verify(quote.qe_report_bytes(), quote.qe_report_signature())
            .map_err(|_| TdxError::BadQeReportSignature)?;

        let mut bound =
            pki::sha256(&[&quote.attestation_key()[..], quote.qe_auth_data()].concat()).to_vec();
        bound.resize(64, 0);
        if quote.qe_report().report_data()[..] != bound[..] {
            return Err(TdxError::QeBindingMismatch {
                expected: hex::encode(&bound),
                found: hex::encode(quote.qe_report().report_data()),
            }
            .into());
        }

        let mut att_key = [0u8; 65];
        att_key[0] = 0x04;
        att_key[1..].copy_from_slice(quote.attestation_key());
        UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, &att_key[..])
            .verify(quote.signed_bytes(), quote.signature())
            .map_err(|_| TdxError::BadQuoteSignature)?;

        let pck = pki::pck_identity(&pck_chain.leaf)?;

        let tcb =
            match collateral {
                None => None,
                Some(c) => {
                    let verified = c.verify(root, now)?;
                    let pck_ca = pck_chain.intermediate.as_ref().ok_or_else(|| {
                        TdxError::ChainIncomplete {
                            missing: "the PCK CA".to_owned(),
                        }
                    })?;
                    // The PCK CRL must be the one of the CA that issued this PCK.
                    let issuer: &IntelCert = &verified.pck_crl_issuer;
                    if issuer.cert.tbs_certificate().subject()
                        != pck_ca.cert.tbs_certificate().subject()
                        || pki::p256_point(issuer, TdxCert::PckCa)?
                            != pki::p256_point(pck_ca, TdxCert::PckCa)?
                    {
                        return Err(TdxError::CollateralMismatch {
                            field: "PCK CRL issuer",
                            quote: pck_ca.subject_cn(),
                            collateral: issuer.subject_cn(),
                        }
                        .into());
                    }
                    let c = verified.collateral;
                    c.root_ca_crl.check_not_revoked(pck_ca, TdxCert::PckCa)?;
                    c.pck_crl.check_not_revoked(&pck_chain.leaf, TdxCert::Pck)?;
                    Some(tcb::evaluate(
                        quote.report(),
                        quote.qe_report(),
                        &pck,
                        &c.tcb_info,
                        &c.qe_identity,
                    )?)
                }
            };
        Ok(VerifiedTdxQuote {
            quote,
            pck,
            tcb,
            root_sha256: pki::sha256(&root.der),
        })
    }
}

/// A quote whose signatures, QE binding and PCK chain (and, with collateral, TCB status) were
/// verified. Only [`TdxVerifier`] builds one.
///
/// It holds only signed bytes: the [`TdxQuote`] it carries was parsed from the very bytes whose
/// signatures were checked, and neither the quote nor its [`TdReport`] and
/// [`QeReport`](super::QeReport) has a public field. Reading a verified quote's MRTD, or
/// re-verifying a copy of its quote, compiles:
///
/// ```
/// use cloister_attestation::tdx::{TdxVerifier, VerifiedTdxQuote};
/// use cloister_attestation::UnixTime;
///
/// fn reverify(verified: &VerifiedTdxQuote, now: UnixTime) -> VerifiedTdxQuote {
///     let quote = verified.quote().clone();
///     let _mr_td: [u8; 48] = *quote.report().mr_td();
///     TdxVerifier::new().verify_parsed(quote, None, now).expect("still verifies")
/// }
/// ```
///
/// Editing the copy's MRTD before verifying it again does not: the fields are private.
///
/// ```compile_fail,E0616
/// use cloister_attestation::tdx::{TdxVerifier, VerifiedTdxQuote};
/// use cloister_attestation::UnixTime;
///
/// fn reverify(verified: &VerifiedTdxQuote, now: UnixTime) -> VerifiedTdxQuote {
///     let mut quote = verified.quote().clone();
///     quote.report.mr_td = [0; 48];
///     TdxVerifier::new().verify_parsed(quote, None, now).expect("still verifies")
/// }
/// ```
///
/// Nor does editing a copy of the TD report:
///
/// ```compile_fail,E0616
/// use cloister_attestation::tdx::VerifiedTdxQuote;
///
/// fn edit(verified: &VerifiedTdxQuote) {
///     let mut report = verified.report().clone();
///     report.mr_td = [0; 48];
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedTdxQuote {
    pub(super) quote: TdxQuote,
    pub(super) pck: PckIdentity,
    pub(super) tcb: Option<TcbEvaluation>,
    pub(super) root_sha256: [u8; 32],
}

impl VerifiedTdxQuote {
    /// The evidence digest: SHA-384 of the quote from header through signature data (see
    /// [`TdxQuote::evidence_digest`]).
    pub fn evidence_digest(&self) -> [u8; 48] {
        self.quote.evidence_digest()
    }

    /// The quote.
    pub fn quote(&self) -> &TdxQuote {
        &self.quote
    }

    /// The TD report body.
    pub fn report(&self) -> &TdReport {
        self.quote.report()
    }

    /// What the verified PCK certificate says about the platform.
    pub fn pck_identity(&self) -> &PckIdentity {
        &self.pck
    }

    /// The TCB evaluation; `None` when verified without collateral (status unknown).
    pub fn tcb(&self) -> Option<&TcbEvaluation> {
        self.tcb.as_ref()
    }

    /// TD_ATTRIBUTES.DEBUG is set.
    pub fn is_debug(&self) -> bool {
        self.quote.report().td_attributes() & td_attributes::DEBUG != 0
    }

    /// SHA-256 of the root the PCK chain ends in.
    pub fn root_sha256(&self) -> [u8; 32] {
        self.root_sha256
    }
}

impl TdxQuote {
    /// The platform identity (FMSPC, PCK CA) from the quote's PCK certificate, *unverified*:
    /// for choosing which collateral to fetch, never for a decision. Verification reads it again
    /// from the verified certificate.
    ///
    /// # Errors
    ///
    /// `tdx.cert.*` when the PCK certificate is missing or malformed.
    pub fn pck_identity(&self) -> Result<PckIdentity, AttestationError> {
        let chain = pki::read_chain(self.pck_chain_pem(), &[TdxCert::Pck])?;
        let leaf = chain.first().ok_or_else(|| TdxError::ChainIncomplete {
            missing: "the PCK certificate".to_owned(),
        })?;
        pki::pck_identity(leaf)
    }
}
