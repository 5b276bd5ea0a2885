//! The fair mutex with fencing tokens (DESIGN §7), written once over the backend trait.
//!
//! Each acquire creates its own waiter entry `@lock/<escaped name>/<client id><n>` on a lease, in
//! one round trip that also reads the queue (a client reuses the keys it deleted itself: see
//! [`Client::waiter_key`]). The waiter with the lowest index holds the lock and that
//! index is its fencing token. The waiter second in line watches the whole queue and takes the
//! lock on the holder's delete event, with no further round trip; waiters further back watch only
//! their immediate predecessor and, after every wake-up, re-read the queue to check that their own
//! entry still exists.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use serde_json::{Value, json};

use crate::backend::{Backend, Compare, Op, Order, RangeRead, Read, TxnRequest, WatchItem};
use crate::client::Client;
use crate::error::{Error, ErrorKind, Result};
use crate::lease::Lease;
use crate::model::{Entry, EventKind, LeaseId};
use crate::rt;
use crate::validate;

/// `/` separates a lock's queue from its waiters, so it is escaped in names (and `%`, the escape
/// character itself): no lock's queue prefix is then a prefix of another's.
const NAME_ESCAPES: &AsciiSet = &CONTROLS.add(b'%').add(b'/');

/// "pid N on HOST", computed once per process (the pid changes only across fork, and a forked
/// child re-reads it).
#[cfg(not(target_family = "wasm"))]
fn default_owner() -> String {
    static OWNER: std::sync::Mutex<Option<(u32, String)>> = std::sync::Mutex::new(None);
    let pid = std::process::id();
    let mut cached = OWNER.lock().unwrap_or_else(|p| p.into_inner());
    match &*cached {
        Some((p, owner)) if *p == pid => owner.clone(),
        _ => {
            let host = hostname::get()
                .map(|h| h.to_string_lossy().into_owned())
                .unwrap_or_default();
            let owner = format!("pid {pid} on {host}");
            *cached = Some((pid, owner.clone()));
            owner
        }
    }
}

/// A browser or other WebAssembly host has no pid or host name to show.
#[cfg(target_family = "wasm")]
fn default_owner() -> String {
    "a WebAssembly client".to_string()
}

/// The prefix of a lock's queue.
pub(crate) fn queue_prefix(name: &str) -> String {
    format!("@lock/{}/", utf8_percent_encode(name, NAME_ESCAPES))
}

type Callback = Arc<dyn Fn() + Send + Sync>;

/// Options of a lock.
#[derive(Clone)]
pub struct LockOptions {
    /// TTL of the lease behind the waiter entry: how long a crashed holder blocks others.
    pub ttl: Duration,
    /// A description of the owner shown in queue listings (default: pid and host).
    pub owner: Option<String>,
    /// Use this lease instead of the client's shared lease for `ttl`.
    pub lease: Option<Lease>,
}

impl Default for LockOptions {
    fn default() -> Self {
        LockOptions {
            ttl: Duration::from_secs(20),
            owner: None,
            lease: None,
        }
    }
}

/// One entry of a lock's queue.
#[derive(Debug, Clone, PartialEq)]
pub struct LockWaiter {
    pub key: String,
    /// The owner description the waiter registered.
    pub owner: Value,
    /// The waiter's index: the fencing token it holds or will hold.
    pub token: u64,
    /// True for the first entry: the holder.
    pub holder: bool,
    pub lease: Option<LeaseId>,
    /// Time left on the waiter's lease.
    pub ttl_left: Option<Duration>,
}

/// A fair, non-reentrant lock. Clones share the same state (held or not).
#[derive(Clone)]
pub struct Lock {
    inner: Arc<LockInner>,
}

struct LockInner {
    client: Client,
    name: String,
    prefix: String,
    options: LockOptions,
    state: Mutex<State>,
    callbacks: Arc<Mutex<Vec<Callback>>>,
    /// The lease whose loss a background task is watching for this lock, so that the task is
    /// started once per lease rather than once per acquire.
    watched_lease: Mutex<Option<LeaseId>>,
    /// Dropped with the lock, which ends that task.
    alive: tokio::sync::watch::Sender<()>,
}

/// A waiter created on `lease`, with the queue as the same commit read it.
struct Enqueued {
    key: String,
    index: u64,
    lease: Lease,
    queue: Vec<Entry>,
    queue_read: RangeRead,
}

/// The store refused this lease: it no longer knows it.
struct Dead(Lease);

