//! The AMD chain: ARK (self-signed, pinned) → ASK (or ASVK for VLEKs) → VCEK (or VLEK), every
//! link RSASSA-PSS with SHA-384, MGF1-SHA-384 and a 48-byte salt; and the ARK-signed CRL.
//!
//! Certificates are matched by name, never by position (KDS serves ASK then ARK; other bundles
//! put the ARK first). An ARK found in a caller's bundle must be byte-equal to the pinned ARK of
//! the product: a bundle can supply the intermediate, never the root. Without a bundle the
//! crate's built-in ASK/ASVK of the product are used.

use crate::error::SnpError;
use aws_lc_rs::signature::{self, UnparsedPublicKey};
use const_oid::ObjectIdentifier;
use der::Encode;
use sha2::{Digest, Sha256};

use super::certs::{AmdCert, SnpCert, read_certificates};
use super::chain_cache::SnpChainCache;
use super::report::{Product, SigningKey};
use crate::error::{CertCheck, CertError};
use crate::x509::{DerCrl, Usage};
use crate::{AttestationError, UnixTime};

const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const RSASSA_PSS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");
const SECP384R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");

/// Built-in AMD certificates, public material copied from virtee/sev's `builtin/` (ARK, ASK)
/// and Trustee's `*_ask_ark_asvk.pem` (ASVK); see `roots/snp/README.md`.
mod builtin {
    pub(super) const MILAN_ARK: &str = include_str!("../roots/snp/builtin_milan_ark.pem");
    pub(super) const MILAN_ASK: &str = include_str!("../roots/snp/builtin_milan_ask.pem");
    pub(super) const MILAN_ASVK: &str = include_str!("../roots/snp/builtin_milan_asvk.pem");
    pub(super) const GENOA_ARK: &str = include_str!("../roots/snp/builtin_genoa_ark.pem");
    pub(super) const GENOA_ASK: &str = include_str!("../roots/snp/builtin_genoa_ask.pem");
    pub(super) const GENOA_ASVK: &str = include_str!("../roots/snp/builtin_genoa_asvk.pem");
    pub(super) const TURIN_ARK: &str = include_str!("../roots/snp/builtin_turin_ark.pem");
    pub(super) const TURIN_ASK: &str = include_str!("../roots/snp/builtin_turin_ask.pem");
    pub(super) const TURIN_ASVK: &str = include_str!("../roots/snp/builtin_turin_asvk.pem");
}

/// SHA-256 of the DER ARK pinned for each product (ARK-Milan serial 0x10000, ARK-Genoa 0x20000,
/// ARK-Turin 0x30000); equal in every public copy (virtee/sev, go-sev-guest, Trustee, Microsoft).
pub const PINNED_ARK_SHA256: [(Product, &str); 3] = [
    (
        Product::Milan,
        "69d063b45344d26a2e94e1f4210de49ef555308287d4c174445c95639a540bcd",
    ),
    (
        Product::Genoa,
        "4c6598d19c18719c5dfd4a7d335f674e5bfe1d8f800cea2cf270c10d103db2f1",
    ),
    (
        Product::Turin,
        "1f084161a44bb6d93778a904877d4819cafa5d05ef4193b2ded9dd9c73dd3f6a",
    ),
];

fn pem_der(pem: &str) -> Vec<u8> {
    // The built-in PEMs are checked by `tests::builtin_roots_are_the_pinned_ones`.
    der::pem::decode_vec(pem.as_bytes())
        .map(|(_, der)| der)
        .unwrap_or_default()
}

/// DER of the pinned ARK of `product`.
pub fn pinned_ark_der(product: Product) -> Vec<u8> {
    pem_der(match product {
        Product::Milan => builtin::MILAN_ARK,
        Product::Genoa => builtin::GENOA_ARK,
        Product::Turin => builtin::TURIN_ARK,
    })
}

/// DER of the built-in ASK (VCEK signer) or ASVK (VLEK signer) of `product`.
pub fn builtin_intermediate_der(product: Product, signer: SigningKey) -> Vec<u8> {
    pem_der(match (product, signer) {
        (Product::Milan, SigningKey::Vcek) => builtin::MILAN_ASK,
        (Product::Milan, SigningKey::Vlek) => builtin::MILAN_ASVK,
        (Product::Genoa, SigningKey::Vcek) => builtin::GENOA_ASK,
        (Product::Genoa, SigningKey::Vlek) => builtin::GENOA_ASVK,
        (Product::Turin, SigningKey::Vcek) => builtin::TURIN_ASK,
        (Product::Turin, SigningKey::Vlek) => builtin::TURIN_ASVK,
    })
}

