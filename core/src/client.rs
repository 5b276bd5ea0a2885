//! The entry point: a [`Client`] on one store, with every operation of DESIGN §3. Operations
//! validate their input here, once, before any backend sees it.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

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
    /// Distinguishes this client's lock waiters from every other client's.
    pub(crate) id: String,
    waiter_seq: AtomicU64,
    /// Waiter keys whose entries this client deleted itself, by lock queue prefix, for its next
    /// acquires of the same lock (see [`Client::waiter_key`]).
    idle_waiter_keys: std::sync::Mutex<HashMap<String, Vec<String>>>,
    /// One kept-alive lease per TTL, shared by this client's locks (like an etcd session), so an
    /// uncontended lock+unlock costs two writes.
    shared_leases: tokio::sync::Mutex<HashMap<Duration, Lease>>,
}

impl Drop for ClientInner {
    fn drop(&mut self) {
        let leases: Vec<Lease> = self
            .shared_leases
            .get_mut()
            .drain()
            .map(|(_, l)| l)
            .collect();
        if leases.is_empty() {
            return;
        }
        // Revoke so that waiters need not wait for the TTL; without a runtime the leases expire.
        crate::rt::spawn_if_running(async move {
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
        let id = format!("{:012x}", fastrand::u64(..) & 0xffff_ffff_ffff);
        Client {
            inner: Arc::new(ClientInner {
                backend,
                id,
                waiter_seq: AtomicU64::new(0),
                idle_waiter_keys: std::sync::Mutex::new(HashMap::new()),
                shared_leases: tokio::sync::Mutex::new(HashMap::new()),
            }),
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
    pub(crate) fn waiter_key(&self, prefix: &str) -> String {
        let idle = self
            .inner
            .idle_waiter_keys
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_mut(prefix)
            .and_then(Vec::pop);
        idle.unwrap_or_else(|| {
            let n = self.inner.waiter_seq.fetch_add(1, Ordering::Relaxed);
            format!("{prefix}{}{:08x}", self.inner.id, n & 0xffff_ffff)
        })
    }

    /// Returns a waiter key whose entry this client has deleted, with a definite outcome.
    pub(crate) fn waiter_key_done(&self, prefix: &str, key: String) {
        /// Idle keys kept per lock: as many as this client's concurrent waiters usually are.
        const KEEP: usize = 8;
        let mut idle = self
            .inner
            .idle_waiter_keys
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let keys = idle.entry(prefix.to_string()).or_default();
        if keys.len() < KEEP && !keys.contains(&key) {
            keys.push(key);
        }
    }

    /// The entry at `key`, or `None`.
    pub async fn get(&self, key: &str) -> Result<Option<Entry>> {
        validate::key_shape(key)?;
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
        let stream = self
            .inner
            .backend
            .watch(RangeRead::prefix(prefix), from)
            .await?;
        Ok(WatchStream::new(stream))
    }

    /// Grants a bare lease that nobody keeps alive (see [`Client::lease`] for one that is).
    pub async fn grant(&self, ttl: Duration) -> Result<LeaseGrant> {
        validate::ttl(ttl)?;
        self.inner.backend.grant(ttl).await
    }

    /// Renews a lease once; `LeaseExpired` if it is unknown or has expired.
    pub async fn keepalive(&self, lease: LeaseId) -> Result<Duration> {
        self.inner.backend.keepalive(lease).await
    }

    /// Revokes a lease and deletes its entries; false if it was unknown or had expired.
    pub async fn revoke(&self, lease: LeaseId) -> Result<bool> {
        self.inner.backend.revoke(lease).await
    }

    /// Time left on each lease (`None`: unknown or expired).
    pub async fn time_to_live(&self, leases: &[LeaseId]) -> Result<Vec<Option<Duration>>> {
        self.inner.backend.time_to_live(leases).await
    }

    /// Grants a lease and keeps it alive in the background until it is revoked or dropped.
    pub async fn lease(&self, ttl: Duration) -> Result<Lease> {
        validate::ttl(ttl)?;
        Lease::grant(self.inner.backend.clone(), ttl).await
    }

    /// This client's shared lease for `ttl`, granted on first use and again after a loss.
    pub(crate) async fn shared_lease(&self, ttl: Duration) -> Result<Lease> {
        let mut leases = self.inner.shared_leases.lock().await;
        if let Some(l) = leases.get(&ttl) {
            if !l.is_lost() {
                return Ok(l.clone());
            }
        }
        let lease = self.lease(ttl).await?;
        leases.insert(ttl, lease.clone());
        Ok(lease)
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
