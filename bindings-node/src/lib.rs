//! The native half of the `interlock` npm package: thin napi-rs classes over the core. The
//! public API, its docs and its error classes are the TypeScript in `lib/`.

mod client;
mod convert;
mod errors;
mod lease;
mod lock;
mod session;
mod txn;
mod watch;
