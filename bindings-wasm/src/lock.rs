//! `Lock`: the fair lock with fencing tokens. A wait can be cancelled (an `AbortSignal` in the
//! TypeScript layer): the wait's future is dropped, and the core then removes the waiter entry.

use std::cell::RefCell;
use std::rc::Rc;

use futures::future::{AbortHandle, Abortable};
use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;

use crate::convert::{index_out, seconds};
use crate::errors::{OrThrow, Result, internal, promise};
use crate::lease::js_callback;

/// A fair, non-reentrant lock.
#[wasm_bindgen]
pub struct Lock {
    inner: interlock::Lock,
    waiting: Rc<RefCell<Option<AbortHandle>>>,
}

impl Lock {
    pub fn new(lock: interlock::Lock) -> Self {
        Lock {
            inner: lock,
            waiting: Rc::new(RefCell::new(None)),
        }
    }

    pub fn core(&self) -> &interlock::Lock {
        &self.inner
    }
}

#[wasm_bindgen]
impl Lock {
    #[wasm_bindgen(getter)]
    pub fn name(&self) -> String {
        self.inner.name().to_string()
    }

    /// The fencing token while held.
    #[wasm_bindgen(getter, js_name = fencingToken)]
    pub fn fencing_token(&self) -> Result<Option<f64>> {
        self.inner.fencing_token().map(index_out).transpose()
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

    /// Waits for the lock; resolves to the fencing token. `cancel()` ends the wait.
    pub fn acquire(&self, timeout_secs: Option<f64>) -> Promise {
        let lock = self.inner.clone();
        let waiting = self.waiting.clone();
        let (handle, registration) = AbortHandle::new_pair();
        *waiting.borrow_mut() = Some(handle);
        promise(async move {
            let timeout = timeout_secs.map(|t| seconds("timeout", t)).transpose()?;
            let outcome = Abortable::new(lock.acquire(timeout), registration).await;
            waiting.borrow_mut().take();
            match outcome {
                Ok(token) => index_out(token.or_throw()?),
                Err(_) => Err(internal(format!(
                    "waiting for lock '{}' was cancelled",
                    lock.name()
                ))),
            }
        })
    }

    /// Cancels a pending `acquire`; its waiter entry is removed.
    pub fn cancel(&self) {
        if let Some(handle) = self.waiting.borrow_mut().take() {
            handle.abort();
        }
    }

    /// Takes the lock only if it is free; the fencing token or null.
    #[wasm_bindgen(js_name = tryAcquire)]
    pub fn try_acquire(&self) -> Promise {
        let lock = self.inner.clone();
        promise(async move {
            Ok(match lock.try_acquire().await.or_throw()? {
                Some(token) => JsValue::from(index_out(token)?),
                None => JsValue::NULL,
            })
        })
    }

    pub fn release(&self) -> Promise {
        let lock = self.inner.clone();
        promise(async move {
            lock.release().await.or_throw()?;
            Ok(JsValue::UNDEFINED)
        })
    }
}
