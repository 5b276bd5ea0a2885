//! The native half of the `interlock` npm package: napi-rs shims over the JavaScript glue that
//! the WebAssembly package shares (`bindings-js/`, the crate `interlock-js`). Each file declares
//! one concept's class with its `#[napi]` attributes and converts napi's values; the checks, the
//! messages and the logic are the shared crate's. The public API, its docs and its error classes
//! are the TypeScript in `lib/`.

// napi-derive registers the exported functions only outside `cfg(test)`, so clippy's test build
// of this crate sees them as unused.
#![cfg_attr(test, allow(dead_code))]

mod client;
mod convert;
mod errors;
mod functions;
mod lease;
mod lock;
mod session;
mod txn;
mod watch;