pub(crate) fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// The product a CN names: `ARK-Milan`, `SEV-Milan`, `SEV-VLEK-Milan` → Milan.
fn product_in_cn(cn: &str) -> Option<Product> {
    let name = cn
        .strip_prefix("SEV-VLEK-")
        .or_else(|| cn.strip_prefix("SEV-"))
        .or_else(|| cn.strip_prefix("ARK-"))?;
    Product::from_name(name)
}

/// The result of a successful chain validation.
#[derive(Clone, Debug)]
pub(crate) struct VerifiedChain {
    pub(crate) product: Product,
    pub(crate) signer: SigningKey,
    pub(crate) ark_sha256: [u8; 32],
    pub(crate) vek: AmdCert,
    /// Uncompressed SEC1 P-384 point of the VEK.
    pub(crate) vek_point: Vec<u8>,
}

/// Validates VEK ← ASK/ASVK ← ARK at `now`.
///
/// `product`: the product the report names (CPUID, v3+) or the caller gives; when `None` the
/// VEK's issuer name decides (the chain then proves it, since each product has its own ARK).
pub(crate) fn verify_chain(
    vek_der: &[u8],
    bundle: Option<&[Vec<u8>]>,
    product: Option<Product>,
    crl: Option<&SnpCrl>,
    now: UnixTime,
    cache: Option<&SnpChainCache>,
) -> Result<VerifiedChain, AttestationError> {
    let vek = AmdCert::from_der(vek_der.to_vec(), SnpCert::Vek)?;
    let signer = match vek.subject_cn().as_str() {
        "SEV-VCEK" => SigningKey::Vcek,
        "SEV-VLEK" => SigningKey::Vlek,
        other => {
            return Err(CertError::new(
                SnpCert::Vek,
                CertCheck::Name {
                    expected: "SEV-VCEK or SEV-VLEK".to_owned(),
                    found: other.to_owned(),
                },
            )
            .into());
        }
    };
    let issuer_product = product_in_cn(&vek.issuer_cn());
    let product = match (product, issuer_product) {
        (Some(p), Some(q)) if p != q => {
            return Err(SnpError::ProductMismatch {
                expected: p.as_str(),
                found: format!("a VCEK/VLEK issued by {}", vek.issuer_cn()),
            }
            .into());
        }
        (Some(p), _) | (None, Some(p)) => p,
        (None, None) => {
            return Err(SnpError::ProductUnknown {
                reason: format!(
                    "the report has no CPUID (v2) and the VCEK/VLEK issuer {:?} names no product",
                    vek.issuer_cn()
                ),
            }
            .into());
        }
    };

    // Candidates for ASK/ASVK and ARK.
    let pinned_ark = pinned_ark_der(product);
    let (intermediates, bundle_arks) = match bundle {
        Some(certs) => {
            let mut inter = Vec::new();
            let mut arks = Vec::new();
            for (i, der) in certs.iter().enumerate() {
                let c = AmdCert::from_der(der.clone(), SnpCert::Bundle(i))?;
                let tbs = c.cert.tbs_certificate();
                if tbs.subject() == tbs.issuer() {
                    arks.push(c);
                } else {
                    inter.push(c);
                }
            }
            (inter, arks)
        }
        None => (
            vec![AmdCert::from_der(
                builtin_intermediate_der(product, signer),
                SnpCert::Ask,
            )?],
            Vec::new(),
        ),
    };
    let vek_issuer = vek.cert.tbs_certificate().issuer();
    let ask = intermediates
        .into_iter()
        .find(|c| c.cert.tbs_certificate().subject() == vek_issuer)
        .ok_or_else(|| SnpError::ChainIncomplete {
            missing: format!("the certificate named {vek_issuer} (the VCEK/VLEK's issuer)"),
        })?;
    // Every self-signed certificate a caller supplies must be the pinned ARK of this product:
    // a bundle may carry the root for completeness, never choose it.
    for given in &bundle_arks {
        if given.der != pinned_ark {
            let pinned_for = Product::ALL
                .into_iter()
                .find(|p| pinned_ark_der(*p) == given.der);
            return Err(match pinned_for {
                Some(other) => SnpError::ProductMismatch {
                    expected: product.as_str(),
                    found: format!("a chain carrying ARK-{other}"),
                }
                .into(),
                None => SnpError::UntrustedArk {
                    sha256: hex::encode(sha256(&given.der)),
                }
                .into(),
            });
        }
    }
    let ark = AmdCert::from_der(pinned_ark, SnpCert::Ark)?;

    // Names: ARK-<P>, SEV-<P> or SEV-VLEK-<P>.
    let expect_cn = |cert: &AmdCert, role: SnpCert, expected: String| {
        let found = cert.subject_cn();
        if found == expected {
            Ok(())
        } else {
            Err(CertError::new(role, CertCheck::Name { expected, found }))
        }
    };
    expect_cn(&ark, SnpCert::Ark, format!("ARK-{product}"))?;
    expect_cn(
        &ask,
        SnpCert::Ask,
        match signer {
            SigningKey::Vcek => format!("SEV-{product}"),
            SigningKey::Vlek => format!("SEV-VLEK-{product}"),
        },
    )?;

    // Authenticity first, then time. The CA half (ARK, ASK/ASVK) may come from the opt-in cache
    // (see `chain_cache`): same bytes and `now` inside their common window.
    let ca_key = cache.map(|_| SnpChainCache::key(&ark.der, &ask.der));
    let ca_cached = match (cache, &ca_key) {
        (Some(c), Some(key)) => c.hit(key, now),
        _ => false,
    };
    if !ca_cached {
        verify_issued_by(&ark, &ark, SnpCert::Ark)?;
        verify_issued_by(&ask, &ark, SnpCert::Ask)?;
    }
    verify_issued_by(&vek, &ask, SnpCert::Vek)?;
    if !ca_cached {
        for (cert, role, below) in [(&ark, SnpCert::Ark, 1), (&ask, SnpCert::Ask, 0)] {
            cert.check_extensions(role, Usage::Ca { below })?;
            cert.check_validity(role, now)?;
        }
        if let (Some(c), Some(key)) = (cache, ca_key) {
            let (ark_nb, ark_na) = ark.validity();
            let (ask_nb, ask_na) = ask.validity();
            c.insert(key, ark_nb.max(ask_nb), ark_na.min(ask_na));
        }
    }
    vek.check_extensions(SnpCert::Vek, Usage::Leaf)?;
    vek.check_validity(SnpCert::Vek, now)?;

    if let Some(crl) = crl {
        check_revocation(crl, &ark, &ask, &vek, now)?;
    }

    let vek_point = ec_p384_point(&vek)?;
    Ok(VerifiedChain {
        product,
        signer,
        ark_sha256: sha256(&ark.der),
        vek,
        vek_point,
    })
}

