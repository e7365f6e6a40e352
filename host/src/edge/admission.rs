//! Admission to the enclave: a bounded queue with a per-client share, answered at once when full.
//!
//! Two counters and a line. A request first takes a place of its client (at most
//! `max_per_client` per IP address, else 429), then a place in the queue (at most
//! `max_in_flight + max_queued` admitted, else 503); neither waits. Only then does it wait, in
//! arrival order, for one of `max_in_flight` turns at the enclave, for at most `queue_timeout`.
//! All places are given back when the [`Ticket`] or [`Turn`] is dropped, whatever happened to
//! the request, so a caller that disconnects frees its places at once.
//!
//! A client is an IPv4 address, or an IPv6 /64 (one subscriber's usual allocation: otherwise a
//! single caller could take a fresh share from each of its 2^64 addresses); an IPv4-mapped IPv6
//! address counts as its IPv4 address.
//!
//! Fairness follows from the per-client share: a client flooding the host holds at most
//! `max_per_client` of the `max_in_flight + max_queued` places, and the line is first come,
//! first served, so another client's request waits behind at most that many of the flood's.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::EdgeLimits;
use crate::error::HostError;

type Clients = Arc<Mutex<HashMap<IpAddr, usize>>>;

/// The admission state of one enclave: shared by every connection of the host.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().expect("rt").block_on(async {
/// use cloister_host::edge::{Admission, EdgeLimits};
///
/// let limits = EdgeLimits { max_in_flight: 1, max_queued: 1, max_per_client: 2, ..EdgeLimits::default() };
/// let admission = Admission::new(&limits);
/// let ip = "192.0.2.7".parse().expect("ip");
/// let first = admission.admit(ip).expect("in flight");
/// let second = admission.admit(ip).expect("queued");
/// let e = admission.admit(ip).expect_err("client share used up");
/// assert_eq!(e.code(), "host.client_limit");
/// let other = "192.0.2.8".parse().expect("ip");
/// assert_eq!(admission.admit(other).expect_err("queue full").code(), "host.overloaded");
/// let turn = admission.turn(first).await.expect("a free turn");
/// drop((turn, second));
/// assert_eq!(admission.admitted(), 0);
/// # });
/// ```
#[derive(Debug)]
pub struct Admission {
    places: Arc<Semaphore>,
    turns: Arc<Semaphore>,
    clients: Clients,
    capacity: usize,
    max_in_flight: usize,
    max_per_client: usize,
    queue_timeout: Duration,
    retry_after_secs: u64,
    stats: AdmissionStats,
}

/// Refusals counted since the start.
#[derive(Debug, Default)]
struct AdmissionStats {
    client_limit: AtomicU64,
    overloaded: AtomicU64,
    queue_timeouts: AtomicU64,
}

/// The queue's refusals at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AdmissionStatsSnapshot {
    /// Requests refused because their client held its share (429 `host.client_limit`).
    pub client_limit: u64,
    /// Requests refused because the queue was full (503 `host.overloaded`).
    pub overloaded: u64,
    /// Requests that waited the whole queue timeout (503 `host.queue_timeout`).
    pub queue_timeouts: u64,
}

/// An admitted request: holds a place of its client and a place in the queue.
#[derive(Debug)]
pub struct Ticket {
    _client: ClientPlace,
    _place: OwnedSemaphorePermit,
}

/// A request's turn at the enclave: holds its [`Ticket`] and one of the in-flight turns.
#[derive(Debug)]
pub struct Turn {
    _ticket: Ticket,
    _turn: OwnedSemaphorePermit,
}

/// One place of a client; given back on drop (and the client forgotten at zero).
#[derive(Debug)]
struct ClientPlace {
    clients: Clients,
    ip: IpAddr,
}

impl Drop for ClientPlace {
    fn drop(&mut self) {
        let mut clients = lock(&self.clients);
        if let Some(n) = clients.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                clients.remove(&self.ip);
            }
        }
    }
}

impl Admission {
    /// Admission for `limits` (`max_in_flight`, `max_queued`, `max_per_client`,
    /// `queue_timeout`, `retry_after`).
    pub fn new(limits: &EdgeLimits) -> Self {
        let capacity = limits.max_in_flight.saturating_add(limits.max_queued);
        Self {
            places: Arc::new(Semaphore::new(capacity)),
            turns: Arc::new(Semaphore::new(limits.max_in_flight)),
            clients: Arc::default(),
            capacity,
            max_in_flight: limits.max_in_flight,
            max_per_client: limits.max_per_client,
            queue_timeout: limits.queue_timeout,
            retry_after_secs: limits.retry_after_secs(),
            stats: AdmissionStats::default(),
        }
    }

    /// Admits a request of `client`, or refuses it at once.
    ///
    /// # Errors
    /// [`HostError::ClientLimit`] when `client` holds `max_per_client` places;
    /// [`HostError::Overloaded`] when the queue is full.
    pub fn admit(&self, client: IpAddr) -> Result<Ticket, HostError> {
        let client = client_key(client);
        let client = {
            let mut clients = lock(&self.clients);
            let n = clients.entry(client).or_insert(0);
            if *n >= self.max_per_client {
                self.stats.client_limit.fetch_add(1, Ordering::Relaxed);
                return Err(HostError::ClientLimit {
                    limit: self.max_per_client,
                    retry_after_secs: self.retry_after_secs,
                });
            }
            *n += 1;
            ClientPlace {
                clients: Arc::clone(&self.clients),
                ip: client,
            }
        };
        // On refusal `client` drops here and gives its place back.
        let place = Arc::clone(&self.places).try_acquire_owned().map_err(|_| {
            self.stats.overloaded.fetch_add(1, Ordering::Relaxed);
            HostError::Overloaded {
                retry_after_secs: self.retry_after_secs,
            }
        })?;
        Ok(Ticket {
            _client: client,
            _place: place,
        })
    }

