//! Image signing (research/nitro.md §1.6): a COSE_Sign1 (ES384, untagged) over PCR0, stored
//! with the signer's PEM certificate in nitro-cli's serde_cbor shape. PCR8 is
//! `E(H(DER(certificate)))`.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P384_SHA384_FIXED, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, KeyPair,
    UnparsedPublicKey,
};
use ciborium::value::Value;
use cloister_attestation::nitro::pcr::{PCR_LEN, nitro_measure};
use coset::iana::Algorithm;
use coset::{
    CborSerializable, CoseSign1, CoseSign1Builder, HeaderBuilder, RegisteredLabelWithPrivate,
};
use der::Decode;
use x509_cert::Certificate;

use crate::EifError;
use crate::cbor;

const SECP384R1: &str = "1.3.132.0.34";
const ID_EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";

/// An X.509 signing certificate, kept as DER and as the canonical PEM nitro-cli stores.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SigningCertificate {
    der: Vec<u8>,
    pem: String,
    point: Vec<u8>,
    summary: CertificateSummary,
}

/// What `describe` reports about a signing certificate.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CertificateSummary {
    /// Issuer distinguished name (RFC 4514 string).
    #[serde(rename = "IssuerName")]
    pub issuer: String,
    /// Signature algorithm of the image signature.
    #[serde(rename = "Algorithm")]
    pub algorithm: String,
    /// Start of validity, Unix seconds.
    #[serde(rename = "NotBefore")]
    pub not_before: u64,
    /// End of validity, Unix seconds.
    #[serde(rename = "NotAfter")]
    pub not_after: u64,
}

impl SigningCertificate {
    /// Parses a PEM (or DER) certificate with a P-384 EC public key.
    ///
    /// # Errors
    ///
    /// `eif.bad_certificate` if it does not parse or its key is not P-384.
    pub fn parse(bytes: &[u8]) -> Result<Self, EifError> {
        let bad = |reason: String| EifError::BadCertificate { reason };
        let der = if bytes.starts_with(b"-----") {
            let (label, der) = der::pem::decode_vec(bytes).map_err(|e| bad(format!("PEM: {e}")))?;
            if label != "CERTIFICATE" {
                return Err(bad(format!("PEM label {label:?}, expected CERTIFICATE")));
            }
            der
        } else {
            bytes.to_vec()
        };
        let cert = Certificate::from_der(&der).map_err(|e| bad(format!("DER: {e}")))?;
        let tbs = cert.tbs_certificate();
        let spki = tbs.subject_public_key_info();
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.to_ref().decode_as::<der::asn1::ObjectIdentifier>().ok());
        if spki.algorithm.oid.to_string() != ID_EC_PUBLIC_KEY
            || curve.map(|c| c.to_string()).as_deref() != Some(SECP384R1)
        {
            return Err(bad(format!(
                "public key {} (curve {curve:?}); only EC P-384 is supported",
                spki.algorithm.oid
            )));
        }
        let point = spki
            .subject_public_key
            .as_bytes()
            .ok_or_else(|| bad("public key BIT STRING has unused bits".to_owned()))?
            .to_vec();
        let validity = tbs.validity();
        let summary = CertificateSummary {
            issuer: tbs.issuer().to_string(),
            algorithm: "ES384".to_owned(),
            not_before: validity.not_before.to_unix_duration().as_secs(),
            not_after: validity.not_after.to_unix_duration().as_secs(),
        };
        let pem = der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, &der)
            .map_err(|e| bad(format!("PEM encoding: {e}")))?;
        Ok(Self {
            der,
            pem,
            point,
            summary,
        })
    }

    /// The DER bytes.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The PEM text stored in the signature section.
    pub fn pem(&self) -> &str {
        &self.pem
    }

    /// PCR8: `SHA384(0^48 ‖ SHA384(DER))`.
    pub fn pcr8(&self) -> [u8; PCR_LEN] {
        nitro_measure(&self.der)
    }

    /// Issuer, algorithm and validity, for `describe`.
    pub fn summary(&self) -> &CertificateSummary {
        &self.summary
    }
}

