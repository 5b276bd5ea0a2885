//! Core errors across the boundary, encoded as the Node package's are
//! (`interlock_js::errors::encode`), from which the shared `errors.ts` builds the real class; and
//! the shared crate's futures and records handed to JavaScript.

use serde::Serialize;
use wasm_bindgen::JsValue;

/// What every exported call fails with: a JS `Error`.
pub type Result<T> = std::result::Result<T, JsValue>;

/// An optional index argument (a JS number, or null or undefined).
pub type Index = Option<f64>;
/// An optional lease id argument (decimal text, or null or undefined).
pub type LeaseId = Option<String>;

pub fn to_js(e: interlock::Error) -> JsValue {
    js_sys::Error::new(&interlock_js::errors::encode(&e)).into()
}

/// `.map_err(errors::to_js)` for core results.
pub trait OrThrow<T> {
    fn or_throw(self) -> Result<T>;
}

impl<T> OrThrow<T> for interlock::Result<T> {
    fn or_throw(self) -> Result<T> {
        self.map_err(to_js)
    }
}

/// A record as a plain JS object (absent fields left out).
pub fn record<T: Serialize>(value: &T) -> Result<JsValue> {
    serde_wasm_bindgen::to_value(value).map_err(|e| {
        to_js(interlock_js::errors::internal(format!(
            "cannot hand a result to JavaScript: {e}"
        )))
    })
}

/// A value that may be absent: `null` when it is.
pub fn nullable<T: Into<JsValue>>(value: Option<T>) -> JsValue {
    value.map_or(JsValue::NULL, Into::into)
}

/// Runs `work` on the event loop and hands JavaScript its promise, resolved with `out` of its
/// result.
pub fn promise<T, F>(work: F, out: impl FnOnce(T) -> Result<JsValue> + 'static) -> js_sys::Promise
where
    F: std::future::Future<Output = interlock::Result<T>> + 'static,
{
    wasm_bindgen_futures::future_to_promise(async move { out(work.await.or_throw()?) })
}

/// `out` for a result JavaScript takes as it is.
pub fn value<T: Into<JsValue>>(v: T) -> Result<JsValue> {
    Ok(v.into())
}

/// `out` for a call that resolves to nothing.
pub fn done(_: ()) -> Result<JsValue> {
    Ok(JsValue::UNDEFINED)
}
