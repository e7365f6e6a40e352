//! Where evidence comes from: one trait, one implementation per platform.
//!
//! The runtime hands a backend the 48-byte key binding and the caller's nonce; the backend
//! returns raw evidence that carries both (Nitro: `user_data` and `nonce`; SEV-SNP: `REPORT_DATA`;
//! TDX: `REPORTDATA`). Backends: [`mock`], [`nitro`] (the NSM at `/dev/nsm`), [`snp`] (SEV-SNP
//! through configfs-tsm, [`tsm`], with `/dev/sev-guest` as a fallback) and [`tdx`] (Intel TDX DCAP
//! quotes through [`tsm`]; the host adds the DCAP collateral to the bundle), and
//! [`nitro_emulated`] (the Nitro backend with its NSM served over vsock by `cloister emulate run`;
//! mock evidence).

pub mod mock;
pub mod nitro;
pub mod nitro_emulated;
pub mod snp;
pub mod tdx;
pub mod tsm;

use std::path::PathBuf;

use aws_nitro_enclaves_nsm_api::api::ErrorCode;
use cloister_attestation::AttestationError;
use cloister_proto::EvidencePlatform;
use thiserror::Error;
use tsm::TsmError;

/// Raw evidence and what the verifier needs with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformEvidence {
    /// The platform's document, report or quote.
    pub evidence: Vec<u8>,
    /// Certificates or collateral (empty when the evidence carries its own chain).
    pub collateral: Vec<Vec<u8>>,
}

