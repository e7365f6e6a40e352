//! The verifier: report and VCEK/VLEK bytes in, [`VerifiedSnpReport`] out.
//!
//! Order of checks: parse the report → product (given, else CPUID for v3+, else the VEK's issuer)
//! → chain to the pinned ARK at `now` (and the CRL, when given) → the signing key the report names
//! is the certificate's kind → report signature → the certificate's TCB extensions equal
//! REPORTED_TCB → (VCEK) hwID equals CHIP_ID.

use crate::error::SnpError;
use std::sync::Arc;

use aws_lc_rs::signature::{self, UnparsedPublicKey};

use super::certs::{SnpCert, VekExtensions, read_certificates};
use super::chain::{self, SnpCrl};
use super::chain_cache::SnpChainCache;
use super::report::{FirmwareVersion, Product, SigningKey, SnpReport, TcbVersion, policy_bits};
use crate::{AttestationError, UnixTime};

/// Verifies SEV-SNP reports against the pinned AMD roots.
///
/// ```
/// use cloister_attestation::snp::SnpVerifier;
/// use cloister_attestation::UnixTime;
/// let err = SnpVerifier::new()
///     .verify(&[0u8; 4], &[], UnixTime::from_secs(1_700_000_000))
///     .unwrap_err();
/// assert_eq!(err.code(), "snp.report.length");
/// ```
#[derive(Clone, Debug, Default)]
pub struct SnpVerifier {
    product: Option<Product>,
    chain: Option<Vec<Vec<u8>>>,
    crl: Option<SnpCrl>,
    chain_cache: Option<Arc<SnpChainCache>>,
}

impl SnpVerifier {
    /// A verifier with the built-in ASK/ASVK and pinned ARKs, no CRL, product detected.
    pub fn new() -> Self {
        Self::default()
    }

    /// Fixes the product (for v2 reports, which carry no CPUID). A v3+ report must agree.
    #[must_use]
    pub fn with_product(mut self, product: Product) -> Self {
        self.product = Some(product);
        self
    }

    /// Uses these CA certificates (ASK or ASVK, optionally the ARK; PEM, any order) instead of
    /// the built-in ones. An ARK among them must be a pinned one.
    ///
    /// # Errors
    ///
    /// `snp.cert.malformed` when `pem` holds no parseable certificate.
    pub fn with_chain_pem(mut self, pem: &[u8]) -> Result<Self, AttestationError> {
        self.chain = Some(chain::read_chain(pem)?);
        Ok(self)
    }

    /// Checks the ASK/ASVK and VEK serials against this ARK-signed CRL.
    #[must_use]
    pub fn with_crl(mut self, crl: SnpCrl) -> Self {
        self.crl = Some(crl);
        self
    }

    /// Remembers successful ARK → ASK/ASVK validations in `cache` (shareable between verifiers
    /// through an `Arc`), so later reports through the same pair skip those two RSA checks.
    /// Verdicts are the same with and without it; see [`SnpChainCache`].
    #[must_use]
    pub fn with_chain_cache(mut self, cache: impl Into<Arc<SnpChainCache>>) -> Self {
        self.chain_cache = Some(cache.into());
        self
    }

    /// The chain cache, if one was set.
    pub fn chain_cache(&self) -> Option<&SnpChainCache> {
        self.chain_cache.as_deref()
    }

    /// Parses and verifies `report` signed by the certificate `vek` (DER or PEM) at `now`.
    ///
    /// # Errors
    ///
    /// `snp.report.*`, `snp.cert.*`, `snp.crl.*` or `snp.binding.*` naming the failed check.
    pub fn verify(
        &self,
        report: &[u8],
        vek: &[u8],
        now: UnixTime,
    ) -> Result<VerifiedSnpReport, AttestationError> {
        let report = SnpReport::parse(report)?;
        let vek_der = read_certificates(vek, SnpCert::Vek)?
            .into_iter()
            .next()
            .unwrap_or_default();
        self.verify_parsed(report, &vek_der, now)
    }