/// A P-384 private key and its certificate.
#[derive(Debug)]
pub struct SigningKey {
    key: EcdsaKeyPair,
    cert: SigningCertificate,
}

impl SigningKey {
    /// Loads a PEM private key (SEC1 `EC PRIVATE KEY` or PKCS#8 `PRIVATE KEY`) and a PEM
    /// certificate, and checks that they belong together.
    ///
    /// # Errors
    ///
    /// `eif.bad_key` or `eif.bad_certificate`.
    pub fn from_pem(key_pem: &[u8], cert_pem: &[u8]) -> Result<Self, EifError> {
        let cert = SigningCertificate::parse(cert_pem)?;
        let bad = |reason: String| EifError::BadKey { reason };
        // openssl ecparam -genkey writes an EC PARAMETERS block first: start at the key block.
        let start = find(key_pem, b"-----BEGIN EC PRIVATE KEY-----")
            .or_else(|| find(key_pem, b"-----BEGIN PRIVATE KEY-----"))
            .ok_or_else(|| bad("no EC PRIVATE KEY or PRIVATE KEY PEM block".to_owned()))?;
        let (_, der) =
            der::pem::decode_vec(&key_pem[start..]).map_err(|e| bad(format!("PEM: {e}")))?;
        let key = EcdsaKeyPair::from_private_key_der(&ECDSA_P384_SHA384_FIXED_SIGNING, &der)
            .map_err(|e| bad(format!("not a P-384 private key: {e}")))?;
        if key.public_key().as_ref() != cert.point.as_slice() {
            return Err(bad(
                "the private key does not match the certificate".to_owned()
            ));
        }
        Ok(Self { key, cert })
    }

    /// The certificate.
    pub fn certificate(&self) -> &SigningCertificate {
        &self.cert
    }

    /// The signature section for an image whose PCR0 is `pcr0`.
    ///
    /// # Errors
    ///
    /// `eif.bad_key` if signing fails.
    pub fn signature_section(&self, pcr0: &[u8; PCR_LEN]) -> Result<Vec<u8>, EifError> {
        let rng = SystemRandom::new();
        let mut failure = None;
        let sign1 = CoseSign1Builder::new()
            .protected(HeaderBuilder::new().algorithm(Algorithm::ES384).build())
            .payload(pcr_info(pcr0))
            .create_signature(b"", |tbs| match self.key.sign(&rng, tbs) {
                Ok(sig) => sig.as_ref().to_vec(),
                Err(e) => {
                    failure = Some(e);
                    Vec::new()
                }
            })
            .build();
        if let Some(e) = failure {
            return Err(EifError::BadKey {
                reason: format!("signing failed: {e}"),
            });
        }
        let cose = sign1.to_vec().map_err(|e| EifError::BadKey {
            reason: format!("COSE encoding: {e}"),
        })?;
        let mut out = Vec::with_capacity(4 * (cose.len() + self.cert.pem.len()));
        cbor::head(&mut out, 4, 1);
        cbor::head(&mut out, 5, 2);
        cbor::text(&mut out, "signing_certificate");
        cbor::uint_array(&mut out, self.cert.pem.as_bytes());
        cbor::text(&mut out, "signature");
        cbor::uint_array(&mut out, &cose);
        Ok(out)
    }
}

/// serde_cbor of `PcrInfo { register_index: 0, register_value: pcr0 }`.
fn pcr_info(pcr0: &[u8; PCR_LEN]) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    cbor::head(&mut out, 5, 2);
    cbor::text(&mut out, "register_index");
    cbor::head(&mut out, 0, 0);
    cbor::text(&mut out, "register_value");
    cbor::uint_array(&mut out, pcr0);
    out
}

