//! The Intel DCAP quote, versions 4 and 5, for TDX: header, TD report body (TD 1.0 or TD 1.5),
//! and the ECDSA-P256 signature data with its QE report certification data.
//!
//! Layout (Intel "TDX DCAP Quote Generation Library and Quote Verification Library", appendix A;
//! `shared/research/snp_tdx.md` §2.1), all integers little-endian:
//!
//! ```text
//! header (48)  version u16 | att_key_type u16 | tee_type u32 | qe_svn u16 | pce_svn u16
//!              | qe_vendor_id [16] | user_data [20]
//! v5 only      body_type u16 (2 = TD 1.0, 3 = TD 1.5) | body_size u32
//! body         TD report: 584 bytes (TD 1.0) or 648 (TD 1.5)
//! sig data     len u32 | signature [64] | attestation key [64] | cert type u16 = 6 | size u32
//!              | QE report [384] | QE report signature [64] | auth len u16 | auth data
//!              | cert type u16 = 5 | size u32 | PCK chain, PEM, leaf first
//! ```
//!
//! A quote ends where its signature-data length says. Drivers hand out fixed-size buffers, so
//! whatever follows that end (zero padding, text) is not part of the quote and is ignored, as
//! dcap-qvl and go-tdx-guest do. Everything inside is parsed strictly: every nested length must
//! add up exactly.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::TdxError;

use crate::AttestationError;

/// Header length.
pub const HEADER_LEN: usize = 48;
/// TD 1.0 report body length.
pub const TD10_BODY_LEN: usize = 584;
/// TD 1.5 report body length.
pub const TD15_BODY_LEN: usize = 648;
/// SGX REPORT body (the QE report) length.
pub const QE_REPORT_LEN: usize = 384;
/// TEE type of TDX in the header.
pub const TEE_TYPE_TDX: u32 = 0x81;
/// Attestation key type ECDSA-256-with-P-256.
pub const ATT_KEY_TYPE_ECDSA_P256: u16 = 2;
/// Intel's QE vendor ID.
pub const INTEL_QE_VENDOR_ID: [u8; 16] = [
    0x93, 0x9a, 0x72, 0x33, 0xf7, 0x9c, 0x4c, 0xa9, 0x94, 0x0a, 0x0d, 0xb3, 0x95, 0x7f, 0x06, 0x07,
];
/// Certification data type: QE report certification data.
const CERT_TYPE_QE_REPORT: u16 = 6;
/// Certification data type: PCK certificate chain (PEM).
const CERT_TYPE_PCK_CHAIN: u16 = 5;
/// Largest quote (up to the end of its signature data) accepted: real ones are about 5 KiB.
pub const MAX_QUOTE_LEN: usize = 64 * 1024;

/// TD_ATTRIBUTES bits (Intel TDX module ABI, TDREPORT).
pub mod td_attributes {
    /// TUD.DEBUG: the TD runs in debug mode; the host can read and change its state.
    pub const DEBUG: u64 = 1 << 0;
    /// TUD bits 1..7: reserved, zero in every released TDX module.
    pub const TUD_RESERVED: u64 = 0xFE;
    /// SEC.SEPT_VE_DISABLE: EPT violations are not converted to #VE for the TD; without it the
    /// host can single-step a TD through page faults.
    pub const SEPT_VE_DISABLE: u64 = 1 << 28;
    /// SEC.PKS: protection keys for supervisor pages.
    pub const PKS: u64 = 1 << 30;
    /// SEC.KL: key locker.
    pub const KL: u64 = 1 << 31;
    /// OTHER.PERFMON: the TD may use performance monitoring.
    pub const PERFMON: u64 = 1 << 63;
}

/// Which TD report body a quote carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TdReportKind {
    /// TDX 1.0 (584 bytes).
    #[serde(rename = "TD 1.0")]
    Td10,
    /// TDX 1.5 (648 bytes: adds TEE_TCB_SVN2 and MRSERVICETD).
    #[serde(rename = "TD 1.5")]
    Td15,
}

