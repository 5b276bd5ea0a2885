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
    TxnResponse, WatchItem,
};
use crate::error::{Error, ErrorKind, Result};
use crate::model::{Event, LeaseId};
use crate::rt;

use wire::{
    CommitReply, CommitRequest, ErrorReply, GrantReply, GrantRequest, Info, KeepaliveReply,
    ReadReply, ReadRequest, RevokeReply, TtlReply, TtlRequest, WireRead,
};

/// The environment variable holding the server's bearer token when none is given.
pub const TOKEN_ENV: &str = "INTERLOCK_TOKEN";

/// How long a request (other than a watch) may take before it is `Unavailable`.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a broken watch keeps trying to reconnect before it reports `Unavailable`.
const WATCH_RECONNECT: Duration = Duration::from_secs(15);
/// A connection that has been silent this long is dead (the server pings every 15 s).
#[cfg(not(target_family = "wasm"))]
const READ_TIMEOUT: Duration = Duration::from_secs(45);
#[cfg(not(target_family = "wasm"))]
/// How long an idle connection to the server is kept for reuse: below the server's default
/// header-read timeout (30 s), after which it closes idle connections.
#[cfg(not(target_family = "wasm"))]
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(20);

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A store behind an interlock server.
pub struct HttpBackend {
    conn: Conn,
    info: Info,
}

/// The server's address and credentials; cheap to clone (reqwest's client is shared).
#[derive(Clone)]
struct Conn {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

type SseStream = std::pin::Pin<
    Box<
        dyn futures::Stream<
                Item = std::result::Result<
                    eventsource_stream::Event,
                    eventsource_stream::EventStreamError<reqwest::Error>,
                >,
            > + Send,
    >,
>;

impl HttpBackend {
    /// Connects to the server at `base` (`http://host:port`, no trailing path) and asks what it
    /// serves, so that a wrong address or token fails here.
    pub async fn open(base: &str, token: Option<String>) -> Result<HttpBackend> {
        #[cfg(not(target_family = "wasm"))]
        let http = {
            // The crypto provider is chosen by the first TLS user of the process; ring is ours.
            let _ = rustls::crypto::ring::default_provider().install_default();
            reqwest::Client::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .read_timeout(READ_TIMEOUT)
                // The server closes a connection idle for its header-read timeout (30 s by
                // default); dropping ours first keeps a request from racing that close.
                .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        };
        // In WebAssembly requests go through the host's `fetch`, which has its own timeouts.
        #[cfg(target_family = "wasm")]
        let http = reqwest::Client::builder();
        let http = http
            .build()
            .map_err(|e| Error::internal(format!("cannot build an HTTP client: {e}")))?;
        let token = token.or_else(|| std::env::var(TOKEN_ENV).ok().filter(|t| !t.is_empty()));
        if let Some(t) = &token {
            // It travels in the Authorization header, which cannot carry control characters.
            if t.chars().any(|c| c.is_control() || !c.is_ascii()) {
                return Err(Error::invalid(format!(
                    "the server token (the token option, or {TOKEN_ENV}) must be printable ASCII: it has a control or non-ASCII character"
                )));
            }
        }
        let mut backend = HttpBackend {
            conn: Conn {
                base: base.trim_end_matches('/').to_string(),
                token,
                http,
            },
            info: Info {
                store: String::new(),
                max_value_bytes: crate::validate::DEFAULT_MAX_VALUE_BYTES,
                version: String::new(),
            },
        };
        backend.info = backend
            .conn
            .call(Method::GET, "/v1/info", None::<&()>)
            .await?;
        Ok(backend)
    }

    /// Lowers the value size limit below the server's (`?max_value_bytes=N`).
    pub fn with_max_value_bytes(mut self, max: usize) -> HttpBackend {
        self.info.max_value_bytes = self.info.max_value_bytes.min(max);
        self
    }
}

impl Conn {
    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        req
    }

    async fn call<B: Serialize + Sync, R: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<R> {
        local(self.call_here(method, path, body)).await
    }

