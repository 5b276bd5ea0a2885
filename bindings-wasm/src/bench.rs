//! The Rust core's side of a benchmark of the package: the operations timed through the
//! JavaScript API, looped in Rust in the same module and on the same store, so the binding's
//! overhead reads off as a ratio. Not part of the public API (the TypeScript layer does not
//! export it).

use js_sys::Promise;
use wasm_bindgen::prelude::*;
use web_time::Instant;

use crate::errors::{OrThrow, invalid, promise};

/// Runs `ops` iterations of `op` ("lock_unlock" or "put") through the core on `url` and
/// resolves to the seconds they took.
#[wasm_bindgen(js_name = benchCore)]
pub fn bench_core(url: String, op: String, ops: u32) -> Promise {
    promise(async move {
        let client = interlock::Client::connect(&url).await.or_throw()?;
        match op.as_str() {
            "lock_unlock" => {
                let lock = client.lock("bench/core-lock");
                lock.acquire(None).await.or_throw()?;
                lock.release().await.or_throw()?;
                let start = Instant::now();
                for _ in 0..ops {
                    lock.acquire(None).await.or_throw()?;
                    lock.release().await.or_throw()?;
                }
                Ok(start.elapsed().as_secs_f64())
            }
            "put" => {
                let key = "bench/core-put";
                let mut index = client.get(key).await.or_throw()?.map_or(0, |e| e.index);
                let start = Instant::now();
                for n in 0..ops {
                    index = client.put(key, n, index).await.or_throw()?.index;
                }
                Ok(start.elapsed().as_secs_f64())
            }
            _ => Err(invalid(format!(
                "unknown benchmark op '{op}' (lock_unlock or put)"
            ))),
        }
    })
}
