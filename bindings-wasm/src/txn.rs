//! `Txn`: checks and writes that commit at one index, or not at all (docs/design.md, Transactions).

use std::rc::Rc;

use interlock::PutOptions;
use js_sys::Promise;
use wasm_bindgen::prelude::*;

use crate::convert::{index_in, index_out, json_in, lease_in};
use crate::errors::{OrThrow, Result, invalid, promise};
use crate::lock::Lock;

/// A transaction builder.
#[wasm_bindgen]
pub struct Txn {
    inner: Rc<tokio::sync::Mutex<interlock::Txn>>,
}

impl Txn {
    pub fn new(txn: interlock::Txn) -> Self {
        Txn {
            inner: Rc::new(tokio::sync::Mutex::new(txn)),
        }
    }

    fn edit(&self, f: impl FnOnce(&mut interlock::Txn)) -> Result<()> {
        let mut txn = self
            .inner
            .try_lock()
            .map_err(|_| invalid("the transaction is being committed"))?;
        f(&mut txn);
        Ok(())
    }
}

#[wasm_bindgen]
impl Txn {
    pub fn check(&self, key: String, index: f64) -> Result<()> {
        let index = index_in(&format!("the index for '{key}'"), index)?;
        self.edit(|t| {
            t.check(&key, index);
        })
    }

    /// `value` is JSON text.
    pub fn put(
        &self,
        key: String,
        value: String,
        index: Option<f64>,
        lease: Option<String>,
    ) -> Result<()> {
        let index = index
            .map(|i| index_in(&format!("the index for '{key}'"), i))
            .transpose()?;
        let lease = lease_in(lease)?;
        let value = json_in(&key, &value)?;
        self.edit(|t| {
            t.put_with(&key, value, PutOptions { index, lease });
        })
    }

    pub fn delete(&self, key: String, index: Option<f64>) -> Result<()> {
        let index = index
            .map(|i| index_in(&format!("the index for '{key}'"), i))
            .transpose()?;
        self.edit(|t| {
            match index {
                Some(i) => t.delete_at(&key, i),
                None => t.delete(&key),
            };
        })
    }

    pub fn require(&self, lock: &Lock) -> Result<()> {
        self.edit(|t| {
            t.require(lock.core());
        })
    }

    /// Commits; resolves to the new index.
    pub fn commit(&self) -> Promise {
        let txn = self.inner.clone();
        promise(async move {
            let index = txn.lock().await.commit().await.or_throw()?;
            index_out(index)
        })
    }
}
