//! The edge's bounds: how much the host accepts from callers, and how long it waits for them.
//!
//! Memory stays bounded by these numbers whatever callers do: request bodies are held only by
//! admitted requests (at most `(max_in_flight + max_queued) × max_body_bytes`, 80 MiB with the
//! defaults), request heads only by open connections (at most `max_connections × 4 ×
//! max_header_bytes`, 64 MiB with the defaults, in practice far less: a buffer grows only as a
//! head arrives), and a refused request costs a JSON answer and nothing kept.

use std::time::Duration;

use thiserror::Error;

/// Default [`EdgeLimits::max_in_flight`].
pub const MAX_IN_FLIGHT: usize = 64;
/// Default [`EdgeLimits::max_queued`].
pub const MAX_QUEUED: usize = 256;
/// Default [`EdgeLimits::queue_timeout`].
pub const QUEUE_TIMEOUT: Duration = Duration::from_secs(10);
/// Default [`EdgeLimits::max_per_client`].
pub const MAX_PER_CLIENT: usize = 32;
/// Default [`EdgeLimits::retry_after`].
pub const RETRY_AFTER: Duration = Duration::from_secs(1);
/// Default [`EdgeLimits::max_connections`].
pub const MAX_CONNECTIONS: usize = 1024;
/// Default [`EdgeLimits::header_read_timeout`].
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Default [`EdgeLimits::body_read_timeout`].
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Default [`EdgeLimits::write_timeout`].
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Default [`EdgeLimits::max_requests_per_connection`].
pub const MAX_REQUESTS_PER_CONNECTION: usize = 1000;
/// Default [`EdgeLimits::max_header_bytes`].
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// Default [`EdgeLimits::drain_timeout`].
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// hyper's smallest read buffer (`max_buf_size` panics below it).
const HYPER_MIN_BUF: usize = 8192;

/// What the host accepts from callers. [`EdgeLimits::default`] is meant for production; tests
/// shrink the numbers.
///
/// The queue is per enclave (one host serves one enclave): a request is *admitted* when its
/// client is under [`max_per_client`](Self::max_per_client) and fewer than `max_in_flight +
/// max_queued` requests are admitted; otherwise it is answered at once, `429 host.client_limit`
/// or `503 host.overloaded`, both with `Retry-After`. An admitted request reads its body, then
/// waits for one of `max_in_flight` turns at the enclave (first come, first served), at most
/// `queue_timeout` (`503 host.queue_timeout`).
///
/// ```
/// use std::time::Duration;
/// use cloister_host::edge::EdgeLimits;
///
/// let limits = EdgeLimits { max_in_flight: 4, header_read_timeout: Duration::from_secs(2), ..EdgeLimits::default() };
/// assert!(limits.check().is_ok());
/// assert_eq!(limits.max_queued, 256);
/// assert!(EdgeLimits { max_in_flight: 0, ..limits }.check().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeLimits {
    /// Requests at the enclave at once (default 64).
    pub max_in_flight: usize,
    /// Admitted requests waiting for a turn at the enclave (default 256); beyond, 503 at once.
    pub max_queued: usize,
    /// Longest wait for a turn at the enclave before a 503 (default 10 s).
    pub queue_timeout: Duration,
    /// Admitted requests per client (default 32): an IPv4 address or an IPv6 /64; beyond, 429
    /// at once. Callers behind one proxy or NAT share it: the host never trusts
    /// `X-Forwarded-For`.
    pub max_per_client: usize,
    /// The `Retry-After` of a 429 or 503, in whole seconds rounded up (default 1 s).
    pub retry_after: Duration,
    /// Open caller connections (default 1024); beyond, the host stops accepting until one
    /// closes and the kernel's listen backlog holds the rest.
    pub max_connections: usize,
    /// Longest time for a request head to arrive, from the moment the connection is ready for
    /// it (default 10 s). hyper starts this clock as soon as a keep-alive connection is idle, so
    /// it is also the keep-alive idle timeout. The connection is closed when it runs out.
    pub header_read_timeout: Duration,
    /// Longest time for a whole request body to arrive (default 10 s; `408 host.body_timeout`).
    pub body_read_timeout: Duration,
    /// Longest a write to a caller may stall (a caller that does not read; default 10 s). The
    /// connection is closed when it runs out.
    pub write_timeout: Duration,
    /// Requests served on one connection before the host closes it (default 1000).
    pub max_requests_per_connection: usize,
    /// Largest request head (start line and headers) answered normally (default 16 KiB);
    /// larger gets `431 host.header_too_large` as JSON. hyper refuses heads over four times
    /// this, and more than 100 header lines, itself: a bare 431 (see [`crate::edge`]).
    pub max_header_bytes: usize,
    /// Largest request body (default [`crate::api::MAX_INFER_BODY`], 256 KiB;
    /// `413 host.body_too_large`). The router's own limit is that default too: a larger value
    /// here changes nothing.
    pub max_body_bytes: usize,
    /// On shutdown, how long open requests may take to finish (default 10 s).
    pub drain_timeout: Duration,
}

