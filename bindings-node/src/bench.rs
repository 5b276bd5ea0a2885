//! The Rust core's side of the Node benchmark (`bench/node`): the operations the benchmark times
//! through the JavaScript API, looped in Rust in the same process and on the same store, so that
//! batches of both can be interleaved and the binding's overhead read off as a ratio. Not part of
//! the public API (`lib/index.ts` does not export it).

use std::time::Instant;

use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::errors::{OrThrow, invalid};

/// Runs `ops` iterations of `op` ("lock_unlock" or "put") through the core on `url` and
/// resolves to the seconds they took.
#[napi]
pub async fn bench_core(url: String, op: String, ops: u32) -> Result<f64> {
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
}
