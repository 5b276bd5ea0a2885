//! Throughput measurements: each workload runs as several timed batches, interleaved with the
//! other workloads of its backend so that a slow spell of the disk hits all of them alike, and
//! the median batch rate is reported.

use std::path::Path;
use std::time::{Duration, Instant};

use interlock::{Client, Lock};
use rusqlite::{Connection, TransactionBehavior};
use serde_json::json;

use crate::etcd::RawOp;
use crate::{Config, Res};

/// What one op of a workload does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `BEGIN IMMEDIATE; UPDATE t SET v = v + 1 WHERE id = 1; COMMIT` through rusqlite.
    Raw,
    /// Raw gateway txns: create (`CREATE == 0`, put on a lease), then delete (`MOD == rev`).
    EtcdCycle,
    /// One raw gateway compare-and-put txn (`MOD == rev`, put).
    EtcdTxn,
    /// One raw gateway `/v3/kv/put`: etcd's own latency of a write.
    EtcdPut,
    /// [`Kind::EtcdCycle`]'s two txns over native gRPC (etcd-client), not the gateway.
    GrpcCycle,
    /// [`Kind::EtcdTxn`]'s txn over native gRPC (etcd-client).
    GrpcTxn,
    /// `acquire(None)` then `release()` on one Lock object.
    LockUnlock,
    /// `put(key, value, index)` with the index the previous put returned.
    Put,
    /// `get_many([a, b])` then a two-key `put_at` transaction.
    Transfer,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::Raw => "raw SQLite write txn (floor)",
            Kind::EtcdCycle => "raw create txn + delete txn (lock floor)",
            Kind::EtcdTxn => "raw CAS txn (floor)",
            Kind::EtcdPut => "raw /v3/kv/put (etcd write)",
            Kind::GrpcCycle => "gRPC create txn + delete txn (etcd-client)",
            Kind::GrpcTxn => "gRPC CAS txn (etcd-client)",
            Kind::LockUnlock => "lock+unlock (uncontended)",
            Kind::Put => "put compare-exchange",
            Kind::Transfer => "2-key transfer txn",
        }
    }

    /// Whether this is a raw request that interlock's ops are compared with, not an op of it.
    pub fn is_raw(self) -> bool {
        matches!(
            self,
            Kind::Raw
                | Kind::EtcdCycle
                | Kind::EtcdTxn
                | Kind::EtcdPut
                | Kind::GrpcCycle
                | Kind::GrpcTxn
        )
    }

    /// Whether this is a raw request over etcd's native gRPC API rather than its gateway.
    pub fn is_grpc(self) -> bool {
        matches!(self, Kind::GrpcCycle | Kind::GrpcTxn)
    }

    /// Names of the two timed phases of an op, if it has two.
    pub fn phases(self) -> Option<[&'static str; 2]> {
        match self {
            Kind::LockUnlock => Some(["acquire", "release"]),
            Kind::EtcdCycle | Kind::GrpcCycle => Some(["create txn", "delete txn"]),
            Kind::Transfer => Some(["get_many", "commit"]),
            _ => None,
        }
    }
}

/// A workload and its state between ops.
pub enum Workload {
    Raw(Connection),
    Etcd(RawOp),
    /// The gateway floor's txns over native gRPC (boxed: tonic's clients are large).
    #[cfg(feature = "grpc")]
    Grpc(Box<crate::grpc::GrpcOp>),
    LockUnlock {
        client: Client,
        lock: Lock,
    },
    Put {
        client: Client,
        key: String,
        index: u64,
        n: u64,
    },
    Transfer {
        client: Client,
        keys: [String; 2],
    },
}

