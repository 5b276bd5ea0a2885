//! The module's functions besides `connect`: the core's retry rule and backoff (so that
//! `client.retry` in TypeScript takes its attempts and sleeps exactly as the core's `retry` does)
//! and the core benchmark (not part of the public API).

use js_sys::Promise;
use wasm_bindgen::prelude::*;

use crate::errors::{OrThrow, Result, promise, value};

/// Checks `retry`'s attempts by the core's rule (an integer from 1); returns them.
#[wasm_bindgen(js_name = checkRetryAttempts)]
pub fn check_retry_attempts(attempts: f64) -> Result<u32> {
    interlock_js::retry::check_retry_attempts(attempts).or_throw()
}

/// Seconds to wait before attempt `attempt + 1` (full jitter, exponential, capped).
#[wasm_bindgen(js_name = retryDelay)]
pub fn retry_delay(attempt: u32) -> f64 {
    interlock_js::retry::retry_delay(attempt)
}

/// Runs `ops` iterations of `op` ("lock_unlock" or "put") through the core on `url` and
/// resolves to the seconds they took.
#[wasm_bindgen(js_name = benchCore)]
pub fn bench_core(url: String, op: String, ops: u32) -> Promise {
    promise(interlock_js::bench::bench_core(url, op, ops), value)
}
