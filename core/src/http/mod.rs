//! The `http://` backend: a store served by `interlock serve`, reached over its HTTP protocol
//! (`/v1/`, JSON shapes in [`wire`]). Every [`Backend`] method is one request, so the lock, lease
//! and session algorithms run in this client exactly as they do on the store itself; watch is a
//! Server-Sent Events stream.
//!
//! A request that fails in transport (refused, reset, timed out) is `Unavailable`: a commit's
//! outcome is then unknown, as over etcd, and the algorithms treat it so.

pub mod wire;

use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::backend::{
    Backend, EventStream, LeaseGrant, Limits, RangeRead, Read, ReadResponse, TxnRequest,
    TxnResponse,
};
use crate::error::{Error, ErrorKind, Result};
use crate::model::{Event, LeaseId};

use wire::{
    CommitReply, CommitRequest, ErrorReply, GrantReply, GrantRequest, Info, KeepaliveReply,
    ReadReply, ReadRequest, RevokeReply, TtlReply, TtlRequest, WireRead,
};

/// The environment variable holding the server's bearer token when none is given.
pub const TOKEN_ENV: &str = "INTERLOCK_TOKEN";

/// How long a request (other than a watch) may take before it is `Unavailable`.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A store behind an interlock server.
pub struct HttpBackend {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
    info: Info,
}

impl HttpBackend {
    /// Connects to the server at `base` (`http://host:port`, no trailing path) and asks what it
    /// serves, so that a wrong address or token fails here.
    pub async fn open(base: &str, token: Option<String>) -> Result<HttpBackend> {
        // The crypto provider is chosen by the first TLS user of the process; ring is ours.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .build()
            .map_err(|e| Error::internal(format!("cannot build an HTTP client: {e}")))?;
        let token = token.or_else(|| std::env::var(TOKEN_ENV).ok().filter(|t| !t.is_empty()));
        let mut backend = HttpBackend {
            base: base.trim_end_matches('/').to_string(),
            token,
            http,
            info: Info {
                store: String::new(),
                max_value_bytes: crate::validate::DEFAULT_MAX_VALUE_BYTES,
                version: String::new(),
            },
        };
        backend.info = backend.call(Method::GET, "/v1/info", None::<&()>).await?;
        Ok(backend)
    }

    /// Lowers the value size limit below the server's (`?max_value_bytes=N`).
    pub fn with_max_value_bytes(mut self, max: usize) -> HttpBackend {
        self.info.max_value_bytes = self.info.max_value_bytes.min(max);
        self
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        req
    }

    async fn call<B: Serialize, R: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<R> {
        let mut req = self.request(method.clone(), path).timeout(REQUEST_TIMEOUT);
        if let Some(body) = body {
            req = req.json(body);
        }
        let what = || format!("{method} {}{path}", self.base);
        let response = req.send().await.map_err(|e| transport(&what(), e))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| transport(&what(), e))?;
        if !status.is_success() {
            return Err(server_error(&what(), status, &bytes));
        }
        serde_json::from_slice(&bytes).map_err(|e| {
            Error::internal(format!(
                "{}: the server's reply is not what was expected: {e}",
                what()
            ))
        })
    }
}

fn transport(what: &str, e: reqwest::Error) -> Error {
    let cause = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        "could not connect".to_string()
    } else {
        e.to_string()
    };
    Error::unavailable(format!("{what}: {cause}")).with_source(e)
}

fn server_error(what: &str, status: StatusCode, body: &[u8]) -> Error {
    match serde_json::from_slice::<ErrorReply>(body) {
        Ok(reply) => reply.error.into_error(),
        Err(_) => {
            let text = String::from_utf8_lossy(&body[..body.len().min(500)]).into_owned();
            let kind = match status.as_u16() {
                401 | 403 => ErrorKind::Unauthorized,
                400..=499 => ErrorKind::InvalidArgument,
                502..=504 => ErrorKind::Unavailable,
                _ => ErrorKind::Internal,
            };
            Error::new(kind, format!("{what}: {status}: {text}"))
        }
    }
}

#[async_trait]
impl Backend for HttpBackend {
    fn describe(&self) -> String {
        format!("{} ({})", self.base, self.info.store)
    }

    fn limits(&self) -> Limits {
        Limits {
            max_value_bytes: self.info.max_value_bytes,
        }
    }

    async fn read(&self, reads: Vec<Read>) -> Result<ReadResponse> {
        let body = ReadRequest {
            reads: reads.into_iter().map(WireRead::from).collect(),
        };
        let reply: ReadReply = self
            .call(Method::POST, "/v1/backend/read", Some(&body))
            .await?;
        reply.into_response()
    }

