//! What a client's handles share: the backend, the closed signal, the spawner, the leases to
//! revoke on close, and the per-process identity and shared lock leases. Every concept module
//! (lock, txn, session, entries) works over this state; `client.rs` only puts a public face on
//! it, so no module below the facade depends on it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::lease::Lease;
use crate::validate;

/// The state behind a [`Client`](crate::Client) and every lock, transaction and session made
/// from it.
pub(crate) struct ClientState {
    pub(crate) backend: Arc<dyn Backend>,
    /// What belongs to the process using the client, made again in a forked child.
    process: Mutex<PerProcess>,
    /// Set by [`Client::close`](crate::Client::close); watches and waits end when it changes.
    closed: AtomicBool,
    closed_tx: tokio::sync::watch::Sender<bool>,
    /// The leases made by [`Client::lease`](crate::Client::lease), revoked by
    /// [`Client::close`](crate::Client::close).
    leases: Mutex<Vec<Weak<crate::lease::LeaseInner>>>,
    pub(crate) spawner: crate::rt::Spawner,
}

/// A client's identity and lock state in one process. A forked child inherits the parent's copy
/// of it, which must not be used there: the child would make the parent's waiter keys and attach
/// its entries to leases only the parent keeps alive. So each use checks the pid first.
pub(crate) struct PerProcess {
    pid: u32,
    /// Distinguishes this client's lock waiters from every other client's, in every process
    /// and on every host: 128 random bits from the operating system.
    pub(crate) id: String,
    pub(crate) waiter_seq: u64,
    /// Waiter keys whose entries this client deleted itself, by lock queue prefix, for its next
    /// acquires of the same lock (see `lock/keys.rs`); at most `IDLE_LOCKS` locks.
    pub(crate) idle_waiter_keys: HashMap<String, Vec<String>>,
    /// One kept-alive lease per TTL, shared by this client's locks (like an etcd session), so an
    /// uncontended lock+unlock costs two writes. Those no lock uses are dropped (and revoked)
    /// beyond [`IDLE_SHARED_LEASES`].
    shared_leases: HashMap<Duration, Lease>,
    /// Held while a shared lease is granted.
    granting: Arc<tokio::sync::Mutex<()>>,
}

/// Shared leases a client keeps alive while no lock uses them, for the next lock with that TTL.
const IDLE_SHARED_LEASES: usize = 16;

impl PerProcess {
    fn new() -> PerProcess {
        PerProcess {
            pid: current_pid(),
            id: new_client_id(),
            waiter_seq: 0,
            idle_waiter_keys: HashMap::new(),
            shared_leases: HashMap::new(),
            granting: Arc::new(tokio::sync::Mutex::new(())),
        }
    }
}

#[cfg(not(target_family = "wasm"))]
fn current_pid() -> u32 {
    std::process::id()
}

/// One process, no fork.
#[cfg(target_family = "wasm")]
fn current_pid() -> u32 {
    0
}

