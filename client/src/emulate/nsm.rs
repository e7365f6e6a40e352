//! The emulated NSM: answers the guest's NSM requests, which arrive on the Unix socket
//! `UDS_<port>` (the guest connects to the host's vsock port; the VMM forwards it there).
//!
//! Wire: one request per connection; each message is a 4-byte big-endian length, then the CBOR
//! encoding of an `aws-nitro-enclaves-nsm-api` `Request` or `Response` (the enclave's
//! `platform::nitro_emulated`). Documents are signed by a [`MockNsm`] booted with the image's
//! PCRs, so they are mock evidence with real PCR0/1/2.
//!
//! Nothing here logs a request's fields or a document.

use std::sync::Arc;

use aws_nitro_enclaves_nsm_api::api::{ErrorCode, Request, Response};
use cloister_attestation::UnixTime;
use cloister_attestation::mock::MockNsm;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::UnixListener;

/// The largest frame accepted or sent (a document is at most 16 KiB).
pub const MAX_FRAME: usize = 64 * 1024;

/// How many random bytes one `GetRandom` returns (the NSM's own answer size).
const RANDOM_LEN: usize = 256;

/// How long one connection may take.
const EXCHANGE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// Answers one request. PCRs 0..16 read as locked, as on a booted enclave; PCR extension and
/// locking are refused (`InvalidOperation`): the image's PCRs are all the emulator serves.
pub fn answer(nsm: &MockNsm, request: &Request, now: UnixTime) -> Response {
    match request {
        Request::Attestation {
            user_data,
            nonce,
            public_key,
        } => {
            fn field(f: &Option<serde_bytes::ByteBuf>) -> Option<&[u8]> {
                f.as_ref().map(|b| b.as_slice())
            }
            match nsm.attest(field(user_data), field(nonce), field(public_key), now) {
                Ok(document) => Response::Attestation { document },
                Err(_) => Response::Error(ErrorCode::InputTooLarge),
            }
        }
        Request::GetRandom => {
            let mut random = vec![0u8; RANDOM_LEN];
            match getrandom::getrandom(&mut random) {
                Ok(()) => Response::GetRandom { random },
                Err(_) => Response::Error(ErrorCode::InternalError),
            }
        }
        Request::DescribePCR { index } => match nsm.pcrs().get(index) {
            Some(value) => Response::DescribePCR {
                lock: *index < 16,
                data: value.to_vec(),
            },
            None if *index < 32 => Response::DescribePCR {
                lock: *index < 16,
                data: vec![0; 48],
            },
            None => Response::Error(ErrorCode::InvalidIndex),
        },
        _ => Response::Error(ErrorCode::InvalidOperation),
    }
}

/// Reads one frame.
///
/// # Errors
/// The stream's error, or `InvalidData` for a frame over [`MAX_FRAME`].
pub async fn read_frame(r: &mut (impl AsyncRead + Unpin)) -> std::io::Result<Vec<u8>> {
    let len = usize::try_from(r.read_u32().await?).map_err(std::io::Error::other)?;
    if len > MAX_FRAME {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "NSM frame too large",
        ));
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).await?;
    Ok(body)
}

/// Writes one frame.
///
/// # Errors
/// The stream's error, or `InvalidInput` for a body over [`MAX_FRAME`].
pub async fn write_frame(w: &mut (impl AsyncWrite + Unpin), body: &[u8]) -> std::io::Result<()> {
    if body.len() > MAX_FRAME {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "NSM frame too large",
        ));
    }
    w.write_u32(u32::try_from(body.len()).map_err(std::io::Error::other)?)
        .await?;
    w.write_all(body).await?;
    w.flush().await
}

/// Serves one connection: one request, one answer.
async fn serve_one(
    mut stream: impl AsyncRead + AsyncWrite + Unpin,
    nsm: &MockNsm,
) -> std::io::Result<()> {
    let body = read_frame(&mut stream).await?;
    let response = match ciborium::from_reader::<Request, _>(body.as_slice()) {
        Ok(request) => answer(nsm, &request, UnixTime::now()),
        Err(_) => Response::Error(ErrorCode::InvalidArgument),
    };
    let mut out = Vec::new();
    ciborium::into_writer(&response, &mut out).map_err(std::io::Error::other)?;
    write_frame(&mut stream, &out).await
}

