//! The embedded store (`sqlite://`): one SQLite file shared by every process on a host.
//!
//! - Writes run in `BEGIN IMMEDIATE` transactions on one writer connection per process, so
//!   processes queue on SQLite's write lock and threads of one process on a mutex.
//! - Lease expiry follows the host's boot-time clock; a per-process reaper thread deletes expired
//!   leases' entries at their expiry, so waiters behind a killed holder move on.
//! - Cross-process wake-ups (`wakeup.rs`): after a commit that wrote, the writer stores the new
//!   index in a small `<db>-notify` file if another process listens. Every process watches that
//!   file with inotify (kqueue on BSD and macOS) through the `notify` crate and reads the event
//!   log when it changes. The signal is sent only after the commit is visible, so a woken reader
//!   always finds the new events, and nobody polls the database.

mod db;
mod fork;
mod wakeup;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, Weak};
use std::time::Duration;

use async_trait::async_trait;
use notify::Watcher;
use rusqlite::Connection;
use tokio::sync::watch;

use crate::backend::{
    Backend, EventStream, LeaseGrant, Limits, RangeRead, Read, ReadResponse, TxnRequest,
    TxnResponse,
};
use crate::clock;
use crate::error::{Error, Result};
use crate::eventlog::{EventLog, ListenGuard, LogBatch, watch_log};
use crate::model::LeaseId;
use wakeup::NotifyFile;

/// Options of the embedded store, from the URL's query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SqliteOptions {
    /// `synchronous=FULL` (the default: a commit survives power loss) or `NORMAL` (`?sync=normal`:
    /// a commit survives a process crash but may be lost on power loss or an OS crash).
    pub durable: bool,
    pub max_value_bytes: usize,
}

/// A handle on an embedded store. Handles on the same file in one process share connections,
/// the file watcher and the reaper thread.
#[derive(Clone)]
pub struct SqliteBackend {
    store: Arc<Store>,
}

struct Store {
    path: PathBuf,
    options: SqliteOptions,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    changes: Arc<watch::Sender<u64>>,
    notify: Arc<NotifyFile>,
    _watcher: Option<notify::RecommendedWatcher>,
    reaper_wake: Arc<(Mutex<()>, Condvar)>,
    /// Whether the writer's busy handler waits (false during an inline attempt).
    patient: Arc<AtomicBool>,
}

/// Open stores by process, path and options. The pid is part of the key because a forked child
/// must not reuse its parent's store: the parent's threads and connections do not exist in it.
type Registry = Mutex<HashMap<(u32, PathBuf, SqliteOptions), Weak<Store>>>;

fn registry() -> &'static Registry {
    static STORES: OnceLock<Registry> = OnceLock::new();
    STORES.get_or_init(Default::default)
}

impl SqliteBackend {
    /// Opens (creating if needed) the store at `path`.
    pub async fn open(path: &Path, options: SqliteOptions) -> Result<Self> {
        let path = path.to_path_buf();
        blocking(move || Self::open_blocking(&path, options)).await
    }

    fn open_blocking(path: &Path, options: SqliteOptions) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                Error::unavailable(format!("cannot create {}: {e}", dir.display())).with_source(e)
            })?;
        }
        let canonical = match path.canonicalize() {
            Ok(p) => p,
            Err(_) => {
                // Not created yet: canonicalize the directory.
                let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
                let dir = dir.map_or_else(std::env::current_dir, |d| d.canonicalize());
                dir.map_err(|e| Error::unavailable(format!("{}: {e}", path.display())))?
                    .join(path.file_name().unwrap_or_default())
            }
        };
        let mut reg = registry().lock().unwrap_or_else(|p| p.into_inner());
        let key = (std::process::id(), canonical, options);
        if let Some(store) = reg.get(&key).and_then(Weak::upgrade) {
            return Ok(SqliteBackend { store });
        }
        let store = Store::open(&key.1, options)?;
        reg.insert(key, Arc::downgrade(&store));
        reg.retain(|_, w| w.strong_count() > 0);
        Ok(SqliteBackend { store })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.store.path
    }
}

