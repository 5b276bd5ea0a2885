//! The HTTP API under `/v1/`. The backend protocol (`/v1/backend/*`, `/v1/leases*`, one route
//! per method of interlock's `Backend` trait, JSON shapes in `interlock::http::wire`) is what the
//! `http://` backend speaks, so clients over HTTP run the lock, lease and session algorithms
//! themselves, exactly as on the store. `GET /v1/kv/{key}` reads an entry for people and scripts.
//!
//! Every request body is checked before the store sees it: key shapes, value sizes, operation
//! counts, duplicate keys, lease ids. Bad input gets a 400 that names the problem and writes
//! nothing.

use std::collections::HashSet;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, OriginalUri, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use futures::{Stream, StreamExt};
use interlock::backend::{Backend, EventStream, Read, WatchItem};
use interlock::http::wire::{
    self, CommitReply, CommitRequest, ErrorDetail, ErrorReply, GrantReply, GrantRequest, Info,
    KeepaliveReply, ReadReply, ReadRequest, RevokeReply, TtlReply, TtlRequest, WatchProgress,
    WireEntry,
};
use interlock::{Client, Error, validate};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::extract::{Body, Path};

/// The most reads, compares and ops one request may carry (etcd's `--max-txn-ops` in the test
/// clusters; interlock's own transactions add a few to a user's 128).
const MAX_REQUEST_ITEMS: usize = 1024;
/// The largest request body: a transaction of 128 values of the default 1 MiB limit would be
/// more, but the store's own limit on a commit's size is what binds; 16 MiB bounds the memory a
/// request can take.
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;
/// A watch reports the store's progress past its last event at most this often.
const WATCH_PROGRESS_EVERY: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub struct AppState {
    pub client: Client,
    pub token: Option<String>,
    stop: tokio::sync::watch::Receiver<bool>,
    pub metrics: Arc<crate::metrics::Metrics>,
}

impl AppState {
    pub fn new(
        client: Client,
        token: Option<String>,
        stop: tokio::sync::watch::Receiver<bool>,
    ) -> AppState {
        AppState {
            client,
            token,
            stop,
            metrics: Arc::new(crate::metrics::Metrics::new()),
        }
    }

    fn backend(&self) -> &Arc<dyn Backend> {
        self.client.backend()
    }
}

/// How the router is set up beyond the state.
pub struct Options {
    /// Origins allowed to call from a browser (CORS); none: same origin only.
    pub cors_origins: Vec<axum::http::HeaderValue>,
    /// How long a request (other than a watch) may take; past it the reply is 504.
    pub request_timeout: Duration,
}

/// The server's routes; every one is listed in `routes::ROUTES` and documented at
/// `/openapi.json` (`openapi.rs`).
pub fn router(state: AppState, options: &Options) -> Router {
    // Every route but the watch stream answers within the request timeout; a commit cut short
    // has an unknown outcome, and 504 tells the client so (it is Unavailable, retryable).
    let unary = Router::new()
        .route("/info", get(info))
        .route("/backend/read", post(read))
        .route("/backend/commit", post(commit))
        .route("/leases", post(grant))
        .route("/leases/ttl", post(time_to_live))
        .route("/leases/{id}/keepalive", post(keepalive))
        .route("/leases/{id}", delete(revoke))
        .route(
            "/kv/{*key}",
            get(get_entry)
                .put(crate::rest::put)
                .delete(crate::rest::delete),
        )
        .merge(crate::rest::routes())
        .route_layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::GATEWAY_TIMEOUT,
            options.request_timeout,
        ));
    let v1 = unary
        .route("/backend/watch", get(watch))
        .method_not_allowed_fallback(crate::extract::method_not_allowed)
        .fallback(unknown)
        // Layers added later run first: the token is checked before anything else.
        .layer(axum::middleware::from_fn(require_json))
        .layer(axum::middleware::from_fn(refuse_oversize))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::auth::require_token,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            require_loopback_host,
        ));
    // `/v1` and `/v1/` themselves are no endpoint either, and need the token like every path
    // under them (the nested router sees neither).
    let v1_itself = Router::new()
        .route("/v1", axum::routing::any(unknown))
        .route("/v1/", axum::routing::any(unknown))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::auth::require_token,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            require_loopback_host,
        ));
    let mut app = Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(crate::metrics::scrape))
        .route("/openapi.json", get(crate::openapi::document))
        .merge(crate::dashboard::routes())
        .merge(v1_itself)
        .nest("/v1", v1)
        .method_not_allowed_fallback(crate::extract::method_not_allowed)
        .fallback(unknown)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::metrics::track,
        ))
        .with_state(state);
    // Outermost, so that a browser's preflight (which carries no token) is answered.
    if !options.cors_origins.is_empty() {
        use axum::http::{Method, header};
        app = app.layer(
            tower_http::cors::CorsLayer::new()
                .allow_origin(options.cors_origins.clone())
                .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
                .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
                .max_age(Duration::from_secs(600)),
        );
    }
    app
}

