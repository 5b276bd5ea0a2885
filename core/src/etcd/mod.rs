//! The etcd backend: etcd v3 over its JSON gateway (docs/design.md, Stores), for stores shared by
//! many hosts.
//!
//! The data model maps one to one: an entry is an etcd key under the application's prefix with
//! its JSON value as the value; an entry's index is the key's `mod_revision`, and the store-wide
//! index is etcd's revision. A compare is `CREATE == 0` (absent) or `MOD == index`; a
//! transaction is one etcd txn whose success branch holds the writes and then the reads, and
//! whose failure branch reads every compared key and the reads, so a failed compare-exchange
//! reports the current index and value without a second round trip. Leases are etcd leases
//! (one keepalive per POST). Watches are the gateway's streaming `/v3/watch`, resumed on another
//! member from the next revision when a member fails.

mod transport;
mod watch;
mod wire;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;

use self::transport::{Credentials, Retry, Transport};
use self::wire::{ResponseOp, b64, unb64};
use crate::backend::{
    Backend, EventStream, LeaseGrant, Limits, Mismatch, Op, Order, RangeRead, Read, ReadResponse,
    ReadResult, TxnRequest, TxnResponse,
};
use crate::error::{Error, ErrorKind, Result};
use crate::model::{Entry, LeaseId};
use crate::validate::RESERVED_PREFIX;

/// The key prefix of an application that names none.
pub const DEFAULT_PREFIX: &str = "interlock/";

/// etcd's default `--max-txn-ops`.
pub const DEFAULT_MAX_TXN_OPS: usize = 128;

/// What an `etcd://` URL configures.
#[derive(Clone)]
pub struct EtcdOptions {
    /// `host:port` of each member.
    pub endpoints: Vec<String>,
    /// `https` for `etcd+https://`.
    pub tls: bool,
    /// A PEM file of certificate authorities to trust besides the system's.
    pub ca_file: Option<std::path::PathBuf>,
    pub user: Option<String>,
    pub password: Option<String>,
    /// Every key of this application lives under this etcd key prefix.
    pub prefix: String,
    /// The longest one request may take on one member.
    pub request_timeout: Duration,
    /// How long a request keeps trying other members.
    pub failover_timeout: Duration,
    /// The cluster's `--max-txn-ops`.
    pub max_txn_ops: usize,
    pub max_value_bytes: usize,
    /// How long a watch connection may stay silent, with its member serving, before it is
    /// reopened anyway (a proxy or a half-open connection could hold it without delivering).
    pub watch_refresh: Duration,
}

impl std::fmt::Debug for EtcdOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdOptions")
            .field("endpoints", &self.endpoints)
            .field("tls", &self.tls)
            .field("ca_file", &self.ca_file)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("prefix", &self.prefix)
            .field("request_timeout", &self.request_timeout)
            .field("failover_timeout", &self.failover_timeout)
            .field("max_txn_ops", &self.max_txn_ops)
            .field("max_value_bytes", &self.max_value_bytes)
            .field("watch_refresh", &self.watch_refresh)
            .finish()
    }
}

impl EtcdOptions {
    pub fn new(endpoints: Vec<String>) -> EtcdOptions {
        EtcdOptions {
            endpoints,
            tls: false,
            ca_file: None,
            user: None,
            password: None,
            prefix: DEFAULT_PREFIX.to_string(),
            request_timeout: Duration::from_secs(5),
            failover_timeout: Duration::from_secs(15),
            max_txn_ops: DEFAULT_MAX_TXN_OPS,
            max_value_bytes: crate::validate::DEFAULT_MAX_VALUE_BYTES,
            watch_refresh: Duration::from_secs(30),
        }
    }
}

/// Translates between interlock's keys and values and etcd's.
#[derive(Clone)]
pub(crate) struct Codec {
    prefix: String,
}

/// A store on an etcd cluster.
pub struct EtcdBackend {
    transport: Arc<Transport>,
    codec: Codec,
    max_txn_ops: usize,
    limits: Limits,
    describe: String,
    watch_refresh: Duration,
}

