//! A bounded property test of the server's request parsers, the REST routes and the backend
//! protocol, against a real `interlock serve` over a real SQLite file. Generated requests carry
//! odd keys in paths (percent-encoded bytes, CR/LF, `..`, reserved `@` keys, oversize keys), odd
//! JSON bodies (random bytes, truncated or mutated valid bodies, wrong types, huge numbers, deep
//! nesting, too many ops), odd query strings (`index=`, `limit=`, `token=`, …), content types,
//! methods and credentials. For every request:
//! 1. the server answers, and never with a 5xx (a handler that panics drops the connection);
//! 2. a refused request gets a 4xx with a JSON error (`{"error": {"kind", "message"}}`) whose
//!    message names the problem where the test knows what it is;
//! 3. a refused request leaves the store as it was: every entry (reserved ones included) and
//!    the index, read straight from the SQLite file, not through the server.
//!
//! After each run the server still answers `/healthz` and its log shows no panic. The seed and
//! the number of cases are fixed (no failure persistence), so a run is repeatable.

use std::cell::RefCell;
use std::fmt;
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::Duration;

use interlock::Client;
use interlock::backend::{RangeRead, Read, ReadResponse};
use interlock_tests::Store;
use interlock_tests::server::Server;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use serde_json::{Value, json};

const EXE: &str = env!("CARGO_BIN_EXE_interlock");
const TOKEN: &str = "parser-test-token";
const CASES: u32 = 512;
const SEED: [u8; 32] = *b"interlock server request parsers";

/// What the test knows about a request before sending it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// It may be accepted or refused.
    Any,
    /// It must be refused with a 4xx whose JSON message contains this text.
    Refused(&'static str),
    /// It is not valid HTTP: the HTTP layer refuses it (4xx, no JSON body needed).
    MalformedHttp,
}

#[derive(Clone)]
struct Case {
    method: String,
    /// The request target as sent: path and query.
    target: String,
    content_type: Option<String>,
    /// The `Authorization` header, if any.
    auth: Option<String>,
    body: Vec<u8>,
    /// Send the body with `Transfer-Encoding: chunked` instead of `Content-Length`.
    chunked: bool,
    expect: Expect,
}

impl fmt::Debug for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let body = String::from_utf8_lossy(&self.body[..self.body.len().min(400)]);
        f.debug_struct("Case")
            .field("method", &self.method)
            .field("target", &shorten(&self.target))
            .field("content_type", &self.content_type)
            .field("auth", &self.auth)
            .field("body", &format!("{body} ({} bytes)", self.body.len()))
            .field("chunked", &self.chunked)
            .field("expect", &self.expect)
            .finish()
    }
}

fn shorten(s: &str) -> String {
    if s.len() <= 300 {
        return s.to_string();
    }
    let mut end = 300;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &s[..end], s.len())
}

impl Case {
    fn new(method: &str, target: String, body: Vec<u8>, expect: Expect) -> Case {
        Case {
            method: method.to_string(),
            target,
            content_type: (!body.is_empty()).then(|| "application/json".to_string()),
            auth: Some(format!("Bearer {TOKEN}")),
            body,
            chunked: false,
            expect,
        }
    }

    fn bytes(&self) -> Vec<u8> {
        let mut head = format!(
            "{} {} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n",
            self.method, self.target
        );
        if let Some(auth) = &self.auth {
            head += &format!("Authorization: {auth}\r\n");
        }
        if let Some(ct) = &self.content_type {
            head += &format!("Content-Type: {ct}\r\n");
        }
        let mut out;
        if self.chunked {
            head += "Transfer-Encoding: chunked\r\n\r\n";
            out = head.into_bytes();
            // Small chunks, so that a body is split across many; large bodies in fewer.
            for chunk in self.body.chunks((self.body.len() / 64).max(7)) {
                out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                out.extend_from_slice(chunk);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"0\r\n\r\n");
        } else {
            head += &format!("Content-Length: {}\r\n\r\n", self.body.len());
            out = head.into_bytes();
            out.extend_from_slice(&self.body);
        }
        out
    }
}

/// A reply: its status, its headers (lower-case names) and its body (for an event stream, up to
/// its first event).
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Sends `case` over a new connection and reads the reply; an error says how the exchange broke
/// (no reply at all is what a panicking handler or a dead server looks like).
fn send(addr: &str, case: &Case) -> Result<Reply, String> {
    let mut stream = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    // The server may answer before reading all of the body and close; the reply is what counts.
    let _ = stream.write_all(&case.bytes());
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        if let Some(reply) = parse_reply(&raw, case.method == "HEAD")? {
            return Ok(reply);
        }
        match stream.read(&mut buf) {
            Ok(0) => {
                return Err(format!(
                    "the connection closed after {} bytes of reply: {:?}",
                    raw.len(),
                    String::from_utf8_lossy(&raw)
                ));
            }
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) => {
                return Err(format!(
                    "reading the reply failed after {} bytes ({e}): {:?}",
                    raw.len(),
                    String::from_utf8_lossy(&raw)
                ));
            }
        }
    }
}

