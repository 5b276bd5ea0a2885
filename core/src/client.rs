//! The entry point: a [`Client`] on one store, with every operation (docs/design.md, Operations).
//! Operations validate their input here, once, before any backend sees it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use futures::StreamExt;
use serde_json::Value;

use crate::backend::{Backend, Compare, LeaseGrant, Op, RangeRead, Read, TxnRequest};
use crate::error::{Error, Result};
use crate::lease::Lease;
use crate::lock::{Lock, LockOptions, LockWaiter};
use crate::model::{Entry, LeaseId, Page, PutResult};
use crate::session::{Session, SessionOptions};
use crate::txn::Txn;
use crate::validate;
use crate::watch::WatchStream;

/// A connection to one store. Cheap to clone; clones share leases and connections.
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<ClientInner>,
}

pub(crate) struct ClientInner {
    pub(crate) backend: Arc<dyn Backend>,
    /// What belongs to the process using the client, made again in a forked child.
    process: Mutex<PerProcess>,
    /// Set by [`Client::close`]; watches and waits end when it changes.
    closed: AtomicBool,
    closed_tx: tokio::sync::watch::Sender<bool>,
    /// The leases made by [`Client::lease`], revoked by [`Client::close`].
    leases: Mutex<Vec<Weak<crate::lease::LeaseInner>>>,
    pub(crate) spawner: crate::rt::Spawner,
}

/// A client's identity and lock state in one process. A forked child inherits the parent's copy
/// of it, which must not be used there: the child would make the parent's waiter keys and attach
/// its entries to leases only the parent keeps alive. So each use checks the pid first.
struct PerProcess {
    pid: u32,
    /// Distinguishes this client's lock waiters from every other client's, in every process
    /// and on every host: 128 random bits from the operating system.
    id: String,
    waiter_seq: u64,
    /// Waiter keys whose entries this client deleted itself, by lock queue prefix, for its next
    /// acquires of the same lock (see [`Client::waiter_key`]); at most [`IDLE_LOCKS`] locks.
    idle_waiter_keys: HashMap<String, Vec<String>>,
    /// One kept-alive lease per TTL, shared by this client's locks (like an etcd session), so an
    /// uncontended lock+unlock costs two writes. Those no lock uses are dropped (and revoked)
    /// beyond [`IDLE_SHARED_LEASES`].
    shared_leases: HashMap<Duration, Lease>,
    /// Held while a shared lease is granted.
    granting: Arc<tokio::sync::Mutex<()>>,
}

/// Locks whose idle waiter keys a client keeps for reuse.
const IDLE_LOCKS: usize = 1024;

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

impl Drop for ClientInner {
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

/// Options of [`Client::connect_with`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectOptions {
    /// The bearer token of an interlock server (`http://`); `None`: `INTERLOCK_TOKEN`, if set.
    /// The other stores take no token.
    pub token: Option<String>,
}

/// Options of [`Client::put_with`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PutOptions {
    /// Compare-exchange: `Some(0)` creates only if absent, `Some(n)` replaces only at index n.
    pub index: Option<u64>,
    /// Attach the entry to this lease: it is deleted when the lease ends.
    pub lease: Option<LeaseId>,
}

impl Client {
    /// Connects to the store a URL names (`mem://`, `sqlite:///path.db`, ...).
    pub async fn connect(url: &str) -> Result<Client> {
        Client::connect_with(url, &ConnectOptions::default()).await
    }

    /// [`Client::connect`] with options: the bearer token of an interlock server (`http://`).
    pub async fn connect_with(url: &str, options: &ConnectOptions) -> Result<Client> {
        Ok(Client::from_backend(crate::url::open(url, options).await?))
    }

    /// Connects to `INTERLOCK_URL`, else the embedded store in the user's data directory.
    pub async fn connect_default() -> Result<Client> {
        Client::connect(&crate::url::default_url()?).await
    }