impl EtcdBackend {
    /// Connects to the cluster (lazily: the first request reaches a member).
    pub fn open(options: EtcdOptions) -> Result<EtcdBackend> {
        if options.endpoints.is_empty() {
            return Err(Error::invalid(
                "an etcd store needs at least one member host:port",
            ));
        }
        if options.prefix.is_empty() {
            return Err(Error::invalid(
                "the etcd key prefix must not be empty: interlock would share etcd's whole \
                 keyspace with every other application",
            ));
        }
        if options.max_txn_ops < 2 {
            return Err(Error::invalid("max_txn_ops must be at least 2"));
        }
        // The crypto provider is chosen by the first TLS user of the process; ring is ours.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut http = reqwest::Client::builder()
            .connect_timeout(options.request_timeout.min(Duration::from_secs(2)))
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(60));
        if let Some(path) = &options.ca_file {
            let pem = std::fs::read(path).map_err(|e| {
                Error::invalid(format!("cannot read the CA file {}: {e}", path.display()))
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                Error::invalid(format!(
                    "the CA file {} holds no PEM certificate: {e}",
                    path.display()
                ))
            })?;
            for cert in certs {
                http = http.add_root_certificate(cert);
            }
        }
        let http = http
            .build()
            .map_err(|e| Error::internal(format!("cannot build the HTTP client: {e}")))?;
        let scheme = if options.tls { "https" } else { "http" };
        let endpoints: Vec<String> = options
            .endpoints
            .iter()
            .map(|e| format!("{scheme}://{e}"))
            .collect();
        let credentials = match (&options.user, &options.password) {
            (Some(user), password) => Some(Credentials {
                user: user.clone(),
                password: password.clone().unwrap_or_default(),
            }),
            (None, Some(_)) => {
                return Err(Error::invalid("an etcd password was given without a user"));
            }
            (None, None) => None,
        };
        let describe = format!(
            "etcd{}://{}{}?prefix={}",
            if options.tls { "+https" } else { "" },
            options
                .user
                .as_ref()
                .map(|u| format!("{u}@"))
                .unwrap_or_default(),
            options.endpoints.join(","),
            options.prefix
        );
        Ok(EtcdBackend {
            transport: Arc::new(Transport::new(
                http,
                endpoints,
                credentials,
                options.request_timeout,
                options.failover_timeout,
            )),
            codec: Codec {
                prefix: options.prefix,
            },
            max_txn_ops: options.max_txn_ops,
            limits: Limits {
                max_value_bytes: options.max_value_bytes,
            },
            describe,
            watch_refresh: options.watch_refresh,
        })
    }

    fn key(&self, key: &str) -> String {
        b64(format!("{}{key}", self.codec.prefix).as_bytes())
    }

    /// The etcd range reads of one [`Read`].
    fn range_requests(&self, read: &Read, revision: i64) -> Vec<wire::RangeRequest> {
        match read {
            Read::Keys(keys) => keys
                .iter()
                .map(|k| wire::RangeRequest {
                    key: self.key(k),
                    revision,
                    ..Default::default()
                })
                .collect(),
            Read::Range(range) => self
                .key_spans(range)
                .into_iter()
                .filter_map(|(start, end)| {
                    let start = match &range.after {
                        Some(a) => {
                            let mut after = format!("{}{a}", self.codec.prefix).into_bytes();
                            after.push(0);
                            after.max(start)
                        }
                        None => start,
                    };
                    if start >= end {
                        return None;
                    }
                    let max_mod_revision = match range.below_index {
                        Some(0) | Some(1) => return None,
                        Some(b) => b as i64 - 1,
                        None => 0,
                    };
                    let (sort_target, sort_order) = match range.order {
                        Order::Key => (None, None),
                        Order::IndexAsc => (Some("MOD"), Some("ASCEND")),
                        Order::IndexDesc => (Some("MOD"), Some("DESCEND")),
                    };
                    Some(wire::RangeRequest {
                        key: b64(&start),
                        range_end: b64(&end),
                        limit: range.limit.map_or(0, |l| l as i64),
                        revision,
                        max_mod_revision,
                        sort_order,
                        sort_target,
                        count_only: false,
                    })
                })
                .collect(),
        }
    }

    /// The etcd key spans `[start, end)` a range covers: one, or two around the reserved keys
    /// when the prefix is empty and they are excluded.
    fn key_spans(&self, range: &RangeRead) -> Vec<(Vec<u8>, Vec<u8>)> {
        let start = format!("{}{}", self.codec.prefix, range.prefix).into_bytes();
        let end = prefix_end(&start);
        if range.prefix.is_empty() && !range.include_reserved {
            let mut reserved = self.codec.prefix.clone().into_bytes();
            reserved.push(RESERVED_PREFIX as u8);
            let after_reserved = prefix_end(&reserved);
            vec![(start, reserved), (after_reserved, end)]
        } else {
            vec![(start, end)]
        }
    }

    /// Builds one [`ReadResult`] from the responses of [`Self::range_requests`].
    fn read_result(&self, read: &Read, responses: Vec<wire::RangeResponse>) -> Result<ReadResult> {
        match read {
            Read::Keys(_) => {
                let mut entries = Vec::new();
                for r in responses {
                    for kv in r.kvs {
                        entries.push(self.codec.entry(kv)?);
                    }
                }
                Ok(ReadResult {
                    entries,
                    more: false,
                })
            }
            Read::Range(range) => {
                let mut more = false;
                let mut entries = Vec::new();
                for r in responses {
                    more |= r.more;
                    for kv in r.kvs {
                        entries.push(self.codec.entry(kv)?);
                    }
                }
                match range.order {
                    Order::Key => {}
                    Order::IndexAsc => entries.sort_by_key(|e| e.index),
                    Order::IndexDesc => entries.sort_by_key(|e| std::cmp::Reverse(e.index)),
                }
                if let Some(limit) = range.limit {
                    if entries.len() > limit {
                        entries.truncate(limit);
                        more = true;
                    }
                }
                Ok(ReadResult { entries, more })
            }
        }
    }

    /// Runs every read at one revision: one txn of ranges, or several txns pinned to the first
    /// one's revision when they exceed the cluster's operation limit.
    async fn read_at(&self, reads: &[Read], mut revision: i64) -> Result<(i64, Vec<ReadResult>)> {
        let groups: Vec<Vec<wire::RangeRequest>> = reads
            .iter()
            .map(|r| self.range_requests(r, revision))
            .collect();
        let mut flat: Vec<wire::RangeRequest> = groups.iter().flatten().cloned().collect();
        let mut responses: Vec<wire::RangeResponse> = Vec::with_capacity(flat.len());
        if flat.is_empty() {
            // Nothing to read: still learn the revision, with one cheap linearizable range.
            let r: wire::RangeResponse = self
                .transport
                .call(
                    "/v3/kv/range",
                    &wire::RangeRequest {
                        key: self.key(""),
                        count_only: true,
                        revision,
                        ..Default::default()
                    },
                    Retry::Always,
                    None,
                )
                .await?;
            return Ok((
                r.header.revision,
                reads.iter().map(|_| ReadResult::default()).collect(),
            ));
        }
        while !flat.is_empty() {
            let rest = flat.split_off(flat.len().min(self.max_txn_ops));
            let chunk = std::mem::replace(&mut flat, rest);
            let chunk: Vec<wire::RangeRequest> = chunk
                .into_iter()
                .map(|mut r| {
                    r.revision = revision;
                    r
                })
                .collect();
            let reply: wire::TxnResponse = self
                .transport
                .call(
                    "/v3/kv/txn",
                    &wire::TxnRequest {
                        compare: Vec::new(),
                        success: chunk.into_iter().map(wire::RequestOp::Range).collect(),
                        failure: Vec::new(),
                    },
                    Retry::Always,
                    None,
                )
                .await?;
            if revision == 0 {
                revision = reply.header.revision;
            }
            for r in reply.responses {
                responses.push(range_response(r)?);
            }
        }
        let mut responses = responses.into_iter();
        let mut results = Vec::with_capacity(reads.len());
        for (read, group) in reads.iter().zip(&groups) {
            let mine: Vec<wire::RangeResponse> = responses.by_ref().take(group.len()).collect();
            results.push(self.read_result(read, mine)?);
        }
        Ok((revision, results))
    }
}

