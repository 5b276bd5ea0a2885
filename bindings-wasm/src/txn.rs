//! `Txn`: checks and writes that commit at one index, or not at all (docs/design.md, Transactions).

use js_sys::Promise;
use wasm_bindgen::prelude::*;

use interlock_js::Write;

use crate::errors::{Index, LeaseId, OrThrow, Result, promise, value};
use crate::lock::Lock;

/// A transaction builder.
#[wasm_bindgen]
pub struct Txn {
    pub(crate) inner: interlock_js::Txn,
}

#[wasm_bindgen]
impl Txn {
    pub fn check(&self, key: String, index: f64) -> Result<()> {
        self.inner.check(key, index).or_throw()
    }

    /// `value` is JSON text.
    pub fn put(&self, key: String, value: String, index: Index, lease: LeaseId) -> Result<()> {
        let write = Write::new(key, value, index, lease);
        self.inner.put(write).or_throw()
    }

    pub fn delete(&self, key: String, index: Option<f64>) -> Result<()> {
        self.inner.delete(key, index).or_throw()
    }

    pub fn require(&self, lock: &Lock) -> Result<()> {
        self.inner.require(&lock.inner).or_throw()
    }

    /// Commits; resolves to the new index.
    pub fn commit(&self) -> Promise {
        promise(self.inner.commit(), value)
    }
}
