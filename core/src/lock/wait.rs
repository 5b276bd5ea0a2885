//! The wait in a lock's queue (docs/design.md, Locks): once its waiter is created, an acquire
//! waits for each predecessor in turn until the waiter is first, the deadline passes, or the
//! waiter is lost. Each round reads as the algorithm: find the waiter's place, watch what is
//! ahead of it, wait for the event that moves it up, and learn where it stands now.

use std::time::Duration;

use futures::StreamExt;

use super::Lock;
use super::acquire::Enqueued;
use super::cleanup::WaiterGuard;
use crate::backend::{EventStream, RangeRead, Read, WatchItem};
use crate::error::{Error, ErrorKind, Result};
use crate::lease::Lease;
use crate::model::{Entry, EventKind};
use crate::rt;

/// What a waiter learned from the event that woke it.
enum Wake {
    /// The holder's entry was deleted after every earlier event of the queue, with this
    /// waiter's own entry still present: it is first.
    First,
    /// Read the queue to learn where the waiter stands.
    Reread,
    /// The deadline passed first.
    Deadline,
}

/// A waiter in the queue: its entry, the queue as last read, and the guard that removes the
/// entry unless the wait ends with the lock taken.
struct Waiter {
    key: String,
    /// The waiter's index: the fencing token it will hold.
    mine: u64,
    lease: Lease,
    queue: Vec<Entry>,
    queue_read: RangeRead,
    /// The store index at which `queue` was read.
    snapshot: u64,
    guard: WaiterGuard,
}

type Acquired = Option<(String, u64, Lease)>;

/// The first pause after the store could not be reached; each further one doubles, up to
/// [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(50);
const MAX_PAUSE: Duration = Duration::from_secs(1);

/// `Ok(None)` when a step of the wait succeeded; `Ok(Some(pause))` when the store could not be
/// reached (retryable), with the pause before the next try (doubling the previous one, if the
/// step was itself a retry); the error otherwise.
fn transient(step: Result<()>, previous: Option<Duration>) -> Result<Option<Duration>> {
    match step {
        Ok(()) => Ok(None),
        Err(e) if e.is_retryable() => {
            tracing::debug!("lock wait: the store could not be reached ({e}); trying again");
            Ok(Some(
                previous.map_or(FIRST_PAUSE, |p| (p * 2).min(MAX_PAUSE)),
            ))
        }
        Err(e) => Err(e),
    }
}

impl Lock {
    /// Waits until the waiter is first in the queue, the deadline passes, or the waiter is lost.
    pub(super) async fn wait_in_queue(
        &self,
        enqueued: Option<Enqueued>,
        deadline: Option<rt::Instant>,
    ) -> Result<Acquired> {
        let Some(enqueued) = enqueued else {
            return Ok(None);
        };
        let mut waiter = self.guarded(enqueued);
        // Set after the store could not be reached (a server restarting, an etcd election):
        // the wait pauses, then reads where the waiter stands, instead of failing. The lease
        // keeper decides when the waiter is lost; the deadline and `close()` still end the wait.
        let mut unreachable: Option<Duration> = None;
        loop {
            if let Some(pause) = unreachable {
                if let Wake::Deadline = self.pause(&waiter, pause, deadline).await? {
                    return self.give_up(waiter).await;
                }
                unreachable = transient(self.reread(&mut waiter).await, Some(pause))?;
                if unreachable.is_some() {
                    continue;
                }
            }
            let pos = self.place(&mut waiter)?;
            if pos == 0 {
                return self.take(waiter);
            }
            if deadline.is_some_and(|d| rt::Instant::now() >= d) {
                return self.give_up(waiter).await;
            }
            let predecessor = waiter.queue[pos - 1].key.clone();
            // Second in line: watch the whole queue, so that a deletion of this waiter's own
            // entry would arrive, in revision order, before the holder's. Then the holder's
            // delete alone proves this waiter first at that revision, and no read is needed
            // (see `Wake::First` below). Further back, watch only the predecessor, so that a long
            // queue does not wake every waiter at each change.
            let second = pos == 1;
            let mut events = match self.watch_ahead(&mut waiter, &predecessor, second).await {
                Ok(Some(events)) => events,
                Ok(None) => continue,
                Err(e) => {
                    unreachable = transient(Err(e), None)?;
                    continue;
                }
            };
            let wake = self
                .next_wake(&waiter, &mut events, &predecessor, second, deadline)
                .await;
            match wake {
                Ok(Wake::Deadline) => return self.give_up(waiter).await,
                // The holder's delete was seen after every earlier event of the queue, and this
                // waiter's entry was not deleted before it. Nor can the entry have been deleted
                // since by its lease ending, as long as the lease is known to be alive now, which
                // the check in `take` makes sure of: the delete may be old news to a process that
                // was paused, but then the lease's validity on the boot clock has run out as well.
                Ok(Wake::First) => {
                    waiter.queue.remove(0);
                }
                Ok(Wake::Reread) => {
                    unreachable = transient(self.reread(&mut waiter).await, None)?;
                }
                Err(e) => unreachable = transient(Err(e), None)?,
            }
        }
    }

    /// Waits `pause` after the store could not be reached, unless the deadline passes first
    /// (`Wake::Deadline`); fails if the lease is lost or the client closed meanwhile.
    async fn pause(
        &self,
        waiter: &Waiter,
        pause: Duration,
        deadline: Option<rt::Instant>,
    ) -> Result<Wake> {
        let until = match deadline {
            Some(d) => d.min(rt::Instant::now() + pause),
            None => rt::Instant::now() + pause,
        };
        tokio::select! {
            _ = rt::sleep_until(until) => Ok(
                if deadline.is_some_and(|d| rt::Instant::now() >= d) { Wake::Deadline } else { Wake::Reread }
            ),
            _ = waiter.lease.wait_lost() => Err(self.lease_lost_while_waiting()),
            _ = self.inner.client.closed() => Err(self.closed_while_waiting()),
        }
    }

