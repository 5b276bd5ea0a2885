//! Fresh stores for tests: each test gets its own, and can open several clients on it.

use std::sync::atomic::{AtomicU64, Ordering};

use interlock::Client;
use tempfile::TempDir;

/// A store created for one test; dropped with it.
pub struct Store {
    pub url: String,
    _dir: Option<TempDir>,
}

impl Store {
    /// A fresh in-process store, shared by every client that connects to its URL.
    pub fn mem() -> Store {
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        Store {
            url: format!("mem://test-{}-{n}", std::process::id()),
            _dir: None,
        }
    }

    /// A fresh SQLite file in a temporary directory.
    pub fn sqlite() -> Store {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("store.db").display());
        Store {
            url,
            _dir: Some(dir),
        }
    }

    /// A store at a given URL, kept as is.
    pub fn at(url: impl Into<String>) -> Store {
        Store {
            url: url.into(),
            _dir: None,
        }
    }

    /// A new client on this store.
    pub async fn client(&self) -> Client {
        Client::connect(&self.url)
            .await
            .unwrap_or_else(|e| panic!("connect {}: {e}", self.url))
    }

    /// The store URL with extra query options.
    pub fn url_with(&self, query: &str) -> String {
        let sep = if self.url.contains('?') { '&' } else { '?' };
        format!("{}{sep}{query}", self.url)
    }
}
