//! The SEV-SNP `ATTESTATION_REPORT` (AMD SEV-SNP ABI specification, Table "ATTESTATION_REPORT
//! Structure"): 1184 bytes, little-endian, versions 2 to 5.
//!
//! [`SnpReport::parse`] reads every field through a bounded cursor and rejects what a genuine
//! report can never hold: a wrong length, an unknown version, a signature algorithm other than
//! ECDSA P-384 with SHA-384, reserved bits or bytes that are not zero (including the unsigned tail
//! of the signature field, so that no byte of a report can change without the verdict changing).
//!
//! The TCB_VERSION fields are kept raw: their layout depends on the product (Turin moved the
//! components and added FMC), which for a v2 report is known only after the chain is checked.
//! [`TcbVersion::decode`] splits them once the product is known.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::SnpError;

use crate::AttestationError;

/// Length of every attestation report, versions 2 to 5.
pub const REPORT_LEN: usize = 0x4A0;
/// The signature covers bytes `[0, SIGNED_LEN)`.
pub const SIGNED_LEN: usize = 0x2A0;
/// `SIGNATURE_ALGO` value for ECDSA P-384 with SHA-384, the only one defined.
pub const SIG_ALGO_ECDSA_P384_SHA384: u32 = 1;

/// Oldest and newest report versions understood.
pub const MIN_VERSION: u32 = 2;
/// See [`MIN_VERSION`].
pub const MAX_VERSION: u32 = 5;

/// Guest POLICY bits (ABI spec, "GUEST_POLICY").
pub mod policy_bits {
    /// Simultaneous multithreading allowed.
    pub const SMT: u64 = 1 << 16;
    /// Reserved, must be one.
    pub const RESERVED_ONE: u64 = 1 << 17;
    /// A migration agent may be associated with the guest.
    pub const MIGRATE_MA: u64 = 1 << 18;
    /// Debugging allowed: the hypervisor can read and write guest memory.
    pub const DEBUG: u64 = 1 << 19;
    /// Guest may run on one socket only.
    pub const SINGLE_SOCKET: u64 = 1 << 20;
    /// Bits 63:26 are reserved and must be zero.
    pub const RESERVED_MASK: u64 = !((1 << 26) - 1);
}

/// An AMD EPYC generation, each with its own ARK.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Product {
    /// 3rd generation EPYC (Zen 3, family 19h models 00h-0Fh).
    Milan,
    /// 4th generation EPYC (Zen 4, family 19h models 10h-1Fh and A0h-AFh; Bergamo and Siena
    /// certify under Genoa).
    Genoa,
    /// 5th generation EPYC (Zen 5, family 1Ah models 00h-11h).
    Turin,
}

impl Product {
    /// Every product, in order.
    pub const ALL: [Product; 3] = [Product::Milan, Product::Genoa, Product::Turin];

    /// The name AMD uses in certificate names and KDS URLs: `Milan`, `Genoa`, `Turin`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Milan => "Milan",
            Self::Genoa => "Genoa",
            Self::Turin => "Turin",
        }
    }

    /// The product for CPUID family and model, as reported in v3+ reports.
    pub fn from_cpuid(family: u8, model: u8) -> Option<Self> {
        match (family, model) {
            (0x19, 0x00..=0x0F) => Some(Self::Milan),
            (0x19, 0x10..=0x1F | 0xA0..=0xAF) => Some(Self::Genoa),
            (0x1A, 0x00..=0x11) => Some(Self::Turin),
            _ => None,
        }
    }

    /// Parses `milan`, `genoa` or `turin` (any case).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(name))
    }

    /// Length of the hwID a VCEK of this product carries (Turin: only the first 8 bytes of
    /// CHIP_ID are used).
    pub fn hwid_len(self) -> usize {
        match self {
            Self::Milan | Self::Genoa => 64,
            Self::Turin => 8,
        }
    }
}

impl fmt::Display for Product {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which key signed the report (`KEY_INFO.SIGNING_KEY`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SigningKey {
    /// The Versioned Chip Endorsement Key, derived per chip and TCB.
    Vcek,
    /// The Versioned Loaded Endorsement Key, provisioned by a cloud provider.
    Vlek,
}

impl SigningKey {
    /// `vcek` or `vlek`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Vcek => "vcek",
            Self::Vlek => "vlek",
        }
    }
}

