//! The printed Markdown report, with the targets judged next to the results.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Duration;

use crate::Config;
use crate::etcd::WatchFloor;
use crate::handoff::Handoff;
use crate::measure::{Group, Kind, Measurement, median};

/// Uncontended lock+unlock may take at most this many times two raw write transactions.
pub(crate) const LOCK_TARGET: f64 = 1.3;
/// On etcd, at most this many times the raw create txn + delete txn it must send.
pub(crate) const ETCD_LOCK_TARGET: f64 = 1.15;
/// Handoff latency targets.
pub(crate) const P50_TARGET: Duration = Duration::from_millis(1);
pub(crate) const P99_TARGET: Duration = Duration::from_millis(10);
/// The etcd handoff's p50 is at most one delete commit plus one watch notification: the raw
/// delete txn → watch event floor, judged on the in-process handoff (the floor's watcher shares
/// the deleter's process). Like the lock cycle's, the allowance is for the client's own work,
/// not for a round trip: the floor stops its clock as the event's bytes arrive, while a
/// handoff also includes the holder's release call and the waiter decoding the event and
/// taking the lock. One more round trip would be about 2×.
const HANDOFF_FLOOR_TARGET: f64 = 1.15;
/// The issue asks for a gRPC transport to be proposed if the gateway costs more than 20 %: a
/// raw txn's time over the gateway above this many times its time over gRPC.
pub(crate) const GATEWAY_COST_LIMIT: f64 = 1.2;

/// How a measurement compares with its backend's raw floor (SQLite's write transaction, or
/// etcd's gateway txns).
pub(crate) struct Ratio {
    pub(crate) value: f64,
    /// How many raw transactions it is compared with.
    pub(crate) raw_txns: u32,
    pub(crate) target: Option<f64>,
    /// The floor measurement it is compared with.
    pub(crate) floor: Kind,
    /// Time of that floor (the `raw_txns` transactions together).
    pub(crate) floor_time: Duration,
    /// The median of the per-round ratios (each round runs one batch of the op and one of its
    /// floor back to back), which a slow spell of the machine skews less.
    pub(crate) paired: f64,
}

impl Ratio {
    pub(crate) fn of(group: &Group, m: &Measurement) -> Option<Ratio> {
        let sqlite = group.get(Kind::Raw).map(Measurement::median);
        // The floor's kind, how many of its ops one op is compared with, and the raw txns
        // that many ops make.
        let (floor, per, raw_txns, target) = match (m.kind, sqlite) {
            (
                Kind::Raw
                | Kind::EtcdCycle
                | Kind::EtcdTxn
                | Kind::EtcdPut
                | Kind::GrpcCycle
                | Kind::GrpcTxn,
                _,
            ) => return None,
            (Kind::LockUnlock, Some(_)) => (Kind::Raw, 2, 2, Some(LOCK_TARGET)),
            (Kind::Put | Kind::Transfer, Some(_)) => (Kind::Raw, 1, 1, None),
            (Kind::LockUnlock, None) => (Kind::EtcdCycle, 1, 2, Some(ETCD_LOCK_TARGET)),
            (Kind::Put | Kind::Transfer, None) => (Kind::EtcdTxn, 1, 1, None),
        };
        let f = group.get(floor)?;
        let floor_rate = f.median();
        // Time per op divided by the time of the floor's ops.
        let value = floor_rate / (per as f64 * m.median());
        let paired = median(
            f.batches
                .iter()
                .zip(&m.batches)
                .map(|(fb, mb)| fb.rate() / (per as f64 * mb.rate()))
                .collect(),
        );
        Some(Ratio {
            value,
            raw_txns,
            target,
            floor,
            floor_time: Duration::from_secs_f64(per as f64 / floor_rate),
            paired,
        })
    }

    pub(crate) fn pass(&self) -> Option<bool> {
        self.target.map(|t| self.value <= t)
    }
}

/// One row of the gateway against gRPC comparison: an op over the gateway (a raw txn workload,
/// or interlock's op) against the same raw txns over native gRPC.
pub(crate) struct GrpcRow {
    pub(crate) label: &'static str,
    pub(crate) gateway: Kind,
    pub(crate) grpc: Kind,
    /// Time per op over the gateway and over gRPC (from the median rates), in nanoseconds.
    pub(crate) gateway_ns: f64,
    pub(crate) grpc_ns: f64,
    /// Gateway time / gRPC time.
    pub(crate) ratio: f64,
    /// The median of the per-round ratios (one batch of each per round).
    pub(crate) paired: f64,
    /// Whether both sides are raw txns, so the ratio is the gateway's own cost (judged against
    /// [`GATEWAY_COST_LIMIT`]), rather than interlock's op against the gRPC floor.
    pub(crate) raw: bool,
}

