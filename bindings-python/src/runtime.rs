//! The Tokio runtime behind every call, and the two ways Python waits on it: blocking with the
//! GIL released (and Ctrl-C honoured), or as an asyncio awaitable.
//!
//! Threads of interlock's own (the runtime's, lost-lease callbacks') enter Python only through
//! [`with_python`]. At interpreter exit the package's atexit hook ([`exit_hook`]) closes every
//! client of the process (revoking its leases, so its locks free at once), then shuts that door
//! and waits for the threads inside to leave: nothing of interlock touches Python while the
//! interpreter finalizes (taking the GIL then aborts or crashes the process).
//!
//! The runtime is per process: a forked child has none of its parent's threads, so the first
//! call in a child builds a new runtime and leaks the old one (dropping it would wait for worker
//! threads that do not exist). Objects made before a fork are leaked in the child the same way
//! (see [`Owned`]).

use std::future::Future;
use std::mem::ManuallyDrop;
use std::ops::Deref;
use std::panic::AssertUnwindSafe;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

use crate::convert::ToPy;
use crate::errors;

struct ProcessRuntime {
    pid: u32,
    runtime: tokio::runtime::Runtime,
}

static CURRENT: AtomicPtr<ProcessRuntime> = AtomicPtr::new(ptr::null_mut());

/// How often a blocking wait checks for signals such as Ctrl-C.
const SIGNAL_CHECK: Duration = Duration::from_millis(100);

