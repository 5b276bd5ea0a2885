//! The bottom layer of the server's replies: an interlock error as a reply (the status of its
//! kind and `{"error": {...}}`), the result type every handler returns, and the reading of a
//! JSON request body whose refusals name the field, the value and the rule in interlock's words.
//! It depends on no other module of the server.

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use interlock::Error;
use interlock::http::wire::{self, ErrorDetail, ErrorReply};
use serde::de::DeserializeOwned;
use serde_json::Value;

pub use doc::*;

/// An interlock error as a reply: the status of its kind and `{"error": {...}}`.
pub fn error_response(e: &Error) -> Response {
    let status = StatusCode::from_u16(wire::status_of(e.kind()))
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = ErrorReply {
        error: ErrorDetail::from(e),
    };
    (status, axum::Json(body)).into_response()
}

/// An `InvalidArgument` reply with another status than 400 (404, 405, 413, 415, …).
pub fn refused(status: StatusCode, message: &str) -> Response {
    let mut response = error_response(&Error::invalid(message));
    *response.status_mut() = status;
    response
}

/// A 404 with `message`, as JSON, of kind `NotFound`: a path the server does not serve, or a
/// key without an entry. No interlock error has that kind (a missing entry is a result, not an
/// error, everywhere else), so it is written here.
pub fn not_found(message: &str) -> Response {
    let body = ErrorReply {
        error: ErrorDetail {
            kind: "NotFound".to_string(),
            message: message.to_string(),
            conflicts: Vec::new(),
        },
    };
    (StatusCode::NOT_FOUND, axum::Json(body)).into_response()
}

/// The 504 of a request that took longer than the server's request timeout: an `Unavailable`
/// (a client may retry; a write cut short has an unknown outcome).
pub fn timed_out(timeout: std::time::Duration) -> Response {
    let mut response = error_response(&Error::unavailable(format!(
        "the request did not complete within the server's request timeout of {} \
         (--request-timeout); a write cut short may or may not have been made",
        interlock::validate::seconds(timeout)
    )));
    *response.status_mut() = StatusCode::GATEWAY_TIMEOUT;
    response
}

/// An error a handler returns: the reply of [`error_response`].
pub struct ApiError(pub Error);

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

/// Parses a JSON request body. A refusal names what was wrong in interlock's words: where the
/// body stops being JSON, or the field, the value found there and what the field takes.
pub fn body<T: DeserializeOwned>(bytes: &Bytes) -> Result<T, ApiError> {
    // `-0` is the integer 0, not the float -0.0 the JSON reader would make of it (every other
    // character keeps its place, for the messages below).
    let integers;
    let bytes =
        match std::str::from_utf8(bytes).map(interlock::validate::negative_zero_integers_as_zero) {
            Ok(std::borrow::Cow::Owned(text)) => {
                integers = Bytes::from(text);
                &integers
            }
            _ => bytes,
        };
    // An integer beyond 64 bits would be read as a float, another number: refused, not rounded.
    if let Some(number) = std::str::from_utf8(bytes)
        .ok()
        .and_then(interlock::validate::inexact_integer)
    {
        let shown = if number.chars().count() > 60 {
            format!("{}…", number.chars().take(60).collect::<String>())
        } else {
            number.to_string()
        };
        return Err(ApiError(Error::invalid(format!(
            "the request body is not valid: it has the integer {shown}, beyond the 64-bit range \
             JSON numbers are kept exactly in ({} to {}); send it as a string, e.g. \"{shown}\"",
            i64::MIN,
            u64::MAX
        ))));
    }
    // First the JSON itself, refusing a field given twice (which a parse into a `Value` would
    // let the last one win).
    let mut json = serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, Unique>(&mut json) {
        Ok(Unique) => json.end().map_err(|e| not_json(bytes, &e))?,
        Err(e) if e.inner().is_data() => {
            return Err(ApiError(Error::invalid(misfit(&Value::Null, &e))));
        }
        Err(e) => return Err(not_json(bytes, e.inner())),
    }
    let value: Value = serde_json::from_slice(bytes).map_err(|e| not_json(bytes, &e))?;
    if !value.is_object() {
        return Err(ApiError(Error::invalid(format!(
            "the request body is not valid: it must be a JSON object, got {}",
            shown(&value)
        ))));
    }
    serde_path_to_error::deserialize::<_, T>(&value)
        .map_err(|e| ApiError(Error::invalid(misfit(&value, &e))))
}

