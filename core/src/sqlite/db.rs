//! The SQL side of the embedded store: schema, one write transaction type that allocates the
//! store-wide index, appends to the event log and expires leases, and the read queries. Every
//! function here is blocking and runs on a connection owned by the caller.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rusqlite::{
    Connection, OpenFlags, OptionalExtension, Transaction, TransactionBehavior, params,
};
use serde_json::Value;

use crate::backend::{
    Compare, LeaseGrant, Mismatch, Op, Order, RangeRead, Read, ReadResponse, ReadResult,
    TxnRequest, TxnResponse,
};
use crate::clock;
use crate::error::{Error, ErrorKind, Result};
use crate::eventlog::LogBatch;
use crate::mem::unknown_lease;
use crate::model::{Entry, Event, EventKind, LeaseId};

/// Events kept for resuming watches, counted in indexes.
#[cfg(not(test))]
const EVENTS_RETAIN: u64 = 100_000;
#[cfg(test)]
const EVENTS_RETAIN: u64 = 100;
/// How long a write waits for another process's write transaction before giving up.
const BUSY_LIMIT: Duration = Duration::from_secs(30);

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta(
    id INTEGER PRIMARY KEY CHECK (id = 1),
    oldest INTEGER NOT NULL,
    boot_id TEXT NOT NULL,
    version INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS kv(
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    idx INTEGER NOT NULL,
    lease INTEGER
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS kv_lease ON kv(lease) WHERE lease IS NOT NULL;
CREATE TABLE IF NOT EXISTS leases(
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ttl_ms INTEGER NOT NULL,
    expires_ns INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS leases_expiry ON leases(expires_ns);
CREATE TABLE IF NOT EXISTS events(
    idx INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    key TEXT NOT NULL,
    kind INTEGER NOT NULL,
    value TEXT,
    PRIMARY KEY (idx, seq)
) WITHOUT ROWID;
";

/// Maps SQLite failures to error kinds, once.
pub(crate) fn sql_err(e: rusqlite::Error) -> Error {
    use rusqlite::ErrorCode as C;
    let kind = match e.sqlite_error_code() {
        Some(C::DatabaseBusy | C::DatabaseLocked) => ErrorKind::Unavailable,
        Some(C::CannotOpen | C::SystemIoFailure | C::DiskFull | C::PermissionDenied) => {
            ErrorKind::Unavailable
        }
        Some(C::ReadOnly) => ErrorKind::Unavailable,
        _ => ErrorKind::Internal,
    };
    Error::new(kind, format!("sqlite: {e}")).with_source(e)
}

fn now_ns() -> i64 {
    clock::now().as_nanos() as i64
}

/// True when `e` is SQLite reporting that another connection holds the write lock.
pub(crate) fn is_busy(e: &Error) -> bool {
    std::error::Error::source(e)
        .and_then(|s| s.downcast_ref::<rusqlite::Error>())
        .and_then(rusqlite::Error::sqlite_error_code)
        == Some(rusqlite::ErrorCode::DatabaseBusy)
}

/// Opens a connection with the store's settings: WAL, the chosen `synchronous`, a short-sleep
/// busy handler (SQLite's default sleeps up to 100 ms between tries). While `patient` is false
/// the handler gives up at once, so that a caller can try a write without waiting.
pub(crate) fn open(path: &Path, durable: bool, patient: Arc<AtomicBool>) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut conn = Connection::open_with_flags(path, flags)
        .map_err(|e| sql_err(e).prefix(format!("cannot open the store at {}", path.display())))?;
    let mut started = Instant::now();
    conn.busy_handler(Some(move |count: i32| {
        if !patient.load(Ordering::Relaxed) {
            return false;
        }
        if count == 0 {
            started = Instant::now();
        }
        if started.elapsed() > BUSY_LIMIT {
            return false;
        }
        let micros = 20u64 << count.clamp(0, 6);
        std::thread::sleep(Duration::from_micros(micros.min(1000)));
        true
    }))
    .map_err(sql_err)?;
    // Switching a new file to WAL needs an exclusive lock, and SQLite reports SQLITE_BUSY for it
    // without consulting the busy handler, so processes that create a store at the same moment
    // retry here.
    let mode: String = {
        let started = Instant::now();
        let mut pause = Duration::from_micros(200);
        loop {
            match conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0)) {
                Ok(mode) => break mode,
                Err(rusqlite::Error::SqliteFailure(e, _))
                    if matches!(
                        e.code,
                        rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                    ) && started.elapsed() < BUSY_LIMIT =>
                {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(10));
                }
                Err(e) => return Err(sql_err(e)),
            }
        }
    };
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(Error::unavailable(format!(
            "the store at {} cannot use WAL mode (got '{mode}'); it must be on a local filesystem",
            path.display()
        )));
    }
    conn.pragma_update(None, "synchronous", if durable { "FULL" } else { "NORMAL" })
        .map_err(sql_err)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

