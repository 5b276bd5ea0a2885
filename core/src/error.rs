//! One error type for every backend and every language binding: a stable kind, a message that
//! names the key and values involved, the failed compares of a conflict, and the source chain.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What went wrong, independent of the backend that reported it.
///
/// Bindings map each kind to one exception class (Python) or `code` string (JS), once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Bad input: an invalid key, an oversize value, too many transaction operations, an unknown
    /// option. Nothing was written.
    InvalidArgument,
    /// A transaction's checks failed; [`Error::conflicts`] lists every failed check.
    Conflict,
    /// A lock could not be acquired before the timeout; the waiter entry was removed.
    LockTimeout,
    /// A lock's lease was lost while it was held: another holder may have it now.
    LockLost,
    /// A lease expired or is unknown to the store.
    LeaseExpired,
    /// The store could not be reached or was busy; the operation may be retried.
    Unavailable,
    /// The store refused the credentials.
    Unauthorized,
    /// A bug or a corrupt store: the operation's outcome is unknown.
    Internal,
}

impl ErrorKind {
    /// The stable name of the kind, as bindings expose it (`err.code` in JS).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidArgument => "InvalidArgument",
            ErrorKind::Conflict => "Conflict",
            ErrorKind::LockTimeout => "LockTimeout",
            ErrorKind::LockLost => "LockLost",
            ErrorKind::LeaseExpired => "LeaseExpired",
            ErrorKind::Unavailable => "Unavailable",
            ErrorKind::Unauthorized => "Unauthorized",
            ErrorKind::Internal => "Internal",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One failed check of a transaction: the key, the index the caller expected and the index the
/// store holds (`0` means absent on either side).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conflict {
    pub key: String,
    pub expected: u64,
    pub actual: u64,
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "'{}' expected {}, actual {}",
            self.key,
            describe_index(self.expected),
            describe_index(self.actual)
        )
    }
}

fn describe_index(index: u64) -> String {
    if index == 0 {
        "absent".to_string()
    } else {
        format!("index {index}")
    }
}

const COMPACTED: &str = "have been compacted";

/// The error of every interlock operation.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    kind: ErrorKind,
    message: String,
    conflicts: Vec<Conflict>,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

/// The result type of every interlock operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error of `kind` with a message that names what was wrong.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            conflicts: Vec::new(),
            source: None,
        }
    }

    /// Bad input; nothing was written.
    pub fn invalid(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidArgument, message)
    }

    /// The store could not be reached or was busy.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Unavailable, message)
    }

    /// Something that should not happen.
    pub fn internal(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Internal, message)
    }

    /// A failed transaction, listing every failed check.
    pub fn conflict(conflicts: Vec<Conflict>) -> Self {
        let listed: Vec<String> = conflicts.iter().map(Conflict::to_string).collect();
        let message = format!(
            "concurrency conflict on {} key{}: {}",
            conflicts.len(),
            if conflicts.len() == 1 { "" } else { "s" },
            listed.join("; ")
        );
        Error {
            kind: ErrorKind::Conflict,
            message,
            conflicts,
            source: None,
        }
    }

    /// Attaches the underlying cause.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// Attaches failed checks to an error of another kind (a fenced write refused because the
    /// lock was lost is a `LockLost` that still lists its checks).
    pub fn with_conflicts(mut self, conflicts: Vec<Conflict>) -> Self {
        self.conflicts = conflicts;
        self
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// Every failed check of a transaction (empty unless the kind is `Conflict` or `LockLost`).
    pub fn conflicts(&self) -> &[Conflict] {
        &self.conflicts
    }

    /// True when the same operation may succeed if tried again (the store was unavailable or busy).
    pub fn is_retryable(&self) -> bool {
        self.kind == ErrorKind::Unavailable
    }

    /// A watch asked for history the store no longer keeps.
    pub(crate) fn compacted(from: u64, oldest: u64) -> Self {
        Error::invalid(format!(
            "cannot watch from index {from}: events before index {oldest} {COMPACTED}; read the \
             current state with list() and watch from its index + 1"
        ))
    }

    /// Whether this is the error of [`Error::compacted`].
    pub(crate) fn is_compacted(&self) -> bool {
        self.kind == ErrorKind::InvalidArgument && self.message.contains(COMPACTED)
    }

    pub(crate) fn prefix(mut self, context: impl fmt::Display) -> Self {
        self.message = format!("{context}: {}", self.message);
        self
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::invalid(format!("value is not valid JSON: {e}")).with_source(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflict_message_lists_every_key() {
        let e = Error::conflict(vec![
            Conflict {
                key: "accounts/1".into(),
                expected: 4,
                actual: 7,
            },
            Conflict {
                key: "accounts/2".into(),
                expected: 0,
                actual: 9,
            },
        ]);
        assert_eq!(e.kind(), ErrorKind::Conflict);
        assert_eq!(
            e.to_string(),
            "concurrency conflict on 2 keys: 'accounts/1' expected index 4, actual index 7; \
             'accounts/2' expected absent, actual index 9"
        );
        assert_eq!(e.conflicts().len(), 2);
        assert!(!e.is_retryable());
    }
}