    /// Waits, in arrival order, for a turn at the enclave.
    ///
    /// # Errors
    /// [`HostError::QueueTimeout`] after `queue_timeout` (the ticket's places are given back).
    pub async fn turn(&self, ticket: Ticket) -> Result<Turn, HostError> {
        let timeout = HostError::QueueTimeout {
            millis: u64::try_from(self.queue_timeout.as_millis()).unwrap_or(u64::MAX),
            retry_after_secs: self.retry_after_secs,
        };
        match tokio::time::timeout(self.queue_timeout, Arc::clone(&self.turns).acquire_owned())
            .await
        {
            Ok(Ok(turn)) => Ok(Turn {
                _ticket: ticket,
                _turn: turn,
            }),
            // The semaphore is never closed; a closed one would be a queue that cannot move.
            Ok(Err(_)) | Err(_) => {
                self.stats.queue_timeouts.fetch_add(1, Ordering::Relaxed);
                Err(timeout)
            }
        }
    }

    /// Requests admitted now (in flight or waiting).
    pub fn admitted(&self) -> usize {
        self.capacity
            .saturating_sub(self.places.available_permits())
    }

    /// Admitted requests waiting for a turn now (the queue's depth).
    pub fn waiting(&self) -> usize {
        let in_turn = self
            .max_in_flight
            .saturating_sub(self.turns.available_permits());
        self.admitted().saturating_sub(in_turn)
    }

    /// The refusals so far.
    pub fn stats(&self) -> AdmissionStatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        AdmissionStatsSnapshot {
            client_limit: get(&self.stats.client_limit),
            overloaded: get(&self.stats.overloaded),
            queue_timeouts: get(&self.stats.queue_timeouts),
        }
    }

    /// Clients holding at least one place now.
    pub fn clients(&self) -> usize {
        lock(&self.clients).len()
    }
}

/// The address a client's share is counted under: IPv4 as is, IPv6 by its /64.
fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(std::net::Ipv6Addr::from(
                v6.to_bits() & !u128::from(u64::MAX),
            )),
        },
    }
}

fn lock(clients: &Clients) -> MutexGuard<'_, HashMap<IpAddr, usize>> {
    // The map is consistent after every statement: a panic elsewhere cannot leave it half-written.
    clients
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(in_flight: usize, queued: usize, per_client: usize) -> EdgeLimits {
        EdgeLimits {
            max_in_flight: in_flight,
            max_queued: queued,
            max_per_client: per_client,
            queue_timeout: Duration::from_millis(50),
            ..EdgeLimits::default()
        }
    }

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([192, 0, 2, last])
    }

    #[tokio::test]
    async fn a_full_queue_refuses_at_once_and_places_come_back() {
        let a = Admission::new(&limits(1, 2, 10));
        let tickets: Vec<Ticket> = (0..3).map(|i| a.admit(ip(i)).expect("place")).collect();
        assert_eq!(a.admitted(), 3);
        let e = a.admit(ip(9)).expect_err("full");
        assert_eq!(e.code(), "host.overloaded");
        assert_eq!(a.clients(), 3, "the refused client holds nothing");
        drop(tickets);
        assert_eq!((a.admitted(), a.clients()), (0, 0));
        assert!(a.admit(ip(9)).is_ok());
        assert_eq!(a.stats().overloaded, 1);
    }

    #[tokio::test]
    async fn one_client_gets_its_share_and_no_more() {
        let a = Admission::new(&limits(2, 8, 3));
        let flood: Vec<Ticket> = (0..3).map(|_| a.admit(ip(1)).expect("share")).collect();
        for _ in 0..5 {
            assert_eq!(
                a.admit(ip(1)).expect_err("over share").code(),
                "host.client_limit"
            );
        }
        assert!(a.admit(ip(2)).is_ok(), "another client still gets in");
        assert_eq!(a.stats().client_limit, 5);
        assert_eq!(a.waiting(), 3, "admitted, none has asked for a turn yet");
        drop(flood);
        assert!(a.admit(ip(1)).is_ok());
    }

    #[test]
    fn an_ipv6_client_is_its_64_and_a_mapped_ipv4_its_ipv4() {
        let a = Admission::new(&limits(8, 8, 2));
        let v6 = |s: &str| s.parse::<IpAddr>().expect("ip");
        let _one = a.admit(v6("2001:db8:1:2::1")).expect("share");
        let _two = a.admit(v6("2001:db8:1:2:ffff::9")).expect("share");
        let e = a.admit(v6("2001:db8:1:2::3")).expect_err("same /64");
        assert_eq!(e.code(), "host.client_limit");
        assert!(a.admit(v6("2001:db8:1:3::1")).is_ok(), "another /64");
        let _v4 = a.admit(ip(5)).expect("share");
        let _v4b = a.admit(v6("::ffff:192.0.2.5")).expect("share");
        assert!(a.admit(ip(5)).is_err(), "mapped counts as the IPv4 address");
    }

    #[tokio::test]
    async fn waiting_for_a_turn_is_bounded() {
        let a = Admission::new(&limits(1, 1, 10));
        let first = a.turn(a.admit(ip(1)).expect("place")).await.expect("turn");
        let second = a.admit(ip(2)).expect("queued");
        let e = a.turn(second).await.expect_err("no turn within 50 ms");
        assert_eq!(e.code(), "host.queue_timeout");
        assert_eq!(a.admitted(), 1, "the timed-out ticket gave its place back");
        drop(first);
        let third = a.admit(ip(2)).expect("place");
        assert!(a.turn(third).await.is_ok());
    }
}
