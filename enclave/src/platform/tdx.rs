//! The Intel TDX backend: DCAP quotes from the guest's `tdx_guest` driver through the Linux
//! configfs-tsm interface ([`super::tsm`]).
//!
//! What goes to the TDX module (ARCHITECTURE.md, "Evidence and key binding"): REPORTDATA = the
//! 48-byte key binding (which covers the verifier's nonce) followed by 16 zero bytes. The kernel
//! turns the TDREPORT into a quote through the host's quoting enclave.
//!
//! What comes back: [`PlatformEvidence::evidence`] is the DCAP quote (v4 or v5) from `outblob`,
//! unchanged; it carries its own PCK certificate chain. [`PlatformEvidence::collateral`] stays
//! empty: the TCB info, QE identity and CRLs are public and signed by Intel, so the (untrusted)
//! host fetches them from Intel PCS or a PCCS, caches them, and adds them to the evidence bundle;
//! the verifier then needs no network.
//!
//! Each quote is parsed (version 4 or 5, TEE type TDX, nested lengths) and its REPORTDATA compared with
//! what was asked, so a driver or quoting fault is caught here and not at every verifier. The
//! quote is not verified here: that is the verifier's job, with the collateral.
//!
//! There is no `/dev/tdx_guest` ioctl fallback: on TDX, the ioctl gives only a TDREPORT (the quote
//! needs the host's quote service), so configfs-tsm (Linux 6.7+) is required.

use std::path::PathBuf;

use cloister_attestation::tdx::TdxQuote;
use cloister_proto::EvidencePlatform;

use super::tsm::{DEFAULT_TSM_REPORT_ROOT, TsmReportClient};
use super::{AttestationPlatform, PlatformError, PlatformEvidence};

/// The configfs-tsm provider name of the TDX guest driver.
pub const TDX_TSM_PROVIDER: &str = "tdx_guest";

/// The TDX backend over configfs-tsm.
#[derive(Debug)]
pub struct TdxPlatform {
    client: TsmReportClient,
}

impl TdxPlatform {
    /// The backend on the real interface ([`DEFAULT_TSM_REPORT_ROOT`]).
    ///
    /// # Errors
    /// [`PlatformError::TsmAbsent`] if configfs-tsm is not there.
    pub fn open() -> Result<Self, PlatformError> {
        Self::with_root(PathBuf::from(DEFAULT_TSM_REPORT_ROOT))
    }

    /// The backend on the report interface at `root`.
    ///
    /// # Errors
    /// [`PlatformError::TsmAbsent`] if `root` is missing.
    pub fn with_root(root: PathBuf) -> Result<Self, PlatformError> {
        let client = TsmReportClient::new(root)
            .map_err(|source| PlatformError::TsmAbsent {
                platform: "tdx",
                guest: "a TDX guest",
                source,
            })?
            .expect_provider(TDX_TSM_PROVIDER);
        Ok(Self::with_client(client))
    }

    /// The backend over an existing configfs-tsm client (tests use a fake configfs tree).
    pub fn with_client(client: TsmReportClient) -> Self {
        Self { client }
    }
}

impl AttestationPlatform for TdxPlatform {
    fn kind(&self) -> EvidencePlatform {
        EvidencePlatform::Tdx
    }