/// The complete reply in `raw`, or `None` if more is to come.
fn parse_reply(raw: &[u8], head_only: bool) -> Result<Option<Reply>, String> {
    let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = String::from_utf8_lossy(&raw[..end]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| format!("no status in {status_line:?}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let rest = &raw[end + 4..];
    let mut reply = Reply {
        status,
        headers,
        body: Vec::new(),
    };
    if head_only {
        return Ok(Some(reply));
    }
    let event_stream = reply
        .header("content-type")
        .is_some_and(|v| v.starts_with("text/event-stream"));
    let chunked = reply
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    if event_stream {
        // A watch: its first event (`ready`) is enough; the stream itself never ends.
        let text = String::from_utf8_lossy(rest);
        if text.contains("event: ready") && text.contains("\n\n") {
            reply.body = rest.to_vec();
            return Ok(Some(reply));
        }
        return Ok(None);
    }
    if let Some(length) = reply.header("content-length") {
        let length: usize = length
            .parse()
            .map_err(|_| format!("bad content-length {length:?}"))?;
        if rest.len() < length {
            return Ok(None);
        }
        reply.body = rest[..length].to_vec();
        return Ok(Some(reply));
    }
    if chunked {
        let mut body = Vec::new();
        let mut at = rest;
        loop {
            let Some(line_end) = at.windows(2).position(|w| w == b"\r\n") else {
                return Ok(None);
            };
            let size = std::str::from_utf8(&at[..line_end])
                .ok()
                .and_then(|s| usize::from_str_radix(s.trim(), 16).ok())
                .ok_or_else(|| "bad chunk size in the reply".to_string())?;
            if size == 0 {
                reply.body = body;
                return Ok(Some(reply));
            }
            let start = line_end + 2;
            if at.len() < start + size + 2 {
                return Ok(None);
            }
            body.extend_from_slice(&at[start..start + size]);
            at = &at[start + size + 2..];
        }
    }
    // Neither a length nor chunks: the body runs to the end of the connection.
    Ok(None)
}

/// The store's full contents and index, read from the SQLite file directly.
async fn snapshot(db: &Client) -> ReadResponse {
    let all = RangeRead {
        include_reserved: true,
        ..RangeRead::prefix("")
    };
    db.backend()
        .read(vec![Read::Range(all)])
        .await
        .expect("read the store directly")
}

/// A server with a token over a fresh SQLite file, a direct client of that file, and a lease
/// (granted directly, for an hour) that generated requests may name.
struct Harness {
    server: Server,
    db: Client,
    rt: tokio::runtime::Runtime,
    lease: i64,
    _store: Store,
}

impl Harness {
    fn start() -> Harness {
        let store = Store::sqlite();
        let server = Server::start(EXE, &store.url, &["--token", TOKEN]);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let (db, lease) = rt.block_on(async {
            let db = store.client().await;
            db.set("fz/a", json!({ "n": 1 })).await.expect("seed");
            db.set("fz/q", "to delete").await.expect("seed");
            let lease = db.grant(Duration::from_secs(3600)).await.expect("grant").id;
            (db, lease)
        });
        Harness {
            server,
            db,
            rt,
            lease,
            _store: store,
        }
    }

    fn addr(&self) -> String {
        self.server.url.trim_start_matches("http://").to_string()
    }

    /// Runs `CASES` cases of `strategy` and checks the three properties on each.
    fn run(&self, strategy: impl Strategy<Value = Case>) {
        let config = Config {
            cases: CASES,
            failure_persistence: None,
            max_shrink_iters: 300,
            ..Config::default()
        };
        let mut runner =
            TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &SEED));
        let baseline = RefCell::new(self.rt.block_on(snapshot(&self.db)));
        let statuses = RefCell::new(std::collections::BTreeMap::<u16, usize>::new());
        let addr = self.addr();
        let result = runner.run(&strategy, |case| {
            let reply = send(&addr, &case).map_err(TestCaseError::fail)?;
            *statuses.borrow_mut().entry(reply.status).or_default() += 1;
            let after = self.rt.block_on(snapshot(&self.db));
            let outcome = check(&case, &reply, &baseline.borrow(), &after);
            // Accepted requests may write; the next case is judged against what they left.
            *baseline.borrow_mut() = after;
            outcome.map_err(TestCaseError::fail)
        });
        if let Err(e) = result {
            panic!("{e}\nthe server's log:\n{}", self.server.log());
        }
        eprintln!("replies by status: {:?}", statuses.borrow());
        self.still_serving();
    }

    fn still_serving(&self) {
        let health = Case {
            auth: None,
            ..Case::new("GET", "/healthz".into(), Vec::new(), Expect::Any)
        };
        let reply = send(&self.addr(), &health).expect("/healthz answers after the run");
        assert_eq!(
            reply.status,
            200,
            "{}",
            String::from_utf8_lossy(&reply.body)
        );
        let log = self.server.log();
        assert!(!log.contains("panicked"), "the server panicked:\n{log}");
    }
}

