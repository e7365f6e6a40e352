//! The host's connections to the enclave: a small pool of multiplexed, framed connections.
//!
//! Requests get ids unique on the link; on each connection a reader task routes every answer to
//! the request that waits for it, so many callers share a few connections and answers may come
//! back in any order. Requests are spread over the pool round-robin, skipping dead connections.
//!
//! What callers can rely on, whatever the enclave does:
//! - **A deadline.** Every request ends by its deadline ([`EnclaveLink::request_with_deadline`];
//!   [`EnclaveLink::request`] uses the configured default, [`REQUEST_TIMEOUT`]).
//! - **Prompt failure.** When a connection breaks, every request waiting on it fails at once with
//!   [`HostError::LinkLost`]. The next request re-makes the connection; if that connect fails,
//!   later connects wait an exponential backoff with jitter
//!   ([`crate::supervisor::backoff`]), and requests that find no live connection meanwhile
//!   fail at once with [`HostError::EnclaveUnavailable`] instead of each waiting for a connect.
//! - **At most one answer.** An answer is handed to its request once; an answer for an unknown
//!   id, a repeated one, or one that comes after its request gave up is dropped and counted
//!   ([`LinkStatsSnapshot::dropped_answers`]).
//! - **Restarts.** While the supervisor restarts the enclave ([`EnclaveLink::suspend`]),
//!   requests fail at once with [`HostError::EnclaveRestarting`] (503 with `Retry-After`).
//! - **Draining.** [`EnclaveLink::drain`] refuses new requests ([`HostError::Draining`], 503
//!   with `Retry-After`) and waits for those in flight.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use cloister_host::link::{EnclaveLink, LinkConfig};
//! use cloister_proto::Message;
//!
//! let addr = "unix:///nonexistent/enclave.sock".parse().expect("address");
//! let link = EnclaveLink::with_config(addr, LinkConfig::default()).expect("config");
//! let attest = || Message::AttestRequest { nonce: vec![7; 32] };
//! let err = link.request(attest()).await.expect_err("no enclave there");
//! assert_eq!(err.code(), "host.enclave_unavailable");
//! // Within the backoff the next request fails at once, without another connect.
//! link.request(attest()).await.expect_err("still backing off");
//! let stats = link.stats().snapshot();
//! assert_eq!((stats.connect_failures, stats.refused), (1, 1));
//! # }
//! ```

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use cloister_proto::frame::{self, MAX_FRAME_LEN};
use cloister_proto::{Envelope, Message};
use serde::{Deserialize, Serialize};
use thiserror::Error;
use tokio::io::AsyncWriteExt;
use tokio::sync::{Notify, OwnedMutexGuard, mpsc, oneshot, watch};
use tokio::time::Instant;

use crate::error::HostError;
use crate::supervisor::backoff::{Backoff, BackoffPolicy};
use crate::transport::{EnclaveAddr, EnclaveStream, connect};

/// How long [`EnclaveLink::request`] waits for the enclave by default.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Connections kept to the enclave by default.
pub const DEFAULT_POOL_SIZE: usize = 2;

/// Most connections a link keeps: the enclave serves each on its own task, and a few suffice to
/// keep one slow frame from delaying the rest.
pub const MAX_POOL_SIZE: usize = 16;

/// Requests queued per connection before senders wait (within their deadline).
const QUEUE_PER_CONNECTION: usize = 256;

/// How a link behaves. Serialized as part of the supervisor's configuration (`"link": {...}`);
/// every field has a default.
///
/// ```
/// use cloister_host::link::LinkConfig;
/// let c: LinkConfig = serde_json::from_str(r#"{"pool_size": 4}"#).expect("json");
/// assert_eq!(c.pool_size, 4);
/// assert_eq!(c.request_timeout_ms, 30_000);
/// c.validate().expect("valid");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LinkConfig {
    /// Connections kept to the enclave, 1..=[`MAX_POOL_SIZE`] (default [`DEFAULT_POOL_SIZE`]).
    pub pool_size: usize,
    /// Deadline of [`EnclaveLink::request`], in ms (default 30 000).
    pub request_timeout_ms: u64,
    /// Longest a single connect may take, in ms (default 2 000).
    pub connect_timeout_ms: u64,
    /// Wait after the first failed connect, in ms (default 100); doubles per failure.
    pub reconnect_initial_ms: u64,
    /// Longest wait between connects, in ms (default 5 000).
    pub reconnect_max_ms: u64,
}

