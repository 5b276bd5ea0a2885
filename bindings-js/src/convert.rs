//! Values across the boundary. JSON values travel as JSON text (the TypeScript layer checks and
//! stringifies them, and parses what comes back); indexes are JS numbers, exact up to 2^53;
//! lease ids are strings, since etcd's use all 64 bits; times are seconds. The records are what
//! the native calls resolve to: the Node package converts them to its napi objects, the
//! WebAssembly package serializes them to plain JS objects (absent fields left out).

use std::time::Duration;

use interlock::PutOptions;
use serde::Serialize;
use serde_json::Value;

use crate::Result;
use crate::errors::{internal, invalid};

/// The largest integer a JS number holds exactly.
const MAX_SAFE: u64 = (1 << 53) - 1;

/// An index or token from JS: a non-negative integer a JS number holds exactly.
pub fn index_in(what: &str, n: f64) -> Result<u64> {
    if n.is_finite() && n >= 0.0 && n.fract() == 0.0 && n <= MAX_SAFE as f64 {
        Ok(n as u64)
    } else {
        Err(invalid(format!(
            "{what} must be a non-negative integer up to 2^53 - 1, not {n}"
        )))
    }
}

/// An optional index from JS.
pub fn optional_index_in(what: &str, n: Option<f64>) -> Result<Option<u64>> {
    n.map(|n| index_in(what, n)).transpose()
}

/// An index for JS. Past 2^53 a JS number would round it, and a rounded index would compare
/// wrong, so that is an error (a store would need 9e15 writes to get there).
pub fn index_out(n: u64) -> Result<f64> {
    if n <= MAX_SAFE {
        Ok(n as f64)
    } else {
        Err(internal(format!(
            "the store's index {n} is above 2^53 - 1, so a JS number cannot hold it exactly"
        )))
    }
}

/// An optional index for JS.
pub fn optional_index_out(n: Option<u64>) -> Result<Option<f64>> {
    n.map(index_out).transpose()
}

pub fn seconds(what: &str, secs: f64) -> Result<Duration> {
    Duration::try_from_secs_f64(secs).map_err(|_| {
        invalid(format!(
            "{what} must be a non-negative number of seconds, not {secs}"
        ))
    })
}

pub fn lease_in(id: Option<String>) -> Result<Option<i64>> {
    id.map(|s| {
        s.trim()
            .parse::<i64>()
            .map_err(|_| invalid(format!("'{s}' is not a lease id")))
    })
    .transpose()
}

/// A lease id the caller must give.
pub fn required_lease_in(id: String) -> Result<i64> {
    Ok(lease_in(Some(id))?.unwrap_or_default())
}

pub fn lease_out(id: i64) -> String {
    id.to_string()
}

/// JSON text from the TypeScript layer (already checked there).
pub fn json_in(key: &str, text: &str) -> Result<Value> {
    serde_json::from_str(text)
        .map_err(|e| invalid(format!("the value for '{key}' is not JSON: {e}")))
}

pub fn json_out(value: &Value) -> String {
    value.to_string()
}

/// A value that may be absent as JSON text (absent: `null`).
pub fn json_or_null(value: Option<&Value>) -> String {
    value.map_or_else(|| "null".to_string(), json_out)
}

/// A write as JavaScript gives it, to `Client.put` or `Txn.put`: the key, the value as JSON text,
/// the index the key must be at (none: an unconditional write) and the lease id.
pub struct Write {
    key: String,
    value: String,
    index: Option<f64>,
    lease: Option<String>,
}

impl Write {
    pub fn new(key: String, value: String, index: Option<f64>, lease: Option<String>) -> Self {
        Write {
            key,
            value,
            index,
            lease,
        }
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    /// The key, the value and the options, checked; `index` names the index in a message.
    pub fn checked(self, index: &str) -> Result<(String, Value, PutOptions)> {
        let options = PutOptions {
            index: optional_index_in(index, self.index)?,
            lease: lease_in(self.lease)?,
        };
        let value = json_in(&self.key, &self.value)?;
        Ok((self.key, value, options))
    }
}

/// A stored key, its value as JSON text.
#[derive(Serialize)]
pub struct Entry {
    pub key: String,
    pub value: String,
    pub index: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease: Option<String>,
}

impl Entry {
    pub fn from_core(e: interlock::Entry) -> Result<Entry> {
        Ok(Entry {
            value: json_out(&e.value),
            index: index_out(e.index)?,
            lease: e.lease.map(lease_out),
            key: e.key,
        })
    }

    pub fn all(entries: Vec<interlock::Entry>) -> Result<Vec<Entry>> {
        entries.into_iter().map(Entry::from_core).collect()
    }
}

/// The outcome of `put` and `delete`, the value as JSON text (absent: `null`).
#[derive(Serialize)]
pub struct PutResult {
    pub successful: bool,
    pub index: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

impl PutResult {
    pub fn from_core(r: interlock::PutResult) -> Result<PutResult> {
        Ok(PutResult {
            successful: r.successful,
            index: index_out(r.index)?,
            value: r.value.as_ref().map(json_out),
        })
    }
}

/// One page of `list`.
#[derive(Serialize)]
pub struct Page {
    pub entries: Vec<Entry>,
    pub more: bool,
}

/// A watch event, the value as JSON text.
#[derive(Serialize)]
pub struct Event {
    /// `put` or `delete`.
    pub r#type: &'static str,
    pub key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    pub index: f64,
}

impl Event {
    pub fn from_core(e: interlock::Event) -> Result<Event> {
        Ok(Event {
            r#type: match e.kind {
                interlock::EventKind::Put => "put",
                interlock::EventKind::Delete => "delete",
            },
            value: e.value.as_ref().map(json_out),
            index: index_out(e.index)?,
            key: e.key,
        })
    }
}

/// The holder or a waiter of a lock, the owner as JSON text.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LockWaiter {
    pub key: String,
    pub owner: String,
    pub token: f64,
    pub holder: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl_left: Option<f64>,
}

impl LockWaiter {
    pub fn from_core(w: interlock::LockWaiter) -> Result<LockWaiter> {
        Ok(LockWaiter {
            owner: json_out(&w.owner),
            token: index_out(w.token)?,
            holder: w.holder,
            lease: w.lease.map(lease_out),
            ttl_left: w.ttl_left.map(|d| d.as_secs_f64()),
            key: w.key,
        })
    }
}
