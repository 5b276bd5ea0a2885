//! Acquiring: the state change to acquiring and back, the lease behind the waiter, and the one
//! round trip that creates the waiter and reads the queue (docs/design.md, Locks). The wait that
//! follows is in `wait.rs`.

use std::sync::Arc;

use super::cleanup::{DetachedOnDrop, remove_waiter};
use super::loss::fire_on_loss;
use super::{Held, Lock, LockInner, State};
use crate::backend::{Compare, Op, Order, RangeRead, Read, TxnRequest};
use crate::error::{Error, ErrorKind, Result};
use crate::lease::Lease;
use crate::model::Entry;
use crate::rt;

/// A waiter created on `lease`, with the queue as the same commit read it.
pub(super) struct Enqueued {
    pub(super) key: String,
    pub(super) index: u64,
    pub(super) lease: Lease,
    pub(super) queue: Vec<Entry>,
    pub(super) queue_read: RangeRead,
}

/// The store refused this lease: it no longer knows it.
struct Dead(Lease);

impl Lock {
    pub(super) async fn acquire_until(
        &self,
        deadline: Option<rt::Instant>,
        bounded: bool,
    ) -> Result<Option<u64>> {
        self.validate()?;
        {
            let mut st = self.inner.state();
            if !matches!(*st, State::Idle) {
                return Err(Error::invalid(format!(
                    "lock '{}' is already held or being acquired by this lock object; locks are not re-entrant",
                    self.inner.name
                )));
            }
            *st = State::Acquiring;
        }
        let mut reset = ResetOnDrop(Some(self.inner.clone()));
        let outcome = self.enqueue_and_wait(deadline, bounded).await;
        reset.0 = None;
        let mut st = self.inner.state();
        match outcome {
            Ok(Some((key, token, lease))) => {
                let mut watched = self
                    .inner
                    .watched_lease
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                if *watched != Some(lease.id()) {
                    *watched = Some(lease.id());
                    rt::spawn(fire_on_loss(
                        lease.clone(),
                        Arc::downgrade(&self.inner),
                        self.inner.alive.subscribe(),
                    ));
                }
                let weak = Arc::downgrade(&self.inner);
                let tracked = lease.track(key.clone(), token, move || {
                    if let Some(inner) = weak.upgrade() {
                        inner.acquisition_lost(token);
                    }
                });
                *st = State::Held(Held {
                    key,
                    token,
                    lease,
                    tracked,
                    lost: tokio::sync::watch::channel(false).0,
                    lost_marked: false,
                    release_unknown: false,
                });
                Ok(Some(token))
            }
            Ok(None) => {
                *st = State::Idle;
                Ok(None)
            }
            Err(e) => {
                *st = State::Idle;
                Err(e)
            }
        }
    }

    async fn lease(&self) -> Result<Lease> {
        match &self.inner.options.lease {
            Some(l) if l.is_lost() => Err(Error::new(
                ErrorKind::LeaseExpired,
                format!(
                    "the lease given to lock '{}' has expired or was revoked",
                    self.inner.name
                ),
            )),
            Some(l) => Ok(l.clone()),
            None => self.inner.client.shared_lease(self.inner.options.ttl).await,
        }
    }

    pub(super) fn closed_while_waiting(&self) -> Error {
        Error::invalid(format!(
            "the client of {} was closed while waiting for lock '{}'",
            self.inner.client.describe(),
            self.inner.name
        ))
    }