/// Creates the schema if needed and expires every lease if the host rebooted since the last
/// process used the store. Returns true if anything was written.
pub(crate) fn init(conn: &mut Connection) -> Result<bool> {
    let boot = clock::boot_id();
    {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql_err)?;
        tx.execute_batch(SCHEMA).map_err(sql_err)?;
        tx.execute(
            "INSERT OR IGNORE INTO meta(id, oldest, boot_id, version) VALUES (1, 1, ?1, 1)",
            params![boot],
        )
        .map_err(sql_err)?;
        tx.commit().map_err(sql_err)?;
    }
    let mut w = Writer::begin(conn)?;
    let stored_boot: String =
        w.tx.query_row("SELECT boot_id FROM meta WHERE id = 1", [], |r| r.get(0))
            .map_err(sql_err)?;
    // A lease renewed "in the future" means the monotonic clock restarted: the host rebooted.
    let clock_restarted =
        w.tx.prepare("SELECT 1 FROM leases WHERE expires_ns - ttl_ms * 1000000 > ?1 LIMIT 1")
            .and_then(|mut s| s.exists(params![now_ns()]))
            .map_err(sql_err)?;
    if stored_boot != boot || clock_restarted {
        let ids: Vec<LeaseId> = {
            let mut st =
                w.tx.prepare("SELECT id FROM leases ORDER BY id")
                    .map_err(sql_err)?;
            st.query_map([], |r| r.get(0))
                .map_err(sql_err)?
                .collect::<Result<_, _>>()
                .map_err(sql_err)?
        };
        w.drop_leases(&ids)?;
        w.tx.execute("UPDATE meta SET boot_id = ?1 WHERE id = 1", params![boot])
            .map_err(sql_err)?;
    }
    Ok(w.done()?.is_some())
}

/// One write transaction (`BEGIN IMMEDIATE`). Commits that change something get the next index;
/// expired leases are deleted first, at their own index.
pub(crate) struct Writer<'c> {
    tx: Transaction<'c>,
    index: u64,
    pending: Option<u64>,
    seq: i64,
    changed: bool,
}

impl<'c> Writer<'c> {
    pub fn begin(conn: &'c mut Connection) -> Result<Self> {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql_err)?;
        let index = head(&tx)?;
        Ok(Writer {
            tx,
            index,
            pending: None,
            seq: 0,
            changed: false,
        })
    }

    fn next_index(&mut self) -> u64 {
        *self.pending.get_or_insert_with(|| {
            self.seq = 0;
            self.index + 1
        })
    }

    fn seal_index(&mut self, wrote: bool) {
        if let Some(p) = self.pending.take() {
            if wrote {
                self.index = p;
                self.changed = true;
            }
        }
    }

