//! The CMS `ContentInfo(EnvelopedData)` that KMS returns as `CiphertextForRecipient`
//! (RFC 5652 §3, §6; RSAES-OAEP parameters RFC 4055 §4.1 / RFC 8017 Appendix A.2.1).
//!
//! Only what KMS produces is accepted: EnvelopedData v2 without originatorInfo or
//! unprotectedAttrs; exactly one KeyTransRecipientInfo v2 identified by subjectKeyIdentifier;
//! RSAES-OAEP with SHA-256 and MGF1-SHA-256 spelled out (the SHA-1 DEFAULTs are refused);
//! id-data content under AES-256-CBC with a 16-byte IV. Each refusal is its own
//! [`KmsRecipientError`] variant.

use super::KmsRecipientError;
use super::ber::{BerFault, Reader, oid_to_string, tag};

/// id-envelopedData, 1.2.840.113549.1.7.3 (RFC 5652 §6.1).
const ID_ENVELOPED_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x03];
/// id-data, 1.2.840.113549.1.7.1 (RFC 5652 §4).
const ID_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01];
/// id-RSAES-OAEP, 1.2.840.113549.1.1.7 (RFC 4055 §4.1).
const ID_RSAES_OAEP: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x07];
/// id-mgf1, 1.2.840.113549.1.1.8.
const ID_MGF1: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x08];
/// id-pSpecified, 1.2.840.113549.1.1.9.
const ID_P_SPECIFIED: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x09];
/// id-sha256, 2.16.840.1.101.3.4.2.1.
const ID_SHA256: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];
/// id-aes256-CBC, 2.16.840.1.101.3.4.1.42.
const ID_AES256_CBC: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2a];

/// Dotted forms, for errors.
pub(super) mod dotted {
    /// id-envelopedData.
    pub(crate) const ENVELOPED_DATA: &str = "1.2.840.113549.1.7.3";
    /// id-data.
    pub(crate) const DATA: &str = "1.2.840.113549.1.7.1";
    /// id-RSAES-OAEP.
    pub(crate) const RSAES_OAEP: &str = "1.2.840.113549.1.1.7";
    /// id-mgf1.
    pub(crate) const MGF1: &str = "1.2.840.113549.1.1.8";
    /// id-pSpecified.
    pub(crate) const P_SPECIFIED: &str = "1.2.840.113549.1.1.9";
    /// id-sha256.
    pub(crate) const SHA256: &str = "2.16.840.1.101.3.4.2.1";
    /// id-sha1, the DEFAULT hash of RSAES-OAEP-params and of its MGF1.
    pub(crate) const SHA1: &str = "1.3.14.3.2.26";
    /// id-aes256-CBC.
    pub(crate) const AES256_CBC: &str = "2.16.840.1.101.3.4.1.42";
}

/// EnvelopedData and KeyTransRecipientInfo version with a subjectKeyIdentifier (RFC 5652 §6.1,
/// §6.2.1).
const VERSION: u64 = 2;

/// AES block and IV length.
pub(super) const IV_LEN: usize = 16;

/// The parts of a checked `CiphertextForRecipient` that decryption needs.
pub(super) struct RecipientMessage {
    /// The recipient's subjectKeyIdentifier (KMS: SHA-256 of the DER SubjectPublicKeyInfo).
    pub(super) subject_key_id: Vec<u8>,
    /// The RSAES-OAEP ciphertext of the content-encryption key.
    pub(super) encrypted_key: Vec<u8>,
    /// The OAEP label (id-pSpecified), empty unless the sender set one.
    pub(super) oaep_label: Vec<u8>,
    /// The AES-256-CBC IV.
    pub(super) iv: [u8; IV_LEN],
    /// The AES-256-CBC ciphertext, segments of a constructed encoding joined.
    pub(super) encrypted_content: Vec<u8>,
}

/// Parses and checks a whole `CiphertextForRecipient`.
pub(super) fn parse(input: &[u8]) -> Result<RecipientMessage, KmsRecipientError> {
    let mut r = Reader::new(input);
    let message = r.constructed(tag::SEQUENCE, "ContentInfo", |r| {
        let content_type = r.oid("ContentInfo.contentType")?;
        if content_type != ID_ENVELOPED_DATA {
            return Err(KmsRecipientError::ContentType {
                field: "ContentInfo.contentType",
                oid: oid_to_string(content_type),
                expected: dotted::ENVELOPED_DATA,
            });
        }
        r.constructed(tag::CONTEXT_0_CONSTRUCTED, "ContentInfo.content", |r| {
            r.constructed(tag::SEQUENCE, "EnvelopedData", enveloped_data)
        })
    })?;
    r.finish("ContentInfo")?;
    Ok(message)
}

