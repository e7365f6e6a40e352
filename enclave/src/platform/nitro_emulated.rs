//! `--platform nitro-emulated`: the Nitro backend with its NSM reached over vsock, for an
//! enclave image booted in a local microVM by `cloister emulate run`.
//!
//! The guest has no `/dev/nsm`. The emulator on the host serves the NSM's request/response
//! protocol on a vsock port of the host (CID 2): one connection per request, each message a
//! frame of a 4-byte big-endian length then the CBOR encoding of the `aws-nitro-enclaves-nsm-api`
//! [`Request`] or [`Response`], as the device's ioctl carries them. Request construction and the
//! checks on the document are [`NitroPlatform`]'s, unchanged.
//!
//! The documents are signed by the emulator's **mock** root, never by AWS: the backend reports
//! [`EvidencePlatform::Mock`], and the verifier decides by the root the chain ends in, so only a
//! trust policy whose mock entry names that root and pins the image's PCR0 accepts them
//! (SECURITY.md, "Emulated Nitro"). This backend is chosen explicitly on the enclave's measured
//! command line; nothing falls back to it.

use std::io::{Read, Write};
use std::time::Duration;

use aws_nitro_enclaves_nsm_api::api::{ErrorCode, Request, Response};
use cloister_proto::EvidencePlatform;

use super::nitro::{NitroPlatform, NsmDriver};
use super::{AttestationPlatform, PlatformError, PlatformEvidence};

/// The host's vsock CID (`VMADDR_CID_HOST`).
pub const HOST_CID: u32 = 2;

/// The vsock port of the host where the emulator serves the NSM, unless the command line says.
pub const DEFAULT_NSM_PORT: u32 = 9000;

/// The largest frame either side sends: a document is at most 16 KiB, a request much less.
pub const MAX_FRAME: usize = 64 * 1024;

/// How long one NSM exchange may take.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(20);

/// Writes one frame: the 4-byte big-endian length, then `body`.
///
/// # Errors
/// The writer's error, or `InvalidInput` for a body over [`MAX_FRAME`].
pub fn write_frame(w: &mut impl Write, body: &[u8]) -> std::io::Result<()> {
    if body.len() > MAX_FRAME {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "NSM frame too large",
        ));
    }
    let len = u32::try_from(body.len()).map_err(std::io::Error::other)?;
    w.write_all(&len.to_be_bytes())?;
    w.write_all(body)?;
    w.flush()
}

/// Reads one frame written by [`write_frame`].
///
/// # Errors
/// The reader's error, or `InvalidData` for a length over [`MAX_FRAME`].
pub fn read_frame(r: &mut impl Read) -> std::io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len)?;
    let len = usize::try_from(u32::from_be_bytes(len)).map_err(std::io::Error::other)?;
    if len > MAX_FRAME {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "NSM frame too large",
        ));
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body)?;
    Ok(body)
}

/// One request over any stream: frame it, read the answer's frame, decode it. A transport or
/// encoding failure is reported as the NSM driver reports one, `Response::Error(InternalError)`.
pub fn exchange(stream: &mut (impl Read + Write), request: &Request) -> Response {
    let mut body = Vec::new();
    if ciborium::into_writer(request, &mut body).is_err() {
        return Response::Error(ErrorCode::InternalError);
    }
    let answer = write_frame(stream, &body).and_then(|()| read_frame(stream));
    match answer {
        Ok(bytes) => ciborium::from_reader(bytes.as_slice())
            .unwrap_or(Response::Error(ErrorCode::InvalidResponse)),
        Err(e) => {
            tracing::warn!(kind = ?e.kind(), "emulated NSM unreachable");
            Response::Error(ErrorCode::InternalError)
        }
    }
}

/// The NSM at a vsock port of the host.
#[derive(Debug, Clone, Copy)]
pub struct VsockNsm {
    port: u32,
}

impl VsockNsm {
    /// The emulator's NSM on the host's vsock `port`.
    pub fn new(port: u32) -> Self {
        Self { port }
    }
}

impl VsockNsm {
    /// Connects, retrying: right after the vsock driver loads, or on a loaded machine, a first
    /// connect can time out or be reset before the VMM's backend answers.
    fn connect(&self) -> std::io::Result<impl Read + Write> {
        let mut last = None;
        for attempt in 0..CONNECT_ATTEMPTS {
            match crate::transport::connect_vsock_blocking(HOST_CID, self.port, EXCHANGE_TIMEOUT) {
                Ok(s) => return Ok(s),
                Err(e) => {
                    tracing::warn!(kind = ?e.kind(), port = self.port, attempt, "emulated NSM: connect failed");
                    last = Some(e);
                    std::thread::sleep(Duration::from_millis(250));
                }
            }
        }
        Err(last.unwrap_or_else(|| std::io::Error::other("no connect attempt")))
    }
}

/// Connect attempts before an NSM request fails.
const CONNECT_ATTEMPTS: u32 = 8;

