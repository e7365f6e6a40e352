//! AWS KMS interop: open the `CiphertextForRecipient` that KMS returns to a Nitro enclave.
//!
//! A Nitro user who keeps a model key in AWS KMS can have KMS release it to a measured Cloister
//! enclave (see `docs/kms.md`):
//!
//! ```text
//! enclave                                            AWS KMS (over TLS, relayed by the host)
//!   KmsRecipientKey::generate()   (RSA-2048, in memory only)
//!   NSM attestation with public_key = public_key_spki_der()
//!   Decrypt / GenerateDataKey {Recipient: {AttestationDocument,
//!       KeyEncryptionAlgorithm: RSAES_OAEP_SHA_256}}  ─►  verify document, key policy on PCRs
//!                    {CiphertextForRecipient: CMS}   ◄─  EnvelopedData to public_key
//!   open_ciphertext_for_recipient(CMS) → plaintext (zeroized on drop)
//! ```
//!
//! `CiphertextForRecipient` is a CMS `ContentInfo(EnvelopedData)` (RFC 5652), in BER with
//! indefinite lengths: one KeyTransRecipientInfo whose RSAES-OAEP (SHA-256, MGF1-SHA-256)
//! ciphertext holds a 32-byte AES-256-CBC key, and the AES-256-CBC (PKCS#7-padded) content.
//! RustCrypto's `der`/`cms` read DER only, so the message is read by a strict BER reader of
//! this module's own (definite and indefinite lengths, constructed OCTET STRINGs, nesting at
//! most [`MAX_DEPTH`]; its source says why no other crate), and every algorithm is checked
//! before any decryption.
//!
//! EnvelopedData carries no integrity protection (CBC, no MAC, unsigned), and anyone can encrypt
//! to the public key: what proves the plaintext came from KMS is the enclave's own TLS session to
//! KMS. Open only messages read from that session.
//!
//! ```
//! use cloister_proto::kms::KmsRecipientKey;
//!
//! let key = KmsRecipientKey::generate()?;
//! // DER SubjectPublicKeyInfo, for the NSM attestation request's `public_key`.
//! let spki = key.public_key_spki_der();
//! assert_eq!(spki.first(), Some(&0x30));
//!
//! let err = key.open_ciphertext_for_recipient(b"not CMS").unwrap_err();
//! assert_eq!(err.code(), "kms.recipient.malformed");
//! # Ok::<(), cloister_proto::kms::KmsRecipientError>(())
//! ```

mod ber;
mod envelope;
pub mod testing;

use aws_lc_rs::cipher::{AES_256, DecryptionContext, PaddedBlockDecryptingKey, UnboundCipherKey};
use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::iv::FixedLength;
use aws_lc_rs::rsa::{
    KeySize, OAEP_SHA256_MGF1SHA256, OaepPrivateDecryptingKey, PrivateDecryptingKey,
};
use zeroize::Zeroizing;

pub use ber::{BerFault, MAX_DEPTH};

/// The largest `CiphertextForRecipient` accepted. KMS plaintexts are at most 4 KiB (`Decrypt`)
/// and a `GenerateDataKeyPair` private key is smaller still, so a real message stays far below.
pub const MAX_CIPHERTEXT_FOR_RECIPIENT_LEN: usize = 64 * 1024;

/// Length of the AES-256 content-encryption key inside the RSAES-OAEP ciphertext.
pub const CONTENT_KEY_LEN: usize = 32;

/// The enclave's RSA key pair for KMS `Recipient` requests.
///
/// The private key never leaves this value: there is no accessor, and `Debug` shows only the
/// SHA-256 of the public key (the subjectKeyIdentifier KMS puts in its reply).
pub struct KmsRecipientKey {
    key: OaepPrivateDecryptingKey,
    spki: Vec<u8>,
    spki_sha256: [u8; 32],
}

