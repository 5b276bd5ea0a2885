//! The JSON report (`--json PATH`): every number of the Markdown report, plus the batch rates.

use std::time::Duration;

use serde_json::{Value, json};

use crate::Config;
use crate::handoff::Handoff;
use crate::measure::Group;
use crate::report::{
    ETCD_LOCK_TARGET, EtcdRun, GATEWAY_COST_LIMIT, LOCK_TARGET, P50_TARGET, P99_TARGET,
    Percentiles, Ratio, grpc_rows, handoff_ratios, machine, quantile,
};

/// Percentiles of latency samples in µs.
fn percentiles_us(samples: &[u64]) -> Value {
    match Percentiles::of_samples(samples) {
        Some(p) => json!({
            "samples": samples.len(),
            "p50_us": p.p50 as f64 / 1e3,
            "p90_us": p.p90 as f64 / 1e3,
            "p99_us": p.p99 as f64 / 1e3,
            "max_us": p.max as f64 / 1e3,
            "mean_us": p.mean / 1e3,
        }),
        None => Value::Null,
    }
}

/// The gateway against gRPC rows (null when the run measured no gRPC workload).
fn grpc_json(group: Option<&Group>) -> Value {
    let rows: Vec<Value> = group
        .map(grpc_rows)
        .unwrap_or_default()
        .iter()
        .map(|r| {
            json!({
                "operation": r.label,
                "gateway": format!("{:?}", r.gateway),
                "grpc": format!("{:?}", r.grpc),
                "gateway_us": r.gateway_ns / 1e3,
                "grpc_us": r.grpc_ns / 1e3,
                "ratio_gateway_over_grpc": r.ratio,
                "per_round_ratio_median": r.paired,
                "over_limit": r.over_limit(),
            })
        })
        .collect();
    if rows.is_empty() {
        return Value::Null;
    }
    json!({ "limit_ratio": GATEWAY_COST_LIMIT, "rows": rows })
}

fn etcd_json(run: &EtcdRun, groups: &[Group], handoffs: &[Handoff]) -> Value {
    let requests: serde_json::Map<String, Value> = run
        .requests
        .iter()
        .map(|(kind, calls)| (format!("{kind:?}"), json!(calls)))
        .collect();
    let floor = run.floor.as_ref().map(|f| {
        let signed = |q| quantile(&f.event_after_reply, q).map(|v| v as f64 / 1e3);
        json!({
            "delete_reply": percentiles_us(&f.delete_reply),
            "delete_to_event": percentiles_us(&f.delete_to_event),
            "event_after_reply_us": { "p50": signed(0.5), "p90": signed(0.9), "p99": signed(0.99) },
        })
    });
    let ratios: Vec<Value> = handoff_ratios(run, handoffs)
        .into_iter()
        .map(|r| {
            json!({
                "handoff": r.mode,
                "floor": r.floor,
                "target": r.target,
                "handoff_p50_us": r.p50 as f64 / 1e3,
                "floor_p50_us": r.floor_p50 as f64 / 1e3,
                "ratio": r.ratio,
            })
        })
        .collect();
    json!({
        "version": run.version,
        "members": crate::etcd::MEMBERS,
        "member": run.member,
        "leader_after": run.leader_after,
        "grpc_calls_per_op": requests,
        "handoff_floor": floor,
        "handoff_p50_vs_floor": ratios,
        "gateway_vs_grpc": grpc_json(groups.iter().find(|g| g.backend == crate::etcd::LABEL)),
    })
}

pub fn json(
    groups: &[Group],
    handoffs: &[Handoff],
    etcd: Option<&EtcdRun>,
    cfg: &Config,
    took: Duration,
) -> Value {
    let etcd = etcd.map(|run| etcd_json(run, groups, handoffs));
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
                            "floor": format!("{:?}", r.floor), "floor_us": r.floor_time.as_secs_f64() * 1e6,
                            "per_round_ratio_median": r.paired,
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
                "hold_us": h.hold.as_micros() as u64,
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
        "etcd": etcd,
        "targets": {
            "lock_unlock_vs_two_raw_txns": LOCK_TARGET,
            "etcd_lock_unlock_vs_raw_create_and_delete_txns": ETCD_LOCK_TARGET,
        },
    })
}
