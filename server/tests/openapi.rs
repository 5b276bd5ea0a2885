//! The OpenAPI document at `/openapi.json` against a real `interlock serve` over a real SQLite
//! file: it is served without a token and declares the bearer token the `/v1/` routes need;
//! every route it documents is served, answering its documented example with a reply that
//! matches its documented schema, and every other method 405 (that every route of the route
//! table in `src/api.rs` is documented is the unit test `the_document_has_exactly_the_routes_of_the_table`
//! there: the table builds both the router and the document); and the transaction and error
//! shapes it describes are what the server accepts and returns.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use interlock_tests::Store;
use interlock_tests::server::{Reply, Server, exchange_to, request};
use serde_json::{Value, json};

const EXE: &str = env!("CARGO_BIN_EXE_interlock");
const TOKEN: &str = "s3cret-token";
const METHODS: [&str; 5] = ["GET", "PUT", "POST", "DELETE", "PATCH"];

/// What the tests read from a reply.
trait ReplyExt {
    fn content_type(&self) -> Option<&str>;
    fn json(&self) -> Value;
}

impl ReplyExt for Reply {
    /// The media type of the body, as sent.
    fn content_type(&self) -> Option<&str> {
        self.head
            .lines()
            .find_map(|l| l.strip_prefix("content-type:"))
            .map(str::trim)
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }
}

fn exchange(server: &Server, request: &str) -> Reply {
    exchange_to(&server.url, request)
}

fn send(server: &Server, method: &str, path: &str, token: Option<&str>, body: &str) -> Reply {
    exchange(server, &request(method, path, token, body))
}

/// One Server-Sent Event: its `event` (`message` when none is named), `id` and `data`.
#[derive(Debug)]
struct SseEvent {
    event: String,
    id: Option<String>,
    data: String,
}

/// Opens a watch at `path` (HTTP/1.0, so the stream is the raw body), calls `then` once the
/// `ready` event has come, and returns the head and the first `count` events.
fn watch(
    server: &Server,
    path: &str,
    count: usize,
    then: impl FnOnce(),
) -> (u16, String, Vec<SseEvent>) {
    let mut stream = TcpStream::connect(server.url.trim_start_matches("http://")).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: localhost\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"
    )
    .expect("send");
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    let mut then = Some(then);
    loop {
        let text = String::from_utf8_lossy(&raw).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let status = head
                .split(' ')
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            let events = parse_events(body);
            if status != 200 || events.len() >= count {
                return (status, head.to_lowercase(), events);
            }
            if let Some(then) = then.take_if(|_| !events.is_empty()) {
                then();
            }
        }
        match stream.read(&mut buf) {
            Ok(0) => panic!("the watch ended early: {text:?}"),
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) => panic!("the watch sent nothing more ({e}): {text:?}"),
        }
    }
}

/// The complete events in an SSE body (comments, the keep-alives, are skipped).
fn parse_events(body: &str) -> Vec<SseEvent> {
    let body = body.replace("\r\n", "\n");
    let mut complete: Vec<&str> = body.split("\n\n").collect();
    complete.pop(); // the part after the last blank line is not complete yet
    complete
        .into_iter()
        .filter_map(|block| {
            let mut event = SseEvent {
                event: "message".into(),
                id: None,
                data: String::new(),
            };
            let mut any = false;
            for line in block.lines().filter(|l| !l.starts_with(':')) {
                let (field, value) = line.split_once(':').unwrap_or((line, ""));
                let value = value.strip_prefix(' ').unwrap_or(value).to_string();
                any = true;
                match field {
                    "event" => event.event = value,
                    "id" => event.id = Some(value),
                    "data" => event.data = value,
                    _ => {}
                }
            }
            any.then_some(event)
        })
        .collect()
}

fn document(server: &Server) -> Value {
    let reply = send(server, "GET", "/openapi.json", None, "");
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()
}

/// `value`, or what its `$ref` (`#/components/...`) points to.
fn resolve<'a>(doc: &'a Value, value: &'a Value) -> &'a Value {
    match value.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let pointer = reference
                .strip_prefix('#')
                .unwrap_or_else(|| panic!("an external reference: {reference}"));
            doc.pointer(pointer)
                .unwrap_or_else(|| panic!("{reference} points to nothing"))
        }
        None => value,
    }
}

