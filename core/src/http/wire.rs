//! The JSON of interlock's HTTP protocol under `/v1/`, shared by the server (`interlock serve`)
//! and the `http://` backend: one request and one reply shape per [`Backend`] method, so that a
//! client over HTTP runs the same lock, lease and session algorithms as one on the store itself.
//!
//! Lease ids travel as strings (etcd's are 64-bit; JavaScript numbers are not), times as seconds.
//!
//! [`Backend`]: crate::backend::Backend

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::backend::{
    Compare, LeaseGrant, Mismatch, Op, Order, RangeRead, Read, ReadResponse, ReadResult,
    TxnRequest, TxnResponse,
};
use crate::error::{Conflict, Error, ErrorKind, Result};
use crate::model::{Entry, LeaseId};

/// `GET /v1/info`: what the server serves.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Info {
    /// The store's description (its URL without credentials).
    pub store: String,
    pub max_value_bytes: usize,
    /// The server's version.
    pub version: String,
}

/// An entry as it travels: the lease id as a string.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WireEntry {
    pub key: String,
    /// Any JSON value.
    pub value: Value,
    /// The index of the write that last touched the entry.
    pub index: u64,
    /// The lease the entry is attached to (a 64-bit id, as a string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<String>,
}

impl From<Entry> for WireEntry {
    fn from(e: Entry) -> Self {
        WireEntry {
            key: e.key,
            value: e.value,
            index: e.index,
            lease: e.lease.map(|l| l.to_string()),
        }
    }
}

impl WireEntry {
    pub fn into_entry(self) -> Result<Entry> {
        Ok(Entry {
            key: self.key,
            value: self.value,
            index: self.index,
            lease: self.lease.as_deref().map(lease_id).transpose()?,
        })
    }
}

