//! The dashboard at `/`: static files embedded at build time (see `build.rs`), a page that runs
//! on the WebAssembly package (served at `/pkg/`) and talks to this server's `/v1/` API like any
//! other client, with the token the user gives it. The files hold no data, so they are served
//! without a token.

use axum::Router;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// `(path, content type, bytes)` of every embedded file.
static ASSETS: &[(&str, &str, &[u8])] = include!(concat!(env!("OUT_DIR"), "/dashboard_assets.rs"));

/// A route per embedded file (and `/` for the page), so that any other path gets the server's
/// JSON 404, and another method than GET (or HEAD) on a file its JSON 405.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let mut router = Router::new().route("/", get(|| async { asset("/index.html") }));
    for &(path, _, _) in ASSETS {
        // Only names a route can be, as the build's are; any other is left unserved.
        let plain = path.strip_prefix('/').is_some_and(|rest| {
            rest.split('/').all(|segment| {
                !segment.is_empty()
                    && segment
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
            })
        });
        if plain {
            router = router.route(path, get(move || async move { asset(path) }));
        }
    }
    router
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
        None => crate::reply::not_found(&format!(
            "{path} is not in this build of the dashboard; build it with scripts/build-wasm.sh, then rebuild"
        )),
    }
}