impl fmt::Display for TdReportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Td10 => "TD 1.0",
            Self::Td15 => "TD 1.5",
        })
    }
}

/// The TD report body: what the TDX module measured and the TD asked to include.
///
/// Read-only: its fields are private and only [`TdxQuote::parse`] builds one, so every value
/// read through the getters is the one in the quote's bytes (for a [`VerifiedTdxQuote`], the
/// signed bytes).
///
/// [`VerifiedTdxQuote`]: super::VerifiedTdxQuote
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TdReport {
    /// TD 1.0 or TD 1.5.
    kind: TdReportKind,
    /// TEE_TCB_SVN: [0] TDX module ISVSVN, [1] module major version, [2..] other components.
    tee_tcb_svn: [u8; 16],
    /// MRSEAM: measurement of the TDX module.
    mr_seam: [u8; 48],
    /// MRSIGNERSEAM: signer of the TDX module (zero for Intel's).
    mr_signer_seam: [u8; 48],
    /// SEAMATTRIBUTES.
    seam_attributes: [u8; 8],
    /// TD_ATTRIBUTES (see [`td_attributes`]), as a little-endian u64.
    td_attributes: u64,
    /// XFAM.
    xfam: [u8; 8],
    /// MRTD: the initial contents of the TD.
    mr_td: [u8; 48],
    /// MRCONFIGID: software-defined configuration ID.
    mr_config_id: [u8; 48],
    /// MROWNER.
    mr_owner: [u8; 48],
    /// MROWNERCONFIG.
    mr_owner_config: [u8; 48],
    /// RTMR0..3: runtime-extendable measurements.
    rtmr: [[u8; 48]; 4],
    /// REPORTDATA: 64 bytes the TD chose (Cloister: the key binding, then zeros).
    report_data: [u8; 64],
    /// TEE_TCB_SVN2 (TD 1.5).
    tee_tcb_svn2: Option<[u8; 16]>,
    /// MRSERVICETD (TD 1.5).
    mr_service_td: Option<[u8; 48]>,
}

/// The QE report: an SGX REPORT body of the Quoting Enclave, signed by the PCK.
///
/// Read-only, as [`TdReport`]: parsed from [`TdxQuote::qe_report_bytes`], the bytes the PCK
/// signed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QeReport {
    /// CPUSVN.
    cpu_svn: [u8; 16],
    /// MISCSELECT.
    misc_select: u32,
    /// ATTRIBUTES.
    attributes: [u8; 16],
    /// MRENCLAVE.
    mr_enclave: [u8; 32],
    /// MRSIGNER.
    mr_signer: [u8; 32],
    /// ISVPRODID.
    isv_prod_id: u16,
    /// ISVSVN.
    isv_svn: u16,
    /// REPORTDATA: SHA-256(attestation key ‖ QE auth data) then 32 zero bytes.
    report_data: [u8; 64],
}

/// A parsed, unverified TDX quote: for inspection and for [`TdxVerifier`](super::TdxVerifier).
///
/// Read-only: its fields are private and [`TdxQuote::parse`] is the only way to build one, so
/// what the getters return always agrees with [`TdxQuote::signed_bytes`] and
/// [`TdxQuote::qe_report_bytes`], the bytes whose signatures the verifier checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TdxQuote {
    /// 4 or 5.
    version: u16,
    /// QE SVN from the header.
    qe_svn: u16,
    /// PCE SVN from the header.
    pce_svn: u16,
    /// Header user data (the QE's; not the TD's REPORTDATA).
    user_data: [u8; 20],
    /// The TD report body.
    report: TdReport,
    /// ECDSA P-256 signature (r ‖ s) over header and body by the attestation key.
    signature: [u8; 64],
    /// The attestation key, raw X ‖ Y.
    attestation_key: [u8; 64],
    /// The QE report.
    qe_report: QeReport,
    /// The raw QE report bytes the PCK signed.
    qe_report_bytes: [u8; QE_REPORT_LEN],
    /// The PCK's signature (r ‖ s) over the QE report.
    qe_report_signature: [u8; 64],
    /// QE authentication data.
    qe_auth_data: Vec<u8>,
    /// The PCK chain as carried (PEM text, leaf first).
    pck_chain_pem: Vec<u8>,
    /// The bytes the attestation key signed: header and body.
    signed: Vec<u8>,
    /// Where the quote ends: the end of its signature data.
    encoded_len: usize,
    /// SHA-384 of header through signature data.
    evidence_sha384: [u8; 48],
}

