//! `Lock`: the fair lock with fencing tokens. A wait can be cancelled (an `AbortSignal` in the
//! TypeScript layer, through `cancel()`): the wait's future is dropped, and the core then removes
//! the waiter entry.

use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;

use crate::errors::{OrThrow, Result, done, nullable, promise, value};
use crate::lease::js_callback;

/// A fair, non-reentrant lock.
#[wasm_bindgen]
pub struct Lock {
    pub(crate) inner: interlock_js::Lock,
}

#[wasm_bindgen]
impl Lock {
    #[wasm_bindgen(getter)]
    pub fn name(&self) -> String {
        self.inner.name()
    }

    /// The fencing token while held.
    #[wasm_bindgen(getter, js_name = fencingToken)]
    pub fn fencing_token(&self) -> Result<Option<f64>> {
        self.inner.fencing_token().or_throw()
    }

    #[wasm_bindgen(js_name = isHeld)]
    pub fn is_held(&self) -> bool {
        self.inner.is_held()
    }

    #[wasm_bindgen(js_name = isLost)]
    pub fn is_lost(&self) -> bool {
        self.inner.is_lost()
    }

    /// Calls `callback` when the lease behind the held lock is lost.
    #[wasm_bindgen(js_name = onLost)]
    pub fn on_lost(&self, callback: Function) {
        self.inner.on_lost(js_callback(callback));
    }

    /// Waits for the lock; resolves to the fencing token. `cancel()` ends the wait. A second
    /// `acquire` while one is pending fails at once with `InvalidArgument`.
    pub fn acquire(&self, timeout_secs: Option<f64>) -> Promise {
        promise(self.inner.acquire(timeout_secs), value)
    }

    /// Cancels a pending `acquire`; its waiter entry is removed.
    pub fn cancel(&self) {
        self.inner.cancel();
    }

    /// Takes the lock only if it is free; the fencing token or null.
    #[wasm_bindgen(js_name = tryAcquire)]
    pub fn try_acquire(&self) -> Promise {
        promise(self.inner.try_acquire(), |token| Ok(nullable(token)))
    }

    pub fn release(&self) -> Promise {
        promise(self.inner.release(), done)
    }
}
