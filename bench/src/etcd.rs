//! The etcd part: a 3-member etcd cluster on loopback, started by the benchmark with the test
//! suite's harness, and the raw gateway requests that interlock's etcd backend is compared with.
//!
//! Every client, interlock's and the raw one, talks to the member that led the cluster when the
//! measurement started, over the same kind of HTTP client (reqwest, `tcp_nodelay`, plain HTTP/1.1
//! with pooled connections), so the ratios isolate what the backend adds to the gateway requests
//! it cannot avoid:
//!
//! - a lock+unlock cycle must at least create a key on a lease (`CREATE == 0`, put) and delete it
//!   again (`MOD == revision`, delete): two txns;
//! - `put(index)` and a transfer's commit must at least run one compare-and-put txn;
//! - a handoff must at least commit the holder's delete and notify the waiter's watch.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use interlock_tests::etcd::EtcdCluster;
use serde_json::{Value, json};

use crate::Res;

/// Members of the benchmark's cluster.
pub const MEMBERS: usize = 3;
/// The backend label of the etcd results.
pub const LABEL: &str = "etcd (3 members, gateway)";
/// The key prefix of the interlock clients (the raw requests write under `bench-raw/`).
pub const PREFIX: &str = "bench/";
/// TTL of the raw floor's lease: long enough that it needs no keepalive during the run.
pub(crate) const RAW_LEASE_TTL_SECS: u64 = 600;
/// Timeout of one raw request.
pub(crate) const RAW_TIMEOUT: Duration = Duration::from_secs(10);

/// The first line of `etcd --version`, or why etcd cannot run.
pub fn version() -> Result<String, String> {
    let out = Command::new("etcd")
        .arg("--version")
        .output()
        .map_err(|e| {
            format!("cannot run etcd ({e}); install it with `bash scripts/setup-etcd.sh`")
        })?;
    if !out.status.success() {
        return Err(format!("`etcd --version` failed: {}", out.status));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text.lines().next().unwrap_or("etcd").trim().to_string())
}

/// A running cluster and the member every client of the benchmark talks to.
pub struct Etcd {
    pub cluster: EtcdCluster,
    /// The member that led when the cluster was ready.
    pub member: usize,
    /// Its gateway, `http://127.0.0.1:PORT`.
    pub base: String,
    /// The interlock store URL naming only that member.
    pub url: String,
}

impl Etcd {
    /// Starts the cluster and waits for a leader (blocking).
    pub fn start() -> Res<Etcd> {
        Etcd::start_members(MEMBERS)
    }

    /// [`Etcd::start`] with `members` members.
    pub fn start_members(members: usize) -> Res<Etcd> {
        let cluster =
            std::panic::catch_unwind(|| EtcdCluster::start(members)).map_err(|p| panic_text(&p))?;
        let member = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            cluster.wait_for_leader(Duration::from_secs(30))
        }))
        .map_err(|p| panic_text(&p))?;
        let addr = cluster.client_url(member);
        Ok(Etcd {
            base: format!("http://{addr}"),
            url: format!("etcd://{addr}?prefix={PREFIX}"),
            member,
            cluster,
        })
    }

    /// The member leading now (it may have changed since the start, after an election).
    pub fn leader_now(&self) -> Option<usize> {
        self.cluster.leader()
    }
}

fn panic_text(p: &Box<dyn std::any::Any + Send>) -> String {
    let text = p
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| p.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)");
    format!("the etcd cluster did not start: {text}")
}

fn b64(s: &str) -> String {
    BASE64.encode(s)
}

/// A 64-bit integer of a gateway reply (a string, or absent for zero).
fn int(v: &Value) -> i64 {
    match v {
        Value::String(s) => s.parse().unwrap_or(0),
        Value::Number(n) => n.as_i64().unwrap_or(0),
        _ => 0,
    }
}

/// Raw gateway requests to one member.
#[derive(Clone)]
pub struct Raw {
    http: reqwest::Client,
    base: String,
}

impl Raw {
    /// A client with the settings of interlock's etcd backend.
    pub fn new(base: &str) -> Res<Raw> {
        // reqwest is built without a default TLS crypto provider; interlock installs ring too.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(60))
            .build()?;
        Ok(Raw {
            http,
            base: base.to_string(),
        })
    }

    /// POSTs `body` to `path` and returns the JSON reply; an HTTP error status is an error.
    pub async fn post(&self, path: &str, body: &Value) -> Res<Value> {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .timeout(RAW_TIMEOUT)
            .body(serde_json::to_vec(body)?)
            .send()
            .await?;
        let status = response.status();
        let bytes = response.bytes().await?;
        if !status.is_success() {
            return Err(format!(
                "POST {path}: HTTP {status}: {}",
                String::from_utf8_lossy(&bytes)
            )
            .into());
        }
        Ok(serde_json::from_slice(&bytes)?)
    }

    /// Runs a txn; returns whether it succeeded and the revision of its reply.
    async fn txn(&self, body: &Value) -> Res<(bool, i64)> {
        let reply = self.post("/v3/kv/txn", body).await?;
        Ok((
            reply["succeeded"].as_bool().unwrap_or(false),
            int(&reply["header"]["revision"]),
        ))
    }

