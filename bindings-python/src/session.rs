//! `Session`: the unit of work over documents (docs/design.md, Sessions). Change detection is the
//! core's: before saving, the Python layer hands over the current state of every tracked object and
//! the core compares it with the loaded snapshot.

use std::sync::Arc;

use pyo3::prelude::*;

use crate::convert::to_json;
use crate::errors;

type Shared = Arc<tokio::sync::Mutex<interlock::Session>>;

/// Loads, stores and deletes documents, then saves them in one transaction.
#[pyclass(frozen, module = "interlock._native")]
pub struct Session {
    inner: Shared,
}

impl Session {
    pub fn new(session: interlock::Session) -> Self {
        Session {
            inner: Arc::new(tokio::sync::Mutex::new(session)),
        }
    }

    fn handle(&self) -> PyResult<Shared> {
        Ok(self.inner.clone())
    }

    fn edit<T>(
        &self,
        f: impl FnOnce(&mut interlock::Session) -> interlock::Result<T>,
    ) -> PyResult<T> {
        let mut s = self
            .inner
            .try_lock()
            .map_err(|_| errors::invalid("the session is busy loading or saving"))?;
        f(&mut s).map_err(|e| Python::attach(|py| errors::to_py(py, e)))
    }
}

operations! { Session {
    /// Replaces the tracked value of a loaded or stored key (no-op for other keys).
    fn update(&self, key: &str, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let value = to_json(key, value)?;
        self.edit(|s| {
            if let Some(current) = s.get_mut(key) {
                *current = value;
            }
            Ok(())
        })
    }

    /// Stores a new or replacing value.
    fn store(&self, key: &str, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let value = to_json(key, value)?;
        self.edit(|s| s.store(key, value))
    }

    /// Deletes `key` at save time.
    fn delete(&self, key: &str) -> PyResult<()> {
        self.edit(|s| s.delete(key))
    }

    /// Stages a compare-exchange put.
    fn put_compare_exchange(&self, key: &str, value: &Bound<'_, PyAny>, index: u64) -> PyResult<()> {
        let value = to_json(key, value)?;
        self.edit(|s| s.put_compare_exchange(key, value, index))
    }

    /// Stages a compare-exchange delete.
    fn delete_compare_exchange(&self, key: &str, index: u64) -> PyResult<()> {
        self.edit(|s| s.delete_compare_exchange(key, index))
    }

    /// The index `key` had when loaded (0: absent), or None if it was not loaded.
    fn loaded_index(&self, key: &str) -> PyResult<Option<u64>> {
        self.edit(|s| Ok(s.loaded_index(key)))
    }

    /// Whether `save_changes` would write (after `update` of the tracked objects).
    fn has_changes(&self) -> PyResult<bool> {
        self.edit(|s| Ok(s.has_changes()))
    }
}
    fn load / load_async (key: String) {} => |s| s.lock().await.load_value(&key).await;

    fn load_many / load_many_async (keys: Vec<String>) {} => |s| s.lock().await.load_many(&keys).await;

    fn save_changes / save_changes_async () {} => |s| s.lock().await.save_changes().await;
}
