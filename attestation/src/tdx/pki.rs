//! The Intel DCAP PKI: the pinned Intel SGX Root CA, ECDSA P-256 certificate chains (PCK, TCB
//! Signing, CRL issuers), the root and PCK CRLs, and the PCK certificate's SGX extension.
//!
//! Chains are short and fixed, so they are checked by hand (as for AMD, see `crate::x509`):
//! PCK certificate ← PCK Platform CA or PCK Processor CA ← Intel SGX Root CA, and
//! Intel SGX TCB Signing ← Intel SGX Root CA. A root certificate carried in a chain must be
//! byte-equal to the pinned one; a chain may supply intermediates, never choose the root.

use crate::error::TdxError;
use std::fmt;

use aws_lc_rs::signature::{self, UnparsedPublicKey};
use const_oid::ObjectIdentifier;
use der::asn1::{Any, OctetStringRef};
use der::{Decode, SliceReader, Tag, Tagged};
use sha2::{Digest, Sha256};

use crate::error::{CertCheck, CertError};
use crate::x509::{DerCert, DerCrl, Usage};
use crate::{AttestationError, UnixTime};

/// DER of the Intel SGX Root CA (see `roots/README.md`).
pub const INTEL_SGX_ROOT_CA_DER: &[u8] = include_bytes!("../roots/intel_sgx_root_ca.der");
/// SHA-256 of [`INTEL_SGX_ROOT_CA_DER`], lowercase hex.
pub const INTEL_SGX_ROOT_CA_SHA256: &str =
    "44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3";

const ECDSA_WITH_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const PRIME256V1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const SGX_EXTENSIONS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113741.1.13.1");
const SGX_TCB: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113741.1.13.1.2");
const SGX_PCE_ID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113741.1.13.1.3");
const SGX_FMSPC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113741.1.13.1.4");
const SGX_TCB_PCESVN: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113741.1.13.1.2.17");
const SGX_TCB_CPUSVN: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113741.1.13.1.2.18");

/// Which certificate of the Intel PKI an error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TdxCert {
    /// The PCK certificate that signed the QE report.
    Pck,
    /// The PCK Platform CA or PCK Processor CA.
    PckCa,
    /// The Intel SGX Root CA.
    Root,
    /// The Intel SGX TCB Signing certificate (signs TCB Info and QE Identity).
    TcbSigning,
    /// Certificate `i` (0 = first) of a chain that is none of the above.
    Chain(usize),
}

impl fmt::Display for TdxCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Pck => f.write_str("PCK certificate"),
            Self::PckCa => f.write_str("PCK CA certificate"),
            Self::Root => f.write_str("Intel SGX Root CA"),
            Self::TcbSigning => f.write_str("TCB Signing certificate"),
            Self::Chain(i) => write!(f, "chain certificate #{i}"),
        }
    }
}

/// Which PCK CA issued a PCK certificate; it names the PCK CRL to fetch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PckCa {
    /// `Intel SGX PCK Platform CA` (multi-package platforms, most TDX servers).
    Platform,
    /// `Intel SGX PCK Processor CA`.
    Processor,
}

impl PckCa {
    /// The `ca` query parameter of the PCS/PCCS `pckcrl` endpoint.
    pub fn as_pcs_param(self) -> &'static str {
        match self {
            Self::Platform => "platform",
            Self::Processor => "processor",
        }
    }

    fn from_cn(cn: &str) -> Option<Self> {
        match cn {
            "Intel SGX PCK Platform CA" => Some(Self::Platform),
            "Intel SGX PCK Processor CA" => Some(Self::Processor),
            _ => None,
        }
    }
}

/// What a PCK certificate says about its platform: the values the collateral is looked up by
/// and the TCB level is chosen with. Read before the chain is verified only to fetch collateral
/// ([`TdxQuote::pck_identity`](super::TdxQuote::pck_identity)); verification re-reads it from the
/// verified certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PckIdentity {
    /// FMSPC: family-model-stepping-platform-customSKU, 6 bytes.
    pub fmspc: [u8; 6],
    /// The CA that issued the PCK certificate.
    pub ca: PckCa,
    /// PCE-ID, 2 bytes.
    pub pce_id: [u8; 2],
    /// PCESVN.
    pub pce_svn: u16,
    /// The 16 SGX TCB component SVNs (CPUSVN components).
    pub sgx_components: [u8; 16],
}