    /// Puts `key` (base64) = `value` (base64); returns the new revision.
    async fn put(&self, key: &str, value: &str) -> Res<i64> {
        let reply = self
            .post("/v3/kv/put", &json!({ "key": key, "value": value }))
            .await?;
        Ok(int(&reply["header"]["revision"]))
    }

    async fn grant(&self, ttl_secs: u64) -> Res<i64> {
        let reply = self
            .post("/v3/lease/grant", &json!({ "TTL": ttl_secs.to_string() }))
            .await?;
        match int(&reply["ID"]) {
            0 => Err(format!("etcd granted no lease: {reply}").into()),
            id => Ok(id),
        }
    }

    pub async fn revoke(&self, lease: i64) -> Res<()> {
        self.post("/v3/lease/revoke", &json!({ "ID": lease.to_string() }))
            .await
            .map(drop)
    }

    /// Delete `key` if its mod revision is `rev`, as a lock release does.
    async fn delete_at(&self, key: &str, rev: i64) -> Res<()> {
        let (ok, _) = self
            .txn(&json!({
                "compare": [{ "target": "MOD", "key": key, "mod_revision": rev.to_string() }],
                "success": [{ "request_delete_range": { "key": key } }],
            }))
            .await?;
        if !ok {
            return Err("raw delete txn: the key changed".into());
        }
        Ok(())
    }

    /// Counts of gRPC calls the member has started, by method (`Txn`, `Range`, `LeaseGrant`,
    /// ...), from its `/metrics`: the gateway turns each request into one gRPC call.
    pub async fn grpc_started(&self) -> Res<BTreeMap<String, f64>> {
        let text = self
            .http
            .get(format!("{}/metrics", self.base))
            .timeout(RAW_TIMEOUT)
            .send()
            .await?
            .text()
            .await?;
        let mut counts = BTreeMap::new();
        for line in text.lines() {
            let Some(rest) = line.strip_prefix("grpc_server_started_total{") else {
                continue;
            };
            let Some((labels, value)) = rest.rsplit_once('}') else {
                continue;
            };
            let method = labels
                .split(',')
                .find_map(|l| l.strip_prefix("grpc_method=\""))
                .map(|m| m.trim_end_matches('"').to_string());
            if let (Some(m), Ok(v)) = (method, value.trim().parse::<f64>()) {
                *counts.entry(m).or_insert(0.0) += v;
            }
        }
        if counts.is_empty() {
            return Err("etcd's /metrics has no grpc_server_started_total".into());
        }
        Ok(counts)
    }
}

/// A value of about the size of interlock's waiter entry (`{"owner": …, "client": …}`), as
/// stored (the gRPC workloads send it as it is).
pub(crate) fn waiter_text() -> String {
    let owner = format!("pid {} on raw-floor-host", std::process::id());
    json!({ "owner": owner, "client": "0123456789abcdef0123" }).to_string()
}

/// [`waiter_text`] in base64, as the gateway takes it.
fn waiter_value() -> String {
    b64(&waiter_text())
}

/// A raw floor workload on one member.
pub enum RawOp {
    /// Create txn (`CREATE == 0`, put on a lease), then delete txn (`MOD == rev`, delete).
    Cycle {
        raw: Raw,
        key: String,
        value: String,
        lease: i64,
    },
    /// One compare-and-put txn (`MOD == rev`, put).
    Cas {
        raw: Raw,
        key: String,
        rev: i64,
        n: u64,
    },
    /// One unconditional `/v3/kv/put`.
    Put { raw: Raw, key: String, n: u64 },
}

impl RawOp {
    /// The three raw workloads; the cycle's lease is granted here, outside every timed loop.
    pub async fn set(raw: &Raw) -> Res<Vec<RawOp>> {
        let lease = raw.grant(RAW_LEASE_TTL_SECS).await?;
        let cas_key = b64("bench-raw/cas");
        let rev = raw.put(&cas_key, &b64("0")).await?;
        Ok(vec![
            RawOp::Cycle {
                raw: raw.clone(),
                key: b64("bench-raw/@lock/bench%2Flock/0123456789abcdef0123"),
                value: waiter_value(),
                lease,
            },
            RawOp::Cas {
                raw: raw.clone(),
                key: cas_key,
                rev,
                n: 0,
            },
            RawOp::Put {
                raw: raw.clone(),
                key: b64("bench-raw/put"),
                n: 0,
            },
        ])
    }

    /// The lease of the cycle workload, to revoke at the end.
    pub fn lease(&self) -> Option<(Raw, i64)> {
        match self {
            RawOp::Cycle { raw, lease, .. } => Some((raw.clone(), *lease)),
            _ => None,
        }
    }