impl Default for LinkConfig {
    fn default() -> Self {
        Self {
            pool_size: DEFAULT_POOL_SIZE,
            request_timeout_ms: millis(REQUEST_TIMEOUT),
            connect_timeout_ms: 2_000,
            reconnect_initial_ms: 100,
            reconnect_max_ms: 5_000,
        }
    }
}

impl LinkConfig {
    /// Checks the bounds.
    ///
    /// # Errors
    /// [`LinkConfigError`] naming the field.
    pub fn validate(&self) -> Result<(), LinkConfigError> {
        if !(1..=MAX_POOL_SIZE).contains(&self.pool_size) {
            return Err(LinkConfigError::PoolSize {
                got: self.pool_size,
                max: MAX_POOL_SIZE,
            });
        }
        for (field, value) in [
            ("request_timeout_ms", self.request_timeout_ms),
            ("connect_timeout_ms", self.connect_timeout_ms),
            ("reconnect_initial_ms", self.reconnect_initial_ms),
        ] {
            if value == 0 {
                return Err(LinkConfigError::Zero { field });
            }
        }
        if self.reconnect_max_ms < self.reconnect_initial_ms {
            return Err(LinkConfigError::BackoffBounds {
                initial: self.reconnect_initial_ms,
                max: self.reconnect_max_ms,
            });
        }
        Ok(())
    }
}

/// A [`LinkConfig`] out of bounds.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LinkConfigError {
    /// `pool_size` is 0 or above [`MAX_POOL_SIZE`].
    #[error("link pool_size {got} must be 1..={max}")]
    PoolSize {
        /// The configured size.
        got: usize,
        /// [`MAX_POOL_SIZE`].
        max: usize,
    },
    /// A timeout or the first backoff delay is 0.
    #[error("link {field} must be more than 0")]
    Zero {
        /// The field.
        field: &'static str,
    },
    /// `reconnect_max_ms` is below `reconnect_initial_ms`.
    #[error("link reconnect_max_ms {max} is below reconnect_initial_ms {initial}")]
    BackoffBounds {
        /// `reconnect_initial_ms`.
        initial: u64,
        /// `reconnect_max_ms`.
        max: u64,
    },
}

impl LinkConfigError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::PoolSize { .. } => "link.pool_size",
            Self::Zero { .. } => "link.zero",
            Self::BackoffBounds { .. } => "link.backoff_bounds",
        }
    }

    /// What to do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            Self::PoolSize { .. } => "set link.pool_size to 1..=16 (2 is plenty for most hosts)",
            Self::Zero { .. } => "give the link's timeouts and reconnect_initial_ms in ms, above 0",
            Self::BackoffBounds { .. } => {
                "set link.reconnect_max_ms at or above link.reconnect_initial_ms"
            }
        }
    }
}

/// The link's counters, for metrics. Read them with [`LinkStats::snapshot`].
#[derive(Debug, Default)]
pub struct LinkStats {
    connects: AtomicU64,
    reconnects: AtomicU64,
    connect_failures: AtomicU64,
    refused: AtomicU64,
    lost: AtomicU64,
    timeouts: AtomicU64,
    dropped_answers: AtomicU64,
    in_flight: AtomicU64,
}

