//! The backend protocol under `/v1/` (`/v1/backend/*`, `/v1/leases*`, `/v1/info`): one route
//! per method of interlock's `Backend` trait, JSON shapes in `interlock::http::wire`. It is what
//! the `http://` backend speaks, so clients over HTTP run the lock, lease and session algorithms
//! themselves, exactly as on the store.
//!
//! Every request body is checked before the store sees it: key shapes, value sizes, operation
//! counts, duplicate keys, lease ids. Bad input gets a 400 that names the problem and writes
//! nothing. Built on the state, reply and extract layers; routed by the table in `api.rs`.

use std::collections::HashSet;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures::{Stream, StreamExt};
use interlock::backend::{EventStream, Read, WatchItem};
use interlock::http::wire::{
    self, CommitReply, CommitRequest, ErrorDetail, GrantReply, GrantRequest, Info, KeepaliveReply,
    ReadReply, ReadRequest, RevokeReply, TtlReply, TtlRequest, WatchProgress,
};
use interlock::{Error, validate};
use serde::Serialize;
use utoipa::ToSchema;

use crate::extract::{Body, FromQuery, Params, Path, Query};
use crate::reply::{ApiError, Reply, body, ok};
use crate::state::AppState;

/// The most reads, compares and ops one request may carry (etcd's `--max-txn-ops` in the test
/// clusters; interlock's own transactions add a few to a user's 128).
const MAX_REQUEST_ITEMS: usize = 1024;
/// The most entries the range reads of one request return in all. A range without a `limit`, or
/// with a larger one, stops at this many and reports `more`; a request whose ranges' limits add
/// up to more is refused (page with `limit` and `after`). Interlock's own clients send one range
/// per request (a page, or a lock's queue), so they stay within it.
pub const MAX_READ_ENTRIES: usize = 10_000;
/// A watch reports the store's progress past its last event at most this often.
const WATCH_PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// What the server serves: the store, its value size limit, the server's version.
#[utoipa::path(
    get,
    path = "/v1/info",
    operation_id = "info",
    tag = "backend",
    responses(
        (status = 200, description = "The server", body = Info),
    ),
)]
pub async fn info(State(state): State<AppState>) -> Reply {
    ok(Info {
        store: state.client.describe(),
        max_value_bytes: state.backend().limits().max_value_bytes,
        version: env!("CARGO_PKG_VERSION").to_string(),
    })
}

fn check_reads(reads: &[Read]) -> Result<(), Error> {
    for read in reads {
        match read {
            Read::Keys(keys) => {
                for key in keys {
                    validate::key_shape(key)?;
                }
            }
            Read::Range(range) => {
                validate::prefix(&range.prefix)?;
                if let Some(after) = &range.after {
                    validate::key_shape(after)
                        .map_err(|e| Error::invalid(format!("invalid 'after': {}", e.message())))?;
                }
            }
        }
    }
    Ok(())
}

/// Refuses more than [`MAX_REQUEST_ITEMS`] items; `what` names them ("reads, compares and ops").
fn count(items: usize, what: &str) -> Result<(), Error> {
    if items > MAX_REQUEST_ITEMS {
        return Err(Error::invalid(format!(
            "the request has {items} {what}; at most {MAX_REQUEST_ITEMS} are allowed"
        )));
    }
    Ok(())
}

/// Bounds the entries the range reads return: each range's limit is at most
/// [`MAX_READ_ENTRIES`] (its `more` says when it stopped there), and their sum too.
fn bound_ranges(reads: &mut [Read]) -> Result<(), Error> {
    let mut total = 0usize;
    for read in reads.iter_mut() {
        if let Read::Range(range) = read {
            let limit = range
                .limit
                .unwrap_or(MAX_READ_ENTRIES)
                .min(MAX_READ_ENTRIES);
            range.limit = Some(limit);
            total = total.saturating_add(limit);
        }
    }
    if total > MAX_READ_ENTRIES {
        return Err(Error::invalid(format!(
            "the request's range reads could return {total} entries; at most {MAX_READ_ENTRIES} \
             in all (a range without 'limit' counts as {MAX_READ_ENTRIES}): give each range a \
             'limit' and page with 'after'"
        )));
    }
    Ok(())
}

