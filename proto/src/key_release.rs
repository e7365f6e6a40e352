//! Key release: how an enclave obtains a model's data key (DEK) from the key custodian.
//!
//! ```text
//! enclave                                   custodian
//!   POST /v1/challenge  {key_id}        ─►  fresh 32-byte nonce, single use, short-lived
//!                       {nonce, expires_at} ◄─
//!   ReleaseKeyPair::generate()               (a fresh X25519 key for this release only)
//!   evidence binds (release kem_pub, sig_pub, nonce)  (the one binding rule, ARCHITECTURE.md)
//!   POST /v1/release    {key_id, bundle} ─►  verify + appraise under the KEY's trust policy,
//!                                            Rego, unwrap DEK from the KEK, HPKE-seal it
//!                       ReleaseResponse  ◄─  signed by the custodian's Ed25519 key
//!   open_release(response, key_id, evidence digest, pinned custodian key, release secret)
//! ```
//!
//! The DEK is sealed with HPKE (RFC 9180) base mode, single shot, suite DHKEM(X25519,
//! HKDF-SHA256) / HKDF-SHA256 / AES-256-GCM, to the bundle's `kem_pub`, with
//! `info = `[`key_release_info`]`(key_id, evidence_sha384)` and an empty AAD: a wrapped key opens
//! only for that key id and only with the release key that the named evidence vouched for.
//!
//! The custodian signs the exact text of every other field of the [`ReleaseResponse`]
//! ([`ReleaseResponse::signing_bytes`]), so the enclave checks the signature before it decodes a
//! single base64 or hex byte, and no re-encoding can change what was signed.
//!
//! ```
//! use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
//! use cloister_proto::key_release::{ReleaseKeyPair, ReleaseResponse, open_release};
//! use cloister_proto::sealed::DataKey;
//!
//! let custodian = Ed25519KeyPair::generate()?;
//! let custodian_pub: [u8; 32] = custodian.public_key().as_ref().try_into()?;
//! let release = ReleaseKeyPair::generate();
//! let digest = [7; 48];
//!
//! // Custodian side, once the evidence behind `digest` passed its policy:
//! let dek = DataKey::from_bytes([0x42; 32]);
//! let response = ReleaseResponse::seal_and_sign(
//!     &custodian, "model-1", &digest, &dek, &release.public_key(), 1_750_000_000)?;
//!
//! // Enclave side:
//! let opened = open_release(&response, "model-1", &digest, &custodian_pub, &release)?;
//! assert_eq!(opened.expose(), dek.expose());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use aws_lc_rs::signature::{ED25519, Ed25519KeyPair, UnparsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hpke::{Deserializable, Kem as _, OpModeR, OpModeS, Serializable};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::DIGEST_LEN;
use crate::sealed::DataKey;

type Kem = hpke::kem::X25519HkdfSha256;
type Kdf = hpke::kdf::HkdfSha256;
type Aead = hpke::aead::AesGcm256;

/// Domain label of the key-release HPKE `info`.
pub const KEY_RELEASE_LABEL: &[u8] = b"cloister/key-release/v1";
/// Domain label of the custodian's signature over a [`ReleaseResponse`].
pub const RESPONSE_LABEL: &[u8] = b"cloister/key-release-response/v1";
/// Version of the [`ReleaseResponse`] layout.
pub const RESPONSE_VERSION: u16 = 1;
/// Length of a challenge nonce.
pub const NONCE_LEN: usize = 32;
/// Longest key id.
pub const MAX_KEY_ID_LEN: usize = 128;
/// Length of an X25519 public key (the release key, and HPKE's `enc`).
pub const X25519_LEN: usize = 32;
/// Length of the sealed DEK: 32 bytes of key and a 16-byte AES-GCM tag.
pub const SEALED_DEK_LEN: usize = 32 + 16;
/// Length of an Ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;
/// Largest base64 evidence bundle a custodian should accept in a [`ReleaseRequest`]: the bundle's
/// own limits (64 KiB of evidence, 16 collateral items of 64 KiB) are far above any real bundle,
/// so the custodian's body limit, not this, is what binds in practice.
pub const MAX_BUNDLE_B64_LEN: usize = 2 * 1024 * 1024;

/// Route of [`ChallengeRequest`] → [`Challenge`].
pub const ROUTE_CHALLENGE: &str = "/v1/challenge";
/// Route of [`ReleaseRequest`] → [`ReleaseResponse`].
pub const ROUTE_RELEASE: &str = "/v1/release";

