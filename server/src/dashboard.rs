//! The dashboard at `/`: static files embedded at build time (see `build.rs`), a page that runs
//! on the WebAssembly package (served at `/pkg/`) and talks to this server's `/v1/` API like any
//! other client, with the token the user gives it. The files hold no data, so they are served
//! without a token.

use axum::Router;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// `(path, content type, bytes)` of every embedded file.
static ASSETS: &[(&str, &str, &[u8])] = include!(concat!(env!("OUT_DIR"), "/dashboard_assets.rs"));

pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(|| async { asset("/index.html") }))
        .route(
            "/{file}",
            get(|Path(file): Path<String>| async move { asset(&format!("/{file}")) }),
        )
        .route(
            "/pkg/{file}",
            get(|Path(file): Path<String>| async move { asset(&format!("/pkg/{file}")) }),
        )
}

/// Whether the WebAssembly package was built into this binary.
pub fn has_package() -> bool {
    ASSETS.iter().any(|(path, _, _)| path.starts_with("/pkg/"))
}

fn asset(path: &str) -> Response {
    match ASSETS.iter().find(|(p, _, _)| *p == path) {
        Some((_, kind, bytes)) => (
            [
                (header::CONTENT_TYPE, *kind),
                (header::CACHE_CONTROL, "no-cache"),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            *bytes,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "not found\n").into_response(),
    }
}
