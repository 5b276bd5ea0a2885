//! The printed Markdown report, with the targets judged next to the results.

use std::fmt::Write;
use std::time::Duration;

use crate::Config;
use crate::handoff::Handoff;
use crate::measure::{Group, Kind, Measurement};

/// Uncontended lock+unlock may take at most this many times two raw write transactions.
pub(crate) const LOCK_TARGET: f64 = 1.3;
/// Handoff latency targets.
pub(crate) const P50_TARGET: Duration = Duration::from_millis(1);
pub(crate) const P99_TARGET: Duration = Duration::from_millis(10);

/// How a measurement compares with its backend's raw SQLite floor.
pub(crate) struct Ratio {
    pub(crate) value: f64,
    /// How many raw transactions it is compared with.
    pub(crate) raw_txns: u32,
    pub(crate) target: Option<f64>,
}

impl Ratio {
    pub(crate) fn of(group: &Group, m: &Measurement) -> Option<Ratio> {
        let floor = group.get(Kind::Raw)?.median();
        let (raw_txns, target) = match m.kind {
            Kind::Raw => return None,
            Kind::LockUnlock => (2, Some(LOCK_TARGET)),
            Kind::Put | Kind::Transfer => (1, None),
        };
        // Time per op divided by the time of `raw_txns` raw transactions.
        let value = floor / (raw_txns as f64 * m.median());
        Some(Ratio {
            value,
            raw_txns,
            target,
        })
    }

    pub(crate) fn pass(&self) -> Option<bool> {
        self.target.map(|t| self.value <= t)
    }
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
        let hist = h.histogram().ok()?;
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

fn ns(n: f64) -> String {
    match n {
        n if n < 1e3 => format!("{n:.0} ns"),
        n if n < 1e6 => format!("{:.1} µs", n / 1e3),
        n if n < 1e9 => format!("{:.2} ms", n / 1e6),
        n => format!("{:.2} s", n / 1e9),
    }
}

fn rate(r: f64) -> String {
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

pub fn markdown(groups: &[Group], handoffs: &[Handoff], cfg: &Config, took: Duration) -> String {
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
        let _ = writeln!(
            s,
            "Throughput: median of {} timed batches (each ≥ {} ms{}), interleaved per backend. Raw floor: `BEGIN IMMEDIATE; UPDATE t SET v = v + 1 WHERE id = 1; COMMIT` via rusqlite, WAL, same `synchronous` as the store.\n",
            cfg.batches,
            cfg.batch_time.as_millis(),
            if cfg.max_ops == u64::MAX {
                String::new()
            } else {
                format!(" or {} ops", cfg.max_ops)
            }
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
                    None if m.kind == Kind::Raw => ("floor".to_string(), "–".to_string(), "–"),
                    None => ("n/a (no SQLite floor)".to_string(), "–".to_string(), "–"),
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
        let _ = writeln!(
            s,
            "Each worker acquires {} times; a holder releases only once another waiter is queued (then holds {} ms more), writing `CLOCK_MONOTONIC` to a shared file just before `release()`; the next holder subtracts it from the clock right after `acquire()` returns.\n",
            cfg.rounds,
            crate::handoff::HOLD.as_millis()
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
                    let _ = writeln!(
                        s,
                        "| {} | {} | {} | {} | {} | {} | {} | {} | – | reference |",
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
    let _ = writeln!(s, "\nTargets: {} PASS, {} MISS.", tally[0], tally[1]);
    s
}
