//! The README's Rust example, compiled from the README itself (see `build.rs`) and run on a fresh
//! SQLite store; the test checks the state its comments promise.

mod example {
    include!(concat!(env!("OUT_DIR"), "/readme_example.rs"));

    pub async fn run() -> interlock::Result<()> {
        example().await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_rust_example_runs_as_printed() {
    let store = interlock_tests::Store::sqlite();
    // The example connects to INTERLOCK_URL; this test binary has no other test to disturb.
    unsafe { std::env::set_var(interlock::URL_ENV, &store.url) };
    example::run().await.expect("the example runs");
    let db = store.client().await;
    let email = db.get("emails/ada@example.com").await.unwrap().unwrap();
    assert_eq!(email.value, serde_json::json!("users/1"));
    let a = db.get("accounts/1").await.unwrap().unwrap();
    let b = db.get("accounts/2").await.unwrap().unwrap();
    assert_eq!(a.value, serde_json::json!({"funds": 90}));
    assert_eq!(b.value, serde_json::json!({"funds": 110}));
    assert_eq!(a.index, b.index, "one transaction");
    assert!(
        db.lock_queue("printer/first-floor")
            .await
            .unwrap()
            .is_empty()
    );
    // Running it again on the same store: the email is taken, and the session's check of the
    // accounts it loaded still lets it save.
    example::run().await.expect("the example runs twice");
    assert_eq!(
        db.get("emails/ada@example.com")
            .await
            .unwrap()
            .unwrap()
            .value,
        serde_json::json!("users/1")
    );
}
