//! Random key-value workloads for the linearizability fault tests, and the JSON-lines format in
//! which worker processes record their histories.
//!
//! A [`Picker`] chooses operations the way a real client would: compare-exchange writes mostly
//! at the last index the client saw for the key (so that many succeed), sometimes at 0 or at an
//! older index (so that some fail). Every value it writes is unique to the operation
//! (`client * 1_000_000 + sequence number`), so a read identifies the write it saw. [`execute`]
//! runs one [`Op`] on an interlock [`Client`] and turns the reply into the checker's [`Ret`].
//!
//! # Record format
//!
//! A worker process appends one JSON object per line to its own file, flushed line by line: an
//! `invoke` line before it sends a request, then an `ok` line after the reply arrives or an
//! `error` line after the request failed (its outcome is then unknown). A killed worker leaves an
//! `invoke` without a completion, which is an unknown outcome too, and possibly a torn last line
//! without a newline, which [`load`] skips (a torn `invoke` was never sent).
//!
//! ```text
//! {"kind":"invoke","id":7,"client":3,"t":812345678901,"op":{"type":"put","key":"k1","value":3000008,"index":41}}
//! {"kind":"ok","id":7,"t":812345912345,"ret":{"type":"committed","index":44}}
//! {"kind":"error","id":8,"t":812346000000,"error":"Unavailable","message":"..."}
//! ```
//!
//! `id` numbers the operations of one file; `t` is `CLOCK_MONOTONIC` in nanoseconds, which every
//! process on a host shares, so times from different files can be compared. Only their order
//! matters to the checker: [`load`] maps an invocation at `t` to `2t` and a completion at `t` to
//! `2t + 1`, so that an operation invoked in the same nanosecond as another returned counts as
//! concurrent with it (the order cannot be told), never as following it.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

use interlock::{Client, Entry, ErrorKind, PutResult};
use serde_json::{Value, json};

use crate::linearizability::{Op, Operation, Outcome, Ret};

/// Values written by client `c` are `c * VALUES_PER_CLIENT + sequence number`.
pub const VALUES_PER_CLIENT: i64 = 1_000_000;

/// `CLOCK_MONOTONIC` now, in nanoseconds: comparable across the processes of one host.
pub fn monotonic_ns() -> u64 {
    let ts = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .expect("CLOCK_MONOTONIC is available");
    ts.tv_sec() as u64 * 1_000_000_000 + ts.tv_nsec() as u64
}

/// Chooses random operations for one client, remembering the indexes it has seen.
pub struct Picker {
    client: usize,
    seq: i64,
    keys: Vec<String>,
    /// Indexes this client saw per key (0: absent), the latest last; a few are kept.
    seen: HashMap<String, Vec<u64>>,
    rng: fastrand::Rng,
}

impl Picker {
    pub fn new(client: usize, keys: &[&str], seed: u64) -> Picker {
        assert!(keys.len() >= 2, "transactions need two keys");
        Picker {
            client,
            seq: 0,
            keys: keys.iter().map(|k| k.to_string()).collect(),
            seen: HashMap::new(),
            rng: fastrand::Rng::with_seed(seed),
        }
    }

    fn value(&mut self) -> i64 {
        self.seq += 1;
        assert!(self.seq < VALUES_PER_CLIENT, "values stay unique");
        self.client as i64 * VALUES_PER_CLIENT + self.seq
    }

    /// The index a compare on `key` expects: usually the last one seen, sometimes 0 (absent)
    /// or an older one.
    fn guess(&mut self, key: &str) -> u64 {
        let seen = self.seen.get(key).map(Vec::as_slice).unwrap_or_default();
        let last = seen.last().copied().unwrap_or(0);
        match self.rng.u32(..100) {
            0..8 => 0,
            8..16 if !seen.is_empty() => seen[self.rng.usize(..seen.len())],
            _ => last,
        }
    }