impl GrpcRow {
    /// Whether the gateway costs more than [`GATEWAY_COST_LIMIT`] (raw txn rows only).
    pub(crate) fn over_limit(&self) -> Option<bool> {
        self.raw.then_some(self.ratio > GATEWAY_COST_LIMIT)
    }
}

/// The gateway against gRPC rows of a group that measured the gRPC workloads (none otherwise).
pub(crate) fn grpc_rows(group: &Group) -> Vec<GrpcRow> {
    [
        (
            "raw create txn + delete txn",
            Kind::EtcdCycle,
            Kind::GrpcCycle,
            true,
        ),
        ("raw CAS txn", Kind::EtcdTxn, Kind::GrpcTxn, true),
        (
            "interlock lock+unlock",
            Kind::LockUnlock,
            Kind::GrpcCycle,
            false,
        ),
        (
            "interlock put compare-exchange",
            Kind::Put,
            Kind::GrpcTxn,
            false,
        ),
    ]
    .into_iter()
    .filter_map(|(label, gateway, grpc, raw)| {
        let (g, r) = (group.get(gateway)?, group.get(grpc)?);
        let paired = median(
            g.batches
                .iter()
                .zip(&r.batches)
                .map(|(gb, rb)| rb.rate() / gb.rate())
                .collect(),
        );
        Some(GrpcRow {
            label,
            gateway,
            grpc,
            gateway_ns: 1e9 / g.median(),
            grpc_ns: 1e9 / r.median(),
            ratio: r.median() / g.median(),
            paired,
            raw,
        })
    })
    .collect()
}

/// Handoff percentiles, in nanoseconds.
pub(crate) struct Percentiles {
    pub(crate) p50: u64,
    pub(crate) p90: u64,
    pub(crate) p99: u64,
    pub(crate) max: u64,
    pub(crate) mean: f64,
}

impl Percentiles {
    pub(crate) fn of(h: &Handoff) -> Option<Percentiles> {
        Percentiles::of_samples(&h.samples)
    }

    pub(crate) fn of_samples(samples: &[u64]) -> Option<Percentiles> {
        let hist = crate::handoff::histogram(samples).ok()?;
        if hist.is_empty() {
            return None;
        }
        Some(Percentiles {
            p50: hist.value_at_quantile(0.50),
            p90: hist.value_at_quantile(0.90),
            p99: hist.value_at_quantile(0.99),
            max: hist.max(),
            mean: hist.mean(),
        })
    }

    /// Which targets were missed (empty when both hold).
    pub(crate) fn misses(&self) -> Vec<&'static str> {
        let mut m = Vec::new();
        if self.p50 > P50_TARGET.as_nanos() as u64 {
            m.push("p50");
        }
        if self.p99 > P99_TARGET.as_nanos() as u64 {
            m.push("p99");
        }
        m
    }
}

fn verdict(pass: bool) -> &'static str {
    if pass { "PASS" } else { "**MISS**" }
}

pub(crate) fn ns(n: f64) -> String {
    match n {
        n if n < 1e3 => format!("{n:.0} ns"),
        n if n < 1e6 => format!("{:.1} µs", n / 1e3),
        n if n < 1e9 => format!("{:.2} ms", n / 1e6),
        n => format!("{:.2} s", n / 1e9),
    }
}

pub(crate) fn rate(r: f64) -> String {
    if r >= 100.0 {
        format!("{r:.0}")
    } else {
        format!("{r:.1}")
    }
}

pub(crate) fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "{cpus} CPUs ({model}), {} {}",
        std::env::consts::OS,
        kernel.trim()
    )
}

/// What the etcd part measured besides its throughput group and handoff.
pub struct EtcdRun {
    /// `etcd --version`'s first line.
    pub version: String,
    /// The member every client talked to: the leader when the cluster was ready.
    pub member: usize,
    /// The leader at the end (another member after an election during the run).
    pub leader_after: Option<usize>,
    /// Per workload, the gRPC calls the member started per op, by method.
    pub requests: Vec<(Kind, BTreeMap<String, f64>)>,
    pub floor: Option<WatchFloor>,
}

