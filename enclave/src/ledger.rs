//! The digests of evidence this enclave has issued recently, so a result can name the evidence
//! its caller verified, and a caller cannot make the enclave sign over evidence it never made.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

use cloister_proto::DIGEST_LEN;

/// How many evidence digests are remembered. Older ones fall out first; a caller whose
/// evidence fell out fetches fresh evidence (the error says so).
pub(crate) const LEDGER_CAPACITY: usize = 4096;

#[derive(Debug, Default)]
pub(crate) struct EvidenceLedger {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    order: VecDeque<[u8; DIGEST_LEN]>,
    set: HashSet<[u8; DIGEST_LEN]>,
}

impl EvidenceLedger {
    pub(crate) fn record(&self, digest: [u8; DIGEST_LEN]) {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if !g.set.insert(digest) {
            return;
        }
        g.order.push_back(digest);
        if g.order.len() > LEDGER_CAPACITY
            && let Some(old) = g.order.pop_front()
        {
            g.set.remove(&old);
        }
    }

    pub(crate) fn contains(&self, digest: &[u8; DIGEST_LEN]) -> bool {
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.set.contains(digest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_the_most_recent_and_forgets_the_oldest() {
        let l = EvidenceLedger::default();
        for i in 0..=LEDGER_CAPACITY {
            let mut d = [0u8; DIGEST_LEN];
            d[..8].copy_from_slice(&(i as u64).to_be_bytes());
            l.record(d);
        }
        assert!(!l.contains(&[0u8; DIGEST_LEN]));
        let mut last = [0u8; DIGEST_LEN];
        last[..8].copy_from_slice(&(LEDGER_CAPACITY as u64).to_be_bytes());
        assert!(l.contains(&last));
    }
}