/// A request with a body must say it is JSON. A browser sends a JSON content type only after a
/// CORS preflight, so a page from another origin cannot get a write through as a "simple"
/// `text/plain` request.
async fn require_json(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let has_body = request
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim() != "0")
        || request
            .headers()
            .contains_key(axum::http::header::TRANSFER_ENCODING);
    let json = request
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if has_body && !json {
        let mut response = error_response(&Error::invalid(
            "a request body must be JSON, sent with 'Content-Type: application/json'",
        ));
        *response.status_mut() = StatusCode::UNSUPPORTED_MEDIA_TYPE;
        return response;
    }
    next.run(request).await
}

/// Without a token the server serves loopback only, and only to requests addressed to a
/// loopback name: a page on a rebound DNS name (`evil.example` → 127.0.0.1) is refused.
async fn require_loopback_host(
    State(state): State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if state.token.is_none() {
        let host = request
            .headers()
            .get(axum::http::header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let name = match host.rsplit_once(':') {
            Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
            _ => host,
        };
        let loopback = name.eq_ignore_ascii_case("localhost")
            || name
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if !loopback {
            return error_response(&Error::new(
                interlock::ErrorKind::Unauthorized,
                format!(
                    "this server has no token, so it answers only requests addressed to a \
                     loopback name, not to Host '{host}'"
                ),
            ));
        }
    }
    next.run(request).await
}

/// A request whose declared length is over the limit gets 413 at once, before its body is read
/// (the body limit alone would answer only once that much had arrived).
async fn refuse_oversize(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let declared = request
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        let e = Error::invalid(format!(
            "the request body is {} bytes; at most {MAX_BODY_BYTES} are accepted",
            declared.unwrap_or_default()
        ));
        let mut response = error_response(&e);
        *response.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
        return response;
    }
    next.run(request).await
}

/// An interlock error as a reply: the status of its kind and `{"error": {...}}`.
pub fn error_response(e: &Error) -> Response {
    let status = StatusCode::from_u16(wire::status_of(e.kind()))
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = ErrorReply {
        error: ErrorDetail::from(e),
    };
    (status, axum::Json(body)).into_response()
}

/// An error a handler returns: the reply of [`error_response`].
pub struct ApiError(Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        error_response(&self.0)
    }
}

pub type Reply = Result<Response, ApiError>;

pub fn ok<T: serde::Serialize>(value: T) -> Reply {
    Ok(axum::Json(value).into_response())
}

/// Parses a JSON body, naming what was wrong.
pub fn body<T: DeserializeOwned>(bytes: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| {
        ApiError(Error::invalid(format!(
            "the request body is not valid: {e}"
        )))
    })
}