/// The three properties for one exchange; `before` and `after` are the store around it.
fn check(
    case: &Case,
    reply: &Reply,
    before: &ReadResponse,
    after: &ReadResponse,
) -> Result<(), String> {
    let text = String::from_utf8_lossy(&reply.body);
    if reply.status >= 500 {
        return Err(format!("answered {}: {text}", reply.status));
    }
    let refused = reply.status >= 400;
    // The API is what is under /v1/ (outside it, /metrics and the dashboard's files are not
    // JSON); a HEAD reply has no body.
    let api = case.target.starts_with("/v1/") && case.target.len() > "/v1/".len();
    let json_body = api && case.method != "HEAD";
    match case.expect {
        Expect::Refused(_) | Expect::MalformedHttp if !refused => {
            return Err(format!("expected a refusal, got {}: {text}", reply.status));
        }
        _ => {}
    }
    if !refused {
        if json_body && !reply.body.is_empty() {
            let event_stream = reply
                .header("content-type")
                .is_some_and(|v| v.starts_with("text/event-stream"));
            if !event_stream && serde_json::from_slice::<Value>(&reply.body).is_err() {
                return Err(format!("a {} reply that is not JSON: {text}", reply.status));
            }
        }
        return Ok(());
    }
    if before != after {
        return Err(format!(
            "refused with {} ({text}) but the store changed: index {} → {}, {} → {} entries",
            reply.status,
            before.index,
            after.index,
            before.results[0].entries.len(),
            after.results[0].entries.len()
        ));
    }
    if case.expect == Expect::MalformedHttp || !json_body {
        return Ok(());
    }
    let json: Value = serde_json::from_slice(&reply.body).map_err(|e| {
        format!(
            "a {} reply whose body is not JSON ({e}): {text:?}",
            reply.status
        )
    })?;
    let kind = json["error"]["kind"].as_str().unwrap_or_default();
    let message = json["error"]["message"].as_str().unwrap_or_default();
    if kind.is_empty() || message.is_empty() {
        return Err(format!(
            "a {} reply without error.kind and error.message: {text}",
            reply.status
        ));
    }
    if let Expect::Refused(says) = case.expect
        && !message.contains(says)
    {
        return Err(format!(
            "the {} reply's message does not say '{says}': {message}",
            reply.status
        ));
    }
    // A refusal is in interlock's words, never the parsing library's or Rust's types'.
    for word in PARSER_WORDS {
        if message.contains(word) {
            return Err(format!(
                "the {} reply's message says '{word}': {message}",
                reply.status
            ));
        }
    }
    Ok(())
}

/// Words of serde, serde_json, axum and Rust's types.
const PARSER_WORDS: [&str; 12] = [
    "invalid type",
    "invalid value",
    "expected value",
    "expected `",
    "deserialize",
    "serde",
    "u64",
    "usize",
    "f64",
    "struct variant",
    "Failed to",
    "EOF while",
];

// Keys in paths

/// Percent-encodes every byte but unreserved characters, `/` and `@`, as a client does.
fn encode(raw: &[u8]) -> String {
    let mut out = String::new();
    for &b in raw {
        if b.is_ascii_alphanumeric() || b"-._~/@".contains(&b) {
            out.push(b as char);
        } else {
            out += &format!("%{b:02X}");
        }
    }
    out
}

