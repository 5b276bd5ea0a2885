//! Core errors across the boundary, encoded as the Node package's are: the kind, message and
//! conflicts as JSON after a marker, from which the shared `errors.ts` builds the real class.

use serde_json::json;
use wasm_bindgen::JsValue;

/// Must match `MARKER` in `bindings-node/lib/errors.ts`.
const MARKER: &str = "interlock-error:";

/// What every exported call fails with: a JS `Error`.
pub type Result<T> = std::result::Result<T, JsValue>;

pub fn to_js(e: interlock::Error) -> JsValue {
    let conflicts: Vec<_> = e
        .conflicts()
        .iter()
        .map(|c| json!({ "key": c.key, "expected": c.expected, "actual": c.actual }))
        .collect();
    let body = json!({
        "kind": e.kind().as_str(),
        "message": e.message(),
        "conflicts": conflicts,
    });
    js_sys::Error::new(&format!("{MARKER}{body}")).into()
}

pub fn invalid(message: impl Into<String>) -> JsValue {
    to_js(interlock::Error::invalid(message))
}

pub fn internal(message: impl Into<String>) -> JsValue {
    to_js(interlock::Error::internal(message))
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

/// Runs `work` on the event loop and hands JavaScript its promise.
pub fn promise<T, F>(work: F) -> js_sys::Promise
where
    T: Into<JsValue>,
    F: std::future::Future<Output = Result<T>> + 'static,
{
    wasm_bindgen_futures::future_to_promise(async move { work.await.map(Into::into) })
}
