//! The linearizability checker: hand-written histories that must pass or fail, histories of a
//! simulated correct store (which must pass) and of the same store with one return value
//! corrupted (which must fail).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use interlock_tests::linearizability::{
    History, Limits, Op, OpId, Operation, Outcome, Ret, Verdict, check, render, search,
};

fn get(key: &str) -> Op {
    Op::Get {
        key: key.to_string(),
    }
}

fn put(key: &str, value: i64, index: u64) -> Op {
    Op::Put {
        key: key.to_string(),
        value,
        index,
    }
}

fn delete(key: &str, index: u64) -> Op {
    Op::Delete {
        key: key.to_string(),
        index,
    }
}

fn txn(compares: &[(&str, u64)], writes: &[(&str, Option<i64>)]) -> Op {
    Op::Txn {
        compares: compares.iter().map(|(k, i)| (k.to_string(), *i)).collect(),
        writes: writes.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
    }
}

fn value(value: i64, index: u64) -> Ret {
    Ret::Value(Some((value, index)))
}

const ABSENT: Ret = Ret::Value(None);

fn committed(index: u64) -> Ret {
    Ret::Committed(index)
}

fn failed(current: Option<(i64, u64)>) -> Ret {
    Ret::Failed { current }
}

fn mismatches(m: &[(&str, u64, u64)]) -> Ret {
    Ret::TxnFailed {
        mismatches: m.iter().map(|(k, e, a)| (k.to_string(), *e, *a)).collect(),
    }
}

/// Records `op` invoked and returning `ret` before anything else happens.
fn call(h: &History, client: usize, op: Op, ret: Ret) -> OpId {
    let id = h.invoke(client, op);
    h.complete(id, ret);
    id
}

fn accepts(h: &History) -> Vec<OpId> {
    match h.check(&Limits::default()) {
        Verdict::Linearizable { order, .. } => order,
        other => panic!("{other}\n{}", render(&h.operations())),
    }
}

fn rejects(h: &History) -> String {
    rejects_ops(&h.operations())
}

/// Both [`check`] and the search alone must reject `ops`; returns the explanation of `check`.
fn rejects_ops(ops: &[Operation]) -> String {
    if let verdict @ (Verdict::Linearizable { .. } | Verdict::GaveUp { .. }) =
        search(ops, &Limits::default())
    {
        panic!("the search did not reject: {verdict}\n{}", render(ops));
    }
    match check(ops, &Limits::default()) {
        Verdict::NotLinearizable { explanation, .. } => explanation,
        other => panic!("expected a rejection, got {other}\n{}", render(ops)),
    }
}

// ---------------------------------------------------------------------------------------------
// Linearizable histories

#[test]
fn sequential_history_with_skipping_indexes() {
    let h = History::new();
    call(&h, 0, get("a"), ABSENT);
    call(&h, 0, put("a", 1, 0), committed(3));
    call(&h, 1, get("a"), value(1, 3));
    call(&h, 1, put("a", 2, 3), committed(10));
    call(&h, 0, put("b", 7, 0), committed(11));
    call(&h, 0, delete("a", 10), committed(40));
    call(&h, 1, get("a"), ABSENT);
    call(&h, 1, get("b"), value(7, 11));
    call(&h, 1, put("a", 3, 0), committed(41));
    assert_eq!(accepts(&h).len(), 9);
}

#[test]
fn empty_history() {
    accepts(&History::new());
}

#[test]
fn overlapping_reads_see_either_side_of_a_write() {
    let h = History::new();
    let w1 = h.invoke(0, put("a", 1, 0));
    let r1 = h.invoke(1, get("a"));
    h.complete(r1, value(1, 5)); // the write took effect before it returned
    let w2 = h.invoke(2, put("a", 2, 5));
    let r2 = h.invoke(1, get("a"));
    h.complete(r2, value(1, 5)); // the second write has not taken effect yet
    h.complete(w1, committed(5));
    let r3 = h.invoke(3, get("a"));
    h.complete(r3, value(2, 8));
    h.complete(w2, committed(8));
    accepts(&h);
}

#[test]
fn concurrent_writes_commit_in_index_order_not_invocation_order() {
    let h = History::new();
    let w1 = h.invoke(0, put("a", 1, 0));
    let w2 = h.invoke(1, put("b", 2, 0));
    let r = h.invoke(2, get("b"));
    h.complete(r, value(2, 4));
    let r = h.invoke(2, get("a"));
    h.complete(r, ABSENT);
    h.complete(w1, committed(6));
    h.complete(w2, committed(4));
    accepts(&h);
}

#[test]
fn racing_creates_one_wins_the_loser_sees_the_winner() {
    let h = History::new();
    let a = h.invoke(0, put("a", 1, 0));
    let b = h.invoke(1, put("a", 2, 0));
    // The loser returns first, reporting the winner's entry.
    h.complete(b, failed(Some((1, 9))));
    h.complete(a, committed(9));
    accepts(&h);
}

