//! A linearizability checker for recorded histories of key-value operations, for the fault tests.
//!
//! Concurrent clients record every operation with [`History`]: [`History::invoke`] before the
//! request is sent, then [`History::complete`] after the reply arrives, or [`History::unknown`]
//! when the outcome is unknown (an error, a timeout, a killed client process). [`check`] then
//! decides whether some total order of the operations, consistent with their real-time order
//! (an operation that returned before another was invoked comes first), explains every return
//! value under the sequential model below.
//!
//! # Model
//!
//! Keys map to `(value, index)` entries with `i64` values. There is one store-wide index: every
//! commit that writes gets an index greater than every earlier commit's, not necessarily the
//! next integer (writers outside the recorded history advance it too). The initial state has
//! every key absent. [`Op`] and [`Ret`] list the operations and what each may return. A commit
//! that writes nothing (a txn whose compares held but whose deletes found nothing) returns the
//! store's current index; that index is not checked.
//!
//! An operation with an unknown outcome may take effect at any moment after its invocation, or
//! never; its return value is not known, so in particular the index of its commit is not known.
//! Reads with an unknown outcome constrain nothing and are ignored.
//!
//! # Unknown commit indexes
//!
//! A write with an unknown outcome that is linearized as having taken effect writes a symbolic
//! index: a variable known only to lie in a range `lo <= x < hi`, where `lo` is the lower bound
//! for the next commit index at that point, and `hi` shrinks to the index of any later commit
//! with a known index. A later observation of the entry (a read, a failed compare's current
//! entry, a txn mismatch, a compare that held) pins the variable to the observed index, which
//! must lie in the range; pinning also tightens the other variables ordered before or after it
//! and raises the lower bound for the next commit. An unknown commit itself leaves that bound
//! alone (its variable's range keeps later commits above it while its entry lives), so unknown
//! commits that commute lead to the same state. Every check made on the symbolic state is
//! implied by the real constraints (indexes strictly increase in commit order, and a key's
//! index is that of its last write), so a history that some real index assignment explains is
//! never rejected. The approximation can accept a few wrong histories: variables whose entries
//! were all overwritten are forgotten, and variables with equal lower bounds are not ordered
//! against each other. The tests compare the verdicts with an exhaustive search over orders
//! and exact indexes on many small random histories.
//!
//! # Search
//!
//! The search is Wing and Gong's with Lowe's memoization, as in Porcupine: depth-first, it
//! linearizes one pending operation at a time (only operations invoked before the earliest
//! return among the pending completed ones can go next) and backtracks on a dead end. It
//! remembers the nodes (operations linearized, model state) that failed, and also gives up on
//! a node when one with the same completed operations, the same state and a subset of its
//! unknown-outcome operations applied failed: that one had every option this one has. Further
//! reductions keep histories of thousands of operations on a few keys fast:
//!
//! - Completed writes must commit in the order of their indexes, so only the pending completed
//!   write with the smallest index may go next.
//! - An operation that writes nothing whatever the state (a get, a failed compare) and that fits
//!   the current state without pinning a variable is linearized at once with no alternatives
//!   tried: moving it to the front of any valid completion keeps that completion valid.
//! - A pending operation with an unknown outcome is dropped (it never takes effect) once its
//!   compare can no longer hold (its expected index is below every future commit index and is
//!   not the key's current one, or it expects absence of a key that exists and that no
//!   operation deletes), or once every operation that could observe its effect is linearized
//!   (see `observers`; a write that nothing could observe is dropped at once).
//!
//! Keys are not checked separately (P-compositionality), because transactions span keys.
//! [`Limits`] bounds the work; a search that exceeds it answers [`Verdict::GaveUp`].
//!
//! Proving that no linearization exists can take the search long when many operations have an
//! unknown outcome, so [`check`] first looks for violations of necessary conditions among the
//! completed operations: two commits with one index; a commit with an index not above that of
//! a commit that returned before it was invoked; a returned entry that no operation invoked
//! before it returned could have written; a key observed at an index below one that an
//! operation which returned earlier observed or wrote. These catch stale reads, lost updates
//! and index regressions between operations that do not overlap at once, with a short
//! explanation.
//!
//! # Why not a published checker
//!
//! - stateright 0.31 (`semantics::LinearizabilityTester`): a depth-first search without
//!   memoization, exponential on histories of this size; one operation in flight per thread;
//!   its sequential specification returns one deterministic value per operation, so a write with
//!   an unknown outcome would get a guessed index that a later read contradicts.
//! - todc-utils 0.1.1 (`linearizability::WGLChecker`): the same algorithm with memoization, but a
//!   specification's `apply` gives one successor state and a yes/no answer, so an operation
//!   cannot both maybe-take-effect and get an unconstrained index (its etcd specification
//!   assumes unknown writes took effect); it has no step or time limit and no explanation of a
//!   failure.
//! - Porcupine (Go) would need a Go toolchain and an exported history, and its register models
//!   have neither the store-wide index nor multi-key transactions.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Identifies an operation in a [`History`]: the order in which it was invoked.
pub type OpId = usize;

/// An operation a client invoked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Reads `key`; returns [`Ret::Value`].
    Get { key: String },
    /// Writes `value` if `key` is at `index` (`0`: only if absent); returns [`Ret::Committed`] or
    /// [`Ret::Failed`].
    Put { key: String, value: i64, index: u64 },
    /// Deletes `key` if it exists at `index`; returns [`Ret::Committed`] or [`Ret::Failed`] (also
    /// when `index` is 0 and the key is absent: nothing to delete).
    Delete { key: String, index: u64 },
    /// If every compare `(key, index)` holds (`0`: absent), applies every write (`None`
    /// deletes) at one new index; returns [`Ret::Committed`] or [`Ret::TxnFailed`].
    Txn {
        compares: Vec<(String, u64)>,
        writes: Vec<(String, Option<i64>)>,
    },
}

/// What a completed operation returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ret {
    /// A get: the entry's `(value, index)`, or `None` if absent.
    Value(Option<(i64, u64)>),
    /// A put, delete or txn whose compares held: the index of its commit.
    Committed(u64),
    /// A put or delete that did not commit: the key's entry at that moment.
    Failed { current: Option<(i64, u64)> },
    /// A txn whose compares did not all hold: every failed compare as `(key, expected,
    /// actual)`, `actual` 0 for an absent key.
    TxnFailed { mismatches: Vec<(String, u64, u64)> },
}

/// How an operation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It returned `ret` at logical time `at`.
    Returned { ret: Ret, at: u64 },
    /// It may or may not have taken effect (also an operation never completed nor marked).
    Unknown,
}