    async fn commit(&self, txn: TxnRequest) -> Result<TxnResponse> {
        let body = CommitRequest::from(txn);
        let reply: CommitReply = self
            .call(Method::POST, "/v1/backend/commit", Some(&body))
            .await?;
        reply.into_response()
    }

    async fn grant(&self, ttl: Duration) -> Result<LeaseGrant> {
        let body = GrantRequest {
            ttl: ttl.as_secs_f64(),
        };
        let reply: GrantReply = self.call(Method::POST, "/v1/leases", Some(&body)).await?;
        reply.into_grant()
    }

    async fn keepalive(&self, lease: LeaseId) -> Result<Duration> {
        let reply: KeepaliveReply = self
            .call(
                Method::POST,
                &format!("/v1/leases/{lease}/keepalive"),
                None::<&()>,
            )
            .await?;
        wire::seconds("ttl", reply.ttl)
    }

    async fn revoke(&self, lease: LeaseId) -> Result<bool> {
        let reply: RevokeReply = self
            .call(Method::DELETE, &format!("/v1/leases/{lease}"), None::<&()>)
            .await?;
        Ok(reply.revoked)
    }

    async fn time_to_live(&self, leases: &[LeaseId]) -> Result<Vec<Option<Duration>>> {
        let body = TtlRequest {
            ids: leases.iter().map(|l| l.to_string()).collect(),
        };
        let reply: TtlReply = self
            .call(Method::POST, "/v1/leases/ttl", Some(&body))
            .await?;
        reply
            .ttls
            .into_iter()
            .map(|t| t.map(|s| wire::seconds("ttl", s)).transpose())
            .collect()
    }

    async fn watch(&self, range: RangeRead, from: Option<u64>) -> Result<EventStream> {
        use eventsource_stream::Eventsource;

        let query = {
            let mut q = url::form_urlencoded::Serializer::new(String::new());
            q.append_pair("prefix", &range.prefix);
            q.append_pair("include_reserved", &range.include_reserved.to_string());
            if let Some(from) = from {
                q.append_pair("from", &from.to_string());
            }
            q.finish()
        };
        let what = format!("watch of '{}' at {}", range.prefix, self.base);
        let response = self
            .request(Method::GET, &format!("/v1/backend/watch?{query}"))
            .header("accept", "text/event-stream")
            .send()
            .await
            .map_err(|e| transport(&what, e))?;
        let status = response.status();
        if !status.is_success() {
            let bytes = response.bytes().await.map_err(|e| transport(&what, e))?;
            return Err(server_error(&what, status, &bytes));
        }
        let mut events = response.bytes_stream().eventsource();
        // The server says `ready` once its watch is in place: events committed after this
        // returns are seen.
        match events.next().await {
            Some(Ok(e)) if e.event == "ready" => {}
            Some(Ok(e)) if e.event == "error" => return Err(sse_error(&what, &e.data)),
            Some(Ok(e)) => {
                return Err(Error::internal(format!(
                    "{what}: expected the server's 'ready', got '{}'",
                    e.event
                )));
            }
            Some(Err(e)) => return Err(Error::unavailable(format!("{what}: {e}"))),
            None => {
                return Err(Error::unavailable(format!(
                    "{what}: the server closed the stream"
                )));
            }
        }
        let stream = futures::stream::unfold(Some(events), move |state| {
            let what = what.clone();
            async move {
                let mut events = state?;
                loop {
                    let item = match events.next().await {
                        None => Err(Error::unavailable(format!(
                            "{what}: the server ended the stream"
                        ))),
                        Some(Err(e)) => Err(Error::unavailable(format!("{what}: {e}"))),
                        Some(Ok(e)) => match e.event.as_str() {
                            "message" | "" => {
                                serde_json::from_str::<Event>(&e.data).map_err(|err| {
                                    Error::internal(format!("{what}: a malformed event: {err}"))
                                })
                            }
                            "error" => Err(sse_error(&what, &e.data)),
                            // Keep-alive pings and anything newer than this client.
                            _ => continue,
                        },
                    };
                    // After an error the stream ends.
                    let next = if item.is_ok() { Some(events) } else { None };
                    return Some((item, next));
                }
            }
        });
        Ok(Box::pin(stream))
    }
}

fn sse_error(what: &str, data: &str) -> Error {
    match serde_json::from_str::<wire::ErrorDetail>(data) {
        Ok(detail) => detail.into_error(),
        Err(_) => Error::internal(format!("{what}: the server reported an error: {data}")),
    }
}
