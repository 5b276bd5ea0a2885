//! Re-running a read-compute-commit function on conflict (docs/design.md, Transactions), with
//! jittered exponential backoff, written once for every backend and binding: the Python and
//! JavaScript `retry` loops take their argument rule ([`check_attempts`]) and every sleep
//! ([`RetryPolicy::delay`]) from here, because the function they re-run is a Python or
//! JavaScript one.

use std::future::Future;
use std::time::Duration;

use crate::error::{Error, ErrorKind, Result};
use crate::rt;

/// The most attempts `retry` takes.
pub const MAX_ATTEMPTS: u32 = 1_000_000;

/// The rule for `retry`'s `attempts`, the same in every binding: an integer from 1 (run once,
/// never retry) to [`MAX_ATTEMPTS`]. Bindings whose numbers are not integers check that first
/// and pass the integer here.
pub fn check_attempts(attempts: i64) -> Result<u32> {
    if (1..=i64::from(MAX_ATTEMPTS)).contains(&attempts) {
        Ok(attempts as u32)
    } else {
        Err(Error::invalid(format!(
            "attempts of retry must be an integer from 1 to {MAX_ATTEMPTS}, not {attempts}"
        )))
    }
}

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
/// `attempts` run out (then the last conflict is returned). `attempts` of 0 is
/// `InvalidArgument` (see [`check_attempts`]), and `f` is not run.
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
    let attempts = check_attempts(i64::from(policy.attempts))?;
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

    #[tokio::test]
    async fn zero_attempts_is_refused_without_running() {
        let mut calls = 0;
        let r: Result<()> = retry(0, |_| {
            calls += 1;
            async { Ok(()) }
        })
        .await;
        assert_eq!(calls, 0);
        let e = r.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        assert!(e.message().contains("attempts"), "{e}");
        assert!(e.message().contains("from 1"), "{e}");
        assert!(e.message().contains("not 0"), "{e}");
        assert_eq!(check_attempts(1).unwrap(), 1);
        assert!(check_attempts(-1).is_err());
        assert!(check_attempts(i64::from(MAX_ATTEMPTS) + 1).is_err());
    }

    #[test]
    fn delay_is_bounded() {
        let p = RetryPolicy::default();
        for a in 0..30 {
            assert!(p.delay(a) <= p.max_delay);
        }
    }
}
