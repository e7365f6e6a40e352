//! The key store: per key id, the DEK wrapped under the KEK, the release policy (a
//! [`TrustPolicy`] and an optional Rego rule) and a `disabled` flag. Never a plaintext DEK.
//!
//! One JSON file, replaced atomically on every change; every change is made on a copy, written,
//! and only then becomes the store's state, so a failed write changes nothing. A file that does
//! not parse, or holds an entry whose policy or Rego does not load, refuses to open whole: a
//! custodian never serves with half its keys.
//!
//! ```json
//! { "version": 1,
//!   "keys": { "credit-risk-v1": { "wrapped_dek": "<base64 nonce‖ct‖tag>",
//!       "trust_policy": { "nitro": { "pcrs": { "0": "…" } } }, "rego": null,
//!       "disabled": false, "created_at": 1750000000, "updated_at": 1750000000 } } }
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use cloister_attestation::TrustPolicy;
use serde::{Deserialize, Serialize};

use crate::rego::ReleaseRego;

/// Version of the store file layout.
pub const STORE_VERSION: u16 = 1;
/// Largest store file read at start.
pub const MAX_STORE_LEN: u64 = 64 * 1024 * 1024;

/// One key's entry.
#[derive(Clone, Debug)]
pub struct KeyEntry {
    /// The DEK wrapped under the KEK for this key id.
    pub wrapped_dek: Vec<u8>,
    /// Which platforms and workloads may receive the key.
    pub trust_policy: TrustPolicy,
    /// An extra rule over the appraised claims, if any.
    pub rego: Option<ReleaseRego>,
    /// A disabled key is never released.
    pub disabled: bool,
    /// Unix seconds of registration.
    pub created_at: u64,
    /// Unix seconds of the last change.
    pub updated_at: u64,
}

