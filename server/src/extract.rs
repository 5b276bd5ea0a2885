//! Reading a request, with refusals as the JSON error every other refusal is and in interlock's
//! words: a path that is not UTF-8 once decoded, a query parameter the route does not take or
//! whose value does not fit, a body that cannot be read (over the size limit) or is not sent as
//! JSON, and a method a route does not take. axum's own replies to these are plain text or
//! empty, which a client cannot tell from a proxy's. Built on `reply.rs` only.

use axum::body::Bytes;
use axum::extract::path::ErrorKind as PathErrorKind;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, FromRequestParts, OriginalUri, Request};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use interlock::Error;
use serde::de::DeserializeOwned;

use crate::reply::{error_response, refused};

/// The largest request body: a transaction of 128 values of the default 1 MiB limit would be
/// more, but the store's own limit on a commit's size is what binds; 16 MiB bounds the memory a
/// request can take.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// The captures of the route's path, percent-decoded.
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Path(value)),
            Err(PathRejection::FailedToDeserializePathParams(e)) => {
                let message = match e.kind() {
                    PathErrorKind::InvalidUtf8InPathParam { key } => format!(
                        "the path is not valid: its part '{key}' is not UTF-8 once percent-decoded"
                    ),
                    _ => "the path is not valid: its parts could not be read".to_string(),
                };
                Err(refused(StatusCode::BAD_REQUEST, &message))
            }
            Err(e) => Err(refused(
                e.status(),
                "the path is not valid: its parts could not be read",
            )),
        }
    }
}

/// A query string's parameters, read one by one by name; what no one read is refused.
pub struct Params {
    pairs: Vec<(String, String)>,
    /// The names asked for, in order: what the route takes.
    asked: Vec<&'static str>,
}