/// The counters of a link at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LinkStatsSnapshot {
    /// Connections made.
    pub connects: u64,
    /// Connections made after the first (the enclave went away, or the pool refilled).
    pub reconnects: u64,
    /// Connects that failed or timed out.
    pub connect_failures: u64,
    /// Requests failed at once: no live connection during a backoff or restart, or draining.
    pub refused: u64,
    /// Requests whose connection broke while they waited.
    pub lost: u64,
    /// Requests that reached their deadline.
    pub timeouts: u64,
    /// Answers dropped: unknown or repeated id, or their request already gave up.
    pub dropped_answers: u64,
    /// Requests in flight now (a gauge).
    pub in_flight: u64,
}

impl LinkStats {
    /// The counters now.
    pub fn snapshot(&self) -> LinkStatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        LinkStatsSnapshot {
            connects: get(&self.connects),
            reconnects: get(&self.reconnects),
            connect_failures: get(&self.connect_failures),
            refused: get(&self.refused),
            lost: get(&self.lost),
            timeouts: get(&self.timeouts),
            dropped_answers: get(&self.dropped_answers),
            in_flight: self.in_flight.load(Ordering::SeqCst),
        }
    }
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// The host's side of the enclave connections.
pub struct EnclaveLink {
    inner: Arc<Inner>,
}

struct Inner {
    addr: EnclaveAddr,
    config: LinkConfig,
    request_timeout: Duration,
    connect_timeout: Duration,
    next_id: AtomicU64,
    next_slot: AtomicUsize,
    slots: Box<[Arc<Slot>]>,
    gate: std::sync::Mutex<Gate>,
    draining: AtomicBool,
    idle: Notify,
    stats: Arc<LinkStats>,
}

impl EnclaveLink {
    /// A link with the default [`LinkConfig`], connecting lazily on first use.
    pub fn new(addr: EnclaveAddr) -> Self {
        Self::build(addr, LinkConfig::default())
    }

    /// A link with `config`, connecting lazily on first use.
    ///
    /// # Errors
    /// [`LinkConfigError`] if `config` is out of bounds.
    pub fn with_config(addr: EnclaveAddr, config: LinkConfig) -> Result<Self, LinkConfigError> {
        config.validate()?;
        Ok(Self::build(addr, config))
    }

    fn build(addr: EnclaveAddr, config: LinkConfig) -> Self {
        let policy = BackoffPolicy::new(
            Duration::from_millis(config.reconnect_initial_ms),
            Duration::from_millis(config.reconnect_max_ms),
        );
        let slots = (0..config.pool_size.max(1))
            .map(|_| Arc::new(Slot::default()))
            .collect();
        Self {
            inner: Arc::new(Inner {
                addr,
                request_timeout: Duration::from_millis(config.request_timeout_ms),
                connect_timeout: Duration::from_millis(config.connect_timeout_ms),
                config,
                next_id: AtomicU64::new(1),
                next_slot: AtomicUsize::new(0),
                slots,
                gate: std::sync::Mutex::new(Gate::new(policy)),
                draining: AtomicBool::new(false),
                idle: Notify::new(),
                stats: Arc::default(),
            }),
        }
    }

    /// The enclave's address.
    pub fn addr(&self) -> &EnclaveAddr {
        &self.inner.addr
    }

    /// The configuration.
    pub fn config(&self) -> &LinkConfig {
        &self.inner.config
    }

    /// The counters (shared: a metrics module may keep the `Arc`).
    pub fn stats(&self) -> &Arc<LinkStats> {
        &self.inner.stats
    }

    /// Connects now if no connection is live (respecting the reconnect backoff).
    ///
    /// # Errors
    /// [`HostError::EnclaveUnavailable`] if the connect fails, or at once while backing off.
    pub async fn ensure_connected(&self) -> Result<(), HostError> {
        self.inner.pick().await.map(|_| ())
    }

    /// Sends `msg` and waits for the enclave's answer until the default deadline
    /// ([`LinkConfig::request_timeout_ms`]).
    ///
    /// # Errors
    /// As [`EnclaveLink::request_with_deadline`].
    pub async fn request(&self, msg: Message) -> Result<Message, HostError> {
        self.request_with_deadline(msg, Instant::now() + self.inner.request_timeout)
            .await
    }

