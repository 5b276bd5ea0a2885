//! `Client`: the store connection and every single-call operation
//! (docs/design.md, Operations and Leases).

use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::convert::{Entry, LockWaiter, Page, PutResult, all};
use interlock_js::Write;

use crate::errors::OrThrow;
use crate::lease::Lease;
use crate::lock::Lock;
use crate::session::Session;
use crate::txn::Txn;
use crate::watch::Watch;

/// A connection to one store; `close()` revokes its leases and ends its use.
#[napi]
pub struct Client {
    inner: interlock_js::Client,
    /// The runtime the client was made on, for `close_at_exit`.
    runtime: tokio::runtime::Handle,
}

/// Connects to the store at `url` (none: `INTERLOCK_URL`, else the default SQLite file), with
/// the bearer token of an interlock server (`http://`).
#[napi]
pub async fn connect(url: Option<String>, token: Option<String>) -> Result<Client> {
    let url = match url {
        Some(url) => url,
        None => interlock::default_url().or_throw()?,
    };
    Ok(Client {
        inner: interlock_js::connect(url, token).await.or_throw()?,
        runtime: tokio::runtime::Handle::current(),
    })
}

/// The URL used when none is given.
#[napi]
pub fn default_url() -> Result<String> {
    interlock::default_url().or_throw()
}

#[napi]
impl Client {
    #[napi]
    pub fn describe(&self) -> Result<String> {
        self.inner.describe().or_throw()
    }

    #[napi]
    pub async fn get(&self, key: String) -> Result<Option<Entry>> {
        Ok(self.inner.get(key).await.or_throw()?.map(Entry::from))
    }

    #[napi]
    pub async fn get_many(&self, keys: Vec<String>) -> Result<Vec<Entry>> {
        Ok(all(self.inner.get_many(keys).await.or_throw()?))
    }

    #[napi]
    pub async fn list(
        &self,
        prefix: String,
        after: Option<String>,
        limit: Option<u32>,
    ) -> Result<Page> {
        Ok(self
            .inner
            .list(prefix, after, limit)
            .await
            .or_throw()?
            .into())
    }

    #[napi]
    pub async fn index(&self) -> Result<f64> {
        self.inner.index().await.or_throw()
    }

    /// `value` is JSON text. Without `index` it is `set`: an unconditional write.
    #[napi]
    pub async fn put(
        &self,
        key: String,
        value: String,
        index: Option<f64>,
        lease: Option<String>,
    ) -> Result<PutResult> {
        let write = Write::new(key, value, index, lease);
        Ok(self.inner.put(write).await.or_throw()?.into())
    }

    #[napi]
    pub async fn delete(&self, key: String, index: Option<f64>) -> Result<PutResult> {
        Ok(self.inner.delete(key, index).await.or_throw()?.into())
    }

    #[napi]
    pub fn txn(&self) -> Result<Txn> {
        self.inner.txn().map(|inner| Txn { inner }).or_throw()
    }

    #[napi]
    pub async fn watch(&self, prefix: String, from_index: Option<f64>) -> Result<Watch> {
        self.inner
            .watch(prefix, from_index)
            .await
            .map(|inner| Watch { inner })
            .or_throw()
    }

    /// Grants a lease that is not kept alive; returns its id.
    #[napi]
    pub async fn grant(&self, ttl_secs: f64) -> Result<String> {
        self.inner.grant(ttl_secs).await.or_throw()
    }

    /// Renews a lease once; returns its TTL in seconds.
    #[napi]
    pub async fn keepalive(&self, id: String) -> Result<f64> {
        self.inner.keepalive(id).await.or_throw()
    }

    #[napi]
    pub async fn revoke(&self, id: String) -> Result<bool> {
        self.inner.revoke(id).await.or_throw()
    }

    /// Seconds left on a lease, or null if it is gone.
    #[napi]
    pub async fn time_to_live(&self, id: String) -> Result<Option<f64>> {
        self.inner.time_to_live(id).await.or_throw()
    }

    /// A lease kept alive in the background.
    #[napi]
    pub async fn lease(&self, ttl_secs: f64) -> Result<Lease> {
        self.inner
            .lease(ttl_secs)
            .await
            .map(|inner| Lease { inner })
            .or_throw()
    }

    #[napi]
    pub fn lock(
        &self,
        name: String,
        ttl_secs: f64,
        owner: Option<String>,
        lease: Option<&Lease>,
    ) -> Result<Lock> {
        let lease = lease.map(|l| &l.inner);
        self.inner
            .lock(name, lease, ttl_secs, owner)
            .map(|inner| Lock { inner })
            .or_throw()
    }

    #[napi]
    pub async fn lock_queue(&self, name: String) -> Result<Vec<LockWaiter>> {
        Ok(all(self.inner.lock_queue(name).await.or_throw()?))
    }

    #[napi]
    pub fn session(&self, optimistic: bool) -> Result<Session> {
        self.inner
            .session(optimistic)
            .map(|inner| Session { inner })
            .or_throw()
    }

    /// Closes the client: revokes its leases (its held locks free at once, and are lost to
    /// their holders), ends its waits and watches, and makes every later call on it or on its
    /// locks, leases, sessions and transactions fail. Idempotent.
    #[napi]
    pub async fn close(&self) -> Result<()> {
        self.inner.close().await.or_throw()
    }

    /// Closes the client from `process.on('exit')`, where nothing asynchronous runs any more:
    /// blocks the JavaScript thread, for at most `limit_secs`, while the runtime's threads
    /// revoke the client's leases, so that its locks free at once rather than after their TTL.
    #[napi]
    pub fn close_at_exit(&self, limit_secs: f64) -> Result<()> {
        let limit = interlock_js::convert::seconds("limit", limit_secs).or_throw()?;
        if self.inner.closed() {
            return Ok(());
        }
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(interlock_js::errors::internal(
                "closeAtExit cannot block inside the async runtime",
            ))
            .or_throw();
        }
        let close = self.inner.close();
        let _ = self
            .runtime
            .block_on(async move { tokio::time::timeout(limit, close).await });
        Ok(())
    }

    #[napi(getter)]
    pub fn closed(&self) -> bool {
        self.inner.closed()
    }
}
