//! The OpenAPI 3 document of the server's API, served at `GET /openapi.json`. Its paths are the
//! route table's (`api.rs`): each route's `#[utoipa::path]` annotation (summary, parameters,
//! request body, its own replies) plus the error replies every route of its kind shares, added
//! here by what the route takes (a token, a body, parameters, a time limit). Its schemas are
//! those of the JSON types (the core's `http::wire` ones with its `openapi` feature);
//! `tests/openapi.rs` checks it against a running server.

use utoipa::openapi::path::{HttpMethod, Operation};
use utoipa::openapi::schema::Schema;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{PathItem, Ref, RefOr};
use utoipa::{Modify, OpenApi, ToResponse};

use crate::backend::{WatchEvent, WatchReady};
use crate::reply::{
    BadRequest, Conflict, GatewayTimeout, LeaseExpired, PayloadTooLarge, Unauthorized, Unavailable,
    UnsupportedMediaType,
};
use interlock::http::wire;

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
            of its kind. A path the server does not serve gets 404 (kind `NotFound`, as a key \
            without an entry), and a method a path does not take 405 (kind `InvalidArgument`). \
            Under `/v1/`, a body on a route that takes none, and a query parameter a route does \
            not take, get 400; a request with a body must send \
            `Content-Type: application/json` (415 otherwise), a declared length over 16 MiB gets \
            413, and a request other than a watch that takes longer than the server's \
            `--request-timeout` gets 504 (kind `Unavailable`; a commit cut short has an unknown \
            outcome).",
        license(name = "Apache-2.0"),
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

/// Declares the bearer token (the routes that need it say so: [`document`]).
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
    }
}

/// One route's part of the document: its method, path and operation (from its
/// `#[utoipa::path]` annotation), and the schemas the operation names.
pub struct Described {
    pub method: HttpMethod,
    pub path: String,
    pub operation: Operation,
    pub schemas: Vec<(String, RefOr<Schema>)>,
}

/// What a route takes that decides the error replies it shares with others.
pub struct Shared {
    /// It needs the bearer token (401).
    pub token: bool,
    /// It is cut short at the request timeout (504).
    pub timeout: bool,
}

/// The description of the route annotated `P` (the `__path_…` type `#[utoipa::path]` makes).
pub fn describe<P>() -> Described
where
    P: utoipa::Path + utoipa::__dev::SchemaReferences + for<'t> utoipa::__dev::Tags<'t>,
{
    let mut schemas = Vec::new();
    P::schemas(&mut schemas);
    let mut operation = P::operation();
    let tags = P::tags();
    if !tags.is_empty() {
        operation
            .tags
            .get_or_insert_with(Vec::new)
            .extend(tags.into_iter().map(str::to_string));
    }
    Described {
        method: P::methods().into_iter().next().unwrap_or(HttpMethod::Get),
        path: P::path(),
        operation,
        schemas,
    }
}

/// A reference to one of the shared replies in `components/responses`.
fn shared<R: ToResponse<'static>>() -> RefOr<utoipa::openapi::Response> {
    RefOr::Ref(Ref::from_response_name(R::response().0))
}

/// The document of these routes, as JSON.
pub fn document(routes: impl IntoIterator<Item = (Described, Shared)>) -> String {
    let mut doc = ApiDoc::openapi();
    for (described, shares) in routes {
        let Described {
            method,
            path,
            mut operation,
            schemas,
        } = described;
        let replies = &mut operation.responses.responses;
        let takes_input = operation.request_body.is_some()
            || operation.parameters.as_ref().is_some_and(|p| !p.is_empty());
        let mut add = |status: &str, reply: RefOr<utoipa::openapi::Response>| {
            replies.entry(status.to_string()).or_insert(reply);
        };
        // Under `/v1/` every route refuses a body or a query parameter it does not take.
        if takes_input || shares.token {
            add("400", shared::<BadRequest>());
        }
        if shares.token {
            add("401", shared::<Unauthorized>());
        }
        if operation.request_body.is_some() {
            add("413", shared::<PayloadTooLarge>());
            add("415", shared::<UnsupportedMediaType>());
        }
        if shares.timeout {
            add("504", shared::<GatewayTimeout>());
        }
        if shares.token {
            operation.security = Some(vec![SecurityRequirement::new(BEARER, Vec::<String>::new())]);
        }
        let components = doc.components.get_or_insert_with(Default::default);
        for (name, schema) in schemas {
            components.schemas.entry(name).or_insert(schema);
        }
        match doc.paths.paths.get_mut(&path) {
            Some(item) => item.merge_operations(PathItem::new(method, operation)),
            None => {
                doc.paths
                    .paths
                    .insert(path, PathItem::new(method, operation));
            }
        }
    }
    doc.to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"the OpenAPI document failed to build: {e}\"}}"))
}