impl Codec {
    pub(crate) fn entry(&self, kv: wire::KeyValue) -> Result<Entry> {
        let key = self.user_key(&kv.key)?;
        let value = self.value(&key, &kv.value)?;
        Ok(Entry {
            key,
            value,
            index: kv.mod_revision as u64,
            lease: (kv.lease != 0).then_some(kv.lease),
        })
    }

    pub(crate) fn user_key(&self, encoded: &str) -> Result<String> {
        let bytes = unb64(encoded)
            .map_err(|e| Error::internal(format!("etcd sent a key that is not base64: {e}")))?;
        let full = String::from_utf8(bytes)
            .map_err(|_| Error::internal("etcd holds a key under the prefix that is not UTF-8"))?;
        full.strip_prefix(&self.prefix)
            .map(str::to_string)
            .ok_or_else(|| {
                Error::internal(format!(
                    "etcd sent key '{full}' outside the prefix '{}'",
                    self.prefix
                ))
            })
    }

    pub(crate) fn value(&self, key: &str, encoded: &str) -> Result<Value> {
        let bytes = unb64(encoded).map_err(|e| {
            Error::internal(format!(
                "etcd sent a value for '{key}' that is not base64: {e}"
            ))
        })?;
        serde_json::from_slice(&bytes).map_err(|e| {
            Error::internal(format!(
                "the value of '{key}' in etcd is not JSON (was it written by another program?): {e}"
            ))
        })
    }
}

