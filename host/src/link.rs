//! One multiplexed, framed connection from host to enclave.
//!
//! Requests get ids; a reader task routes each answer to the request that waits for it, so
//! many callers share one connection and answers may come back in any order. If the connection
//! breaks, every waiting request fails at once and the next request reconnects.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use cloister_proto::frame::{self, MAX_FRAME_LEN};
use cloister_proto::{Envelope, Message};
use tokio::sync::{Mutex, mpsc, oneshot};

use crate::error::HostError;
use crate::transport::{EnclaveAddr, connect};

/// How long a request may wait for the enclave.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

type Pending = Arc<std::sync::Mutex<HashMap<u64, oneshot::Sender<Message>>>>;

struct Connection {
    tx: mpsc::Sender<Envelope>,
    pending: Pending,
    alive: Arc<AtomicBool>,
}

impl Connection {
    fn is_alive(&self) -> bool {
        self.alive.load(Ordering::Acquire) && !self.tx.is_closed()
    }
}

/// The host's side of the enclave connection.
pub struct EnclaveLink {
    addr: EnclaveAddr,
    next_id: AtomicU64,
    conn: Mutex<Option<Connection>>,
}

impl EnclaveLink {
    /// A link that connects lazily on first use.
    pub fn new(addr: EnclaveAddr) -> Self {
        Self {
            addr,
            next_id: AtomicU64::new(1),
            conn: Mutex::new(None),
        }
    }

    /// The enclave's address.
    pub fn addr(&self) -> &EnclaveAddr {
        &self.addr
    }

    /// Connects now if not connected.
    ///
    /// # Errors
    /// [`HostError::EnclaveUnavailable`] if the connect fails.
    pub async fn ensure_connected(&self) -> Result<(), HostError> {
        self.sender().await.map(|_| ())
    }

    /// Sends `msg` and waits for the enclave's answer.
    ///
    /// # Errors
    /// [`HostError::EnclaveUnavailable`] if the link cannot be made, [`HostError::LinkClosed`] or
    /// [`HostError::LinkLost`] if it breaks, [`HostError::Timeout`].
    pub async fn request(&self, msg: Message) -> Result<Message, HostError> {
        let (tx, pending) = self.sender().await?;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (answer_tx, answer_rx) = oneshot::channel();
        lock(&pending).insert(id, answer_tx);
        if tx.send(Envelope::new(id, msg)).await.is_err() {
            lock(&pending).remove(&id);
            return Err(HostError::LinkClosed);
        }
        match tokio::time::timeout(REQUEST_TIMEOUT, answer_rx).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(_)) => Err(HostError::LinkLost),
            Err(_) => {
                lock(&pending).remove(&id);
                Err(HostError::Timeout {
                    millis: u64::try_from(REQUEST_TIMEOUT.as_millis()).unwrap_or(u64::MAX),
                })
            }
        }
    }

    async fn sender(&self) -> Result<(mpsc::Sender<Envelope>, Pending), HostError> {
        let mut guard = self.conn.lock().await;
        if let Some(c) = guard.as_ref().filter(|c| c.is_alive()) {
            return Ok((c.tx.clone(), Arc::clone(&c.pending)));
        }
        let stream = connect(&self.addr)
            .await
            .map_err(|source| HostError::EnclaveUnavailable {
                addr: self.addr.to_string(),
                source,
            })?;
        let (mut reader, mut writer) = tokio::io::split(stream);
        let (tx, mut rx) = mpsc::channel::<Envelope>(256);
        let pending: Pending = Arc::default();
        let alive = Arc::new(AtomicBool::new(true));
        let writer_alive = Arc::clone(&alive);
        tokio::spawn(async move {
            while let Some(env) = rx.recv().await {
                if let Err(e) = frame::write(&mut writer, &env).await {
                    tracing::warn!(code = e.code(), "writing to the enclave failed");
                    break;
                }
            }
            writer_alive.store(false, Ordering::Release);
        });
        let routes = Arc::clone(&pending);
        let reader_alive = Arc::clone(&alive);
        tokio::spawn(async move {
            loop {
                match frame::read(&mut reader, MAX_FRAME_LEN).await {
                    Ok(Some(env)) => {
                        if let Some(waiter) = lock(&routes).remove(&env.id) {
                            let _ = waiter.send(env.msg);
                        } else {
                            tracing::warn!(id = env.id, "answer for no waiting request");
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!(
                            code = e.code(),
                            "bad frame from the enclave; dropping the link"
                        );
                        break;
                    }
                }
            }
            // Fail every waiter now rather than at their timeouts, and mark the link dead.
            reader_alive.store(false, Ordering::Release);
            lock(&routes).clear();
        });
        tracing::info!(enclave = %self.addr, "connected to enclave");
        let c = Connection { tx, pending, alive };
        let out = (c.tx.clone(), Arc::clone(&c.pending));
        *guard = Some(c);
        Ok(out)
    }
}

fn lock(p: &Pending) -> std::sync::MutexGuard<'_, HashMap<u64, oneshot::Sender<Message>>> {
    p.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
