//! Host ↔ enclave framing: a `u32` big-endian body length, then one CBOR [`Envelope`].
//!
//! One code path serves every transport (vsock, Unix socket, in-memory pipe): the async helpers
//! take any `AsyncRead`/`AsyncWrite`. The length is checked against the receiver's limit
//! *before* any body byte is read or allocated, so a hostile peer cannot make us buffer more.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::{Envelope, ProtoError};

/// Hard maximum body length of one frame (4 MiB). Requests, responses and evidence are far
/// smaller; large artifacts (sealed models) use their own chunked format.
pub const MAX_FRAME_LEN: usize = 4 * 1024 * 1024;

/// Bytes of the length prefix.
pub const HEADER_LEN: usize = 4;

/// Encodes one envelope as a frame.
///
/// # Errors
/// [`ProtoError::FrameTooLarge`] if the encoded body exceeds [`MAX_FRAME_LEN`].
pub fn encode(env: &Envelope) -> Result<Vec<u8>, ProtoError> {
    let mut out = vec![0u8; HEADER_LEN];
    ciborium::ser::into_writer(env, &mut out).map_err(|e| ProtoError::malformed("envelope", e))?;
    let body_len = out.len() - HEADER_LEN;
    if body_len > MAX_FRAME_LEN {
        return Err(ProtoError::FrameTooLarge {
            declared: body_len,
            limit: MAX_FRAME_LEN,
        });
    }
    let len = u32::try_from(body_len).map_err(|_| ProtoError::FrameTooLarge {
        declared: body_len,
        limit: MAX_FRAME_LEN,
    })?;
    out[..HEADER_LEN].copy_from_slice(&len.to_be_bytes());
    Ok(out)
}

/// Decodes the first frame in `buf`, returning the envelope and the bytes consumed.
///
/// # Errors
/// [`ProtoError::Truncated`] if `buf` ends inside the frame, [`ProtoError::FrameTooLarge`] if the
/// declared length exceeds `limit`, [`ProtoError::EmptyFrame`], [`ProtoError::Malformed`] or a
/// validation error of [`Envelope::validate`].
pub fn decode(buf: &[u8], limit: usize) -> Result<(Envelope, usize), ProtoError> {
    let header: [u8; HEADER_LEN] = buf
        .get(..HEADER_LEN)
        .and_then(|h| h.try_into().ok())
        .ok_or(ProtoError::Truncated {
            needed: HEADER_LEN,
            available: buf.len(),
        })?;
    let body_len = check_len(header, limit)?;
    let end = HEADER_LEN + body_len;
    let body = buf.get(HEADER_LEN..end).ok_or(ProtoError::Truncated {
        needed: end,
        available: buf.len(),
    })?;
    Ok((decode_body(body)?, end))
}

/// Reads one frame. Returns `Ok(None)` on a clean end of stream between frames.
///
/// # Errors
/// As [`decode`]; an end of stream inside a frame is [`ProtoError::Truncated`].
pub async fn read<R: AsyncRead + Unpin>(
    r: &mut R,
    limit: usize,
) -> Result<Option<Envelope>, ProtoError> {
    let mut header = [0u8; HEADER_LEN];
    let mut got = 0;
    while got < HEADER_LEN {
        let n = r
            .read(&mut header[got..])
            .await
            .map_err(|e| ProtoError::Io(e.to_string()))?;
        if n == 0 {
            return if got == 0 {
                Ok(None)
            } else {
                Err(ProtoError::Truncated {
                    needed: HEADER_LEN,
                    available: got,
                })
            };
        }
        got += n;
    }
    let body_len = check_len(header, limit)?;
    let mut body = vec![0u8; body_len];
    let mut filled = 0;
    while filled < body_len {
        let n = r
            .read(&mut body[filled..])
            .await
            .map_err(|e| ProtoError::Io(e.to_string()))?;
        if n == 0 {
            return Err(ProtoError::Truncated {
                needed: HEADER_LEN + body_len,
                available: HEADER_LEN + filled,
            });
        }
        filled += n;
    }
    decode_body(&body).map(Some)
}

/// Writes one frame and flushes.
///
/// # Errors
/// As [`encode`], or [`ProtoError::Io`].
pub async fn write<W: AsyncWrite + Unpin>(w: &mut W, env: &Envelope) -> Result<(), ProtoError> {
    let bytes = encode(env)?;
    w.write_all(&bytes)
        .await
        .map_err(|e| ProtoError::Io(e.to_string()))?;
    w.flush().await.map_err(|e| ProtoError::Io(e.to_string()))
}

fn check_len(header: [u8; HEADER_LEN], limit: usize) -> Result<usize, ProtoError> {
    let declared = u32::from_be_bytes(header) as usize;
    if declared > limit.min(MAX_FRAME_LEN) {
        return Err(ProtoError::FrameTooLarge {
            declared,
            limit: limit.min(MAX_FRAME_LEN),
        });
    }
    if declared == 0 {
        return Err(ProtoError::EmptyFrame);
    }
    Ok(declared)
}

