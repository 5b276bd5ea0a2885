//! Choosing a backend by URL (DESIGN §8): `mem://`, `sqlite:///abs/path.db`, `sqlite://rel.db`,
//! and the default store when no URL is given.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::mem::MemBackend;
use crate::validate::DEFAULT_MAX_VALUE_BYTES;

/// The environment variable naming the default store.
pub const URL_ENV: &str = "INTERLOCK_URL";

/// The URL used when none is given: `INTERLOCK_URL`, else the embedded store in the user's data
/// directory (`~/.local/share/interlock/default.db` on Linux).
pub fn default_url() -> Result<String> {
    if let Ok(url) = std::env::var(URL_ENV) {
        if !url.trim().is_empty() {
            return Ok(url);
        }
    }
    let dir = dirs::data_dir().ok_or_else(|| {
        Error::invalid(format!(
            "no user data directory is known on this system; set {URL_ENV} to a store URL"
        ))
    })?;
    Ok(format!(
        "sqlite://{}",
        dir.join("interlock").join("default.db").display()
    ))
}

struct Parsed<'a> {
    scheme: &'a str,
    rest: &'a str,
    query: HashMap<String, String>,
}

fn split(url: &str) -> Result<Parsed<'_>> {
    let (scheme, after) = url.split_once("://").ok_or_else(|| {
        Error::invalid(format!(
            "store URL '{url}' has no scheme; expected mem://, sqlite://PATH or etcd://HOSTS"
        ))
    })?;
    let (rest, query) = match after.split_once('?') {
        Some((r, q)) => (r, q),
        None => (after, ""),
    };
    let query = url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    Ok(Parsed {
        scheme,
        rest,
        query,
    })
}

fn max_value_bytes(url: &str, query: &mut HashMap<String, String>) -> Result<usize> {
    match query.remove("max_value_bytes") {
        None => Ok(DEFAULT_MAX_VALUE_BYTES),
        Some(v) => {
            let n: usize = v.parse().map_err(|_| {
                Error::invalid(format!(
                    "max_value_bytes={v} in '{url}' is not a number of bytes"
                ))
            })?;
            if n == 0 || n > DEFAULT_MAX_VALUE_BYTES {
                return Err(Error::invalid(format!(
                    "max_value_bytes={n} in '{url}' must be between 1 and {DEFAULT_MAX_VALUE_BYTES}"
                )));
            }
            Ok(n)
        }
    }
}

fn reject_unknown(url: &str, query: &HashMap<String, String>) -> Result<()> {
    if let Some(k) = query.keys().next() {
        return Err(Error::invalid(format!(
            "unknown option '{k}' in store URL '{url}'"
        )));
    }
    Ok(())
}

/// Opens the backend a URL names.
pub async fn open(url: &str) -> Result<Arc<dyn Backend>> {
    let Parsed {
        scheme,
        rest,
        mut query,
    } = split(url)?;
    let max = max_value_bytes(url, &mut query)?;
    match scheme {
        "mem" => {
            reject_unknown(url, &query)?;
            Ok(Arc::new(mem_store(rest, max)))
        }
        #[cfg(not(target_family = "wasm"))]
        "sqlite" => {
            let durable = match query.remove("sync").as_deref() {
                None | Some("full") => true,
                Some("normal") => false,
                Some(other) => {
                    return Err(Error::invalid(format!(
                        "sync={other} in '{url}': expected 'full' (the default) or 'normal'"
                    )));
                }
            };
            reject_unknown(url, &query)?;
            if rest.is_empty() {
                return Err(Error::invalid(format!(
                    "store URL '{url}' names no file; use sqlite:///absolute/path.db or sqlite://relative.db"
                )));
            }
            let path = PathBuf::from(
                percent_encoding::percent_decode_str(rest)
                    .decode_utf8()
                    .map_err(|_| Error::invalid(format!("store URL '{url}' is not UTF-8")))?
                    .into_owned(),
            );
            let options = crate::sqlite::SqliteOptions {
                durable,
                max_value_bytes: max,
            };
            Ok(Arc::new(
                crate::sqlite::SqliteBackend::open(&path, options).await?,
            ))
        }
        other => Err(Error::invalid(format!(
            "unsupported store scheme '{other}' in '{url}'; this build supports mem:// and sqlite://"
        ))),
    }
}

/// `mem://` is a new store each time; `mem://NAME` is shared by every client of the process
/// that names it.
fn mem_store(name: &str, max: usize) -> MemBackend {
    use std::sync::{Mutex, OnceLock};
    static NAMED: OnceLock<Mutex<HashMap<String, MemBackend>>> = OnceLock::new();
    if name.is_empty() {
        return MemBackend::new("", max);
    }
    let mut named = NAMED
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    named
        .entry(name.to_string())
        .or_insert_with(|| MemBackend::new(name, max))
        .clone()
}
