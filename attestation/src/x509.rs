//! Parsed X.509 certificates and CRLs that remember the exact bytes their signature covers, and
//! the certificate checks the Nitro, AMD (SEV-SNP) and Intel (TDX) chains share.
//!
//! The three chains are checked by hand rather than by a path-building library: each vendor uses
//! a fixed, short chain with its own names, algorithms and extensions, and the checks must name
//! which certificate failed. What is the same in all three stands here once, and fails with one
//! [`CertError`] naming the certificate's role and the check: validity at `now`
//! ([`DerCert::check_validity`]), critical extensions, basic constraints and key usage
//! ([`DerCert::check_extensions`]), name chaining and the signature algorithm
//! ([`DerCert::check_issued_by`]), the issuer's signature ([`DerCert::verify_signature`]) and
//! the EC key ([`DerCert::ec_public_key`]). Which algorithms a chain allows, and its root pin,
//! stay with the chain.

use aws_lc_rs::signature::{UnparsedPublicKey, VerificationAlgorithm};
use const_oid::ObjectIdentifier;
use der::{Decode, Reader, SliceReader};
use x509_cert::Certificate;
use x509_cert::crl::CertificateList;
use x509_cert::der::oid::db::rfc4519::COMMON_NAME;
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage};

use crate::UnixTime;
use crate::error::{CertCheck, CertError, CertRole, CrlWindow};

const ID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const ID_CE_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.15");
const ID_CE_BASIC_CONSTRAINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.19");

