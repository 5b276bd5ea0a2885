//! A lock's names in the store: its queue prefix, the waiter keys under it (and the pool of idle
//! ones a client reuses), the value of a waiter entry, and the queue as listed.

use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use serde_json::{Value, json};

use super::{Lock, LockWaiter};
use crate::backend::{Backend, Order, RangeRead, Read};
use crate::error::{Error, Result};
use crate::model::{Entry, LeaseId};
use crate::state::ClientState;
use crate::validate;

/// `/` separates a lock's queue from its waiters, so it is escaped in names (and `%`, the escape
/// character itself): no lock's queue prefix is then a prefix of another's.
const NAME_ESCAPES: &AsciiSet = &CONTROLS.add(b'%').add(b'/');

/// "pid N on HOST", computed once per process (the pid changes only across fork, and a forked
/// child re-reads it).
#[cfg(not(target_family = "wasm"))]
fn default_owner() -> String {
    static OWNER: std::sync::Mutex<Option<(u32, String)>> = std::sync::Mutex::new(None);
    let pid = std::process::id();
    let mut cached = OWNER.lock().unwrap_or_else(|p| p.into_inner());
    match &*cached {
        Some((p, owner)) if *p == pid => owner.clone(),
        _ => {
            let host = hostname::get()
                .map(|h| h.to_string_lossy().into_owned())
                .unwrap_or_default();
            let owner = format!("pid {pid} on {host}");
            *cached = Some((pid, owner.clone()));
            owner
        }
    }
}

/// A browser or other WebAssembly host has no pid or host name to show.
#[cfg(target_family = "wasm")]
fn default_owner() -> String {
    "a WebAssembly client".to_string()
}

/// The prefix of a lock's queue.
pub(crate) fn queue_prefix(name: &str) -> String {
    format!("@lock/{}/", utf8_percent_encode(name, NAME_ESCAPES))
}

/// The longest lock name, in bytes with `/` and `%` counted as their 3-byte escapes: a waiter
/// key is the queue prefix (`@lock/`, the name, `/`) and 48 more bytes (the client's id and a
/// sequence number), and a key is at most [`validate::MAX_KEY_BYTES`].
pub(crate) const MAX_NAME_BYTES: usize = validate::MAX_KEY_BYTES - "@lock/".len() - 1 - 48;

/// Checks a lock name: a key's shape, and short enough for its waiters' keys.
pub(crate) fn check_name(name: &str) -> Result<()> {
    validate::key_shape(name).map_err(|e| e.prefix("invalid lock name"))?;
    let escaped = utf8_percent_encode(name, NAME_ESCAPES).to_string().len();
    if escaped > MAX_NAME_BYTES {
        let shown: String = name.chars().take(60).collect();
        let counted = if escaped == name.len() {
            format!("{escaped} bytes")
        } else {
            format!("{escaped} bytes with each '/' and '%' counted as 3")
        };
        return Err(Error::invalid(format!(
            "lock name '{shown}…' is too long: it is {counted}; a lock name is at most \
             {MAX_NAME_BYTES} bytes"
        )));
    }
    Ok(())
}

impl Lock {
    pub(super) fn validate(&self) -> Result<()> {
        check_name(&self.inner.name)?;
        validate::ttl(self.inner.options.ttl)
    }

    pub(super) fn owner(&self) -> Value {
        let owner = match &self.inner.options.owner {
            Some(o) => o.clone(),
            None => default_owner(),
        };
        json!({ "owner": owner, "client": self.inner.client.id() })
    }
}

/// The most queue entries one read of [`queue`] asks for: a store may bound its reads (an
/// interlock server returns at most 10000 entries a request), so a long queue is read in pages.
const QUEUE_PAGE: usize = 1000;

/// The holder and waiters of the lock `name`.
pub(crate) async fn queue(client: &ClientState, name: &str) -> Result<Vec<LockWaiter>> {
    check_name(name)?;
    let entries = read_queue(client.backend().as_ref(), &queue_prefix(name), QUEUE_PAGE).await?;
    let leases: Vec<LeaseId> = entries.iter().filter_map(|e| e.lease).collect();
    let ttls = client.backend().time_to_live(&leases).await?;
    let mut ttl_of = leases.into_iter().zip(ttls);
    Ok(entries
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            let ttl_left = e.lease.and_then(|_| ttl_of.next().and_then(|(_, t)| t));
            LockWaiter {
                token: e.index,
                holder: i == 0,
                lease: e.lease,
                owner: e.value,
                key: e.key,
                ttl_left,
            }
        })
        .collect())
}

