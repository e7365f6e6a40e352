//! The AMD SEV-SNP backend: attestation reports from the guest's `sev_guest` driver through the
//! Linux configfs-tsm interface ([`super::tsm`]).
//!
//! What goes to the firmware (ARCHITECTURE.md, "Evidence and key binding"): REPORT_DATA = the
//! 48-byte key binding (which covers the verifier's nonce) followed by 16 zero bytes. The VMPL is
//! left to the kernel's default (`privlevel` is not written).
//!
//! What comes back: [`PlatformEvidence::evidence`] is the 1184-byte `ATTESTATION_REPORT` from
//! `outblob`; [`PlatformEvidence::collateral`] is the VCEK (DER or PEM, as given) when one was
//! configured (`--snp-vcek FILE`). The enclave has no network: the host fetches the VCEK for this
//! chip and TCB from AMD KDS (and caches it) and hands it in; the verifier then needs no network.
//! The VCEK is read once at start and sent as is; the verifier checks it against the report
//! (hwID = CHIP_ID, TCB = REPORTED_TCB), so a stale one fails verification, never silently.
//!
//! Each report is parsed with `cloister_attestation::snp::SnpReport` and its REPORT_DATA compared
//! with what was asked, so a driver or firmware fault is caught here and not at every verifier.
//! The report is not verified here: that is the verifier's job, with the chain.
//!
//! `/dev/sev-guest` fallback: when the configfs-tsm root is absent (kernels before 6.7),
//! [`SnpPlatform::open`] uses the `SNP_GET_REPORT` ioctl on `/dev/sev-guest` through the `sev`
//! crate's guest `Firmware` (a safe API; features `snp` only, so no OpenSSL; the enclave keeps
//! `unsafe` forbidden). It returns the same raw report and goes through the same parse and
//! REPORT_DATA check. It is compiled, not unit-tested: opening a device node is not a unit test's
//! business, and no ordinary machine has one (as for `/dev/nsm` in [`super::nitro`]).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use cloister_attestation::snp::SnpReport;
use cloister_proto::EvidencePlatform;

use super::tsm::{DEFAULT_TSM_REPORT_ROOT, TsmReportClient};
use super::{AttestationPlatform, PlatformError, PlatformEvidence};

/// The configfs-tsm provider name of the SEV-SNP guest driver.
pub const SNP_TSM_PROVIDER: &str = "sev_guest";

/// REPORT_DATA is 64 bytes; the key binding takes the first 48.
pub const REPORT_DATA_LEN: usize = 64;

/// Largest VCEK file accepted (a VCEK is about 1.3 KB in DER).
pub const MAX_VCEK_FILE_LEN: u64 = 64 * 1024;

/// The legacy guest device.
pub const SEV_GUEST_DEVICE: &str = "/dev/sev-guest";

/// Where reports come from.
enum Source {
    Tsm(TsmReportClient),
    Device(Mutex<sev::firmware::guest::Firmware>),
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Tsm(c) => c.fmt(f),
            Self::Device(_) => f.write_str(SEV_GUEST_DEVICE),
        }
    }
}

impl Source {
    /// The raw report for `data`.
    fn report(&self, data: &[u8; REPORT_DATA_LEN]) -> Result<Vec<u8>, PlatformError> {
        match self {
            Self::Tsm(client) => client
                .report(data)
                .map(|r| r.outblob)
                .map_err(PlatformError::Tsm),
            Self::Device(fw) => {
                let mut fw = fw.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                // Message version 1 and the kernel's VMPL default (None), as configfs-tsm does.
                fw.get_report(None, Some(*data), None)
                    .map_err(PlatformError::SevGuest)
            }
        }
    }
}

/// The SEV-SNP backend over configfs-tsm or, as a fallback, `/dev/sev-guest`.
#[derive(Debug)]
pub struct SnpPlatform {
    source: Source,
    vcek: Option<Vec<u8>>,
    /// AMD's CRL for the product, sent after the VCEK so verifiers can check revocation
    /// without network access (and a policy can require it).
    crl: Option<Vec<u8>>,
}