/// What the server's path decoding makes of a path segment: `%XX` becomes the byte, anything
/// else (a lone `%` too) stays as it is.
fn decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) = (
                bytes.get(i + 1).and_then(|&b| hex(b)),
                bytes.get(i + 2).and_then(|&b| hex(b)),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// What the store says about `key` (decoded from a path) for a read or a write.
fn key_expect(key: &[u8], write: bool) -> Expect {
    let Ok(key) = std::str::from_utf8(key) else {
        return Expect::Refused("UTF-8");
    };
    if key.len() > 512 {
        Expect::Refused("512")
    } else if key.chars().any(char::is_control) {
        Expect::Refused("control")
    } else if write && key.starts_with('@') {
        Expect::Refused("reserved")
    } else {
        Expect::Any
    }
}

/// A key as it appears in a path (already percent-encoded where it should be), and whether it
/// breaks the request line itself.
fn key_path() -> impl Strategy<Value = (String, bool)> {
    prop_oneof![
        3 => "[a-z0-9][a-z0-9/._-]{0,30}".prop_map(|k| (format!("fz/{k}"), false)),
        2 => prop::sample::select(vec![
            "..", ".", "../..", "a/../b", "./a", "a/./b", "%2e%2e", "%2E%2E/x", "..%2F..%2Fetc",
            "a//b", "a/", "%", "%G1", "a%2", "%%", "%zz", "%2F", "%40lock/x", "@", "@lock/x/1",
            "a%0D%0AX-Injected:%201", "a%0d%0aSet-Cookie:%20x=1", "%00", "a%09b", "%7F",
            "%C0%AF", "%FF%FE", "%ED%A0%80", "%E2%80%8B", "a%20b", "%3F%23",
        ])
        .prop_map(|k| (k.to_string(), false)),
        2 => "@[a-z/]{0,12}".prop_map(|k| (k, false)),
        3 => prop::collection::vec(any::<u8>(), 1..24).prop_map(|b| (encode(&b), false)),
        2 => "\\PC{1,12}".prop_map(|k| (encode(k.as_bytes()), false)),
        2 => prop::sample::select(vec![512usize, 513, 600, 2000, 8000])
            .prop_map(|n| ("k".repeat(n), false)),
        1 => prop::sample::select(vec!["a\r\nX-Injected: 1", "a\nb", "a b", "a\rb", "a\tb"])
            .prop_map(|k| (k.to_string(), true)),
    ]
}

/// A small JSON value of any type.
fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-1e12f64..1e12).prop_map(Value::from),
        "\\PC{0,16}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("[a-z]{1,4}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn keys_in_paths(lease: i64) -> impl Strategy<Value = Case> {
    let route = prop::sample::select(vec![
        "GET kv",
        "PUT kv",
        "DELETE kv",
        "GET lock",
        "DELETE holder",
        "POST keepalive",
        "DELETE lease",
    ]);
    (route, key_path(), value(), prop::option::of(0u64..6)).prop_map(
        move |(route, (path, malformed), value, index)| {
            let decoded = decode(&path);
            let (method, target, body, expect) = match route {
                "GET kv" => (
                    "GET",
                    format!("/v1/kv/{path}"),
                    Vec::new(),
                    key_expect(&decoded, false),
                ),
                "PUT kv" => {
                    let mut body = json!({ "value": value });
                    if let Some(i) = index {
                        body["index"] = json!(i);
                    }
                    if index == Some(5) {
                        body["lease"] = json!(lease.to_string());
                    }
                    (
                        "PUT",
                        format!("/v1/kv/{path}"),
                        body.to_string().into_bytes(),
                        key_expect(&decoded, true),
                    )
                }
                "DELETE kv" => {
                    let query = index.map(|i| format!("?index={i}")).unwrap_or_default();
                    (
                        "DELETE",
                        format!("/v1/kv/{path}{query}"),
                        Vec::new(),
                        key_expect(&decoded, true),
                    )
                }
                "GET lock" => ("GET", format!("/v1/locks/{path}"), Vec::new(), Expect::Any),
                "DELETE holder" => (
                    "DELETE",
                    format!("/v1/locks/{path}/holder?token={}", index.unwrap_or(1)),
                    Vec::new(),
                    Expect::Any,
                ),
                "POST keepalive" => (
                    "POST",
                    format!("/v1/leases/{path}/keepalive"),
                    Vec::new(),
                    Expect::Any,
                ),
                _ => (
                    "DELETE",
                    format!("/v1/leases/{path}"),
                    Vec::new(),
                    Expect::Any,
                ),
            };
            let expect = if malformed {
                Expect::MalformedHttp
            } else {
                expect
            };
            Case::new(method, target, body, expect)
        },
    )
}

#[test]
fn keys_in_paths_are_parsed_safely() {
    let h = Harness::start();
    h.run(keys_in_paths(h.lease));
}

// JSON bodies