    fn event(&mut self, kind: EventKind, key: &str, value: Option<&str>) -> Result<()> {
        let index = self.next_index();
        self.seq += 1;
        let kind = match kind {
            EventKind::Put => 0,
            EventKind::Delete => 1,
        };
        self.tx
            .prepare_cached(
                "INSERT INTO events(idx, seq, key, kind, value) VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .and_then(|mut s| s.execute(params![index as i64, self.seq, key, kind, value]))
            .map_err(sql_err)?;
        Ok(())
    }

    /// Deletes the entries of every expired lease.
    pub fn reap(&mut self, now: i64) -> Result<()> {
        let ids: Vec<LeaseId> = {
            let mut st = self
                .tx
                .prepare_cached("SELECT id FROM leases WHERE expires_ns <= ?1 ORDER BY id")
                .map_err(sql_err)?;
            st.query_map(params![now], |r| r.get(0))
                .map_err(sql_err)?
                .collect::<Result<_, _>>()
                .map_err(sql_err)?
        };
        self.drop_leases(&ids)
    }

    fn drop_leases(&mut self, ids: &[LeaseId]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        self.next_index();
        let mut wrote = false;
        for id in ids {
            let keys: Vec<String> = {
                let mut st = self
                    .tx
                    .prepare_cached("SELECT key FROM kv WHERE lease = ?1 ORDER BY key")
                    .map_err(sql_err)?;
                st.query_map(params![id], |r| r.get(0))
                    .map_err(sql_err)?
                    .collect::<Result<_, _>>()
                    .map_err(sql_err)?
            };
            for key in keys {
                self.tx
                    .prepare_cached("DELETE FROM kv WHERE key = ?1")
                    .and_then(|mut s| s.execute(params![key]))
                    .map_err(sql_err)?;
                self.event(EventKind::Delete, &key, None)?;
                wrote = true;
            }
            self.tx
                .prepare_cached("DELETE FROM leases WHERE id = ?1")
                .and_then(|mut s| s.execute(params![id]))
                .map_err(sql_err)?;
        }
        // Removing a lease with no entries changes no key, but it is still a write of the
        // store's state; give it an index only if it deleted entries.
        self.seal_index(wrote);
        self.changed |= !ids.is_empty();
        Ok(())
    }

    /// Commits; returns the new index if anything was written (to signal watchers with).
    pub fn done(self) -> Result<Option<u64>> {
        let (index, changed) = self.commit()?;
        Ok(changed.then_some(index))
    }

    /// Commits; returns the store index after the commit and whether anything was written.
    pub fn commit(self) -> Result<(u64, bool)> {
        // Now and then, drop events older than the retained history.
        if self.changed && self.index % 1024 == 0 && self.index > EVENTS_RETAIN {
            let oldest = self.index - EVENTS_RETAIN;
            self.tx
                .execute("DELETE FROM events WHERE idx < ?1", params![oldest as i64])
                .map_err(sql_err)?;
            self.tx
                .execute(
                    "UPDATE meta SET oldest = ?1 WHERE id = 1",
                    params![oldest as i64],
                )
                .map_err(sql_err)?;
        }
        let (index, changed) = (self.index, self.changed);
        self.tx.commit().map_err(sql_err)?;
        Ok((index, changed))
    }

    fn lease_exists(&self, id: LeaseId) -> Result<bool> {
        self.tx
            .prepare_cached("SELECT 1 FROM leases WHERE id = ?1")
            .and_then(|mut s| s.exists(params![id]))
            .map_err(sql_err)
    }
}

fn get_row(conn: &Connection, key: &str) -> Result<Option<(u64, String, Option<LeaseId>)>> {
    conn.prepare_cached("SELECT idx, value, lease FROM kv WHERE key = ?1")
        .and_then(|mut s| {
            s.query_row(params![key], |r| {
                Ok((r.get::<_, i64>(0)? as u64, r.get(1)?, r.get(2)?))
            })
            .optional()
        })
        .map_err(sql_err)
}

fn parse(key: &str, text: &str) -> Result<Value> {
    serde_json::from_str(text).map_err(|e| {
        Error::internal(format!("stored value of '{key}' is not valid JSON: {e}")).with_source(e)
    })
}

/// Runs a transaction (see [`TxnRequest`]).
pub(crate) fn commit(
    conn: &mut Connection,
    req: &TxnRequest,
) -> Result<(TxnResponse, Option<u64>)> {
    let mut w = Writer::begin(conn)?;
    w.reap(now_ns())?;
    let mut failed = Vec::new();
    for Compare { key, index } in &req.compares {
        let row = get_row(&w.tx, key)?;
        let actual = row.as_ref().map_or(0, |r| r.0);
        if actual != *index {
            failed.push(Mismatch {
                key: key.clone(),
                expected: *index,
                actual,
                value: row.map(|r| parse(key, &r.1)).transpose()?,
            });
        }
    }
    if !failed.is_empty() {
        let reads = run_reads(&w.tx, &req.reads)?;
        let (index, changed) = w.commit()?;
        let response = TxnResponse {
            succeeded: false,
            index,
            changed: false,
            applied: vec![false; req.ops.len()],
            failed,
            reads,
        };
        return Ok((response, changed.then_some(index)));
    }
    for op in &req.ops {
        if let Op::Put {
            key,
            lease: Some(lease),
            ..
        } = op
        {
            if !w.lease_exists(*lease)? {
                let err = unknown_lease(*lease).prefix(format!("writing '{key}'"));
                // Keep the expiry of other leases that this transaction already performed.
                w.commit()?;
                return Err(err);
            }
        }
    }
    let index = w.next_index();
    let mut applied = Vec::with_capacity(req.ops.len());
    for op in &req.ops {
        match op {
            Op::Put { key, value, lease } => {
                let text = serde_json::to_string(value)?;
                w.tx.prepare_cached(
                    "INSERT INTO kv(key, value, idx, lease) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT(key) DO UPDATE SET value = excluded.value, idx = excluded.idx,
                     lease = excluded.lease",
                )
                .and_then(|mut s| s.execute(params![key, text, index as i64, lease]))
                .map_err(sql_err)?;
                w.event(EventKind::Put, key, Some(&text))?;
                applied.push(true);
            }
            Op::Delete { key } => {
                let n =
                    w.tx.prepare_cached("DELETE FROM kv WHERE key = ?1")
                        .and_then(|mut s| s.execute(params![key]))
                        .map_err(sql_err)?;
                if n > 0 {
                    w.event(EventKind::Delete, key, None)?;
                }
                applied.push(n > 0);
            }
        }
    }
    let wrote = applied.iter().any(|a| *a);
    w.seal_index(wrote);
    let reads = run_reads(&w.tx, &req.reads)?;
    let (index, changed) = w.commit()?;
    let response = TxnResponse {
        succeeded: true,
        index,
        changed: wrote,
        applied,
        failed: Vec::new(),
        reads,
    };
    Ok((response, changed.then_some(index)))
}

/// The outcome of a read transaction: either the reads, or the news that some lease has
/// expired and must be reaped (by a writer) before the read can be answered consistently.
pub(crate) enum ReadOutcome {
    Done(ReadResponse),
    NeedsReap,
}

pub(crate) fn read(conn: &mut Connection, reads: &[Read]) -> Result<ReadOutcome> {
    let tx = conn.transaction().map_err(sql_err)?;
    let expired = tx
        .prepare_cached("SELECT 1 FROM leases WHERE expires_ns <= ?1 LIMIT 1")
        .and_then(|mut s| s.exists(params![now_ns()]))
        .map_err(sql_err)?;
    if expired {
        return Ok(ReadOutcome::NeedsReap);
    }
    let index = head(&tx)?;
    let results = run_reads(&tx, reads)?;
    tx.commit().map_err(sql_err)?;
    Ok(ReadOutcome::Done(ReadResponse { index, results }))
}

/// Deletes expired leases' entries; returns whether anything was written.
pub(crate) fn reap(conn: &mut Connection) -> Result<((), Option<u64>)> {
    let mut w = Writer::begin(conn)?;
    w.reap(now_ns())?;
    Ok(((), w.done()?))
}

fn run_reads(conn: &Connection, reads: &[Read]) -> Result<Vec<ReadResult>> {
    reads.iter().map(|r| run_read(conn, r)).collect()
}

fn run_read(conn: &Connection, read: &Read) -> Result<ReadResult> {
    match read {
        Read::Keys(keys) => {
            let mut entries = Vec::with_capacity(keys.len());
            for key in keys {
                if let Some((index, text, lease)) = get_row(conn, key)? {
                    entries.push(Entry {
                        key: key.clone(),
                        value: parse(key, &text)?,
                        index,
                        lease,
                    });
                }
            }
            Ok(ReadResult {
                entries,
                more: false,
            })
        }
        Read::Range(range) => run_range(conn, range),
    }
}

fn run_range(conn: &Connection, range: &RangeRead) -> Result<ReadResult> {
    let mut sql = String::from("SELECT key, value, idx, lease FROM kv WHERE key >= ?1");
    let end = crate::validate::prefix_end(&range.prefix);
    if end.is_some() {
        sql.push_str(" AND key < ?2");
    }
    if range.after.is_some() {
        sql.push_str(" AND key > ?3");
    }
    if range.below_index.is_some() {
        sql.push_str(" AND idx < ?4");
    }
    if range.prefix.is_empty() && !range.include_reserved {
        sql.push_str(" AND substr(key, 1, 1) <> '@'");
    }
    sql.push_str(match range.order {
        Order::Key => " ORDER BY key",
        Order::IndexAsc => " ORDER BY idx",
        Order::IndexDesc => " ORDER BY idx DESC",
    });
    // The limit is part of the SQL text: a bound LIMIT parameter makes SQLite re-prepare the
    // statement at every step.
    let limit = range
        .limit
        .map_or(-1, |l| l.saturating_add(1).min(i64::MAX as usize) as i64);
    sql.push_str(&format!(" LIMIT {limit}"));
    let mut st = conn.prepare_cached(&sql).map_err(sql_err)?;
    let mut bind = |i: usize, v: &dyn rusqlite::ToSql| st.raw_bind_parameter(i, v);
    bind(1, &range.prefix).map_err(sql_err)?;
    if let Some(e) = &end {
        bind(2, e).map_err(sql_err)?;
    }
    if let Some(a) = &range.after {
        bind(3, a).map_err(sql_err)?;
    }
    if let Some(b) = range.below_index {
        bind(4, &(b.min(i64::MAX as u64) as i64)).map_err(sql_err)?;
    }
    let mut rows = st.raw_query();
    let mut entries = Vec::new();
    while let Some(row) = rows.next().map_err(sql_err)? {
        let key: String = row.get(0).map_err(sql_err)?;
        let text: String = row.get(1).map_err(sql_err)?;
        entries.push(Entry {
            value: parse(&key, &text)?,
            key,
            index: row.get::<_, i64>(2).map_err(sql_err)? as u64,
            lease: row.get(3).map_err(sql_err)?,
        });
    }
    let more = range.limit.is_some_and(|l| entries.len() > l);
    if let Some(l) = range.limit {
        entries.truncate(l);
    }
    Ok(ReadResult { entries, more })
}

pub(crate) fn grant(conn: &mut Connection, ttl: Duration) -> Result<(LeaseGrant, Option<u64>)> {
    let mut w = Writer::begin(conn)?;
    let now = now_ns();
    w.reap(now)?;
    w.tx.prepare_cached("INSERT INTO leases(ttl_ms, expires_ns) VALUES (?1, ?2)")
        .and_then(|mut s| {
            s.execute(params![
                ttl.as_millis() as i64,
                now.saturating_add(ttl.as_nanos() as i64)
            ])
        })
        .map_err(sql_err)?;
    let id = w.tx.last_insert_rowid();
    Ok((LeaseGrant { id, ttl }, w.done()?))
}

pub(crate) fn keepalive(
    conn: &mut Connection,
    id: LeaseId,
) -> Result<(Result<Duration>, Option<u64>)> {
    let mut w = Writer::begin(conn)?;
    let now = now_ns();
    w.reap(now)?;
    let ttl_ms: Option<i64> =
        w.tx.prepare_cached("SELECT ttl_ms FROM leases WHERE id = ?1")
            .and_then(|mut s| s.query_row(params![id], |r| r.get(0)).optional())
            .map_err(sql_err)?;
    let result = match ttl_ms {
        Some(ms) => {
            let ttl = Duration::from_millis(ms as u64);
            w.tx.prepare_cached("UPDATE leases SET expires_ns = ?1 WHERE id = ?2")
                .and_then(|mut s| s.execute(params![now + ttl.as_nanos() as i64, id]))
                .map_err(sql_err)?;
            Ok(ttl)
        }
        None => Err(unknown_lease(id)),
    };
    Ok((result, w.done()?))
}

pub(crate) fn revoke(conn: &mut Connection, id: LeaseId) -> Result<(bool, Option<u64>)> {
    let mut w = Writer::begin(conn)?;
    w.reap(now_ns())?;
    let known = w.lease_exists(id)?;
    if known {
        w.drop_leases(&[id])?;
    }
    Ok((known, w.done()?))
}

pub(crate) fn time_to_live(conn: &Connection, ids: &[LeaseId]) -> Result<Vec<Option<Duration>>> {
    let now = now_ns();
    let mut st = conn
        .prepare_cached("SELECT expires_ns FROM leases WHERE id = ?1")
        .map_err(sql_err)?;
    ids.iter()
        .map(|id| {
            let exp: Option<i64> = st
                .query_row(params![id], |r| r.get(0))
                .optional()
                .map_err(sql_err)?;
            Ok(exp
                .filter(|e| *e > now)
                .map(|e| Duration::from_nanos((e - now) as u64)))
        })
        .collect()
}

/// The earliest lease expiry, in the store clock's nanoseconds.
pub(crate) fn next_expiry(conn: &Connection) -> Result<Option<i64>> {
    conn.prepare_cached("SELECT MIN(expires_ns) FROM leases")
        .and_then(|mut s| s.query_row([], |r| r.get(0)))
        .map_err(sql_err)
}

/// The store index: the index of the last commit that wrote, which is the newest event's (the
/// log always keeps its newest events, so no counter row is rewritten on every commit).
pub(crate) fn head(conn: &Connection) -> Result<u64> {
    conn.prepare_cached("SELECT COALESCE(MAX(idx), 0) FROM events")
        .and_then(|mut s| s.query_row([], |r| r.get::<_, i64>(0)))
        .map(|i| i as u64)
        .map_err(sql_err)
}

pub(crate) fn events_since(conn: &mut Connection, from: u64, limit: usize) -> Result<LogBatch> {
    let tx = conn.transaction().map_err(sql_err)?;
    let oldest: i64 = tx
        .prepare_cached("SELECT oldest FROM meta WHERE id = 1")
        .and_then(|mut s| s.query_row([], |r| r.get(0)))
        .map_err(sql_err)?;
    let mut events: Vec<RawEvent> = Vec::new();
    {
        // Literal LIMIT: a bound one makes SQLite re-prepare the statement at every step.
        let sql = format!(
            "SELECT idx, seq, key, kind, value FROM events WHERE idx >= ?1 ORDER BY idx, seq LIMIT {}",
            limit.min(i64::MAX as usize)
        );
        let mut st = tx.prepare_cached(&sql).map_err(sql_err)?;
        let from = from.min(i64::MAX as u64) as i64;
        let rows = st.query_map(params![from], event_row).map_err(sql_err)?;
        for r in rows {
            events.push(r.map_err(sql_err)?);
        }
        if events.len() == limit {
            if let Some((last, seq)) = events.last().map(|e| (e.0, e.1)) {
                // Never split the events of one commit across batches.
                let mut st = tx
                    .prepare_cached(
                        "SELECT idx, seq, key, kind, value FROM events WHERE idx = ?1 AND seq > ?2 ORDER BY seq",
                    )
                    .map_err(sql_err)?;
                let rows = st
                    .query_map(params![last as i64, seq], event_row)
                    .map_err(sql_err)?;
                for r in rows {
                    events.push(r.map_err(sql_err)?);
                }
            }
        }
    }
    tx.commit().map_err(sql_err)?;
    let events = events
        .into_iter()
        .map(|(index, _, key, kind, value)| {
            Ok(Event {
                kind: if kind == 0 {
                    EventKind::Put
                } else {
                    EventKind::Delete
                },
                value: value.map(|t| parse(&key, &t)).transpose()?,
                key,
                index,
            })
        })
        .collect::<Result<_>>()?;
    Ok(LogBatch {
        events,
        oldest: oldest as u64,
    })
}

type RawEvent = (u64, i64, String, i64, Option<String>);

fn event_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawEvent> {
    Ok((
        r.get::<_, i64>(0)? as u64,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
    ))
}
