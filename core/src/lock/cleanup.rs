//! Removing waiter entries: the release of a held lock, the background release of a lock dropped
//! while held, and the removal of a waiter whose acquire failed, timed out or was cancelled,
//! including after a commit whose outcome is unknown.

use std::sync::Arc;
use std::time::Duration;

use super::{Lock, LockInner, State};
use crate::backend::{Backend, Compare, Op, TxnRequest};
use crate::error::{Error, ErrorKind, Result};
use crate::rt;

impl Lock {
    /// Releases the lock. If it was lost while held (its lease ended, someone force-released
    /// it, or its client was closed), the error is `LockLost`: another holder may have had the
    /// lock in the meantime.
    pub async fn release(&self) -> Result<()> {
        let (key, token, lease, release_unknown) = match &*self.inner.state() {
            State::Held(h) => {
                // From now on this lock's own delete may remove the entry: not a force-release.
                h.lease.untrack(h.tracked);
                (h.key.clone(), h.token, h.lease.clone(), h.release_unknown)
            }
            _ => {
                return Err(Error::invalid(format!(
                    "lock '{}' is not held by this lock object",
                    self.inner.name
                )));
            }
        };
        if self.inner.client.is_closed() {
            self.inner.set_idle(token);
            return Err(Error::new(
                ErrorKind::LockLost,
                format!(
                    "lock '{}' (fencing token {token}) was let go when its client was closed: its lease was revoked, or, if the store could not be reached then, the lock frees when the lease's TTL runs out",
                    self.inner.name
                ),
            ));
        }
        let lost = lease.is_lost() || self.inner.acquisition_is_lost(token);
        let response = self
            .inner
            .client
            .backend()
            .commit(TxnRequest {
                compares: vec![Compare {
                    key: key.clone(),
                    index: token,
                }],
                ops: vec![Op::Delete { key: key.clone() }],
                reads: Vec::new(),
            })
            .await;
        if let (Err(e), false) = (&response, lost) {
            // Still held: the caller may retry the release.
            if let State::Held(h) = &mut *self.inner.state() {
                if h.token == token {
                    h.release_unknown = true;
                }
            }
            return Err(Error::new(e.kind(), e.message()).prefix(format!(
                "releasing lock '{}' failed; it is still held",
                self.inner.name
            )));
        }
        // The waiter entry is already gone. Only this lock's own release, its lease's end or
        // someone else's delete (a force-release) removes it. If an earlier release of this
        // acquisition failed with an unknown outcome, its delete may have been applied: then the
        // lease is still alive, and the lock was released, not lost.
        let released_before = match &response {
            Ok(r) if !r.succeeded && !lost && release_unknown => {
                // More than a second left: a store that reports whole seconds (etcd) may show a
                // lease that has just expired as having one left.
                matches!(
                    self.inner
                        .client
                        .backend()
                        .time_to_live(&[lease.id()])
                        .await
                        .as_deref(),
                    Ok([Some(left)]) if *left > Duration::from_secs(1)
                )
            }
            _ => false,
        };
        let gone = matches!(&response, Ok(r) if !r.succeeded && !released_before);
        if gone {
            self.inner.acquisition_lost(token);
        }
        self.inner.set_idle(token);
        if matches!(&response, Ok(r) if r.succeeded) {
            self.inner.client.waiter_key_done(&self.inner.prefix, key);
        }
        if lost || gone {
            return Err(Error::new(
                ErrorKind::LockLost,
                format!(
                    "lock '{}' was lost while held (fencing token {token}): its lease expired or its entry was deleted (a force-release), so another holder may have had it",
                    self.inner.name
                ),
            ));
        }
        Ok(())
    }
}

impl Drop for LockInner {
    fn drop(&mut self) {
        // A lock object dropped while held releases in the background.
        let state = std::mem::replace(&mut *self.state(), State::Idle);
        if let State::Held(h) = state {
            h.lease.untrack(h.tracked);
            let guard = WaiterGuard {
                backend: self.client.backend().clone(),
                key: h.key,
                index: h.token,
                armed: true,
                spawner: self.client.spawner.clone(),
            };
            drop(guard);
        }
    }
}

