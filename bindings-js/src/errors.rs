//! Core errors across the boundary. Neither binding library can throw an `Error` subclass, so
//! the kind, message and conflicts travel as JSON after a marker, and `bindings-node/lib/errors.ts`
//! (the TypeScript of both packages) builds the real class.

use serde_json::json;

/// Must match `MARKER` in `bindings-node/lib/errors.ts`.
pub const MARKER: &str = "interlock-error:";

/// The message of the JS `Error` that carries `e`.
pub fn encode(e: &interlock::Error) -> String {
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
    format!("{MARKER}{body}")
}

pub fn invalid(message: impl Into<String>) -> interlock::Error {
    interlock::Error::invalid(message)
}

pub fn internal(message: impl Into<String>) -> interlock::Error {
    interlock::Error::internal(message)
}

/// `InvalidArgument` once `client` is closed: for the handles made from it whose core calls do
/// not check (sessions, leases).
pub fn check_open(client: &interlock::Client) -> crate::Result<()> {
    if client.is_closed() {
        return Err(invalid(format!(
            "the client of {} is closed",
            client.describe()
        )));
    }
    Ok(())
}