/// The `q` quantile of signed samples (nearest rank).
pub(crate) fn quantile(samples: &[i64], q: f64) -> Option<i64> {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let last = sorted.len().checked_sub(1)?;
    Some(sorted[((last as f64) * q).round() as usize])
}

/// One etcd handoff's p50 against one handoff floor.
pub(crate) struct HandoffRatio {
    /// "cross-process" or "in-process".
    pub mode: &'static str,
    pub floor: &'static str,
    pub p50: u64,
    pub floor_p50: u64,
    pub ratio: f64,
    pub target: Option<f64>,
}

/// Each etcd handoff's p50 against each handoff floor. The floor's watcher shares a process with
/// the deleter, so the target is judged on the in-process handoff; the cross-process one, whose
/// waiter is another process to wake, is shown beside it.
pub(crate) fn handoff_ratios(run: &EtcdRun, handoffs: &[Handoff]) -> Vec<HandoffRatio> {
    let Some(floor) = &run.floor else {
        return Vec::new();
    };
    let floors = [
        (
            "raw delete txn → watch event (one delete commit + one notification)",
            &floor.delete_to_event,
            Some(HANDOFF_FLOOR_TARGET),
        ),
        (
            "one raw txn (the delete txn's reply)",
            &floor.delete_reply,
            None,
        ),
    ];
    let mut rows = Vec::new();
    for h in handoffs.iter().filter(|h| h.backend == crate::etcd::LABEL) {
        let Some(p) = Percentiles::of(h) else {
            continue;
        };
        let mode = if h.cross_process {
            "cross-process"
        } else {
            "in-process"
        };
        for (label, samples, target) in floors {
            let Some(f) = Percentiles::of_samples(samples) else {
                continue;
            };
            rows.push(HandoffRatio {
                mode,
                floor: label,
                p50: p.p50,
                floor_p50: f.p50,
                ratio: p.p50 as f64 / f.p50 as f64,
                target: target.filter(|_| !h.cross_process),
            });
        }
    }
    rows
}