/// One recorded operation. Times are logical: one clock shared by every invocation and return
/// of a history, so only their order matters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    pub id: OpId,
    pub client: usize,
    pub op: Op,
    pub invoked: u64,
    pub outcome: Outcome,
}

/// A thread-safe recorder of invocations and completions, shared by the clients of a test
/// (behind an `Arc`).
///
/// Call [`invoke`](History::invoke) before sending the request and [`complete`](History::complete)
/// after the reply arrives: recording late only widens an operation's interval, which never makes
/// a correct store fail the check.
#[derive(Debug, Default)]
pub struct History {
    inner: Mutex<Recorded>,
}

#[derive(Debug, Default)]
struct Recorded {
    clock: u64,
    ops: Vec<Operation>,
    settled: Vec<bool>,
}

impl History {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Recorded> {
        // A client that panicked while holding the lock left the record intact.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records that `client` invokes `op` now.
    pub fn invoke(&self, client: usize, op: Op) -> OpId {
        let mut r = self.lock();
        r.clock += 1;
        let id = r.ops.len();
        let invoked = r.clock;
        r.ops.push(Operation {
            id,
            client,
            op,
            invoked,
            outcome: Outcome::Unknown,
        });
        r.settled.push(false);
        id
    }

    /// Records that operation `id` returned `ret` now.
    ///
    /// # Panics
    /// If `id` was already completed or marked unknown.
    pub fn complete(&self, id: OpId, ret: Ret) {
        let mut r = self.lock();
        assert!(!r.settled[id], "operation {id} settled twice");
        r.settled[id] = true;
        r.clock += 1;
        let at = r.clock;
        r.ops[id].outcome = Outcome::Returned { ret, at };
    }

    /// Records that the outcome of operation `id` is unknown.
    ///
    /// # Panics
    /// If `id` was already completed or marked unknown.
    pub fn unknown(&self, id: OpId) {
        let mut r = self.lock();
        assert!(!r.settled[id], "operation {id} settled twice");
        r.settled[id] = true;
    }

    /// Every operation recorded so far, in invocation order.
    pub fn operations(&self) -> Vec<Operation> {
        self.lock().ops.clone()
    }

    pub fn len(&self) -> usize {
        self.lock().ops.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// [`check`] of the operations recorded so far.
    pub fn check(&self, limits: &Limits) -> Verdict {
        check(&self.operations(), limits)
    }
}

/// Bounds on the work of one [`check`].
#[derive(Debug, Clone)]
pub struct Limits {
    /// Operations tried at search nodes, counting backtracking.
    pub max_steps: u64,
    pub max_time: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_steps: 20_000_000,
            max_time: Duration::from_secs(120),
        }
    }
}

/// The answer of [`check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// `order` is a valid linearization: every completed operation, plus the operations with
    /// an unknown outcome that took effect in it.
    Linearizable { order: Vec<OpId>, steps: u64 },
    /// No linearization exists. `explanation` describes the longest partial linearization found
    /// and why none of the operations that could come next fits.
    NotLinearizable { explanation: String, steps: u64 },
    /// The search exceeded [`Limits`]; `deepest` completed operations were the most it
    /// linearized. Tests must treat this as a failure.
    GaveUp {
        steps: u64,
        elapsed: Duration,
        deepest: usize,
        completed: usize,
    },
}

impl Verdict {
    pub fn is_linearizable(&self) -> bool {
        matches!(self, Verdict::Linearizable { .. })
    }

    /// # Panics
    /// Unless the verdict is [`Verdict::Linearizable`], with the explanation.
    pub fn assert_linearizable(&self) {
        assert!(self.is_linearizable(), "{self}");
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Linearizable { order, steps } => write!(
                f,
                "linearizable: {} operations ordered in {steps} steps",
                order.len()
            ),
            Verdict::NotLinearizable { explanation, steps } => {
                write!(f, "not linearizable ({steps} steps): {explanation}")
            }
            Verdict::GaveUp {
                steps,
                elapsed,
                deepest,
                completed,
            } => write!(
                f,
                "gave up after {steps} steps in {elapsed:?}; linearized at most {deepest} of \
                 {completed} completed operations"
            ),
        }
    }
}

/// Decides whether `history` is linearizable.
///
/// # Panics
/// If an operation's return does not fit its kind (a get that returned [`Ret::Committed`], a
/// txn that returned [`Ret::Failed`], ...) or it returned before it was invoked: recording bugs.
pub fn check(history: &[Operation], limits: &Limits) -> Verdict {
    match quick_refutation(history) {
        Some(explanation) => Verdict::NotLinearizable {
            explanation,
            steps: 0,
        },
        None => search(history, limits),
    }
}

/// [`check`] by the search alone, without the quick refutations first (to test the search).
pub fn search(history: &[Operation], limits: &Limits) -> Verdict {
    Search::new(history).run(limits)
}

/// One line per operation, in invocation order, for failure reports.
pub fn render(history: &[Operation]) -> String {
    let mut out = String::new();
    for op in history {
        out.push_str(&op.to_string());
        out.push('\n');
    }
    out
}

fn entry_str(e: &Option<(i64, u64)>) -> String {
    match e {
        Some((v, i)) => format!("{v}@{i}"),
        None => "absent".to_string(),
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Get { key } => write!(f, "get({key})"),
            Op::Put { key, value, index } => write!(f, "put({key}, {value}, at {index})"),
            Op::Delete { key, index } => write!(f, "delete({key}, at {index})"),
            Op::Txn { compares, writes } => {
                let c: Vec<String> = compares.iter().map(|(k, i)| format!("{k}@{i}")).collect();
                let w: Vec<String> = writes
                    .iter()
                    .map(|(k, v)| match v {
                        Some(v) => format!("{k}={v}"),
                        None => format!("delete {k}"),
                    })
                    .collect();
                write!(f, "txn(if [{}] then [{}])", c.join(", "), w.join(", "))
            }
        }
    }
}

