//! The fair lock with fencing tokens (docs/design.md, Locks and Fencing tokens).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use interlock::{ErrorKind, LockOptions};
use serde_json::json;

use super::eventually;
use crate::Store;

async fn queue_len(db: &interlock::Client, name: &str) -> usize {
    db.lock_queue(name).await.unwrap().len()
}

pub async fn lock_grants_in_fifo_order_with_increasing_tokens(store: &Store) {
    let db = store.client().await;
    let holder = db.lock("printer/first-floor");
    let first = holder.acquire(None).await.unwrap();
    let grants = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for i in 0..5 {
        let client = store.client().await;
        let grants = grants.clone();
        tasks.push(tokio::spawn(async move {
            let lock = client.lock("printer/first-floor");
            let token = lock.acquire(Some(Duration::from_secs(30))).await.unwrap();
            grants.lock().unwrap().push((i, token));
            tokio::time::sleep(Duration::from_millis(5)).await;
            lock.release().await.unwrap();
        }));
        // Arrival order: wait until waiter i has joined the queue before starting the next.
        assert!(
            eventually(Duration::from_secs(10), || async {
                queue_len(&db, "printer/first-floor").await == i + 2
            })
            .await
        );
    }
    holder.release().await.unwrap();
    for t in tasks {
        t.await.unwrap();
    }
    let grants = grants.lock().unwrap().clone();
    let order: Vec<usize> = grants.iter().map(|g| g.0).collect();
    assert_eq!(order, [0, 1, 2, 3, 4], "grants in arrival order");
    let mut last = first;
    for (_, token) in grants {
        assert!(
            token > last,
            "fencing tokens strictly increase: {token} > {last}"
        );
        last = token;
    }
    let again = holder.acquire(None).await.unwrap();
    assert!(again > last);
    holder.release().await.unwrap();
    assert_eq!(queue_len(&db, "printer/first-floor").await, 0);
}

pub async fn try_acquire_and_timeout_remove_the_waiter(store: &Store) {
    let db = store.client().await;
    let holder = db.lock("busy");
    holder.acquire(None).await.unwrap();
    let other = store.client().await.lock("busy");
    assert_eq!(other.try_acquire().await.unwrap(), None);
    assert_eq!(
        queue_len(&db, "busy").await,
        1,
        "try_acquire leaves no waiter behind"
    );
    let err = other
        .acquire(Some(Duration::from_millis(200)))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LockTimeout);
    assert!(err.to_string().contains("'busy'"), "{err}");
    assert_eq!(
        queue_len(&db, "busy").await,
        1,
        "a timed-out waiter is removed"
    );
    assert!(!other.is_held());
    holder.release().await.unwrap();
    let token = other.try_acquire().await.unwrap().expect("free now");
    assert_eq!(other.fencing_token(), Some(token));
    other.release().await.unwrap();
    assert_eq!(other.fencing_token(), None);
}

pub async fn locks_are_not_reentrant(store: &Store) {
    let db = store.client().await;
    let lock = db.lock("once");
    lock.acquire(None).await.unwrap();
    let err = lock
        .acquire(Some(Duration::from_millis(50)))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(err.to_string().contains("re-entrant"), "{err}");
    assert!(lock.is_held(), "the failed re-acquire left the lock held");
    lock.release().await.unwrap();
    let err = lock.release().await.unwrap_err();
    assert_eq!(
        err.kind(),
        ErrorKind::InvalidArgument,
        "releasing an unheld lock"
    );
}

pub async fn lock_names_do_not_overlap(store: &Store) {
    let db = store.client().await;
    let a = db.lock("a");
    a.acquire(None).await.unwrap();
    for name in ["a/b", "a%2Fb", "a/", "ab"] {
        let other = db.lock(name);
        assert!(
            other.try_acquire().await.unwrap().is_some(),
            "lock '{name}' is independent of 'a'"
        );
        other.release().await.unwrap();
    }
    assert_eq!(queue_len(&db, "a").await, 1);
    a.release().await.unwrap();
}

