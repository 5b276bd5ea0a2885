//! The routes of the server itself, outside `/v1/` and without a token: whether the store
//! answers (`/healthz`) and the Prometheus metrics (`/metrics`). The OpenAPI document, built
//! from the route table, is served by the router (`api.rs`). Built on the state and reply layer.

use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::reply::error_response;
use crate::state::AppState;

/// `GET /healthz`: `status` and, when the store answers, its index.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok`, or `unavailable` (the reason is in the server's log).
    #[schema(example = "ok")]
    status: &'static str,
    /// The store-wide index.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    index: Option<u64>,
}

/// Whether the store answers.
#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "health",
    tag = "server",
    responses(
        (status = 200, description = "The store answers", body = Health,
            example = json!({"status": "ok", "index": 42})),
        (status = 503, description = "The store does not answer", body = Health,
            example = json!({"status": "unavailable"})),
    ),
)]
pub async fn healthz(State(state): State<AppState>) -> Response {
    match state.backend().read(Vec::new()).await {
        Ok(r) => axum::Json(Health {
            status: "ok",
            index: Some(r.index),
        })
        .into_response(),
        Err(e) => {
            // The reason goes to the log, not to whoever asks (this route needs no token).
            tracing::warn!("healthz: the store is unavailable: {e}");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(Health {
                    status: "unavailable",
                    index: None,
                }),
            )
                .into_response()
        }
    }
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
    match state
        .backend()
        .read(vec![crate::metrics::lock_queues()])
        .await
    {
        Ok(r) => state
            .metrics
            .count_locks(r.results.into_iter().flat_map(|r| r.entries)),
        Err(e) => tracing::warn!("metrics: cannot read the lock queues: {e}"),
    }
    match state.metrics.encode() {
        Ok(out) => ([(CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response(),
        Err(e) => error_response(&interlock::Error::internal(e.to_string())),
    }
}
