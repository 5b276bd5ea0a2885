//! What every handler shares: the store's client, the server's token, the shutdown signal and
//! the metrics registry; and how the router is set up beyond that. With `reply.rs` and
//! `metrics.rs` this is the bottom layer: handlers, middleware and the router are built on it.

use std::sync::Arc;
use std::time::Duration;

use interlock::Client;
use interlock::backend::Backend;

use crate::metrics::Metrics;

#[derive(Clone)]
pub struct AppState {
    pub client: Client,
    pub token: Option<String>,
    /// Turns true when the server shuts down; watches end then.
    pub stop: tokio::sync::watch::Receiver<bool>,
    pub metrics: Arc<Metrics>,
}

impl AppState {
    pub fn new(
        client: Client,
        token: Option<String>,
        stop: tokio::sync::watch::Receiver<bool>,
    ) -> AppState {
        AppState {
            client,
            token,
            stop,
            metrics: Arc::new(Metrics::new()),
        }
    }

    pub fn backend(&self) -> &Arc<dyn Backend> {
        self.client.backend()
    }
}

/// How the router is set up beyond the state.
pub struct Options {
    /// Origins allowed to call from a browser (CORS); none: same origin only.
    pub cors_origins: Vec<axum::http::HeaderValue>,
    /// How long a request (other than a watch) may take; past it the reply is 504.
    pub request_timeout: Duration,
}