/// Reads count one each, plus every key they name.
fn read_items(reads: &[Read]) -> usize {
    reads
        .iter()
        .map(|r| match r {
            Read::Keys(keys) => 1 + keys.len(),
            Read::Range(_) => 1,
        })
        .sum()
}

/// Reads at one store index: `{"keys": [...]}` gives those of the keys that exist, `{"range":
/// {...}}` the keys under a prefix.
#[utoipa::path(
    post,
    path = "/v1/backend/read",
    operation_id = "backend_read",
    tag = "backend",
    request_body(content = ReadRequest, content_type = "application/json",
        example = json!({"reads": [{"keys": ["config/a", "config/b"]},
            {"range": {"prefix": "jobs/", "limit": 100}}]})),
    responses(
        (status = 200, description = "One result per read, all from one snapshot", body = ReadReply),
        (status = 503, response = crate::reply::Unavailable),
    ),
)]
pub async fn read(State(state): State<AppState>, Body(bytes): Body) -> Reply {
    let request: ReadRequest = body(&bytes)?;
    let mut reads: Vec<Read> = request.reads.into_iter().map(Read::from).collect();
    count(read_items(&reads), "reads and keys")?;
    check_reads(&reads)?;
    bound_ranges(&mut reads)?;
    let response = state.backend().read(reads).await?;
    ok(ReadReply::from(response))
}

/// One atomic transaction: compares, then ops, then reads. A compare that fails is a 200 with
/// `succeeded: false`, every failed compare and nothing written.
#[utoipa::path(
    post,
    path = "/v1/backend/commit",
    operation_id = "backend_commit",
    tag = "backend",
    request_body(content = CommitRequest, content_type = "application/json",
        example = json!({"compares": [{"key": "counter", "index": 0}],
            "ops": [{"put": {"key": "counter", "value": 1}}],
            "reads": [{"keys": ["counter"]}]})),
    responses(
        (status = 200, description = "The outcome (`succeeded`, or every failed compare)",
            body = CommitReply),
        (status = 404, response = crate::reply::LeaseExpired),
        (status = 503, response = crate::reply::Unavailable),
    ),
)]
pub async fn commit(State(state): State<AppState>, Body(bytes): Body) -> Reply {
    let request: CommitRequest = body(&bytes)?;
    let mut txn = request.into_txn()?;
    count(
        txn.compares.len() + txn.ops.len() + read_items(&txn.reads),
        "reads, keys, compares and ops",
    )?;
    let max = state.backend().limits().max_value_bytes;
    for c in &txn.compares {
        validate::key_shape(&c.key)?;
    }
    let mut keys = HashSet::new();
    for op in &txn.ops {
        validate::key_shape(op.key())?;
        if !keys.insert(op.key()) {
            return Err(Error::invalid(format!(
                "key '{}' has more than one op in the transaction",
                op.key()
            ))
            .into());
        }
        if let interlock::backend::Op::Put { key, value, .. } = op {
            validate::value(key, value, max)?;
        }
    }
    check_reads(&txn.reads)?;
    bound_ranges(&mut txn.reads)?;
    let response = state.backend().commit(txn).await?;
    ok(CommitReply::from(response))
}

/// Grants a lease; entries attached to it are deleted when it expires or is revoked.
#[utoipa::path(
    post,
    path = "/v1/leases",
    operation_id = "lease_grant",
    tag = "backend",
    request_body(content = GrantRequest, content_type = "application/json",
        example = json!({"ttl": 10})),
    responses(
        (status = 200, description = "The lease", body = GrantReply),
        (status = 503, response = crate::reply::Unavailable),
    ),
)]
pub async fn grant(State(state): State<AppState>, Body(bytes): Body) -> Reply {
    let request: GrantRequest = body(&bytes)?;
    let ttl = wire::seconds("ttl", request.ttl)?;
    validate::ttl(ttl)?;
    let grant = state.backend().grant(ttl).await?;
    state.metrics.leases_granted.inc();
    ok(GrantReply::from(grant))
}

/// Renews a lease for its TTL.
#[utoipa::path(
    post,
    path = "/v1/leases/{id}/keepalive",
    operation_id = "lease_keepalive",
    tag = "backend",
    params(("id" = String, Path, description = "The lease id (a 64-bit integer)")),
    responses(
        (status = 200, description = "The TTL renewed", body = KeepaliveReply),
        (status = 404, response = crate::reply::LeaseExpired),
        (status = 503, response = crate::reply::Unavailable),
    ),
)]
pub async fn keepalive(State(state): State<AppState>, Path(id): Path<String>) -> Reply {
    let id = wire::lease_id(&id)?;
    let ttl = state.backend().keepalive(id).await?;
    ok(KeepaliveReply {
        ttl: ttl.as_secs_f64(),
    })
}

