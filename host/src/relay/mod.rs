//! The outbound relay: the enclave's only way out to the network.
//!
//! For each `--relay unix:PATH=HOST:PORT` the host listens on the Unix socket PATH and, for
//! every connection accepted there, opens a TCP connection to HOST:PORT and copies bytes both
//! ways until either side closes. The enclave uses it at start to reach its key custodian over
//! TLS that ends inside the enclave: the host moves ciphertext and learns nothing but sizes
//! and timing. Every destination must be on the operator's allowlist ([`allowlist`], AWS's
//! vsock-proxy format), checked before the host binds anything; the relay never picks a
//! destination from the bytes it carries.
//!
//! Bounded: at most [`RelayLimits::max_connections`] connections per relay at once (further
//! ones are closed at once and counted), a connect timeout, and an idle timeout (no byte in
//! either direction).

pub mod allowlist;

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixListener, UnixStream};
use tokio::sync::Semaphore;
use tokio::time::Instant;

pub use self::allowlist::{Allowlist, AllowlistError, Destination, MAX_ALLOWLIST_BYTES};
use crate::error::StartError;

/// Default [`RelayLimits::max_connections`].
pub const MAX_CONNECTIONS: usize = 64;
/// Default [`RelayLimits::idle_timeout`].
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Default [`RelayLimits::connect_timeout`].
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// One `--relay unix:PATH=HOST:PORT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelaySpec {
    listen: PathBuf,
    destination: Destination,
}

impl RelaySpec {
    /// The Unix socket the host listens on.
    pub fn listen(&self) -> &Path {
        &self.listen
    }

    /// Where accepted connections go.
    pub fn destination(&self) -> &Destination {
        &self.destination
    }
}

impl FromStr for RelaySpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let rest = s.strip_prefix("unix:").ok_or_else(|| {
            format!("relay {s:?} must be unix:PATH=HOST:PORT, e.g. unix:/run/cloister/kms.sock=kms.example.com:443")
        })?;
        // HOST:PORT never contains '=', so the last '=' splits even a PATH that has one.
        let (path, dest) = rest
            .rsplit_once('=')
            .ok_or_else(|| format!("relay {s:?} must be unix:PATH=HOST:PORT"))?;
        if path.is_empty() {
            return Err(format!("relay {s:?} needs a socket path after unix:"));
        }
        Ok(Self {
            listen: PathBuf::from(path),
            destination: dest.parse()?,
        })
    }
}

impl std::fmt::Display for RelaySpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unix:{}={}", self.listen.display(), self.destination)
    }
}

/// The relay's bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayLimits {
    /// Relayed connections open at once, per relay.
    pub max_connections: usize,
    /// A connection with no byte in either direction for this long is closed.
    pub idle_timeout: Duration,
    /// How long the TCP connect to the destination may take.
    pub connect_timeout: Duration,
}

impl Default for RelayLimits {
    fn default() -> Self {
        Self {
            max_connections: MAX_CONNECTIONS,
            idle_timeout: IDLE_TIMEOUT,
            connect_timeout: CONNECT_TIMEOUT,
        }
    }
}

/// Reads and parses the allowlist file.
///
/// # Errors
/// [`StartError::AllowlistRead`] (including a file over [`MAX_ALLOWLIST_BYTES`]) or
/// [`StartError::Allowlist`].
pub fn load_allowlist(path: &Path) -> Result<Allowlist, StartError> {
    let read_err = |source| StartError::AllowlistRead {
        path: path.to_path_buf(),
        source,
    };
    let len = std::fs::metadata(path).map_err(read_err)?.len();
    if len > MAX_ALLOWLIST_BYTES {
        return Err(read_err(std::io::Error::new(
            std::io::ErrorKind::FileTooLarge,
            format!("{len} bytes, more than {MAX_ALLOWLIST_BYTES}"),
        )));
    }
    let text = std::fs::read_to_string(path).map_err(read_err)?;
    Allowlist::parse(&text).map_err(|source| StartError::Allowlist {
        path: path.to_path_buf(),
        source,
    })
}