fn range_response(op: ResponseOp) -> Result<wire::RangeResponse> {
    match op {
        ResponseOp::Range(r) => Ok(r),
        other => Err(Error::internal(format!(
            "etcd answered a range with {other:?}"
        ))),
    }
}

/// The smallest key greater than every key starting with `prefix` (empty: no end).
fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    // Every byte was 0xff: the range runs to the end of the keyspace ("\0" in etcd).
    vec![0]
}

/// The time a lease has left, from a time-to-live reply. etcd answers `-1` for an unknown or
/// expired lease and otherwise the whole seconds left, rounded down, so a live lease in its last
/// second reads 0. Reporting the end of that second (never more than the granted TTL) keeps a
/// live lease from reading as gone.
fn remaining(reply: &wire::LeaseResponse) -> Option<Duration> {
    if reply.ttl < 0 || reply.granted_ttl <= 0 {
        return None;
    }
    Some(Duration::from_secs(
        (reply.ttl + 1).min(reply.granted_ttl) as u64
    ))
}

/// Whole seconds, rounded up, as etcd's lease API takes them.
fn seconds(ttl: Duration) -> i64 {
    let s = ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0);
    s.max(1) as i64
}

#[async_trait]
impl Backend for EtcdBackend {
    fn describe(&self) -> String {
        self.describe.clone()
    }

    fn limits(&self) -> Limits {
        self.limits
    }

    async fn read(&self, reads: Vec<Read>) -> Result<ReadResponse> {
        let (index, results) = self.read_at(&reads, 0).await?;
        Ok(ReadResponse {
            index: index as u64,
            results,
        })
    }

