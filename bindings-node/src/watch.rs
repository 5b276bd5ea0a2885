//! `Watch`: an ordered, resumable stream of changes under a prefix, read one event at a time by
//! the TypeScript async iterator. `close()` ends a pending `next()`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::convert::Event;
use crate::errors::OrThrow;

#[napi]
pub struct Watch {
    stream: Arc<tokio::sync::Mutex<Option<interlock::WatchStream>>>,
    closed: Arc<AtomicBool>,
    close: Arc<tokio::sync::Notify>,
}

impl Watch {
    pub fn new(stream: interlock::WatchStream) -> Self {
        Watch {
            stream: Arc::new(tokio::sync::Mutex::new(Some(stream))),
            closed: Arc::new(AtomicBool::new(false)),
            close: Arc::new(tokio::sync::Notify::new()),
        }
    }
}

#[napi]
impl Watch {
    /// The next event, or null once the stream has ended or was closed.
    #[napi]
    pub async fn next(&self) -> Result<Option<Event>> {
        let closed = self.close.notified();
        if self.closed.load(Ordering::SeqCst) {
            return Ok(None);
        }
        let mut guard = self.stream.lock().await;
        let Some(stream) = guard.as_mut() else {
            return Ok(None);
        };
        let next = tokio::select! {
            next = stream.next_event() => next,
            _ = closed => None,
        };
        match next {
            Some(event) => Event::from_core(event.or_throw()?).map(Some),
            None => {
                guard.take();
                Ok(None)
            }
        }
    }

    /// Ends the stream; a pending `next()` resolves to null.
    #[napi]
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.close.notify_waiters();
        if let Ok(mut stream) = self.stream.try_lock() {
            stream.take();
        }
    }
}
