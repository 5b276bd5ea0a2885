//! The top of the server: the route table and the router built from it. Each row of [`ROUTES`]
//! is one route: its handler, where it is served (and so what guards it), and its
//! `#[utoipa::path]` annotation, which gives its method, its path, its summary and the rest of
//! its OpenAPI operation. The same rows build the axum router, the paths of `/openapi.json`
//! (`openapi.rs`) and the `route` label of the metrics (the path as the document writes it).
//!
//! The modules below depend downwards only: `reply.rs`, `metrics.rs` and `state.rs` at the
//! bottom; `extract.rs` and `auth.rs` on them; the handlers (`backend.rs`, `rest.rs`,
//! `service.rs`, `dashboard.rs`) on those; `openapi.rs` on the handlers' schemas; this module on
//! all of them.

use std::sync::LazyLock;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, OriginalUri, Request, State};
use axum::http::Method;
use axum::http::header::CONTENT_TYPE;
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, on};
use utoipa::openapi::path::{HttpMethod, ParameterIn};

use crate::openapi::{Described, Shared, describe};
use crate::reply::not_found;
pub use crate::state::{AppState, Options};
use crate::{auth, backend, extract, rest, service};

/// Where a route is served, which decides what guards it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Scope {
    /// Outside `/v1/`: no token, no time limit (health, metrics, the document).
    Server,
    /// Under `/v1/`: the token, the JSON body checks, and the request timeout (504).
    V1,
    /// Under `/v1/` like [`Scope::V1`], but without the time limit: a stream (the watch).
    V1Stream,
}

/// One route of the server.
pub struct Route {
    pub scope: Scope,
    /// The route's `#[utoipa::path]` annotation: its method, path and OpenAPI operation.
    pub doc: fn() -> Described,
    /// The handler, on the route's method.
    pub handler: fn(MethodFilter) -> MethodRouter<AppState>,
    /// The path's last parameter takes the rest of the path, `/` included (`/v1/kv/{key}`: a key
    /// may contain `/`).
    pub rest_of_path: bool,
}

/// A row of [`ROUTES`]: `route!(scope, module::__path_handler => module::handler)`, with
/// `rest_of_path` after it when the last parameter takes the rest of the path.
macro_rules! route {
    ($scope:ident, $doc:path => $handler:path $(, $rest:ident)?) => {
        Route {
            scope: Scope::$scope,
            doc: describe::<$doc>,
            handler: |method| on(method, $handler),
            rest_of_path: route!(@rest $($rest)?),
        }
    };
    (@rest rest_of_path) => { true };
    (@rest) => { false };
}

/// Every route the server serves but the dashboard's files (`dashboard.rs`), grouped by the
/// document's tags: the server's own, the backend protocol, the REST routes. A route's method
/// and path are those of its annotation (`#[utoipa::path(get, path = "/v1/info", …)]`).
pub static ROUTES: &[Route] = &[
    route!(Server, service::__path_healthz => service::healthz),
    route!(Server, service::__path_scrape => service::scrape),
    route!(Server, __path_document => document),
    route!(V1, backend::__path_info => backend::info),
    route!(V1, backend::__path_read => backend::read),
    route!(V1, backend::__path_commit => backend::commit),
    route!(V1Stream, backend::__path_watch => backend::watch),
    route!(V1, backend::__path_grant => backend::grant),
    route!(V1, backend::__path_time_to_live => backend::time_to_live),
    route!(V1, backend::__path_keepalive => backend::keepalive),
    route!(V1, backend::__path_revoke => backend::revoke),
    route!(V1, rest::__path_get_entry => rest::get_entry, rest_of_path),
    route!(V1, rest::__path_put => rest::put, rest_of_path),
    route!(V1, rest::__path_delete => rest::delete, rest_of_path),
    route!(V1, rest::__path_list => rest::list),
    route!(V1, rest::__path_get_many => rest::get_many),
    route!(V1, rest::__path_index => rest::index),
    route!(V1, rest::__path_txn => rest::txn),
    route!(V1, rest::__path_lock_queue => rest::lock_queue),
    route!(V1, rest::__path_force_release => rest::force_release),
];

