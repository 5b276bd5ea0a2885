//! Behaviour particular to the embedded store: a busy file, cancelled waits and what another
//! connection sees, with a real SQLite file.

use std::time::Duration;

use futures::StreamExt;
use interlock::EventKind;
use interlock_tests::Store;
use interlock_tests::conformance::eventually;

/// While another connection holds SQLite's write lock, an acquire that is cancelled (by an outer
/// timeout) mid-enqueue must not leave a waiter entry behind once the write goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acquire_cancelled_while_the_file_is_busy_leaves_no_waiter() {
    let store = Store::sqlite();
    let db = store.client().await;
    // Grant the client's shared lease first, so that the cancellation hits the waiter's creation.
    let lock = db.lock("busy-file");
    lock.acquire(None).await.unwrap();
    lock.release().await.unwrap();
    let path = store.url.trim_start_matches("sqlite://").to_string();
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let holder = std::thread::spawn(move || {
        let mut conn = rusqlite::Connection::open(path).unwrap();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .unwrap();
        locked_tx.send(()).unwrap();
        std::thread::sleep(Duration::from_millis(600));
        tx.commit().unwrap();
    });
    locked_rx.recv().unwrap();
    let from = db.index().await.unwrap() + 1;
    let mut queue_events = db.watch("@lock/busy-file/", Some(from)).await.unwrap();
    let attempt = tokio::time::timeout(Duration::from_millis(100), lock.acquire(None)).await;
    assert!(
        attempt.is_err(),
        "the acquire was still waiting for the write lock"
    );
    holder.join().unwrap();
    // The write goes through once the file is free: the waiter appears, then is removed.
    let mut events = Vec::new();
    for _ in 0..2 {
        let event = tokio::time::timeout(Duration::from_secs(10), queue_events.next())
            .await
            .expect("an event in time")
            .expect("stream open")
            .expect("no error");
        events.push(event);
    }
    assert_eq!(events[0].kind, EventKind::Put, "the waiter was created");
    assert_eq!(events[1].kind, EventKind::Delete, "and then removed");
    assert_eq!(events[0].key, events[1].key);
    assert!(db.lock_queue("busy-file").await.unwrap().is_empty());
    let other = store.client().await.lock("busy-file");
    assert!(
        other.try_acquire().await.unwrap().is_some(),
        "the lock is free"
    );
    other.release().await.unwrap();
}

/// An acquire with a timeout gives up on time even when the store is busy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acquire_timeout_covers_a_busy_file() {
    let store = Store::sqlite();
    let db = store.client().await;
    db.set("warm", 1).await.unwrap();
    let path = store.url.trim_start_matches("sqlite://").to_string();
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let holder = std::thread::spawn(move || {
        let mut conn = rusqlite::Connection::open(path).unwrap();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .unwrap();
        locked_tx.send(()).unwrap();
        std::thread::sleep(Duration::from_millis(800));
        tx.commit().unwrap();
    });
    locked_rx.recv().unwrap();
    let lock = db.lock("busy-timeout");
    let err = lock
        .acquire(Some(Duration::from_millis(100)))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), interlock::ErrorKind::LockTimeout);
    assert!(!lock.is_held());
    holder.join().unwrap();
    assert!(
        eventually(Duration::from_secs(10), || async {
            db.lock_queue("busy-timeout").await.unwrap().is_empty()
        })
        .await
    );
}
