//! The Rust core's side of the packages' benchmark (`bench/node`): the operations the benchmark
//! times through the JavaScript API, looped in Rust in the same process and on the same store, so
//! that batches of both can be interleaved and the binding's overhead read off as a ratio. Not
//! part of the public API (the TypeScript layer does not export it).

use web_time::Instant;

use crate::Result;
use crate::errors::invalid;

/// Runs `ops` iterations of `op` ("lock_unlock" or "put") through the core on `url` and
/// resolves to the seconds they took.
pub async fn bench_core(url: String, op: String, ops: u32) -> Result<f64> {
    let client = interlock::Client::connect(&url).await?;
    match op.as_str() {
        "lock_unlock" => {
            let lock = client.lock("bench/core-lock");
            lock.acquire(None).await?;
            lock.release().await?;
            let start = Instant::now();
            for _ in 0..ops {
                lock.acquire(None).await?;
                lock.release().await?;
            }
            Ok(start.elapsed().as_secs_f64())
        }
        "put" => {
            let key = "bench/core-put";
            let mut index = client.get(key).await?.map_or(0, |e| e.index);
            let start = Instant::now();
            for n in 0..ops {
                index = client.put(key, n, index).await?.index;
            }
            Ok(start.elapsed().as_secs_f64())
        }
        _ => Err(invalid(format!(
            "unknown benchmark op '{op}' (lock_unlock or put)"
        ))),
    }
}
