//! What a watcher sees when etcd has compacted the history it asks for: one error that names the
//! oldest index still kept, after which a watch from the current state's index + 1 works. And a
//! quiet watch, which has missed nothing, is not failed by a compaction of the history around it.

use std::time::Duration;

use interlock::{Client, ErrorKind};
use interlock_tests::Store;
use interlock_tests::etcd::EtcdCluster;
use interlock_tests::quiet::{expect_put, progress_cluster, wait_for_progress, write_elsewhere};

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

// A quiet watch (no events under its prefix) while the rest of the cluster writes on: etcd's
// progress notifications move its resume index along, so that when it has to reopen after a
// compaction it asks for history etcd still keeps, and the next event under its prefix arrives.

/// Waits until the cluster (member 0) has compacted every revision before `index + 1`.
fn wait_for_compaction(cluster: &EtcdCluster, index: u64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let read = cluster.post(
            0,
            "/v3/kv/range",
            &serde_json::json!({ "key": "eA==", "revision": index - 1 }),
        );
        match read {
            Err(e) if e.contains("compacted") => return,
            _ if std::time::Instant::now() > deadline => {
                panic!("etcd did not compact revision {index} within 30 s: {read:?}")
            }
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_watch_resumes_past_an_explicit_compaction_when_its_member_restarts() {
    let cluster = progress_cluster(&[]);
    let db = Client::connect(&cluster.url("app/")).await.unwrap();
    let mut watch = db.watch("quiet/", None).await.unwrap();
    let last = write_elsewhere(&db, 200).await;
    wait_for_progress(&mut watch, last, Duration::from_secs(20)).await;
    cluster
        .post(
            0,
            "/v3/kv/compaction",
            &serde_json::json!({ "revision": last, "physical": true }),
        )
        .expect("compaction");
    // The member restarts: the watch's connection breaks and it reopens.
    tokio::task::block_in_place(|| cluster.restart(0));
    let index = db.set("quiet/a", "after").await.unwrap();
    expect_put(&mut watch, "quiet/a", index).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_watch_survives_periodic_auto_compaction_when_its_member_restarts() {
    // Compacts every second to the revision of a second ago (etcd 3.4's revision mode compacts
    // only every 5 minutes).
    let cluster = progress_cluster(&[
        "--auto-compaction-mode",
        "periodic",
        "--auto-compaction-retention",
        "1s",
    ]);
    let db = Client::connect(&cluster.url("app/")).await.unwrap();
    let first = db.set("busy/start", 0).await.unwrap();
    let mut watch = db.watch("quiet/", Some(first + 1)).await.unwrap();
    let last = write_elsewhere(&db, 200).await;
    wait_for_progress(&mut watch, last, Duration::from_secs(20)).await;
    tokio::task::block_in_place(|| wait_for_compaction(&cluster, first + 1));
    tokio::task::block_in_place(|| cluster.restart(0));
    let index = db.set("quiet/a", "after").await.unwrap();
    expect_put(&mut watch, "quiet/a", index).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_watch_is_not_reopened_into_compacted_history() {
    // etcd's default progress interval (10 min): no progress notification comes during the
    // test, and the watch's connection is refreshed after 1 s of silence.
    let cluster = EtcdCluster::start(1);
    let db = Client::connect(&format!("{}&watch_refresh=1", cluster.url("app/")))
        .await
        .unwrap();
    let mut watch = db.watch("quiet/", None).await.unwrap();
    let last = write_elsewhere(&db, 50).await;
    cluster
        .post(
            0,
            "/v3/kv/compaction",
            &serde_json::json!({ "revision": last, "physical": true }),
        )
        .expect("compaction");
    // Several quiet periods past the refresh interval: reopening from where the watch began
    // would fail, so the connection, whose member serves, is kept.
    if let Ok(item) = tokio::time::timeout(Duration::from_secs(6), watch.next_event()).await {
        panic!("the quiet watch delivered {item:?}");
    }
    let index = db.set("quiet/a", "after").await.unwrap();
    expect_put(&mut watch, "quiet/a", index).await;
}
