//! `Session`: the unit of work over documents (docs/design.md, Sessions). Change detection is the
//! core's: before saving, the TypeScript layer hands over the current state of every tracked object
//! and the core compares it with the loaded snapshot.

use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::errors::OrThrow;

/// Loads, stores and deletes documents, then saves them in one transaction. Values are JSON
/// text.
#[napi]
pub struct Session {
    pub(crate) inner: interlock_js::Session,
}

#[napi]
impl Session {
    /// The value at `key` as JSON text (`null` if absent).
    #[napi]
    pub async fn load(&self, key: String) -> Result<String> {
        self.inner.load(key).await.or_throw()
    }

    #[napi]
    pub async fn load_many(&self, keys: Vec<String>) -> Result<Vec<String>> {
        self.inner.load_many(keys).await.or_throw()
    }

    /// Replaces the tracked value of a loaded or stored key (no-op for other keys).
    #[napi]
    pub fn update(&self, key: String, value: String) -> Result<()> {
        self.inner.update(key, value).or_throw()
    }

    #[napi]
    pub fn store(&self, key: String, value: String) -> Result<()> {
        self.inner.store(key, value).or_throw()
    }

    #[napi]
    pub fn delete(&self, key: String) -> Result<()> {
        self.inner.delete(key).or_throw()
    }

    #[napi]
    pub fn put_compare_exchange(&self, key: String, value: String, index: f64) -> Result<()> {
        self.inner
            .put_compare_exchange(key, value, index)
            .or_throw()
    }

    #[napi]
    pub fn delete_compare_exchange(&self, key: String, index: f64) -> Result<()> {
        self.inner.delete_compare_exchange(key, index).or_throw()
    }

    /// The index `key` had when loaded (0: absent), or null if it was not loaded.
    #[napi]
    pub fn loaded_index(&self, key: String) -> Result<Option<f64>> {
        self.inner.loaded_index(key).or_throw()
    }

    #[napi]
    pub fn has_changes(&self) -> Result<bool> {
        self.inner.has_changes().or_throw()
    }

    /// Writes every change in one transaction; the new index, or null if nothing changed.
    #[napi]
    pub async fn save_changes(&self) -> Result<Option<f64>> {
        self.inner.save_changes().await.or_throw()
    }
}
