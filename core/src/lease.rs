//! A lease kept alive in the background (docs/design.md, Leases). The keeper renews at ttl/3 and
//! declares the lease lost as soon as a renewal can no longer be confirmed before expiry, through a
//! flag, an awaitable and callbacks. Written once over the backend trait, for every backend.

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::watch;

use crate::backend::{Backend, Read};
use crate::clock;
use crate::error::{ErrorKind, Result};
use crate::model::LeaseId;
use crate::rt;

type Callback = Box<dyn FnOnce() + Send>;

/// An entry attached to the lease whose removal by someone else (a force-release) its owner
/// must learn of: see [`Lease::track`].
struct Tracked {
    id: u64,
    key: String,
    index: u64,
    gone: Callback,
}

/// Longest sleep between checks of the boot clock (see [`Lease::lost`]).
const CHECK_EVERY: Duration = Duration::from_millis(250);

/// A lease renewed by a background task until it is revoked or every handle is dropped.
#[derive(Clone)]
pub struct Lease {
    inner: Arc<LeaseInner>,
}

pub(crate) struct LeaseInner {
    id: LeaseId,
    ttl: Duration,
    /// The TTL it was asked for (a store may round `ttl` up).
    ttl_asked: Duration,
    backend: Arc<dyn Backend>,
    state: Mutex<State>,
    lost_tx: watch::Sender<bool>,
    spawner: rt::Spawner,
}

struct State {
    /// On the host's boot clock: the lease is certainly alive until then (the renewal was sent
    /// before the store restarted its TTL).
    valid_until: Duration,
    lost: bool,
    revoked: bool,
    callbacks: Vec<Callback>,
    tracked: Vec<Tracked>,
    next_tracked: u64,
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease")
            .field("id", &self.inner.id)
            .field("ttl", &self.inner.ttl)
            .field("lost", &self.is_lost())
            .finish()
    }
}

impl Lease {
    pub(crate) async fn grant(backend: Arc<dyn Backend>, ttl: Duration) -> Result<Lease> {
        let sent = clock::now();
        let grant = backend.grant(ttl).await?;
        let inner = Arc::new(LeaseInner {
            id: grant.id,
            ttl: grant.ttl,
            ttl_asked: ttl,
            backend,
            state: Mutex::new(State {
                valid_until: sent + grant.ttl,
                lost: false,
                revoked: false,
                callbacks: Vec::new(),
                tracked: Vec::new(),
                next_tracked: 0,
            }),
            lost_tx: watch::channel(false).0,
            spawner: rt::Spawner::current(),
        });
        rt::spawn(keeper(Arc::downgrade(&inner)));
        Ok(Lease { inner })
    }

    pub fn id(&self) -> LeaseId {
        self.inner.id
    }

    pub(crate) fn from_inner(inner: Arc<LeaseInner>) -> Lease {
        Lease { inner }
    }

    pub(crate) fn downgrade(&self) -> Weak<LeaseInner> {
        Arc::downgrade(&self.inner)
    }

    /// The TTL the lease was granted for, before any rounding by the store.
    pub(crate) fn ttl_asked(&self) -> Duration {
        self.inner.ttl_asked
    }

    pub fn ttl(&self) -> Duration {
        self.inner.ttl
    }

    /// True once renewal can no longer be confirmed before expiry (or after a revoke).
    pub fn is_lost(&self) -> bool {
        let st = self.inner.state();
        st.lost || st.revoked || clock::now() >= st.valid_until
    }

    /// Resolves when the lease is lost.
    pub async fn wait_lost(&self) {
        let mut rx = self.inner.lost_tx.subscribe();
        loop {
            if self.is_lost() {
                return;
            }
            let until = self.inner.state().valid_until;
            // Timers stop while the host is suspended but the store's clock does not: wake at
            // least every CHECK_EVERY to compare against the boot clock.
            let left = until.saturating_sub(clock::now()).min(CHECK_EVERY);
            tokio::select! {
                r = rx.changed() => if r.is_err() { return },
                _ = rt::sleep(left) => {}
            }
        }
    }

    /// Calls `f` once when the lease is lost (at once if it already is).
    pub fn on_lost(&self, f: impl FnOnce() + Send + 'static) {
        let mut st = self.inner.state();
        if st.lost || st.revoked {
            drop(st);
            f();
        } else {
            st.callbacks.push(Box::new(f));
        }
    }

    /// Revokes the lease, deleting the entries attached to it. Returns false if the store no
    /// longer knew it. The lease counts as lost from then on: `lost()` resolves and the
    /// callbacks fire.
    pub async fn revoke(&self) -> Result<bool> {
        {
            let mut st = self.inner.state();
            if st.revoked {
                return Ok(false);
            }
            st.revoked = true;
        }
        let known = self.inner.backend.revoke(self.inner.id).await;
        self.inner.mark_lost();
        known
    }

    /// Declares the lease lost now: the store refused it (it was revoked or expired there
    /// before the keeper noticed).
    pub(crate) fn mark_lost(&self) {
        self.inner.mark_lost();
    }

