//! The watch stream users hold: events in index order, resumable from any retained index.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures::{Stream, StreamExt};

use crate::backend::{EventStream, WatchItem};
use crate::error::Result;
use crate::model::Event;

/// Changes under a prefix, in index order. Also a [`Stream`].
pub struct WatchStream {
    inner: EventStream,
    last: u64,
    progress: u64,
}

impl WatchStream {
    pub(crate) fn new(inner: EventStream) -> Self {
        WatchStream {
            inner,
            last: 0,
            progress: 0,
        }
    }

    /// The next event; `None` when the store closed the stream.
    pub async fn next_event(&mut self) -> Option<Result<Event>> {
        self.next().await
    }

    /// The index of the last event delivered (`0` before the first): resume with `last + 1`.
    pub fn last_index(&self) -> u64 {
        self.last
    }

    /// The newest index up to which the store has confirmed that every event of this watch has
    /// been delivered, as of the last event or wait (`0` before any): at least
    /// [`last_index`](Self::last_index), and further along when the store reported progress
    /// past it. Resuming from `progress_index() + 1` misses nothing, and on a quiet prefix it
    /// asks for history the store is less likely to have compacted than `last_index() + 1`.
    pub fn progress_index(&self) -> u64 {
        self.progress.max(self.last)
    }
}

impl Stream for WatchStream {
    type Item = Result<Event>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            return match self.inner.as_mut().poll_next(cx) {
                Poll::Ready(Some(Ok(WatchItem::Progress(index)))) => {
                    self.progress = self.progress.max(index);
                    continue;
                }
                Poll::Ready(Some(Ok(WatchItem::Event(e)))) => {
                    self.last = e.index;
                    Poll::Ready(Some(Ok(e)))
                }
                Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
                Poll::Ready(None) => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            };
        }
    }
}