/// Each route's method and path, in the order of [`ROUTES`].
static METHODS_AND_PATHS: LazyLock<Vec<(Method, String)>> = LazyLock::new(|| {
    ROUTES
        .iter()
        .map(|route| {
            let described = (route.doc)();
            (http_method(&described.method), described.path)
        })
        .collect()
});

/// What each route takes besides its path (a body, query parameters), in the order of
/// [`ROUTES`], from its annotation: what it does not take is refused (`extract::takes_only`).
static TAKES: LazyLock<Vec<extract::Takes>> = LazyLock::new(|| {
    ROUTES
        .iter()
        .map(|route| {
            let described = (route.doc)();
            let query = described
                .operation
                .parameters
                .iter()
                .flatten()
                .filter(|p| p.parameter_in == ParameterIn::Query)
                .map(|p| {
                    let json = serde_json::to_value(p).unwrap_or_default();
                    let integer = json["schema"]["type"].to_string().contains("integer");
                    (p.name.clone(), integer)
                })
                .collect();
            extract::Takes {
                route: format!("{} {}", http_method(&described.method), described.path),
                body: described.operation.request_body.is_some(),
                query,
            }
        })
        .collect()
});

/// The OpenAPI document of [`ROUTES`], as JSON, built once.
static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    crate::openapi::document(ROUTES.iter().map(|route| {
        let shared = Shared {
            token: route.scope != Scope::Server,
            timeout: route.scope == Scope::V1,
        };
        ((route.doc)(), shared)
    }))
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
async fn document() -> Response {
    ([(CONTENT_TYPE, "application/json")], DOCUMENT.as_str()).into_response()
}

fn http_method(method: &HttpMethod) -> Method {
    match method {
        HttpMethod::Get => Method::GET,
        HttpMethod::Post => Method::POST,
        HttpMethod::Put => Method::PUT,
        HttpMethod::Delete => Method::DELETE,
        HttpMethod::Patch => Method::PATCH,
        HttpMethod::Head => Method::HEAD,
        HttpMethod::Options => Method::OPTIONS,
        HttpMethod::Trace => Method::TRACE,
    }
}

fn method_filter(method: &Method) -> MethodFilter {
    match *method {
        Method::POST => MethodFilter::POST,
        Method::PUT => MethodFilter::PUT,
        Method::DELETE => MethodFilter::DELETE,
        Method::PATCH => MethodFilter::PATCH,
        Method::HEAD => MethodFilter::HEAD,
        Method::OPTIONS => MethodFilter::OPTIONS,
        Method::TRACE => MethodFilter::TRACE,
        _ => MethodFilter::GET,
    }
}

/// The router's form of a route's path: under the `/v1` nest without the prefix, and a
/// parameter that takes the rest of the path as axum's `{*name}`.
fn router_path(path: &str, scope: Scope, rest_of_path: bool) -> String {
    let path = match scope {
        Scope::Server => path,
        Scope::V1 | Scope::V1Stream => path.strip_prefix("/v1").unwrap_or(path),
    };
    match path.rfind("/{") {
        Some(at) if rest_of_path => format!("{}/{{*{}", &path[..at], &path[at + 2..]),
        _ => path.to_string(),
    }
}

