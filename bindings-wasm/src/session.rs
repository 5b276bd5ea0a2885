//! `Session`: the unit of work over documents (docs/design.md, Sessions). Change detection is the
//! core's: before saving, the TypeScript layer hands over the current state of every tracked object
//! and the core compares it with the loaded snapshot.

use js_sys::Promise;
use wasm_bindgen::prelude::*;

use crate::errors::{OrThrow, Result, nullable, promise, record, value};

/// Loads, stores and deletes documents, then saves them in one transaction. Values are JSON
/// text.
#[wasm_bindgen]
pub struct Session {
    pub(crate) inner: interlock_js::Session,
}

#[wasm_bindgen]
impl Session {
    /// The value at `key` as JSON text (`null` if absent).
    pub fn load(&self, key: String) -> Promise {
        promise(self.inner.load(key), value)
    }

    #[wasm_bindgen(js_name = loadMany)]
    pub fn load_many(&self, keys: Vec<String>) -> Promise {
        promise(self.inner.load_many(keys), |texts| record(&texts))
    }

    /// Replaces the tracked value of a loaded or stored key (no-op for other keys).
    pub fn update(&self, key: String, value: String) -> Result<()> {
        self.inner.update(key, value).or_throw()
    }

    pub fn store(&self, key: String, value: String) -> Result<()> {
        self.inner.store(key, value).or_throw()
    }

    pub fn delete(&self, key: String) -> Result<()> {
        self.inner.delete(key).or_throw()
    }

    #[wasm_bindgen(js_name = putCompareExchange)]
    pub fn put_compare_exchange(&self, key: String, value: String, index: f64) -> Result<()> {
        self.inner
            .put_compare_exchange(key, value, index)
            .or_throw()
    }

    #[wasm_bindgen(js_name = deleteCompareExchange)]
    pub fn delete_compare_exchange(&self, key: String, index: f64) -> Result<()> {
        self.inner.delete_compare_exchange(key, index).or_throw()
    }

    /// The index `key` had when loaded (0: absent), or null if it was not loaded.
    #[wasm_bindgen(js_name = loadedIndex)]
    pub fn loaded_index(&self, key: String) -> Result<Option<f64>> {
        self.inner.loaded_index(key).or_throw()
    }

    #[wasm_bindgen(js_name = hasChanges)]
    pub fn has_changes(&self) -> Result<bool> {
        self.inner.has_changes().or_throw()
    }

    /// Writes every change in one transaction; the new index, or null if nothing changed.
    #[wasm_bindgen(js_name = saveChanges)]
    pub fn save_changes(&self) -> Promise {
        promise(self.inner.save_changes(), |index| Ok(nullable(index)))
    }
}