/// Numbers and other things where a number belongs, as JSON text.
fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => (0u64..8).prop_map(|n| n.to_string()),
        2 => prop::sample::select(vec![
            "18446744073709551615", "18446744073709551616", "9223372036854775808", "-1", "-0",
            "1.5", "1e3", "1e400", "-1e400", "0.000001", "\"3\"", "null", "true", "[]", "{}",
            "1" , "3600", "9000000001", "1e19",
        ])
        .prop_map(str::to_string),
        1 => any::<i64>().prop_map(|n| n.to_string()),
        1 => any::<f64>().prop_filter("JSON has no NaN or infinity", |f| f.is_finite())
            .prop_map(|f| f.to_string()),
    ]
}

/// A key as JSON text: mostly good ones in the test's range, some reserved, some bad.
fn key_json() -> impl Strategy<Value = String> {
    prop_oneof![
        12 => "fz/[a-e]".prop_map(|k| json!(k).to_string()),
        1 => "@lock/[a-c]/[0-9]".prop_map(|k| json!(k).to_string()),
        2 => prop::sample::select(vec![
            "\"\"", "\"a\\u0000b\"", "\"a\\r\\nX-Injected: 1\"", "\"..\"", "\"@\"", "5", "null",
            "[\"fz/a\"]", "{}", "\"\\ud800\"",
        ])
        .prop_map(str::to_string),
        1 => prop::sample::select(vec![513usize, 600, 4000])
            .prop_map(|n| json!("k".repeat(n)).to_string()),
    ]
}

/// A lease id as JSON text: the harness's live lease, ids no store has, and non-ids.
fn lease_json(lease: i64) -> impl Strategy<Value = String> {
    prop_oneof![
        2 => Just(json!(lease.to_string()).to_string()),
        1 => (1_000_000_000i64..i64::MAX).prop_map(|n| json!(n.to_string()).to_string()),
        2 => prop::sample::select(vec![
            "\"abc\"", "\"\"", "\"-1\"", "\"0\"", "\"1.5\"", "\"99999999999999999999\"",
            "\" 1\"", "1", "null", "[]",
        ])
        .prop_map(str::to_string),
    ]
}

fn value_json() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => value().prop_map(|v| v.to_string()),
        1 => Just(json!("x".repeat(1024 * 1024 + 10)).to_string()),
    ]
}

fn object(fields: Vec<(&str, Option<String>)>) -> String {
    let fields: Vec<String> = fields
        .into_iter()
        .filter_map(|(name, value)| value.map(|v| format!("{}:{v}", json!(name))))
        .collect();
    format!("{{{}}}", fields.join(","))
}

fn array(items: Vec<String>) -> String {
    format!("[{}]", items.join(","))
}

/// A read of the backend protocol.
fn read_json() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::collection::vec(key_json(), 0..4)
            .prop_map(|keys| object(vec![("keys", Some(array(keys)))])),
        (
            prop::option::of("fz/[a-c]?|@lock/|\"\"".prop_map(|p| json!(p).to_string())),
            prop::option::of(key_json()),
            prop::option::of(number()),
            prop::option::of(prop::sample::select(vec![
                "\"key\"",
                "\"index_asc\"",
                "\"index_desc\"",
                "\"sideways\"",
                "1"
            ])),
            prop::option::of(number()),
            prop::option::of(prop::sample::select(vec!["true", "false", "\"yes\""])),
        )
            .prop_map(|(prefix, after, below, order, limit, reserved)| {
                let range = object(vec![
                    ("prefix", Some(prefix.unwrap_or_else(|| "\"fz/\"".into()))),
                    ("after", after),
                    ("below_index", below),
                    ("order", order.map(str::to_string)),
                    ("limit", limit),
                    ("include_reserved", reserved.map(str::to_string)),
                ]);
                object(vec![("range", Some(range))])
            }),
    ]
}

