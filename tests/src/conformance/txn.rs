//! Transactions and the retry helper (docs/design.md, Transactions).

use std::sync::Arc;

use interlock::{ErrorKind, retry};
use serde_json::json;

use crate::Store;

pub async fn txn_commits_all_ops_at_one_index(store: &Store) {
    let db = store.client().await;
    db.set("gone", 1).await.unwrap();
    let before = db.index().await.unwrap();
    let index = db
        .txn()
        .set("t/a", 1)
        .put("t/b", 2, 0)
        .delete("gone")
        .commit()
        .await
        .unwrap();
    assert_eq!(index, before + 1, "one transaction, one index");
    let got = db.get_many(&["t/a", "t/b", "gone"]).await.unwrap();
    assert_eq!(got.len(), 2);
    assert!(got.iter().all(|e| e.index == index));
}

pub async fn txn_commits_once(store: &Store) {
    let db = store.client().await;
    let mut txn = db.txn();
    txn.set("once/a", 1);
    let index = txn.commit().await.unwrap();
    let again = txn.commit().await.unwrap_err();
    assert_eq!(again.kind(), ErrorKind::InvalidArgument, "{again}");
    assert!(again.to_string().contains("committed already"), "{again}");
    txn.set("once/b", 2);
    assert_eq!(
        txn.commit().await.unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    assert_eq!(db.index().await.unwrap(), index, "nothing written again");
    assert!(db.get("once/b").await.unwrap().is_none());
}

/// An invalid step is reported by `take_error` and left out: what the bindings use to refuse a
/// step at its call while the rest of the transaction still commits.
pub async fn txn_take_error_leaves_the_invalid_step_out(store: &Store) {
    let db = store.client().await;
    let mut txn = db.txn();
    txn.set("taken/a", 1);
    assert!(txn.take_error().is_none());
    txn.set("@taken", 2);
    let refused = txn.take_error().expect("a reserved key is refused");
    assert_eq!(refused.kind(), ErrorKind::InvalidArgument, "{refused}");
    assert!(refused.to_string().contains("reserved"), "{refused}");
    txn.check("", 0);
    assert!(txn.take_error().is_some(), "an empty key is refused");
    assert!(txn.take_error().is_none(), "taken once");
    // A second op on a key, a check at a second index, and a step past the limit are refused
    // by the step itself.
    txn.set("taken/a", 2);
    let twice = txn
        .take_error()
        .expect("a second write of a key is refused");
    assert!(
        twice.to_string().contains("writes key 'taken/a' twice"),
        "{twice}"
    );
    txn.check("taken/b", 0).check("taken/b", 0);
    assert!(
        txn.take_error().is_none(),
        "the same check twice is one check"
    );
    txn.check("taken/b", 5);
    assert!(
        txn.take_error().is_some(),
        "a check at a second index is refused"
    );
    txn.delete_at("taken/a", 1);
    assert!(
        txn.take_error().is_some(),
        "delete_at of a written key is refused"
    );
    assert_eq!(
        txn.len(),
        3,
        "the refused steps were left out, delete_at's check too"
    );
    for i in 3..interlock::validate::MAX_TXN_OPS {
        txn.check(&format!("taken/c{i}"), 0);
    }
    assert!(txn.take_error().is_none());
    txn.set("taken/over", 1);
    let over = txn.take_error().expect("a step past the limit is refused");
    assert!(over.to_string().contains("the limit is 128"), "{over}");
    assert_eq!(txn.len(), interlock::validate::MAX_TXN_OPS);
    txn.commit().await.unwrap();
    assert!(db.get("taken/a").await.unwrap().is_some());
    assert!(db.get("taken/over").await.unwrap().is_none());
}

pub async fn txn_is_all_or_nothing_and_reports_every_violation(store: &Store) {
    let db = store.client().await;
    let a = db.set("acct/a", 10).await.unwrap();
    let b = db.set("acct/b", 20).await.unwrap();
    let before = db.index().await.unwrap();
    let err = db
        .txn()
        .put("acct/a", 0, a)
        .put("acct/b", 30, b + 1)
        .check("acct/c", 7)
        .check("acct/a", a)
        .set("acct/new", 1)
        .commit()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    let mut conflicts: Vec<(String, u64, u64)> = err
        .conflicts()
        .iter()
        .map(|c| (c.key.clone(), c.expected, c.actual))
        .collect();
    conflicts.sort();
    assert_eq!(
        conflicts,
        [
            ("acct/b".to_string(), b + 1, b),
            ("acct/c".to_string(), 7, 0)
        ],
        "every failed check, and only those"
    );
    assert!(
        err.to_string().contains("acct/b"),
        "message names the keys: {err}"
    );
    assert_eq!(db.index().await.unwrap(), before, "nothing written");
    assert_eq!(db.get("acct/a").await.unwrap().unwrap().value, json!(10));
    assert_eq!(db.get("acct/new").await.unwrap(), None);
}

pub async fn txn_op_limit_is_128(store: &Store) {
    let db = store.client().await;
    let mut ok = db.txn();
    for i in 0..100 {
        ok.set(&format!("lim/{i}"), i);
    }
    for i in 100..128 {
        ok.check(&format!("lim/{i}"), 0);
    }
    ok.commit().await.expect("128 checks+ops are allowed");
    let before = db.index().await.unwrap();
    let mut too_many = db.txn();
    for i in 0..129 {
        too_many.set(&format!("over/{i}"), i);
    }
    let err = too_many.commit().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(err.to_string().contains("129"), "{err}");
    assert_eq!(db.index().await.unwrap(), before);
    assert!(
        db.list("over/", None, None)
            .await
            .unwrap()
            .entries
            .is_empty()
    );
}

pub async fn txn_rejects_duplicate_keys_and_contradictory_checks(store: &Store) {
    let db = store.client().await;
    let err = db.txn().set("d", 1).delete("d").commit().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(err.to_string().contains("'d'"), "{err}");
    let err = db
        .txn()
        .check("d", 1)
        .check("d", 2)
        .set("e", 1)
        .commit()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert_eq!(db.get("e").await.unwrap(), None);
    db.txn()
        .check("d", 0)
        .put("d", 1, 0)
        .commit()
        .await
        .expect("agreeing checks");
}

pub async fn retry_loses_no_update_under_contention(store: &Store) {
    let db = store.client().await;
    db.set("counter", 0).await.unwrap();
    let mut tasks = Vec::new();
    let attempts = Arc::new(std::sync::atomic::AtomicU32::new(0));
    for _ in 0..4 {
        let db = store.client().await;
        let attempts = attempts.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..10 {
                retry(100, |_| {
                    attempts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let db = db.clone();
                    async move {
                        let e = db.get("counter").await?.expect("counter");
                        let n = e.value.as_i64().expect("number");
                        db.txn().put("counter", n + 1, e.index).commit().await
                    }
                })
                .await
                .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(db.get("counter").await.unwrap().unwrap().value, json!(40));
    assert!(attempts.load(std::sync::atomic::Ordering::Relaxed) >= 40);
}