#[test]
fn unknown_write_that_took_effect() {
    let h = History::new();
    let u = h.invoke(0, put("a", 1, 0));
    h.unknown(u);
    call(&h, 1, get("a"), value(1, 42));
    call(&h, 1, put("a", 2, 42), committed(50));
    let order = accepts(&h);
    assert!(order.contains(&u), "the unknown write is in the order");
}

#[test]
fn unknown_write_that_did_not_take_effect() {
    let h = History::new();
    let u = h.invoke(0, put("a", 1, 0));
    h.unknown(u);
    call(&h, 1, get("a"), ABSENT);
    call(&h, 1, put("a", 2, 0), committed(3));
    call(&h, 1, get("a"), value(2, 3));
    let order = accepts(&h);
    assert!(!order.contains(&u));
}

#[test]
fn unknown_write_taking_effect_long_after_its_client_gave_up() {
    let h = History::new();
    let u = h.invoke(0, put("a", 1, 0));
    h.unknown(u);
    call(&h, 0, get("a"), ABSENT);
    call(&h, 1, put("b", 5, 0), committed(7));
    call(&h, 1, get("a"), ABSENT);
    call(&h, 2, get("a"), value(1, 9));
    accepts(&h);
}

#[test]
fn never_completed_operation_counts_as_unknown() {
    let h = History::new();
    let u = h.invoke(0, put("a", 1, 0));
    call(&h, 1, get("a"), value(1, 2));
    assert_eq!(h.operations()[u].outcome, Outcome::Unknown);
    accepts(&h);
}

#[test]
fn unknown_txn_writes_every_key_at_one_index() {
    let h = History::new();
    let u = h.invoke(
        0,
        txn(&[("a", 0), ("b", 0)], &[("a", Some(1)), ("b", Some(2))]),
    );
    h.unknown(u);
    call(&h, 1, get("a"), value(1, 7));
    call(&h, 1, get("b"), value(2, 7));
    accepts(&h);

    let h = History::new();
    let u = h.invoke(
        0,
        txn(&[("a", 0), ("b", 0)], &[("a", Some(1)), ("b", Some(2))]),
    );
    h.unknown(u);
    call(&h, 1, get("a"), value(1, 7));
    call(&h, 1, get("b"), value(2, 8));
    rejects(&h);
}

#[test]
fn unknown_write_index_is_bounded_by_the_commits_around_it() {
    // The unknown write may commit before put(b) (index < 10) or after it (index > 10).
    for (seen, ok) in [(7, true), (12, true), (10, false)] {
        let h = History::new();
        let u = h.invoke(0, put("a", 1, 0));
        h.unknown(u);
        call(&h, 1, put("b", 5, 0), committed(10));
        call(&h, 1, get("a"), value(1, seen));
        assert_eq!(
            h.check(&Limits::default()).is_linearizable(),
            ok,
            "index {seen}"
        );
    }
    // Observed absent after put(b), the unknown write commits after it.
    let h = History::new();
    let u = h.invoke(0, put("a", 1, 0));
    h.unknown(u);
    call(&h, 1, put("b", 5, 0), committed(10));
    call(&h, 1, get("a"), ABSENT);
    call(&h, 1, get("a"), value(1, 7));
    rejects(&h);
}

#[test]
fn chained_unknown_writes_are_ordered() {
    // Two unknown writes; the second's compare holds only after the first.
    let h = History::new();
    let u1 = h.invoke(0, put("a", 1, 0));
    h.unknown(u1);
    let u2 = h.invoke(1, put("a", 2, 5));
    h.unknown(u2);
    call(&h, 2, get("a"), value(2, 6));
    accepts(&h);

    // The second commit's index cannot be below the first's.
    let h = History::new();
    let u1 = h.invoke(0, put("a", 1, 0));
    h.unknown(u1);
    let u2 = h.invoke(1, put("a", 2, 5));
    h.unknown(u2);
    call(&h, 2, get("a"), value(2, 4));
    rejects(&h);
}

#[test]
fn unknown_delete_and_recreate() {
    let h = History::new();
    call(&h, 0, put("a", 1, 0), committed(2));
    let u = h.invoke(0, delete("a", 2));
    h.unknown(u);
    call(&h, 1, put("a", 3, 0), committed(9));
    call(&h, 1, get("a"), value(3, 9));
    accepts(&h);
}

