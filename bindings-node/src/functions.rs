//! The module's functions besides `connect`: the core's retry rule and backoff (so that
//! `client.retry` in TypeScript takes its attempts and sleeps exactly as the core's `retry` does)
//! and the core benchmark of `bench/node` (not part of the public API).

use napi_derive::napi;

use crate::errors::OrThrow;

/// Checks `retry`'s attempts by the core's rule (an integer from 1); returns them.
#[napi]
pub fn check_retry_attempts(attempts: f64) -> napi::Result<u32> {
    interlock_js::retry::check_retry_attempts(attempts).or_throw()
}

/// Seconds to wait before attempt `attempt + 1` (full jitter, exponential, capped).
#[napi]
pub fn retry_delay(attempt: u32) -> f64 {
    interlock_js::retry::retry_delay(attempt)
}

/// Runs `ops` iterations of `op` ("lock_unlock" or "put") through the core on `url` and
/// resolves to the seconds they took.
#[napi]
pub async fn bench_core(url: String, op: String, ops: u32) -> napi::Result<f64> {
    interlock_js::bench::bench_core(url, op, ops)
        .await
        .or_throw()
}
