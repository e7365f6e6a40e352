//! The X.509 errors all three chains share: which certificate ([`CertRole`]) failed which check
//! ([`CertCheck`]), with the values compared. The checks themselves are written once, in
//! `crate::x509`.
//!
//! Codes: the check is one, its code names the chain. Nitro, SEV-SNP and TDX published their
//! certificate codes under `nitro.chain.*`, `snp.cert.*` and `tdx.cert.*` before the checks were
//! shared, and scripts and the CLI's JSON match them, so [`CertError::code`] keeps them: it takes
//! the chain from the role and the check's code for that chain from one table
//! ([`CertCheck::CATALOG`]), e.g. an expired certificate is `nitro.chain.expired`,
//! `snp.cert.expired` or `tdx.cert.expired`. A check whose codes disagreed between the chains was
//! wrong and has one code: an unknown critical extension is `cert.unknown_critical_extension` on
//! every chain.

use std::fmt;

use const_oid::ObjectIdentifier;

use super::CodeDoc;
use crate::snp::SnpCert;
use crate::tdx::TdxCert;

/// A check's codes on the Nitro, SEV-SNP and TDX chains, in that order.
pub type ChainCodes = [&'static str; 3];

/// Where a certificate sits in a Nitro chain, as named in errors.
///
/// The chain runs `cabundle[0]` (the root) → `cabundle[1]` → … → `cabundle[n-1]` → leaf
/// (`certificate`), exactly as the attestation document lists it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChainPosition {
    /// `cabundle[i]`; index 0 is the root.
    CaBundle(usize),
    /// The document's `certificate` field: the per-enclave signing certificate.
    Leaf,
}

impl fmt::Display for ChainPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::CaBundle(0) => f.write_str("cabundle[0] (root)"),
            Self::CaBundle(i) => write!(f, "cabundle[{i}]"),
            Self::Leaf => f.write_str("leaf certificate"),
        }
    }
}

/// Which certificate in which chain an error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CertRole {
    /// A certificate of a Nitro attestation document.
    Nitro(ChainPosition),
    /// A certificate of the AMD chain (ARK, ASK/ASVK, VCEK/VLEK).
    Snp(SnpCert),
    /// A certificate of an Intel DCAP chain (PCK, PCK CA, TCB Signing, root).
    Tdx(TdxCert),
}

impl CertRole {
    /// Index of the chain in [`ChainCodes`].
    fn chain(self) -> usize {
        match self {
            Self::Nitro(_) => 0,
            Self::Snp(_) => 1,
            Self::Tdx(_) => 2,
        }
    }
}

impl fmt::Display for CertRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Nitro(p) => p.fmt(f),
            Self::Snp(c) => c.fmt(f),
            Self::Tdx(c) => c.fmt(f),
        }
    }
}

/// A certificate failed one of the shared X.509 checks.
#[derive(Debug, thiserror::Error)]
#[error("{role}: {check}")]
#[non_exhaustive]
pub struct CertError {
    /// Which certificate in which chain.
    pub role: CertRole,
    /// Which check failed, with the values compared.
    pub check: CertCheck,
}

impl CertError {
    /// `check` failed on the certificate in `role`.
    pub(crate) fn new(role: impl Into<CertRole>, check: CertCheck) -> Self {
        Self {
            role: role.into(),
            check,
        }
    }

    /// The check's code on this certificate's chain.
    pub fn code(&self) -> &'static str {
        self.check.code()[self.role.chain()]
    }

    /// What to do about it.
    pub fn hint(&self) -> &'static str {
        self.check.hint()
    }

    /// One row per distinct code: every check on every chain.
    pub(crate) fn catalog() -> Vec<CodeDoc> {
        let mut rows: Vec<CodeDoc> = Vec::new();
        for row in CertCheck::CATALOG {
            for (i, code) in row.code.iter().enumerate() {
                // A check with one code on every chain is listed once.
                if row.code[..i].contains(code) {
                    continue;
                }
                rows.push(CodeDoc {
                    code,
                    hint: row.hint,
                    meaning: row.meaning,
                });
            }
        }
        rows
    }
}

impl From<ChainPosition> for CertRole {
    fn from(p: ChainPosition) -> Self {
        Self::Nitro(p)
    }
}

impl From<SnpCert> for CertRole {
    fn from(c: SnpCert) -> Self {
        Self::Snp(c)
    }
}

impl From<TdxCert> for CertRole {
    fn from(c: TdxCert) -> Self {
        Self::Tdx(c)
    }
}

/// Why a CRL is not current at the verification time (epoch seconds).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CrlWindow {
    /// thisUpdate is after the verification time.
    #[error("thisUpdate {this_update} is after now {now}")]
    NotYetIssued {
        /// The CRL's thisUpdate.
        this_update: u64,
        /// The verification time.
        now: u64,
    },
    /// nextUpdate is before the verification time.
    #[error("nextUpdate {next_update} is before now {now}; fetch a current CRL")]
    Expired {
        /// The CRL's nextUpdate.
        next_update: u64,
        /// The verification time.
        now: u64,
    },
}

