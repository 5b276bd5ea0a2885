//! The behaviour every backend must show (docs/design.md, Data model to Lifecycle), one function
//! per behaviour, each taking a fresh [`crate::Store`].

pub mod input;
pub mod kv;
pub mod lease;
pub mod lifecycle;
pub mod lock;
pub mod session;
pub mod txn;
pub mod watch;

use std::time::Duration;

/// Polls `f` until it returns true, for at most `limit`; used to wait for background effects
/// (lease expiry, a waiter joining a queue), never to assert on speed.
pub async fn eventually<F, Fut>(limit: Duration, mut f: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if f().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