impl fmt::Display for Ret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ret::Value(e) => write!(f, "{}", entry_str(e)),
            Ret::Committed(i) => write!(f, "committed at {i}"),
            Ret::Failed { current } => write!(f, "failed, current {}", entry_str(current)),
            Ret::TxnFailed { mismatches } => {
                let m: Vec<String> = mismatches
                    .iter()
                    .map(|(k, e, a)| format!("{k} expected {e} actual {a}"))
                    .collect();
                write!(f, "failed: [{}]", m.join(", "))
            }
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.outcome {
            Outcome::Returned { ret, at } => write!(
                f,
                "#{} client {} [{}, {}] {} -> {}",
                self.id, self.client, self.invoked, at, self.op, ret
            ),
            Outcome::Unknown => write!(
                f,
                "#{} client {} [{}, ?] {} -> unknown",
                self.id, self.client, self.invoked, self.op
            ),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Quick refutation

/// The first violation of a necessary condition for linearizability among the completed
/// operations (see the module documentation), or `None`.
fn quick_refutation(history: &[Operation]) -> Option<String> {
    struct Done<'a> {
        o: &'a Operation,
        ret: &'a Ret,
        at: u64,
    }
    let done: Vec<Done> = history
        .iter()
        .filter_map(|o| match &o.outcome {
            Outcome::Returned { ret, at } => Some(Done { o, ret, at: *at }),
            Outcome::Unknown => None,
        })
        .collect();
    // Commits that certainly wrote, with their index and the keys they wrote.
    let commits: Vec<(&Done, u64, Vec<&str>)> = done
        .iter()
        .filter_map(|d| match (&d.o.op, d.ret) {
            (Op::Put { key, .. } | Op::Delete { key, .. }, Ret::Committed(n)) => {
                Some((d, *n, vec![key.as_str()]))
            }
            (Op::Txn { writes, .. }, Ret::Committed(n)) if writes.iter().any(|w| w.1.is_some()) => {
                Some((d, *n, writes.iter().map(|w| w.0.as_str()).collect()))
            }
            _ => None,
        })
        .collect();
    let mut by_index: HashMap<u64, &Operation> = HashMap::new();
    for (d, n, _) in &commits {
        if let Some(other) = by_index.insert(*n, d.o) {
            return Some(format!(
                "two commits have index {n}:\n    {other}\n    {}",
                d.o
            ));
        }
    }
    /// (time, index, operation)
    type Timed<'a> = Vec<(u64, u64, &'a Operation)>;
    // Each of `events` raises a floor from its time on; a query must not be below the floor
    // raised before its time (nor at it, if `strict`).
    fn violation<'a>(
        mut events: Timed<'a>,
        queries: Timed<'a>,
        strict: bool,
    ) -> Option<(&'a Operation, &'a Operation)> {
        events.sort_unstable_by_key(|e| e.0);
        let mut max: Vec<(u64, &Operation)> = Vec::with_capacity(events.len());
        for e in &events {
            match max.last() {
                Some(&(m, _)) if m >= e.1 => max.push(max[max.len() - 1]),
                _ => max.push((e.1, e.2)),
            }
        }
        queries.into_iter().find_map(|(time, index, q)| {
            let p = events.partition_point(|e| e.0 < time);
            let (floor, by) = *max.get(p.checked_sub(1)?)?;
            (floor > index || (strict && floor == index)).then_some((by, q))
        })
    }
    let commit_events: Timed = commits.iter().map(|(d, n, _)| (d.at, *n, d.o)).collect();
    let commit_queries = commits
        .iter()
        .map(|(d, n, _)| (d.o.invoked, *n, d.o))
        .collect();
    if let Some((before, after)) = violation(commit_events, commit_queries, true) {
        return Some(format!(
            "a commit's index is not above that of a commit that returned before it was \
             invoked:\n    {before}\n    {after}"
        ));
    }
    // Entries returned, and the indexes at which each key was observed or written.
    let mut entries: Vec<(&Done, &str, i64)> = Vec::new();
    let mut seen: HashMap<&str, (Timed, Timed)> = HashMap::new();
    for d in &done {
        let mut observed: Vec<(&str, u64)> = Vec::new();
        match (&d.o.op, d.ret) {
            (
                Op::Get { key } | Op::Put { key, .. } | Op::Delete { key, .. },
                Ret::Value(Some((v, i)))
                | Ret::Failed {
                    current: Some((v, i)),
                },
            ) => {
                entries.push((d, key, *v));
                observed.push((key, *i));
            }
            (Op::Put { key, index, .. } | Op::Delete { key, index }, Ret::Committed(_)) => {
                observed.push((key, *index));
            }
            (Op::Txn { compares, .. }, Ret::Committed(_)) => {
                observed.extend(compares.iter().map(|(k, i)| (k.as_str(), *i)));
            }
            (Op::Txn { compares, .. }, Ret::TxnFailed { mismatches }) => {
                for (k, e) in compares {
                    match mismatches.iter().find(|m| &m.0 == k && m.1 == *e) {
                        Some(m) => observed.push((k, m.2)),
                        None => observed.push((k, *e)),
                    }
                }
            }
            _ => {}
        }
        for (k, i) in observed.into_iter().filter(|o| o.1 > 0) {
            let (events, queries) = seen.entry(k).or_default();
            events.push((d.at, i, d.o));
            queries.push((d.o.invoked, i, d.o));
        }
    }
    for (d, n, keys) in &commits {
        for k in keys {
            seen.entry(k).or_default().0.push((d.at, *n, d.o));
        }
    }
    for (key, (events, queries)) in seen {
        if let Some((before, after)) = violation(events, queries, false) {
            return Some(format!(
                "{key} is observed at an index below one at which an operation that returned \
                 earlier observed or wrote it:\n    {before}\n    {after}"
            ));
        }
    }
    // The earliest invocation of an operation that may have written each entry.
    let mut writers: HashMap<(&str, i64), u64> = HashMap::new();
    for o in history {
        let failed = matches!(
            &o.outcome,
            Outcome::Returned {
                ret: Ret::Failed { .. } | Ret::TxnFailed { .. },
                ..
            }
        );
        let written: Vec<(&str, i64)> = match &o.op {
            Op::Put { key, value, .. } => vec![(key, *value)],
            Op::Txn { writes, .. } => writes
                .iter()
                .filter_map(|(k, v)| v.map(|v| (k.as_str(), v)))
                .collect(),
            _ => Vec::new(),
        };
        if !failed {
            for w in written {
                let t = writers.entry(w).or_insert(o.invoked);
                *t = (*t).min(o.invoked);
            }
        }
    }
    for (d, key, value) in entries {
        if writers.get(&(key, value)).is_none_or(|&t| t > d.at) {
            return Some(format!(
                "no operation invoked before this one returned writes {key}={value}:\n    {}",
                d.o
            ));
        }
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Model state

/// A key's index: known, or the variable `vars[n]` of a commit whose index is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Idx {
    Known(u64),
    Var(usize),
}

/// The unknown index `x` of a commit: `lo <= x < hi`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Var {
    lo: u64,
    hi: u64,
}