    /// The next operation: 30 % gets, 35 % puts, 10 % deletes, 25 % two-key transactions.
    pub fn next_op(&mut self) -> Op {
        let value = self.value();
        let key = self.keys[self.rng.usize(..self.keys.len())].clone();
        match self.rng.u32(..100) {
            0..30 => Op::Get { key },
            30..65 => Op::Put {
                index: self.guess(&key),
                key,
                value,
            },
            65..75 => Op::Delete {
                index: self.guess(&key),
                key,
            },
            _ => {
                let mut two = self.keys.clone();
                self.rng.shuffle(&mut two);
                two.truncate(2);
                let compared = if self.rng.u32(..100) < 70 { 2 } else { 1 };
                let compares = two[..compared]
                    .iter()
                    .map(|k| (k.clone(), self.guess(k)))
                    .collect();
                let writes = two
                    .iter()
                    .map(|k| (k.clone(), (self.rng.u32(..100) < 75).then_some(value)))
                    .collect();
                Op::Txn { compares, writes }
            }
        }
    }

    fn saw(&mut self, key: &str, index: u64) {
        let seen = self.seen.entry(key.to_string()).or_default();
        if seen.last() != Some(&index) {
            seen.push(index);
            if seen.len() > 16 {
                seen.remove(0);
            }
        }
    }

    /// Remembers the indexes that `op` returning `ret` revealed.
    pub fn learn(&mut self, op: &Op, ret: &Ret) {
        let index = |e: &Option<(i64, u64)>| e.map_or(0, |e| e.1);
        match (op, ret) {
            (Op::Get { key }, Ret::Value(e))
            | (Op::Put { key, .. } | Op::Delete { key, .. }, Ret::Failed { current: e }) => {
                self.saw(key, index(e))
            }
            (Op::Put { key, .. }, Ret::Committed(n)) => self.saw(key, *n),
            (Op::Delete { key, .. }, Ret::Committed(_)) => self.saw(key, 0),
            (Op::Txn { writes, .. }, Ret::Committed(n)) => {
                for (k, v) in writes {
                    self.saw(k, if v.is_some() { *n } else { 0 });
                }
            }
            (Op::Txn { .. }, Ret::TxnFailed { mismatches }) => {
                for (k, _, actual) in mismatches {
                    self.saw(k, *actual);
                }
            }
            _ => {}
        }
    }
}

/// Runs `op` on `db`. An error means the outcome is unknown when its kind is
/// [`ErrorKind::Unavailable`]; any other kind is unexpected in these workloads.
pub async fn execute(db: &Client, op: &Op) -> interlock::Result<Ret> {
    match op {
        Op::Get { key } => Ok(Ret::Value(
            db.get(key).await?.map(|e| entry(&e)).transpose()?,
        )),
        Op::Put { key, value, index } => put_ret(key, db.put(key, *value, *index).await?),
        Op::Delete { key, index } => put_ret(key, db.delete(key, Some(*index)).await?),
        Op::Txn { compares, writes } => {
            let mut txn = db.txn();
            for (k, i) in compares {
                txn.check(k, *i);
            }
            for (k, v) in writes {
                match v {
                    Some(v) => txn.set(k, *v),
                    None => txn.delete(k),
                };
            }
            match txn.commit().await {
                Ok(index) => Ok(Ret::Committed(index)),
                Err(e) if e.kind() == ErrorKind::Conflict => Ok(Ret::TxnFailed {
                    mismatches: e
                        .conflicts()
                        .iter()
                        .map(|c| (c.key.clone(), c.expected, c.actual))
                        .collect(),
                }),
                Err(e) => Err(e),
            }
        }
    }
}

fn number(key: &str, value: &Value) -> interlock::Result<i64> {
    value.as_i64().ok_or_else(|| {
        interlock::Error::internal(format!(
            "'{key}' holds {value}, which no client of the workload wrote"
        ))
    })
}

fn entry(e: &Entry) -> interlock::Result<(i64, u64)> {
    Ok((number(&e.key, &e.value)?, e.index))
}

fn put_ret(key: &str, r: PutResult) -> interlock::Result<Ret> {
    if r.successful {
        return Ok(Ret::Committed(r.index));
    }
    let current = match (r.index, &r.value) {
        (0, _) => None,
        (index, Some(v)) => Some((number(key, v)?, index)),
        (index, None) => {
            return Err(interlock::Error::internal(format!(
                "a failed compare on '{key}' reported index {index} without a value"
            )));
        }
    };
    Ok(Ret::Failed { current })
}