/// The reply to a path the server does not serve, whatever the method: 404 with the JSON error
/// of every other refusal (an `InvalidArgument`, as the 405 of a wrong method is). It names the
/// request's method and path, not its query string.
pub async fn unknown(method: Method, OriginalUri(uri): OriginalUri) -> Response {
    not_found(&format!(
        "no such endpoint: {method} {}; /openapi.json lists every route",
        uri.path()
    ))
}

/// A 404 with `message`, as JSON.
pub fn not_found(message: &str) -> Response {
    let mut response = error_response(&Error::invalid(message));
    *response.status_mut() = StatusCode::NOT_FOUND;
    response
}

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
async fn healthz(State(state): State<AppState>) -> Response {
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

/// What the server serves: the store, its value size limit, the server's version.
#[utoipa::path(
    get,
    path = "/v1/info",
    operation_id = "info",
    tag = "backend",
    responses(
        (status = 200, description = "The server", body = Info),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 504, response = crate::openapi::GatewayTimeout),
    ),
)]
async fn info(State(state): State<AppState>) -> Reply {
    ok(Info {
        store: state.client.describe(),
        max_value_bytes: state.backend().limits().max_value_bytes,
        version: env!("CARGO_PKG_VERSION").to_string(),
    })
}

fn check_reads(reads: &[Read]) -> Result<(), Error> {
    for read in reads {
        match read {
            Read::Keys(keys) => {
                for key in keys {
                    validate::key_shape(key)?;
                }
            }
            Read::Range(range) => {
                validate::prefix(&range.prefix)?;
                if let Some(after) = &range.after {
                    validate::key_shape(after)
                        .map_err(|e| Error::invalid(format!("invalid 'after': {}", e.message())))?;
                }
            }
        }
    }
    Ok(())
}

fn count(items: usize) -> Result<(), Error> {
    if items > MAX_REQUEST_ITEMS {
        return Err(Error::invalid(format!(
            "the request has {items} reads, compares and ops; at most {MAX_REQUEST_ITEMS} are allowed"
        )));
    }
    Ok(())
}

/// Reads count one each, plus every key they name.
fn read_items(reads: &[Read]) -> usize {
    reads
        .iter()
        .map(|r| match r {
            Read::Keys(keys) => 1 + keys.len(),
            Read::Range(_) => 1,
        })
        .sum()
}

/// Reads at one store index: `{"keys": [...]}` gives those of the keys that exist, `{"range":
/// {...}}` the keys under a prefix.
#[utoipa::path(
    post,
    path = "/v1/backend/read",
    operation_id = "backend_read",
    tag = "backend",
    request_body(content = ReadRequest, content_type = "application/json",
        example = json!({"reads": [{"keys": ["config/a", "config/b"]},
            {"range": {"prefix": "jobs/", "limit": 100}}]})),
    responses(
        (status = 200, description = "One result per read, all from one snapshot", body = ReadReply),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 415, response = crate::openapi::UnsupportedMediaType),
        (status = 503, response = crate::openapi::Unavailable),
        (status = 504, response = crate::openapi::GatewayTimeout),
    ),
)]
async fn read(State(state): State<AppState>, Body(bytes): Body) -> Reply {
    let request: ReadRequest = body(&bytes)?;
    let reads: Vec<Read> = request.reads.into_iter().map(Read::from).collect();
    count(read_items(&reads))?;
    check_reads(&reads)?;
    let response = state.backend().read(reads).await?;
    ok(ReadReply::from(response))
}