    /// Sends `msg` and waits for the enclave's answer until `deadline`. A deadline already past
    /// sends nothing.
    ///
    /// # Errors
    /// [`HostError::EnclaveUnavailable`] if no connection can be had (at once during a reconnect
    /// backoff); [`HostError::EnclaveRestarting`] at once while the supervisor restarts the
    /// enclave; [`HostError::Draining`] while draining; [`HostError::LinkClosed`] if no
    /// connection would take the request; [`HostError::LinkLost`] if the connection broke while
    /// the request waited; [`HostError::Timeout`] at the deadline.
    pub async fn request_with_deadline(
        &self,
        msg: Message,
        deadline: Instant,
    ) -> Result<Message, HostError> {
        let inner = &self.inner;
        let budget = deadline.saturating_duration_since(Instant::now());
        let timeout = HostError::Timeout {
            millis: millis(budget),
        };
        let _in_flight = InFlight::enter(inner)?;
        if budget.is_zero() {
            bump(&inner.stats.timeouts);
            return Err(timeout);
        }
        match tokio::time::timeout_at(deadline, inner.exchange(msg)).await {
            Ok(result) => result,
            Err(_) => {
                bump(&inner.stats.timeouts);
                Err(timeout)
            }
        }
    }

    /// Connects the pool's dead connections now, ignoring the backoff and a
    /// [`EnclaveLink::suspend`]: for the supervisor, which knows it has just started the
    /// enclave. On success, the backoff is reset and requests are taken again.
    ///
    /// # Errors
    /// [`HostError::EnclaveUnavailable`] if no connection is live and the first connect fails
    /// (the remaining connections are then not tried).
    pub async fn connect_now(&self) -> Result<(), HostError> {
        let mut connected = false;
        for slot in self.inner.slots.iter() {
            match self.inner.connect_slot(slot, Mode::Forced).await {
                Ok(_) => connected = true,
                // Nobody listens (yet): the other slots would only wait for the same answer.
                Err(e) if !connected => return Err(e),
                // Enough to take requests; the pool refills the rest when they are used.
                Err(_) => {}
            }
        }
        Ok(())
    }

    /// Marks the enclave as down (the supervisor saw it exit): closes every connection, and
    /// until [`EnclaveLink::connect_now`] succeeds, requests fail at once with
    /// [`HostError::EnclaveRestarting`] instead of connecting.
    pub fn suspend(&self) {
        lock(&self.inner.gate).suspended = true;
        for slot in self.inner.slots.iter() {
            slot.close();
        }
    }

    /// Stops taking requests (new ones fail with [`HostError::Draining`]) and waits until
    /// those in flight have finished or `deadline` passes. Returns how many were still in
    /// flight then (0: all finished). Draining is final for this link.
    pub async fn drain(&self, deadline: Instant) -> u64 {
        let inner = &self.inner;
        inner.draining.store(true, Ordering::SeqCst);
        loop {
            let idle = inner.idle.notified();
            tokio::pin!(idle);
            // Registered before the count is read, so a request finishing in between still wakes us.
            idle.as_mut().enable();
            let n = inner.stats.in_flight.load(Ordering::SeqCst);
            if n == 0 {
                return 0;
            }
            if tokio::time::timeout_at(deadline, idle).await.is_err() {
                return inner.stats.in_flight.load(Ordering::SeqCst);
            }
        }
    }

    /// Whether [`EnclaveLink::drain`] has been called.
    pub fn is_draining(&self) -> bool {
        self.inner.draining.load(Ordering::SeqCst)
    }

    /// Closes every connection (in-flight requests fail with [`HostError::LinkLost`]); the next
    /// request reconnects.
    pub fn close(&self) {
        for slot in self.inner.slots.iter() {
            slot.close();
        }
    }
}

/// Whether a connect respects the backoff and a suspension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Gated,
    Forced,
}