    async fn commit(&self, txn: TxnRequest) -> Result<TxnResponse> {
        let compares: Vec<wire::Compare> = txn
            .compares
            .iter()
            .map(|c| {
                if c.index == 0 {
                    wire::Compare {
                        target: "CREATE",
                        key: self.key(&c.key),
                        create_revision: Some(0),
                        mod_revision: None,
                    }
                } else {
                    wire::Compare {
                        target: "MOD",
                        key: self.key(&c.key),
                        create_revision: None,
                        mod_revision: Some(c.index as i64),
                    }
                }
            })
            .collect();
        if compares.len() > self.max_txn_ops {
            return Err(Error::invalid(format!(
                "a transaction on this etcd cluster takes at most {} compares, not {}",
                self.max_txn_ops,
                compares.len()
            )));
        }
        let mut writes = Vec::with_capacity(txn.ops.len());
        for op in &txn.ops {
            writes.push(match op {
                Op::Put { key, value, lease } => wire::RequestOp::Put(wire::PutRequest {
                    key: self.key(key),
                    value: b64(&serde_json::to_vec(value)?),
                    lease: lease.unwrap_or(0),
                }),
                Op::Delete { key } => {
                    wire::RequestOp::Delete(wire::DeleteRequest { key: self.key(key) })
                }
            });
        }
        let read_groups: Vec<Vec<wire::RangeRequest>> = txn
            .reads
            .iter()
            .map(|r| self.range_requests(r, 0))
            .collect();
        let read_ops: usize = read_groups.iter().map(Vec::len).sum();
        // Reads ride in the same txn when they fit; otherwise they follow, pinned to its revision.
        let inline = writes.len() + read_ops <= self.max_txn_ops
            && compares.len() + read_ops <= self.max_txn_ops;
        let write_count = writes.len();
        let compare_count = compares.len();
        let mut success = writes;
        let mut failure: Vec<wire::RequestOp> = txn
            .compares
            .iter()
            .map(|c| {
                wire::RequestOp::Range(wire::RangeRequest {
                    key: self.key(&c.key),
                    ..Default::default()
                })
            })
            .collect();
        if inline {
            for r in read_groups.iter().flatten() {
                success.push(wire::RequestOp::Range(r.clone()));
                failure.push(wire::RequestOp::Range(r.clone()));
            }
        }
        let retry = if txn.ops.is_empty() {
            Retry::Always
        } else {
            Retry::IfNotApplied
        };
        let reply: wire::TxnResponse = self
            .transport
            .call(
                "/v3/kv/txn",
                &wire::TxnRequest {
                    compare: compares,
                    success,
                    failure,
                },
                retry,
                None,
            )
            .await
            .map_err(|e| match e.kind() {
                ErrorKind::LeaseExpired => {
                    let lease = txn.ops.iter().find_map(|op| match op {
                        Op::Put {
                            key,
                            lease: Some(l),
                            ..
                        } => Some((key.clone(), *l)),
                        _ => None,
                    });
                    match lease {
                        Some((key, l)) => Error::new(
                            ErrorKind::LeaseExpired,
                            format!("writing '{key}': lease {l} is unknown or has expired"),
                        ),
                        None => e,
                    }
                }
                _ => e,
            })?;
        let revision = reply.header.revision;
        let mut responses = reply.responses.into_iter();
        let mut applied = Vec::with_capacity(write_count);
        let mut failed = Vec::new();
        if reply.succeeded {
            for op in responses.by_ref().take(write_count) {
                applied.push(match op {
                    ResponseOp::Put(_) => true,
                    ResponseOp::Delete(d) => d.deleted > 0,
                    other => {
                        return Err(Error::internal(format!(
                            "etcd answered a write with {other:?}"
                        )));
                    }
                });
            }
        } else {
            applied = vec![false; write_count];
            for (c, op) in txn
                .compares
                .iter()
                .zip(responses.by_ref().take(compare_count))
            {
                let current = range_response(op)?.kvs.into_iter().next();
                let actual = current.as_ref().map_or(0, |kv| kv.mod_revision as u64);
                if actual != c.index {
                    failed.push(Mismatch {
                        key: c.key.clone(),
                        expected: c.index,
                        actual,
                        value: match current {
                            Some(kv) => Some(self.codec.value(&c.key, &kv.value)?),
                            None => None,
                        },
                    });
                }
            }
            if failed.is_empty() {
                return Err(Error::internal(
                    "etcd reported a failed compare, but every compared key is at its expected index",
                ));
            }
        }
        let reads =
            if inline {
                let mut reads = Vec::with_capacity(txn.reads.len());
                for (read, group) in txn.reads.iter().zip(&read_groups) {
                    let mut mine = Vec::with_capacity(group.len());
                    for op in responses.by_ref().take(group.len()) {
                        mine.push(range_response(op)?);
                    }
                    reads.push(self.read_result(read, mine)?);
                }
                reads
            } else {
                self.read_at(&txn.reads, revision).await.map_err(|e| {
                Error::unavailable(format!(
                    "the transaction committed at index {revision}, but reading its results \
                     failed: {e}"
                ))
            })?.1
            };
        Ok(TxnResponse {
            succeeded: reply.succeeded,
            index: revision as u64,
            changed: applied.iter().any(|a| *a),
            applied,
            failed,
            reads,
        })
    }