// ---------------------------------------------------------------------------------------------
// Record format

/// `op` as the record format writes it.
pub fn op_json(op: &Op) -> Value {
    match op {
        Op::Get { key } => json!({ "type": "get", "key": key }),
        Op::Put { key, value, index } => {
            json!({ "type": "put", "key": key, "value": value, "index": index })
        }
        Op::Delete { key, index } => json!({ "type": "delete", "key": key, "index": index }),
        Op::Txn { compares, writes } => json!({
            "type": "txn",
            "compares": compares.iter().map(|(k, i)| json!([k, i])).collect::<Vec<_>>(),
            "writes": writes.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>(),
        }),
    }
}

/// `ret` as the record format writes it.
pub fn ret_json(ret: &Ret) -> Value {
    let entry = |e: &Option<(i64, u64)>| e.map_or(Value::Null, |(v, i)| json!([v, i]));
    match ret {
        Ret::Value(e) => json!({ "type": "value", "entry": entry(e) }),
        Ret::Committed(index) => json!({ "type": "committed", "index": index }),
        Ret::Failed { current } => json!({ "type": "failed", "current": entry(current) }),
        Ret::TxnFailed { mismatches } => json!({
            "type": "txn_failed",
            "mismatches": mismatches.iter().map(|(k, e, a)| json!([k, e, a])).collect::<Vec<_>>(),
        }),
    }
}

fn field<'a>(v: &'a Value, name: &str) -> Result<&'a Value, String> {
    v.get(name).ok_or_else(|| format!("no '{name}' in {v}"))
}

fn u64_of(v: &Value, name: &str) -> Result<u64, String> {
    field(v, name)?
        .as_u64()
        .ok_or_else(|| format!("'{name}' is not an unsigned integer in {v}"))
}

fn str_of(v: &Value, name: &str) -> Result<String, String> {
    field(v, name)?
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("'{name}' is not a string in {v}"))
}

fn array_of<'a>(v: &'a Value, name: &str) -> Result<&'a Vec<Value>, String> {
    field(v, name)?
        .as_array()
        .ok_or_else(|| format!("'{name}' is not an array in {v}"))
}

fn entry_of(v: &Value, name: &str) -> Result<Option<(i64, u64)>, String> {
    match field(v, name)? {
        Value::Null => Ok(None),
        Value::Array(a) => match (
            a.first().and_then(Value::as_i64),
            a.get(1).and_then(Value::as_u64),
        ) {
            (Some(value), Some(index)) if a.len() == 2 => Ok(Some((value, index))),
            _ => Err(format!("'{name}' is not [value, index] in {v}")),
        },
        _ => Err(format!(
            "'{name}' is neither null nor [value, index] in {v}"
        )),
    }
}

/// Reads an [`op_json`] object.
pub fn op_from_json(v: &Value) -> Result<Op, String> {
    let key = || str_of(v, "key");
    match str_of(v, "type")?.as_str() {
        "get" => Ok(Op::Get { key: key()? }),
        "put" => Ok(Op::Put {
            key: key()?,
            value: field(v, "value")?
                .as_i64()
                .ok_or_else(|| format!("'value' is not an integer in {v}"))?,
            index: u64_of(v, "index")?,
        }),
        "delete" => Ok(Op::Delete {
            key: key()?,
            index: u64_of(v, "index")?,
        }),
        "txn" => {
            let compares = array_of(v, "compares")?
                .iter()
                .map(|c| {
                    match (
                        c.get(0).and_then(Value::as_str),
                        c.get(1).and_then(Value::as_u64),
                    ) {
                        (Some(k), Some(i)) => Ok((k.to_string(), i)),
                        _ => Err(format!("a compare is not [key, index] in {v}")),
                    }
                })
                .collect::<Result<_, _>>()?;
            let writes = array_of(v, "writes")?
                .iter()
                .map(|w| match (w.get(0).and_then(Value::as_str), w.get(1)) {
                    (Some(k), Some(Value::Null)) => Ok((k.to_string(), None)),
                    (Some(k), Some(n)) if n.is_i64() => Ok((k.to_string(), n.as_i64())),
                    _ => Err(format!("a write is not [key, value or null] in {v}")),
                })
                .collect::<Result<_, _>>()?;
            Ok(Op::Txn { compares, writes })
        }
        other => Err(format!("unknown operation type '{other}' in {v}")),
    }
}

