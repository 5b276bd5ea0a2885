//! The registry of the Prometheus metrics served at `/metrics`: requests by route, method and
//! status, their latency, and, read from the store at each scrape, the locks held, the waiters
//! queued behind them and the leases those hold, plus the leases this server granted and
//! revoked. It depends on no other module of the server: the router labels each request with
//! its route from the route table (`api.rs`), and `service.rs` serves the scrape.

use interlock::backend::{RangeRead, Read};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

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

    /// Counts and times one request answered, under its route's label (never the raw path,
    /// so keys and lease ids stay out of the metrics).
    pub fn observe(&self, route: &str, method: &str, status: &str, seconds: f64) {
        self.latency.with_label_values(&[route]).observe(seconds);
        self.requests
            .with_label_values(&[route, method, status])
            .inc();
    }

    /// Sets the lock gauges from the entries of every lock queue (the keys under `@lock/`).
    pub fn count_locks(&self, entries: impl IntoIterator<Item = interlock::Entry>) {
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
        self.locks_held.set(locks.len() as i64);
        self.lock_waiters.set(waiting);
        self.lock_leases.set(leases.len() as i64);
    }

    /// Every metric, in Prometheus' text format.
    pub fn encode(&self) -> Result<Vec<u8>, prometheus::Error> {
        let mut out = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut out)?;
        Ok(out)
    }
}

/// The read of every lock queue, for [`Metrics::count_locks`].
pub fn lock_queues() -> Read {
    let mut range = RangeRead::prefix(LOCK_PREFIX);
    range.include_reserved = true;
    Read::Range(range)
}