/// A parsed signature section: the certificate and the COSE_Sign1 over PCR0.
#[derive(Clone, Debug)]
pub struct SignatureSection {
    cert: SigningCertificate,
    sign1: CoseSign1,
}

impl SignatureSection {
    /// Parses the section bytes (one `PcrSignature` entry).
    ///
    /// # Errors
    ///
    /// `eif.bad_signature_section`, `eif.bad_certificate`.
    pub fn parse(bytes: &[u8]) -> Result<Self, EifError> {
        let bad = |reason: &str| EifError::BadSignatureSection {
            reason: reason.to_owned(),
        };
        let value: Value =
            ciborium::from_reader(bytes).map_err(|e| EifError::BadSignatureSection {
                reason: format!("CBOR: {e}"),
            })?;
        let Value::Array(entries) = &value else {
            return Err(bad("not a CBOR array"));
        };
        let [entry] = entries.as_slice() else {
            return Err(EifError::BadSignatureSection {
                reason: format!("{} entries; expected exactly one (PCR0)", entries.len()),
            });
        };
        let [cert, sig] = cbor::struct_fields(entry, ["signing_certificate", "signature"])
            .ok_or_else(|| bad("entry is not a map of signing_certificate and signature"))?;
        let cert = cbor::as_uint_array(cert)
            .ok_or_else(|| bad("signing_certificate is not an array of bytes"))?;
        let sig =
            cbor::as_uint_array(sig).ok_or_else(|| bad("signature is not an array of bytes"))?;
        let cert = SigningCertificate::parse(&cert)?;
        let sign1 = CoseSign1::from_slice(&sig).map_err(|e| EifError::BadSignatureSection {
            reason: format!("COSE_Sign1: {e}"),
        })?;
        Ok(Self { cert, sign1 })
    }

    /// The signing certificate.
    pub fn certificate(&self) -> &SigningCertificate {
        &self.cert
    }

    /// Checks that the signature is ES384 over `register_index 0 = pcr0` and verifies with the
    /// certificate's key.
    ///
    /// # Errors
    ///
    /// `eif.unsupported_algorithm`, `eif.bad_signature_section`, `eif.signed_pcr_mismatch`,
    /// `eif.signature_invalid`.
    pub fn verify(&self, pcr0: &[u8; PCR_LEN]) -> Result<(), EifError> {
        let alg = &self.sign1.protected.header.alg;
        if *alg != Some(RegisteredLabelWithPrivate::Assigned(Algorithm::ES384)) {
            return Err(EifError::UnsupportedAlgorithm {
                found: format!("{alg:?}"),
            });
        }
        let bad = |reason: &str| EifError::BadSignatureSection {
            reason: reason.to_owned(),
        };
        let payload = self
            .sign1
            .payload
            .as_deref()
            .ok_or_else(|| bad("COSE_Sign1 has no payload"))?;
        let value: Value =
            ciborium::from_reader(payload).map_err(|e| EifError::BadSignatureSection {
                reason: format!("payload CBOR: {e}"),
            })?;
        let [index, register] = cbor::struct_fields(&value, ["register_index", "register_value"])
            .ok_or_else(|| bad("payload is not a PcrInfo map"))?;
        let index = match index {
            Value::Integer(i) => i64::try_from(i128::from(*i)).unwrap_or(i64::MAX),
            _ => return Err(bad("register_index is not an integer")),
        };
        let register =
            cbor::as_uint_array(register).ok_or_else(|| bad("register_value is not bytes"))?;
        if index != 0 || register.as_slice() != pcr0.as_slice() {
            return Err(EifError::SignedPcrMismatch {
                index,
                signed: hex(&register),
                actual: hex(pcr0),
            });
        }
        let key = UnparsedPublicKey::new(&ECDSA_P384_SHA384_FIXED, &self.cert.point);
        self.sign1
            .verify_signature(b"", |sig, tbs| key.verify(tbs, sig))
            .map_err(|_| EifError::SignatureInvalid)
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}
