//! Makes `fork()` wait until no thread of the process is inside SQLite.
//!
//! SQLite keeps the lock state of every open database file in process memory (its inode and
//! shared-memory tables), and a forked child inherits that memory but not the POSIX locks or the
//! threads behind it. A child forked while another thread held a WAL lock would see that lock as
//! held by its own process forever, and could skip locks it really needs. With this gate, a
//! `pthread_atfork` handler takes the gate exclusively before the fork, so the child always
//! starts from SQLite's idle state and can open the database afresh (the store registry is keyed
//! by pid, so it does).

use std::cell::UnsafeCell;
use std::sync::Once;

struct Gate(UnsafeCell<libc::pthread_rwlock_t>);

// SAFETY: a pthread rwlock is made to be shared between threads; it is only used through the
// pthread functions.
unsafe impl Sync for Gate {}

static GATE: Gate = Gate(UnsafeCell::new(libc::PTHREAD_RWLOCK_INITIALIZER));
static INSTALL: Once = Once::new();

/// Held while a thread uses an SQLite connection.
pub(crate) struct Inside(());

/// Enters the gate: a fork started now waits until the guard is dropped.
pub(crate) fn enter() -> Inside {
    INSTALL.call_once(|| {
        // SAFETY: the handlers only lock, unlock or reset the static gate. Registration can only fail
        // for lack of memory, in which case forks are merely unguarded.
        unsafe {
            libc::pthread_atfork(
                Some(before_fork),
                Some(after_fork_parent),
                Some(after_fork_child),
            );
        }
    });
    // SAFETY: GATE is a valid, initialized rwlock for the life of the process.
    unsafe { libc::pthread_rwlock_rdlock(GATE.0.get()) };
    Inside(())
}

impl Drop for Inside {
    fn drop(&mut self) {
        // SAFETY: this guard holds a read lock taken by `enter`.
        unsafe { libc::pthread_rwlock_unlock(GATE.0.get()) };
    }
}

extern "C" fn before_fork() {
    // SAFETY: as in `enter`; the forking thread holds no read lock of its own (forks are never
    // started from inside SQLite work).
    unsafe { libc::pthread_rwlock_wrlock(GATE.0.get()) };
}

extern "C" fn after_fork_parent() {
    // SAFETY: releases the write lock `before_fork` took in this thread.
    unsafe { libc::pthread_rwlock_unlock(GATE.0.get()) };
}

extern "C" fn after_fork_child() {
    // The child's only thread is the one that forked, but glibc records rwlock ownership by
    // thread id and the child's thread has a new one, so unlocking could leave the gate
    // write-locked forever. No other thread exists to hold or wait on the gate, so the child
    // starts it afresh instead.
    // SAFETY: nothing else can touch GATE in the child while this handler runs, and the
    // initializer is the same one the static was built with.
    unsafe { std::ptr::write(GATE.0.get(), libc::PTHREAD_RWLOCK_INITIALIZER) };
}
