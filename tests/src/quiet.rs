//! Quiet watches: a watch with no events under its prefix while the rest of the store writes on,
//! for the tests that check that compaction of that history does not fail it.

use std::time::Duration;

use interlock::{Client, WatchStream};

use crate::etcd::{ClusterOptions, EtcdCluster};

/// How often [`progress_cluster`] sends watch progress notifications (etcd's default is 10 min).
pub const PROGRESS_NOTIFY: &str = "200ms";

/// A one-member cluster with quick progress notifications and `extra` flags.
pub fn progress_cluster(extra: &[&str]) -> EtcdCluster {
    let mut extra_args = vec![
        "--experimental-watch-progress-notify-interval".to_string(),
        PROGRESS_NOTIFY.to_string(),
    ];
    extra_args.extend(extra.iter().map(|s| s.to_string()));
    EtcdCluster::start_with(
        1,
        ClusterOptions {
            extra_args,
            ..Default::default()
        },
    )
}

/// Writes `count` revisions under `busy/`, none under the watched prefix; returns the last index.
pub async fn write_elsewhere(db: &Client, count: usize) -> u64 {
    let mut last = 0;
    for i in 0..count {
        last = db.set(&format!("busy/{}", i % 7), i as u64).await.unwrap();
    }
    last
}

/// Polls the quiet watch (it must deliver nothing) until the store has confirmed its progress up
/// to `index`, for at most `limit`. Not an assertion: a watch that never learns its progress
/// goes on to fail where the test checks what it delivers.
pub async fn wait_for_progress(watch: &mut WatchStream, index: u64, limit: Duration) {
    let deadline = tokio::time::Instant::now() + limit;
    while watch.progress_index() < index && tokio::time::Instant::now() < deadline {
        if let Ok(item) = tokio::time::timeout(Duration::from_millis(100), watch.next_event()).await
        {
            panic!("the quiet watch delivered {item:?}");
        }
    }
}

/// The next item of `watch` is the put of `key` at `index`, not an error.
pub async fn expect_put(watch: &mut WatchStream, key: &str, index: u64) {
    let item = tokio::time::timeout(Duration::from_secs(30), watch.next_event())
        .await
        .expect("the event arrives within 30 s")
        .expect("the watch goes on");
    let event = item.unwrap_or_else(|e| panic!("the quiet watch failed: {e}"));
    assert_eq!((event.key.as_str(), event.index), (key, index));
}
