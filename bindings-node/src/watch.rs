//! `Watch`: an ordered, resumable stream of changes under a prefix, read one event at a time by
//! the TypeScript async iterator. `close()` ends a pending `next()`.

use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::convert::Event;
use crate::errors::OrThrow;

#[napi]
pub struct Watch {
    pub(crate) inner: interlock_js::Watch,
}

#[napi]
impl Watch {
    /// The next event, or null once the stream has ended or was closed.
    #[napi]
    pub async fn next(&self) -> Result<Option<Event>> {
        Ok(self.inner.next().await.or_throw()?.map(Event::from))
    }

    /// Ends the stream; a pending `next()` resolves to null.
    #[napi]
    pub fn close(&self) {
        self.inner.close();
    }
}