/// One atomic transaction: compares, then ops, then reads. A compare that fails is a 200 with
/// `succeeded: false`, every failed compare and nothing written.
#[utoipa::path(
    post,
    path = "/v1/backend/commit",
    operation_id = "backend_commit",
    tag = "backend",
    request_body(content = CommitRequest, content_type = "application/json",
        example = json!({"compares": [{"key": "counter", "index": 0}],
            "ops": [{"put": {"key": "counter", "value": 1}}],
            "reads": [{"keys": ["counter"]}]})),
    responses(
        (status = 200, description = "The outcome (`succeeded`, or every failed compare)",
            body = CommitReply),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 404, response = crate::openapi::LeaseExpired),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 415, response = crate::openapi::UnsupportedMediaType),
        (status = 503, response = crate::openapi::Unavailable),
        (status = 504, response = crate::openapi::GatewayTimeout),
    ),
)]
async fn commit(State(state): State<AppState>, Body(bytes): Body) -> Reply {
    let request: CommitRequest = body(&bytes)?;
    let txn = request.into_txn()?;
    count(txn.compares.len() + txn.ops.len() + read_items(&txn.reads))?;
    let max = state.backend().limits().max_value_bytes;
    for c in &txn.compares {
        validate::key_shape(&c.key)?;
    }
    let mut keys = HashSet::new();
    for op in &txn.ops {
        validate::key_shape(op.key())?;
        if !keys.insert(op.key()) {
            return Err(Error::invalid(format!(
                "key '{}' has more than one op in the transaction",
                op.key()
            ))
            .into());
        }
        if let interlock::backend::Op::Put { key, value, .. } = op {
            validate::value(key, value, max)?;
        }
    }
    check_reads(&txn.reads)?;
    let response = state.backend().commit(txn).await?;
    ok(CommitReply::from(response))
}

/// Grants a lease; entries attached to it are deleted when it expires or is revoked.
#[utoipa::path(
    post,
    path = "/v1/leases",
    operation_id = "lease_grant",
    tag = "backend",
    request_body(content = GrantRequest, content_type = "application/json",
        example = json!({"ttl": 10})),
    responses(
        (status = 200, description = "The lease", body = GrantReply),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 415, response = crate::openapi::UnsupportedMediaType),
        (status = 503, response = crate::openapi::Unavailable),
        (status = 504, response = crate::openapi::GatewayTimeout),
    ),
)]
async fn grant(State(state): State<AppState>, Body(bytes): Body) -> Reply {
    let request: GrantRequest = body(&bytes)?;
    let ttl = wire::seconds("ttl", request.ttl)?;
    validate::ttl(ttl)?;
    let grant = state.backend().grant(ttl).await?;
    state.metrics.leases_granted.inc();
    ok(GrantReply::from(grant))
}

/// Renews a lease for its TTL.
#[utoipa::path(
    post,
    path = "/v1/leases/{id}/keepalive",
    operation_id = "lease_keepalive",
    tag = "backend",
    params(("id" = String, Path, description = "The lease id (a 64-bit integer)")),
    responses(
        (status = 200, description = "The TTL renewed", body = KeepaliveReply),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 404, response = crate::openapi::LeaseExpired),
        (status = 503, response = crate::openapi::Unavailable),
        (status = 504, response = crate::openapi::GatewayTimeout),
    ),
)]
async fn keepalive(State(state): State<AppState>, Path(id): Path<String>) -> Reply {
    let id = wire::lease_id(&id)?;
    let ttl = state.backend().keepalive(id).await?;
    ok(KeepaliveReply {
        ttl: ttl.as_secs_f64(),
    })
}

/// Revokes a lease, deleting the entries attached to it.
#[utoipa::path(
    delete,
    path = "/v1/leases/{id}",
    operation_id = "lease_revoke",
    tag = "backend",
    params(("id" = String, Path, description = "The lease id (a 64-bit integer)")),
    responses(
        (status = 200, description = "Whether a live lease was revoked", body = RevokeReply),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 503, response = crate::openapi::Unavailable),
        (status = 504, response = crate::openapi::GatewayTimeout),
    ),
)]
async fn revoke(State(state): State<AppState>, Path(id): Path<String>) -> Reply {
    let id = wire::lease_id(&id)?;
    let revoked = state.backend().revoke(id).await?;
    if revoked {
        state.metrics.leases_revoked.inc();
    }
    ok(RevokeReply { revoked })
}