    fn attest(&self, binding: &[u8; 48], _nonce: &[u8]) -> Result<PlatformEvidence, PlatformError> {
        // The nonce is inside the binding (key_binding hashes it), so REPORTDATA needs nothing
        // else.
        let asked = cloister_attestation::binding::report_data(binding);
        let outblob = self
            .client
            .report(&asked)
            .map(|r| r.outblob)
            .map_err(PlatformError::Tsm)?;
        // The one quote parser of the workspace; structure only, the verifier checks signatures.
        let quote = TdxQuote::parse(&outblob).map_err(|source| PlatformError::Malformed {
            kind: "TDX quote",
            len: outblob.len(),
            source: Box::new(source),
        })?;
        let found = *quote.report().report_data();
        if found != asked {
            return Err(PlatformError::ReportDataMismatch {
                field: "REPORTDATA",
                expected: asked.to_vec(),
                found: found.to_vec(),
            });
        }
        Ok(PlatformEvidence {
            evidence: outblob,
            collateral: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::tsm::fake::FakeKernel;
    use super::*;

    fn fixture(rel: &str) -> Vec<u8> {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/fixtures/tdx/Phala-Network-dcap-qvl")
            .join(rel);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// A recorded v4 quote (REPORTDATA at 0x238).
    fn recorded_v4() -> Vec<u8> {
        fixture("tdx_quote")
    }

    /// The recorded v4 quote with REPORTDATA replaced by what was asked: the signature no longer
    /// holds, but the backend only parses the structure.
    fn echo(inblob: &[u8]) -> Vec<u8> {
        let mut q = recorded_v4();
        q[0x238..0x278].copy_from_slice(inblob);
        q
    }

    fn platform(
        outblob: impl Fn(&[u8]) -> Vec<u8> + Send + Sync + 'static,
        provider: &str,
    ) -> (tempfile::TempDir, Arc<FakeKernel>, TdxPlatform) {
        let dir = tempfile::tempdir().expect("tempdir");
        let kernel = Arc::new(FakeKernel::new(provider, outblob));
        let p = TdxPlatform::with_root(dir.path().to_owned()).expect("platform");
        let client = p.client.with_hook(kernel.hook());
        (dir, kernel, TdxPlatform::with_client(client))
    }

    #[test]
    fn report_data_is_the_binding_then_zeros_and_the_quote_comes_back_unchanged() {
        let (dir, kernel, p) = platform(echo, TDX_TSM_PROVIDER);
        assert_eq!(p.kind(), EvidencePlatform::Tdx);
        let binding = [0x5au8; 48];
        let ev = p.attest(&binding, b"nonce").expect("attest");
        let asked = kernel.inblobs.lock().expect("lock")[0].clone();
        assert_eq!(asked.len(), 64);
        assert_eq!(&asked[..48], &binding);
        assert!(asked[48..].iter().all(|&b| b == 0));
        assert_eq!(ev.evidence, echo(&asked), "the outblob, byte for byte");
        assert!(ev.collateral.is_empty(), "the host adds the collateral");
        assert!(std::fs::read_dir(dir.path()).expect("dir").next().is_none());
    }

    #[test]
    fn a_v5_quote_is_read_at_its_own_offset() {
        let (_dir, _kernel, p) = platform(
            |inblob| {
                let mut q = fixture("tdx_quote_outdated");
                assert_eq!(u16::from_le_bytes([q[0], q[1]]), 5, "fixture is v5");
                q[54 + 520..54 + 584].copy_from_slice(inblob);
                q
            },
            TDX_TSM_PROVIDER,
        );
        let ev = p.attest(&[3u8; 48], b"nonce").expect("attest");
        assert_eq!(&ev.evidence[574..622], &[3u8; 48]);
    }

    #[test]
    fn another_provider_is_refused() {
        let (_dir, kernel, p) = platform(echo, "sev_guest");
        let e = p.attest(&[0u8; 48], b"nonce").expect_err("sev");
        assert_eq!(e.code(), "platform.tsm");
        assert_eq!(e.cause_code(), Some("tsm.wrong_provider"));
        assert!(
            kernel.inblobs.lock().expect("lock").is_empty(),
            "nothing was written to another driver"
        );
    }

    #[test]
    fn a_quote_for_other_data_is_refused() {
        // The kernel answers with the recorded quote whatever was asked.
        let (_dir, _kernel, p) = platform(|_| recorded_v4(), TDX_TSM_PROVIDER);
        let e = p.attest(&[1u8; 48], b"nonce").expect_err("mismatch");
        assert_eq!(e.code(), "platform.report_data_mismatch");
        assert!(
            matches!(
                e,
                PlatformError::ReportDataMismatch {
                    field: "REPORTDATA",
                    ..
                }
            ),
            "{e:?}"
        );
    }

    #[test]
    fn an_outblob_that_is_not_a_tdx_quote_is_refused() {
        let (_dir, _kernel, p) = platform(|_| vec![0u8; 100], TDX_TSM_PROVIDER);
        let e = p.attest(&[0u8; 48], b"nonce").expect_err("short");
        assert!(
            matches!(
                e,
                PlatformError::Malformed {
                    kind: "TDX quote",
                    len: 100,
                    ..
                }
            ),
            "{e:?}"
        );
        let (_dir, _kernel, p) = platform(
            |inblob| {
                let mut q = echo(inblob);
                q[4] = 0; // TEE type SGX
                q
            },
            TDX_TSM_PROVIDER,
        );
        let e = p.attest(&[0u8; 48], b"nonce").expect_err("sgx");
        assert_eq!(e.cause_code(), Some("tdx.quote.unsupported_tee_type"));
        let (_dir, _kernel, p) = platform(
            |inblob| {
                let mut q = echo(inblob);
                q[0] = 3; // an SGX-era version
                q
            },
            TDX_TSM_PROVIDER,
        );
        let e = p.attest(&[0u8; 48], b"nonce").expect_err("v3");
        assert_eq!(e.cause_code(), Some("tdx.quote.unsupported_version"));
        let (_dir, _kernel, p) =
            platform(|inblob| echo(inblob)[..0x250].to_vec(), TDX_TSM_PROVIDER);
        assert!(p.attest(&[0u8; 48], b"nonce").is_err(), "truncated");
    }

    #[test]
    fn a_missing_root_names_configfs_tsm() {
        let dir = tempfile::tempdir().expect("tempdir");
        let e = TdxPlatform::with_root(dir.path().join("absent")).expect_err("root");
        assert_eq!(e.code(), "platform.tsm_absent");
        assert_eq!(e.cause_code(), Some("tsm.root_missing"));
        assert!(
            matches!(
                e,
                PlatformError::TsmAbsent {
                    platform: "tdx",
                    ..
                }
            ),
            "{e:?}"
        );
    }
}
