//! Atomic multi-key transactions (docs/design.md, Transactions): checks and ops commit at one index
//! or not at all, and a failure lists every failed check. Input is validated completely before
//! sending.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::Value;

use crate::backend::{Compare, Op, TxnRequest};
use crate::error::{Conflict, Error, ErrorKind, Result};
use crate::kv::PutOptions;
use crate::lock::Lock;
use crate::state::ClientState;
use crate::validate::{self, MAX_TXN_OPS};

/// A transaction under construction. Methods record checks and ops; [`Txn::commit`] validates
/// everything and sends it in one request.
pub struct Txn {
    client: Arc<ClientState>,
    checks: Vec<Compare>,
    ops: Vec<Op>,
    /// Waiter keys of required locks → lock names, to report a lost lock as `LockLost`.
    locks: HashMap<String, String>,
    error: Option<Error>,
    /// Set when a commit is sent: a transaction commits once.
    committed: AtomicBool,
}

impl Txn {
    pub(crate) fn new(client: Arc<ClientState>) -> Self {
        Txn {
            client,
            checks: Vec::new(),
            ops: Vec::new(),
            locks: HashMap::new(),
            error: None,
            committed: AtomicBool::new(false),
        }
    }

    fn fail(&mut self, e: Error) -> &mut Self {
        self.error.get_or_insert(e);
        self
    }

    /// The first invalid step added so far (which [`Txn::commit`] would return), removed from
    /// the transaction. An invalid step is never added, so after this the transaction is as if
    /// the step had not been called: the bindings call this after each step to report a bad
    /// argument at the call rather than at the commit.
    pub fn take_error(&mut self) -> Option<Error> {
        self.error.take()
    }

    /// Requires `key` to be at `index` (`0`: absent).
    pub fn check(&mut self, key: &str, index: u64) -> &mut Self {
        if let Err(e) = validate::key_shape(key).and_then(|_| self.admit_check(key, index, 1)) {
            return self.fail(e);
        }
        self.checks.push(Compare {
            key: key.to_string(),
            index,
        });
        self
    }

    /// Whether `added` more checks and ops fit in a transaction.
    fn admit(&self, added: usize) -> Result<()> {
        if self.len() + added > MAX_TXN_OPS {
            return Err(Error::invalid(format!(
                "transaction would have {} checks and ops; the limit is {MAX_TXN_OPS}",
                self.len() + added
            )));
        }
        Ok(())
    }

    /// Whether a check of `key` at `index` (and `added` checks and ops in all) can be added: not
    /// a second check of the key at another index.
    fn admit_check(&self, key: &str, index: u64, added: usize) -> Result<()> {
        self.admit(added)?;
        match self.checks.iter().find(|c| c.key == key) {
            Some(c) if c.index != index => Err(Error::invalid(format!(
                "transaction checks key '{key}' at two different indexes ({} and {index})",
                c.index
            ))),
            _ => Ok(()),
        }
    }

    /// Whether an op on `key` (and `added` checks and ops in all) can be added: one op per key.
    fn admit_op(&self, key: &str, added: usize) -> Result<()> {
        self.admit(added)?;
        if self.ops.iter().any(|op| op.key() == key) {
            return Err(Error::invalid(format!(
                "transaction writes key '{key}' twice; one op per key"
            )));
        }
        Ok(())
    }

    /// Writes `key` unconditionally.
    pub fn set(&mut self, key: &str, value: impl Into<Value>) -> &mut Self {
        self.put_with(key, value, PutOptions::default())
    }

    /// Compare-exchange: writes `key` only if it is at `index` (`0`: only if absent).
    pub fn put(&mut self, key: &str, value: impl Into<Value>, index: u64) -> &mut Self {
        self.put_with(
            key,
            value,
            PutOptions {
                index: Some(index),
                lease: None,
            },
        )
    }

