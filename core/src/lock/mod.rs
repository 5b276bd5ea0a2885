//! The fair mutex with fencing tokens (docs/design.md, Locks), written once over the backend trait.
//!
//! Each acquire creates its own waiter entry `@lock/<escaped name>/<client id><n>` on a lease, in
//! one round trip that also reads the queue (a client reuses the keys it deleted itself: see
//! `keys.rs`). The waiter with the lowest index holds the lock and that index is its fencing
//! token. The waiter second in line watches the whole queue and takes the lock on the holder's
//! delete event, with no further round trip; waiters further back watch only their immediate
//! predecessor and, after every wake-up, re-read the queue to check that their own entry still
//! exists.
//!
//! The files follow a lock's life: `acquire.rs` creates the waiter, `wait.rs` waits in the queue,
//! `loss.rs` notices that a held lock was lost, `cleanup.rs` removes waiter entries (release,
//! drop, and removal after an unknown outcome), and `keys.rs` names the queue and its waiters.

mod acquire;
mod cleanup;
mod keys;
mod loss;
mod wait;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use crate::error::{Error, ErrorKind, Result};
use crate::lease::Lease;
use crate::model::LeaseId;
use crate::rt;
use crate::state::ClientState;

pub(crate) use keys::queue;
use keys::queue_prefix;

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
    client: Arc<ClientState>,
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
    pub(crate) fn new(client: Arc<ClientState>, name: &str, options: LockOptions) -> Lock {
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
}
