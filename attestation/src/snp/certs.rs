//! AMD certificates: ARK, ASK, ASVK, VCEK and VLEK, and the VCEK/VLEK extensions.
//!
//! Extensions live under `1.3.6.1.4.1.3704.1` (AMD "Versioned Chip Endorsement Key (VCEK)
//! Certificate and KDS Interface Specification", §3.1): `.1` structVersion, `.2` productName,
//! `.3.1` blSPL, `.3.2` teeSPL, `.3.3` snpSPL, `.3.8` ucodeSPL, `.3.9` fmcSPL (Turin), `.4` hwID
//! (VCEK only: 64 bytes, or 8 on Turin; raw in legacy certificates, wrapped in an OCTET STRING in
//! current ones), `.5` cspId (VLEK only).
//!
//! Real VCEKs have serial number 0, which RFC 5280 forbids; the parser accepts it (and a test
//! keeps it that way).

use const_oid::ObjectIdentifier;
use der::asn1::{Ia5StringRef, OctetStringRef};
use der::{Decode, Reader, SliceReader};
use x509_cert::Certificate;
use x509_cert::der::oid::db::rfc4519::COMMON_NAME;

use super::report::{Product, TcbVersion};
use crate::AttestationError;

const AMD_VEK_EXT: &str = "1.3.6.1.4.1.3704.1";
const OID_PRODUCT_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.2");
const OID_BL_SPL: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.1");
const OID_TEE_SPL: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.2");
const OID_SNP_SPL: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.3");
const OID_UCODE_SPL: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.8");
const OID_FMC_SPL: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.9");
const OID_HWID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.4");

/// Which certificate of an SNP chain an error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SnpCert {
    /// The AMD Root Key certificate (self-signed, pinned).
    Ark,
    /// The AMD SEV Key (signs VCEKs) or AMD SEV VLEK Key (ASVK, signs VLEKs).
    Ask,
    /// The VCEK or VLEK that signed the report.
    Vek,
    /// A certificate in the `--chain` bundle that is none of the above.
    Bundle(usize),
}

impl std::fmt::Display for SnpCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Ark => f.write_str("ARK"),
            Self::Ask => f.write_str("ASK/ASVK"),
            Self::Vek => f.write_str("VCEK/VLEK"),
            Self::Bundle(i) => write!(f, "chain certificate #{i}"),
        }
    }
}

/// A decoded certificate plus the bytes its signature covers.
#[derive(Clone, Debug)]
pub(crate) struct AmdCert {
    pub(crate) der: Vec<u8>,
    pub(crate) cert: Certificate,
    pub(crate) tbs_range: std::ops::Range<usize>,
}

impl AmdCert {
    /// Parses one DER certificate.
    pub(crate) fn from_der(der: Vec<u8>, role: SnpCert) -> Result<Self, AttestationError> {
        let malformed = |e: der::Error| AttestationError::SnpCertMalformed {
            cert: role,
            reason: e.to_string(),
        };
        let cert = Certificate::from_der(&der).map_err(malformed)?;
        // The signature covers the TBSCertificate bytes as received: record where they sit.
        // `Certificate::from_der` above already checked the whole structure and its length.
        let tbs_range = {
            let mut reader = SliceReader::new(&der).map_err(malformed)?;
            der::Header::decode(&mut reader).map_err(malformed)?;
            let start = usize::try_from(reader.position()).map_err(malformed)?;
            let tbs = reader.tlv_bytes().map_err(malformed)?;
            start..start + tbs.len()
        };
        Ok(Self {
            der,
            cert,
            tbs_range,
        })
    }

    pub(crate) fn tbs(&self) -> &[u8] {
        self.der.get(self.tbs_range.clone()).unwrap_or_default()
    }

    /// The subject's common name, or "".
    pub(crate) fn subject_cn(&self) -> String {
        cn(self.cert.tbs_certificate().subject())
    }