    /// A client over any backend.
    pub fn from_backend(backend: Arc<dyn Backend>) -> Client {
        Client {
            inner: Arc::new(ClientInner {
                backend,
                process: Mutex::new(PerProcess::new()),
                closed: AtomicBool::new(false),
                closed_tx: tokio::sync::watch::channel(false).0,
                leases: Mutex::new(Vec::new()),
                spawner: crate::rt::Spawner::current(),
            }),
        }
    }

    /// This client's state in the calling process; fresh in a forked child.
    fn process(&self) -> MutexGuard<'_, PerProcess> {
        let mut process = self.inner.process.lock().unwrap_or_else(|p| p.into_inner());
        if process.pid != current_pid() {
            let parent = std::mem::replace(&mut *process, PerProcess::new());
            // Dropping the parent's leases would revoke them, or try to.
            std::mem::forget(parent.shared_leases);
        }
        process
    }

    /// The id that tells this client's lock waiters apart from every other client's (it changes
    /// in a forked child).
    pub fn id(&self) -> String {
        self.process().id.clone()
    }

    /// Closes the client: revokes its leases (its locks free at once, and holders see them as
    /// lost), stops their renewals and its watches, and makes every further use of it, or of a
    /// lock, lease or session made from it, fail with `InvalidArgument`. Idempotent.
    pub async fn close(&self) -> Result<()> {
        if self.inner.closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        let _ = self.inner.closed_tx.send(true);
        let mut leases: Vec<Lease> = {
            let mut process = self.process();
            process.idle_waiter_keys.clear();
            process.shared_leases.drain().map(|(_, l)| l).collect()
        };
        leases.extend(
            std::mem::take(&mut *self.inner.leases.lock().unwrap_or_else(|p| p.into_inner()))
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

    /// How many shared lock leases this client keeps alive (for tests of bounded state).
    #[doc(hidden)]
    pub fn shared_lease_count(&self) -> usize {
        self.process().shared_leases.len()
    }

    /// True once [`Client::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::SeqCst)
    }

    /// `InvalidArgument` once the client is closed.
    pub(crate) fn check_open(&self) -> Result<()> {
        if self.is_closed() {
            return Err(Error::invalid(format!(
                "the client of {} is closed",
                self.inner.backend.describe()
            )));
        }
        Ok(())
    }

    /// Resolves when the client is closed.
    pub(crate) fn closed(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.inner.closed_tx.subscribe();
        async move {
            let _ = rx.wait_for(|closed| *closed).await;
        }
    }

    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.inner.backend
    }

    /// The store this client talks to, for messages.
    pub fn describe(&self) -> String {
        self.inner.backend.describe()
    }

    /// A waiter key in the lock queue under `prefix`: one this client used before and deleted
    /// itself, else a new one.
    ///
    /// Reuse matters on etcd: a deleted key stays in its index until the history is compacted,
    /// and every read of the queue walks those deleted keys too, so a new key per acquire makes
    /// each acquire slower than the one before on a cluster that compacts rarely (or never,
    /// etcd's default). A key comes back only through [`Client::waiter_key_done`], after a delete
    /// that is known to have applied, so no removal still in flight can hit its next use.
    ///
    /// A new key is this client's id in this process plus a sequence number, so no other client,
    /// thread, process or host ever makes the same key: a client may delete its own keys
    /// whatever their index without touching anyone else's entry.
    pub(crate) fn waiter_key(&self, prefix: &str) -> String {
        let mut process = self.process();
        if let Some(keys) = process.idle_waiter_keys.get_mut(prefix) {
            let key = keys.pop();
            if keys.is_empty() {
                process.idle_waiter_keys.remove(prefix);
            }
            if let Some(key) = key {
                return key;
            }
        }
        let n = process.waiter_seq;
        process.waiter_seq += 1;
        format!("{prefix}{}{n:x}", process.id)
    }

    /// Returns a waiter key whose entry this client has deleted, with a definite outcome.
    pub(crate) fn waiter_key_done(&self, prefix: &str, key: String) {
        /// Idle keys kept per lock: as many as this client's concurrent waiters usually are.
        const KEEP: usize = 8;
        let mut process = self.process();
        let own = key
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with(&process.id));
        if !own {
            // Made by this client in the process it was forked from.
            return;
        }
        let idle = &mut process.idle_waiter_keys;
        if !idle.contains_key(prefix) && idle.len() >= IDLE_LOCKS {
            // Forget another lock's keys: a service locking per-entity names would otherwise
            // keep every name it ever locked.
            if let Some(other) = idle.keys().next().cloned() {
                idle.remove(&other);
            }
        }
        let keys = idle.entry(prefix.to_string()).or_default();
        if keys.len() < KEEP && !keys.contains(&key) {
            keys.push(key);
        }
    }

    /// The entry at `key`, or `None`.
    pub async fn get(&self, key: &str) -> Result<Option<Entry>> {
        validate::key_shape(key)?;
        self.check_open()?;
        let mut r = self
            .inner
            .backend
            .read(vec![Read::Keys(vec![key.to_string()])])
            .await?;
        Ok(r.results.pop().and_then(|mut r| r.entries.pop()))
    }

    /// The entries that exist among `keys`, read from one snapshot, in the order given.
    pub async fn get_many<S: AsRef<str>>(&self, keys: &[S]) -> Result<Vec<Entry>> {
        let keys: Vec<String> = keys.iter().map(|k| k.as_ref().to_string()).collect();
        for k in &keys {
            validate::key_shape(k)?;
        }
        self.check_open()?;
        let mut r = self.inner.backend.read(vec![Read::Keys(keys)]).await?;
        Ok(r.results.pop().map(|r| r.entries).unwrap_or_default())
    }

    /// Entries whose key starts with `prefix`, in key order, after the key `after`, at most
    /// `limit` of them; one snapshot per page. Reserved (`@`) keys are listed only when the
    /// prefix asks for them.
    pub async fn list(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: Option<usize>,
    ) -> Result<Page> {
        validate::prefix(prefix)?;
        if limit == Some(0) {
            return Err(Error::invalid("list limit must be at least 1"));
        }
        self.check_open()?;
        let range = RangeRead {
            after: after.map(str::to_string),
            limit,
            ..RangeRead::prefix(prefix)
        };
        let mut r = self.inner.backend.read(vec![Read::Range(range)]).await?;
        let result = r.results.pop().unwrap_or_default();
        Ok(Page {
            entries: result.entries,
            more: result.more,
            index: r.index,
        })
    }

    /// The store's current index.
    pub async fn index(&self) -> Result<u64> {
        self.check_open()?;
        Ok(self.inner.backend.read(Vec::new()).await?.index)
    }

    /// Compare-exchange: `index = 0` creates only if absent; `index = n` replaces only if the
    /// entry is at n. A failed compare returns the current index and value.
    pub async fn put(&self, key: &str, value: impl Into<Value>, index: u64) -> Result<PutResult> {
        self.put_with(
            key,
            value,
            PutOptions {
                index: Some(index),
                lease: None,
            },
        )
        .await
    }

    /// Unconditional write; returns the new index.
    pub async fn set(&self, key: &str, value: impl Into<Value>) -> Result<u64> {
        Ok(self
            .put_with(key, value, PutOptions::default())
            .await?
            .index)
    }

    /// A put with every option: compare-exchange index and lease.
    pub async fn put_with(
        &self,
        key: &str,
        value: impl Into<Value>,
        options: PutOptions,
    ) -> Result<PutResult> {
        let value = value.into();
        validate::writable_key(key)?;
        validate::value(key, &value, self.inner.backend.limits().max_value_bytes)?;
        self.check_open()?;
        let compares = options
            .index
            .map(|index| Compare {
                key: key.to_string(),
                index,
            })
            .into_iter()
            .collect();
        let ops = vec![Op::Put {
            key: key.to_string(),
            value: value.clone(),
            lease: options.lease,
        }];
        let r = self
            .inner
            .backend
            .commit(TxnRequest {
                compares,
                ops,
                reads: Vec::new(),
            })
            .await?;
        Ok(match r.failed.into_iter().next() {
            Some(m) => PutResult {
                successful: false,
                index: m.actual,
                value: m.value,
            },
            None => PutResult {
                successful: true,
                index: r.index,
                value: Some(value),
            },
        })
    }

    /// Deletes `key`: with `index`, only if the entry is at that index (an absent key fails with
    /// index 0); without, unconditionally. `successful` says whether an entry was deleted.
    pub async fn delete(&self, key: &str, index: Option<u64>) -> Result<PutResult> {
        validate::writable_key(key)?;
        self.check_open()?;
        let compares = index
            .map(|index| Compare {
                key: key.to_string(),
                index,
            })
            .into_iter()
            .collect();
        let r = self
            .inner
            .backend
            .commit(TxnRequest {
                compares,
                ops: vec![Op::Delete {
                    key: key.to_string(),
                }],
                reads: Vec::new(),
            })
            .await?;
        Ok(match r.failed.into_iter().next() {
            Some(m) => PutResult {
                successful: false,
                index: m.actual,
                value: m.value,
            },
            None if r.applied.first() == Some(&true) => PutResult {
                successful: true,
                index: r.index,
                value: None,
            },
            None => PutResult {
                successful: false,
                index: 0,
                value: None,
            },
        })
    }

    /// A new atomic transaction.
    pub fn txn(&self) -> Txn {
        Txn::new(self.clone())
    }

    /// Changes to keys under `prefix`, in index order, starting at index `from` (inclusive) or
    /// at the next commit. Resume after an event at index n with `from = n + 1`.
    pub async fn watch(&self, prefix: &str, from: Option<u64>) -> Result<WatchStream> {
        validate::prefix(prefix)?;
        self.check_open()?;
        let stream = self
            .inner
            .backend
            .watch(RangeRead::prefix(prefix), from)
            .await?;
        // Closing the client ends the stream.
        Ok(WatchStream::new(Box::pin(stream.take_until(self.closed()))))
    }

    /// Grants a bare lease that nobody keeps alive (see [`Client::lease`] for one that is).
    pub async fn grant(&self, ttl: Duration) -> Result<LeaseGrant> {
        validate::ttl(ttl)?;
        self.check_open()?;
        self.inner.backend.grant(ttl).await
    }

    /// Renews a lease once; `LeaseExpired` if it is unknown or has expired.
    pub async fn keepalive(&self, lease: LeaseId) -> Result<Duration> {
        self.check_open()?;
        self.inner.backend.keepalive(lease).await
    }

    /// Revokes a lease and deletes its entries; false if it was unknown or had expired.
    pub async fn revoke(&self, lease: LeaseId) -> Result<bool> {
        self.check_open()?;
        self.inner.backend.revoke(lease).await
    }

    /// Time left on each lease (`None`: unknown or expired).
    pub async fn time_to_live(&self, leases: &[LeaseId]) -> Result<Vec<Option<Duration>>> {
        self.check_open()?;
        self.inner.backend.time_to_live(leases).await
    }

    /// Grants a lease and keeps it alive in the background until it is revoked or dropped.
    pub async fn lease(&self, ttl: Duration) -> Result<Lease> {
        validate::ttl(ttl)?;
        self.check_open()?;
        let lease = Lease::grant(self.inner.backend.clone(), ttl).await?;
        {
            let mut leases = self.inner.leases.lock().unwrap_or_else(|p| p.into_inner());
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
        let lease = Lease::grant(self.inner.backend.clone(), ttl).await?;
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

    /// A fair lock with the default options (TTL 20 s).
    pub fn lock(&self, name: &str) -> Lock {
        Lock::new(self.clone(), name, LockOptions::default())
    }

    /// A fair lock with options.
    pub fn lock_with(&self, name: &str, options: LockOptions) -> Lock {
        Lock::new(self.clone(), name, options)
    }

    /// The holder and waiters of a lock, holder first.
    pub async fn lock_queue(&self, name: &str) -> Result<Vec<LockWaiter>> {
        self.check_open()?;
        crate::lock::queue(self, name).await
    }

    /// A unit of work with optimistic concurrency on.
    pub fn session(&self) -> Session {
        Session::new(self.clone(), SessionOptions::default())
    }

    /// A unit of work with options.
    pub fn session_with(&self, options: SessionOptions) -> Session {
        Session::new(self.clone(), options)
    }
}