/// Checks `value` against a schema of the document: the JSON Schema keywords utoipa writes.
/// Any other keyword fails the test, so that no constraint is skipped unnoticed.
fn check(doc: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    let rules = schema
        .as_object()
        .unwrap_or_else(|| panic!("the schema at {at} is not an object: {schema}"));
    for (keyword, rule) in rules {
        match keyword.as_str() {
            "description" | "example" | "examples" | "title" | "default" => {}
            "$ref" => check(doc, resolve(doc, schema), value, at)?,
            "type" => {
                let types: Vec<&str> = match rule {
                    Value::String(t) => vec![t.as_str()],
                    Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
                    _ => panic!("a bad type at {at}: {rule}"),
                };
                let fits = |t: &str| match t {
                    "object" => value.is_object(),
                    "array" => value.is_array(),
                    "string" => value.is_string(),
                    "integer" => value.is_u64() || value.is_i64(),
                    "number" => value.is_number(),
                    "boolean" => value.is_boolean(),
                    "null" => value.is_null(),
                    other => panic!("an unknown type at {at}: {other}"),
                };
                if !types.iter().any(|t| fits(t)) {
                    return Err(format!("{at}: {value} is not of type {rule}"));
                }
            }
            "format" => match rule.as_str() {
                Some("int64") if !(value.is_null() || value.is_i64() || value.is_u64()) => {
                    return Err(format!("{at}: {value} is not a 64-bit integer"));
                }
                Some("double") if !value.is_null() && !value.is_number() => {
                    return Err(format!("{at}: {value} is not a number"));
                }
                Some("int64" | "double") => {}
                other => panic!("an unknown format at {at}: {other:?}"),
            },
            "minimum" => {
                let min = rule.as_f64().expect("a numeric minimum");
                if value.as_f64().is_some_and(|v| v < min) {
                    return Err(format!("{at}: {value} is below {min}"));
                }
            }
            "enum" => {
                if !rule.as_array().expect("an enum list").contains(value) {
                    return Err(format!("{at}: {value} is not one of {rule}"));
                }
            }
            "required" => {
                if let Some(object) = value.as_object() {
                    for name in rule.as_array().expect("a required list") {
                        let name = name.as_str().expect("a field name");
                        if !object.contains_key(name) {
                            return Err(format!("{at}: '{name}' is missing from {value}"));
                        }
                    }
                }
            }
            "properties" => {
                if let Some(object) = value.as_object() {
                    for (name, field) in object {
                        if let Some(field_schema) = rule.get(name) {
                            check(doc, field_schema, field, &format!("{at}.{name}"))?;
                        }
                    }
                }
            }
            "additionalProperties" => {
                if let Some(object) = value.as_object() {
                    let known = schema.get("properties");
                    for (name, field) in object {
                        if known.is_some_and(|k| k.get(name).is_some()) {
                            continue;
                        }
                        match rule {
                            Value::Bool(false) => {
                                return Err(format!("{at}: '{name}' is not a known field"));
                            }
                            Value::Bool(true) => {}
                            extra => check(doc, extra, field, &format!("{at}.{name}"))?,
                        }
                    }
                }
            }
            "items" => {
                if let Some(items) = value.as_array() {
                    for (n, item) in items.iter().enumerate() {
                        check(doc, rule, item, &format!("{at}[{n}]"))?;
                    }
                }
            }
            "oneOf" => {
                let matching = rule
                    .as_array()
                    .expect("a oneOf list")
                    .iter()
                    .filter(|s| check(doc, s, value, at).is_ok())
                    .count();
                if matching != 1 {
                    return Err(format!(
                        "{at}: {value} matches {matching} of the oneOf schemas, not one"
                    ));
                }
            }
            other => panic!("the checker does not know the keyword '{other}' (at {at})"),
        }
    }
    Ok(())
}

fn assert_fits(doc: &Value, schema: &Value, value: &Value, what: &str) {
    if let Err(e) = check(doc, schema, value, "$") {
        panic!("{what}: the reply does not match the document: {e}");
    }
}

