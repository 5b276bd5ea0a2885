//! Prometheus metrics at `/metrics`: requests by route, method and status, their latency, and,
//! read from the store at each scrape, the locks held, the waiters queued behind them and the
//! leases those hold, plus the leases this server granted and revoked.

use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use interlock::backend::{RangeRead, Read};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

use crate::api::AppState;

/// The key prefix of lock queues: `@lock/<escaped name>/<waiter>`.
const LOCK_PREFIX: &str = "@lock/";

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    pub leases_granted: IntCounter,
    pub leases_revoked: IntCounter,
    locks_held: IntGauge,
    lock_waiters: IntGauge,
    lock_leases: IntGauge,
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new("interlock_http_requests_total", "HTTP requests answered"),
            &["route", "method", "status"],
        )
        .expect("metric");
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "interlock_http_request_duration_seconds",
                "Time to answer an HTTP request (a watch: until its stream starts)",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
            &["route"],
        )
        .expect("metric");
        let counter = |name: &str, help: &str| IntCounter::new(name, help).expect("metric");
        let gauge = |name: &str, help: &str| IntGauge::new(name, help).expect("metric");
        let m = Metrics {
            leases_granted: counter(
                "interlock_leases_granted_total",
                "Leases granted through this server",
            ),
            leases_revoked: counter(
                "interlock_leases_revoked_total",
                "Leases revoked through this server",
            ),
            locks_held: gauge("interlock_locks_held", "Locks with a holder, in the store"),
            lock_waiters: gauge(
                "interlock_lock_waiters",
                "Waiters queued behind lock holders, in the store",
            ),
            lock_leases: gauge(
                "interlock_lock_leases",
                "Distinct leases behind lock holders and waiters, in the store",
            ),
            registry,
            requests,
            latency,
        };
        for c in [
            Box::new(m.requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(m.latency.clone()),
            Box::new(m.leases_granted.clone()),
            Box::new(m.leases_revoked.clone()),
            Box::new(m.locks_held.clone()),
            Box::new(m.lock_waiters.clone()),
            Box::new(m.lock_leases.clone()),
        ] {
            m.registry.register(c).expect("register metric");
        }
        m
    }
}

/// The route a path belongs to, for labels: never the raw path, so keys and lease ids stay out
/// of the metrics.
fn route_of(path: &str) -> &'static str {
    const EXACT: [&str; 14] = [
        "/healthz",
        "/v1/kv",
        "/v1/get-many",
        "/v1/index",
        "/v1/txn",
        "/metrics",
        "/v1/info",
        "/v1/backend/read",
        "/v1/backend/commit",
        "/v1/backend/watch",
        "/v1/leases",
        "/v1/leases/ttl",
        "/openapi.json",
        "/",
    ];
    if let Some(known) = EXACT.iter().find(|p| **p == path) {
        return known;
    }
    if path.starts_with("/v1/kv/") {
        "/v1/kv/{key}"
    } else if path.starts_with("/v1/leases/") && path.ends_with("/keepalive") {
        "/v1/leases/{id}/keepalive"
    } else if path.starts_with("/v1/leases/") {
        "/v1/leases/{id}"
    } else if path.starts_with("/v1/locks/") && path.ends_with("/holder") {
        "/v1/locks/{name}/holder"
    } else if path.starts_with("/v1/locks/") {
        "/v1/locks/{name}"
    } else {
        "other"
    }
}

/// Counts and times every request, refused ones included.
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = route_of(request.uri().path());
    // A fixed set: any made-up method name would otherwise be a new series, kept forever.
    let method: &'static str = match request.method().as_str() {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    };
    let start = Instant::now();
    let response = next.run(request).await;
    let metrics = &state.metrics;
    metrics
        .latency
        .with_label_values(&[route])
        .observe(start.elapsed().as_secs_f64());
    metrics
        .requests
        .with_label_values(&[route, method, response.status().as_str()])
        .inc();
    response
}

/// `GET /metrics`, in Prometheus' text format.
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "metrics",
    tag = "server",
    responses((status = 200, content_type = "text/plain; version=0.0.4", body = String,
        description = "Prometheus' text format: `interlock_http_requests_total{route, method, \
        status}`, `interlock_http_request_duration_seconds{route}`, `interlock_locks_held`, \
        `interlock_lock_waiters`, `interlock_lock_leases`, `interlock_leases_granted_total`, \
        `interlock_leases_revoked_total`")),
)]
pub async fn scrape(State(state): State<AppState>) -> Response {
    let mut range = RangeRead::prefix(LOCK_PREFIX);
    range.include_reserved = true;
    match state.client.backend().read(vec![Read::Range(range)]).await {
        Ok(r) => {
            let entries = r.results.into_iter().flat_map(|r| r.entries);
            let mut locks = std::collections::HashSet::new();
            let mut leases = std::collections::HashSet::new();
            let mut waiting = 0i64;
            for e in entries {
                let rest = e.key.strip_prefix(LOCK_PREFIX).unwrap_or(&e.key);
                let name = rest.split_once('/').map_or(rest, |(n, _)| n).to_string();
                if !locks.insert(name) {
                    waiting += 1;
                }
                if let Some(l) = e.lease {
                    leases.insert(l);
                }
            }
            let m = &state.metrics;
            m.locks_held.set(locks.len() as i64);
            m.lock_waiters.set(waiting);
            m.lock_leases.set(leases.len() as i64);
        }
        Err(e) => tracing::warn!("metrics: cannot read the lock queues: {e}"),
    }
    let mut out = Vec::new();
    if let Err(e) = TextEncoder::new().encode(&state.metrics.registry.gather(), &mut out) {
        return crate::api::error_response(&interlock::Error::internal(e.to_string()));
    }
    ([(CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}

#[cfg(test)]
mod tests {
    use super::route_of;

    /// Every route has a label of its own, its path as the OpenAPI document writes it.
    #[test]
    fn every_route_is_labelled_by_its_pattern() {
        for (method, pattern) in crate::routes::ROUTES {
            let path = pattern
                .replace("{key}", "a/b")
                .replace("{id}", "42")
                .replace("{name}", "nightly");
            assert_eq!(route_of(&path), *pattern, "{method} {path}");
        }
        assert_eq!(route_of("/v1/nothing/here"), "other");
    }
}
