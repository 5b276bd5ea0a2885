//! The server's HTTP surface against a real `interlock serve` process over a real SQLite file:
//! the bearer token guards every path under /v1/ (even unknown ones) and a refused request
//! touches nothing; bad bodies get a 400 that names the problem and write nothing; an unknown
//! path gets a JSON 404 and a wrong method a JSON 405.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use interlock::Client;
use interlock_tests::Store;
use interlock_tests::server::{Server, exchange_to, raw, raw_to, request};
use serde_json::{Value, json};

const EXE: &str = env!("CARGO_BIN_EXE_interlock");
const TOKEN: &str = "s3cret-token";

fn error_kind(body: &str) -> String {
    let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    v["error"]["kind"].as_str().unwrap_or_default().to_string()
}

async fn snapshot(db: &Client) -> (u64, Vec<(String, Value)>) {
    let page = db.list("", None, None).await.expect("list");
    (
        db.index().await.expect("index"),
        page.entries.into_iter().map(|e| (e.key, e.value)).collect(),
    )
}

fn commit_body(key: &str) -> String {
    json!({ "ops": [{ "put": { "key": key, "value": 1 } }] }).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_token_every_v1_path_is_401_and_touches_nothing() {
    let store = Store::sqlite();
    let server = Server::start(EXE, &store.url, &["--token", TOKEN]);
    let db = store.client().await;
    db.set("existing", "value").await.unwrap();
    let before = snapshot(&db).await;

    let attempts = [
        ("POST", "/v1/backend/commit", commit_body("x")),
        ("GET", "/v1/kv/existing", String::new()),
        ("GET", "/v1/no/such/endpoint", String::new()),
        ("GET", "/v1", String::new()),
        ("POST", "/v1/", commit_body("x")),
        ("POST", "/v1/leases", json!({ "ttl": 5 }).to_string()),
        ("DELETE", "/v1/leases/1", String::new()),
    ];
    for (method, path, body) in &attempts {
        for auth in [None, Some("wrong-token"), Some("")] {
            let (status, reply) = raw(&server, &request(method, path, auth, body));
            assert_eq!(status, 401, "{method} {path} with {auth:?}: {reply}");
            assert_eq!(error_kind(&reply), "Unauthorized", "{reply}");
        }
    }
    // A token differing in case, or sent with another scheme, is no token.
    let (status, _) = raw(
        &server,
        &request(
            "POST",
            "/v1/backend/commit",
            Some(&TOKEN.to_uppercase()),
            &commit_body("x"),
        ),
    );
    assert_eq!(status, 401);
    let basic = format!(
        "POST /v1/backend/commit HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
         Authorization: Basic {TOKEN}\r\nContent-Length: 0\r\n\r\n"
    );
    assert_eq!(raw(&server, &basic).0, 401);
    // Even an oversize request is refused for its missing token first.
    let huge = format!(
        "POST /v1/backend/commit HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
         Content-Length: {}\r\n\r\n",
        64 * 1024 * 1024
    );
    assert_eq!(raw(&server, &huge).0, 401);
    assert_eq!(
        snapshot(&db).await,
        before,
        "a refused request changed the store"
    );

    // With the token: the same commit goes through.
    let (status, reply) = raw(
        &server,
        &request("POST", "/v1/backend/commit", Some(TOKEN), &commit_body("x")),
    );
    assert_eq!(status, 200, "{reply}");
    assert_eq!(db.get("x").await.unwrap().unwrap().value, json!(1));
    // /healthz needs no token.
    assert_eq!(raw(&server, &request("GET", "/healthz", None, "")).0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_with_a_wrong_token_fails_with_unauthorized() {
    let store = Store::sqlite();
    let server = Server::start(EXE, &store.url, &["--token", TOKEN]);
    let options = interlock::ConnectOptions {
        token: Some("nope".into()),
    };
    let e = Client::connect_with(&server.url, &options)
        .await
        .err()
        .expect("a wrong token is refused");
    assert_eq!(e.kind(), interlock::ErrorKind::Unauthorized, "{e}");
    let options = interlock::ConnectOptions {
        token: Some(TOKEN.into()),
    };
    let db = Client::connect_with(&server.url, &options).await.unwrap();
    assert!(db.put("k", 1, 0).await.unwrap().successful);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_bodies_get_a_400_naming_the_problem_and_write_nothing() {
    let store = Store::sqlite();
    let server = Server::start(EXE, &store.url, &[]);
    let db = store.client().await;
    db.set("existing", "value").await.unwrap();
    let before = snapshot(&db).await;
    let long_key = "k".repeat(600);
    let big = "x".repeat(1024 * 1024 + 10);
    let too_many: Vec<Value> = (0..1100)
        .map(|i| json!({ "put": { "key": format!("k{i}"), "value": i } }))
        .collect();
    let cases: Vec<(&str, String, &str)> = vec![
        ("/v1/backend/commit", "{not json".into(), "not valid"),
        ("/v1/backend/commit", "[1, 2]".into(), "not valid"),
        (
            "/v1/backend/commit",
            json!({ "ops": [{ "frobnicate": {} }] }).to_string(),
            "not valid",
        ),
        (
            "/v1/backend/commit",
            json!({ "ops": [], "extra": 1 }).to_string(),
            "not valid",
        ),
        (
            "/v1/backend/commit",
            json!({ "ops": [{ "put": { "key": "", "value": 1 } }] }).to_string(),
            "empty",
        ),
        (
            "/v1/backend/commit",
            json!({ "ops": [{ "put": { "key": "a\u{0}b", "value": 1 } }] }).to_string(),
            "control",
        ),
        (
            "/v1/backend/commit",
            json!({ "ops": [{ "put": { "key": "a\r\nX-Injected: 1", "value": 1 } }] }).to_string(),
            "control",
        ),
        (
            "/v1/backend/commit",
            json!({ "ops": [{ "put": { "key": long_key, "value": 1 } }] }).to_string(),
            "512",
        ),
        (
            "/v1/backend/commit",
            json!({ "ops": [{ "put": { "key": "big", "value": big } }] }).to_string(),
            "limit",
        ),
        (
            "/v1/backend/commit",
            json!({ "ops": too_many }).to_string(),
            "at most",
        ),
        (
            "/v1/backend/commit",
            json!({ "ops": [{ "put": { "key": "d", "value": 1 } }, { "delete": { "key": "d" } }] })
                .to_string(),
            "more than one op",
        ),
        (
            "/v1/backend/commit",
            json!({ "ops": [{ "put": { "key": "l", "value": 1, "lease": "abc" } }] }).to_string(),
            "lease id",
        ),
        (
            "/v1/backend/read",
            json!({ "reads": [{ "keys": ["ok", ""] }] }).to_string(),
            "empty",
        ),
        ("/v1/leases", json!({ "ttl": -1 }).to_string(), "seconds"),
        ("/v1/leases", json!({ "ttl": 0.2 }).to_string(), "too short"),
        (
            "/v1/leases/ttl",
            json!({ "ids": ["1", "x"] }).to_string(),
            "lease id",
        ),
    ];
    for (path, body, says) in &cases {
        let (status, reply) = raw(&server, &request("POST", path, None, body));
        assert_eq!(
            status,
            400,
            "{path} {}: {reply}",
            &body[..body.len().min(80)]
        );
        assert_eq!(error_kind(&reply), "InvalidArgument", "{reply}");
        assert!(
            reply.contains(says),
            "{path}: the message {reply} does not say '{says}'"
        );
    }
    let (status, reply) = raw(
        &server,
        &request("POST", "/v1/leases/abc/keepalive", None, ""),
    );
    assert_eq!(
        (status, error_kind(&reply).as_str()),
        (400, "InvalidArgument"),
        "{reply}"
    );
    let (status, reply) = raw(
        &server,
        &request("POST", "/v1/leases/12345/keepalive", None, ""),
    );
    assert_eq!(
        (status, error_kind(&reply).as_str()),
        (404, "LeaseExpired"),
        "{reply}"
    );
    // A body over the server's limit is refused before it is read.
    let huge = format!(
        "POST /v1/backend/commit HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        64 * 1024 * 1024
    );
    assert_eq!(raw(&server, &huge).0, 413);
    assert_eq!(
        snapshot(&db).await,
        before,
        "a refused request changed the store"
    );
    // Still serving.
    assert_eq!(raw(&server, &request("GET", "/healthz", None, "")).0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_and_show_locks_without_keys() {
    let store = Store::sqlite();
    let server = Server::start(EXE, &store.url, &[]);
    let db = Client::connect(&server.url).await.unwrap();
    let holder = db.lock("secret-lock-name");
    holder.acquire(None).await.unwrap();
    let waiter = db.lock("secret-lock-name");
    let waiting = {
        let waiter = waiter.clone();
        tokio::spawn(async move { waiter.acquire(None).await })
    };
    while db.lock_queue("secret-lock-name").await.unwrap().len() < 2 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    db.set("secret-key", 1).await.unwrap();
    let (status, text) = tokio::task::spawn_blocking({
        let request = request("GET", "/metrics", None, "");
        let server_url = server.url.clone();
        move || raw_to(&server_url, &request)
    })
    .await
    .unwrap();
    assert_eq!(status, 200);
    assert!(text.contains("interlock_locks_held 1"), "{text}");
    assert!(text.contains("interlock_lock_waiters 1"), "{text}");
    assert!(text.contains("interlock_lock_leases 1"), "{text}");
    let commits = text
        .lines()
        .find(|l| {
            l.starts_with("interlock_http_requests_total")
                && l.contains("route=\"/v1/backend/commit\"")
                && l.contains("status=\"200\"")
        })
        .unwrap_or_else(|| panic!("no commit counter in {text}"));
    let count: f64 = commits.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(count >= 3.0, "{commits}");
    assert!(text.contains("interlock_leases_granted_total 1"), "{text}");
    assert!(
        !text.contains("secret"),
        "a key or lock name leaked into the metrics"
    );
    holder.release().await.unwrap();
    waiting.await.unwrap().unwrap();
    waiter.release().await.unwrap();
}

#[test]
fn cors_allows_listed_origins_only_and_preflights_need_no_token() {
    let store = Store::sqlite();
    let server = Server::start(
        EXE,
        &store.url,
        &[
            "--token",
            TOKEN,
            "--cors-origin",
            "http://dash.example:8080",
        ],
    );
    let preflight = |origin: &str| {
        raw(
            &server,
            &format!(
                "OPTIONS /v1/backend/commit HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
                 Origin: {origin}\r\nAccess-Control-Request-Method: POST\r\n\
                 Access-Control-Request-Headers: authorization, content-type\r\n\
                 Content-Length: 0\r\n\r\n"
            ),
        )
    };
    let headers = |origin: &str| {
        let addr = server.url.trim_start_matches("http://");
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream
            .write_all(
                format!(
                    "OPTIONS /v1/backend/commit HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
                     Origin: {origin}\r\nAccess-Control-Request-Method: POST\r\n\
                     Content-Length: 0\r\n\r\n"
                )
                .as_bytes(),
            )
            .unwrap();
        let mut reply = String::new();
        let _ = stream.read_to_string(&mut reply);
        reply.to_lowercase()
    };
    let (status, _) = preflight("http://dash.example:8080");
    assert_eq!(status, 200);
    assert!(
        headers("http://dash.example:8080")
            .contains("access-control-allow-origin: http://dash.example:8080")
    );
    assert!(!headers("http://evil.example").contains("access-control-allow-origin"));
    // A real request from the allowed origin still needs the token.
    let (status, _) = raw(
        &server,
        "POST /v1/backend/commit HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
         Origin: http://dash.example:8080\r\nContent-Length: 2\r\n\r\n{}",
    );
    assert_eq!(status, 401);
}

#[test]
fn a_client_that_sends_its_body_too_slowly_gets_504_and_writes_nothing() {
    let store = Store::sqlite();
    let server = Server::start(EXE, &store.url, &["--request-timeout", "1"]);
    let body = commit_body("slow");
    // The headers promise the whole body; only half of it ever comes.
    let partial = format!(
        "POST /v1/backend/commit HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{}",
        body.len(),
        &body[..body.len() / 2]
    );
    let (status, reply) = raw(&server, &partial);
    assert_eq!(status, 504);
    // The JSON error of every other reply, naming the timeout as people write it.
    let reply: Value = serde_json::from_str(&reply).unwrap_or_else(|e| panic!("{e}: {reply}"));
    assert_eq!(reply["error"]["kind"], json!("Unavailable"), "{reply}");
    let message = reply["error"]["message"].as_str().unwrap();
    assert!(message.contains("request timeout of 1 s"), "{message}");
    let (_, metrics) = raw(&server, &request("GET", "/metrics", None, ""));
    assert!(metrics.contains(r#"status="504""#), "{metrics}");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let db = store.client().await;
        assert_eq!(db.get("slow").await.unwrap(), None);
    });
    assert_eq!(raw(&server, &request("GET", "/healthz", None, "")).0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_of_other_sites_cannot_write_to_a_server_without_a_token() {
    let store = Store::sqlite();
    let server = Server::start(EXE, &store.url, &[]);
    let db = store.client().await;
    db.set("existing", "value").await.unwrap();
    let before = snapshot(&db).await;
    let body = commit_body("x");
    // A "simple" cross-site request: text/plain needs no preflight, so it must be refused here.
    let plain = format!(
        "POST /v1/backend/commit HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
         Content-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let (status, reply) = raw(&server, &plain);
    assert_eq!(status, 415, "{reply}");
    assert!(reply.contains("application/json"), "{reply}");
    // A rebound DNS name pointing at the loopback address.
    let rebound = request("POST", "/v1/backend/commit", None, &body)
        .replace("Host: localhost", "Host: evil.example:7070");
    let (status, reply) = raw(&server, &rebound);
    assert_eq!(status, 401, "{reply}");
    assert!(reply.contains("evil.example"), "{reply}");
    assert_eq!(
        snapshot(&db).await,
        before,
        "a refused request changed the store"
    );
    // Addressed by a loopback name or address, JSON: served.
    let by_ip = request("POST", "/v1/backend/commit", None, &body)
        .replace("Host: localhost", "Host: 127.0.0.1:7070");
    assert_eq!(raw(&server, &by_ip).0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_request_cannot_ask_for_unbounded_work() {
    let store = Store::sqlite();
    let server = Server::start(EXE, &store.url, &[]);
    let db = store.client().await;
    let mut txn = db.txn();
    for i in 0..120 {
        txn.set(&format!("many/{i:04}"), i);
    }
    txn.commit().await.unwrap();
    let keys: Vec<String> = (0..2000).map(|_| "many/0001".to_string()).collect();
    let (status, reply) = post(
        &server,
        "/v1/backend/read",
        &json!({ "reads": [{ "keys": keys }] }),
    );
    assert_eq!(status, 400, "{reply}");
    assert!(reply.contains("at most 1024"), "{reply}");
    let keys: Vec<String> = (0..1001).map(|i| format!("k{i}")).collect();
    let (status, reply) = post(&server, "/v1/get-many", &json!({ "keys": keys }));
    assert_eq!(status, 400, "{reply}");
    // A page over the limit is refused, as docs/server-api.md says, not silently cut.
    for limit in [1001, 5000, 100000] {
        let (status, reply) = raw(
            &server,
            &request(
                "GET",
                &format!("/v1/kv?prefix=many/&limit={limit}"),
                None,
                "",
            ),
        );
        assert_eq!(status, 400, "limit {limit}: {reply}");
        let message = serde_json::from_str::<Value>(&reply).unwrap()["error"]["message"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            message.contains("'limit'")
                && message.contains(&limit.to_string())
                && message.contains("at most 1000"),
            "{message}"
        );
    }
    let (status, page) = raw(
        &server,
        &request("GET", "/v1/kv?prefix=many/&limit=1000", None, ""),
    );
    assert_eq!(status, 200);
    let page: Value = serde_json::from_str(&page).unwrap();
    assert_eq!(page["entries"].as_array().unwrap().len(), 120);
    // A made-up method is answered and counted as "other", not as a new label.
    let (status, _) = raw(&server, &request("FROBNICATE", "/v1/info", None, ""));
    assert!(status >= 400);
    let (_, metrics) = raw(&server, &request("GET", "/metrics", None, ""));
    assert!(!metrics.contains("FROBNICATE"), "{metrics}");
    assert!(metrics.contains("method=\"other\""), "{metrics}");
}

/// Words of the parsing library and Rust's types, which a user's 400 must not show.
const NOT_OUR_WORDS: [&str; 14] = [
    "invalid type",
    "invalid value",
    "expected ",
    "deserialize",
    "serde",
    "u64",
    "f64",
    "usize",
    "struct",
    "variant",
    "`",
    " at line ",
    "Failed to",
    "sequence",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_query_or_body_names_the_field_the_value_and_the_rule() {
    let store = Store::sqlite();
    let server = Server::start(EXE, &store.url, &[]);
    let db = store.client().await;
    db.set("existing", "value").await.unwrap();
    let before = snapshot(&db).await;
    // (method, path, body, what the message must say)
    let cases: Vec<(&str, &str, &str, Vec<&str>)> = vec![
        (
            "GET",
            "/v1/kv?limit=x",
            "",
            vec!["the query parameter 'limit' must be a non-negative integer, got \"x\""],
        ),
        (
            "GET",
            "/v1/kv?limit=-1",
            "",
            vec!["'limit'", "non-negative integer", "\"-1\""],
        ),
        (
            "GET",
            "/v1/kv?bogus=1",
            "",
            vec!["'bogus'", "unknown", "'prefix'", "'limit'"],
        ),
        (
            "GET",
            "/v1/kv?limit=1&limit=2",
            "",
            vec!["'limit'", "more than once"],
        ),
        (
            "DELETE",
            "/v1/kv/existing?index=x",
            "",
            vec!["'index'", "non-negative integer", "\"x\""],
        ),
        (
            "DELETE",
            "/v1/locks/l/holder?token=abc",
            "",
            vec!["'token'", "\"abc\""],
        ),
        (
            "GET",
            "/v1/backend/watch?from=soon",
            "",
            vec!["'from'", "\"soon\""],
        ),
        (
            "GET",
            "/v1/backend/watch?include_reserved=yes",
            "",
            vec!["'include_reserved'", "true or false", "\"yes\""],
        ),
        (
            "POST",
            "/v1/leases",
            r#"{"ttl": "x"}"#,
            vec!["field 'ttl'", "a number", "\"x\""],
        ),
        (
            "POST",
            "/v1/leases",
            r#"{"ttl": null}"#,
            vec!["field 'ttl'", "a number", "null"],
        ),
        (
            "POST",
            "/v1/leases",
            r#"{}"#,
            vec!["field 'ttl'", "required"],
        ),
        (
            "POST",
            "/v1/leases",
            r#"{"ttl": 5, "extra": 1}"#,
            vec!["field 'extra'", "takes ttl"],
        ),
        (
            "POST",
            "/v1/leases",
            r#"{"ttl": 5, "ttl": 6}"#,
            vec!["field 'ttl'", "twice"],
        ),
        (
            "POST",
            "/v1/leases/ttl",
            r#"{"ids": [1]}"#,
            vec!["field 'ids[0]'", "a string", "got 1"],
        ),
        (
            "POST",
            "/v1/get-many",
            r#"{"keys": "a"}"#,
            vec!["field 'keys'", "an array", "\"a\""],
        ),
        (
            "POST",
            "/v1/leases",
            r#"{"ttl": 1e400}"#,
            vec!["not valid", "number", "out of range", "column"],
        ),
        (
            "POST",
            "/v1/get-many",
            "[1, 2]",
            vec!["a JSON object", "[1,2]"],
        ),
        (
            "POST",
            "/v1/get-many",
            r#"{"keys": ["#,
            vec!["not valid JSON", "line 1"],
        ),
        (
            "POST",
            "/v1/txn",
            r#"{"ops": [{"put": {"key": "a", "value": 1, "index": "x"}}]}"#,
            vec!["field 'ops[0].put.index'", "non-negative integer", "\"x\""],
        ),
        (
            "POST",
            "/v1/txn",
            r#"{"checks": [{"key": "a", "index": -1}]}"#,
            vec!["field 'checks[0].index'", "non-negative integer", "-1"],
        ),
        (
            "POST",
            "/v1/txn",
            r#"{"ops": [{"frobnicate": {"key": "a"}}]}"#,
            vec!["'ops[0]'", "'frobnicate'", "put, delete"],
        ),
        (
            "POST",
            "/v1/txn",
            r#"{"ops": [{"put": 1}]}"#,
            vec!["'ops[0].put'", "an object", "got 1"],
        ),
        (
            "POST",
            "/v1/txn",
            r#"{"ops": [{"put": {"value": 1}}]}"#,
            vec!["'ops[0].put.key'", "required"],
        ),
        (
            "POST",
            "/v1/backend/read",
            r#"{"reads": [{"range": {"prefix": "a", "limit": 1.5}}]}"#,
            vec!["'reads[0].range.limit'", "non-negative integer", "1.5"],
        ),
        (
            "POST",
            "/v1/backend/commit",
            r#"{"ops": [{"put": {"key": "a", "value": 1, "lease": 5}}]}"#,
            vec!["'ops[0].put.lease'", "a string", "got 5"],
        ),
    ];
    for (method, path, body, says) in cases {
        let what = format!("{method} {path} {body}");
        let (status, reply) = raw(&server, &request(method, path, None, body));
        assert_eq!(status, 400, "{what}: {reply}");
        let reply: Value = serde_json::from_str(&reply).unwrap_or_else(|e| panic!("{e}: {reply}"));
        assert_eq!(
            reply["error"]["kind"],
            json!("InvalidArgument"),
            "{what}: {reply}"
        );
        let message = reply["error"]["message"].as_str().unwrap();
        for said in says {
            assert!(
                message.contains(said),
                "{what}: {message:?} does not say {said:?}"
            );
        }
        for word in NOT_OUR_WORDS {
            assert!(!message.contains(word), "{what}: {message:?} says {word:?}");
        }
    }
    assert_eq!(snapshot(&db).await, before, "a refused request wrote");
}

#[test]
fn a_store_out_of_reach_is_named_with_durations_as_people_write_them() {
    // Nothing listens on port 1; the server starts, and each request finds etcd out of reach.
    let server = Server::start(EXE, "etcd://127.0.0.1:1?failover_timeout=1&timeout=1", &[]);
    let (status, reply) = raw(&server, &request("GET", "/v1/index", None, ""));
    assert_eq!(status, 503, "{reply}");
    let reply: Value = serde_json::from_str(&reply).unwrap();
    assert_eq!(reply["error"]["kind"], json!("Unavailable"), "{reply}");
    let message = reply["error"]["message"].as_str().unwrap();
    assert!(message.contains("within 1 s"), "{message}");
    assert!(!message.contains("1s"), "{message}");
    // In interlock's words: which member, and why, not the HTTP client's layers.
    assert!(
        message.contains("the etcd member at 127.0.0.1:1 could not be reached: connection refused"),
        "{message}"
    );
    for word in NOT_THE_HTTP_CLIENTS_WORDS {
        assert!(!message.contains(word), "{message:?} says {word:?}");
    }
}

/// What reqwest and hyper say of a failed request, which a user of interlock should not read.
const NOT_THE_HTTP_CLIENTS_WORDS: [&str; 7] = [
    "error sending request",
    "for url",
    "client error",
    "tcp connect error",
    "os error",
    "reqwest",
    "hyper",
];

/// The JSON error of a reply: its content type is JSON and its body `{"error": {"kind",
/// "message"}}`; returns the message.
fn json_error(reply: &interlock_tests::server::Reply, what: &str) -> String {
    json_error_of(reply, what, "InvalidArgument")
}

/// [`json_error`] of the kind `kind`.
fn json_error_of(reply: &interlock_tests::server::Reply, what: &str, kind: &str) -> String {
    assert!(
        reply.head.contains("content-type: application/json"),
        "{what}: not JSON: {}\n{}",
        reply.head,
        reply.body
    );
    let body: Value = serde_json::from_str(&reply.body)
        .unwrap_or_else(|e| panic!("{what}: the body is not JSON ({e}): {}", reply.body));
    assert_eq!(body["error"]["kind"], json!(kind), "{what}: {body}");
    assert_eq!(
        body["error"].as_object().map(|o| o.len()),
        Some(2),
        "{what}: kind and message only: {body}"
    );
    body["error"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("{what}: no message: {body}"))
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_paths_get_a_json_404_and_wrong_methods_a_json_405() {
    let store = Store::sqlite();
    let server = Server::start(EXE, &store.url, &["--token", TOKEN]);
    let db = store.client().await;
    db.set("existing", "value").await.unwrap();
    let before = snapshot(&db).await;
    let url = server.url.clone();
    let exchange = move |method: &str, path: &str, body: &str| {
        exchange_to(&url, &request(method, path, Some(TOKEN), body))
    };

    // Under /v1/ and outside it, with every method: 404, naming the method and the path (not
    // the query string).
    let unknown = [
        "/v1",
        "/v1/",
        "/v1/nope",
        "/v1/backend",
        "/v1/leases/1/keepalive/x",
        "/v1/locks/a/holder/b",
        "/v1/KV/existing",
        "/nope",
        "/a/b/c",
        "/healthz/x",
        "/openapi.json/x",
        "/pkg/no-such-file.wasm",
        "/v1/nope?token=query-secret",
    ];
    for path in unknown {
        for method in ["GET", "POST", "PUT", "DELETE", "PATCH"] {
            let what = format!("{method} {path}");
            let body = if method == "GET" {
                ""
            } else {
                r#"{"value": 1}"#
            };
            let reply = tokio::task::block_in_place(|| exchange(method, path, body));
            assert_eq!(reply.status, 404, "{what}: {}", reply.body);
            // `NotFound`, the kind of a key without an entry too (docs/server-api.md, Errors).
            let message = json_error_of(&reply, &what, "NotFound");
            let bare = path.split('?').next().unwrap();
            assert!(
                message.contains("no such endpoint")
                    && message.contains(&format!("{method} {bare}")),
                "{what}: {message}"
            );
            assert!(!message.contains("query-secret"), "{what}: {message}");
        }
        // A HEAD gets the status, without a body.
        let reply = tokio::task::block_in_place(|| exchange("HEAD", path, ""));
        assert_eq!(reply.status, 404, "HEAD {path}");
    }

    // A method a known path does not take: 405 with the Allow header, naming method and path.
    let wrong = [
        ("POST", "/healthz", "allow: get,head"),
        ("DELETE", "/metrics", "allow: get,head"),
        ("PUT", "/openapi.json", "allow: get,head"),
        ("POST", "/v1/kv", "allow: get,head"),
        ("PATCH", "/v1/kv/existing", "allow: get,head,put,delete"),
        ("POST", "/v1/kv/existing", "allow: get,head,put,delete"),
        ("GET", "/v1/txn", "allow: post"),
        ("PUT", "/v1/leases/1", "allow: delete"),
        ("POST", "/v1/locks/a", "allow: get,head"),
        ("POST", "/", "allow: get,head"),
        ("DELETE", "/index.html", "allow: get,head"),
    ];
    for (method, path, allow) in wrong {
        let what = format!("{method} {path}");
        let body = if method == "GET" {
            ""
        } else {
            r#"{"value": 1}"#
        };
        let reply = tokio::task::block_in_place(|| exchange(method, path, body));
        assert_eq!(reply.status, 405, "{what}: {}", reply.body);
        assert!(reply.head.contains(allow), "{what}: {}", reply.head);
        let message = json_error(&reply, &what);
        assert!(
            message.contains(&format!("method {method} is not allowed on {path}")),
            "{what}: {message}"
        );
    }
    assert_eq!(snapshot(&db).await, before, "a refused request wrote");

    // Without the token, an unknown path under /v1/ is still a 401 first; outside /v1/, where
    // no token is needed, it is a 404.
    let url = server.url.clone();
    let (no_token, outside) = tokio::task::block_in_place(|| {
        (
            exchange_to(&url, &request("GET", "/v1/nope", None, "")),
            exchange_to(&url, &request("GET", "/nope", None, "")),
        )
    });
    assert_eq!(no_token.status, 401, "{}", no_token.body);
    assert_eq!(outside.status, 404, "{}", outside.body);
    json_error_of(&outside, "GET /nope without a token", "NotFound");

    // The served paths still answer.
    for path in [
        "/",
        "/index.html",
        "/healthz",
        "/openapi.json",
        "/v1/kv/existing",
    ] {
        let reply = tokio::task::block_in_place(|| exchange("GET", path, ""));
        assert_eq!(reply.status, 200, "GET {path}: {}", reply.body);
    }
}

/// The status and body of the reply to a POST of `body` to `path`.
fn post(server: &Server, path: &str, body: &Value) -> (u16, String) {
    raw(server, &request("POST", path, None, &body.to_string()))
}

/// The message of the JSON `InvalidArgument` reply, of status `status`, to a request.
fn refusal(server: &Server, method: &str, path: &str, body: &str, status: u16) -> String {
    let what = format!("{method} {path} {body}");
    let reply = exchange_to(&server.url, &request(method, path, None, body));
    assert_eq!(reply.status, status, "{what}: {}", reply.body);
    json_error(&reply, &what)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn range_reads_return_a_bounded_number_of_entries() {
    let store = Store::sqlite();
    let server = Server::start(EXE, &store.url, &[]);
    let db = store.client().await;
    for chunk in 0..80 {
        let mut txn = db.txn();
        for i in 0..126 {
            txn.set(&format!("many/{:05}", chunk * 126 + i), i);
        }
        txn.commit().await.unwrap();
    }
    // 10080 entries. Every range of a request could return them all: refused, naming the bound
    // and how to page.
    let ranges: Vec<Value> = (0..1024)
        .map(|_| json!({ "range": { "prefix": "" } }))
        .collect();
    for path in ["/v1/backend/read", "/v1/backend/commit"] {
        let message = refusal(
            &server,
            "POST",
            path,
            &json!({ "reads": ranges }).to_string(),
            400,
        );
        assert!(
            message.contains("at most 10000") && message.contains("'after'"),
            "{path}: {message}"
        );
    }
    let two = json!({ "reads": [
        { "range": { "prefix": "many/", "limit": 6000 } },
        { "range": { "prefix": "many/", "limit": 5000 } },
    ] });
    refusal(&server, "POST", "/v1/backend/read", &two.to_string(), 400);
    // One range without a limit, or with a larger one, stops at the bound and says so.
    for range in [
        json!({ "prefix": "many/" }),
        json!({ "prefix": "many/", "limit": 100000 }),
    ] {
        let (status, reply) = post(
            &server,
            "/v1/backend/read",
            &json!({ "reads": [{ "range": range }] }),
        );
        assert_eq!(status, 200, "{reply}");
        let reply: Value = serde_json::from_str(&reply).unwrap();
        let result = &reply["results"][0];
        assert_eq!(
            result["entries"].as_array().unwrap().len(),
            10000,
            "{range}"
        );
        assert_eq!(result["more"], json!(true), "{range}");
    }
    // The client over HTTP pages through them all, and its lock queue reads still work.
    let http = Client::connect(&server.url).await.unwrap();
    let page = http.list("many/", None, None).await.unwrap();
    assert_eq!(page.entries.len(), 10000);
    assert!(page.more);
    let rest = http
        .list("many/", Some(&page.entries.last().unwrap().key), None)
        .await
        .unwrap();
    assert_eq!(rest.entries.len(), 80);
    assert!(!rest.more);
    let lock = http.lock("bounded");
    lock.acquire(None).await.unwrap();
    assert_eq!(http.lock_queue("bounded").await.unwrap().len(), 1);
    lock.release().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_refuses_a_body_or_a_query_it_does_not_take() {
    let store = Store::sqlite();
    let server = Server::start(EXE, &store.url, &[]);
    let db = store.client().await;
    db.set("d1", "kept").await.unwrap();
    let before = snapshot(&db).await;
    // The client meant a compare-exchange: refused, not run unconditionally.
    let message = refusal(&server, "DELETE", "/v1/kv/d1", r#"{"index":12345}"#, 400);
    assert!(
        message.contains("DELETE /v1/kv/{key} takes no request body")
            && message.contains("give index as ?index=N"),
        "{message}"
    );
    let lease = db.grant(std::time::Duration::from_secs(30)).await.unwrap();
    let no_body = [
        ("GET", "/v1/kv/d1".to_string()),
        ("GET", "/v1/index".to_string()),
        ("GET", "/v1/info".to_string()),
        ("GET", "/v1/kv".to_string()),
        ("GET", "/v1/locks/L1".to_string()),
        ("DELETE", "/v1/locks/L1/holder?token=1".to_string()),
        ("POST", format!("/v1/leases/{}/keepalive", lease.id)),
        ("DELETE", format!("/v1/leases/{}", lease.id)),
    ];
    for (method, path) in &no_body {
        let message = refusal(&server, method, path, "{}", 400);
        assert!(
            message.contains("takes no request body"),
            "{method} {path}: {message}"
        );
    }
    assert_eq!(snapshot(&db).await, before, "a refused request wrote");
    assert!(db.time_to_live(&[lease.id]).await.unwrap()[0].is_some());
    // Unknown query parameters, on every route, name the parameter.
    for (method, path, body) in [
        ("GET", "/v1/index?x=1", ""),
        ("GET", "/v1/locks/L1?x=1", ""),
        ("GET", "/v1/kv/d1?x=1", ""),
        ("GET", "/v1/info?x=1", ""),
        ("PUT", "/v1/kv/d1?x=1", r#"{"value": 2}"#),
        ("POST", "/v1/txn?x=1", r#"{"ops": []}"#),
        ("GET", "/v1/kv?x=1", ""),
        ("DELETE", "/v1/kv/d1?x=1", ""),
    ] {
        let message = refusal(&server, method, path, body, 400);
        assert!(
            message.contains("the query parameter 'x' is unknown"),
            "{method} {path}: {message}"
        );
    }
    assert_eq!(snapshot(&db).await, before, "a refused request wrote");
    // Without a body or an unknown parameter, they are served.
    assert_eq!(raw(&server, &request("GET", "/v1/index", None, "")).0, 200);
    assert_eq!(
        raw(&server, &request("DELETE", "/v1/kv/d1", None, "")).0,
        200
    );
    assert_eq!(db.get("d1").await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn integers_beyond_64_bits_are_refused_not_rounded() {
    let store = Store::sqlite();
    let server = Server::start(EXE, &store.url, &[]);
    let db = store.client().await;
    let before = snapshot(&db).await;
    let attempts = [
        (
            "PUT",
            "/v1/kv/a",
            r#"{"value":18446744073709551616}"#,
            "18446744073709551616",
        ),
        (
            "PUT",
            "/v1/kv/a",
            r#"{"value":{"n":[1,-9223372036854775809]}}"#,
            "-9223372036854775809",
        ),
        (
            "POST",
            "/v1/txn",
            r#"{"ops":[{"put":{"key":"a","value":{"big":99999999999999999999}}}]}"#,
            "99999999999999999999",
        ),
        (
            "POST",
            "/v1/backend/commit",
            r#"{"ops":[{"put":{"key":"a","value":18446744073709551616}}]}"#,
            "18446744073709551616",
        ),
        (
            "PUT",
            "/v1/kv/a",
            r#"{"value":1,"index":18446744073709551616}"#,
            "18446744073709551616",
        ),
        (
            "POST",
            "/v1/backend/commit",
            r#"{"compares":[{"key":"a","index":18446744073709551616}]}"#,
            "18446744073709551616",
        ),
    ];
    for (method, path, body, number) in attempts {
        let message = refusal(&server, method, path, body, 400);
        assert!(
            message.contains(number) && !message.contains("e+19"),
            "{method} {path} {body}: {message}"
        );
    }
    assert_eq!(snapshot(&db).await, before, "a refused request wrote");
    // The ends of the 64-bit ranges are kept exactly; a string or a float is not refused.
    let body =
        r#"{"value":[18446744073709551615,-9223372036854775808,"18446744073709551616",1.5e300]}"#;
    assert_eq!(raw(&server, &request("PUT", "/v1/kv/a", None, body)).0, 200);
    assert_eq!(
        db.get("a").await.unwrap().unwrap().value,
        json!([u64::MAX, i64::MIN, "18446744073709551616", 1.5e300])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_name_the_field_the_value_and_the_bound_briefly() {
    let store = Store::sqlite();
    let server = Server::start(EXE, &store.url, &[]);
    let message = refusal(&server, "GET", "/v1/kv?limit=0", "", 400);
    assert!(
        message.contains("'limit' must be 1 to 1000, got 0"),
        "{message}"
    );
    let ids: Vec<String> = (0..1025).map(|i| i.to_string()).collect();
    let message = refusal(
        &server,
        "POST",
        "/v1/leases/ttl",
        &json!({ "ids": ids }).to_string(),
        400,
    );
    assert!(
        message.contains("1025 lease ids") && message.contains("at most 1024"),
        "{message}"
    );
    let message = refusal(&server, "POST", "/v1/leases", r#"{"ttl":1e300}"#, 400);
    assert!(
        message.contains("at most 9000000000 s") && message.len() < 120,
        "{message}"
    );
    // A lock name too long for its waiters' keys: the longest a name may be, and the name cut.
    let name = "n".repeat(500);
    let message = refusal(&server, "GET", &format!("/v1/locks/{name}"), "", 400);
    assert!(
        message.contains("at most 457 bytes") && message.contains("500 bytes"),
        "{message}"
    );
    assert!(message.chars().count() < 200, "{message}");
    assert!(
        message.contains(&format!("'{}…'", "n".repeat(60))),
        "{message}"
    );
    // A force-release of a lock without a holder: a conflict naming the lock, as the docs say.
    let (status, reply) = raw(
        &server,
        &request("DELETE", "/v1/locks/nolock/holder?token=1", None, ""),
    );
    assert_eq!(status, 409, "{reply}");
    let reply: Value = serde_json::from_str(&reply).unwrap();
    assert_eq!(
        reply["error"]["conflicts"],
        json!([{ "key": "nolock", "expected": 1, "actual": 0 }]),
        "{reply}"
    );
    // A missing key is NotFound, as an unknown route is.
    let (status, reply) = raw(&server, &request("GET", "/v1/kv/missing", None, ""));
    assert_eq!(status, 404);
    assert_eq!(error_kind(&reply), "NotFound");
}