pub async fn lock_queue_lists_holder_and_waiters(store: &Store) {
    let db = store.client().await;
    let options = LockOptions {
        owner: Some("worker-7".into()),
        ..LockOptions::default()
    };
    let holder = db.lock_with("q", options);
    let token = holder.acquire(None).await.unwrap();
    let client = store.client().await;
    let waiter = tokio::spawn(async move {
        let lock = client.lock("q");
        let t = lock.acquire(None).await.unwrap();
        lock.release().await.unwrap();
        t
    });
    assert!(
        eventually(Duration::from_secs(10), || async {
            queue_len(&db, "q").await == 2
        })
        .await
    );
    let queue = db.lock_queue("q").await.unwrap();
    assert!(queue[0].holder && !queue[1].holder);
    assert_eq!(queue[0].token, token);
    assert_eq!(queue[0].owner["owner"], json!("worker-7"));
    assert!(queue[1].token > token);
    for w in &queue {
        let left = w.ttl_left.expect("lease alive");
        assert!(left > Duration::from_secs(10) && left <= Duration::from_secs(20));
    }
    holder.release().await.unwrap();
    assert!(waiter.await.unwrap() > token);
}

pub async fn waiter_gets_lock_when_holder_lease_is_revoked(store: &Store) {
    let db = store.client().await;
    let lease = db.lease(Duration::from_secs(30)).await.unwrap();
    let holder = db.lock_with(
        "handoff",
        LockOptions {
            lease: Some(lease.clone()),
            ..LockOptions::default()
        },
    );
    let first = holder.acquire(None).await.unwrap();
    let client = store.client().await;
    let waiter = tokio::spawn(async move {
        let lock = client.lock("handoff");
        let t = lock.acquire(Some(Duration::from_secs(20))).await.unwrap();
        lock.release().await.unwrap();
        t
    });
    assert!(
        eventually(Duration::from_secs(10), || async {
            queue_len(&db, "handoff").await == 2
        })
        .await
    );
    // The holder "crashes": its lease ends without a release.
    store.client().await.revoke(lease.id()).await.unwrap();
    let second = waiter.await.unwrap();
    assert!(second > first);
    let err = holder.release().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LockLost);
}

pub async fn lost_lock_fires_callback_and_fails_release_and_fenced_writes(store: &Store) {
    let db = store.client().await;
    let lease = db.lease(Duration::from_secs(1)).await.unwrap();
    let lock = db.lock_with(
        "fragile",
        LockOptions {
            lease: Some(lease.clone()),
            ..LockOptions::default()
        },
    );
    let fired = Arc::new(AtomicBool::new(false));
    let flag = fired.clone();
    lock.on_lost(move || flag.store(true, Ordering::SeqCst));
    let token = lock.acquire(None).await.unwrap();
    assert!(!lock.is_lost());
    store.client().await.revoke(lease.id()).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), lock.wait_lost())
        .await
        .expect("loss detected at the next renewal");
    assert!(lock.is_lost());
    assert!(
        eventually(Duration::from_secs(2), || async {
            fired.load(Ordering::SeqCst)
        })
        .await,
        "the lost callback fired"
    );
    let before = db.index().await.unwrap();
    let err = db
        .txn()
        .require(&lock)
        .set("fenced", 1)
        .commit()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LockLost);
    assert_eq!(err.conflicts()[0].expected, token);
    assert_eq!(db.get("fenced").await.unwrap(), None);
    assert_eq!(db.index().await.unwrap(), before);
    let err = lock.release().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LockLost);
    assert!(err.to_string().contains("fragile"), "{err}");
}

pub async fn fenced_write_succeeds_while_held(store: &Store) {
    let db = store.client().await;
    let lock = db.lock("guarded");
    let err = db
        .txn()
        .require(&lock)
        .set("x", 1)
        .commit()
        .await
        .unwrap_err();
    assert_eq!(
        err.kind(),
        ErrorKind::LockLost,
        "requiring an unheld lock fails"
    );
    let token = lock.acquire(None).await.unwrap();
    let index = db
        .txn()
        .require(&lock)
        .set("guarded/data", json!({"fence": token}))
        .commit()
        .await
        .unwrap();
    assert!(index > token);
    lock.release().await.unwrap();
}

