//! `Session`: the unit of work over documents (docs/design.md, Sessions). Change detection is the
//! core's: before saving, the TypeScript layer hands over the current state of every tracked object
//! and the core compares it with the loaded snapshot.

use std::sync::Arc;

use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::client::check_open;
use crate::convert::{index_in, index_out, json_in, json_out};
use crate::errors::{OrThrow, invalid};

type Shared = Arc<tokio::sync::Mutex<interlock::Session>>;

/// Loads, stores and deletes documents, then saves them in one transaction. Values are JSON
/// text.
#[napi]
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
        f(&mut s).or_throw()
    }
}

#[napi]
impl Session {
    /// The value at `key` as JSON text (`null` if absent).
    #[napi]
    pub async fn load(&self, key: String) -> Result<String> {
        check_open(&self.client)?;
        let value = self.inner.lock().await.load_value(&key).await.or_throw()?;
        Ok(value.as_ref().map_or_else(|| "null".to_string(), json_out))
    }

    #[napi]
    pub async fn load_many(&self, keys: Vec<String>) -> Result<Vec<String>> {
        check_open(&self.client)?;
        let values = self.inner.lock().await.load_many(&keys).await.or_throw()?;
        Ok(values
            .iter()
            .map(|v| v.as_ref().map_or_else(|| "null".to_string(), json_out))
            .collect())
    }

    /// Replaces the tracked value of a loaded or stored key (no-op for other keys).
    #[napi]
    pub fn update(&self, key: String, value: String) -> Result<()> {
        let value = json_in(&key, &value)?;
        self.edit(|s| {
            if let Some(current) = s.get_mut(&key) {
                *current = value;
            }
            Ok(())
        })
    }

    #[napi]
    pub fn store(&self, key: String, value: String) -> Result<()> {
        let value = json_in(&key, &value)?;
        self.edit(|s| s.store(&key, value))
    }

    #[napi]
    pub fn delete(&self, key: String) -> Result<()> {
        self.edit(|s| s.delete(&key))
    }

    #[napi]
    pub fn put_compare_exchange(&self, key: String, value: String, index: f64) -> Result<()> {
        let index = index_in(&format!("the index for '{key}'"), index)?;
        let value = json_in(&key, &value)?;
        self.edit(|s| s.put_compare_exchange(&key, value, index))
    }

    #[napi]
    pub fn delete_compare_exchange(&self, key: String, index: f64) -> Result<()> {
        let index = index_in(&format!("the index for '{key}'"), index)?;
        self.edit(|s| s.delete_compare_exchange(&key, index))
    }

    /// The index `key` had when loaded (0: absent), or null if it was not loaded.
    #[napi]
    pub fn loaded_index(&self, key: String) -> Result<Option<f64>> {
        self.edit(|s| Ok(s.loaded_index(&key)))?
            .map(index_out)
            .transpose()
    }

    #[napi]
    pub fn has_changes(&self) -> Result<bool> {
        self.edit(|s| Ok(s.has_changes()))
    }

    /// Writes every change in one transaction; the new index, or null if nothing changed.
    #[napi]
    pub async fn save_changes(&self) -> Result<Option<f64>> {
        check_open(&self.client)?;
        let index = self.inner.lock().await.save_changes().await.or_throw()?;
        index.map(index_out).transpose()
    }
}