/// Checks every relay against the allowlist at `allowlist_path` (`None`: no `--relay-allowlist`
/// given), then binds them all; nothing is bound unless every destination is listed.
///
/// # Errors
/// [`StartError::RelayAllowlistMissing`], the errors of [`load_allowlist`],
/// [`StartError::RelayNotAllowed`] for the first unlisted destination, or the errors of
/// [`crate::unix_socket::bind_private`].
pub async fn bind_all(
    specs: &[RelaySpec],
    allowlist_path: Option<&Path>,
    limits: RelayLimits,
) -> Result<Vec<Relay>, StartError> {
    let Some(allowlist_path) = allowlist_path else {
        // Fail closed: a relay without an allowlist would be an open proxy.
        return if specs.is_empty() {
            Ok(Vec::new())
        } else {
            Err(StartError::RelayAllowlistMissing)
        };
    };
    let allowlist = load_allowlist(allowlist_path)?;
    for spec in specs {
        check_allowed(spec, &allowlist, allowlist_path)?;
    }
    let mut relays = Vec::with_capacity(specs.len());
    for spec in specs {
        relays.push(Relay::bind(spec.clone(), &allowlist, allowlist_path, limits).await?);
    }
    Ok(relays)
}

fn check_allowed(
    spec: &RelaySpec,
    allowlist: &Allowlist,
    allowlist_path: &Path,
) -> Result<(), StartError> {
    if allowlist.permits(&spec.destination) {
        Ok(())
    } else {
        Err(StartError::RelayNotAllowed {
            destination: spec.destination.to_string(),
            allowlist: allowlist_path.to_path_buf(),
        })
    }
}

/// Counters of one relay. Only counts: no payload, no caller identity.
#[derive(Debug, Default)]
pub struct RelayStats {
    accepted: AtomicU64,
    refused_busy: AtomicU64,
    connect_failed: AtomicU64,
    idle_timeouts: AtomicU64,
    errors: AtomicU64,
    completed: AtomicU64,
}

/// A copy of [`RelayStats`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RelayStatsSnapshot {
    /// Connections accepted and relayed (or attempted).
    pub accepted: u64,
    /// Connections closed at once because [`RelayLimits::max_connections`] were open.
    pub refused_busy: u64,
    /// Relayed connections whose TCP connect failed or timed out.
    pub connect_failed: u64,
    /// Relayed connections closed for idleness.
    pub idle_timeouts: u64,
    /// Relayed connections that ended with an I/O error.
    pub errors: u64,
    /// Relayed connections that ended because a side closed.
    pub completed: u64,
}

impl RelayStats {
    /// The counters now.
    pub fn snapshot(&self) -> RelayStatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        RelayStatsSnapshot {
            accepted: get(&self.accepted),
            refused_busy: get(&self.refused_busy),
            connect_failed: get(&self.connect_failed),
            idle_timeouts: get(&self.idle_timeouts),
            errors: get(&self.errors),
            completed: get(&self.completed),
        }
    }

    fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// A bound relay, ready to [`serve`](Relay::serve).
#[derive(Debug)]
pub struct Relay {
    spec: RelaySpec,
    listener: UnixListener,
    limits: RelayLimits,
    stats: Arc<RelayStats>,
}

impl Relay {
    /// Checks `spec`'s destination against `allowlist` and binds its socket (mode 0600).
    ///
    /// # Errors
    /// [`StartError::RelayNotAllowed`] or the errors of [`crate::unix_socket::bind_private`].
    pub async fn bind(
        spec: RelaySpec,
        allowlist: &Allowlist,
        allowlist_path: &Path,
        limits: RelayLimits,
    ) -> Result<Self, StartError> {
        check_allowed(&spec, allowlist, allowlist_path)?;
        let listener = crate::unix_socket::bind_private(&spec.listen).await?;
        Ok(Self {
            spec,
            listener,
            limits,
            stats: Arc::default(),
        })
    }

    /// What this relay was bound for.
    pub fn spec(&self) -> &RelaySpec {
        &self.spec
    }

    /// Its counters (shared with the running relay).
    pub fn stats(&self) -> Arc<RelayStats> {
        Arc::clone(&self.stats)
    }