impl SnpPlatform {
    /// The backend on the real interface ([`DEFAULT_TSM_REPORT_ROOT`]), or on
    /// [`SEV_GUEST_DEVICE`] when configfs-tsm is absent, with the VCEK at `vcek_path` if given.
    ///
    /// # Errors
    /// [`PlatformError::SnpAbsent`] if neither interface is there; as [`Self::with_root`] for
    /// the VCEK.
    pub fn open(vcek_path: Option<&Path>) -> Result<Self, PlatformError> {
        let root = PathBuf::from(DEFAULT_TSM_REPORT_ROOT);
        if root.is_dir() {
            return Self::with_root(root, vcek_path);
        }
        let fw = sev::firmware::guest::Firmware::open().map_err(PlatformError::SnpAbsent)?;
        tracing::warn!(
            "configfs-tsm is absent; requesting SEV-SNP reports through {SEV_GUEST_DEVICE}"
        );
        let vcek = vcek_path.map(read_vcek).transpose()?;
        Ok(Self {
            source: Source::Device(Mutex::new(fw)),
            vcek,
            crl: None,
        })
    }

    /// The backend on the report interface at `root`, with the VCEK at `vcek_path` if given.
    ///
    /// # Errors
    /// [`PlatformError::TsmAbsent`] if `root` is missing; [`PlatformError::FileRead`],
    /// [`PlatformError::FileTooLarge`] or [`PlatformError::NotACertificate`] for the VCEK.
    pub fn with_root(root: PathBuf, vcek_path: Option<&Path>) -> Result<Self, PlatformError> {
        let client = TsmReportClient::new(root)
            .map_err(|source| PlatformError::TsmAbsent {
                platform: "snp",
                guest: "an SEV-SNP guest",
                source,
            })?
            .expect_provider(SNP_TSM_PROVIDER);
        let vcek = vcek_path.map(read_vcek).transpose()?;
        Ok(Self::with_client(client, vcek))
    }

    /// The backend over an existing configfs-tsm client (tests use a fake configfs tree).
    pub fn with_client(client: TsmReportClient, vcek: Option<Vec<u8>>) -> Self {
        Self {
            source: Source::Tsm(client),
            vcek,
            crl: None,
        }
    }

    /// Also sends AMD's CRL for the product (`KDS …/vcek/v1/{product}/crl`, DER or PEM, fetched
    /// by the host) with every report. It travels after the VCEK, so it needs one.
    ///
    /// # Errors
    /// [`PlatformError::CrlWithoutVcek`] without a VCEK, [`PlatformError::NotACrl`] if the file
    /// is not a CRL, [`PlatformError::FileRead`] or [`PlatformError::FileTooLarge`].
    pub fn with_crl_file(mut self, path: &Path) -> Result<Self, PlatformError> {
        if self.vcek.is_none() {
            return Err(PlatformError::CrlWithoutVcek {
                path: path.to_owned(),
            });
        }
        let bytes = read_bounded("--snp-crl", path)?;
        cloister_attestation::snp::SnpCrl::from_pem_or_der(&bytes).map_err(|source| {
            PlatformError::NotACrl {
                path: path.to_owned(),
                source: Box::new(source),
            }
        })?;
        self.crl = Some(bytes);
        Ok(self)
    }
}

fn read_vcek(path: &Path) -> Result<Vec<u8>, PlatformError> {
    let bytes = read_bounded("--snp-vcek", path)?;
    let looks_like_cert = bytes.first() == Some(&0x30)
        || bytes
            .windows(b"-----BEGIN CERTIFICATE-----".len())
            .any(|w| w == b"-----BEGIN CERTIFICATE-----");
    if !looks_like_cert {
        return Err(PlatformError::NotACertificate {
            path: path.to_owned(),
        });
    }
    Ok(bytes)
}

/// The file `flag` names, if it is at most [`MAX_VCEK_FILE_LEN`] bytes (a VCEK or an AMD CRL).
fn read_bounded(flag: &'static str, path: &Path) -> Result<Vec<u8>, PlatformError> {
    let read_err = |source| PlatformError::FileRead {
        flag,
        path: path.to_owned(),
        source,
    };
    let len = std::fs::metadata(path).map_err(read_err)?.len();
    if len > MAX_VCEK_FILE_LEN {
        return Err(PlatformError::FileTooLarge {
            flag,
            path: path.to_owned(),
            len,
            limit: MAX_VCEK_FILE_LEN,
        });
    }
    std::fs::read(path).map_err(read_err)
}

impl AttestationPlatform for SnpPlatform {
    fn kind(&self) -> EvidencePlatform {
        EvidencePlatform::SevSnp
    }