/// The seconds left on each of some leases.
#[utoipa::path(
    post,
    path = "/v1/leases/ttl",
    operation_id = "lease_time_to_live",
    tag = "backend",
    request_body(content = TtlRequest, content_type = "application/json",
        example = json!({"ids": ["7587862412337131010"]})),
    responses(
        (status = 200, description = "Per lease, in order: seconds left, or `null` when it is gone",
            body = TtlReply),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 415, response = crate::openapi::UnsupportedMediaType),
        (status = 503, response = crate::openapi::Unavailable),
        (status = 504, response = crate::openapi::GatewayTimeout),
    ),
)]
async fn time_to_live(State(state): State<AppState>, Body(bytes): Body) -> Reply {
    let request: TtlRequest = body(&bytes)?;
    count(request.ids.len())?;
    let ids = request
        .ids
        .iter()
        .map(|id| wire::lease_id(id))
        .collect::<Result<Vec<_>, _>>()?;
    let ttls = state.backend().time_to_live(&ids).await?;
    ok(TtlReply {
        ttls: ttls
            .into_iter()
            .map(|t| t.map(|d| d.as_secs_f64()))
            .collect(),
    })
}

/// The entry at a key (`get`).
#[utoipa::path(
    get,
    path = "/v1/kv/{key}",
    operation_id = "kv_get",
    tag = "rest",
    params(("key" = String, Path,
        description = "The key; it may contain `/` (everything after `/v1/kv/` is the key)")),
    responses(
        (status = 200, description = "The entry", body = WireEntry),
        (status = 404, description = "No entry at the key (`NotFound`)", body = ErrorReply,
            example = json!({"error": {"kind": "NotFound", "message": "no entry at key 'users/1'"}})),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 503, response = crate::openapi::Unavailable),
        (status = 504, response = crate::openapi::GatewayTimeout),
    ),
)]
async fn get_entry(State(state): State<AppState>, Path(key): Path<String>) -> Reply {
    match state.client.get(&key).await? {
        Some(entry) => ok(WireEntry::from(entry)),
        None => Ok((
            StatusCode::NOT_FOUND,
            axum::Json(serde_json::json!({
                "error": { "kind": "NotFound", "message": format!("no entry at key '{key}'") }
            })),
        )
            .into_response()),
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct WatchQuery {
    /// Watch keys starting with this (default: every key).
    #[serde(default)]
    prefix: String,
    /// Also the reserved keys (`@...`: lock queues, sessions).
    #[serde(default)]
    include_reserved: bool,
    /// The first index to report (default: the next write). Resuming a broken watch: the index
    /// after the last event or `progress` received, or the `ready` event's `from` if none came.
    from: Option<u64>,
}

/// Server-Sent Events: `ready` (`{"from": N}`, the first index the watch reports) once the
/// watch is in place, then one `message` per event (its JSON) and now and then a `progress`
/// (`{"index": N}`: every event up to N has been sent), or one `error` and the end. The stream
/// ends when the server shuts down.
#[utoipa::path(
    get,
    path = "/v1/backend/watch",
    operation_id = "backend_watch",
    tag = "backend",
    params(WatchQuery),
    responses(
        (status = 200, content_type = "text/event-stream", body = String,
            description = "A stream of Server-Sent Events, in index order:\n\n\
            - `event: ready`, first, once the watch is in place; its data is a `WatchReady` \
            (`{\"from\": N}`): the first index the stream reports.\n\
            - a message (no `event:` line) per change, its `id` the change's index and its data \
            a `WatchEvent` (`{\"type\": \"put\"|\"delete\", \"key\", \"value\"?, \"index\"}`); \
            deletions by lease expiry are events too.\n\
            - `event: progress`, at most every 5 s while the store has moved on without an event \
            for this watch; its data is a `WatchProgress` (`{\"index\": N}`): every event up to \
            index N has been sent. Clients may ignore it; one that resumes from N + 1 rather \
            than from its last event + 1 asks for less history, which the store may have \
            compacted meanwhile.\n\
            - `event: error`, whose data is an error's `{\"kind\", \"message\"}` (e.g. the \
            history before `from` was compacted); the stream then ends.\n\n\
            Comments are sent every 15 s to keep the connection alive. The stream ends when the \
            server shuts down; resume from the index after the last event or progress received.",
            example = json!("event: ready\ndata: {\"from\":8}\n\nid: 8\ndata: {\"type\":\"put\",\"key\":\"jobs/1\",\"value\":{\"state\":\"queued\"},\"index\":8}\n\nevent: progress\ndata: {\"index\":12}\n\n")),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 503, response = crate::openapi::Unavailable),
    ),
)]
async fn watch(
    State(state): State<AppState>,
    query: Result<Query<WatchQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let Query(q) = query.map_err(|e| Error::invalid(format!("bad watch query: {e}")))?;
    validate::prefix(&q.prefix)?;
    let mut range = interlock::backend::RangeRead::prefix(q.prefix);
    range.include_reserved = q.include_reserved;
    // The watch starts at a known index, which `ready` reports, so that a client whose
    // connection breaks can resume exactly where it was.
    let from = match q.from {
        Some(from) => from.max(1),
        None => state.backend().read(Vec::new()).await?.index + 1,
    };
    let events = state.backend().watch(range, Some(from)).await?;
    let mut stop = state.stop.clone();
    let stopped = async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    let ready = futures::stream::once(async move {
        Ok(SseEvent::default()
            .event("ready")
            .json_data(crate::openapi::WatchReady { from })
            .unwrap_or_else(|e| error_event(&Error::internal(e.to_string()))))
    });
    let events = watch_events(events, WATCH_PROGRESS_EVERY)
        .map(Ok)
        .take_until(Box::pin(stopped));
    Ok(
        Sse::new(ready.chain(events))
            .keep_alive(KeepAlive::new().interval(Duration::from_secs(15))),
    )
}