/// What a waiter learned from the event that woke it.
#[derive(PartialEq)]
enum Wake {
    /// The holder's entry was deleted after every earlier event of the queue, with this
    /// waiter's own entry still present: it is first.
    First,
    /// Read the queue to learn where the waiter stands.
    Reread,
}

enum State {
    Idle,
    Acquiring,
    Held(Held),
}

struct Held {
    key: String,
    token: u64,
    lease: Lease,
    /// The lease keeper's check that the entry still exists (see [`Lease::track`]).
    tracked: u64,
    /// True once this acquisition is lost: its lease ended, its entry was deleted by someone
    /// else (a force-release), or its client was closed.
    lost: tokio::sync::watch::Sender<bool>,
    lost_marked: bool,
    /// A release failed with an unknown outcome: its delete may have been applied.
    release_unknown: bool,
}

impl std::fmt::Debug for Lock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lock")
            .field("name", &self.inner.name)
            .field("fencing_token", &self.fencing_token())
            .finish()
    }
}

impl Lock {
    pub(crate) fn new(client: Client, name: &str, options: LockOptions) -> Lock {
        Lock {
            inner: Arc::new(LockInner {
                client,
                name: name.to_string(),
                prefix: queue_prefix(name),
                options,
                state: Mutex::new(State::Idle),
                callbacks: Arc::new(Mutex::new(Vec::new())),
                watched_lease: Mutex::new(None),
                alive: tokio::sync::watch::channel(()).0,
            }),
        }
    }

    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Waits for the lock, up to `timeout` (`None`: forever), and returns the fencing token.
    /// On timeout the waiter entry is removed and the error is `LockTimeout`.
    pub async fn acquire(&self, timeout: Option<Duration>) -> Result<u64> {
        let deadline = match timeout {
            None => None,
            Some(t) => Some(rt::Instant::now().checked_add(t).ok_or_else(|| {
                Error::invalid(format!(
                    "lock timeout {} is too long; omit it to wait without a limit",
                    crate::validate::seconds(t)
                ))
            })?),
        };
        match self.acquire_until(deadline, true).await? {
            Some(token) => Ok(token),
            None => Err(Error::new(
                ErrorKind::LockTimeout,
                format!(
                    "timed out after {} waiting for lock '{}'",
                    crate::validate::seconds(timeout.unwrap_or_default()),
                    self.inner.name
                ),
            )),
        }
    }

    /// Takes the lock only if nobody holds or waits for it; returns the fencing token.
    pub async fn try_acquire(&self) -> Result<Option<u64>> {
        self.acquire_until(Some(rt::Instant::now()), false).await
    }