pub fn markdown(
    groups: &[Group],
    handoffs: &[Handoff],
    etcd: Option<&EtcdRun>,
    cfg: &Config,
    took: Duration,
) -> String {
    let mut s = String::new();
    let mut tally = [0usize; 2];
    let mut count = |pass: bool| tally[usize::from(!pass)] += 1;
    let _ = writeln!(
        s,
        "\n# interlock benchmark{}\n",
        if cfg.quick {
            " (--quick: smoke run, numbers are rough)"
        } else {
            ""
        }
    );
    let _ = writeln!(
        s,
        "Machine: {}. Run took {:.1} s.",
        machine(),
        took.as_secs_f64()
    );
    if !groups.is_empty() {
        let mut floors = Vec::new();
        if groups.iter().any(|g| g.get(Kind::Raw).is_some()) {
            floors.push(" Raw SQLite floor: `BEGIN IMMEDIATE; UPDATE t SET v = v + 1 WHERE id = 1; COMMIT` via rusqlite, WAL, same `synchronous` as the store.");
        }
        if groups.iter().any(|g| g.get(Kind::EtcdCycle).is_some()) {
            floors.push(" Raw etcd floor: gateway requests through reqwest (`tcp_nodelay`, as interlock's backend) to the same member: a lock cycle is compared with a create txn (`CREATE == 0`, put on a lease granted beforehand) plus a delete txn (`MOD == rev`, delete), `put` and the transfer with one CAS txn (`MOD == rev`, put).");
        }
        if groups.iter().any(|g| g.get(Kind::GrpcCycle).is_some()) {
            floors.push(" gRPC reference: the same two raw txn workloads over etcd's native gRPC API (etcd-client, tonic, HTTP/2) to the same member.");
        }
        let _ = writeln!(
            s,
            "Throughput: median of {} timed batches (each ≥ {} ms{}), interleaved per backend.{}\n",
            cfg.batches,
            cfg.batch_time.as_millis(),
            if cfg.max_ops == u64::MAX {
                String::new()
            } else {
                format!(" or {} ops", cfg.max_ops)
            },
            floors.concat()
        );
        let _ = writeln!(s, "## Throughput\n");
        let _ = writeln!(
            s,
            "| backend | operation | median ops/s | time/op | batch min–max ops/s | vs raw floor | target | result |"
        );
        let _ = writeln!(s, "|---|---|---:|---:|---:|---|---|---|");
        for g in groups {
            for m in &g.measurements {
                let med = m.median();
                let (lo, hi) = m.min_max();
                let ratio = Ratio::of(g, m);
                let (vs, target, result) = match &ratio {
                    None if m.kind == Kind::EtcdPut => {
                        ("reference".to_string(), "–".to_string(), "–")
                    }
                    None if m.kind.is_grpc() => {
                        ("gRPC reference".to_string(), "–".to_string(), "–")
                    }
                    None if m.kind.is_raw() => ("floor".to_string(), "–".to_string(), "–"),
                    None => ("n/a (no raw floor)".to_string(), "–".to_string(), "–"),
                    Some(r) => {
                        let plural = if r.raw_txns == 1 { "" } else { "s" };
                        let vs = format!("{:.2}× {} raw txn{plural}", r.value, r.raw_txns);
                        match (r.target, r.pass()) {
                            (Some(t), Some(p)) => {
                                count(p);
                                (vs, format!("≤ {t}×"), verdict(p))
                            }
                            _ => (vs, "–".to_string(), "–"),
                        }
                    }
                };
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {}–{} | {vs} | {target} | {result} |",
                    g.backend,
                    m.kind.label(),
                    rate(med),
                    ns(1e9 / med),
                    rate(lo),
                    rate(hi)
                );
            }
        }
        let _ = writeln!(s, "\n### Per-op detail (mean over all timed ops)\n");
        let _ = writeln!(
            s,
            "| backend | operation | ops | phases | store index Δ per op |"
        );
        let _ = writeln!(s, "|---|---|---:|---|---:|");
        for g in groups {
            for m in &g.measurements {
                let ops: u64 = m.batches.iter().map(|b| b.ops).sum();
                let phases = m.phase_means().map_or("–".to_string(), |p| {
                    format!(
                        "{} {} + {} {}",
                        p[0].0,
                        ns(p[0].1.as_nanos() as f64),
                        p[1].0,
                        ns(p[1].1.as_nanos() as f64)
                    )
                });
                let idx = m
                    .index_per_op
                    .map_or("–".to_string(), |d| format!("{d:.2}"));
                let _ = writeln!(
                    s,
                    "| {} | {} | {ops} | {phases} | {idx} |",
                    g.backend,
                    m.kind.label()
                );
            }
        }
    }
    if !handoffs.is_empty() {
        let _ = writeln!(
            s,
            "\n## Contended lock handoff (holder about to release → next waiter's acquire returned)\n"
        );
        let mut holds: Vec<String> = handoffs
            .iter()
            .filter(|h| h.hold != crate::handoff::HOLD)
            .map(|h| format!("; {} ms on {}", h.hold.as_millis(), h.backend))
            .collect();
        holds.dedup();
        let _ = writeln!(
            s,
            "Each worker acquires {} times; a holder releases only once another waiter is queued (then holds {} ms more{}), writing `CLOCK_MONOTONIC` to a shared file just before `release()`; the next holder subtracts it from the clock right after `acquire()` returns.\n",
            cfg.rounds,
            crate::handoff::HOLD.as_millis(),
            holds.concat()
        );
        let _ = writeln!(
            s,
            "| backend | mode | samples | p50 | p90 | p99 | max | mean | target | result |"
        );
        let _ = writeln!(s, "|---|---|---:|---:|---:|---:|---:|---:|---|---|");
        for h in handoffs {
            let target = format!(
                "p50 ≤ {} ms, p99 ≤ {} ms",
                P50_TARGET.as_millis(),
                P99_TARGET.as_millis()
            );
            match Percentiles::of(h) {
                Some(p) if !h.judged => {
                    let note = if h.backend == crate::etcd::LABEL {
                        "vs raw floor below"
                    } else {
                        "reference"
                    };
                    let _ = writeln!(
                        s,
                        "| {} | {} | {} | {} | {} | {} | {} | {} | – | {note} |",
                        h.backend,
                        h.mode,
                        h.samples.len(),
                        ns(p.p50 as f64),
                        ns(p.p90 as f64),
                        ns(p.p99 as f64),
                        ns(p.max as f64),
                        ns(p.mean)
                    );
                }
                None => {
                    count(false);
                    let _ = writeln!(
                        s,
                        "| {} | {} | 0 | – | – | – | – | – | {target} | **MISS** (no samples) |",
                        h.backend, h.mode
                    );
                }
                Some(p) => {
                    let misses = p.misses();
                    count(misses.is_empty());
                    let result = if misses.is_empty() {
                        "PASS".to_string()
                    } else {
                        format!("**MISS** ({})", misses.join(", "))
                    };
                    let _ = writeln!(
                        s,
                        "| {} | {} | {} | {} | {} | {} | {} | {} | {target} | {result} |",
                        h.backend,
                        h.mode,
                        h.samples.len(),
                        ns(p.p50 as f64),
                        ns(p.p90 as f64),
                        ns(p.p99 as f64),
                        ns(p.max as f64),
                        ns(p.mean)
                    );
                }
            }
        }
    }
    if let Some(run) = etcd {
        for pass in etcd_section(&mut s, run, groups, handoffs) {
            count(pass);
        }
    }
    let _ = writeln!(s, "\nTargets: {} PASS, {} MISS.", tally[0], tally[1]);
    s
}