    /// Accepts and relays connections until the task is dropped.
    pub async fn serve(self) {
        let Self {
            spec,
            listener,
            limits,
            stats,
        } = self;
        let spec = Arc::new(spec);
        let permits = Arc::new(Semaphore::new(limits.max_connections));
        tracing::info!(listen = %spec.listen.display(), destination = %spec.destination, "relay listening");
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Typically out of file descriptors: back off instead of spinning.
                    tracing::warn!(relay = %spec.destination, error = %e.kind(), "relay accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
                RelayStats::bump(&stats.refused_busy);
                drop(stream);
                tracing::warn!(
                    relay = %spec.destination,
                    max = limits.max_connections,
                    stats = ?stats.snapshot(),
                    "relay busy: connection refused"
                );
                continue;
            };
            RelayStats::bump(&stats.accepted);
            let spec = Arc::clone(&spec);
            let stats = Arc::clone(&stats);
            tokio::spawn(async move {
                let started = Instant::now();
                let end = relay_one(stream, &spec.destination, limits).await;
                let (outcome, up, down) = match end {
                    End::Closed { up, down } => {
                        RelayStats::bump(&stats.completed);
                        ("closed", up, down)
                    }
                    End::Idle => {
                        RelayStats::bump(&stats.idle_timeouts);
                        ("idle_timeout", 0, 0)
                    }
                    End::ConnectFailed(kind) => {
                        RelayStats::bump(&stats.connect_failed);
                        tracing::warn!(relay = %spec.destination, error = %kind, "relay connect failed");
                        ("connect_failed", 0, 0)
                    }
                    End::Error(kind) => {
                        RelayStats::bump(&stats.errors);
                        tracing::warn!(relay = %spec.destination, error = %kind, "relayed connection failed");
                        ("error", 0, 0)
                    }
                };
                drop(permit);
                tracing::info!(
                    relay = %spec.destination,
                    outcome,
                    bytes_out = up,
                    bytes_in = down,
                    millis = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                    stats = ?stats.snapshot(),
                    "relayed connection ended"
                );
            });
        }
    }
}

/// How one relayed connection ended. Byte counts are out (enclave to destination) and in.
enum End {
    Closed { up: u64, down: u64 },
    Idle,
    ConnectFailed(std::io::ErrorKind),
    Error(std::io::ErrorKind),
}

async fn relay_one(unix: UnixStream, destination: &Destination, limits: RelayLimits) -> End {
    let connect = TcpStream::connect((destination.host(), destination.port()));
    let tcp = match tokio::time::timeout(limits.connect_timeout, connect).await {
        Ok(Ok(tcp)) => tcp,
        Ok(Err(e)) => return End::ConnectFailed(e.kind()),
        Err(_) => return End::ConnectFailed(std::io::ErrorKind::TimedOut),
    };
    // Small TLS records (handshakes) should not wait for Nagle.
    let _ = tcp.set_nodelay(true);
    let clock = Arc::new(ActivityClock::new());
    let mut enclave_side = Tracked {
        inner: unix,
        clock: Arc::clone(&clock),
    };
    let mut remote_side = Tracked {
        inner: tcp,
        clock: Arc::clone(&clock),
    };
    let copy = tokio::io::copy_bidirectional(&mut enclave_side, &mut remote_side);
    tokio::pin!(copy);
    loop {
        let deadline = clock.last() + limits.idle_timeout;
        tokio::select! {
            result = &mut copy => {
                return match result {
                    Ok((up, down)) => End::Closed { up, down },
                    Err(e) => End::Error(e.kind()),
                };
            }
            () = tokio::time::sleep_until(deadline) => {
                if clock.last() + limits.idle_timeout <= Instant::now() {
                    return End::Idle;
                }
            }
        }
    }
}

/// When bytes last moved on a relayed connection, as milliseconds since it started.
struct ActivityClock {
    start: Instant,
    last_millis: AtomicU64,
}

impl ActivityClock {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            last_millis: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let millis = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_millis.fetch_max(millis, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.start + Duration::from_millis(self.last_millis.load(Ordering::Relaxed))
    }
}

/// A stream that touches its [`ActivityClock`] whenever bytes are read or written.
struct Tracked<S> {
    inner: S,
    clock: Arc<ActivityClock>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Tracked<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let poll = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(poll, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.clock.touch();
        }
        poll
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tracked<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_write(cx, buf);
        if matches!(poll, Poll::Ready(Ok(n)) if n > 0) {
            this.clock.touch();
        }
        poll
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests;
