//! `Watch`: an ordered, resumable stream of changes under a prefix.

use std::sync::Arc;

use pyo3::prelude::*;

use crate::convert::{ToPy, seconds};
use crate::runtime::Owned;

/// A stream of events in index order. `next` returns None once the stream has ended.
#[pyclass(frozen, module = "interlock._native")]
pub struct Watch {
    inner: Owned<Arc<tokio::sync::Mutex<interlock::WatchStream>>>,
}

impl Watch {
    pub fn new(stream: interlock::WatchStream) -> Self {
        Watch {
            inner: Owned::new(Arc::new(tokio::sync::Mutex::new(stream))),
        }
    }

    fn handle(&self) -> PyResult<Arc<tokio::sync::Mutex<interlock::WatchStream>>> {
        Ok((*self.inner).clone())
    }
}

impl ToPy for Watch {
    fn to_py(self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        Ok(Py::new(py, self)?.into_any())
    }
}

async fn next(
    stream: Arc<tokio::sync::Mutex<interlock::WatchStream>>,
    timeout: Option<std::time::Duration>,
) -> interlock::Result<Option<Option<interlock::Event>>> {
    let mut stream = stream.lock().await;
    let next = match timeout {
        Some(t) => match tokio::time::timeout(t, stream.next_event()).await {
            Ok(next) => next,
            Err(_) => return Ok(None),
        },
        None => stream.next_event().await,
    };
    next.transpose().map(Some)
}

operations! { Watch {
    /// The index of the last event delivered (resume from it + 1).
    #[getter]
    fn last_index(&self) -> PyResult<u64> {
        Ok(self
            .inner
            .try_lock()
            .map(|s| s.last_index())
            .unwrap_or_default())
    }
}
    /// The next event; `None` when `timeout` passes first; `False` once the stream ended.
    fn next / next_async (timeout: Option<f64>) {
        let timeout = timeout.map(|t| seconds("timeout", t)).transpose()?;
    } => |w| next(w, timeout).await.map(|n| n.map(|e| e.map(Ended::Event).unwrap_or(Ended::End)));
}

/// An event, or the end of the stream.
enum Ended {
    Event(interlock::Event),
    End,
}

impl ToPy for Ended {
    fn to_py(self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        match self {
            Ended::Event(e) => e.to_py(py),
            Ended::End => false.to_py(py),
        }
    }
}