#[test]
fn txn_failure_lists_every_failed_compare() {
    let h = History::new();
    call(&h, 0, put("a", 1, 0), committed(3));
    call(&h, 0, put("b", 2, 0), committed(4));
    call(
        &h,
        1,
        txn(&[("a", 3), ("b", 1), ("c", 5)], &[("a", Some(9))]),
        mismatches(&[("b", 1, 4), ("c", 5, 0)]),
    );
    call(
        &h,
        1,
        txn(
            &[("a", 3), ("b", 4), ("c", 0)],
            &[("a", Some(9)), ("b", None)],
        ),
        committed(8),
    );
    call(&h, 2, get("a"), value(9, 8));
    call(&h, 2, get("b"), ABSENT);
    accepts(&h);
}

#[test]
fn failed_put_and_delete_report_the_current_entry() {
    let h = History::new();
    call(&h, 0, put("a", 1, 0), committed(3));
    call(&h, 1, put("a", 2, 0), failed(Some((1, 3))));
    call(&h, 1, put("a", 2, 2), failed(Some((1, 3))));
    call(&h, 1, delete("a", 2), failed(Some((1, 3))));
    call(&h, 1, delete("b", 1), failed(None));
    call(&h, 1, delete("b", 0), failed(None));
    call(&h, 1, delete("a", 3), committed(5));
    call(&h, 1, put("a", 2, 3), failed(None));
    accepts(&h);
}

#[test]
fn read_pins_an_unknown_index_that_a_failed_compare_then_reports() {
    let h = History::new();
    let u = h.invoke(0, put("a", 1, 0));
    h.unknown(u);
    call(&h, 1, put("a", 2, 0), failed(Some((1, 6))));
    call(
        &h,
        1,
        txn(&[("a", 5)], &[("a", Some(3))]),
        mismatches(&[("a", 5, 6)]),
    );
    call(&h, 1, get("a"), value(1, 6));
    accepts(&h);

    let h = History::new();
    let u = h.invoke(0, put("a", 1, 0));
    h.unknown(u);
    call(&h, 1, put("a", 2, 0), failed(Some((1, 6))));
    call(&h, 1, get("a"), value(1, 7));
    rejects(&h);
}