impl TdReport {
    /// TD 1.0 or TD 1.5.
    pub fn kind(&self) -> TdReportKind {
        self.kind
    }

    /// TEE_TCB_SVN: [0] TDX module ISVSVN, [1] module major version, [2..] other components.
    pub fn tee_tcb_svn(&self) -> &[u8; 16] {
        &self.tee_tcb_svn
    }

    /// MRSEAM: measurement of the TDX module.
    pub fn mr_seam(&self) -> &[u8; 48] {
        &self.mr_seam
    }

    /// MRSIGNERSEAM: signer of the TDX module (zero for Intel's).
    pub fn mr_signer_seam(&self) -> &[u8; 48] {
        &self.mr_signer_seam
    }

    /// SEAMATTRIBUTES.
    pub fn seam_attributes(&self) -> &[u8; 8] {
        &self.seam_attributes
    }

    /// TD_ATTRIBUTES (see [`td_attributes`]), as a little-endian u64.
    pub fn td_attributes(&self) -> u64 {
        self.td_attributes
    }

    /// XFAM.
    pub fn xfam(&self) -> &[u8; 8] {
        &self.xfam
    }

    /// MRTD: the initial contents of the TD.
    pub fn mr_td(&self) -> &[u8; 48] {
        &self.mr_td
    }

    /// MRCONFIGID: software-defined configuration ID.
    pub fn mr_config_id(&self) -> &[u8; 48] {
        &self.mr_config_id
    }

    /// MROWNER.
    pub fn mr_owner(&self) -> &[u8; 48] {
        &self.mr_owner
    }

    /// MROWNERCONFIG.
    pub fn mr_owner_config(&self) -> &[u8; 48] {
        &self.mr_owner_config
    }

    /// RTMR0..3: runtime-extendable measurements.
    pub fn rtmr(&self) -> &[[u8; 48]; 4] {
        &self.rtmr
    }

    /// REPORTDATA: 64 bytes the TD chose (Cloister: the key binding, then zeros).
    pub fn report_data(&self) -> &[u8; 64] {
        &self.report_data
    }

    /// TEE_TCB_SVN2 (TD 1.5; `None` for TD 1.0).
    pub fn tee_tcb_svn2(&self) -> Option<&[u8; 16]> {
        self.tee_tcb_svn2.as_ref()
    }

    /// MRSERVICETD (TD 1.5; `None` for TD 1.0).
    pub fn mr_service_td(&self) -> Option<&[u8; 48]> {
        self.mr_service_td.as_ref()
    }
}

impl QeReport {
    /// CPUSVN.
    pub fn cpu_svn(&self) -> &[u8; 16] {
        &self.cpu_svn
    }

    /// MISCSELECT.
    pub fn misc_select(&self) -> u32 {
        self.misc_select
    }

    /// ATTRIBUTES.
    pub fn attributes(&self) -> &[u8; 16] {
        &self.attributes
    }

    /// MRENCLAVE.
    pub fn mr_enclave(&self) -> &[u8; 32] {
        &self.mr_enclave
    }

    /// MRSIGNER.
    pub fn mr_signer(&self) -> &[u8; 32] {
        &self.mr_signer
    }

    /// ISVPRODID.
    pub fn isv_prod_id(&self) -> u16 {
        self.isv_prod_id
    }

    /// ISVSVN.
    pub fn isv_svn(&self) -> u16 {
        self.isv_svn
    }

