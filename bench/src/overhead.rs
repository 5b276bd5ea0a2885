//! The server's added latency: the same ops, one at a time, through a client of the store itself
//! and through a client of `interlock serve` over the same kind of store, in alternating batches
//! so that a slow spell of the machine or the disk hits both sides alike.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use interlock::{Client, Lock};

use crate::Res;
use crate::measure::median;

/// The ops compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `put(key, value, index)` with the index the previous put returned.
    Put,
    /// `get(key)` of an existing entry.
    Get,
    /// `acquire(None)` then `release()` on one Lock object.
    LockUnlock,
    /// A transaction of two puts, each at the index it has.
    Txn2,
    /// `index()`: the smallest read there is.
    Index,
    /// The floor: `index()` directly against a bare `GET /v1/index` (with the token) through
    /// reqwest, so that what the interlock client adds to the request is left out.
    RawIndex,
}

impl Op {
    pub const ALL: [Op; 6] = [
        Op::Put,
        Op::Get,
        Op::LockUnlock,
        Op::Txn2,
        Op::Index,
        Op::RawIndex,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Op::Put => "put compare-exchange",
            Op::Get => "get",
            Op::LockUnlock => "lock+unlock (uncontended)",
            Op::Txn2 => "txn of 2 puts at their indexes",
            Op::Index => "index()",
            Op::RawIndex => "index() vs a bare GET /v1/index (reqwest): the HTTP floor",
        }
    }
}

/// A bare HTTP client of the server: [`Op::RawIndex`]'s requests, and the request counts.
pub struct Raw {
    pub http: reqwest::Client,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    pub token: String,
}

impl Raw {
    /// The server's request counters (`interlock_http_requests_total` in `/metrics`), summed
    /// over statuses, by method and route.
    async fn requests(&self) -> Res<BTreeMap<String, f64>> {
        let text = self
            .http
            .get(format!("{}/metrics", self.base))
            .send()
            .await?
            .error_for_status()?
            .text()
            .await?;
        let mut counts = BTreeMap::new();
        for line in text.lines() {
            let Some(rest) = line.strip_prefix("interlock_http_requests_total{") else {
                continue;
            };
            let Some((labels, value)) = rest.rsplit_once('}') else {
                continue;
            };
            let label = |name: &str| {
                labels
                    .split(',')
                    .find_map(|l| l.strip_prefix(&format!("{name}=\"")))
                    .map(|v| v.trim_end_matches('"').to_string())
                    .unwrap_or_default()
            };
            let route = label("route");
            if route == "/metrics" {
                continue;
            }
            let n: f64 = value
                .trim()
                .parse()
                .map_err(|_| format!("/metrics: bad counter line {line:?}"))?;
            *counts
                .entry(format!("{} {route}", label("method")))
                .or_insert(0.0) += n;
        }
        Ok(counts)
    }
}

/// One client and the state its ops carry from one to the next.
pub struct Side {
    client: Client,
    /// Set on the side through the server: [`Op::RawIndex`] sends its bare request.
    raw: Option<Raw>,
    lock: Lock,
    put_index: u64,
    n: u64,
    txn_indexes: [u64; 2],
}

const PUT_KEY: &str = "bench/put";
const GET_KEY: &str = "bench/get";
const TXN_KEYS: [&str; 2] = ["bench/txn/a", "bench/txn/b"];

impl Side {
    /// Writes the keys the ops start from. With `raw`, [`Op::RawIndex`] sends a bare request
    /// instead of calling `index()`.
    pub async fn new(client: Client, raw: Option<Raw>) -> Res<Side> {
        let put_index = client.set(PUT_KEY, 0).await?;
        client
            .set(GET_KEY, serde_json::json!({ "name": "bench", "n": 1 }))
            .await?;
        let mut txn_indexes = [0; 2];
        for (i, k) in TXN_KEYS.iter().enumerate() {
            txn_indexes[i] = client.set(k, 0).await?;
        }
        Ok(Side {
            lock: client.lock("bench/lock"),
            client,
            raw,
            put_index,
            n: 0,
            txn_indexes,
        })
    }

    async fn op(&mut self, op: Op) -> Res<()> {
        self.n += 1;
        match op {
            Op::Put => {
                let r = self.client.put(PUT_KEY, self.n, self.put_index).await?;
                if !r.successful {
                    return Err(format!(
                        "put at index {} failed: the key is at {}",
                        self.put_index, r.index
                    )
                    .into());
                }
                self.put_index = r.index;
            }
            Op::Get => {
                if self.client.get(GET_KEY).await?.is_none() {
                    return Err(format!("get: '{GET_KEY}' is missing").into());
                }
            }
            Op::LockUnlock => {
                self.lock.acquire(None).await?;
                self.lock.release().await?;
            }
            Op::Txn2 => {
                let [a, b] = self.txn_indexes;
                let index = self
                    .client
                    .txn()
                    .put(TXN_KEYS[0], self.n, a)
                    .put(TXN_KEYS[1], self.n, b)
                    .commit()
                    .await?;
                self.txn_indexes = [index; 2];
            }
            Op::Index => {
                self.client.index().await?;
            }
            Op::RawIndex => match &self.raw {
                None => {
                    self.client.index().await?;
                }
                Some(raw) => {
                    let url = format!("{}/v1/index", raw.base);
                    let reply = raw
                        .http
                        .get(&url)
                        .bearer_auth(&raw.token)
                        .send()
                        .await?
                        .error_for_status()?;
                    let body: serde_json::Value = reply.json().await?;
                    if !body["index"].is_u64() {
                        return Err(format!("{url}: no index in {body}").into());
                    }
                }
            },
        }
        Ok(())
    }
}

