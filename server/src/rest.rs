//! The REST routes for people, scripts and other languages: every operation of the client API
//! as one request, through the server's own client (so reserved keys, value sizes and
//! transaction limits are checked as everywhere). Locks are taken by clients, which need the
//! backend protocol; here a lock's queue can be read, and a stuck holder force-released.
//! Built on the state, reply and extract layers; routed by the table in `api.rs`.

use axum::extract::State;
use interlock::backend::{Compare, Op, TxnRequest};
use interlock::http::wire::{self, ErrorReply, WireEntry};
use interlock::{Error, PutOptions};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use crate::extract::{Body, FromQuery, Params, Path, Query};
use crate::reply::{ApiError, Reply, body, ok};
use crate::state::AppState;

/// The entry at a key (`get`).
#[utoipa::path(
    get,
    path = "/v1/kv/{key}",
    operation_id = "kv_get",
    tag = "rest",
    params(("key" = String, Path,
        description = "The key; it may contain `/` (everything after `/v1/kv/` is the key)")),
    responses(
        (status = 200, description = "The entry", body = WireEntry),
        (status = 404, description = "No entry at the key (`NotFound`)", body = ErrorReply,
            example = json!({"error": {"kind": "NotFound", "message": "no entry at key 'users/1'"}})),
        (status = 503, response = crate::reply::Unavailable),
    ),
)]
pub async fn get_entry(State(state): State<AppState>, Path(key): Path<String>) -> Reply {
    match state.client.get(&key).await? {
        Some(entry) => ok(WireEntry::from(entry)),
        None => Ok(not_found_entry(&key)),
    }
}

/// The 404 of a key without an entry: kind `NotFound`.
fn not_found_entry(key: &str) -> axum::response::Response {
    let shown: String = key.chars().take(60).collect();
    let cut = if shown.len() < key.len() { "…" } else { "" };
    crate::reply::not_found(&format!("no entry at key '{shown}{cut}'"))
}

/// `PUT /v1/kv/{key}`: `{"value": …, "index"?: N, "lease"?: "id"}`; without `index` the write
/// is unconditional.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutBody {
    /// Any JSON value.
    value: Value,
    /// Write only if the key is at this index (`0`: only if absent).
    index: Option<u64>,
    /// A lease id (as a string): the entry is deleted when the lease ends.
    lease: Option<String>,
}

/// The result of a put or delete (`successful: false` is a 200 too: a failed compare is a
/// result, with the current index and value).
#[derive(Serialize, ToSchema)]
pub struct PutReply {
    /// Whether the write was made (`false`: `index` did not hold).
    successful: bool,
    /// Made: the write's index. Not made: the key's current index (`0`: absent).
    index: u64,
    /// Made: the value written (`null` after a delete). Not made: the current value.
    value: Option<Value>,
}

impl From<interlock::PutResult> for PutReply {
    fn from(r: interlock::PutResult) -> Self {
        PutReply {
            successful: r.successful,
            index: r.index,
            value: r.value,
        }
    }
}