    async fn grant(&self, ttl: Duration) -> Result<LeaseGrant> {
        let reply: wire::LeaseResponse = self
            .transport
            .call(
                "/v3/lease/grant",
                &wire::LeaseGrantRequest { ttl: seconds(ttl) },
                Retry::Always,
                None,
            )
            .await?;
        if !reply.error.is_empty() || reply.id == 0 {
            return Err(Error::unavailable(format!(
                "etcd did not grant a lease: {}",
                reply.error
            )));
        }
        Ok(LeaseGrant {
            id: reply.id,
            ttl: Duration::from_secs(reply.ttl.max(0) as u64),
        })
    }

    async fn keepalive(&self, lease: LeaseId) -> Result<Duration> {
        // The gateway streams keepalives; one request object per POST gets one answer.
        let reply: wire::StreamMessage<wire::LeaseResponse> = self
            .transport
            .call(
                "/v3/lease/keepalive",
                &wire::LeaseIdRequest { id: lease },
                Retry::Always,
                None,
            )
            .await?;
        if let Some(e) = reply.error {
            return Err(Error::unavailable(format!(
                "etcd refused the keepalive of lease {lease}: {}",
                e.text()
            )));
        }
        match reply.result {
            Some(r) if r.ttl > 0 => Ok(Duration::from_secs(r.ttl as u64)),
            _ => Err(Error::new(
                ErrorKind::LeaseExpired,
                format!("lease {lease} is unknown or has expired"),
            )),
        }
    }

    async fn revoke(&self, lease: LeaseId) -> Result<bool> {
        let outcome: Result<serde::de::IgnoredAny> = self
            .transport
            .call(
                "/v3/lease/revoke",
                &wire::LeaseIdRequest { id: lease },
                Retry::Always,
                None,
            )
            .await;
        match outcome {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == ErrorKind::LeaseExpired => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn time_to_live(&self, leases: &[LeaseId]) -> Result<Vec<Option<Duration>>> {
        let calls = leases.iter().map(|&id| async move {
            let reply: wire::LeaseResponse = self
                .transport
                .call(
                    "/v3/lease/timetolive",
                    &wire::LeaseIdRequest { id },
                    Retry::Always,
                    None,
                )
                .await?;
            Ok::<_, Error>(remaining(&reply))
        });
        futures::future::try_join_all(calls).await
    }

    async fn watch(&self, range: RangeRead, from: Option<u64>) -> Result<EventStream> {
        watch::open(self, range, from).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_is_the_next_key_after_the_prefix() {
        assert_eq!(prefix_end(b"a/"), b"a0".to_vec());
        assert_eq!(prefix_end(b"a\xff"), b"b".to_vec());
        assert_eq!(prefix_end(b"\xff\xff"), vec![0]);
    }

    #[test]
    fn a_live_lease_never_reads_as_gone() {
        let reply = |ttl, granted_ttl| wire::LeaseResponse {
            ttl,
            granted_ttl,
            ..Default::default()
        };
        assert_eq!(remaining(&reply(-1, 0)), None);
        assert_eq!(remaining(&reply(0, 1)), Some(Duration::from_secs(1)));
        assert_eq!(remaining(&reply(7, 20)), Some(Duration::from_secs(8)));
        assert_eq!(remaining(&reply(20, 20)), Some(Duration::from_secs(20)));
    }

    #[test]
    fn lease_ttls_round_up_to_whole_seconds() {
        assert_eq!(seconds(Duration::from_millis(1)), 1);
        assert_eq!(seconds(Duration::from_millis(1500)), 2);
        assert_eq!(seconds(Duration::from_secs(20)), 20);
    }
}
