//! `Session`: the unit of work over documents (docs/design.md, Sessions). Change detection is the
//! core's: before saving, the TypeScript layer hands over the current state of every tracked object
//! and the core compares it with the loaded snapshot.

use std::rc::Rc;

use js_sys::Promise;
use wasm_bindgen::prelude::*;

use crate::client::check_open;
use crate::convert::{index_in, index_out, json_in, json_out};
use crate::errors::{OrThrow, Result, invalid, promise};

type Shared = Rc<tokio::sync::Mutex<interlock::Session>>;

/// Loads, stores and deletes documents, then saves them in one transaction. Values are JSON
/// text.
#[wasm_bindgen]
pub struct Session {
    inner: Shared,
    client: interlock::Client,
}

impl Session {
    pub fn new(session: interlock::Session, client: interlock::Client) -> Self {
        Session {
            inner: Rc::new(tokio::sync::Mutex::new(session)),
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

fn text(value: Option<&serde_json::Value>) -> String {
    value.map_or_else(|| "null".to_string(), json_out)
}

#[wasm_bindgen]
impl Session {
    /// The value at `key` as JSON text (`null` if absent).
    pub fn load(&self, key: String) -> Promise {
        if let Err(e) = check_open(&self.client) {
            return Promise::reject(&e);
        }
        let inner = self.inner.clone();
        promise(async move {
            let value = inner.lock().await.load_value(&key).await.or_throw()?;
            Ok(text(value.as_ref()))
        })
    }

    #[wasm_bindgen(js_name = loadMany)]
    pub fn load_many(&self, keys: Vec<String>) -> Promise {
        if let Err(e) = check_open(&self.client) {
            return Promise::reject(&e);
        }
        let inner = self.inner.clone();
        promise(async move {
            let values = inner.lock().await.load_many(&keys).await.or_throw()?;
            let texts: Vec<String> = values.iter().map(|v| text(v.as_ref())).collect();
            crate::convert::to_js(&texts)
        })
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

    #[wasm_bindgen(js_name = putCompareExchange)]
    pub fn put_compare_exchange(&self, key: String, value: String, index: f64) -> Result<()> {
        let index = index_in(&format!("the index for '{key}'"), index)?;
        let value = json_in(&key, &value)?;
        self.edit(|s| s.put_compare_exchange(&key, value, index))
    }

    #[wasm_bindgen(js_name = deleteCompareExchange)]
    pub fn delete_compare_exchange(&self, key: String, index: f64) -> Result<()> {
        let index = index_in(&format!("the index for '{key}'"), index)?;
        self.edit(|s| s.delete_compare_exchange(&key, index))
    }

    /// The index `key` had when loaded (0: absent), or null if it was not loaded.
    #[wasm_bindgen(js_name = loadedIndex)]
    pub fn loaded_index(&self, key: String) -> Result<Option<f64>> {
        self.edit(|s| Ok(s.loaded_index(&key)))?
            .map(index_out)
            .transpose()
    }

    #[wasm_bindgen(js_name = hasChanges)]
    pub fn has_changes(&self) -> Result<bool> {
        self.edit(|s| Ok(s.has_changes()))
    }

    /// Writes every change in one transaction; the new index, or null if nothing changed.
    #[wasm_bindgen(js_name = saveChanges)]
    pub fn save_changes(&self) -> Promise {
        if let Err(e) = check_open(&self.client) {
            return Promise::reject(&e);
        }
        let inner = self.inner.clone();
        promise(async move {
            let index = inner.lock().await.save_changes().await.or_throw()?;
            Ok(match index {
                Some(i) => JsValue::from(index_out(i)?),
                None => JsValue::NULL,
            })
        })
    }
}