/// The CRL is the ARK's and current at `now`, and lists neither the ASK/ASVK nor the VEK.
fn check_revocation(
    crl: &SnpCrl,
    ark: &AmdCert,
    ask: &AmdCert,
    vek: &AmdCert,
    now: UnixTime,
) -> Result<(), AttestationError> {
    crl.check(ark, now)?;
    for (cert, role) in [(ask, SnpCert::Ask), (vek, SnpCert::Vek)] {
        if crl.is_revoked(cert.serial()) {
            return Err(SnpError::Revoked {
                cert: role,
                serial: hex::encode(cert.serial()),
            }
            .into());
        }
    }
    Ok(())
}

/// `cert`'s signature by `issuer`'s RSA key, RSASSA-PSS SHA-384 salt 48, and name chaining.
fn verify_issued_by(cert: &AmdCert, issuer: &AmdCert, role: SnpCert) -> Result<(), CertError> {
    let (alg, sig) = cert.check_issued_by(issuer, role)?;
    let key = pss_key(alg, issuer)
        .map_err(|algorithm| CertError::new(role, CertCheck::UnsupportedAlgorithm { algorithm }))?;
    // aws-lc-rs takes the RSAPublicKey DER (the BIT STRING's content) and verifies PSS with the
    // salt length equal to the digest length, 48 for SHA-384.
    cert.verify_signature(&signature::RSA_PSS_2048_8192_SHA384, key, sig, role)
}

/// RSASSA-PSS-params for SHA-384 / MGF1-SHA-384 / salt 48 / trailer 1. AMD writes the hash
/// AlgorithmIdentifiers with NULL parameters; the CRL omits the (default) trailerField. Both
/// encodings of the hash parameters (NULL or absent) and of the trailer are accepted: they are
/// the DER encodings of the same value under the two readings of RFC 4055 §2.1.
fn pss_params_ok(params_der: &[u8]) -> bool {
    const SHA384: &str = "0609608648016503040202";
    let mut accepted = Vec::new();
    for hash in [format!("300d{SHA384}0500"), format!("300b{SHA384}")] {
        let hash_len = hash.len() / 2;
        let mgf_inner = format!("06092a864886f70d010108{hash}");
        let mgf = format!("30{:02x}{mgf_inner}", mgf_inner.len() / 2);
        let a0 = format!("a0{:02x}{hash}", hash_len);
        let a1 = format!("a1{:02x}{mgf}", mgf.len() / 2);
        let a2 = "a203020130";
        for trailer in ["a303020101", ""] {
            let body = format!("{a0}{a1}{a2}{trailer}");
            accepted.push(format!("30{:02x}{body}", body.len() / 2));
        }
    }
    let found = hex::encode(params_der);
    accepted.contains(&found)
}

