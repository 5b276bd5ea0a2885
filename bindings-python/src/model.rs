//! Entries, compare-exchange results, watch events, list pages and lock queue entries as
//! read-only Python objects.

use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::convert::{ToPy, to_python};

/// Python's repr of a string, so that reprs read as Python.
fn r(py: Python<'_>, s: &str) -> PyResult<String> {
    Ok(pyo3::types::PyString::new(py, s).repr()?.to_string())
}

fn b(v: bool) -> &'static str {
    if v { "True" } else { "False" }
}

/// A stored key: its JSON value, the index of the write that last touched it, and its lease.
#[pyclass(frozen, module = "interlock._native")]
pub struct Entry {
    #[pyo3(get)]
    key: String,
    #[pyo3(get)]
    value: Py<PyAny>,
    #[pyo3(get)]
    index: u64,
    #[pyo3(get)]
    lease: Option<i64>,
}

#[pymethods]
impl Entry {
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "Entry(key={}, value={}, index={})",
            r(py, &self.key)?,
            self.value.bind(py).repr()?,
            self.index
        ))
    }

    fn __eq__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<bool> {
        let Ok(other) = other.cast::<Entry>() else {
            return Ok(false);
        };
        let other = other.get();
        Ok(self.key == other.key
            && self.index == other.index
            && self.lease == other.lease
            && self.value.bind(py).eq(other.value.bind(py))?)
    }
}

impl ToPy for interlock::Entry {
    fn to_py(self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let entry = Entry {
            value: to_python(py, &self.value)?.unbind(),
            key: self.key,
            index: self.index,
            lease: self.lease,
        };
        Ok(Py::new(py, entry)?.into_any())
    }
}

/// The outcome of `put` and `delete`. On success, the new index and value; on a failed compare,
/// the current index (0 if absent) and value. True in a boolean context when successful.
#[pyclass(frozen, module = "interlock._native")]
pub struct PutResult {
    #[pyo3(get)]
    successful: bool,
    #[pyo3(get)]
    index: u64,
    #[pyo3(get)]
    value: Py<PyAny>,
}

#[pymethods]
impl PutResult {
    fn __bool__(&self) -> bool {
        self.successful
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "PutResult(successful={}, index={}, value={})",
            b(self.successful),
            self.index,
            self.value.bind(py).repr()?
        ))
    }
}

impl ToPy for interlock::PutResult {
    fn to_py(self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let value = self.value.to_py(py)?;
        let r = PutResult {
            successful: self.successful,
            index: self.index,
            value,
        };
        Ok(Py::new(py, r)?.into_any())
    }
}

/// One change seen by a watch: `type` is "put" or "delete" (expiry deletes included).
#[pyclass(frozen, module = "interlock._native")]
pub struct Event {
    #[pyo3(get, name = "type")]
    kind: &'static str,
    #[pyo3(get)]
    key: String,
    #[pyo3(get)]
    value: Py<PyAny>,
    #[pyo3(get)]
    index: u64,
}

#[pymethods]
impl Event {
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "Event(type={}, key={}, value={}, index={})",
            r(py, self.kind)?,
            r(py, &self.key)?,
            self.value.bind(py).repr()?,
            self.index
        ))
    }
}

impl ToPy for interlock::Event {
    fn to_py(self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let kind = match self.kind {
            interlock::EventKind::Put => "put",
            interlock::EventKind::Delete => "delete",
        };
        let e = Event {
            kind,
            value: self.value.to_py(py)?,
            key: self.key,
            index: self.index,
        };
        Ok(Py::new(py, e)?.into_any())
    }
}

/// One page of `list`: entries in key order, all read at `index`; `more` says whether entries
/// follow (pass the last key as `after`). Iterating a page iterates its entries.
#[pyclass(frozen, module = "interlock._native")]
pub struct Page {
    #[pyo3(get)]
    entries: Py<PyList>,
    #[pyo3(get)]
    more: bool,
    #[pyo3(get)]
    index: u64,
}

#[pymethods]
impl Page {
    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.entries.bind(py).try_iter().map(Bound::into_any)
    }

    fn __len__(&self, py: Python<'_>) -> usize {
        self.entries.bind(py).len()
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "Page(<{} entries>, more={}, index={})",
            self.entries.bind(py).len(),
            b(self.more),
            self.index
        )
    }
}

impl ToPy for interlock::Page {
    fn to_py(self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let entries = PyList::empty(py);
        for e in self.entries {
            entries.append(e.to_py(py)?)?;
        }
        let page = Page {
            entries: entries.unbind(),
            more: self.more,
            index: self.index,
        };
        Ok(Py::new(py, page)?.into_any())
    }
}

/// One entry of a lock's queue: the holder first, then the waiters in arrival order.
#[pyclass(frozen, module = "interlock._native")]
pub struct LockWaiter {
    #[pyo3(get)]
    key: String,
    #[pyo3(get)]
    owner: Py<PyAny>,
    #[pyo3(get)]
    token: u64,
    #[pyo3(get)]
    holder: bool,
    #[pyo3(get)]
    lease: Option<i64>,
    #[pyo3(get)]
    ttl_left: Option<f64>,
}

#[pymethods]
impl LockWaiter {
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "LockWaiter(owner={}, token={}, holder={}, ttl_left={})",
            self.owner.bind(py).repr()?,
            self.token,
            b(self.holder),
            self.ttl_left
                .map_or_else(|| "None".to_string(), |t| format!("{t:.3}"))
        ))
    }
}

impl ToPy for interlock::LockWaiter {
    fn to_py(self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let w = LockWaiter {
            owner: to_python(py, &self.owner)?.unbind(),
            key: self.key,
            token: self.token,
            holder: self.holder,
            lease: self.lease,
            ttl_left: self.ttl_left.map(|d| d.as_secs_f64()),
        };
        Ok(Py::new(py, w)?.into_any())
    }
}