    /// The issuer's common name, or "".
    pub(crate) fn issuer_cn(&self) -> String {
        cn(self.cert.tbs_certificate().issuer())
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

fn cn(name: &x509_cert::name::Name) -> String {
    for atv in name.iter() {
        if atv.oid == COMMON_NAME {
            if let Ok(s) = atv.value.decode_as::<der::asn1::PrintableStringRef<'_>>() {
                return s.as_str().to_owned();
            }
            if let Ok(s) = atv.value.decode_as::<der::asn1::Utf8StringRef<'_>>() {
                return s.as_str().to_owned();
            }
            if let Ok(s) = atv.value.decode_as::<Ia5StringRef<'_>>() {
                return s.as_str().to_owned();
            }
        }
    }
    String::new()
}

/// Reads certificates from DER or from PEM (one or more `CERTIFICATE` blocks).
///
/// # Errors
///
/// `snp.cert.malformed` when the input is neither.
pub(crate) fn read_certificates(
    bytes: &[u8],
    role: SnpCert,
) -> Result<Vec<Vec<u8>>, AttestationError> {
    let malformed = |reason: String| AttestationError::SnpCertMalformed { cert: role, reason };
    if bytes.first() == Some(&0x30) {
        return Ok(vec![bytes.to_vec()]);
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|_| malformed("neither DER (starts with 0x30) nor PEM text".to_owned()))?;
    let mut out = Vec::new();
    let mut rest = text;
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    while let Some(start) = rest.find(BEGIN) {
        let after = &rest[start..];
        let end = after
            .find(END)
            .ok_or_else(|| malformed("PEM block without an END line".to_owned()))?;
        let block = &after[..end + END.len()];
        let (label, der) =
            der::pem::decode_vec(block.as_bytes()).map_err(|e| malformed(format!("PEM: {e}")))?;
        if label != "CERTIFICATE" {
            return Err(malformed(format!("PEM label {label:?}")));
        }
        out.push(der);
        rest = &after[end + END.len()..];
    }
    if out.is_empty() {
        return Err(malformed("no PEM CERTIFICATE block".to_owned()));
    }
    Ok(out)
}

/// The AMD extensions of a VCEK or VLEK.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct VekExtensions {
    /// productName, e.g. `Milan-B0` or `Genoa`.
    pub product_name: Option<String>,
    /// blSPL.
    pub bootloader: Option<u8>,
    /// teeSPL.
    pub tee: Option<u8>,
    /// snpSPL.
    pub snp: Option<u8>,
    /// ucodeSPL.
    pub microcode: Option<u8>,
    /// fmcSPL (Turin).
    pub fmc: Option<u8>,
    /// hwID (VCEK only), unwrapped.
    pub hwid: Option<Vec<u8>>,
}

impl VekExtensions {
    /// Extracts the AMD extensions from a DER certificate (its signature is not checked: use
    /// this for inspection, and [`SnpVerifier`](super::SnpVerifier) to trust them).
    ///
    /// # Errors
    ///
    /// `snp.cert.malformed` or `snp.cert.bad_extension`.
    pub fn from_der(der: &[u8]) -> Result<Self, AttestationError> {
        Self::from_cert(&AmdCert::from_der(der.to_vec(), SnpCert::Vek)?.cert)
    }