/// 128 bits from the operating system's random source, in hex. Never a user-space generator: a
/// forked child inherits that generator's state, and would draw its parent's ids.
pub(crate) fn new_client_id() -> String {
    let mut bytes = [0u8; 16];
    if getrandom::getrandom(&mut bytes).is_err() {
        // No OS source (it never fails on Linux or in browsers): still unique per process.
        let fallback = format!(
            "{}-{:?}-{}",
            current_pid(),
            crate::clock::now(),
            fastrand::u128(..)
        );
        for (i, b) in fallback.bytes().enumerate() {
            bytes[i % 16] = bytes[i % 16].rotate_left(3) ^ b;
        }
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Drop for ClientState {
    fn drop(&mut self) {
        let process = self.process.get_mut().unwrap_or_else(|p| p.into_inner());
        if process.pid != current_pid() {
            // The parent's leases, copied by fork: only the parent may end them.
            std::mem::forget(std::mem::take(&mut process.shared_leases));
            return;
        }
        let leases: Vec<Lease> = process.shared_leases.drain().map(|(_, l)| l).collect();
        if leases.is_empty() {
            return;
        }
        // Revoke so that waiters need not wait for the TTL; without a runtime the leases expire.
        self.spawner.spawn(async move {
            for lease in leases {
                let _ = lease.revoke().await;
            }
        });
    }
}

impl ClientState {
    pub(crate) fn new(backend: Arc<dyn Backend>) -> ClientState {
        ClientState {
            backend,
            process: Mutex::new(PerProcess::new()),
            closed: AtomicBool::new(false),
            closed_tx: tokio::sync::watch::channel(false).0,
            leases: Mutex::new(Vec::new()),
            spawner: crate::rt::Spawner::current(),
        }
    }

    /// This client's state in the calling process; fresh in a forked child.
    pub(crate) fn process(&self) -> MutexGuard<'_, PerProcess> {
        let mut process = self.process.lock().unwrap_or_else(|p| p.into_inner());
        if process.pid != current_pid() {
            let parent = std::mem::replace(&mut *process, PerProcess::new());
            // Dropping the parent's leases would revoke them, or try to.
            std::mem::forget(parent.shared_leases);
        }
        process
    }

    /// This client's id in the calling process.
    pub(crate) fn id(&self) -> String {
        self.process().id.clone()
    }

    /// See [`Client::close`](crate::Client::close).
    pub(crate) async fn close(&self) -> Result<()> {
        if self.closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        let _ = self.closed_tx.send(true);
        let mut leases: Vec<Lease> = {
            let mut process = self.process();
            process.idle_waiter_keys.clear();
            process.shared_leases.drain().map(|(_, l)| l).collect()
        };
        leases.extend(
            std::mem::take(&mut *self.leases.lock().unwrap_or_else(|p| p.into_inner()))
                .into_iter()
                .filter_map(|w| w.upgrade().map(Lease::from_inner)),
        );
        let revokes = leases.iter().map(|l| l.revoke());
        let mut failed = None;
        for outcome in futures::future::join_all(revokes).await {
            if let Err(e) = outcome {
                failed.get_or_insert(e);
            }
        }
        match failed {
            // The leases are marked lost either way; those not revoked expire with their TTL.
            Some(e) => Err(e.prefix("closing the client: revoking its leases failed")),
            None => Ok(()),
        }
    }

    /// How many shared lock leases this client keeps alive.
    pub(crate) fn shared_lease_count(&self) -> usize {
        self.process().shared_leases.len()
    }

    /// True once [`Client::close`](crate::Client::close) was called.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// `InvalidArgument` once the client is closed.
    pub(crate) fn check_open(&self) -> Result<()> {
        if self.is_closed() {
            return Err(Error::invalid(format!(
                "the client of {} is closed",
                self.backend.describe()
            )));
        }
        Ok(())
    }

    /// Resolves when the client is closed.
    pub(crate) fn closed(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.closed_tx.subscribe();
        async move {
            let _ = rx.wait_for(|closed| *closed).await;
        }
    }

    pub(crate) fn backend(&self) -> &Arc<dyn Backend> {
        &self.backend
    }

    /// The store this client talks to, for messages.
    pub(crate) fn describe(&self) -> String {
        self.backend.describe()
    }

    /// See [`Client::lease`](crate::Client::lease).
    pub(crate) async fn lease(&self, ttl: Duration) -> Result<Lease> {
        validate::ttl(ttl)?;
        self.check_open()?;
        let lease = Lease::grant(self.backend.clone(), ttl).await?;
        {
            let mut leases = self.leases.lock().unwrap_or_else(|p| p.into_inner());
            if leases.len() >= 64 && leases.len().is_power_of_two() {
                leases.retain(|w| w.strong_count() > 0);
            }
            leases.push(lease.downgrade());
        }
        if self.is_closed() {
            // Closed while granting: close() did not see this lease.
            let _ = lease.revoke().await;
            self.check_open()?;
        }
        Ok(lease)
    }

    /// This client's shared lease for `ttl`, granted on first use and again after a loss.
    pub(crate) async fn shared_lease(&self, ttl: Duration) -> Result<Lease> {
        let granting = {
            let process = self.process();
            if let Some(l) = process.shared_leases.get(&ttl) {
                if !l.is_lost() {
                    return Ok(l.clone());
                }
            }
            process.granting.clone()
        };
        // One grant at a time, so that concurrent first acquires share one lease.
        let _granting = granting.lock().await;
        if let Some(l) = self.process().shared_leases.get(&ttl) {
            if !l.is_lost() {
                return Ok(l.clone());
            }
        }
        self.check_open()?;
        validate::ttl(ttl)?;
        let lease = Lease::grant(self.backend.clone(), ttl).await?;
        {
            let mut process = self.process();
            if process.shared_leases.len() >= IDLE_SHARED_LEASES {
                // Leases that no lock uses (the map holds the only handle) go, and are revoked.
                process
                    .shared_leases
                    .retain(|_, l| l.handles() > 1 && !l.is_lost());
            }
            process.shared_leases.insert(ttl, lease.clone());
        }
        if self.is_closed() {
            let _ = lease.revoke().await;
            self.check_open()?;
        }
        Ok(lease)
    }

    /// Forgets a shared lease the store no longer knows (revoked from elsewhere), so the next
    /// lock gets a new one at once instead of at the keeper's next renewal.
    pub(crate) fn shared_lease_dead(&self, lease: &Lease) {
        lease.mark_lost();
        let mut process = self.process();
        if process
            .shared_leases
            .get(&lease.ttl_asked())
            .is_some_and(|l| l.id() == lease.id())
        {
            process.shared_leases.remove(&lease.ttl_asked());
        }
    }
}