/// A TCB_VERSION split into its security patch levels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct TcbVersion {
    /// FMC SPL (Turin only; zero elsewhere).
    pub fmc: u8,
    /// Boot loader SPL.
    pub bootloader: u8,
    /// PSP OS (TEE) SPL.
    pub tee: u8,
    /// SNP firmware SPL.
    pub snp: u8,
    /// Microcode SPL.
    pub microcode: u8,
}

impl TcbVersion {
    /// Splits a raw little-endian TCB_VERSION by `product`'s layout:
    /// Milan/Genoa `bl, tee, 0, 0, 0, 0, snp, ucode`; Turin `fmc, bl, tee, snp, 0, 0, 0, ucode`.
    pub fn decode(raw: u64, product: Product) -> Self {
        let b = raw.to_le_bytes();
        match product {
            Product::Milan | Product::Genoa => Self {
                fmc: 0,
                bootloader: b[0],
                tee: b[1],
                snp: b[6],
                microcode: b[7],
            },
            Product::Turin => Self {
                fmc: b[0],
                bootloader: b[1],
                tee: b[2],
                snp: b[3],
                microcode: b[7],
            },
        }
    }

    /// The components as (name, value), FMC included only for Turin.
    pub fn components(&self, product: Product) -> Vec<(&'static str, u8)> {
        let mut v = Vec::with_capacity(5);
        if product == Product::Turin {
            v.push(("fmc", self.fmc));
        }
        v.extend([
            ("bootloader", self.bootloader),
            ("tee", self.tee),
            ("snp", self.snp),
            ("microcode", self.microcode),
        ]);
        v
    }
}

/// A firmware version `major.minor.build`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct FirmwareVersion {
    /// Major.
    pub major: u8,
    /// Minor.
    pub minor: u8,
    /// Build.
    pub build: u8,
}

impl fmt::Display for FirmwareVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.build)
    }
}

/// A parsed, **unverified** attestation report. Read it for inspection; trust only a
/// [`VerifiedSnpReport`](super::VerifiedSnpReport).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnpReport {
    pub(crate) raw: Box<[u8; REPORT_LEN]>,
    pub(crate) version: u32,
    pub(crate) guest_svn: u32,
    pub(crate) policy: u64,
    pub(crate) family_id: [u8; 16],
    pub(crate) image_id: [u8; 16],
    pub(crate) vmpl: u32,
    pub(crate) current_tcb: u64,
    pub(crate) platform_info: u64,
    pub(crate) author_key_en: bool,
    pub(crate) mask_chip_key: bool,
    pub(crate) signing_key: SigningKey,
    pub(crate) report_data: [u8; 64],
    pub(crate) measurement: [u8; 48],
    pub(crate) host_data: [u8; 32],
    pub(crate) id_key_digest: [u8; 48],
    pub(crate) author_key_digest: [u8; 48],
    pub(crate) report_id: [u8; 32],
    pub(crate) report_id_ma: [u8; 32],
    pub(crate) reported_tcb: u64,
    pub(crate) cpuid: Option<(u8, u8, u8)>,
    pub(crate) chip_id: [u8; 64],
    pub(crate) committed_tcb: u64,
    pub(crate) current_version: FirmwareVersion,
    pub(crate) committed_version: FirmwareVersion,
    pub(crate) launch_tcb: u64,
    pub(crate) launch_mit_vector: Option<u64>,
    pub(crate) current_mit_vector: Option<u64>,
    /// r ‖ s, each 48 bytes big-endian: the form `ECDSA_P384_SHA384_FIXED` takes.
    pub(crate) signature_be: [u8; 96],
}