/// A valid-looking body for one endpoint (its fields drawn from the strategies above, so it
/// may well be refused).
fn endpoint_body(lease: i64) -> impl Strategy<Value = (&'static str, String, String)> {
    let compare = || {
        (key_json(), number()).prop_map(|(k, i)| object(vec![("key", Some(k)), ("index", Some(i))]))
    };
    let op = prop_oneof![
        (
            key_json(),
            value_json(),
            prop::option::of(lease_json(lease))
        )
            .prop_map(|(k, v, l)| {
                object(vec![(
                    "put",
                    Some(object(vec![
                        ("key", Some(k)),
                        ("value", Some(v)),
                        ("lease", l),
                    ])),
                )])
            }),
        key_json().prop_map(|k| object(vec![("delete", Some(object(vec![("key", Some(k))])))])),
    ];
    let rest_op = prop_oneof![
        (
            key_json(),
            value_json(),
            prop::option::of(number()),
            prop::option::of(lease_json(lease))
        )
            .prop_map(|(k, v, i, l)| {
                object(vec![(
                    "put",
                    Some(object(vec![
                        ("key", Some(k)),
                        ("value", Some(v)),
                        ("index", i),
                        ("lease", l),
                    ])),
                )])
            }),
        (key_json(), prop::option::of(number())).prop_map(|(k, i)| {
            object(vec![(
                "delete",
                Some(object(vec![("key", Some(k)), ("index", i)])),
            )])
        }),
    ];
    prop_oneof![
        (
            prop::collection::vec(compare(), 0..3),
            prop::collection::vec(op, 0..4),
            prop::collection::vec(read_json(), 0..2),
        )
            .prop_map(|(c, o, r)| {
                let body = object(vec![
                    ("compares", Some(array(c))),
                    ("ops", Some(array(o))),
                    ("reads", Some(array(r))),
                ]);
                ("POST", "/v1/backend/commit".to_string(), body)
            }),
        prop::collection::vec(read_json(), 0..3).prop_map(|r| {
            (
                "POST",
                "/v1/backend/read".to_string(),
                object(vec![("reads", Some(array(r)))]),
            )
        }),
        number().prop_map(|t| (
            "POST",
            "/v1/leases".to_string(),
            object(vec![("ttl", Some(t))])
        )),
        prop::collection::vec(lease_json(lease), 0..4).prop_map(|ids| {
            (
                "POST",
                "/v1/leases/ttl".to_string(),
                object(vec![("ids", Some(array(ids)))]),
            )
        }),
        prop::collection::vec(key_json(), 0..5).prop_map(|keys| {
            (
                "POST",
                "/v1/get-many".to_string(),
                object(vec![("keys", Some(array(keys)))]),
            )
        }),
        (
            prop::collection::vec(compare(), 0..3),
            prop::collection::vec(rest_op, 0..4),
        )
            .prop_map(|(c, o)| {
                let body = object(vec![("checks", Some(array(c))), ("ops", Some(array(o)))]);
                ("POST", "/v1/txn".to_string(), body)
            }),
        (
            value_json(),
            prop::option::of(number()),
            prop::option::of(lease_json(lease))
        )
            .prop_map(|(v, i, l)| {
                let body = object(vec![("value", Some(v)), ("index", i), ("lease", l)]);
                ("PUT", "/v1/kv/fz/body".to_string(), body)
            }),
    ]
}

/// How a body is spoiled before it is sent.
#[derive(Debug, Clone)]
enum Spoil {
    None,
    Truncate(prop::sample::Index),
    Replace(prop::sample::Index, u8),
    Insert(prop::sample::Index, u8),
    Remove(prop::sample::Index),
    /// Another JSON value of any type instead.
    Other(Value),
    /// Random bytes instead.
    Bytes(Vec<u8>),
    /// The body's value nested this deep in arrays.
    Deep(usize),
    /// This many ops (over the endpoint's limit).
    TooMany(usize),
}

fn spoil() -> impl Strategy<Value = Spoil> {
    prop_oneof![
        8 => Just(Spoil::None),
        3 => any::<prop::sample::Index>().prop_map(Spoil::Truncate),
        2 => (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, b)| Spoil::Replace(i, b)),
        2 => (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, b)| Spoil::Insert(i, b)),
        1 => any::<prop::sample::Index>().prop_map(Spoil::Remove),
        2 => value().prop_map(Spoil::Other),
        2 => prop::collection::vec(any::<u8>(), 0..200).prop_map(Spoil::Bytes),
        1 => (129usize..5000).prop_map(Spoil::Deep),
        1 => (0usize..200).prop_map(Spoil::TooMany),
    ]
}

