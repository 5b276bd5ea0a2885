//! The WebAssembly half of the `interlock-db-wasm` npm package: wasm-bindgen shims over the
//! JavaScript glue that the Node package shares (`bindings-js/`, the crate `interlock-js`), with
//! the same classes as the Node package's native module, so that the same TypeScript
//! (`bindings-node/lib/`) is the public API of both, with the same error classes. Each file
//! declares one concept's class with its `#[wasm_bindgen]` attributes and hands its futures to
//! the event loop; the checks, the messages and the logic are the shared crate's. Every store a
//! browser can reach works: an interlock server (`http://`, through `fetch`) and the in-process
//! `mem://`.

mod client;
mod errors;
mod functions;
mod lease;
mod lock;
mod session;
mod txn;
mod watch;