impl SnpReport {
    /// Parses a 1184-byte report.
    ///
    /// # Errors
    ///
    /// `snp.report.*`: wrong length, unknown version, unsupported signature algorithm, non-zero
    /// reserved field, invalid signing key.
    ///
    /// ```
    /// use cloister_attestation::snp::SnpReport;
    /// let err = SnpReport::parse(&[0u8; 10]).unwrap_err();
    /// assert_eq!(err.code(), "snp.report.length");
    /// ```
    pub fn parse(bytes: &[u8]) -> Result<Self, AttestationError> {
        let raw: Box<[u8; REPORT_LEN]> =
            bytes
                .try_into()
                .map(Box::new)
                .map_err(|_| SnpError::ReportLength {
                    len: bytes.len(),
                    expected: REPORT_LEN,
                })?;
        let mut r = Cursor::new(&raw[..]);

        let version = r.u32();
        if !(MIN_VERSION..=MAX_VERSION).contains(&version) {
            return Err(SnpError::UnsupportedVersion { version }.into());
        }
        let guest_svn = r.u32();
        let policy = r.u64();
        if policy & policy_bits::RESERVED_MASK != 0 || policy & policy_bits::RESERVED_ONE == 0 {
            return Err(SnpError::ReservedField {
                field: "POLICY",
                offset: 0x08,
            }
            .into());
        }
        let family_id = r.array::<16>();
        let image_id = r.array::<16>();
        let vmpl = r.u32();
        let sig_algo = r.u32();
        if sig_algo != SIG_ALGO_ECDSA_P384_SHA384 {
            return Err(SnpError::UnsupportedSignatureAlgorithm { algo: sig_algo }.into());
        }
        let current_tcb = r.u64();
        let platform_info = r.u64();
        let key_info = r.u32();
        if key_info >> 5 != 0 {
            return Err(SnpError::ReservedField {
                field: "KEY_INFO",
                offset: 0x48,
            }
            .into());
        }
        let signing_key = match (key_info >> 2) & 0b111 {
            0 => SigningKey::Vcek,
            1 => SigningKey::Vlek,
            other => {
                return Err(SnpError::InvalidField {
                    field: "KEY_INFO.SIGNING_KEY",
                    reason: format!("{other} (only 0 = VCEK and 1 = VLEK sign reports)"),
                }
                .into());
            }
        };
        r.zeros("reserved", 4)?;
        let report_data = r.array::<64>();
        let measurement = r.array::<48>();
        let host_data = r.array::<32>();
        let id_key_digest = r.array::<48>();
        let author_key_digest = r.array::<48>();
        let report_id = r.array::<32>();
        let report_id_ma = r.array::<32>();
        let reported_tcb = r.u64();
        let cpuid = if version >= 3 {
            let [fam, model, step] = r.array::<3>();
            r.zeros("reserved", 0x15)?;
            Some((fam, model, step))
        } else {
            r.zeros("CPUID (v2: reserved)", 0x18)?;
            None
        };
        let chip_id = r.array::<64>();
        let committed_tcb = r.u64();
        let current_version = r.firmware_version()?;
        let committed_version = r.firmware_version()?;
        let launch_tcb = r.u64();
        let (launch_mit_vector, current_mit_vector) = if version >= 5 {
            (Some(r.u64()), Some(r.u64()))
        } else {
            r.zeros("MIT_VECTOR (before v5: reserved)", 16)?;
            (None, None)
        };
        r.zeros("reserved", SIGNED_LEN - 0x208)?;

        // SIGNATURE: R (72 bytes LE), S (72 bytes LE), then reserved. P-384 scalars use 48 bytes;
        // the upper 24 of each and the tail are not signed, so they must be zero.
        let r_le = r.array::<48>();
        r.zeros("SIGNATURE.R (bytes 48..72)", 24)?;
        let s_le = r.array::<48>();
        r.zeros("SIGNATURE.S (bytes 48..72)", 24)?;
        r.zeros("SIGNATURE (reserved tail)", REPORT_LEN - 0x330)?;
        r.finish()?;

        let mut signature_be = [0u8; 96];
        for (dst, src) in signature_be[..48].iter_mut().zip(r_le.iter().rev()) {
            *dst = *src;
        }
        for (dst, src) in signature_be[48..].iter_mut().zip(s_le.iter().rev()) {
            *dst = *src;
        }

        Ok(Self {
            raw,
            version,
            guest_svn,
            policy,
            family_id,
            image_id,
            vmpl,
            current_tcb,
            platform_info,
            author_key_en: key_info & 1 != 0,
            mask_chip_key: key_info & 2 != 0,
            signing_key,
            report_data,
            measurement,
            host_data,
            id_key_digest,
            author_key_digest,
            report_id,
            report_id_ma,
            reported_tcb,
            cpuid,
            chip_id,
            committed_tcb,
            current_version,
            committed_version,
            launch_tcb,
            launch_mit_vector,
            current_mit_vector,
            signature_be,
        })
    }

    /// The bytes the signature covers.
    pub fn signed_bytes(&self) -> &[u8] {
        &self.raw[..SIGNED_LEN]
    }

    /// The whole report as received.
    pub fn as_bytes(&self) -> &[u8] {
        &self.raw[..]
    }

