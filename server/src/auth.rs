//! Who may call `/v1/`: bearer-token authentication of every request under it (a request
//! without the right token gets 401, whatever its path, and reaches no handler), and, on a
//! server without a token, only requests addressed to a loopback name. Built on the state and
//! reply layer.

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::Response;
use interlock::Error;

use crate::reply::error_response;
use crate::state::AppState;

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

/// Without a token the server serves loopback only, and only to requests addressed to a
/// loopback name: a page on a rebound DNS name (`evil.example` → 127.0.0.1) is refused.
pub async fn require_loopback_host(
    State(state): State<AppState>,
    request: Request,
    next: Next,
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
