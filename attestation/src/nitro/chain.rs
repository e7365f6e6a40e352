//! X.509 path validation for the Nitro chain (RFC 5280 §6, the subset a pinned, four-deep
//! ECDSA chain needs).
//!
//! The path is `cabundle[0]` (byte-equal to a pinned anchor) → `cabundle[1]` → … →
//! `cabundle[n-1]` → leaf. For every certificate: the issuer's signature, issuer name = parent
//! subject, validity at `now` (inclusive at both ends, the root included, as AWS's procedure
//! says), no unknown critical extension. For every CA: basicConstraints CA=true, pathLen
//! respected, keyCertSign when keyUsage is present. For the leaf: not a CA, digitalSignature when
//! keyUsage is present, a P-384 key. No revocation: AWS publishes no CRL for this PKI.
//!
//! [`verify_chain`] depends only on the anchor, the certificate bytes and `now`, and only the
//! validity checks depend on `now`. It returns the window `[not_before, not_after]` of the whole
//! path, so a cache keyed by (anchor, cabundle, leaf) bytes can sit in front of it: a cached
//! success holds for any `now` inside that window and must be recomputed outside it.

use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use const_oid::ObjectIdentifier;
use der::{Decode, Reader, SliceReader};
use x509_cert::Certificate;
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage};

use super::anchor::TrustAnchor;
use crate::{AttestationError, ChainPosition, UnixTime};

const ID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const SECP384R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const SECP256R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const ECDSA_WITH_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const ECDSA_WITH_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
const ID_CE_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.15");
const ID_CE_BASIC_CONSTRAINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.19");

/// The outcome of a successful path validation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct VerifiedChain {
    /// The leaf's public key: an uncompressed SEC1 P-384 point (97 bytes).
    pub(crate) leaf_public_key: Vec<u8>,
    /// Latest notBefore in the chain, epoch seconds: the chain is valid from here…
    pub(crate) not_before: u64,
    /// …to the earliest notAfter, inclusive.
    pub(crate) not_after: u64,
}

/// Validates `leaf ← cabundle[n-1] ← … ← cabundle[0]` at `now`, with `cabundle[0]` pinned to
/// `anchor`.
///
/// # Errors
///
/// `nitro.chain.*` naming the certificate and the check that failed.
pub(crate) fn verify_chain(
    anchor: &TrustAnchor,
    cabundle: &[Vec<u8>],
    leaf: &[u8],
    now: UnixTime,
) -> Result<VerifiedChain, AttestationError> {
    let Some(root) = cabundle.first() else {
        return Err(AttestationError::InvalidField {
            field: "cabundle",
            reason: "empty; it must hold at least the root".to_owned(),
        });
    };
    if root.as_slice() != anchor.der() {
        return Err(AttestationError::UntrustedRoot {
            root_sha256: hex::encode(crate::nitro::anchor::sha256(root)),
        });
    }

    let mut certs = Vec::with_capacity(cabundle.len() + 1);
    for (i, der) in cabundle.iter().enumerate() {
        certs.push(ParsedCert::parse(der, ChainPosition::CaBundle(i))?);
    }
    certs.push(ParsedCert::parse(leaf, ChainPosition::Leaf)?);

    let ca_count = cabundle.len();
    let mut not_before = 0u64;
    let mut not_after = u64::MAX;
    let mut parent: Option<&ParsedCert> = None;
    for (i, cert) in certs.iter().enumerate() {
        // Authenticity first: a forged certificate should be reported as forged, not as expired.
        if let Some(parent) = parent {
            cert.check_issued_by(parent)?;
        }
        cert.check_no_unknown_critical_extension()?;
        let (nb, na) = cert.check_validity(now)?;
        not_before = not_before.max(nb);
        not_after = not_after.min(na);
        if i < ca_count {
            // CAs below this one in the path, not counting the leaf (RFC 5280 §4.2.1.9).
            let below = ca_count - 1 - i;
            cert.check_ca(below)?;
        } else {
            cert.check_leaf()?;
        }
        parent = Some(cert);
    }

    // `certs` ends with the leaf, pushed above.
    let Some(leaf) = certs.last() else {
        return Err(AttestationError::MissingField {
            field: "certificate",
        });
    };
    let (curve, point) = leaf.ec_key()?;
    if curve != SECP384R1 {
        return Err(AttestationError::UnsupportedAlgorithm {
            position: ChainPosition::Leaf,
            algorithm: format!("leaf key on curve {curve}; ES384 needs P-384"),
        });
    }
    Ok(VerifiedChain {
        leaf_public_key: point.to_vec(),
        not_before,
        not_after,
    })
}