    /// The evidence digest: SHA-384 of the 1184-byte report, whatever padding surrounded it.
    pub fn evidence_digest(&self) -> [u8; 48] {
        let mut out = [0u8; 48];
        out.copy_from_slice(
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA384, &self.raw[..]).as_ref(),
        );
        out
    }

    /// Report version (2-5).
    pub fn version(&self) -> u32 {
        self.version
    }

    /// Guest POLICY.
    pub fn policy(&self) -> u64 {
        self.policy
    }

    /// VMPL the report was requested at.
    pub fn vmpl(&self) -> u32 {
        self.vmpl
    }

    /// The key that signed the report.
    pub fn signing_key(&self) -> SigningKey {
        self.signing_key
    }

    /// CHIP_ID (zero when masked; Turin uses only the first 8 bytes).
    pub fn chip_id(&self) -> &[u8; 64] {
        &self.chip_id
    }

    /// REPORTED_TCB, raw.
    pub fn reported_tcb_raw(&self) -> u64 {
        self.reported_tcb
    }

    /// CPUID family, model, stepping (v3+).
    pub fn cpuid(&self) -> Option<(u8, u8, u8)> {
        self.cpuid
    }

    /// The product named by the CPUID fields (v3+), if they name a known one.
    pub fn product_from_cpuid(&self) -> Option<Product> {
        self.cpuid.and_then(|(f, m, _)| Product::from_cpuid(f, m))
    }

    /// MEASUREMENT.
    pub fn measurement(&self) -> &[u8; 48] {
        &self.measurement
    }

    /// REPORT_DATA.
    pub fn report_data(&self) -> &[u8; 64] {
        &self.report_data
    }
}

/// A cursor over a fixed-size buffer. Reads past the end yield zeros and set a flag that
/// [`Cursor::finish`] reports, so field reads stay infallible and the length is checked once.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    overrun: bool,
}

