//! The JSON report (`--json PATH`): every number of the Markdown report, plus the batch rates.

use std::time::Duration;

use serde_json::{Value, json};

use crate::Config;
use crate::handoff::Handoff;
use crate::measure::Group;
use crate::report::{LOCK_TARGET, P50_TARGET, P99_TARGET, Percentiles, Ratio, machine};

pub fn json(groups: &[Group], handoffs: &[Handoff], cfg: &Config, took: Duration) -> Value {
    let groups: Vec<Value> = groups
        .iter()
        .map(|g| {
            let ms: Vec<Value> = g
                .measurements
                .iter()
                .map(|m| {
                    let ratio = Ratio::of(g, m);
                    json!({
                        "operation": format!("{:?}", m.kind),
                        "label": m.kind.label(),
                        "median_ops_per_sec": m.median(),
                        "batch_ops_per_sec": m.batches.iter().map(|b| b.rate()).collect::<Vec<_>>(),
                        "batch_ops": m.batches.iter().map(|b| b.ops).collect::<Vec<_>>(),
                        "phase_mean_us": m.phase_means().map(|p| json!({
                            p[0].0: p[0].1.as_secs_f64() * 1e6,
                            p[1].0: p[1].1.as_secs_f64() * 1e6,
                        })),
                        "store_index_delta_per_op": m.index_per_op,
                        "vs_raw_floor": ratio.as_ref().map(|r| json!({
                            "ratio": r.value, "raw_txns": r.raw_txns, "target": r.target, "pass": r.pass(),
                        })),
                    })
                })
                .collect();
            json!({ "backend": g.backend, "measurements": ms })
        })
        .collect();
    let handoffs: Vec<Value> = handoffs
        .iter()
        .map(|h| {
            let p = Percentiles::of(h);
            json!({
                "backend": h.backend,
                "mode": h.mode,
                "cross_process": h.cross_process,
                "samples": h.samples.len(),
                "p50_us": p.as_ref().map(|p| p.p50 as f64 / 1e3),
                "p90_us": p.as_ref().map(|p| p.p90 as f64 / 1e3),
                "p99_us": p.as_ref().map(|p| p.p99 as f64 / 1e3),
                "max_us": p.as_ref().map(|p| p.max as f64 / 1e3),
                "mean_us": p.as_ref().map(|p| p.mean / 1e3),
                "target": { "p50_us": P50_TARGET.as_micros() as u64, "p99_us": P99_TARGET.as_micros() as u64 },
                "judged": h.judged,
                "pass": p.as_ref().filter(|_| h.judged).map(|p| p.misses().is_empty()),
            })
        })
        .collect();
    json!({
        "machine": machine(),
        "quick": cfg.quick,
        "batches": cfg.batches,
        "batch_ms": cfg.batch_time.as_millis() as u64,
        "handoff_rounds_per_worker": cfg.rounds,
        "handoff_workers": cfg.workers,
        "seconds": took.as_secs_f64(),
        "throughput": groups,
        "handoff": handoffs,
        "targets": { "lock_unlock_vs_two_raw_txns": LOCK_TARGET },
    })
}