/// `EnvelopedData ::= SEQUENCE { version, originatorInfo [0] OPTIONAL, recipientInfos,
/// encryptedContentInfo, unprotectedAttrs [1] OPTIONAL }`; KMS sends neither optional part.
fn enveloped_data(r: &mut Reader<'_>) -> Result<RecipientMessage, KmsRecipientError> {
    version(r, "EnvelopedData.version")?;
    let (subject_key_id, oaep_label, encrypted_key) =
        r.constructed(tag::SET, "EnvelopedData.recipientInfos", recipient_infos)?;
    let (iv, encrypted_content) = r.constructed(
        tag::SEQUENCE,
        "EnvelopedData.encryptedContentInfo",
        encrypted_content_info,
    )?;
    Ok(RecipientMessage {
        subject_key_id,
        encrypted_key,
        oaep_label,
        iv,
        encrypted_content,
    })
}

type KeyTrans = (Vec<u8>, Vec<u8>, Vec<u8>);

/// `RecipientInfos ::= SET SIZE (1..MAX) OF RecipientInfo`: exactly one, a
/// KeyTransRecipientInfo (the only CHOICE alternative that is an untagged SEQUENCE).
fn recipient_infos(r: &mut Reader<'_>) -> Result<KeyTrans, KmsRecipientError> {
    let mut count = 0usize;
    let mut first_tag = None;
    let mut key_trans = None;
    while !r.at_end() {
        count += 1;
        let tag = r.peek_tag();
        if count == 1 {
            first_tag = tag;
        }
        if count == 1 && tag == Some(tag::SEQUENCE) {
            key_trans = Some(r.constructed(
                tag::SEQUENCE,
                "KeyTransRecipientInfo",
                key_trans_recipient_info,
            )?);
        } else {
            r.skip("EnvelopedData.recipientInfos")?;
        }
    }
    if count != 1 {
        return Err(KmsRecipientError::RecipientCount { count });
    }
    key_trans.ok_or(KmsRecipientError::UnsupportedRecipientType {
        tag: first_tag.unwrap_or_default(),
    })
}

/// `KeyTransRecipientInfo ::= SEQUENCE { version, rid, keyEncryptionAlgorithm, encryptedKey }`
/// with `rid` = `[0] IMPLICIT SubjectKeyIdentifier` (version 2).
fn key_trans_recipient_info(r: &mut Reader<'_>) -> Result<KeyTrans, KmsRecipientError> {
    version(r, "KeyTransRecipientInfo.version")?;
    let mut subject_key_id = Vec::new();
    r.octets(
        tag::CONTEXT_0,
        "KeyTransRecipientInfo.rid",
        &mut subject_key_id,
    )?;
    let label = r.constructed(
        tag::SEQUENCE,
        "KeyTransRecipientInfo.keyEncryptionAlgorithm",
        key_encryption_algorithm,
    )?;
    let mut encrypted_key = Vec::new();
    r.octets(
        tag::OCTET_STRING,
        "KeyTransRecipientInfo.encryptedKey",
        &mut encrypted_key,
    )?;
    Ok((subject_key_id, label, encrypted_key))
}

/// `AlgorithmIdentifier { id-RSAES-OAEP, RSAES-OAEP-params }`; returns the OAEP label.
fn key_encryption_algorithm(r: &mut Reader<'_>) -> Result<Vec<u8>, KmsRecipientError> {
    let algorithm = r.oid("keyEncryptionAlgorithm.algorithm")?;
    if algorithm != ID_RSAES_OAEP {
        return Err(KmsRecipientError::UnsupportedAlgorithm {
            field: "keyEncryptionAlgorithm.algorithm",
            oid: oid_to_string(algorithm),
            expected: dotted::RSAES_OAEP,
        });
    }
    if r.at_end() {
        // Absent parameters mean every DEFAULT: SHA-1 and MGF1-SHA-1.
        return Err(sha1_default("RSAES-OAEP-params.hashFunc"));
    }
    r.constructed(tag::SEQUENCE, "RSAES-OAEP-params", oaep_params)
}