    /// Verifies an already parsed report with a DER VEK at `now`.
    ///
    /// # Errors
    ///
    /// As [`SnpVerifier::verify`].
    pub fn verify_parsed(
        &self,
        report: SnpReport,
        vek_der: &[u8],
        now: UnixTime,
    ) -> Result<VerifiedSnpReport, AttestationError> {
        let cpuid_product = report.product_from_cpuid();
        let product = match (self.product, cpuid_product) {
            (Some(given), Some(cpuid)) if given != cpuid => {
                return Err(SnpError::ProductMismatch {
                    expected: given.as_str(),
                    found: format!("a report whose CPUID names {cpuid}"),
                }
                .into());
            }
            (Some(p), _) | (None, Some(p)) => Some(p),
            (None, None) => {
                if let Some((family, model, _)) = report.cpuid {
                    return Err(SnpError::ProductUnknown {
                        reason: format!("CPUID family {family:#x} model {model:#x}"),
                    }
                    .into());
                }
                None
            }
        };
        let chain = chain::verify_chain(
            vek_der,
            self.chain.as_deref(),
            product,
            self.crl.as_ref(),
            now,
            self.chain_cache.as_deref(),
        )?;
        let product = chain.product;

        if chain.signer != report.signing_key {
            return Err(SnpError::SignerMismatch {
                report: report.signing_key.as_str(),
                cert: chain.signer.as_str(),
            }
            .into());
        }

        UnparsedPublicKey::new(&signature::ECDSA_P384_SHA384_FIXED, &chain.vek_point)
            .verify(report.signed_bytes(), &report.signature_be)
            .map_err(|_| SnpError::BadSignature)?;

        let ext = VekExtensions::from_cert(&chain.vek.cert)?;
        let reported = TcbVersion::decode(report.reported_tcb, product);
        let certified = ext.tcb(product).ok_or_else(|| SnpError::CertExtension {
            oid: "1.3.6.1.4.1.3704.1.3".to_owned(),
            reason: format!("a TCB component {product} needs is missing"),
        })?;
        for ((name, r), (_, c)) in reported
            .components(product)
            .into_iter()
            .zip(certified.components(product))
        {
            if r != c {
                return Err(SnpError::TcbMismatch {
                    component: name,
                    report: r,
                    cert: c,
                }
                .into());
            }
        }

        if chain.signer == SigningKey::Vcek {
            let hwid = ext.hwid.as_deref().ok_or_else(|| SnpError::CertExtension {
                oid: "1.3.6.1.4.1.3704.1.4".to_owned(),
                reason: "a VCEK must carry hwID".to_owned(),
            })?;
            let n = product.hwid_len();
            let (head, tail) = report.chip_id.split_at(n.min(64));
            if hwid.len() != n || hwid != head || tail.iter().any(|&b| b != 0) {
                return Err(SnpError::ChipIdMismatch {
                    report: hex::encode(report.chip_id),
                    cert: hex::encode(hwid),
                }
                .into());
            }
        }

        Ok(VerifiedSnpReport {
            crl_checked: self.crl.is_some(),
            product,
            signer: chain.signer,
            ark_sha256: chain.ark_sha256,
            product_name: ext.product_name,
            reported_tcb: reported,
            current_tcb: TcbVersion::decode(report.current_tcb, product),
            committed_tcb: TcbVersion::decode(report.committed_tcb, product),
            launch_tcb: TcbVersion::decode(report.launch_tcb, product),
            report,
        })
    }
}

/// A report whose signature, chain to a pinned ARK (at a given time), TCB and chip binding were
/// checked. Only [`SnpVerifier`] builds one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedSnpReport {
    pub(super) report: SnpReport,
    pub(super) crl_checked: bool,
    pub(super) product: Product,
    pub(super) signer: SigningKey,
    pub(super) ark_sha256: [u8; 32],
    pub(super) product_name: Option<String>,
    pub(super) reported_tcb: TcbVersion,
    pub(super) current_tcb: TcbVersion,
    pub(super) committed_tcb: TcbVersion,
    pub(super) launch_tcb: TcbVersion,
}

