//! The WebAssembly half of the `interlock-db-wasm` npm package: thin wasm-bindgen classes over the
//! core, with the same shape as the Node package's native module, so that the same TypeScript
//! (`bindings-node/lib/`) is the public API of both, with the same error classes. Every store a
//! browser can reach works: an interlock server (`http://`, through `fetch`) and the in-process
//! `mem://`.

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
