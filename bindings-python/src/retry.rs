//! The retry policy's backoff, so that `Client.retry` in Python (sync and asyncio) sleeps
//! exactly as the core's `retry` does.

use pyo3::prelude::*;

/// Seconds to wait before attempt `attempt + 1` (full jitter, exponential, capped).
#[pyfunction]
pub fn retry_delay(attempt: u32) -> f64 {
    interlock::RetryPolicy::default()
        .delay(attempt)
        .as_secs_f64()
}