impl Inner {
    /// Sends one request on some live connection and waits for its answer (no deadline here:
    /// the caller's `timeout_at` ends this future, and dropping it unregisters the request).
    async fn exchange(self: &Arc<Self>, msg: Message) -> Result<Message, HostError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut env = Envelope::new(id, msg);
        // A request that never entered a connection's queue may go to another one, once; a
        // request that did is never sent twice (the enclave may have run it).
        for _ in 0..2 {
            let conn = self.pick().await?;
            let (answer_tx, answer_rx) = oneshot::channel();
            let Some(_waiting) = Waiting::register(&conn.routes, id, answer_tx) else {
                continue;
            };
            if let Err(mpsc::error::SendError(back)) = conn.tx.send(env).await {
                env = back;
                conn.close();
                continue;
            }
            return match answer_rx.await {
                Ok(answer) => Ok(answer),
                Err(_) => {
                    bump(&self.stats.lost);
                    Err(HostError::LinkLost)
                }
            };
        }
        bump(&self.stats.refused);
        Err(HostError::LinkClosed)
    }

    /// A live connection, round-robin; if none, one connect (respecting the backoff).
    async fn pick(self: &Arc<Self>) -> Result<Handle, HostError> {
        let n = self.slots.len();
        let start = self.next_slot.fetch_add(1, Ordering::Relaxed) % n;
        let mut dead = None;
        for slot in self.slots.iter().cycle().skip(start).take(n) {
            match slot.live() {
                Some(conn) => {
                    if let Some(dead) = dead {
                        self.refill(dead);
                    }
                    return Ok(conn);
                }
                None => {
                    dead.get_or_insert(slot);
                }
            }
        }
        match dead {
            Some(slot) => self.connect_slot(slot, Mode::Gated).await,
            None => Err(HostError::LinkClosed),
        }
    }

    /// Re-makes a dead connection in the background while others serve, unless one is already
    /// being made there or the backoff says wait.
    fn refill(self: &Arc<Self>, slot: &Arc<Slot>) {
        if self.gate_check().is_err() {
            return;
        }
        let Ok(permit) = Arc::clone(&slot.connecting).try_lock_owned() else {
            return;
        };
        let inner = Arc::clone(self);
        let slot = Arc::clone(slot);
        tokio::spawn(async move {
            // A failure is counted and feeds the backoff; no caller waits for it.
            let _ = inner.connect_locked(&slot, permit, Mode::Gated).await;
        });
    }

    async fn connect_slot(&self, slot: &Arc<Slot>, mode: Mode) -> Result<Handle, HostError> {
        // One connect per slot at a time; others wait for its outcome (bounded by the connect
        // timeout) instead of making their own.
        let permit = Arc::clone(&slot.connecting).lock_owned().await;
        self.connect_locked(slot, permit, mode).await
    }

    async fn connect_locked(
        &self,
        slot: &Slot,
        _permit: OwnedMutexGuard<()>,
        mode: Mode,
    ) -> Result<Handle, HostError> {
        if let Some(conn) = slot.live() {
            return Ok(conn);
        }
        if mode == Mode::Gated {
            self.gate_check()?;
        }
        let stream = match tokio::time::timeout(self.connect_timeout, connect(&self.addr)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(source)) => return Err(self.connect_failed(source)),
            Err(_) => {
                return Err(self.connect_failed(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!(
                        "connect timed out after {} ms",
                        millis(self.connect_timeout)
                    ),
                )));
            }
        };
        let conn = spawn_connection(stream, Arc::clone(&self.stats));
        slot.set(conn.clone());
        lock(&self.gate).connected();
        if self.stats.connects.fetch_add(1, Ordering::Relaxed) > 0 {
            bump(&self.stats.reconnects);
        }
        tracing::info!(enclave = %self.addr, "connected to enclave");
        Ok(conn)
    }

    fn connect_failed(&self, source: std::io::Error) -> HostError {
        bump(&self.stats.connect_failures);
        let delay = lock(&self.gate).failed(source.kind());
        tracing::warn!(enclave = %self.addr, error = %source, retry_in_ms = millis(delay), "connecting to the enclave failed");
        HostError::EnclaveUnavailable {
            addr: self.addr.to_string(),
            source,
        }
    }

    /// Fails at once while suspended or backing off.
    fn gate_check(&self) -> Result<(), HostError> {
        let refusal = lock(&self.gate).refusal(Instant::now());
        match refusal {
            None => Ok(()),
            Some(refusal) => {
                bump(&self.stats.refused);
                Err(match refusal {
                    Refusal::Restarting => HostError::EnclaveRestarting {
                        retry_after_secs: RESTARTING_RETRY_AFTER_SECS,
                    },
                    Refusal::BackingOff(source) => HostError::EnclaveUnavailable {
                        addr: self.addr.to_string(),
                        source,
                    },
                })
            }
        }
    }
}