impl KeyEntry {
    /// What the admin API shows of an entry: no key material.
    pub fn summary(&self, key_id: &str) -> KeySummary {
        KeySummary {
            key_id: key_id.to_owned(),
            platforms: self
                .trust_policy
                .platforms()
                .iter()
                .map(|p| p.as_str().to_owned())
                .collect(),
            rego: self.rego.is_some(),
            disabled: self.disabled,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

/// An entry as the admin API reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeySummary {
    /// The key id.
    pub key_id: String,
    /// The platforms its trust policy accepts.
    pub platforms: Vec<String>,
    /// Whether it has a Rego rule.
    pub rego: bool,
    /// Whether it is disabled.
    pub disabled: bool,
    /// Unix seconds of registration.
    pub created_at: u64,
    /// Unix seconds of the last change.
    pub updated_at: u64,
}

/// The key store, backed by one JSON file.
#[derive(Debug)]
pub struct KeyStore {
    path: PathBuf,
    keys: BTreeMap<String, KeyEntry>,
}

impl KeyStore {
    /// Opens the store at `path`; a missing file is an empty store (written on first change).
    ///
    /// # Errors
    /// `custodian.store.read`, or `custodian.store.corrupt` naming the entry that does not load.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let read_err = |source| StoreError::Read {
            path: path.to_owned(),
            source,
        };
        let bytes = match std::fs::metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Self {
                    path: path.to_owned(),
                    keys: BTreeMap::new(),
                });
            }
            Err(e) => return Err(read_err(e)),
            Ok(meta) if meta.len() > MAX_STORE_LEN => {
                return Err(StoreError::Corrupt {
                    path: path.to_owned(),
                    key_id: None,
                    detail: format!("{} bytes, limit {MAX_STORE_LEN}", meta.len()),
                });
            }
            Ok(_) => std::fs::read(path).map_err(read_err)?,
        };
        let corrupt = |key_id: Option<&str>, detail: String| StoreError::Corrupt {
            path: path.to_owned(),
            key_id: key_id.map(str::to_owned),
            detail,
        };
        let file: StoreFile =
            serde_json::from_slice(&bytes).map_err(|e| corrupt(None, e.to_string()))?;
        if file.version != STORE_VERSION {
            return Err(corrupt(
                None,
                format!("version {}, this build reads {STORE_VERSION}", file.version),
            ));
        }
        let mut keys = BTreeMap::new();
        for (key_id, stored) in file.keys {
            cloister_proto::key_release::validate_key_id(&key_id)
                .map_err(|e| corrupt(Some(&key_id), e.to_string()))?;
            let wrapped_dek = B64
                .decode(&stored.wrapped_dek)
                .map_err(|e| corrupt(Some(&key_id), format!("wrapped_dek: {e}")))?;
            let rego = stored
                .rego
                .as_deref()
                .map(ReleaseRego::compile)
                .transpose()
                .map_err(|e| corrupt(Some(&key_id), e.to_string()))?;
            keys.insert(
                key_id,
                KeyEntry {
                    wrapped_dek,
                    trust_policy: stored.trust_policy,
                    rego,
                    disabled: stored.disabled,
                    created_at: stored.created_at,
                    updated_at: stored.updated_at,
                },
            );
        }
        Ok(Self {
            path: path.to_owned(),
            keys,
        })
    }

    /// The entry of `key_id`.
    pub fn get(&self, key_id: &str) -> Option<&KeyEntry> {
        self.keys.get(key_id)
    }

    /// Every entry, ordered by key id.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &KeyEntry)> {
        self.keys.iter()
    }

    /// Registers `entry` under `key_id`; an existing entry is replaced only when `replace`.
    /// Returns whether an entry was replaced.
    ///
    /// # Errors
    /// `custodian.store.key_exists`, or `custodian.store.write` (then nothing changed).
    pub fn register(
        &mut self,
        key_id: &str,
        entry: KeyEntry,
        replace: bool,
    ) -> Result<bool, StoreError> {
        let existed = self.keys.contains_key(key_id);
        if existed && !replace {
            return Err(StoreError::KeyExists {
                key_id: key_id.to_owned(),
            });
        }
        self.change(|keys| {
            keys.insert(key_id.to_owned(), entry);
            Ok(())
        })?;
        Ok(existed)
    }

    /// Applies `f` to the entry of `key_id` and persists it.
    ///
    /// # Errors
    /// `custodian.store.unknown_key` or `custodian.store.write` (then nothing changed).
    pub fn update(
        &mut self,
        key_id: &str,
        f: impl FnOnce(&mut KeyEntry),
    ) -> Result<KeyEntry, StoreError> {
        self.change(|keys| {
            let entry = keys.get_mut(key_id).ok_or_else(|| StoreError::UnknownKey {
                key_id: key_id.to_owned(),
            })?;
            f(entry);
            Ok(())
        })?;
        self.keys
            .get(key_id)
            .cloned()
            .ok_or_else(|| StoreError::UnknownKey {
                key_id: key_id.to_owned(),
            })
    }

    /// Removes `key_id`'s entry (its wrapped DEK is gone from the next file written).
    ///
    /// # Errors
    /// `custodian.store.unknown_key` or `custodian.store.write`.
    pub fn remove(&mut self, key_id: &str) -> Result<(), StoreError> {
        self.change(|keys| {
            keys.remove(key_id)
                .map(drop)
                .ok_or_else(|| StoreError::UnknownKey {
                    key_id: key_id.to_owned(),
                })
        })
    }

    /// Makes a change on a copy, writes it, then adopts it.
    fn change(
        &mut self,
        f: impl FnOnce(&mut BTreeMap<String, KeyEntry>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut next = self.keys.clone();
        f(&mut next)?;
        self.write(&next)?;
        self.keys = next;
        Ok(())
    }

    fn write(&self, keys: &BTreeMap<String, KeyEntry>) -> Result<(), StoreError> {
        let file = StoreFile {
            version: STORE_VERSION,
            keys: keys
                .iter()
                .map(|(id, e)| {
                    (
                        id.clone(),
                        StoredKey {
                            wrapped_dek: B64.encode(&e.wrapped_dek),
                            trust_policy: e.trust_policy.clone(),
                            rego: e.rego.as_ref().map(|r| r.source().to_owned()),
                            disabled: e.disabled,
                            created_at: e.created_at,
                            updated_at: e.updated_at,
                        },
                    )
                })
                .collect(),
        };
        let write_err = |source| StoreError::Write {
            path: self.path.clone(),
            source,
        };
        let json =
            serde_json::to_vec_pretty(&file).map_err(|e| write_err(std::io::Error::other(e)))?;
        crate::files::replace_private(&self.path, &json).map_err(write_err)
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoreFile {
    version: u16,
    keys: BTreeMap<String, StoredKey>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredKey {
    wrapped_dek: String,
    trust_policy: TrustPolicy,
    #[serde(default)]
    rego: Option<String>,
    #[serde(default)]
    disabled: bool,
    created_at: u64,
    updated_at: u64,
}

/// Why the store could not be read or changed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store file cannot be read.
    #[error("cannot read the key store {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The store file, or one entry in it, does not load.
    #[error("the key store {path} does not load{}: {detail}", key_id.as_ref().map(|k| format!(" (entry {k})")).unwrap_or_default())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The entry at fault, when one is.
        key_id: Option<String>,
        /// What is wrong.
        detail: String,
    },
    /// The store file cannot be written; the change was not made.
    #[error("cannot write the key store {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The key id is registered already.
    #[error("key {key_id} is registered already")]
    KeyExists {
        /// The key id.
        key_id: String,
    },
    /// No such key id.
    #[error("no key {key_id} is registered")]
    UnknownKey {
        /// The key id.
        key_id: String,
    },
}

impl StoreError {
    /// A stable dotted code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Read { .. } => "custodian.store.read",
            Self::Corrupt { .. } => "custodian.store.corrupt",
            Self::Write { .. } => "custodian.store.write",
            Self::KeyExists { .. } => "custodian.key_exists",
            Self::UnknownKey { .. } => "custodian.unknown_key",
        }
    }

    /// What to do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            Self::Read { .. } => "check the key_store path in custodian.json and its permissions",
            Self::Corrupt { .. } => {
                "restore the key store from a backup; the custodian does not start on a store it cannot fully read"
            }
            Self::Write { .. } => "check free space and permissions of the key store's directory",
            Self::KeyExists { .. } => {
                "send \"replace\": true to replace it, or pick another key id"
            }
            Self::UnknownKey { .. } => "register the key first (PUT /v1/admin/keys/{key_id})",
        }
    }
}