impl KmsRecipientKey {
    /// A fresh RSA-2048 key pair, generated in memory by aws-lc.
    ///
    /// # Errors
    /// [`KmsRecipientError::KeyGenerationFailed`] if the backend fails.
    pub fn generate() -> Result<Self, KmsRecipientError> {
        let key = PrivateDecryptingKey::generate(KeySize::Rsa2048)
            .map_err(|_| KmsRecipientError::KeyGenerationFailed)?;
        Self::from_private(key).map_err(|_| KmsRecipientError::KeyGenerationFailed)
    }

    /// A key pair from an unencrypted PKCS#8 (v1) DER RSA private key of 2048 to 8192 bits,
    /// for test vectors; an enclave uses [`KmsRecipientKey::generate`].
    ///
    /// # Errors
    /// [`KmsRecipientError::InvalidPrivateKey`] if `pkcs8` is not such a key.
    pub fn from_pkcs8_der(pkcs8: &[u8]) -> Result<Self, KmsRecipientError> {
        let key = PrivateDecryptingKey::from_pkcs8(pkcs8)
            .map_err(|_| KmsRecipientError::InvalidPrivateKey)?;
        Self::from_private(key).map_err(|_| KmsRecipientError::InvalidPrivateKey)
    }

    fn from_private(key: PrivateDecryptingKey) -> Result<Self, aws_lc_rs::error::Unspecified> {
        let spki = key.public_key().as_der()?.as_ref().to_vec();
        let mut spki_sha256 = [0; 32];
        spki_sha256.copy_from_slice(digest(&SHA256, &spki).as_ref());
        Ok(Self {
            key: OaepPrivateDecryptingKey::new(key)?,
            spki,
            spki_sha256,
        })
    }

    /// The public key as DER SubjectPublicKeyInfo: what goes into the NSM attestation
    /// request's `public_key`, and so into the attestation document KMS checks.
    pub fn public_key_spki_der(&self) -> Vec<u8> {
        self.spki.clone()
    }

    /// Opens a KMS `CiphertextForRecipient` (the base64-decoded field of the KMS response):
    /// checks the CMS structure and algorithms, unwraps the content-encryption key with
    /// RSAES-OAEP-SHA-256, and decrypts the AES-256-CBC content.
    ///
    /// Call it only on a message read from the enclave's own TLS session to KMS: the CMS format
    /// itself authenticates nothing.
    ///
    /// # Errors
    /// One [`KmsRecipientError`] per check, `kms.recipient.*`: `too_large`, `malformed` (with
    /// the byte offset and field), `content_type`, `unsupported_version`, `recipient_count`,
    /// `unsupported_recipient_type`, `unsupported_algorithm` (with the OID; the SHA-1 DEFAULTs
    /// of RSAES-OAEP included), `bad_iv`, `key_mismatch` (RSA-OAEP decryption failed),
    /// `bad_content_key`, `content_decrypt_failed`.
    pub fn open_ciphertext_for_recipient(
        &self,
        cms: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, KmsRecipientError> {
        if cms.len() > MAX_CIPHERTEXT_FOR_RECIPIENT_LEN {
            return Err(KmsRecipientError::TooLarge {
                len: cms.len(),
                limit: MAX_CIPHERTEXT_FOR_RECIPIENT_LEN,
            });
        }
        let message = envelope::parse(cms)?;

        let mut cek = Zeroizing::new(vec![0; self.key.min_output_size()]);
        let label = (!message.oaep_label.is_empty()).then_some(message.oaep_label.as_slice());
        let cek_len = self
            .key
            .decrypt(
                &OAEP_SHA256_MGF1SHA256,
                &message.encrypted_key,
                &mut cek,
                label,
            )
            .map_err(|_| KmsRecipientError::KeyMismatch {
                recipient_id_matches: (message.subject_key_id.len() == self.spki_sha256.len())
                    .then(|| message.subject_key_id == self.spki_sha256),
            })?
            .len();
        cek.truncate(cek_len);
        if cek.len() != CONTENT_KEY_LEN {
            return Err(KmsRecipientError::BadContentKeyLength { len: cek.len() });
        }

        let content_len = message.encrypted_content.len();
        let failed = |_| KmsRecipientError::ContentDecryptFailed { len: content_len };
        let aes = UnboundCipherKey::new(&AES_256, &cek)
            .and_then(PaddedBlockDecryptingKey::cbc_pkcs7)
            .map_err(failed)?;
        let mut plaintext = Zeroizing::new(message.encrypted_content);
        let plaintext_len = aes
            .decrypt(
                &mut plaintext,
                DecryptionContext::Iv128(FixedLength::from(message.iv)),
            )
            .map_err(failed)?
            .len();
        plaintext.truncate(plaintext_len);
        Ok(plaintext)
    }
}

impl std::fmt::Debug for KmsRecipientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KmsRecipientKey")
            .field("spki_sha256", &hex::encode(self.spki_sha256))
            .finish_non_exhaustive()
    }
}

