//! An OHTTP client written from the RFCs with aws-lc-rs primitives, for the log canary: unlike
//! the `ohttp` crate's `ClientResponse`, which keeps its HPKE context private, it hands back
//! every secret a request and its response involve (HPKE shared secret, exporter secret, the
//! request's AEAD key and nonce, the response secret, PRK, key and nonce), so a test can look
//! for each of them in the enclave's log. It also shows that a client other than ours, built
//! from RFC 9180 and RFC 9458 alone, can talk to the gateway.
//!
//! Suite: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305 (0x0020, 0x0001, 0x0003).

use aws_lc_rs::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::agreement::{self, EphemeralPrivateKey, X25519};
use aws_lc_rs::hmac;
use aws_lc_rs::rand::SystemRandom;

const KEM_ID: u16 = 0x0020;
const KDF_ID: u16 = 0x0001;
const AEAD_ID: u16 = 0x0003;
const NK: usize = 32;
const NN: usize = 12;
const NH: usize = 32;

fn extract(salt: &[u8], ikm: &[u8]) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, salt), ikm)
        .as_ref()
        .to_vec()
}

fn expand(prk: &[u8], info: &[u8], len: usize) -> Vec<u8> {
    let key = hmac::Key::new(hmac::HMAC_SHA256, prk);
    let mut out = Vec::with_capacity(len);
    let mut t: Vec<u8> = Vec::new();
    let mut i = 1u8;
    while out.len() < len {
        let mut ctx = hmac::Context::with_key(&key);
        ctx.update(&t);
        ctx.update(info);
        ctx.update(&[i]);
        t = ctx.sign().as_ref().to_vec();
        out.extend_from_slice(&t);
        i += 1;
    }
    out.truncate(len);
    out
}

fn labeled_extract(suite: &[u8], salt: &[u8], label: &[u8], ikm: &[u8]) -> Vec<u8> {
    extract(salt, &[b"HPKE-v1", suite, label, ikm].concat())
}

fn labeled_expand(suite: &[u8], prk: &[u8], label: &[u8], info: &[u8], len: usize) -> Vec<u8> {
    let l = u16::try_from(len).expect("len").to_be_bytes();
    expand(prk, &[&l[..], b"HPKE-v1", suite, label, info].concat(), len)
}

/// One encapsulated request and every secret behind it.
pub(crate) struct ProbeRequest {
    /// The bytes to POST as `message/ohttp-req`.
    pub(crate) encapsulated: Vec<u8>,
    enc: Vec<u8>,
    /// Secrets of the request side: HPKE shared secret, key schedule secret, AEAD key, base
    /// nonce, exporter secret, and the response secret exported from it.
    pub(crate) secrets: Vec<Vec<u8>>,
    response_secret: Vec<u8>,
}

/// An opened response and its secrets.
pub(crate) struct ProbeResponse {
    /// The Binary HTTP plaintext (padding included).
    pub(crate) plaintext: Vec<u8>,
    /// Response nonce, PRK, AEAD key and AEAD nonce.
    pub(crate) secrets: Vec<Vec<u8>>,
}

