//! Core errors as the exception classes of `interlock.errors` (defined in Python, so that they
//! can also subclass `ValueError`, `TimeoutError` and `ConnectionError`).

use interlock::ErrorKind;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyList;

static MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

fn class_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidArgument => "InvalidArgumentError",
        ErrorKind::Conflict => "ConcurrencyError",
        ErrorKind::LockTimeout => "LockTimeoutError",
        ErrorKind::LockLost => "LockLostError",
        ErrorKind::LeaseExpired => "LeaseExpiredError",
        ErrorKind::Unavailable => "UnavailableError",
        ErrorKind::Unauthorized => "UnauthorizedError",
        _ => "InternalError",
    }
}

/// The Python exception for a core error: its class by kind, the message, `.kind`,
/// `.retryable`, `.conflicts` and a `__cause__` from the source chain.
pub fn to_py(py: Python<'_>, e: interlock::Error) -> PyErr {
    build(py, &e).unwrap_or_else(|fail| fail)
}

fn build(py: Python<'_>, e: &interlock::Error) -> Result<PyErr, PyErr> {
    let module = MODULE.get_or_try_init(py, || py.import("interlock.errors").map(Bound::unbind))?;
    let module = module.bind(py);
    let exc = module
        .getattr(class_name(e.kind()))?
        .call1((e.message(),))?;
    exc.setattr("kind", e.kind().as_str())?;
    exc.setattr("retryable", e.is_retryable())?;
    let conflict = module.getattr("Conflict")?;
    let conflicts = PyList::empty(py);
    for c in e.conflicts() {
        conflicts.append(conflict.call1((c.key.as_str(), c.expected, c.actual))?)?;
    }
    exc.setattr("conflicts", conflicts)?;
    if let Some(source) = std::error::Error::source(e) {
        let cause = PyException::new_err(source.to_string());
        exc.setattr("__cause__", cause.value(py))?;
    }
    Ok(PyErr::from_value(exc))
}

pub fn invalid(message: impl Into<String>) -> PyErr {
    Python::attach(|py| to_py(py, interlock::Error::invalid(message)))
}

pub fn internal(message: impl Into<String>) -> PyErr {
    Python::attach(|py| to_py(py, interlock::Error::internal(message)))
}