impl NsmDriver for VsockNsm {
    fn process(&self, request: Request) -> Response {
        // The read and write timeouts are set with the connection (transport).
        let Ok(mut stream) = self.connect() else {
            return Response::Error(ErrorCode::InternalError);
        };
        exchange(&mut stream, &request)
    }
}

/// The Nitro backend over the emulator's NSM. Its evidence is mock evidence.
#[derive(Debug)]
pub struct NitroEmulatedPlatform {
    inner: NitroPlatform<VsockNsm>,
}

impl NitroEmulatedPlatform {
    /// Connects to the emulator's NSM on the host's vsock `port` and checks that it answers
    /// (`GetRandom`).
    ///
    /// # Errors
    /// [`PlatformError::NsmHealth`] if it does not answer.
    pub fn open(port: u32) -> Result<Self, PlatformError> {
        Self::with_driver(VsockNsm::new(port))
    }

    fn with_driver(driver: VsockNsm) -> Result<Self, PlatformError> {
        Ok(Self {
            inner: NitroPlatform::with_driver(driver)?,
        })
    }
}

impl AttestationPlatform for NitroEmulatedPlatform {
    fn kind(&self) -> EvidencePlatform {
        // Signed by the emulator's mock root: verified, and offered, as mock evidence.
        EvidencePlatform::Mock
    }

    fn attest(&self, binding: &[u8; 48], nonce: &[u8]) -> Result<PlatformEvidence, PlatformError> {
        self.inner.attest_with_public_key(binding, nonce, None)
    }

    fn attest_with_public_key(
        &self,
        binding: &[u8; 48],
        nonce: &[u8],
        public_key: &[u8],
    ) -> Result<PlatformEvidence, PlatformError> {
        self.inner
            .attest_with_public_key(binding, nonce, Some(public_key))
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use serde_bytes::ByteBuf;

    use super::*;

    /// A stream whose reads come from a prepared buffer and whose writes are recorded.
    struct Duplex {
        input: Cursor<Vec<u8>>,
        output: Vec<u8>,
    }

    impl Read for Duplex {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.input.read(buf)
        }
    }

    impl Write for Duplex {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.output.write(buf)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn framed(value: &impl serde::Serialize) -> Vec<u8> {
        let mut body = Vec::new();
        ciborium::into_writer(value, &mut body).expect("cbor");
        let mut out = Vec::new();
        write_frame(&mut out, &body).expect("frame");
        out
    }

    #[test]
    fn a_request_is_framed_cbor_and_the_answer_decodes() {
        let answer = Response::GetRandom {
            random: vec![7; 32],
        };
        let mut stream = Duplex {
            input: Cursor::new(framed(&answer)),
            output: Vec::new(),
        };
        let got = exchange(&mut stream, &Request::GetRandom);
        assert!(matches!(got, Response::GetRandom { random } if random == vec![7; 32]));
        let sent = read_frame(&mut stream.output.as_slice()).expect("one frame");
        let req: Request = ciborium::from_reader(sent.as_slice()).expect("request");
        assert!(matches!(req, Request::GetRandom));
    }

    #[test]
    fn the_attestation_request_round_trips() {
        let req = Request::Attestation {
            user_data: Some(ByteBuf::from(vec![1; 48])),
            nonce: Some(ByteBuf::from(vec![2; 32])),
            public_key: None,
        };
        let mut body = Vec::new();
        ciborium::into_writer(&req, &mut body).expect("cbor");
        let back: Request = ciborium::from_reader(body.as_slice()).expect("decode");
        match back {
            Request::Attestation {
                user_data,
                nonce,
                public_key,
            } => {
                assert_eq!(user_data.map(|b| b.len()), Some(48));
                assert_eq!(nonce.map(|b| b.len()), Some(32));
                assert!(public_key.is_none());
            }
            other => panic!("decoded as {other:?}"),
        }
    }

    #[test]
    fn broken_transport_and_oversized_frames_are_errors() {
        let mut stream = Duplex {
            input: Cursor::new(Vec::new()),
            output: Vec::new(),
        };
        assert!(matches!(
            exchange(&mut stream, &Request::GetRandom),
            Response::Error(ErrorCode::InternalError)
        ));
        let mut huge = (u32::try_from(MAX_FRAME).expect("fits") + 1)
            .to_be_bytes()
            .to_vec();
        huge.extend([0; 8]);
        assert!(read_frame(&mut huge.as_slice()).is_err());
        assert!(write_frame(&mut Vec::new(), &vec![0; MAX_FRAME + 1]).is_err());
        let mut garbage = Duplex {
            input: Cursor::new({
                let mut v = Vec::new();
                write_frame(&mut v, b"\xff\xff").expect("frame");
                v
            }),
            output: Vec::new(),
        };
        assert!(matches!(
            exchange(&mut garbage, &Request::GetRandom),
            Response::Error(ErrorCode::InvalidResponse)
        ));
    }
}
