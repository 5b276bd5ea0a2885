//! The README's Rust example, compiled from the README itself (see `build.rs`) and run on a fresh
//! SQLite store; the test checks the state its comments promise.

mod example {
    include!(concat!(env!("OUT_DIR"), "/readme_example.rs"));

    pub async fn run() -> interlock::Result<()> {
        example().await
    }
}

/// The README's Rust example is the only one in the documentation (README.md and docs/*.md), so
/// no Rust example can be added that this test does not run.
#[test]
fn the_docs_have_one_rust_example_and_it_is_this_one() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = vec![root.join("README.md")];
    for entry in std::fs::read_dir(root.join("docs")).expect("docs/") {
        let path = entry.expect("a docs/ entry").path();
        if path.extension().is_some_and(|e| e == "md") {
            files.push(path);
        }
    }
    let count = |path: &std::path::Path| {
        let text = std::fs::read_to_string(path).expect("a Markdown file");
        text.lines()
            .filter(|l| matches!(l.trim(), "```rust" | "```rs"))
            .count()
    };
    let found: Vec<_> = files
        .iter()
        .map(|f| (f, count(f)))
        .filter(|(_, n)| *n > 0)
        .collect();
    assert_eq!(
        found.iter().map(|(_, n)| n).sum::<usize>(),
        1,
        "Rust blocks in {found:?}: run a new one in a test (see tests/build.rs)"
    );
    assert_eq!(found[0].0, &root.join("README.md"));
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
