//! The OpenAPI 3 document of the server's API, served at `GET /openapi.json`. It is derived from
//! the `#[utoipa::path]` annotations on the handlers and the schemas of the JSON types (the
//! core's `http::wire` ones with its `openapi` feature), so it lives next to the code it
//! describes; `tests/openapi.rs` checks it against a running server.

use std::sync::LazyLock;

use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use interlock::http::wire;
use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

pub use responses::*;

/// The name of the bearer-token security scheme.
const BEARER: &str = "bearer";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "interlock",
        description = "Compare-exchange values, leases, fair locks with fencing tokens and atomic \
            transactions over one store (SQLite or etcd), over HTTP.\n\n\
            The REST routes (`/v1/kv`, `/v1/get-many`, `/v1/index`, `/v1/txn`, `/v1/locks`) run \
            every operation of the client API as one request. The backend protocol \
            (`/v1/backend/*`, `/v1/leases*`, `/v1/info`) is what interlock's `http://` clients \
            speak: they run the lock, lease and session algorithms themselves over it.\n\n\
            Every error is `{\"error\": {\"kind\", \"message\", \"conflicts\"?}}` with the status \
            of its kind. A path the server does not serve gets 404, and a method a path does not \
            take 405, both with that body (kind `InvalidArgument`). Under `/v1/`, a request with a body must send \
            `Content-Type: application/json` (415 otherwise), a declared length over 16 MiB gets \
            413, and a request other than a watch that takes longer than the server's \
            `--request-timeout` gets 504 with no body (a commit cut short has an unknown outcome).",
        license(name = "Apache-2.0"),
    ),
    paths(
        crate::api::healthz,
        crate::metrics::scrape,
        document,
        crate::api::info,
        crate::api::read,
        crate::api::commit,
        crate::api::watch,
        crate::api::grant,
        crate::api::time_to_live,
        crate::api::keepalive,
        crate::api::revoke,
        crate::api::get_entry,
        crate::rest::put,
        crate::rest::delete,
        crate::rest::list,
        crate::rest::get_many,
        crate::rest::index,
        crate::rest::txn,
        crate::rest::lock_queue,
        crate::rest::force_release,
    ),
    components(
        schemas(WatchReady, WatchEvent, wire::WatchProgress, wire::ErrorReply),
        responses(
            BadRequest,
            Unauthorized,
            LeaseExpired,
            Conflict,
            PayloadTooLarge,
            UnsupportedMediaType,
            Unavailable,
            GatewayTimeout,
        )
    ),
    modifiers(&BearerToken),
    tags(
        (name = "rest", description = "Every operation of the client API as one request"),
        (name = "backend", description = "The protocol of interlock's `http://` clients: one \
            route per method of the core's `Backend` trait"),
        (name = "server", description = "Health, metrics and this document; no token needed"),
    )
)]
struct ApiDoc;

/// Declares the bearer token and requires it on every path under `/v1/` (the router checks it
/// there, before anything else).
struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        doc.components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                BEARER,
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .description(Some(
                            "The server's token (`interlock serve --token`, `INTERLOCK_TOKEN` or \
                         `--token-file`), as `Authorization: Bearer <token>`. A server started \
                         without one needs none, and answers only requests addressed to a \
                         loopback name. A wrong or missing token gets 401 on any path under \
                         `/v1/`, known or not.",
                        ))
                        .build(),
                ),
            );
        for (path, item) in doc.paths.paths.iter_mut() {
            if !path.starts_with("/v1/") {
                continue;
            }
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                operation.security =
                    Some(vec![SecurityRequirement::new(BEARER, Vec::<String>::new())]);
            }
        }
    }
}

/// The document as JSON, built once.
static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"the OpenAPI document failed to build: {e}\"}}"))
});

/// This document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    operation_id = "openapi",
    tag = "server",
    responses((status = 200, description = "The OpenAPI document of this server", body = Object,
        content_type = "application/json")),
)]
pub async fn document() -> Response {
    ([(CONTENT_TYPE, "application/json")], DOCUMENT.as_str()).into_response()
}

/// The data of a watch's `ready` event.
#[derive(Serialize, ToSchema)]
pub struct WatchReady {
    /// The first index the watch reports: pass it as `from` to resume exactly here.
    pub from: u64,
}

/// The data of a watch's message events (the SSE `id` is its index).
#[derive(ToSchema)]
#[allow(dead_code)] // only its schema is used: the events are the core's `Event`s
struct WatchEvent {
    #[schema(rename = "type")]
    kind: WatchEventType,
    key: String,
    /// The new value; absent for a delete.
    #[schema(nullable = false)]
    value: Option<serde_json::Value>,
    /// The index of the write.
    index: u64,
}

#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)] // only its schema is used
enum WatchEventType {
    Put,
    Delete,
}

/// The error replies, shared by the routes: only their descriptions are used.
#[allow(dead_code)]
mod responses {
    use interlock::http::wire::ErrorReply;
    use utoipa::ToResponse;

    /// Bad input (`InvalidArgument`): the message names what was wrong, and nothing was written.
    #[derive(ToResponse)]
    #[response(example = json!({"error": {"kind": "InvalidArgument",
        "message": "key must not be empty"}}))]
    pub struct BadRequest(ErrorReply);

    /// No token, or a wrong one (`Unauthorized`); or, on a server without a token, a request
    /// not addressed to a loopback name.
    #[derive(ToResponse)]
    #[response(example = json!({"error": {"kind": "Unauthorized",
        "message": "this server needs a bearer token: send 'Authorization: Bearer <token>'"}}))]
    pub struct Unauthorized(ErrorReply);

    /// The lease is unknown to the store or expired (`LeaseExpired`).
    #[derive(ToResponse)]
    #[response(example = json!({"error": {"kind": "LeaseExpired",
        "message": "lease 7587862412337131010 is unknown or has expired"}}))]
    pub struct LeaseExpired(ErrorReply);

    /// A check did not hold (`Conflict`): nothing was written, and `conflicts` lists every
    /// failed check with the key's current index (`0`: absent).
    #[derive(ToResponse)]
    #[response(example = json!({"error": {"kind": "Conflict",
        "message": "concurrency conflict on 1 key: 'users/1' expected index 3, actual index 5",
        "conflicts": [{"key": "users/1", "expected": 3, "actual": 5}]}}))]
    pub struct Conflict(ErrorReply);

    /// The declared body length is over 16 MiB; the body was not read.
    #[derive(ToResponse)]
    #[response(example = json!({"error": {"kind": "InvalidArgument",
        "message": "the request body is 67108864 bytes; at most 16777216 are accepted"}}))]
    pub struct PayloadTooLarge(ErrorReply);

    /// A body sent without `Content-Type: application/json`.
    #[derive(ToResponse)]
    #[response(example = json!({"error": {"kind": "InvalidArgument",
        "message": "a request body must be JSON, sent with 'Content-Type: application/json'"}}))]
    pub struct UnsupportedMediaType(ErrorReply);

    /// The store could not be reached or was busy (`Unavailable`); the request may be retried.
    #[derive(ToResponse)]
    #[response(example = json!({"error": {"kind": "Unavailable",
        "message": "the store is unavailable: database is locked"}}))]
    pub struct Unavailable(ErrorReply);

    /// The request took longer than the server's `--request-timeout`; no body. A write cut
    /// short has an unknown outcome.
    #[derive(ToResponse)]
    pub struct GatewayTimeout;
}