/// An Intel certificate: a [`DerCert`] whose parse errors name the role.
pub(crate) type IntelCert = DerCert;

impl IntelCert {
    pub(crate) fn intel(der: Vec<u8>, role: TdxCert) -> Result<Self, CertError> {
        Self::parse(der, role)
    }
}

pub(crate) fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Parses a PEM chain (leaf first) into certificates, naming each by `roles` in order (the
/// rest are `Chain(i)`). Text around the blocks is ignored: use [`read_quote_chain`] for the
/// chain inside a quote.
pub(crate) fn read_chain(
    pem: &[u8],
    roles: &[TdxCert],
) -> Result<Vec<IntelCert>, AttestationError> {
    let ders = crate::x509::read_certificates(pem).map_err(|reason| {
        let role = roles.first().copied().unwrap_or(TdxCert::Chain(0));
        CertError::new(role, CertCheck::Malformed { reason })
    })?;
    let chain = ders
        .into_iter()
        .enumerate()
        .map(|(i, der)| IntelCert::intel(der, roles.get(i).copied().unwrap_or(TdxCert::Chain(i))))
        .collect::<Result<_, _>>()?;
    Ok(chain)
}

/// Parses the PCK chain carried in a quote, strictly: the bytes must be exactly the canonical
/// PEM of the certificates (64-character lines, LF or CRLF, each block ending in a line break),
/// then optionally NUL bytes (quote generators terminate the string), so that no byte of the
/// quote escapes verification.
pub(crate) fn read_quote_chain(pem: &[u8]) -> Result<Vec<IntelCert>, AttestationError> {
    let roles = [TdxCert::Pck, TdxCert::PckCa, TdxCert::Root];
    let chain = read_chain(pem, &roles)?;
    let text_len = pem.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    let text = &pem[..text_len];
    let canonical = |ending: der::pem::LineEnding| -> Vec<u8> {
        let mut out = Vec::new();
        for cert in &chain {
            if let Ok(block) = der::pem::encode_string("CERTIFICATE", ending, &cert.der) {
                out.extend_from_slice(block.as_bytes());
            }
        }
        out
    };
    // Quote generators write LF; CRLF is encoded only when LF does not match.
    if text != canonical(der::pem::LineEnding::LF) && text != canonical(der::pem::LineEnding::CRLF)
    {
        return Err(CertError::new(
            TdxCert::Pck,
            CertCheck::Malformed {
                reason: "the PCK chain is not canonical PEM (extra text, odd line breaks or \
                         non-canonical base64)"
                    .to_owned(),
            },
        )
        .into());
    }
    Ok(chain)
}

/// The pinned root, parsed.
pub(crate) fn pinned_root() -> Result<IntelCert, AttestationError> {
    Ok(IntelCert::intel(
        INTEL_SGX_ROOT_CA_DER.to_vec(),
        TdxCert::Root,
    )?)
}

/// A chain verified at a time: its leaf and the CA below the root (when there is one).
#[derive(Clone, Debug)]
pub(crate) struct VerifiedIntelChain {
    pub(crate) leaf: IntelCert,
    /// The intermediate CA (PCK chains), absent for TCB Signing chains.
    pub(crate) intermediate: Option<IntelCert>,
}

/// The shapes of Intel chains.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ChainShape {
    /// End-entity ← CA ← root (PCK certificates).
    LeafUnderCa,
    /// End-entity ← root (TCB Signing).
    LeafUnderRoot,
    /// CA ← root (the PCK CRL issuer chain).
    CaUnderRoot,
}