/// The `Retry-After` of a request refused while the enclave restarts: the supervisor's first
/// backoff is half a second and a mock enclave is ready in a few hundred ms.
const RESTARTING_RETRY_AFTER_SECS: u64 = 1;

/// The `Retry-After` of a request refused while the host drains.
const DRAINING_RETRY_AFTER_SECS: u64 = 1;

/// Why a connect is not tried now.
enum Refusal {
    /// The supervisor saw the enclave exit and has not yet seen a new one ready.
    Restarting,
    /// Connects failed; the backoff says wait (the error says how long, for the log).
    BackingOff(std::io::Error),
}

/// When connects may be tried.
struct Gate {
    backoff: Backoff,
    retry_at: Option<Instant>,
    last_failure: std::io::ErrorKind,
    suspended: bool,
}

impl Gate {
    fn new(policy: BackoffPolicy) -> Self {
        Self {
            backoff: Backoff::new(policy),
            retry_at: None,
            last_failure: std::io::ErrorKind::NotConnected,
            suspended: false,
        }
    }

    /// Why a connect must not be tried now.
    fn refusal(&self, now: Instant) -> Option<Refusal> {
        if self.suspended {
            return Some(Refusal::Restarting);
        }
        let wait = self.retry_at?.checked_duration_since(now)?;
        if wait.is_zero() {
            return None;
        }
        Some(Refusal::BackingOff(std::io::Error::new(
            self.last_failure,
            format!(
                "{} connects failed; next attempt in {} ms",
                self.backoff.failures(),
                millis(wait)
            ),
        )))
    }

    /// Records a failed connect; returns the wait before the next one.
    fn failed(&mut self, kind: std::io::ErrorKind) -> Duration {
        let delay = self.backoff.next_delay();
        self.retry_at = Some(Instant::now() + delay);
        self.last_failure = kind;
        delay
    }

    fn connected(&mut self) {
        self.backoff.reset();
        self.retry_at = None;
        self.suspended = false;
    }
}

/// One place in the pool: the connection if any, and the right to (re)make it.
#[derive(Default)]
struct Slot {
    conn: std::sync::Mutex<Option<Handle>>,
    connecting: Arc<tokio::sync::Mutex<()>>,
}

impl Slot {
    fn live(&self) -> Option<Handle> {
        lock(&self.conn).as_ref().filter(|c| c.is_alive()).cloned()
    }

    fn set(&self, conn: Handle) {
        if let Some(old) = lock(&self.conn).replace(conn) {
            old.close();
        }
    }

    fn close(&self) {
        if let Some(old) = lock(&self.conn).take() {
            old.close();
        }
    }
}

/// A live connection as requests see it.
#[derive(Clone)]
struct Handle {
    tx: mpsc::Sender<Envelope>,
    routes: Arc<Routes>,
    closed: Arc<watch::Sender<bool>>,
}

impl Handle {
    fn is_alive(&self) -> bool {
        !*self.closed.borrow() && !self.tx.is_closed()
    }

    /// Ends the reader and writer tasks; the reader then fails every waiting request.
    fn close(&self) {
        self.closed.send_replace(true);
    }
}

/// The requests waiting on one connection, by id.
#[derive(Default)]
struct Routes {
    inner: std::sync::Mutex<RoutesInner>,
}

