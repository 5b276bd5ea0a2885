//! What a watcher sees when etcd has compacted the history it asks for: one error that names the
//! oldest index still kept, after which a watch from the current state's index + 1 works.

use std::time::Duration;

use interlock::ErrorKind;
use interlock_tests::Store;
use interlock_tests::etcd::EtcdCluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watching_compacted_history_fails_clearly_and_recent_history_resumes() {
    let store = Store::etcd();
    let db = store.client().await;
    let first = db.set("w/a", 1).await.unwrap();
    db.set("w/a", 2).await.unwrap();
    let last = db.set("w/b", 3).await.unwrap();
    let cluster = EtcdCluster::shared();
    let leader = cluster.wait_for_leader(Duration::from_secs(10));
    cluster
        .post(
            leader,
            "/v3/kv/compaction",
            &serde_json::json!({ "revision": last, "physical": true }),
        )
        .expect("compaction");

    let err = match db.watch("w/", Some(first)).await {
        Err(e) => e,
        Ok(mut events) => tokio::time::timeout(Duration::from_secs(10), events.next_event())
            .await
            .expect("the watch answers")
            .expect("the watch yields an item")
            .expect_err("history before the compaction is gone"),
    };
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    let text = err.to_string();
    assert!(text.contains("compacted"), "{text}");
    assert!(
        text.contains(&format!("index {last}")),
        "names the oldest index kept: {text}"
    );

    // The documented recovery: read the current state, then watch from its index + 1.
    let page = db.list("w/", None, None).await.unwrap();
    assert_eq!(page.entries.len(), 2);
    let mut events = db.watch("w/", Some(page.index + 1)).await.unwrap();
    let next = db.set("w/a", 4).await.unwrap();
    let event = tokio::time::timeout(Duration::from_secs(10), events.next_event())
        .await
        .expect("the event arrives")
        .expect("an item")
        .expect("an event");
    assert_eq!((event.key.as_str(), event.index), ("w/a", next));
    assert_eq!(event.value, Some(serde_json::json!(4)));
}