/// HPKE `info` binding a wrapped key to its key id and to the evidence it was released against,
/// so a wrapped key is useless anywhere else. Each part is length-prefixed (u32 big-endian).
///
/// ```
/// use cloister_proto::key_release::key_release_info;
/// let a = key_release_info(b"model-1", &[0; 48]);
/// let b = key_release_info(b"model-1", &[1; 48]);
/// assert_ne!(a, b);
/// ```
pub fn key_release_info(key_id: &[u8], evidence_sha384: &[u8; DIGEST_LEN]) -> Vec<u8> {
    let mut out = Vec::with_capacity(12 + KEY_RELEASE_LABEL.len() + key_id.len() + DIGEST_LEN);
    for part in [KEY_RELEASE_LABEL, key_id, evidence_sha384.as_slice()] {
        push_part(&mut out, part);
    }
    out
}

/// Appends `part` preceded by its length as a big-endian `u32` (saturated: every part here is
/// bounded far below 4 GiB, and a saturated length still cannot collide with a shorter part).
fn push_part(out: &mut Vec<u8>, part: &[u8]) {
    let len = u32::try_from(part.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(part);
}

/// Checks a key id: 1 to [`MAX_KEY_ID_LEN`] bytes of ASCII letters, digits, `.`, `_` and `-`,
/// so ids are safe in URL paths, file names and logs.
///
/// # Errors
/// [`KeyReleaseError::BadKeyId`].
///
/// ```
/// use cloister_proto::key_release::validate_key_id;
/// assert!(validate_key_id("credit-risk-v1").is_ok());
/// assert_eq!(validate_key_id("../etc").unwrap_err().code(), "key_release.bad_key_id");
/// ```
pub fn validate_key_id(key_id: &str) -> Result<(), KeyReleaseError> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if key_id.is_empty()
        || key_id.len() > MAX_KEY_ID_LEN
        || !key_id.chars().all(ok_char)
        || key_id.starts_with('.')
    {
        return Err(KeyReleaseError::BadKeyId {
            len: key_id.len(),
            max: MAX_KEY_ID_LEN,
        });
    }
    Ok(())
}

/// `POST /v1/challenge` body: the key the enclave is about to ask for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChallengeRequest {
    /// The key id.
    pub key_id: String,
}

/// `POST /v1/challenge` answer: a fresh nonce to bind into the evidence, usable once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Challenge {
    /// Base64 (standard, padded) of [`NONCE_LEN`] random bytes.
    pub nonce: String,
    /// Unix seconds after which the custodian no longer redeems it.
    pub expires_at: u64,
}

impl Challenge {
    /// The decoded nonce.
    ///
    /// # Errors
    /// [`KeyReleaseError::Malformed`] for bad base64 or a length other than [`NONCE_LEN`].
    pub fn nonce_bytes(&self) -> Result<[u8; NONCE_LEN], KeyReleaseError> {
        decode_b64_array("nonce", &self.nonce)
    }
}

/// `POST /v1/release` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseRequest {
    /// The key id (the same the challenge was issued for).
    pub key_id: String,
    /// Base64 of the CBOR [`crate::EvidenceBundle`]: its `kem_pub` is the enclave's fresh release
    /// key ([`ReleaseKeyPair`]), its `nonce` the challenge's nonce.
    pub bundle: String,
}

/// `POST /v1/release` answer: the DEK sealed to the attested release key, signed by the
/// custodian. Open it with [`open_release`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseResponse {
    /// [`RESPONSE_VERSION`].
    pub version: u16,
    /// The key released.
    pub key_id: String,
    /// Lowercase hex SHA-384 over the signed extent of the evidence the key was released against
    /// (`cloister_attestation::evidence::evidence_digest`).
    pub evidence_sha384: String,
    /// Base64 of HPKE's encapsulated key (32 bytes).
    pub enc: String,
    /// Base64 of the sealed DEK ([`SEALED_DEK_LEN`] bytes).
    pub ciphertext: String,
    /// Custodian time of release, Unix seconds.
    pub issued_at: u64,
    /// Base64 Ed25519 signature by the custodian over [`ReleaseResponse::signing_bytes`].
    pub signature: String,
}

