//! `Client`: the store connection and every single-call operation
//! (docs/design.md, Operations and Leases).

use std::future::Future;

use interlock::{LockOptions, SessionOptions};

use crate::Result;
use crate::convert::{
    Entry, LockWaiter, Page, PutResult, Write, index_out, lease_out, optional_index_in,
    required_lease_in, seconds,
};
use crate::errors::check_open;
use crate::{Lease, Lock, Session, Txn, Watch};

/// Connects to the store at `url` with the bearer token of an interlock server (`http://`; the
/// other stores have no use for it).
pub async fn connect(url: String, token: Option<String>) -> Result<Client> {
    let options = interlock::ConnectOptions { token };
    let client = interlock::Client::connect_with(&url, &options).await?;
    Ok(Client { inner: client })
}

/// A connection to one store; `close()` revokes its leases and ends its use.
#[derive(Clone)]
pub struct Client {
    inner: interlock::Client,
}

/// The client, or `InvalidArgument` once it is closed.
fn open(client: interlock::Client) -> Result<interlock::Client> {
    check_open(&client)?;
    Ok(client)
}

fn ttl(secs: f64) -> Result<std::time::Duration> {
    seconds("ttl", secs)
}

impl Client {
    /// The core client, whether open or closed (for a binding's own ways of closing it).
    pub fn core(&self) -> &interlock::Client {
        &self.inner
    }

    /// The core client, or `InvalidArgument` once it is closed.
    fn handle(&self) -> Result<interlock::Client> {
        open(self.inner.clone())
    }

    pub fn describe(&self) -> Result<String> {
        Ok(self.handle()?.describe())
    }

    pub fn get(&self, key: String) -> impl Future<Output = Result<Option<Entry>>> + 'static {
        let client = self.inner.clone();
        async move {
            open(client)?
                .get(&key)
                .await?
                .map(Entry::from_core)
                .transpose()
        }
    }

    pub fn get_many(
        &self,
        keys: Vec<String>,
    ) -> impl Future<Output = Result<Vec<Entry>>> + 'static {
        let client = self.inner.clone();
        async move { Entry::all(open(client)?.get_many(&keys).await?) }
    }

    pub fn list(
        &self,
        prefix: String,
        after: Option<String>,
        limit: Option<u32>,
    ) -> impl Future<Output = Result<Page>> + 'static {
        let client = self.inner.clone();
        async move {
            let page = open(client)?
                .list(&prefix, after.as_deref(), limit.map(|l| l as usize))
                .await?;
            Ok(Page {
                entries: Entry::all(page.entries)?,
                more: page.more,
            })
        }
    }

    pub fn index(&self) -> impl Future<Output = Result<f64>> + 'static {
        let client = self.inner.clone();
        async move { index_out(open(client)?.index().await?) }
    }

    /// A put; without an index it is `set`: an unconditional write.
    pub fn put(&self, write: Write) -> impl Future<Output = Result<PutResult>> + 'static {
        let client = self.inner.clone();
        async move {
            let (key, value, options) = write.checked("index")?;
            PutResult::from_core(open(client)?.put_with(&key, value, options).await?)
        }
    }

    pub fn delete(
        &self,
        key: String,
        index: Option<f64>,
    ) -> impl Future<Output = Result<PutResult>> + 'static {
        let client = self.inner.clone();
        async move {
            let index = optional_index_in("index", index)?;
            PutResult::from_core(open(client)?.delete(&key, index).await?)
        }
    }

    pub fn txn(&self) -> Result<Txn> {
        let client = self.handle()?;
        let max_value_bytes = client.backend().limits().max_value_bytes;
        Ok(Txn::new(client.txn(), max_value_bytes))
    }

    /// A watch of the changes under `prefix`, from `from_index` (none: the next commit); one that
    /// a close of the client overtakes starts ended.
    pub fn watch(
        &self,
        prefix: String,
        from_index: Option<f64>,
    ) -> impl Future<Output = Result<Watch>> + 'static {
        let client = self.inner.clone();
        async move {
            let from = optional_index_in("fromIndex", from_index)?;
            // The TypeScript layer refuses a watch of a client already closed when it is made.
            // A client closed after that, before or while the watch starts (a close may cut the
            // request, or not end the new stream), ends it, as it ends every watch of its
            // (docs/design.md, Lifecycle), whichever of the two the store got to first.
            if client.is_closed() {
                return Ok(Watch::ended());
            }
            let stream = client.watch(&prefix, from).await;
            if client.is_closed() {
                return Ok(Watch::ended());
            }
            Ok(Watch::new(stream?))
        }
    }

    /// Grants a lease that is not kept alive; resolves to its id.
    pub fn grant(&self, ttl_secs: f64) -> impl Future<Output = Result<String>> + 'static {
        let client = self.inner.clone();
        async move {
            let ttl = ttl(ttl_secs)?;
            Ok(lease_out(open(client)?.grant(ttl).await?.id))
        }
    }

    /// Renews a lease once; resolves to its TTL in seconds.
    pub fn keepalive(&self, id: String) -> impl Future<Output = Result<f64>> + 'static {
        let client = self.inner.clone();
        async move {
            let id = required_lease_in(id)?;
            Ok(open(client)?.keepalive(id).await?.as_secs_f64())
        }
    }

    pub fn revoke(&self, id: String) -> impl Future<Output = Result<bool>> + 'static {
        let client = self.inner.clone();
        async move {
            let id = required_lease_in(id)?;
            open(client)?.revoke(id).await
        }
    }

    /// Seconds left on a lease, or none if it is gone.
    pub fn time_to_live(&self, id: String) -> impl Future<Output = Result<Option<f64>>> + 'static {
        let client = self.inner.clone();
        async move {
            let id = required_lease_in(id)?;
            let left = open(client)?.time_to_live(&[id]).await?;
            Ok(left.into_iter().next().flatten().map(|d| d.as_secs_f64()))
        }
    }

    /// A lease kept alive in the background.
    pub fn lease(&self, ttl_secs: f64) -> impl Future<Output = Result<Lease>> + 'static {
        let client = self.inner.clone();
        async move {
            let ttl = ttl(ttl_secs)?;
            let client = open(client)?;
            let lease = client.lease(ttl).await?;
            Ok(Lease::new(lease, client))
        }
    }

    /// A lock, on `lease` if given (else on the client's shared lock lease); a bad TTL is refused
    /// here, not at the first acquire.
    pub fn lock(
        &self,
        name: String,
        lease: Option<&Lease>,
        ttl_secs: f64,
        owner: Option<String>,
    ) -> Result<Lock> {
        let ttl = ttl(ttl_secs)?;
        interlock::validate::ttl(ttl)?;
        let options = LockOptions {
            ttl,
            owner,
            lease: lease.map(Lease::core),
        };
        let client = self.handle()?;
        let lock = client.lock_with(&name, options);
        Ok(Lock::new(lock, client))
    }

    pub fn lock_queue(
        &self,
        name: String,
    ) -> impl Future<Output = Result<Vec<LockWaiter>>> + 'static {
        let client = self.inner.clone();
        async move {
            let queue = open(client)?.lock_queue(&name).await?;
            queue.into_iter().map(LockWaiter::from_core).collect()
        }
    }

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
    pub fn close(&self) -> impl Future<Output = Result<()>> + 'static {
        let client = self.inner.clone();
        async move { client.close().await }
    }

    pub fn closed(&self) -> bool {
        self.inner.is_closed()
    }
}
