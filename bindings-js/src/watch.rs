//! `Watch`: an ordered, resumable stream of changes under a prefix, read one event at a time by
//! the TypeScript async iterator. `close()` ends a pending `next()`.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::future::{Either, select};

use crate::Result;
use crate::convert::Event;

pub struct Watch {
    stream: Arc<tokio::sync::Mutex<Option<interlock::WatchStream>>>,
    closed: Arc<AtomicBool>,
    close: Arc<tokio::sync::Notify>,
}

impl Watch {
    pub fn new(stream: interlock::WatchStream) -> Self {
        Watch {
            stream: Arc::new(tokio::sync::Mutex::new(Some(stream))),
            closed: Arc::default(),
            close: Arc::default(),
        }
    }

    /// A watch that has ended: its `next()` resolves to none.
    pub fn ended() -> Self {
        Watch {
            stream: Arc::new(tokio::sync::Mutex::new(None)),
            closed: Arc::new(AtomicBool::new(true)),
            close: Arc::default(),
        }
    }

    /// The next event, or none once the stream has ended or was closed.
    pub fn next(&self) -> impl Future<Output = Result<Option<Event>>> + 'static {
        let (stream, closed, close) =
            (self.stream.clone(), self.closed.clone(), self.close.clone());
        async move {
            // Created before the check, so a close() from now on wakes it.
            let notified = pin!(close.notified());
            if closed.load(Ordering::SeqCst) {
                return Ok(None);
            }
            let mut guard = stream.lock().await;
            let Some(events) = guard.as_mut() else {
                return Ok(None);
            };
            let next = match select(pin!(events.next_event()), notified).await {
                Either::Left((next, _)) => next,
                Either::Right(_) => None,
            };
            match next {
                Some(event) => Event::from_core(event?).map(Some),
                None => {
                    guard.take();
                    Ok(None)
                }
            }
        }
    }

    /// Ends the stream; a pending `next()` resolves to none.
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.close.notify_waiters();
        if let Ok(mut stream) = self.stream.try_lock() {
            stream.take();
        }
    }
}