impl Workload {
    /// The raw floor on its own database file, with the store's pragmas (see core's `db::open`).
    pub fn raw(path: &Path, durable: bool) -> Res<Workload> {
        let conn = Connection::open(path)?;
        let mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(format!("{} cannot use WAL (got {mode})", path.display()).into());
        }
        conn.pragma_update(None, "synchronous", if durable { "FULL" } else { "NORMAL" })?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, v INTEGER NOT NULL);
             INSERT OR IGNORE INTO t(id, v) VALUES (1, 0);",
        )?;
        Ok(Workload::Raw(conn))
    }

    /// The lock, put and transfer workloads on one client of the store at `url`.
    pub async fn store_set(url: &str) -> Res<Vec<Workload>> {
        let client = Client::connect(url).await?;
        let lock = client.lock("bench/lock");
        let key = "bench/put".to_string();
        let index = client.put(&key, 0, 0).await?.index;
        let keys = ["bench/account/a".to_string(), "bench/account/b".to_string()];
        for k in &keys {
            client.set(k, json!({ "balance": 1_000_000_000 })).await?;
        }
        Ok(vec![
            Workload::LockUnlock {
                client: client.clone(),
                lock,
            },
            Workload::Put {
                client: client.clone(),
                key,
                index,
                n: 0,
            },
            Workload::Transfer { client, keys },
        ])
    }

    pub fn kind(&self) -> Kind {
        match self {
            Workload::Raw(_) => Kind::Raw,
            Workload::Etcd(RawOp::Cycle { .. }) => Kind::EtcdCycle,
            Workload::Etcd(RawOp::Cas { .. }) => Kind::EtcdTxn,
            Workload::Etcd(RawOp::Put { .. }) => Kind::EtcdPut,
            #[cfg(feature = "grpc")]
            Workload::Grpc(op) => op.kind(),
            Workload::LockUnlock { .. } => Kind::LockUnlock,
            Workload::Put { .. } => Kind::Put,
            Workload::Transfer { .. } => Kind::Transfer,
        }
    }

    fn client(&self) -> Option<&Client> {
        match self {
            Workload::Raw(_) | Workload::Etcd(_) => None,
            #[cfg(feature = "grpc")]
            Workload::Grpc(_) => None,
            Workload::LockUnlock { client, .. }
            | Workload::Put { client, .. }
            | Workload::Transfer { client, .. } => Some(client),
        }
    }

    /// One op; adds the time of its two phases (if any) to `phases`.
    pub async fn op(&mut self, phases: &mut [Duration; 2]) -> Res<()> {
        match self {
            Workload::Raw(conn) => {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                tx.prepare_cached("UPDATE t SET v = v + 1 WHERE id = 1")?
                    .execute([])?;
                tx.commit()?;
            }
            Workload::Etcd(raw) => raw.op(phases).await?,
            #[cfg(feature = "grpc")]
            Workload::Grpc(op) => op.op(phases).await?,
            Workload::LockUnlock { lock, .. } => {
                let t0 = Instant::now();
                lock.acquire(None).await?;
                let t1 = Instant::now();
                lock.release().await?;
                phases[0] += t1 - t0;
                phases[1] += t1.elapsed();
            }
            Workload::Put {
                client,
                key,
                index,
                n,
            } => {
                *n += 1;
                let r = client.put(key, *n, *index).await?;
                if !r.successful {
                    return Err(format!("put at index {index} failed: now at {}", r.index).into());
                }
                *index = r.index;
            }
            Workload::Transfer { client, keys } => {
                let t0 = Instant::now();
                let entries = client.get_many(&keys[..]).await?;
                let t1 = Instant::now();
                let [a, b] = &entries[..] else {
                    return Err("transfer: an account is missing".into());
                };
                let balance = |e: &interlock::Entry| e.value["balance"].as_i64().unwrap_or(0);
                let mut txn = client.txn();
                txn.put(&a.key, json!({ "balance": balance(a) - 1 }), a.index)
                    .put(&b.key, json!({ "balance": balance(b) + 1 }), b.index);
                txn.commit().await?;
                phases[0] += t1 - t0;
                phases[1] += t1.elapsed();
            }
        }
        Ok(())
    }
}

