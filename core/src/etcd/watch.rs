//! Watches over the gateway's streaming `/v3/watch`, resumed across member failures.
//!
//! The stream remembers the next revision it owes its reader. When the connection to a member
//! ends, or goes quiet and the member no longer answers a linearizable read (it was paused or
//! cut off from the leader), the watch is opened again on the next member from that revision,
//! so the reader sees every event once, in order. If etcd has compacted that revision away
//! meanwhile (or the watch asked for a compacted revision to begin with), the stream yields one
//! error naming the oldest revision still available and ends: the reader reads the current
//! state and watches from its index + 1.
//!
//! # Why a quiet watch survives compaction
//!
//! A watch on a quiet range sees no events, so the events alone would leave its resume revision
//! where the watch began while the rest of the cluster writes on; once a compaction (such as
//! `--auto-compaction-retention`) passes it, reopening from there fails although nothing was
//! missed. So the resume revision also moves on etcd's word that nothing is owed:
//!
//! - Every watch is created with `progress_notify`. etcd then sends, each
//!   `--experimental-watch-progress-notify-interval` (10 minutes by default) in which the
//!   watch had no events, an empty response whose header revision R is the store's revision.
//!   etcd sends it only to a *synced* watcher (one that has been sent every event up to the
//!   current revision, `watchableStore.progress`), through the same per-watcher channel as its
//!   events, under the store lock that a write holds while it both notifies the synced
//!   watchers and raises the revision. So when it arrives, every event of the range up to R has
//!   arrived before it, and the watch may resume from R + 1: the stream moves `next` to
//!   `max(next, R + 1)` and yields [`WatchItem::Progress`]`(R)`.
//! - Nothing else moves `next` but events (to the last one's revision + 1). Not the header of
//!   the `created` response: it is the revision when the watch was created, and a watcher
//!   created from an older revision is unsynced and still catching up. Not the header of an
//!   events response: a watcher catching up on many revisions gets them in batches that each
//!   carry the current revision. And not a `progress_request` answer, which etcd before 3.4.25
//!   and 3.5.8 sends on the stream's control channel, where it can overtake events still
//!   queued (etcd issue 15220); over the gateway's HTTP/1.1 POST the request could not be sent
//!   mid-stream anyway (the body is the one create request).
//! - A silent connection to a member that still serves is reopened now and then
//!   ([`EtcdOptions::watch_refresh`](super::EtcdOptions::watch_refresh), 30 s by default), in
//!   case a proxy or a half-open connection holds it without delivering. Before that, the
//!   quiet-period probe (a linearizable read of one key at revision `next - 1`) tells whether
//!   `next` has been compacted. If it has, reopening could only fail, so the connection is
//!   kept: its member serves and nothing says it lost anything, and its next progress
//!   notification moves `next` past the compaction. Only if it then stays silent for longer
//!   than a healthy one could ([`STALLED`], beyond etcd's default progress interval) is it
//!   reopened, and the watch ends with the compaction error. A member that stops serving or a connection that
//!   breaks is left at once, and reopening from `next` then fails only if etcd compacted
//!   events the watch may really have missed.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;

use super::transport::{Failure, Transport};
use super::wire::{self, b64};
use super::{Codec, EtcdBackend, prefix_end};
use crate::backend::{EventStream, RangeRead, WatchItem};
use crate::error::{Error, Result};
use crate::model::{Event, EventKind};
use crate::validate::RESERVED_PREFIX;

/// How long a watch connection may stay silent before the member is asked whether it still
/// serves linearizable reads.
const QUIET: Duration = Duration::from_secs(2);

/// A connection that the member keeps serving, silent this long while its resume revision is
/// compacted (so it cannot be reopened), is given up on: with progress notifications on, etcd
/// sends something on a healthy watch at least every progress interval (10 minutes by default,
/// plus up to a tenth of jitter).
const STALLED: Duration = Duration::from_secs(15 * 60);

/// How long that question may take.
const PROBE: Duration = Duration::from_secs(1);

type Body = BoxStream<'static, reqwest::Result<Vec<u8>>>;