/// The reason a step does not fit the state.
type Reject = &'static str;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct State {
    /// Per interned key.
    entries: Vec<Option<(i64, Idx)>>,
    /// Referenced by `entries`, numbered in order of first reference (a canonical form).
    vars: Vec<Var>,
    /// A lower bound for the index of the next commit.
    min_next: u64,
}

impl State {
    fn new(keys: usize) -> Self {
        State {
            entries: vec![None; keys],
            vars: Vec::new(),
            min_next: 1,
        }
    }

    /// Fixes variable `v` to `x`, tightening the others.
    fn pin(&mut self, v: usize, x: u64) -> Result<(), Reject> {
        let Var { lo, hi } = self.vars[v];
        if x < lo {
            return Err("the index is not above the indexes committed before that write");
        }
        if x >= hi {
            return Err("the index is not below the index of a later commit");
        }
        let mut max_lo = x;
        for (w, var) in self.vars.iter_mut().enumerate() {
            if w == v {
                continue;
            }
            // Lower bounds only ever rise together, so a strictly smaller one belongs to an
            // earlier commit, a strictly larger one to a later commit.
            if var.lo < lo {
                var.hi = var.hi.min(x);
            } else if var.lo > lo {
                var.lo = var.lo.max(x + 1);
            }
            if var.lo >= var.hi {
                return Err("no indexes fit the commits whose indexes are unknown");
            }
            max_lo = max_lo.max(var.lo);
        }
        for e in self.entries.iter_mut().flatten() {
            if e.1 == Idx::Var(v) {
                e.1 = Idx::Known(x);
            }
        }
        self.min_next = self.min_next.max(max_lo + 1);
        self.normalize();
        Ok(())
    }

    fn match_index(&mut self, idx: Idx, i: u64) -> Result<(), Reject> {
        match idx {
            Idx::Known(j) if j == i => Ok(()),
            Idx::Known(_) => Err("the key is at a different index"),
            Idx::Var(v) => self.pin(v, i),
        }
    }

    /// An observed entry (`None`: absent).
    fn observe(&mut self, key: usize, seen: Option<(i64, u64)>) -> Result<(), Reject> {
        match (self.entries[key], seen) {
            (None, None) => Ok(()),
            (Some(_), None) => Err("the key exists"),
            (None, Some(_)) => Err("the key is absent"),
            (Some((v, _)), Some((w, _))) if v != w => Err("the key holds a different value"),
            (Some((_, idx)), Some((_, i))) => self.match_index(idx, i),
        }
    }

    /// An observed index (`0`: absent).
    fn observe_index(&mut self, key: usize, i: u64) -> Result<(), Reject> {
        match self.entries[key] {
            None if i == 0 => Ok(()),
            None => Err("the key is absent"),
            Some(_) if i == 0 => Err("the key exists"),
            Some((_, idx)) => self.match_index(idx, i),
        }
    }

    /// A compare that must hold.
    fn compare(&mut self, key: usize, expected: u64) -> Result<(), Reject> {
        match self.entries[key] {
            None if expected == 0 => Ok(()),
            None => Err("a compare expects an index but the key is absent"),
            Some(_) if expected == 0 => Err("a compare expects absence but the key exists"),
            Some((_, idx)) => self
                .match_index(idx, expected)
                .map_err(|_| "a compare expects a different index"),
        }
    }

    /// Whether applying `writes` changes the store (a delete of an absent key does not).
    fn changes(&self, writes: &[(usize, Option<i64>)]) -> bool {
        writes
            .iter()
            .any(|&(k, v)| v.is_some() || self.entries[k].is_some())
    }

    /// Applies `writes` in one commit at `index` (`None`: unknown).
    fn commit(
        &mut self,
        writes: &[(usize, Option<i64>)],
        index: Option<u64>,
    ) -> Result<(), Reject> {
        let idx = match index {
            Some(n) => {
                if n < self.min_next {
                    return Err("the commit index is not above an earlier commit's");
                }
                for var in &mut self.vars {
                    var.hi = var.hi.min(n);
                    if var.lo >= var.hi {
                        return Err("the commit index is not above an earlier commit's");
                    }
                }
                self.min_next = n + 1;
                Idx::Known(n)
            }
            None => {
                // `min_next` stays: the next commit must exceed this one, but the variable's
                // range says so, and unknown commits that commute reach the same state.
                self.vars.push(Var {
                    lo: self.min_next,
                    hi: u64::MAX,
                });
                Idx::Var(self.vars.len() - 1)
            }
        };
        for &(k, v) in writes {
            self.entries[k] = v.map(|v| (v, idx));
        }
        self.normalize();
        Ok(())
    }

    /// Drops unreferenced variables and renumbers the rest in order of first reference.
    fn normalize(&mut self) {
        if self.vars.is_empty() {
            return;
        }
        let mut map = vec![usize::MAX; self.vars.len()];
        let mut vars = Vec::with_capacity(self.vars.len());
        for e in self.entries.iter_mut().flatten() {
            if let Idx::Var(v) = &mut e.1 {
                if map[*v] == usize::MAX {
                    map[*v] = vars.len();
                    vars.push(self.vars[*v]);
                }
                *v = map[*v];
            }
        }
        self.vars = vars;
    }

    /// Whether the key's current index is or may be `i` (> 0).
    fn may_be_at(&self, key: usize, i: u64) -> bool {
        match self.entries[key] {
            None => false,
            Some((_, Idx::Known(j))) => i == j,
            Some((_, Idx::Var(v))) => self.vars[v].lo <= i && i < self.vars[v].hi,
        }
    }

