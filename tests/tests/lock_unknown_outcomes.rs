//! The lock algorithm when the store misbehaves in ways a real one can: it applies a write but the
//! client never learns it (a timeout or a cut connection after sending; a store wrapper applies
//! the write and then reports `Unavailable`, as the etcd backend does for a write whose outcome
//! is unknown), or it has compacted the history a waiter's watch asks for.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use interlock::backend::{
    Backend, EventStream, LeaseGrant, Limits, Op, RangeRead, Read, ReadResponse, TxnRequest,
    TxnResponse,
};
use interlock::mem::MemBackend;
use interlock::{Client, Error, ErrorKind, LeaseId, Result};

/// Applies every commit, but answers the next one that deletes or creates a key with
/// `Unavailable` once armed.
struct LostReplies {
    inner: MemBackend,
    fail_next_delete: AtomicBool,
    fail_next_put: AtomicBool,
    /// Holds back deletes that compare nothing (the removal of a waiter whose creation had an
    /// unknown outcome) for a while, as a slow store would.
    delay_blind_deletes: AtomicBool,
    /// This many of the next watches end at once with a compaction error (alternately when
    /// opened and as their first item).
    compact_watches: AtomicUsize,
    /// This many of the next watches fail with `Unavailable`, as a store that cannot be reached
    /// (alternately when opened and as their first item).
    unreachable_watches: AtomicUsize,
}

#[async_trait]
impl Backend for LostReplies {
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn limits(&self) -> Limits {
        self.inner.limits()
    }
    async fn read(&self, reads: Vec<Read>) -> Result<ReadResponse> {
        self.inner.read(reads).await
    }
    async fn commit(&self, txn: TxnRequest) -> Result<TxnResponse> {
        let deletes = txn.ops.iter().any(|op| matches!(op, Op::Delete { .. }));
        let puts = txn.ops.iter().any(|op| matches!(op, Op::Put { .. }));
        if deletes && txn.compares.is_empty() && self.delay_blind_deletes.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let response = self.inner.commit(txn).await?;
        if (deletes && self.fail_next_delete.swap(false, Ordering::SeqCst))
            || (puts && self.fail_next_put.swap(false, Ordering::SeqCst))
        {
            return Err(Error::unavailable(
                "the reply was lost after the store applied the write; the outcome is unknown",
            ));
        }
        Ok(response)
    }
    async fn grant(&self, ttl: Duration) -> Result<LeaseGrant> {
        self.inner.grant(ttl).await
    }
    async fn keepalive(&self, lease: LeaseId) -> Result<Duration> {
        self.inner.keepalive(lease).await
    }
    async fn revoke(&self, lease: LeaseId) -> Result<bool> {
        self.inner.revoke(lease).await
    }
    async fn time_to_live(&self, leases: &[LeaseId]) -> Result<Vec<Option<Duration>>> {
        self.inner.time_to_live(leases).await
    }
    async fn watch(&self, range: RangeRead, from: Option<u64>) -> Result<EventStream> {
        let unreachable = self.unreachable_watches.load(Ordering::SeqCst);
        if unreachable > 0 {
            self.unreachable_watches
                .store(unreachable - 1, Ordering::SeqCst);
            let err = Error::unavailable("the store could not be reached: connection refused");
            if unreachable.is_multiple_of(2) {
                return Err(err);
            }
            return Ok(Box::pin(futures::stream::iter([Err(err)])));
        }
        let left = self.compact_watches.load(Ordering::SeqCst);
        if left > 0 {
            self.compact_watches.store(left - 1, Ordering::SeqCst);
            let err = Error::invalid(format!(
                "cannot watch from index {}: events before index {} have been compacted",
                from.unwrap_or(0),
                from.unwrap_or(0) + 1
            ));
            if left.is_multiple_of(2) {
                return Err(err);
            }
            return Ok(Box::pin(futures::stream::iter([Err(err)])));
        }
        self.inner.watch(range, from).await
    }
}

fn store() -> Arc<LostReplies> {
    Arc::new(LostReplies {
        inner: MemBackend::new("", interlock::validate::DEFAULT_MAX_VALUE_BYTES),
        fail_next_delete: AtomicBool::new(false),
        fail_next_put: AtomicBool::new(false),
        delay_blind_deletes: AtomicBool::new(false),
        compact_watches: AtomicUsize::new(0),
        unreachable_watches: AtomicUsize::new(0),
    })
}

#[tokio::test]
async fn a_release_whose_reply_was_lost_can_be_retried_and_succeeds() {
    let backend = store();
    let db = Client::from_backend(backend.clone());
    let lock = db.lock("printer");
    lock.acquire(None).await.unwrap();
    backend.fail_next_delete.store(true, Ordering::SeqCst);
    let err = lock.release().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert!(err.to_string().contains("still held"), "{err}");
    // The delete was applied: the retry finds the entry gone while the lease lives, so the lock
    // was released, not lost.
    lock.release().await.unwrap();
    assert!(db.lock_queue("printer").await.unwrap().is_empty());
    let other = db.lock("printer");
    assert!(other.try_acquire().await.unwrap().is_some());
}