    /// Writes `key` with every option.
    pub fn put_with(
        &mut self,
        key: &str,
        value: impl Into<Value>,
        options: PutOptions,
    ) -> &mut Self {
        let value = value.into();
        let max = self.client.backend().limits().max_value_bytes;
        let added = 1 + usize::from(options.index.is_some());
        let admitted = validate::writable_key(key)
            .and_then(|_| validate::value(key, &value, max))
            .and_then(|_| match options.index {
                Some(index) => self.admit_check(key, index, added),
                None => Ok(()),
            })
            .and_then(|_| self.admit_op(key, added));
        if let Err(e) = admitted {
            return self.fail(e);
        }
        if let Some(index) = options.index {
            self.checks.push(Compare {
                key: key.to_string(),
                index,
            });
        }
        self.ops.push(Op::Put {
            key: key.to_string(),
            value,
            lease: options.lease,
        });
        self
    }

    /// Deletes `key` if it exists.
    pub fn delete(&mut self, key: &str) -> &mut Self {
        if let Err(e) = validate::writable_key(key).and_then(|_| self.admit_op(key, 1)) {
            return self.fail(e);
        }
        self.ops.push(Op::Delete {
            key: key.to_string(),
        });
        self
    }

    /// Deletes `key` only if it is at `index`.
    pub fn delete_at(&mut self, key: &str, index: u64) -> &mut Self {
        let admitted = validate::writable_key(key)
            .and_then(|_| self.admit_check(key, index, 2))
            .and_then(|_| self.admit_op(key, 2));
        if let Err(e) = admitted {
            return self.fail(e);
        }
        self.checks.push(Compare {
            key: key.to_string(),
            index,
        });
        self.ops.push(Op::Delete {
            key: key.to_string(),
        });
        self
    }

    /// Makes the transaction conditional on still holding `lock`: if its lease was lost, nothing
    /// is written and the commit fails with `LockLost`.
    pub fn require(&mut self, lock: &Lock) -> &mut Self {
        match lock.guard() {
            Some((key, token)) => {
                if let Err(e) = self.admit_check(&key, token, 1) {
                    return self.fail(e);
                }
                self.locks.insert(key.clone(), lock.name().to_string());
                self.checks.push(Compare { key, index: token });
                self
            }
            None => self.fail(Error::new(
                ErrorKind::LockLost,
                format!(
                    "transaction requires lock '{}', which this lock object does not hold",
                    lock.name()
                ),
            )),
        }
    }

    /// The number of checks plus ops so far.
    pub fn len(&self) -> usize {
        self.checks.len() + self.ops.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn request(&self) -> Result<TxnRequest> {
        if let Some(e) = &self.error {
            return Err(Error::new(e.kind(), e.message()));
        }
        // The steps were admitted one by one (the limit, one op per key, one index per
        // checked key); what is left is to send a repeated check once.
        let mut checks: Vec<Compare> = Vec::with_capacity(self.checks.len());
        for c in &self.checks {
            if !checks.iter().any(|d| d.key == c.key) {
                checks.push(c.clone());
            }
        }
        Ok(TxnRequest {
            compares: checks,
            ops: self.ops.clone(),
            reads: Vec::new(),
        })
    }

    /// Commits atomically and returns the new index (the current index if nothing changed).
    /// On a failed check, nothing is written and the error lists every failed check. A
    /// transaction commits once: a second `commit` is `InvalidArgument` (it would write again; a
    /// retry after an unknown outcome builds a new transaction from fresh reads).
    pub async fn commit(&self) -> Result<u64> {
        let request = self.request()?;
        self.client.check_open()?;
        if self.committed.swap(true, Ordering::AcqRel) {
            return Err(Error::invalid(
                "this transaction was committed already; make a new one with txn()",
            ));
        }
        let response = self.client.backend().commit(request).await?;
        if response.succeeded {
            return Ok(response.index);
        }
        let conflicts: Vec<Conflict> = response
            .failed
            .iter()
            .map(|m| Conflict {
                key: m.key.clone(),
                expected: m.expected,
                actual: m.actual,
            })
            .collect();
        let lost: Vec<&String> = response
            .failed
            .iter()
            .filter_map(|m| self.locks.get(&m.key))
            .collect();
        if let Some(name) = lost.first() {
            return Err(Error::new(
                ErrorKind::LockLost,
                format!("lock '{name}' is no longer held; the transaction wrote nothing"),
            )
            .with_conflicts(conflicts));
        }
        Err(Error::conflict(conflicts))
    }
}
