//! DCAP collateral: TCB Info, QE Identity, their signing chains, the PCK CRL and the root CA
//! CRL, in the `QuoteCollateralV3` JSON shape dcap-qvl uses (and the host caches):
//!
//! ```json
//! { "tcb_info": "<raw JSON text of tcbInfo>", "tcb_info_signature": "<hex r‖s>",
//!   "tcb_info_issuer_chain": "<PEM>",
//!   "qe_identity": "<raw JSON text of enclaveIdentity>", "qe_identity_signature": "<hex>",
//!   "qe_identity_issuer_chain": "<PEM>",
//!   "pck_crl": "<hex DER>", "pck_crl_issuer_chain": "<PEM>", "root_ca_crl": "<hex DER>" }
//! ```
//!
//! Intel signs the exact bytes of the `tcbInfo` and `enclaveIdentity` values as served, so they
//! travel as raw strings and are never re-serialized. [`TdxCollateral::from_json`] only parses;
//! [`TdxCollateral::verify`] checks every chain, signature, CRL and validity window at a time.

use crate::error::TdxError;
use std::borrow::Cow;
use std::sync::OnceLock;

use aws_lc_rs::signature::{self, UnparsedPublicKey};
use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::pki::{self, ChainShape, IntelCert, IntelCrl, TdxCert};
use super::status::TcbStatus;
use crate::{AttestationError, UnixTime};

/// Largest collateral document accepted (real ones are 10-20 KiB).
pub const MAX_COLLATERAL_LEN: usize = 1024 * 1024;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CollateralJson {
    tcb_info: String,
    tcb_info_signature: String,
    tcb_info_issuer_chain: String,
    qe_identity: String,
    qe_identity_signature: String,
    qe_identity_issuer_chain: String,
    pck_crl: String,
    pck_crl_issuer_chain: String,
    root_ca_crl: String,
    /// dcap-qvl may carry the PCK chain; the quote's own chain is the one verified.
    #[serde(default)]
    #[allow(dead_code)]
    pck_certificate_chain: Option<String>,
}

/// Parsed, unverified collateral.
///
/// Keep one per platform while it is current (as the host's cache does): the first successful
/// verification is remembered with the window in which it holds, so later quotes verified with
/// the same collateral skip its six signature checks. Verdicts are the same either way.
#[derive(Clone, Debug)]
pub struct TdxCollateral {
    pub(crate) tcb_info_raw: String,
    tcb_info_signature: [u8; 64],
    tcb_info_chain: Vec<IntelCert>,
    pub(crate) qe_identity_raw: String,
    qe_identity_signature: [u8; 64],
    qe_identity_chain: Vec<IntelCert>,
    pub(crate) pck_crl: IntelCrl,
    pck_crl_chain: Vec<IntelCert>,
    pub(crate) root_ca_crl: IntelCrl,
    pub(crate) tcb_info: TcbInfo,
    pub(crate) qe_identity: QeIdentity,
    /// The first successful verification, reused while its conditions hold (see
    /// [`TdxCollateral::verify`]).
    verified: OnceLock<VerifiedWindow>,
}

/// What one successful verification of this (immutable) collateral established: under `root`,
/// every check passes at any time in `[from, until]`.
#[derive(Clone, Debug)]
struct VerifiedWindow {
    root_der: Vec<u8>,
    from: u64,
    until: u64,
    pck_crl_issuer: IntelCert,
}

/// Collateral whose chains, signatures, CRLs and windows were checked at one time.
#[derive(Debug)]
pub(crate) struct VerifiedCollateral<'a> {
    /// The collateral; its TCB Info, QE Identity and CRLs are now trusted.
    pub(crate) collateral: &'a TdxCollateral,
    /// The PCK CRL's issuer (verified to the root): the PCK chain's CA must be this one.
    pub(crate) pck_crl_issuer: Cow<'a, IntelCert>,
}