    /// REPORTDATA: SHA-256(attestation key ‖ QE auth data) then 32 zero bytes.
    pub fn report_data(&self) -> &[u8; 64] {
        &self.report_data
    }
}

impl TdxQuote {
    /// Parses a quote. Bytes after the end of the signature data are ignored.
    ///
    /// ```
    /// use cloister_attestation::tdx::TdxQuote;
    /// let err = TdxQuote::parse(&[4, 0, 2, 0]).unwrap_err();
    /// assert_eq!(err.code(), "tdx.quote.truncated");
    /// ```
    ///
    /// # Errors
    ///
    /// `tdx.quote.truncated`, `tdx.quote.unsupported_version`, `…unsupported_tee_type`,
    /// `…unsupported_key_type`, `…unsupported_body_type` or `…invalid_field`.
    pub fn parse(bytes: &[u8]) -> Result<Self, AttestationError> {
        let mut c = Cursor::new(bytes);
        let version = c.u16("header")?;
        let key_type = c.u16("header")?;
        let tee_type = c.u32("header")?;
        let qe_svn = c.u16("header")?;
        let pce_svn = c.u16("header")?;
        let qe_vendor_id: [u8; 16] = c.array("header")?;
        let user_data: [u8; 20] = c.array("header")?;
        if version != 4 && version != 5 {
            return Err(TdxError::UnsupportedVersion { version }.into());
        }
        if tee_type != TEE_TYPE_TDX {
            return Err(TdxError::UnsupportedTeeType { tee_type }.into());
        }
        if key_type != ATT_KEY_TYPE_ECDSA_P256 {
            return Err(TdxError::UnsupportedKeyType { key_type }.into());
        }
        if qe_vendor_id != INTEL_QE_VENDOR_ID {
            return Err(invalid(
                "qe_vendor_id",
                format!("{}, not Intel's", hex::encode(qe_vendor_id)),
            ));
        }
        let kind = if version == 5 {
            let body_type = c.u16("v5 body descriptor")?;
            let body_size = c.u32("v5 body descriptor")?;
            let (kind, expected) = match body_type {
                2 => (TdReportKind::Td10, TD10_BODY_LEN),
                3 => (TdReportKind::Td15, TD15_BODY_LEN),
                other => return Err(TdxError::UnsupportedBodyType { body_type: other }.into()),
            };
            if usize::try_from(body_size).ok() != Some(expected) {
                return Err(invalid(
                    "body_size",
                    format!("{body_size} for a {kind} body of {expected} bytes"),
                ));
            }
            kind
        } else {
            TdReportKind::Td10
        };
        let report = parse_td_report(&mut c, kind)?;
        let signed = bytes[..c.pos].to_vec();

        let sig_data_len = c.len_u32("signature data length")?;
        let sig_data = c.take(sig_data_len, "signature data")?;
        let encoded_len = c.pos;
        if c.pos > MAX_QUOTE_LEN {
            return Err(invalid(
                "signature data length",
                format!(
                    "the quote would be {} bytes, more than {MAX_QUOTE_LEN}",
                    c.pos
                ),
            ));
        }
        // Everything after `sig_data` is padding from the driver's buffer: not part of the quote.
        let mut s = Cursor::new(sig_data);
        let signature: [u8; 64] = s.array("quote signature")?;
        let attestation_key: [u8; 64] = s.array("attestation key")?;
        let cert_type = s.u16("certification data")?;
        if cert_type != CERT_TYPE_QE_REPORT {
            return Err(invalid(
                "certification data type",
                format!(
                    "{cert_type}, expected {CERT_TYPE_QE_REPORT} (QE report certification data)"
                ),
            ));
        }
        let cert_len = s.len_u32("certification data size")?;
        let cert_data = s.take(cert_len, "certification data")?;
        s.finish("signature data")?;

        let mut q = Cursor::new(cert_data);
        let qe_report_bytes: [u8; QE_REPORT_LEN] = q.array("QE report")?;
        let qe_report_signature: [u8; 64] = q.array("QE report signature")?;
        let auth_len = usize::from(q.u16("QE authentication data size")?);
        let qe_auth_data = q.take(auth_len, "QE authentication data")?.to_vec();
        let inner_type = q.u16("PCK certification data")?;
        if inner_type != CERT_TYPE_PCK_CHAIN {
            return Err(invalid(
                "PCK certification data type",
                format!("{inner_type}, expected {CERT_TYPE_PCK_CHAIN} (PCK certificate chain)"),
            ));
        }
        let pem_len = q.len_u32("PCK certificate chain size")?;
        let pck_chain_pem = q.take(pem_len, "PCK certificate chain")?.to_vec();
        q.finish("QE report certification data")?;

        Ok(Self {
            version,
            qe_svn,
            pce_svn,
            user_data,
            report,
            signature,
            attestation_key,
            qe_report: parse_qe_report(&qe_report_bytes),
            qe_report_bytes,
            qe_report_signature,
            qe_auth_data,
            pck_chain_pem,
            signed,
            encoded_len,
            evidence_sha384: {
                let mut d = [0u8; 48];
                d.copy_from_slice(
                    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA384, &bytes[..encoded_len])
                        .as_ref(),
                );
                d
            },
        })
    }

    /// The quote's length: up to the end of its signature data. Input bytes after it were
    /// ignored.
    pub fn encoded_len(&self) -> usize {
        self.encoded_len
    }

    /// The evidence digest: SHA-384 of the quote from its header through its signature data,
    /// so padding a host or driver adds after it changes nothing.
    pub fn evidence_digest(&self) -> [u8; 48] {
        self.evidence_sha384
    }

    /// The bytes the attestation key signed: the header and the TD report body.
    pub fn signed_bytes(&self) -> &[u8] {
        &self.signed
    }

    /// Quote version: 4 or 5.
    pub fn version(&self) -> u16 {
        self.version
    }

    /// QE SVN from the header.
    pub fn qe_svn(&self) -> u16 {
        self.qe_svn
    }

    /// PCE SVN from the header.
    pub fn pce_svn(&self) -> u16 {
        self.pce_svn
    }

    /// Header user data (the QE's; not the TD's REPORTDATA).
    pub fn user_data(&self) -> &[u8; 20] {
        &self.user_data
    }

    /// The TD report body.
    pub fn report(&self) -> &TdReport {
        &self.report
    }

    /// ECDSA P-256 signature (r ‖ s) over header and body by the attestation key.
    pub fn signature(&self) -> &[u8; 64] {
        &self.signature
    }

    /// The attestation key, raw X ‖ Y.
    pub fn attestation_key(&self) -> &[u8; 64] {
        &self.attestation_key
    }

    /// The QE report, parsed from [`TdxQuote::qe_report_bytes`].
    pub fn qe_report(&self) -> &QeReport {
        &self.qe_report
    }

    /// The raw QE report bytes the PCK signed.
    pub fn qe_report_bytes(&self) -> &[u8; QE_REPORT_LEN] {
        &self.qe_report_bytes
    }

    /// The PCK's signature (r ‖ s) over the QE report.
    pub fn qe_report_signature(&self) -> &[u8; 64] {
        &self.qe_report_signature
    }

    /// QE authentication data.
    pub fn qe_auth_data(&self) -> &[u8] {
        &self.qe_auth_data
    }

    /// The PCK chain as carried (PEM text, leaf first).
    pub fn pck_chain_pem(&self) -> &[u8] {
        &self.pck_chain_pem
    }
}

