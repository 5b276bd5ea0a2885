//! `Lock`: the fair lock with fencing tokens.

use pyo3::prelude::*;

use crate::convert::{ToPy, seconds};
use crate::lease::python_callback;
use crate::runtime::Owned;

/// A fair, non-reentrant lock. Acquire returns the fencing token.
#[pyclass(frozen, module = "interlock._native")]
pub struct Lock {
    inner: Owned<interlock::Lock>,
}

impl Lock {
    pub fn new(lock: interlock::Lock) -> Self {
        Lock {
            inner: Owned::new(lock),
        }
    }

    pub fn core(&self) -> &interlock::Lock {
        &self.inner
    }

    fn handle(&self) -> PyResult<interlock::Lock> {
        Ok((*self.inner).clone())
    }
}

impl ToPy for Lock {
    fn to_py(self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        Ok(Py::new(py, self)?.into_any())
    }
}

operations! { Lock {
    /// The lock's name.
    #[getter]
    fn name(&self) -> String {
        self.inner.name().to_string()
    }

    /// The fencing token while held, else None.
    #[getter]
    fn fencing_token(&self) -> Option<u64> {
        self.inner.fencing_token()
    }

    /// Whether this object holds the lock (its lease may since have been lost).
    #[getter]
    fn held(&self) -> bool {
        self.inner.is_held()
    }

    /// True if the lock was held and its lease was lost.
    #[getter]
    fn lost(&self) -> bool {
        self.inner.is_lost()
    }

    /// Calls `callback()` when the lease behind a held lock is lost.
    fn on_lost(&self, callback: Py<PyAny>) {
        self.inner.on_lost(python_callback(callback));
    }
}
    fn acquire / acquire_async (timeout: Option<f64>) {
        let timeout = timeout.map(|t| seconds("timeout", t)).transpose()?;
    } => |l| l.acquire(timeout).await;

    fn try_acquire / try_acquire_async () {} => |l| l.try_acquire().await;

    fn release / release_async () {} => |l| l.release().await;

    fn wait_lost / wait_lost_async (timeout: Option<f64>) {
        let timeout = timeout.map(|t| seconds("timeout", t)).transpose()?;
    } => |l| Ok(match timeout {
        Some(t) => tokio::time::timeout(t, l.wait_lost()).await.is_ok(),
        None => { l.wait_lost().await; true }
    });
}
