//! The native half of the `interlock` npm package: thin napi-rs classes over the core. The
//! public API, its docs and its error classes are the TypeScript in `lib/`.

// napi-derive registers the exported functions only outside `cfg(test)`, so clippy's test build
// of this crate sees them as unused.
#![cfg_attr(test, allow(dead_code))]

mod bench;
mod client;
mod convert;
mod errors;
mod lease;
mod lock;
mod retry;
mod session;
mod txn;
mod watch;