    async fn call_here<B: Serialize, R: DeserializeOwned>(
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

/// reqwest's futures and streams in WebAssembly are JavaScript promises, which are not `Send`;
/// there is one thread there, so they may be marked so (`SendWrapper` would panic if one ever
/// moved to another thread). Natively they are `Send` already.
#[cfg(target_family = "wasm")]
fn local<T>(inner: T) -> send_wrapper::SendWrapper<T> {
    send_wrapper::SendWrapper::new(inner)
}

#[cfg(not(target_family = "wasm"))]
fn local<T>(inner: T) -> T {
    inner
}

fn transport(what: &str, e: reqwest::Error) -> Error {
    let cause = if e.is_timeout() {
        "timed out".to_string()
    } else if is_connect(&e) {
        "could not connect".to_string()
    } else {
        e.to_string()
    };
    Error::unavailable(format!("{what}: {cause}")).with_source(e)
}

#[cfg(not(target_family = "wasm"))]
fn is_connect(e: &reqwest::Error) -> bool {
    e.is_connect()
}

/// `fetch` does not say why a request failed.
#[cfg(target_family = "wasm")]
fn is_connect(_: &reqwest::Error) -> bool {
    false
}

fn server_error(what: &str, status: StatusCode, body: &[u8]) -> Error {
    let by_status = || match status.as_u16() {
        401 | 403 => ErrorKind::Unauthorized,
        400..=499 => ErrorKind::InvalidArgument,
        502..=504 => ErrorKind::Unavailable,
        _ => ErrorKind::Internal,
    };
    match serde_json::from_slice::<ErrorReply>(body) {
        Ok(reply) if wire::kind_named(&reply.error.kind).is_some() => reply.error.into_error(),
        // A kind no interlock error has (the server's `NotFound` of a path it does not serve).
        Ok(reply) => Error::new(by_status(), format!("{what}: {}", reply.error.message)),
        Err(_) => {
            let text = String::from_utf8_lossy(&body[..body.len().min(500)]).into_owned();
            Error::new(by_status(), format!("{what}: {status}: {text}"))
        }
    }
}

#[async_trait]
impl Backend for HttpBackend {
    fn describe(&self) -> String {
        format!("{} ({})", self.conn.base, self.info.store)
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
            .conn
            .call(Method::POST, "/v1/backend/read", Some(&body))
            .await?;
        reply.into_response()
    }

    async fn commit(&self, txn: TxnRequest) -> Result<TxnResponse> {
        let body = CommitRequest::from(txn);
        let reply: CommitReply = self
            .conn
            .call(Method::POST, "/v1/backend/commit", Some(&body))
            .await?;
        reply.into_response()
    }

    async fn grant(&self, ttl: Duration) -> Result<LeaseGrant> {
        let body = GrantRequest {
            ttl: ttl.as_secs_f64(),
        };
        let reply: GrantReply = self
            .conn
            .call(Method::POST, "/v1/leases", Some(&body))
            .await?;
        reply.into_grant()
    }

    async fn keepalive(&self, lease: LeaseId) -> Result<Duration> {
        let reply: KeepaliveReply = self
            .conn
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
            .conn
            .call(Method::DELETE, &format!("/v1/leases/{lease}"), None::<&()>)
            .await?;
        Ok(reply.revoked)
    }

    async fn time_to_live(&self, leases: &[LeaseId]) -> Result<Vec<Option<Duration>>> {
        let body = TtlRequest {
            ids: leases.iter().map(|l| l.to_string()).collect(),
        };
        let reply: TtlReply = self
            .conn
            .call(Method::POST, "/v1/leases/ttl", Some(&body))
            .await?;
        reply
            .ttls
            .into_iter()
            .map(|t| t.map(|s| wire::seconds("ttl", s)).transpose())
            .collect()
    }

    async fn watch(&self, range: RangeRead, from: Option<u64>) -> Result<EventStream> {
        let what = format!("watch of '{}' at {}", range.prefix, self.conn.base);
        let (events, first) = self.conn.open_watch(&range, from, &what).await?;
        let state = WatchState {
            conn: self.conn.clone(),
            range,
            what,
            events: Some(events),
            next: first,
        };
        let stream = futures::stream::unfold(state, |mut state| async move {
            let item = state.next_event().await?;
            Some((item, state))
        });
        Ok(Box::pin(stream))
    }
}

/// A watch in progress: the server's stream, and the index to resume from if it breaks.
struct WatchState {
    conn: Conn,
    range: RangeRead,
    what: String,
    /// `None` once the watch has ended with an error.
    events: Option<SseStream>,
    next: u64,
}

impl WatchState {
    /// The next event or progress; on a broken connection, reconnects from where it was (for
    /// up to [`WATCH_RECONNECT`]). `None` after an error has been reported.
    async fn next_event(&mut self) -> Option<Result<WatchItem>> {
        loop {
            let events = self.events.as_mut()?;
            match events.next().await {
                Some(Ok(e)) => match e.event.as_str() {
                    "message" | "" => {
                        let item = serde_json::from_str::<Event>(&e.data).map_err(|err| {
                            Error::internal(format!("{}: a malformed event: {err}", self.what))
                        });
                        match &item {
                            Ok(event) => self.next = event.index + 1,
                            Err(_) => self.events = None,
                        }
                        return Some(item.map(WatchItem::Event));
                    }
                    // The server has sent every event up to `index`: a reconnect resumes after
                    // it, so that a quiet watch does not ask for history compacted meanwhile.
                    "progress" => {
                        let index = serde_json::from_str::<wire::WatchProgress>(&e.data)
                            .map(|p| p.index)
                            .map_err(|err| {
                                Error::internal(format!(
                                    "{}: a malformed progress event: {err}",
                                    self.what
                                ))
                            });
                        match index {
                            Ok(index) if index >= self.next => {
                                self.next = index + 1;
                                return Some(Ok(WatchItem::Progress(index)));
                            }
                            Ok(_) => continue,
                            Err(e) => {
                                self.events = None;
                                return Some(Err(e));
                            }
                        }
                    }
                    "error" => {
                        self.events = None;
                        return Some(Err(sse_error(&self.what, &e.data)));
                    }
                    // Anything newer than this client.
                    _ => continue,
                },
                // The connection broke, went silent or was closed: resume where it was.
                Some(Err(_)) | None => {
                    if let Err(e) = self.reconnect().await {
                        self.events = None;
                        return Some(Err(e));
                    }
                }
            }
        }
    }

    async fn reconnect(&mut self) -> Result<()> {
        let deadline = rt::Instant::now() + WATCH_RECONNECT;
        let mut pause = Duration::from_millis(50);
        loop {
            match self
                .conn
                .open_watch(&self.range, Some(self.next), &self.what)
                .await
            {
                Ok((events, _)) => {
                    self.events = Some(events);
                    return Ok(());
                }
                Err(e) if e.is_retryable() && rt::Instant::now() + pause < deadline => {
                    rt::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(1));
                }
                Err(e) => return Err(e),
            }
        }
    }
}

impl Conn {
    /// Opens the server's event stream and waits for its `ready`, which names the first index
    /// the watch reports.
    async fn open_watch(
        &self,
        range: &RangeRead,
        from: Option<u64>,
        what: &str,
    ) -> Result<(SseStream, u64)> {
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
        let open = async {
            let response = self
                .request(Method::GET, &format!("/v1/backend/watch?{query}"))
                .header("accept", "text/event-stream")
                .send()
                .await
                .map_err(|e| transport(what, e))?;
            let status = response.status();
            if !status.is_success() {
                let bytes = response.bytes().await.map_err(|e| transport(what, e))?;
                return Err(server_error(what, status, &bytes));
            }
            let mut events: SseStream = Box::pin(local(response.bytes_stream().eventsource()));
            match events.next().await {
                Some(Ok(e)) if e.event == "ready" => {
                    let first = serde_json::from_str::<serde_json::Value>(&e.data)
                        .ok()
                        .and_then(|v| v["from"].as_u64())
                        .ok_or_else(|| {
                            Error::internal(format!("{what}: the server's 'ready' has no index"))
                        })?;
                    Ok((events, first))
                }
                Some(Ok(e)) if e.event == "error" => Err(sse_error(what, &e.data)),
                Some(Ok(e)) => Err(Error::internal(format!(
                    "{what}: expected the server's 'ready', got '{}'",
                    e.event
                ))),
                Some(Err(e)) => Err(Error::unavailable(format!("{what}: {e}"))),
                None => Err(Error::unavailable(format!(
                    "{what}: the server closed the stream"
                ))),
            }
        };
        rt::timeout(REQUEST_TIMEOUT, local(open))
            .await
            .unwrap_or_else(|_| Err(Error::unavailable(format!("{what}: timed out"))))
    }
}

fn sse_error(what: &str, data: &str) -> Error {
    match serde_json::from_str::<wire::ErrorDetail>(data) {
        Ok(detail) => detail.into_error(),
        Err(_) => Error::internal(format!("{what}: the server reported an error: {data}")),
    }
}
