//! Lifecycle of a client and its handles (docs/design.md, Lifecycle): close, drop outside a
//! runtime, a lease revoked from elsewhere, a force-release, out-of-range durations, unique
//! identities.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::StreamExt;
use interlock::Client;
use interlock::backend::{Compare, Op, TxnRequest};
use interlock::{ErrorKind, LockOptions, PutOptions};

use super::eventually;
use crate::Store;

/// Far below every TTL used here: a lock freed within it was freed by a revoke or a delete, not
/// by its lease running out.
const PROMPTLY: Duration = Duration::from_secs(10);

/// Removes the holder of lock `name` the way the server's force-release does (its entry deleted
/// at its fencing token, its lease left alone); returns that token.
pub async fn force_release(admin: &Client, name: &str) -> u64 {
    let holder = admin.lock_queue(name).await.unwrap().remove(0);
    let r = admin
        .backend()
        .commit(TxnRequest {
            compares: vec![Compare {
                key: holder.key.clone(),
                index: holder.token,
            }],
            ops: vec![Op::Delete { key: holder.key }],
            reads: Vec::new(),
        })
        .await
        .unwrap();
    assert!(r.succeeded, "the holder of '{name}' was removed");
    holder.token
}

fn ttl(secs: u64) -> LockOptions {
    LockOptions {
        ttl: Duration::from_secs(secs),
        ..LockOptions::default()
    }
}

fn counter() -> (Arc<AtomicUsize>, impl Fn() + Send + Sync + 'static) {
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    (count, move || {
        c.fetch_add(1, Ordering::SeqCst);
    })
}

/// `close()` revokes the client's leases: a lock it holds goes to the next waiter at once (its
/// TTL is 60 s), the holder sees it lost, and every handle of the closed client refuses use.
pub async fn close_frees_held_locks_and_refuses_further_use(store: &Store) {
    let db = store.client().await;
    let lock = db.lock_with("close/held", ttl(60));
    let (fired, on_lost) = counter();
    lock.on_lost(on_lost);
    lock.acquire(None).await.unwrap();
    let lease = db.lease(Duration::from_secs(60)).await.unwrap();
    db.put_with(
        "close/leased",
        1,
        PutOptions {
            index: None,
            lease: Some(lease.id()),
        },
    )
    .await
    .unwrap();
    let mut watch = db.watch("close/", None).await.unwrap();

    let other = store.client().await;
    let waiter = {
        let lock = other.lock_with("close/held", ttl(60));
        tokio::spawn(async move {
            let token = lock.acquire(Some(PROMPTLY)).await;
            (lock, token)
        })
    };
    assert!(
        eventually(PROMPTLY, || async {
            other.lock_queue("close/held").await.unwrap().len() == 2
        })
        .await
    );
    db.close().await.unwrap();
    assert!(db.is_closed());
    let (taken, token) = waiter.await.unwrap();
    token.expect("the waiter gets the lock as soon as the holder's client closes");
    taken.release().await.unwrap();

    assert!(lock.is_lost(), "the closed client's lock is lost");
    assert!(
        eventually(PROMPTLY, || async { fired.load(Ordering::SeqCst) == 1 }).await,
        "on_lost ran once"
    );
    let err = lock.release().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LockLost, "{err}");
    assert!(err.to_string().contains("closed"), "{err}");
    assert!(lease.is_lost(), "the client's own lease was revoked");
    assert_eq!(
        other.get("close/leased").await.unwrap(),
        None,
        "its entries are gone"
    );
    let end = tokio::time::timeout(PROMPTLY, async {
        loop {
            match watch.next().await {
                Some(Ok(_)) => continue,
                other => return other.map(|r| r.map(|_| ())),
            }
        }
    })
    .await
    .expect("the watch ends when its client closes");
    assert!(end.is_none(), "the watch ends quietly: {end:?}");

    for err in [
        db.get("close/x").await.unwrap_err(),
        db.put("close/x", 1, 0).await.unwrap_err(),
        db.set("close/x", 1).await.map(|_| ()).unwrap_err(),
        db.delete("close/x", None).await.map(|_| ()).unwrap_err(),
        db.list("close/", None, None).await.map(|_| ()).unwrap_err(),
        db.index().await.map(|_| ()).unwrap_err(),
        db.watch("close/", None).await.map(|_| ()).unwrap_err(),
        db.lease(Duration::from_secs(5))
            .await
            .map(|_| ())
            .unwrap_err(),
        db.grant(Duration::from_secs(5))
            .await
            .map(|_| ())
            .unwrap_err(),
        db.txn()
            .set("close/x", 1)
            .commit()
            .await
            .map(|_| ())
            .unwrap_err(),
        db.lock("close/other")
            .acquire(None)
            .await
            .map(|_| ())
            .unwrap_err(),
        db.lock("close/other")
            .try_acquire()
            .await
            .map(|_| ())
            .unwrap_err(),
        lock.acquire(None).await.map(|_| ()).unwrap_err(),
        db.lock_queue("close/held").await.map(|_| ()).unwrap_err(),
        db.session()
            .load_value("close/x")
            .await
            .map(|_| ())
            .unwrap_err(),
    ] {
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
        assert!(err.to_string().contains("closed"), "{err}");
    }
    assert_eq!(
        other.get("close/x").await.unwrap(),
        None,
        "nothing was written"
    );
    db.close().await.unwrap();
}