impl TdxCollateral {
    /// Parses the `QuoteCollateralV3` JSON.
    ///
    /// ```
    /// use cloister_attestation::tdx::TdxCollateral;
    /// let err = TdxCollateral::from_json(b"{}").unwrap_err();
    /// assert_eq!(err.code(), "tdx.collateral.malformed");
    /// ```
    ///
    /// # Errors
    ///
    /// `tdx.collateral.malformed`, `tdx.cert.malformed` or `tdx.crl.malformed`.
    pub fn from_json(json: &[u8]) -> Result<Self, AttestationError> {
        if json.len() > MAX_COLLATERAL_LEN {
            return Err(malformed(
                "collateral",
                format!("{} bytes, more than {MAX_COLLATERAL_LEN}", json.len()),
            ));
        }
        let c: CollateralJson =
            serde_json::from_slice(json).map_err(|e| malformed("collateral", e.to_string()))?;
        let tcb_info: TcbInfo =
            serde_json::from_str(&c.tcb_info).map_err(|e| malformed("tcb_info", e.to_string()))?;
        let qe_identity: QeIdentity = serde_json::from_str(&c.qe_identity)
            .map_err(|e| malformed("qe_identity", e.to_string()))?;
        let unhex = |field: &'static str, s: &str| {
            hex::decode(s.trim()).map_err(|e| malformed(field, format!("not hex: {e}")))
        };
        let sig64 = |field: &'static str, s: &str| -> Result<[u8; 64], AttestationError> {
            unhex(field, s)?.try_into().map_err(|v: Vec<u8>| {
                malformed(field, format!("{} bytes, expected 64 (r ‖ s)", v.len()))
            })
        };
        Ok(Self {
            tcb_info_signature: sig64("tcb_info_signature", &c.tcb_info_signature)?,
            tcb_info_chain: pki::read_chain(
                c.tcb_info_issuer_chain.as_bytes(),
                &[TdxCert::TcbSigning, TdxCert::Root],
            )?,
            qe_identity_signature: sig64("qe_identity_signature", &c.qe_identity_signature)?,
            qe_identity_chain: pki::read_chain(
                c.qe_identity_issuer_chain.as_bytes(),
                &[TdxCert::TcbSigning, TdxCert::Root],
            )?,
            pck_crl: IntelCrl::parse("PCK CRL", unhex("pck_crl", &c.pck_crl)?)?,
            pck_crl_chain: pki::read_chain(
                c.pck_crl_issuer_chain.as_bytes(),
                &[TdxCert::PckCa, TdxCert::Root],
            )?,
            root_ca_crl: IntelCrl::parse("root CA CRL", unhex("root_ca_crl", &c.root_ca_crl)?)?,
            tcb_info_raw: c.tcb_info,
            qe_identity_raw: c.qe_identity,
            tcb_info,
            qe_identity,
            verified: OnceLock::new(),
        })
    }

    /// The TCB Info's FMSPC.
    pub fn fmspc(&self) -> &str {
        &self.tcb_info.fmspc
    }

    /// The latest issue date / thisUpdate and the earliest nextUpdate of TCB Info, QE Identity
    /// and both CRLs: the window in which this collateral can verify anything, as (from, until)
    /// epoch seconds (a CRL without nextUpdate, which verification refuses, closes it).
    pub fn window(&self) -> (u64, u64) {
        let mut from = self
            .tcb_info
            .header
            .issue_date
            .max(self.qe_identity.header.issue_date);
        let mut until = self
            .tcb_info
            .header
            .next_update
            .min(self.qe_identity.header.next_update);
        for crl in [&self.pck_crl, &self.root_ca_crl] {
            let (this, next) = crl.window();
            from = from.max(this);
            until = until.min(next.unwrap_or(0));
        }
        (from, until)
    }

    /// Checks everything at `now` against `root` (the pinned one).
    ///
    /// The collateral is immutable and every check but the windows is independent of time, so
    /// the first success is remembered with the intersection of every window it checked (root,
    /// TCB Signing and PCK CA certificates, both CRLs, TCB Info, QE Identity): a later call under
    /// the same root at a time inside it has the same outcome and skips the six signatures. A
    /// time outside it is verified in full and fails with the precise error.
    pub(crate) fn verify(
        &self,
        root: &IntelCert,
        now: UnixTime,
    ) -> Result<VerifiedCollateral<'_>, AttestationError> {
        let t = now.as_secs();
        if let Some(v) = self.verified.get()
            && v.root_der == root.der
            && v.from <= t
            && t <= v.until
        {
            return Ok(VerifiedCollateral {
                collateral: self,
                pck_crl_issuer: Cow::Borrowed(&v.pck_crl_issuer),
            });
        }
        let fresh = self.verify_in_full(root, now)?;
        let v = self.verified.get_or_init(|| fresh.clone());
        let pck_crl_issuer = if v.root_der == root.der && v.from <= t && t <= v.until {
            Cow::Borrowed(&v.pck_crl_issuer)
        } else {
            Cow::Owned(fresh.pck_crl_issuer)
        };
        Ok(VerifiedCollateral {
            collateral: self,
            pck_crl_issuer,
        })
    }

    fn verify_in_full(
        &self,
        root: &IntelCert,
        now: UnixTime,
    ) -> Result<VerifiedWindow, AttestationError> {
        // Root CRL first: it is signed by the pinned root and vouches for every CA below it.
        self.root_ca_crl.check(root, now)?;

        let tcb_signer = pki::verify_chain(
            &self.tcb_info_chain,
            root,
            TdxCert::TcbSigning,
            ChainShape::LeafUnderRoot,
            now,
        )?;
        self.root_ca_crl
            .check_not_revoked(&tcb_signer.leaf, TdxCert::TcbSigning)?;
        check_json_signature(
            &tcb_signer.leaf,
            &self.tcb_info_raw,
            &self.tcb_info_signature,
            "TCB Info",
        )?;
        let qe_signer = if self.qe_identity_chain.first().map(|c| &c.der)
            == self.tcb_info_chain.first().map(|c| &c.der)
        {
            tcb_signer.leaf.clone()
        } else {
            let v = pki::verify_chain(
                &self.qe_identity_chain,
                root,
                TdxCert::TcbSigning,
                ChainShape::LeafUnderRoot,
                now,
            )?;
            self.root_ca_crl
                .check_not_revoked(&v.leaf, TdxCert::TcbSigning)?;
            v.leaf
        };
        check_json_signature(
            &qe_signer,
            &self.qe_identity_raw,
            &self.qe_identity_signature,
            "QE Identity",
        )?;

        // The PCK CRL issuer chain is "PCK CA, root": its first certificate is itself a CA.
        let crl_issuer = pki::verify_chain(
            &self.pck_crl_chain,
            root,
            TdxCert::PckCa,
            ChainShape::CaUnderRoot,
            now,
        )?;
        self.root_ca_crl
            .check_not_revoked(&crl_issuer.leaf, TdxCert::PckCa)?;
        self.pck_crl.check(&crl_issuer.leaf, now)?;

        for (name, issue, next) in [
            (
                "TCB Info",
                self.tcb_info.header.issue_date,
                self.tcb_info.header.next_update,
            ),
            (
                "QE Identity",
                self.qe_identity.header.issue_date,
                self.qe_identity.header.next_update,
            ),
        ] {
            let t = now.as_secs();
            if t < issue || t > next {
                return Err(TdxError::CollateralOutdated {
                    which: name,
                    issue_date: issue,
                    next_update: next,
                    now: t,
                }
                .into());
            }
        }
        // The documents' and CRLs' own window, narrowed by every certificate checked.
        let (mut from, mut until) = self.window();
        for cert in [root, &tcb_signer.leaf, &qe_signer, &crl_issuer.leaf] {
            let (not_before, not_after) = cert.validity();
            from = from.max(not_before);
            until = until.min(not_after);
        }
        Ok(VerifiedWindow {
            root_der: root.der.clone(),
            from,
            until,
            pck_crl_issuer: crl_issuer.leaf,
        })
    }
}