impl<'a> Cursor<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Self {
            buf,
            pos: 0,
            overrun: false,
        }
    }

    fn take(&mut self, n: usize) -> &'a [u8] {
        match self
            .pos
            .checked_add(n)
            .and_then(|end| self.buf.get(self.pos..end))
        {
            Some(s) => {
                self.pos += n;
                s
            }
            None => {
                self.overrun = true;
                self.pos = self.buf.len();
                &[]
            }
        }
    }

    fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        let s = self.take(N);
        if s.len() == N {
            out.copy_from_slice(s);
        }
        out
    }

    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.array())
    }

    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.array())
    }

    fn zeros(&mut self, field: &'static str, n: usize) -> Result<(), AttestationError> {
        let offset = self.pos;
        if self.take(n).iter().any(|&b| b != 0) {
            return Err(SnpError::ReservedField { field, offset }.into());
        }
        Ok(())
    }

    /// build, minor, major, reserved (zero).
    fn firmware_version(&mut self) -> Result<FirmwareVersion, AttestationError> {
        let [build, minor, major] = self.array::<3>();
        self.zeros("reserved (firmware version)", 1)?;
        Ok(FirmwareVersion {
            major,
            minor,
            build,
        })
    }

    fn finish(&self) -> Result<(), AttestationError> {
        if self.overrun || self.pos != self.buf.len() {
            return Err(SnpError::ReportLength {
                len: self.buf.len(),
                expected: self.pos,
            }
            .into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minimal(version: u32) -> Vec<u8> {
        let mut b = vec![0u8; REPORT_LEN];
        b[0..4].copy_from_slice(&version.to_le_bytes());
        b[8..16].copy_from_slice(&policy_bits::RESERVED_ONE.to_le_bytes());
        b[0x34] = 1;
        b
    }

    #[test]
    fn minimal_reports_parse_for_every_known_version() {
        for v in MIN_VERSION..=MAX_VERSION {
            let r = SnpReport::parse(&minimal(v)).expect("parse");
            assert_eq!(r.version(), v);
            assert_eq!(r.signing_key(), SigningKey::Vcek);
        }
    }

    #[test]
    fn unknown_versions_are_rejected() {
        for v in [0, 1, 6, u32::MAX] {
            let e = SnpReport::parse(&minimal(v)).expect_err("version");
            assert_eq!(e.code(), "snp.report.unsupported_version", "{v}");
        }
    }

    #[test]
    fn wrong_lengths_are_rejected() {
        for len in [0, REPORT_LEN - 1, REPORT_LEN + 1] {
            let mut b = minimal(2);
            b.resize(len, 0);
            assert_eq!(
                SnpReport::parse(&b).expect_err("length").code(),
                "snp.report.length"
            );
        }
    }

    #[test]
    fn signature_algorithm_must_be_p384() {
        let mut b = minimal(3);
        b[0x34] = 2;
        assert_eq!(
            SnpReport::parse(&b).expect_err("algo").code(),
            "snp.report.unsupported_signature_algorithm"
        );
    }

    #[test]
    fn reserved_fields_must_be_zero() {
        // (offset, version) pairs that are reserved in that version.
        let cases = [
            (0x4C, 3),
            (0x188, 2),
            (0x18B, 3),
            (0x19F, 5),
            (0x1EB, 3),
            (0x1EF, 3),
            (0x1F8, 4),
            (0x207, 3),
            (0x208, 5),
            (0x29F, 5),
            (0x2A0 + 48, 3),
            (0x2E8 + 71, 3),
            (0x330, 3),
            (REPORT_LEN - 1, 3),
        ];
        for (off, v) in cases {
            let mut b = minimal(v);
            b[off] = 1;
            let e = SnpReport::parse(&b).expect_err("reserved");
            assert_eq!(e.code(), "snp.report.reserved_field", "{off:#x} v{v}");
        }
        // POLICY bit 17 must be one, bits 63:26 zero; KEY_INFO bits 31:5 zero.
        let mut b = minimal(3);
        b[10] = 0;
        assert_eq!(
            SnpReport::parse(&b).expect_err("bit 17").code(),
            "snp.report.reserved_field"
        );
        let mut b = minimal(3);
        b[15] = 0x80;
        assert_eq!(
            SnpReport::parse(&b).expect_err("bit 63").code(),
            "snp.report.reserved_field"
        );
        let mut b = minimal(3);
        b[0x48] = 0x20;
        assert_eq!(
            SnpReport::parse(&b).expect_err("key info").code(),
            "snp.report.reserved_field"
        );
    }

    #[test]
    fn v5_mitigation_vectors_and_cpuid_are_read() {
        let mut b = minimal(5);
        b[0x188..0x18B].copy_from_slice(&[0x1A, 0x02, 0x01]);
        b[0x1F8] = 0x3F;
        b[0x200] = 0x3F;
        let r = SnpReport::parse(&b).expect("parse");
        assert_eq!(r.product_from_cpuid(), Some(Product::Turin));
        assert_eq!(r.launch_mit_vector, Some(0x3F));
        assert_eq!(r.current_mit_vector, Some(0x3F));
    }

    #[test]
    fn signing_key_values() {
        let mut b = minimal(3);
        b[0x48] = 1 << 2;
        assert_eq!(
            SnpReport::parse(&b).expect("vlek").signing_key(),
            SigningKey::Vlek
        );
        b[0x48] = 7 << 2;
        assert_eq!(
            SnpReport::parse(&b).expect_err("none").code(),
            "snp.report.invalid_field"
        );
    }

    #[test]
    fn signature_is_converted_to_big_endian() {
        let mut b = minimal(3);
        b[0x2A0] = 0xAA; // least significant byte of r
        b[0x2A0 + 47] = 0xBB; // most significant byte of r
        b[0x2E8] = 0xCC;
        let r = SnpReport::parse(&b).expect("parse");
        assert_eq!(r.signature_be[0], 0xBB);
        assert_eq!(r.signature_be[47], 0xAA);
        assert_eq!(r.signature_be[95], 0xCC);
    }

    #[test]
    fn tcb_layouts() {
        let raw = u64::from_le_bytes([1, 2, 3, 4, 5, 6, 7, 8]);
        let m = TcbVersion::decode(raw, Product::Milan);
        assert_eq!(
            (m.fmc, m.bootloader, m.tee, m.snp, m.microcode),
            (0, 1, 2, 7, 8)
        );
        let t = TcbVersion::decode(raw, Product::Turin);
        assert_eq!(
            (t.fmc, t.bootloader, t.tee, t.snp, t.microcode),
            (1, 2, 3, 4, 8)
        );
        assert_eq!(t.components(Product::Turin).len(), 5);
        assert_eq!(m.components(Product::Genoa).len(), 4);
    }

    #[test]
    fn products_from_cpuid() {
        assert_eq!(Product::from_cpuid(0x19, 0x01), Some(Product::Milan));
        assert_eq!(Product::from_cpuid(0x19, 0x11), Some(Product::Genoa));
        assert_eq!(Product::from_cpuid(0x19, 0xA0), Some(Product::Genoa));
        assert_eq!(Product::from_cpuid(0x1A, 0x02), Some(Product::Turin));
        assert_eq!(Product::from_cpuid(0x17, 0x01), None);
        assert_eq!(Product::from_name("genoa"), Some(Product::Genoa));
    }
}