/// The etcd summary: interlock against the raw gateway floor, the handoff floor's samples and
/// the gateway requests each op sends. Returns the verdicts of the targets it judges that the
/// throughput tables do not (the handoff against its floor).
fn etcd_section(
    s: &mut String,
    run: &EtcdRun,
    groups: &[Group],
    handoffs: &[Handoff],
) -> Vec<bool> {
    let mut verdicts = Vec::new();
    let _ = writeln!(s, "\n## etcd against the raw gateway floor\n");
    let leader = match run.leader_after {
        Some(l) if l == run.member => String::new(),
        Some(l) => format!(" **The leader moved to m{l} during the run** (an election)."),
        None => " **The cluster had no leader at the end of the run.**".to_string(),
    };
    let group = groups.iter().find(|g| g.backend == crate::etcd::LABEL);
    let grpc = group.map(grpc_rows).unwrap_or_default();
    let _ = writeln!(
        s,
        "{}, {} members on loopback, data on the local disk. Every client (interlock's `etcd://` URL, the raw floor's reqwest client{}) talks to member m{}, the leader when the run began.{leader}\n",
        run.version,
        crate::etcd::MEMBERS,
        if grpc.is_empty() {
            ""
        } else {
            " and the gRPC reference's etcd-client"
        },
        run.member
    );
    let _ = writeln!(
        s,
        "| operation | interlock | floor | floor time | ratio | per-round ratio, median | target |"
    );
    let _ = writeln!(s, "|---|---:|---|---:|---:|---:|---|");
    if let Some(g) = group {
        for m in &g.measurements {
            let Some(r) = Ratio::of(g, m) else { continue };
            let target = match (r.target, r.pass()) {
                (Some(t), Some(p)) => format!("≤ {t}× {}", verdict(p)),
                _ => "–".to_string(),
            };
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {:.2}× | {:.2}× | {target} |",
                m.kind.label(),
                ns(1e9 / m.median()),
                r.floor.label(),
                ns(r.floor_time.as_nanos() as f64),
                r.value,
                r.paired
            );
        }
    }
    for r in handoff_ratios(run, handoffs) {
        let target = match r.target {
            Some(t) => {
                verdicts.push(r.ratio <= t);
                format!("≤ {t:.2}× {}", verdict(r.ratio <= t))
            }
            None => "–".to_string(),
        };
        let _ = writeln!(
            s,
            "| handoff p50 ({}) | {} | {}, p50 | {} | {:.2}× | – | {target} |",
            r.mode,
            ns(r.p50 as f64),
            r.floor,
            ns(r.floor_p50 as f64),
            r.ratio
        );
    }
    if !grpc.is_empty() {
        grpc_section(s, &grpc);
    } else if group.is_some_and(|g| g.get(Kind::EtcdCycle).is_some()) {
        let why = if cfg!(feature = "grpc") {
            "this run measured no gRPC workload"
        } else {
            "this build has no `grpc` feature; `scripts/bench.sh` turns it on when `protoc` is installed"
        };
        let _ = writeln!(s, "\n### Gateway against gRPC\n\nNot measured: {why}.");
    }
    if let Some(floor) = &run.floor {
        let _ = writeln!(
            s,
            "\n### Raw handoff floor\n\nA raw `/v3/watch` stream on one key; each round puts the key, waits for its event, waits as long as a holder keeps the lock once a waiter is queued, then sends the delete txn a release sends (`MOD == rev`, delete) and times its reply and its event on the watch. (In the interlock handoff, the former holder also enqueues again as soon as its release returns.)\n"
        );
        let _ = writeln!(s, "| measure | samples | p50 | p90 | p99 | max |");
        let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|");
        for (label, samples) in [
            ("delete txn sent → reply", &floor.delete_reply),
            ("delete txn sent → watch event", &floor.delete_to_event),
        ] {
            if let Some(p) = Percentiles::of_samples(samples) {
                let _ = writeln!(
                    s,
                    "| {label} | {} | {} | {} | {} | {} |",
                    samples.len(),
                    ns(p.p50 as f64),
                    ns(p.p90 as f64),
                    ns(p.p99 as f64),
                    ns(p.max as f64)
                );
            }
        }
        let signed = |q: f64| {
            quantile(&floor.event_after_reply, q).map_or("–".to_string(), |v| {
                let text = ns(v.unsigned_abs() as f64);
                if v < 0 { format!("−{text}") } else { text }
            })
        };
        let _ = writeln!(
            s,
            "| watch event after the delete's reply (− : before it) | {} | {} | {} | {} | {} |",
            floor.event_after_reply.len(),
            signed(0.5),
            signed(0.9),
            signed(0.99),
            signed(1.0)
        );
    }
    if !run.requests.is_empty() {
        let _ = writeln!(
            s,
            "\n### Gateway requests per op\n\ngRPC calls the member started per op (its `/metrics`, `grpc_server_started_total`; the gateway makes one call per request{}), over a separate untimed run of each workload.\n",
            if grpc.is_empty() {
                ""
            } else {
                ", and the gRPC workloads' own calls count directly"
            }
        );
        let _ = writeln!(s, "| operation | calls per op |");
        let _ = writeln!(s, "|---|---|");
        for (kind, calls) in &run.requests {
            let text: Vec<String> = calls
                .iter()
                .map(|(method, n)| format!("{method} {n:.2}"))
                .collect();
            let _ = writeln!(s, "| {} | {} |", kind.label(), text.join(", "));
        }
    }
    verdicts
}

