//! `Watch`: an ordered, resumable stream of changes under a prefix.

use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use futures::future::{Either, select};
use pyo3::prelude::*;

use crate::convert::{ToPy, seconds};
use crate::runtime::Owned;

/// A stream of events in index order. `next` returns False once the stream has ended or was
/// closed; `close()` ends a pending `next()`.
#[pyclass(frozen, module = "interlock._native")]
pub struct Watch {
    inner: Owned<Shared>,
}

/// The stream (None once it ended or was closed), the index of its last event, and the close
/// signal.
#[derive(Clone)]
struct Shared {
    stream: Arc<tokio::sync::Mutex<Option<interlock::WatchStream>>>,
    last: Arc<AtomicU64>,
    closed: Arc<AtomicBool>,
    close: Arc<tokio::sync::Notify>,
}

impl Watch {
    pub fn new(stream: interlock::WatchStream) -> Self {
        Watch {
            inner: Owned::new(Shared {
                last: Arc::new(AtomicU64::new(stream.last_index())),
                stream: Arc::new(tokio::sync::Mutex::new(Some(stream))),
                closed: Arc::default(),
                close: Arc::default(),
            }),
        }
    }

    fn handle(&self) -> PyResult<Shared> {
        Ok((*self.inner).clone())
    }
}

impl ToPy for Watch {
    fn to_py(self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        Ok(Py::new(py, self)?.into_any())
    }
}

/// The next event (`Some(Some(e))`), the end of the stream (`Some(None)`: it ended or was
/// closed) or `None` when `timeout` passed first.
async fn next(
    watch: Shared,
    timeout: Option<std::time::Duration>,
) -> interlock::Result<Option<Option<interlock::Event>>> {
    // Created before the check, so a close() from now on wakes it.
    let notified = pin!(watch.close.notified());
    if watch.closed.load(Ordering::SeqCst) {
        return Ok(Some(None));
    }
    let mut guard = watch.stream.lock().await;
    let Some(stream) = guard.as_mut() else {
        return Ok(Some(None));
    };
    let next = {
        let event = pin!(async {
            match timeout {
                Some(t) => tokio::time::timeout(t, stream.next_event()).await.ok(),
                None => Some(stream.next_event().await),
            }
        });
        match select(event, notified).await {
            Either::Left((None, _)) => return Ok(None),
            Either::Left((Some(next), _)) => next,
            Either::Right(_) => None,
        }
    };
    match (&next, guard.as_ref()) {
        (Some(_), Some(stream)) => watch.last.store(stream.last_index(), Ordering::SeqCst),
        _ => drop(guard.take()),
    }
    next.transpose().map(Some)
}

operations! { Watch {
    /// The index of the last event delivered (resume from it + 1).
    #[getter]
    fn last_index(&self) -> PyResult<u64> {
        Ok(self.inner.last.load(Ordering::SeqCst))
    }

    /// Ends the stream: a pending `next()` returns False, and so does every later one.
    fn close(&self) {
        self.inner.closed.store(true, Ordering::SeqCst);
        self.inner.close.notify_waiters();
        if let Ok(mut stream) = self.inner.stream.try_lock() {
            stream.take();
        }
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
