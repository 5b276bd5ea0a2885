//! The private `interlock._native` module: thin pyo3 classes over the Rust core. The public,
//! documented Python API is the `interlock` package written in Python on top of it.

#[macro_use]
mod macros;

mod bench;
mod client;
mod convert;
mod errors;
mod lease;
mod lock;
mod model;
mod retry;
mod runtime;
mod session;
mod txn;
mod watch;

use pyo3::prelude::*;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<client::Client>()?;
    m.add_class::<lease::Lease>()?;
    m.add_class::<lock::Lock>()?;
    m.add_class::<model::Entry>()?;
    m.add_class::<model::PutResult>()?;
    m.add_class::<model::Event>()?;
    m.add_class::<model::Page>()?;
    m.add_class::<model::LockWaiter>()?;
    m.add_class::<session::Session>()?;
    m.add_class::<txn::Txn>()?;
    m.add_class::<watch::Watch>()?;
    m.add_function(wrap_pyfunction!(client::connect, m)?)?;
    m.add_function(wrap_pyfunction!(client::connect_async, m)?)?;
    m.add_function(wrap_pyfunction!(client::default_url, m)?)?;
    m.add_function(wrap_pyfunction!(client::check_ttl, m)?)?;
    m.add_function(wrap_pyfunction!(runtime::exit_hook, m)?)?;
    m.add_function(wrap_pyfunction!(retry::retry_delay, m)?)?;
    m.add_function(wrap_pyfunction!(retry::check_retry_attempts, m)?)?;
    m.add_function(wrap_pyfunction!(bench::bench_core, m)?)?;
    m.add_function(wrap_pyfunction!(client::url_options, m)?)?;
    // The longest duration any argument takes (the core's longest lease TTL), in seconds.
    m.add("MAX_SECONDS", interlock::validate::MAX_TTL.as_secs_f64())?;
    Ok(())
}