/// Writes a value (`put` with `index`, else `set`). A failed compare is a 200 with
/// `successful: false` and the current entry.
#[utoipa::path(
    put,
    path = "/v1/kv/{key}",
    operation_id = "kv_put",
    tag = "rest",
    params(("key" = String, Path,
        description = "The key; it may contain `/` (everything after `/v1/kv/` is the key)")),
    request_body(content = PutBody, content_type = "application/json",
        example = json!({"value": {"name": "Ada"}, "index": 0})),
    responses(
        (status = 200, description = "Whether the write was made, and the entry", body = PutReply),
        (status = 404, response = crate::reply::LeaseExpired),
        (status = 503, response = crate::reply::Unavailable),
    ),
)]
pub async fn put(
    State(state): State<AppState>,
    Path(key): Path<String>,
    Body(bytes): Body,
) -> Reply {
    let b: PutBody = body(&bytes)?;
    let options = PutOptions {
        index: b.index,
        lease: b.lease.as_deref().map(wire::lease_id).transpose()?,
    };
    ok(PutReply::from(
        state.client.put_with(&key, b.value, options).await?,
    ))
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IndexQuery {
    /// Delete only if the key is at this index.
    index: Option<u64>,
}

impl FromQuery for IndexQuery {
    fn from_query(params: &mut Params) -> Result<Self, Error> {
        Ok(IndexQuery {
            index: params.integer("index")?,
        })
    }
}

/// Deletes a key (`delete`), conditionally with `index`. A failed compare is a 200 with
/// `successful: false` and the current entry.
#[utoipa::path(
    delete,
    path = "/v1/kv/{key}",
    operation_id = "kv_delete",
    tag = "rest",
    params(("key" = String, Path,
        description = "The key; it may contain `/` (everything after `/v1/kv/` is the key)"), IndexQuery),
    responses(
        (status = 200, description = "Whether the delete was made, and the entry", body = PutReply),
        (status = 503, response = crate::reply::Unavailable),
    ),
)]
pub async fn delete(
    State(state): State<AppState>,
    Path(key): Path<String>,
    Query(q): Query<IndexQuery>,
) -> Reply {
    ok(PutReply::from(state.client.delete(&key, q.index).await?))
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Keys starting with this (default: every key).
    #[param(required = false)]
    prefix: String,
    /// Only keys after this one: the last key of the previous page.
    after: Option<String>,
    /// The most entries to return: 1 to 1000 (the default); 0 or more than 1000 is refused.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u64>,
}

impl FromQuery for ListQuery {
    fn from_query(params: &mut Params) -> Result<Self, Error> {
        let query = ListQuery {
            prefix: params.text("prefix")?.unwrap_or_default(),
            after: params.text("after")?,
            limit: params.integer("limit")?,
        };
        if let Some(limit) = query.limit.filter(|l| *l == 0 || *l > MAX_PAGE as u64) {
            return Err(Error::invalid(format!(
                "the query parameter 'limit' must be 1 to {MAX_PAGE}, got {limit}; a page is at \
                 most {MAX_PAGE} entries"
            )));
        }
        Ok(query)
    }
}

#[derive(Serialize, ToSchema)]
pub struct PageReply {
    /// In key order.
    entries: Vec<WireEntry>,
    /// True when another page follows: pass the last key as `after`.
    more: bool,
    /// The store index the page was read at.
    index: u64,
}

/// The largest page `GET /v1/kv` returns (and the default).
const MAX_PAGE: usize = 1000;

/// `GET /v1/kv?prefix=&after=&limit=`: one page in key order, at most 1000 entries.
#[utoipa::path(
    get,
    path = "/v1/kv",
    operation_id = "kv_list",
    tag = "rest",
    params(ListQuery),
    responses(
        (status = 200, description = "One page", body = PageReply),
        (status = 503, response = crate::reply::Unavailable),
    ),
)]
pub async fn list(State(state): State<AppState>, Query(q): Query<ListQuery>) -> Reply {
    let limit = q.limit.map_or(MAX_PAGE, |l| l as usize);
    let page = state
        .client
        .list(&q.prefix, q.after.as_deref(), Some(limit))
        .await?;
    ok(PageReply {
        entries: page.entries.into_iter().map(WireEntry::from).collect(),
        more: page.more,
        index: page.index,
    })
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeysBody {
    /// At most 1000.
    keys: Vec<String>,
}

/// The entries that exist, in the order of the keys asked for.
#[derive(Serialize, ToSchema)]
pub struct EntriesReply {
    entries: Vec<WireEntry>,
}

/// `POST /v1/get-many`: the entries that exist among `keys`, from one snapshot.
#[utoipa::path(
    post,
    path = "/v1/get-many",
    operation_id = "kv_get_many",
    tag = "rest",
    request_body(content = KeysBody, content_type = "application/json",
        example = json!({"keys": ["users/1", "users/2"]})),
    responses(
        (status = 200, description = "The entries that exist", body = EntriesReply),
        (status = 503, response = crate::reply::Unavailable),
    ),
)]
pub async fn get_many(State(state): State<AppState>, Body(bytes): Body) -> Reply {
    let b: KeysBody = body(&bytes)?;
    if b.keys.len() > MAX_PAGE {
        return Err(Error::invalid(format!(
            "get-many asks for {} keys; at most {MAX_PAGE} per request",
            b.keys.len()
        ))
        .into());
    }
    let entries = state.client.get_many(&b.keys).await?;
    ok(EntriesReply {
        entries: entries.into_iter().map(WireEntry::from).collect(),
    })
}

