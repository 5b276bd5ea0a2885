//! Re-running a read-compute-commit function on conflict (docs/design.md, Transactions), with
//! jittered exponential backoff, written once for every backend and binding.

use std::future::Future;
use std::time::Duration;

use crate::error::{ErrorKind, Result};
use crate::rt;

/// How `retry` backs off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, the first included.
    pub attempts: u32,
    /// The first backoff; each later one doubles, up to `max_delay`.
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl RetryPolicy {
    pub fn attempts(attempts: u32) -> Self {
        RetryPolicy {
            attempts,
            ..RetryPolicy::default()
        }
    }

    /// The backoff before attempt `attempt + 1`: uniformly random up to the exponential bound
    /// ("full jitter"), so that contending writers spread out.
    pub fn delay(&self, attempt: u32) -> Duration {
        let bound = self
            .base_delay
            .saturating_mul(1u32 << attempt.min(20))
            .min(self.max_delay);
        bound.mul_f64(fastrand::f64())
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 10,
            base_delay: Duration::from_millis(2),
            max_delay: Duration::from_millis(500),
        }
    }
}

/// Runs `f(attempt)` until it succeeds, fails with something other than a conflict, or
/// `attempts` run out (then the last conflict is returned).
pub async fn retry<T, F, Fut>(attempts: u32, f: F) -> Result<T>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T>>,
{
    retry_with(RetryPolicy::attempts(attempts), f).await
}

/// [`retry`] with a full policy.
pub async fn retry_with<T, F, Fut>(policy: RetryPolicy, mut f: F) -> Result<T>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let attempts = policy.attempts.max(1);
    let mut attempt = 0;
    loop {
        match f(attempt).await {
            Err(e) if e.kind() == ErrorKind::Conflict && attempt + 1 < attempts => {
                rt::sleep(policy.delay(attempt)).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{Conflict, Error};

    #[tokio::test]
    async fn retries_conflicts_then_returns_the_last() {
        let mut calls = 0;
        let r: Result<()> = retry(3, |_| {
            calls += 1;
            let n = calls;
            async move {
                Err(Error::conflict(vec![Conflict {
                    key: format!("k{n}"),
                    expected: 1,
                    actual: 2,
                }]))
            }
        })
        .await;
        assert_eq!(calls, 3);
        assert_eq!(r.unwrap_err().conflicts()[0].key, "k3");
    }

    #[tokio::test]
    async fn other_errors_are_not_retried() {
        let mut calls = 0;
        let r: Result<()> = retry(5, |_| {
            calls += 1;
            async { Err(Error::invalid("bad")) }
        })
        .await;
        assert_eq!(calls, 1);
        assert_eq!(r.unwrap_err().kind(), ErrorKind::InvalidArgument);
    }

    #[test]
    fn delay_is_bounded() {
        let p = RetryPolicy::default();
        for a in 0..30 {
            assert!(p.delay(a) <= p.max_delay);
        }
    }
}
