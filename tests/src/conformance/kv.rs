//! Single-key operations: the rows of docs/design.md, Operations.

use serde_json::json;

use crate::Store;

pub async fn get_absent_is_none(store: &Store) {
    let db = store.client().await;
    assert_eq!(db.get("nothing/here").await.unwrap(), None);
    let index = db.set("k", json!({"a": 1})).await.unwrap();
    let e = db.get("k").await.unwrap().expect("entry");
    assert_eq!(
        (e.key.as_str(), e.index, e.value),
        ("k", index, json!({"a": 1}))
    );
    assert_eq!(e.lease, None);
}

pub async fn put_zero_creates_only_if_absent(store: &Store) {
    let db = store.client().await;
    let first = db.put("emails/a@b.c", "users/1", 0).await.unwrap();
    assert!(first.successful);
    assert!(first.index > 0);
    assert_eq!(first.value, Some(json!("users/1")));
    let second = db.put("emails/a@b.c", "users/2", 0).await.unwrap();
    assert!(!second.successful, "a second create must fail");
    assert_eq!(
        second.index, first.index,
        "failure returns the current index"
    );
    assert_eq!(
        second.value,
        Some(json!("users/1")),
        "failure returns the current value"
    );
    assert_eq!(
        db.get("emails/a@b.c").await.unwrap().unwrap().value,
        json!("users/1")
    );
}

pub async fn put_index_replaces_only_at_that_index(store: &Store) {
    let db = store.client().await;
    let v1 = db.put("doc", json!({"v": 1}), 0).await.unwrap();
    let v2 = db.put("doc", json!({"v": 2}), v1.index).await.unwrap();
    assert!(v2.successful);
    assert!(v2.index > v1.index);
    let stale = db.put("doc", json!({"v": 3}), v1.index).await.unwrap();
    assert!(!stale.successful);
    assert_eq!(
        (stale.index, stale.value),
        (v2.index, Some(json!({"v": 2})))
    );
    let absent = db.put("missing", json!(1), 5).await.unwrap();
    assert!(!absent.successful);
    assert_eq!((absent.index, absent.value), (0, None));
    assert_eq!(db.get("missing").await.unwrap(), None);
}

pub async fn set_is_unconditional_and_index_is_store_wide(store: &Store) {
    let db = store.client().await;
    let a = db.set("a", 1).await.unwrap();
    let b = db.set("b", 2).await.unwrap();
    let a2 = db.set("a", 3).await.unwrap();
    assert!(a < b && b < a2, "one store-wide counter: {a} < {b} < {a2}");
    assert_eq!(db.get("a").await.unwrap().unwrap().index, a2);
    assert_eq!(db.get("b").await.unwrap().unwrap().index, b);
    assert_eq!(db.index().await.unwrap(), a2);
}

pub async fn delete_with_and_without_index(store: &Store) {
    let db = store.client().await;
    let put = db.put("k", "v", 0).await.unwrap();
    let wrong = db.delete("k", Some(put.index + 100)).await.unwrap();
    assert!(!wrong.successful);
    assert_eq!((wrong.index, wrong.value), (put.index, Some(json!("v"))));
    let right = db.delete("k", Some(put.index)).await.unwrap();
    assert!(right.successful);
    assert!(right.index > put.index);
    assert_eq!(right.value, None);
    assert_eq!(db.get("k").await.unwrap(), None);
    let absent = db.delete("k", Some(put.index)).await.unwrap();
    assert!(
        !absent.successful,
        "deleting an absent key with an index fails"
    );
    assert_eq!(absent.index, 0);
    db.set("u", 1).await.unwrap();
    let before = db.index().await.unwrap();
    let unconditional = db.delete("u", None).await.unwrap();
    assert!(unconditional.successful);
    assert_eq!(unconditional.index, before + 1);
    let nothing = db.delete("u", None).await.unwrap();
    assert!(!nothing.successful, "nothing was deleted");
    assert_eq!(nothing.index, 0);
    assert_eq!(
        db.index().await.unwrap(),
        before + 1,
        "deleting nothing writes nothing"
    );
}

pub async fn get_many_returns_existing_in_order(store: &Store) {
    let db = store.client().await;
    db.txn()
        .set("x/1", 1)
        .set("x/2", 2)
        .set("x/3", 3)
        .commit()
        .await
        .unwrap();
    let got = db.get_many(&["x/3", "x/missing", "x/1"]).await.unwrap();
    let keys: Vec<&str> = got.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, ["x/3", "x/1"]);
    assert_eq!(
        got[0].index, got[1].index,
        "written by one transaction, read from one snapshot"
    );
    assert!(db.get_many::<&str>(&[]).await.unwrap().is_empty());
}

pub async fn list_pages_in_key_order_and_hides_reserved(store: &Store) {
    let db = store.client().await;
    for k in ["p/c", "p/a", "p/b", "p/d", "q/a", "p"] {
        db.set(k, k).await.unwrap();
    }
    let lock = db.lock("p/lock");
    lock.acquire(None).await.unwrap();
    let page = db.list("p/", None, Some(2)).await.unwrap();
    let keys: Vec<&str> = page.entries.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, ["p/a", "p/b"]);
    assert!(page.more);
    let next = db.list("p/", Some("p/b"), Some(2)).await.unwrap();
    let keys: Vec<&str> = next.entries.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, ["p/c", "p/d"]);
    let last = db.list("p/", Some("p/d"), Some(2)).await.unwrap();
    assert!(last.entries.is_empty() && !last.more);
    let all = db.list("", None, None).await.unwrap();
    let keys: Vec<&str> = all.entries.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(
        keys,
        ["p", "p/a", "p/b", "p/c", "p/d", "q/a"],
        "reserved keys are hidden"
    );
    assert!(!all.more);
    let reserved = db.list("@lock/", None, None).await.unwrap();
    assert_eq!(
        reserved.entries.len(),
        1,
        "reserved keys are listed when asked for"
    );
    assert!(all.index >= page.index);
    lock.release().await.unwrap();
}

pub async fn values_round_trip_any_json(store: &Store) {
    let db = store.client().await;
    let values = [
        json!(null),
        json!(true),
        json!(-12),
        json!(18446744073709551615u64),
        json!(1.5),
        json!("é 🙂 \" \\ \u{1}"),
        json!([1, [2, {"x": null}]]),
        json!({"nested": {"deep": [true, false]}, "": ""}),
    ];
    for (i, v) in values.iter().enumerate() {
        let key = format!("json/{i}");
        db.set(&key, v.clone()).await.unwrap();
        assert_eq!(&db.get(&key).await.unwrap().unwrap().value, v);
    }
    let key = "keys/ünïcödé/🙂/with spaces";
    db.set(key, 1).await.unwrap();
    assert!(db.get(key).await.unwrap().is_some());
}