/// Why a `CiphertextForRecipient` did not open, or a recipient key could not be made. No
/// plaintext is returned with any of them.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum KmsRecipientError {
    /// The input is larger than [`MAX_CIPHERTEXT_FOR_RECIPIENT_LEN`]; it was not parsed.
    #[error("CiphertextForRecipient of {len} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// The BER encoding is broken, or an element is not the one the schema requires.
    #[error("malformed CiphertextForRecipient at byte {offset} ({field}): {fault}")]
    Malformed {
        /// Byte offset of the offending element (or octet) in the input.
        offset: usize,
        /// The ASN.1 field being read.
        field: &'static str,
        /// What is wrong.
        fault: BerFault,
    },
    /// A content type other than the one KMS sends (id-envelopedData outside, id-data inside).
    #[error("{field} is {oid}, expected {expected}")]
    ContentType {
        /// The field.
        field: &'static str,
        /// The OID found, dotted.
        oid: String,
        /// The OID required, dotted.
        expected: &'static str,
    },
    /// A version other than 2 (EnvelopedData, or KeyTransRecipientInfo with a
    /// subjectKeyIdentifier).
    #[error("{field} is {version}, expected {expected}")]
    UnsupportedVersion {
        /// The field.
        field: &'static str,
        /// The version found.
        version: u64,
        /// The version required.
        expected: u64,
    },
    /// Not exactly one RecipientInfo.
    #[error("{count} recipients, expected exactly one")]
    RecipientCount {
        /// How many there are.
        count: usize,
    },
    /// The one RecipientInfo is not a KeyTransRecipientInfo (identifier octet: `0xa1`
    /// KeyAgree, `0xa2` KEK, `0xa3` password, `0xa4` other).
    #[error("the recipient has identifier 0x{tag:02x}, not a KeyTransRecipientInfo SEQUENCE")]
    UnsupportedRecipientType {
        /// Its identifier octet.
        tag: u8,
    },
    /// An algorithm other than RSAES-OAEP with SHA-256 and MGF1-SHA-256, or AES-256-CBC; an
    /// absent OAEP hash is reported as its DEFAULT, SHA-1 (1.3.14.3.2.26).
    #[error("{field} is {oid}, expected {expected}")]
    UnsupportedAlgorithm {
        /// The field.
        field: &'static str,
        /// The OID found (or implied by a DEFAULT), dotted.
        oid: String,
        /// The OID required, dotted.
        expected: &'static str,
    },
    /// The AES-256-CBC IV is not 16 bytes.
    #[error("AES-256-CBC IV of {len} bytes, expected 16")]
    BadIv {
        /// Its length.
        len: usize,
    },
    /// RSAES-OAEP decryption of the content-encryption key failed: the message was encrypted
    /// to another public key (or its encryptedKey was altered).
    #[error("the content-encryption key does not decrypt with this key ({})", recipient_id_note(.recipient_id_matches))]
    KeyMismatch {
        /// Whether the message's subjectKeyIdentifier equals SHA-256 of this key's SPKI (how KMS
        /// names the recipient); `None` if it is not 32 bytes long.
        recipient_id_matches: Option<bool>,
    },
    /// The unwrapped content-encryption key is not 32 bytes.
    #[error("content-encryption key of {len} bytes, expected {CONTENT_KEY_LEN}")]
    BadContentKeyLength {
        /// Its length.
        len: usize,
    },
    /// AES-256-CBC decryption failed: a length that is not a positive multiple of 16, or bad
    /// PKCS#7 padding.
    #[error("AES-256-CBC decryption of {len} ciphertext bytes failed (length or padding)")]
    ContentDecryptFailed {
        /// The ciphertext length.
        len: usize,
    },
    /// aws-lc could not generate an RSA key.
    #[error("generating the RSA-2048 recipient key failed")]
    KeyGenerationFailed,
    /// Not an unencrypted PKCS#8 DER RSA private key of 2048 to 8192 bits.
    #[error("not a PKCS#8 DER RSA private key of 2048 to 8192 bits")]
    InvalidPrivateKey,
}