/// Any JSON whose objects have no field twice.
struct Unique;

impl<'de> serde::Deserialize<'de> for Unique {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(Unique)
    }
}

impl<'de> serde::de::Visitor<'de> for Unique {
    type Value = Unique;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Unique, E> {
        Ok(Unique)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Unique, E> {
        Ok(Unique)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Unique, E> {
        Ok(Unique)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Unique, E> {
        Ok(Unique)
    }
    fn visit_str<E>(self, _: &str) -> Result<Unique, E> {
        Ok(Unique)
    }
    fn visit_unit<E>(self) -> Result<Unique, E> {
        Ok(Unique)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Unique, A::Error> {
        while seq.next_element::<Unique>()?.is_some() {}
        Ok(Unique)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Unique, A::Error> {
        let mut seen = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                return Err(serde::de::Error::custom(format_args!(
                    "duplicate field `{key}`"
                )));
            }
            map.next_value::<Unique>()?;
        }
        Ok(Unique)
    }
}

/// Why a body is not JSON, and where.
fn not_json(bytes: &Bytes, e: &serde_json::Error) -> ApiError {
    let message = if bytes.iter().all(u8::is_ascii_whitespace) {
        "the request body is not valid: it is empty; this route takes a JSON object".to_string()
    } else if e.to_string().contains("recursion limit") {
        format!(
            "the request body is not valid: it nests arrays and objects deeper than the \
             recursion limit of 128 (at line {}, column {})",
            e.line(),
            e.column()
        )
    } else if e.to_string().contains("number out of range") {
        format!(
            "the request body is not valid: a number is out of range (line {}, column {})",
            e.line(),
            e.column()
        )
    } else if e.is_eof() {
        format!(
            "the request body is not valid JSON: it ends too early (at line {}, column {})",
            e.line(),
            e.column()
        )
    } else {
        format!(
            "the request body is not valid JSON: unexpected text at line {}, column {}",
            e.line(),
            e.column()
        )
    };
    ApiError(Error::invalid(message))
}

/// The message for a JSON body that does not fit its route: the field (as a path such as
/// `ops[0].put.index`), the value found there and the rule.
fn misfit(body: &Value, e: &serde_path_to_error::Error<serde_json::Error>) -> String {
    let segments: Vec<&serde_path_to_error::Segment> = e.path().iter().collect();
    // Where the path leads past what the body has (a kind named by a string, not an object),
    // the message names what is there.
    let (found, depth) = value_at(body, &segments);
    let segments = if body.is_null() {
        &segments[..]
    } else {
        &segments[..depth]
    };
    let path = field_path(segments);
    let inner = e.inner().to_string();
    // The path ends at the field itself where the deserializer got to it (unknown, given
    // twice), and at its object where it did not (missing).
    let field = |name: &str| {
        if path.is_empty() {
            format!("field '{name}'")
        } else if path == name || path.ends_with(&format!(".{name}")) {
            format!("field '{path}'")
        } else {
            format!("field '{path}.{name}'")
        }
    };
    let here = if path.is_empty() {
        "it".to_string()
    } else {
        format!("field '{path}'")
    };
    let why = if let Some(name) = between(&inner, "missing field `", "`") {
        format!("{} is required and missing", field(name))
    } else if let Some(name) = between(&inner, "duplicate field `", "`") {
        format!("{} is given twice", field(name))
    } else if let Some(name) = between(&inner, "unknown field `", "`") {
        format!(
            "{} is not one this route takes{}",
            field(name),
            expected_names(&inner, "; it takes ")
        )
    } else if let Some(name) = between(&inner, "unknown variant `", "`") {
        format!(
            "{here} names the unknown kind '{name}'{}",
            expected_names(&inner, "; the kinds are ")
        )
    } else {
        let found = shown(found);
        match inner.split_once(", expected ") {
            Some((_, expected)) => format!(
                "{here} must be {}, got {found}",
                rule_of(expected.split(" at line ").next().unwrap_or(expected))
            ),
            None => format!("{here} is not valid here: got {found}"),
        }
    };
    format!("the request body is not valid: {why}")
}

/// A value as JSON, cut short past 64 characters.
fn shown(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 64 {
        format!("{}…", text.chars().take(64).collect::<String>())
    } else {
        text
    }
}

/// `ops[0].put.index` for a serde path (empty at the top).
fn field_path(segments: &[&serde_path_to_error::Segment]) -> String {
    let mut path = String::new();
    for segment in segments {
        match segment {
            serde_path_to_error::Segment::Seq { index } => path.push_str(&format!("[{index}]")),
            serde_path_to_error::Segment::Map { key } => {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
            }
            serde_path_to_error::Segment::Enum { variant } => {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(variant);
            }
            serde_path_to_error::Segment::Unknown => {}
        }
    }
    path
}

/// The JSON at a serde path, if it is there.
/// The JSON at the longest start of a serde path that is in the body, and how many of the
/// path's segments that start has.
fn value_at<'v>(body: &'v Value, segments: &[&serde_path_to_error::Segment]) -> (&'v Value, usize) {
    let mut at = body;
    for (i, segment) in segments.iter().enumerate() {
        let next = match segment {
            serde_path_to_error::Segment::Seq { index } => at.get(index),
            serde_path_to_error::Segment::Map { key } => at.get(key),
            serde_path_to_error::Segment::Enum { variant } => at.get(variant),
            serde_path_to_error::Segment::Unknown => None,
        };
        match next {
            Some(next) => at = next,
            None => return (at, i),
        }
    }
    (at, segments.len())
}

/// What a field takes, in a person's words, for the deserializer's name of it.
fn rule_of(expected: &str) -> String {
    let expected = expected.trim();
    match expected {
        "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => "a non-negative integer".into(),
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => "an integer".into(),
        "f32" | "f64" => "a number".into(),
        "a boolean" => "true or false".into(),
        "a string" | "a borrowed string" | "a character" => "a string".into(),
        "a sequence" => "an array".into(),
        "a map" => "an object".into(),
        "map with a single key" => "an object with one field, named after its kind".into(),
        _ if expected.starts_with("struct ") || expected.starts_with("map") => "an object".into(),
        _ if expected.starts_with("enum") || expected.contains("variant") => {
            "an object with one of the kinds this route takes as its only field".into()
        }
        _ if expected.starts_with("a sequence") || expected.starts_with("tuple") => {
            "an array".into()
        }
        // Messages the core's own types give are already in interlock's words.
        _ => expected.replace('`', "'"),
    }
}

/// The names a deserializer lists after "expected" (`a`, `b` or `c`), as `{lead}a, b, c`.
fn expected_names(message: &str, lead: &str) -> String {
    let Some((_, list)) = message.split_once("expected ") else {
        return String::new();
    };
    let names: Vec<&str> = list.split('`').skip(1).step_by(2).collect();
    if names.is_empty() {
        String::new()
    } else {
        format!("{lead}{}", names.join(", "))
    }
}

fn between<'t>(text: &'t str, start: &str, end: &str) -> Option<&'t str> {
    let (_, rest) = text.split_once(start)?;
    rest.split_once(end).map(|(inside, _)| inside)
}

/// The error replies the routes share, for the OpenAPI document: only their descriptions and
/// examples are used. The route table (`api.rs`) adds them to each route by what it takes.
#[allow(dead_code)]
mod doc {
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

    /// The request took longer than the server's `--request-timeout` (`Unavailable`). A write
    /// cut short has an unknown outcome.
    #[derive(ToResponse)]
    #[response(example = json!({"error": {"kind": "Unavailable",
        "message": "the request did not complete within the server's request timeout of 30 s \
            (--request-timeout); a write cut short may or may not have been made"}}))]
    pub struct GatewayTimeout(ErrorReply);
}
