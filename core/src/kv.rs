//! Entries (docs/design.md, Operations): reads, compare-exchange writes, deletes and watches of
//! single keys and prefixes. They validate their input here, once, before any backend sees it.

use futures::StreamExt;
use serde_json::Value;

use crate::backend::{Compare, Op, RangeRead, Read, TxnRequest};
use crate::error::{Error, Result};
use crate::model::{Entry, LeaseId, Page, PutResult};
use crate::state::ClientState;
use crate::validate;
use crate::watch::WatchStream;

/// Options of [`Client::put_with`](crate::Client::put_with).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PutOptions {
    /// Compare-exchange: `Some(0)` creates only if absent, `Some(n)` replaces only at index n.
    pub index: Option<u64>,
    /// Attach the entry to this lease: it is deleted when the lease ends.
    pub lease: Option<LeaseId>,
}

impl ClientState {
    /// [`Client::get`](crate::Client::get).
    pub(crate) async fn get(&self, key: &str) -> Result<Option<Entry>> {
        validate::key_shape(key)?;
        self.check_open()?;
        let mut r = self
            .backend
            .read(vec![Read::Keys(vec![key.to_string()])])
            .await?;
        Ok(r.results.pop().and_then(|mut r| r.entries.pop()))
    }

    /// [`Client::get_many`](crate::Client::get_many).
    pub(crate) async fn get_many<S: AsRef<str>>(&self, keys: &[S]) -> Result<Vec<Entry>> {
        validate::read_keys(keys.len())?;
        let keys: Vec<String> = keys.iter().map(|k| k.as_ref().to_string()).collect();
        for k in &keys {
            validate::key_shape(k)?;
        }
        self.check_open()?;
        let mut r = self.backend.read(vec![Read::Keys(keys)]).await?;
        Ok(r.results.pop().map(|r| r.entries).unwrap_or_default())
    }

    /// [`Client::list`](crate::Client::list).
    pub(crate) async fn list(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: Option<usize>,
    ) -> Result<Page> {
        validate::prefix(prefix)?;
        if limit == Some(0) {
            return Err(Error::invalid("list limit must be at least 1, got 0"));
        }
        self.check_open()?;
        let range = RangeRead {
            after: after.map(str::to_string),
            limit,
            ..RangeRead::prefix(prefix)
        };
        let mut r = self.backend.read(vec![Read::Range(range)]).await?;
        let result = r.results.pop().unwrap_or_default();
        Ok(Page {
            entries: result.entries,
            more: result.more,
            index: r.index,
        })
    }

    /// [`Client::index`](crate::Client::index).
    pub(crate) async fn index(&self) -> Result<u64> {
        self.check_open()?;
        Ok(self.backend.read(Vec::new()).await?.index)
    }

    /// [`Client::put_with`](crate::Client::put_with).
    pub(crate) async fn put_with(
        &self,
        key: &str,
        value: impl Into<Value>,
        options: PutOptions,
    ) -> Result<PutResult> {
        let value = value.into();
        validate::writable_key(key)?;
        validate::value(key, &value, self.backend.limits().max_value_bytes)?;
        self.check_open()?;
        let op = Op::Put {
            key: key.to_string(),
            value: value.clone(),
            lease: options.lease,
        };
        self.write_one(key, options.index, op, Some(value)).await
    }

    /// [`Client::delete`](crate::Client::delete).
    pub(crate) async fn delete(&self, key: &str, index: Option<u64>) -> Result<PutResult> {
        validate::writable_key(key)?;
        self.check_open()?;
        let op = Op::Delete {
            key: key.to_string(),
        };
        self.write_one(key, index, op, None).await
    }

    /// Commits one write to `key`, checked at `index` if given. A failed check reports the entry
    /// as it is (index 0 and no value if absent); so does an op that did nothing (a delete of a
    /// missing key). `written` is the value a successful write leaves.
    async fn write_one(
        &self,
        key: &str,
        index: Option<u64>,
        op: Op,
        written: Option<Value>,
    ) -> Result<PutResult> {
        let compares = index
            .map(|index| Compare {
                key: key.to_string(),
                index,
            })
            .into_iter()
            .collect();
        let r = self
            .backend
            .commit(TxnRequest {
                compares,
                ops: vec![op],
                reads: Vec::new(),
            })
            .await?;
        Ok(match r.failed.into_iter().next() {
            Some(m) => PutResult {
                successful: false,
                index: m.actual,
                value: m.value,
            },
            // A put always writes; a delete only if the key existed.
            None if written.is_some() || r.applied.first() == Some(&true) => PutResult {
                successful: true,
                index: r.index,
                value: written,
            },
            None => PutResult {
                successful: false,
                index: 0,
                value: None,
            },
        })
    }

    /// [`Client::watch`](crate::Client::watch).
    pub(crate) async fn watch(&self, prefix: &str, from: Option<u64>) -> Result<WatchStream> {
        validate::prefix(prefix)?;
        self.check_open()?;
        let stream = self.backend.watch(RangeRead::prefix(prefix), from).await?;
        // Closing the client ends the stream.
        Ok(WatchStream::new(Box::pin(stream.take_until(self.closed()))))
    }
}