/// Accepts connections on `listener` forever, each served on its own task.
pub async fn serve(listener: UnixListener, nsm: Arc<MockNsm>) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                eprintln!("cloister emulate: NSM accept failed ({:?})", e.kind());
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let nsm = Arc::clone(&nsm);
        tokio::spawn(async move {
            match tokio::time::timeout(EXCHANGE_TIMEOUT, serve_one(stream, &nsm)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => eprintln!("cloister emulate: NSM exchange failed ({:?})", e.kind()),
                Err(_) => eprintln!("cloister emulate: NSM exchange timed out"),
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use cloister_attestation::UnverifiedNitroDocument;
    use cloister_attestation::mock::MockCa;
    use serde_bytes::ByteBuf;

    use super::*;

    const NOW: u64 = 1_750_000_000;

    fn nsm() -> MockNsm {
        let ca = MockCa::generate(UnixTime::from_secs(NOW)).expect("ca");
        let pcrs = BTreeMap::from([(0u16, [7u8; 48]), (1, [8; 48]), (2, [9; 48])]);
        MockNsm::boot(
            &ca,
            pcrs,
            "mock-emulated-test".into(),
            UnixTime::from_secs(NOW),
        )
        .expect("boot")
    }

    #[test]
    fn attestation_carries_the_image_pcrs_and_the_guest_fields() {
        let nsm = nsm();
        let req = Request::Attestation {
            user_data: Some(ByteBuf::from(vec![1; 48])),
            nonce: Some(ByteBuf::from(vec![2; 32])),
            public_key: None,
        };
        let Response::Attestation { document } = answer(&nsm, &req, UnixTime::from_secs(NOW))
        else {
            panic!("no document");
        };
        let doc = UnverifiedNitroDocument::parse(&document).expect("parses");
        assert_eq!(doc.payload().user_data(), Some(&[1u8; 48][..]));
        assert_eq!(doc.payload().nonce(), Some(&[2u8; 32][..]));
        assert_eq!(doc.payload().public_key(), None);
        assert_eq!(doc.payload().pcrs().get(&0), Some(&[7u8; 48].to_vec()));
    }

    #[test]
    fn random_pcrs_and_refusals() {
        let nsm = nsm();
        let now = UnixTime::from_secs(NOW);
        assert!(
            matches!(answer(&nsm, &Request::GetRandom, now), Response::GetRandom { random } if random.len() == RANDOM_LEN)
        );
        assert!(matches!(
            answer(&nsm, &Request::DescribePCR { index: 2 }, now),
            Response::DescribePCR { lock: true, data } if data == vec![9; 48]
        ));
        assert!(matches!(
            answer(&nsm, &Request::DescribePCR { index: 40 }, now),
            Response::Error(ErrorCode::InvalidIndex)
        ));
        assert!(matches!(
            answer(&nsm, &Request::LockPCR { index: 16 }, now),
            Response::Error(ErrorCode::InvalidOperation)
        ));
    }

    #[tokio::test]
    async fn serves_framed_cbor_over_a_unix_socket() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("v.sock_9000");
        let listener = UnixListener::bind(&path).expect("bind");
        let server = tokio::spawn(serve(listener, Arc::new(nsm())));
        let mut s = tokio::net::UnixStream::connect(&path)
            .await
            .expect("connect");
        let mut body = Vec::new();
        ciborium::into_writer(&Request::GetRandom, &mut body).expect("cbor");
        write_frame(&mut s, &body).await.expect("write");
        let answer = read_frame(&mut s).await.expect("read");
        let response: Response = ciborium::from_reader(answer.as_slice()).expect("decode");
        assert!(matches!(response, Response::GetRandom { .. }));
        server.abort();
    }
}