#[cfg(test)]
mod tests {
    use cloister_attestation::NitroPolicy;

    use super::*;

    fn entry() -> KeyEntry {
        KeyEntry {
            wrapped_dek: vec![1; crate::kek::WRAPPED_LEN],
            trust_policy: TrustPolicy::new()
                .with_nitro(NitroPolicy::default().with_pcr(0, [4; 48]).expect("pcr"))
                .expect("nitro"),
            rego: Some(
                ReleaseRego::compile("package cloister.release\nallow := true").expect("rego"),
            ),
            disabled: false,
            created_at: 1,
            updated_at: 1,
        }
    }

    #[test]
    fn changes_persist_and_reload() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("keys.json");
        let mut store = KeyStore::open(&path).expect("empty");
        assert!(!store.register("k", entry(), false).expect("register"));
        assert_eq!(
            store.register("k", entry(), false).expect_err("dup").code(),
            "custodian.key_exists"
        );
        assert!(store.register("k", entry(), true).expect("replace"));
        store.update("k", |e| e.disabled = true).expect("disable");
        let back = KeyStore::open(&path).expect("reload");
        let e = back.get("k").expect("entry");
        assert!(e.disabled);
        assert_eq!(e.wrapped_dek, vec![1; crate::kek::WRAPPED_LEN]);
        assert_eq!(e.trust_policy, entry().trust_policy);
        assert!(e.rego.is_some());
        let mut store = back;
        store.remove("k").expect("remove");
        assert!(KeyStore::open(&path).expect("reload").get("k").is_none());
    }

    #[test]
    fn a_bad_store_refuses_to_open() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("keys.json");
        let mut store = KeyStore::open(&path).expect("empty");
        store.register("k", entry(), false).expect("register");
        let good = std::fs::read_to_string(&path).expect("read");
        for bad in [
            "not json".to_owned(),
            good.replace("\"version\": 1", "\"version\": 9"),
            good.replace("package cloister.release", "package other"),
            good.replace("\"nitro\"", "\"warp\""),
        ] {
            std::fs::write(&path, bad).expect("write");
            assert_eq!(
                KeyStore::open(&path).expect_err("corrupt").code(),
                "custodian.store.corrupt"
            );
        }
    }

    #[test]
    fn a_failed_write_changes_nothing() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("missing-dir").join("keys.json");
        let mut store = KeyStore::open(&path).expect("empty");
        assert_eq!(
            store
                .register("k", entry(), false)
                .expect_err("write")
                .code(),
            "custodian.store.write"
        );
        assert!(store.get("k").is_none());
    }
}
