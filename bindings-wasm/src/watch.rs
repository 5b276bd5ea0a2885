//! `Watch`: an ordered, resumable stream of changes under a prefix, read one event at a time by
//! the TypeScript async iterator. `close()` ends a pending `next()`.

use std::cell::Cell;
use std::rc::Rc;

use futures::future::{Either, select};
use js_sys::Promise;
use wasm_bindgen::prelude::*;

use crate::convert::{Event, to_js};
use crate::errors::{OrThrow, promise};

#[wasm_bindgen]
pub struct Watch {
    stream: Rc<tokio::sync::Mutex<Option<interlock::WatchStream>>>,
    closed: Rc<Cell<bool>>,
    close: Rc<tokio::sync::Notify>,
}

impl Watch {
    pub fn new(stream: interlock::WatchStream) -> Self {
        Watch {
            stream: Rc::new(tokio::sync::Mutex::new(Some(stream))),
            closed: Rc::new(Cell::new(false)),
            close: Rc::default(),
        }
    }
}

#[wasm_bindgen]
impl Watch {
    /// The next event, or null once the stream has ended or was closed.
    pub fn next(&self) -> Promise {
        let (stream, closed, close) =
            (self.stream.clone(), self.closed.clone(), self.close.clone());
        promise(async move {
            // Created before the check, so a close() from now on wakes it.
            let notified = std::pin::pin!(close.notified());
            if closed.get() {
                return Ok(JsValue::NULL);
            }
            let mut guard = stream.lock().await;
            let Some(events) = guard.as_mut() else {
                return Ok(JsValue::NULL);
            };
            let next = match select(std::pin::pin!(events.next_event()), notified).await {
                Either::Left((next, _)) => next,
                Either::Right(_) => None,
            };
            match next {
                Some(event) => to_js(&Event::from_core(event.or_throw()?)?),
                None => {
                    guard.take();
                    Ok(JsValue::NULL)
                }
            }
        })
    }

    /// Ends the stream; a pending `next()` resolves to null.
    pub fn close(&self) {
        self.closed.set(true);
        self.close.notify_waiters();
        if let Ok(mut stream) = self.stream.try_lock() {
            stream.take();
        }
    }
}
