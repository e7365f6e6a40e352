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

use crate::error::SnpError;
use const_oid::ObjectIdentifier;
use der::Decode;
use der::asn1::{Ia5StringRef, OctetStringRef};
use x509_cert::Certificate;

use super::report::{Product, TcbVersion};
use crate::AttestationError;
use crate::error::{CertCheck, CertError};
use crate::x509::DerCert;

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

/// An AMD certificate: a [`DerCert`] whose parse errors name the chain position.
pub(crate) type AmdCert = DerCert;

impl AmdCert {
    /// Parses one DER certificate in the position `role`.
    pub(crate) fn from_der(der: Vec<u8>, role: SnpCert) -> Result<Self, CertError> {
        Self::parse(der, role)
    }
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
    crate::x509::read_certificates(bytes)
        .map_err(|reason| CertError::new(role, CertCheck::Malformed { reason }).into())
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
            let bad = |reason: &str| SnpError::CertExtension {
                oid: oid.to_string(),
                reason: reason.to_owned(),
            };
            let spl = |slot: &mut Option<u8>| -> Result<(), AttestationError> {
                if slot.is_some() {
                    return Err(bad("repeated").into());
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
                        return Err(bad("repeated").into());
                    }
                    let s = Ia5StringRef::from_der(value).map_err(|_| bad("not an IA5String"))?;
                    out.product_name = Some(s.as_str().to_owned());
                }
                OID_HWID => {
                    if out.hwid.is_some() {
                        return Err(bad("repeated").into());
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