/// Parses a lease id sent as a string.
pub fn lease_id(text: &str) -> Result<LeaseId> {
    text.parse().map_err(|_| {
        Error::invalid(format!(
            "lease id '{text}' is not a lease id (a 64-bit integer)"
        ))
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum WireOrder {
    #[default]
    Key,
    IndexAsc,
    IndexDesc,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WireRange {
    /// Keys starting with this (`""`: every key).
    pub prefix: String,
    /// Only keys after this one, in key order (the last key of the previous page).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    /// Only entries last written below this index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub below_index: Option<u64>,
    #[serde(default)]
    pub order: WireOrder,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// Also the reserved keys (those starting with `@`: lock queues, sessions).
    #[serde(default)]
    pub include_reserved: bool,
}

/// `{"keys": [...]}` (those of the keys that exist) or `{"range": {...}}` (keys under a prefix).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum WireRead {
    Keys(Vec<String>),
    Range(WireRange),
}

impl From<RangeRead> for WireRange {
    fn from(r: RangeRead) -> Self {
        WireRange {
            prefix: r.prefix,
            after: r.after,
            below_index: r.below_index,
            order: match r.order {
                Order::Key => WireOrder::Key,
                Order::IndexAsc => WireOrder::IndexAsc,
                Order::IndexDesc => WireOrder::IndexDesc,
            },
            limit: r.limit,
            include_reserved: r.include_reserved,
        }
    }
}

impl From<WireRange> for RangeRead {
    fn from(r: WireRange) -> Self {
        RangeRead {
            prefix: r.prefix,
            after: r.after,
            below_index: r.below_index,
            order: match r.order {
                WireOrder::Key => Order::Key,
                WireOrder::IndexAsc => Order::IndexAsc,
                WireOrder::IndexDesc => Order::IndexDesc,
            },
            limit: r.limit,
            include_reserved: r.include_reserved,
        }
    }
}

impl From<Read> for WireRead {
    fn from(r: Read) -> Self {
        match r {
            Read::Keys(keys) => WireRead::Keys(keys),
            Read::Range(range) => WireRead::Range(range.into()),
        }
    }
}

impl From<WireRead> for Read {
    fn from(r: WireRead) -> Self {
        match r {
            WireRead::Keys(keys) => Read::Keys(keys),
            WireRead::Range(range) => Read::Range(range.into()),
        }
    }
}

/// `POST /v1/backend/read`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReadRequest {
    pub reads: Vec<WireRead>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WireReadResult {
    pub entries: Vec<WireEntry>,
    /// True when a range's limit cut it short.
    pub more: bool,
}

impl From<ReadResult> for WireReadResult {
    fn from(r: ReadResult) -> Self {
        WireReadResult {
            entries: r.entries.into_iter().map(WireEntry::from).collect(),
            more: r.more,
        }
    }
}

impl WireReadResult {
    fn into_result(self) -> Result<ReadResult> {
        Ok(ReadResult {
            entries: self
                .entries
                .into_iter()
                .map(WireEntry::into_entry)
                .collect::<Result<_>>()?,
            more: self.more,
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReadReply {
    /// The store index the reads were made at.
    pub index: u64,
    /// One per read, in order.
    pub results: Vec<WireReadResult>,
}

impl From<ReadResponse> for ReadReply {
    fn from(r: ReadResponse) -> Self {
        ReadReply {
            index: r.index,
            results: r.results.into_iter().map(WireReadResult::from).collect(),
        }
    }
}

impl ReadReply {
    pub fn into_response(self) -> Result<ReadResponse> {
        Ok(ReadResponse {
            index: self.index,
            results: self
                .results
                .into_iter()
                .map(WireReadResult::into_result)
                .collect::<Result<_>>()?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WireCompare {
    pub key: String,
    /// The index the key must be at (`0`: absent).
    pub index: u64,
}

/// `{"put": {"key", "value", "lease"?}}` or `{"delete": {"key"}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum WireOp {
    Put {
        key: String,
        /// Any JSON value.
        value: Value,
        /// A lease id (as a string) to attach the entry to.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        lease: Option<String>,
    },
    Delete {
        key: String,
    },
}

/// `POST /v1/backend/commit`: if every compare holds, the ops are applied at one new index and
/// the reads are made after them; otherwise nothing is written and every failed compare is
/// reported.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CommitRequest {
    #[serde(default)]
    pub compares: Vec<WireCompare>,
    #[serde(default)]
    pub ops: Vec<WireOp>,
    #[serde(default)]
    pub reads: Vec<WireRead>,
}

impl From<TxnRequest> for CommitRequest {
    fn from(t: TxnRequest) -> Self {
        CommitRequest {
            compares: t
                .compares
                .into_iter()
                .map(|c| WireCompare {
                    key: c.key,
                    index: c.index,
                })
                .collect(),
            ops: t
                .ops
                .into_iter()
                .map(|op| match op {
                    Op::Put { key, value, lease } => WireOp::Put {
                        key,
                        value,
                        lease: lease.map(|l| l.to_string()),
                    },
                    Op::Delete { key } => WireOp::Delete { key },
                })
                .collect(),
            reads: t.reads.into_iter().map(WireRead::from).collect(),
        }
    }
}

impl CommitRequest {
    pub fn into_txn(self) -> Result<TxnRequest> {
        Ok(TxnRequest {
            compares: self
                .compares
                .into_iter()
                .map(|c| Compare {
                    key: c.key,
                    index: c.index,
                })
                .collect(),
            ops: self
                .ops
                .into_iter()
                .map(|op| {
                    Ok(match op {
                        WireOp::Put { key, value, lease } => Op::Put {
                            key,
                            value,
                            lease: lease.as_deref().map(lease_id).transpose()?,
                        },
                        WireOp::Delete { key } => Op::Delete { key },
                    })
                })
                .collect::<Result<_>>()?,
            reads: self.reads.into_iter().map(Read::from).collect(),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WireMismatch {
    pub key: String,
    pub expected: u64,
    /// The key's index (`0`: absent).
    pub actual: u64,
    /// The key's current value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CommitReply {
    /// Whether every compare held (and so the ops were applied).
    pub succeeded: bool,
    /// The commit's index, or the store index when nothing was written.
    pub index: u64,
    /// Whether anything was written.
    pub changed: bool,
    /// Per op: whether it changed the store (a delete of an absent key did not).
    pub applied: Vec<bool>,
    /// Every compare that did not hold.
    pub failed: Vec<WireMismatch>,
    /// One per read, in order.
    pub reads: Vec<WireReadResult>,
}

impl From<TxnResponse> for CommitReply {
    fn from(r: TxnResponse) -> Self {
        CommitReply {
            succeeded: r.succeeded,
            index: r.index,
            changed: r.changed,
            applied: r.applied,
            failed: r
                .failed
                .into_iter()
                .map(|m| WireMismatch {
                    key: m.key,
                    expected: m.expected,
                    actual: m.actual,
                    value: m.value,
                })
                .collect(),
            reads: r.reads.into_iter().map(WireReadResult::from).collect(),
        }
    }
}

impl CommitReply {
    pub fn into_response(self) -> Result<TxnResponse> {
        Ok(TxnResponse {
            succeeded: self.succeeded,
            index: self.index,
            changed: self.changed,
            applied: self.applied,
            failed: self
                .failed
                .into_iter()
                .map(|m| Mismatch {
                    key: m.key,
                    expected: m.expected,
                    actual: m.actual,
                    value: m.value,
                })
                .collect(),
            reads: self
                .reads
                .into_iter()
                .map(WireReadResult::into_result)
                .collect::<Result<_>>()?,
        })
    }
}

/// `POST /v1/leases`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GrantRequest {
    /// Seconds.
    pub ttl: f64,
}

/// The reply of a grant.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GrantReply {
    /// The lease id: a 64-bit integer, as a string.
    pub id: String,
    /// Seconds, as the store will enforce it.
    pub ttl: f64,
}

impl From<LeaseGrant> for GrantReply {
    fn from(g: LeaseGrant) -> Self {
        GrantReply {
            id: g.id.to_string(),
            ttl: g.ttl.as_secs_f64(),
        }
    }
}

impl GrantReply {
    pub fn into_grant(self) -> Result<LeaseGrant> {
        Ok(LeaseGrant {
            id: lease_id(&self.id)?,
            ttl: seconds("ttl", self.ttl)?,
        })
    }
}

/// `POST /v1/leases/{id}/keepalive`: the TTL renewed, in seconds.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeepaliveReply {
    pub ttl: f64,
}

/// `DELETE /v1/leases/{id}`: whether a live lease was revoked.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RevokeReply {
    pub revoked: bool,
}

/// `POST /v1/leases/ttl`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TtlRequest {
    /// Lease ids, as strings.
    pub ids: Vec<String>,
}

/// Seconds left per lease, `null` when it is gone.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TtlReply {
    pub ttls: Vec<Option<f64>>,
}

/// A duration sent as seconds.
pub fn seconds(what: &str, secs: f64) -> Result<Duration> {
    // A huge number is shown as `1e300`, not as its 300 digits.
    let shown = if secs.abs() >= 1e15 {
        format!("{secs:e}")
    } else {
        secs.to_string()
    };
    Duration::try_from_secs_f64(secs).map_err(|_| {
        if secs.is_nan() || secs < 0.0 {
            Error::invalid(format!(
                "{what} must be a non-negative number of seconds, not {shown}"
            ))
        } else {
            Error::invalid(format!(
                "{what} of {shown} s is too long: at most {} s",
                crate::validate::MAX_TTL.as_secs()
            ))
        }
    })
}

/// Every error reply: `{"error": {"kind", "message", "conflicts"}}` with an HTTP status that
/// matches the kind.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorReply {
    pub error: ErrorDetail,
}

/// The data of a watch's `progress` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WatchProgress {
    /// Every event of the watch up to this index has been sent: a watch resumed from this
    /// index + 1 misses nothing.
    pub index: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorDetail {
    /// `InvalidArgument`, `Conflict`, `LockTimeout`, `LockLost`, `LeaseExpired`, `Unavailable`,
    /// `Unauthorized`, `Internal`, or `NotFound` (`GET /v1/kv/{key}` of an absent key).
    pub kind: String,
    /// What was wrong, naming the key or value involved.
    pub message: String,
    /// A `Conflict`'s failed checks: every one of them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<ConflictSchema>))]
    pub conflicts: Vec<Conflict>,
}

/// The schema of a [`Conflict`] in `error.conflicts`.
#[cfg(feature = "openapi")]
#[derive(utoipa::ToSchema)]
#[schema(as = Conflict)]
#[allow(dead_code)] // only its schema is used
struct ConflictSchema {
    key: String,
    /// The index the request expected (`0`: absent).
    expected: u64,
    /// The key's index (`0`: absent).
    actual: u64,
}

impl From<&Error> for ErrorDetail {
    fn from(e: &Error) -> Self {
        ErrorDetail {
            kind: e.kind().as_str().to_string(),
            message: e.message().to_string(),
            conflicts: e.conflicts().to_vec(),
        }
    }
}

impl ErrorDetail {
    /// The error as the server reported it (an unknown kind is `Internal`).
    pub fn into_error(self) -> Error {
        let kind = kind_named(&self.kind).unwrap_or(ErrorKind::Internal);
        Error::new(kind, self.message).with_conflicts(self.conflicts)
    }
}

/// The kind [`ErrorKind::as_str`] names.
pub fn kind_named(name: &str) -> Option<ErrorKind> {
    [
        ErrorKind::InvalidArgument,
        ErrorKind::Conflict,
        ErrorKind::LockTimeout,
        ErrorKind::LockLost,
        ErrorKind::LeaseExpired,
        ErrorKind::Unavailable,
        ErrorKind::Unauthorized,
        ErrorKind::Internal,
    ]
    .into_iter()
    .find(|k| k.as_str() == name)
}

/// The HTTP status of an error kind.
pub fn status_of(kind: ErrorKind) -> u16 {
    match kind {
        ErrorKind::InvalidArgument => 400,
        ErrorKind::Unauthorized => 401,
        ErrorKind::LeaseExpired => 404,
        ErrorKind::Conflict | ErrorKind::LockLost => 409,
        ErrorKind::LockTimeout => 408,
        ErrorKind::Unavailable => 503,
        ErrorKind::Internal => 500,
    }
}
