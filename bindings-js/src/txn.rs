//! `Txn`: checks and writes that commit at one index, or not at all (docs/design.md, Transactions).

use std::future::Future;
use std::sync::Arc;

use crate::convert::{Write, index_in, index_out, optional_index_in};
use crate::errors::invalid;
use crate::{Lock, Result};

/// A transaction builder.
pub struct Txn {
    inner: Arc<tokio::sync::Mutex<interlock::Txn>>,
}

fn index_for(key: &str) -> String {
    format!("the index for '{key}'")
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
        // A bad step is reported at its call (and left out), not at the commit.
        txn.take_error().map_or(Ok(()), Err)
    }

    pub fn check(&self, key: String, index: f64) -> Result<()> {
        let index = index_in(&index_for(&key), index)?;
        self.edit(|t| {
            t.check(&key, index);
        })
    }

    /// A put; without an index it is `set`: an unconditional write.
    pub fn put(&self, write: Write) -> Result<()> {
        let what = index_for(write.key());
        let (key, value, options) = write.checked(&what)?;
        self.edit(|t| {
            t.put_with(&key, value, options);
        })
    }

    pub fn delete(&self, key: String, index: Option<f64>) -> Result<()> {
        let index = optional_index_in(&index_for(&key), index)?;
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