/// Reads a [`ret_json`] object.
pub fn ret_from_json(v: &Value) -> Result<Ret, String> {
    match str_of(v, "type")?.as_str() {
        "value" => Ok(Ret::Value(entry_of(v, "entry")?)),
        "committed" => Ok(Ret::Committed(u64_of(v, "index")?)),
        "failed" => Ok(Ret::Failed {
            current: entry_of(v, "current")?,
        }),
        "txn_failed" => Ok(Ret::TxnFailed {
            mismatches: array_of(v, "mismatches")?
                .iter()
                .map(|m| {
                    match (
                        m.get(0).and_then(Value::as_str),
                        m.get(1).and_then(Value::as_u64),
                        m.get(2).and_then(Value::as_u64),
                    ) {
                        (Some(k), Some(e), Some(a)) => Ok((k.to_string(), e, a)),
                        _ => Err(format!("a mismatch is not [key, expected, actual] in {v}")),
                    }
                })
                .collect::<Result<_, _>>()?,
        }),
        other => Err(format!("unknown return type '{other}' in {v}")),
    }
}

/// Appends one worker's history to its file, one line per invocation and completion, each
/// written with a single `write` as soon as it happens.
pub struct Recorder {
    file: File,
    client: usize,
    next: u64,
}

impl Recorder {
    /// Creates (or appends to) the history file at `path` for `client`.
    pub fn create(path: &Path, client: usize) -> io::Result<Recorder> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Recorder {
            file,
            client,
            next: 0,
        })
    }

    fn line(&mut self, v: Value) {
        let mut line = v.to_string();
        line.push('\n');
        self.file
            .write_all(line.as_bytes())
            .expect("append to the history file");
    }

    /// Records that `op` is invoked now; call it before sending the request.
    pub fn invoke(&mut self, op: &Op) -> u64 {
        let id = self.next;
        self.next += 1;
        let t = monotonic_ns();
        self.line(json!({
            "kind": "invoke", "id": id, "client": self.client, "t": t, "op": op_json(op),
        }));
        id
    }

    /// Records that operation `id` returned `ret` (call it after the reply arrived).
    pub fn ok(&mut self, id: u64, ret: &Ret) {
        let t = monotonic_ns();
        self.line(json!({ "kind": "ok", "id": id, "t": t, "ret": ret_json(ret) }));
    }

    /// Records that operation `id` failed with `error`: its outcome is unknown.
    pub fn error(&mut self, id: u64, error: &interlock::Error) {
        let t = monotonic_ns();
        self.line(json!({
            "kind": "error", "id": id, "t": t,
            "error": error.kind().as_str(), "message": error.to_string(),
        }));
    }
}

/// The operations of several history files, merged.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Every operation, ordered by invocation, numbered in that order.
    pub operations: Vec<Operation>,
    /// Errors recorded, by kind, with one message of each kind.
    pub errors: BTreeMap<String, (usize, String)>,
    /// Invocations with neither an `ok` nor an `error` line: the worker was killed meanwhile.
    pub unfinished: usize,
    /// Torn last lines skipped.
    pub torn: usize,
}