/// Every entry of the queue under `prefix`, oldest first, read `page` entries at a time, newest
/// first, each page below the oldest index of the one before (index order has no `after`). A
/// waiter that joins meanwhile is not listed (it is newer than the first page); one that leaves
/// meanwhile may be, as of the page that read it.
async fn read_queue(backend: &dyn Backend, prefix: &str, page: usize) -> Result<Vec<Entry>> {
    let mut entries: Vec<Entry> = Vec::new();
    loop {
        let range = RangeRead {
            order: Order::IndexDesc,
            include_reserved: true,
            limit: Some(page),
            below_index: entries.last().map(|e| e.index),
            ..RangeRead::prefix(prefix)
        };
        let mut r = backend.read(vec![Read::Range(range)]).await?;
        let result = r.results.pop().unwrap_or_default();
        let more = result.more && !result.entries.is_empty();
        entries.extend(result.entries);
        if !more {
            break;
        }
    }
    entries.reverse();
    Ok(entries)
}

/// Locks whose idle waiter keys a client keeps for reuse.
const IDLE_LOCKS: usize = 1024;

/// The pool of idle waiter keys. Its keys live in the client's per-process state (`state.rs`),
/// beside the client id they start with, so that a forked child starts with neither.
impl ClientState {
    /// A waiter key in the lock queue under `prefix`: one this client used before and deleted
    /// itself, else a new one.
    ///
    /// Reuse matters on etcd: a deleted key stays in its index until the history is compacted,
    /// and every read of the queue walks those deleted keys too, so a new key per acquire makes
    /// each acquire slower than the one before on a cluster that compacts rarely (or never,
    /// etcd's default). A key comes back only through [`ClientState::waiter_key_done`], after a
    /// delete that is known to have applied, so no removal still in flight can hit its next use.
    ///
    /// A new key is this client's id in this process plus a sequence number, so no other client,
    /// thread, process or host ever makes the same key: a client may delete its own keys
    /// whatever their index without touching anyone else's entry.
    pub(crate) fn waiter_key(&self, prefix: &str) -> String {
        let mut process = self.process();
        if let Some(keys) = process.idle_waiter_keys.get_mut(prefix) {
            let key = keys.pop();
            if keys.is_empty() {
                process.idle_waiter_keys.remove(prefix);
            }
            if let Some(key) = key {
                return key;
            }
        }
        let n = process.waiter_seq;
        process.waiter_seq += 1;
        format!("{prefix}{}{n:x}", process.id)
    }

    /// Returns a waiter key whose entry this client has deleted, with a definite outcome.
    pub(crate) fn waiter_key_done(&self, prefix: &str, key: String) {
        /// Idle keys kept per lock: as many as this client's concurrent waiters usually are.
        const KEEP: usize = 8;
        let mut process = self.process();
        let own = key
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with(&process.id));
        if !own {
            // Made by this client in the process it was forked from.
            return;
        }
        let idle = &mut process.idle_waiter_keys;
        if !idle.contains_key(prefix) && idle.len() >= IDLE_LOCKS {
            // Forget another lock's keys: a service locking per-entity names would otherwise
            // keep every name it ever locked.
            if let Some(other) = idle.keys().next().cloned() {
                idle.remove(&other);
            }
        }
        let keys = idle.entry(prefix.to_string()).or_default();
        if keys.len() < KEEP && !keys.contains(&key) {
            keys.push(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{Op, TxnRequest};
    use crate::mem::MemBackend;

    /// A queue longer than a page is read whole, oldest first, whatever the page size: a store
    /// that bounds its reads (a server, 10000 entries) does not cut the listing short.
    #[tokio::test]
    async fn a_queue_is_read_whole_in_pages_oldest_first() {
        let backend = MemBackend::new("queue-pages", validate::DEFAULT_MAX_VALUE_BYTES);
        let prefix = queue_prefix("q");
        // Keys in the reverse of their index order, and entries of another queue between them.
        let keys: Vec<String> = (0..7).rev().map(|i| format!("{prefix}w{i}")).collect();
        for key in &keys {
            for k in [key.clone(), format!("{}w{key}", queue_prefix("other"))] {
                let ops = vec![Op::Put {
                    key: k,
                    value: json!({ "owner": "test" }),
                    lease: None,
                }];
                backend
                    .commit(TxnRequest {
                        compares: vec![],
                        ops,
                        reads: vec![],
                    })
                    .await
                    .unwrap();
            }
        }
        for page in [1, 2, 3, 7, 1000] {
            let read = read_queue(&backend, &prefix, page).await.unwrap();
            let listed: Vec<&str> = read.iter().map(|e| e.key.as_str()).collect();
            assert_eq!(listed, keys, "page of {page}");
            assert!(read.windows(2).all(|w| w[0].index < w[1].index));
        }
    }
}