fn parse_td_report(c: &mut Cursor<'_>, kind: TdReportKind) -> Result<TdReport, AttestationError> {
    const W: &str = "TD report body";
    let tee_tcb_svn = c.array(W)?;
    let mr_seam = c.array(W)?;
    let mr_signer_seam = c.array(W)?;
    let seam_attributes = c.array(W)?;
    let td_attributes = u64::from_le_bytes(c.array(W)?);
    let xfam = c.array(W)?;
    let mr_td = c.array(W)?;
    let mr_config_id = c.array(W)?;
    let mr_owner = c.array(W)?;
    let mr_owner_config = c.array(W)?;
    let rtmr = [c.array(W)?, c.array(W)?, c.array(W)?, c.array(W)?];
    let report_data = c.array(W)?;
    let (tee_tcb_svn2, mr_service_td) = match kind {
        TdReportKind::Td10 => (None, None),
        TdReportKind::Td15 => (Some(c.array(W)?), Some(c.array(W)?)),
    };
    Ok(TdReport {
        kind,
        tee_tcb_svn,
        mr_seam,
        mr_signer_seam,
        seam_attributes,
        td_attributes,
        xfam,
        mr_td,
        mr_config_id,
        mr_owner,
        mr_owner_config,
        rtmr,
        report_data,
        tee_tcb_svn2,
        mr_service_td,
    })
}

