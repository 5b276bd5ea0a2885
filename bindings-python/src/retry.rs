//! The retry policy's argument rule and backoff, so that `Client.retry` in Python (sync and
//! asyncio) takes and sleeps exactly as the core's `retry` does.

use pyo3::prelude::*;

/// Seconds to wait before attempt `attempt + 1` (full jitter, exponential, capped).
#[pyfunction]
pub fn retry_delay(attempt: u32) -> f64 {
    interlock::RetryPolicy::default()
        .delay(attempt)
        .as_secs_f64()
}

/// The number of attempts, checked by the core's rule (InvalidArgumentError naming it).
#[pyfunction]
pub fn check_retry_attempts(attempts: i64) -> PyResult<u32> {
    interlock::check_attempts(attempts).map_err(|e| crate::errors::invalid(e.message()))
}