/// One timed batch: every op's latency.
pub struct Batch {
    pub hist: Histogram<u64>,
}

impl Batch {
    pub fn p50(&self) -> f64 {
        self.hist.value_at_quantile(0.5) as f64
    }
}

/// Runs `op` until the batch lasted `min` or reached `max_ops`, timing each op.
pub async fn run_batch(side: &mut Side, op: Op, min: Duration, max_ops: u64) -> Res<Batch> {
    let mut hist = Histogram::<u64>::new_with_bounds(1, 3_600_000_000_000, 3)?;
    let start = Instant::now();
    loop {
        let t0 = Instant::now();
        side.op(op).await?;
        hist.record((t0.elapsed().as_nanos() as u64).max(1))?;
        if hist.len() >= max_ops || start.elapsed() >= min {
            break;
        }
    }
    Ok(Batch { hist })
}

/// The batches of one op on one side, and their merged latencies.
pub struct Latencies {
    pub batches: Vec<Batch>,
    pub all: Histogram<u64>,
}

impl Latencies {
    fn new(batches: Vec<Batch>) -> Res<Latencies> {
        let mut all = Histogram::<u64>::new_with_bounds(1, 3_600_000_000_000, 3)?;
        for b in &batches {
            all.add(&b.hist)?;
        }
        Ok(Latencies { batches, all })
    }

    /// The median latency of every timed op, ns.
    pub fn p50(&self) -> f64 {
        self.all.value_at_quantile(0.5) as f64
    }

    pub fn p99(&self) -> f64 {
        self.all.value_at_quantile(0.99) as f64
    }

    pub fn ops(&self) -> u64 {
        self.all.len()
    }
}

/// One op measured directly and through the server.
pub struct Comparison {
    pub op: Op,
    pub direct: Latencies,
    pub served: Latencies,
    /// Requests the server answered per op through the server, by method and route, over the
    /// timed batches (the lease keepalives that fell in them included).
    pub requests: Vec<(String, f64)>,
}

impl Comparison {
    /// Time the server adds to the median op, ns.
    pub fn added(&self) -> f64 {
        self.served.p50() - self.direct.p50()
    }

    pub fn ratio(&self) -> f64 {
        self.served.p50() / self.direct.p50()
    }

    /// The median over rounds of (served batch p50 / direct batch p50): each round runs the two
    /// batches back to back.
    pub fn paired(&self) -> f64 {
        median(
            self.direct
                .batches
                .iter()
                .zip(&self.served.batches)
                .map(|(d, s)| s.p50() / d.p50())
                .collect(),
        )
    }
}

/// Every op of one store kind.
pub struct StoreResult {
    pub store: String,
    pub comparisons: Vec<Comparison>,
}

/// Warms both sides up, then runs `batches` rounds of one batch per side for each op, the side
/// that goes first swapping every round.
pub async fn compare(
    store: &str,
    direct: &mut Side,
    served: &mut Side,
    batches: usize,
    batch_time: Duration,
    max_ops: u64,
) -> Res<StoreResult> {
    let mut comparisons = Vec::new();
    for op in Op::ALL {
        for side in [&mut *direct, &mut *served] {
            run_batch(side, op, batch_time / 4, max_ops.min(50)).await?;
        }
        let before = match &served.raw {
            Some(raw) => Some(raw.requests().await?),
            None => None,
        };
        let (mut d, mut s) = (Vec::new(), Vec::new());
        for round in 0..batches {
            if round % 2 == 0 {
                d.push(run_batch(direct, op, batch_time, max_ops).await?);
                s.push(run_batch(served, op, batch_time, max_ops).await?);
            } else {
                s.push(run_batch(served, op, batch_time, max_ops).await?);
                d.push(run_batch(direct, op, batch_time, max_ops).await?);
            }
        }
        let served_lat = Latencies::new(s)?;
        let mut requests = Vec::new();
        if let (Some(raw), Some(before)) = (&served.raw, before) {
            let ops = served_lat.ops().max(1) as f64;
            for (route, n) in raw.requests().await? {
                let per_op = (n - before.get(&route).copied().unwrap_or(0.0)) / ops;
                if per_op >= 0.005 {
                    requests.push((route, per_op));
                }
            }
        }
        comparisons.push(Comparison {
            op,
            direct: Latencies::new(d)?,
            served: served_lat,
            requests,
        });
    }
    Ok(StoreResult {
        store: store.to_string(),
        comparisons,
    })
}
