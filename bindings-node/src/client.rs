//! `Client`: the store connection and every single-call operation
//! (docs/design.md, Operations and Leases).

use interlock::{LockOptions, PutOptions, SessionOptions};
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::convert::{
    Entry, LockWaiter, Page, PutResult, index_in, index_out, json_in, lease_in, lease_out, seconds,
};
use crate::errors::{OrThrow, internal, invalid};
use crate::lease::Lease;
use crate::lock::Lock;
use crate::session::Session;
use crate::txn::Txn;
use crate::watch::Watch;

/// A connection to one store; `close()` revokes its leases and ends its use.
#[napi]
pub struct Client {
    inner: interlock::Client,
    /// The runtime the client was made on, for `close_at_exit`.
    runtime: tokio::runtime::Handle,
}

/// Connects to the store at `url` (none: `INTERLOCK_URL`, else the default SQLite file), with
/// the bearer token of an interlock server (`http://`).
#[napi]
pub async fn connect(url: Option<String>, token: Option<String>) -> Result<Client> {
    // Servers (`http://`) take the token; the other stores have no use for it.
    let url = match url {
        Some(url) => url,
        None => interlock::default_url().or_throw()?,
    };
    let options = interlock::ConnectOptions { token };
    let client = interlock::Client::connect_with(&url, &options)
        .await
        .or_throw()?;
    Ok(Client {
        inner: client,
        runtime: tokio::runtime::Handle::current(),
    })
}

/// The URL used when none is given.
#[napi]
pub fn default_url() -> Result<String> {
    interlock::default_url().or_throw()
}

/// `InvalidArgument` once `client` is closed: for the handles made from it whose core calls do
/// not check (sessions, leases).
pub fn check_open(client: &interlock::Client) -> Result<()> {
    if client.is_closed() {
        return Err(invalid(format!(
            "the client of {} is closed",
            client.describe()
        )));
    }
    Ok(())
}

fn ttl(secs: f64) -> Result<std::time::Duration> {
    seconds("ttl", secs)
}

#[napi]
impl Client {
    /// The core client, or `InvalidArgument` once it is closed.
    fn handle(&self) -> Result<interlock::Client> {
        check_open(&self.inner)?;
        Ok(self.inner.clone())
    }

    #[napi]
    pub fn describe(&self) -> Result<String> {
        Ok(self.handle()?.describe())
    }

    #[napi]
    pub async fn get(&self, key: String) -> Result<Option<Entry>> {
        let entry = self.handle()?.get(&key).await.or_throw()?;
        entry.map(Entry::from_core).transpose()
    }

    #[napi]
    pub async fn get_many(&self, keys: Vec<String>) -> Result<Vec<Entry>> {
        let entries = self.handle()?.get_many(&keys).await.or_throw()?;
        entries.into_iter().map(Entry::from_core).collect()
    }

    #[napi]
    pub async fn list(
        &self,
        prefix: String,
        after: Option<String>,
        limit: Option<u32>,
    ) -> Result<Page> {
        let page = self
            .handle()?
            .list(&prefix, after.as_deref(), limit.map(|l| l as usize))
            .await
            .or_throw()?;
        Ok(Page {
            entries: page
                .entries
                .into_iter()
                .map(Entry::from_core)
                .collect::<Result<_>>()?,
            more: page.more,
        })
    }

    #[napi]
    pub async fn index(&self) -> Result<f64> {
        index_out(self.handle()?.index().await.or_throw()?)
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
        let options = PutOptions {
            index: index.map(|i| index_in("index", i)).transpose()?,
            lease: lease_in(lease)?,
        };
        let value = json_in(&key, &value)?;
        let r = self
            .handle()?
            .put_with(&key, value, options)
            .await
            .or_throw()?;
        PutResult::from_core(r)
    }

    #[napi]
    pub async fn delete(&self, key: String, index: Option<f64>) -> Result<PutResult> {
        let index = index.map(|i| index_in("index", i)).transpose()?;
        PutResult::from_core(self.handle()?.delete(&key, index).await.or_throw()?)
    }

    #[napi]
    pub fn txn(&self) -> Result<Txn> {
        Ok(Txn::new(self.handle()?.txn()))
    }

    #[napi]
    pub async fn watch(&self, prefix: String, from_index: Option<f64>) -> Result<Watch> {
        let from = from_index.map(|i| index_in("fromIndex", i)).transpose()?;
        let client = self.handle()?;
        let stream = client.watch(&prefix, from).await.or_throw()?;
        // A close that raced with the watch's creation may not have ended it.
        check_open(&client)?;
        Ok(Watch::new(stream))
    }

    /// Grants a lease that is not kept alive; returns its id.
    #[napi]
    pub async fn grant(&self, ttl_secs: f64) -> Result<String> {
        let ttl = ttl(ttl_secs)?;
        Ok(lease_out(self.handle()?.grant(ttl).await.or_throw()?.id))
    }

    /// Renews a lease once; returns its TTL in seconds.
    #[napi]
    pub async fn keepalive(&self, id: String) -> Result<f64> {
        let id = lease_in(Some(id))?.unwrap_or_default();
        Ok(self.handle()?.keepalive(id).await.or_throw()?.as_secs_f64())
    }

    #[napi]
    pub async fn revoke(&self, id: String) -> Result<bool> {
        let id = lease_in(Some(id))?.unwrap_or_default();
        self.handle()?.revoke(id).await.or_throw()
    }

    /// Seconds left on a lease, or null if it is gone.
    #[napi]
    pub async fn time_to_live(&self, id: String) -> Result<Option<f64>> {
        let id = lease_in(Some(id))?.unwrap_or_default();
        let left = self.handle()?.time_to_live(&[id]).await.or_throw()?;
        Ok(left.into_iter().next().flatten().map(|d| d.as_secs_f64()))
    }

    /// A lease kept alive in the background.
    #[napi]
    pub async fn lease(&self, ttl_secs: f64) -> Result<Lease> {
        let ttl = ttl(ttl_secs)?;
        let client = self.handle()?;
        let lease = client.lease(ttl).await.or_throw()?;
        Ok(Lease::new(lease, client))
    }

    #[napi]
    pub fn lock(
        &self,
        name: String,
        ttl_secs: f64,
        owner: Option<String>,
        lease: Option<&Lease>,
    ) -> Result<Lock> {
        let ttl = ttl(ttl_secs)?;
        // Refused here, not at the first acquire.
        interlock::validate::ttl(ttl).or_throw()?;
        let options = LockOptions {
            ttl,
            owner,
            lease: lease.map(Lease::core),
        };
        let client = self.handle()?;
        let lock = client.lock_with(&name, options);
        Ok(Lock::new(lock, client))
    }

    #[napi]
    pub async fn lock_queue(&self, name: String) -> Result<Vec<LockWaiter>> {
        let queue = self.handle()?.lock_queue(&name).await.or_throw()?;
        queue.into_iter().map(LockWaiter::from_core).collect()
    }

    #[napi]
    pub fn session(&self, optimistic: bool) -> Result<Session> {
        let client = self.handle()?;
        Ok(Session::new(
            client.session_with(SessionOptions { optimistic }),
            client,
        ))
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
        let limit = seconds("limit", limit_secs)?;
        if self.inner.is_closed() {
            return Ok(());
        }
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(internal(
                "closeAtExit cannot block inside the async runtime",
            ));
        }
        let client = self.inner.clone();
        let _ = self
            .runtime
            .block_on(async move { tokio::time::timeout(limit, client.close()).await });
        Ok(())
    }

    #[napi(getter)]
    pub fn closed(&self) -> bool {
        self.inner.is_closed()
    }
}
