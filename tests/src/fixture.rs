//! Fresh stores for tests: each test gets its own, and can open several clients on it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use interlock::Client;
use tempfile::TempDir;

/// A store created for one test; dropped with it.
pub struct Store {
    pub url: String,
    _dir: Option<TempDir>,
    /// Held by a test that needs the shared etcd cluster to itself.
    _exclusive: Option<MutexGuard<'static, ()>>,
    /// The server in front of the store, and the store it serves (dropped after the server).
    _served: Option<(crate::server::Server, Box<Store>)>,
}

impl Store {
    /// A fresh in-process store, shared by every client that connects to its URL.
    pub fn mem() -> Store {
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        Store {
            url: format!("mem://test-{}-{n}", std::process::id()),
            _dir: None,
            _exclusive: None,
            _served: None,
        }
    }

    /// A fresh SQLite file in a temporary directory.
    pub fn sqlite() -> Store {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("store.db").display());
        Store {
            url,
            _dir: Some(dir),
            _exclusive: None,
            _served: None,
        }
    }

    /// A store at a given URL, kept as is.
    pub fn at(url: impl Into<String>) -> Store {
        Store {
            url: url.into(),
            _dir: None,
            _exclusive: None,
            _served: None,
        }
    }

    /// `store` behind a real `interlock serve` process (the binary at `exe`): the returned
    /// store's URL is the server's `http://127.0.0.1:PORT`.
    pub fn served(store: Store, exe: impl AsRef<std::path::Path>) -> Store {
        let server = crate::server::Server::start(exe, &store.url, &[]);
        let mut served = Store::at(server.url.clone());
        served._served = Some((server, Box::new(store)));
        served
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

impl Store {
    /// A fresh key prefix on the shared 3-member etcd cluster, which the test has to itself:
    /// the conformance suite asserts on the store-wide index (etcd's revision), so no other
    /// test may write meanwhile, and the leases earlier tests left behind are revoked first so
    /// that none of them expires (a write) during this one.
    pub fn etcd() -> Store {
        static EXCLUSIVE: Mutex<()> = Mutex::new(());
        let guard = EXCLUSIVE.lock().unwrap_or_else(PoisonError::into_inner);
        let cluster = crate::etcd::EtcdCluster::shared();
        let leader = cluster.wait_for_leader(Duration::from_secs(10));
        let leases = cluster
            .post(leader, "/v3/lease/leases", &serde_json::json!({}))
            .unwrap_or_else(|e| panic!("listing the etcd leases: {e}"));
        for lease in leases["leases"].as_array().into_iter().flatten() {
            let id = &lease["ID"];
            // An unknown lease (expired meanwhile) is fine.
            let _ = cluster.post(leader, "/v3/lease/revoke", &serde_json::json!({ "ID": id }));
        }
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let mut store = Store::at(cluster.url(&format!("conformance-{}-{n}/", std::process::id())));
        store._exclusive = Some(guard);
        store
    }
}
