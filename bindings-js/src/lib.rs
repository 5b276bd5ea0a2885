//! The JavaScript glue of interlock, written once for the Node package (napi, `bindings-node/`)
//! and the WebAssembly package (wasm-bindgen, `bindings-wasm/`). Both expose the same native
//! classes to the same TypeScript (`bindings-node/lib/`); everything those classes do that is not
//! the binding library's own business lives here, in plain Rust with no binding dependency: the
//! checks of arguments and their messages, the values across the boundary (indexes as JS numbers,
//! lease ids as decimal text, values as JSON text), the encoded errors, and each concept's state
//! and calls (client, transaction, session, lease, lock, watch, retry, the core benchmark).
//!
//! Every call returns an [`interlock::Result`]; a binding turns its error into a JS `Error` with
//! [`errors::encode`], converts its own argument types, and adds its attributes (`#[napi]` or
//! `#[wasm_bindgen]`). Async calls return `'static` futures (they own what they use), so that the
//! WebAssembly package can hand them to the event loop and Node can await them. See
//! docs/architecture.md, "The JavaScript packages".

pub mod bench;
pub mod client;
pub mod convert;
pub mod errors;
pub mod lease;
pub mod lock;
pub mod retry;
pub mod session;
pub mod txn;
pub mod watch;

pub use client::{Client, connect};
pub use convert::{Entry, Event, LockWaiter, Page, PutResult, Write};
pub use lease::Lease;
pub use lock::Lock;
pub use session::Session;
pub use txn::Txn;
pub use watch::Watch;

/// What every call of this crate returns.
pub type Result<T> = interlock::Result<T>;