impl VerifiedSnpReport {
    /// The evidence digest: SHA-384 of the 1184-byte report (the signed extent and its
    /// signature), so padding around it changes nothing.
    pub fn evidence_digest(&self) -> [u8; 48] {
        self.report.evidence_digest()
    }

    /// Whether the ASK/ASVK and VEK were checked against AMD's CRL.
    pub fn crl_checked(&self) -> bool {
        self.crl_checked
    }

    /// The product whose ARK the chain ends in.
    pub fn product(&self) -> Product {
        self.product
    }

    /// VCEK or VLEK.
    pub fn signer(&self) -> SigningKey {
        self.signer
    }

    /// SHA-256 of the pinned ARK (DER).
    pub fn ark_sha256(&self) -> [u8; 32] {
        self.ark_sha256
    }

    /// Report version.
    pub fn version(&self) -> u32 {
        self.report.version
    }

    /// Guest POLICY.
    pub fn policy(&self) -> u64 {
        self.report.policy
    }

    /// True when POLICY allows debugging (the hypervisor can read guest memory).
    pub fn is_debug(&self) -> bool {
        self.report.policy & policy_bits::DEBUG != 0
    }

    /// True when POLICY allows SMT.
    pub fn smt_allowed(&self) -> bool {
        self.report.policy & policy_bits::SMT != 0
    }

    /// True when POLICY allows a migration agent.
    pub fn migration_agent_allowed(&self) -> bool {
        self.report.policy & policy_bits::MIGRATE_MA != 0
    }

    /// VMPL.
    pub fn vmpl(&self) -> u32 {
        self.report.vmpl
    }

    /// GUEST_SVN.
    pub fn guest_svn(&self) -> u32 {
        self.report.guest_svn
    }

    /// MEASUREMENT (launch digest).
    pub fn measurement(&self) -> &[u8; 48] {
        &self.report.measurement
    }

    /// HOST_DATA.
    pub fn host_data(&self) -> &[u8; 32] {
        &self.report.host_data
    }

    /// ID_KEY_DIGEST.
    pub fn id_key_digest(&self) -> &[u8; 48] {
        &self.report.id_key_digest
    }

    /// AUTHOR_KEY_DIGEST.
    pub fn author_key_digest(&self) -> &[u8; 48] {
        &self.report.author_key_digest
    }

    /// REPORT_DATA.
    pub fn report_data(&self) -> &[u8; 64] {
        &self.report.report_data
    }

    /// CHIP_ID (zero when masked).
    pub fn chip_id(&self) -> &[u8; 64] {
        &self.report.chip_id
    }

    /// REPORTED_TCB (equal to the certificate's TCB).
    pub fn reported_tcb(&self) -> TcbVersion {
        self.reported_tcb
    }

    /// CURRENT_TCB.
    pub fn current_tcb(&self) -> TcbVersion {
        self.current_tcb
    }

    /// COMMITTED_TCB.
    pub fn committed_tcb(&self) -> TcbVersion {
        self.committed_tcb
    }

    /// LAUNCH_TCB.
    pub fn launch_tcb(&self) -> TcbVersion {
        self.launch_tcb
    }

    /// Current firmware version.
    pub fn current_version(&self) -> FirmwareVersion {
        self.report.current_version
    }

    /// The raw report.
    pub fn report(&self) -> &SnpReport {
        &self.report
    }
}

#[cfg(test)]
impl VerifiedSnpReport {
    /// A "verified" report without verification, so policy tests can use synthetic reports.
    pub(crate) fn for_tests(report: SnpReport, product: Product) -> Self {
        Self {
            crl_checked: false,
            product,
            signer: report.signing_key,
            ark_sha256: [0; 32],
            product_name: None,
            reported_tcb: TcbVersion::decode(report.reported_tcb, product),
            current_tcb: TcbVersion::decode(report.current_tcb, product),
            committed_tcb: TcbVersion::decode(report.committed_tcb, product),
            launch_tcb: TcbVersion::decode(report.launch_tcb, product),
            report,
        }
    }
}