/// The server's routes: [`ROUTES`], the dashboard's files, and the JSON 404 and 405 for
/// anything else.
pub fn router(state: AppState, options: &Options) -> Router {
    let mut server = Router::new();
    let mut unary = Router::new();
    let mut stream = Router::new();
    for ((route, (method, path)), takes) in ROUTES
        .iter()
        .zip(METHODS_AND_PATHS.iter())
        .zip(TAKES.iter())
    {
        let path = router_path(path, route.scope, route.rest_of_path);
        let mut handler = (route.handler)(method_filter(method));
        if route.scope != Scope::Server {
            let takes = takes.clone();
            handler = handler.route_layer(from_fn(move |request: Request, next: Next| {
                extract::takes_only(takes.clone(), request, next)
            }));
        }
        match route.scope {
            Scope::Server => server = server.route(&path, handler),
            Scope::V1 => unary = unary.route(&path, handler),
            Scope::V1Stream => stream = stream.route(&path, handler),
        }
    }
    // Every route but a stream answers within the request timeout; a commit cut short has an
    // unknown outcome, and 504 tells the client so (it is Unavailable, retryable), with the
    // JSON error of every other reply.
    let timeout = options.request_timeout;
    let unary = unary.route_layer(from_fn(move |request: Request, next: Next| async move {
        match tokio::time::timeout(timeout, next.run(request)).await {
            Ok(response) => response,
            Err(_) => crate::reply::timed_out(timeout),
        }
    }));
    let v1 = unary
        .merge(stream)
        .method_not_allowed_fallback(extract::method_not_allowed)
        .fallback(unknown)
        // Layers added later run first: the token is checked before anything else.
        .layer(from_fn(extract::require_json))
        .layer(from_fn(extract::refuse_oversize))
        .layer(from_fn_with_state(state.clone(), auth::require_token))
        .layer(from_fn_with_state(
            state.clone(),
            auth::require_loopback_host,
        ));
    // `/v1` and `/v1/` themselves are no endpoint either, and need the token like every path
    // under them (the nested router sees neither).
    let v1_itself = Router::new()
        .route("/v1", axum::routing::any(unknown))
        .route("/v1/", axum::routing::any(unknown))
        .layer(from_fn_with_state(state.clone(), auth::require_token))
        .layer(from_fn_with_state(
            state.clone(),
            auth::require_loopback_host,
        ));
    let mut app = server
        .merge(crate::dashboard::routes())
        .merge(v1_itself)
        .nest("/v1", v1)
        .method_not_allowed_fallback(extract::method_not_allowed)
        .fallback(unknown)
        .layer(DefaultBodyLimit::max(extract::MAX_BODY_BYTES))
        .layer(from_fn_with_state(state.clone(), track))
        .with_state(state);
    // Outermost, so that a browser's preflight (which carries no token) is answered.
    if !options.cors_origins.is_empty() {
        use axum::http::header;
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

/// The reply to a path the server does not serve, whatever the method: 404 with the JSON error
/// of every other refusal, of kind `NotFound` (as a key without an entry). It names the
/// request's method and path, not its query string.
async fn unknown(method: Method, OriginalUri(uri): OriginalUri) -> Response {
    not_found(&format!(
        "no such endpoint: {method} {}; /openapi.json lists every route",
        uri.path()
    ))
}

/// The metrics label of a request's path: the path of the route in [`ROUTES`] that serves it,
/// as the document writes it; `/` for the dashboard's page; `other` for anything else. Never
/// the raw path, so keys and lease ids stay out of the metrics.
fn label_of(path: &str) -> &'static str {
    let routes = || ROUTES.iter().zip(METHODS_AND_PATHS.iter());
    // A fixed path wins over a pattern it also fits (`/v1/leases/ttl`, not `/v1/leases/{id}`).
    if let Some((_, (_, exact))) = routes().find(|(_, (_, p))| p == path) {
        return exact;
    }
    if let Some((_, (_, pattern))) =
        routes().find(|(route, (_, p))| fits(path, p, route.rest_of_path))
    {
        return pattern;
    }
    if path == "/" { "/" } else { "other" }
}

/// Whether `path` fits `pattern`, whose `{name}` segments take one segment each (the last one
/// the rest of the path when `rest_of_path`).
fn fits(path: &str, pattern: &str, rest_of_path: bool) -> bool {
    let mut given = path.split('/');
    let mut wanted = pattern.split('/').peekable();
    while let Some(want) = wanted.next() {
        let is_parameter = want.starts_with('{') && want.ends_with('}');
        if is_parameter && rest_of_path && wanted.peek().is_none() {
            return given.next().is_some_and(|g| !g.is_empty());
        }
        match given.next() {
            Some(g) if is_parameter && !g.is_empty() => {}
            Some(g) if g == want => {}
            _ => return false,
        }
    }
    given.next().is_none()
}

/// Counts and times every request, refused ones included, under its route's label.
async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = label_of(request.uri().path());
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
    state.metrics.observe(
        route,
        method,
        response.status().as_str(),
        start.elapsed().as_secs_f64(),
    );
    response
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// A concrete path of a route, its parameters filled in.
    fn concrete(pattern: &str) -> String {
        pattern
            .replace("{key}", "a/b")
            .replace("{id}", "42")
            .replace("{name}", "nightly")
    }

    /// The table's routes, as (method, path).
    fn table() -> BTreeSet<(String, String)> {
        METHODS_AND_PATHS
            .iter()
            .map(|(m, p)| (m.to_string(), p.clone()))
            .collect()
    }

    #[test]
    fn every_route_is_once_in_the_table_and_served_where_its_scope_says() {
        assert_eq!(table().len(), ROUTES.len(), "a route is in the table twice");
        for (route, (method, path)) in ROUTES.iter().zip(METHODS_AND_PATHS.iter()) {
            let what = format!("{method} {path}");
            assert_eq!(
                route.scope != Scope::Server,
                path.starts_with("/v1/"),
                "{what}: {:?}",
                route.scope
            );
            if route.rest_of_path {
                assert!(path.ends_with('}'), "{what}");
                assert!(
                    router_path(path, route.scope, true).contains("/{*"),
                    "{what}"
                );
            }
        }
    }

    /// The document's operations are exactly the table's: every route documented, every
    /// documented path routed; each needs the token where the router asks for it.
    #[test]
    fn the_document_has_exactly_the_routes_of_the_table() {
        let doc: serde_json::Value = serde_json::from_str(&DOCUMENT).unwrap();
        let mut documented = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                documented.insert((method.to_uppercase(), path.clone()));
                let secured = operation.get("security").is_some();
                assert_eq!(secured, path.starts_with("/v1/"), "{method} {path}");
                assert!(
                    operation["responses"].get("200").is_some(),
                    "{method} {path}: no 200"
                );
            }
        }
        assert_eq!(documented, table());
    }

    /// The error replies a route shares with others follow from what it takes.
    #[test]
    fn shared_replies_follow_from_what_a_route_takes() {
        let doc: serde_json::Value = serde_json::from_str(&DOCUMENT).unwrap();
        let replies = |method: &str, path: &str| -> BTreeSet<String> {
            doc["paths"][path][method]["responses"]
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect()
        };
        let set = |statuses: &[&str]| statuses.iter().map(|s| s.to_string()).collect();
        assert_eq!(
            replies("get", "/v1/info"),
            set(&["200", "400", "401", "504"])
        );
        assert_eq!(
            replies("post", "/v1/leases"),
            set(&["200", "400", "401", "413", "415", "503", "504"])
        );
        assert_eq!(
            replies("get", "/v1/backend/watch"),
            set(&["200", "400", "401", "503"])
        );
        assert_eq!(replies("get", "/healthz"), set(&["200", "503"]));
    }

    /// Every route has a metrics label of its own: its path as the document writes it.
    #[test]
    fn every_route_is_labelled_by_its_pattern() {
        for (method, pattern) in METHODS_AND_PATHS.iter() {
            assert_eq!(label_of(&concrete(pattern)), pattern, "{method} {pattern}");
        }
        assert_eq!(label_of("/v1/leases/ttl"), "/v1/leases/ttl");
        assert_eq!(label_of("/v1/kv/a/b/c"), "/v1/kv/{key}");
        assert_eq!(label_of("/"), "/");
        for unknown in [
            "/v1/nothing/here",
            "/v1/leases/1/2",
            "/v1/locks/a/b/c",
            "/pkg/x.js",
        ] {
            assert_eq!(label_of(unknown), "other", "{unknown}");
        }
    }
}