/// The gateway against gRPC table, and whether the gateway's cost on the raw txns is over the
/// issue's 20 % limit.
fn grpc_section(s: &mut String, rows: &[GrpcRow]) {
    let limit = (GATEWAY_COST_LIMIT - 1.0) * 100.0;
    let _ = writeln!(
        s,
        "\n### Gateway against gRPC\n\nThe raw txn workloads sent again over etcd's native gRPC API (etcd-client, tonic, plain HTTP/2) to the same member, interleaved with the others; ratio = time over the gateway (raw, or interlock's op) / time of the same txns over gRPC. The issue asks to propose a gRPC transport if the gateway costs over {limit:.0} % (a ratio above {GATEWAY_COST_LIMIT:.2}× on the raw txn rows).\n"
    );
    let _ = writeln!(
        s,
        "| operation | over the gateway | gRPC floor | over gRPC | ratio | per-round ratio, median | gateway cost |"
    );
    let _ = writeln!(s, "|---|---:|---|---:|---:|---:|---|");
    for r in rows {
        let cost = match r.over_limit() {
            Some(over) => format!(
                "{:+.0} %, {} {limit:.0} %",
                (r.ratio - 1.0) * 100.0,
                if over { "**over**" } else { "under" }
            ),
            None => "–".to_string(),
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {:.2}× | {:.2}× | {cost} |",
            r.label,
            ns(r.gateway_ns),
            r.grpc.label(),
            ns(r.grpc_ns),
            r.ratio,
            r.paired
        );
    }
    let over: Vec<&str> = rows
        .iter()
        .filter(|r| r.over_limit() == Some(true))
        .map(|r| r.label)
        .collect();
    let _ = if over.is_empty() {
        writeln!(
            s,
            "\nThe gateway costs under {limit:.0} % on the raw txns: no gRPC transport to propose on this measurement."
        )
    } else {
        writeln!(
            s,
            "\nThe gateway costs over {limit:.0} % on: {}; the issue asks to propose a gRPC transport.",
            over.join(", ")
        )
    };
}