/// A decoded certificate plus the exact bytes its signature covers.
struct ParsedCert<'a> {
    position: ChainPosition,
    cert: Certificate,
    tbs_der: &'a [u8],
}

impl<'a> ParsedCert<'a> {
    fn parse(der: &'a [u8], position: ChainPosition) -> Result<Self, AttestationError> {
        let malformed = |e: der::Error| AttestationError::CertificateMalformed {
            position,
            reason: e.to_string(),
        };
        let cert = Certificate::from_der(der).map_err(malformed)?;
        // The signature covers the TBSCertificate bytes as received; take them verbatim rather
        // than re-encoding the decoded structure.
        let mut reader = SliceReader::new(der).map_err(malformed)?;
        let tbs_der = reader
            .sequence(|r: &mut SliceReader<'a>| {
                let tbs = r.tlv_bytes()?;
                r.tlv_bytes()?; // signatureAlgorithm
                r.tlv_bytes()?; // signatureValue
                Ok::<_, der::Error>(tbs)
            })
            .map_err(malformed)?;
        reader.finish().map_err(malformed)?;
        Ok(Self {
            position,
            cert,
            tbs_der,
        })
    }

    /// Name chaining and the issuer's signature over this certificate.
    fn check_issued_by(&self, parent: &ParsedCert<'_>) -> Result<(), AttestationError> {
        let tbs = self.cert.tbs_certificate();
        let parent_subject = parent.cert.tbs_certificate().subject();
        if tbs.issuer() != parent_subject {
            return Err(AttestationError::IssuerMismatch {
                position: self.position,
                issuer: tbs.issuer().to_string(),
                parent_subject: parent_subject.to_string(),
            });
        }
        // RFC 5280 §4.1.1.2: the outer and inner algorithm identifiers must match.
        let sig_alg = self.cert.signature_algorithm();
        if sig_alg != tbs.signature() {
            return Err(AttestationError::CertificateMalformed {
                position: self.position,
                reason: "signatureAlgorithm differs from tbsCertificate.signature".to_owned(),
            });
        }
        // ecdsa-with-SHA* identifiers carry no parameters (RFC 5758 §3.2).
        if sig_alg.parameters.is_some() {
            return Err(AttestationError::UnsupportedAlgorithm {
                position: self.position,
                algorithm: format!("{} with parameters", sig_alg.oid),
            });
        }
        let (curve, point) = parent.ec_key()?;
        let oid = sig_alg.oid;
        let alg: &'static dyn VerificationAlgorithm =
            if curve == SECP384R1 && oid == ECDSA_WITH_SHA384 {
                &signature::ECDSA_P384_SHA384_ASN1
            } else if curve == SECP384R1 && oid == ECDSA_WITH_SHA256 {
                &signature::ECDSA_P384_SHA256_ASN1
            } else if curve == SECP256R1 && oid == ECDSA_WITH_SHA256 {
                &signature::ECDSA_P256_SHA256_ASN1
            } else if curve == SECP256R1 && oid == ECDSA_WITH_SHA384 {
                &signature::ECDSA_P256_SHA384_ASN1
            } else {
                return Err(AttestationError::UnsupportedAlgorithm {
                    position: self.position,
                    algorithm: format!("signature {oid} by a key on curve {curve}"),
                });
            };
        let sig = self.cert.signature().as_bytes().ok_or_else(|| {
            AttestationError::CertificateMalformed {
                position: self.position,
                reason: "signature BIT STRING has unused bits".to_owned(),
            }
        })?;
        UnparsedPublicKey::new(alg, point)
            .verify(self.tbs_der, sig)
            .map_err(|_| AttestationError::ChainBadSignature {
                position: self.position,
            })
    }

    /// notBefore <= now <= notAfter; returns (notBefore, notAfter) in epoch seconds.
    fn check_validity(&self, now: UnixTime) -> Result<(u64, u64), AttestationError> {
        let validity = self.cert.tbs_certificate().validity();
        let not_before = validity.not_before.to_unix_duration().as_secs();
        let not_after = validity.not_after.to_unix_duration().as_secs();
        let now = now.as_secs();
        if now < not_before {
            return Err(AttestationError::CertificateNotYetValid {
                position: self.position,
                not_before,
                now,
            });
        }
        if now > not_after {
            return Err(AttestationError::CertificateExpired {
                position: self.position,
                not_after,
                now,
            });
        }
        Ok((not_before, not_after))
    }

    /// RFC 5280 §4.2: a certificate with a critical extension the verifier does not process
    /// must be rejected. This verifier processes basicConstraints and keyUsage.
    fn check_no_unknown_critical_extension(&self) -> Result<(), AttestationError> {
        let extensions = self
            .cert
            .tbs_certificate()
            .extensions()
            .map_or(&[][..], Vec::as_slice);
        for ext in extensions {
            if ext.critical
                && ext.extn_id != ID_CE_BASIC_CONSTRAINTS
                && ext.extn_id != ID_CE_KEY_USAGE
            {
                return Err(AttestationError::UnsupportedCriticalExtension {
                    position: self.position,
                    oid: ext.extn_id.to_string(),
                });
            }
        }
        Ok(())
    }

    /// A CA with `below` intermediate CAs beneath it in this path.
    fn check_ca(&self, below: usize) -> Result<(), AttestationError> {
        match self.basic_constraints()? {
            Some(bc) if bc.ca => {
                if let Some(path_len) = bc.path_len_constraint
                    && below > usize::from(path_len)
                {
                    return Err(AttestationError::PathLenExceeded {
                        position: self.position,
                        path_len,
                        below,
                    });
                }
            }
            _ => {
                return Err(AttestationError::NotCa {
                    position: self.position,
                });
            }
        }
        if let Some(ku) = self.key_usage()?
            && !ku.key_cert_sign()
        {
            return Err(AttestationError::KeyUsage {
                position: self.position,
                missing: "keyCertSign",
            });
        }
        Ok(())
    }

    /// The end-entity certificate that signs the document.
    fn check_leaf(&self) -> Result<(), AttestationError> {
        if let Some(bc) = self.basic_constraints()?
            && bc.ca
        {
            return Err(AttestationError::LeafIsCa);
        }
        if let Some(ku) = self.key_usage()?
            && !ku.digital_signature()
        {
            return Err(AttestationError::KeyUsage {
                position: self.position,
                missing: "digitalSignature",
            });
        }
        Ok(())
    }

    fn basic_constraints(&self) -> Result<Option<BasicConstraints>, AttestationError> {
        self.cert
            .tbs_certificate()
            .get_extension::<BasicConstraints>()
            .map(|found| found.map(|(_critical, bc)| bc))
            .map_err(|e| AttestationError::CertificateMalformed {
                position: self.position,
                reason: format!("basicConstraints: {e}"),
            })
    }

    fn key_usage(&self) -> Result<Option<KeyUsage>, AttestationError> {
        self.cert
            .tbs_certificate()
            .get_extension::<KeyUsage>()
            .map(|found| found.map(|(_critical, ku)| ku))
            .map_err(|e| AttestationError::CertificateMalformed {
                position: self.position,
                reason: format!("keyUsage: {e}"),
            })
    }

    /// The certificate's EC public key: (named curve, uncompressed point).
    fn ec_key(&self) -> Result<(ObjectIdentifier, &[u8]), AttestationError> {
        let spki = self.cert.tbs_certificate().subject_public_key_info();
        let unsupported = |what: String| AttestationError::UnsupportedAlgorithm {
            position: self.position,
            algorithm: what,
        };
        let oid = spki.algorithm.oid;
        let params = match &spki.algorithm.parameters {
            None => None,
            Some(p) if p.is_null() => None,
            Some(p) => Some(
                p.to_ref()
                    .decode_as::<ObjectIdentifier>()
                    .map_err(|e| unsupported(format!("EC key parameters: {e}")))?,
            ),
        };
        if oid != ID_EC_PUBLIC_KEY {
            return Err(unsupported(format!(
                "public key {oid}, expected id-ecPublicKey"
            )));
        }
        let curve = match params {
            Some(curve) if curve == SECP384R1 || curve == SECP256R1 => curve,
            Some(other) => return Err(unsupported(format!("curve {other}"))),
            None => return Err(unsupported("EC key without a named curve".to_owned())),
        };
        let point = spki
            .subject_public_key
            .as_bytes()
            .ok_or_else(|| unsupported("public key BIT STRING has unused bits".to_owned()))?;
        Ok((curve, point))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Platform;

    fn aws() -> TrustAnchor {
        TrustAnchor::aws_nitro_root_g1()
    }

    mod synthetic {
        //! Chains built with rcgen, each with one defect, against `verify_chain` directly.

        use rcgen::{
            BasicConstraints, CertificateParams, CustomExtension, DnType, IsCa, Issuer, KeyPair,
            KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, PKCS_ECDSA_P384_SHA384, SignatureAlgorithm,
        };

        use super::super::*;
        use crate::Platform;

        const NOW: u64 = 1_750_000_000;

        #[derive(Clone)]
        struct Spec {
            is_ca: IsCa,
            key_usages: Vec<KeyUsagePurpose>,
            alg: &'static SignatureAlgorithm,
            critical_unknown: bool,
            not_after: u64,
            name: &'static str,
        }

        fn ca(path_len: Option<u8>) -> Spec {
            Spec {
                is_ca: IsCa::Ca(path_len.map_or(
                    BasicConstraints::Unconstrained,
                    BasicConstraints::Constrained,
                )),
                key_usages: vec![
                    KeyUsagePurpose::KeyCertSign,
                    KeyUsagePurpose::DigitalSignature,
                ],
                alg: &PKCS_ECDSA_P384_SHA384,
                critical_unknown: false,
                not_after: NOW + 3600,
                name: "",
            }
        }

        fn leaf() -> Spec {
            Spec {
                is_ca: IsCa::ExplicitNoCa,
                key_usages: vec![KeyUsagePurpose::DigitalSignature],
                ..ca(None)
            }
        }

        fn params(spec: &Spec, index: usize) -> CertificateParams {
            let mut p = CertificateParams::default();
            let name = if spec.name.is_empty() {
                format!("cert {index}")
            } else {
                spec.name.to_owned()
            };
            p.distinguished_name.push(DnType::CommonName, name);
            p.is_ca = spec.is_ca;
            p.key_usages = spec.key_usages.clone();
            p.not_before =
                time::OffsetDateTime::from_unix_timestamp(NOW as i64 - 3600).expect("time");
            p.not_after =
                time::OffsetDateTime::from_unix_timestamp(spec.not_after as i64).expect("time");
            if spec.critical_unknown {
                let mut ext = CustomExtension::from_oid_content(
                    &[1, 3, 6, 1, 4, 1, 99999, 1],
                    vec![0x05, 0x00],
                );
                ext.set_criticality(true);
                p.custom_extensions.push(ext);
            }
            p
        }

        /// DER certificates, root first, each signed by the one before.
        fn build(specs: &[Spec]) -> Vec<Vec<u8>> {
            let mut out = Vec::new();
            let mut issuer: Option<(CertificateParams, KeyPair)> = None;
            for (i, spec) in specs.iter().enumerate() {
                let key = KeyPair::generate_for(spec.alg).expect("key");
                let p = params(spec, i);
                let cert = match &issuer {
                    None => p.self_signed(&key).expect("self-signed"),
                    Some((ip, ik)) => p
                        .signed_by(&key, &Issuer::from_params(ip, ik))
                        .expect("signed"),
                };
                out.push(cert.der().to_vec());
                issuer = Some((p, key));
            }
            out
        }

        fn check(ders: &[Vec<u8>]) -> Result<VerifiedChain, AttestationError> {
            check_at(ders, NOW)
        }

        fn check_at(ders: &[Vec<u8>], now: u64) -> Result<VerifiedChain, AttestationError> {
            let (leaf, cabundle) = ders.split_last().expect("non-empty");
            let anchor =
                TrustAnchor::from_der(Platform::Mock, cabundle[0].clone()).expect("anchor");
            verify_chain(&anchor, cabundle, leaf, UnixTime::from_secs(now))
        }

        fn code(ders: &[Vec<u8>]) -> &'static str {
            check(ders).expect_err("must be rejected").code()
        }

        #[test]
        fn a_well_formed_chain_verifies_and_reports_its_window() {
            let mut root = ca(None);
            root.not_after = NOW + 7200;
            let ders = build(&[root, ca(Some(1)), ca(Some(0)), leaf()]);
            let chain = check(&ders).expect("valid chain");
            assert_eq!(chain.leaf_public_key.len(), 97);
            assert_eq!(chain.not_before, NOW - 3600);
            assert_eq!(chain.not_after, NOW + 3600);
            check_at(&ders, NOW + 3600).expect("valid at notAfter");
            let e = check_at(&ders, NOW + 3601).expect_err("after notAfter");
            assert_eq!(e.code(), "nitro.chain.expired");
        }

        #[test]
        fn p256_cas_with_sha256_are_supported() {
            let mut inter = ca(Some(0));
            inter.alg = &PKCS_ECDSA_P256_SHA256;
            check(&build(&[ca(None), inter, leaf()])).expect("P-256 intermediate");
        }

        #[test]
        fn the_leaf_key_must_be_p384() {
            let mut l = leaf();
            l.alg = &PKCS_ECDSA_P256_SHA256;
            assert_eq!(
                code(&build(&[ca(None), l])),
                "nitro.chain.unsupported_algorithm"
            );
        }

        #[test]
        fn issuers_must_be_cas() {
            let mut not_ca = ca(None);
            not_ca.is_ca = IsCa::ExplicitNoCa;
            assert_eq!(
                code(&build(&[ca(None), not_ca, leaf()])),
                "nitro.chain.not_ca"
            );
            let mut no_bc = ca(None);
            no_bc.is_ca = IsCa::NoCa;
            assert_eq!(
                code(&build(&[ca(None), no_bc.clone(), leaf()])),
                "nitro.chain.not_ca"
            );
            // The root too.
            assert_eq!(
                code(&build(&[no_bc, ca(None), leaf()])),
                "nitro.chain.not_ca"
            );
        }

        #[test]
        fn path_length_constraints_are_enforced() {
            let e = check(&build(&[ca(Some(1)), ca(None), ca(None), leaf()])).expect_err("pathLen");
            assert!(
                matches!(
                    e,
                    AttestationError::PathLenExceeded {
                        position: ChainPosition::CaBundle(0),
                        path_len: 1,
                        below: 2
                    }
                ),
                "{e:?}"
            );
            assert_eq!(
                code(&build(&[ca(None), ca(Some(0)), ca(None), leaf()])),
                "nitro.chain.path_len_exceeded"
            );
            check(&build(&[ca(Some(2)), ca(Some(1)), ca(Some(0)), leaf()])).expect("AWS shape");
        }

        #[test]
        fn key_usage_is_enforced() {
            let mut no_cert_sign = ca(None);
            no_cert_sign.key_usages = vec![KeyUsagePurpose::DigitalSignature];
            assert_eq!(
                code(&build(&[ca(None), no_cert_sign, leaf()])),
                "nitro.chain.key_usage"
            );
            let mut no_ds = leaf();
            no_ds.key_usages = vec![KeyUsagePurpose::KeyEncipherment];
            assert_eq!(code(&build(&[ca(None), no_ds])), "nitro.chain.key_usage");
            // Without a keyUsage extension the role is implied by basicConstraints.
            let mut no_ku = ca(None);
            no_ku.key_usages = vec![];
            let mut leaf_no_ku = leaf();
            leaf_no_ku.key_usages = vec![];
            check(&build(&[ca(None), no_ku, leaf_no_ku])).expect("no keyUsage");
        }

        #[test]
        fn the_leaf_must_not_be_a_ca() {
            assert_eq!(
                code(&build(&[ca(None), ca(None)])),
                "nitro.chain.leaf_is_ca"
            );
        }

        #[test]
        fn unknown_critical_extensions_are_rejected() {
            let mut l = leaf();
            l.critical_unknown = true;
            assert_eq!(
                code(&build(&[ca(None), l])),
                "nitro.chain.unsupported_critical_extension"
            );
        }

        #[test]
        fn every_certificate_is_time_checked() {
            let mut old = ca(None);
            old.not_after = NOW - 1;
            let e = check(&build(&[ca(None), old, leaf()])).expect_err("expired intermediate");
            assert!(
                matches!(
                    e,
                    AttestationError::CertificateExpired {
                        position: ChainPosition::CaBundle(1),
                        ..
                    }
                ),
                "{e:?}"
            );
            let mut old_root = ca(None);
            old_root.not_after = NOW - 1;
            let e = check(&build(&[old_root, leaf()])).expect_err("expired root");
            assert!(
                matches!(
                    e,
                    AttestationError::CertificateExpired {
                        position: ChainPosition::CaBundle(0),
                        ..
                    }
                ),
                "{e:?}"
            );
            let e = check_at(&build(&[ca(None), leaf()]), NOW - 3601).expect_err("too early");
            assert_eq!(e.code(), "nitro.chain.not_yet_valid");
        }

        #[test]
        fn names_and_signatures_must_chain() {
            // Same names, different keys: the issuer name matches, the signature does not.
            let named = |name| Spec { name, ..ca(None) };
            let a = build(&[named("root"), named("inter"), leaf()]);
            let b = build(&[named("root"), named("inter"), leaf()]);
            let mixed = vec![a[0].clone(), a[1].clone(), b[2].clone()];
            let e = check(&mixed).expect_err("foreign leaf");
            assert!(
                matches!(
                    e,
                    AttestationError::ChainBadSignature {
                        position: ChainPosition::Leaf
                    }
                ),
                "{e:?}"
            );
            let mixed = vec![a[0].clone(), b[1].clone(), a[2].clone()];
            let e = check(&mixed).expect_err("foreign intermediate");
            assert!(
                matches!(
                    e,
                    AttestationError::ChainBadSignature {
                        position: ChainPosition::CaBundle(1)
                    }
                ),
                "{e:?}"
            );
            // Different names.
            let c = build(&[named("root"), named("other"), leaf()]);
            let mixed = vec![a[0].clone(), a[1].clone(), c[2].clone()];
            assert_eq!(code(&mixed), "nitro.chain.issuer_mismatch");
        }
    }

    #[test]
    fn root_alone_cannot_sign_documents() {
        // A chain of just the root: the root is a CA, so it fails as a leaf.
        let root = aws().der().to_vec();
        let e = verify_chain(
            &aws(),
            std::slice::from_ref(&root),
            &root,
            UnixTime::from_secs(1_800_000_000),
        )
        .expect_err("a CA cannot be the leaf");
        assert_eq!(e.code(), "nitro.chain.leaf_is_ca");
    }

    #[test]
    fn root_validity_is_checked() {
        let root = aws().der().to_vec();
        // One second before notBefore, 2019-10-28T13:28:05Z.
        let e = verify_chain(
            &aws(),
            std::slice::from_ref(&root),
            &root,
            UnixTime::from_secs(1_572_269_284),
        )
        .expect_err("before the root's notBefore");
        assert_eq!(e.code(), "nitro.chain.not_yet_valid");
        let e = verify_chain(
            &aws(),
            std::slice::from_ref(&root),
            &root,
            // One second after notAfter, 2049-10-28T14:28:05Z.
            UnixTime::from_secs(2_519_044_086),
        )
        .expect_err("after 2049");
        assert_eq!(e.code(), "nitro.chain.expired");
    }

    #[test]
    fn unpinned_root_is_rejected_before_parsing() {
        let other = TrustAnchor::from_der(Platform::Mock, aws().der().to_vec()).expect("anchor");
        let e = verify_chain(&other, &[vec![0x30, 0x00]], &[], UnixTime::from_secs(0))
            .expect_err("different root");
        assert_eq!(e.code(), "nitro.chain.untrusted_root");
        let e = verify_chain(&other, &[], &[], UnixTime::from_secs(0)).expect_err("empty");
        assert_eq!(e.code(), "nitro.payload.invalid_field");
    }

    #[test]
    fn garbage_certificates_are_malformed() {
        let root = aws().der().to_vec();
        let e = verify_chain(
            &aws(),
            &[root],
            &[0x30, 0x03, 1, 2, 3],
            UnixTime::from_secs(0),
        )
        .expect_err("garbage leaf");
        assert_eq!(e.code(), "nitro.chain.malformed_certificate");
    }
}