    pub async fn op(&mut self, phases: &mut [Duration; 2]) -> Res<()> {
        match self {
            RawOp::Cycle {
                raw,
                key,
                value,
                lease,
            } => {
                let t0 = Instant::now();
                let (ok, rev) = raw
                    .txn(&json!({
                        "compare": [{ "target": "CREATE", "key": key, "create_revision": "0" }],
                        "success": [{ "request_put": {
                            "key": key, "value": value, "lease": lease.to_string(),
                        } }],
                    }))
                    .await?;
                if !ok {
                    return Err("raw create txn: the key already exists".into());
                }
                let t1 = Instant::now();
                raw.delete_at(key, rev).await?;
                phases[0] += t1 - t0;
                phases[1] += t1.elapsed();
            }
            RawOp::Cas { raw, key, rev, n } => {
                *n += 1;
                let (ok, new) = raw
                    .txn(&json!({
                        "compare": [{ "target": "MOD", "key": key, "mod_revision": rev.to_string() }],
                        "success": [{ "request_put": { "key": key, "value": b64(&n.to_string()) } }],
                    }))
                    .await?;
                if !ok {
                    return Err(format!("raw CAS txn at revision {rev} failed").into());
                }
                *rev = new;
            }
            RawOp::Put { raw, key, n } => {
                *n += 1;
                raw.put(key, &b64(&n.to_string())).await?;
            }
        }
        Ok(())
    }
}

/// The raw handoff floor, in nanoseconds per sample.
#[derive(Debug, Clone, Default)]
pub struct WatchFloor {
    /// From sending a raw delete txn to its reply: one raw txn.
    pub delete_reply: Vec<u64>,
    /// From sending a raw delete txn to its event arriving on a watch of the key.
    pub delete_to_event: Vec<u64>,
    /// The event's arrival minus the delete reply's arrival (negative: the event came first).
    pub event_after_reply: Vec<i64>,
}

/// `rounds` times: put a key, wait for its event on a raw `/v3/watch` stream, wait as long as
/// a holder in the handoff benchmark keeps the lock once a waiter is queued
/// ([`crate::handoff::ETCD_HOLD`]), then send a raw delete txn (as a lock release does) and time
/// its reply and its event. The wait matters: a delete sent right after the previous write's
/// event finds etcd busy and commits sooner (2.3 against 2.8 ms p50 on the 2-CPU development
/// machine) than one sent after a pause, as a release is.
pub async fn watch_floor(raw: &Raw, rounds: usize) -> Res<WatchFloor> {
    let key = b64("bench-raw/handoff/waiter");
    let mut response = raw
        .http
        .post(format!("{}/v3/watch", raw.base))
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(json!({ "create_request": { "key": key } }).to_string())
        .send()
        .await?;
    if !response.status().is_success() {
        return Err(format!("raw watch: HTTP {}", response.status()).into());
    }
    // Each message is one line of JSON; the first confirms the watch.
    let (events, mut arrivals) = tokio::sync::mpsc::unbounded_channel::<(Instant, bool)>();
    let (created, is_created) = tokio::sync::oneshot::channel::<()>();
    let reader = tokio::spawn(async move {
        let mut created = Some(created);
        let mut buf: Vec<u8> = Vec::new();
        while let Ok(Some(chunk)) = response.chunk().await {
            let now = Instant::now();
            buf.extend_from_slice(&chunk);
            while let Some(end) = buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = buf.drain(..=end).collect();
                let Ok(message) = serde_json::from_slice::<Value>(&line) else {
                    continue;
                };
                let result = &message["result"];
                if result["created"].as_bool() == Some(true) {
                    if let Some(c) = created.take() {
                        let _ = c.send(());
                    }
                }
                for e in result["events"].as_array().into_iter().flatten() {
                    if events.send((now, e["type"] == "DELETE")).is_err() {
                        return;
                    }
                }
            }
        }
    });
    tokio::time::timeout(RAW_TIMEOUT, is_created)
        .await
        .map_err(|_| "raw watch: not created")?
        .map_err(|_| "raw watch: the stream ended before it was created")?;
    async fn next(
        arrivals: &mut tokio::sync::mpsc::UnboundedReceiver<(Instant, bool)>,
    ) -> Res<(Instant, bool)> {
        Ok(tokio::time::timeout(RAW_TIMEOUT, arrivals.recv())
            .await
            .map_err(|_| "raw watch: no event within 10 s")?
            .ok_or("raw watch: the stream ended")?)
    }
    let value = waiter_value();
    let mut floor = WatchFloor::default();
    for _ in 0..rounds {
        let rev = raw.put(&key, &value).await?;
        let (_, delete) = next(&mut arrivals).await?;
        if delete {
            return Err("raw watch: a delete event came before the put's".into());
        }
        tokio::time::sleep(crate::handoff::ETCD_HOLD).await;
        let sent = Instant::now();
        raw.delete_at(&key, rev).await?;
        let replied = Instant::now();
        let (event, delete) = next(&mut arrivals).await?;
        if !delete {
            return Err("raw watch: expected the delete event".into());
        }
        let ns = |d: Duration| d.as_nanos() as u64;
        floor.delete_reply.push(ns(replied - sent));
        floor.delete_to_event.push(ns(event - sent));
        floor.event_after_reply.push(if event >= replied {
            ns(event - replied) as i64
        } else {
            -(ns(replied - event) as i64)
        });
    }
    reader.abort();
    Ok(floor)
}