#[test]
fn history_is_recorded_from_many_threads() {
    // Real threads against a store that applies each operation atomically under a mutex.
    let h = Arc::new(History::new());
    let store = Arc::new(Mutex::new(Model::default()));
    let threads: Vec<_> = (0..6)
        .map(|c| {
            let h = h.clone();
            let store = store.clone();
            std::thread::spawn(move || {
                let mut rng = fastrand::Rng::with_seed(c as u64);
                let mut client = SimClient::default();
                for n in 0..300 {
                    let op = client.next_op(&mut rng, 3, (c * 1000 + n) as i64 + 1);
                    let id = h.invoke(c, op.clone());
                    let ret = store.lock().unwrap().apply(&op, &mut rng);
                    client.learn(&op, &ret);
                    h.complete(id, ret);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(h.len(), 1800);
    accepts(&h);
}

// ---------------------------------------------------------------------------------------------
// Non-linearizable histories

#[test]
fn stale_read_after_a_completed_write() {
    let h = History::new();
    call(&h, 0, put("a", 1, 0), committed(1));
    call(&h, 0, put("a", 2, 1), committed(2));
    let r = call(&h, 1, get("a"), value(1, 1));
    let why = rejects(&h);
    assert!(why.contains(&format!("#{r} ")), "{why}");
}

#[test]
fn two_creates_of_one_key_both_succeed() {
    let h = History::new();
    call(&h, 0, put("a", 1, 0), committed(3));
    call(&h, 1, put("a", 2, 0), committed(4));
    rejects(&h);

    // Also when they overlap.
    let h = History::new();
    let a = h.invoke(0, put("a", 1, 0));
    let b = h.invoke(1, put("a", 2, 0));
    h.complete(a, committed(3));
    h.complete(b, committed(4));
    rejects(&h);
}

#[test]
fn failed_compare_reports_a_state_that_never_existed() {
    let h = History::new();
    call(&h, 0, put("a", 1, 0), committed(3));
    call(&h, 1, put("a", 5, 2), failed(Some((1, 2))));
    rejects(&h);

    let h = History::new();
    call(&h, 0, put("a", 1, 0), committed(3));
    call(&h, 1, put("a", 5, 2), failed(Some((7, 3))));
    rejects(&h);

    // A compare that held cannot fail.
    let h = History::new();
    call(&h, 0, put("a", 1, 0), committed(3));
    call(&h, 1, put("a", 5, 3), failed(Some((1, 3))));
    rejects(&h);
}

#[test]
fn lost_update() {
    let h = History::new();
    call(&h, 0, put("a", 1, 0), committed(3));
    let x = h.invoke(1, put("a", 10, 3));
    let y = h.invoke(2, put("a", 20, 3));
    h.complete(x, committed(4));
    h.complete(y, committed(5));
    rejects(&h);
}

#[test]
fn txn_mismatches_missing_a_failed_compare() {
    let h = History::new();
    call(&h, 0, put("a", 1, 0), committed(3));
    call(&h, 0, put("b", 2, 0), committed(4));
    call(
        &h,
        1,
        txn(&[("a", 1), ("b", 1)], &[("a", Some(5))]),
        mismatches(&[("a", 1, 3)]),
    );
    rejects(&h);
    let why = search(&h.operations(), &Limits::default()).to_string();
    assert!(why.contains("missing from the mismatches"), "{why}");

    // A mismatch with the wrong actual index.
    let h = History::new();
    call(&h, 0, put("a", 1, 0), committed(3));
    call(
        &h,
        1,
        txn(&[("a", 1)], &[("a", Some(5))]),
        mismatches(&[("a", 1, 2)]),
    );
    rejects(&h);
}

#[test]
fn index_going_backwards() {
    let h = History::new();
    call(&h, 0, put("a", 1, 0), committed(5));
    call(&h, 1, put("b", 1, 0), committed(4));
    rejects(&h);

    // Equal indexes for two commits.
    let h = History::new();
    call(&h, 0, put("a", 1, 0), committed(5));
    call(&h, 1, put("b", 1, 0), committed(5));
    rejects(&h);
}

#[test]
fn read_of_a_write_that_was_not_yet_invoked() {
    let h = History::new();
    call(&h, 1, get("a"), value(1, 3));
    call(&h, 0, put("a", 1, 0), committed(3));
    rejects(&h);
}

#[test]
fn two_reads_disagree_on_the_order_of_two_writes() {
    let h = History::new();
    let w1 = h.invoke(0, put("a", 1, 0));
    let w2 = h.invoke(1, put("b", 2, 0));
    call(&h, 2, get("a"), value(1, 3));
    call(&h, 2, get("b"), ABSENT);
    call(&h, 3, get("b"), value(2, 4));
    call(&h, 3, get("a"), ABSENT);
    h.complete(w1, committed(3));
    h.complete(w2, committed(4));
    rejects(&h);
}

#[test]
fn search_budget_gives_up_rather_than_hangs() {
    let ops = simulate(&Sim {
        seed: 1,
        ops: 300,
        clients: 5,
        keys: 3,
        unknown_percent: 5,
    });
    let limits = Limits {
        max_steps: 10,
        ..Limits::default()
    };
    let verdict = check(&ops, &limits);
    assert!(matches!(verdict, Verdict::GaveUp { .. }), "{verdict}");
}

// ---------------------------------------------------------------------------------------------
// Random histories

/// A correct sequential store.
#[derive(Default)]
struct Model {
    entries: HashMap<String, (i64, u64)>,
    index: u64,
}

impl Model {
    /// The next commit index: indexes skip values, as when others write too.
    fn bump(&mut self, rng: &mut fastrand::Rng) -> u64 {
        self.index += rng.u64(1..=3);
        self.index
    }

    fn index_of(&self, key: &str) -> u64 {
        self.entries.get(key).map_or(0, |e| e.1)
    }

    fn apply(&mut self, op: &Op, rng: &mut fastrand::Rng) -> Ret {
        match op {
            Op::Get { key } => Ret::Value(self.entries.get(key).copied()),
            Op::Put { key, value, index } => {
                if self.index_of(key) != *index {
                    return failed(self.entries.get(key).copied());
                }
                let n = self.bump(rng);
                self.entries.insert(key.clone(), (*value, n));
                committed(n)
            }
            Op::Delete { key, index } => {
                if *index == 0 || self.index_of(key) != *index {
                    return failed(self.entries.get(key).copied());
                }
                self.entries.remove(key);
                committed(self.bump(rng))
            }
            Op::Txn { compares, writes } => {
                let failed: Vec<(String, u64, u64)> = compares
                    .iter()
                    .filter(|(k, i)| self.index_of(k) != *i)
                    .map(|(k, i)| (k.clone(), *i, self.index_of(k)))
                    .collect();
                if !failed.is_empty() {
                    return Ret::TxnFailed { mismatches: failed };
                }
                let changes = writes
                    .iter()
                    .any(|(k, v)| v.is_some() || self.entries.contains_key(k));
                if !changes {
                    return committed(self.index);
                }
                let n = self.bump(rng);
                for (k, v) in writes {
                    match v {
                        Some(v) => self.entries.insert(k.clone(), (*v, n)),
                        None => self.entries.remove(k),
                    };
                }
                committed(n)
            }
        }
    }
}

/// A client that remembers the last index it saw per key and mostly uses it in compares.
#[derive(Default)]
struct SimClient {
    seen: HashMap<String, u64>,
}

impl SimClient {
    fn guess(&self, rng: &mut fastrand::Rng, key: &str) -> u64 {
        let seen = self.seen.get(key).copied().unwrap_or(0);
        if rng.u32(..100) < 80 {
            seen
        } else {
            rng.u64(0..=seen + 2)
        }
    }

    /// A random operation; the values it writes are unique when `value` is.
    fn next_op(&self, rng: &mut fastrand::Rng, keys: usize, value: i64) -> Op {
        let names: Vec<String> = (0..keys).map(|k| format!("k{k}")).collect();
        let key = &names[rng.usize(..keys)];
        match rng.u32(..100) {
            0..35 => get(key),
            35..65 => put(key, value * 10, self.guess(rng, key)),
            65..75 => delete(key, self.guess(rng, key)),
            _ => {
                let mut shuffled = names.clone();
                rng.shuffle(&mut shuffled);
                let compares = shuffled[..rng.usize(1..=keys.min(2))]
                    .iter()
                    .map(|k| (k.clone(), self.guess(rng, k)))
                    .collect();
                rng.shuffle(&mut shuffled);
                let writes = shuffled[..rng.usize(1..=keys.min(2))]
                    .iter()
                    .enumerate()
                    .map(|(n, k)| {
                        let v = (rng.u32(..100) >= 15).then_some(value * 10 + 1 + n as i64);
                        (k.clone(), v)
                    })
                    .collect();
                Op::Txn { compares, writes }
            }
        }
    }

    fn learn(&mut self, op: &Op, ret: &Ret) {
        match (op, ret) {
            (Op::Get { key }, Ret::Value(e))
            | (Op::Put { key, .. }, Ret::Failed { current: e }) => {
                self.seen.insert(key.clone(), e.map_or(0, |e| e.1));
            }
            (Op::Delete { key, .. }, Ret::Failed { current }) => {
                self.seen.insert(key.clone(), current.map_or(0, |e| e.1));
            }
            (Op::Put { key, .. }, Ret::Committed(n)) => {
                self.seen.insert(key.clone(), *n);
            }
            (Op::Delete { key, .. }, Ret::Committed(_)) => {
                self.seen.insert(key.clone(), 0);
            }
            (Op::Txn { writes, .. }, Ret::Committed(n)) => {
                for (k, v) in writes {
                    self.seen
                        .insert(k.clone(), if v.is_some() { *n } else { 0 });
                }
            }
            (_, Ret::TxnFailed { mismatches }) => {
                for (k, _, actual) in mismatches {
                    self.seen.insert(k.clone(), *actual);
                }
            }
            _ => {}
        }
    }
}

struct Sim {
    seed: u64,
    ops: usize,
    clients: usize,
    keys: usize,
    /// Of the operations, about this share ends with an unknown outcome.
    unknown_percent: u32,
}

struct InFlight {
    id: OpId,
    op: Op,
    ret: Option<Ret>,
}

/// A history of clients running against [`Model`]: each operation takes effect atomically at a
/// random moment between its invocation and its return. Some outcomes are lost: after the
/// operation took effect, before it took effect (it may then still take effect later, or
/// never).
fn simulate(sim: &Sim) -> Vec<Operation> {
    let mut rng = fastrand::Rng::with_seed(sim.seed);
    let h = History::new();
    let mut store = Model::default();
    let mut clients: Vec<(SimClient, Option<InFlight>)> =
        (0..sim.clients).map(|_| Default::default()).collect();
    let mut stray: Vec<Op> = Vec::new();
    let mut invoked = 0;
    while invoked < sim.ops || clients.iter().any(|c| c.1.is_some()) {
        let c = rng.usize(..sim.clients);
        let (client, in_flight) = &mut clients[c];
        match in_flight.take() {
            None if invoked < sim.ops => {
                invoked += 1;
                let op = client.next_op(&mut rng, sim.keys, invoked as i64);
                let id = h.invoke(c, op.clone());
                *in_flight = Some(InFlight { id, op, ret: None });
            }
            None => {}
            Some(mut f) if f.ret.is_none() => {
                if rng.u32(..200) < sim.unknown_percent {
                    // Lost before taking effect; it may still take effect later.
                    h.unknown(f.id);
                    if rng.bool() {
                        stray.push(f.op);
                    }
                } else {
                    f.ret = Some(store.apply(&f.op, &mut rng));
                    *in_flight = Some(f);
                }
            }
            Some(f) => {
                let ret = f.ret.expect("applied");
                if rng.u32(..200) < sim.unknown_percent {
                    h.unknown(f.id);
                } else {
                    client.learn(&f.op, &ret);
                    h.complete(f.id, ret);
                }
            }
        }
        if !stray.is_empty() && rng.u32(..30) == 0 {
            let op = stray.swap_remove(rng.usize(..stray.len()));
            store.apply(&op, &mut rng);
        }
    }
    h.operations()
}

fn expect_linearizable(sim: &Sim, ops: &[Operation]) -> u64 {
    match check(ops, &Limits::default()) {
        Verdict::Linearizable { steps, .. } => steps,
        other => panic!("seed {}: {other}\n{}", sim.seed, render(ops)),
    }
}

#[test]
fn random_histories_of_a_correct_store_are_linearizable() {
    for seed in 0..60 {
        let sim = Sim {
            seed,
            ops: 400,
            clients: 2 + seed as usize % 7,
            keys: 1 + seed as usize % 4,
            unknown_percent: [0, 5, 15][seed as usize % 3],
        };
        let ops = simulate(&sim);
        expect_linearizable(&sim, &ops);
    }
}

#[test]
fn large_random_history_is_linearizable() {
    let sim = Sim {
        seed: 7,
        ops: 4000,
        clients: 8,
        keys: 4,
        unknown_percent: 5,
    };
    let ops = simulate(&sim);
    let started = std::time::Instant::now();
    let steps = expect_linearizable(&sim, &ops);
    eprintln!(
        "{} operations, {} clients: {steps} steps in {:?}",
        ops.len(),
        sim.clients,
        started.elapsed()
    );
}

fn returned(op: &Operation) -> Option<(&Ret, u64)> {
    match &op.outcome {
        Outcome::Returned { ret, at } => Some((ret, *at)),
        Outcome::Unknown => None,
    }
}

fn set_ret(op: &mut Operation, new: Ret) {
    if let Outcome::Returned { ret, .. } = &mut op.outcome {
        *ret = new;
    }
}

/// Corrupts one return value of a linearizable history so that it certainly is not any more;
/// `None` if the history has no operation that mutation applies to.
fn corrupt(ops: &[Operation], kind: usize, rng: &mut fastrand::Rng) -> Option<Vec<Operation>> {
    let mut ops = ops.to_vec();
    let pick =
        |c: Vec<usize>, rng: &mut fastrand::Rng| (!c.is_empty()).then(|| c[rng.usize(..c.len())]);
    match kind {
        // A read returns a value nobody wrote.
        0 => {
            let reads: Vec<usize> = (0..ops.len())
                .filter(|&i| matches!(returned(&ops[i]), Some((Ret::Value(_), _))))
                .collect();
            let r = pick(reads, rng)?;
            set_ret(&mut ops[r], value(-1, 1));
        }
        // A read returns an older version of its key than one whose write had completed.
        1 => {
            let mut choices = Vec::new();
            for (r, read) in ops.iter().enumerate() {
                let (Op::Get { key }, Some((Ret::Value(_), _))) = (&read.op, returned(read)) else {
                    continue;
                };
                let puts: Vec<(i64, u64, u64)> = ops
                    .iter()
                    .filter_map(|w| match (&w.op, returned(w)) {
                        (Op::Put { key: k, value, .. }, Some((Ret::Committed(n), at)))
                            if k == key =>
                        {
                            Some((*value, *n, at))
                        }
                        _ => None,
                    })
                    .collect();
                let newest_done = puts
                    .iter()
                    .filter(|p| p.2 < read.invoked)
                    .map(|p| p.1)
                    .max();
                if let Some(newest) = newest_done {
                    for p in puts.iter().filter(|p| p.1 < newest) {
                        choices.push((r, p.0, p.1));
                    }
                }
            }
            let (r, v, i) = *choices.get(rng.usize(..choices.len().max(1)))?;
            set_ret(&mut ops[r], value(v, i));
        }
        // Two completed puts report the same commit index.
        2 => {
            let puts: Vec<usize> = (0..ops.len())
                .filter(|&i| {
                    matches!(
                        (&ops[i].op, returned(&ops[i])),
                        (Op::Put { .. }, Some((Ret::Committed(_), _)))
                    )
                })
                .collect();
            if puts.len() < 2 {
                return None;
            }
            let a = puts[rng.usize(..puts.len())];
            let b = puts[rng.usize(..puts.len())];
            if a == b {
                return None;
            }
            let Some((Ret::Committed(n), _)) = returned(&ops[a]) else {
                unreachable!()
            };
            let n = *n;
            set_ret(&mut ops[b], committed(n));
        }
        // A failed put reports an entry that never existed.
        _ => {
            let fails: Vec<usize> = (0..ops.len())
                .filter(|&i| {
                    matches!(
                        (&ops[i].op, returned(&ops[i])),
                        (Op::Put { .. }, Some((Ret::Failed { .. }, _)))
                    )
                })
                .collect();
            let f = pick(fails, rng)?;
            set_ret(&mut ops[f], failed(Some((-1, 1))));
        }
    }
    Some(ops)
}

#[test]
fn corrupted_random_histories_are_not_linearizable() {
    let mut rng = fastrand::Rng::with_seed(99);
    let mut rejected = [0; 4];
    for seed in 0..40 {
        let sim = Sim {
            seed: 1000 + seed,
            ops: 300,
            clients: 2 + seed as usize % 6,
            keys: 1 + seed as usize % 4,
            unknown_percent: [0, 5, 15][seed as usize % 3],
        };
        let ops = simulate(&sim);
        expect_linearizable(&sim, &ops);
        for (kind, count) in rejected.iter_mut().enumerate() {
            if let Some(bad) = corrupt(&ops, kind, &mut rng) {
                rejects_ops(&bad);
                *count += 1;
            }
        }
    }
    assert!(
        rejected.iter().all(|&n| n >= 10),
        "mutations applied: {rejected:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Agreement with an exhaustive search on small histories

/// An index in the exhaustive search: known, or the unknown index of commit `n` of the order.
#[derive(Clone, Copy, PartialEq)]
enum Term {
    Known(u64),
    Var(usize),
}

#[derive(Clone, Default)]
struct Exhaustive {
    entries: HashMap<String, (i64, Term)>,
    /// The index of every commit so far, in order.
    commits: Vec<Term>,
    /// Per unknown index, the value observations fixed it to.
    pins: Vec<Option<u64>>,
}

impl Exhaustive {
    fn matches(&mut self, term: Term, i: u64) -> bool {
        match term {
            Term::Known(n) => n == i,
            Term::Var(v) => match self.pins[v] {
                Some(p) => p == i,
                None => {
                    self.pins[v] = Some(i);
                    true
                }
            },
        }
    }

    fn observe(&mut self, key: &str, seen: Option<(i64, u64)>) -> bool {
        match (self.entries.get(key).copied(), seen) {
            (None, None) => true,
            (Some((v, t)), Some((w, i))) => v == w && self.matches(t, i),
            _ => false,
        }
    }

    fn observe_index(&mut self, key: &str, i: u64) -> bool {
        match self.entries.get(key).copied() {
            None => i == 0,
            Some((_, t)) => i != 0 && self.matches(t, i),
        }
    }

    fn holds(&mut self, key: &str, expected: u64) -> bool {
        self.observe_index(key, expected)
    }

    fn commit(&mut self, writes: &[(String, Option<i64>)], index: Option<u64>) {
        let term = match index {
            Some(n) => Term::Known(n),
            None => {
                self.pins.push(None);
                Term::Var(self.pins.len() - 1)
            }
        };
        self.commits.push(term);
        for (k, v) in writes {
            match v {
                Some(v) => self.entries.insert(k.clone(), (*v, term)),
                None => self.entries.remove(k),
            };
        }
    }

    /// Applies `op` with its outcome (`None`: unknown, taking effect); false if it does not fit.
    fn apply(&mut self, op: &Op, ret: Option<&Ret>) -> bool {
        match (op, ret) {
            (Op::Get { key }, Some(Ret::Value(seen))) => self.observe(key, *seen),
            (Op::Put { key, value, index }, Some(Ret::Committed(_)) | None) => {
                let n = match ret {
                    Some(Ret::Committed(n)) => Some(*n),
                    _ => None,
                };
                self.holds(key, *index) && {
                    self.commit(&[(key.clone(), Some(*value))], n);
                    true
                }
            }
            (Op::Put { key, index, .. }, Some(Ret::Failed { current })) => {
                current.map_or(0, |c| c.1) != *index && self.observe(key, *current)
            }
            (Op::Delete { key, index }, Some(Ret::Committed(_)) | None) => {
                let n = match ret {
                    Some(Ret::Committed(n)) => Some(*n),
                    _ => None,
                };
                *index != 0 && self.holds(key, *index) && {
                    self.commit(&[(key.clone(), None)], n);
                    true
                }
            }
            (Op::Delete { key, index }, Some(Ret::Failed { current })) => {
                !matches!(current, Some((_, i)) if i == index) && self.observe(key, *current)
            }
            (Op::Txn { compares, writes }, Some(Ret::Committed(_)) | None) => {
                if !compares.iter().all(|(k, e)| self.holds(k, *e)) {
                    return false;
                }
                let changes = writes
                    .iter()
                    .any(|(k, v)| v.is_some() || self.entries.contains_key(k));
                match ret {
                    Some(Ret::Committed(n)) if changes => self.commit(writes, Some(*n)),
                    Some(_) => {}
                    None if changes => self.commit(writes, None),
                    None => return false,
                }
                true
            }
            (Op::Txn { compares, .. }, Some(Ret::TxnFailed { mismatches })) => {
                if mismatches.is_empty()
                    || mismatches
                        .iter()
                        .any(|(k, e, a)| a == e || !compares.contains(&(k.clone(), *e)))
                {
                    return false;
                }
                compares.iter().all(|(k, e)| {
                    match mismatches.iter().find(|m| &m.0 == k && m.1 == *e) {
                        Some(m) => self.observe_index(k, m.2),
                        None => self.holds(k, *e),
                    }
                })
            }
            _ => panic!("malformed operation"),
        }
    }

    /// Whether the commits' indexes can be strictly increasing integers from 1.
    fn indexes_fit(&self) -> bool {
        let mut low = 1;
        for t in &self.commits {
            let fixed = match *t {
                Term::Known(n) => Some(n),
                Term::Var(v) => self.pins[v],
            };
            match fixed {
                Some(n) if n < low => return false,
                Some(n) => low = n + 1,
                None => low += 1,
            }
        }
        true
    }
}

/// Tries every order of the completed operations and of any subset of the unknown ones that
/// respects real time.
fn exhaustive(ops: &[Operation]) -> bool {
    fn search(ops: &[Operation], placed: &mut Vec<bool>, state: &Exhaustive) -> bool {
        let all_known = ops
            .iter()
            .zip(placed.iter())
            .all(|(o, &p)| p || o.outcome == Outcome::Unknown);
        if all_known && state.indexes_fit() {
            return true;
        }
        for i in 0..ops.len() {
            if placed[i] {
                continue;
            }
            let must_wait = ops.iter().zip(placed.iter()).any(|(o, &p)| {
                !p && matches!(&o.outcome, Outcome::Returned { at, .. } if *at < ops[i].invoked)
            });
            if must_wait {
                continue;
            }
            let mut next = state.clone();
            let ret = match &ops[i].outcome {
                Outcome::Returned { ret, .. } => Some(ret),
                Outcome::Unknown if matches!(ops[i].op, Op::Get { .. }) => continue,
                Outcome::Unknown => None,
            };
            if next.apply(&ops[i].op, ret) {
                placed[i] = true;
                let found = search(ops, placed, &next);
                placed[i] = false;
                if found {
                    return true;
                }
            }
        }
        false
    }
    search(ops, &mut vec![false; ops.len()], &Exhaustive::default())
}

/// Changes one return value at random (the result may or may not still be linearizable).
fn perturb(ops: &mut [Operation], rng: &mut fastrand::Rng) {
    let returned: Vec<usize> = (0..ops.len())
        .filter(|&i| matches!(ops[i].outcome, Outcome::Returned { .. }))
        .collect();
    if returned.is_empty() {
        return;
    }
    let i = returned[rng.usize(..returned.len())];
    let Outcome::Returned { ret, .. } = &mut ops[i].outcome else {
        unreachable!()
    };
    let nudge = |n: u64, rng: &mut fastrand::Rng| (n + rng.u64(0..=4)).saturating_sub(2);
    match ret {
        Ret::Value(Some((v, i))) => match rng.u32(..3) {
            0 => *i = nudge(*i, rng),
            1 => *v += 10,
            _ => *ret = Ret::Value(None),
        },
        Ret::Value(None) => *ret = value(10, rng.u64(1..8)),
        Ret::Committed(n) => *n = nudge(*n, rng),
        Ret::Failed {
            current: Some((_, i)),
        } => *i = nudge(*i, rng),
        Ret::Failed { current: None } => *ret = failed(Some((10, rng.u64(1..8)))),
        Ret::TxnFailed { mismatches } => {
            if mismatches.len() > 1 && rng.bool() {
                mismatches.pop();
            } else {
                mismatches[0].2 = nudge(mismatches[0].2, rng);
            }
        }
    }
}

/// On small random histories, some with one return value changed: what the exhaustive search
/// accepts, the checker (and its search alone) must accept; what it rejects, the checker should
/// reject too, bar a few that the approximation of unknown indexes lets through.
#[test]
fn small_histories_agree_with_exhaustive_search() {
    let mut rng = fastrand::Rng::with_seed(5);
    let (mut agree_yes, mut agree_no, mut only_checker) = (0, 0, 0);
    for seed in 0..4000 {
        let sim = Sim {
            seed: 50_000 + seed,
            ops: rng.usize(3..=9),
            clients: rng.usize(2..=5),
            keys: rng.usize(1..=3),
            unknown_percent: rng.u32(0..120),
        };
        let mut ops = simulate(&sim);
        if rng.bool() {
            perturb(&mut ops, &mut rng);
        }
        let expected = exhaustive(&ops);
        let verdict = check(&ops, &Limits::default());
        let searched = search(&ops, &Limits::default());
        assert!(
            !matches!(searched, Verdict::GaveUp { .. }),
            "{searched}\n{}",
            render(&ops)
        );
        assert!(
            !expected || searched.is_linearizable(),
            "the search wrongly rejected: {searched}\n{}",
            render(&ops)
        );
        match (expected, verdict.is_linearizable()) {
            (true, true) => agree_yes += 1,
            (false, false) => agree_no += 1,
            (true, false) => panic!("wrongly rejected: {verdict}\n{}", render(&ops)),
            (false, true) => only_checker += 1,
        }
    }
    eprintln!("linearizable {agree_yes}, not {agree_no}, accepted by approximation {only_checker}");
    assert!(agree_no > 300, "{agree_no}");
}