/// A store index: the store-wide one, or a transaction's.
#[derive(Serialize, ToSchema)]
pub struct IndexReply {
    index: u64,
}

/// `GET /v1/index`: the store-wide index.
#[utoipa::path(
    get,
    path = "/v1/index",
    operation_id = "store_index",
    tag = "rest",
    responses(
        (status = 200, description = "The index of the store's latest write", body = IndexReply),
        (status = 503, response = crate::reply::Unavailable),
    ),
)]
pub async fn index(State(state): State<AppState>) -> Reply {
    ok(IndexReply {
        index: state.client.index().await?,
    })
}

/// The key must be at `index` (`0`: absent).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TxnCheck {
    key: String,
    index: u64,
}

/// `{"put": {...}}` or `{"delete": {...}}`; an `index` is one more check, on the op's key.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum TxnOp {
    Put {
        key: String,
        /// Any JSON value.
        value: Value,
        index: Option<u64>,
        /// A lease id, as a string.
        lease: Option<String>,
    },
    Delete {
        key: String,
        index: Option<u64>,
    },
}

/// At most 128 ops, one per key.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TxnBody {
    #[serde(default)]
    checks: Vec<TxnCheck>,
    #[serde(default)]
    ops: Vec<TxnOp>,
}

/// `POST /v1/txn`: all checks hold → every op commits at one index (`{"index": N}`); otherwise
/// 409 with every failed check in `error.conflicts`.
#[utoipa::path(
    post,
    path = "/v1/txn",
    operation_id = "txn",
    tag = "rest",
    request_body(content = TxnBody, content_type = "application/json",
        example = json!({"checks": [{"key": "accounts/a", "index": 0}],
            "ops": [{"put": {"key": "accounts/a", "value": {"balance": 10}}},
                {"put": {"key": "accounts/b", "value": {"balance": 5}, "index": 0}},
                {"delete": {"key": "accounts/old"}}]})),
    responses(
        (status = 200, description = "Every op committed, at this index", body = IndexReply),
        (status = 404, response = crate::reply::LeaseExpired),
        (status = 409, response = crate::reply::Conflict),
        (status = 503, response = crate::reply::Unavailable),
    ),
)]
pub async fn txn(State(state): State<AppState>, Body(bytes): Body) -> Reply {
    let b: TxnBody = body(&bytes)?;
    let mut txn = state.client.txn();
    for c in &b.checks {
        txn.check(&c.key, c.index);
    }
    for op in b.ops {
        match op {
            TxnOp::Put {
                key,
                value,
                index,
                lease,
            } => {
                let lease = lease.as_deref().map(wire::lease_id).transpose()?;
                txn.put_with(&key, value, PutOptions { index, lease });
            }
            TxnOp::Delete { key, index } => {
                match index {
                    Some(i) => txn.delete_at(&key, i),
                    None => txn.delete(&key),
                };
            }
        }
    }
    ok(IndexReply {
        index: txn.commit().await?,
    })
}

/// A lock's holder or a waiter behind it.
#[derive(Serialize, ToSchema)]
pub struct Waiter {
    /// Its entry in the lock's queue.
    key: String,
    /// What the waiter said about itself when it queued (by default host and process).
    owner: Value,
    /// Its fencing token (the index of its entry).
    token: u64,
    /// Whether it holds the lock.
    holder: bool,
    /// Its lease id, as a string.
    lease: Option<String>,
    /// Seconds left on the waiter's lease.
    ttl_left: Option<f64>,
}

/// `GET /v1/locks/{name}`: the holder and the waiters, holder first.
#[utoipa::path(
    get,
    path = "/v1/locks/{name}",
    operation_id = "lock_queue",
    tag = "rest",
    params(("name" = String, Path, description = "The lock's name")),
    responses(
        (status = 200, description = "The holder and the waiters, holder first (empty: free)",
            body = Vec<Waiter>),
        (status = 503, response = crate::reply::Unavailable),
    ),
)]
pub async fn lock_queue(State(state): State<AppState>, Path(name): Path<String>) -> Reply {
    let queue = state.client.lock_queue(&name).await?;
    ok(queue
        .into_iter()
        .map(|w| Waiter {
            key: w.key,
            owner: w.owner,
            token: w.token,
            holder: w.holder,
            lease: w.lease.map(|l| l.to_string()),
            ttl_left: w.ttl_left.map(|d| d.as_secs_f64()),
        })
        .collect::<Vec<_>>())
}