    fn attest(&self, binding: &[u8; 48], _nonce: &[u8]) -> Result<PlatformEvidence, PlatformError> {
        // The nonce is inside the binding (key_binding hashes it), so REPORT_DATA needs nothing
        // else.
        let asked = cloister_attestation::binding::report_data(binding);
        let outblob = self.source.report(&asked)?;
        let report = SnpReport::parse(&outblob).map_err(|source| PlatformError::Malformed {
            kind: "SEV-SNP report",
            len: outblob.len(),
            source: Box::new(source),
        })?;
        if report.report_data() != &asked {
            return Err(PlatformError::ReportDataMismatch {
                field: "REPORT_DATA",
                expected: asked.to_vec(),
                found: report.report_data().to_vec(),
            });
        }
        Ok(PlatformEvidence {
            evidence: outblob,
            collateral: self.vcek.iter().chain(&self.crl).cloned().collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use cloister_attestation::UnixTime;
    use cloister_attestation::snp::SnpVerifier;

    use super::super::tsm::fake::FakeKernel;
    use super::*;

    const MS: &str = "microsoft-TEE-Attestation-Verification";

    fn fixture(rel: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/fixtures/snp")
            .join(rel)
    }

    /// A recorded Milan report (REPORT_DATA all zero, so the binding `[0; 48]` matches it).
    fn recorded() -> Vec<u8> {
        std::fs::read(fixture(&format!("{MS}/milan_attestation_report.bin"))).expect("report")
    }

    /// The recorded report with REPORT_DATA (bytes 0x50..0x90) replaced by what was asked: the
    /// signature no longer holds, but the backend only parses.
    fn echo(inblob: &[u8]) -> Vec<u8> {
        let mut r = recorded();
        r[0x50..0x90].copy_from_slice(inblob);
        r
    }

    fn platform(
        outblob: impl Fn(&[u8]) -> Vec<u8> + Send + Sync + 'static,
        provider: &str,
        vcek: Option<&Path>,
    ) -> (tempfile::TempDir, Arc<FakeKernel>, SnpPlatform) {
        let dir = tempfile::tempdir().expect("tempdir");
        let kernel = Arc::new(FakeKernel::new(provider, outblob));
        let p = SnpPlatform::with_root(dir.path().to_owned(), vcek).expect("platform");
        let Source::Tsm(client) = p.source else {
            panic!("with_root uses configfs-tsm")
        };
        let client = client.with_hook(kernel.hook());
        (dir, kernel, SnpPlatform::with_client(client, p.vcek))
    }

    #[test]
    fn report_data_is_the_binding_then_zeros_and_the_report_comes_back() {
        let (dir, kernel, p) = platform(echo, SNP_TSM_PROVIDER, None);
        assert_eq!(p.kind(), EvidencePlatform::SevSnp);
        let binding = [0xa5u8; 48];
        let ev = p.attest(&binding, b"nonce").expect("attest");
        let asked = kernel.inblobs.lock().expect("lock")[0].clone();
        assert_eq!(asked.len(), 64);
        assert_eq!(&asked[..48], &binding);
        assert!(asked[48..].iter().all(|&b| b == 0));
        assert_eq!(ev.evidence.len(), 1184);
        assert_eq!(ev.evidence, echo(&asked));
        assert!(ev.collateral.is_empty(), "no VCEK configured");
        assert!(std::fs::read_dir(dir.path()).expect("dir").next().is_none());
    }

    #[test]
    fn a_recorded_report_with_the_configured_vcek_verifies_end_to_end() {
        let vcek = fixture(&format!("{MS}/milan_vcek.pem"));
        let (_dir, _kernel, p) = platform(|_| recorded(), SNP_TSM_PROVIDER, Some(&vcek));
        let ev = p.attest(&[0u8; 48], b"nonce").expect("attest");
        assert_eq!(ev.collateral, vec![std::fs::read(&vcek).expect("vcek")]);
        let chain = std::fs::read(fixture(&format!("{MS}/milan_ask.pem"))).expect("ask");
        // 2026-06-01, inside the VCEK window (as in attestation/tests/snp.rs).
        let verified = SnpVerifier::new()
            .with_chain_pem(&chain)
            .expect("chain")
            .verify(
                &ev.evidence,
                &ev.collateral[0],
                UnixTime::from_secs(1_780_272_000),
            )
            .expect("verifies");
        assert_eq!(verified.report_data(), &[0u8; 64]);
    }

    #[test]
    fn amds_crl_travels_after_the_vcek() {
        let vcek = fixture(&format!("{MS}/milan_vcek.pem"));
        let crl = fixture("openpcc-openpcc/extracted/test_amd_milan_crl.pem");
        let (_dir, _kernel, p) = platform(|_| recorded(), SNP_TSM_PROVIDER, Some(&vcek));
        let p = p.with_crl_file(&crl).expect("crl");
        let ev = p.attest(&[0u8; 48], b"nonce").expect("attest");
        assert_eq!(
            ev.collateral,
            vec![
                std::fs::read(&vcek).expect("vcek"),
                std::fs::read(&crl).expect("crl")
            ]
        );
        // Without a VCEK, or with a file that is not a CRL, the backend does not start.
        let (_dir, _kernel, p) = platform(|_| recorded(), SNP_TSM_PROVIDER, None);
        assert_eq!(
            p.with_crl_file(&crl).expect_err("no vcek").code(),
            "platform.crl_without_vcek"
        );
        let (_dir, _kernel, p) = platform(|_| recorded(), SNP_TSM_PROVIDER, Some(&vcek));
        assert_eq!(
            p.with_crl_file(&vcek).expect_err("not a crl").code(),
            "platform.not_a_crl"
        );
    }

    #[test]
    fn a_report_for_other_data_is_refused() {
        // The kernel answers with the recorded report whatever was asked.
        let (_dir, _kernel, p) = platform(|_| recorded(), SNP_TSM_PROVIDER, None);
        let e = p.attest(&[1u8; 48], b"nonce").expect_err("mismatch");
        assert_eq!(e.code(), "platform.report_data_mismatch");
        assert!(
            matches!(
                e,
                PlatformError::ReportDataMismatch {
                    field: "REPORT_DATA",
                    ..
                }
            ),
            "{e:?}"
        );
    }

    #[test]
    fn an_outblob_that_is_not_a_report_is_refused() {
        let (_dir, _kernel, p) = platform(|_| vec![0u8; 100], SNP_TSM_PROVIDER, None);
        let e = p.attest(&[0u8; 48], b"nonce").expect_err("short");
        assert_eq!(e.code(), "platform.malformed_evidence");
        assert_eq!(e.cause_code(), Some("snp.report.length"));
        let (_dir, _kernel, p) = platform(
            |inblob| {
                let mut r = echo(inblob);
                r[0] = 99; // version 99
                r
            },
            SNP_TSM_PROVIDER,
            None,
        );
        assert!(p.attest(&[0u8; 48], b"nonce").is_err());
    }

    #[test]
    fn another_provider_is_refused() {
        let (_dir, _kernel, p) = platform(echo, "tdx_guest", None);
        let e = p.attest(&[0u8; 48], b"nonce").expect_err("tdx");
        assert_eq!(e.code(), "platform.tsm");
        assert_eq!(e.cause_code(), Some("tsm.wrong_provider"));
    }

    #[test]
    fn setup_errors_name_the_flag_or_the_root() {
        let dir = tempfile::tempdir().expect("tempdir");
        let e = SnpPlatform::with_root(dir.path().join("absent"), None).expect_err("root");
        assert_eq!(e.code(), "platform.tsm_absent");
        assert_eq!(e.cause_code(), Some("tsm.root_missing"));
        assert!(
            matches!(
                e,
                PlatformError::TsmAbsent {
                    platform: "snp",
                    ..
                }
            ),
            "{e:?}"
        );
        let e = SnpPlatform::with_root(dir.path().to_owned(), Some(&dir.path().join("v.der")))
            .expect_err("vcek");
        assert_eq!(e.code(), "platform.file_read");
        assert!(
            matches!(
                e,
                PlatformError::FileRead {
                    flag: "--snp-vcek",
                    ..
                }
            ),
            "{e:?}"
        );
        let junk = dir.path().join("junk");
        std::fs::write(&junk, b"not a certificate").expect("write");
        let e = SnpPlatform::with_root(dir.path().to_owned(), Some(&junk)).expect_err("junk");
        assert_eq!(e.code(), "platform.not_a_certificate");
        assert!(e.is_setup());
    }
}
