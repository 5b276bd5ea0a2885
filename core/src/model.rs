//! The data model shared by every backend and binding: entries, compare-exchange results and
//! watch events (docs/design.md, Data model and Watches). These are the wire shapes too, so they
//! derive serde.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A lease id as the store assigned it.
pub type LeaseId = i64;

/// A stored key with its JSON value, the index of the write that last touched it and the lease
/// it is attached to, if any.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub key: String,
    pub value: Value,
    pub index: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<LeaseId>,
}

/// The outcome of `put` and `delete`. A failed compare is a result, not an error: on success it
/// holds the new index and value (`None` after a delete); on failure the **current** index
/// (`0` if absent) and value, so the caller can retry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PutResult {
    pub successful: bool,
    pub index: u64,
    pub value: Option<Value>,
}

/// Whether a watch event wrote or removed its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    Put,
    Delete,
}

/// One change, in index order. Deletions by lease expiry are events too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    #[serde(rename = "type")]
    pub kind: EventKind,
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    pub index: u64,
}

/// One page of `list`: entries in key order, all from the snapshot at `index`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page {
    pub entries: Vec<Entry>,
    /// True when more entries follow; pass the last key as `after` to read them.
    pub more: bool,
    /// The store index the page was read at.
    pub index: u64,
}