struct WatchState {
    transport: Arc<Transport>,
    codec: Codec,
    range: RangeRead,
    /// The etcd key range watched (base64).
    key: String,
    range_end: String,
    /// The next revision the reader is owed (0: from the next commit, before the first
    /// connection).
    next: i64,
    /// The open stream and the member serving it.
    body: Option<(usize, Body)>,
    buffer: Vec<u8>,
    pending: VecDeque<WatchItem>,
    done: bool,
    /// Connections that broke in a row, and since when.
    broken: u32,
    broken_since: Option<tokio::time::Instant>,
    /// When the current connection was opened or last delivered a message.
    heard: tokio::time::Instant,
    /// How long a silent connection to a serving member is kept before it is reopened.
    refresh: Duration,
}

/// What a quiet-period probe found out about the member serving the watch.
enum Probe {
    /// It does not answer a linearizable read.
    Down,
    /// It answers; `compacted`: it has compacted the revision the watch would resume from.
    Serves { compacted: bool },
}

/// Why reading the next message stopped.
enum Stop {
    /// Nothing arrived for a while.
    Quiet,
    /// The connection ended or failed.
    Broken,
}

pub(crate) async fn open(
    backend: &EtcdBackend,
    range: RangeRead,
    from: Option<u64>,
) -> Result<EventStream> {
    let start = format!("{}{}", backend.codec.prefix, range.prefix).into_bytes();
    let end = prefix_end(&start);
    let mut state = WatchState {
        transport: backend.transport.clone(),
        codec: backend.codec.clone(),
        range,
        key: b64(&start),
        range_end: b64(&end),
        next: from.map_or(0, |f| f as i64),
        body: None,
        buffer: Vec::new(),
        pending: VecDeque::new(),
        done: false,
        broken: 0,
        broken_since: None,
        heard: tokio::time::Instant::now(),
        refresh: backend.watch_refresh,
    };
    // Connect before returning, so that "from the next commit" means from now.
    state.connect().await?;
    Ok(Box::pin(futures::stream::unfold(
        state,
        |mut st| async move { st.next_event().await.map(|r| (r, st)) },
    )))
}

impl WatchState {
    async fn next_event(&mut self) -> Option<Result<WatchItem>> {
        loop {
            if let Some(item) = self.pending.pop_front() {
                return Some(Ok(item));
            }
            if self.done {
                return None;
            }
            if self.body.is_none() {
                if let Err(e) = self.connect().await {
                    self.done = true;
                    return Some(Err(e));
                }
            }
            match self.read_message(QUIET).await {
                Ok(message) => {
                    self.broken = 0;
                    self.heard = tokio::time::Instant::now();
                    if let Err(e) = self.absorb(message) {
                        self.done = true;
                        return Some(Err(e));
                    }
                }
                Err(Stop::Quiet) => {
                    let at = self.body.as_ref().map_or(0, |(at, _)| *at);
                    let silent = self.heard.elapsed();
                    match self.probe(at).await {
                        Probe::Down => self.drop_member(),
                        // A silent connection to a healthy member is reopened now and then
                        // anyway: a proxy or a half-open TCP connection could hold it without
                        // delivering. Not while `next` is compacted: reopening would fail for
                        // no reason, and a progress notification will move `next` on.
                        // Silent for longer than a healthy connection could be: reopen, which
                        // reports the compaction.
                        Probe::Serves { compacted } => {
                            if silent >= if compacted { STALLED } else { self.refresh } {
                                self.drop_member();
                            }
                        }
                    }
                }
                Err(Stop::Broken) => {
                    self.drop_member();
                    // Back off while connections keep breaking before any message arrives, and
                    // give up after the failover timeout.
                    self.broken += 1;
                    let since = *self
                        .broken_since
                        .get_or_insert_with(tokio::time::Instant::now);
                    if self.broken > 1 && since.elapsed() > self.transport.failover_timeout {
                        self.done = true;
                        return Some(Err(Error::unavailable(format!(
                            "the etcd watch kept breaking for {}",
                            crate::validate::seconds(self.transport.failover_timeout)
                        ))));
                    }
                    let pause = Duration::from_millis(10) * 2u32.pow(self.broken.min(7));
                    tokio::time::sleep(pause.min(Duration::from_secs(1))).await;
                }
            }
            if self.broken == 0 {
                self.broken_since = None;
            }
        }
    }

    fn drop_member(&mut self) {
        if let Some((at, _)) = self.body.take() {
            self.transport.advance(at);
        }
        self.buffer.clear();
    }

