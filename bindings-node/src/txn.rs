//! `Txn`: checks and writes that commit at one index, or not at all (docs/design.md, Transactions).

use std::sync::Arc;

use interlock::PutOptions;

use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::convert::{index_in, index_out, json_in, lease_in};
use crate::errors::{OrThrow, invalid};
use crate::lock::Lock;

/// A transaction builder.
#[napi]
pub struct Txn {
    inner: Arc<tokio::sync::Mutex<interlock::Txn>>,
}

impl Txn {
    pub fn new(txn: interlock::Txn) -> Self {
        Txn {
            inner: Arc::new(tokio::sync::Mutex::new(txn)),
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

#[napi]
impl Txn {
    #[napi]
    pub fn check(&self, key: String, index: f64) -> Result<()> {
        let index = index_in(&format!("the index for '{key}'"), index)?;
        self.edit(|t| {
            t.check(&key, index);
        })
    }

    /// `value` is JSON text.
    #[napi]
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

    #[napi]
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

    #[napi]
    pub fn require(&self, lock: &Lock) -> Result<()> {
        self.edit(|t| {
            t.require(lock.core());
        })
    }

    /// Commits; resolves to the new index.
    #[napi]
    pub async fn commit(&self) -> Result<f64> {
        let txn = self.inner.clone();
        let index = txn.lock().await.commit().await.or_throw()?;
        index_out(index)
    }
}
