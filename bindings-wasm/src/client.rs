//! `Client`: the store connection and every single-call operation
//! (docs/design.md, Operations and Leases).

use js_sys::Promise;
use wasm_bindgen::prelude::*;

use interlock_js::Write;

use crate::errors::{Index, LeaseId, OrThrow, Result, done, nullable, promise, record, value};
use crate::lease::Lease;
use crate::lock::Lock;
use crate::session::Session;
use crate::txn::Txn;
use crate::watch::Watch;

/// A connection to one store; `close()` revokes its leases and ends its use.
#[wasm_bindgen]
pub struct Client {
    inner: interlock_js::Client,
}

/// Connects to the store at `url` (`http://host:port` or `mem://name`), with the bearer token of
/// an interlock server. The JavaScript loader supplies the URL when the caller gives none.
#[wasm_bindgen]
pub fn connect(url: Option<String>, token: Option<String>) -> Promise {
    promise(
        async move {
            let url = url.ok_or_else(|| {
                interlock_js::errors::invalid(
                    "no store URL: give an interlock server's http://HOST:PORT or mem://NAME",
                )
            })?;
            interlock_js::connect(url, token).await
        },
        |inner| value(Client { inner }),
    )
}

#[wasm_bindgen]
impl Client {
    pub fn describe(&self) -> Result<String> {
        self.inner.describe().or_throw()
    }

    pub fn get(&self, key: String) -> Promise {
        promise(self.inner.get(key), |e| match e {
            Some(e) => record(&e),
            None => Ok(JsValue::NULL),
        })
    }

    #[wasm_bindgen(js_name = getMany)]
    pub fn get_many(&self, keys: Vec<String>) -> Promise {
        promise(self.inner.get_many(keys), |e| record(&e))
    }

    pub fn list(&self, prefix: String, after: Option<String>, limit: Option<u32>) -> Promise {
        promise(self.inner.list(prefix, after, limit), |p| record(&p))
    }

    pub fn index(&self) -> Promise {
        promise(self.inner.index(), value)
    }

    /// `value` is JSON text. Without `index` it is `set`: an unconditional write.
    pub fn put(&self, key: String, value: String, index: Index, lease: LeaseId) -> Promise {
        let write = Write::new(key, value, index, lease);
        promise(self.inner.put(write), |r| record(&r))
    }

    pub fn delete(&self, key: String, index: Option<f64>) -> Promise {
        promise(self.inner.delete(key, index), |r| record(&r))
    }

    pub fn txn(&self) -> Result<Txn> {
        self.inner.txn().map(|inner| Txn { inner }).or_throw()
    }

    pub fn watch(&self, prefix: String, from_index: Option<f64>) -> Promise {
        promise(self.inner.watch(prefix, from_index), |inner| {
            value(Watch { inner })
        })
    }

    /// Grants a lease that is not kept alive; returns its id.
    pub fn grant(&self, ttl_secs: f64) -> Promise {
        promise(self.inner.grant(ttl_secs), value)
    }

    /// Renews a lease once; returns its TTL in seconds.
    pub fn keepalive(&self, id: String) -> Promise {
        promise(self.inner.keepalive(id), value)
    }

    pub fn revoke(&self, id: String) -> Promise {
        promise(self.inner.revoke(id), value)
    }

    /// Seconds left on a lease, or null if it is gone.
    #[wasm_bindgen(js_name = timeToLive)]
    pub fn time_to_live(&self, id: String) -> Promise {
        promise(self.inner.time_to_live(id), |left| Ok(nullable(left)))
    }

    /// A lease kept alive in the background.
    pub fn lease(&self, ttl_secs: f64) -> Promise {
        promise(self.inner.lease(ttl_secs), |inner| value(Lease { inner }))
    }

    pub fn lock(
        &self,
        name: String,
        ttl_secs: f64,
        owner: Option<String>,
        lease: Option<Lease>,
    ) -> Result<Lock> {
        let lease = lease.as_ref().map(|l| &l.inner);
        self.inner
            .lock(name, lease, ttl_secs, owner)
            .map(|inner| Lock { inner })
            .or_throw()
    }

    #[wasm_bindgen(js_name = lockQueue)]
    pub fn lock_queue(&self, name: String) -> Promise {
        promise(self.inner.lock_queue(name), |q| record(&q))
    }

    pub fn session(&self, optimistic: bool) -> Result<Session> {
        self.inner
            .session(optimistic)
            .map(|inner| Session { inner })
            .or_throw()
    }

    /// Closes the client: revokes its leases (its held locks free at once, and are lost to
    /// their holders), ends its waits and watches, and makes every later call on it or on its
    /// locks, leases, sessions and transactions fail. Idempotent.
    pub fn close(&self) -> Promise {
        promise(self.inner.close(), done)
    }

    /// Starts closing the client from `process.on('exit')`. Nothing asynchronous runs after
    /// that event, and WebAssembly cannot block for the revocations, so they are only sent if
    /// the host gets to them; otherwise the client's locks free when their TTL runs out.
    #[wasm_bindgen(js_name = closeAtExit)]
    pub fn close_at_exit(&self, _limit_secs: f64) {
        if !self.inner.closed() {
            let close = self.inner.close();
            wasm_bindgen_futures::spawn_local(async move {
                let _ = close.await;
            });
        }
    }

    #[wasm_bindgen(getter)]
    pub fn closed(&self) -> bool {
        self.inner.closed()
    }
}