/// The issuer's RSA key, when `alg` is RSASSA-PSS with AMD's parameters; else what differs.
fn pss_key<'a>(
    alg: &spki::AlgorithmIdentifierOwned,
    issuer: &'a AmdCert,
) -> Result<&'a [u8], String> {
    if alg.oid != RSASSA_PSS {
        return Err(format!(
            "signature {}; AMD certificates use RSASSA-PSS",
            alg.oid
        ));
    }
    let params = alg
        .parameters
        .as_ref()
        .and_then(|p| p.to_der().ok())
        .unwrap_or_default();
    if !pss_params_ok(&params) {
        return Err(format!(
            "RSASSA-PSS parameters {} (expected SHA-384, MGF1-SHA-384, salt 48)",
            hex::encode(&params)
        ));
    }
    let spki = issuer.cert.tbs_certificate().subject_public_key_info();
    if spki.algorithm.oid != RSA_ENCRYPTION && spki.algorithm.oid != RSASSA_PSS {
        return Err(format!("issuer key {}; expected RSA", spki.algorithm.oid));
    }
    spki.subject_public_key
        .as_bytes()
        .ok_or_else(|| "issuer key BIT STRING has unused bits".to_owned())
}

fn ec_p384_point(cert: &AmdCert) -> Result<Vec<u8>, CertError> {
    let (curve, point) = cert.ec_public_key(SnpCert::Vek)?;
    if curve != SECP384R1 {
        return Err(CertError::new(
            SnpCert::Vek,
            CertCheck::UnsupportedAlgorithm {
                algorithm: format!("EC key on curve {curve}, not P-384"),
            },
        ));
    }
    Ok(point.to_vec())
}

/// An AMD certificate revocation list (KDS `…/crl`), signed by the ARK.
#[derive(Clone, Debug)]
pub struct SnpCrl {
    crl: DerCrl,
}

impl SnpCrl {
    /// Parses a CRL from DER or PEM (`X509 CRL`).
    ///
    /// # Errors
    ///
    /// `snp.crl.malformed`.
    pub fn from_pem_or_der(bytes: &[u8]) -> Result<Self, AttestationError> {
        let malformed = |reason: String| SnpError::CrlMalformed { reason };
        let der = if bytes.first() == Some(&0x30) {
            bytes.to_vec()
        } else {
            let (label, der) =
                der::pem::decode_vec(bytes).map_err(|e| malformed(format!("PEM: {e}")))?;
            if label != "X509 CRL" {
                return Err(malformed(format!("PEM label {label:?}, expected X509 CRL")).into());
            }
            der
        };
        Ok(Self {
            crl: DerCrl::parse(der).map_err(malformed)?,
        })
    }

    /// True when `serial` (big-endian, no leading zeros) is listed.
    pub fn is_revoked(&self, serial: &[u8]) -> bool {
        self.crl.is_revoked(serial)
    }

    /// The issuer's signature, the issuer name and thisUpdate ≤ now ≤ nextUpdate.
    pub(crate) fn check(&self, ark: &AmdCert, now: UnixTime) -> Result<(), SnpError> {
        let bad_signature = |reason: String| SnpError::CrlBadSignature { reason };
        self.crl.check_issuer(ark).map_err(bad_signature)?;
        let (alg, sig) = self
            .crl
            .signature()
            .map_err(|reason| SnpError::CrlMalformed { reason })?;
        let key = pss_key(alg, ark).map_err(bad_signature)?;
        UnparsedPublicKey::new(&signature::RSA_PSS_2048_8192_SHA384, key)
            .verify(self.crl.tbs(), sig)
            .map_err(|_| bad_signature("signature does not verify with the ARK".to_owned()))?;
        self.crl
            .check_current(now)
            .map_err(|window| SnpError::CrlOutdated { window })
    }
}

