//! Choosing a backend by URL (docs/design.md, Stores): `mem://`, `sqlite:///abs/path.db`,
//! `sqlite://rel.db`, and the default store when no URL is given.

use std::collections::HashMap;
#[cfg(not(target_family = "wasm"))]
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

/// The schemes this build opens, for messages.
#[cfg(not(target_family = "wasm"))]
const SUPPORTED: &str = "mem://, sqlite://PATH, etcd://HOST:PORT,... or http://HOST:PORT";
#[cfg(target_family = "wasm")]
const SUPPORTED: &str = "mem:// or http://HOST:PORT";

struct Parsed<'a> {
    scheme: &'a str,
    rest: &'a str,
    query: HashMap<String, String>,
}

fn split(url: &str) -> Result<Parsed<'_>> {
    let shown = redact(url);
    let (scheme, after) = url.split_once("://").ok_or_else(|| {
        Error::invalid(format!(
            "store URL '{shown}' does not start with a scheme and '://'; expected {SUPPORTED}"
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
    let shown = redact(url);
    match query.remove("max_value_bytes") {
        None => Ok(DEFAULT_MAX_VALUE_BYTES),
        Some(v) => {
            let n: usize = v.parse().map_err(|_| {
                Error::invalid(format!(
                    "max_value_bytes={v} in '{shown}' is not a number of bytes"
                ))
            })?;
            if n == 0 || n > DEFAULT_MAX_VALUE_BYTES {
                return Err(Error::invalid(format!(
                    "max_value_bytes={n} in '{shown}' must be between 1 and {DEFAULT_MAX_VALUE_BYTES}"
                )));
            }
            Ok(n)
        }
    }
}

/// The query options a store URL of `scheme` takes, for checking and for messages; None for a
/// scheme this build does not open.
pub fn url_options(scheme: &str) -> Option<&'static [&'static str]> {
    match scheme {
        "mem" | "http" | "https" => Some(&["max_value_bytes"]),
        #[cfg(not(target_family = "wasm"))]
        "sqlite" => Some(&["max_value_bytes", "sync"]),
        #[cfg(not(target_family = "wasm"))]
        "etcd" | "etcd+http" | "etcd+https" => Some(&[
            "ca",
            "failover_timeout",
            "max_txn_ops",
            "max_value_bytes",
            "prefix",
            "timeout",
            "watch_refresh",
        ]),
        _ => None,
    }
}

fn reject_unknown(url: &str, scheme: &str, query: &HashMap<String, String>) -> Result<()> {
    let shown = redact(url);
    if let Some(k) = query.keys().next() {
        let known = url_options(scheme).unwrap_or_default().join(", ");
        return Err(Error::invalid(format!(
            "unknown option '{k}' in store URL '{shown}' (known for {scheme}://: {known})"
        )));
    }
    Ok(())
}

/// Options of [`Client::connect_with`](crate::Client::connect_with).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectOptions {
    /// The bearer token of an interlock server (`http://`); `None`: `INTERLOCK_TOKEN`, if set.
    /// The other stores take no token.
    pub token: Option<String>,
}

/// Opens the backend a URL names.
pub async fn open(url: &str, options: &ConnectOptions) -> Result<Arc<dyn Backend>> {
    let Parsed {
        scheme,
        rest,
        mut query,
    } = split(url)?;
    let max = max_value_bytes(url, &mut query)?;
    match scheme {
        "mem" => {
            reject_unknown(url, scheme, &query)?;
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
            reject_unknown(url, scheme, &query)?;
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
        #[cfg(not(target_family = "wasm"))]
        "etcd" | "etcd+http" | "etcd+https" => {
            let options = etcd_options(url, scheme, rest, &mut query, max)?;
            reject_unknown(url, scheme, &query)?;
            Ok(Arc::new(crate::etcd::EtcdBackend::open(options)?))
        }
        "http" | "https" => {
            reject_unknown(url, scheme, &query)?;
            let rest = rest.trim_end_matches('/');
            if rest.is_empty() || rest.contains('/') {
                return Err(Error::invalid(format!(
                    "store URL '{}' must name a server as {scheme}://HOST:PORT, with no path",
                    redact(url)
                )));
            }
            if rest.contains('@') {
                return Err(Error::invalid(format!(
                    "store URL '{}' has credentials in it; an interlock server takes a bearer \
                     token (the token option, or INTERLOCK_TOKEN) instead",
                    redact(url)
                )));
            }
            if ::url::Url::parse(&format!("{scheme}://{rest}")).is_err() {
                return Err(Error::invalid(format!(
                    "store URL '{}' does not name a server as {scheme}://HOST:PORT",
                    redact(url)
                )));
            }
            let backend = crate::http::HttpBackend::open(
                &format!("{scheme}://{rest}"),
                options.token.clone(),
            )
            .await?;
            Ok(Arc::new(backend.with_max_value_bytes(max)))
        }
        #[cfg(target_family = "wasm")]
        "sqlite" | "etcd" | "etcd+http" | "etcd+https" => Err(Error::invalid(format!(
            "store URL '{}': {scheme}:// stores cannot be opened from WebAssembly; expected \
             {SUPPORTED} (put an interlock server in front of the {scheme} store)",
            redact(url)
        ))),
        other => Err(Error::invalid(format!(
            "unsupported store scheme '{other}' in '{}'; expected {SUPPORTED}",
            redact(url)
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

/// `etcd://[user[:password]@]host:port,host:port[/]?prefix=app/&timeout=5&ca=/path/ca.pem`.
#[cfg(not(target_family = "wasm"))]
fn etcd_options(
    url: &str,
    scheme: &str,
    rest: &str,
    query: &mut HashMap<String, String>,
    max_value_bytes: usize,
) -> Result<crate::etcd::EtcdOptions> {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8()
            .map(|c| c.into_owned())
            .map_err(|_| Error::invalid(format!("store URL '{}' is not UTF-8", redact(url))))
    };
    let rest = rest.trim_end_matches('/');
    let (userinfo, hosts) = match rest.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, rest),
    };
    let mut endpoints = Vec::new();
    for host in hosts.split(',') {
        let host = host.trim();
        if host.is_empty() {
            continue;
        }
        // An IPv6 address needs brackets: [::1]:2379.
        let port_ok = host.rsplit_once(':').is_some_and(|(h, p)| {
            !h.is_empty()
                && p.parse::<u16>().is_ok()
                && (!h.contains(':') || (h.starts_with('[') && h.ends_with(']')))
        });
        if !port_ok {
            return Err(Error::invalid(format!(
                "'{host}' in store URL '{}' is not host:port (an IPv6 address goes in brackets: [::1]:2379)",
                redact(url)
            )));
        }
        endpoints.push(host.to_string());
    }
    if endpoints.is_empty() {
        return Err(Error::invalid(format!(
            "store URL '{}' names no etcd member; use etcd://host:2379,host:2379",
            redact(url)
        )));
    }
    let mut options = crate::etcd::EtcdOptions::new(endpoints);
    options.tls = scheme == "etcd+https";
    options.max_value_bytes = max_value_bytes;
    if let Some(userinfo) = userinfo {
        let (user, password) = match userinfo.split_once(':') {
            Some((u, p)) => (decode(u)?, Some(decode(p)?)),
            None => (decode(userinfo)?, None),
        };
        options.user = Some(user);
        options.password = password;
    }
    if let Some(prefix) = query.remove("prefix") {
        options.prefix = prefix;
    }
    let seconds = |name: &str, v: String| -> Result<std::time::Duration> {
        v.parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && *s > 0.0 && *s < 86_400.0)
            .map(std::time::Duration::from_secs_f64)
            .ok_or_else(|| {
                Error::invalid(format!(
                    "{name}={v} in '{}' is not a number of seconds",
                    redact(url)
                ))
            })
    };
    if let Some(v) = query.remove("timeout") {
        options.request_timeout = seconds("timeout", v)?;
    }
    if let Some(v) = query.remove("failover_timeout") {
        options.failover_timeout = seconds("failover_timeout", v)?;
    }
    if let Some(v) = query.remove("watch_refresh") {
        options.watch_refresh = seconds("watch_refresh", v)?;
    }
    if let Some(v) = query.remove("max_txn_ops") {
        options.max_txn_ops = v.parse().map_err(|_| {
            Error::invalid(format!(
                "max_txn_ops={v} in '{}' is not a number",
                redact(url)
            ))
        })?;
    }
    if let Some(ca) = query.remove("ca") {
        options.ca_file = Some(PathBuf::from(ca));
    }
    Ok(options)
}

/// The URL without its password, for messages.
fn redact(url: &str) -> String {
    let start = url.find("://").map_or(0, |s| s + 3);
    match url[start..].rfind('@').map(|at| start + at) {
        Some(at) => match url[start..at].split_once(':') {
            Some((user, _)) => format!("{}{user}:***{}", &url[..start], &url[at..]),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(redact("etcd://u:secret@h:1?x=1"), "etcd://u:***@h:1?x=1");
        assert_eq!(redact("u:secret@h:1"), "u:***@h:1");
        assert_eq!(redact("etcd://u:p@ss@h:1"), "etcd://u:***@h:1");
        assert_eq!(redact("sqlite:///a/b.db"), "sqlite:///a/b.db");
    }

    #[cfg(not(target_family = "wasm"))]
    #[test]
    fn a_url_without_a_known_scheme_lists_every_scheme_this_build_opens() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        for url in ["/var/lib/app.db", "redis://h:6379"] {
            let err = match rt.block_on(super::open(url, &Default::default())) {
                Ok(_) => panic!("{url} opened"),
                Err(e) => e.to_string(),
            };
            assert!(err.contains(&format!("'{url}'")), "{err}");
            for scheme in ["mem://", "sqlite://", "etcd://", "http://"] {
                assert!(err.contains(scheme), "{url}: {err}");
            }
        }
    }

    #[cfg(not(target_family = "wasm"))]
    #[test]
    fn an_unknown_option_is_refused_naming_the_options_of_its_store() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let sqlite = format!("sqlite://{}?sinc=normal", dir.path().join("a.db").display());
        for (url, known) in [
            ("mem://?sinc=normal", "max_value_bytes"),
            (sqlite.as_str(), "max_value_bytes, sync"),
            ("etcd://h:2379?sinc=1", "ca, failover_timeout, max_txn_ops"),
        ] {
            let err = match rt.block_on(super::open(url, &Default::default())) {
                Ok(_) => panic!("{url} opened"),
                Err(e) => e.to_string(),
            };
            assert!(err.contains("unknown option 's"), "{url}: {err}");
            assert!(err.contains("(known for "), "{url}: {err}");
            assert!(err.contains(known), "{url}: {err}");
        }
        assert_eq!(super::url_options("redis"), None);
    }

    #[cfg(not(target_family = "wasm"))]
    #[test]
    fn etcd_hosts_need_a_port_and_brackets_for_ipv6() {
        let parse = |rest: &str| {
            super::etcd_options("etcd://x", "etcd", rest, &mut Default::default(), 1024)
                .map(|o| o.endpoints)
        };
        assert_eq!(parse("[::1]:2379,h:1").unwrap(), ["[::1]:2379", "h:1"]);
        let err = parse("::1:2379").unwrap_err().to_string();
        assert!(
            err.contains("'::1:2379'") && err.contains("host:port"),
            "{err}"
        );
        assert!(parse("h").is_err());
        assert!(parse("h:99999").is_err());
        let o = super::etcd_options(
            "etcd://u:p%40w@h:1/",
            "etcd",
            "u:p%40w@h:1/",
            &mut Default::default(),
            1024,
        )
        .unwrap();
        assert_eq!(
            (o.user.as_deref(), o.password.as_deref()),
            (Some("u"), Some("p@w"))
        );
    }
}
