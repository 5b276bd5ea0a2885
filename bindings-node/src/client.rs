//! `Client`: the store connection and every single-call operation of DESIGN §3–§4.

use std::sync::{Arc, RwLock};

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

/// A connection to one store; `close()` lets it go.
#[napi]
pub struct Client {
    inner: Arc<RwLock<Option<interlock::Client>>>,
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
        inner: Arc::new(RwLock::new(Some(client))),
    })
}

/// The URL used when none is given.
#[napi]
pub fn default_url() -> Result<String> {
    interlock::default_url().or_throw()
}

fn ttl(secs: f64) -> Result<std::time::Duration> {
    seconds("ttl", secs)
}

#[napi]
impl Client {
    fn handle(&self) -> Result<interlock::Client> {
        self.inner
            .read()
            .map_err(|_| internal("the client's state was poisoned"))?
            .clone()
            .ok_or_else(|| invalid("the client is closed"))
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
        let stream = self.handle()?.watch(&prefix, from).await.or_throw()?;
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
        Ok(Lease::new(self.handle()?.lease(ttl).await.or_throw()?))
    }

    #[napi]
    pub fn lock(
        &self,
        name: String,
        ttl_secs: f64,
        owner: Option<String>,
        lease: Option<&Lease>,
    ) -> Result<Lock> {
        let options = LockOptions {
            ttl: ttl(ttl_secs)?,
            owner,
            lease: lease.map(Lease::core),
        };
        Ok(Lock::new(self.handle()?.lock_with(&name, options)))
    }

    #[napi]
    pub async fn lock_queue(&self, name: String) -> Result<Vec<LockWaiter>> {
        let queue = self.handle()?.lock_queue(&name).await.or_throw()?;
        queue.into_iter().map(LockWaiter::from_core).collect()
    }

    #[napi]
    pub fn session(&self, optimistic: bool) -> Result<Session> {
        Ok(Session::new(
            self.handle()?.session_with(SessionOptions { optimistic }),
        ))
    }

    /// Lets the connection go; later calls fail.
    #[napi]
    pub fn close(&self) -> Result<()> {
        self.inner
            .write()
            .map_err(|_| internal("the client's state was poisoned"))?
            .take();
        Ok(())
    }
}
