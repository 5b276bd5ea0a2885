//! Sessions: documents with optimistic concurrency (docs/design.md, Sessions).

use interlock::{ErrorKind, SessionOptions};
use serde_json::json;

use crate::Store;

pub async fn session_saves_tracked_changes(store: &Store) {
    let db = store.client().await;
    db.set("accounts/1", json!({"funds": 100})).await.unwrap();
    db.set("accounts/2", json!({"funds": 5})).await.unwrap();
    let untouched = db.set("accounts/3", json!({"funds": 1})).await.unwrap();
    let mut s = db.session();
    s.load_many(&["accounts/1", "accounts/2", "accounts/3"])
        .await
        .unwrap();
    s.get_mut("accounts/1").unwrap()["funds"] = json!(90);
    s.get_mut("accounts/2").unwrap()["funds"] = json!(15);
    s.store("accounts/4", json!({"funds": 0})).unwrap();
    assert!(s.has_changes());
    let index = s.save_changes().await.unwrap().expect("something saved");
    let got = db
        .get_many(&["accounts/1", "accounts/2", "accounts/3", "accounts/4"])
        .await
        .unwrap();
    let funds: Vec<i64> = got
        .iter()
        .map(|e| e.value["funds"].as_i64().unwrap())
        .collect();
    assert_eq!(funds, [90, 15, 1, 0]);
    assert_eq!(got[0].index, index);
    assert_eq!(got[3].index, index, "one transaction");
    assert_eq!(
        got[2].index, untouched,
        "an unchanged document is not written"
    );
    assert!(!s.has_changes());
    assert_eq!(
        s.save_changes().await.unwrap(),
        None,
        "nothing left to save"
    );
    s.get_mut("accounts/1").unwrap()["funds"] = json!(80);
    s.delete("accounts/4").unwrap();
    s.save_changes()
        .await
        .expect("the session continues from what it saved");
    assert_eq!(
        db.get("accounts/1").await.unwrap().unwrap().value,
        json!({"funds": 80})
    );
    assert_eq!(db.get("accounts/4").await.unwrap(), None);
}

pub async fn session_detects_concurrent_edit(store: &Store) {
    let db = store.client().await;
    let created = db
        .set("records/7", json!({"title": "draft"}))
        .await
        .unwrap();
    let mut first = db.session();
    let mut second = store.client().await.session();
    first.load_value("records/7").await.unwrap();
    second.load_value("records/7").await.unwrap();
    first.get_mut("records/7").unwrap()["title"] = json!("first");
    second.get_mut("records/7").unwrap()["title"] = json!("second");
    let saved = first.save_changes().await.unwrap().unwrap();
    let err = second.save_changes().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    let c = &err.conflicts()[0];
    assert_eq!(
        (c.key.as_str(), c.expected, c.actual),
        ("records/7", created, saved)
    );
    assert_eq!(
        db.get("records/7").await.unwrap().unwrap().value["title"],
        json!("first")
    );
}

pub async fn session_store_of_existing_key_conflicts(store: &Store) {
    let db = store.client().await;
    let existing = db.set("users/ada", json!({"name": "Ada"})).await.unwrap();
    let mut s = db.session();
    s.store("users/ada", json!({"name": "Impostor"})).unwrap();
    s.store("users/bob", json!({"name": "Bob"})).unwrap();
    let err = s.save_changes().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(err.conflicts().len(), 1);
    let c = &err.conflicts()[0];
    assert_eq!(
        (c.key.as_str(), c.expected, c.actual),
        ("users/ada", 0, existing)
    );
    assert_eq!(db.get("users/bob").await.unwrap(), None, "all or nothing");
}

pub async fn session_opt_out_is_last_write_wins(store: &Store) {
    let db = store.client().await;
    db.set("lww", json!(1)).await.unwrap();
    let options = SessionOptions { optimistic: false };
    let mut a = db.session_with(options);
    let mut b = db.session_with(options);
    a.load_value("lww").await.unwrap();
    b.load_value("lww").await.unwrap();
    *a.get_mut("lww").unwrap() = json!(2);
    *b.get_mut("lww").unwrap() = json!(3);
    a.save_changes().await.unwrap();
    b.save_changes().await.expect("no concurrency check");
    assert_eq!(db.get("lww").await.unwrap().unwrap().value, json!(3));
    let mut c = db.session_with(options);
    c.store("lww", json!(4)).unwrap();
    c.save_changes()
        .await
        .expect("storing over an existing key is allowed");
}

pub async fn session_commits_compare_exchange_in_same_txn(store: &Store) {
    let db = store.client().await;
    let mut s = db.session();
    s.store("users/1", json!({"email": "a@b.c"})).unwrap();
    s.put_compare_exchange("emails/a@b.c", "users/1", 0)
        .unwrap();
    let index = s.save_changes().await.unwrap().unwrap();
    assert_eq!(db.get("emails/a@b.c").await.unwrap().unwrap().index, index);
    let mut dup = db.session();
    dup.store("users/2", json!({"email": "a@b.c"})).unwrap();
    dup.put_compare_exchange("emails/a@b.c", "users/2", 0)
        .unwrap();
    let err = dup.save_changes().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(err.conflicts()[0].key, "emails/a@b.c");
    assert_eq!(
        db.get("users/2").await.unwrap(),
        None,
        "the document was not saved either"
    );
    let mut del = db.session();
    del.delete_compare_exchange("emails/a@b.c", index).unwrap();
    del.save_changes().await.unwrap();
    assert_eq!(db.get("emails/a@b.c").await.unwrap(), None);
}

pub async fn session_writes_stores_and_deletes_of_unloaded_keys(store: &Store) {
    let db = store.client().await;
    db.set("n", json!(1)).await.unwrap();
    let mut s = db.session_with(SessionOptions { optimistic: false });
    s.delete("n").unwrap();
    s.store("n", json!(null)).unwrap();
    s.save_changes()
        .await
        .unwrap()
        .expect("a store of null is a change");
    assert_eq!(db.get("n").await.unwrap().unwrap().value, json!(null));
    let mut d = db.session_with(SessionOptions { optimistic: false });
    d.delete("n").unwrap();
    assert!(d.has_changes());
    d.save_changes().await.unwrap();
    assert_eq!(db.get("n").await.unwrap(), None);
}
