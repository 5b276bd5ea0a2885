//! Watch over an event log plus a change signal, shared by the stores that keep their own log
//! (mem and SQLite): one implementation of ordering, resume and compaction for both.

use std::collections::VecDeque;
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::watch;

use crate::backend::{EventStream, RangeRead, WatchItem};
use crate::error::{Error, Result};
use crate::model::Event;

/// Events read from a log.
pub(crate) struct LogBatch {
    /// Events with index ≥ the requested one, in order, possibly truncated to the limit.
    pub events: Vec<Event>,
    /// Every event with an index ≥ `oldest` is still in the log.
    pub oldest: u64,
}

#[async_trait]
pub(crate) trait EventLog: Send + Sync + 'static {
    /// A signal that changes (to any value) after new events were appended.
    fn changes(&self) -> watch::Receiver<u64>;
    /// The index of the last commit.
    async fn head(&self) -> Result<u64>;
    /// Up to `limit` events with index ≥ `from`, never splitting the events of one index.
    async fn events_since(&self, from: u64, limit: usize) -> Result<LogBatch>;
    /// Declares that a watcher exists until the returned guard is dropped (a store may signal
    /// other processes only while someone listens).
    fn listen(&self) -> ListenGuard {
        ListenGuard(None)
    }
}

/// Held by a watch stream while it lives; dropping it ends the registration.
pub(crate) struct ListenGuard(#[allow(dead_code)] pub Option<Box<dyn Send + Sync>>);

const BATCH: usize = 512;

struct WatchState {
    log: Arc<dyn EventLog>,
    rx: watch::Receiver<u64>,
    next: u64,
    buf: VecDeque<WatchItem>,
    range: RangeRead,
    done: bool,
    _listening: ListenGuard,
}

/// An ordered, resumable event stream over `log`.
pub(crate) async fn watch_log(
    log: Arc<dyn EventLog>,
    range: RangeRead,
    from: Option<u64>,
) -> Result<EventStream> {
    // Listen before the first read, so a commit after that read is signalled to us.
    let listening = log.listen();
    let mut rx = log.changes();
    rx.borrow_and_update();
    let next = match from {
        Some(f) => f.max(1),
        None => log.head().await? + 1,
    };
    let state = WatchState {
        log,
        rx,
        next,
        buf: VecDeque::new(),
        range,
        done: false,
        _listening: listening,
    };
    Ok(Box::pin(futures::stream::unfold(
        state,
        |mut st| async move {
            if st.done {
                return None;
            }
            loop {
                if let Some(e) = st.buf.pop_front() {
                    return Some((Ok(e), st));
                }
                st.rx.borrow_and_update();
                let batch = match st.log.events_since(st.next, BATCH).await {
                    Ok(b) => b,
                    Err(e) => {
                        st.done = true;
                        return Some((Err(e), st));
                    }
                };
                if st.next < batch.oldest {
                    st.done = true;
                    let e = Error::compacted(st.next, batch.oldest);
                    return Some((Err(e), st));
                }
                if let Some(last) = batch.events.last() {
                    st.next = last.index + 1;
                    let range = &st.range;
                    let mut delivered = 0;
                    for e in batch.events {
                        if range.matches(&e.key, e.index) {
                            delivered = e.index;
                            st.buf.push_back(WatchItem::Event(e));
                        }
                    }
                    // The log holds every index: the events of this watch up to the last one
                    // read have all been delivered, even where none matched.
                    if delivered < st.next - 1 {
                        st.buf.push_back(WatchItem::Progress(st.next - 1));
                    }
                    continue;
                }
                if st.rx.changed().await.is_err() {
                    // The store was closed: end the stream.
                    return None;
                }
            }
        },
    )))
}
