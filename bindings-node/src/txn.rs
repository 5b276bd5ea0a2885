//! `Txn`: checks and writes that commit at one index, or not at all (docs/design.md, Transactions).

use napi::bindgen_prelude::*;
use napi_derive::napi;

use interlock_js::Write;

use crate::errors::OrThrow;
use crate::lock::Lock;

/// A transaction builder.
#[napi]
pub struct Txn {
    pub(crate) inner: interlock_js::Txn,
}

#[napi]
impl Txn {
    #[napi]
    pub fn check(&self, key: String, index: f64) -> Result<()> {
        self.inner.check(key, index).or_throw()
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
        let write = Write::new(key, value, index, lease);
        self.inner.put(write).or_throw()
    }

    #[napi]
    pub fn delete(&self, key: String, index: Option<f64>) -> Result<()> {
        self.inner.delete(key, index).or_throw()
    }

    #[napi]
    pub fn require(&self, lock: &Lock) -> Result<()> {
        self.inner.require(&lock.inner).or_throw()
    }

    /// Commits; resolves to the new index.
    #[napi]
    pub async fn commit(&self) -> Result<f64> {
        self.inner.commit().await.or_throw()
    }
}
