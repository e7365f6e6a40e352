//! Test support: builds a `CiphertextForRecipient` the way AWS KMS does, so a mock KMS can
//! answer a `Recipient` request. It holds no secrets of its own: it encrypts `plaintext` to a
//! public key under a fresh random content key and IV, exactly what anyone (KMS included) can
//! do with a public key, which is why [`KmsRecipientKey::open_ciphertext_for_recipient`]
//! must only be given replies from the enclave's own TLS session to KMS.
//!
//! The message: BER `ContentInfo(EnvelopedData)` with indefinite lengths (as KMS encodes it),
//! version 2, one KeyTransRecipientInfo (version 2, subjectKeyIdentifier = SHA-256 of the SPKI,
//! RSAES-OAEP with SHA-256 and MGF1-SHA-256 stated), AES-256-CBC content with PKCS#7 padding.
//!
//! ```
//! use cloister_proto::kms::KmsRecipientKey;
//! use cloister_proto::kms::testing::ciphertext_for_recipient;
//!
//! let key = KmsRecipientKey::generate()?;
//! let cms = ciphertext_for_recipient(&key.public_key_spki_der(), b"a 32-byte model data key here!!!")?;
//! assert_eq!(*key.open_ciphertext_for_recipient(&cms)?, *b"a 32-byte model data key here!!!");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`KmsRecipientKey::open_ciphertext_for_recipient`]: super::KmsRecipientKey::open_ciphertext_for_recipient

use aws_lc_rs::cipher::{AES_256, EncryptionContext, PaddedBlockEncryptingKey, UnboundCipherKey};
use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::iv::FixedLength;
use aws_lc_rs::rsa::{OAEP_SHA256_MGF1SHA256, OaepPublicEncryptingKey, PublicEncryptingKey};
use zeroize::Zeroizing;

/// The public key is not an RSA SPKI, or the crypto backend failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("building a CiphertextForRecipient failed: {0}")]
pub struct BuildError(&'static str);

/// Encrypts `plaintext` to the RSA public key `recipient_spki_der` (DER SubjectPublicKeyInfo,
/// an attestation document's `public_key`) as KMS builds a `CiphertextForRecipient`.
///
/// # Errors
/// [`BuildError`] if the key is not an RSA SPKI or the backend fails.
pub fn ciphertext_for_recipient(
    recipient_spki_der: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, BuildError> {
    let not_rsa = |_| BuildError("the recipient is not a DER RSA SubjectPublicKeyInfo");
    let rsa = PublicEncryptingKey::from_der(recipient_spki_der).map_err(not_rsa)?;
    let rsa = OaepPublicEncryptingKey::new(rsa)
        .map_err(|_| BuildError("the recipient is not a DER RSA SubjectPublicKeyInfo"))?;
    let mut cek = Zeroizing::new([0u8; 32]);
    let mut iv = [0u8; 16];
    aws_lc_rs::rand::fill(cek.as_mut_slice())
        .and_then(|()| aws_lc_rs::rand::fill(&mut iv))
        .map_err(|_| BuildError("no random bytes"))?;
    let mut encrypted_key = vec![0; rsa.ciphertext_size()];
    let encrypted_key = rsa
        .encrypt(
            &OAEP_SHA256_MGF1SHA256,
            cek.as_slice(),
            &mut encrypted_key,
            None,
        )
        .map_err(|_| BuildError("RSA-OAEP encryption failed"))?
        .to_vec();
    let aes = UnboundCipherKey::new(&AES_256, cek.as_slice())
        .and_then(PaddedBlockEncryptingKey::cbc_pkcs7)
        .map_err(|_| BuildError("AES-256-CBC key setup failed"))?;
    let mut content = plaintext.to_vec();
    aes.less_safe_encrypt(
        &mut content,
        EncryptionContext::Iv128(FixedLength::from(iv)),
    )
    .map_err(|_| BuildError("AES-256-CBC encryption failed"))?;

    let sha256 = alg(super::envelope::dotted::SHA256, true);
    let oaep_params = tlv(
        0x30,
        &[
            tlv(0xa0, &sha256),
            tlv(
                0xa1,
                &tlv(
                    0x30,
                    &[oid(super::envelope::dotted::MGF1), sha256.clone()].concat(),
                ),
            ),
        ]
        .concat(),
    );
    let ktri = tlv(
        0x30,
        &[
            tlv(0x02, &[2]),
            tlv(0x80, digest(&SHA256, recipient_spki_der).as_ref()),
            tlv(
                0x30,
                &[oid(super::envelope::dotted::RSAES_OAEP), oaep_params].concat(),
            ),
            tlv(0x04, &encrypted_key),
        ]
        .concat(),
    );
    let encrypted_content_info = indefinite(
        0x30,
        &[
            oid(super::envelope::dotted::DATA),
            tlv(
                0x30,
                &[oid(super::envelope::dotted::AES256_CBC), tlv(0x04, &iv)].concat(),
            ),
            tlv(0x80, &content),
        ]
        .concat(),
    );
    let enveloped_data = indefinite(
        0x30,
        &[tlv(0x02, &[2]), tlv(0x31, &ktri), encrypted_content_info].concat(),
    );
    Ok(indefinite(
        0x30,
        &[
            oid(super::envelope::dotted::ENVELOPED_DATA),
            indefinite(0xa0, &enveloped_data),
        ]
        .concat(),
    ))
}

/// A TLV with a definite length.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        let significant = bytes.get(skip..).unwrap_or_default();
        out.push(0x80 | significant.len() as u8);
        out.extend_from_slice(significant);
    }
    out.extend_from_slice(content);
    out
}

/// A constructed TLV with an indefinite length (BER), closed by end-of-contents.
fn indefinite(tag: u8, content: &[u8]) -> Vec<u8> {
    [&[tag, 0x80][..], content, &[0, 0]].concat()
}

/// An OBJECT IDENTIFIER from its dotted form (our own constants only).
fn oid(dotted: &str) -> Vec<u8> {
    let arcs: Vec<u64> = dotted.split('.').filter_map(|a| a.parse().ok()).collect();
    let mut content = vec![];
    let first = arcs.first().copied().unwrap_or(0) * 40 + arcs.get(1).copied().unwrap_or(0);
    for arc in std::iter::once(first).chain(arcs.iter().skip(2).copied()) {
        let mut groups = vec![(arc & 0x7f) as u8];
        let mut rest = arc >> 7;
        while rest > 0 {
            groups.push((rest & 0x7f) as u8 | 0x80);
            rest >>= 7;
        }
        content.extend(groups.iter().rev());
    }
    tlv(0x06, &content)
}

/// `AlgorithmIdentifier { oid, NULL }` (or without parameters).
fn alg(dotted: &str, null: bool) -> Vec<u8> {
    let params: &[u8] = if null { &[0x05, 0x00] } else { &[] };
    tlv(0x30, &[oid(dotted), params.to_vec()].concat())
}