const FORMAT: &str = "the certificate is not one its vendor issues (AWS Nitro NSM, AMD KDS, Intel PCS): pass the certificates exactly as the platform or the vendor serves them (for SEV-SNP the VCEK/VLEK and, with --chain, the ASK/ASVK and ARK), or request fresh evidence";
const TIME: &str = "verify at a time inside every certificate's validity (Nitro certificates live about 3 hours, VCEKs 7 years, VLEKs about 1): request fresh evidence or current certificates, check this machine's clock, or verify stored evidence at the time it was produced (--at)";
const FORGED: &str =
    "the certificate chain is forged, reordered or mixed up; do not trust this evidence";

error_enum! {
    /// Which X.509 check failed, with the values compared.
    pub enum CertCheck per chain {
        /// The certificate does not parse as DER X.509, or its parts contradict each other.
        #[error("is not a valid DER X.509 certificate: {reason}")]
        Malformed {
            /// What the parser found.
            reason: String,
        } => ["nitro.chain.malformed_certificate", "snp.cert.malformed", "tdx.cert.malformed"], FORMAT;
        /// The certificate's notAfter is before the verification time.
        #[error("expired: notAfter {not_after} < now {now} (epoch seconds)")]
        Expired {
            /// Its notAfter, epoch seconds.
            not_after: u64,
            /// The verification time, epoch seconds.
            now: u64,
        } => ["nitro.chain.expired", "snp.cert.expired", "tdx.cert.expired"], TIME;
        /// The certificate's notBefore is after the verification time.
        #[error("is not yet valid: notBefore {not_before} > now {now} (epoch seconds)")]
        NotYetValid {
            /// Its notBefore, epoch seconds.
            not_before: u64,
            /// The verification time, epoch seconds.
            now: u64,
        } => ["nitro.chain.not_yet_valid", "snp.cert.not_yet_valid", "tdx.cert.not_yet_valid"], TIME;
        /// The certificate's signature does not verify with its issuer's key.
        #[error("signature does not verify with the issuer's key")]
        BadSignature => ["nitro.chain.bad_signature", "snp.cert.bad_signature", "tdx.cert.bad_signature"], FORGED;
        /// The certificate's issuer name differs from the subject name of the certificate above.
        #[error("issuer `{issuer}` differs from the parent's subject `{parent_subject}`")]
        IssuerMismatch {
            /// Its issuer name.
            issuer: String,
            /// The subject of the certificate above it.
            parent_subject: String,
        } => ["nitro.chain.issuer_mismatch", "snp.cert.issuer_mismatch", "tdx.cert.issuer_mismatch"], FORGED;
        /// The certificate's name is not the one its role requires.
        #[error("expected {expected}, found {found:?}")]
        Name {
            /// What the role requires.
            expected: String,
            /// What the certificate says.
            found: String,
        } => ["nitro.chain.name", "snp.cert.name", "tdx.cert.name"], FORMAT;
        /// A certificate that issues others is not marked as a CA.
        #[error("issues certificates but lacks basicConstraints CA=true")]
        NotCa => ["nitro.chain.not_ca", "snp.cert.not_ca", "tdx.cert.not_ca"], FORGED;
        /// The end-entity certificate is marked as a CA.
        #[error("is an end-entity certificate with basicConstraints CA=true")]
        LeafIsCa => ["nitro.chain.leaf_is_ca", "snp.cert.leaf_is_ca", "tdx.cert.leaf_is_ca"], FORGED;
        /// A CA's pathLenConstraint is smaller than the number of CAs below it.
        #[error("allows {path_len} intermediate CA(s) below it, the chain has {below}")]
        PathLenExceeded {
            /// Its pathLenConstraint.
            path_len: u8,
            /// Intermediate CAs below it in this chain.
            below: usize,
        } => ["nitro.chain.path_len_exceeded", "snp.cert.path_len_exceeded", "tdx.cert.path_len_exceeded"], FORGED;
        /// The certificate's keyUsage lacks the bit its role needs.
        #[error("keyUsage lacks {missing}")]
        KeyUsage {
            /// The missing usage.
            missing: &'static str,
        } => ["nitro.chain.key_usage", "snp.cert.key_usage", "tdx.cert.key_usage"], FORGED;
        /// A signature or key algorithm the chain does not use.
        #[error("unsupported algorithm: {algorithm}")]
        UnsupportedAlgorithm {
            /// The algorithm found (OID or description) and what the chain uses.
            algorithm: String,
        } => ["nitro.chain.unsupported_algorithm", "snp.cert.unsupported_algorithm", "tdx.cert.unsupported_algorithm"], FORMAT;
        /// A critical extension this verifier does not process (RFC 5280 §4.2: must reject).
        #[error("unsupported critical extension {oid}")]
        UnknownCriticalExtension {
            /// The extension's OID.
            oid: ObjectIdentifier,
        } => ["cert.unknown_critical_extension"; 3], FORMAT;
    }
}