/// Revokes a lease, deleting the entries attached to it.
#[utoipa::path(
    delete,
    path = "/v1/leases/{id}",
    operation_id = "lease_revoke",
    tag = "backend",
    params(("id" = String, Path, description = "The lease id (a 64-bit integer)")),
    responses(
        (status = 200, description = "Whether a live lease was revoked", body = RevokeReply),
        (status = 503, response = crate::reply::Unavailable),
    ),
)]
pub async fn revoke(State(state): State<AppState>, Path(id): Path<String>) -> Reply {
    let id = wire::lease_id(&id)?;
    let revoked = state.backend().revoke(id).await?;
    if revoked {
        state.metrics.leases_revoked.inc();
    }
    ok(RevokeReply { revoked })
}

/// The seconds left on each of some leases.
#[utoipa::path(
    post,
    path = "/v1/leases/ttl",
    operation_id = "lease_time_to_live",
    tag = "backend",
    request_body(content = TtlRequest, content_type = "application/json",
        example = json!({"ids": ["7587862412337131010"]})),
    responses(
        (status = 200, description = "Per lease, in order: seconds left, or `null` when it is gone",
            body = TtlReply),
        (status = 503, response = crate::reply::Unavailable),
    ),
)]
pub async fn time_to_live(State(state): State<AppState>, Body(bytes): Body) -> Reply {
    let request: TtlRequest = body(&bytes)?;
    count(request.ids.len(), "lease ids")?;
    let ids = request
        .ids
        .iter()
        .map(|id| wire::lease_id(id))
        .collect::<Result<Vec<_>, _>>()?;
    let ttls = state.backend().time_to_live(&ids).await?;
    ok(TtlReply {
        ttls: ttls
            .into_iter()
            .map(|t| t.map(|d| d.as_secs_f64()))
            .collect(),
    })
}

/// The query of `GET /v1/backend/watch`.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WatchQuery {
    /// Watch keys starting with this (default: every key).
    #[param(required = false)]
    prefix: String,
    /// Also the reserved keys (`@...`: lock queues, sessions).
    #[param(required = false)]
    include_reserved: bool,
    /// The first index to report (default: the next write). Resuming a broken watch: the index
    /// after the last event or `progress` received, or the `ready` event's `from` if none came.
    from: Option<u64>,
}

impl FromQuery for WatchQuery {
    fn from_query(params: &mut Params) -> Result<Self, Error> {
        Ok(WatchQuery {
            prefix: params.text("prefix")?.unwrap_or_default(),
            include_reserved: params.boolean("include_reserved")?.unwrap_or(false),
            from: params.integer("from")?,
        })
    }
}

/// The data of a watch's `ready` event.
#[derive(Serialize, ToSchema)]
pub struct WatchReady {
    /// The first index the watch reports: pass it as `from` to resume exactly here.
    pub from: u64,
}

/// The data of a watch's message events (the SSE `id` is its index).
#[derive(ToSchema)]
#[allow(dead_code)] // only its schema is used: the events are the core's `Event`s
pub struct WatchEvent {
    #[schema(rename = "type")]
    kind: WatchEventType,
    key: String,
    /// The new value; absent for a delete.
    #[schema(nullable = false)]
    value: Option<serde_json::Value>,
    /// The index of the write.
    index: u64,
}

#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)] // only its schema is used
enum WatchEventType {
    Put,
    Delete,
}

