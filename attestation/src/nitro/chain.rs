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

use aws_lc_rs::signature::{self, VerificationAlgorithm};
use const_oid::ObjectIdentifier;

use super::anchor::TrustAnchor;
use crate::error::{CertCheck, CertError, NitroError};
use crate::x509::{DerCert, Usage};
use crate::{AttestationError, ChainPosition, UnixTime};

const SECP384R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const SECP256R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const ECDSA_WITH_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const ECDSA_WITH_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");

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
/// `nitro.chain.*` (and `cert.unknown_critical_extension`) naming the certificate and the check
/// that failed.
pub(crate) fn verify_chain(
    anchor: &TrustAnchor,
    cabundle: &[Vec<u8>],
    leaf: &[u8],
    now: UnixTime,
) -> Result<VerifiedChain, AttestationError> {
    let Some(root) = cabundle.first() else {
        return Err(NitroError::InvalidField {
            field: "cabundle",
            reason: "empty; it must hold at least the root".to_owned(),
        }
        .into());
    };
    if root.as_slice() != anchor.der() {
        return Err(NitroError::UntrustedRoot {
            root_sha256: hex::encode(crate::nitro::anchor::sha256(root)),
        }
        .into());
    }

    let mut certs = Vec::with_capacity(cabundle.len() + 1);
    for (i, der) in cabundle.iter().enumerate() {
        certs.push((
            DerCert::parse(der.clone(), ChainPosition::CaBundle(i))?,
            ChainPosition::CaBundle(i),
        ));
    }
    certs.push((
        DerCert::parse(leaf.to_vec(), ChainPosition::Leaf)?,
        ChainPosition::Leaf,
    ));

    let ca_count = cabundle.len();
    let mut not_before = 0u64;
    let mut not_after = u64::MAX;
    let mut parent: Option<(&DerCert, ChainPosition)> = None;
    for (i, (cert, position)) in certs.iter().enumerate() {
        // Authenticity first: a forged certificate should be reported as forged, not as expired.
        if let Some(parent) = parent {
            check_issued_by((cert, *position), parent)?;
        }
        let usage = if i < ca_count {
            // CAs below this one in the path, not counting the leaf (RFC 5280 §4.2.1.9).
            Usage::Ca {
                below: ca_count - 1 - i,
            }
        } else {
            Usage::Leaf
        };
        cert.check_extensions(*position, usage)?;
        let (nb, na) = cert.check_validity(*position, now)?;
        not_before = not_before.max(nb);
        not_after = not_after.min(na);
        parent = Some((cert, *position));
    }

    // `certs` ends with the leaf, pushed above.
    let Some((leaf, _)) = certs.last() else {
        return Err(NitroError::MissingField {
            field: "certificate",
        }
        .into());
    };
    let (curve, point) = leaf.ec_public_key(ChainPosition::Leaf)?;
    if curve != SECP384R1 {
        return Err(unsupported(
            ChainPosition::Leaf,
            format!("leaf key on curve {curve}; ES384 needs P-384"),
        )
        .into());
    }
    Ok(VerifiedChain {
        leaf_public_key: point.to_vec(),
        not_before,
        not_after,
    })
}

fn unsupported(position: ChainPosition, algorithm: String) -> CertError {
    CertError::new(position, CertCheck::UnsupportedAlgorithm { algorithm })
}

/// Name chaining and the issuer's ECDSA signature over `cert` (P-256 or P-384 keys, SHA-256 or
/// SHA-384).
fn check_issued_by(
    (cert, position): (&DerCert, ChainPosition),
    (parent, parent_position): (&DerCert, ChainPosition),
) -> Result<(), CertError> {
    let (sig_alg, sig) = cert.check_issued_by(parent, position)?;
    // ecdsa-with-SHA* identifiers carry no parameters (RFC 5758 §3.2).
    if sig_alg.parameters.is_some() {
        return Err(unsupported(
            position,
            format!("{} with parameters", sig_alg.oid),
        ));
    }
    let (curve, point) = parent.ec_public_key(parent_position)?;
    let oid = sig_alg.oid;
    let alg: &'static dyn VerificationAlgorithm = if curve == SECP384R1 && oid == ECDSA_WITH_SHA384
    {
        &signature::ECDSA_P384_SHA384_ASN1
    } else if curve == SECP384R1 && oid == ECDSA_WITH_SHA256 {
        &signature::ECDSA_P384_SHA256_ASN1
    } else if curve == SECP256R1 && oid == ECDSA_WITH_SHA256 {
        &signature::ECDSA_P256_SHA256_ASN1
    } else if curve == SECP256R1 && oid == ECDSA_WITH_SHA384 {
        &signature::ECDSA_P256_SHA384_ASN1
    } else {
        return Err(unsupported(
            position,
            format!("signature {oid} by a key on curve {curve}"),
        ));
    };
    cert.verify_signature(alg, point, sig, position)
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
        use crate::CertRole;
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
                    AttestationError::Cert(CertError {
                        role: CertRole::Nitro(ChainPosition::CaBundle(0)),
                        check: CertCheck::PathLenExceeded {
                            path_len: 1,
                            below: 2
                        },
                        ..
                    })
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
                "cert.unknown_critical_extension"
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
                    AttestationError::Cert(CertError {
                        role: CertRole::Nitro(ChainPosition::CaBundle(1)),
                        check: CertCheck::Expired { .. },
                        ..
                    })
                ),
                "{e:?}"
            );
            let mut old_root = ca(None);
            old_root.not_after = NOW - 1;
            let e = check(&build(&[old_root, leaf()])).expect_err("expired root");
            assert!(
                matches!(
                    e,
                    AttestationError::Cert(CertError {
                        role: CertRole::Nitro(ChainPosition::CaBundle(0)),
                        check: CertCheck::Expired { .. },
                        ..
                    })
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
                    AttestationError::Cert(CertError {
                        role: CertRole::Nitro(ChainPosition::Leaf),
                        check: CertCheck::BadSignature,
                        ..
                    })
                ),
                "{e:?}"
            );
            let mixed = vec![a[0].clone(), b[1].clone(), a[2].clone()];
            let e = check(&mixed).expect_err("foreign intermediate");
            assert!(
                matches!(
                    e,
                    AttestationError::Cert(CertError {
                        role: CertRole::Nitro(ChainPosition::CaBundle(1)),
                        check: CertCheck::BadSignature,
                        ..
                    })
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
