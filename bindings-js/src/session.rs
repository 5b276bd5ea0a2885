//! `Session`: the unit of work over documents (docs/design.md, Sessions). Change detection is the
//! core's: before saving, the TypeScript layer hands over the current state of every tracked object
//! and the core compares it with the loaded snapshot.

use std::future::Future;
use std::sync::Arc;

use crate::Result;
use crate::convert::{index_in, json_in, json_or_null, optional_index_out};
use crate::errors::{check_open, invalid};

type Shared = Arc<tokio::sync::Mutex<interlock::Session>>;

/// Loads, stores and deletes documents, then saves them in one transaction. Values are JSON
/// text.
pub struct Session {
    inner: Shared,
    client: interlock::Client,
}

impl Session {
    pub fn new(session: interlock::Session, client: interlock::Client) -> Self {
        Session {
            inner: Arc::new(tokio::sync::Mutex::new(session)),
            client,
        }
    }

    fn edit<T>(
        &self,
        f: impl FnOnce(&mut interlock::Session) -> interlock::Result<T>,
    ) -> Result<T> {
        let mut s = self
            .inner
            .try_lock()
            .map_err(|_| invalid("the session is busy loading or saving"))?;
        f(&mut s)
    }

    /// The session, or `InvalidArgument` once its client is closed.
    fn open(&self) -> Result<Shared> {
        check_open(&self.client)?;
        Ok(self.inner.clone())
    }

    /// The value at `key` as JSON text (`null` if absent).
    pub fn load(&self, key: String) -> impl Future<Output = Result<String>> + 'static {
        let inner = self.open();
        async move {
            let value = inner?.lock().await.load_value(&key).await?;
            Ok(json_or_null(value.as_ref()))
        }
    }

    pub fn load_many(
        &self,
        keys: Vec<String>,
    ) -> impl Future<Output = Result<Vec<String>>> + 'static {
        let inner = self.open();
        async move {
            let values = inner?.lock().await.load_many(&keys).await?;
            Ok(values.iter().map(|v| json_or_null(v.as_ref())).collect())
        }
    }

    /// Replaces the tracked value of a loaded or stored key (no-op for other keys).
    pub fn update(&self, key: String, value: String) -> Result<()> {
        let value = json_in(&key, &value)?;
        self.edit(|s| {
            if let Some(current) = s.get_mut(&key) {
                *current = value;
            }
            Ok(())
        })
    }

    pub fn store(&self, key: String, value: String) -> Result<()> {
        let value = json_in(&key, &value)?;
        self.edit(|s| s.store(&key, value))
    }

    pub fn delete(&self, key: String) -> Result<()> {
        self.edit(|s| s.delete(&key))
    }

    pub fn put_compare_exchange(&self, key: String, value: String, index: f64) -> Result<()> {
        let index = index_in(&format!("the index for '{key}'"), index)?;
        let value = json_in(&key, &value)?;
        self.edit(|s| s.put_compare_exchange(&key, value, index))
    }

    pub fn delete_compare_exchange(&self, key: String, index: f64) -> Result<()> {
        let index = index_in(&format!("the index for '{key}'"), index)?;
        self.edit(|s| s.delete_compare_exchange(&key, index))
    }

    /// The index `key` had when loaded (0: absent), or none if it was not loaded.
    pub fn loaded_index(&self, key: String) -> Result<Option<f64>> {
        optional_index_out(self.edit(|s| Ok(s.loaded_index(&key)))?)
    }

    pub fn has_changes(&self) -> Result<bool> {
        self.edit(|s| Ok(s.has_changes()))
    }

    /// Writes every change in one transaction; the new index, or none if nothing changed.
    pub fn save_changes(&self) -> impl Future<Output = Result<Option<f64>>> + 'static {
        let inner = self.open();
        async move { optional_index_out(inner?.lock().await.save_changes().await?) }
    }
}