/// Encapsulates `request` (Binary HTTP) to `kem_pub` under key id `key_id` (RFC 9458 §4.3).
pub(crate) fn encapsulate(key_id: u8, kem_pub: &[u8], request: &[u8]) -> ProbeRequest {
    let rng = SystemRandom::new();
    let sk = EphemeralPrivateKey::generate(&X25519, &rng).expect("ephemeral key");
    let enc = sk.compute_public_key().expect("pk").as_ref().to_vec();
    let dh = agreement::agree_ephemeral(
        sk,
        agreement::UnparsedPublicKey::new(&X25519, kem_pub),
        (),
        |dh| Ok(dh.to_vec()),
    )
    .expect("x25519");
    // DHKEM ExtractAndExpand (RFC 9180 §4.1).
    let kem_suite = [b"KEM".as_slice(), &KEM_ID.to_be_bytes()].concat();
    let eae_prk = labeled_extract(&kem_suite, b"", b"eae_prk", &dh);
    let kem_context = [enc.as_slice(), kem_pub].concat();
    let shared_secret = labeled_expand(&kem_suite, &eae_prk, b"shared_secret", &kem_context, 32);
    // Key schedule, base mode (RFC 9180 §5.1), with the OHTTP info (RFC 9458 §4.3).
    let suite = [
        b"HPKE".as_slice(),
        &KEM_ID.to_be_bytes(),
        &KDF_ID.to_be_bytes(),
        &AEAD_ID.to_be_bytes(),
    ]
    .concat();
    let hdr = [
        &[key_id][..],
        &KEM_ID.to_be_bytes(),
        &KDF_ID.to_be_bytes(),
        &AEAD_ID.to_be_bytes(),
    ]
    .concat();
    let info = [b"message/bhttp request".as_slice(), &[0], &hdr].concat();
    let psk_id_hash = labeled_extract(&suite, b"", b"psk_id_hash", b"");
    let info_hash = labeled_extract(&suite, b"", b"info_hash", &info);
    let ks_context = [&[0u8][..], &psk_id_hash, &info_hash].concat();
    let secret = labeled_extract(&suite, &shared_secret, b"secret", b"");
    let key = labeled_expand(&suite, &secret, b"key", &ks_context, NK);
    let base_nonce = labeled_expand(&suite, &secret, b"base_nonce", &ks_context, NN);
    let exporter = labeled_expand(&suite, &secret, b"exp", &ks_context, NH);
    // RFC 9458 §4.4: secret = context.Export("message/bhttp response", max(Nn, Nk)).
    let response_secret = labeled_expand(
        &suite,
        &exporter,
        b"sec",
        b"message/bhttp response",
        NK.max(NN),
    );
    let mut ct = request.to_vec();
    LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, &key).expect("key"))
        .seal_in_place_append_tag(
            Nonce::try_assume_unique_for_key(&base_nonce).expect("nonce"),
            Aad::empty(),
            &mut ct,
        )
        .expect("seal");
    ProbeRequest {
        encapsulated: [hdr.as_slice(), &enc, &ct].concat(),
        enc,
        secrets: vec![
            dh,
            eae_prk,
            shared_secret,
            secret,
            key,
            base_nonce,
            exporter,
            response_secret.clone(),
        ],
        response_secret,
    }
}

impl ProbeRequest {
    /// Opens the encapsulated response (RFC 9458 §4.4) with keys derived here.
    pub(crate) fn open(&self, enc_response: &[u8]) -> ProbeResponse {
        let n = NK.max(NN);
        assert!(enc_response.len() > n + 16, "response too short");
        let (response_nonce, ct) = enc_response.split_at(n);
        let salt = [self.enc.as_slice(), response_nonce].concat();
        let prk = extract(&salt, &self.response_secret);
        let key = expand(&prk, b"key", NK);
        let nonce = expand(&prk, b"nonce", NN);
        let mut buf = ct.to_vec();
        let plaintext = LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, &key).expect("key"))
            .open_in_place(
                Nonce::try_assume_unique_for_key(&nonce).expect("nonce"),
                Aad::empty(),
                &mut buf,
            )
            .expect("the response opens with the keys derived on the caller side")
            .to_vec();
        ProbeResponse {
            plaintext,
            secrets: vec![response_nonce.to_vec(), prk, key, nonce],
        }
    }
}

/// Standard base64 with padding, and the URL-safe alphabet without, of `data`.
pub(crate) fn base64_forms(data: &[u8]) -> [String; 2] {
    const STD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let v = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                s.push(STD[((v >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    let url = s.trim_end_matches('=').replace('+', "-").replace('/', "_");
    [s, url]
}

/// Every way a log line is likely to show `secret`: hex (both cases), base64 (both alphabets)
/// and Rust's `Debug` of a byte slice (`[12, 34, ...`), each cut to a prefix long enough to be
/// unambiguous (16 bytes) so a truncated or wrapped print is still found.
pub(crate) fn renderings(secret: &[u8]) -> Vec<String> {
    let head = &secret[..secret.len().min(16)];
    let [b64, b64url] = base64_forms(head);
    let debug = format!("{head:?}");
    vec![
        hex::encode(head),
        hex::encode_upper(head),
        b64[..b64.len().min(20)].to_owned(),
        b64url[..b64url.len().min(20)].to_owned(),
        debug.trim_end_matches(']').to_owned(),
    ]
}

#[test]
fn base64_matches_rfc_4648_vectors() {
    for (input, want) in [
        ("", ""),
        ("f", "Zg=="),
        ("fo", "Zm8="),
        ("foo", "Zm9v"),
        ("foob", "Zm9vYg=="),
        ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
    ] {
        assert_eq!(base64_forms(input.as_bytes())[0], want);
    }
}