impl ReleaseResponse {
    /// The exact bytes the custodian signs: [`RESPONSE_LABEL`], the version, the key id, and the
    /// *text* of `evidence_sha384`, `enc` and `ciphertext` as sent, then `issued_at`, each part
    /// preceded by its length as a big-endian `u32`. Signing the text rather than decoded bytes
    /// lets the enclave verify before it parses anything.
    pub fn signing_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            64 + self.key_id.len()
                + self.evidence_sha384.len()
                + self.enc.len()
                + self.ciphertext.len(),
        );
        for part in [
            RESPONSE_LABEL,
            &self.version.to_be_bytes(),
            self.key_id.as_bytes(),
            self.evidence_sha384.as_bytes(),
            self.enc.as_bytes(),
            self.ciphertext.as_bytes(),
            &self.issued_at.to_be_bytes(),
        ] {
            push_part(&mut out, part);
        }
        out
    }

    /// The custodian's side: seals `dek` to `release_pub` for `key_id` and the evidence
    /// `evidence_sha384`, and signs the response with `signer`.
    ///
    /// # Errors
    /// [`KeyReleaseError::BadKeyId`]; [`KeyReleaseError::SealFailed`] if `release_pub` is not a
    /// usable X25519 key (a low-order point).
    pub fn seal_and_sign(
        signer: &Ed25519KeyPair,
        key_id: &str,
        evidence_sha384: &[u8; DIGEST_LEN],
        dek: &DataKey,
        release_pub: &[u8; X25519_LEN],
        issued_at: u64,
    ) -> Result<Self, KeyReleaseError> {
        validate_key_id(key_id)?;
        let recipient = <Kem as hpke::Kem>::PublicKey::from_bytes(release_pub)
            .map_err(|_| KeyReleaseError::SealFailed)?;
        let info = key_release_info(key_id.as_bytes(), evidence_sha384);
        let (enc, ciphertext) = hpke::single_shot_seal::<Aead, Kdf, Kem>(
            &OpModeS::Base,
            &recipient,
            &info,
            dek.expose(),
            b"",
        )
        .map_err(|_| KeyReleaseError::SealFailed)?;
        let mut response = Self {
            version: RESPONSE_VERSION,
            key_id: key_id.to_owned(),
            evidence_sha384: hex::encode(evidence_sha384),
            enc: B64.encode(enc.to_bytes()),
            ciphertext: B64.encode(&ciphertext),
            issued_at,
            signature: String::new(),
        };
        response.signature = B64.encode(signer.sign(&response.signing_bytes()));
        Ok(response)
    }
}

/// The enclave's side: checks, in this order, the custodian's signature (with the pinned
/// `custodian_pub`), the version, that the response is for `expected_key_id` and for the
/// evidence `expected_evidence_sha384` the enclave sent, then HPKE-opens the DEK with the
/// release key's secret.
///
/// # Errors
/// One [`KeyReleaseError`] per check: `key_release.bad_signature`,
/// `key_release.unsupported_version`, `key_release.key_id_mismatch`,
/// `key_release.evidence_mismatch`, `key_release.malformed`, `key_release.open_failed`.
pub fn open_release(
    response: &ReleaseResponse,
    expected_key_id: &str,
    expected_evidence_sha384: &[u8; DIGEST_LEN],
    custodian_pub: &[u8; 32],
    release_secret: &ReleaseKeyPair,
) -> Result<DataKey, KeyReleaseError> {
    // The signature first: nothing unauthenticated is decoded or compared.
    let signature = B64
        .decode(&response.signature)
        .map_err(|_| KeyReleaseError::BadSignature)?;
    UnparsedPublicKey::new(&ED25519, custodian_pub)
        .verify(&response.signing_bytes(), &signature)
        .map_err(|_| KeyReleaseError::BadSignature)?;
    if response.version != RESPONSE_VERSION {
        return Err(KeyReleaseError::UnsupportedVersion {
            got: response.version,
            supported: RESPONSE_VERSION,
        });
    }
    if response.key_id != expected_key_id {
        return Err(KeyReleaseError::KeyIdMismatch {
            expected: expected_key_id.to_owned(),
            found: response.key_id.clone(),
        });
    }
    let expected_hex = hex::encode(expected_evidence_sha384);
    if response.evidence_sha384 != expected_hex {
        return Err(KeyReleaseError::EvidenceMismatch {
            expected: expected_hex,
            found: response.evidence_sha384.clone(),
        });
    }
    let enc: [u8; X25519_LEN] = decode_b64_array("enc", &response.enc)?;
    let ciphertext: [u8; SEALED_DEK_LEN] = decode_b64_array("ciphertext", &response.ciphertext)?;
    let enc = <Kem as hpke::Kem>::EncappedKey::from_bytes(&enc)
        .map_err(|_| KeyReleaseError::OpenFailed)?;
    let info = key_release_info(expected_key_id.as_bytes(), expected_evidence_sha384);
    let plain = Zeroizing::new(
        hpke::single_shot_open::<Aead, Kdf, Kem>(
            &OpModeR::Base,
            &release_secret.secret,
            &enc,
            &info,
            &ciphertext,
            b"",
        )
        .map_err(|_| KeyReleaseError::OpenFailed)?,
    );
    let key: [u8; 32] = plain
        .as_slice()
        .try_into()
        .map_err(|_| KeyReleaseError::OpenFailed)?;
    Ok(DataKey::from_bytes(key))
}

