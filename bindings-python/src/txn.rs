//! `Txn`: an atomic transaction under construction (docs/design.md, Transactions).

use std::sync::Arc;

use interlock::PutOptions;
use pyo3::prelude::*;

use crate::convert::to_json;
use crate::errors;
use crate::lock::Lock;

/// Checks and ops that commit together at one new index, or not at all.
#[pyclass(frozen, module = "interlock._native")]
pub struct Txn {
    inner: Arc<tokio::sync::Mutex<interlock::Txn>>,
}

impl Txn {
    pub fn new(txn: interlock::Txn) -> Self {
        Txn {
            inner: Arc::new(tokio::sync::Mutex::new(txn)),
        }
    }

    fn handle(&self) -> PyResult<Arc<tokio::sync::Mutex<interlock::Txn>>> {
        Ok(self.inner.clone())
    }

    fn edit(&self, f: impl FnOnce(&mut interlock::Txn)) -> PyResult<()> {
        let mut txn = self
            .inner
            .try_lock()
            .map_err(|_| errors::invalid("the transaction is being committed"))?;
        f(&mut txn);
        // A bad step is reported at its call (and left out), not at the commit.
        match txn.take_error() {
            Some(e) => Err(Python::attach(|py| errors::to_py(py, e))),
            None => Ok(()),
        }
    }
}

operations! { Txn {
    /// Requires `key` to be at `index` (0: absent).
    fn check(&self, key: &str, index: u64) -> PyResult<()> {
        self.edit(|t| {
            t.check(key, index);
        })
    }

    /// Writes `key`; with `index`, only if the entry is at that index.
    #[pyo3(signature = (key, value, index=None, lease=None))]
    fn put(
        &self,
        key: &str,
        value: &Bound<'_, PyAny>,
        index: Option<u64>,
        lease: Option<i64>,
    ) -> PyResult<()> {
        let value = to_json(key, value)?;
        self.edit(|t| {
            t.put_with(key, value, PutOptions { index, lease });
        })
    }

    /// Deletes `key`; with `index`, only if the entry is at that index.
    #[pyo3(signature = (key, index=None))]
    fn delete(&self, key: &str, index: Option<u64>) -> PyResult<()> {
        self.edit(|t| {
            match index {
                Some(i) => t.delete_at(key, i),
                None => t.delete(key),
            };
        })
    }

    /// Makes the commit conditional on `lock` still being held.
    fn require(&self, lock: &Lock) -> PyResult<()> {
        self.edit(|t| {
            t.require(lock.core());
        })
    }

    fn __len__(&self) -> PyResult<usize> {
        let txn = self
            .inner
            .try_lock()
            .map_err(|_| errors::invalid("the transaction is being committed"))?;
        Ok(txn.len())
    }
}
    fn commit / commit_async () {} => |t| t.lock().await.commit().await;
}
