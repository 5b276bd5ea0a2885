//! `Lock`: the fair lock with fencing tokens. A wait can be cancelled (an `AbortSignal` in the
//! TypeScript layer, through `cancel()`); the core then removes the waiter entry.

use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::errors::OrThrow;
use crate::lease::js_callback;

/// A fair, non-reentrant lock.
#[napi]
pub struct Lock {
    pub(crate) inner: interlock_js::Lock,
}

#[napi]
impl Lock {
    #[napi(getter)]
    pub fn name(&self) -> String {
        self.inner.name()
    }

    /// The fencing token while held.
    #[napi(getter)]
    pub fn fencing_token(&self) -> Result<Option<f64>> {
        self.inner.fencing_token().or_throw()
    }

    #[napi]
    pub fn is_held(&self) -> bool {
        self.inner.is_held()
    }

    #[napi]
    pub fn is_lost(&self) -> bool {
        self.inner.is_lost()
    }

    /// Calls `callback` when the lease behind the held lock is lost.
    #[napi]
    pub fn on_lost(&self, callback: Function<(), ()>) -> Result<()> {
        self.inner.on_lost(js_callback(callback)?);
        Ok(())
    }

    /// Waits for the lock; resolves to the fencing token. `cancel()` ends the wait. A second
    /// `acquire` while one is pending (or while the lock is held) fails at once with
    /// `InvalidArgument`; the pending one stays cancellable.
    #[napi]
    pub async fn acquire(&self, timeout_secs: Option<f64>) -> Result<f64> {
        self.inner.acquire(timeout_secs).await.or_throw()
    }

    /// Cancels a pending `acquire`; its waiter entry is removed.
    #[napi]
    pub fn cancel(&self) {
        self.inner.cancel();
    }

    /// Takes the lock only if it is free; the fencing token or null.
    #[napi]
    pub async fn try_acquire(&self) -> Result<Option<f64>> {
        self.inner.try_acquire().await.or_throw()
    }

    #[napi]
    pub async fn release(&self) -> Result<()> {
        self.inner.release().await.or_throw()
    }
}
