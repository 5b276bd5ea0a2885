//! Requests to a set of etcd members over the JSON gateway: failover across endpoints,
//! authentication with token refresh, and the one place where etcd's failures are classified.
//!
//! A failure is retried on the next member only when retrying cannot change the outcome: the
//! request never reached a member, the member refused it before proposing it to Raft (no
//! leader, proposal dropped, too many requests, a stale auth token), or the request only reads.
//! A write whose fate is unknown (a timeout, a connection cut after sending, "request timed
//! out") is reported as `Unavailable` with "outcome unknown", never silently repeated: a
//! repeated compare-exchange could report a conflict with its own first attempt.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::wire::{self, ErrorBody, code};
use crate::error::{Error, ErrorKind, Result};

/// Whether a request may be sent again after a failure whose outcome is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retry {
    /// Reads, keepalives, lease grants and revokes: repeating them is harmless.
    Always,
    /// Writes: repeated only when the first attempt certainly did not apply.
    IfNotApplied,
}

/// How one attempt failed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The member was not reached, or refused the request before proposing it.
    NotApplied(Error),
    /// The request may or may not have been applied.
    Unknown(Error),
    /// The token expired or was revoked; authenticate again and retry.
    StaleToken(Error),
    /// A definite answer (bad input, unknown lease, ...): report it.
    Final(Error),
}

pub(crate) struct Credentials {
    pub user: String,
    pub password: String,
}

pub(crate) struct Transport {
    http: reqwest::Client,
    /// Base URLs, e.g. `http://10.0.0.1:2379`.
    endpoints: Vec<String>,
    /// The endpoint that answered last; requests start there.
    current: AtomicUsize,
    credentials: Option<Credentials>,
    token: tokio::sync::RwLock<Option<String>>,
    /// The longest one request may take on one member.
    pub request_timeout: Duration,
    /// How long a request keeps trying other members before giving up.
    pub failover_timeout: Duration,
}

impl Transport {
    pub fn new(
        http: reqwest::Client,
        endpoints: Vec<String>,
        credentials: Option<Credentials>,
        request_timeout: Duration,
        failover_timeout: Duration,
    ) -> Transport {
        Transport {
            http,
            current: AtomicUsize::new(fastrand::usize(..endpoints.len())),
            endpoints,
            credentials,
            token: tokio::sync::RwLock::new(None),
            request_timeout,
            failover_timeout,
        }
    }

    pub fn endpoint_count(&self) -> usize {
        self.endpoints.len()
    }

    /// The endpoint requests start at.
    pub fn current(&self) -> usize {
        self.current.load(Ordering::Relaxed) % self.endpoints.len()
    }

    /// Moves on from endpoint `failed` (unless another request already did).
    pub fn advance(&self, failed: usize) {
        let next = (failed + 1) % self.endpoints.len();
        let _ = self
            .current
            .compare_exchange(failed, next, Ordering::Relaxed, Ordering::Relaxed);
    }

    pub fn endpoint(&self, i: usize) -> &str {
        &self.endpoints[i]
    }

