//! `Client`: the store connection and every single-call operation
//! (docs/design.md, Operations and Leases).

use std::sync::Arc;
use std::time::Duration;

use interlock::{LockOptions, PutOptions, SessionOptions};
use pyo3::prelude::*;

use crate::convert::{ToPy, seconds, to_json};
use crate::lease::Lease;
use crate::lock::Lock;
use crate::runtime::{Owned, awaitable, close_dropped, register_client, wait};
use crate::session::Session;
use crate::txn::Txn;
use crate::watch::Watch;

/// A connection to one store. Cheap to share between threads.
#[pyclass(frozen, module = "interlock._native")]
pub struct Client {
    inner: Arc<Owned<interlock::Client>>,
}

impl Client {
    fn handle(&self) -> PyResult<interlock::Client> {
        Ok((**self.inner).clone())
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        close_dropped(&self.inner);
    }
}

impl ToPy for Client {
    fn to_py(self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        // Closed by the exit hook if still open then.
        register_client(py, &self.inner);
        Ok(Py::new(py, self)?.into_any())
    }
}

async fn open(url: Option<String>, token: Option<String>) -> interlock::Result<Client> {
    let url = match url {
        Some(url) => url,
        None => interlock::default_url()?,
    };
    // Servers (`http://`) take the token; the other stores have no use for it.
    let options = interlock::ConnectOptions { token };
    let client = interlock::Client::connect_with(&url, &options).await?;
    Ok(Client {
        inner: Arc::new(Owned::new(client)),
    })
}

/// Connects to the store at `url` (`None`: `INTERLOCK_URL`, else the default SQLite file), with
/// the bearer token of an interlock server (`http://`; `None`: `INTERLOCK_TOKEN`, if set).
#[pyfunction]
#[pyo3(signature = (url=None, token=None))]
pub fn connect(py: Python<'_>, url: Option<String>, token: Option<String>) -> PyResult<Py<PyAny>> {
    wait(py, open(url, token))
}

/// `connect` as an awaitable.
#[pyfunction]
#[pyo3(signature = (url=None, token=None))]
pub fn connect_async(
    py: Python<'_>,
    url: Option<String>,
    token: Option<String>,
) -> PyResult<Bound<'_, PyAny>> {
    awaitable(py, open(url, token))
}

/// The URL used when none is given.
#[pyfunction]
pub fn default_url() -> PyResult<String> {
    interlock::default_url().map_err(|e| Python::attach(|py| crate::errors::to_py(py, e)))
}

/// The query options a store URL of `scheme` takes (None: a scheme this build does not open).
#[pyfunction]
pub fn url_options(scheme: &str) -> Option<Vec<&'static str>> {
    interlock::url_options(scheme).map(<[_]>::to_vec)
}

/// A lease or lock TTL, checked as the store will check it.
fn ttl(secs: f64) -> PyResult<Duration> {
    let ttl = seconds("ttl", secs)?;
    interlock::validate::ttl(ttl).map_err(|e| Python::attach(|py| crate::errors::to_py(py, e)))?;
    Ok(ttl)
}

/// Checks a TTL in seconds (InvalidArgument if the stores would refuse it), so that objects
/// taking one can refuse a bad one when they are made.
#[pyfunction]
pub fn check_ttl(ttl_secs: f64) -> PyResult<()> {
    ttl(ttl_secs).map(|_| ())
}

operations! { Client {
    /// Whether `close` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// Closes the client: revokes its leases (its locks free at once; their holders see them as
    /// lost), ends its waits and watches; every later call fails. A forked child's copy of a
    /// parent's client closes nothing of the parent's.
    fn close(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let (c, mine) = (self.handle()?, self.inner.is_mine());
        wait(py, async move { if mine { c.close().await } else { Ok(()) } })
    }

    /// `close` as an awaitable.
    fn close_async<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let (c, mine) = (self.handle()?, self.inner.is_mine());
        awaitable(py, async move { if mine { c.close().await } else { Ok(()) } })
    }

    /// What the client is connected to.
    fn describe(&self) -> String {
        self.inner.describe()
    }

    /// A transaction builder.
    fn txn(&self) -> Txn {
        Txn::new(self.inner.txn())
    }

    /// A lock object (not yet acquired).
    #[pyo3(signature = (name, ttl_secs, owner=None, lease=None))]
    fn lock(
        &self,
        name: &str,
        ttl_secs: f64,
        owner: Option<String>,
        lease: Option<&Lease>,
    ) -> PyResult<Lock> {
        let options = LockOptions {
            ttl: ttl(ttl_secs)?,
            owner,
            lease: lease.map(Lease::core),
        };
        Ok(Lock::new(self.inner.lock_with(name, options)))
    }

    /// A unit of work.
    fn session(&self, optimistic: bool) -> Session {
        Session::new(self.inner.session_with(SessionOptions { optimistic }))
    }
}
    fn get / get_async (key: String) {} => |c| c.get(&key).await;

    fn get_many / get_many_async (keys: Vec<String>) {} => |c| c.get_many(&keys).await;

    #[pyo3(signature = (prefix, after=None, limit=None))]
    fn list / list_async (prefix: String, after: Option<String>, limit: Option<usize>) {}
        => |c| c.list(&prefix, after.as_deref(), limit).await;

    fn index / index_async () {} => |c| c.index().await;

    #[pyo3(signature = (key, value, index=None, lease=None))]
    fn put / put_async (key: String, value: &Bound<'_, PyAny>, index: Option<u64>, lease: Option<i64>) {
        let value = to_json(&key, value)?;
    } => |c| c.put_with(&key, value, PutOptions { index, lease }).await;

    #[pyo3(signature = (key, index=None))]
    fn delete / delete_async (key: String, index: Option<u64>) {} => |c| c.delete(&key, index).await;

    #[pyo3(signature = (prefix, from_index=None))]
    fn watch / watch_async (prefix: String, from_index: Option<u64>) {}
        => |c| c.watch(&prefix, from_index).await.map(Watch::new);

    fn grant / grant_async (ttl_secs: f64) {
        let ttl = ttl(ttl_secs)?;
    } => |c| c.grant(ttl).await.map(|g| g.id);

    fn keepalive / keepalive_async (lease: i64) {} => |c| c.keepalive(lease).await;

    fn revoke / revoke_async (lease: i64) {} => |c| c.revoke(lease).await;

    fn time_to_live / time_to_live_async (lease: i64) {}
        => |c| c.time_to_live(&[lease]).await.map(|mut v| v.pop().flatten());

    fn lease / lease_async (ttl_secs: f64) {
        let ttl = ttl(ttl_secs)?;
    } => |c| c.lease(ttl).await.map(Lease::new);

    fn lock_queue / lock_queue_async (name: String) {} => |c| c.lock_queue(&name).await;
}
