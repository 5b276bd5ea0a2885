//! Documents with optimistic concurrency (docs/design.md, Sessions): a RavenDB-style unit of work.
//! Loaded values are tracked and compared with their snapshot at `save_changes`; every write
//! commits in one transaction, checked at the loaded index unless optimistic concurrency is turned
//! off.
//!
//! RavenDB needs "atomic guards" because its documents replicate by gossip; here every commit is
//! one linearizable transaction, so the checks below are all a session needs.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::state::ClientState;
use crate::txn::Txn;
use crate::validate;

/// Options of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionOptions {
    /// Check every written key at its loaded index, and that stored never-loaded keys are
    /// absent (the default). `false`: last write wins.
    pub optimistic: bool,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions { optimistic: true }
    }
}

struct Tracked {
    /// The index the key had when loaded (`0`: absent); `None` if stored without loading.
    loaded: Option<u64>,
    snapshot: Option<Value>,
    current: Option<Value>,
}

impl Tracked {
    /// Stored or deleted without loading: always written. Loaded: written if it differs from
    /// the snapshot.
    fn is_changed(&self) -> bool {
        self.loaded.is_none() || self.current != self.snapshot
    }
}

/// A staged compare-exchange op: commits in the same transaction as the documents.
struct Exchange {
    key: String,
    value: Option<Value>,
    index: u64,
}

/// A unit of work over one client.
pub struct Session {
    client: Arc<ClientState>,
    options: SessionOptions,
    docs: BTreeMap<String, Tracked>,
    exchanges: Vec<Exchange>,
}

impl Session {
    pub(crate) fn new(client: Arc<ClientState>, options: SessionOptions) -> Self {
        Session {
            client,
            options,
            docs: BTreeMap::new(),
            exchanges: Vec::new(),
        }
    }

    pub fn options(&self) -> SessionOptions {
        self.options
    }

    /// Loads and tracks `key`; a key loaded before returns its tracked value.
    pub async fn load_value(&mut self, key: &str) -> Result<Option<Value>> {
        if let Some(t) = self.docs.get(key) {
            return Ok(t.current.clone());
        }
        validate::key_shape(key)?;
        let entry = self.client.get(key).await?;
        let (index, value) = entry.map_or((0, None), |e| (e.index, Some(e.value)));
        self.docs.insert(
            key.to_string(),
            Tracked {
                loaded: Some(index),
                snapshot: value.clone(),
                current: value.clone(),
            },
        );
        Ok(value)
    }

    /// Loads and tracks several keys from one snapshot.
    pub async fn load_many<S: AsRef<str>>(&mut self, keys: &[S]) -> Result<Vec<Option<Value>>> {
        let missing: Vec<&str> = keys
            .iter()
            .map(AsRef::as_ref)
            .filter(|k| !self.docs.contains_key(*k))
            .collect();
        if !missing.is_empty() {
            let entries = self.client.get_many(&missing).await?;
            for key in missing {
                let found = entries.iter().find(|e| e.key == key);
                self.docs.insert(
                    key.to_string(),
                    Tracked {
                        loaded: Some(found.map_or(0, |e| e.index)),
                        snapshot: found.map(|e| e.value.clone()),
                        current: found.map(|e| e.value.clone()),
                    },
                );
            }
        }
        Ok(keys
            .iter()
            .map(|k| self.docs.get(k.as_ref()).and_then(|t| t.current.clone()))
            .collect())
    }

    /// Loads `key` as a `T`. Change it and [`Session::store`] it back to save.
    pub async fn load<T: DeserializeOwned>(&mut self, key: &str) -> Result<Option<T>> {
        match self.load_value(key).await? {
            None => Ok(None),
            Some(v) => serde_json::from_value(v).map(Some).map_err(|e| {
                Error::invalid(format!(
                    "value of '{key}' does not have the requested shape: {e}"
                ))
            }),
        }
    }

