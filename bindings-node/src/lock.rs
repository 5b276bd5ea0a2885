//! `Lock`: the fair lock with fencing tokens. A wait runs as a task of its own so that an
//! `AbortSignal` can cancel it; the core then removes the waiter entry.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use interlock::ErrorKind;
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::convert::{index_out, seconds};
use crate::errors::{OrThrow, internal, invalid};
use crate::lease::js_callback;

/// A fair, non-reentrant lock.
#[napi]
pub struct Lock {
    inner: interlock::Lock,
    /// The pending `acquire`: its number and the handle that cancels it. One at a time: a
    /// second `acquire` while one waits is refused, and leaves the first cancellable.
    waiting: Mutex<Option<(u64, tokio::task::AbortHandle)>>,
    acquires: AtomicU64,
    client: interlock::Client,
}

impl Lock {
    pub fn new(lock: interlock::Lock, client: interlock::Client) -> Self {
        Lock {
            inner: lock,
            waiting: Mutex::new(None),
            acquires: AtomicU64::new(0),
            client,
        }
    }

    pub fn core(&self) -> &interlock::Lock {
        &self.inner
    }
}

#[napi]
impl Lock {
    #[napi(getter)]
    pub fn name(&self) -> String {
        self.inner.name().to_string()
    }

    /// The fencing token while held.
    #[napi(getter)]
    pub fn fencing_token(&self) -> Result<Option<f64>> {
        self.inner.fencing_token().map(index_out).transpose()
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
        let timeout = timeout_secs.map(|t| seconds("timeout", t)).transpose()?;
        let lock = self.inner.clone();
        let id = self.acquires.fetch_add(1, Ordering::SeqCst);
        let task = {
            let mut waiting = self
                .waiting
                .lock()
                .map_err(|_| internal("the lock's state was poisoned"))?;
            if waiting.is_some() {
                return Err(invalid(format!(
                    "lock '{}' is already being acquired by this lock object; locks are not re-entrant (await the pending acquire, or use another lock object)",
                    self.inner.name()
                )));
            }
            let task = tokio::spawn(async move { lock.acquire(timeout).await });
            *waiting = Some((id, task.abort_handle()));
            task
        };
        let outcome = task.await;
        if let Ok(mut waiting) = self.waiting.lock() {
            if matches!(&*waiting, Some((pending, _)) if *pending == id) {
                waiting.take();
            }
        }
        match outcome {
            Ok(Err(e)) if self.client.is_closed() && e.kind() != ErrorKind::InvalidArgument => {
                // The close's revocation may reach the waiter as its entry's deletion first.
                Err(invalid(format!(
                    "the client of {} was closed while waiting for lock '{}'",
                    self.client.describe(),
                    self.inner.name()
                )))
            }
            Ok(token) => index_out(token.or_throw()?),
            Err(e) if e.is_cancelled() => Err(internal(format!(
                "waiting for lock '{}' was cancelled",
                self.inner.name()
            ))),
            Err(e) => Err(internal(format!("the wait for the lock failed: {e}"))),
        }
    }

    /// Cancels a pending `acquire`; its waiter entry is removed.
    #[napi]
    pub fn cancel(&self) {
        // The slot is left to the acquire, which empties it once its task has ended (and the
        // core has removed the waiter): an acquire after that starts afresh.
        if let Some((_, task)) = self.waiting.lock().ok().as_deref().and_then(Option::as_ref) {
            task.abort();
        }
    }

    /// Takes the lock only if it is free; the fencing token or null.
    #[napi]
    pub async fn try_acquire(&self) -> Result<Option<f64>> {
        self.inner
            .try_acquire()
            .await
            .or_throw()?
            .map(index_out)
            .transpose()
    }

    #[napi]
    pub async fn release(&self) -> Result<()> {
        self.inner.release().await.or_throw()
    }
}
