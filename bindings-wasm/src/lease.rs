//! `Lease`: a lease kept alive in the background, and JS callbacks for its loss.

use js_sys::{Function, Promise};
use send_wrapper::SendWrapper;
use wasm_bindgen::prelude::*;

use crate::errors::{promise, value};

/// A kept-alive lease.
#[wasm_bindgen]
pub struct Lease {
    pub(crate) inner: interlock_js::Lease,
}

/// A JS `() => void` the core can hold: the core's callbacks must be `Send`, and there is one
/// thread here, so the function is marked so (SendWrapper checks it).
pub fn js_callback(callback: Function) -> impl Fn() + Send + Sync + 'static {
    let callback = SendWrapper::new(callback);
    move || {
        let _ = callback.call0(&JsValue::UNDEFINED);
    }
}

#[wasm_bindgen]
impl Lease {
    #[wasm_bindgen(getter)]
    pub fn id(&self) -> String {
        self.inner.id()
    }

    /// The TTL in seconds.
    #[wasm_bindgen(getter)]
    pub fn ttl(&self) -> f64 {
        self.inner.ttl()
    }

    #[wasm_bindgen(js_name = isLost)]
    pub fn is_lost(&self) -> bool {
        self.inner.is_lost()
    }

    pub fn revoke(&self) -> Promise {
        promise(self.inner.revoke(), value)
    }

    /// Calls `callback` once when the lease is lost.
    #[wasm_bindgen(js_name = onLost)]
    pub fn on_lost(&self, callback: Function) {
        self.inner.on_lost(js_callback(callback));
    }

    /// A second handle on the same lease. wasm-bindgen takes ownership of a class instance
    /// passed as an optional argument, so `Client.lock` is handed one of these (the loader does
    /// it) and the caller's own handle stays usable.
    pub fn share(&self) -> Lease {
        Lease {
            inner: self.inner.clone(),
        }
    }
}