fn json_bodies(lease: i64) -> impl Strategy<Value = Case> {
    (endpoint_body(lease), spoil()).prop_map(|((method, path, body), spoil)| {
        let mut bytes = body.clone().into_bytes();
        let mut expect = Expect::Any;
        match spoil {
            Spoil::None => {}
            Spoil::Truncate(i) => {
                // A JSON object cut anywhere before its end is not JSON.
                bytes.truncate(i.index(bytes.len()));
                expect = Expect::Refused("not valid");
            }
            Spoil::Replace(i, b) => {
                let i = i.index(bytes.len());
                bytes[i] = b;
            }
            Spoil::Insert(i, b) => {
                let i = i.index(bytes.len() + 1);
                bytes.insert(i, b);
            }
            Spoil::Remove(i) => {
                bytes.remove(i.index(bytes.len()));
            }
            Spoil::Other(v) => bytes = v.to_string().into_bytes(),
            Spoil::Bytes(b) => bytes = b,
            Spoil::Deep(n) => {
                // Where any JSON value is taken, nesting runs into the parser's depth limit;
                // elsewhere the first '[' is already the wrong type.
                let deep = format!("{}1{}", "[".repeat(n), "]".repeat(n));
                let (deep, says) = match path.as_str() {
                    "/v1/kv/fz/body" => (format!("{{\"value\":{deep}}}"), "recursion limit"),
                    "/v1/backend/commit" | "/v1/txn" => (
                        format!(
                            "{{\"ops\":[{{\"put\":{{\"key\":\"fz/deep\",\"value\":{deep}}}}}]}}"
                        ),
                        "recursion limit",
                    ),
                    _ => (
                        format!("{}{body}{}", "[".repeat(n), "]".repeat(n)),
                        "not valid",
                    ),
                };
                bytes = deep.into_bytes();
                expect = Expect::Refused(says);
            }
            Spoil::TooMany(extra) => {
                let (limit, says) = if path == "/v1/backend/commit" {
                    (1024, "at most 1024")
                } else {
                    (128, "the limit is 128")
                };
                let ops: Vec<Value> = (0..limit + 1 + extra)
                    .map(|i| json!({ "put": { "key": format!("fz/many/{i}"), "value": i } }))
                    .collect();
                bytes = json!({ "ops": ops }).to_string().into_bytes();
                expect = if path == "/v1/backend/commit" || path == "/v1/txn" {
                    Expect::Refused(says)
                } else {
                    Expect::Any
                };
            }
        }
        if expect == Expect::Any && serde_json::from_slice::<Value>(&bytes).is_err() {
            expect = Expect::Refused("not valid");
        }
        Case::new(method, path, bytes, expect)
    })
}

#[test]
fn json_bodies_are_parsed_safely() {
    let h = Harness::start();
    h.run(json_bodies(h.lease));
}

// Query strings

fn query_value() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => (0u64..10).prop_map(|n| n.to_string()),
        3 => prop::sample::select(vec![
            "", "-1", "18446744073709551615", "18446744073709551616", "1e3", "0x10", "+5", "%205",
            "abc", "true", "false", "1", "null", "%FF", "%00", "%0D%0A", "fz/", "fz%2Fa", "@lock/",
            "%40", "a%20b", "%", "%%", "a+b", TOKEN, "Bearer%20parser-test-token",
        ])
        .prop_map(str::to_string),
        1 => prop::collection::vec(any::<u8>(), 0..12).prop_map(|b| encode(&b)),
        1 => prop::sample::select(vec![513usize, 3000]).prop_map(|n| "k".repeat(n)),
    ]
}

fn query() -> impl Strategy<Value = String> {
    let name = prop::sample::select(vec![
        "index",
        "limit",
        "prefix",
        "after",
        "from",
        "include_reserved",
        "token",
        "x",
        "",
        "LIMIT",
        "limit[]",
        "index%00",
    ]);
    let param = (name, query_value(), 0u8..8).prop_map(|(n, v, shape)| match shape {
        0 => n.to_string(),
        1 => format!("{n}="),
        _ => format!("{n}={v}"),
    });
    (
        prop::collection::vec(param, 0..4),
        prop::sample::select(vec!["&", "&&", ";"]),
    )
        .prop_map(|(params, sep)| params.join(sep))
}

fn query_strings() -> impl Strategy<Value = Case> {
    let route = prop::sample::select(vec![
        ("GET", "/v1/kv"),
        ("DELETE", "/v1/kv/fz/q"),
        ("DELETE", "/v1/kv/fz/absent"),
        ("DELETE", "/v1/locks/fz/holder"),
        ("GET", "/v1/locks/fz"),
        ("GET", "/v1/backend/watch"),
        ("GET", "/v1/index"),
        ("GET", "/v1/info"),
        ("GET", "/v1/kv/fz/a"),
    ]);
    (route, query(), any::<bool>()).prop_map(|((method, path), query, with_auth)| {
        let target = if query.is_empty() {
            path.to_string()
        } else {
            format!("{path}?{query}")
        };
        let mut case = Case::new(method, target, Vec::new(), Expect::Any);
        // A token in the query string is no token: only the header counts.
        if !with_auth {
            case.auth = None;
            case.expect = Expect::Refused("bearer token");
        }
        case
    })
}

#[test]
fn query_strings_are_parsed_safely() {
    let h = Harness::start();
    h.run(query_strings());
}

// Content types, methods and credentials

