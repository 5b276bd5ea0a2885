//! The watch stream users hold: events in index order, resumable from any retained index.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures::{Stream, StreamExt};

use crate::backend::EventStream;
use crate::error::Result;
use crate::model::Event;

/// Changes under a prefix, in index order. Also a [`Stream`].
pub struct WatchStream {
    inner: EventStream,
    last: u64,
}

impl WatchStream {
    pub(crate) fn new(inner: EventStream) -> Self {
        WatchStream { inner, last: 0 }
    }

    /// The next event; `None` when the store closed the stream.
    pub async fn next_event(&mut self) -> Option<Result<Event>> {
        self.next().await
    }

    /// The index of the last event delivered (`0` before the first): resume with `last + 1`.
    pub fn last_index(&self) -> u64 {
        self.last
    }
}

impl Stream for WatchStream {
    type Item = Result<Event>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let item = self.inner.as_mut().poll_next(cx);
        if let Poll::Ready(Some(Ok(e))) = &item {
            self.last = e.index;
        }
        item
    }
}
