//! The supervisor's counters, for metrics.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// Lifecycle counters. Read them with [`SupervisorStats::snapshot`]; the link's own counters
/// (reconnects, dropped answers) are in [`crate::link::LinkStats`].
#[derive(Debug, Default)]
pub struct SupervisorStats {
    pub(super) launches: AtomicU64,
    pub(super) restarts: AtomicU64,
    pub(super) exits: AtomicU64,
    pub(super) failed_starts: AtomicU64,
}

/// The counters at one moment.
///
/// ```
/// use cloister_host::supervisor::SupervisorStats;
/// let s = SupervisorStats::default().snapshot();
/// assert_eq!((s.launches, s.restarts, s.exits, s.failed_starts), (0, 0, 0, 0));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SupervisorStatsSnapshot {
    /// Enclaves launched (each start attempt that got as far as a process or `run-enclave`).
    pub launches: u64,
    /// Restarts that reached ready after an exit.
    pub restarts: u64,
    /// Enclave exits seen (crashes, kills; not the stop at shutdown).
    pub exits: u64,
    /// Restart attempts that failed (launch failed, exited early, or not ready in time).
    pub failed_starts: u64,
}

impl SupervisorStats {
    /// The counters now.
    pub fn snapshot(&self) -> SupervisorStatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        SupervisorStatsSnapshot {
            launches: get(&self.launches),
            restarts: get(&self.restarts),
            exits: get(&self.exits),
            failed_starts: get(&self.failed_starts),
        }
    }
}

pub(super) fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}