impl Store {
    fn open(path: &Path, options: SqliteOptions) -> Result<Arc<Self>> {
        let inside = fork::enter();
        let patient = Arc::new(AtomicBool::new(true));
        let mut writer = db::open(path, options.durable, patient.clone())?;
        let wrote = db::init(&mut writer)?;
        let head = db::head(&writer)?;
        drop(inside);
        let notify = NotifyFile::open(path)?;
        let notify_path = notify.path.clone();
        let changes = Arc::new(watch::channel(0u64).0);
        let watcher = match watch_file(&notify_path, changes.clone()) {
            Ok(w) => Some(w),
            Err(e) => {
                // Typically fs.inotify.max_user_instances is exhausted: fall back to polling
                // the notify file, slower but correct.
                tracing::warn!(
                    "cannot watch {} ({e}); polling it every {} instead",
                    notify_path.display(),
                    crate::validate::seconds(POLL_FALLBACK)
                );
                None
            }
        };
        let polling = watcher.is_none();
        let store = Arc::new(Store {
            path: path.to_path_buf(),
            options,
            writer: Mutex::new(writer),
            readers: Mutex::new(Vec::new()),
            changes,
            notify,
            _watcher: watcher,
            reaper_wake: Arc::new((Mutex::new(()), Condvar::new())),
            patient,
        });
        if wrote {
            store.signal(head);
        }
        let weak = Arc::downgrade(&store);
        let wake = store.reaper_wake.clone();
        std::thread::Builder::new()
            .name("interlock-sqlite-reaper".into())
            .spawn(move || reaper(weak, wake))
            .map_err(|e| Error::internal(format!("cannot start the lease reaper: {e}")))?;
        if polling {
            let weak = Arc::downgrade(&store);
            std::thread::Builder::new()
                .name("interlock-sqlite-poll".into())
                .spawn(move || poll_notify_file(weak))
                .map_err(|e| Error::internal(format!("cannot start the change poller: {e}")))?;
        }
        Ok(store)
    }

    /// Tells this process's watchers, and other processes if any of them is watching, that a
    /// commit wrote.
    fn signal(&self, index: u64) {
        self.changes.send_modify(|g| *g = g.wrapping_add(1));
        self.notify.signal(index);
    }

    /// Runs a write on this process's writer connection, then signals if it wrote.
    fn write<T>(&self, f: impl FnOnce(&mut Connection) -> Result<(T, Option<u64>)>) -> Result<T> {
        let mut conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let inside = fork::enter();
        let (value, wrote) = f(&mut conn)?;
        drop(inside);
        drop(conn);
        if let Some(index) = wrote {
            self.signal(index);
        }
        Ok(value)
    }

    /// Runs a write on the calling thread if it can start at once: no other thread of this
    /// process is writing and no other process holds SQLite's write lock. This saves the thread
    /// hop of `spawn_blocking`, which costs more than the SQL of a small commit. Returns `None`
    /// when the write must wait (and so must not block an async worker).
    fn try_write_now<T>(
        &self,
        f: &impl Fn(&mut Connection) -> Result<(T, Option<u64>)>,
    ) -> Option<Result<T>> {
        let mut conn = match self.writer.try_lock() {
            Ok(c) => c,
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return None,
        };
        self.patient.store(false, Ordering::Relaxed);
        let inside = fork::enter();
        let outcome = f(&mut conn);
        drop(inside);
        self.patient.store(true, Ordering::Relaxed);
        drop(conn);
        match outcome {
            Err(e) if db::is_busy(&e) => None,
            Err(e) => Some(Err(e)),
            Ok((value, wrote)) => {
                if let Some(index) = wrote {
                    self.signal(index);
                }
                Some(Ok(value))
            }
        }
    }

    /// A write: inline when it can start at once, else on the blocking pool.
    async fn write_async<T, F>(self: &Arc<Self>, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: Fn(&mut Connection) -> Result<(T, Option<u64>)> + Send + 'static,
    {
        if let Some(done) = self.try_write_now(&f) {
            return done;
        }
        let store = self.clone();
        blocking(move || store.write(f)).await
    }

    fn with_reader<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        let inside = fork::enter();
        let pooled = self.readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let mut conn = match pooled {
            Some(c) => c,
            None => db::open(
                &self.path,
                self.options.durable,
                Arc::new(AtomicBool::new(true)),
            )?,
        };
        let result = f(&mut conn);
        let mut pool = self.readers.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() < 8 {
            pool.push(conn);
        }
        drop(inside);
        result
    }
}

/// How often the notify file is read when it cannot be watched.
const POLL_FALLBACK: Duration = Duration::from_millis(2);

fn watch_file(
    path: &Path,
    changes: Arc<watch::Sender<u64>>,
) -> notify::Result<notify::RecommendedWatcher> {
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if res.is_ok() {
            changes.send_modify(|g| *g = g.wrapping_add(1));
        }
    })?;
    watcher.watch(path, notify::RecursiveMode::NonRecursive)?;
    Ok(watcher)
}

/// The fallback when the notify file cannot be watched: read it every few milliseconds.
fn poll_notify_file(weak: Weak<Store>) {
    let mut last = 0;
    loop {
        std::thread::sleep(POLL_FALLBACK);
        let Some(store) = weak.upgrade() else { return };
        let index = store.notify.read_index();
        if index != last {
            last = index;
            store.changes.send_modify(|g| *g = g.wrapping_add(1));
        }
    }
}