    /// Opens the watch from `next` on a member that takes it, within the failover timeout.
    async fn connect(&mut self) -> Result<()> {
        let deadline = tokio::time::Instant::now() + self.transport.failover_timeout;
        let mut pause = Duration::from_millis(20);
        let mut tried = 0usize;
        loop {
            let at = self.transport.current();
            let error = match self.connect_to(at).await {
                Ok(()) => {
                    self.heard = tokio::time::Instant::now();
                    return Ok(());
                }
                Err(Failure::Final(e)) => return Err(e),
                Err(Failure::StaleToken(e)) => {
                    // Authenticate again on the next attempt.
                    self.transport.forget_token().await;
                    e
                }
                Err(Failure::NotApplied(e) | Failure::Unknown(e)) => e,
            };
            self.transport.advance(at);
            tried += 1;
            if tokio::time::Instant::now() + pause >= deadline {
                return Err(error.prefix(format!(
                    "no etcd member would serve the watch within {}",
                    crate::validate::seconds(self.transport.failover_timeout)
                )));
            }
            if tried % self.transport.endpoint_count() == 0 {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(500));
            }
        }
    }

    async fn connect_to(&mut self, at: usize) -> std::result::Result<(), Failure> {
        self.body = None;
        self.buffer.clear();
        let request = wire::WatchRequest {
            create_request: wire::WatchCreate {
                key: self.key.clone(),
                range_end: self.range_end.clone(),
                start_revision: self.next,
                progress_notify: true,
            },
        };
        let body = serde_json::to_vec(&request)
            .map_err(|e| Failure::Final(Error::internal(format!("cannot encode a watch: {e}"))))?;
        let endpoint = self.transport.endpoint(at).to_string();
        let request = self
            .transport
            .post(at, "/v3/watch", body)
            .await
            .map_err(super::transport::auth_failure)?;
        let response = tokio::time::timeout(self.transport.request_timeout, request.send())
            .await
            .map_err(|_| {
                Failure::Unknown(Error::unavailable(format!(
                    "etcd at {endpoint} did not answer a watch request"
                )))
            })?
            .map_err(|e| {
                let text = if e.is_connect() {
                    super::transport::unreachable(&endpoint, &e)
                } else {
                    format!(
                        "cannot watch on etcd at {endpoint}: {}",
                        super::transport::error_chain(&e)
                    )
                };
                Failure::Unknown(Error::unavailable(text).with_source(e))
            })?;
        let status = response.status();
        if !status.is_success() {
            let bytes = response.bytes().await.unwrap_or_default();
            let error: wire::ErrorBody =
                serde_json::from_slice(&bytes).unwrap_or_else(|_| wire::ErrorBody {
                    message: format!("HTTP {status}"),
                    ..Default::default()
                });
            return Err(super::transport::classify(&endpoint, &error));
        }
        let body: Body = response
            .bytes_stream()
            .map(|r| r.map(|b| b.to_vec()))
            .boxed();
        self.body = Some((at, body));
        // The first message confirms the watch; its header revision is "now".
        match self.read_message(self.transport.request_timeout).await {
            Ok(message) => {
                // A watch etcd refuses is answered "created" and "canceled" at once, with the
                // reason (an expired token, missing credentials): classify it like any refusal,
                // so that a stale token is renewed and refused credentials are reported.
                if let Some(r) = message.result.as_ref().filter(|r| {
                    r.canceled && r.compact_revision == 0 && !r.cancel_reason.is_empty()
                }) {
                    let error = wire::ErrorBody {
                        message: r.cancel_reason.clone(),
                        ..Default::default()
                    };
                    self.body = None;
                    return Err(super::transport::classify(&endpoint, &error));
                }
                self.absorb(message).map_err(Failure::Final)
            }
            Err(_) => {
                self.body = None;
                Err(Failure::Unknown(Error::unavailable(format!(
                    "etcd at {endpoint} did not confirm a watch"
                ))))
            }
        }
    }

    /// Reads one newline-delimited message, waiting at most `quiet` for more bytes.
    async fn read_message(
        &mut self,
        quiet: Duration,
    ) -> std::result::Result<wire::StreamMessage<wire::WatchResponse>, Stop> {
        loop {
            if let Some(end) = self.buffer.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buffer.drain(..=end).collect();
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                return serde_json::from_slice(&line).map_err(|_| Stop::Broken);
            }
            let Some((_, body)) = self.body.as_mut() else {
                return Err(Stop::Broken);
            };
            match tokio::time::timeout(quiet, body.next()).await {
                Err(_) => return Err(Stop::Quiet),
                Ok(Some(Ok(bytes))) => self.buffer.extend_from_slice(&bytes),
                Ok(Some(Err(_)) | None) => {
                    // A final message may lack its newline.
                    if !self.buffer.is_empty() {
                        let line = std::mem::take(&mut self.buffer);
                        if let Ok(m) = serde_json::from_slice(&line) {
                            self.body = None;
                            return Ok(m);
                        }
                    }
                    return Err(Stop::Broken);
                }
            }
        }
    }

    /// Takes in one message: events join `pending`; a compaction is an error.
    fn absorb(&mut self, message: wire::StreamMessage<wire::WatchResponse>) -> Result<()> {
        if let Some(error) = message.error {
            let endpoint = self
                .body
                .as_ref()
                .map(|(at, _)| self.transport.endpoint(*at).to_string())
                .unwrap_or_default();
            return match super::transport::classify(&endpoint, &error) {
                Failure::Final(e) => Err(e),
                _ => {
                    self.drop_member();
                    Ok(())
                }
            };
        }
        let Some(r) = message.result else {
            return Ok(());
        };
        if r.compact_revision > 0 {
            let from = self.next;
            return Err(Error::compacted(from as u64, r.compact_revision as u64));
        }
        if r.canceled {
            // Cancelled for another reason (e.g. the member is shutting down): resume elsewhere.
            self.drop_member();
            return Ok(());
        }
        if r.created {
            if self.next == 0 {
                self.next = r.header.revision + 1;
            }
            return Ok(());
        }
        if r.events.is_empty() {
            // A progress notification: etcd sends it only to a watcher that has been sent every
            // event up to the header revision (see the module's documentation).
            let revision = r.header.revision;
            if revision > 0 && revision + 1 > self.next {
                self.next = revision + 1;
                self.pending.push_back(WatchItem::Progress(revision as u64));
            }
            return Ok(());
        }
        for event in r.events {
            let key = self.codec.user_key(&event.kv.key)?;
            let index = event.kv.mod_revision;
            self.next = self.next.max(index.saturating_add(1));
            if self.range.prefix.is_empty()
                && !self.range.include_reserved
                && key.starts_with(RESERVED_PREFIX)
            {
                continue;
            }
            let (kind, value) = if event.kind == "DELETE" {
                (EventKind::Delete, None)
            } else {
                let value = self.codec.value(&key, &event.kv.value)?;
                (EventKind::Put, Some(value))
            };
            self.pending.push_back(WatchItem::Event(Event {
                kind,
                key,
                value,
                index: index as u64,
            }));
        }
        Ok(())
    }

    /// Whether member `at` still answers a linearizable read (it has a leader and a quorum), and
    /// whether it has compacted the revision the watch would resume from: the read is at
    /// revision `next - 1`, which etcd refuses as compacted exactly when a watch from `next`
    /// would be (or, when the compaction is at `next` itself, one revision early).
    fn probe(&self, at: usize) -> impl Future<Output = Probe> + Send + 'static {
        let transport = self.transport.clone();
        let probe = wire::RangeRequest {
            key: self.key.clone(),
            count_only: true,
            revision: (self.next - 1).max(0),
            ..Default::default()
        };
        async move {
            let Ok(body) = serde_json::to_vec(&probe) else {
                return Probe::Down;
            };
            // An expired token says nothing about the member: renew it and ask once more.
            for _ in 0..2 {
                match transport.attempt(at, "/v3/kv/range", &body, PROBE).await {
                    Ok(_) => return Probe::Serves { compacted: false },
                    Err(Failure::StaleToken(_)) => transport.forget_token().await,
                    // etcd answers these only after the linearizable wait, so the member serves.
                    Err(Failure::Final(e)) if e.message().contains("has been compacted") => {
                        return Probe::Serves { compacted: true };
                    }
                    Err(Failure::Final(e)) if e.message().contains("future revision") => {
                        return Probe::Serves { compacted: false };
                    }
                    Err(_) => return Probe::Down,
                }
            }
            Probe::Down
        }
    }
}