/// The documented response of `operation` for `status`: its media type and schema, if it has a
/// body. Panics if the status is not documented.
fn documented<'a>(
    doc: &'a Value,
    operation: &'a Value,
    status: u16,
    what: &str,
) -> Option<(&'a str, &'a Value)> {
    let response = operation["responses"]
        .get(status.to_string())
        .unwrap_or_else(|| panic!("{what}: status {status} is not documented"));
    let response = resolve(doc, response);
    let content = response.get("content")?.as_object()?;
    assert_eq!(content.len(), 1, "{what}: one media type per response");
    let (media, body) = content.iter().next()?;
    Some((media.as_str(), &body["schema"]))
}

/// Checks a reply against the documented response for its status.
fn assert_documented(doc: &Value, operation: &Value, reply: &Reply, what: &str) {
    match documented(doc, operation, reply.status, what) {
        Some((media, schema)) => {
            assert_eq!(
                reply.content_type(),
                Some(media),
                "{what}: the content type ({})",
                reply.body
            );
            if media == "application/json" {
                assert_fits(doc, schema, &reply.json(), what);
            } else {
                assert_fits(doc, schema, &Value::String(reply.body.clone()), what);
            }
        }
        None => assert!(
            reply.body.is_empty(),
            "{what}: status {} is documented without a body, but it has one: {}",
            reply.status,
            reply.body
        ),
    }
}

/// The documented example request body of an operation, checked against its own schema.
fn example_body(doc: &Value, operation: &Value, what: &str) -> Option<Value> {
    let body = operation.get("requestBody")?;
    let media = &body["content"]["application/json"];
    let example = media
        .get("example")
        .unwrap_or_else(|| panic!("{what}: the request body has no example"))
        .clone();
    if let Err(e) = check(doc, &media["schema"], &example, "$") {
        panic!("{what}: the example does not match its own schema: {e}");
    }
    Some(example)
}

/// Every `(METHOD, path)` in the document.
fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut all = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("a path item").keys() {
            all.insert((method.to_uppercase(), path.clone()));
        }
    }
    all
}

fn every_ref(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r.clone()),
                    _ => every_ref(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| every_ref(v, out)),
        _ => {}
    }
}

#[test]
fn the_document_is_served_without_a_token_and_declares_the_bearer_token() {
    let store = Store::sqlite();
    let server = Server::start(EXE, &store.url, &["--token", TOKEN]);

    let reply = send(&server, "GET", "/openapi.json", None, "");
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.content_type(), Some("application/json"));
    let doc = reply.json();
    let version = doc["openapi"].as_str().expect("an openapi version");
    assert!(version.starts_with("3."), "openapi {version}");
    assert_eq!(doc["info"]["title"], json!("interlock"));
    // The same document with a token, and again.
    assert_eq!(
        send(&server, "GET", "/openapi.json", Some(TOKEN), "").json(),
        doc
    );

    let scheme = &doc["components"]["securitySchemes"]["bearer"];
    assert_eq!(scheme["type"], json!("http"), "{scheme}");
    assert_eq!(scheme["scheme"], json!("bearer"), "{scheme}");
    let bearer = json!([{ "bearer": [] }]);
    for (method, path) in operations(&doc) {
        let operation = &doc["paths"][&path][method.to_lowercase()];
        let what = format!("{method} {path}");
        if path.starts_with("/v1/") {
            assert_eq!(operation["security"], bearer, "{what} needs the token");
            assert!(
                operation["responses"].get("401").is_some(),
                "{what}: its 401 is documented"
            );
            // And the server does refuse it without the token.
            let reply = send(&server, &method, &path, None, "");
            assert_eq!(reply.status, 401, "{what} without a token: {}", reply.body);
            assert_documented(&doc, operation, &reply, &what);
        } else {
            assert!(operation.get("security").is_none(), "{what} needs no token");
            let reply = send(&server, &method, &path, None, "");
            assert_eq!(reply.status, 200, "{what} without a token: {}", reply.body);
            assert_documented(&doc, operation, &reply, &what);
        }
    }

    // Every reference in the document leads somewhere.
    let mut refs = Vec::new();
    every_ref(&doc, &mut refs);
    assert!(!refs.is_empty());
    for r in refs {
        resolve(&doc, &json!({ "$ref": r }));
    }
}