/// `close()` while an acquire waits ends the wait with a clear error and removes the waiter,
/// every time: the close's revoke may reach the waiter first as the deletion of its entry or
/// as its lease's loss, and the error still names the close (ten rounds, to meet each order).
pub async fn close_ends_a_waiting_acquire(store: &Store) {
    for _ in 0..10 {
        close_ends_a_waiting_acquire_once(store).await;
    }
}

async fn close_ends_a_waiting_acquire_once(store: &Store) {
    let holder_db = store.client().await;
    let holder = holder_db.lock("close/wait");
    holder.acquire(None).await.unwrap();
    let db = store.client().await;
    let waiter = {
        let lock = db.lock_with("close/wait", ttl(60));
        tokio::spawn(async move { lock.acquire(None).await })
    };
    assert!(
        eventually(PROMPTLY, || async {
            holder_db.lock_queue("close/wait").await.unwrap().len() == 2
        })
        .await
    );
    db.close().await.unwrap();
    let err = tokio::time::timeout(PROMPTLY, waiter)
        .await
        .expect("the wait ends when the client closes")
        .unwrap()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    assert!(err.to_string().contains("closed"), "{err}");
    assert!(err.to_string().contains("close/wait"), "{err}");
    assert!(
        eventually(PROMPTLY, || async {
            holder_db.lock_queue("close/wait").await.unwrap().len() == 1
        })
        .await,
        "the waiter's entry is gone"
    );
    holder.release().await.unwrap();
}

/// A lock dropped while held on a thread with no async runtime (a garbage collector's
/// finalizer, a thread of the host language) is still released promptly.
pub async fn lock_dropped_outside_a_runtime_is_released(store: &Store) {
    let db = store.client().await;
    let lock = db.lock_with("drop/held", ttl(60));
    lock.acquire(None).await.unwrap();
    std::thread::spawn(move || drop(lock)).join().unwrap();
    let other = store.client().await.lock_with("drop/held", ttl(60));
    other
        .acquire(Some(PROMPTLY))
        .await
        .expect("the dropped holder's entry was removed");
    other.release().await.unwrap();
    // The same for a whole client dropped with a lock it holds: its shared lease is revoked.
    let db = store.client().await;
    let lock = db.lock_with("drop/client", ttl(60));
    lock.acquire(None).await.unwrap();
    std::thread::spawn(move || {
        drop(lock);
        drop(db);
    })
    .join()
    .unwrap();
    let other = store.client().await.lock_with("drop/client", ttl(60));
    other.acquire(Some(PROMPTLY)).await.unwrap();
    other.release().await.unwrap();
}

/// A client's shared lease revoked from elsewhere (an operator) is replaced at the next
/// acquire, which succeeds at once; the locks held on it learn they are lost.
pub async fn revoked_shared_lease_is_replaced_at_once(store: &Store) {
    let db = store.client().await;
    let first = db.lock_with("shared/a", ttl(60));
    let (fired, on_lost) = counter();
    first.on_lost(on_lost);
    first.acquire(None).await.unwrap();
    let lease = db.lock_queue("shared/a").await.unwrap()[0].lease.unwrap();
    assert!(store.client().await.revoke(lease).await.unwrap());
    // Well within the keeper's 20 s renewal period: only the refused write can tell.
    let second = db.lock_with("shared/b", ttl(60));
    let token = second.acquire(Some(PROMPTLY)).await.unwrap();
    assert!(token > 0);
    let queue = db.lock_queue("shared/b").await.unwrap();
    assert_ne!(queue[0].lease, Some(lease), "a new lease");
    assert!(first.is_lost(), "the lock on the revoked lease is lost");
    tokio::time::timeout(PROMPTLY, first.wait_lost())
        .await
        .expect("lost() resolves");
    assert_eq!(
        fired.load(Ordering::SeqCst),
        1,
        "on_lost ran before lost() resolved"
    );
    assert_eq!(
        first.release().await.unwrap_err().kind(),
        ErrorKind::LockLost
    );
    second.release().await.unwrap();
    // And a third acquire reuses the new lease rather than granting again.
    let third = db.lock_with("shared/c", ttl(60));
    third.acquire(None).await.unwrap();
    assert_eq!(
        db.lock_queue("shared/c").await.unwrap()[0].lease,
        queue[0].lease
    );
    third.release().await.unwrap();
}

