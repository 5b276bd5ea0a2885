//! Leases and expiry (docs/design.md, Leases).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::StreamExt;
use interlock::{ErrorKind, EventKind, PutOptions};

use super::eventually;
use crate::Store;

fn leased(lease: i64) -> PutOptions {
    PutOptions {
        index: None,
        lease: Some(lease),
    }
}

pub async fn revoke_deletes_attached_entries(store: &Store) {
    let db = store.client().await;
    let lease = db.grant(Duration::from_secs(60)).await.unwrap();
    db.put_with("l/a", 1, leased(lease.id)).await.unwrap();
    db.put_with("l/b", 2, leased(lease.id)).await.unwrap();
    db.set("l/plain", 3).await.unwrap();
    assert_eq!(db.get("l/a").await.unwrap().unwrap().lease, Some(lease.id));
    let ttl = db.time_to_live(&[lease.id]).await.unwrap()[0].expect("alive");
    assert!(ttl <= Duration::from_secs(60) && ttl > Duration::from_secs(50));
    let before = db.index().await.unwrap();
    assert!(db.revoke(lease.id).await.unwrap());
    let page = db.list("l/", None, None).await.unwrap();
    let keys: Vec<&str> = page.entries.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, ["l/plain"]);
    assert!(page.index > before, "the deletes got a new index");
    assert!(!db.revoke(lease.id).await.unwrap(), "already revoked");
    assert_eq!(db.time_to_live(&[lease.id]).await.unwrap(), [None]);
    let empty = db.grant(Duration::from_secs(60)).await.unwrap();
    let before = db.index().await.unwrap();
    assert!(db.revoke(empty.id).await.unwrap());
    assert_eq!(
        db.index().await.unwrap(),
        before,
        "a lease with no entries deletes nothing"
    );
}

pub async fn expiry_deletes_entries_at_a_new_index(store: &Store) {
    let db = store.client().await;
    let lease = db.grant(Duration::from_secs(1)).await.unwrap();
    let put = db
        .put_with("exp/a", "soon gone", leased(lease.id))
        .await
        .unwrap();
    let other = store.client().await;
    assert!(
        eventually(Duration::from_secs(10), || async {
            other.get("exp/a").await.unwrap().is_none()
        })
        .await,
        "the entry is deleted when its lease expires"
    );
    assert!(db.index().await.unwrap() > put.index);
    let err = db.keepalive(lease.id).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LeaseExpired);
    let err = db.put_with("exp/b", 1, leased(lease.id)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LeaseExpired);
}

pub async fn keeper_keeps_a_lease_alive_past_its_ttl(store: &Store) {
    let db = store.client().await;
    let lease = db.lease(Duration::from_secs(1)).await.unwrap();
    db.put_with("kept", 1, leased(lease.id())).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(!lease.is_lost());
    assert!(db.get("kept").await.unwrap().is_some(), "renewed at ttl/3");
    let fired = Arc::new(AtomicBool::new(false));
    let flag = fired.clone();
    lease.on_lost(move || flag.store(true, Ordering::SeqCst));
    assert!(lease.revoke().await.unwrap());
    assert!(lease.is_lost());
    assert!(
        fired.load(Ordering::SeqCst),
        "revoking ends the lease: callbacks fire"
    );
    assert_eq!(db.get("kept").await.unwrap(), None);
}

pub async fn keepalive_of_unknown_lease_fails(store: &Store) {
    let db = store.client().await;
    let err = db.keepalive(424_242).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LeaseExpired);
    assert!(!db.revoke(424_242).await.unwrap());
    let lease = db.grant(Duration::from_secs(5)).await.unwrap();
    let renewed = db.keepalive(lease.id).await.unwrap();
    assert_eq!(renewed, lease.ttl);
}

pub async fn lost_lease_is_detected_and_reported(store: &Store) {
    let db = store.client().await;
    let lease = db.lease(Duration::from_secs(1)).await.unwrap();
    let fired = Arc::new(AtomicBool::new(false));
    let flag = fired.clone();
    lease.on_lost(move || flag.store(true, Ordering::SeqCst));
    let mut watch = db.watch("lost/", None).await.unwrap();
    db.put_with("lost/x", 1, leased(lease.id())).await.unwrap();
    // Another client revokes it behind the keeper's back.
    let admin = store.client().await;
    assert!(admin.revoke(lease.id()).await.unwrap());
    tokio::time::timeout(Duration::from_secs(5), lease.wait_lost())
        .await
        .expect("the keeper notices at its next renewal");
    assert!(lease.is_lost());
    assert!(
        eventually(Duration::from_secs(2), || async {
            fired.load(Ordering::SeqCst)
        })
        .await,
        "the callback fired"
    );
    let put = watch.next().await.unwrap().unwrap();
    let del = watch.next().await.unwrap().unwrap();
    assert_eq!((put.kind, del.kind), (EventKind::Put, EventKind::Delete));
    let late = Arc::new(AtomicBool::new(false));
    let flag = late.clone();
    lease.on_lost(move || flag.store(true, Ordering::SeqCst));
    assert!(
        late.load(Ordering::SeqCst),
        "a callback added after the loss fires at once"
    );
}
