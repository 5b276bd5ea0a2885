//! Values across the boundary, as in the Node package: JSON values travel as JSON text (the
//! TypeScript layer checks and stringifies them, and parses what comes back); indexes are JS
//! numbers, exact up to 2^53; lease ids are strings, since etcd's use all 64 bits; times are
//! seconds. Records become plain JS objects through serde-wasm-bindgen.

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use wasm_bindgen::JsValue;

use crate::errors::{Result, internal, invalid};

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

/// An index for JS; past 2^53 a JS number would round it, so that is an error.
pub fn index_out(n: u64) -> Result<f64> {
    if n <= MAX_SAFE {
        Ok(n as f64)
    } else {
        Err(internal(format!(
            "the store's index {n} is above 2^53 - 1, so a JS number cannot hold it exactly"
        )))
    }
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

/// A record as a plain JS object.
pub fn to_js<T: Serialize>(value: &T) -> Result<JsValue> {
    serde_wasm_bindgen::to_value(value)
        .map_err(|e| internal(format!("cannot hand a result to JavaScript: {e}")))
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
