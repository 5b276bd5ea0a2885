//! The records the native calls resolve to, as napi objects: `interlock_js`'s records (values as
//! JSON text, indexes as numbers, lease ids as decimal text), field for field.

use napi_derive::napi;

/// `From` the shared record of the same name, whose fields are these, field for field.
macro_rules! from_shared {
    ($record:ident, $($field:ident),*) => {
        impl From<interlock_js::$record> for $record {
            fn from(r: interlock_js::$record) -> Self {
                $record { $($field: r.$field),* }
            }
        }
    };
}

from_shared!(Entry, key, value, index, lease);
from_shared!(PutResult, successful, index, value);
from_shared!(LockWaiter, key, owner, token, holder, lease, ttl_left);

/// A stored key, its value as JSON text.
#[napi(object)]
pub struct Entry {
    pub key: String,
    pub value: String,
    pub index: f64,
    pub lease: Option<String>,
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
