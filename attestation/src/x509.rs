//! Parsed X.509 certificates and CRLs that remember the exact bytes their signature covers.
//!
//! The AMD (SEV-SNP) and Intel (TDX) chains are checked by hand rather than by a path-building
//! library: both vendors use fixed, short chains with vendor-specific names and extensions, and
//! the checks must name which certificate failed. These two types are the part both share.

use der::{Decode, Reader, SliceReader};
use x509_cert::Certificate;
use x509_cert::crl::CertificateList;
use x509_cert::der::oid::db::rfc4519::COMMON_NAME;

/// Where the first inner TLV of a DER SEQUENCE sits: the to-be-signed part of a certificate or
/// CRL, as received (never re-encoded).
fn first_inner_tlv(der: &[u8]) -> Result<std::ops::Range<usize>, der::Error> {
    let mut reader = SliceReader::new(der)?;
    der::Header::decode(&mut reader)?;
    let start = usize::try_from(reader.position())?;
    let tbs = reader.tlv_bytes()?;
    Ok(start..start + tbs.len())
}

/// A decoded certificate plus the bytes its signature covers.
#[derive(Clone, Debug)]
pub(crate) struct DerCert {
    pub(crate) der: Vec<u8>,
    pub(crate) cert: Certificate,
    tbs_range: std::ops::Range<usize>,
}

impl DerCert {
    /// Parses one DER certificate; the error is the DER decoder's message.
    pub(crate) fn parse(der: Vec<u8>) -> Result<Self, String> {
        let cert = Certificate::from_der(&der).map_err(|e| e.to_string())?;
        // `from_der` above already checked the whole structure and its length.
        let tbs_range = first_inner_tlv(&der).map_err(|e| e.to_string())?;
        Ok(Self {
            der,
            cert,
            tbs_range,
        })
    }

    /// The TBSCertificate bytes as received.
    pub(crate) fn tbs(&self) -> &[u8] {
        self.der.get(self.tbs_range.clone()).unwrap_or_default()
    }

    /// The subject's common name, or "".
    pub(crate) fn subject_cn(&self) -> String {
        common_name(self.cert.tbs_certificate().subject())
    }

    /// The issuer's common name, or "".
    pub(crate) fn issuer_cn(&self) -> String {
        common_name(self.cert.tbs_certificate().issuer())
    }

    /// Serial number, big-endian bytes without leading zeros.
    pub(crate) fn serial(&self) -> &[u8] {
        self.cert.tbs_certificate().serial_number().as_bytes()
    }

    /// (notBefore, notAfter), epoch seconds.
    pub(crate) fn validity(&self) -> (u64, u64) {
        let v = self.cert.tbs_certificate().validity();
        (
            v.not_before.to_unix_duration().as_secs(),
            v.not_after.to_unix_duration().as_secs(),
        )
    }
}

/// A decoded CRL plus the bytes its signature covers.
#[derive(Clone, Debug)]
pub(crate) struct DerCrl {
    pub(crate) der: Vec<u8>,
    pub(crate) crl: CertificateList,
    tbs_range: std::ops::Range<usize>,
}

impl DerCrl {
    /// Parses one DER CRL; the error is the DER decoder's message.
    pub(crate) fn parse(der: Vec<u8>) -> Result<Self, String> {
        let crl = CertificateList::from_der(&der).map_err(|e| e.to_string())?;
        let tbs_range = first_inner_tlv(&der).map_err(|e| e.to_string())?;
        Ok(Self {
            der,
            crl,
            tbs_range,
        })
    }

    /// The TBSCertList bytes as received.
    pub(crate) fn tbs(&self) -> &[u8] {
        self.der.get(self.tbs_range.clone()).unwrap_or_default()
    }

    /// True when `serial` (big-endian, no leading zeros) is listed.
    pub(crate) fn is_revoked(&self, serial: &[u8]) -> bool {
        self.crl
            .tbs_cert_list
            .revoked_certificates
            .as_deref()
            .unwrap_or_default()
            .iter()
            .any(|r| r.serial_number.as_bytes() == serial)
    }

    /// (thisUpdate, nextUpdate), epoch seconds; `None` when the CRL names no next update.
    pub(crate) fn window(&self) -> (u64, Option<u64>) {
        let tbs = &self.crl.tbs_cert_list;
        (
            tbs.this_update.to_unix_duration().as_secs(),
            tbs.next_update.map(|t| t.to_unix_duration().as_secs()),
        )
    }
}

/// The common name of `name` (PrintableString, UTF8String or IA5String), or "".
pub(crate) fn common_name(name: &x509_cert::name::Name) -> String {
    for atv in name.iter() {
        if atv.oid == COMMON_NAME {
            if let Ok(s) = atv.value.decode_as::<der::asn1::PrintableStringRef<'_>>() {
                return s.as_str().to_owned();
            }
            if let Ok(s) = atv.value.decode_as::<der::asn1::Utf8StringRef<'_>>() {
                return s.as_str().to_owned();
            }
            if let Ok(s) = atv.value.decode_as::<der::asn1::Ia5StringRef<'_>>() {
                return s.as_str().to_owned();
            }
        }
    }
    String::new()
}

/// Reads certificates from DER or from PEM (one or more `CERTIFICATE` blocks, any text between
/// them ignored); the error says why the input is neither.
pub(crate) fn read_certificates(bytes: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    if bytes.first() == Some(&0x30) {
        return Ok(vec![bytes.to_vec()]);
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|_| "neither DER (starts with 0x30) nor PEM text".to_owned())?;
    let mut out = Vec::new();
    let mut rest = text;
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    while let Some(start) = rest.find(BEGIN) {
        let after = &rest[start..];
        let end = after
            .find(END)
            .ok_or_else(|| "PEM block without an END line".to_owned())?;
        let block = &after[..end + END.len()];
        let (label, der) =
            der::pem::decode_vec(block.as_bytes()).map_err(|e| format!("PEM: {e}"))?;
        if label != "CERTIFICATE" {
            return Err(format!("PEM label {label:?}"));
        }
        out.push(der);
        rest = &after[end + END.len()..];
    }
    if out.is_empty() {
        return Err("no PEM CERTIFICATE block".to_owned());
    }
    Ok(out)
}