/// The enclave's fresh X25519 key for one release. Its public half goes into the evidence
/// bundle's `kem_pub`; its secret (zeroized on drop) opens the [`ReleaseResponse`].
pub struct ReleaseKeyPair {
    secret: <Kem as hpke::Kem>::PrivateKey,
    public: [u8; X25519_LEN],
}

impl ReleaseKeyPair {
    /// A fresh key pair from the operating system's random source.
    pub fn generate() -> Self {
        let (secret, public) = Kem::gen_keypair();
        let mut bytes = [0; X25519_LEN];
        bytes.copy_from_slice(&public.to_bytes());
        Self {
            secret,
            public: bytes,
        }
    }

    /// The public key, for the bundle's `kem_pub`.
    pub fn public_key(&self) -> [u8; X25519_LEN] {
        self.public
    }
}

impl std::fmt::Debug for ReleaseKeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReleaseKeyPair")
            .field("public", &hex::encode(self.public))
            .finish_non_exhaustive()
    }
}

/// The JSON body of every custodian error (4xx and 5xx): a stable code, what was wrong, what to
/// do, and for a policy denial the rule or reason that denied. Never carries key material.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseDenied {
    /// Stable dotted code (`custodian.*`, or the attestation check's `policy.*`, `nitro.*`, …).
    pub code: String,
    /// What was wrong.
    pub message: String,
    /// What to do about it.
    pub hint: String,
    /// The policy rule or Rego `deny` reason that refused the release, when one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
}

fn decode_b64_array<const N: usize>(
    field: &'static str,
    text: &str,
) -> Result<[u8; N], KeyReleaseError> {
    let bytes = Zeroizing::new(B64.decode(text).map_err(|_| KeyReleaseError::Malformed {
        field,
        expected_len: N,
        len: None,
    })?);
    bytes
        .as_slice()
        .try_into()
        .map_err(|_| KeyReleaseError::Malformed {
            field,
            expected_len: N,
            len: Some(bytes.len()),
        })
}

/// Why a key release could not be made or opened. Opening yields no key with any of them.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyReleaseError {
    /// The custodian's signature does not verify with the pinned custodian key: the response was
    /// modified, or comes from another custodian.
    #[error("the key release response is not signed by the pinned custodian key")]
    BadSignature,
    /// Another response layout version.
    #[error("key release response version {got}, this build reads {supported}")]
    UnsupportedVersion {
        /// The version found.
        got: u16,
        /// The version this build reads.
        supported: u16,
    },
    /// The (signed) response releases another key than the one asked for.
    #[error("the response releases key {found:?}, the enclave asked for {expected:?}")]
    KeyIdMismatch {
        /// The key id asked for.
        expected: String,
        /// The key id in the response.
        found: String,
    },
    /// The (signed) response names other evidence than the enclave sent.
    #[error("the response names evidence {found}, the enclave sent {expected}")]
    EvidenceMismatch {
        /// Hex SHA-384 of the evidence sent.
        expected: String,
        /// Hex digest in the response.
        found: String,
    },
    /// A field is not base64 of the expected length.
    #[error("{field}: expected base64 of {expected_len} bytes, got {}", len.map_or("invalid base64".to_owned(), |l| format!("{l} bytes")))]
    Malformed {
        /// The field.
        field: &'static str,
        /// The length it must decode to.
        expected_len: usize,
        /// The length it decoded to, `None` for invalid base64.
        len: Option<usize>,
    },
    /// HPKE did not open the sealed key: the wrong release key, or `enc` or the ciphertext were
    /// swapped.
    #[error("the sealed data key does not open with this release key")]
    OpenFailed,
    /// HPKE could not seal to the release key (not a usable X25519 public key).
    #[error("cannot seal to the release key: not a usable X25519 public key")]
    SealFailed,
    /// A key id outside the allowed form.
    #[error(
        "key id of {len} bytes: must be 1 to {max} ASCII letters, digits, '.', '_' or '-', not starting with '.'"
    )]
    BadKeyId {
        /// Its length.
        len: usize,
        /// The longest allowed.
        max: usize,
    },
}

