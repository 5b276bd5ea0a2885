//! The entry point: a [`Client`] on one store, with every operation (docs/design.md, Operations).
//! A facade: each operation lives in its concept's module, over the state in `state.rs`.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::backend::{Backend, LeaseGrant};
use crate::error::Result;
use crate::kv::PutOptions;
use crate::lease::Lease;
use crate::lock::{Lock, LockOptions, LockWaiter};
use crate::model::{Entry, LeaseId, Page, PutResult};
use crate::session::{Session, SessionOptions};
use crate::state::ClientState;
use crate::txn::Txn;
use crate::url::ConnectOptions;
use crate::validate;
use crate::watch::WatchStream;

/// A connection to one store. Cheap to clone; clones share leases and connections.
#[derive(Clone)]
pub struct Client {
    state: Arc<ClientState>,
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
            state: Arc::new(ClientState::new(backend)),
        }
    }

    /// The id that tells this client's lock waiters apart from every other client's (it changes
    /// in a forked child).
    pub fn id(&self) -> String {
        self.state.id()
    }

    /// Closes the client: revokes its leases (its locks free at once, and holders see them as
    /// lost), stops their renewals and its watches, and makes every further use of it, or of a
    /// lock, lease or session made from it, fail with `InvalidArgument`. Idempotent.
    pub async fn close(&self) -> Result<()> {
        self.state.close().await
    }

    /// How many shared lock leases this client keeps alive (for tests of bounded state).
    #[doc(hidden)]
    pub fn shared_lease_count(&self) -> usize {
        self.state.shared_lease_count()
    }

    /// True once [`Client::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.state.is_closed()
    }

    pub fn backend(&self) -> &Arc<dyn Backend> {
        self.state.backend()
    }

    /// The store this client talks to, for messages.
    pub fn describe(&self) -> String {
        self.state.describe()
    }

    /// The entry at `key`, or `None`.
    pub async fn get(&self, key: &str) -> Result<Option<Entry>> {
        self.state.get(key).await
    }

    /// The entries that exist among `keys`, read from one snapshot, in the order given.
    pub async fn get_many<S: AsRef<str>>(&self, keys: &[S]) -> Result<Vec<Entry>> {
        self.state.get_many(keys).await
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
        self.state.list(prefix, after, limit).await
    }

    /// The store's current index.
    pub async fn index(&self) -> Result<u64> {
        self.state.index().await
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
        self.state.put_with(key, value, options).await
    }

    /// Deletes `key`: with `index`, only if the entry is at that index (an absent key fails with
    /// index 0); without, unconditionally. `successful` says whether an entry was deleted.
    pub async fn delete(&self, key: &str, index: Option<u64>) -> Result<PutResult> {
        self.state.delete(key, index).await
    }

    /// A new atomic transaction.
    pub fn txn(&self) -> Txn {
        Txn::new(self.state.clone())
    }

    /// Changes to keys under `prefix`, in index order, starting at index `from` (inclusive) or
    /// at the next commit. Resume after an event at index n with `from = n + 1`.
    pub async fn watch(&self, prefix: &str, from: Option<u64>) -> Result<WatchStream> {
        self.state.watch(prefix, from).await
    }

    /// Grants a bare lease that nobody keeps alive (see [`Client::lease`] for one that is).
    pub async fn grant(&self, ttl: Duration) -> Result<LeaseGrant> {
        validate::ttl(ttl)?;
        self.state.check_open()?;
        self.state.backend.grant(ttl).await
    }

    /// Renews a lease once; `LeaseExpired` if it is unknown or has expired.
    pub async fn keepalive(&self, lease: LeaseId) -> Result<Duration> {
        self.state.check_open()?;
        self.state.backend.keepalive(lease).await
    }

    /// Revokes a lease and deletes its entries; false if it was unknown or had expired.
    pub async fn revoke(&self, lease: LeaseId) -> Result<bool> {
        self.state.check_open()?;
        self.state.backend.revoke(lease).await
    }

    /// Time left on each lease (`None`: unknown or expired).
    pub async fn time_to_live(&self, leases: &[LeaseId]) -> Result<Vec<Option<Duration>>> {
        self.state.check_open()?;
        self.state.backend.time_to_live(leases).await
    }

    /// Grants a lease and keeps it alive in the background until it is revoked or dropped.
    pub async fn lease(&self, ttl: Duration) -> Result<Lease> {
        self.state.lease(ttl).await
    }

    /// A fair lock with the default options (TTL 20 s).
    pub fn lock(&self, name: &str) -> Lock {
        Lock::new(self.state.clone(), name, LockOptions::default())
    }

    /// A fair lock with options.
    pub fn lock_with(&self, name: &str, options: LockOptions) -> Lock {
        Lock::new(self.state.clone(), name, options)
    }

    /// The holder and waiters of a lock, holder first.
    pub async fn lock_queue(&self, name: &str) -> Result<Vec<LockWaiter>> {
        self.state.check_open()?;
        crate::lock::queue(&self.state, name).await
    }

    /// A unit of work with optimistic concurrency on.
    pub fn session(&self) -> Session {
        Session::new(self.state.clone(), SessionOptions::default())
    }

    /// A unit of work with options.
    pub fn session_with(&self, options: SessionOptions) -> Session {
        Session::new(self.state.clone(), options)
    }
}
