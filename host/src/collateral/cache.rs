//! The collateral cache: one entry per (FMSPC, CA), reused until its earliest `nextUpdate`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use cloister_attestation::UnixTime;

use super::{CollateralConfig, CollateralError, PcsClient, next_update, pck_identity, pcs_ca};

/// Reads the clock; tests inject their own.
pub type Clock = Arc<dyn Fn() -> UnixTime + Send + Sync>;

struct Entry {
    json: Arc<[u8]>,
    next_update: UnixTime,
}

/// Collateral by (FMSPC, CA), reused until the earliest `nextUpdate` of its TCB info and QE
/// identity. Concurrent misses share one fetch; failures are not cached; at most
/// [`CollateralConfig::max_entries`] entries are kept (the one that expires first is dropped).
pub struct CollateralCache {
    client: PcsClient,
    clock: Clock,
    max_entries: usize,
    entries: Mutex<HashMap<([u8; 6], &'static str), Entry>>,
    /// Held while fetching, so concurrent misses do not each go to the network.
    fetching: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for CollateralCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CollateralCache")
            .field("client", &self.client)
            .field("max_entries", &self.max_entries)
            .finish_non_exhaustive()
    }
}

impl CollateralCache {
    /// A cache over `config`'s service, on the system clock.
    ///
    /// # Errors
    /// As [`PcsClient::new`].
    pub fn new(config: &CollateralConfig) -> Result<Self, CollateralError> {
        Self::with_clock(config, Arc::new(UnixTime::now))
    }

    /// A cache on the clock `clock`.
    ///
    /// # Errors
    /// As [`PcsClient::new`], or a zero `max_entries`.
    pub fn with_clock(config: &CollateralConfig, clock: Clock) -> Result<Self, CollateralError> {
        if config.max_entries == 0 {
            return Err(CollateralError::ZeroLimit {
                what: "the number of cache entries",
            });
        }
        Ok(Self {
            client: PcsClient::new(config)?,
            clock,
            max_entries: config.max_entries,
            entries: Mutex::new(HashMap::new()),
            fetching: tokio::sync::Mutex::new(()),
        })
    }

    /// The bundle item (the `QuoteCollateralV3` JSON) for a PCK certificate with `fmspc` from
    /// the PCK `ca` (`"platform"` or `"processor"`): cached while fresh, fetched otherwise.
    ///
    /// # Errors
    /// [`CollateralError`] when it is not cached and cannot be fetched.
    pub async fn get(&self, fmspc: [u8; 6], ca: &str) -> Result<Arc<[u8]>, CollateralError> {
        let key = (fmspc, pcs_ca(ca)?);
        if let Some(hit) = self.lookup(&key) {
            return Ok(hit);
        }
        let _one_at_a_time = self.fetching.lock().await;
        // Another request may have fetched it while this one waited.
        if let Some(hit) = self.lookup(&key) {
            return Ok(hit);
        }
        let collateral = self.client.fetch(fmspc, key.1).await?;
        let next_update = next_update(&collateral)?;
        let json: Arc<[u8]> = collateral.to_json().into();
        tracing::info!(
            fmspc = %hex::encode_upper(fmspc),
            ca = key.1,
            next_update = next_update.as_secs(),
            "DCAP collateral fetched"
        );
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= self.max_entries
            && !entries.contains_key(&key)
            && let Some(oldest) = entries
                .iter()
                .min_by_key(|(_, e)| e.next_update)
                .map(|(k, _)| *k)
        {
            entries.remove(&oldest);
        }
        entries.insert(
            key,
            Entry {
                json: Arc::clone(&json),
                next_update,
            },
        );
        Ok(json)
    }

    /// The bundle item for a TDX quote: FMSPC and CA from its PCK certificate, then [`get`].
    ///
    /// [`get`]: CollateralCache::get
    ///
    /// # Errors
    /// [`CollateralError::Quote`] if the quote's PCK certificate cannot be read; as [`get`].
    pub async fn for_quote(&self, quote: &[u8]) -> Result<Arc<[u8]>, CollateralError> {
        let (fmspc, ca) = pck_identity(quote)?;
        self.get(fmspc, ca).await
    }

    /// Entries currently held (fresh or not).
    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lookup(&self, key: &([u8; 6], &'static str)) -> Option<Arc<[u8]>> {
        let now = (self.clock)();
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(key)
            .filter(|e| now < e.next_update)
            .map(|e| Arc::clone(&e.json))
    }
}
