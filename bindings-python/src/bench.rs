//! The Rust core's side of the Python benchmark (`bench/python`): the same operations the
//! benchmark times through the Python API, looped in Rust in the same process and on the same
//! store, so that batches of both can be interleaved and the binding's overhead read off as a
//! ratio.

use std::time::Instant;

use pyo3::prelude::*;

use crate::errors;
use crate::runtime::block_on;

/// Runs `ops` iterations of `op` ("lock_unlock" or "put") through the core on `url` and
/// returns the seconds they took. Not part of the public API.
#[pyfunction]
pub fn bench_core(py: Python<'_>, url: String, op: String, ops: u64) -> PyResult<f64> {
    if op != "lock_unlock" && op != "put" {
        return Err(errors::invalid(format!(
            "unknown benchmark op '{op}' (lock_unlock or put)"
        )));
    }
    block_on(py, async move {
        let client = interlock::Client::connect(&url).await?;
        let start;
        if op == "lock_unlock" {
            let lock = client.lock("bench/core-lock");
            lock.acquire(None).await?;
            lock.release().await?;
            start = Instant::now();
            for _ in 0..ops {
                lock.acquire(None).await?;
                lock.release().await?;
            }
        } else {
            let key = "bench/core-put";
            let mut index = client.get(key).await?.map_or(0, |e| e.index);
            start = Instant::now();
            for n in 0..ops {
                let r = client.put(key, n, index).await?;
                index = r.index;
            }
        }
        Ok(start.elapsed().as_secs_f64())
    })
}