    /// Sends `body` to `path`, failing over across members as `retry` allows, within the
    /// failover timeout; each attempt is bounded by `timeout` (default: the request timeout).
    pub async fn call<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
        retry: Retry,
        timeout: Option<Duration>,
    ) -> Result<T> {
        let body = serde_json::to_vec(body)
            .map_err(|e| Error::internal(format!("cannot encode an etcd request: {e}")))?;
        let deadline = tokio::time::Instant::now() + self.failover_timeout;
        let mut pause = Duration::from_millis(20);
        let mut refreshed = false;
        let mut tried = 0usize;
        loop {
            let at = self.current();
            let outcome = self
                .attempt(at, path, &body, timeout.unwrap_or(self.request_timeout))
                .await;
            let failure = match outcome {
                Ok(bytes) => {
                    // A streaming endpoint (keepalive) may send more after its first message.
                    let first = serde_json::Deserializer::from_slice(&bytes)
                        .into_iter::<T>()
                        .next()
                        .unwrap_or_else(|| serde_json::from_slice(b"null"));
                    return first.map_err(|e| {
                        Error::internal(format!(
                            "etcd at {} sent a reply to {path} that is not what the v3 gateway \
                             sends: {e}",
                            self.endpoints[at]
                        ))
                    });
                }
                Err(f) => f,
            };
            let error = match failure {
                Failure::Final(e) => return Err(e),
                Failure::StaleToken(e) => {
                    if refreshed {
                        return Err(e);
                    }
                    refreshed = true;
                    self.forget_token().await;
                    continue;
                }
                Failure::Unknown(e) if retry == Retry::IfNotApplied => {
                    self.advance(at);
                    return Err(e);
                }
                Failure::Unknown(e) | Failure::NotApplied(e) => e,
            };
            self.advance(at);
            tried += 1;
            if tokio::time::Instant::now() + pause >= deadline {
                return Err(error.prefix(format!(
                    "no etcd member could serve the request within {}",
                    crate::validate::seconds(self.failover_timeout)
                )));
            }
            // Try every member once at once, then back off between rounds.
            if tried % self.endpoints.len() == 0 {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(500));
            }
        }
    }

    /// One attempt on one member; returns the reply body.
    pub(crate) async fn attempt(
        &self,
        at: usize,
        path: &str,
        body: &[u8],
        timeout: Duration,
    ) -> std::result::Result<Vec<u8>, Failure> {
        let request = self
            .post(at, path, body.to_vec())
            .await
            .map_err(auth_failure)?
            .timeout(timeout);
        let response = request
            .send()
            .await
            .map_err(|e| self.transport_failure(at, path, e))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| self.transport_failure(at, path, e))?;
        if status.is_success() {
            return Ok(bytes.to_vec());
        }
        let error: ErrorBody = serde_json::from_slice(&bytes).unwrap_or_else(|_| ErrorBody {
            message: format!(
                "HTTP {status}: {}",
                String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
            ),
            ..Default::default()
        });
        Err(classify(&self.endpoints[at], &error))
    }

    /// A POST to `path` on member `at`, with the auth token when there are credentials.
    pub async fn post(
        &self,
        at: usize,
        path: &str,
        body: Vec<u8>,
    ) -> Result<reqwest::RequestBuilder> {
        let mut request = self
            .http
            .post(format!("{}{path}", self.endpoints[at]))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        if self.credentials.is_some() {
            let token = self.token(at).await?;
            // An empty token: the cluster has authentication disabled.
            if !token.is_empty() {
                request = request.header(reqwest::header::AUTHORIZATION, token);
            }
        }
        Ok(request)
    }

    /// Drops the auth token, so that the next request authenticates again.
    pub async fn forget_token(&self) {
        *self.token.write().await = None;
    }

    /// The current auth token, authenticating first if there is none.
    async fn token(&self, at: usize) -> Result<String> {
        if let Some(t) = self.token.read().await.as_ref() {
            return Ok(t.clone());
        }
        let mut slot = self.token.write().await;
        if let Some(t) = slot.as_ref() {
            return Ok(t.clone());
        }
        let Some(c) = &self.credentials else {
            return Err(Error::internal("no etcd credentials to authenticate with"));
        };
        let body = serde_json::to_vec(&wire::AuthRequest {
            name: &c.user,
            password: &c.password,
        })
        .map_err(|e| Error::internal(format!("cannot encode an etcd request: {e}")))?;
        let response = self
            .http
            .post(format!("{}/v3/auth/authenticate", self.endpoints[at]))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .timeout(self.request_timeout)
            .body(body)
            .send()
            .await
            .map_err(|e| {
                let text = if e.is_connect() {
                    unreachable(&self.endpoints[at], &e)
                } else {
                    format!(
                        "cannot authenticate to etcd at {}: {}",
                        self.endpoints[at],
                        error_chain(&e)
                    )
                };
                Error::unavailable(text).with_source(e)
            })?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| {
            Error::unavailable(format!(
                "cannot authenticate to etcd at {}: {}",
                self.endpoints[at],
                error_chain(&e)
            ))
        })?;
        if !status.is_success() {
            let error: ErrorBody = serde_json::from_slice(&bytes).unwrap_or_default();
            let text = error.text();
            if text.contains("authentication is not enabled") {
                // As etcd's own client does: go on without a token until a request is refused.
                *slot = Some(String::new());
                return Ok(String::new());
            }
            let kind = if error.code == code::UNAVAILABLE {
                ErrorKind::Unavailable
            } else {
                ErrorKind::Unauthorized
            };
            return Err(Error::new(
                kind,
                format!(
                    "etcd at {} refused the credentials of user '{}': {text} (HTTP {status})",
                    self.endpoints[at], c.user
                ),
            ));
        }
        let reply: wire::AuthResponse = serde_json::from_slice(&bytes).map_err(|e| {
            Error::internal(format!(
                "etcd sent an authentication reply that cannot be read: {e}"
            ))
        })?;
        if reply.token.is_empty() {
            return Err(Error::new(
                ErrorKind::Unauthorized,
                format!(
                    "etcd at {} returned no token for user '{}'",
                    self.endpoints[at], c.user
                ),
            ));
        }
        *slot = Some(reply.token.clone());
        Ok(reply.token)
    }

    fn transport_failure(&self, at: usize, path: &str, e: reqwest::Error) -> Failure {
        let endpoint = &self.endpoints[at];
        let text = error_chain(&e);
        if e.is_connect() {
            return Failure::NotApplied(
                Error::unavailable(unreachable(endpoint, &e)).with_source(e),
            );
        }
        let what = if e.is_timeout() {
            "timed out"
        } else {
            "failed"
        };
        Failure::Unknown(
            Error::unavailable(format!(
                "{path} at etcd {endpoint} {what} after it was sent; its outcome is unknown: {text}"
            ))
            .with_source(e),
        )
    }
}

