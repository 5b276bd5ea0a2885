//! `Lock`: the fair lock with fencing tokens. A wait can be cancelled (an `AbortSignal` in the
//! TypeScript layer): the wait's future is dropped, and the core then removes the waiter entry.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use futures::future::{AbortHandle, Abortable};
use interlock::ErrorKind;
use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;

use crate::convert::{index_out, seconds};
use crate::errors::{OrThrow, Result, internal, invalid, promise};
use crate::lease::js_callback;

/// A fair, non-reentrant lock.
#[wasm_bindgen]
pub struct Lock {
    inner: interlock::Lock,
    /// The pending `acquire`'s cancel handle. One at a time: a second `acquire` while one waits
    /// is refused, and leaves the first cancellable.
    waiting: Rc<RefCell<Option<(u64, AbortHandle)>>>,
    acquires: Cell<u64>,
    client: interlock::Client,
}

impl Lock {
    pub fn new(lock: interlock::Lock, client: interlock::Client) -> Self {
        Lock {
            inner: lock,
            waiting: Rc::new(RefCell::new(None)),
            acquires: Cell::new(0),
            client,
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

    /// Waits for the lock; resolves to the fencing token. `cancel()` ends the wait. A second
    /// `acquire` while one is pending fails at once with `InvalidArgument`.
    pub fn acquire(&self, timeout_secs: Option<f64>) -> Promise {
        let timeout = match timeout_secs.map(|t| seconds("timeout", t)).transpose() {
            Ok(t) => t,
            Err(e) => return Promise::reject(&e),
        };
        if self.waiting.borrow().is_some() {
            return Promise::reject(&invalid(format!(
                "lock '{}' is already being acquired by this lock object; locks are not re-entrant (await the pending acquire, or use another lock object)",
                self.inner.name()
            )));
        }
        let lock = self.inner.clone();
        let client = self.client.clone();
        let waiting = self.waiting.clone();
        let (handle, registration) = AbortHandle::new_pair();
        let id = self.acquires.get();
        self.acquires.set(id + 1);
        *waiting.borrow_mut() = Some((id, handle));
        promise(async move {
            let outcome = Abortable::new(lock.acquire(timeout), registration).await;
            // Empties the slot if it is still this acquire's.
            let mut slot = waiting.borrow_mut();
            if slot.as_ref().is_some_and(|(pending, _)| *pending == id) {
                slot.take();
            }
            drop(slot);
            match outcome {
                Ok(Err(e)) if client.is_closed() && e.kind() != ErrorKind::InvalidArgument => {
                    // The close's revocation may reach the waiter as its entry's deletion first.
                    Err(invalid(format!(
                        "the client of {} was closed while waiting for lock '{}'",
                        client.describe(),
                        lock.name()
                    )))
                }
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
        // The slot is left to the acquire, which empties it once its wait has ended.
        if let Some((_, handle)) = self.waiting.borrow().as_ref() {
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