impl Default for EdgeLimits {
    fn default() -> Self {
        Self {
            max_in_flight: MAX_IN_FLIGHT,
            max_queued: MAX_QUEUED,
            queue_timeout: QUEUE_TIMEOUT,
            max_per_client: MAX_PER_CLIENT,
            retry_after: RETRY_AFTER,
            max_connections: MAX_CONNECTIONS,
            header_read_timeout: HEADER_READ_TIMEOUT,
            body_read_timeout: BODY_READ_TIMEOUT,
            write_timeout: WRITE_TIMEOUT,
            max_requests_per_connection: MAX_REQUESTS_PER_CONNECTION,
            max_header_bytes: MAX_HEADER_BYTES,
            max_body_bytes: crate::api::MAX_INFER_BODY,
            drain_timeout: DRAIN_TIMEOUT,
        }
    }
}

impl EdgeLimits {
    /// Checks that no count and no timeout is zero (a zero would refuse or cut everything).
    ///
    /// # Errors
    /// [`EdgeLimitsError::Zero`] naming the first zero field.
    pub fn check(&self) -> Result<(), EdgeLimitsError> {
        let counts = [
            ("max_in_flight", self.max_in_flight),
            ("max_per_client", self.max_per_client),
            ("max_connections", self.max_connections),
            (
                "max_requests_per_connection",
                self.max_requests_per_connection,
            ),
            ("max_header_bytes", self.max_header_bytes),
            ("max_body_bytes", self.max_body_bytes),
        ];
        let times = [
            ("queue_timeout", self.queue_timeout),
            ("header_read_timeout", self.header_read_timeout),
            ("body_read_timeout", self.body_read_timeout),
            ("write_timeout", self.write_timeout),
        ];
        let zero = counts
            .iter()
            .find(|(_, n)| *n == 0)
            .map(|(f, _)| *f)
            .or_else(|| times.iter().find(|(_, t)| t.is_zero()).map(|(f, _)| *f));
        match zero {
            Some(field) => Err(EdgeLimitsError::Zero { field }),
            None => Ok(()),
        }
    }

    /// `Retry-After` in whole seconds, rounded up, at least 1.
    pub fn retry_after_secs(&self) -> u64 {
        let secs = self.retry_after.as_secs();
        let secs = if self.retry_after.subsec_nanos() > 0 {
            secs.saturating_add(1)
        } else {
            secs
        };
        secs.max(1)
    }

    /// The head size hyper itself refuses (a bare 431): four times
    /// [`max_header_bytes`](Self::max_header_bytes), at least hyper's minimum buffer.
    pub fn hard_header_bytes(&self) -> usize {
        self.max_header_bytes.saturating_mul(4).max(HYPER_MIN_BUF)
    }
}

/// Unusable [`EdgeLimits`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum EdgeLimitsError {
    /// A count or timeout is zero.
    #[error("edge limit {field} is zero")]
    Zero {
        /// The field.
        field: &'static str,
    },
}

impl EdgeLimitsError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Zero { .. } => "host.edge_limits",
        }
    }

    /// What to do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            Self::Zero { .. } => "give every EdgeLimits count and timeout a value above zero",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_pass_and_every_zero_is_named() {
        let d = EdgeLimits::default();
        assert_eq!(d.check(), Ok(()));
        assert_eq!(d.retry_after_secs(), 1);
        assert_eq!(d.hard_header_bytes(), 64 * 1024);
        let e = EdgeLimits {
            body_read_timeout: Duration::ZERO,
            ..d.clone()
        }
        .check()
        .expect_err("zero");
        assert_eq!(
            e,
            EdgeLimitsError::Zero {
                field: "body_read_timeout"
            }
        );
        assert_eq!(e.code(), "host.edge_limits");
        // A zero queue is allowed: requests then only wait for a free turn, never in line.
        assert!(EdgeLimits { max_queued: 0, ..d }.check().is_ok());
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        let at = |ms| EdgeLimits {
            retry_after: Duration::from_millis(ms),
            ..EdgeLimits::default()
        };
        assert_eq!(at(0).retry_after_secs(), 1);
        assert_eq!(at(1500).retry_after_secs(), 2);
        assert_eq!(at(3000).retry_after_secs(), 3);
        assert_eq!(at(100).hard_header_bytes(), 64 * 1024);
    }
}
