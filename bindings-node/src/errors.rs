//! Core errors across the boundary. napi cannot throw Error subclasses, so the kind, message and
//! conflicts travel as JSON after a marker, and `lib/errors.ts` builds the real class.

use serde_json::json;

/// Must match `MARKER` in `lib/errors.ts`.
const MARKER: &str = "interlock-error:";

pub fn to_napi(e: interlock::Error) -> napi::Error {
    let conflicts: Vec<_> = e
        .conflicts()
        .iter()
        .map(|c| json!({ "key": c.key, "expected": c.expected, "actual": c.actual }))
        .collect();
    let body = json!({
        "kind": e.kind().as_str(),
        "message": e.message(),
        "conflicts": conflicts,
    });
    napi::Error::new(napi::Status::GenericFailure, format!("{MARKER}{body}"))
}

pub fn invalid(message: impl Into<String>) -> napi::Error {
    to_napi(interlock::Error::invalid(message))
}

pub fn internal(message: impl Into<String>) -> napi::Error {
    to_napi(interlock::Error::internal(message))
}

/// `.map_err(errors::to_napi)` for core results.
pub trait OrThrow<T> {
    fn or_throw(self) -> napi::Result<T>;
}

impl<T> OrThrow<T> for interlock::Result<T> {
    fn or_throw(self) -> napi::Result<T> {
        self.map_err(to_napi)
    }
}