/// ```text
/// RSAES-OAEP-params ::= SEQUENCE {
///   hashFunc    [0] AlgorithmIdentifier DEFAULT sha1Identifier,
///   maskGenFunc [1] AlgorithmIdentifier DEFAULT mgf1SHA1Identifier,
///   pSourceFunc [2] AlgorithmIdentifier DEFAULT pSpecifiedEmptyIdentifier }
/// ```
/// Both hashes must be SHA-256 and present: a DEFAULT here means SHA-1.
fn oaep_params(r: &mut Reader<'_>) -> Result<Vec<u8>, KmsRecipientError> {
    const HASH: &str = "RSAES-OAEP-params.hashFunc";
    const MGF: &str = "RSAES-OAEP-params.maskGenFunc";
    const MGF_HASH: &str = "RSAES-OAEP-params.maskGenFunc.parameters";
    const P_SOURCE: &str = "RSAES-OAEP-params.pSourceFunc";

    if r.peek_tag() != Some(tag::CONTEXT_0_CONSTRUCTED) {
        return Err(sha1_default(HASH));
    }
    r.constructed(tag::CONTEXT_0_CONSTRUCTED, HASH, |r| {
        r.constructed(tag::SEQUENCE, HASH, |r| sha256_identifier(r, HASH))
    })?;

    if r.peek_tag() != Some(tag::CONTEXT_1_CONSTRUCTED) {
        return Err(sha1_default(MGF_HASH));
    }
    r.constructed(tag::CONTEXT_1_CONSTRUCTED, MGF, |r| {
        r.constructed(tag::SEQUENCE, MGF, |r| {
            let mgf = r.oid(MGF)?;
            if mgf != ID_MGF1 {
                return Err(KmsRecipientError::UnsupportedAlgorithm {
                    field: MGF,
                    oid: oid_to_string(mgf),
                    expected: dotted::MGF1,
                });
            }
            if r.at_end() {
                return Err(Reader::fault(r.offset(), MGF_HASH, BerFault::Missing));
            }
            r.constructed(tag::SEQUENCE, MGF_HASH, |r| sha256_identifier(r, MGF_HASH))
        })
    })?;

    if r.peek_tag() != Some(tag::CONTEXT_2_CONSTRUCTED) {
        return Ok(Vec::new());
    }
    r.constructed(tag::CONTEXT_2_CONSTRUCTED, P_SOURCE, |r| {
        r.constructed(tag::SEQUENCE, P_SOURCE, |r| {
            let source = r.oid(P_SOURCE)?;
            if source != ID_P_SPECIFIED {
                return Err(KmsRecipientError::UnsupportedAlgorithm {
                    field: P_SOURCE,
                    oid: oid_to_string(source),
                    expected: dotted::P_SPECIFIED,
                });
            }
            let mut label = Vec::new();
            r.octets(tag::OCTET_STRING, P_SOURCE, &mut label)?;
            Ok(label)
        })
    })
}

/// The contents of an `AlgorithmIdentifier` that must be id-sha256, with NULL or absent
/// parameters (RFC 4055 §2.1 asks to accept both).
fn sha256_identifier(r: &mut Reader<'_>, field: &'static str) -> Result<(), KmsRecipientError> {
    let hash = r.oid(field)?;
    if hash != ID_SHA256 {
        return Err(KmsRecipientError::UnsupportedAlgorithm {
            field,
            oid: oid_to_string(hash),
            expected: dotted::SHA256,
        });
    }
    if !r.at_end() {
        r.null(field)?;
    }
    Ok(())
}

/// `EncryptedContentInfo ::= SEQUENCE { contentType, contentEncryptionAlgorithm,
/// encryptedContent [0] IMPLICIT OCTET STRING OPTIONAL }`; the content is required here.
fn encrypted_content_info(
    r: &mut Reader<'_>,
) -> Result<([u8; IV_LEN], Vec<u8>), KmsRecipientError> {
    const CONTENT: &str = "EncryptedContentInfo.encryptedContent";
    let content_type = r.oid("EncryptedContentInfo.contentType")?;
    if content_type != ID_DATA {
        return Err(KmsRecipientError::ContentType {
            field: "EncryptedContentInfo.contentType",
            oid: oid_to_string(content_type),
            expected: dotted::DATA,
        });
    }
    let iv = r.constructed(
        tag::SEQUENCE,
        "contentEncryptionAlgorithm",
        content_encryption_algorithm,
    )?;
    if r.at_end() {
        return Err(Reader::fault(r.offset(), CONTENT, BerFault::Missing));
    }
    let mut content = Vec::new();
    r.octets(tag::CONTEXT_0, CONTENT, &mut content)?;
    Ok((iv, content))
}

/// `AlgorithmIdentifier { id-aes256-CBC, AES-IV }` with `AES-IV ::= OCTET STRING (SIZE(16))`
/// (RFC 3565 §4.1).
fn content_encryption_algorithm(r: &mut Reader<'_>) -> Result<[u8; IV_LEN], KmsRecipientError> {
    const PARAMS: &str = "contentEncryptionAlgorithm.parameters";
    let algorithm = r.oid("contentEncryptionAlgorithm.algorithm")?;
    if algorithm != ID_AES256_CBC {
        return Err(KmsRecipientError::UnsupportedAlgorithm {
            field: "contentEncryptionAlgorithm.algorithm",
            oid: oid_to_string(algorithm),
            expected: dotted::AES256_CBC,
        });
    }
    if r.at_end() {
        return Err(Reader::fault(r.offset(), PARAMS, BerFault::Missing));
    }
    let mut iv = Vec::new();
    r.octets(tag::OCTET_STRING, PARAMS, &mut iv)?;
    <[u8; IV_LEN]>::try_from(iv.as_slice()).map_err(|_| KmsRecipientError::BadIv { len: iv.len() })
}

/// A version INTEGER that must be [`VERSION`].
fn version(r: &mut Reader<'_>, field: &'static str) -> Result<(), KmsRecipientError> {
    let version = r.small_uint(field)?;
    if version == VERSION {
        Ok(())
    } else {
        Err(KmsRecipientError::UnsupportedVersion {
            field,
            version,
            expected: VERSION,
        })
    }
}

/// The refusal of an absent OAEP hash, whose DEFAULT is SHA-1.
fn sha1_default(field: &'static str) -> KmsRecipientError {
    KmsRecipientError::UnsupportedAlgorithm {
        field,
        oid: dotted::SHA1.to_owned(),
        expected: dotted::SHA256,
    }
}
