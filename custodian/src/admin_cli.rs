//! The operator commands that work on the store directly, next to a running custodian:
//! `audit verify`, `audit export` and `rotate-kek`.

use std::io::Write;

use aws_lc_rs::signature::KeyPair;

use crate::audit::{AuditBody, AuditEvent, AuditRecord, ChainVerifier};
use crate::config::Config;
use crate::start::{StartError, load_signer, open_keks, open_store};
use crate::store::{KeyChange, StoreError};

/// Records read from the store at a time.
const PAGE: usize = 1024;

/// Walks the whole audit chain in order under the custodian's key, handing each verified
/// record to `each`; stops at the first broken one.
fn walk_chain(
    config: &Config,
    mut each: impl FnMut(&AuditRecord, AuditBody) -> Result<(), StartError>,
) -> Result<ChainVerifier, StartError> {
    let public_key = load_signer(&config.signing_key)?
        .public_key()
        .as_ref()
        .to_vec();
    let store = open_store(config)?;
    let mut chain = ChainVerifier::new(&public_key);
    loop {
        let page = store.audit_records(chain.verified() + 1, PAGE)?;
        for record in &page {
            let body = chain.check(record).map_err(StartError::AuditBroken)?;
            each(record, body)?;
        }
        if page.len() < PAGE {
            return Ok(chain);
        }
    }
}

/// Verifies the whole audit chain under the custodian's key; returns a one-line report.
///
/// # Errors
/// [`StartError::AuditBroken`] naming the first broken record; the store's errors.
pub fn verify_audit(config: &Config) -> Result<String, StartError> {
    let chain = walk_chain(config, |_, _| Ok(()))?;
    Ok(format!(
        "audit chain intact: {} record(s), head {}",
        chain.verified(),
        chain.head()
    ))
}

/// Writes every record whose time is at or after `since` as one JSON line, verifying the
/// chain on the way (an export never passes on a broken record silently).
///
/// # Errors
/// As [`verify_audit`]; `custodian.export.write`.
pub fn export_audit(config: &Config, since: u64, out: &mut dyn Write) -> Result<(), StartError> {
    walk_chain(config, |record, body| {
        if body.event.time >= since {
            let line = serde_json::json!({
                "record": body,
                "hash": record.hash,
                "signature": record.signature,
            });
            writeln!(out, "{line}").map_err(StartError::ExportWrite)?;
        }
        Ok(())
    })?;
    out.flush().map_err(StartError::ExportWrite)
}

/// Re-wraps every key not under the current KEK; returns how many were re-wrapped. A key
/// changed concurrently (by the service) is read again and retried.
///
/// # Errors
/// `custodian.kek.*` (a KEK missing from the config), the store's errors.
pub fn rotate_kek(config: &Config) -> Result<usize, StartError> {
    let keks = open_keks(config)?;
    let store = open_store(config)?;
    let mut moved = 0;
    for key in store.keys(None)? {
        let mut key = Some(key);
        // A few attempts: each loses only to a concurrent change of this very key.
        for _ in 0..5 {
            let Some(k) = key.take().filter(|k| k.kek_id != keks.current_id()) else {
                break;
            };
            let dek = keks.unwrap(&k.key_id, &k.kek_id, &k.wrapped_dek)?;
            let (wrapped_dek, kek_id) = keks.wrap(&k.key_id, &dek)?;
            let now = cloister_attestation::UnixTime::now().as_secs();
            let change = KeyChange::Rewrap {
                key_id: k.key_id.clone(),
                from_kek_id: k.kek_id.clone(),
                wrapped_dek,
                kek_id: kek_id.clone(),
                now,
            };
            match store.change(
                &change,
                AuditEvent::rotate_kek(now, &k.tenant, &k.key_id, &kek_id),
            ) {
                Ok(_) => moved += 1,
                Err(StoreError::Stale { .. }) => key = store.key(&k.key_id)?,
                Err(StoreError::UnknownKey { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(moved)
}