/// Server-Sent Events: `ready` (`{"from": N}`, the first index the watch reports) once the
/// watch is in place, then one `message` per event (its JSON) and now and then a `progress`
/// (`{"index": N}`: every event up to N has been sent), or one `error` and the end. The stream
/// ends when the server shuts down.
#[utoipa::path(
    get,
    path = "/v1/backend/watch",
    operation_id = "backend_watch",
    tag = "backend",
    params(WatchQuery),
    responses(
        (status = 200, content_type = "text/event-stream", body = String,
            description = "A stream of Server-Sent Events, in index order:\n\n\
            - `event: ready`, first, once the watch is in place; its data is a `WatchReady` \
            (`{\"from\": N}`): the first index the stream reports.\n\
            - a message (no `event:` line) per change, its `id` the change's index and its data \
            a `WatchEvent` (`{\"type\": \"put\"|\"delete\", \"key\", \"value\"?, \"index\"}`); \
            deletions by lease expiry are events too.\n\
            - `event: progress`, at most every 5 s while the store has moved on without an event \
            for this watch; its data is a `WatchProgress` (`{\"index\": N}`): every event up to \
            index N has been sent. Clients may ignore it; one that resumes from N + 1 rather \
            than from its last event + 1 asks for less history, which the store may have \
            compacted meanwhile.\n\
            - `event: error`, whose data is an error's `{\"kind\", \"message\"}` (e.g. the \
            history before `from` was compacted); the stream then ends.\n\n\
            Comments are sent every 15 s to keep the connection alive. The stream ends when the \
            server shuts down; resume from the index after the last event or progress received.",
            example = json!("event: ready\ndata: {\"from\":8}\n\nid: 8\ndata: {\"type\":\"put\",\"key\":\"jobs/1\",\"value\":{\"state\":\"queued\"},\"index\":8}\n\nevent: progress\ndata: {\"index\":12}\n\n")),
        (status = 503, response = crate::reply::Unavailable),
    ),
)]
pub async fn watch(
    State(state): State<AppState>,
    Query(q): Query<WatchQuery>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    validate::prefix(&q.prefix)?;
    let mut range = interlock::backend::RangeRead::prefix(q.prefix);
    range.include_reserved = q.include_reserved;
    // The watch starts at a known index, which `ready` reports, so that a client whose
    // connection breaks can resume exactly where it was.
    let from = match q.from {
        Some(from) => from.max(1),
        None => state.backend().read(Vec::new()).await?.index + 1,
    };
    let events = state.backend().watch(range, Some(from)).await?;
    let mut stop = state.stop.clone();
    let stopped = async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    let ready = futures::stream::once(async move {
        Ok(SseEvent::default()
            .event("ready")
            .json_data(WatchReady { from })
            .unwrap_or_else(|e| error_event(&Error::internal(e.to_string()))))
    });
    let events = watch_events(events, WATCH_PROGRESS_EVERY)
        .map(Ok)
        .take_until(Box::pin(stopped));
    Ok(
        Sse::new(ready.chain(events))
            .keep_alive(KeepAlive::new().interval(Duration::from_secs(15))),
    )
}

/// The SSE events of a watch: one per event, an error and the end, and the newest progress the
/// store reported past the last event, at most once per `every`.
fn watch_events(events: EventStream, every: Duration) -> impl Stream<Item = SseEvent> {
    struct Feed {
        events: EventStream,
        tick: tokio::time::Interval,
        /// Progress not sent yet: no event has been sent since the store reported it.
        progress: Option<u64>,
        failed: bool,
    }
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let feed = Feed {
        events,
        tick,
        progress: None,
        failed: false,
    };
    futures::stream::unfold(feed, |mut feed| async move {
        if feed.failed {
            return None;
        }
        loop {
            tokio::select! {
                item = feed.events.next() => match item? {
                    Ok(WatchItem::Event(event)) => {
                        feed.progress = None;
                        let sse = SseEvent::default()
                            .id(event.index.to_string())
                            .json_data(&event)
                            .unwrap_or_else(|e| error_event(&Error::internal(e.to_string())));
                        return Some((sse, feed));
                    }
                    Ok(WatchItem::Progress(index)) => feed.progress = Some(index),
                    Err(e) => {
                        feed.failed = true;
                        return Some((error_event(&e), feed));
                    }
                },
                _ = feed.tick.tick() => {
                    if let Some(index) = feed.progress.take() {
                        let sse = SseEvent::default()
                            .event("progress")
                            .json_data(WatchProgress { index })
                            .unwrap_or_else(|e| error_event(&Error::internal(e.to_string())));
                        return Some((sse, feed));
                    }
                }
            }
        }
    })
}

fn error_event(e: &Error) -> SseEvent {
    SseEvent::default()
        .event("error")
        .json_data(ErrorDetail::from(e))
        .unwrap_or_else(|_| SseEvent::default().event("error").data(e.message()))
}