    /// Extracts the AMD extensions from a certificate.
    ///
    /// # Errors
    ///
    /// `snp.cert.bad_extension` when an AMD extension is malformed or repeated.
    pub(crate) fn from_cert(cert: &Certificate) -> Result<Self, AttestationError> {
        let mut out = Self::default();
        let exts = cert
            .tbs_certificate()
            .extensions()
            .map_or(&[][..], Vec::as_slice);
        for ext in exts {
            let oid = ext.extn_id;
            if !oid.to_string().starts_with(AMD_VEK_EXT) {
                continue;
            }
            let value = ext.extn_value.as_bytes();
            let bad = |reason: &str| AttestationError::SnpCertExtension {
                oid: oid.to_string(),
                reason: reason.to_owned(),
            };
            let spl = |slot: &mut Option<u8>| -> Result<(), AttestationError> {
                if slot.is_some() {
                    return Err(bad("repeated"));
                }
                *slot = Some(u8::from_der(value).map_err(|_| bad("not a DER INTEGER 0..255"))?);
                Ok(())
            };
            match oid {
                OID_BL_SPL => spl(&mut out.bootloader)?,
                OID_TEE_SPL => spl(&mut out.tee)?,
                OID_SNP_SPL => spl(&mut out.snp)?,
                OID_UCODE_SPL => spl(&mut out.microcode)?,
                OID_FMC_SPL => spl(&mut out.fmc)?,
                OID_PRODUCT_NAME => {
                    if out.product_name.is_some() {
                        return Err(bad("repeated"));
                    }
                    let s = Ia5StringRef::from_der(value).map_err(|_| bad("not an IA5String"))?;
                    out.product_name = Some(s.as_str().to_owned());
                }
                OID_HWID => {
                    if out.hwid.is_some() {
                        return Err(bad("repeated"));
                    }
                    out.hwid = Some(decode_hwid(value).ok_or_else(|| {
                        bad("neither 64 or 8 raw bytes nor an OCTET STRING of 64 or 8 bytes")
                    })?);
                }
                _ => {}
            }
        }
        Ok(out)
    }

    /// The TCB the certificate certifies, when all components `product` needs are present.
    pub fn tcb(&self, product: Product) -> Option<TcbVersion> {
        Some(TcbVersion {
            fmc: if product == Product::Turin {
                self.fmc?
            } else {
                0
            },
            bootloader: self.bootloader?,
            tee: self.tee?,
            snp: self.snp?,
            microcode: self.microcode?,
        })
    }
}

/// hwID is raw (legacy: 64 bytes, or 8 on Turin) or an OCTET STRING of those lengths. The
/// lengths differ by the two header bytes, so the two forms cannot be confused.
pub(crate) fn decode_hwid(value: &[u8]) -> Option<Vec<u8>> {
    if value.len() == 64 || value.len() == 8 {
        return Some(value.to_vec());
    }
    let inner = <&OctetStringRef>::from_der(value).ok()?;
    let inner = inner.as_bytes();
    (inner.len() == 64 || inner.len() == 8).then(|| inner.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hwid_forms() {
        let raw: Vec<u8> = (0..64).collect();
        assert_eq!(decode_hwid(&raw), Some(raw.clone()));
        let mut wrapped = vec![0x04, 0x40];
        wrapped.extend_from_slice(&raw);
        assert_eq!(decode_hwid(&wrapped), Some(raw));
        assert_eq!(
            decode_hwid(&[0x04, 0x08, 1, 2, 3, 4, 5, 6, 7, 8]),
            Some(vec![1, 2, 3, 4, 5, 6, 7, 8])
        );
        assert_eq!(decode_hwid(&[1; 8]), Some(vec![1; 8]));
        assert_eq!(decode_hwid(&[0x04, 0x03, 1, 2, 3]), None);
        assert_eq!(decode_hwid(&[0; 63]), None);
        // Trailing bytes after the OCTET STRING.
        let mut trailing = vec![0x04, 0x08, 1, 2, 3, 4, 5, 6, 7, 8, 0];
        assert_eq!(decode_hwid(&trailing), None);
        trailing.truncate(9);
        assert_eq!(decode_hwid(&trailing), None);
    }

    #[test]
    fn pem_and_der_inputs() {
        assert_eq!(
            read_certificates(&[0x30, 0x00], SnpCert::Vek).expect("der"),
            vec![vec![0x30, 0x00]]
        );
        assert_eq!(
            read_certificates(b"hello", SnpCert::Vek)
                .expect_err("no pem")
                .code(),
            "snp.cert.malformed"
        );
    }
}