/// Verifies `chain` (first certificate first; the root may be included and must be the pinned
/// one) to the pinned root at `now`: names, signatures, CA flags, validity of every certificate.
/// `leaf_role` names the first certificate in errors.
pub(crate) fn verify_chain(
    chain: &[IntelCert],
    root: &IntelCert,
    leaf_role: TdxCert,
    shape: ChainShape,
    now: UnixTime,
) -> Result<VerifiedIntelChain, AttestationError> {
    // Positions are fixed: the first certificate, then the CA (PCK chains), then optionally
    // the root, byte-equal to the pinned one. Nothing else may ride along unchecked.
    let Some(leaf) = chain.first() else {
        return Err(TdxError::ChainIncomplete {
            missing: format!("the {leaf_role}"),
        }
        .into());
    };
    let below_root = if shape == ChainShape::LeafUnderCa {
        2
    } else {
        1
    };
    if chain.len() < below_root {
        return Err(TdxError::ChainIncomplete {
            missing: format!("the issuer of the {leaf_role}"),
        }
        .into());
    }
    if chain.len() > below_root + 1 {
        return Err(TdxError::ChainTooLong {
            role: leaf_role,
            len: chain.len(),
            max: below_root + 1,
        }
        .into());
    }
    if let Some(given_root) = chain.get(below_root)
        && given_root.der != root.der
    {
        return Err(TdxError::UntrustedRoot {
            sha256: hex::encode(sha256(&given_root.der)),
            position: TdxCert::Chain(below_root),
        }
        .into());
    }
    let intermediate = if shape == ChainShape::LeafUnderCa {
        let ca = &chain[1];
        if ca.der == root.der {
            return Err(TdxError::ChainIncomplete {
                missing: format!("the PCK CA between the {leaf_role} and the root"),
            }
            .into());
        }
        verify_issued_by(ca, root, TdxCert::PckCa)?;
        verify_issued_by(leaf, ca, leaf_role)?;
        ca.check_extensions(TdxCert::PckCa, Usage::Ca { below: 0 })?;
        ca.check_validity(TdxCert::PckCa, now)?;
        Some(ca.clone())
    } else {
        verify_issued_by(leaf, root, leaf_role)?;
        None
    };
    let usage = if shape == ChainShape::CaUnderRoot {
        Usage::Ca { below: 0 }
    } else {
        Usage::Leaf
    };
    leaf.check_extensions(leaf_role, usage)?;
    leaf.check_validity(leaf_role, now)?;
    root.check_validity(TdxCert::Root, now)?;
    Ok(VerifiedIntelChain {
        leaf: leaf.clone(),
        intermediate,
    })
}

/// `cert`'s name chains to `issuer` and its ECDSA-P256-SHA256 signature verifies with
/// `issuer`'s key.
pub(crate) fn verify_issued_by(
    cert: &IntelCert,
    issuer: &IntelCert,
    role: TdxCert,
) -> Result<(), CertError> {
    let (alg, sig) = cert.check_issued_by(issuer, role)?;
    if alg.oid != ECDSA_WITH_SHA256 {
        return Err(CertError::new(
            role,
            CertCheck::UnsupportedAlgorithm {
                algorithm: format!(
                    "signature {}; Intel DCAP certificates use ecdsa-with-SHA256",
                    alg.oid
                ),
            },
        ));
    }
    let key = p256_point(issuer, role)?;
    cert.verify_signature(&signature::ECDSA_P256_SHA256_ASN1, key, sig, role)
}

/// The uncompressed SEC1 P-256 point of `cert`'s key.
pub(crate) fn p256_point(cert: &IntelCert, role: TdxCert) -> Result<&[u8], CertError> {
    let (curve, point) = cert.ec_public_key(role)?;
    if curve != PRIME256V1 {
        return Err(CertError::new(
            role,
            CertCheck::UnsupportedAlgorithm {
                algorithm: format!("EC key on curve {curve}, not P-256"),
            },
        ));
    }
    Ok(point)
}

