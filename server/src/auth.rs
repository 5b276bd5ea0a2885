//! Bearer-token authentication of every request under `/v1/`: a request without the right
//! token gets 401, whatever its path, and reaches no handler.

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::Response;
use interlock::Error;

use crate::api::{AppState, error_response};

pub async fn require_token(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let Some(expected) = state.token.as_deref() else {
        return next.run(request).await;
    };
    let given = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match given {
        Some(token) if equal(token.as_bytes(), expected.as_bytes()) => next.run(request).await,
        Some(_) => error_response(&Error::new(
            interlock::ErrorKind::Unauthorized,
            "the bearer token is wrong",
        )),
        None => error_response(&Error::new(
            interlock::ErrorKind::Unauthorized,
            "this server needs a bearer token: send 'Authorization: Bearer <token>'",
        )),
    }
}

/// Compares in time that does not depend on where the inputs differ.
fn equal(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
