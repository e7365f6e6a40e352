//! The accept loop and each connection's life: at most `max_connections` at once, HTTP/1.1 by
//! hyper with a header timeout, a write deadline, graceful shutdown with a drain deadline.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;

use super::io::WriteDeadline;
use super::pipeline::Pipeline;
use super::{Admission, EdgeLimits};

/// After an accept error that is not about one connection (out of file descriptors), wait this
/// long before accepting again rather than spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Serves `router` to callers on `listener` within `limits` until `shutdown` completes, then
/// stops accepting, lets open requests finish for at most `limits.drain_timeout`, and returns.
/// Use it instead of `axum::serve`, which has no header timeout, connection cap or queue.
///
/// ```no_run
/// # async fn run(router: axum::Router) -> std::io::Result<()> {
/// use cloister_host::edge::{self, EdgeLimits};
///
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
/// edge::serve(listener, router, &EdgeLimits::default(), async {
///     let _ = tokio::signal::ctrl_c().await;
/// })
/// .await
/// # }
/// ```
///
/// # Errors
/// [`io::ErrorKind::InvalidInput`] if `limits` fail [`EdgeLimits::check`]. Accept errors are
/// logged and survived, never returned.
pub async fn serve<F>(
    listener: TcpListener,
    router: Router,
    limits: &EdgeLimits,
    shutdown: F,
) -> io::Result<()>
where
    F: Future<Output = ()> + Send,
{
    let admission = Arc::new(Admission::new(limits));
    serve_admitted(listener, router, limits, admission, shutdown).await
}

/// [`serve`] with an [`Admission`] made by the caller, who keeps an `Arc` of it to read the
/// queue ([`Admission::admitted`], [`Admission::stats`]) for metrics. It must have been made
/// from the same `limits`.
///
/// # Errors
/// As [`serve`].
pub async fn serve_admitted<F>(
    listener: TcpListener,
    router: Router,
    limits: &EdgeLimits,
    admission: Arc<Admission>,
    shutdown: F,
) -> io::Result<()>
where
    F: Future<Output = ()> + Send,
{
    limits
        .check()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{e} [{}]", e.code())))?;
    let limits = Arc::new(limits.clone());
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let (stop_tx, stop) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        // Finished connections are reaped as we go, so the set holds only open ones.
        while connections.try_join_next().is_some() {}
        let slot = tokio::select! {
            slot = Arc::clone(&slots).acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break, // never closed
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    if !is_connection_error(&e) {
                        tracing::warn!(error = %e, "accepting a caller failed; backing off");
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                    }
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let pipeline = Pipeline::new(
            router.clone(),
            Arc::clone(&admission),
            Arc::clone(&limits),
            peer.ip(),
        );
        connections.spawn(connection(
            stream,
            peer,
            pipeline,
            Arc::clone(&limits),
            stop.clone(),
            slot,
        ));
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let open = connections.len();
    let drained = tokio::time::timeout(limits.drain_timeout, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            open,
            left = connections.len(),
            "drain timeout: closing the remaining connections"
        );
        connections.shutdown().await;
    }
    Ok(())
}

/// One caller connection, until it closes, fails, times out, or shutdown drains it.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    pipeline: Pipeline,
    limits: Arc<EdgeLimits>,
    mut stop: watch::Receiver<bool>,
    _slot: OwnedSemaphorePermit,
) {
    // Answers are small and whole: send them now rather than wait for more.
    let _ = stream.set_nodelay(true);
    let io = TokioIo::new(WriteDeadline::new(stream, limits.write_timeout));
    let pipeline = Arc::new(pipeline);
    let service = hyper::service::service_fn(move |req| {
        let pipeline = Arc::clone(&pipeline);
        async move { Ok::<_, std::convert::Infallible>(pipeline.handle(req).await) }
    });
    let hard = limits.hard_header_bytes();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_header_size(hard)
        .max_buf_size(hard)
        .keep_alive(true);
    let conn = builder.serve_connection(io, service);
    let mut conn = std::pin::pin!(conn);
    let ended = tokio::select! {
        ended = conn.as_mut() => ended,
        () = stopping(&mut stop) => {
            // Idle connections close now; one mid-request closes after its answer.
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = ended {
        // Timeouts, resets and malformed requests: the caller's doing, worth a debug line.
        tracing::debug!(%peer, error = %e, "caller connection ended");
    }
}

/// Completes when shutdown begins (or the server is gone).
async fn stopping(stop: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns is not `Send`: dropped here, before any other await.
    let _ = stop.wait_for(|stopping| *stopping).await.map(|_| ());
}

/// Errors about one connection (it was reset before we took it); the listener is fine.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}