impl Params {
    pub fn parse(query: &str) -> Params {
        Params {
            pairs: form_urlencoded::parse(query.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
            asked: Vec::new(),
        }
    }

    /// The text of parameter `name`, if given (an empty text when given as `name=`).
    pub fn text(&mut self, name: &'static str) -> Result<Option<String>, Error> {
        self.asked.push(name);
        let mut found = None;
        let mut rest = Vec::with_capacity(self.pairs.len());
        for (key, value) in std::mem::take(&mut self.pairs) {
            if key != name {
                rest.push((key, value));
            } else if found.is_some() {
                return Err(Error::invalid(format!(
                    "the query parameter '{name}' is given more than once; give it once"
                )));
            } else {
                found = Some(value);
            }
        }
        self.pairs = rest;
        Ok(found)
    }

    /// A non-negative integer parameter.
    pub fn integer(&mut self, name: &'static str) -> Result<Option<u64>, Error> {
        let Some(text) = self.text(name)? else {
            return Ok(None);
        };
        match text.parse::<u64>() {
            Ok(n) if !text.starts_with('+') => Ok(Some(n)),
            _ => Err(Error::invalid(format!(
                "the query parameter '{name}' must be a non-negative integer, got {text:?}"
            ))),
        }
    }

    /// A `true` or `false` parameter.
    pub fn boolean(&mut self, name: &'static str) -> Result<Option<bool>, Error> {
        match self.text(name)?.as_deref() {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(other) => Err(Error::invalid(format!(
                "the query parameter '{name}' must be true or false, got {other:?}"
            ))),
        }
    }

    /// Refuses a parameter no one asked for.
    fn finish(self) -> Result<(), Error> {
        let Some((name, _)) = self.pairs.first() else {
            return Ok(());
        };
        let takes = if self.asked.is_empty() {
            "this route takes no query parameters".to_string()
        } else {
            format!(
                "this route takes {}",
                self.asked
                    .iter()
                    .map(|n| format!("'{n}'"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        Err(Error::invalid(format!(
            "the query parameter '{name}' is unknown; {takes}"
        )))
    }
}

/// Refuses any query parameter: for a route that takes none.
pub fn no_query(query: &str) -> Result<(), Error> {
    Params::parse(query).finish()
}

/// What a route takes besides its path, for [`takes_only`]: whether it takes a body, and the
/// names of its query parameters (none: it takes no query).
#[derive(Clone)]
pub struct Takes {
    /// `DELETE /v1/kv/{key}`, as the reply names it.
    pub route: String,
    pub body: bool,
    /// Its query parameters, and whether each is an integer.
    pub query: Vec<(String, bool)>,
}

/// Refuses what a route does not take, before its handler runs: a non-empty body on a route
/// that takes none (a client sending `{"index": N}` to a delete meant a compare-exchange, which
/// the route would otherwise do unconditionally), and any query parameter on a route that takes
/// no query (a route with a query refuses unknown parameters as it reads them).
pub async fn takes_only(takes: Takes, request: Request, next: Next) -> Response {
    if takes.query.is_empty()
        && let Err(e) = no_query(request.uri().query().unwrap_or(""))
    {
        return error_response(&e);
    }
    if takes.body {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return refused(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!(
                    "{} takes no request body; this one could not be read within the length \
                     limit of {MAX_BODY_BYTES} bytes",
                    takes.route
                ),
            );
        }
    };
    if !bytes.is_empty() {
        let hint = match takes.query.as_slice() {
            [] => String::new(),
            [(name, integer)] => {
                format!(
                    "; give {name} as ?{name}={}",
                    if *integer { "N" } else { "…" }
                )
            }
            names => format!(
                "; give its parameters ({}) in the query",
                names
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        return error_response(&Error::invalid(format!(
            "{} takes no request body, and this one has {} bytes{hint}; nothing was done",
            takes.route,
            bytes.len()
        )));
    }
    next.run(Request::from_parts(parts, axum::body::Body::from(bytes)))
        .await
}

/// A route's query parameters, read from [`Params`].
pub trait FromQuery: Sized {
    fn from_query(params: &mut Params) -> Result<Self, Error>;
}

/// The query string, read into `T`; a parameter `T` does not read is refused.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: FromQuery> FromRequestParts<S> for Query<T> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Response> {
        let mut params = Params::parse(parts.uri.query().unwrap_or(""));
        T::from_query(&mut params)
            .and_then(|value| params.finish().map(|()| Query(value)))
            .map_err(|e| error_response(&e))
    }
}

/// The request body, read whole (up to the server's limit).
pub struct Body(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Response> {
        match Bytes::from_request(request, state).await {
            Ok(bytes) => Ok(Body(bytes)),
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(refused(
                e.status(),
                &format!(
                    "the request body is over the length limit of {MAX_BODY_BYTES} bytes; it was \
                     not read"
                ),
            )),
            Err(e) => Err(refused(
                e.status(),
                "the request body could not be read in full",
            )),
        }
    }
}

/// The reply to a method a route does not take (axum adds the `Allow` header).
pub async fn method_not_allowed(method: Method, OriginalUri(uri): OriginalUri) -> Response {
    refused(
        StatusCode::METHOD_NOT_ALLOWED,
        &format!(
            "method {method} is not allowed on {}; the Allow header lists the methods it takes",
            uri.path()
        ),
    )
}

/// A request with a body must say it is JSON. A browser sends a JSON content type only after a
/// CORS preflight, so a page from another origin cannot get a write through as a "simple"
/// `text/plain` request.
pub async fn require_json(request: Request, next: Next) -> Response {
    let has_body = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim() != "0")
        || request.headers().contains_key(header::TRANSFER_ENCODING);
    let json = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if has_body && !json {
        return refused(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "a request body must be JSON, sent with 'Content-Type: application/json'",
        );
    }
    next.run(request).await
}

/// A request whose declared length is over the limit gets 413 at once, before its body is read
/// (the body limit alone would answer only once that much had arrived).
pub async fn refuse_oversize(request: Request, next: Next) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(declared) = declared.filter(|n| *n > MAX_BODY_BYTES as u64) {
        return refused(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("the request body is {declared} bytes; at most {MAX_BODY_BYTES} are accepted"),
        );
    }
    next.run(request).await
}
