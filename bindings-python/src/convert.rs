//! JSON values across the boundary: Python dict/list/str/int/float/bool/None to and from
//! `serde_json::Value`, and core results to Python objects.
//!
//! Hand-written rather than through a serde bridge, so that a value JSON cannot hold (a set, a
//! NaN, a non-string key, an int beyond 64 bits, a cycle) is refused before anything is sent,
//! with an error naming where in the value it sits.

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde_json::{Map, Number, Value};

use crate::errors;

/// The deepest nesting of lists and dicts accepted: the core's rule, checked here too so that a
/// cycle is found without following it further.
const MAX_DEPTH: usize = interlock::validate::MAX_VALUE_DEPTH;

/// Why a str cannot be sent: it has no UTF-8 form.
const NOT_UNICODE: &str =
    "a str that is not valid Unicode (it holds a lone surrogate, U+D800 to U+DFFF)";

/// The longest path into a value shown in a message; a deeper one is cut in the middle.
const MAX_SHOWN_PATH: usize = 60;

/// Converts a Python value to JSON; `key` names the entry in errors.
pub fn to_json(key: &str, obj: &Bound<'_, PyAny>) -> PyResult<Value> {
    let mut path = String::from("$");
    convert(obj, &mut path, 0).map_err(|problem| {
        let at = if path == "$" {
            String::new()
        } else if path.chars().count() > MAX_SHOWN_PATH {
            let chars: Vec<char> = path.chars().collect();
            let head: String = chars[..MAX_SHOWN_PATH / 2].iter().collect();
            let tail: String = chars[chars.len() - MAX_SHOWN_PATH / 2..].iter().collect();
            format!(" at {head}…{tail}")
        } else {
            format!(" at {path}")
        };
        errors::invalid(format!("the value for '{key}' is not JSON{at}: {problem}"))
    })
}

/// `depth`: how many arrays and objects enclose `obj`.
fn convert(obj: &Bound<'_, PyAny>, path: &mut String, depth: usize) -> Result<Value, String> {
    if obj.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if obj.is_instance_of::<PyInt>() {
        if let Ok(i) = obj.extract::<i64>() {
            return Ok(Value::from(i));
        }
        if let Ok(u) = obj.extract::<u64>() {
            return Ok(Value::from(u));
        }
        return Err("an integer outside the 64-bit range".into());
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        let v = f.value();
        return Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| format!("{v} is not a JSON number"));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return s
            .to_cow()
            .map(|s| Value::String(s.into_owned()))
            .map_err(|_| NOT_UNICODE.to_string());
    }
    let container = obj.is_instance_of::<PyDict>()
        || obj.is_instance_of::<PyList>()
        || obj.is_instance_of::<PyTuple>();
    if container && depth >= MAX_DEPTH {
        return Err(format!(
            "nests lists or dicts more than {MAX_DEPTH} levels deep, the limit (a cycle?)"
        ));
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        let mut map = Map::new();
        for (k, v) in d.iter() {
            let Ok(k) = k.cast::<PyString>() else {
                return Err(format!(
                    "a dict key of type {} (JSON keys are strings)",
                    type_name(&k)
                ));
            };
            let k = k
                .to_cow()
                .map_err(|_| NOT_UNICODE.to_string())?
                .into_owned();
            let len = path.len();
            path.push_str(&format!("[{k:?}]"));
            let value = convert(&v, path, depth + 1)?;
            path.truncate(len);
            map.insert(k, value);
        }
        return Ok(Value::Object(map));
    }
    let items: Vec<Bound<'_, PyAny>> = if let Ok(l) = obj.cast::<PyList>() {
        l.iter().collect()
    } else if let Ok(t) = obj.cast::<PyTuple>() {
        t.iter().collect()
    } else {
        let name = type_name(obj);
        let article = if name.starts_with(['a', 'e', 'i', 'o', 'u']) {
            "an"
        } else {
            "a"
        };
        return Err(format!(
            "{article} {name} (use dict, list, str, int, float, bool or None)"
        ));
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let len = path.len();
        path.push_str(&format!("[{i}]"));
        out.push(convert(item, path, depth + 1)?);
        path.truncate(len);
    }
    Ok(Value::Array(out))
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "object".into())
}

/// Converts JSON to the Python value it reads as.
pub fn to_python<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_pyobject(py)?.into_any()
            } else if let Some(u) = n.as_u64() {
                u.into_pyobject(py)?.into_any()
            } else {
                n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any()
            }
        }
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(to_python(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (k, v) in map {
                dict.set_item(k, to_python(py, v)?)?;
            }
            dict.into_any()
        }
    })
}

/// A core result that becomes a Python object (under the GIL, after the wait).
pub trait ToPy {
    fn to_py(self, py: Python<'_>) -> PyResult<Py<PyAny>>;
}

macro_rules! plain {
    ($($t:ty),*) => {$(
        impl ToPy for $t {
            fn to_py(self, py: Python<'_>) -> PyResult<Py<PyAny>> {
                Ok(self.into_pyobject(py)?.to_owned().into_any().unbind())
            }
        }
    )*};
}
plain!(u64, i64, bool, String, f64);

impl ToPy for () {
    fn to_py(self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        Ok(py.None())
    }
}

impl ToPy for Value {
    fn to_py(self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        Ok(to_python(py, &self)?.unbind())
    }
}

impl ToPy for std::time::Duration {
    fn to_py(self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.as_secs_f64().to_py(py)
    }
}

impl<T: ToPy> ToPy for Option<T> {
    fn to_py(self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        match self {
            Some(v) => v.to_py(py),
            None => Ok(py.None()),
        }
    }
}

impl<T: ToPy> ToPy for Vec<T> {
    fn to_py(self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let list = PyList::empty(py);
        for item in self {
            list.append(item.to_py(py)?)?;
        }
        Ok(list.into_any().unbind())
    }
}

/// Seconds from Python (int or float) as a duration; `what` names the argument in errors. NaN,
/// infinities, negative numbers and durations too large to represent are InvalidArgument.
pub fn seconds(what: &str, secs: f64) -> PyResult<std::time::Duration> {
    if !secs.is_finite() || secs < 0.0 {
        return Err(errors::invalid(format!(
            "{what} must be a finite, non-negative number of seconds, not {secs}"
        )));
    }
    let max = interlock::validate::MAX_TTL;
    if secs > max.as_secs_f64() {
        return Err(errors::invalid(format!(
            "{what} of {secs} seconds is too large: the limit is {}",
            interlock::validate::seconds(max)
        )));
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}
