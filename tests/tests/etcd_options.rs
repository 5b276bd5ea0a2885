//! etcd URL options against a real cluster.

use interlock::Client;
use interlock_tests::Store;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_for_a_cluster_without_auth_are_not_needed_and_do_no_harm() {
    let store = Store::etcd();
    let url = store.url.replacen("etcd://", "etcd://someone:secret@", 1);
    let db = Client::connect(&url).await.unwrap();
    let index = db.set("k", 1).await.unwrap();
    let entry = db.get("k").await.unwrap().expect("written");
    assert_eq!((entry.value, entry.index), (serde_json::json!(1), index));
    let lock = db.lock("l");
    lock.acquire(None).await.unwrap();
    lock.release().await.unwrap();
    assert!(!db.describe().contains("secret"), "{}", db.describe());
}