#[derive(Default)]
struct RoutesInner {
    closed: bool,
    waiting: HashMap<u64, oneshot::Sender<Message>>,
}

impl Routes {
    /// Hands an answer to its request, or drops and counts it.
    fn deliver(&self, env: Envelope, stats: &LinkStats) {
        let waiter = lock(&self.inner).waiting.remove(&env.id);
        if waiter.is_some_and(|w| w.send(env.msg).is_ok()) {
            return;
        }
        bump(&stats.dropped_answers);
        tracing::debug!(
            id = env.id,
            "dropped an answer for no waiting request (unknown, repeated or late)"
        );
    }

    /// No more requests; every waiting one fails now (its receiver sees the sender dropped).
    fn close(&self) {
        let mut inner = lock(&self.inner);
        inner.closed = true;
        inner.waiting.clear();
    }
}

/// A request's place in [`Routes`]; leaving it (answer, deadline, caller gone) removes it, so a
/// later answer for the id is dropped rather than delivered.
struct Waiting {
    routes: Arc<Routes>,
    id: u64,
}

impl Waiting {
    fn register(routes: &Arc<Routes>, id: u64, tx: oneshot::Sender<Message>) -> Option<Self> {
        let mut inner = lock(&routes.inner);
        if inner.closed {
            return None;
        }
        inner.waiting.insert(id, tx);
        Some(Self {
            routes: Arc::clone(routes),
            id,
        })
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        lock(&self.routes.inner).waiting.remove(&self.id);
    }
}

/// Counts a request in flight for [`EnclaveLink::drain`].
struct InFlight<'a> {
    inner: &'a Inner,
}

impl<'a> InFlight<'a> {
    fn enter(inner: &'a Inner) -> Result<Self, HostError> {
        inner.stats.in_flight.fetch_add(1, Ordering::SeqCst);
        let guard = Self { inner };
        if inner.draining.load(Ordering::SeqCst) {
            bump(&inner.stats.refused);
            return Err(HostError::Draining {
                retry_after_secs: DRAINING_RETRY_AFTER_SECS,
            });
        }
        Ok(guard)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if self.inner.stats.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.inner.idle.notify_waiters();
        }
    }
}

/// Starts the writer and reader tasks of a new connection.
fn spawn_connection(stream: Box<dyn EnclaveStream>, stats: Arc<LinkStats>) -> Handle {
    let (reader, mut writer) = tokio::io::split(stream);
    // Answers that arrive together are read with one system call.
    let mut reader = tokio::io::BufReader::with_capacity(READ_BUFFER, reader);
    let (tx, mut rx) = mpsc::channel::<Envelope>(QUEUE_PER_CONNECTION);
    let routes = Arc::new(Routes::default());
    let closed = Arc::new(watch::Sender::new(false));

    let mut stop = closed.subscribe();
    let writer_closed = Arc::clone(&closed);
    tokio::spawn(async move {
        loop {
            let env = tokio::select! {
                biased;
                _ = stop.wait_for(|closed| *closed) => break,
                env = rx.recv() => env,
            };
            let Some(env) = env else { break };
            // Under load many requests wait here: one write carries all of them (up to
            // WRITE_BATCH bytes), not one system call and wake-up of the enclave each.
            let batch = match encode_batch(env, &mut rx) {
                Ok(batch) => batch,
                Err(e) => {
                    tracing::warn!(code = e.code(), "encoding a frame for the enclave failed");
                    break;
                }
            };
            let written = async {
                writer.write_all(&batch).await?;
                writer.flush().await
            };
            if let Err(e) = written.await {
                tracing::warn!(error = %e, "writing to the enclave failed");
                break;
            }
        }
        writer_closed.send_replace(true);
    });

    let mut stop = closed.subscribe();
    let reader_routes = Arc::clone(&routes);
    let reader_closed = Arc::clone(&closed);
    tokio::spawn(async move {
        loop {
            let next = tokio::select! {
                biased;
                _ = stop.wait_for(|closed| *closed) => break,
                next = frame::read(&mut reader, MAX_FRAME_LEN) => next,
            };
            match next {
                Ok(Some(env)) => reader_routes.deliver(env, &stats),
                Ok(None) => {
                    tracing::warn!("the enclave closed the connection");
                    break;
                }
                Err(e) => {
                    tracing::warn!(
                        code = e.code(),
                        "bad frame from the enclave; dropping the connection"
                    );
                    break;
                }
            }
        }
        // Fail every waiter now rather than at their deadlines, and mark the connection dead.
        reader_closed.send_replace(true);
        reader_routes.close();
    });

    Handle { tx, routes, closed }
}