/// Parses a `--chain` bundle (PEM, any order) into DER certificates.
///
/// # Errors
///
/// `snp.cert.malformed`.
pub fn read_chain(bytes: &[u8]) -> Result<Vec<Vec<u8>>, AttestationError> {
    read_certificates(bytes, SnpCert::Bundle(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_roots_are_the_pinned_ones() {
        for (product, expected) in PINNED_ARK_SHA256 {
            let der = pinned_ark_der(product);
            assert_eq!(hex::encode(sha256(&der)), expected, "{product}");
            let ark = AmdCert::from_der(der, SnpCert::Ark).expect("ark");
            assert_eq!(ark.subject_cn(), format!("ARK-{product}"));
            verify_issued_by(&ark, &ark, SnpCert::Ark).expect("self-signed");
            for signer in [SigningKey::Vcek, SigningKey::Vlek] {
                let ask =
                    AmdCert::from_der(builtin_intermediate_der(product, signer), SnpCert::Ask)
                        .expect("ask");
                verify_issued_by(&ask, &ark, SnpCert::Ask).expect("ark signs ask");
                ask.check_extensions(SnpCert::Ask, Usage::Ca { below: 0 })
                    .expect("ca");
            }
        }
        // Pinned hashes of the built-in intermediates too (public, from AMD KDS).
        assert_eq!(
            hex::encode(sha256(&builtin_intermediate_der(
                Product::Genoa,
                SigningKey::Vcek
            ))),
            "5464738c1546aed5f2cecf1dc98c5c960a92e8913238a61711bc90ec6e828521"
        );
    }

    #[test]
    fn pss_parameter_encodings() {
        let cert = hex::decode("3039a00f300d06096086480165030402020500a11c301a06092a864886f70d010108300d06096086480165030402020500a203020130a303020101").expect("hex");
        let crl = hex::decode("3034a00f300d06096086480165030402020500a11c301a06092a864886f70d010108300d06096086480165030402020500a203020130").expect("hex");
        assert!(pss_params_ok(&cert));
        assert!(pss_params_ok(&crl));
        let mut salt32 = cert.clone();
        let i = salt32.len() - 6; // a2 03 02 01 30 → salt 0x20
        salt32[i] = 0x20;
        assert!(!pss_params_ok(&salt32));
        assert!(!pss_params_ok(&[]));
    }

    #[test]
    fn the_genoa_crl_rejects_a_chain_through_the_revoked_ask() {
        // AMD's Genoa CRL (ARK-signed, 2024-10-23 .. 2025-11-03) revokes ASK serial 0x20001. No
        // certificate with that serial and a valid AMD signature is public, so the revocation
        // step is run on the real CRL and ARK with a stand-in ASK carrying that serial.
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/fixtures/snp/openpcc-openpcc/extracted/test_amd_genoa_crl.pem"
        );
        let crl = SnpCrl::from_pem_or_der(&std::fs::read(path).expect("crl")).expect("parse");
        let ark = AmdCert::from_der(pinned_ark_der(Product::Genoa), SnpCert::Ark).expect("ark");
        let ask = AmdCert::from_der(
            builtin_intermediate_der(Product::Genoa, SigningKey::Vcek),
            SnpCert::Ask,
        )
        .expect("ask");
        let vek_path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/fixtures/snp/confidential-containers-trustee/derived_e2e_evidence_vcek.der"
        );
        let vek =
            AmdCert::from_der(std::fs::read(vek_path).expect("vek"), SnpCert::Vek).expect("vek");
        let now = UnixTime::from_secs(1_748_736_000); // 2025-06-01
        check_revocation(&crl, &ark, &ask, &vek, now).expect("current ASK 0x20002");

        let mut params = rcgen::CertificateParams::default();
        params.serial_number = Some(rcgen::SerialNumber::from_slice(&[0x02, 0x00, 0x01]));
        let key = rcgen::KeyPair::generate().expect("key");
        let revoked_der = params.self_signed(&key).expect("cert").der().to_vec();
        let revoked = AmdCert::from_der(revoked_der, SnpCert::Ask).expect("stand-in");
        let e = check_revocation(&crl, &ark, &revoked, &vek, now).expect_err("revoked");
        assert!(
            matches!(&e, AttestationError::Snp(SnpError::Revoked { cert: SnpCert::Ask, serial }) if serial == "020001"),
            "{e:?}"
        );
        // The Milan ARK did not sign this CRL.
        let milan = AmdCert::from_der(pinned_ark_der(Product::Milan), SnpCert::Ark).expect("ark");
        let e = check_revocation(&crl, &milan, &ask, &vek, now).expect_err("wrong ARK");
        assert_eq!(e.code(), "snp.crl.bad_signature");
    }

    #[test]
    fn product_names_in_cns() {
        assert_eq!(product_in_cn("SEV-Milan"), Some(Product::Milan));
        assert_eq!(product_in_cn("SEV-VLEK-Genoa"), Some(Product::Genoa));
        assert_eq!(product_in_cn("ARK-Turin"), Some(Product::Turin));
        assert_eq!(product_in_cn("SEV-VCEK"), None);
    }
}