#[tokio::test]
async fn a_revoked_holder_still_gets_lock_lost_on_release() {
    let backend = store();
    let db = Client::from_backend(backend.clone());
    let lease = db.lease(Duration::from_secs(30)).await.unwrap();
    let lock = db.lock_with(
        "printer",
        interlock::LockOptions {
            lease: Some(lease.clone()),
            ..Default::default()
        },
    );
    lock.acquire(None).await.unwrap();
    db.revoke(lease.id()).await.unwrap();
    let err = lock.release().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LockLost, "{err}");
}

#[tokio::test]
async fn an_acquire_whose_reply_was_lost_leaves_no_waiter_behind() {
    let backend = store();
    let db = Client::from_backend(backend.clone());
    backend.fail_next_put.store(true, Ordering::SeqCst);
    let err = db.lock("printer").acquire(None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    // The waiter entry was created; the acquire removes it in the background.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !db.lock_queue("printer").await.unwrap().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the orphan waiter was never removed"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let lock = db.lock("printer");
    assert!(lock.try_acquire().await.unwrap().is_some());
}

#[tokio::test]
async fn a_waiter_key_whose_creation_had_an_unknown_outcome_is_not_used_again() {
    let backend = store();
    backend.delay_blind_deletes.store(true, Ordering::SeqCst);
    let db = Client::from_backend(backend.clone());
    backend.fail_next_put.store(true, Ordering::SeqCst);
    let err = db.lock("printer").acquire(None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    // The orphan is still there: its removal deletes the key whatever its index, so the key
    // must never name a later waiter of this client.
    let orphan = db.lock_queue("printer").await.unwrap();
    assert_eq!(orphan.len(), 1);
    let lock = db.lock("printer");
    let token = lock.acquire(Some(Duration::from_secs(5))).await.unwrap();
    let held = db.lock_queue("printer").await.unwrap();
    assert_eq!(held.len(), 1, "the orphan was removed");
    assert_ne!(held[0].key, orphan[0].key);
    assert_eq!(held[0].token, token);
    // Still held once every removal has run.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let later = db.lock_queue("printer").await.unwrap();
    assert_eq!(later.len(), 1);
    assert_eq!(
        (later[0].key.as_str(), later[0].token),
        (held[0].key.as_str(), token)
    );
    lock.release().await.unwrap();
    // Released with a known outcome, its key is the next one.
    let next = db.lock("printer");
    next.acquire(None).await.unwrap();
    assert_eq!(db.lock_queue("printer").await.unwrap()[0].key, held[0].key);
    next.release().await.unwrap();
}

#[tokio::test]
async fn a_waiter_whose_history_was_compacted_resyncs_and_gets_the_lock() {
    let backend = store();
    let db = Client::from_backend(backend.clone());
    let holder = db.lock("printer");
    let held = holder.acquire(None).await.unwrap();
    // The waiter's first watch fails as it opens and its second yields the error as an item;
    // each time it reads the queue again and waits on.
    backend.compact_watches.store(2, Ordering::SeqCst);
    let waiter = db.lock("printer");
    let waiting = tokio::spawn(async move {
        let token = waiter.acquire(Some(Duration::from_secs(10))).await;
        (waiter, token)
    });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while backend.compact_watches.load(Ordering::SeqCst) > 0
        || db.lock_queue("printer").await.unwrap().len() < 2
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the waiter never queued past the compacted watches"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    holder.release().await.unwrap();
    let (waiter, token) = waiting.await.unwrap();
    assert!(token.unwrap() > held);
    waiter.release().await.unwrap();
}

#[tokio::test]
async fn a_waiter_rides_out_a_store_it_cannot_reach_for_a_while() {
    let backend = store();
    let db = Client::from_backend(backend.clone());
    let holder = db.lock("printer");
    let held = holder.acquire(None).await.unwrap();
    // Four watches in a row fail as a restarting server's would: two as they open, two as their
    // first item. The waiter pauses, reads where it stands and watches again each time.
    backend.unreachable_watches.store(4, Ordering::SeqCst);
    let waiter = db.lock("printer");
    let waiting = tokio::spawn(async move {
        let token = waiter.acquire(Some(Duration::from_secs(20))).await;
        (waiter, token)
    });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while backend.unreachable_watches.load(Ordering::SeqCst) > 0
        || db.lock_queue("printer").await.unwrap().len() < 2
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the waiter gave up on the unreachable store instead of waiting on"
        );
        assert!(!waiting.is_finished(), "the waiter's acquire ended early");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    holder.release().await.unwrap();
    let (waiter, token) = waiting.await.unwrap();
    assert!(token.unwrap() > held);
    waiter.release().await.unwrap();
    assert!(db.lock_queue("printer").await.unwrap().is_empty());
}

#[tokio::test]
async fn a_waiter_on_an_unreachable_store_still_times_out_on_time() {
    let backend = store();
    let db = Client::from_backend(backend.clone());
    let holder = db.lock("printer");
    holder.acquire(None).await.unwrap();
    backend
        .unreachable_watches
        .store(usize::MAX, Ordering::SeqCst);
    let started = tokio::time::Instant::now();
    let err = db
        .lock("printer")
        .acquire(Some(Duration::from_millis(600)))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LockTimeout, "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the timeout was not kept while the store was unreachable: {:?}",
        started.elapsed()
    );
    // The waiter removed its entry: only the holder is queued.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while db.lock_queue("printer").await.unwrap().len() != 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the waiter's entry stayed"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