pub async fn cancelled_acquire_removes_the_waiter(store: &Store) {
    let db = store.client().await;
    let holder = db.lock("cancel");
    holder.acquire(None).await.unwrap();
    let client = store.client().await;
    let lock = client.lock("cancel");
    let waiting = lock.clone();
    let task = tokio::spawn(async move { waiting.acquire(None).await });
    assert!(
        eventually(Duration::from_secs(10), || async {
            queue_len(&db, "cancel").await == 2
        })
        .await
    );
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    assert!(
        eventually(Duration::from_secs(10), || async {
            queue_len(&db, "cancel").await == 1
        })
        .await,
        "the cancelled waiter's entry is removed"
    );
    assert!(!lock.is_held());
    holder.release().await.unwrap();
    assert!(
        lock.try_acquire().await.unwrap().is_some(),
        "the lock object is usable again"
    );
    lock.release().await.unwrap();
}

/// A client's next acquire of a lock reuses the waiter key of its last one once that entry is
/// deleted (released, or a waiter that gave up), so the queue's key space does not grow with
/// every acquire (on etcd, deleted keys stay in the index until compaction and every queue
/// read walks them). Waiters that coexist still get distinct keys.
pub async fn later_acquires_reuse_the_waiter_key(store: &Store) {
    let db = store.client().await;
    let holder_key = |db: interlock::Client| async move {
        let queue = db.lock_queue("reuse").await.unwrap();
        assert!(queue[0].holder);
        queue[0].key.clone()
    };
    let first = db.lock("reuse");
    first.acquire(None).await.unwrap();
    let key = holder_key(db.clone()).await;
    first.release().await.unwrap();
    for round in 0..5 {
        // A new lock object each time, as `with lock(...)` makes.
        let lock = db.lock("reuse");
        lock.acquire(None).await.unwrap();
        assert_eq!(holder_key(db.clone()).await, key, "round {round}");
        lock.release().await.unwrap();
    }
    // Two waiters of one client at once: distinct keys, the second one new.
    let a = db.lock("reuse");
    let b = db.lock("reuse");
    a.acquire(None).await.unwrap();
    assert_eq!(b.try_acquire().await.unwrap(), None);
    let err = b
        .acquire(Some(Duration::from_millis(100)))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LockTimeout);
    let other = store.client().await.lock("reuse");
    let waiting = tokio::spawn(async move {
        other.acquire(Some(Duration::from_secs(30))).await.unwrap();
        other
    });
    assert!(
        eventually(Duration::from_secs(10), || async {
            queue_len(&db, "reuse").await == 2
        })
        .await
    );
    let c = db.lock("reuse");
    let c_wait = tokio::spawn(async move {
        let token = c.acquire(Some(Duration::from_secs(30))).await.unwrap();
        (c, token)
    });
    assert!(
        eventually(Duration::from_secs(10), || async {
            queue_len(&db, "reuse").await == 3
        })
        .await
    );
    let queue = db.lock_queue("reuse").await.unwrap();
    assert_eq!(queue[0].key, key, "the holder kept the reused key");
    assert_ne!(queue[2].key, key, "a waiter beside it gets another key");
    let second_key = queue[2].key.clone();
    a.release().await.unwrap();
    waiting.await.unwrap().release().await.unwrap();
    let (c, _) = c_wait.await.unwrap();
    c.release().await.unwrap();
    // Both keys are idle now; the next two concurrent waiters take them, no third key.
    let x = db.lock("reuse");
    let y = db.lock("reuse");
    x.acquire(None).await.unwrap();
    assert_eq!(y.try_acquire().await.unwrap(), None);
    let y_wait = tokio::spawn(async move {
        y.acquire(Some(Duration::from_secs(30))).await.unwrap();
        y
    });
    assert!(
        eventually(Duration::from_secs(10), || async {
            queue_len(&db, "reuse").await == 2
        })
        .await
    );
    let mut keys: Vec<String> = db
        .lock_queue("reuse")
        .await
        .unwrap()
        .into_iter()
        .map(|w| w.key)
        .collect();
    keys.sort();
    let mut expected = vec![key, second_key];
    expected.sort();
    assert_eq!(keys, expected);
    x.release().await.unwrap();
    y_wait.await.unwrap().release().await.unwrap();
    assert_eq!(queue_len(&db, "reuse").await, 0);
}