/// A backend could not be set up, or failed to produce evidence: one variant, and one stable
/// code, per check. (Attestation errors are boxed: they are large, and this one is returned on
/// every path.) Errors of the attestation crate and of configfs-tsm travel as sources, so
/// their own codes stay readable ([`PlatformError::cause_code`]).
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum PlatformError {
    // ---------------------------------------------------------------------------- setup
    /// The mock CA directory could not be loaded.
    #[error("loading the mock CA [{code}]", code = .0.code())]
    MockCa(#[source] Box<AttestationError>),
    /// The enclave's own executable (measured into the mock PCR0) could not be read.
    #[error("reading the enclave executable {}", path.display())]
    ReadExecutable {
        /// The executable.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The mock NSM could not be booted from the CA.
    #[error("booting the mock NSM [{code}]", code = .0.code())]
    MockBoot(#[source] Box<AttestationError>),
    /// `/dev/nsm` could not be opened: not inside a Nitro enclave.
    #[error(
        "opening /dev/nsm failed: --platform nitro runs only inside an AWS Nitro enclave \
         (use --platform mock elsewhere)"
    )]
    NsmAbsent,
    /// The NSM did not answer the boot-time `GetRandom` health check.
    #[error("NSM health check (GetRandom) failed")]
    NsmHealth(#[source] Box<PlatformError>),
    /// Neither configfs-tsm nor `/dev/sev-guest` is there: not inside an SEV-SNP guest.
    #[error(
        "neither {tsm} (configfs-tsm, Linux 6.7+) nor {device} is there: --platform snp runs \
         only inside an SEV-SNP guest (use --platform mock elsewhere)",
        tsm = tsm::DEFAULT_TSM_REPORT_ROOT,
        device = snp::SEV_GUEST_DEVICE
    )]
    SnpAbsent(#[source] std::io::Error),
    /// The configfs-tsm report root is missing.
    #[error("--platform {platform} needs configfs-tsm (Linux 6.7+) inside {guest}")]
    TsmAbsent {
        /// `snp` or `tdx`.
        platform: &'static str,
        /// What kind of guest is needed.
        guest: &'static str,
        /// configfs-tsm's error.
        #[source]
        source: TsmError,
    },
    /// A file named by a flag could not be read.
    #[error("{flag} {}: cannot be read", path.display())]
    FileRead {
        /// The flag that named it.
        flag: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A file named by a flag is larger than what it can be.
    #[error("{flag} {}: {len} bytes, more than the {limit} it can be", path.display())]
    FileTooLarge {
        /// The flag that named it.
        flag: &'static str,
        /// The file.
        path: PathBuf,
        /// Its length.
        len: u64,
        /// The limit.
        limit: u64,
    },
    /// `--snp-crl` without `--snp-vcek`: a CRL travels after the VCEK.
    #[error("--snp-crl {}: a CRL travels after the VCEK: give --snp-vcek too", path.display())]
    CrlWithoutVcek {
        /// The CRL file.
        path: PathBuf,
    },
    /// The `--snp-crl` file is not a CRL.
    #[error("--snp-crl {}: not an AMD CRL [{code}]", path.display(), code = source.code())]
    NotACrl {
        /// The file.
        path: PathBuf,
        /// The parser's error.
        #[source]
        source: Box<AttestationError>,
    },
    /// The `--snp-vcek` file is neither a DER certificate nor a PEM CERTIFICATE block.
    #[error("--snp-vcek {}: neither a DER certificate nor a PEM CERTIFICATE block", path.display())]
    NotACertificate {
        /// The file.
        path: PathBuf,
    },

    // ---------------------------------------------------------------------------- attest
    /// The mock NSM refused to attest.
    #[error("mock attestation failed [{code}]", code = .0.code())]
    MockAttest(#[source] Box<AttestationError>),
    /// configfs-tsm failed to produce a report or quote.
    #[error("configfs-tsm report failed [{code}]", code = .0.code())]
    Tsm(#[source] TsmError),
    /// `/dev/sev-guest` failed to produce a report.
    #[error("{} SNP_GET_REPORT failed", snp::SEV_GUEST_DEVICE)]
    SevGuest(#[source] sev::error::UserApiError),
    /// The platform answered with bytes that do not parse as its evidence.
    #[error("the {len}-byte answer is not a {kind} [{code}]", code = source.code())]
    Malformed {
        /// What was expected: an SEV-SNP report, a TDX quote, a Nitro document.
        kind: &'static str,
        /// How long the answer was.
        len: usize,
        /// The parser's error.
        #[source]
        source: Box<AttestationError>,
    },
    /// The evidence's report data is not what was asked (the key binding, then zeros).
    #[error(
        "the {field} is {}, expected {} (the key binding then zeros)",
        hex::encode(found),
        hex::encode(expected)
    )]
    ReportDataMismatch {
        /// `REPORT_DATA` or `REPORTDATA`.
        field: &'static str,
        /// What was asked.
        expected: Vec<u8>,
        /// What the evidence carries.
        found: Vec<u8>,
    },
    /// A request field is longer than the NSM accepts.
    #[error("{field} is {len} bytes; the NSM accepts at most {max}")]
    FieldTooLong {
        /// `nonce` or `public_key`.
        field: &'static str,
        /// Its length.
        len: usize,
        /// The NSM's limit.
        max: usize,
    },
    /// The NSM refused a request.
    #[error("NSM refused {request}: {code:?}")]
    NsmRefused {
        /// The request.
        request: &'static str,
        /// The NSM's error code.
        code: ErrorCode,
    },
    /// The NSM answered a request with another kind of response.
    #[error("NSM answered {request} with {variant}")]
    NsmUnexpected {
        /// The request.
        request: &'static str,
        /// The response's variant name (never its contents).
        variant: String,
    },
    /// A PCR index beyond the NSM's 32.
    #[error("PCR index {index} is outside 0..{}", nitro::NUM_PCRS)]
    PcrOutOfRange {
        /// The index asked.
        index: u16,
    },
    /// The NSM described a PCR with a value that is not 48 bytes.
    #[error("NSM DescribePCR {index}: {len} bytes, expected {}", nitro::PCR_LEN)]
    PcrLength {
        /// The PCR.
        index: u16,
        /// The length returned.
        len: usize,
    },
    /// The NSM's `GetRandom` returned no bytes.
    #[error("NSM GetRandom returned no bytes")]
    NoRandom,
    /// The NSM returned a document of a length no document has.
    #[error("NSM returned a {len}-byte document (expected 1..={max})")]
    DocumentLength {
        /// Its length.
        len: usize,
        /// The largest document accepted.
        max: usize,
    },
    /// Evidence with a `public_key` (AWS KMS `Recipient` interop) was asked of a platform whose
    /// evidence has no such field.
    #[error(
        "{platform} evidence cannot carry a public_key: AWS KMS Recipient interop is Nitro only"
    )]
    PublicKeyUnsupported {
        /// The platform asked.
        platform: &'static str,
    },
    /// The NSM's document does not echo a field as requested.
    #[error("NSM document's {field} is not the one requested")]
    NotEchoed {
        /// `user_data`, `nonce` or `public_key`.
        field: &'static str,
    },
}

impl PlatformError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::MockCa(_) => "platform.mock_ca",
            Self::ReadExecutable { .. } => "platform.read_executable",
            Self::MockBoot(_) => "platform.mock_boot",
            Self::NsmAbsent => "platform.nsm_absent",
            Self::NsmHealth(_) => "platform.nsm_health",
            Self::SnpAbsent(_) => "platform.snp_absent",
            Self::TsmAbsent { .. } => "platform.tsm_absent",
            Self::FileRead { .. } => "platform.file_read",
            Self::FileTooLarge { .. } => "platform.file_too_large",
            Self::CrlWithoutVcek { .. } => "platform.crl_without_vcek",
            Self::NotACrl { .. } => "platform.not_a_crl",
            Self::NotACertificate { .. } => "platform.not_a_certificate",
            Self::MockAttest(_) => "platform.mock_attest",
            Self::Tsm(_) => "platform.tsm",
            Self::SevGuest(_) => "platform.sev_guest",
            Self::Malformed { .. } => "platform.malformed_evidence",
            Self::ReportDataMismatch { .. } => "platform.report_data_mismatch",
            Self::FieldTooLong { .. } => "platform.field_too_long",
            Self::NsmRefused { .. } => "platform.nsm_refused",
            Self::NsmUnexpected { .. } => "platform.nsm_unexpected",
            Self::PcrOutOfRange { .. } => "platform.pcr_out_of_range",
            Self::PcrLength { .. } => "platform.pcr_length",
            Self::NoRandom => "platform.nsm_no_random",
            Self::DocumentLength { .. } => "platform.document_length",
            Self::NotEchoed { .. } => "platform.not_echoed",
            Self::PublicKeyUnsupported { .. } => "platform.public_key_unsupported",
        }
    }

    /// The code of the error underneath, when it has one (an [`AttestationError`], a
    /// [`TsmError`], or the failed health check's own [`PlatformError`]).
    pub fn cause_code(&self) -> Option<&'static str> {
        match self {
            Self::MockCa(e)
            | Self::MockBoot(e)
            | Self::MockAttest(e)
            | Self::NotACrl { source: e, .. }
            | Self::Malformed { source: e, .. } => Some(e.code()),
            Self::TsmAbsent { source: e, .. } | Self::Tsm(e) => Some(e.code()),
            Self::NsmHealth(e) => Some(e.code()),
            _ => None,
        }
    }

    /// Whether setting the backend up failed (the enclave cannot start), rather than one
    /// attestation.
    pub fn is_setup(&self) -> bool {
        matches!(
            self,
            Self::MockCa(_)
                | Self::ReadExecutable { .. }
                | Self::MockBoot(_)
                | Self::NsmAbsent
                | Self::NsmHealth(_)
                | Self::SnpAbsent(_)
                | Self::TsmAbsent { .. }
                | Self::FileRead { .. }
                | Self::FileTooLarge { .. }
                | Self::CrlWithoutVcek { .. }
                | Self::NotACrl { .. }
                | Self::NotACertificate { .. }
        )
    }
}