/// This process's runtime, built on first use (and again in a forked child); None if it cannot
/// be started (no threads left).
pub fn get() -> Option<&'static tokio::runtime::Runtime> {
    let pid = std::process::id();
    let current = CURRENT.load(Ordering::Acquire);
    // SAFETY: runtimes stored in CURRENT are leaked boxes that are never freed.
    if let Some(rt) = unsafe { current.as_ref() } {
        if rt.pid == pid {
            return Some(&rt.runtime);
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .thread_name("interlock")
        .enable_all()
        .build()
        .ok()?;
    let fresh = Box::into_raw(Box::new(ProcessRuntime { pid, runtime }));
    match CURRENT.compare_exchange(current, fresh, Ordering::AcqRel, Ordering::Acquire) {
        // SAFETY: `fresh` was just leaked and is now the current runtime.
        Ok(_) => Some(unsafe { &(*fresh).runtime }),
        Err(winner) => {
            // Another thread built one first: use it and discard ours.
            // SAFETY: `fresh` was never shared; `winner` is a leaked, never-freed box.
            unsafe { Box::from_raw(fresh) }
                .runtime
                .shutdown_background();
            Some(unsafe { &(*winner).runtime })
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

    /// Whether the calling process made it (false in a forked child).
    pub fn is_mine(&self) -> bool {
        self.pid == std::process::id()
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
        if self.is_mine() {
            if let Some(rt) = get() {
                let _guard = rt.enter();
                // SAFETY: dropped exactly once, here.
                unsafe { ManuallyDrop::drop(&mut self.inner) };
            }
        }
    }
}

/// The runtime, or InternalError if it cannot be started.
pub fn runtime() -> PyResult<&'static tokio::runtime::Runtime> {
    get().ok_or_else(|| errors::internal("cannot start interlock's Tokio runtime"))
}

// The exit gate

/// Set by [`exit_hook`]: from then on interlock's threads stay out of Python.
static EXITING: AtomicBool = AtomicBool::new(false);
/// The thread that ran the exit hook (the interpreter's main thread, which goes on finalizing).
static EXIT_THREAD: OnceLock<ThreadId> = OnceLock::new();
/// Threads of interlock inside Python, or about to enter it.
static IN_PYTHON: AtomicUsize = AtomicUsize::new(0);

/// How long the exit hook waits for the clients' leases to be revoked (a store that cannot be
/// reached must not hold up the exit; those leases expire with their TTL).
const EXIT_CLOSE: Duration = Duration::from_secs(3);
/// How long the exit hook waits for interlock's threads to leave Python (a lost-lease callback
/// still running, a result being handed to an event loop).
const EXIT_DRAIN: Duration = Duration::from_secs(2);

/// Runs `f` attached to the interpreter, from a thread of interlock's own (a runtime thread, a
/// lost-lease callback thread). Once the interpreter is exiting, does nothing and returns None:
/// what `f` would have delivered has nobody left to receive it.
pub fn with_python<R>(f: impl for<'py> FnOnce(Python<'py>) -> R) -> Option<R> {
    IN_PYTHON.fetch_add(1, Ordering::SeqCst);
    let out = if EXITING.load(Ordering::SeqCst) {
        None
    } else {
        Python::try_attach(f)
    };
    IN_PYTHON.fetch_sub(1, Ordering::SeqCst);
    out
}

/// Whether the interpreter is exiting and the calling thread is not the one finalizing it.
fn abandoned_at_exit() -> bool {
    EXITING.load(Ordering::SeqCst) && EXIT_THREAD.get() != Some(&std::thread::current().id())
}

/// Every client made in this process that is still alive, for the exit hook. Changed only with
/// the GIL held, so a fork (which happens with the GIL held) never copies it locked.
static CLIENTS: Mutex<Vec<Weak<Owned<interlock::Client>>>> = Mutex::new(Vec::new());

/// Registers a client for closing at exit. Call with the GIL held.
pub fn register_client(_py: Python<'_>, client: &Arc<Owned<interlock::Client>>) {
    let mut clients = CLIENTS.lock().unwrap_or_else(|p| p.into_inner());
    clients.retain(|c| c.strong_count() > 0);
    clients.push(Arc::downgrade(client));
}

/// Closings of clients that were dropped (garbage collected) while open, for the exit hook to
/// wait for. Changed only with the GIL held.
static CLOSING: Mutex<Vec<tokio::task::JoinHandle<()>>> = Mutex::new(Vec::new());

/// Closes a client that Python dropped while it was open: nothing made from it is left (every
/// lock, lease, watch and session object of the package keeps its client alive), so its leases
/// are revoked and its locks free at once instead of at their TTL. (Python frees objects with
/// the GIL held; a client result dropped undelivered is dropped while exiting, and left to the
/// exit hook.)
pub fn close_dropped(client: &Owned<interlock::Client>) {
    if !client.is_mine() || client.is_closed() || EXITING.load(Ordering::SeqCst) {
        return;
    }
    let Some(rt) = get() else { return };
    let client = (**client).clone();
    let closing = rt.spawn(async move {
        let _ = client.close().await;
    });
    let mut pending = CLOSING.lock().unwrap_or_else(|p| p.into_inner());
    pending.retain(|h| !h.is_finished());
    pending.push(closing);
}

/// The package's atexit hook: closes every open client of this process (each revokes its
/// leases, so the locks it holds free at once and its waits end), then keeps interlock's
/// threads out of the interpreter for good and waits for those inside to leave.
#[pyfunction]
pub fn exit_hook(py: Python<'_>) {
    if EXITING.swap(true, Ordering::SeqCst) {
        return;
    }
    let _ = EXIT_THREAD.set(std::thread::current().id());
    let clients: Vec<interlock::Client> = {
        let clients = CLIENTS.lock().unwrap_or_else(|p| p.into_inner());
        clients
            .iter()
            .filter_map(Weak::upgrade)
            .filter(|c| c.is_mine() && !c.is_closed())
            .map(|c| (**c).clone())
            .collect()
    };
    let dropped = std::mem::take(&mut *CLOSING.lock().unwrap_or_else(|p| p.into_inner()));
    py.detach(move || {
        if let (false, Some(rt)) = (clients.is_empty() && dropped.is_empty(), get()) {
            let closing: Vec<_> = clients
                .into_iter()
                .map(|c| {
                    rt.spawn(async move {
                        let _ = c.close().await;
                    })
                })
                .chain(dropped)
                .collect();
            rt.block_on(async {
                let _ = tokio::time::timeout(EXIT_CLOSE, async {
                    for c in closing {
                        let _ = c.await;
                    }
                })
                .await;
            });
        }
        let deadline = Instant::now() + EXIT_DRAIN;
        while IN_PYTHON.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
    });
}

// Blocking waits

enum Failure {
    Core(interlock::Error),
    Python(PyErr),
    Panic(String),
}

/// A panic's message, for the InternalError that reports it.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    let message = if let Some(s) = panic.downcast_ref::<&str>() {
        s
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.as_str()
    } else {
        "unknown panic"
    };
    format!("interlock failed unexpectedly (a bug): {message}")
}