/// Reads the SGX extension of a PCK certificate.
pub(crate) fn pck_identity(pck: &IntelCert) -> Result<PckIdentity, AttestationError> {
    let bad = |reason: String| TdxError::PckExtension { reason };
    let ca = PckCa::from_cn(&pck.issuer_cn()).ok_or_else(|| {
        CertError::new(
            TdxCert::Pck,
            CertCheck::Name {
                expected: "issuer Intel SGX PCK Platform CA or Intel SGX PCK Processor CA"
                    .to_owned(),
                found: format!("issuer {:?}", pck.issuer_cn()),
            },
        )
    })?;
    let ext = pck
        .cert
        .tbs_certificate()
        .extensions()
        .and_then(|exts| exts.iter().find(|e| e.extn_id == SGX_EXTENSIONS))
        .ok_or_else(|| bad(format!("no SGX extension {SGX_EXTENSIONS}")))?;
    let mut fmspc = None;
    let mut pce_id = None;
    let mut tcb = None;
    for (oid, value) in
        oid_value_pairs(ext.extn_value.as_bytes()).map_err(|e| bad(e.to_string()))?
    {
        if oid == SGX_FMSPC {
            fmspc = Some(octets::<6>(&value, "FMSPC").map_err(bad)?);
        } else if oid == SGX_PCE_ID {
            pce_id = Some(octets::<2>(&value, "PCE-ID").map_err(bad)?);
        } else if oid == SGX_TCB {
            tcb = Some(value);
        }
    }
    let tcb = tcb.ok_or_else(|| bad("no TCB (….13.1.2)".to_owned()))?;
    if tcb.tag() != Tag::Sequence {
        return Err(bad(format!("TCB is a {}, not a SEQUENCE", tcb.tag())).into());
    }
    let mut comps: [Option<u8>; 16] = [None; 16];
    let mut pce_svn = None;
    for (oid, value) in sequence_pairs(tcb.value()).map_err(|e| bad(e.to_string()))? {
        let arcs: Vec<u32> = oid.arcs().collect();
        let last = arcs.last().copied().unwrap_or(0);
        let parent_is_tcb = oid.parent() == Some(SGX_TCB);
        if oid == SGX_TCB_PCESVN {
            pce_svn = Some(
                value
                    .decode_as::<u16>()
                    .map_err(|e| bad(format!("PCESVN: {e}")))?,
            );
        } else if oid == SGX_TCB_CPUSVN {
            octets::<16>(&value, "CPUSVN").map_err(bad)?;
        } else if parent_is_tcb && (1..=16).contains(&last) {
            let svn = value
                .decode_as::<u8>()
                .map_err(|e| bad(format!("SGX TCB component {last}: {e}")))?;
            comps[(last - 1) as usize] = Some(svn);
        }
    }
    let mut sgx_components = [0u8; 16];
    for (i, c) in comps.iter().enumerate() {
        sgx_components[i] = c.ok_or_else(|| bad(format!("SGX TCB component {} missing", i + 1)))?;
    }
    Ok(PckIdentity {
        fmspc: fmspc.ok_or_else(|| bad("no FMSPC (….13.1.4)".to_owned()))?,
        ca,
        pce_id: pce_id.ok_or_else(|| bad("no PCE-ID (….13.1.3)".to_owned()))?,
        pce_svn: pce_svn.ok_or_else(|| bad("no PCESVN (….13.1.2.17)".to_owned()))?,
        sgx_components,
    })
}

/// `SEQUENCE OF SEQUENCE { OID, ANY }`, given the outer DER.
fn oid_value_pairs(der: &[u8]) -> Result<Vec<(ObjectIdentifier, Any)>, der::Error> {
    let outer = Any::from_der(der)?;
    if outer.tag() != Tag::Sequence {
        return Err(der::Error::from(der::ErrorKind::TagUnexpected {
            expected: Some(Tag::Sequence),
            actual: outer.tag(),
        }));
    }
    sequence_pairs(outer.value())
}