    /// How many handles share this lease.
    pub(crate) fn handles(&self) -> usize {
        Arc::strong_count(&self.inner)
    }

    /// Watches entry `key` at `index`, attached to this lease: after each renewal the keeper
    /// checks that it still exists, and calls `gone` once if it does not (someone else deleted
    /// it: a force-release). Returns an id for [`Lease::untrack`].
    pub(crate) fn track(
        &self,
        key: String,
        index: u64,
        gone: impl FnOnce() + Send + 'static,
    ) -> u64 {
        let mut st = self.inner.state();
        st.next_tracked += 1;
        let id = st.next_tracked;
        st.tracked.push(Tracked {
            id,
            key,
            index,
            gone: Box::new(gone),
        });
        id
    }

    /// Stops watching an entry: its owner is deleting it itself.
    pub(crate) fn untrack(&self, id: u64) {
        self.inner.state().tracked.retain(|t| t.id != id);
    }
}

impl LeaseInner {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn mark_lost(&self) {
        let callbacks = {
            let mut st = self.state();
            if st.lost {
                return;
            }
            st.lost = true;
            std::mem::take(&mut st.callbacks)
        };
        for cb in callbacks {
            cb();
        }
        let _ = self.lost_tx.send(true);
    }
}

impl Drop for LeaseInner {
    fn drop(&mut self) {
        let revoked = self.state().revoked;
        if revoked {
            return;
        }
        // The last handle is gone: revoke rather than leave entries until the TTL runs out.
        let backend = self.backend.clone();
        let id = self.id;
        self.spawner.spawn(async move {
            let _ = backend.revoke(id).await;
        });
    }
}

/// After a renewal: calls the `gone` callback of every tracked entry that no longer exists at
/// its index. An entry untracked meanwhile (its owner deleted it) is left alone.
async fn check_tracked(inner: &LeaseInner) {
    let wanted: Vec<(u64, String, u64)> = inner
        .state()
        .tracked
        .iter()
        .map(|t| (t.id, t.key.clone(), t.index))
        .collect();
    if wanted.is_empty() {
        return;
    }
    let keys = wanted.iter().map(|(_, k, _)| k.clone()).collect();
    let Ok(mut r) = inner.backend.read(vec![Read::Keys(keys)]).await else {
        return;
    };
    let present = r.results.pop().map(|r| r.entries).unwrap_or_default();
    let gone: Vec<u64> = wanted
        .into_iter()
        .filter(|(_, key, index)| {
            !present
                .iter()
                .any(|e| &e.key == key && e.index == *index && e.lease == Some(inner.id))
        })
        .map(|(id, _, _)| id)
        .collect();
    if gone.is_empty() {
        return;
    }
    let callbacks: Vec<Callback> = {
        let mut st = inner.state();
        let (fire, keep) = std::mem::take(&mut st.tracked)
            .into_iter()
            .partition(|t| gone.contains(&t.id));
        st.tracked = keep;
        fire.into_iter().map(|t: Tracked| t.gone).collect()
    };
    for cb in callbacks {
        cb();
    }
}

/// Renews at ttl/3; after a failed renewal retries quickly until the lease's known validity
/// runs out, then declares it lost.
async fn keeper(weak: Weak<LeaseInner>) {
    let mut due = match weak.upgrade() {
        Some(inner) => clock::now() + inner.ttl / 3,
        None => return,
    };
    loop {
        // Sleep in short steps checked against the boot clock, so that a suspend or a pause
        // past the lease's validity is noticed at once rather than at the next renewal.
        let wait = due.saturating_sub(clock::now()).min(CHECK_EVERY);
        rt::sleep(wait).await;
        let Some(inner) = weak.upgrade() else { return };
        let (valid_until, revoked) = {
            let st = inner.state();
            (st.valid_until, st.revoked || st.lost)
        };
        if revoked {
            return;
        }
        let sent = clock::now();
        if sent >= valid_until {
            // Paused, suspended or starved past expiry: the store may already have given the
            // lease away.
            inner.mark_lost();
            return;
        }
        if sent < due {
            continue;
        }
        let outcome = rt::timeout(valid_until - sent, inner.backend.keepalive(inner.id)).await;
        match outcome {
            Ok(Ok(ttl)) => {
                {
                    let mut st = inner.state();
                    if sent + ttl > st.valid_until {
                        st.valid_until = sent + ttl;
                    }
                }
                due = sent + ttl / 3;
                check_tracked(&inner).await;
            }
            Ok(Err(e)) if e.kind() == ErrorKind::LeaseExpired => {
                inner.mark_lost();
                return;
            }
            Ok(Err(e)) => {
                tracing::debug!("lease {} keepalive failed: {e}", inner.id);
                if clock::now() >= valid_until {
                    inner.mark_lost();
                    return;
                }
                let retry =
                    (inner.ttl / 20).clamp(Duration::from_millis(50), Duration::from_secs(1));
                due = clock::now() + retry;
            }
            Err(_) => {
                inner.mark_lost();
                return;
            }
        }
    }
}