/// How a failure to get an auth token ends an attempt: refused credentials are final (another
/// member would refuse them too), anything else lets the request try another member.
pub(crate) fn auth_failure(e: Error) -> Failure {
    if e.kind() == ErrorKind::Unauthorized {
        Failure::Final(e)
    } else {
        Failure::NotApplied(e)
    }
}

/// "the etcd member at HOST could not be reached: CAUSE", for a request that never left (its
/// connection could not be made).
pub(crate) fn unreachable(endpoint: &str, e: &reqwest::Error) -> String {
    let host = endpoint
        .split_once("://")
        .map_or(endpoint, |(_, rest)| rest)
        .trim_end_matches('/');
    format!(
        "the etcd member at {host} could not be reached: {}",
        error_chain(e)
    )
}

/// What went wrong with a request to etcd, in interlock's words: the cause at the bottom of
/// `e`'s sources ("connection refused", "timed out", a certificate the system does not trust),
/// without the HTTP client's own layers ("error sending request for url (…)", "client error
/// (Connect)") or the operating system's error numbers.
pub(crate) fn error_chain(e: &reqwest::Error) -> String {
    let mut sources = Vec::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        sources.push(s);
        source = s.source();
    }
    let resolving = sources.iter().any(|s| s.to_string() == "dns error");
    let io = sources
        .iter()
        .rev()
        .find_map(|s| s.downcast_ref::<std::io::Error>());
    let cause = match io {
        Some(io) => io_cause(io),
        None if e.is_timeout() => "timed out".to_string(),
        // The most particular cause: a TLS failure, a connection closed mid-reply, ...
        None => match sources.last() {
            Some(s) => s.to_string(),
            None if e.is_body() || e.is_decode() => "its reply could not be read".to_string(),
            None => "the request failed".to_string(),
        },
    };
    if resolving {
        format!("its host name could not be resolved ({cause})")
    } else {
        cause
    }
}

