//! The one seam between interlock's algorithms and a store. A backend offers atomic reads, an
//! atomic compare-then-write transaction with reads at the same snapshot, leases and an ordered
//! event stream; the lock queue, lease keeper, sessions and retry are written once on top of it.

use std::pin::Pin;
use std::time::Duration;

use async_trait::async_trait;
use futures::Stream;
use serde_json::Value;

use crate::error::Result;
use crate::model::{Entry, Event, LeaseId};

/// What a backend's watch yields, in index order.
#[derive(Debug, Clone, PartialEq)]
pub enum WatchItem {
    /// A change.
    Event(Event),
    /// The store has confirmed that every event of this watch with an index up to this one has
    /// been delivered: a watch resumed from this index + 1 misses nothing. A quiet watch learns
    /// from these how far it may move its resume index, so that compaction of history it has no
    /// events in does not make it fail. Never below the index of an event already delivered.
    Progress(u64),
}

/// A watch's stream: events and progress, in index order.
pub type EventStream = Pin<Box<dyn Stream<Item = Result<WatchItem>> + Send>>;

/// The order of a range read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// By key, ascending (`list`).
    Key,
    /// By index, oldest first (lock queues).
    IndexAsc,
    /// By index, newest first.
    IndexDesc,
}

/// Entries whose key starts with `prefix`.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeRead {
    pub prefix: String,
    /// Only keys strictly greater than this (paging by key).
    pub after: Option<String>,
    /// Only entries with an index strictly below this.
    pub below_index: Option<u64>,
    pub order: Order,
    /// At most this many entries; `None` for all.
    pub limit: Option<usize>,
    /// Whether keys starting with `@` are included when the prefix does not start with `@`.
    pub include_reserved: bool,
}

impl RangeRead {
    /// Every entry under `prefix`, by key.
    pub fn prefix(prefix: impl Into<String>) -> Self {
        RangeRead {
            prefix: prefix.into(),
            after: None,
            below_index: None,
            order: Order::Key,
            limit: None,
            include_reserved: false,
        }
    }

    /// True when `key` belongs to this range (ignoring order and limit).
    pub fn matches(&self, key: &str, index: u64) -> bool {
        key.starts_with(&self.prefix)
            && (self.include_reserved
                || self.prefix.starts_with(crate::validate::RESERVED_PREFIX)
                || !key.starts_with(crate::validate::RESERVED_PREFIX))
            && self.after.as_deref().is_none_or(|a| key > a)
            && self.below_index.is_none_or(|b| index < b)
    }
}

/// One read inside a snapshot.
#[derive(Debug, Clone, PartialEq)]
pub enum Read {
    /// The entries that exist among these keys, in the order given.
    Keys(Vec<String>),
    Range(RangeRead),
}

/// The entries of one [`Read`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ReadResult {
    pub entries: Vec<Entry>,
    /// A range read stopped at its limit with more entries left.
    pub more: bool,
}

/// Every read of a request, taken from one snapshot at `index`.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadResponse {
    pub index: u64,
    pub results: Vec<ReadResult>,
}

/// "`key` is at `index`" (`0`: absent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compare {
    pub key: String,
    pub index: u64,
}

/// A write inside a transaction.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    Put {
        key: String,
        value: Value,
        lease: Option<LeaseId>,
    },
    Delete {
        key: String,
    },
}

impl Op {
    pub fn key(&self) -> &str {
        match self {
            Op::Put { key, .. } | Op::Delete { key } => key,
        }
    }
}

/// All compares hold → all ops commit at one new index, then the reads run at that snapshot.
/// Otherwise nothing is written and the reads run at the current snapshot.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TxnRequest {
    pub compares: Vec<Compare>,
    pub ops: Vec<Op>,
    pub reads: Vec<Read>,
}

/// A compare that did not hold, with the key's current state.
#[derive(Debug, Clone, PartialEq)]
pub struct Mismatch {
    pub key: String,
    pub expected: u64,
    pub actual: u64,
    pub value: Option<Value>,
}

/// The outcome of a [`TxnRequest`].
#[derive(Debug, Clone, PartialEq)]
pub struct TxnResponse {
    pub succeeded: bool,
    /// The index of this commit when it wrote something; otherwise the store's current index.
    pub index: u64,
    /// Whether the commit wrote anything (a delete of an absent key writes nothing).
    pub changed: bool,
    /// Per op, whether it changed the store (puts always do; a delete only if the key existed).
    pub applied: Vec<bool>,
    /// Every failed compare (empty on success).
    pub failed: Vec<Mismatch>,
    pub reads: Vec<ReadResult>,
}

/// A lease as the store granted it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseGrant {
    pub id: LeaseId,
    /// The TTL the store will enforce (a backend may round up).
    pub ttl: Duration,
}

/// Limits a backend enforces; the client checks them before sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_value_bytes: usize,
}

/// A store. Implementations must make `read` and `commit` linearizable and give every commit
/// that writes the next store-wide index.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// A short description for messages, e.g. `sqlite:///var/lib/app.db`.
    fn describe(&self) -> String;

    fn limits(&self) -> Limits;

    /// Runs every read at one snapshot.
    async fn read(&self, reads: Vec<Read>) -> Result<ReadResponse>;

    /// Runs a transaction atomically.
    async fn commit(&self, txn: TxnRequest) -> Result<TxnResponse>;

    /// Grants a lease; entries attached to it are deleted when it expires or is revoked.
    async fn grant(&self, ttl: Duration) -> Result<LeaseGrant>;

    /// Renews a lease for its full TTL; `LeaseExpired` when it is unknown or already expired.
    async fn keepalive(&self, lease: LeaseId) -> Result<Duration>;

    /// Revokes a lease, deleting its entries; returns false if it was unknown or expired.
    async fn revoke(&self, lease: LeaseId) -> Result<bool>;

    /// The time each lease has left (`None`: unknown or expired).
    async fn time_to_live(&self, leases: &[LeaseId]) -> Result<Vec<Option<Duration>>>;

    /// Events for keys matching `range` (only `prefix` and `include_reserved` apply), from index
    /// `from` inclusive, or from the next commit when `None`. A backend may also report
    /// [`WatchItem::Progress`] when it knows that a quiet watch has seen everything up to some
    /// index; consumers that need only the events skip it.
    async fn watch(&self, range: RangeRead, from: Option<u64>) -> Result<EventStream>;
}
