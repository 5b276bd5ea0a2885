//! The in-process store (`mem://`): the same semantics as every other backend, held in one
//! mutex. It serves tests, demos and browsers, and is the reference the others are checked
//! against.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::ops::Bound;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use tokio::sync::watch;

use crate::backend::{
    Backend, EventStream, LeaseGrant, Limits, Mismatch, Op, Order, RangeRead, Read, ReadResponse,
    ReadResult, TxnRequest, TxnResponse,
};
use crate::clock;
use crate::error::{Error, ErrorKind, Result};
use crate::eventlog::{EventLog, LogBatch, watch_log};
use crate::model::{Entry, Event, EventKind, LeaseId};
use crate::validate;

/// How many events the log keeps for resuming watches.
const LOG_RETAIN: usize = 100_000;

/// An in-process store. Cloning shares the store.
#[derive(Clone)]
pub struct MemBackend {
    shared: Arc<Shared>,
    name: String,
}

struct Shared {
    state: Mutex<MemState>,
    changes: watch::Sender<u64>,
    wake: Condvar,
    limits: Limits,
    /// Whether the reaper task is running (WebAssembly: it runs only while leases exist, so that
    /// an idle store keeps no timer, and so no Node process, alive).
    #[cfg(target_family = "wasm")]
    reaping: std::sync::atomic::AtomicBool,
}

#[derive(Default)]
struct MemState {
    index: u64,
    kv: BTreeMap<String, Stored>,
    leases: HashMap<LeaseId, MemLease>,
    next_lease: LeaseId,
    log: VecDeque<Event>,
    oldest: u64,
}

struct Stored {
    value: Value,
    index: u64,
    lease: Option<LeaseId>,
}

struct MemLease {
    ttl: Duration,
    expires: Duration,
    keys: BTreeSet<String>,
}

