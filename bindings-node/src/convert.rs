//! The records the native calls resolve to, as napi objects: `interlock_js`'s records (values as
//! JSON text, indexes as numbers, lease ids as decimal text), field for field.

use napi_derive::napi;

/// A stored key, its value as JSON text.
#[napi(object)]
pub struct Entry {
    pub key: String,
    pub value: String,
    pub index: f64,
    pub lease: Option<String>,
}

impl From<interlock_js::Entry> for Entry {
    fn from(e: interlock_js::Entry) -> Self {
        let interlock_js::Entry {
            key,
            value,
            index,
            lease,
        } = e;
        Entry {
            key,
            value,
            index,
            lease,
        }
    }
}

/// Every record of a list.
pub fn all<T, U: From<T>>(records: Vec<T>) -> Vec<U> {
    records.into_iter().map(U::from).collect()
}

/// The outcome of `put` and `delete`, the value as JSON text (absent: `null`).
#[napi(object)]
pub struct PutResult {
    pub successful: bool,
    pub index: f64,
    pub value: Option<String>,
}

impl From<interlock_js::PutResult> for PutResult {
    fn from(r: interlock_js::PutResult) -> Self {
        let interlock_js::PutResult {
            successful,
            index,
            value,
        } = r;
        PutResult {
            successful,
            index,
            value,
        }
    }
}

/// One page of `list`.
#[napi(object)]
pub struct Page {
    pub entries: Vec<Entry>,
    pub more: bool,
}

impl From<interlock_js::Page> for Page {
    fn from(p: interlock_js::Page) -> Self {
        Page {
            entries: all(p.entries),
            more: p.more,
        }
    }
}

/// A watch event, the value as JSON text.
#[napi(object)]
pub struct Event {
    /// `put` or `delete`.
    pub r#type: String,
    pub key: String,
    pub value: Option<String>,
    pub index: f64,
}

impl From<interlock_js::Event> for Event {
    fn from(e: interlock_js::Event) -> Self {
        Event {
            r#type: e.r#type.to_string(),
            key: e.key,
            value: e.value,
            index: e.index,
        }
    }
}

/// The holder or a waiter of a lock, the owner as JSON text.
#[napi(object)]
pub struct LockWaiter {
    pub key: String,
    pub owner: String,
    pub token: f64,
    pub holder: bool,
    pub lease: Option<String>,
    pub ttl_left: Option<f64>,
}

impl From<interlock_js::LockWaiter> for LockWaiter {
    fn from(w: interlock_js::LockWaiter) -> Self {
        let interlock_js::LockWaiter {
            key,
            owner,
            token,
            holder,
            lease,
            ttl_left,
        } = w;
        LockWaiter {
            key,
            owner,
            token,
            holder,
            lease,
            ttl_left,
        }
    }
}
