//! Bad input gets a clear error naming what was wrong, and nothing is written
//! (docs/design.md, Data model, Limits and Errors).

use std::time::Duration;

use interlock::{ErrorKind, PutOptions};
use serde_json::json;

use crate::Store;

pub async fn bad_keys_are_rejected_and_nothing_is_written(store: &Store) {
    let db = store.client().await;
    db.set("seed", 1).await.unwrap();
    let before = db.index().await.unwrap();
    let long = "k".repeat(513);
    for key in [
        "",
        long.as_str(),
        "a\0b",
        "tab\tkey",
        "new\nline",
        "del\u{7f}",
    ] {
        let err = db.set(key, 1).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "key {key:?}");
        let err = db.put(key, 1, 0).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        let err = db.get(key).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        let err = db
            .txn()
            .set("fine", 1)
            .set(key, 1)
            .commit()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    }
    let err = db.set(&long, 1).await.unwrap_err();
    assert!(err.to_string().contains("513 bytes"), "{err}");
    assert!(
        db.set(&"k".repeat(512), 1).await.is_ok(),
        "512 bytes is allowed"
    );
    let after = db.index().await.unwrap();
    assert_eq!(after, before + 1, "only the valid 512-byte key was written");
    assert_eq!(
        db.get("fine").await.unwrap(),
        None,
        "the transaction was not half-written"
    );
    let err = db.list("", None, Some(0)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
}

pub async fn oversize_values_are_rejected(store: &Store) {
    let db = store.client().await;
    let limit = interlock::validate::DEFAULT_MAX_VALUE_BYTES;
    // A JSON string's serialized size is its length plus two quotes.
    let exact = json!("x".repeat(limit - 2));
    let over = json!("x".repeat(limit - 1));
    let before = db.index().await.unwrap();
    let err = db.set("big", over.clone()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(err.to_string().contains("'big'"), "{err}");
    let err = db
        .txn()
        .set("small", 1)
        .set("big", over)
        .commit()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert_eq!(db.index().await.unwrap(), before);
    db.set("big", exact.clone())
        .await
        .expect("a value at the limit fits");
    assert_eq!(db.get("big").await.unwrap().unwrap().value, exact);
}

pub async fn bad_leases_and_ttls_are_rejected(store: &Store) {
    let db = store.client().await;
    let err = db.grant(Duration::from_millis(999)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    let err = db.lease(Duration::ZERO).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    let before = db.index().await.unwrap();
    let bogus = PutOptions {
        index: None,
        lease: Some(987_654_321),
    };
    let err = db.put_with("leased", 1, bogus).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LeaseExpired);
    assert!(
        err.to_string().contains("987654321"),
        "names the lease: {err}"
    );
    let err = db
        .txn()
        .set("other", 1)
        .put_with("leased", 1, bogus)
        .commit()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LeaseExpired);
    assert_eq!(db.index().await.unwrap(), before, "nothing written");
    assert_eq!(db.get("other").await.unwrap(), None);
    let lock = db.lock_with(
        "l",
        interlock::LockOptions {
            ttl: Duration::from_millis(10),
            ..Default::default()
        },
    );
    assert_eq!(
        lock.acquire(None).await.unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    let long_name = "n".repeat(500);
    let err = db.lock(&long_name).acquire(None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(err.to_string().contains("too long"), "{err}");
}

pub async fn reserved_keys_are_readable_not_writable(store: &Store) {
    let db = store.client().await;
    for key in ["@lock/x/1", "@anything"] {
        let err = db.set(key, 1).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        assert!(err.to_string().contains("reserved"), "{err}");
        assert_eq!(
            db.delete(key, None).await.unwrap_err().kind(),
            ErrorKind::InvalidArgument
        );
        let err = db.txn().delete(key).commit().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        let mut s = db.session();
        assert_eq!(
            s.store(key, 1).unwrap_err().kind(),
            ErrorKind::InvalidArgument
        );
    }
    let lock = db.lock("r");
    let token = lock.acquire(None).await.unwrap();
    let queue = db.list("@lock/r/", None, None).await.unwrap();
    assert_eq!(queue.entries.len(), 1);
    assert_eq!(queue.entries[0].index, token);
    assert!(db.get(&queue.entries[0].key).await.unwrap().is_some());
    lock.release().await.unwrap();
}
