//! How a held lock learns that it was lost: its lease ended, its entry was deleted by someone
//! else (a force-release), or its client was closed. Each loss marks the acquisition once and
//! calls the lock's lost callbacks before `Lock::lost` resolves.

use std::sync::Arc;

use super::{Callback, Lock, LockInner, State};
use crate::lease::Lease;

impl Lock {
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
}

impl LockInner {
    pub(super) fn acquisition_is_lost(&self, token: u64) -> bool {
        matches!(&*self.state(), State::Held(h) if h.token == token && h.lost_marked)
    }

    /// The acquisition with `token` is lost: marks it, and calls the lost callbacks once.
    pub(super) fn acquisition_lost(&self, token: u64) {
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

/// Fires the lock's lost callbacks when `lease` is lost while the lock is held on it.
pub(super) async fn fire_on_loss(
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
