//! The host's edge toward callers: what it accepts, how long it waits, and what it refuses.
//!
//! [`serve`] replaces `axum::serve`: HTTP/1.1 with a header timeout (a head that stalls is cut;
//! so is an idle keep-alive connection), a body timeout, a write deadline for callers that do not
//! read, a cap on connections and on requests per connection, and in front of the router an
//! [`Admission`] per enclave: a bounded queue that answers `503 host.overloaded` with
//! `Retry-After` at once when full, and a per-client share (`429 host.client_limit`) so that one
//! caller cannot starve the others. All bounds are in [`EdgeLimits`]; memory stays bounded by
//! them under any load (see [`limits`]).
//!
//! Every answer the host makes itself is the JSON error shape of [`crate::error::HostError`],
//! with two exceptions hyper does not let a service change: a request hyper cannot parse (a
//! malformed start line, a head over [`EdgeLimits::hard_header_bytes`], more than 100 header
//! lines) gets hyper's own bare status (400, 431) and the connection closes; and a stalled head
//! is cut without an answer. Between [`EdgeLimits::max_header_bytes`] and the hard limit, a head
//! gets `431 host.header_too_large` as JSON.
//!
//! For standard OHTTP clients, [`ohttp_keys`] holds the gateway's key configuration, served at
//! `GET /v1/ohttp-keys`, and the key id that `/v1/infer` checks before anything reaches the
//! enclave (RFC 9458 §5.3).

mod admission;
mod io;
pub mod limits;
pub mod ohttp_keys;
mod pipeline;
mod serve;

pub use self::admission::{Admission, AdmissionStatsSnapshot, Ticket, Turn};
pub use self::limits::{EdgeLimits, EdgeLimitsError};
pub use self::ohttp_keys::{GatewayKey, KeyCache};
pub use self::pipeline::REQUEST_ID;
pub use self::serve::{serve, serve_admitted};