/// Runs `fut` to completion on the runtime with the GIL released, checking for signals (so
/// Ctrl-C interrupts a long lock wait; the dropped future cleans up after itself). A panic
/// becomes InternalError.
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
    let rt = runtime()?;
    let outcome = py.detach(|| {
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
            rt.block_on(async {
                let mut fut = std::pin::pin!(fut);
                loop {
                    tokio::select! {
                        biased;
                        r = &mut fut => return r.map_err(Failure::Core),
                        _ = tokio::time::sleep(SIGNAL_CHECK) => {
                            if let Some(Err(e)) = with_python(|py| py.check_signals()) {
                                return Err(Failure::Python(e));
                            }
                        }
                    }
                }
            })
        }))
        .unwrap_or_else(|panic| Err(Failure::Panic(panic_message(&*panic))));
        if abandoned_at_exit() {
            // A daemon thread whose wait ended while the interpreter finalizes: taking the GIL
            // back now would abort the process, so it sleeps until the process is gone.
            loop {
                std::thread::park();
            }
        }
        outcome
    });
    outcome.map_err(|f| match f {
        Failure::Core(e) => errors::to_py(py, e),
        Failure::Python(e) => e,
        Failure::Panic(message) => errors::internal(message),
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

// Awaitables

static ASYNCIO: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
static SETTLE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// Tells the Rust side that an awaitable's asyncio future was cancelled (or dropped unawaited):
/// the core future is dropped, which undoes what it had started.
#[pyclass(frozen)]
struct Cancel {
    tx: Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
}

#[pymethods]
impl Cancel {
    fn __call__(&self, future: &Bound<'_, PyAny>) -> PyResult<()> {
        if future.call_method0("cancelled")?.is_truthy()? {
            if let Some(tx) = self.tx.lock().unwrap_or_else(|p| p.into_inner()).take() {
                let _ = tx.send(());
            }
        }
        Ok(())
    }
}

/// Completes `future` on its event loop's thread, unless it was cancelled meanwhile.
#[pyfunction]
fn settle(future: &Bound<'_, PyAny>, ok: bool, value: Bound<'_, PyAny>) -> PyResult<()> {
    if future.call_method0("done")?.is_truthy()? {
        return Ok(());
    }
    if ok {
        future.call_method1("set_result", (value,))?;
    } else {
        future.call_method1("set_exception", (value,))?;
    }
    Ok(())
}

/// Hands a result to the event loop that waits for it. A loop that is closed (the program ended
/// while the call ran) or an interpreter that is exiting has nobody waiting: the result is
/// dropped.
fn deliver<T: ToPy>(
    py: Python<'_>,
    event_loop: &Py<PyAny>,
    future: &Py<PyAny>,
    result: Result<interlock::Result<T>, tokio::task::JoinError>,
) {
    let (ok, value) = match result {
        Ok(Ok(v)) => match v.to_py(py) {
            Ok(v) => (true, v),
            Err(e) => (false, e.into_value(py).into_any()),
        },
        Ok(Err(e)) => (false, errors::to_py(py, e).into_value(py).into_any()),
        Err(join) => {
            let message = if join.is_panic() {
                panic_message(&*join.into_panic())
            } else {
                "interlock's runtime stopped the call".to_string()
            };
            (false, errors::internal(message).into_value(py).into_any())
        }
    };
    let Ok(settle) = SETTLE.get_or_try_init(py, || {
        wrap_pyfunction!(settle, py).map(|f| f.into_any().unbind())
    }) else {
        return;
    };
    // RuntimeError if the loop is closed: nobody waits any more.
    let _ = event_loop
        .bind(py)
        .call_method1("call_soon_threadsafe", (settle, future, ok, value));
}

/// Wraps `fut` in an asyncio awaitable of the running loop. Cancelling the awaitable drops the
/// future, which undoes what it had started (a lock waiter removes its entry). A panic becomes
/// InternalError.
pub fn awaitable<'py, T, F>(py: Python<'py>, fut: F) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = interlock::Result<T>> + Send + 'static,
    T: ToPy + Send + 'static,
{
    let rt = runtime()?;
    let asyncio = ASYNCIO.get_or_try_init(py, || py.import("asyncio").map(Bound::unbind))?;
    let event_loop = asyncio.bind(py).call_method0("get_running_loop")?;
    let future = event_loop.call_method0("create_future")?;
    let (tx, cancelled) = tokio::sync::oneshot::channel();
    future.call_method1(
        "add_done_callback",
        (Cancel {
            tx: Mutex::new(Some(tx)),
        },),
    )?;
    let event_loop = event_loop.unbind();
    let target = future.clone().unbind();
    let mut task = rt.spawn(fut);
    rt.spawn(async move {
        let result = tokio::select! {
            r = &mut task => r,
            _ = cancelled => {
                task.abort();
                return;
            }
        };
        // Taking the GIL on a runtime worker would stall the other tasks meanwhile.
        tokio::task::spawn_blocking(move || {
            with_python(|py| deliver(py, &event_loop, &target, result));
        });
    });
    Ok(future)
}
