//! `Lock`: the fair lock with fencing tokens. A wait can be cancelled (an `AbortSignal` in the
//! TypeScript layer): the wait's future is dropped, and the core then removes the waiter entry.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures::future::{AbortHandle, Abortable};
use interlock::ErrorKind;

use crate::Result;
use crate::convert::{index_out, optional_index_out, seconds};
use crate::errors::{internal, invalid};

/// The pending `acquire`: its number and the handle that cancels it.
type Waiting = Arc<Mutex<Option<(u64, AbortHandle)>>>;

/// A fair, non-reentrant lock.
pub struct Lock {
    inner: interlock::Lock,
    /// One `acquire` at a time: a second one while one waits is refused, and leaves the first
    /// cancellable.
    waiting: Waiting,
    acquires: AtomicU64,
    client: interlock::Client,
}

impl Lock {
    pub fn new(lock: interlock::Lock, client: interlock::Client) -> Self {
        Lock {
            inner: lock,
            waiting: Arc::default(),
            acquires: AtomicU64::new(0),
            client,
        }
    }

    pub fn core(&self) -> &interlock::Lock {
        &self.inner
    }

    pub fn name(&self) -> String {
        self.inner.name().to_string()
    }

    /// The fencing token while held.
    pub fn fencing_token(&self) -> Result<Option<f64>> {
        optional_index_out(self.inner.fencing_token())
    }

    pub fn is_held(&self) -> bool {
        self.inner.is_held()
    }

    pub fn is_lost(&self) -> bool {
        self.inner.is_lost()
    }

    /// Calls `callback` when the lease behind the held lock is lost.
    pub fn on_lost(&self, callback: impl Fn() + Send + Sync + 'static) {
        self.inner.on_lost(callback);
    }

    /// Registers a wait: refused while another is pending.
    fn start(&self) -> Result<(u64, futures::future::AbortRegistration)> {
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
        let (handle, registration) = AbortHandle::new_pair();
        let id = self.acquires.fetch_add(1, Ordering::SeqCst);
        *waiting = Some((id, handle));
        Ok((id, registration))
    }

    /// Waits for the lock; resolves to the fencing token. `cancel()` ends the wait. A second
    /// `acquire` while one is pending (or while the lock is held) fails at once with
    /// `InvalidArgument`; the pending one stays cancellable. The wait is registered when this is
    /// called, before the future is first polled.
    pub fn acquire(
        &self,
        timeout_secs: Option<f64>,
    ) -> impl Future<Output = Result<f64>> + 'static {
        let started = timeout_secs
            .map(|t| seconds("timeout", t))
            .transpose()
            .and_then(|timeout| Ok((timeout, self.start()?)));
        let (lock, client, waiting) = (
            self.inner.clone(),
            self.client.clone(),
            self.waiting.clone(),
        );
        async move {
            let (timeout, (id, registration)) = started?;
            let outcome = Abortable::new(lock.acquire(timeout), registration).await;
            // Empties the slot if it is still this acquire's.
            if let Ok(mut slot) = waiting.lock() {
                if slot.as_ref().is_some_and(|(pending, _)| *pending == id) {
                    slot.take();
                }
            }
            match outcome {
                Ok(Err(e)) if client.is_closed() && e.kind() != ErrorKind::InvalidArgument => {
                    // The close's revocation may reach the waiter as its entry's deletion first.
                    Err(invalid(format!(
                        "the client of {} was closed while waiting for lock '{}'",
                        client.describe(),
                        lock.name()
                    )))
                }
                Ok(token) => index_out(token?),
                Err(_) => Err(internal(format!(
                    "waiting for lock '{}' was cancelled",
                    lock.name()
                ))),
            }
        }
    }

    /// Cancels a pending `acquire`; its waiter entry is removed.
    pub fn cancel(&self) {
        // The slot is left to the acquire, which empties it once its wait has ended (and the
        // core has removed the waiter): an acquire after that starts afresh.
        if let Some((_, handle)) = self.waiting.lock().ok().as_deref().and_then(Option::as_ref) {
            handle.abort();
        }
    }

    /// Takes the lock only if it is free; the fencing token or none.
    pub fn try_acquire(&self) -> impl Future<Output = Result<Option<f64>>> + 'static {
        let lock = self.inner.clone();
        async move { optional_index_out(lock.try_acquire().await?) }
    }

    pub fn release(&self) -> impl Future<Output = Result<()>> + 'static {
        let lock = self.inner.clone();
        async move { lock.release().await }
    }
}