/// Wakes at the earliest lease expiry (re-checking at least every second, which also notices
/// leases granted by other processes) and deletes the expired leases' entries.
///
/// It also re-reads the store index each time and signals this process's watchers if it moved
/// without a wake-up: a writer killed between its commit and its notify-file write delays
/// watchers by at most a second rather than until the next commit.
fn reaper(weak: Weak<Store>, wake: Arc<(Mutex<()>, Condvar)>) {
    let mut last_head = 0;
    loop {
        let wait = {
            let Some(store) = weak.upgrade() else { return };
            if let Ok(head) = store.with_reader(|c| db::head(c)) {
                if head > last_head {
                    if last_head != 0 {
                        store.changes.send_modify(|g| *g = g.wrapping_add(1));
                    }
                    last_head = head;
                }
            }
            let next = store.with_reader(|c| db::next_expiry(c));
            let now = clock::now().as_nanos() as i64;
            match next {
                Ok(Some(e)) if e <= now => {
                    if let Err(e) = store.write(db::reap) {
                        tracing::warn!("lease reaper: {e}");
                    }
                    Duration::from_millis(1)
                }
                Ok(Some(e)) => Duration::from_nanos((e - now) as u64),
                Ok(None) => Duration::from_secs(1),
                Err(e) => {
                    tracing::warn!("lease reaper: {e}");
                    Duration::from_secs(1)
                }
            }
        };
        let (lock, cv) = &*wake;
        let guard = lock.lock().unwrap_or_else(|p| p.into_inner());
        let wait = wait.clamp(Duration::from_micros(200), Duration::from_secs(1));
        let _ = cv
            .wait_timeout(guard, wait)
            .unwrap_or_else(|p| p.into_inner());
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.reaper_wake.1.notify_all();
    }
}

/// Runs blocking SQLite work off the async executor.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::internal(format!("store task failed: {e}")))?
}

#[async_trait]
impl Backend for SqliteBackend {
    fn describe(&self) -> String {
        format!("sqlite://{}", self.store.path.display())
    }

    fn limits(&self) -> Limits {
        Limits {
            max_value_bytes: self.store.options.max_value_bytes,
        }
    }

    async fn read(&self, reads: Vec<Read>) -> Result<ReadResponse> {
        loop {
            // WAL readers never wait for writers, so reads run inline.
            match self.store.with_reader(|c| db::read(c, &reads))? {
                db::ReadOutcome::Done(r) => return Ok(r),
                db::ReadOutcome::NeedsReap => self.store.write_async(db::reap).await?,
            }
        }
    }

    async fn commit(&self, txn: TxnRequest) -> Result<TxnResponse> {
        self.store.write_async(move |c| db::commit(c, &txn)).await
    }

    async fn grant(&self, ttl: Duration) -> Result<LeaseGrant> {
        self.store.write_async(move |c| db::grant(c, ttl)).await
    }

    async fn keepalive(&self, lease: LeaseId) -> Result<Duration> {
        self.store
            .write_async(move |c| db::keepalive(c, lease))
            .await?
    }

    async fn revoke(&self, lease: LeaseId) -> Result<bool> {
        self.store.write_async(move |c| db::revoke(c, lease)).await
    }

    async fn time_to_live(&self, leases: &[LeaseId]) -> Result<Vec<Option<Duration>>> {
        self.store.with_reader(|c| db::time_to_live(c, leases))
    }

    async fn watch(&self, range: RangeRead, from: Option<u64>) -> Result<EventStream> {
        watch_log(Arc::new(self.clone()), range, from).await
    }
}

#[async_trait]
impl EventLog for SqliteBackend {
    fn changes(&self) -> watch::Receiver<u64> {
        self.store.changes.subscribe()
    }

    async fn head(&self) -> Result<u64> {
        self.store.with_reader(|c| db::head(c))
    }

    async fn events_since(&self, from: u64, limit: usize) -> Result<LogBatch> {
        self.store.with_reader(|c| db::events_since(c, from, limit))
    }

    fn listen(&self) -> ListenGuard {
        ListenGuard(Some(Box::new(self.store.notify.listen())))
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;

    use crate::{Client, ErrorKind};

    #[tokio::test]
    async fn compacted_history_is_reported_and_recent_history_resumes() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?sync=normal", dir.path().join("c.db").display());
        let db = Client::connect(&url).await.unwrap();
        for i in 0..1100u64 {
            db.set(&format!("k/{}", i % 7), i).await.unwrap();
        }
        // Compaction ran at index 1024 and kept the last 100 indexes before it.
        let mut old = db.watch("k/", Some(1)).await.unwrap();
        let err = old.next().await.unwrap().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        assert!(err.to_string().contains("compacted"), "{err}");
        let mut recent = db.watch("k/", Some(924)).await.unwrap();
        let first = recent.next().await.unwrap().unwrap();
        assert_eq!(first.index, 924);
        assert_eq!(
            db.index().await.unwrap(),
            1100,
            "the index survives compaction"
        );
    }
}
