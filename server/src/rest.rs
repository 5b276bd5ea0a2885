//! The REST routes for people, scripts and other languages: every operation of the client API
//! as one request, through the server's own client (so reserved keys, value sizes and
//! transaction limits are checked as everywhere). Locks are taken by clients, which need the
//! backend protocol; here a lock's queue can be read, and a stuck holder force-released.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use interlock::backend::{Compare, Op, TxnRequest};
use interlock::http::wire::{self, WireEntry};
use interlock::{Error, PutOptions};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::api::{AppState, Reply, body, ok};

/// `PUT /v1/kv/{key}`: `{"value": …, "index"?: N, "lease"?: "id"}`; without `index` the write
/// is unconditional.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutBody {
    value: Value,
    index: Option<u64>,
    lease: Option<String>,
}

/// The result of a put or delete (`successful: false` is a 200 too: a failed compare is a
/// result, with the current index and value).
#[derive(Serialize)]
struct PutReply {
    successful: bool,
    index: u64,
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

pub async fn put(State(state): State<AppState>, Path(key): Path<String>, bytes: Bytes) -> Reply {
    let b: PutBody = body(&bytes)?;
    let options = PutOptions {
        index: b.index,
        lease: b.lease.as_deref().map(wire::lease_id).transpose()?,
    };
    ok(PutReply::from(
        state.client.put_with(&key, b.value, options).await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexQuery {
    index: Option<u64>,
}

pub async fn delete(
    State(state): State<AppState>,
    Path(key): Path<String>,
    Query(q): Query<IndexQuery>,
) -> Reply {
    ok(PutReply::from(state.client.delete(&key, q.index).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    #[serde(default)]
    prefix: String,
    after: Option<String>,
    limit: Option<usize>,
}

#[derive(Serialize)]
struct PageReply {
    entries: Vec<WireEntry>,
    more: bool,
    index: u64,
}

/// The largest page `GET /v1/kv` returns (and the default).
const MAX_PAGE: usize = 1000;

/// `GET /v1/kv?prefix=&after=&limit=`: one page in key order, at most 1000 entries.
pub async fn list(State(state): State<AppState>, Query(q): Query<ListQuery>) -> Reply {
    let limit = q.limit.unwrap_or(MAX_PAGE).min(MAX_PAGE);
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeysBody {
    keys: Vec<String>,
}

/// `POST /v1/get-many`: the entries that exist among `keys`, from one snapshot.
pub async fn get_many(State(state): State<AppState>, bytes: Bytes) -> Reply {
    let b: KeysBody = body(&bytes)?;
    if b.keys.len() > MAX_PAGE {
        return Err(Error::invalid(format!(
            "get-many asks for {} keys; at most {MAX_PAGE} per request",
            b.keys.len()
        ))
        .into());
    }
    let entries = state.client.get_many(&b.keys).await?;
    ok(serde_json::json!({
        "entries": entries.into_iter().map(WireEntry::from).collect::<Vec<_>>()
    }))
}

/// `GET /v1/index`: the store-wide index.
pub async fn index(State(state): State<AppState>) -> Reply {
    ok(serde_json::json!({ "index": state.client.index().await? }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TxnCheck {
    key: String,
    index: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum TxnOp {
    Put {
        key: String,
        value: Value,
        index: Option<u64>,
        lease: Option<String>,
    },
    Delete {
        key: String,
        index: Option<u64>,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TxnBody {
    #[serde(default)]
    checks: Vec<TxnCheck>,
    #[serde(default)]
    ops: Vec<TxnOp>,
}

/// `POST /v1/txn`: all checks hold → every op commits at one index (`{"index": N}`); otherwise
/// 409 with every failed check in `error.conflicts`.
pub async fn txn(State(state): State<AppState>, bytes: Bytes) -> Reply {
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
    ok(serde_json::json!({ "index": txn.commit().await? }))
}

#[derive(Serialize)]
struct Waiter {
    key: String,
    owner: Value,
    token: u64,
    holder: bool,
    lease: Option<String>,
    /// Seconds left on the waiter's lease.
    ttl_left: Option<f64>,
}

/// `GET /v1/locks/{name}`: the holder and the waiters, holder first.
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForceQuery {
    /// The fencing token of the holder to remove: the confirmation of which holder is stuck.
    token: Option<u64>,
}

/// `DELETE /v1/locks/{name}/holder?token=N`: removes the holder's entry if it still holds the
/// lock with that fencing token, so the next waiter gets it. Its client finds out at its next
/// fenced write (`txn().require(lock)`: `LockLost`), which is what keeps it off the resource.
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
            format!("lock '{name}' has no holder"),
        )
        .into());
    };
    if holder.token != token {
        return Err(Error::conflict(vec![interlock::Conflict {
            key: holder.key,
            expected: token,
            actual: holder.token,
        }])
        .into());
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
        return Err(Error::conflict(vec![interlock::Conflict {
            key: holder.key,
            expected: token,
            actual,
        }])
        .into());
    }
    Ok((
        StatusCode::OK,
        axum::Json(
            serde_json::json!({ "released": true, "key": holder.key, "index": response.index }),
        ),
    )
        .into_response())
}

pub fn routes() -> axum::Router<AppState> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/kv", get(list))
        .route("/get-many", post(get_many))
        .route("/index", get(index))
        .route("/txn", post(txn))
        .route("/locks/{name}", get(lock_queue))
        .route("/locks/{name}/holder", axum::routing::delete(force_release))
}