/// A source of attestation evidence.
pub trait AttestationPlatform: Send + Sync {
    /// Which platform the evidence is from.
    fn kind(&self) -> EvidencePlatform;

    /// Produces evidence binding `binding` (the key binding digest) and `nonce`.
    ///
    /// # Errors
    /// A [`PlatformError`] when the backend fails or its answer does not carry the binding.
    fn attest(&self, binding: &[u8; 48], nonce: &[u8]) -> Result<PlatformEvidence, PlatformError>;

    /// Like [`attest`](Self::attest), with `public_key` in the evidence too: a Nitro document's
    /// `public_key` field, which AWS KMS encrypts a `Recipient` reply to (see `crate::kms`).
    ///
    /// # Errors
    /// As [`attest`](Self::attest); [`PlatformError::PublicKeyUnsupported`] on platforms whose
    /// evidence has no such field (the default).
    fn attest_with_public_key(
        &self,
        binding: &[u8; 48],
        nonce: &[u8],
        public_key: &[u8],
    ) -> Result<PlatformEvidence, PlatformError> {
        let _ = (binding, nonce, public_key);
        Err(PlatformError::PublicKeyUnsupported {
            platform: match self.kind() {
                EvidencePlatform::Nitro => "nitro",
                EvidencePlatform::Mock => "mock",
                EvidencePlatform::SevSnp => "sev-snp",
                EvidencePlatform::Tdx => "tdx",
            },
        })
    }
}