    async fn acquire_until(
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

    fn validate(&self) -> Result<()> {
        validate::key_shape(&self.inner.name).map_err(|e| e.prefix("invalid lock name"))?;
        // The waiter key adds the client's 32-character id and a sequence number.
        validate::key_shape(&format!("{}{:048}", self.inner.prefix, 0)).map_err(|_| {
            Error::invalid(format!(
                "lock name '{}' is too long: its queue key would exceed {} bytes",
                self.inner.name,
                validate::MAX_KEY_BYTES
            ))
        })?;
        validate::ttl(self.inner.options.ttl)
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

    fn closed_while_waiting(&self) -> Error {
        Error::invalid(format!(
            "the client of {} was closed while waiting for lock '{}'",
            self.inner.client.describe(),
            self.inner.name
        ))
    }

    fn owner(&self) -> Value {
        let owner = match &self.inner.options.owner {
            Some(o) => o.clone(),
            None => default_owner(),
        };
        json!({ "owner": owner, "client": self.inner.client.id() })
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
            spawner: self.inner.client.inner.spawner.clone(),
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

    /// Waits until the waiter is first in the queue, the deadline passes, or the waiter is lost.
    async fn wait_in_queue(
        &self,
        enqueued: Option<Enqueued>,
        deadline: Option<rt::Instant>,
    ) -> Result<Option<(String, u64, Lease)>> {
        let Some(Enqueued {
            key,
            index: mine,
            lease,
            mut queue,
            queue_read,
        }) = enqueued
        else {
            return Ok(None);
        };
        let backend = self.inner.client.backend().clone();
        let mut guard = WaiterGuard {
            backend: backend.clone(),
            key: key.clone(),
            index: mine,
            armed: true,
            spawner: self.inner.client.inner.spawner.clone(),
        };
        let mut snapshot = mine;
        loop {
            let Some(pos) = queue.iter().position(|e| e.key == key) else {
                guard.armed = false;
                return Err(Error::new(
                    ErrorKind::LeaseExpired,
                    format!(
                        "the waiter for lock '{}' disappeared while waiting: its lease expired",
                        self.inner.name
                    ),
                ));
            };
            if pos == 0 {
                if lease.is_lost() {
                    return Err(Error::new(
                        ErrorKind::LeaseExpired,
                        format!(
                            "the lease behind the waiter for lock '{}' was lost while waiting",
                            self.inner.name
                        ),
                    ));
                }
                guard.armed = false;
                return Ok(Some((key, mine, lease)));
            }
            if deadline.is_some_and(|d| rt::Instant::now() >= d) {
                if guard.remove().await {
                    self.inner.client.waiter_key_done(&self.inner.prefix, key);
                }
                return Ok(None);
            }
            let predecessor = queue[pos - 1].key.clone();
            // Second in line: watch the whole queue, so that a deletion of this waiter's own
            // entry would arrive, in revision order, before the holder's. Then the holder's
            // delete alone proves this waiter first at that revision, and no read is needed
            // (see below the loop). Further back, watch only the predecessor, so that a long
            // queue does not wake every waiter at each change.
            let second = pos == 1;
            let watch_range = RangeRead {
                include_reserved: true,
                ..RangeRead::prefix(if second {
                    self.inner.prefix.clone()
                } else {
                    predecessor.clone()
                })
            };
            // If the store compacted the history since the snapshot, resync: read the queue as
            // it is now and wait again.
            let mut events = match backend.watch(watch_range, Some(snapshot + 1)).await {
                Ok(events) => events,
                Err(e) if e.is_compacted() => {
                    let mut r = backend.read(vec![Read::Range(queue_read.clone())]).await?;
                    queue = r.results.pop().unwrap_or_default().entries;
                    snapshot = r.index;
                    continue;
                }
                Err(e) => return Err(e),
            };
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
                        // This waiter's own entry is gone: the read below reports it.
                        Some(Ok(WatchItem::Event(e)))
                            if e.kind == EventKind::Delete && e.key == key => break,
                        Some(Ok(_)) => continue,
                        // The history was compacted: read the queue as it is now.
                        Some(Err(e)) if e.is_compacted() => break,
                        Some(Err(e)) => return Err(e),
                        None => return Err(Error::unavailable(format!(
                            "the store closed the watch on lock '{}'", self.inner.name))),
                    },
                    _ = &mut sleep => {
                        if guard.remove().await {
                            self.inner.client.waiter_key_done(&self.inner.prefix, key);
                        }
                        return Ok(None);
                    }
                    _ = lease.wait_lost() => {
                        return Err(Error::new(ErrorKind::LeaseExpired, format!(
                            "the lease behind the waiter for lock '{}' was lost while waiting",
                            self.inner.name)));
                    }
                    _ = self.inner.client.closed() => return Err(self.closed_while_waiting()),
                }
            }
            // The holder's delete was seen after every earlier event of the queue, and this
            // waiter's entry was not deleted before it. Nor can the entry have been deleted since
            // by its lease ending, as long as the lease is known to be alive now, which the check
            // at the top of the loop makes sure of: the delete may be old news to a process that
            // was paused, but then the lease's validity on the boot clock has run out as well.
            if wake == Wake::First {
                queue.remove(0);
                continue;
            }
            let range = RangeRead {
                below_index: Some(mine + 1),
                ..queue_read.clone()
            };
            // A linearizable read: it also confirms that this waiter's own entry still exists
            // (a wake-up may be old news to a process that was paused).
            let mut r = backend.read(vec![Read::Range(range)]).await?;
            queue = r.results.pop().unwrap_or_default().entries;
            snapshot = r.index;
        }
    }

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

    /// The fencing token while held.
    pub fn fencing_token(&self) -> Option<u64> {
        match &*self.inner.state() {
            State::Held(h) => Some(h.token),
            _ => None,
        }
    }

    /// True while this object holds the lock (even if its lease was lost; see [`Lock::is_lost`]).
    pub fn is_held(&self) -> bool {
        matches!(&*self.inner.state(), State::Held(_))
    }

    /// True when the lock is held but was lost (its lease ended, or its entry was deleted by
    /// someone else): the holder must stop.
    pub fn is_lost(&self) -> bool {
        match &*self.inner.state() {
            State::Held(h) => h.lease.is_lost() || h.lost_marked,
            _ => false,
        }
    }