/// Removes a waiter entry if the acquire that created it fails, times out or is cancelled.
pub(super) struct WaiterGuard {
    pub(super) backend: Arc<dyn Backend>,
    pub(super) key: String,
    pub(super) index: u64,
    pub(super) armed: bool,
    pub(super) spawner: rt::Spawner,
}

impl WaiterGuard {
    /// Removes the waiter now; if that fails, the guard stays armed and its drop keeps trying
    /// in the background.
    /// Returns whether the entry is certainly gone.
    pub(super) async fn remove(&mut self) -> bool {
        match delete_waiter(&self.backend, &self.key, self.index).await {
            Ok(gone) => {
                self.armed = false;
                gone
            }
            Err(_) => false,
        }
    }
}

impl Drop for WaiterGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        self.spawner.spawn(remove_waiter(
            self.backend.clone(),
            self.key.clone(),
            self.index,
        ));
    }
}

pub(super) type Commit =
    std::pin::Pin<Box<dyn Future<Output = Result<crate::backend::TxnResponse>> + Send>>;

/// The commit creating a waiter, polled in place. Dropped before it finished (the acquire was
/// cancelled or timed out), it finishes in a task of its own, which removes the waiter the
/// commit created.
pub(super) struct DetachedOnDrop {
    pub(super) commit: Option<Commit>,
    pub(super) backend: Arc<dyn Backend>,
    pub(super) key: String,
    pub(super) spawner: rt::Spawner,
}

impl Future for DetachedOnDrop {
    type Output = Result<crate::backend::TxnResponse>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let Some(commit) = self.commit.as_mut() else {
            return std::task::Poll::Ready(Err(Error::internal(
                "the waiter's commit was polled after it finished",
            )));
        };
        let outcome = std::task::ready!(commit.as_mut().poll(cx));
        self.commit = None;
        std::task::Poll::Ready(outcome)
    }
}

impl Drop for DetachedOnDrop {
    fn drop(&mut self) {
        let Some(commit) = self.commit.take() else {
            return;
        };
        let (backend, key) = (self.backend.clone(), std::mem::take(&mut self.key));
        self.spawner.spawn(async move {
            match commit.await {
                Ok(response) if response.succeeded => {
                    remove_waiter(backend, key, response.index).await;
                }
                Err(e) if e.is_retryable() => remove_waiter(backend, key, 0).await,
                _ => {}
            }
        });
    }
}

/// Deletes waiter `key` if it is at `index`; with index 0, whatever its index (for a waiter
/// whose creation had an unknown outcome: such a key is never used again). Returns whether the
/// entry is certainly gone.
async fn delete_waiter(backend: &Arc<dyn Backend>, key: &str, index: u64) -> Result<bool> {
    let compares = if index == 0 {
        Vec::new()
    } else {
        vec![Compare {
            key: key.to_string(),
            index,
        }]
    };
    backend
        .commit(TxnRequest {
            compares,
            ops: vec![Op::Delete {
                key: key.to_string(),
            }],
            reads: Vec::new(),
        })
        .await
        .map(|r| r.succeeded || r.failed.iter().all(|m| m.actual == 0))
}

/// Deletes a waiter entry in the background, retrying while the store is unavailable (the
/// entry's lease ends it anyway if every try fails).
pub(super) async fn remove_waiter(backend: Arc<dyn Backend>, key: String, index: u64) {
    for attempt in 0..8u32 {
        match delete_waiter(&backend, &key, index).await {
            Ok(_) => return,
            Err(e) if e.is_retryable() => {
                rt::sleep(Duration::from_millis(50) * 2u32.pow(attempt)).await;
            }
            Err(e) => {
                tracing::warn!("removing lock waiter '{key}': {e}");
                return;
            }
        }
    }
}