    fn describe(&self, keys: &[String]) -> String {
        let mut parts = Vec::new();
        for (k, e) in self.entries.iter().enumerate() {
            let s = match e {
                None => continue,
                Some((v, Idx::Known(i))) => format!("{}={v}@{i}", keys[k]),
                Some((v, Idx::Var(x))) => {
                    let var = self.vars[*x];
                    let hi = if var.hi == u64::MAX {
                        "inf".to_string()
                    } else {
                        var.hi.to_string()
                    };
                    format!("{}={v}@(unknown in [{}, {hi}))", keys[k], var.lo)
                }
            };
            parts.push(s);
        }
        format!(
            "{{{}}} (other keys absent), next commit index >= {}",
            parts.join(", "),
            self.min_next
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Prepared history

#[derive(Debug)]
enum Kind {
    Get(usize),
    Put {
        key: usize,
        value: i64,
        expected: u64,
    },
    Delete {
        key: usize,
        expected: u64,
    },
    Txn {
        compares: Vec<(usize, u64)>,
        writes: Vec<(usize, Option<i64>)>,
    },
}

#[derive(Debug)]
enum Res {
    Unknown,
    Value(Option<(i64, u64)>),
    Committed(u64),
    Failed(Option<(i64, u64)>),
    TxnFailed(Vec<(usize, u64, u64)>),
}

#[derive(Debug)]
struct Item {
    /// Index into the checked slice.
    src: usize,
    call: u64,
    /// `u64::MAX` for an unknown outcome.
    ret: u64,
    kind: Kind,
    res: Res,
    /// The commit index of a completed operation that certainly writes.
    write_index: Option<u64>,
    /// Every compare the operation makes.
    compares: Vec<(usize, u64)>,
    /// For an operation with an unknown outcome that deletes nothing: the operations that could
    /// observe its effect (see `observers`).
    observers: Option<Vec<u32>>,
}

impl Item {
    /// Whether the operation writes nothing in any state. (A txn that committed may write
    /// nothing in one state and something in another.)
    fn read_only(&self) -> bool {
        matches!(self.res, Res::Value(_) | Res::Failed(_) | Res::TxnFailed(_))
    }
}

fn apply(state: &State, item: &Item) -> Result<State, Reject> {
    let mut s = state.clone();
    match (&item.kind, &item.res) {
        (Kind::Get(k), Res::Value(seen)) => s.observe(*k, *seen)?,
        (
            Kind::Put {
                key,
                value,
                expected,
            },
            Res::Committed(n),
        ) => {
            s.compare(*key, *expected)?;
            s.commit(&[(*key, Some(*value))], Some(*n))?;
        }
        (
            Kind::Put {
                key,
                value,
                expected,
            },
            Res::Unknown,
        ) => {
            s.compare(*key, *expected)?;
            s.commit(&[(*key, Some(*value))], None)?;
        }
        (Kind::Put { key, expected, .. }, Res::Failed(current)) => {
            s.observe(*key, *current)?;
            if current.map_or(0, |c| c.1) == *expected {
                return Err("the compare holds, so the put would commit");
            }
        }
        (Kind::Delete { key, expected }, Res::Committed(n)) => {
            if *expected == 0 {
                return Err("a delete at index 0 has nothing to delete");
            }
            s.compare(*key, *expected)?;
            s.commit(&[(*key, None)], Some(*n))?;
        }
        (Kind::Delete { key, expected }, Res::Unknown) => {
            s.compare(*key, *expected)?;
            s.commit(&[(*key, None)], None)?;
        }
        (Kind::Delete { key, expected }, Res::Failed(current)) => {
            s.observe(*key, *current)?;
            if matches!(current, Some((_, i)) if i == expected) {
                return Err("the key is at the expected index, so the delete would commit");
            }
        }
        (Kind::Txn { compares, writes }, Res::Committed(n)) => {
            for &(k, e) in compares {
                s.compare(k, e)?;
            }
            if s.changes(writes) {
                s.commit(writes, Some(*n))?;
            }
        }
        (Kind::Txn { compares, writes }, Res::Unknown) => {
            for &(k, e) in compares {
                s.compare(k, e)?;
            }
            if !s.changes(writes) {
                return Err("the txn would change nothing");
            }
            s.commit(writes, None)?;
        }
        (Kind::Txn { compares, .. }, Res::TxnFailed(mismatches)) => {
            for &(k, e, a) in mismatches {
                if !compares.contains(&(k, e)) {
                    return Err("a reported mismatch is not one of the txn's compares");
                }
                if a == e {
                    return Err("a reported mismatch has the expected index");
                }
            }
            let mut failed = false;
            for &(k, e) in compares {
                match mismatches.iter().find(|m| m.0 == k && m.1 == e) {
                    Some(&(_, _, actual)) => {
                        failed = true;
                        s.observe_index(k, actual)?;
                    }
                    None => s.compare(k, e).map_err(
                        |_| "a compare that does not hold is missing from the mismatches",
                    )?,
                }
            }
            if !failed {
                return Err("the txn reports failure but all its compares hold");
            }
        }
        (kind, res) => unreachable!("validated: {kind:?} -> {res:?}"),
    }
    Ok(s)
}

/// Finds, for every operation `u` with an unknown outcome that deletes nothing, the operations
/// that could observe its effect: those that return one of the values it writes for that key,
/// and those that refer to an index of a key it writes (a compare, a reported mismatch) that
/// could be the index of `u`'s commit: no completed commit has it, it is above every index
/// committed before `u` was invoked, and no returned entry with that index has a key and value
/// that `u` does not write (one commit has one index). Operations that returned before `u` was
/// invoked cannot observe it.
///
/// Once all of them are linearized, `u` may be dropped: in any valid completion that includes
/// it, no remaining operation reads its entries, nor compares against them, so without it the
/// keys it wrote hold earlier entries that nobody looks at, and commits have fewer indexes to
/// stay above. In particular `u` is dropped at once if nothing could observe it.
fn observers(items: &mut [Item]) {
    let committed: HashSet<u64> = items.iter().filter_map(|i| i.write_index).collect();
    // Known commits by return, with the largest index committed up to each.
    let mut by_ret: Vec<(u64, u64)> = items
        .iter()
        .filter_map(|i| i.write_index.map(|n| (i.ret, n)))
        .collect();
    by_ret.sort_unstable();
    let mut max = 0;
    for e in &mut by_ret {
        max = max.max(e.1);
        e.1 = max;
    }
    // (item, key, value) of observed entries and (item, key, index) of index references.
    let mut values: Vec<(u32, usize, i64)> = Vec::new();
    let mut indexes: Vec<(u32, usize, u64)> = Vec::new();
    for (n, item) in items.iter().enumerate() {
        let n = n as u32;
        let held: Vec<(usize, u64)> = match &item.res {
            Res::Value(Some((v, _))) | Res::Failed(Some((v, _))) => {
                let key = match item.kind {
                    Kind::Get(k) | Kind::Put { key: k, .. } | Kind::Delete { key: k, .. } => k,
                    Kind::Txn { .. } => unreachable!("validated"),
                };
                values.push((n, key, *v));
                Vec::new()
            }
            Res::Value(None) | Res::Failed(None) => Vec::new(),
            Res::Committed(_) | Res::Unknown => item.compares.clone(),
            Res::TxnFailed(mismatches) => {
                for &(k, _, actual) in mismatches {
                    indexes.push((n, k, actual));
                }
                item.compares
                    .iter()
                    .copied()
                    .filter(|&(k, e)| !mismatches.iter().any(|m| m.0 == k && m.1 == e))
                    .collect()
            }
        };
        for (k, e) in held {
            indexes.push((n, k, e));
        }
    }
    indexes.retain(|&(_, _, i)| i != 0 && !committed.contains(&i));
    // The entries returned with each index.
    let mut returned: HashMap<u64, Vec<(usize, i64)>> = HashMap::new();
    for item in items.iter() {
        if let (
            Res::Value(Some((v, i))) | Res::Failed(Some((v, i))),
            Kind::Get(k) | Kind::Put { key: k, .. } | Kind::Delete { key: k, .. },
        ) = (&item.res, &item.kind)
        {
            returned.entry(*i).or_default().push((*k, *v));
        }
    }
    for u in 0..items.len() {
        let item = &items[u];
        if !matches!(item.res, Res::Unknown) {
            continue;
        }
        let writes: Vec<(usize, Option<i64>)> = match &item.kind {
            Kind::Put { key, value, .. } => vec![(*key, Some(*value))],
            Kind::Txn { writes, .. } => writes.clone(),
            Kind::Get(_) | Kind::Delete { .. } => continue,
        };
        if writes.iter().any(|w| w.1.is_none()) {
            continue;
        }
        let floor = match by_ret.partition_point(|e| e.0 < item.call) {
            0 => 0,
            p => by_ret[p - 1].1,
        };
        let after = |o: u32| o as usize != u && items[o as usize].ret > item.call;
        let mut found: Vec<u32> = values
            .iter()
            .filter(|&&(o, k, v)| after(o) && writes.contains(&(k, Some(v))))
            .map(|o| o.0)
            .chain(
                indexes
                    .iter()
                    .filter(|&&(o, k, i)| {
                        after(o)
                            && i > floor
                            && writes.iter().any(|w| w.0 == k)
                            && returned.get(&i).is_none_or(|entries| {
                                entries.iter().all(|&(k, v)| writes.contains(&(k, Some(v))))
                            })
                    })
                    .map(|o| o.0),
            )
            .collect();
        found.sort_unstable();
        found.dedup();
        items[u].observers = Some(found);
    }
}

// ---------------------------------------------------------------------------------------------
// Search

/// Items in a fixed order, with the position of the first one not done (advanced lazily).
struct Cursor {
    order: Vec<u32>,
    pos_of: Vec<u32>,
    first: usize,
}

impl Cursor {
    fn new(order: Vec<u32>, items: usize) -> Self {
        let mut pos_of = vec![u32::MAX; items];
        for (p, &i) in order.iter().enumerate() {
            pos_of[i as usize] = p as u32;
        }
        Cursor {
            order,
            pos_of,
            first: 0,
        }
    }

    fn first(&mut self, done: &Bits) -> Option<u32> {
        while self.first < self.order.len() && done.get(self.order[self.first]) {
            self.first += 1;
        }
        self.order.get(self.first).copied()
    }

    fn undone(&mut self, item: u32) {
        let p = self.pos_of[item as usize];
        if p != u32::MAX {
            self.first = self.first.min(p as usize);
        }
    }
}

struct Bits(Vec<u64>);

impl Bits {
    fn get(&self, i: u32) -> bool {
        self.0[i as usize / 64] >> (i % 64) & 1 == 1
    }
    fn set(&mut self, i: u32) {
        self.0[i as usize / 64] |= 1 << (i % 64);
    }
    fn clear(&mut self, i: u32) {
        self.0[i as usize / 64] &= !(1 << (i % 64));
    }
}

/// A search node but for the unknown items done.
#[derive(Hash, PartialEq, Eq)]
struct MemoKey {
    /// The completed items done, by position in invocation order, from word `start` on: every
    /// item before is done and every item after the last word is not.
    start: u32,
    words: Box<[u64]>,
    state: State,
}

/// Whether `a` is a subset of `b` (missing words are empty).
fn subset(a: &[u64], b: &[u64]) -> bool {
    a.iter()
        .enumerate()
        .all(|(n, w)| w & !b.get(n).copied().unwrap_or(0) == 0)
}

struct Frame {
    state: State,
    /// Candidates that fit, with their successor states, tried in order.
    next: std::vec::IntoIter<(u32, State)>,
    /// The item linearized to reach this node.
    applied: Option<u32>,
    /// `killed.len()` before this node's kills.
    kill_mark: usize,
}

struct Search<'a> {
    history: &'a [Operation],
    keys: Vec<String>,
    items: Vec<Item>,
    deletable: Vec<bool>,
    /// Items done: linearized, or unknown and dropped.
    done: Bits,
    /// `done` of the completed items, by position in `known`.
    known_done: Bits,
    /// `done` of the unknown items, by position in `unknown`.
    unknown_done: Bits,
    /// Completed items by invocation.
    known: Cursor,
    /// Completed items by return.
    by_ret: Cursor,
    /// Items with an unknown outcome by invocation.
    unknown: Cursor,
    /// Completed writes by commit index.
    writes: Cursor,
    /// Every item by invocation.
    all: Cursor,
    known_left: usize,
    known_total: usize,
    /// Unknown items dropped because they can no longer take effect, in order.
    killed: Vec<u32>,
    /// The most completed items linearized at once so far.
    deepest: usize,
    /// The deepest dead end so far: its depth and description.
    explanation: Option<(usize, String)>,
}

impl<'a> Search<'a> {
    fn new(history: &'a [Operation]) -> Self {
        let mut keys: Vec<String> = Vec::new();
        let mut intern = |k: &str| match keys.iter().position(|x| x == k) {
            Some(p) => p,
            None => {
                keys.push(k.to_string());
                keys.len() - 1
            }
        };
        let mut items = Vec::new();
        for (src, o) in history.iter().enumerate() {
            let kind = match &o.op {
                Op::Get { key } => Kind::Get(intern(key)),
                Op::Put { key, value, index } => Kind::Put {
                    key: intern(key),
                    value: *value,
                    expected: *index,
                },
                Op::Delete { key, index } => Kind::Delete {
                    key: intern(key),
                    expected: *index,
                },
                Op::Txn { compares, writes } => Kind::Txn {
                    compares: compares.iter().map(|(k, i)| (intern(k), *i)).collect(),
                    writes: writes.iter().map(|(k, v)| (intern(k), *v)).collect(),
                },
            };
            let (res, ret) = match &o.outcome {
                Outcome::Unknown => {
                    // Only writes that can commit matter.
                    let can_write = match &o.op {
                        Op::Get { .. } => false,
                        Op::Put { .. } => true,
                        Op::Delete { index, .. } => *index != 0,
                        Op::Txn { writes, .. } => !writes.is_empty(),
                    };
                    if !can_write {
                        continue;
                    }
                    (Res::Unknown, u64::MAX)
                }
                Outcome::Returned { ret, at } => {
                    assert!(*at > o.invoked, "{o}: returned before it was invoked");
                    let res = match (&o.op, ret) {
                        (Op::Get { .. }, Ret::Value(e)) => Res::Value(*e),
                        (
                            Op::Put { .. } | Op::Delete { .. } | Op::Txn { .. },
                            Ret::Committed(n),
                        ) => Res::Committed(*n),
                        (Op::Put { .. } | Op::Delete { .. }, Ret::Failed { current }) => {
                            Res::Failed(*current)
                        }
                        (Op::Txn { .. }, Ret::TxnFailed { mismatches }) => Res::TxnFailed(
                            mismatches
                                .iter()
                                .map(|(k, e, a)| (intern(k), *e, *a))
                                .collect(),
                        ),
                        _ => panic!("{o}: the return does not fit the operation"),
                    };
                    (res, *at)
                }
            };
            let write_index = match (&kind, &res) {
                (Kind::Put { .. } | Kind::Delete { .. }, Res::Committed(n)) => Some(*n),
                (Kind::Txn { writes, .. }, Res::Committed(n))
                    if writes.iter().any(|w| w.1.is_some()) =>
                {
                    Some(*n)
                }
                _ => None,
            };
            let compares = match &kind {
                Kind::Get(_) => Vec::new(),
                Kind::Put { key, expected, .. } | Kind::Delete { key, expected } => {
                    vec![(*key, *expected)]
                }
                Kind::Txn { compares, .. } => compares.clone(),
            };
            items.push(Item {
                src,
                compares,
                call: o.invoked,
                ret,
                kind,
                res,
                write_index,
                observers: None,
            });
        }
        items.sort_by_key(|i| (i.call, i.src));
        let mut deletable = vec![false; keys.len()];
        for item in &items {
            match &item.kind {
                Kind::Delete { key, .. } => deletable[*key] = true,
                Kind::Txn { writes, .. } => {
                    for &(k, v) in writes {
                        if v.is_none() {
                            deletable[k] = true;
                        }
                    }
                }
                _ => {}
            }
        }
        observers(&mut items);
        let n = items.len();
        let ids = |f: &dyn Fn(&Item) -> bool| -> Vec<u32> {
            (0..n as u32).filter(|&i| f(&items[i as usize])).collect()
        };
        let known_order = ids(&|i| !matches!(i.res, Res::Unknown));
        let unknown_order = ids(&|i| matches!(i.res, Res::Unknown));
        let mut ret_order = known_order.clone();
        ret_order.sort_by_key(|&i| items[i as usize].ret);
        let mut write_order = ids(&|i| i.write_index.is_some());
        write_order.sort_by_key(|&i| items[i as usize].write_index);
        let known_total = known_order.len();
        Search {
            history,
            keys,
            deletable,
            done: Bits(vec![0; n.div_ceil(64) + 1]),
            known_done: Bits(vec![0; n.div_ceil(64) + 1]),
            unknown_done: Bits(vec![0; n.div_ceil(64) + 1]),
            known: Cursor::new(known_order, n),
            by_ret: Cursor::new(ret_order, n),
            unknown: Cursor::new(unknown_order, n),
            writes: Cursor::new(write_order, n),
            all: Cursor::new((0..n as u32).collect(), n),
            items,
            known_left: known_total,
            known_total,
            killed: Vec::new(),
            deepest: 0,
            explanation: None,
        }
    }

    fn set_done(&mut self, i: u32) {
        self.done.set(i);
        if matches!(self.items[i as usize].res, Res::Unknown) {
            self.unknown_done.set(self.unknown.pos_of[i as usize]);
        } else {
            self.known_done.set(self.known.pos_of[i as usize]);
            self.known_left -= 1;
        }
    }

    fn set_undone(&mut self, i: u32) {
        self.done.clear(i);
        if matches!(self.items[i as usize].res, Res::Unknown) {
            self.unknown_done.clear(self.unknown.pos_of[i as usize]);
        } else {
            self.known_done.clear(self.known.pos_of[i as usize]);
            self.known_left += 1;
        }
        for c in [
            &mut self.known,
            &mut self.by_ret,
            &mut self.unknown,
            &mut self.writes,
            &mut self.all,
        ] {
            c.undone(i);
        }
    }

    /// The earliest return among pending completed items: only items invoked before it can be
    /// linearized next.
    fn horizon(&mut self) -> u64 {
        match self.by_ret.first(&self.done) {
            Some(i) => self.items[i as usize].ret,
            None => u64::MAX,
        }
    }

    /// Whether an unknown item can never take effect from `state` on, or its effect could not
    /// be observed any more.
    fn dead(&self, state: &State, item: &Item) -> bool {
        if item
            .observers
            .as_ref()
            .is_some_and(|observers| observers.iter().all(|&o| self.done.get(o)))
        {
            return true;
        }
        item.compares.iter().any(|&(k, e)| {
            if e == 0 {
                state.entries[k].is_some() && !self.deletable[k]
            } else {
                e < state.min_next && !state.may_be_at(k, e)
            }
        })
    }

    fn kill_dead(&mut self, state: &State) {
        let horizon = self.horizon();
        let Some(_) = self.unknown.first(&self.done) else {
            return;
        };
        for p in self.unknown.first..self.unknown.order.len() {
            let i = self.unknown.order[p];
            let item = &self.items[i as usize];
            if item.call >= horizon {
                break;
            }
            if !self.done.get(i) && self.dead(state, item) {
                self.set_done(i);
                self.killed.push(i);
            }
        }
    }

    fn unkill(&mut self, mark: usize) {
        while self.killed.len() > mark {
            let i = self.killed.pop().expect("len checked");
            self.set_undone(i);
        }
    }

    /// The node's memo key and its set of unknown items done.
    fn memo_key(&mut self, state: &State) -> (MemoKey, Box<[u64]>) {
        let horizon = self.horizon();
        let calls = |order: &[u32], items: &[Item]| {
            order.partition_point(|&i| items[i as usize].call < horizon)
        };
        self.known.first(&self.done);
        let start = self.known.first / 64;
        let last = (calls(&self.known.order, &self.items).max(1) - 1) / 64;
        let unknown_words = calls(&self.unknown.order, &self.items).div_ceil(64);
        let key = MemoKey {
            start: start as u32,
            words: self.known_done.0[start..=last.max(start)].into(),
            state: state.clone(),
        };
        (key, self.unknown_done.0[..unknown_words].into())
    }

    /// The items that can be linearized next from `state`, with their successor states.
    fn successors(&mut self, state: &State) -> Vec<(u32, State)> {
        let horizon = self.horizon();
        let next_write = self
            .writes
            .first(&self.done)
            .and_then(|i| self.items[i as usize].write_index);
        let mut out = Vec::new();
        self.known.first(&self.done);
        for p in self.known.first..self.known.order.len() {
            let i = self.known.order[p];
            let item = &self.items[i as usize];
            if item.call >= horizon {
                break;
            }
            if self.done.get(i) || (item.write_index.is_some() && item.write_index != next_write) {
                continue;
            }
            if let Ok(next) = apply(state, item) {
                if next == *state && item.read_only() {
                    // It pins nothing: no alternative needs trying.
                    return vec![(i, next)];
                }
                out.push((i, next));
            }
        }
        self.unknown.first(&self.done);
        for p in self.unknown.first..self.unknown.order.len() {
            let i = self.unknown.order[p];
            let item = &self.items[i as usize];
            if item.call >= horizon {
                break;
            }
            if self.done.get(i) {
                continue;
            }
            if let Ok(next) = apply(state, item) {
                out.push((i, next));
            }
        }
        out
    }

    fn run(mut self, limits: &Limits) -> Verdict {
        let started = Instant::now();
        let mut steps = 0u64;
        // Nodes that failed. A node fails if one with the same completed items done and the same
        // state but a subset of its unknown items done failed: it has the same options or more.
        let mut memo: HashMap<MemoKey, Vec<Box<[u64]>>> = HashMap::new();
        let root = State::new(self.keys.len());
        self.kill_dead(&root);
        if self.known_left == 0 {
            return Verdict::Linearizable {
                order: Vec::new(),
                steps,
            };
        }
        let next = self.successors(&root).into_iter();
        let mut stack = vec![Frame {
            state: root,
            next,
            applied: None,
            kill_mark: 0,
        }];
        loop {
            let top = stack
                .last_mut()
                .expect("the root frame stays until the end");
            if let Some((i, state)) = top.next.next() {
                steps += 1;
                if steps > limits.max_steps
                    || (steps & 1023 == 0 && started.elapsed() > limits.max_time)
                {
                    return Verdict::GaveUp {
                        steps,
                        elapsed: started.elapsed(),
                        deepest: self.deepest,
                        completed: self.known_total,
                    };
                }
                self.set_done(i);
                self.deepest = self.deepest.max(self.known_total - self.known_left);
                let kill_mark = self.killed.len();
                self.kill_dead(&state);
                if self.known_left == 0 {
                    let mut order: Vec<OpId> = stack
                        .iter()
                        .filter_map(|f| f.applied)
                        .chain([i])
                        .map(|i| self.history[self.items[i as usize].src].id)
                        .collect();
                    order.shrink_to_fit();
                    return Verdict::Linearizable { order, steps };
                }
                let (key, unknown_done) = self.memo_key(&state);
                if memo
                    .get(&key)
                    .is_some_and(|failed| failed.iter().any(|f| subset(f, &unknown_done)))
                {
                    self.unkill(kill_mark);
                    self.set_undone(i);
                    continue;
                }
                let next = self.successors(&state).into_iter();
                stack.push(Frame {
                    state,
                    next,
                    applied: Some(i),
                    kill_mark,
                });
            } else {
                let depth = self.known_total - self.known_left;
                if self.explanation.as_ref().is_none_or(|e| depth > e.0) {
                    self.explanation = Some((depth, self.explain(&stack)));
                }
                if stack.len() > 1 {
                    let (key, unknown_done) = self.memo_key(&stack[stack.len() - 1].state);
                    let failed = memo.entry(key).or_default();
                    failed.retain(|f| !subset(&unknown_done, f));
                    failed.push(unknown_done);
                }
                let frame = stack.pop().expect("checked above");
                self.unkill(frame.kill_mark);
                match frame.applied {
                    Some(i) => self.set_undone(i),
                    None => {
                        return Verdict::NotLinearizable {
                            explanation: self.explanation.take().map(|e| e.1).unwrap_or_default(),
                            steps,
                        };
                    }
                }
            }
        }
    }

    /// Describes the dead end at the top of `stack`.
    fn explain(&mut self, stack: &[Frame]) -> String {
        let state = &stack.last().expect("a dead end has a frame").state;
        let op = |s: &Self, i: u32| s.history[s.items[i as usize].src].to_string();
        let mut out = format!(
            "at most {} of {} completed operations can be linearized.",
            self.known_total - self.known_left,
            self.known_total
        );
        let applied: Vec<u32> = stack.iter().filter_map(|f| f.applied).collect();
        if !applied.is_empty() {
            out.push_str("\nThe longest partial linearization ends with:");
            for &i in &applied[applied.len().saturating_sub(8)..] {
                out.push_str(&format!("\n    {}", op(self, i)));
            }
        }
        out.push_str(&format!(
            "\nState then: {}\nNone of the operations that could come next fits:",
            state.describe(&self.keys)
        ));
        let horizon = self.horizon();
        let next_write = self
            .writes
            .first(&self.done)
            .and_then(|i| self.items[i as usize].write_index);
        self.known.first(&self.done);
        for p in self.known.first..self.known.order.len() {
            let i = self.known.order[p];
            let item = &self.items[i as usize];
            if item.call >= horizon {
                break;
            }
            if self.done.get(i) {
                continue;
            }
            let why = if item.write_index.is_some() && item.write_index != next_write {
                "a pending commit has a smaller index"
            } else {
                match apply(state, item) {
                    Err(why) => why,
                    Ok(_) => "it fits, but nothing fits after it",
                }
            };
            out.push_str(&format!("\n    {}: {why}", op(self, i)));
        }
        let pending: Vec<u32> = self.unknown.order[self.unknown.first..]
            .iter()
            .copied()
            .filter(|&i| self.items[i as usize].call < horizon && !self.done.get(i))
            .collect();
        if !pending.is_empty() {
            out.push_str("\nOperations with unknown outcome that could still take effect:");
            for &i in pending.iter().take(8) {
                out.push_str(&format!("\n    {}", op(self, i)));
            }
            if pending.len() > 8 {
                out.push_str(&format!("\n    ... and {} more", pending.len() - 8));
            }
        }
        out
    }
}