    /// The tracked value of a loaded key, to change in place; changes are saved by
    /// [`Session::save_changes`].
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.docs.get_mut(key).and_then(|t| t.current.as_mut())
    }

    /// The index `key` had when loaded (`0`: absent), if it was loaded.
    pub fn loaded_index(&self, key: &str) -> Option<u64> {
        self.docs.get(key).and_then(|t| t.loaded)
    }

    /// Stores a new or replaced value. A key never loaded must be absent at save time (with
    /// optimistic concurrency on).
    pub fn store(&mut self, key: &str, value: impl Serialize) -> Result<()> {
        validate::writable_key(key)?;
        let value = serde_json::to_value(value)?;
        validate::value(key, &value, self.client.backend().limits().max_value_bytes)?;
        match self.docs.get_mut(key) {
            Some(t) => t.current = Some(value),
            None => {
                self.docs.insert(
                    key.to_string(),
                    Tracked {
                        loaded: None,
                        snapshot: None,
                        current: Some(value),
                    },
                );
            }
        }
        Ok(())
    }

    /// Deletes a key at save time (checked at its loaded index if it was loaded).
    pub fn delete(&mut self, key: &str) -> Result<()> {
        validate::writable_key(key)?;
        match self.docs.get_mut(key) {
            Some(t) => t.current = None,
            None => {
                self.docs.insert(
                    key.to_string(),
                    Tracked {
                        loaded: None,
                        snapshot: None,
                        current: None,
                    },
                );
            }
        }
        Ok(())
    }

    /// Stages a compare-exchange put (`index = 0`: create only if absent).
    pub fn put_compare_exchange(
        &mut self,
        key: &str,
        value: impl Serialize,
        index: u64,
    ) -> Result<()> {
        validate::writable_key(key)?;
        let value = serde_json::to_value(value)?;
        validate::value(key, &value, self.client.backend().limits().max_value_bytes)?;
        self.exchanges.push(Exchange {
            key: key.to_string(),
            value: Some(value),
            index,
        });
        Ok(())
    }

    /// Stages a compare-exchange delete.
    pub fn delete_compare_exchange(&mut self, key: &str, index: u64) -> Result<()> {
        validate::writable_key(key)?;
        self.exchanges.push(Exchange {
            key: key.to_string(),
            value: None,
            index,
        });
        Ok(())
    }

    /// True if `save_changes` would write something.
    pub fn has_changes(&self) -> bool {
        !self.exchanges.is_empty() || self.docs.values().any(Tracked::is_changed)
    }

    /// Commits every change in one transaction. Returns the new index (`None` when there was
    /// nothing to save). On a conflict nothing is written, the error lists every conflicting
    /// key, and the session keeps its state.
    pub async fn save_changes(&mut self) -> Result<Option<u64>> {
        let mut txn = Txn::new(self.client.clone());
        let mut written = Vec::new();
        for (key, t) in &self.docs {
            if !t.is_changed() {
                continue;
            }
            let expect = match t.loaded {
                Some(index) => Some(index),
                None if t.current.is_some() => Some(0),
                None => None,
            };
            let index = if self.options.optimistic {
                expect
            } else {
                None
            };
            match (&t.current, index) {
                (Some(v), Some(i)) => txn.put(key, v.clone(), i),
                (Some(v), None) => txn.set(key, v.clone()),
                (None, Some(i)) if i > 0 => txn.delete_at(key, i),
                (None, _) => txn.delete(key),
            };
            written.push(key.clone());
        }
        for x in &self.exchanges {
            match &x.value {
                Some(v) => txn.put(&x.key, v.clone(), x.index),
                None => txn.delete_at(&x.key, x.index),
            };
        }
        if txn.is_empty() {
            return Ok(None);
        }
        let index = txn.commit().await?;
        for key in written {
            if let Some(t) = self.docs.get_mut(&key) {
                t.snapshot = t.current.clone();
                t.loaded = Some(if t.current.is_some() { index } else { 0 });
            }
        }
        self.exchanges.clear();
        Ok(Some(index))
    }
}
