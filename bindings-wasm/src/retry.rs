//! The core's retry rule and backoff, so that `client.retry` in TypeScript takes its attempts and
//! sleeps exactly as the core's `retry` does, as in the Node package.

use wasm_bindgen::prelude::*;

use crate::errors::OrThrow;

/// Checks `retry`'s attempts by the core's rule (an integer from 1); returns them.
#[wasm_bindgen(js_name = checkRetryAttempts)]
pub fn check_retry_attempts(attempts: f64) -> crate::errors::Result<u32> {
    if !attempts.is_finite() || attempts.fract() != 0.0 {
        return Err(crate::errors::invalid(format!(
            "attempts of retry must be an integer from 1 to {}, not {attempts}",
            interlock::MAX_ATTEMPTS
        )));
    }
    interlock::check_attempts(attempts as i64).or_throw()
}

/// Seconds to wait before attempt `attempt + 1` (full jitter, exponential, capped).
#[wasm_bindgen(js_name = retryDelay)]
pub fn retry_delay(attempt: u32) -> f64 {
    interlock::RetryPolicy::default()
        .delay(attempt)
        .as_secs_f64()
}