    /// Resolves when the current acquisition is lost (never, if the lock is not held).
    pub async fn wait_lost(&self) {
        // Set by every kind of loss (a lease's end is passed on by `fire_on_loss`), after the
        // lost callbacks ran.
        let lost = match &*self.inner.state() {
            State::Held(h) => Some(h.lost.subscribe()),
            _ => None,
        };
        match lost {
            Some(mut lost) => {
                if lost.wait_for(|lost| *lost).await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
            None => std::future::pending().await,
        }
    }

    /// Calls `f` as soon as the lease of a held lock is lost (for every acquisition).
    pub fn on_lost(&self, f: impl Fn() + Send + Sync + 'static) {
        self.inner
            .callbacks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Arc::new(f));
    }

    /// The waiter key and token, for `Txn::require`.
    pub(crate) fn guard(&self) -> Option<(String, u64)> {
        match &*self.inner.state() {
            State::Held(h) => Some((h.key.clone(), h.token)),
            _ => None,
        }
    }
}

impl LockInner {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Back to idle, if still held with `token`.
    fn set_idle(&self, token: u64) {
        let mut st = self.state();
        if matches!(&*st, State::Held(h) if h.token == token) {
            *st = State::Idle;
        }
    }

    fn acquisition_is_lost(&self, token: u64) -> bool {
        matches!(&*self.state(), State::Held(h) if h.token == token && h.lost_marked)
    }

    /// The acquisition with `token` is lost: marks it, and calls the lost callbacks once.
    fn acquisition_lost(&self, token: u64) {
        let signal = match &mut *self.state() {
            State::Held(h) if h.token == token && !h.lost_marked => {
                h.lost_marked = true;
                Some(h.lost.clone())
            }
            _ => None,
        };
        if let Some(signal) = signal {
            // The callbacks run before `lost()` resolves, so whoever awaited it sees them done.
            let callbacks: Vec<Callback> = self
                .callbacks
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            for cb in callbacks {
                cb();
            }
            signal.send_replace(true);
        }
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
                spawner: self.client.inner.spawner.clone(),
            };
            drop(guard);
        }
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

/// Removes a waiter entry if the acquire that created it fails, times out or is cancelled.
struct WaiterGuard {
    backend: Arc<dyn Backend>,
    key: String,
    index: u64,
    armed: bool,
    spawner: rt::Spawner,
}

impl WaiterGuard {
    /// Removes the waiter now; if that fails, the guard stays armed and its drop keeps trying
    /// in the background.
    /// Returns whether the entry is certainly gone.
    async fn remove(&mut self) -> bool {
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

type Commit = std::pin::Pin<Box<dyn Future<Output = Result<crate::backend::TxnResponse>> + Send>>;

/// The commit creating a waiter, polled in place. Dropped before it finished (the acquire was
/// cancelled or timed out), it finishes in a task of its own, which removes the waiter the
/// commit created.
struct DetachedOnDrop {
    commit: Option<Commit>,
    backend: Arc<dyn Backend>,
    key: String,
    spawner: rt::Spawner,
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
async fn remove_waiter(backend: Arc<dyn Backend>, key: String, index: u64) {
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

/// Fires the lock's lost callbacks when `lease` is lost while the lock is held on it.
async fn fire_on_loss(
    lease: Lease,
    lock: std::sync::Weak<LockInner>,
    mut alive: tokio::sync::watch::Receiver<()>,
) {
    let id = lease.id();
    tokio::select! {
        _ = lease.wait_lost() => {}
        _ = alive.changed() => return,
    }
    drop(lease);
    let Some(lock) = lock.upgrade() else { return };
    let token = match &*lock.state() {
        State::Held(h) if h.lease.id() == id => Some(h.token),
        _ => None,
    };
    if let Some(token) = token {
        lock.acquisition_lost(token);
    }
}

/// The holder and waiters of the lock `name`.
pub(crate) async fn queue(client: &Client, name: &str) -> Result<Vec<LockWaiter>> {
    validate::key_shape(name).map_err(|e| e.prefix("invalid lock name"))?;
    let range = RangeRead {
        order: Order::IndexAsc,
        include_reserved: true,
        ..RangeRead::prefix(queue_prefix(name))
    };
    let mut r = client.backend().read(vec![Read::Range(range)]).await?;
    let entries = r.results.pop().unwrap_or_default().entries;
    let leases: Vec<LeaseId> = entries.iter().filter_map(|e| e.lease).collect();
    let ttls = client.backend().time_to_live(&leases).await?;
    let mut ttl_of = leases.into_iter().zip(ttls);
    Ok(entries
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            let ttl_left = e.lease.and_then(|_| ttl_of.next().and_then(|(_, t)| t));
            LockWaiter {
                token: e.index,
                holder: i == 0,
                lease: e.lease,
                owner: e.value,
                key: e.key,
                ttl_left,
            }
        })
        .collect())
}
