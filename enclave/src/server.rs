//! Serves one framed connection from the host: many requests in flight, answers in any order,
//! matched by request id.
//!
//! A frame that breaks the framing (oversized, truncated) ends the connection: after it the
//! byte stream can no longer be trusted to be in sync. A frame that is well delimited but
//! malformed is answered with an error and the connection goes on. Either way the enclave keeps
//! serving every other connection.

use std::sync::Arc;

use cloister_proto::frame::{self, MAX_FRAME_LEN};
use cloister_proto::{Envelope, Message, ProtoError, WireError};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{Semaphore, mpsc};

use crate::EnclaveRuntime;

/// Requests in flight per connection; further frames wait to be read (back-pressure on the host).
pub const MAX_IN_FLIGHT: usize = 64;

/// Serves `stream` until the peer closes it or breaks the framing.
pub async fn serve_connection<S>(stream: S, rt: Arc<EnclaveRuntime>)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (mut reader, mut writer) = tokio::io::split(stream);
    let (tx, mut rx) = mpsc::channel::<Envelope>(MAX_IN_FLIGHT);
    let writer_task = tokio::spawn(async move {
        while let Some(env) = rx.recv().await {
            if let Err(e) = frame::write(&mut writer, &env).await {
                tracing::warn!(code = e.code(), "writing a frame to the host failed");
                break;
            }
        }
    });
    let permits = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    loop {
        let env = match frame::read(&mut reader, MAX_FRAME_LEN).await {
            Ok(Some(env)) => env,
            Ok(None) => break,
            Err(e) => {
                tracing::warn!(code = e.code(), "rejected a frame from the host");
                let _ = tx.send(error_envelope(0, &e)).await;
                if ends_connection(&e) {
                    break;
                }
                continue;
            }
        };
        let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
            break;
        };
        let rt = Arc::clone(&rt);
        let tx = tx.clone();
        tokio::spawn(async move {
            let id = env.id;
            let answer = rt.handle(env.msg).await;
            // One line per request, the same for every outcome: no id, kind, code, model or size.
            tracing::info!("request served");
            let _ = tx.send(Envelope::new(id, answer)).await;
            drop(permit);
        });
    }
    drop(tx);
    let _ = writer_task.await;
}

fn ends_connection(e: &ProtoError) -> bool {
    matches!(
        e,
        ProtoError::FrameTooLarge { .. }
            | ProtoError::Truncated { .. }
            | ProtoError::EmptyFrame
            | ProtoError::Io(_)
    )
}

fn error_envelope(id: u64, e: &ProtoError) -> Envelope {
    Envelope::new(id, Message::Error(WireError::new(e.code(), e.to_string())))
}