/// Merges the contents of history files (one string per file). Fails on a line that is not in
/// the record format, other than a torn last line.
pub fn load(files: &[String]) -> Result<Loaded, String> {
    let mut loaded = Loaded::default();
    let mut ops: Vec<Operation> = Vec::new();
    for (f, text) in files.iter().enumerate() {
        let mut lines: Vec<&str> = text.split_inclusive('\n').collect();
        if lines.last().is_some_and(|l| !l.ends_with('\n')) {
            lines.pop();
            loaded.torn += 1;
        }
        // Operation ids of this file → index into `ops`.
        let mut mine: HashMap<u64, usize> = HashMap::new();
        for (n, line) in lines.iter().enumerate() {
            let at = |e: String| format!("file {f}, line {}: {e}", n + 1);
            let v: Value = serde_json::from_str(line).map_err(|e| at(e.to_string()))?;
            let id = u64_of(&v, "id").map_err(at)?;
            let t = u64_of(&v, "t").map_err(at)?;
            let kind = str_of(&v, "kind").map_err(at)?;
            if kind == "invoke" {
                let op = op_from_json(field(&v, "op").map_err(at)?).map_err(at)?;
                let client = u64_of(&v, "client").map_err(at)? as usize;
                if mine.insert(id, ops.len()).is_some() {
                    return Err(at(format!("operation {id} invoked twice")));
                }
                ops.push(Operation {
                    id: 0,
                    client,
                    op,
                    invoked: 2 * t,
                    outcome: Outcome::Unknown,
                });
                continue;
            }
            let &i = mine
                .get(&id)
                .ok_or_else(|| at(format!("operation {id} completed but never invoked")))?;
            let o = &mut ops[i];
            if o.outcome != Outcome::Unknown {
                return Err(at(format!("operation {id} completed twice")));
            }
            match kind.as_str() {
                "ok" => {
                    let ret = ret_from_json(field(&v, "ret").map_err(at)?).map_err(at)?;
                    o.outcome = Outcome::Returned { ret, at: 2 * t + 1 };
                }
                "error" => {
                    let error = str_of(&v, "error").map_err(at)?;
                    let message = str_of(&v, "message").unwrap_or_default();
                    loaded.errors.entry(error).or_insert((0, message)).0 += 1;
                    // Stays unknown; mark it so that it does not count as unfinished.
                    mine.remove(&id);
                }
                other => return Err(at(format!("unknown line kind '{other}'"))),
            }
        }
        loaded.unfinished += mine
            .values()
            .filter(|&&i| ops[i].outcome == Outcome::Unknown)
            .count();
    }
    ops.sort_by_key(|o| o.invoked);
    for (n, o) in ops.iter_mut().enumerate() {
        o.id = n;
    }
    loaded.operations = ops;
    Ok(loaded)
}

/// How many operations with an unknown outcome a linearization (`order`, from
/// [`Verdict::Linearizable`](crate::linearizability::Verdict::Linearizable)) needed to have taken
/// effect.
pub fn unknown_in(ops: &[Operation], order: &[usize]) -> usize {
    let unknown: std::collections::HashSet<usize> = ops
        .iter()
        .filter(|o| o.outcome == Outcome::Unknown)
        .map(|o| o.id)
        .collect();
    order.iter().filter(|id| unknown.contains(id)).count()
}

/// Counts of a history's operations by kind and outcome, for test output.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    pub total: usize,
    pub completed: usize,
    pub unknown: usize,
    /// Per kind (`get`, `put`, `delete`, `txn`): outcome (`ok`, `committed`, `failed`,
    /// `unknown`) → count.
    pub by_kind: BTreeMap<&'static str, BTreeMap<&'static str, usize>>,
}

impl Summary {
    pub fn of(ops: &[Operation]) -> Summary {
        let mut s = Summary {
            total: ops.len(),
            ..Summary::default()
        };
        for o in ops {
            let kind = match o.op {
                Op::Get { .. } => "get",
                Op::Put { .. } => "put",
                Op::Delete { .. } => "delete",
                Op::Txn { .. } => "txn",
            };
            let outcome = match &o.outcome {
                Outcome::Unknown => "unknown",
                Outcome::Returned { ret, .. } => match ret {
                    Ret::Value(_) => "ok",
                    Ret::Committed(_) => "committed",
                    Ret::Failed { .. } | Ret::TxnFailed { .. } => "failed",
                },
            };
            if outcome == "unknown" {
                s.unknown += 1;
            } else {
                s.completed += 1;
            }
            *s.by_kind
                .entry(kind)
                .or_default()
                .entry(outcome)
                .or_default() += 1;
        }
        s
    }

    /// Completed operations of `kind` with `outcome`.
    pub fn count(&self, kind: &str, outcome: &str) -> usize {
        self.by_kind
            .get(kind)
            .and_then(|o| o.get(outcome))
            .copied()
            .unwrap_or(0)
    }

