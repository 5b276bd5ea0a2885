//! The core's retry rule and backoff, so that `client.retry` in TypeScript takes its attempts and
//! sleeps exactly as the core's `retry` does (the function it re-runs is a JavaScript one).

use crate::Result;
use crate::errors::invalid;

/// Checks `retry`'s attempts by the core's rule (an integer from 1); returns them.
pub fn check_retry_attempts(attempts: f64) -> Result<u32> {
    if !attempts.is_finite() || attempts.fract() != 0.0 {
        return Err(invalid(format!(
            "attempts of retry must be an integer from 1 to {}, not {attempts}",
            interlock::MAX_ATTEMPTS
        )));
    }
    interlock::check_attempts(attempts as i64)
}

/// Seconds to wait before attempt `attempt + 1` (full jitter, exponential, capped).
pub fn retry_delay(attempt: u32) -> f64 {
    interlock::RetryPolicy::default()
        .delay(attempt)
        .as_secs_f64()
}
