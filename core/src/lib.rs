//! interlock: compare-exchange values, leases, fair locks with fencing tokens, JSON documents
//! with optimistic concurrency and atomic multi-key transactions, on an embedded SQLite store or
//! an in-process one, behind one async API.
//!
//! ```no_run
//! # async fn demo() -> interlock::Result<()> {
//! let db = interlock::Client::connect("sqlite:///tmp/app.db").await?;
//! let r = db.put("emails/a@b.c", "users/1", 0).await?; // create only if absent
//! let lock = db.lock("printer/first-floor");
//! let token = lock.acquire(None).await?;               // fencing token
//! lock.release().await?;
//! # Ok(()) }
//! ```

pub mod backend;
mod client;
mod clock;
mod error;
#[cfg(not(target_family = "wasm"))]
pub mod etcd;
mod eventlog;
pub mod http;
mod kv;
mod lease;
mod lock;
pub mod mem;
mod model;
mod retry;
mod rt;
mod session;
#[cfg(not(target_family = "wasm"))]
pub mod sqlite;
mod state;
mod txn;
mod url;
pub mod validate;
mod watch;

pub use client::Client;
pub use error::{Conflict, Error, ErrorKind, Result};
pub use kv::PutOptions;
pub use lease::Lease;
pub use lock::{Lock, LockOptions, LockWaiter};
pub use model::{Entry, Event, EventKind, LeaseId, Page, PutResult};
pub use retry::{MAX_ATTEMPTS, RetryPolicy, check_attempts, retry, retry_with};
pub use session::{Session, SessionOptions};
pub use txn::Txn;
pub use url::{ConnectOptions, URL_ENV, default_url, url_options};
pub use watch::WatchStream;