fn check_json_signature(
    signer: &IntelCert,
    raw: &str,
    sig: &[u8; 64],
    which: &'static str,
) -> Result<(), AttestationError> {
    let key = pki::p256_point(signer, TdxCert::TcbSigning)?;
    Ok(
        UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, key)
            .verify(raw.as_bytes(), sig)
            .map_err(|_| TdxError::CollateralBadSignature { which })?,
    )
}

fn malformed(field: &'static str, reason: String) -> AttestationError {
    TdxError::CollateralMalformed { field, reason }.into()
}

// ----- TCB Info and QE Identity (Intel PCS API v4 shapes) ---------------------------------------

fn rfc3339<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let s = String::deserialize(d)?;
    let t = OffsetDateTime::parse(&s, &Rfc3339).map_err(serde::de::Error::custom)?;
    u64::try_from(t.unix_timestamp()).map_err(serde::de::Error::custom)
}

fn hex_bytes<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    let s = String::deserialize(d)?;
    hex::decode(s).map_err(serde::de::Error::custom)
}

/// What TCB Info and QE Identity both start with: which document, its version and when it was
/// issued and must be replaced.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SignedBodyHeader {
    pub(crate) id: String,
    pub(crate) version: u32,
    #[serde(deserialize_with = "rfc3339")]
    pub(crate) issue_date: u64,
    #[serde(deserialize_with = "rfc3339")]
    pub(crate) next_update: u64,
}