#[test]
fn the_documented_routes_are_exactly_the_served_ones_and_each_answers_its_example() {
    let store = Store::sqlite();
    let server = Server::start(EXE, &store.url, &["--token", TOKEN]);
    let doc = document(&server);

    // The documented routes, each of which must be served: the deletes last, so that what they
    // delete is there for the others.
    let mut routes: Vec<(String, String)> = operations(&doc).into_iter().collect();
    routes.sort_by_key(|(method, path)| (method == "DELETE", path.clone()));
    assert!(routes.len() >= 20, "{routes:?}");

    // What the server answers for a path it does not serve, and for a wrong method.
    for (path, token) in [("/v1/no/such/route", Some(TOKEN)), ("/no-such-route", None)] {
        let unknown = send(&server, "GET", path, token, "");
        assert_eq!(unknown.status, 404, "{}", unknown.body);
        assert_eq!(unknown.content_type(), Some("application/json"));
        let error = unknown.json();
        assert_eq!(error["error"]["kind"], json!("NotFound"), "{error}");
        assert!(
            error["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("no such endpoint") && m.contains(path)),
            "{error}"
        );
    }

    // Something for every route to act on: an entry, a lease, a held lock.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(store.client());
    rt.block_on(db.set("docs/entry", json!({ "n": 1 })))
        .unwrap();
    let lock = db.lock("nightly");
    let holder_token = rt.block_on(lock.acquire(None)).unwrap();
    let lease = send(&server, "POST", "/v1/leases", Some(TOKEN), r#"{"ttl": 60}"#);
    assert_eq!(lease.status, 200, "{}", lease.body);
    let lease_id = lease.json()["id"].as_str().unwrap().to_string();

    // Each documented route, with its documented example, answers with success (so it is
    // routed) and a reply that matches its documented schema.
    for (method, path) in &routes {
        let (method, path) = (method.as_str(), path.as_str());
        let what = format!("{method} {path}");
        let operation = &doc["paths"][path][method.to_lowercase()];
        let mut concrete = path
            .replace("{key}", "docs/entry")
            .replace("{id}", &lease_id)
            .replace("{name}", "nightly");
        let mut query = Vec::new();
        for parameter in operation["parameters"].as_array().into_iter().flatten() {
            match (parameter["in"].as_str(), parameter["required"].as_bool()) {
                (Some("path"), _) => {
                    let name = parameter["name"].as_str().unwrap();
                    assert!(path.contains(&format!("{{{name}}}")), "{what}: {name}");
                }
                (Some("query"), Some(true)) => match parameter["name"].as_str() {
                    Some("token") => query.push(format!("token={holder_token}")),
                    other => panic!("{what}: no sample for the query parameter {other:?}"),
                },
                (Some("query"), _) => {}
                other => panic!("{what}: a parameter in {other:?}"),
            }
        }
        if !query.is_empty() {
            concrete = format!("{concrete}?{}", query.join("&"));
        }

        if path == "/v1/backend/watch" {
            let (status, head, events) = watch(&server, &concrete, 1, || {});
            assert_eq!(status, 200, "{what}: {head}");
            let (media, _) = documented(&doc, operation, 200, &what).unwrap();
            assert!(head.contains(&format!("content-type: {media}")), "{head}");
            assert_eq!(events[0].event, "ready", "{events:?}");
            let ready: Value = serde_json::from_str(&events[0].data).unwrap();
            assert_fits(
                &doc,
                &doc["components"]["schemas"]["WatchReady"],
                &ready,
                &what,
            );
            continue;
        }

        let body = example_body(&doc, operation, &what)
            .map(|b| b.to_string())
            .unwrap_or_default();
        let reply = send(&server, method, &concrete, Some(TOKEN), &body);
        assert!(
            (200..300).contains(&reply.status),
            "{what} ({concrete}) with its example {body}: {} {}",
            reply.status,
            reply.body
        );
        assert_documented(&doc, operation, &reply, &what);
        // What the example did, where it is not just its status.
        let value = if reply.content_type() == Some("application/json") {
            reply.json()
        } else {
            Value::Null
        };
        match (method, path) {
            ("GET", "/v1/kv/{key}") => assert_eq!(value["value"], json!({ "n": 1 })),
            ("POST", "/v1/leases/{id}/keepalive") => {
                assert!(value["ttl"].as_f64().unwrap() > 0.0)
            }
            ("DELETE", "/v1/leases/{id}") => assert_eq!(value["revoked"], json!(true)),
            ("GET", "/v1/locks/{name}") => {
                assert_eq!(value[0]["holder"], json!(true), "{value}");
                assert_eq!(value[0]["token"], json!(holder_token), "{value}");
            }
            ("DELETE", "/v1/locks/{name}/holder") => {
                assert_eq!(value["released"], json!(true), "{value}")
            }
            ("GET", "/metrics") => {
                assert!(reply.body.contains("interlock_http_requests_total"))
            }
            _ => {}
        }
    }
    assert_eq!(
        send(&server, "GET", "/v1/locks/nightly", Some(TOKEN), "").json(),
        json!([]),
        "the force-release removed the holder"
    );

    // And no method beyond the documented ones: each other one gets 405.
    for (path, item) in doc["paths"].as_object().unwrap() {
        let concrete = path
            .replace("{key}", "docs/entry")
            .replace("{id}", &lease_id)
            .replace("{name}", "nightly");
        for method in METHODS {
            if item.get(method.to_lowercase()).is_some() {
                continue;
            }
            let reply = send(&server, method, &concrete, Some(TOKEN), "");
            assert_eq!(
                reply.status, 405,
                "{method} {path} is not documented, yet answered: {}",
                reply.body
            );
        }
    }
}

#[test]
fn the_documented_transaction_and_error_shapes_are_what_the_server_speaks() {
    let store = Store::sqlite();
    let server = Server::start(EXE, &store.url, &["--token", TOKEN]);
    let doc = document(&server);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(store.client());
    let txn = &doc["paths"]["/v1/txn"]["post"];

    // The example transaction commits, and does what it says.
    let example = example_body(&doc, txn, "POST /v1/txn").unwrap();
    let ok = send(
        &server,
        "POST",
        "/v1/txn",
        Some(TOKEN),
        &example.to_string(),
    );
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_documented(&doc, txn, &ok, "POST /v1/txn");
    let index = ok.json()["index"].as_u64().unwrap();
    for op in example["ops"].as_array().unwrap() {
        if let Some(put) = op.get("put") {
            let key = put["key"].as_str().unwrap();
            let entry = rt.block_on(db.get(key)).unwrap().expect(key);
            assert_eq!((entry.value, entry.index), (put["value"].clone(), index));
        }
    }

    // Again: its checks fail now, and the 409 is the documented error body, listing every
    // failed check.
    let conflict = send(
        &server,
        "POST",
        "/v1/txn",
        Some(TOKEN),
        &example.to_string(),
    );
    assert_eq!(conflict.status, 409, "{}", conflict.body);
    assert_documented(&doc, txn, &conflict, "POST /v1/txn again");
    let error = conflict.json();
    assert_eq!(error["error"]["kind"], json!("Conflict"));
    let mut failed: Vec<(String, u64)> = error["error"]["conflicts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["key"].as_str().unwrap().to_string(),
                c["actual"].as_u64().unwrap(),
            )
        })
        .collect();
    failed.sort();
    assert_eq!(
        failed,
        vec![
            ("accounts/a".to_string(), index),
            ("accounts/b".to_string(), index)
        ],
        "{error}"
    );

    // A field the document does not allow is refused, with the documented 400.
    let mut extra = example.clone();
    extra["bogus"] = json!(1);
    let schema =
        &doc["paths"]["/v1/txn"]["post"]["requestBody"]["content"]["application/json"]["schema"];
    assert!(check(&doc, schema, &extra, "$").is_err());
    let refused = send(&server, "POST", "/v1/txn", Some(TOKEN), &extra.to_string());
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert_documented(&doc, txn, &refused, "POST /v1/txn with an unknown field");
    assert!(refused.body.contains("bogus"), "{}", refused.body);
    let put_with_lease =
        json!({ "ops": [{ "put": { "key": "x", "value": 1, "lease": "12345" } }] });
    let lease_gone = send(
        &server,
        "POST",
        "/v1/txn",
        Some(TOKEN),
        &put_with_lease.to_string(),
    );
    assert_eq!(lease_gone.status, 404, "{}", lease_gone.body);
    assert_documented(&doc, txn, &lease_gone, "POST /v1/txn with an unknown lease");

    // The other error replies the document describes, as the server sends them.
    let missing = send(&server, "GET", "/v1/kv/no/such/key", Some(TOKEN), "");
    assert_eq!(missing.status, 404);
    assert_documented(
        &doc,
        &doc["paths"]["/v1/kv/{key}"]["get"],
        &missing,
        "GET absent",
    );
    let no_token = send(&server, "POST", "/v1/txn", None, &example.to_string());
    assert_eq!(no_token.status, 401);
    assert_documented(&doc, txn, &no_token, "POST /v1/txn without a token");
    let text = format!(
        "POST /v1/txn HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
         Authorization: Bearer {TOKEN}\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n{{}}"
    );
    let not_json = exchange(&server, &text);
    assert_eq!(not_json.status, 415, "{}", not_json.body);
    assert_documented(&doc, txn, &not_json, "POST /v1/txn as text/plain");
    let huge = format!(
        "POST /v1/txn HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
         Authorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n",
        64 * 1024 * 1024
    );
    let too_large = exchange(&server, &huge);
    assert_eq!(too_large.status, 413, "{}", too_large.body);
    assert_documented(&doc, txn, &too_large, "POST /v1/txn of 64 MiB");
    // Every error example in the document is itself a documented error body.
    for (name, response) in doc["components"]["responses"].as_object().unwrap() {
        if let Some(media) = response.pointer("/content/application~1json") {
            let example = media
                .get("example")
                .unwrap_or_else(|| panic!("{name}: no example"));
            assert_fits(&doc, &media["schema"], example, name);
        }
    }

    // The watch's events are the documented ones.
    let watch_path = "/v1/backend/watch?prefix=jobs/";
    let mut elsewhere = 0;
    let (status, _, events) = watch(&server, watch_path, 4, || {
        rt.block_on(db.set("jobs/1", json!({ "state": "queued" })))
            .unwrap();
        rt.block_on(db.delete("jobs/1", None)).unwrap();
        // A write outside the prefix: the watch reports its progress past it.
        elsewhere = rt.block_on(db.set("other/1", 1)).unwrap();
    });
    assert_eq!(status, 200);
    let schemas = &doc["components"]["schemas"];
    assert_eq!(events[0].event, "ready");
    assert_fits(
        &doc,
        &schemas["WatchReady"],
        &serde_json::from_str(&events[0].data).unwrap(),
        "ready",
    );
    let progress = &events[3];
    assert_eq!(progress.event, "progress", "{events:?}");
    let data: Value = serde_json::from_str(&progress.data).unwrap();
    assert_fits(&doc, &schemas["WatchProgress"], &data, "progress");
    assert_eq!(data, json!({ "index": elsewhere }));
    for event in &events[1..3] {
        assert_eq!(event.event, "message", "{event:?}");
        let data: Value = serde_json::from_str(&event.data).unwrap();
        assert_fits(&doc, &schemas["WatchEvent"], &data, "a watch event");
        assert_eq!(
            event.id.as_deref(),
            Some(data["index"].to_string().as_str())
        );
    }
    let kinds: Vec<Value> = events[1..3]
        .iter()
        .map(|e| serde_json::from_str::<Value>(&e.data).unwrap()["type"].clone())
        .collect();
    assert_eq!(kinds, vec![json!("put"), json!("delete")]);

    // A request cut short by the server's timeout gets the documented 504, its JSON error.
    let slow = Server::start(
        EXE,
        &store.url,
        &["--token", TOKEN, "--request-timeout", "1"],
    );
    let body = example.to_string();
    let partial = format!(
        "POST /v1/txn HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
         Authorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{}",
        body.len(),
        &body[..body.len() / 2]
    );
    let timed_out = exchange(&slow, &partial);
    assert_eq!(timed_out.status, 504, "{}", timed_out.body);
    assert_documented(&doc, txn, &timed_out, "POST /v1/txn sent too slowly");
}
