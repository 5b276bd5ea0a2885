//! The REST routes through a real `interlock serve` over a real SQLite file: every operation as
//! one request, failed compares as results, conflicts as 409 with every failed check, reserved
//! keys refused, and force-releasing a stuck lock only with its holder's fencing token.

use interlock_tests::Store;
use interlock_tests::server::{Server, raw, request};
use serde_json::{Value, json};

const EXE: &str = env!("CARGO_BIN_EXE_interlock");

fn call(server: &Server, method: &str, path: &str, body: Value) -> (u16, Value) {
    let body = if body.is_null() {
        String::new()
    } else {
        body.to_string()
    };
    let (status, reply) = raw(server, &request(method, path, None, &body));
    let value = serde_json::from_str(&reply).unwrap_or_else(|e| panic!("{e}: {reply}"));
    (status, value)
}

#[test]
fn every_operation_is_one_request() {
    let store = Store::sqlite();
    let server = Server::start(EXE, &store.url, &[]);
    let (status, created) = call(
        &server,
        "PUT",
        "/v1/kv/emails/a@b.c",
        json!({ "value": "users/1", "index": 0 }),
    );
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["successful"], json!(true));
    let index = created["index"].as_u64().unwrap();
    // A failed compare is a result: 200 with the current entry.
    let (status, dup) = call(
        &server,
        "PUT",
        "/v1/kv/emails/a@b.c",
        json!({ "value": "users/2", "index": 0 }),
    );
    assert_eq!(
        (status, dup),
        (
            200,
            json!({ "successful": false, "index": index, "value": "users/1" })
        )
    );
    let (status, got) = call(&server, "GET", "/v1/kv/emails/a@b.c", Value::Null);
    assert_eq!(
        (status, got),
        (
            200,
            json!({ "key": "emails/a@b.c", "value": "users/1", "index": index })
        )
    );
    assert_eq!(
        call(&server, "GET", "/v1/kv/emails/none", Value::Null).0,
        404
    );

    assert_eq!(
        call(
            &server,
            "PUT",
            "/v1/kv/docs/1",
            json!({ "value": { "n": 1 } })
        )
        .0,
        200
    );
    assert_eq!(
        call(&server, "PUT", "/v1/kv/docs/2", json!({ "value": [2] })).0,
        200
    );
    let (_, page) = call(&server, "GET", "/v1/kv?prefix=docs/&limit=1", Value::Null);
    assert_eq!(page["entries"][0]["key"], json!("docs/1"));
    assert_eq!(page["more"], json!(true));
    let (_, rest) = call(
        &server,
        "GET",
        "/v1/kv?prefix=docs/&after=docs/1",
        Value::Null,
    );
    assert_eq!(rest["entries"].as_array().unwrap().len(), 1);
    let (_, many) = call(
        &server,
        "POST",
        "/v1/get-many",
        json!({ "keys": ["docs/2", "nope", "docs/1"] }),
    );
    assert_eq!(
        many["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["key"].clone())
            .collect::<Vec<_>>(),
        vec![json!("docs/2"), json!("docs/1")]
    );
    let (_, now) = call(&server, "GET", "/v1/index", Value::Null);
    let now = now["index"].as_u64().unwrap();

    // A transaction: all at one index, or 409 listing every failed check.
    let (status, done) = call(
        &server,
        "POST",
        "/v1/txn",
        json!({
            "checks": [{ "key": "docs/1", "index": now - 1 }],
            "ops": [{ "put": { "key": "docs/3", "value": 3 } }, { "delete": { "key": "docs/2" } }]
        }),
    );
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["index"], json!(now + 1));
    let (status, refused) = call(
        &server,
        "POST",
        "/v1/txn",
        json!({
            "checks": [{ "key": "docs/1", "index": 1 }, { "key": "docs/9", "index": 5 }],
            "ops": [{ "put": { "key": "docs/4", "value": 4 } }]
        }),
    );
    assert_eq!(status, 409, "{refused}");
    assert_eq!(refused["error"]["kind"], json!("Conflict"));
    assert_eq!(refused["error"]["conflicts"].as_array().unwrap().len(), 2);
    assert_eq!(call(&server, "GET", "/v1/kv/docs/4", Value::Null).0, 404);

    // Reserved keys are readable, never writable.
    let (status, reserved) = call(&server, "PUT", "/v1/kv/@lock/x/1", json!({ "value": 1 }));
    assert_eq!(status, 400);
    assert!(
        reserved["error"]["message"]
            .as_str()
            .unwrap()
            .contains("reserved")
    );

    let (status, deleted) = call(
        &server,
        "DELETE",
        &format!("/v1/kv/emails/a@b.c?index={index}"),
        Value::Null,
    );
    assert_eq!((status, deleted["successful"].clone()), (200, json!(true)));
    assert_eq!(
        call(&server, "GET", "/v1/kv/emails/a@b.c", Value::Null).0,
        404
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_holder_is_force_released_only_with_its_fencing_token() {
    let store = Store::sqlite();
    let server = Server::start(EXE, &store.url, &[]);
    let stuck = store.client().await;
    let lock = stuck.lock("printer");
    let token = lock.acquire(None).await.unwrap();
    let waiter_client = store.client().await;
    let waiter = waiter_client.lock("printer");
    let waiting = tokio::spawn(async move {
        let t = waiter.acquire(None).await;
        (waiter, t)
    });
    let url = server.url.clone();
    let queue = loop {
        let (_, q) = tokio::task::spawn_blocking({
            let url = url.clone();
            move || {
                interlock_tests::server::raw_to(
                    &url,
                    &request("GET", "/v1/locks/printer", None, ""),
                )
            }
        })
        .await
        .unwrap();
        let q: Value = serde_json::from_str(&q).unwrap();
        if q.as_array().unwrap().len() == 2 {
            break q;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    };
    assert_eq!(queue[0]["holder"], json!(true));
    assert_eq!(queue[0]["token"], json!(token));
    assert!(queue[0]["ttl_left"].as_f64().unwrap() > 0.0);

    let release = |path: String| {
        let url = url.clone();
        tokio::task::spawn_blocking(move || {
            let (status, body) =
                interlock_tests::server::raw_to(&url, &request("DELETE", &path, None, ""));
            (status, serde_json::from_str::<Value>(&body).unwrap())
        })
    };
    let (status, _) = release("/v1/locks/printer/holder".into()).await.unwrap();
    assert_eq!(status, 400, "no confirmation, no release");
    let (status, wrong) = release(format!("/v1/locks/printer/holder?token={}", token + 100))
        .await
        .unwrap();
    assert_eq!(status, 409, "{wrong}");
    assert_eq!(wrong["error"]["conflicts"][0]["actual"], json!(token));
    assert_eq!(
        wrong["error"]["conflicts"][0]["expected"],
        json!(token + 100)
    );
    // The lock is named as the user knows it; the key of its queue is interlock's own.
    assert_eq!(
        wrong["error"]["conflicts"][0]["key"],
        json!("printer"),
        "{wrong}"
    );
    assert!(!wrong.to_string().contains("@lock"), "{wrong}");
    let message = wrong["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("lock 'printer' was not force-released")
            && message.contains(&format!(
                "held with fencing token {token}, not {}",
                token + 100
            ))
            && !message.contains("@lock"),
        "{message}"
    );
    let (status, done) = release(format!("/v1/locks/printer/holder?token={token}"))
        .await
        .unwrap();
    assert_eq!(status, 200, "{done}");
    // The next waiter gets the lock; the stuck holder's fenced writes now fail.
    let (waiter, next) = waiting.await.unwrap();
    assert!(next.unwrap() > token);
    let fenced = stuck.txn().require(&lock).set("printed", 1).commit().await;
    assert_eq!(fenced.unwrap_err().kind(), interlock::ErrorKind::LockLost);
    assert_eq!(stuck.get("printed").await.unwrap(), None);
    waiter.release().await.unwrap();
}

/// A number written without a fraction or an exponent is an integer: `-0` in a body is stored
/// as the integer 0 (JSON readers make it the float -0.0), while `-0.0` stays that float.
#[test]
fn an_integer_minus_zero_is_stored_as_zero_and_a_float_as_written() {
    let store = Store::sqlite();
    let server = Server::start(EXE, &store.url, &[]);
    for (key, body) in [
        ("zero/int", r#"{"value": -0}"#),
        ("zero/nested", r#"{"value": [-0, {"a": -0, "s": "-0"}]}"#),
        ("zero/float", r#"{"value": -0.0}"#),
    ] {
        let (status, reply) = raw(
            &server,
            &request("PUT", &format!("/v1/kv/{key}"), None, body),
        );
        assert_eq!(status, 200, "{key}: {reply}");
    }
    let (_, int) = raw(&server, &request("GET", "/v1/kv/zero/int", None, ""));
    assert!(int.contains(r#""value":0,"#), "{int}");
    let (_, nested) = raw(&server, &request("GET", "/v1/kv/zero/nested", None, ""));
    assert!(
        nested.contains(r#""value":[0,{"a":0,"s":"-0"}]"#),
        "{nested}"
    );
    let (_, float) = raw(&server, &request("GET", "/v1/kv/zero/float", None, ""));
    assert!(float.contains(r#""value":-0.0"#), "{float}");
}