/// The SSE events of a watch: one per event, an error and the end, and the newest progress the
/// store reported past the last event, at most once per `every`.
fn watch_events(events: EventStream, every: Duration) -> impl Stream<Item = SseEvent> {
    struct Feed {
        events: EventStream,
        tick: tokio::time::Interval,
        /// Progress not sent yet: no event has been sent since the store reported it.
        progress: Option<u64>,
        failed: bool,
    }
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let feed = Feed {
        events,
        tick,
        progress: None,
        failed: false,
    };
    futures::stream::unfold(feed, |mut feed| async move {
        if feed.failed {
            return None;
        }
        loop {
            tokio::select! {
                item = feed.events.next() => match item? {
                    Ok(WatchItem::Event(event)) => {
                        feed.progress = None;
                        let sse = SseEvent::default()
                            .id(event.index.to_string())
                            .json_data(&event)
                            .unwrap_or_else(|e| error_event(&Error::internal(e.to_string())));
                        return Some((sse, feed));
                    }
                    Ok(WatchItem::Progress(index)) => feed.progress = Some(index),
                    Err(e) => {
                        feed.failed = true;
                        return Some((error_event(&e), feed));
                    }
                },
                _ = feed.tick.tick() => {
                    if let Some(index) = feed.progress.take() {
                        let sse = SseEvent::default()
                            .event("progress")
                            .json_data(WatchProgress { index })
                            .unwrap_or_else(|e| error_event(&Error::internal(e.to_string())));
                        return Some((sse, feed));
                    }
                }
            }
        }
    })
}

fn error_event(e: &Error) -> SseEvent {
    SseEvent::default()
        .event("error")
        .json_data(ErrorDetail::from(e))
        .unwrap_or_else(|_| SseEvent::default().event("error").data(e.message()))
}