impl KeyReleaseError {
    /// A stable dotted code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadSignature => "key_release.bad_signature",
            Self::UnsupportedVersion { .. } => "key_release.unsupported_version",
            Self::KeyIdMismatch { .. } => "key_release.key_id_mismatch",
            Self::EvidenceMismatch { .. } => "key_release.evidence_mismatch",
            Self::Malformed { .. } => "key_release.malformed",
            Self::OpenFailed => "key_release.open_failed",
            Self::SealFailed => "key_release.seal_failed",
            Self::BadKeyId { .. } => "key_release.bad_key_id",
        }
    }

    /// What to do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            Self::BadSignature => {
                "check that the enclave pins this custodian's public key (`cloister-custodian pubkey`) and that nothing on the path rewrites the response"
            }
            Self::UnsupportedVersion { .. } => {
                "run an enclave and a custodian of the same Cloister release"
            }
            Self::KeyIdMismatch { .. } | Self::EvidenceMismatch { .. } => {
                "the custodian answered another request: retry with a fresh challenge, and suspect the relay if it repeats"
            }
            Self::Malformed { .. } => {
                "the custodian sent a response this build cannot read: upgrade one side"
            }
            Self::OpenFailed => {
                "use the release key pair whose public key went into this evidence bundle, once, for this response"
            }
            Self::SealFailed => {
                "the enclave must put a fresh ReleaseKeyPair's public key in the bundle's kem_pub"
            }
            Self::BadKeyId { .. } => "use a key id of letters, digits, '.', '_' and '-'",
        }
    }
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::signature::KeyPair;

    use super::*;

    struct Fixture {
        custodian: Ed25519KeyPair,
        custodian_pub: [u8; 32],
        release: ReleaseKeyPair,
        digest: [u8; 48],
        dek: DataKey,
    }

    fn fixture() -> Fixture {
        let custodian = Ed25519KeyPair::generate().expect("key");
        let custodian_pub = custodian.public_key().as_ref().try_into().expect("32");
        Fixture {
            custodian,
            custodian_pub,
            release: ReleaseKeyPair::generate(),
            digest: [9; 48],
            dek: DataKey::from_bytes([0x5a; 32]),
        }
    }

    fn release(f: &Fixture, key_id: &str, digest: &[u8; 48]) -> ReleaseResponse {
        ReleaseResponse::seal_and_sign(
            &f.custodian,
            key_id,
            digest,
            &f.dek,
            &f.release.public_key(),
            1_750_000_000,
        )
        .expect("seal")
    }

    fn open(f: &Fixture, r: &ReleaseResponse) -> Result<DataKey, KeyReleaseError> {
        open_release(r, "model-1", &f.digest, &f.custodian_pub, &f.release)
    }

    fn resign(f: &Fixture, r: &mut ReleaseResponse) {
        r.signature = B64.encode(f.custodian.sign(&r.signing_bytes()));
    }

    #[test]
    fn round_trip() {
        let f = fixture();
        let r = release(&f, "model-1", &f.digest);
        assert_eq!(r.evidence_sha384, hex::encode(f.digest));
        let json = serde_json::to_string(&r).expect("json");
        let back: ReleaseResponse = serde_json::from_str(&json).expect("parse");
        assert_eq!(open(&f, &back).expect("open").expose(), f.dek.expose());
    }

    #[test]
    fn a_flipped_signature_byte_is_refused_first() {
        let f = fixture();
        let mut r = release(&f, "model-1", &f.digest);
        let mut sig = B64.decode(&r.signature).expect("b64");
        sig[10] ^= 1;
        r.signature = B64.encode(sig);
        assert_eq!(
            open(&f, &r).expect_err("sig").code(),
            "key_release.bad_signature"
        );
        // Any unsigned change is a signature failure too, even one that would fail later.
        let mut r = release(&f, "model-2", &f.digest);
        r.key_id = "model-1".into();
        assert_eq!(
            open(&f, &r).expect_err("sig").code(),
            "key_release.bad_signature"
        );
        // Another custodian's key.
        let other = fixture();
        let r = release(&f, "model-1", &f.digest);
        let err = open_release(&r, "model-1", &f.digest, &other.custodian_pub, &f.release);
        assert_eq!(err.expect_err("pin").code(), "key_release.bad_signature");
    }

    #[test]
    fn another_key_id_is_refused() {
        let f = fixture();
        let r = release(&f, "model-2", &f.digest);
        assert_eq!(
            open(&f, &r).expect_err("key id"),
            KeyReleaseError::KeyIdMismatch {
                expected: "model-1".into(),
                found: "model-2".into()
            }
        );
    }

    #[test]
    fn another_evidence_digest_is_refused() {
        let f = fixture();
        let r = release(&f, "model-1", &[8; 48]);
        assert_eq!(
            open(&f, &r).expect_err("digest").code(),
            "key_release.evidence_mismatch"
        );
    }

    #[test]
    fn the_wrong_release_secret_does_not_open() {
        let f = fixture();
        let r = release(&f, "model-1", &f.digest);
        let stranger = ReleaseKeyPair::generate();
        let err = open_release(&r, "model-1", &f.digest, &f.custodian_pub, &stranger);
        assert_eq!(err.expect_err("secret").code(), "key_release.open_failed");
    }

    #[test]
    fn a_swapped_enc_does_not_open_even_when_signed() {
        let f = fixture();
        let mut r = release(&f, "model-1", &f.digest);
        let other = release(&f, "model-1", &f.digest);
        assert_ne!(r.enc, other.enc, "every release encapsulates afresh");
        r.enc = other.enc;
        resign(&f, &mut r);
        assert_eq!(
            open(&f, &r).expect_err("enc").code(),
            "key_release.open_failed"
        );
    }

    #[test]
    fn bad_lengths_and_versions_are_typed() {
        let f = fixture();
        let mut r = release(&f, "model-1", &f.digest);
        r.ciphertext = B64.encode([0; 47]);
        resign(&f, &mut r);
        assert_eq!(
            open(&f, &r).expect_err("len"),
            KeyReleaseError::Malformed {
                field: "ciphertext",
                expected_len: SEALED_DEK_LEN,
                len: Some(47)
            }
        );
        let mut r = release(&f, "model-1", &f.digest);
        r.version = 2;
        resign(&f, &mut r);
        assert_eq!(
            open(&f, &r).expect_err("version").code(),
            "key_release.unsupported_version"
        );
    }

    #[test]
    fn signing_bytes_separate_every_field() {
        let f = fixture();
        let base = release(&f, "model-1", &f.digest);
        let mut variants = Vec::new();
        let mut r = base.clone();
        r.issued_at += 1;
        variants.push(r);
        let mut r = base.clone();
        // Moving a character between adjacent fields changes the length prefixes.
        r.key_id.push('a');
        r.evidence_sha384.remove(0);
        variants.push(r);
        let mut r = base.clone();
        r.version += 1;
        variants.push(r);
        for v in variants {
            assert_ne!(v.signing_bytes(), base.signing_bytes());
        }
        // The signature itself is not signed.
        let mut r = base.clone();
        r.signature.clear();
        assert_eq!(r.signing_bytes(), base.signing_bytes());
    }

    #[test]
    fn info_is_length_prefixed() {
        let info = key_release_info(b"k", &[0; 48]);
        assert!(info.starts_with(&[0, 0, 0, KEY_RELEASE_LABEL.len() as u8]));
        assert_eq!(info.len(), 12 + KEY_RELEASE_LABEL.len() + 1 + 48);
    }

    #[test]
    fn key_ids_and_bodies_are_checked() {
        for ok in ["a", "model-1", "m.v2_x", &"a".repeat(MAX_KEY_ID_LEN)] {
            assert!(validate_key_id(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            ".hidden",
            "a/b",
            "a b",
            "é",
            &"a".repeat(MAX_KEY_ID_LEN + 1),
        ] {
            assert!(validate_key_id(bad).is_err(), "{bad}");
        }
        assert!(serde_json::from_str::<ChallengeRequest>(r#"{"key_id":"a","x":1}"#).is_err());
        let denied = ReleaseDenied {
            code: "custodian.rego_denied".into(),
            message: "m".into(),
            hint: "h".into(),
            rule: None,
        };
        let json = serde_json::to_string(&denied).expect("json");
        assert!(!json.contains("rule"));
        let c = Challenge {
            nonce: B64.encode([1; 32]),
            expires_at: 5,
        };
        assert_eq!(c.nonce_bytes().expect("nonce"), [1; 32]);
    }
}