    /// One round trip creates the waiter and reads the queue; then wait for each predecessor.
    /// With `bounded`, the deadline also bounds getting the lease and creating the waiter;
    /// `try_acquire` always completes its one round trip.
    async fn enqueue_and_wait(
        &self,
        deadline: Option<rt::Instant>,
        bounded: bool,
    ) -> Result<Option<(String, u64, Lease)>> {
        self.inner.client.check_open()?;
        let mut retried = false;
        loop {
            match self.enqueue_on_lease(deadline, bounded).await {
                // The client's shared lease was revoked from elsewhere (an operator, a
                // force-release) before its keeper noticed: it is lost (its other holders learn
                // it now), and one new lease is granted for this acquire.
                Err(Dead(lease)) if !retried && self.inner.options.lease.is_none() => {
                    self.inner.client.shared_lease_dead(&lease);
                    retried = true;
                }
                Err(Dead(lease)) => {
                    lease.mark_lost();
                    return Err(Error::new(
                        ErrorKind::LeaseExpired,
                        format!(
                            "the lease for lock '{}' (lease {}) is unknown to the store: it expired or was revoked",
                            self.inner.name,
                            lease.id()
                        ),
                    ));
                }
                Ok(outcome) => {
                    // Whatever a wait ended by close() ran into first (its entry deleted by the
                    // revoke, its lease lost), the cause is the close.
                    return self.wait_in_queue(outcome?, deadline).await.map_err(|e| {
                        match self.inner.client.is_closed() {
                            true => self.closed_while_waiting(),
                            false => e,
                        }
                    });
                }
            }
        }
    }

    /// Gets the lease and creates the waiter, reading the queue in the same round trip.
    /// `Err(Dead)` when the store does not know the lease.
    async fn enqueue_on_lease(
        &self,
        deadline: Option<rt::Instant>,
        bounded: bool,
    ) -> std::result::Result<Result<Option<Enqueued>>, Dead> {
        let backend = self.inner.client.backend().clone();
        let lease = match deadline.filter(|_| bounded) {
            Some(d) => match rt::timeout_at(d, self.lease()).await {
                Ok(Ok(lease)) => lease,
                Ok(Err(e)) => return Ok(Err(e)),
                Err(_) => return Ok(Ok(None)),
            },
            None => match self.lease().await {
                Ok(lease) => lease,
                Err(e) => return Ok(Err(e)),
            },
        };
        let key = self.inner.client.waiter_key(&self.inner.prefix);
        let queue_read = RangeRead {
            order: Order::IndexAsc,
            include_reserved: true,
            ..RangeRead::prefix(self.inner.prefix.clone())
        };
        let request = TxnRequest {
            compares: vec![Compare {
                key: key.clone(),
                index: 0,
            }],
            ops: vec![Op::Put {
                key: key.clone(),
                value: self.owner(),
                lease: Some(lease.id()),
            }],
            reads: vec![Read::Range(queue_read.clone())],
        };
        // If this acquire is cancelled or times out while the waiter's commit is in flight, the
        // commit must still be followed by the waiter's removal, or an orphan entry would block
        // the lock for as long as the shared lease is kept alive: dropped unfinished, the commit
        // moves to a task of its own that removes the waiter it created.
        let mut commit = DetachedOnDrop {
            commit: Some(Box::pin({
                let backend = backend.clone();
                async move { backend.commit(request).await }
            })),
            backend: backend.clone(),
            key: key.clone(),
            spawner: self.inner.client.spawner.clone(),
        };
        let outcome = match deadline.filter(|_| bounded) {
            Some(d) => match rt::timeout_at(d, &mut commit).await {
                Ok(o) => o,
                Err(_) => return Ok(Ok(None)),
            },
            None => (&mut commit).await,
        };
        let response = match outcome {
            Ok(response) => response,
            Err(e) if e.kind() == ErrorKind::LeaseExpired => return Err(Dead(lease)),
            Err(e) => {
                // The store may have created the waiter before failing to answer; an orphan
                // would block the lock for as long as the shared lease is kept alive. The key is
                // this client's own and is never used again, so deleting it whatever its index
                // deletes nobody else's entry.
                if e.is_retryable() {
                    rt::spawn(remove_waiter(backend.clone(), key.clone(), 0));
                }
                return Ok(Err(e));
            }
        };
        if !response.succeeded {
            return Ok(Err(Error::internal(format!(
                "waiter key '{key}' already existed"
            ))));
        }
        Ok(Ok(Some(Enqueued {
            key,
            index: response.index,
            lease,
            queue: response
                .reads
                .into_iter()
                .next()
                .unwrap_or_default()
                .entries,
            queue_read,
        })))
    }
}

/// Puts a cancelled acquire back to idle.
struct ResetOnDrop(Option<Arc<LockInner>>);

impl Drop for ResetOnDrop {
    fn drop(&mut self) {
        if let Some(inner) = self.0.take() {
            *inner.state() = State::Idle;
        }
    }
}