impl MemBackend {
    /// A new, empty store.
    pub fn new(name: &str, max_value_bytes: usize) -> Self {
        let shared = Arc::new(Shared {
            state: Mutex::new(MemState {
                oldest: 1,
                next_lease: 1,
                ..MemState::default()
            }),
            changes: watch::channel(0).0,
            wake: Condvar::new(),
            limits: Limits { max_value_bytes },
            #[cfg(target_family = "wasm")]
            reaping: std::sync::atomic::AtomicBool::new(false),
        });
        let weak = Arc::downgrade(&shared);
        #[cfg(not(target_family = "wasm"))]
        std::thread::Builder::new()
            .name("interlock-mem-reaper".into())
            .spawn(move || reaper(weak))
            .expect("spawn the lease reaper thread");
        #[cfg(target_family = "wasm")]
        drop(weak);
        MemBackend {
            shared,
            name: name.to_string(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, MemState> {
        lock_state(&self.shared)
    }

    fn notify(&self) {
        self.shared.changes.send_modify(|g| *g = g.wrapping_add(1));
        self.shared.wake.notify_all();
    }
}

fn lock_state(shared: &Shared) -> MutexGuard<'_, MemState> {
    // A panic while holding the lock leaves a consistent state: every mutation below completes
    // or returns before touching the maps.
    shared.state.lock().unwrap_or_else(|p| p.into_inner())
}

/// Deletes the entries of expired leases at their own index, so that waiters and watchers see
/// the expiry even when nobody else writes.
#[cfg(not(target_family = "wasm"))]
fn reaper(weak: Weak<Shared>) {
    loop {
        let Some(shared) = weak.upgrade() else { return };
        let (st, wait) = reap_now(&shared);
        let (st, _) = shared
            .wake
            .wait_timeout(st, wait)
            .unwrap_or_else(|p| p.into_inner());
        drop(st);
    }
}

/// The reaper in WebAssembly: a task on the JavaScript event loop (there are no threads),
/// started by the first lease and ending with the last.
#[cfg(target_family = "wasm")]
async fn reaper(weak: Weak<Shared>) {
    use std::sync::atomic::Ordering;
    loop {
        let wait = {
            let Some(shared) = weak.upgrade() else { return };
            let (st, wait) = reap_now(&shared);
            if st.leases.is_empty() {
                shared.reaping.store(false, Ordering::SeqCst);
                return;
            }
            wait
        };
        crate::rt::sleep(wait).await;
    }
}

/// Reaps the expired leases; how long until the next check is due (at most a second).
fn reap_now(shared: &Shared) -> (MutexGuard<'_, MemState>, Duration) {
    let mut st = lock_state(shared);
    if st.reap(clock::now()) {
        shared.changes.send_modify(|g| *g = g.wrapping_add(1));
    }
    let wait = st
        .leases
        .values()
        .map(|l| l.expires)
        .min()
        .map(|e| e.saturating_sub(clock::now()))
        .unwrap_or(Duration::from_secs(1))
        .min(Duration::from_secs(1))
        .max(Duration::from_millis(1));
    (st, wait)
}

impl MemState {
    fn reap(&mut self, now: Duration) -> bool {
        let mut expired: Vec<LeaseId> = self
            .leases
            .iter()
            .filter(|(_, l)| l.expires <= now)
            .map(|(id, _)| *id)
            .collect();
        if expired.is_empty() {
            return false;
        }
        expired.sort_unstable();
        self.drop_leases(&expired)
    }

    /// Removes leases and deletes their entries, at one new index if any entry existed.
    /// Returns whether an entry was deleted.
    fn drop_leases(&mut self, ids: &[LeaseId]) -> bool {
        let index = self.index + 1;
        let mut wrote = false;
        for id in ids {
            let Some(lease) = self.leases.remove(id) else {
                continue;
            };
            for key in lease.keys {
                if self.kv.remove(&key).is_some() {
                    self.push(Event {
                        kind: EventKind::Delete,
                        key,
                        value: None,
                        index,
                    });
                    wrote = true;
                }
            }
        }
        if wrote {
            self.index = index;
        }
        wrote
    }

    fn push(&mut self, event: Event) {
        self.log.push_back(event);
        while self.log.len() > LOG_RETAIN {
            if let Some(e) = self.log.pop_front() {
                self.oldest = e.index + 1;
            }
        }
    }

    fn entry(&self, key: &str) -> Option<Entry> {
        self.kv.get(key).map(|s| Entry {
            key: key.to_string(),
            value: s.value.clone(),
            index: s.index,
            lease: s.lease,
        })
    }

    fn read(&self, read: &Read) -> ReadResult {
        match read {
            Read::Keys(keys) => ReadResult {
                entries: keys.iter().filter_map(|k| self.entry(k)).collect(),
                more: false,
            },
            Read::Range(range) => self.range(range),
        }
    }

    fn range(&self, range: &RangeRead) -> ReadResult {
        let start = match &range.after {
            Some(a) if a.as_str() >= range.prefix.as_str() => Bound::Excluded(a.clone()),
            _ => Bound::Included(range.prefix.clone()),
        };
        let end = match validate::prefix_end(&range.prefix) {
            Some(e) => Bound::Excluded(e),
            None => Bound::Unbounded,
        };
        if let (Bound::Excluded(s) | Bound::Included(s), Bound::Excluded(e)) = (&start, &end) {
            if s >= e {
                return ReadResult::default();
            }
        }
        let matching = self
            .kv
            .range((start, end))
            .filter(|(k, s)| range.matches(k, s.index))
            .map(|(k, s)| Entry {
                key: k.clone(),
                value: s.value.clone(),
                index: s.index,
                lease: s.lease,
            });
        let limit = range.limit.unwrap_or(usize::MAX);
        match range.order {
            Order::Key => {
                let mut entries: Vec<Entry> = matching.take(limit.saturating_add(1)).collect();
                let more = entries.len() > limit;
                entries.truncate(limit);
                ReadResult { entries, more }
            }
            Order::IndexAsc | Order::IndexDesc => {
                let mut entries: Vec<Entry> = matching.collect();
                entries.sort_by_key(|e| e.index);
                if range.order == Order::IndexDesc {
                    entries.reverse();
                }
                let more = entries.len() > limit;
                entries.truncate(limit);
                ReadResult { entries, more }
            }
        }
    }
}

#[async_trait]
impl Backend for MemBackend {
    fn describe(&self) -> String {
        format!("mem://{}", self.name)
    }

    fn limits(&self) -> Limits {
        self.shared.limits
    }

    async fn read(&self, reads: Vec<Read>) -> Result<ReadResponse> {
        let mut st = self.lock();
        let reaped = st.reap(clock::now());
        let response = ReadResponse {
            index: st.index,
            results: reads.iter().map(|r| st.read(r)).collect(),
        };
        drop(st);
        if reaped {
            self.notify();
        }
        Ok(response)
    }

    async fn commit(&self, txn: TxnRequest) -> Result<TxnResponse> {
        let mut st = self.lock();
        let reaped = st.reap(clock::now());
        let failed: Vec<Mismatch> = txn
            .compares
            .iter()
            .filter_map(|c| {
                let current = st.kv.get(&c.key);
                let actual = current.map_or(0, |s| s.index);
                (actual != c.index).then(|| Mismatch {
                    key: c.key.clone(),
                    expected: c.index,
                    actual,
                    value: current.map(|s| s.value.clone()),
                })
            })
            .collect();
        if !failed.is_empty() {
            let response = TxnResponse {
                succeeded: false,
                index: st.index,
                changed: false,
                applied: vec![false; txn.ops.len()],
                failed,
                reads: txn.reads.iter().map(|r| st.read(r)).collect(),
            };
            drop(st);
            if reaped {
                self.notify();
            }
            return Ok(response);
        }
        for op in &txn.ops {
            if let Op::Put {
                key,
                lease: Some(lease),
                ..
            } = op
            {
                if !st.leases.contains_key(lease) {
                    drop(st);
                    if reaped {
                        self.notify();
                    }
                    return Err(unknown_lease(*lease).prefix(format!("writing '{key}'")));
                }
            }
        }
        let index = st.index + 1;
        let mut applied = Vec::with_capacity(txn.ops.len());
        for op in txn.ops {
            match op {
                Op::Put { key, value, lease } => {
                    if let Some(old) = st.kv.get(&key).and_then(|s| s.lease) {
                        if Some(old) != lease {
                            if let Some(l) = st.leases.get_mut(&old) {
                                l.keys.remove(&key);
                            }
                        }
                    }
                    if let Some(l) = lease.and_then(|id| st.leases.get_mut(&id)) {
                        l.keys.insert(key.clone());
                    }
                    st.kv.insert(
                        key.clone(),
                        Stored {
                            value: value.clone(),
                            index,
                            lease,
                        },
                    );
                    st.push(Event {
                        kind: EventKind::Put,
                        key,
                        value: Some(value),
                        index,
                    });
                    applied.push(true);
                }
                Op::Delete { key } => match st.kv.remove(&key) {
                    Some(old) => {
                        if let Some(l) = old.lease.and_then(|id| st.leases.get_mut(&id)) {
                            l.keys.remove(&key);
                        }
                        st.push(Event {
                            kind: EventKind::Delete,
                            key,
                            value: None,
                            index,
                        });
                        applied.push(true);
                    }
                    None => applied.push(false),
                },
            }
        }
        let changed = applied.iter().any(|a| *a);
        if changed {
            st.index = index;
        }
        let response = TxnResponse {
            succeeded: true,
            index: st.index,
            changed,
            applied,
            failed: Vec::new(),
            reads: txn.reads.iter().map(|r| st.read(r)).collect(),
        };
        drop(st);
        if changed || reaped {
            self.notify();
        }
        Ok(response)
    }

    async fn grant(&self, ttl: Duration) -> Result<LeaseGrant> {
        let mut st = self.lock();
        let id = st.next_lease;
        st.next_lease += 1;
        st.leases.insert(
            id,
            MemLease {
                ttl,
                expires: clock::now() + ttl,
                keys: BTreeSet::new(),
            },
        );
        drop(st);
        self.shared.wake.notify_all();
        #[cfg(target_family = "wasm")]
        if !self
            .shared
            .reaping
            .swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            crate::rt::spawn(reaper(Arc::downgrade(&self.shared)));
        }
        Ok(LeaseGrant { id, ttl })
    }

    async fn keepalive(&self, lease: LeaseId) -> Result<Duration> {
        let now = clock::now();
        let mut st = self.lock();
        let reaped = st.reap(now);
        let result = match st.leases.get_mut(&lease) {
            Some(l) => {
                l.expires = now + l.ttl;
                Ok(l.ttl)
            }
            None => Err(unknown_lease(lease)),
        };
        drop(st);
        if reaped {
            self.notify();
        }
        result
    }

    async fn revoke(&self, lease: LeaseId) -> Result<bool> {
        let mut st = self.lock();
        let reaped = st.reap(clock::now());
        let known = st.leases.contains_key(&lease);
        let wrote = st.drop_leases(&[lease]);
        drop(st);
        if wrote || reaped {
            self.notify();
        }
        Ok(known)
    }

    async fn time_to_live(&self, leases: &[LeaseId]) -> Result<Vec<Option<Duration>>> {
        let now = clock::now();
        let st = self.lock();
        Ok(leases
            .iter()
            .map(|id| {
                st.leases
                    .get(id)
                    .filter(|l| l.expires > now)
                    .map(|l| l.expires - now)
            })
            .collect())
    }

    async fn watch(&self, range: RangeRead, from: Option<u64>) -> Result<EventStream> {
        watch_log(Arc::new(self.clone()), range, from).await
    }
}

#[async_trait]
impl EventLog for MemBackend {
    fn changes(&self) -> watch::Receiver<u64> {
        self.shared.changes.subscribe()
    }

    async fn head(&self) -> Result<u64> {
        Ok(self.lock().index)
    }

    async fn events_since(&self, from: u64, limit: usize) -> Result<LogBatch> {
        let st = self.lock();
        let start = st.log.partition_point(|e| e.index < from);
        let mut events: Vec<Event> = st.log.iter().skip(start).take(limit).cloned().collect();
        if let Some(last) = events.last().map(|e| e.index) {
            // Never split the events of one commit across batches.
            let more = st
                .log
                .iter()
                .skip(start + events.len())
                .take_while(|e| e.index == last)
                .cloned()
                .collect::<Vec<_>>();
            events.extend(more);
        }
        Ok(LogBatch {
            events,
            oldest: st.oldest,
        })
    }
}

pub(crate) fn unknown_lease(lease: LeaseId) -> Error {
    Error::new(
        ErrorKind::LeaseExpired,
        format!("lease {lease} is unknown or has expired"),
    )
}
