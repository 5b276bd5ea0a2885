//! `Lease`: a lease kept alive in the background, and JS callbacks for its loss.

use napi::bindgen_prelude::*;
use napi::threadsafe_function::ThreadsafeFunctionCallMode;
use napi_derive::napi;

use crate::errors::OrThrow;

/// A kept-alive lease.
#[napi]
pub struct Lease {
    pub(crate) inner: interlock_js::Lease,
}

/// A JS `() => void` callable from any thread. It is weak: waiting to be called does not
/// keep the event loop alive.
pub fn js_callback(callback: Function<(), ()>) -> Result<impl Fn() + Send + Sync + 'static> {
    let tsfn = callback
        .build_threadsafe_function()
        .weak::<true>()
        .build()?;
    Ok(move || {
        tsfn.call((), ThreadsafeFunctionCallMode::NonBlocking);
    })
}

#[napi]
impl Lease {
    #[napi(getter)]
    pub fn id(&self) -> String {
        self.inner.id()
    }

    /// The TTL in seconds.
    #[napi(getter)]
    pub fn ttl(&self) -> f64 {
        self.inner.ttl()
    }

    #[napi]
    pub fn is_lost(&self) -> bool {
        self.inner.is_lost()
    }

    #[napi]
    pub async fn revoke(&self) -> Result<bool> {
        self.inner.revoke().await.or_throw()
    }

    /// Calls `callback` once when the lease is lost.
    #[napi]
    pub fn on_lost(&self, callback: Function<(), ()>) -> Result<()> {
        self.inner.on_lost(js_callback(callback)?);
        Ok(())
    }
}