fn headers_and_methods(lease: i64) -> impl Strategy<Value = Case> {
    let method = prop::sample::select(vec![
        "GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "TRACE", "CONNECTX",
    ]);
    let path = prop::sample::select(vec![
        "/v1/info".to_string(),
        "/v1/index".to_string(),
        "/v1/kv".to_string(),
        "/v1/kv/fz/h".to_string(),
        "/v1/get-many".to_string(),
        "/v1/txn".to_string(),
        "/v1/backend/read".to_string(),
        "/v1/backend/commit".to_string(),
        "/v1/leases".to_string(),
        "/v1/leases/ttl".to_string(),
        format!("/v1/leases/{lease}/keepalive"),
        "/v1/leases/123456789012/keepalive".to_string(),
        "/v1/locks/fz".to_string(),
        "/v1/locks/fz/holder?token=1".to_string(),
        "/v1".to_string(),
        "/v1/".to_string(),
        "/v1/nope".to_string(),
        "/v1/kv/".to_string(),
        "/v1/backend".to_string(),
        "/v1/leases/1/keepalive/x".to_string(),
        format!("/v1/kv?token={TOKEN}"),
        "/healthz".to_string(),
        "/metrics".to_string(),
    ]);
    let body = prop_oneof![
        Just(Vec::new()),
        Just(json!({ "value": 1 }).to_string().into_bytes()),
        Just(
            json!({ "ops": [{ "put": { "key": "fz/h", "value": 2 } }] })
                .to_string()
                .into_bytes()
        ),
        Just(
            json!({ "reads": [{ "keys": ["fz/h"] }] })
                .to_string()
                .into_bytes()
        ),
        Just(json!({ "keys": ["fz/h"] }).to_string().into_bytes()),
        Just(json!({ "ttl": 5 }).to_string().into_bytes()),
        Just(b"value=1&index=0".to_vec()),
        prop::collection::vec(any::<u8>(), 1..64),
    ];
    let content_type = prop::option::of(prop::sample::select(vec![
        "application/json",
        "application/json; charset=utf-8",
        "APPLICATION/JSON",
        " application/json ",
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/jsonp",
        "application/json, text/plain",
        "json",
        "",
    ]));
    let right = format!("Bearer {TOKEN}");
    let auth = prop_oneof![
        6 => Just(Some(right)),
        1 => prop::sample::select(vec![
            "Bearer wrong".to_string(),
            "Bearer ".to_string(),
            format!("bearer {TOKEN}"),
            format!("Basic {TOKEN}"),
            format!("Bearer {TOKEN} "),
            format!("Bearer  {TOKEN}"),
            format!("Bearer {}", TOKEN.to_uppercase()),
            TOKEN.to_string(),
        ])
        .prop_map(Some),
        1 => Just(None),
    ];
    (method, path, body, content_type, auth, any::<bool>()).prop_map(
        move |(method, path, body, content_type, auth, chunked)| {
            let json_type = content_type.is_some_and(|t| {
                t.split(';')
                    .next()
                    .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
            });
            // HTTP drops the whitespace around a header's value.
            let authorized =
                auth.as_deref().map(str::trim) == Some(format!("Bearer {TOKEN}").as_str());
            // The API is what is under /v1/ (`/v1` and `/v1/` themselves are no endpoint).
            let expect = if !path.starts_with("/v1/") || path == "/v1/" {
                Expect::Any
            } else if !authorized {
                Expect::Refused("bearer token")
            } else if !body.is_empty() && !json_type {
                Expect::Refused("Content-Type: application/json")
            } else {
                Expect::Any
            };
            Case {
                method: method.to_string(),
                target: path,
                content_type: content_type.map(str::to_string),
                auth,
                body,
                chunked,
                expect,
            }
        },
    )
}

#[test]
fn content_types_methods_and_credentials_are_checked() {
    let h = Harness::start();
    h.run(headers_and_methods(h.lease));
}

/// The one refusal the families above cannot reach cheaply: a chunked body (no declared length)
/// that runs past the 16 MiB limit is cut off with the same JSON error, and nothing is written.
#[test]
fn an_oversize_chunked_body_gets_a_json_413() {
    let h = Harness::start();
    let before = h.rt.block_on(snapshot(&h.db));
    let value = "x".repeat(16 * 1024 * 1024 + 1024);
    let mut case = Case::new(
        "PUT",
        "/v1/kv/fz/huge".into(),
        json!({ "value": value }).to_string().into_bytes(),
        Expect::Refused("length limit"),
    );
    case.chunked = true;
    let reply = send(&h.addr(), &case).expect("a reply");
    assert_eq!(
        reply.status,
        413,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let after = h.rt.block_on(snapshot(&h.db));
    check(&case, &reply, &before, &after).unwrap();
    h.still_serving();
}
