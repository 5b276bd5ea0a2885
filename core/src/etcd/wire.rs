//! The JSON shapes of etcd's v3 gateway (protobuf field names, as grpc-gateway renders them).
//!
//! Keys and values are base64; 64-bit integers arrive as strings; every field that holds its
//! zero value is left out of replies, so every reply field here defaults to zero.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Deserializer, Serialize};

pub(crate) fn b64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

pub(crate) fn unb64(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    B64.decode(text)
}

/// A 64-bit integer sent as a string or a number; absent means zero.
fn int<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Int {
        Text(String),
        Number(i64),
    }
    match Int::deserialize(d)? {
        Int::Number(n) => Ok(n),
        Int::Text(t) => t.parse().map_err(serde::de::Error::custom),
    }
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct Header {
    #[serde(default, deserialize_with = "int")]
    pub revision: i64,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct KeyValue {
    #[serde(default)]
    pub key: String,
    #[serde(default, deserialize_with = "int")]
    pub mod_revision: i64,
    #[serde(default)]
    pub value: String,
    #[serde(default, deserialize_with = "int")]
    pub lease: i64,
}

/// A range read, alone or inside a transaction.
#[derive(Debug, Default, Clone, Serialize)]
pub(crate) struct RangeRequest {
    pub key: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub range_end: String,
    #[serde(skip_serializing_if = "is_zero")]
    pub limit: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub revision: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub max_mod_revision: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sort_order: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sort_target: Option<&'static str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub count_only: bool,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct RangeResponse {
    #[serde(default)]
    pub header: Header,
    #[serde(default)]
    pub kvs: Vec<KeyValue>,
    #[serde(default)]
    pub more: bool,
}

#[derive(Debug, Serialize)]
pub(crate) struct PutRequest {
    pub key: String,
    pub value: String,
    #[serde(skip_serializing_if = "is_zero")]
    pub lease: i64,
}

#[derive(Debug, Serialize)]
pub(crate) struct DeleteRequest {
    pub key: String,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct DeleteResponse {
    #[serde(default, deserialize_with = "int")]
    pub deleted: i64,
}

#[derive(Debug, Serialize)]
pub(crate) enum RequestOp {
    #[serde(rename = "request_range")]
    Range(RangeRequest),
    #[serde(rename = "request_put")]
    Put(PutRequest),
    #[serde(rename = "request_delete_range")]
    Delete(DeleteRequest),
}

#[derive(Debug, Deserialize)]
pub(crate) enum ResponseOp {
    #[serde(rename = "response_range")]
    Range(RangeResponse),
    #[serde(rename = "response_put")]
    Put(serde::de::IgnoredAny),
    #[serde(rename = "response_delete_range")]
    Delete(DeleteResponse),
    #[serde(rename = "response_txn")]
    Txn(serde::de::IgnoredAny),
}

/// `key`'s create revision (`CREATE`) or mod revision (`MOD`) equals the given revision.
#[derive(Debug, Serialize)]
pub(crate) struct Compare {
    pub target: &'static str,
    pub key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub create_revision: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mod_revision: Option<i64>,
}

#[derive(Debug, Serialize)]
pub(crate) struct TxnRequest {
    pub compare: Vec<Compare>,
    pub success: Vec<RequestOp>,
    pub failure: Vec<RequestOp>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct TxnResponse {
    #[serde(default)]
    pub header: Header,
    #[serde(default)]
    pub succeeded: bool,
    #[serde(default)]
    pub responses: Vec<ResponseOp>,
}

#[derive(Debug, Serialize)]
pub(crate) struct LeaseGrantRequest {
    #[serde(rename = "TTL")]
    pub ttl: i64,
}

#[derive(Debug, Serialize)]
pub(crate) struct LeaseIdRequest {
    #[serde(rename = "ID")]
    pub id: i64,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct LeaseResponse {
    #[serde(default, rename = "ID", deserialize_with = "int")]
    pub id: i64,
    #[serde(default, rename = "TTL", deserialize_with = "int")]
    pub ttl: i64,
    /// The TTL the lease was granted with (time-to-live replies only).
    #[serde(default, rename = "grantedTTL", deserialize_with = "int")]
    pub granted_ttl: i64,
    #[serde(default)]
    pub error: String,
}

/// One message of a server stream: a result, or the error that ended the stream.
#[derive(Debug, Deserialize)]
pub(crate) struct StreamMessage<T> {
    pub result: Option<T>,
    pub error: Option<ErrorBody>,
}

#[derive(Debug, Serialize)]
pub(crate) struct WatchCreate {
    pub key: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub range_end: String,
    #[serde(skip_serializing_if = "is_zero")]
    pub start_revision: i64,
    /// Ask for progress notifications: empty responses whose header revision says that every
    /// event up to it has been sent.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub progress_notify: bool,
}

#[derive(Debug, Serialize)]
pub(crate) struct WatchRequest {
    pub create_request: WatchCreate,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct WatchEvent {
    /// Absent for puts (the enum's zero value).
    #[serde(default, rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub kv: KeyValue,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct WatchResponse {
    #[serde(default)]
    pub header: Header,
    #[serde(default)]
    pub created: bool,
    #[serde(default)]
    pub canceled: bool,
    #[serde(default, deserialize_with = "int")]
    pub compact_revision: i64,
    /// Why etcd refused or ended the watch, such as an invalid auth token.
    #[serde(default)]
    pub cancel_reason: String,
    #[serde(default)]
    pub events: Vec<WatchEvent>,
}

#[derive(Debug, Serialize)]
pub(crate) struct AuthRequest<'a> {
    pub name: &'a str,
    pub password: &'a str,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct AuthResponse {
    #[serde(default)]
    pub token: String,
}

/// grpc-gateway's error body: the gRPC status code and message.
#[derive(Debug, Default, Clone, Deserialize)]
pub(crate) struct ErrorBody {
    /// The gRPC status code (`grpc_code` in errors that end a stream).
    #[serde(default, alias = "grpc_code")]
    pub code: i32,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub error: String,
}

impl ErrorBody {
    pub fn text(&self) -> &str {
        if self.message.is_empty() {
            &self.error
        } else {
            &self.message
        }
    }
}

/// gRPC status codes that etcd uses.
pub(crate) mod code {
    pub const INVALID_ARGUMENT: i32 = 3;
    pub const NOT_FOUND: i32 = 5;
    pub const PERMISSION_DENIED: i32 = 7;
    pub const FAILED_PRECONDITION: i32 = 9;
    pub const OUT_OF_RANGE: i32 = 11;
    pub const UNAVAILABLE: i32 = 14;
    pub const UNAUTHENTICATED: i32 = 16;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn omitted_fields_read_as_zero_and_strings_as_numbers() {
        let r: TxnResponse = serde_json::from_str(
            r#"{"header":{"revision":"7"},"responses":[{"response_range":{"header":{}}},
                {"response_delete_range":{"deleted":"1"}},{"response_put":{"header":{}}}]}"#,
        )
        .unwrap();
        assert_eq!(r.header.revision, 7);
        assert!(!r.succeeded);
        assert!(matches!(&r.responses[0], ResponseOp::Range(rr) if rr.kvs.is_empty() && !rr.more));
        assert!(matches!(&r.responses[1], ResponseOp::Delete(d) if d.deleted == 1));
        let l: LeaseResponse = serde_json::from_str(r#"{"header":{},"ID":"12345"}"#).unwrap();
        assert_eq!((l.id, l.ttl), (12345, 0));
        let w: StreamMessage<WatchResponse> = serde_json::from_str(
            r#"{"result":{"header":{"revision":"9"},"events":[{"kv":{"key":"YQ==","mod_revision":"9","value":"MQ=="}},{"type":"DELETE","kv":{"key":"Yg==","mod_revision":"9"}}]}}"#,
        )
        .unwrap();
        let w = w.result.unwrap();
        assert_eq!(w.events[0].kind, "");
        assert_eq!(w.events[1].kind, "DELETE");
        assert_eq!(unb64(&w.events[0].kv.key).unwrap(), b"a");
    }

    #[test]
    fn requests_leave_out_zero_fields() {
        let op = RequestOp::Range(RangeRequest {
            key: b64(b"a"),
            ..Default::default()
        });
        assert_eq!(
            serde_json::to_string(&op).unwrap(),
            r#"{"request_range":{"key":"YQ=="}}"#
        );
    }
}
