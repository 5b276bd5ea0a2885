//! axum's extractors with their refusals as the JSON error every other refusal is: a path that is
//! not UTF-8 once decoded, a query string that does not parse, a body that cannot be read (over
//! the size limit), and a method a route does not take. axum's own replies to these are plain
//! text or empty, which a client cannot tell from a proxy's.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, OriginalUri, Request};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use interlock::Error;
use serde::de::DeserializeOwned;

use crate::api::error_response;

/// An `InvalidArgument` reply with another status than 400 (405, 413, …).
fn refused(status: StatusCode, message: String) -> Response {
    let mut response = error_response(&Error::invalid(message));
    *response.status_mut() = status;
    response
}

/// The captures of the route's path, percent-decoded.
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Path(value)),
            Err(e) => Err(refused(
                e.status(),
                format!("the path is not valid: {}", e.body_text()),
            )),
        }
    }
}

/// The query string, parsed.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Query(value)),
            Err(e) => Err(refused(
                e.status(),
                format!("the query string is not valid: {}", e.body_text()),
            )),
        }
    }
}

/// The request body, read whole (up to the server's limit).
pub struct Body(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Response> {
        match Bytes::from_request(request, state).await {
            Ok(bytes) => Ok(Body(bytes)),
            Err(e) => Err(refused(
                e.status(),
                format!("the request body could not be read: {}", e.body_text()),
            )),
        }
    }
}

/// The reply to a method a route does not take (axum adds the `Allow` header).
pub async fn method_not_allowed(method: Method, OriginalUri(uri): OriginalUri) -> Response {
    refused(
        StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "method {method} is not allowed on {}; the Allow header lists the methods it takes",
            uri.path()
        ),
    )
}