/// One timed batch.
#[derive(Debug, Clone)]
pub struct Batch {
    pub ops: u64,
    pub elapsed: Duration,
    pub phases: [Duration; 2],
}

impl Batch {
    pub fn rate(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64()
    }
}

/// Runs ops until the batch lasted `min` or reached `max_ops`.
pub async fn run_batch(w: &mut Workload, min: Duration, max_ops: u64) -> Res<Batch> {
    let mut phases = [Duration::ZERO; 2];
    let mut ops = 0;
    let start = Instant::now();
    loop {
        w.op(&mut phases).await?;
        ops += 1;
        if ops >= max_ops || start.elapsed() >= min {
            break;
        }
    }
    Ok(Batch {
        ops,
        elapsed: start.elapsed(),
        phases,
    })
}

/// The batches of one workload.
#[derive(Debug, Clone)]
pub struct Measurement {
    pub kind: Kind,
    pub batches: Vec<Batch>,
    /// Store index increments per op over the timed batches (how many commits wrote).
    pub index_per_op: Option<f64>,
}

impl Measurement {
    /// The median batch rate, ops/s.
    pub fn median(&self) -> f64 {
        median(self.batches.iter().map(Batch::rate).collect())
    }

    pub fn min_max(&self) -> (f64, f64) {
        let rates = self.batches.iter().map(Batch::rate);
        let min = rates.clone().fold(f64::INFINITY, f64::min);
        (min, rates.fold(0.0, f64::max))
    }

    /// Mean time of each phase per op, over every batch.
    pub fn phase_means(&self) -> Option<[(&'static str, Duration); 2]> {
        let names = self.kind.phases()?;
        let ops: u64 = self.batches.iter().map(|b| b.ops).sum();
        let mean = |i: usize| {
            let total: Duration = self.batches.iter().map(|b| b.phases[i]).sum();
            total / ops.max(1) as u32
        };
        Some([(names[0], mean(0)), (names[1], mean(1))])
    }
}

pub fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    match xs.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => xs[n / 2],
        n => (xs[n / 2 - 1] + xs[n / 2]) / 2.0,
    }
}

/// Every measurement of one backend.
#[derive(Debug, Clone)]
pub struct Group {
    pub backend: String,
    pub measurements: Vec<Measurement>,
}

impl Group {
    pub fn get(&self, kind: Kind) -> Option<&Measurement> {
        self.measurements.iter().find(|m| m.kind == kind)
    }
}

/// Warms every workload up, then runs `cfg.batches` rounds of one batch of each.
pub async fn run_group(backend: &str, workloads: &mut [Workload], cfg: &Config) -> Res<Group> {
    for w in workloads.iter_mut() {
        run_batch(w, cfg.batch_time / 4, cfg.max_ops.min(50)).await?;
    }
    let mut batches: Vec<Vec<Batch>> = vec![Vec::new(); workloads.len()];
    // Store index increments over the timed batches (None for the raw floor).
    let mut index_delta: Vec<Option<u64>> = vec![None; workloads.len()];
    for _ in 0..cfg.batches {
        for (i, w) in workloads.iter_mut().enumerate() {
            let before = match w.client() {
                Some(c) => Some(c.index().await?),
                None => None,
            };
            batches[i].push(run_batch(w, cfg.batch_time, cfg.max_ops).await?);
            if let (Some(c), Some(b)) = (w.client(), before) {
                *index_delta[i].get_or_insert(0) += c.index().await? - b;
            }
        }
    }
    let measurements = workloads
        .iter()
        .zip(batches)
        .zip(index_delta)
        .map(|((w, batches), delta)| {
            let ops: u64 = batches.iter().map(|b| b.ops).sum();
            Measurement {
                kind: w.kind(),
                index_per_op: delta.map(|d| d as f64 / ops as f64),
                batches,
            }
        })
        .collect();
    Ok(Group {
        backend: backend.to_string(),
        measurements,
    })
}