fn decode_body(body: &[u8]) -> Result<Envelope, ProtoError> {
    let env: Envelope = crate::cbor::from_slice(body, "envelope")?;
    env.validate()?;
    Ok(env)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Message, WireError};

    fn samples() -> Vec<Envelope> {
        vec![
            Envelope::new(1, Message::AttestRequest { nonce: vec![7; 32] }),
            Envelope::new(
                2,
                Message::InferRequest {
                    ohttp: vec![1, 2, 3],
                },
            ),
            Envelope::new(
                3,
                Message::InferResponse {
                    ohttp: vec![9; 100],
                },
            ),
            Envelope::new(u64::MAX, Message::Error(WireError::new("x.y", "bad"))),
            Envelope::new(
                5,
                Message::Evidence(crate::evidence::tests::sample_bundle()),
            ),
        ]
    }

    #[test]
    fn round_trip_every_message() {
        for env in samples() {
            let bytes = encode(&env).expect("encode");
            let (back, used) = decode(&bytes, MAX_FRAME_LEN).expect("decode");
            assert_eq!(back, env);
            assert_eq!(used, bytes.len());
        }
    }

    #[test]
    fn every_truncation_is_rejected_with_a_typed_error() {
        for env in samples() {
            let bytes = encode(&env).expect("encode");
            for cut in 0..bytes.len() {
                let err =
                    decode(&bytes[..cut], MAX_FRAME_LEN).expect_err("truncated frame accepted");
                assert!(
                    matches!(err, ProtoError::Truncated { .. }),
                    "cut {cut}: {err:?}"
                );
            }
        }
    }

    #[test]
    fn oversized_frames_are_rejected_before_reading_the_body() {
        for declared in [MAX_FRAME_LEN + 1, u32::MAX as usize] {
            let mut bytes = (declared as u32).to_be_bytes().to_vec();
            bytes.extend_from_slice(&[0; 16]);
            let err = decode(&bytes, MAX_FRAME_LEN).expect_err("oversized frame accepted");
            assert_eq!(err.code(), "proto.frame_too_large");
        }
        // A receiver's own smaller limit is honoured too.
        let bytes = encode(&samples()[2]).expect("encode");
        let err = decode(&bytes, 10).expect_err("limit ignored");
        assert!(matches!(err, ProtoError::FrameTooLarge { limit: 10, .. }));
    }

    #[test]
    fn empty_and_garbage_bodies_are_rejected() {
        assert_eq!(
            decode(&[0, 0, 0, 0], MAX_FRAME_LEN),
            Err(ProtoError::EmptyFrame)
        );
        let err = decode(&[0, 0, 0, 2, 0xff, 0xff], MAX_FRAME_LEN).expect_err("garbage accepted");
        assert_eq!(err.code(), "proto.malformed");
    }

    #[test]
    fn trailing_bytes_inside_a_frame_are_rejected() {
        let mut bytes = encode(&samples()[0]).expect("encode");
        bytes.push(0);
        let len = (bytes.len() - HEADER_LEN) as u32;
        bytes[..4].copy_from_slice(&len.to_be_bytes());
        let err = decode(&bytes, MAX_FRAME_LEN).expect_err("trailing byte accepted");
        assert_eq!(err.code(), "proto.malformed");
    }

    #[test]
    fn wrong_version_is_rejected() {
        let mut env = samples()[0].clone();
        env.v = 99;
        let bytes = encode(&env).expect("encode");
        let err = decode(&bytes, MAX_FRAME_LEN).expect_err("version ignored");
        assert_eq!(err.code(), "proto.unsupported_version");
    }

    #[test]
    fn nonce_limits_are_enforced_on_decode() {
        for nonce in [
            vec![0u8; MIN_NONCE_LEN - 1],
            vec![0u8; crate::message::MAX_NONCE_LEN + 1],
        ] {
            let bytes =
                encode(&Envelope::new(1, Message::AttestRequest { nonce })).expect("encode");
            assert!(decode(&bytes, MAX_FRAME_LEN).is_err());
        }
    }
    use crate::message::MIN_NONCE_LEN;

    #[tokio::test]
    async fn async_read_write_round_trip_and_clean_eof() {
        let (mut a, mut b) = tokio::io::duplex(64);
        let envs = samples();
        let sent = envs.clone();
        let writer = tokio::spawn(async move {
            for env in &sent {
                write(&mut a, env).await.expect("write");
            }
        });
        for env in envs {
            assert_eq!(read(&mut b, MAX_FRAME_LEN).await.expect("read"), Some(env));
        }
        writer.await.expect("join");
        assert_eq!(read(&mut b, MAX_FRAME_LEN).await.expect("eof"), None);
    }

    #[tokio::test]
    async fn async_read_rejects_eof_inside_a_frame() {
        let bytes = encode(&samples()[1]).expect("encode");
        for cut in 1..bytes.len() {
            let mut r = &bytes[..cut];
            let err = read(&mut r, MAX_FRAME_LEN)
                .await
                .expect_err("truncation accepted");
            assert_eq!(err.code(), "proto.truncated");
        }
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = decode(&bytes, MAX_FRAME_LEN);
        }
    }
}