    fn lease_lost_while_waiting(&self) -> Error {
        Error::new(
            ErrorKind::LeaseExpired,
            format!(
                "the lease behind the waiter for lock '{}' was lost while waiting",
                self.inner.name
            ),
        )
    }

    /// The waiter just created, with the guard that removes its entry if the wait fails.
    fn guarded(&self, enqueued: Enqueued) -> Waiter {
        let Enqueued {
            key,
            index: mine,
            lease,
            queue,
            queue_read,
        } = enqueued;
        let guard = WaiterGuard {
            backend: self.inner.client.backend().clone(),
            key: key.clone(),
            index: mine,
            armed: true,
            spawner: self.inner.client.spawner.clone(),
        };
        Waiter {
            key,
            mine,
            lease,
            queue,
            queue_read,
            snapshot: mine,
            guard,
        }
    }

    /// The waiter's place in the queue as last read; `LeaseExpired` if its entry is gone.
    fn place(&self, waiter: &mut Waiter) -> Result<usize> {
        let Some(pos) = waiter.queue.iter().position(|e| e.key == waiter.key) else {
            waiter.guard.armed = false;
            return Err(Error::new(
                ErrorKind::LeaseExpired,
                format!(
                    "the waiter for lock '{}' disappeared while waiting: its lease expired",
                    self.inner.name
                ),
            ));
        };
        Ok(pos)
    }

    /// First in the queue: the lock is taken, unless the lease behind the waiter was lost.
    fn take(&self, mut waiter: Waiter) -> Result<Acquired> {
        if waiter.lease.is_lost() {
            return Err(self.lease_lost_while_waiting());
        }
        waiter.guard.armed = false;
        Ok(Some((waiter.key, waiter.mine, waiter.lease)))
    }

    /// The deadline passed: removes the waiter, and keeps its key for reuse if the removal is
    /// known to have applied.
    async fn give_up(&self, mut waiter: Waiter) -> Result<Acquired> {
        if waiter.guard.remove().await {
            self.inner
                .client
                .waiter_key_done(&self.inner.prefix, waiter.key);
        }
        Ok(None)
    }

    /// Watches, from the snapshot on, the whole queue (`second` in line) or the predecessor.
    /// `None` if the store compacted the history since the snapshot: the queue was read again.
    async fn watch_ahead(
        &self,
        waiter: &mut Waiter,
        predecessor: &str,
        second: bool,
    ) -> Result<Option<EventStream>> {
        let backend = self.inner.client.backend();
        let watch_range = RangeRead {
            include_reserved: true,
            ..RangeRead::prefix(if second {
                self.inner.prefix.clone()
            } else {
                predecessor.to_string()
            })
        };
        // If the store compacted the history since the snapshot, resync: read the queue as
        // it is now and wait again.
        match backend.watch(watch_range, Some(waiter.snapshot + 1)).await {
            Ok(events) => Ok(Some(events)),
            Err(e) if e.is_compacted() => {
                let mut r = backend
                    .read(vec![Read::Range(waiter.queue_read.clone())])
                    .await?;
                waiter.queue = r.results.pop().unwrap_or_default().entries;
                waiter.snapshot = r.index;
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Waits for the event that may move the waiter up (the predecessor's delete, or its own
    /// entry's), or for the deadline; fails if the lease is lost or the client closed meanwhile.
    async fn next_wake(
        &self,
        waiter: &Waiter,
        events: &mut EventStream,
        predecessor: &str,
        second: bool,
        deadline: Option<rt::Instant>,
    ) -> Result<Wake> {
        let sleep = async {
            match deadline {
                Some(d) => rt::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(sleep);
        let mut wake = Wake::Reread;
        loop {
            tokio::select! {
                event = events.next() => match event {
                    Some(Ok(WatchItem::Event(e)))
                        if e.kind == EventKind::Delete && e.key == predecessor => {
                        if second {
                            wake = Wake::First;
                        }
                        break;
                    }
                    // This waiter's own entry is gone: the read after the wake-up reports it.
                    Some(Ok(WatchItem::Event(e)))
                        if e.kind == EventKind::Delete && e.key == waiter.key => break,
                    Some(Ok(_)) => continue,
                    // The history was compacted: read the queue as it is now.
                    Some(Err(e)) if e.is_compacted() => break,
                    Some(Err(e)) => return Err(e),
                    None => return Err(Error::unavailable(format!(
                        "the store closed the watch on lock '{}'", self.inner.name))),
                },
                _ = &mut sleep => return Ok(Wake::Deadline),
                _ = waiter.lease.wait_lost() => return Err(self.lease_lost_while_waiting()),
                _ = self.inner.client.closed() => return Err(self.closed_while_waiting()),
            }
        }
        Ok(wake)
    }

    /// Reads the queue ahead of the waiter again.
    async fn reread(&self, waiter: &mut Waiter) -> Result<()> {
        let range = RangeRead {
            below_index: Some(waiter.mine + 1),
            ..waiter.queue_read.clone()
        };
        // A linearizable read: it also confirms that this waiter's own entry still exists
        // (a wake-up may be old news to a process that was paused).
        let mut r = self
            .inner
            .client
            .backend()
            .read(vec![Read::Range(range)])
            .await?;
        waiter.queue = r.results.pop().unwrap_or_default().entries;
        waiter.snapshot = r.index;
        Ok(())
    }
}
