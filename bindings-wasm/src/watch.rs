//! `Watch`: an ordered, resumable stream of changes under a prefix, read one event at a time by
//! the TypeScript async iterator. `close()` ends a pending `next()`.

use js_sys::Promise;
use wasm_bindgen::prelude::*;

use crate::errors::{promise, record};

#[wasm_bindgen]
pub struct Watch {
    pub(crate) inner: interlock_js::Watch,
}

#[wasm_bindgen]
impl Watch {
    /// The next event, or null once the stream has ended or was closed.
    pub fn next(&self) -> Promise {
        promise(self.inner.next(), |e| match e {
            Some(e) => record(&e),
            None => Ok(JsValue::NULL),
        })
    }

    /// Ends the stream; a pending `next()` resolves to null.
    pub fn close(&self) {
        self.inner.close();
    }
}
