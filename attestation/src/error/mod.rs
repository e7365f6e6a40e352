//! The crate's error type: one enum per layer, nested in [`AttestationError`].
//!
//! - [`NitroError`] (`nitro.*`): the Nitro document's envelope, payload, root pin.
//! - [`SnpError`] (`snp.*`, `policy.snp.*`): the SEV-SNP report, AMD extensions, CRL, policy.
//! - [`TdxError`] (`tdx.*`, `policy.tdx.*`): the TDX quote, Intel PKI pins, collateral, TCB,
//!   policy.
//! - [`CertError`] (`nitro.chain.*`, `snp.cert.*`, `tdx.cert.*`): the X.509 checks all three
//!   chains share ([`crate::x509`]); the certificate's role names the chain and so the code.
//! - [`PolicyError`] (`policy.*`): the trust policy, binding, freshness, pinned models.
//! - [`EvidenceError`] (`evidence.*`): a bundle that contradicts itself.
//! - [`MockError`] (`mock.*`): the mock platform's files and keys.
//! - [`AttestationError::ApiMisuse`] (`api.misuse`): the caller's bug, not bad evidence.
//!
//! Every variant names the check that failed and carries the values that were compared (never a
//! secret: measurements, nonces and binding digests are public by design; private keys never
//! appear). [`AttestationError::code`] gives a stable dotted code for logs, metrics and the CLI's
//! JSON output; [`AttestationError::hint`] says what to do about it. Each layer declares its
//! variants, codes and hints in one place ([`error_enum!`]), which also lists them
//! ([`AttestationError::catalog`]) for the tests and for `docs/errors.md`, which is generated:
//! `CLOISTER_UPDATE_DOCS=1 cargo test -p cloister-attestation errors_doc`.
//!
//! Bad input (a malformed, forged, expired or refused document) is kept apart from API misuse (a
//! caller passing arguments that can never be valid, such as a PCR index of 40):
//! [`AttestationError::is_api_misuse`] tells them apart.