/// Most bytes one write to the enclave carries when requests queue up.
const WRITE_BATCH: usize = 256 * 1024;
/// The read buffer of a connection's reader.
const READ_BUFFER: usize = 64 * 1024;

/// `first` and whatever else is queued already, framed, up to [`WRITE_BATCH`] bytes (at least
/// `first`, whatever its size).
fn encode_batch(
    first: Envelope,
    rx: &mut mpsc::Receiver<Envelope>,
) -> Result<Vec<u8>, cloister_proto::ProtoError> {
    let mut batch = frame::encode(&first)?;
    while batch.len() < WRITE_BATCH {
        let Ok(next) = rx.try_recv() else { break };
        batch.extend_from_slice(&frame::encode(&next)?);
    }
    Ok(batch)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_bounds() {
        LinkConfig::default().validate().expect("default");
        let bad = [
            (
                LinkConfig {
                    pool_size: 0,
                    ..LinkConfig::default()
                },
                "link.pool_size",
            ),
            (
                LinkConfig {
                    pool_size: MAX_POOL_SIZE + 1,
                    ..LinkConfig::default()
                },
                "link.pool_size",
            ),
            (
                LinkConfig {
                    connect_timeout_ms: 0,
                    ..LinkConfig::default()
                },
                "link.zero",
            ),
            (
                LinkConfig {
                    reconnect_initial_ms: 10,
                    reconnect_max_ms: 5,
                    ..LinkConfig::default()
                },
                "link.backoff_bounds",
            ),
        ];
        for (config, code) in bad {
            let err = config.validate().expect_err(code);
            assert_eq!(err.code(), code);
            assert!(!err.hint().is_empty());
        }
        let unknown = serde_json::from_str::<LinkConfig>(r#"{"pool": 2}"#);
        assert!(unknown.is_err(), "unknown fields are refused");
    }

    #[test]
    fn gate_refuses_while_suspended_or_backing_off() {
        let policy = BackoffPolicy::new(Duration::from_secs(10), Duration::from_secs(10));
        let mut gate = Gate::new(policy);
        let now = Instant::now();
        assert!(gate.refusal(now).is_none());
        gate.failed(std::io::ErrorKind::ConnectionRefused);
        let Some(Refusal::BackingOff(refusal)) = gate.refusal(Instant::now()) else {
            panic!("backing off");
        };
        assert_eq!(refusal.kind(), std::io::ErrorKind::ConnectionRefused);
        assert!(
            refusal.to_string().contains("1 connects failed"),
            "{refusal}"
        );
        assert!(gate.refusal(now + Duration::from_secs(11)).is_none());
        gate.suspended = true;
        assert!(matches!(
            gate.refusal(now + Duration::from_secs(11)),
            Some(Refusal::Restarting)
        ));
        gate.connected();
        assert!(gate.refusal(Instant::now()).is_none());
    }

    #[tokio::test]
    async fn a_deadline_already_past_sends_nothing() {
        let link = EnclaveLink::new("unix:/nonexistent/enclave.sock".parse().expect("addr"));
        let err = link
            .request_with_deadline(
                Message::AttestRequest { nonce: vec![0; 32] },
                Instant::now(),
            )
            .await
            .expect_err("past");
        assert_eq!(err.code(), "host.enclave_timeout");
        let stats = link.stats().snapshot();
        assert_eq!((stats.connect_failures, stats.timeouts), (0, 1));
    }
}
