//! The Tokio runtime behind every call, and the two ways Python waits on it: blocking with the
//! GIL released (and Ctrl-C honoured), or as an asyncio awaitable.
//!
//! The runtime is per process: a forked child has none of its parent's threads, so the first
//! call in a child builds a new runtime and leaks the old one (dropping it would wait for worker
//! threads that do not exist). Objects made before a fork are leaked in the child the same way
//! (see [`Owned`]).

use std::cell::OnceCell;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::ops::Deref;
use std::pin::Pin;
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::time::Duration;

use pyo3::prelude::*;
use pyo3_async_runtimes::TaskLocals;
use pyo3_async_runtimes::generic::{ContextExt, JoinError, Runtime};

use crate::convert::ToPy;
use crate::errors;

struct ProcessRuntime {
    pid: u32,
    runtime: tokio::runtime::Runtime,
}

static CURRENT: AtomicPtr<ProcessRuntime> = AtomicPtr::new(ptr::null_mut());

/// How often a blocking wait checks for signals such as Ctrl-C.
const SIGNAL_CHECK: Duration = Duration::from_millis(100);

/// This process's runtime, built on first use (and again in a forked child).
pub fn get() -> &'static tokio::runtime::Runtime {
    let pid = std::process::id();
    let current = CURRENT.load(Ordering::Acquire);
    // SAFETY: runtimes stored in CURRENT are leaked boxes that are never freed.
    if let Some(rt) = unsafe { current.as_ref() } {
        if rt.pid == pid {
            return &rt.runtime;
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .thread_name("interlock")
        .enable_all()
        .build()
        .expect("cannot start interlock's Tokio runtime");
    let fresh = Box::into_raw(Box::new(ProcessRuntime { pid, runtime }));
    match CURRENT.compare_exchange(current, fresh, Ordering::AcqRel, Ordering::Acquire) {
        // SAFETY: `fresh` was just leaked and is now the current runtime.
        Ok(_) => unsafe { &(*fresh).runtime },
        Err(winner) => {
            // Another thread built one first: use it and discard ours.
            // SAFETY: `fresh` was never shared; `winner` is a leaked, never-freed box.
            unsafe { Box::from_raw(fresh) }
                .runtime
                .shutdown_background();
            unsafe { &(*winner).runtime }
        }
    }
}

/// A core object owned by the process that made it. In a forked child it is leaked instead of
/// dropped: its drop would revoke the parent's leases or release the parent's locks.
pub struct Owned<T> {
    pid: u32,
    inner: ManuallyDrop<T>,
}

impl<T> Owned<T> {
    pub fn new(inner: T) -> Self {
        Owned {
            pid: std::process::id(),
            inner: ManuallyDrop::new(inner),
        }
    }
}

impl<T> Deref for Owned<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.inner
    }
}

impl<T> Drop for Owned<T> {
    fn drop(&mut self) {
        if self.pid == std::process::id() {
            let _guard = get().enter();
            // SAFETY: dropped exactly once, here.
            unsafe { ManuallyDrop::drop(&mut self.inner) };
        }
    }
}

enum Failure {
    Core(interlock::Error),
    Python(PyErr),
}

/// Runs `fut` to completion on the runtime with the GIL released, checking for signals (so
/// Ctrl-C interrupts a long lock wait; the dropped future cleans up after itself).
pub fn block_on<T, F>(py: Python<'_>, fut: F) -> PyResult<T>
where
    F: Future<Output = interlock::Result<T>> + Send,
    T: Send,
{
    if tokio::runtime::Handle::try_current().is_ok() {
        return Err(errors::internal(
            "a blocking interlock call was made from one of interlock's own threads (an on_lost \
             callback?); use the asyncio API there, or start a thread",
        ));
    }
    let rt = get();
    let outcome = py.detach(|| {
        rt.block_on(async {
            let mut fut = std::pin::pin!(fut);
            loop {
                tokio::select! {
                    biased;
                    r = &mut fut => return r.map_err(Failure::Core),
                    _ = tokio::time::sleep(SIGNAL_CHECK) => {
                        if let Err(e) = Python::attach(|py| py.check_signals()) {
                            return Err(Failure::Python(e));
                        }
                    }
                }
            }
        })
    });
    outcome.map_err(|f| match f {
        Failure::Core(e) => errors::to_py(py, e),
        Failure::Python(e) => e,
    })
}

/// [`block_on`], converting the result to Python.
pub fn wait<T, F>(py: Python<'_>, fut: F) -> PyResult<Py<PyAny>>
where
    F: Future<Output = interlock::Result<T>> + Send,
    T: ToPy + Send,
{
    block_on(py, fut)?.to_py(py)
}

/// Wraps `fut` in an asyncio awaitable of the running loop. Cancelling the awaitable drops the
/// future, which undoes what it had started (a lock waiter removes its entry).
pub fn awaitable<'py, T, F>(py: Python<'py>, fut: F) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = interlock::Result<T>> + Send + 'static,
    T: ToPy + Send + 'static,
{
    pyo3_async_runtimes::generic::future_into_py::<Rt, _, _>(py, async move {
        match fut.await {
            Ok(v) => Ok(Out(v)),
            Err(e) => Err(Python::attach(|py| errors::to_py(py, e))),
        }
    })
}

/// A core value on its way to Python.
pub struct Out<T>(T);

impl<'py, T: ToPy> IntoPyObject<'py> for Out<T> {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(self.0.to_py(py)?.into_bound(py))
    }
}

/// The process runtime, as pyo3-async-runtimes sees it.
pub struct Rt;

pub struct RtJoinError(tokio::task::JoinError);

impl JoinError for RtJoinError {
    fn is_panic(&self) -> bool {
        self.0.is_panic()
    }
    fn into_panic(self) -> Box<dyn std::any::Any + Send + 'static> {
        self.0.into_panic()
    }
}

type Handle = Pin<Box<dyn Future<Output = Result<(), RtJoinError>> + Send>>;

impl Runtime for Rt {
    type JoinError = RtJoinError;
    type JoinHandle = Handle;

    fn spawn<F>(fut: F) -> Handle
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let h = get().spawn(fut);
        Box::pin(async move { h.await.map_err(RtJoinError) })
    }

    fn spawn_blocking<F>(f: F) -> Handle
    where
        F: FnOnce() + Send + 'static,
    {
        let h = get().spawn_blocking(f);
        Box::pin(async move { h.await.map_err(RtJoinError) })
    }
}

tokio::task_local! {
    static TASK_LOCALS: OnceCell<TaskLocals>;
}

impl ContextExt for Rt {
    fn scope<F, R>(locals: TaskLocals, fut: F) -> Pin<Box<dyn Future<Output = R> + Send>>
    where
        F: Future<Output = R> + Send + 'static,
    {
        let cell = OnceCell::new();
        let _ = cell.set(locals);
        Box::pin(TASK_LOCALS.scope(cell, fut))
    }

    fn get_task_locals() -> Option<TaskLocals> {
        TASK_LOCALS
            .try_with(|c| c.get().cloned())
            .unwrap_or_default()
    }
}