/// TCB Info (TDX, version 3).
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TcbInfo {
    #[serde(flatten)]
    pub(crate) header: SignedBodyHeader,
    pub(crate) fmspc: String,
    pub(crate) pce_id: String,
    pub(crate) tcb_evaluation_data_number: u32,
    #[serde(default)]
    pub(crate) tdx_module: Option<TdxModule>,
    #[serde(default)]
    pub(crate) tdx_module_identities: Vec<TdxModuleIdentity>,
    pub(crate) tcb_levels: Vec<TcbLevel>,
}

/// The TDX module's expected signer and attributes (`tdxModule`).
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TdxModule {
    #[serde(deserialize_with = "hex_bytes")]
    pub(crate) mrsigner: Vec<u8>,
    #[serde(deserialize_with = "hex_bytes")]
    pub(crate) attributes: Vec<u8>,
    #[serde(deserialize_with = "hex_bytes")]
    pub(crate) attributes_mask: Vec<u8>,
}

/// One `tdxModuleIdentities` entry (`TDX_01`, `TDX_03`, …): a [`TdxModule`] with an id and
/// its own TCB levels.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TdxModuleIdentity {
    pub(crate) id: String,
    #[serde(flatten)]
    pub(crate) module: TdxModule,
    pub(crate) tcb_levels: Vec<IsvTcbLevel>,
}

/// A TCB level: the SVNs it requires (`T`: [`PlatformTcb`] in TCB Info, [`IsvSvn`] for the QE
/// and TDX module identities), its date and status.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TcbLevel<T = PlatformTcb> {
    pub(crate) tcb: T,
    pub(crate) tcb_date: String,
    pub(crate) tcb_status: TcbStatus,
    #[serde(default, rename = "advisoryIDs")]
    pub(crate) advisory_ids: Vec<String>,
}

/// A TCB level of an ISV-SVN-versioned identity (QE, TDX module).
pub(crate) type IsvTcbLevel = TcbLevel<IsvSvn>;

/// The component SVNs of a platform TCB level.
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct PlatformTcb {
    pub(crate) sgxtcbcomponents: Vec<TcbComponent>,
    pub(crate) pcesvn: u16,
    #[serde(default)]
    pub(crate) tdxtcbcomponents: Vec<TcbComponent>,
}

/// One component SVN (category and type are informative).
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct TcbComponent {
    pub(crate) svn: u8,
}

/// `{"isvsvn": n}`.
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct IsvSvn {
    pub(crate) isvsvn: u16,
}

/// QE Identity (TD_QE, version 2).
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct QeIdentity {
    #[serde(flatten)]
    pub(crate) header: SignedBodyHeader,
    #[serde(deserialize_with = "hex_bytes")]
    pub(crate) miscselect: Vec<u8>,
    #[serde(deserialize_with = "hex_bytes")]
    pub(crate) miscselect_mask: Vec<u8>,
    #[serde(deserialize_with = "hex_bytes")]
    pub(crate) attributes: Vec<u8>,
    #[serde(deserialize_with = "hex_bytes")]
    pub(crate) attributes_mask: Vec<u8>,
    #[serde(deserialize_with = "hex_bytes")]
    pub(crate) mrsigner: Vec<u8>,
    pub(crate) isvprodid: u16,
    pub(crate) tcb_levels: Vec<IsvTcbLevel>,
}