/// The `{ OID, ANY }` SEQUENCEs inside the content octets of a SEQUENCE.
fn sequence_pairs(content: &[u8]) -> Result<Vec<(ObjectIdentifier, Any)>, der::Error> {
    let mut reader = SliceReader::new(content)?;
    let mut out = Vec::new();
    while !der::Reader::is_finished(&reader) {
        let item = Any::decode(&mut reader)?;
        if item.tag() != Tag::Sequence {
            return Err(der::Error::from(der::ErrorKind::TagUnexpected {
                expected: Some(Tag::Sequence),
                actual: item.tag(),
            }));
        }
        let mut inner = SliceReader::new(item.value())?;
        let oid = ObjectIdentifier::decode(&mut inner)?;
        let value = Any::decode(&mut inner)?;
        der::Reader::finish(inner)?;
        out.push((oid, value));
    }
    Ok(out)
}

fn octets<const N: usize>(value: &Any, what: &str) -> Result<[u8; N], String> {
    let o = value
        .decode_as::<&OctetStringRef>()
        .map_err(|e| format!("{what}: {e}"))?;
    o.as_bytes()
        .try_into()
        .map_err(|_| format!("{what} is {} bytes, expected {N}", o.as_bytes().len()))
}

/// A CRL of the Intel PKI, named for errors: `"root CA CRL"` or `"PCK CRL"`.
#[derive(Clone, Debug)]
pub(crate) struct IntelCrl {
    pub(crate) name: &'static str,
    pub(crate) crl: DerCrl,
}

impl IntelCrl {
    /// Parses a DER CRL (the collateral carries hex of DER; PEM is accepted too).
    pub(crate) fn parse(name: &'static str, der: Vec<u8>) -> Result<Self, AttestationError> {
        let der = if der.first() == Some(&0x30) {
            der
        } else {
            der::pem::decode_vec(&der)
                .map(|(_, d)| d)
                .map_err(|e| TdxError::CrlMalformed {
                    crl: name,
                    reason: format!("neither DER nor PEM: {e}"),
                })?
        };
        let crl =
            DerCrl::parse(der).map_err(|reason| TdxError::CrlMalformed { crl: name, reason })?;
        Ok(Self { name, crl })
    }

    /// Signed by `issuer` (name and ECDSA-P256-SHA256 signature) and current at `now`.
    pub(crate) fn check(&self, issuer: &IntelCert, now: UnixTime) -> Result<(), AttestationError> {
        let crl = self.name;
        let bad_signature = |reason: String| TdxError::CrlBadSignature { crl, reason };
        let malformed = |reason: String| TdxError::CrlMalformed { crl, reason };
        self.crl.check_issuer(issuer).map_err(bad_signature)?;
        let (alg, sig) = self.crl.signature().map_err(malformed)?;
        if alg.oid != ECDSA_WITH_SHA256 {
            return Err(malformed(format!("signature algorithm {}", alg.oid)).into());
        }
        let key = p256_point(issuer, TdxCert::Root)?;
        UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_ASN1, key)
            .verify(self.crl.tbs(), sig)
            .map_err(|_| bad_signature("signature does not verify with the issuer's key".into()))?;
        self.crl
            .check_current(now)
            .map_err(|window| TdxError::CrlOutdated { crl, window })?;
        if self.crl.window().1.is_none() {
            return Err(malformed("no nextUpdate: Intel CRLs always name one".to_owned()).into());
        }
        Ok(())
    }

    /// Fails when `cert` is listed.
    pub(crate) fn check_not_revoked(
        &self,
        cert: &IntelCert,
        role: TdxCert,
    ) -> Result<(), AttestationError> {
        if self.crl.is_revoked(cert.serial()) {
            return Err(TdxError::Revoked {
                cert: role,
                crl: self.name,
                serial: hex::encode(cert.serial()),
            }
            .into());
        }
        Ok(())
    }

    /// (thisUpdate, nextUpdate) in epoch seconds.
    pub(crate) fn window(&self) -> (u64, Option<u64>) {
        self.crl.window()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned_root_is_intels() {
        assert_eq!(
            hex::encode(sha256(INTEL_SGX_ROOT_CA_DER)),
            INTEL_SGX_ROOT_CA_SHA256
        );
        let root = pinned_root().expect("root");
        assert_eq!(root.subject_cn(), "Intel SGX Root CA");
        verify_issued_by(&root, &root, TdxCert::Root).expect("self-signed");
    }
}