    /// Fails unless at least `min_completed` operations completed and every `(kind, outcome)`
    /// occurred, so that a fault test cannot pass on a history that exercised nothing.
    pub fn assert_exercised(&self, min_completed: usize, kinds: &[(&str, &str)]) {
        assert!(
            self.completed >= min_completed,
            "only {} operations completed",
            self.completed
        );
        for (kind, outcome) in kinds {
            assert!(
                self.count(kind, outcome) > 0,
                "no {kind} {outcome} in the history:\n{self}"
            );
        }
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} operations: {} completed, {} unknown",
            self.total, self.completed, self.unknown
        )?;
        for (kind, outcomes) in &self.by_kind {
            let parts: Vec<String> = outcomes.iter().map(|(o, n)| format!("{n} {o}")).collect();
            write!(f, "\n  {kind:<6} {}", parts.join(", "))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ops_and_returns_round_trip_through_the_record_format() {
        let ops = [
            Op::Get { key: "k0".into() },
            Op::Put {
                key: "k1".into(),
                value: 3_000_008,
                index: 41,
            },
            Op::Delete {
                key: "k2".into(),
                index: 0,
            },
            Op::Txn {
                compares: vec![("k0".into(), 7), ("k1".into(), 0)],
                writes: vec![("k0".into(), Some(-5)), ("k1".into(), None)],
            },
        ];
        for op in &ops {
            assert_eq!(op_from_json(&op_json(op)).as_ref(), Ok(op));
        }
        let rets = [
            Ret::Value(None),
            Ret::Value(Some((12, 3))),
            Ret::Committed(44),
            Ret::Failed { current: None },
            Ret::Failed {
                current: Some((1, 2)),
            },
            Ret::TxnFailed {
                mismatches: vec![("k0".into(), 7, 9), ("k1".into(), 0, 4)],
            },
        ];
        for ret in &rets {
            assert_eq!(ret_from_json(&ret_json(ret)).as_ref(), Ok(ret));
        }
    }

    #[test]
    fn load_merges_files_and_keeps_unfinished_operations_unknown() {
        let a = [
            r#"{"kind":"invoke","id":0,"client":0,"t":10,"op":{"type":"get","key":"k0"}}"#,
            r#"{"kind":"ok","id":0,"t":20,"ret":{"type":"value","entry":null}}"#,
            r#"{"kind":"invoke","id":1,"client":0,"t":30,"op":{"type":"put","key":"k0","value":1,"index":0}}"#,
            r#"{"kind":"error","id":1,"t":40,"error":"Unavailable","message":"busy"}"#,
            r#"{"kind":"invoke","id":2,"client":0,"t":50,"op":{"type":"get","key":"k1"}}"#,
        ]
        .map(|l| format!("{l}\n"))
        .concat();
        // A killed worker: an invocation without completion, then a torn line.
        let b = concat!(
            r#"{"kind":"invoke","id":0,"client":1,"t":20,"op":{"type":"delete","key":"k0","index":3}}"#,
            "\n",
            r#"{"kind":"invoke","id":1,"cli"#,
        )
        .to_string();
        let loaded = load(&[a, b]).unwrap();
        let ops = &loaded.operations;
        assert_eq!(ops.len(), 4);
        assert_eq!(
            ops.iter().map(|o| (o.id, o.client)).collect::<Vec<_>>(),
            [(0, 0), (1, 1), (2, 0), (3, 0)]
        );
        assert_eq!(
            ops[0].outcome,
            Outcome::Returned {
                ret: Ret::Value(None),
                at: 41
            }
        );
        // Invoked in the nanosecond the first returned: concurrent with it, not after it.
        assert_eq!(ops[1].invoked, 40);
        assert!(ops[1..].iter().all(|o| o.outcome == Outcome::Unknown));
        assert_eq!(loaded.unfinished, 2);
        assert_eq!(loaded.torn, 1);
        assert_eq!(loaded.errors["Unavailable"].0, 1);
        assert!(load(&["{\"kind\":\"ok\",\"id\":0,\"t\":1}\n".to_string()]).is_err());
    }
}