/// Declares an error enum whose variants each carry a stable code and a hint.
///
/// Generates the enum (with `thiserror`), `code()`, `hint()` and `CATALOG`, the list of every
/// variant's code, hint and doc comment in declaration order, so that no variant can be missing
/// from the tests or the reference page. `pub enum X per chain` declares [`CertCheck`], whose
/// code is one per chain ([`ChainCodes`]).
macro_rules! error_enum {
    (@impl [$($edoc:literal)*] $name:ident ($codety:ty) {
        $(
            $(#[doc = $doc:literal])*
            #[error($($msg:tt)+)]
            $variant:ident $({ $($fields:tt)* })? => $code:expr, $hint:expr;
        )+
    }) => {
        $(#[doc = $edoc])*
        #[derive(Debug, thiserror::Error)]
        #[non_exhaustive]
        pub enum $name {
            $(
                $(#[doc = $doc])*
                #[error($($msg)+)]
                $variant $({ $($fields)* })?,
            )+
        }

        impl $name {
            /// Every variant's code, hint and meaning, in declaration order.
            pub const CATALOG: &'static [$crate::error::CodeDoc<$codety>] = &[$(
                $crate::error::CodeDoc {
                    code: $code,
                    hint: $hint,
                    meaning: concat!($($doc),*),
                },
            )+];

            /// The stable dotted code of the failed check.
            pub fn code(&self) -> $codety {
                match self {
                    $(Self::$variant { .. } => $code,)+
                }
            }

            /// What an operator or developer should do about this error.
            pub fn hint(&self) -> &'static str {
                match self {
                    $(Self::$variant { .. } => $hint,)+
                }
            }
        }
    };
    ($(#[doc = $edoc:literal])* pub enum $name:ident per chain { $($body:tt)+ }) => {
        error_enum!(@impl [$($edoc)*] $name ($crate::error::ChainCodes) { $($body)+ });
    };
    ($(#[doc = $edoc:literal])* pub enum $name:ident { $($body:tt)+ }) => {
        error_enum!(@impl [$($edoc)*] $name (&'static str) { $($body)+ });
    };
}

mod cert;
mod evidence;
mod mock;
mod nitro;
mod policy;
mod snp;
mod tdx;

pub use cert::{CertCheck, CertError, CertRole, ChainCodes, ChainPosition, CrlWindow};
pub use evidence::EvidenceError;
pub use mock::MockError;
pub use nitro::NitroError;
pub use policy::PolicyError;
pub(crate) use policy::policy_from_json;
pub use snp::SnpError;
pub use tdx::TdxError;

/// One row of the error reference: a code, what it means and what to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CodeDoc<C = &'static str> {
    /// The stable dotted code (for [`CertCheck`], one per chain).
    pub code: C,
    /// What to do about it ([`AttestationError::hint`]).
    pub hint: &'static str,
    /// What it means: the variant's doc comment.
    pub meaning: &'static str,
}

/// Why evidence was not accepted, or why an operation on it failed.
///
/// Codes are stable: add variants, never rename a code.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AttestationError {
    /// The Nitro attestation document (envelope, payload, root pin).
    #[error(transparent)]
    Nitro(#[from] NitroError),
    /// The SEV-SNP report, its AMD chain's pins and CRL, or the SEV-SNP policy.
    #[error(transparent)]
    Snp(#[from] SnpError),
    /// The TDX quote, the Intel PKI's pins, collateral, TCB, or the TDX policy.
    #[error(transparent)]
    Tdx(#[from] TdxError),
    /// An X.509 check of a certificate in any of the three chains.
    #[error(transparent)]
    Cert(#[from] CertError),
    /// The appraisal policy refused the evidence, or a policy is invalid.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// The evidence bundle contradicts itself.
    #[error(transparent)]
    Evidence(#[from] EvidenceError),
    /// The mock platform's files or keys.
    #[error(transparent)]
    Mock(#[from] MockError),
    /// The caller passed an argument that can never be valid (a bug in the caller, not bad
    /// evidence).
    #[error("API misuse: {what}")]
    ApiMisuse {
        /// What was wrong with the call.
        what: String,
    },
}

/// The code, hint and meaning of [`AttestationError::ApiMisuse`].
const API_MISUSE: CodeDoc = CodeDoc {
    code: "api.misuse",
    hint: "this is a bug in the calling code; fix the call",
    meaning: " The caller passed an argument that can never be valid (a bug in the caller, not bad evidence).",
};

impl AttestationError {
    /// A stable dotted code naming the failed check, for logs, metrics and JSON output.
    ///
    /// ```
    /// use cloister_attestation::{AttestationError, NitroError};
    /// let e = AttestationError::from(NitroError::CoseBadSignature);
    /// assert_eq!(e.code(), "nitro.cose.bad_signature");
    /// ```
    pub fn code(&self) -> &'static str {
        match self {
            Self::Nitro(e) => e.code(),
            Self::Snp(e) => e.code(),
            Self::Tdx(e) => e.code(),
            Self::Cert(e) => e.code(),
            Self::Policy(e) => e.code(),
            Self::Evidence(e) => e.code(),
            Self::Mock(e) => e.code(),
            Self::ApiMisuse { .. } => API_MISUSE.code,
        }
    }

    /// What an operator or developer should do about this error.
    pub fn hint(&self) -> &'static str {
        match self {
            Self::Nitro(e) => e.hint(),
            Self::Snp(e) => e.hint(),
            Self::Tdx(e) => e.hint(),
            Self::Cert(e) => e.hint(),
            Self::Policy(e) => e.hint(),
            Self::Evidence(e) => e.hint(),
            Self::Mock(e) => e.hint(),
            Self::ApiMisuse { .. } => API_MISUSE.hint,
        }
    }

    /// True when the error is the caller's bug rather than bad evidence.
    pub fn is_api_misuse(&self) -> bool {
        matches!(self, Self::ApiMisuse { .. })
    }

    /// Every code this crate can return, with its hint and meaning, grouped by layer.
    pub fn catalog() -> Vec<CodeDoc> {
        let mut rows = Vec::new();
        rows.extend_from_slice(NitroError::CATALOG);
        rows.extend(CertError::catalog());
        rows.extend_from_slice(SnpError::CATALOG);
        rows.extend_from_slice(TdxError::CATALOG);
        rows.extend_from_slice(PolicyError::CATALOG);
        rows.extend_from_slice(EvidenceError::CATALOG);
        rows.extend_from_slice(MockError::CATALOG);
        rows.push(API_MISUSE);
        rows
    }
}

/// Hex of `bytes`, or "absent".
pub(crate) fn hex_or_absent(bytes: Option<&[u8]>) -> String {
    bytes.map_or_else(|| "absent".to_owned(), hex::encode)
}

#[cfg(test)]
mod tests;