impl KmsRecipientError {
    /// A stable dotted code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "kms.recipient.too_large",
            Self::Malformed { .. } => "kms.recipient.malformed",
            Self::ContentType { .. } => "kms.recipient.content_type",
            Self::UnsupportedVersion { .. } => "kms.recipient.unsupported_version",
            Self::RecipientCount { .. } => "kms.recipient.recipient_count",
            Self::UnsupportedRecipientType { .. } => "kms.recipient.unsupported_recipient_type",
            Self::UnsupportedAlgorithm { .. } => "kms.recipient.unsupported_algorithm",
            Self::BadIv { .. } => "kms.recipient.bad_iv",
            Self::KeyMismatch { .. } => "kms.recipient.key_mismatch",
            Self::BadContentKeyLength { .. } => "kms.recipient.bad_content_key",
            Self::ContentDecryptFailed { .. } => "kms.recipient.content_decrypt_failed",
            Self::KeyGenerationFailed => "kms.recipient.key_generation_failed",
            Self::InvalidPrivateKey => "kms.recipient.invalid_private_key",
        }
    }

    /// What to do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } | Self::Malformed { .. } => {
                "pass the base64-decoded CiphertextForRecipient of one KMS response, unmodified, as read from the enclave's TLS session to KMS"
            }
            Self::ContentType { .. }
            | Self::UnsupportedVersion { .. }
            | Self::RecipientCount { .. }
            | Self::UnsupportedRecipientType { .. }
            | Self::UnsupportedAlgorithm { .. }
            | Self::BadIv { .. }
            | Self::BadContentKeyLength { .. } => {
                "this is not a CiphertextForRecipient as AWS KMS makes it: send the request with Recipient.KeyEncryptionAlgorithm = RSAES_OAEP_SHA_256 and pass KMS's reply unchanged"
            }
            Self::KeyMismatch { .. } => {
                "the Recipient attestation document must carry this key's public_key_spki_der() as public_key: attest with this KmsRecipientKey and repeat the KMS request"
            }
            Self::ContentDecryptFailed { .. } => {
                "the encrypted content was altered: open only replies read from the enclave's verified TLS session to KMS, and repeat the request"
            }
            Self::KeyGenerationFailed => {
                "the crypto backend could not make an RSA key: retry, and check that the enclave's entropy source works"
            }
            Self::InvalidPrivateKey => {
                "pass an unencrypted PKCS#8 DER RSA private key (from PEM: the base64 between the BEGIN/END lines, decoded)"
            }
        }
    }
}

/// How [`KmsRecipientError::KeyMismatch`] describes the recipient id.
fn recipient_id_note(matches: &Option<bool>) -> &'static str {
    match matches {
        Some(true) => "the recipient id names this key",
        Some(false) => "the recipient id names another key",
        None => "the recipient id is not a SHA-256 key id",
    }
}

#[cfg(test)]
mod tests;