/// What a certificate is used as in its chain, for [`DerCert::check_extensions`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Usage {
    /// A CA with this many intermediate CAs below it in the chain (RFC 5280 §4.2.1.9).
    Ca {
        /// Intermediate CAs below it, not counting the end-entity certificate.
        below: usize,
    },
    /// The end-entity certificate.
    Leaf,
}

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
    /// Parses one DER certificate, the whole input, found in `role`.
    pub(crate) fn parse(der: Vec<u8>, role: impl Into<CertRole>) -> Result<Self, CertError> {
        let role = role.into();
        let malformed = |e: der::Error| {
            CertError::new(
                role,
                CertCheck::Malformed {
                    reason: e.to_string(),
                },
            )
        };
        let cert = Certificate::from_der(&der).map_err(malformed)?;
        // `from_der` above already checked the whole structure and its length.
        let tbs_range = first_inner_tlv(&der).map_err(malformed)?;
        Ok(Self {
            der,
            cert,
            tbs_range,
        })
    }

    /// notBefore <= now <= notAfter (inclusive at both ends); returns (notBefore, notAfter) in
    /// epoch seconds.
    pub(crate) fn check_validity(
        &self,
        role: impl Into<CertRole>,
        now: UnixTime,
    ) -> Result<(u64, u64), CertError> {
        let (not_before, not_after) = self.validity();
        let now = now.as_secs();
        if now < not_before {
            return Err(CertError::new(
                role,
                CertCheck::NotYetValid { not_before, now },
            ));
        }
        if now > not_after {
            return Err(CertError::new(role, CertCheck::Expired { not_after, now }));
        }
        Ok((not_before, not_after))
    }

    /// No critical extension but basicConstraints and keyUsage (RFC 5280 §4.2: a certificate
    /// with a critical extension the verifier does not process must be rejected); a CA says
    /// CA=true, respects its pathLenConstraint and, when keyUsage is present, has keyCertSign;
    /// an end-entity certificate is no CA and, when keyUsage is present, has digitalSignature.
    pub(crate) fn check_extensions(
        &self,
        role: impl Into<CertRole>,
        usage: Usage,
    ) -> Result<(), CertError> {
        let role = role.into();
        let fail = |check: CertCheck| Err(CertError::new(role, check));
        let tbs = self.cert.tbs_certificate();
        for ext in tbs.extensions().map_or(&[][..], Vec::as_slice) {
            if ext.critical
                && ext.extn_id != ID_CE_BASIC_CONSTRAINTS
                && ext.extn_id != ID_CE_KEY_USAGE
            {
                return fail(CertCheck::UnknownCriticalExtension { oid: ext.extn_id });
            }
        }
        let malformed = |what: &str, e: der::Error| {
            CertError::new(
                role,
                CertCheck::Malformed {
                    reason: format!("{what}: {e}"),
                },
            )
        };
        let bc = tbs
            .get_extension::<BasicConstraints>()
            .map_err(|e| malformed("basicConstraints", e))?
            .map(|(_critical, bc)| bc);
        let ku = tbs
            .get_extension::<KeyUsage>()
            .map_err(|e| malformed("keyUsage", e))?
            .map(|(_critical, ku)| ku);
        match usage {
            Usage::Ca { below } => {
                let Some(bc) = bc.filter(|bc| bc.ca) else {
                    return fail(CertCheck::NotCa);
                };
                if let Some(path_len) = bc.path_len_constraint
                    && below > usize::from(path_len)
                {
                    return fail(CertCheck::PathLenExceeded { path_len, below });
                }
                if ku.is_some_and(|ku| !ku.key_cert_sign()) {
                    return fail(CertCheck::KeyUsage {
                        missing: "keyCertSign",
                    });
                }
            }
            Usage::Leaf => {
                if bc.is_some_and(|bc| bc.ca) {
                    return fail(CertCheck::LeafIsCa);
                }
                if ku.is_some_and(|ku| !ku.digital_signature()) {
                    return fail(CertCheck::KeyUsage {
                        missing: "digitalSignature",
                    });
                }
            }
        }
        Ok(())
    }

    /// This certificate's issuer name is `issuer`'s subject, and its outer signatureAlgorithm
    /// is the one inside the signed part (RFC 5280 §4.1.1.2). Returns the algorithm and the
    /// signature for the chain to check against the algorithms it allows.
    pub(crate) fn check_issued_by(
        &self,
        issuer: &DerCert,
        role: impl Into<CertRole>,
    ) -> Result<(&spki::AlgorithmIdentifierOwned, &[u8]), CertError> {
        let role = role.into();
        let tbs = self.cert.tbs_certificate();
        let parent_subject = issuer.cert.tbs_certificate().subject();
        if tbs.issuer() != parent_subject {
            return Err(CertError::new(
                role,
                CertCheck::IssuerMismatch {
                    issuer: tbs.issuer().to_string(),
                    parent_subject: parent_subject.to_string(),
                },
            ));
        }
        let malformed = |reason: &str| {
            CertError::new(
                role,
                CertCheck::Malformed {
                    reason: reason.to_owned(),
                },
            )
        };
        let alg = self.cert.signature_algorithm();
        if alg != tbs.signature() {
            return Err(malformed(
                "signatureAlgorithm differs from tbsCertificate.signature",
            ));
        }
        let sig = self
            .cert
            .signature()
            .as_bytes()
            .ok_or_else(|| malformed("signature BIT STRING has unused bits"))?;
        Ok((alg, sig))
    }

    /// `sig` over this certificate's signed part verifies with `key` under `alg`.
    pub(crate) fn verify_signature(
        &self,
        alg: &'static dyn VerificationAlgorithm,
        key: &[u8],
        sig: &[u8],
        role: impl Into<CertRole>,
    ) -> Result<(), CertError> {
        UnparsedPublicKey::new(alg, key)
            .verify(self.tbs(), sig)
            .map_err(|_| CertError::new(role, CertCheck::BadSignature))
    }

    /// The certificate's EC public key: (named curve, uncompressed SEC1 point).
    pub(crate) fn ec_public_key(
        &self,
        role: impl Into<CertRole>,
    ) -> Result<(ObjectIdentifier, &[u8]), CertError> {
        let role = role.into();
        let unsupported =
            |algorithm: String| CertError::new(role, CertCheck::UnsupportedAlgorithm { algorithm });
        let spki = self.cert.tbs_certificate().subject_public_key_info();
        let oid = spki.algorithm.oid;
        if oid != ID_EC_PUBLIC_KEY {
            return Err(unsupported(format!(
                "public key {oid}, expected id-ecPublicKey"
            )));
        }
        let curve = match &spki.algorithm.parameters {
            Some(p) if !p.is_null() => p
                .to_ref()
                .decode_as::<ObjectIdentifier>()
                .map_err(|e| unsupported(format!("EC key parameters: {e}")))?,
            _ => return Err(unsupported("EC key without a named curve".to_owned())),
        };
        let point = spki
            .subject_public_key
            .as_bytes()
            .ok_or_else(|| unsupported("public key BIT STRING has unused bits".to_owned()))?;
        Ok((curve, point))
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

    /// The CRL names `issuer` as its issuer; else the two names.
    pub(crate) fn check_issuer(&self, issuer: &DerCert) -> Result<(), String> {
        let subject = issuer.cert.tbs_certificate().subject();
        let named = &self.crl.tbs_cert_list.issuer;
        if named == subject {
            Ok(())
        } else {
            Err(format!("issued by {named}, not by {subject}"))
        }
    }

    /// The signature algorithm (the outer one, equal to the one inside the signed part, RFC 5280
    /// §5.1.1.2) and the signature; else what is malformed.
    pub(crate) fn signature(&self) -> Result<(&spki::AlgorithmIdentifierOwned, &[u8]), String> {
        let list = &self.crl;
        if list.signature_algorithm != list.tbs_cert_list.signature {
            return Err("signatureAlgorithm differs from tbsCertList.signature".to_owned());
        }
        let sig = list
            .signature
            .as_bytes()
            .ok_or_else(|| "signature BIT STRING has unused bits".to_owned())?;
        Ok((&list.signature_algorithm, sig))
    }

    /// thisUpdate <= now <= nextUpdate (when the CRL names one).
    pub(crate) fn check_current(&self, now: UnixTime) -> Result<(), CrlWindow> {
        let now = now.as_secs();
        let (this_update, next_update) = self.window();
        if now < this_update {
            return Err(CrlWindow::NotYetIssued { this_update, now });
        }
        match next_update {
            Some(next_update) if now > next_update => Err(CrlWindow::Expired { next_update, now }),
            _ => Ok(()),
        }
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
