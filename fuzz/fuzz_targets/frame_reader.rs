//! Arbitrary bytes as the host ↔ enclave byte stream, read frame after frame with the async
//! frame reader (`cloister_proto::frame::read`, the one every transport uses) on a
//! current-thread tokio runtime, and decoded side by side with the slice decoder
//! (`frame::decode`). Must never panic, and:
//!
//! - the reader and the decoder agree on every frame (same envelope, same error code), and the
//!   reader reports a clean end of stream only between frames;
//! - the reader's answer does not depend on how the transport splits the stream into reads;
//! - every frame read validates, and encode → decode gives the same envelope back.
//!
//! The first input byte shapes the transport: bits 0-5 are the most bytes one read returns
//! (1-64), bit 6 lowers the receiver's limit from `MAX_FRAME_LEN` to 512 bytes, bit 7 lets every
//! read return everything left. The rest is the stream. Seeds: frames of every message kind
//! (`scripts/seed.sh`).
#![no_main]

use std::io;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};

use cloister_proto::frame::{self, MAX_FRAME_LEN};
use cloister_proto::{Envelope, ProtoError};
use libfuzzer_sys::fuzz_target;
use tokio::io::{AsyncRead, ReadBuf};

/// A transport that hands out at most `chunk` bytes per read.
struct Chunked<'a> {
    data: &'a [u8],
    chunk: usize,
}

impl AsyncRead for Chunked<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let n = self.chunk.min(buf.remaining()).min(self.data.len());
        let (head, rest) = self.data.split_at(n);
        buf.put_slice(head);
        self.data = rest;
        Poll::Ready(Ok(()))
    }
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("current-thread runtime")
    })
}

/// Every frame the reader yields, then how it ended (`None`: clean end of stream).
fn read_all(stream: &[u8], chunk: usize, limit: usize) -> (Vec<Envelope>, Option<&'static str>) {
    let mut reader = Chunked {
        data: stream,
        chunk,
    };
    let mut frames = Vec::new();
    loop {
        match runtime().block_on(frame::read(&mut reader, limit)) {
            Ok(Some(env)) => frames.push(env),
            Ok(None) => return (frames, None),
            Err(e) => return (frames, Some(e.code())),
        }
    }
}

fn check_frame(env: &Envelope) {
    env.validate().expect("a frame that was read does not validate");
    match frame::encode(env) {
        Ok(bytes) => {
            let (back, used) = frame::decode(&bytes, MAX_FRAME_LEN).expect("re-encoded frame");
            assert_eq!(&back, env, "encode → decode changed the envelope");
            assert_eq!(used, bytes.len());
        }
        // Canonical CBOR can be longer than the sender's (shortest-form integers are not
        // required on input), so a frame read at the limit may not re-encode under it.
        Err(ProtoError::FrameTooLarge { .. }) => {}
        Err(e) => panic!("a frame that was read does not re-encode: {e}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&shape, stream)) = data.split_first() else {
        return;
    };
    let chunk = if shape & 0x80 != 0 {
        usize::MAX
    } else {
        usize::from(shape & 0x3f) + 1
    };
    let limit = if shape & 0x40 != 0 { 512 } else { MAX_FRAME_LEN };

    let (frames, end) = read_all(stream, chunk, limit);

    // The slice decoder, frame by frame over the same bytes.
    let mut offset = 0;
    for env in &frames {
        let (decoded, used) = frame::decode(&stream[offset..], limit)
            .unwrap_or_else(|e| panic!("the reader accepted a frame the decoder rejects: {e}"));
        assert_eq!(&decoded, env, "reader and decoder disagree at offset {offset}");
        offset += used;
        check_frame(env);
    }
    match end {
        None => assert_eq!(
            offset,
            stream.len(),
            "clean end of stream reported inside a frame"
        ),
        Some(code) => {
            let e = frame::decode(&stream[offset..], limit)
                .expect_err("the reader rejected a frame the decoder accepts");
            assert_eq!(e.code(), code, "reader and decoder reject with different codes");
        }
    }

    // How the transport splits the stream does not change what is read.
    if chunk != usize::MAX {
        let whole = read_all(stream, usize::MAX, limit);
        assert_eq!(whole, (frames, end), "the split into reads changed the frames");
    }
});
