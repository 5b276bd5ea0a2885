//! Cross-process wake-ups for the embedded store: the `<db>-notify` file and who listens to it.
//!
//! After a commit that wrote, the writer stores the new index in the notify file; processes with
//! watchers watch the file (inotify or kqueue) and then read the event log. A process holds a
//! shared POSIX record lock on one byte of the file while it has watchers, and writers write the
//! file only when `F_GETLK` reports such a lock from another process: uncontended work pays one
//! syscall, and a crashed listener's lock dies with it.
//!
//! POSIX locks belong to the process and are all dropped when *any* descriptor of the file is
//! closed, so the file is opened once per process and path and shared by every store handle.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use crate::error::{Error, Result};

/// The notify file of one database, shared within the process.
pub(crate) struct NotifyFile {
    pub path: PathBuf,
    file: File,
    /// Watch streams alive in this process on this database.
    listeners: Mutex<usize>,
}

impl NotifyFile {
    /// The process's handle on the notify file beside `db`.
    pub fn open(db: &Path) -> Result<Arc<NotifyFile>> {
        type Open = Mutex<HashMap<(u32, PathBuf), Weak<NotifyFile>>>;
        static OPEN: OnceLock<Open> = OnceLock::new();
        let path = notify_path(db);
        let key = (std::process::id(), path.clone());
        let mut open = OPEN
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(existing) = open.get(&key).and_then(Weak::upgrade) {
            return Ok(existing);
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| {
                Error::unavailable(format!("cannot open {}: {e}", path.display())).with_source(e)
            })?;
        let notify = Arc::new(NotifyFile {
            path: path.clone(),
            file,
            listeners: Mutex::new(0),
        });
        open.retain(|_, w| w.strong_count() > 0);
        open.insert(key, Arc::downgrade(&notify));
        Ok(notify)
    }

    /// Wakes other processes' watchers, if any process is listening.
    pub fn signal(&self, index: u64) {
        if self.others_listen() {
            // The file only carries the wake-up; a failed write delays other processes' watchers
            // by at most the reaper's second, it loses nothing.
            let _ = self.file.write_at(&index.to_le_bytes(), 0);
        }
    }

    /// The last index written, for the polling fallback.
    pub fn read_index(&self) -> u64 {
        let mut buf = [0u8; 8];
        match self.file.read_at(&mut buf, 0) {
            Ok(8) => u64::from_le_bytes(buf),
            _ => 0,
        }
    }

    /// Registers this process as listening until the guard is dropped.
    pub fn listen(self: &Arc<Self>) -> Listening {
        let mut n = self.listeners.lock().unwrap_or_else(|p| p.into_inner());
        *n += 1;
        if *n == 1 {
            self.set_lock(libc::F_RDLCK);
        }
        Listening(self.clone())
    }

    /// Whether another process holds the listeners' lock (POSIX locks never conflict with the
    /// asking process's own). On error, assume yes.
    fn others_listen(&self) -> bool {
        let mut probe = lock_range(libc::F_WRLCK);
        match nix::fcntl::fcntl(&self.file, nix::fcntl::FcntlArg::F_GETLK(&mut probe)) {
            Ok(_) => probe.l_type != libc::F_UNLCK as libc::c_short,
            Err(_) => true,
        }
    }

    fn set_lock(&self, kind: libc::c_int) {
        let lock = lock_range(kind);
        if let Err(e) = nix::fcntl::fcntl(&self.file, nix::fcntl::FcntlArg::F_SETLK(&lock)) {
            tracing::warn!(
                "cannot update the listeners' lock on {}: {e}",
                self.path.display()
            );
        }
    }
}

/// Keeps the process registered as listening while a watch stream lives.
pub(crate) struct Listening(Arc<NotifyFile>);

impl Drop for Listening {
    fn drop(&mut self) {
        let mut n = self.0.listeners.lock().unwrap_or_else(|p| p.into_inner());
        *n -= 1;
        if *n == 0 {
            self.0.set_lock(libc::F_UNLCK);
        }
    }
}

/// The byte of the notify file that listening processes lock (after the 8-byte index).
fn lock_range(kind: libc::c_int) -> libc::flock {
    // SAFETY: flock is a plain C struct for which all-zero bytes are a valid value.
    let mut lock: libc::flock = unsafe { std::mem::zeroed() };
    lock.l_type = kind as libc::c_short;
    lock.l_whence = libc::SEEK_SET as libc::c_short;
    lock.l_start = 8;
    lock.l_len = 1;
    lock
}

fn notify_path(db: &Path) -> PathBuf {
    let mut name = db.file_name().unwrap_or_default().to_os_string();
    name.push("-notify");
    db.with_file_name(name)
}
