//! `Txn`: checks and writes that commit at one index, or not at all (docs/design.md, Transactions).

use std::future::Future;
use std::sync::Arc;

use interlock::validate;

use crate::convert::{Write, index_in, index_out, optional_index_in};
use crate::errors::invalid;
use crate::{Lock, Result};

/// A transaction builder. Each step is checked when it is made, by the rules the client's own
/// calls use (`interlock::validate`: the key, a written key not reserved, the value's size), so
/// that a bad step is refused at the call that makes it and leaves the transaction as it was;
/// the core would only report it at the commit.
pub struct Txn {
    inner: Arc<tokio::sync::Mutex<interlock::Txn>>,
    /// The store's largest value, in bytes of JSON.
    max_value_bytes: usize,
}

fn index_for(key: &str) -> String {
    format!("the index for '{key}'")
}

impl Txn {
    pub fn new(txn: interlock::Txn, max_value_bytes: usize) -> Self {
        Txn {
            inner: Arc::new(tokio::sync::Mutex::new(txn)),
            max_value_bytes,
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

    pub fn check(&self, key: String, index: f64) -> Result<()> {
        let index = index_in(&index_for(&key), index)?;
        validate::key_shape(&key)?;
        self.edit(|t| {
            t.check(&key, index);
        })
    }

    /// A put; without an index it is `set`: an unconditional write.
    pub fn put(&self, write: Write) -> Result<()> {
        let what = index_for(write.key());
        let (key, value, options) = write.checked(&what)?;
        validate::writable_key(&key)?;
        validate::value(&key, &value, self.max_value_bytes)?;
        self.edit(|t| {
            t.put_with(&key, value, options);
        })
    }

    pub fn delete(&self, key: String, index: Option<f64>) -> Result<()> {
        let index = optional_index_in(&index_for(&key), index)?;
        validate::writable_key(&key)?;
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
    pub fn commit(&self) -> impl Future<Output = Result<f64>> + 'static {
        let txn = self.inner.clone();
        async move { index_out(txn.lock().await.commit().await?) }
    }
}