pub struct ForceQuery {
    /// The fencing token of the holder to remove: the confirmation of which holder is stuck.
    token: Option<u64>,
}

impl FromQuery for ForceQuery {
    fn from_query(params: &mut Params) -> Result<Self, Error> {
        Ok(ForceQuery {
            token: params.integer("token")?,
        })
    }
}

/// The holder a force-release removed.
#[derive(Serialize, ToSchema)]
pub struct ReleaseReply {
    released: bool,
    /// The holder's entry, now deleted.
    key: String,
    /// The index of the delete.
    index: u64,
}

/// `DELETE /v1/locks/{name}/holder?token=N`: removes the holder's entry if it still holds the
/// lock with that fencing token, so the next waiter gets it. Its client finds out at once at its
/// next fenced write (`txn().require(lock)`: `LockLost`), which is what keeps it off the
/// resource, and at its lease's next renewal (a third of the TTL) its lock reports the loss
/// (`lost`, `on_lost`; `release()` fails with `LockLost`).
#[utoipa::path(
    delete,
    path = "/v1/locks/{name}/holder",
    operation_id = "lock_force_release",
    tag = "rest",
    params(
        ("name" = String, Path, description = "The lock's name"),
        ("token" = u64, Query,
            description = "The fencing token of the holder to remove (see `GET /v1/locks/{name}`)"),
    ),
    responses(
        (status = 200, description = "The holder was removed; the next waiter gets the lock",
            body = ReleaseReply),
        (status = 409, description = "The lock has no holder, or its holder has another token \
            (in `error.conflicts`: `key` the lock's name, `expected` the token given, `actual` the \
            holder's, `0` when there is none)",
            body = ErrorReply),
        (status = 503, response = crate::reply::Unavailable),
    ),
)]
pub async fn force_release(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<ForceQuery>,
) -> Reply {
    let token = q.token.ok_or_else(|| {
        Error::invalid(
            "force-releasing a lock needs ?token=N, the fencing token of the holder to remove",
        )
    })?;
    let queue = state.client.lock_queue(&name).await?;
    let Some(holder) = queue.into_iter().find(|w| w.holder) else {
        return Err(Error::new(
            interlock::ErrorKind::Conflict,
            format!("lock '{name}' has no holder; nothing was changed"),
        )
        .with_conflicts(vec![interlock::Conflict {
            key: name.to_string(),
            expected: token,
            actual: 0,
        }])
        .into());
    };
    if holder.token != token {
        return Err(not_the_holder(&name, token, holder.token));
    }
    let response = state
        .client
        .backend()
        .commit(TxnRequest {
            compares: vec![Compare {
                key: holder.key.clone(),
                index: token,
            }],
            ops: vec![Op::Delete {
                key: holder.key.clone(),
            }],
            reads: Vec::new(),
        })
        .await?;
    if !response.succeeded {
        let actual = response.failed.first().map_or(0, |m| m.actual);
        return Err(not_the_holder(&name, token, actual));
    }
    ok(ReleaseReply {
        released: true,
        key: holder.key,
        index: response.index,
    })
}

/// A force-release whose token is not the holder's: a 409 that says so in the lock's terms. Its
/// conflict names the lock (not its queue's internal key), with the token given as `expected`
/// and the holder's as `actual` (0 if it is gone).
fn not_the_holder(name: &str, given: u64, actual: u64) -> ApiError {
    let now = if actual == 0 {
        "its holder has just let go".to_string()
    } else {
        format!("it is held with fencing token {actual}")
    };
    Error::new(
        interlock::ErrorKind::Conflict,
        format!("lock '{name}' was not force-released: {now}, not {given}; nothing was changed"),
    )
    .with_conflicts(vec![interlock::Conflict {
        key: name.to_string(),
        expected: given,
        actual,
    }])
    .into()
}