#[cfg(test)]
impl TdReport {
    /// Parses a bare TD report body (`kind`'s length exactly), so unit tests elsewhere in the
    /// crate build reports from bytes, as [`TdxQuote::parse`] does.
    pub(crate) fn parse_body_for_tests(
        body: &[u8],
        kind: TdReportKind,
    ) -> Result<Self, AttestationError> {
        let mut c = Cursor::new(body);
        let report = parse_td_report(&mut c, kind)?;
        c.finish("TD report body")?;
        Ok(report)
    }
}

#[cfg(test)]
impl QeReport {
    /// Parses a bare QE report, for unit tests elsewhere in the crate.
    pub(crate) fn parse_for_tests(bytes: &[u8; QE_REPORT_LEN]) -> Self {
        parse_qe_report(bytes)
    }
}

fn parse_qe_report(b: &[u8; QE_REPORT_LEN]) -> QeReport {
    let arr = |at: usize| -> [u8; 32] {
        let mut a = [0u8; 32];
        a.copy_from_slice(&b[at..at + 32]);
        a
    };
    let mut cpu_svn = [0u8; 16];
    cpu_svn.copy_from_slice(&b[0..16]);
    let mut attributes = [0u8; 16];
    attributes.copy_from_slice(&b[48..64]);
    let mut report_data = [0u8; 64];
    report_data.copy_from_slice(&b[320..384]);
    QeReport {
        cpu_svn,
        misc_select: u32::from_le_bytes([b[16], b[17], b[18], b[19]]),
        attributes,
        mr_enclave: arr(64),
        mr_signer: arr(128),
        isv_prod_id: u16::from_le_bytes([b[256], b[257]]),
        isv_svn: u16::from_le_bytes([b[258], b[259]]),
        report_data,
    }
}

fn invalid(field: &'static str, reason: String) -> AttestationError {
    TdxError::InvalidField { field, reason }.into()
}

/// A bounds-checked reader; every read names what it was reading when the input ran out.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], AttestationError> {
        let available = self.bytes.len() - self.pos;
        if n > available {
            return Err(TdxError::QuoteTruncated {
                what,
                needed: n,
                available,
            }
            .into());
        }
        let out = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], AttestationError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N, what)?);
        Ok(a)
    }

    fn u16(&mut self, what: &'static str) -> Result<u16, AttestationError> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, AttestationError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    fn len_u32(&mut self, what: &'static str) -> Result<usize, AttestationError> {
        let n = self.u32(what)?;
        usize::try_from(n).map_err(|_| invalid(what, format!("{n} does not fit in memory")))
    }

    /// The structure must end exactly here.
    fn finish(&self, what: &'static str) -> Result<(), AttestationError> {
        let extra = self.bytes.len() - self.pos;
        if extra == 0 {
            Ok(())
        } else {
            Err(invalid(
                what,
                format!("{extra} bytes after its last field: nested lengths do not add up"),
            ))
        }
    }
}
