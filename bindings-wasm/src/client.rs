//! `Client`: the store connection and every single-call operation
//! (docs/design.md, Operations and Leases).

use interlock::{LockOptions, PutOptions, SessionOptions};
use js_sys::Promise;
use wasm_bindgen::prelude::*;

use crate::convert::{
    Entry, LockWaiter, Page, PutResult, index_in, index_out, json_in, lease_in, lease_out, seconds,
    to_js,
};
use crate::errors::{OrThrow, Result, invalid, promise};
use crate::lease::Lease;
use crate::lock::Lock;
use crate::session::Session;
use crate::txn::Txn;
use crate::watch::Watch;

/// A connection to one store; `close()` revokes its leases and ends its use.
#[wasm_bindgen]
pub struct Client {
    inner: interlock::Client,
}

/// Connects to the store at `url` (`http://host:port` or `mem://name`), with the bearer token of
/// an interlock server. The JavaScript loader supplies the URL when the caller gives none.
#[wasm_bindgen]
pub fn connect(url: Option<String>, token: Option<String>) -> Promise {
    promise(async move {
        let url = url.ok_or_else(|| {
            invalid("no store URL: give an interlock server's http://HOST:PORT or mem://NAME")
        })?;
        let options = interlock::ConnectOptions { token };
        let client = interlock::Client::connect_with(&url, &options)
            .await
            .or_throw()?;
        Ok(Client { inner: client })
    })
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

impl Client {
    /// The core client, or `InvalidArgument` once it is closed.
    fn handle(&self) -> Result<interlock::Client> {
        check_open(&self.inner)?;
        Ok(self.inner.clone())
    }

    /// Runs `work` with the client, or rejects at once if it is closed.
    fn with<T, F>(&self, work: impl FnOnce(interlock::Client) -> F) -> Promise
    where
        T: Into<JsValue>,
        F: std::future::Future<Output = Result<T>> + 'static,
    {
        match self.handle() {
            Ok(client) => promise(work(client)),
            Err(e) => Promise::reject(&e),
        }
    }
}

#[wasm_bindgen]
impl Client {
    pub fn describe(&self) -> Result<String> {
        Ok(self.handle()?.describe())
    }

    pub fn get(&self, key: String) -> Promise {
        self.with(|c| async move {
            match c.get(&key).await.or_throw()? {
                Some(e) => to_js(&Entry::from_core(e)?),
                None => Ok(JsValue::NULL),
            }
        })
    }

    #[wasm_bindgen(js_name = getMany)]
    pub fn get_many(&self, keys: Vec<String>) -> Promise {
        self.with(|c| async move {
            let entries = c.get_many(&keys).await.or_throw()?;
            let entries: Vec<Entry> = entries
                .into_iter()
                .map(Entry::from_core)
                .collect::<Result<_>>()?;
            to_js(&entries)
        })
    }

    pub fn list(&self, prefix: String, after: Option<String>, limit: Option<u32>) -> Promise {
        self.with(|c| async move {
            let page = c
                .list(&prefix, after.as_deref(), limit.map(|l| l as usize))
                .await
                .or_throw()?;
            to_js(&Page {
                entries: page
                    .entries
                    .into_iter()
                    .map(Entry::from_core)
                    .collect::<Result<_>>()?,
                more: page.more,
            })
        })
    }

    pub fn index(&self) -> Promise {
        self.with(|c| async move { index_out(c.index().await.or_throw()?) })
    }

    /// `value` is JSON text. Without `index` it is `set`: an unconditional write.
    pub fn put(
        &self,
        key: String,
        value: String,
        index: Option<f64>,
        lease: Option<String>,
    ) -> Promise {
        self.with(|c| async move {
            let options = PutOptions {
                index: index.map(|i| index_in("index", i)).transpose()?,
                lease: lease_in(lease)?,
            };
            let value = json_in(&key, &value)?;
            let r = c.put_with(&key, value, options).await.or_throw()?;
            to_js(&PutResult::from_core(r)?)
        })
    }

    pub fn delete(&self, key: String, index: Option<f64>) -> Promise {
        self.with(|c| async move {
            let index = index.map(|i| index_in("index", i)).transpose()?;
            to_js(&PutResult::from_core(
                c.delete(&key, index).await.or_throw()?,
            )?)
        })
    }

    pub fn txn(&self) -> Result<Txn> {
        Ok(Txn::new(self.handle()?.txn()))
    }

    pub fn watch(&self, prefix: String, from_index: Option<f64>) -> Promise {
        self.with(|c| async move {
            let from = from_index.map(|i| index_in("fromIndex", i)).transpose()?;
            let stream = c.watch(&prefix, from).await.or_throw()?;
            // A close that raced with the watch's creation may not have ended it.
            check_open(&c)?;
            Ok(Watch::new(stream))
        })
    }

    /// Grants a lease that is not kept alive; returns its id.
    pub fn grant(&self, ttl_secs: f64) -> Promise {
        self.with(|c| async move {
            let ttl = ttl(ttl_secs)?;
            Ok(lease_out(c.grant(ttl).await.or_throw()?.id))
        })
    }

    /// Renews a lease once; returns its TTL in seconds.
    pub fn keepalive(&self, id: String) -> Promise {
        self.with(|c| async move {
            let id = lease_in(Some(id))?.unwrap_or_default();
            Ok(c.keepalive(id).await.or_throw()?.as_secs_f64())
        })
    }

    pub fn revoke(&self, id: String) -> Promise {
        self.with(|c| async move {
            let id = lease_in(Some(id))?.unwrap_or_default();
            c.revoke(id).await.or_throw()
        })
    }

    /// Seconds left on a lease, or null if it is gone.
    #[wasm_bindgen(js_name = timeToLive)]
    pub fn time_to_live(&self, id: String) -> Promise {
        self.with(|c| async move {
            let id = lease_in(Some(id))?.unwrap_or_default();
            let left = c.time_to_live(&[id]).await.or_throw()?;
            Ok(match left.into_iter().next().flatten() {
                Some(d) => JsValue::from(d.as_secs_f64()),
                None => JsValue::NULL,
            })
        })
    }

    /// A lease kept alive in the background.
    pub fn lease(&self, ttl_secs: f64) -> Promise {
        self.with(|c| async move {
            let ttl = ttl(ttl_secs)?;
            let lease = c.lease(ttl).await.or_throw()?;
            Ok(Lease::new(lease, c))
        })
    }

    pub fn lock(
        &self,
        name: String,
        ttl_secs: f64,
        owner: Option<String>,
        lease: Option<Lease>,
    ) -> Result<Lock> {
        let ttl = ttl(ttl_secs)?;
        // Refused here, not at the first acquire.
        interlock::validate::ttl(ttl).or_throw()?;
        let options = LockOptions {
            ttl,
            owner,
            lease: lease.as_ref().map(Lease::core),
        };
        let client = self.handle()?;
        let lock = client.lock_with(&name, options);
        Ok(Lock::new(lock, client))
    }

    #[wasm_bindgen(js_name = lockQueue)]
    pub fn lock_queue(&self, name: String) -> Promise {
        self.with(|c| async move {
            let queue = c.lock_queue(&name).await.or_throw()?;
            let queue: Vec<LockWaiter> = queue
                .into_iter()
                .map(LockWaiter::from_core)
                .collect::<Result<_>>()?;
            to_js(&queue)
        })
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
    pub fn close(&self) -> Promise {
        let client = self.inner.clone();
        promise(async move {
            client.close().await.or_throw()?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Starts closing the client from `process.on('exit')`. Nothing asynchronous runs after
    /// that event, and WebAssembly cannot block for the revocations, so they are only sent if
    /// the host gets to them; otherwise the client's locks free when their TTL runs out.
    #[wasm_bindgen(js_name = closeAtExit)]
    pub fn close_at_exit(&self, _limit_secs: f64) {
        if !self.inner.is_closed() {
            let client = self.inner.clone();
            wasm_bindgen_futures::spawn_local(async move {
                let _ = client.close().await;
            });
        }
    }

    #[wasm_bindgen(getter)]
    pub fn closed(&self) -> bool {
        self.inner.is_closed()
    }
}