/// A force-release (the holder's entry deleted by someone else, as `DELETE
/// /v1/locks/{name}/holder` does) is seen by the holder: `lost` resolves at its lease's next
/// renewal, on_lost runs, and fenced writes and release fail with LockLost.
pub async fn force_release_is_seen_by_the_holder(store: &Store) {
    let db = store.client().await;
    // TTL 3 s: renewed every second.
    let lock = db.lock_with("force/held", ttl(3));
    let (fired, on_lost) = counter();
    lock.on_lost(on_lost);
    let token = lock.acquire(None).await.unwrap();
    let admin = store.client().await;
    assert_eq!(force_release(&admin, "force/held").await, token);
    tokio::time::timeout(PROMPTLY, lock.wait_lost())
        .await
        .expect("the holder learns of the force-release");
    assert!(lock.is_lost());
    assert_eq!(fired.load(Ordering::SeqCst), 1, "on_lost ran once");
    let err = db
        .txn()
        .require(&lock)
        .set("force/data", 1)
        .commit()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LockLost);
    let err = lock.release().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LockLost, "{err}");
    // The lease itself is fine: the same client's next acquire works.
    let again = lock.acquire(None).await.unwrap();
    assert!(again > token);
    assert!(!lock.is_lost());
    lock.release().await.unwrap();
    assert_eq!(fired.load(Ordering::SeqCst), 1);
}

/// A release whose entry is already gone although nothing failed before is a loss, even when the
/// lease is alive: it was force-released, and the next holder may have had the lock.
pub async fn release_after_force_release_is_lock_lost(store: &Store) {
    let db = store.client().await;
    let lock = db.lock_with("force/quick", ttl(60));
    let token = lock.acquire(None).await.unwrap();
    let admin = store.client().await;
    assert_eq!(force_release(&admin, "force/quick").await, token);
    let next = admin.lock("force/quick");
    next.acquire(Some(PROMPTLY)).await.unwrap();
    let err = lock.release().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LockLost, "{err}");
    next.release().await.unwrap();
}

/// Durations beyond what a clock can add are refused with `InvalidArgument`, never a panic.
pub async fn out_of_range_durations_are_refused(store: &Store) {
    let db = store.client().await;
    let lock = db.lock("range/timeout");
    for timeout in [Duration::MAX, Duration::from_secs(u64::MAX / 2)] {
        let err = lock.acquire(Some(timeout)).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
        assert!(err.to_string().contains("timeout"), "{err}");
    }
    assert!(!lock.is_held());
    for t in [Duration::MAX, Duration::from_secs(u64::MAX)] {
        let err = db.lease(t).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
        let err = db
            .lock_with(
                "range/ttl",
                LockOptions {
                    ttl: t,
                    ..LockOptions::default()
                },
            )
            .acquire(None)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    }
    // A long but representable timeout waits as asked.
    let token = lock
        .acquire(Some(Duration::from_secs(100 * 365 * 24 * 3600)))
        .await
        .unwrap();
    assert!(token > 0);
    lock.release().await.unwrap();
}

/// Client ids are 128 random bits; waiter keys of different clients never coincide.
pub async fn client_ids_are_unique(store: &Store) {
    let mut ids = std::collections::HashSet::new();
    for _ in 0..200 {
        let id = store.client().await.id();
        assert_eq!(id.len(), 32, "{id}");
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()), "{id}");
        assert!(ids.insert(id), "ids are unique");
    }
}

/// A client that locks many distinct names with many distinct TTLs keeps bounded state: at
/// most a few idle shared leases stay alive.
pub async fn per_name_and_per_ttl_state_is_reclaimed(store: &Store) {
    let db = store.client().await;
    for i in 0..40u64 {
        let lock = db.lock_with(&format!("bounded/{i}"), ttl(5 + i));
        lock.acquire(None).await.unwrap();
        lock.release().await.unwrap();
    }
    // A dropped lock lets go of its lease in a background task; the next grant evicts.
    let mut next = 100;
    let bounded = eventually(PROMPTLY, || {
        next += 1;
        let lock = db.lock_with("bounded/last", ttl(next));
        let db = db.clone();
        async move {
            lock.acquire(None).await.unwrap();
            lock.release().await.unwrap();
            db.shared_lease_count() <= 17
        }
    })
    .await;
    assert!(bounded, "{} shared leases kept", db.shared_lease_count());
}