/// An I/O error as a person says it: "connection refused", not "Connection refused (os error
/// 111)".
fn io_cause(e: &std::io::Error) -> String {
    use std::io::ErrorKind::*;
    let said = match e.kind() {
        ConnectionRefused => "connection refused",
        ConnectionReset => "the connection was reset",
        ConnectionAborted => "the connection was aborted",
        TimedOut => "timed out",
        HostUnreachable => "host unreachable",
        NetworkUnreachable => "network unreachable",
        AddrNotAvailable => "the address is not available",
        BrokenPipe | UnexpectedEof => "the connection was closed",
        _ => "",
    };
    if !said.is_empty() {
        return said.to_string();
    }
    let text = e.to_string();
    match text.rfind(" (os error ") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

/// The one classification of etcd's error replies (by gRPC code and message, never by HTTP
/// status, which differs between builds).
pub(crate) fn classify(endpoint: &str, error: &ErrorBody) -> Failure {
    let text = error.text();
    let message = format!("etcd at {endpoint}: {text}");
    let lower = text.to_ascii_lowercase();
    // A token that expired, or that predates a change to the users or roles ("revision of auth
    // store is old"): nothing was applied; authenticate again and retry, as etcd's own client
    // does.
    if lower.contains("invalid auth token")
        || lower.contains("invalid auth management")
        || lower.contains("revision of auth store is old")
    {
        return Failure::StaleToken(Error::new(ErrorKind::Unauthorized, message));
    }
    // A refused watch carries only its message, no code.
    if lower.contains("permission denied") {
        return Failure::Final(Error::new(ErrorKind::Unauthorized, message));
    }
    // Refused before the request was proposed to Raft: safe to send to another member.
    const NOT_PROPOSED: [&str; 5] = [
        "no leader",
        "proposal dropped",
        "too many requests",
        "not capable",
        "not supported",
    ];
    if NOT_PROPOSED.iter().any(|s| lower.contains(s)) {
        return Failure::NotApplied(Error::unavailable(message));
    }
    if lower.contains("user name is empty") {
        // A request without a token to a cluster with authentication enabled.
        return Failure::Final(Error::new(
            ErrorKind::Unauthorized,
            format!(
                "{message}: etcd requires authentication; give credentials in the store URL \
                 (etcd://user:password@host:port)"
            ),
        ));
    }
    match error.code {
        code::INVALID_ARGUMENT if lower.contains("authentication failed") => {
            Failure::Final(Error::new(ErrorKind::Unauthorized, message))
        }
        code::INVALID_ARGUMENT | code::OUT_OF_RANGE | code::FAILED_PRECONDITION => {
            Failure::Final(Error::invalid(message))
        }
        code::NOT_FOUND => Failure::Final(Error::new(ErrorKind::LeaseExpired, message)),
        code::PERMISSION_DENIED | code::UNAUTHENTICATED => {
            Failure::Final(Error::new(ErrorKind::Unauthorized, message))
        }
        code::UNAVAILABLE => Failure::Unknown(Error::unavailable(format!(
            "{message}; the outcome is unknown"
        ))),
        _ => Failure::Unknown(Error::unavailable(format!(
            "{message} (gRPC code {}); the outcome is unknown",
            error.code
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(code: i32, message: &str) -> ErrorBody {
        ErrorBody {
            code,
            message: message.to_string(),
            error: String::new(),
        }
    }

    #[test]
    fn errors_are_classified_by_code_and_message() {
        let f = |c, m| classify("http://e", &body(c, m));
        assert!(matches!(
            f(14, "etcdserver: no leader"),
            Failure::NotApplied(_)
        ));
        assert!(matches!(
            f(2, "raft proposal dropped"),
            Failure::NotApplied(_)
        ));
        assert!(matches!(
            f(14, "etcdserver: request timed out"),
            Failure::Unknown(_)
        ));
        assert!(matches!(
            f(16, "etcdserver: invalid auth token"),
            Failure::StaleToken(_)
        ));
        assert!(matches!(
            f(3, "etcdserver: revision of auth store is old"),
            Failure::StaleToken(_)
        ));
        // A refused watch's cancel reason, which has no code of its own.
        assert!(matches!(
            f(
                0,
                "rpc error: code = InvalidArgument desc = etcdserver: revision of auth store is old"
            ),
            Failure::StaleToken(_)
        ));
        assert!(
            matches!(f(0, "etcdserver: permission denied"), Failure::Final(e) if e.kind() == ErrorKind::Unauthorized)
        );
        assert!(
            matches!(f(3, "etcdserver: too many operations in txn request"), Failure::Final(e) if e.kind() == ErrorKind::InvalidArgument)
        );
        assert!(
            matches!(f(5, "etcdserver: requested lease not found"), Failure::Final(e) if e.kind() == ErrorKind::LeaseExpired)
        );
        assert!(
            matches!(f(3, "etcdserver: authentication failed, invalid user ID or password"), Failure::Final(e) if e.kind() == ErrorKind::Unauthorized)
        );
        assert!(
            matches!(f(7, "etcdserver: permission denied"), Failure::Final(e) if e.kind() == ErrorKind::Unauthorized)
        );
        assert!(
            matches!(f(3, "etcdserver: user name is empty"), Failure::Final(e) if e.kind() == ErrorKind::Unauthorized && e.message().contains("credentials"))
        );
    }
}
