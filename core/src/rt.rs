//! What the core needs from an async runtime (background tasks, sleeps, deadlines), on Tokio
//! natively and on the JavaScript event loop in WebAssembly, where Tokio's timers and spawn
//! cannot run. Everything else in the core is runtime-neutral.

use std::future::Future;
use std::time::Duration;

/// A point in time for deadlines: Tokio's natively (so paused-clock tests see it),
/// `performance.now()` in WebAssembly.
#[cfg(not(target_family = "wasm"))]
pub(crate) use tokio::time::Instant;
#[cfg(target_family = "wasm")]
pub(crate) use web_time::Instant;

/// A deadline passed before the future completed.
#[derive(Debug)]
pub(crate) struct Elapsed;

/// Runs `task` in the background. Natively this needs a Tokio runtime, as every public entry
/// point runs in one.
pub(crate) fn spawn<F: Future<Output = ()> + Send + 'static>(task: F) {
    #[cfg(not(target_family = "wasm"))]
    tokio::spawn(task);
    #[cfg(target_family = "wasm")]
    wasm_bindgen_futures::spawn_local(task);
}

/// Where clean-ups that run in `Drop` are spawned: the runtime that was current when the object
/// was made. A drop can run anywhere (a garbage collector's finalizer, a thread of the host
/// language, after the runtime ended), so it cannot rely on finding a runtime of its own.
#[derive(Clone, Debug)]
pub(crate) struct Spawner {
    #[cfg(not(target_family = "wasm"))]
    handle: Option<tokio::runtime::Handle>,
}

impl Spawner {
    /// The runtime running the caller, if any.
    pub(crate) fn current() -> Spawner {
        Spawner {
            #[cfg(not(target_family = "wasm"))]
            handle: tokio::runtime::Handle::try_current().ok(),
        }
    }

    /// Runs `task` in the background: on the current runtime if there is one, else on the one
    /// this spawner remembers. False when neither can run it (what it would have cleaned up then
    /// expires on its own). A runtime that has shut down drops the task without running it.
    pub(crate) fn spawn<F: Future<Output = ()> + Send + 'static>(&self, task: F) -> bool {
        #[cfg(not(target_family = "wasm"))]
        {
            match tokio::runtime::Handle::try_current()
                .ok()
                .or_else(|| self.handle.clone())
            {
                Some(handle) => {
                    handle.spawn(task);
                    true
                }
                None => false,
            }
        }
        #[cfg(target_family = "wasm")]
        {
            wasm_bindgen_futures::spawn_local(task);
            true
        }
    }
}

/// Waits for `duration`.
pub(crate) async fn sleep(duration: Duration) {
    #[cfg(not(target_family = "wasm"))]
    tokio::time::sleep(duration).await;
    #[cfg(target_family = "wasm")]
    {
        // JavaScript timers take a 32-bit number of milliseconds; longer waits go in steps.
        const STEP: Duration = Duration::from_secs(24 * 3600);
        let mut left = duration;
        while !left.is_zero() {
            let step = left.min(STEP);
            futures_timer::Delay::new(step).await;
            left -= step;
        }
    }
}

/// Waits until `deadline`.
pub(crate) async fn sleep_until(deadline: Instant) {
    #[cfg(not(target_family = "wasm"))]
    tokio::time::sleep_until(deadline).await;
    #[cfg(target_family = "wasm")]
    sleep(deadline.saturating_duration_since(Instant::now())).await;
}

/// Runs `future` for at most `duration`.
pub(crate) async fn timeout<F: Future>(
    duration: Duration,
    future: F,
) -> Result<F::Output, Elapsed> {
    #[cfg(not(target_family = "wasm"))]
    {
        tokio::time::timeout(duration, future)
            .await
            .map_err(|_| Elapsed)
    }
    #[cfg(target_family = "wasm")]
    {
        use futures::future::{Either, select};
        let future = std::pin::pin!(future);
        let timer = std::pin::pin!(sleep(duration));
        match select(future, timer).await {
            Either::Left((output, _)) => Ok(output),
            Either::Right(_) => Err(Elapsed),
        }
    }
}

/// Runs `future` until `deadline` at most.
pub(crate) async fn timeout_at<F: Future>(
    deadline: Instant,
    future: F,
) -> Result<F::Output, Elapsed> {
    timeout(deadline.saturating_duration_since(Instant::now()), future).await
}
