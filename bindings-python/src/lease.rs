//! `Lease`: a lease kept alive in the background, with its loss as a flag, a wait and a
//! callback.

use pyo3::prelude::*;

use crate::convert::{ToPy, seconds};
use crate::runtime::{Owned, with_python};

/// A lease that interlock renews at ttl/3 until it is revoked or lost.
#[pyclass(frozen, module = "interlock._native")]
pub struct Lease {
    inner: Owned<interlock::Lease>,
}

impl Lease {
    pub fn new(lease: interlock::Lease) -> Self {
        Lease {
            inner: Owned::new(lease),
        }
    }

    pub fn core(&self) -> interlock::Lease {
        (*self.inner).clone()
    }

    fn handle(&self) -> PyResult<interlock::Lease> {
        Ok(self.core())
    }
}

impl ToPy for Lease {
    fn to_py(self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        Ok(Py::new(py, self)?.into_any())
    }
}

/// Runs a Python callable on a thread of its own when called from the runtime, so that the
/// callback may block (even call interlock) without stalling lease renewals. Exceptions go to
/// `sys.unraisablehook`. Not called once the interpreter is exiting.
pub fn python_callback(callback: Py<PyAny>) -> impl Fn() + Send + Sync + 'static {
    let callback = std::sync::Arc::new(callback);
    move || {
        let callback = callback.clone();
        let spawned = std::thread::Builder::new()
            .name("interlock-callback".into())
            .spawn(move || {
                with_python(|py| {
                    if let Err(e) = callback.call0(py) {
                        e.write_unraisable(py, Some(callback.bind(py)));
                    }
                });
            });
        if let Err(e) = spawned {
            eprintln!("interlock: cannot start a thread for a lost-lease callback: {e}");
        }
    }
}

operations! { Lease {
    /// The lease id the store assigned.
    #[getter]
    fn id(&self) -> i64 {
        self.inner.id()
    }

    /// The TTL in seconds.
    #[getter]
    fn ttl(&self) -> f64 {
        self.inner.ttl().as_secs_f64()
    }

    /// True once renewal can no longer be confirmed before expiry, or after a revoke.
    #[getter]
    fn lost(&self) -> bool {
        self.inner.is_lost()
    }

    /// Calls `callback()` once when the lease is lost (at once if it already is).
    fn on_lost(&self, callback: Py<PyAny>) {
        self.inner.on_lost(python_callback(callback));
    }
}
    fn revoke / revoke_async () {} => |l| l.revoke().await;

    fn wait_lost / wait_lost_async (timeout: Option<f64>) {
        let timeout = timeout.map(|t| seconds("timeout", t)).transpose()?;
    } => |l| Ok(match timeout {
        Some(t) => tokio::time::timeout(t, l.wait_lost()).await.is_ok(),
        None => { l.wait_lost().await; true }
    });
}
