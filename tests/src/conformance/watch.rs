//! Watch: ordered, resumable change streams (docs/design.md, Watches).

use std::time::Duration;

use futures::StreamExt;
use interlock::{Event, EventKind, PutOptions, WatchStream};
use serde_json::json;

use crate::Store;

async fn take(w: &mut WatchStream, n: usize) -> Vec<Event> {
    let mut out = Vec::new();
    for _ in 0..n {
        let e = tokio::time::timeout(Duration::from_secs(10), w.next())
            .await
            .expect("an event in time")
            .expect("stream open")
            .expect("no error");
        out.push(e);
    }
    out
}

pub async fn watch_delivers_in_order_and_resumes(store: &Store) {
    let db = store.client().await;
    let start = db.index().await.unwrap() + 1;
    let mut live = db.watch("w/", None).await.unwrap();
    let writer = store.client().await;
    let mut indexes = Vec::new();
    for i in 0..20 {
        indexes.push(writer.set(&format!("w/{}", i % 3), i).await.unwrap());
    }
    let events = take(&mut live, 20).await;
    let seen: Vec<u64> = events.iter().map(|e| e.index).collect();
    assert_eq!(seen, indexes, "every change, in index order");
    assert_eq!(events[4].value, Some(json!(4)));
    assert_eq!(live.last_index(), indexes[19]);
    // Resume from the middle: exactly the rest, in order.
    let mut resumed = db.watch("w/", Some(indexes[9] + 1)).await.unwrap();
    let rest = take(&mut resumed, 10).await;
    let rest_idx: Vec<u64> = rest.iter().map(|e| e.index).collect();
    assert_eq!(rest_idx, indexes[10..]);
    // From the first index: the whole history.
    let mut replay = db.watch("w/", Some(start)).await.unwrap();
    assert_eq!(take(&mut replay, 20).await, events);
    // A transaction's events share its index.
    let t = writer
        .txn()
        .set("w/a", 1)
        .set("w/b", 2)
        .commit()
        .await
        .unwrap();
    let pair = take(&mut live, 2).await;
    assert!(pair.iter().all(|e| e.index == t));
    assert_eq!(pair[0].key, "w/a");
}

pub async fn watch_filters_by_prefix_and_reports_deletes(store: &Store) {
    let db = store.client().await;
    let mut w = db.watch("jobs/", None).await.unwrap();
    let mut all = db.watch("", None).await.unwrap();
    db.set("other/x", 1).await.unwrap();
    let created = db.put("jobs/1", "started", 0).await.unwrap();
    let lock = db.lock("jobs/lock");
    lock.acquire(None).await.unwrap();
    lock.release().await.unwrap();
    let deleted = db.delete("jobs/1", Some(created.index)).await.unwrap();
    let events = take(&mut w, 2).await;
    assert_eq!(events[0].kind, EventKind::Put);
    assert_eq!(
        (events[0].key.as_str(), events[0].index),
        ("jobs/1", created.index)
    );
    assert_eq!(events[1].kind, EventKind::Delete);
    assert_eq!(
        (events[1].value.clone(), events[1].index),
        (None, deleted.index)
    );
    let everything = take(&mut all, 3).await;
    let keys: Vec<&str> = everything.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(
        keys,
        ["other/x", "jobs/1", "jobs/1"],
        "reserved lock records are not shown"
    );
}

pub async fn watch_reports_expiry_deletes(store: &Store) {
    let db = store.client().await;
    let lease = db.grant(Duration::from_secs(1)).await.unwrap();
    let mut w = db.watch("eph/", None).await.unwrap();
    let options = PutOptions {
        index: None,
        lease: Some(lease.id),
    };
    let put = db.put_with("eph/session", "alive", options).await.unwrap();
    let events = take(&mut w, 2).await;
    assert_eq!(events[0].index, put.index);
    assert_eq!(events[1].kind, EventKind::Delete);
    assert_eq!(events[1].key, "eph/session");
    assert!(
        events[1].index > put.index,
        "expiry is a write with its own index"
    );
}
