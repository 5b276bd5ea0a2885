//! Linearizability of the embedded store shared by OS processes that are SIGKILLed at random
//! moments: worker processes (`interlock-history-worker`) run random compare-exchange reads,
//! writes, deletes and transactions on three keys of one SQLite file and record their histories
//! in JSON-lines files; the test kills a random worker every 0.5–1 s and starts a replacement,
//! then merges the files and checks the whole history. Also: a recorded history with one reply
//! corrupted is rejected, through the same record format.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use interlock_tests::linearizability::{
    Limits, Op, Operation, Outcome, Ret, Verdict, check, render,
};
use interlock_tests::workload::{Loaded, Recorder, Summary, load, monotonic_ns, unknown_in};

const KEYS: &str = "k0,k1,k2";
/// The longest random pause between two operations of a worker, in microseconds: it varies the
/// interleavings and keeps the history to some 15 000 operations.
const PAUSE_US: u64 = 2000;

/// Generous bounds: histories here take well under a million steps. Steps, not time, are what
/// should run out, so that a loaded machine does not turn a pass into a failure.
fn limits() -> Limits {
    Limits {
        max_steps: 50_000_000,
        max_time: Duration::from_secs(600),
    }
}

/// The tests of this file start worker processes; one at a time keeps the machine less busy.
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Worker processes of one test, each recording to its own file in `dir`.
struct Workers {
    dir: PathBuf,
    url: String,
    deadline: u64,
    seed: u64,
    running: Vec<(usize, Child)>,
    files: Vec<PathBuf>,
    next_client: usize,
    killed: usize,
}

impl Workers {
    fn new(dir: &Path, url: &str, run: Duration, seed: u64) -> Workers {
        Workers {
            dir: dir.to_path_buf(),
            url: url.to_string(),
            deadline: monotonic_ns() + run.as_nanos() as u64,
            seed,
            running: Vec::new(),
            files: Vec::new(),
            next_client: 0,
            killed: 0,
        }
    }

    /// Starts a worker with the next client number; it stops at the common deadline.
    fn spawn(&mut self) {
        let client = self.next_client;
        self.next_client += 1;
        let file = self.dir.join(format!("history-{client}.jsonl"));
        let child = Command::new(env!("CARGO_BIN_EXE_interlock-history-worker"))
            .arg(&self.url)
            .arg(client.to_string())
            .arg(&file)
            .arg(self.deadline.to_string())
            .arg((self.seed ^ (client as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)).to_string())
            .arg(KEYS)
            .arg(PAUSE_US.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn interlock-history-worker");
        self.files.push(file);
        self.running.push((client, child));
    }

    /// SIGKILLs a random running worker and reaps it; returns its client number. The kill
    /// waits (up to 200 ms) for the worker to invoke a write, then a random 0–0.4 ms (a write
    /// takes about 0.3 ms, more while another process holds the write lock), so that killed
    /// writes are cut short at every stage of the store's commit rather than between operations.
    fn kill_one(&mut self, rng: &mut fastrand::Rng) -> usize {
        let victim = rng.usize(..self.running.len());
        let file = &self.files[self.running[victim].0];
        let give_up = Instant::now() + Duration::from_millis(200);
        while !write_in_flight(file) && Instant::now() < give_up {
            std::thread::sleep(Duration::from_micros(200));
        }
        // Somewhere in the write: before, during or after its commit. A sleep this short would
        // last much longer than asked, so spin.
        let kill_at = Instant::now() + Duration::from_micros(rng.u64(..=400));
        while Instant::now() < kill_at {
            std::hint::spin_loop();
        }
        let (client, mut child) = self.running.remove(victim);
        kill(Pid::from_raw(child.id() as i32), Signal::SIGKILL).expect("SIGKILL a worker");
        child.wait().expect("reap a killed worker");
        self.killed += 1;
        client
    }

    /// Waits for every running worker to pass the deadline and exit; each must exit 0.
    fn finish(&mut self) {
        let give_up = Instant::now()
            + Duration::from_nanos(self.deadline.saturating_sub(monotonic_ns()))
            + Duration::from_secs(60);
        for (client, child) in &mut self.running {
            let status = loop {
                if let Some(status) = child.try_wait().expect("wait for a worker") {
                    break status;
                }
                assert!(
                    Instant::now() < give_up,
                    "worker {client} still runs a minute after its deadline"
                );
                std::thread::sleep(Duration::from_millis(20));
            };
            assert!(status.success(), "worker {client} failed: {status}");
        }
        self.running.clear();
    }

    fn load(&self) -> Loaded {
        let texts: Vec<String> = self
            .files
            .iter()
            // A worker killed before it created its file recorded nothing.
            .filter_map(|f| std::fs::read_to_string(f).ok())
            .collect();
        load(&texts).unwrap_or_else(|e| panic!("{e}"))
    }
}

/// Whether the last line of a worker's history file invokes a write that has not completed.
fn write_in_flight(file: &Path) -> bool {
    let Ok(mut f) = std::fs::File::open(file) else {
        return false;
    };
    let len = f.metadata().map_or(0, |m| m.len());
    let mut tail = String::new();
    if f.seek(SeekFrom::Start(len.saturating_sub(2048))).is_err()
        || f.read_to_string(&mut tail).is_err()
    {
        return false;
    }
    let last = tail.strip_suffix('\n').and_then(|t| t.rsplit('\n').next());
    last.is_some_and(|l| l.contains(r#""kind":"invoke""#) && !l.contains(r#""type":"get""#))
}

impl Drop for Workers {
    fn drop(&mut self) {
        for (_, child) in &mut self.running {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn timed_check(ops: &[Operation]) -> (Verdict, Duration) {
    let started = Instant::now();
    let verdict = check(ops, &limits());
    (verdict, started.elapsed())
}

/// How many operations with an unknown outcome took effect in the linearization found.
fn took_effect(verdict: &Verdict, ops: &[Operation]) -> usize {
    match verdict {
        Verdict::Linearizable { order, .. } => unknown_in(ops, order),
        _ => 0,
    }
}

#[test]
fn sqlite_history_with_killed_processes_is_linearizable() {
    const WORKERS: usize = 4;
    const RUN: Duration = Duration::from_secs(10);
    let _serial = serial();
    let seed = fastrand::u64(..);
    let mut rng = fastrand::Rng::with_seed(seed);
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    let started = Instant::now();
    let mut workers = Workers::new(dir.path(), &url, RUN, seed);
    for _ in 0..WORKERS {
        workers.spawn();
    }
    let mut kills = Vec::new();
    loop {
        let pause = Duration::from_millis(rng.u64(500..=1000));
        if started.elapsed() + pause + Duration::from_millis(300) > RUN {
            break;
        }
        std::thread::sleep(pause);
        kills.push(workers.kill_one(&mut rng));
        workers.spawn();
    }
    workers.finish();
    let ran = started.elapsed();
    let loaded = workers.load();
    let ops = &loaded.operations;
    let summary = Summary::of(ops);
    let (verdict, took) = timed_check(ops);
    println!(
        "SQLite, {WORKERS} worker processes for {ran:.1?} (seed {seed}): {} SIGKILLs (clients \
         {kills:?}), {} workers in all\n{summary}\n  unfinished (killed in flight) {}, torn lines \
         {}, errors {:?}\ncheck: {verdict} in {took:.2?}; {} unknown outcomes took effect in it",
        workers.killed,
        workers.next_client,
        loaded.unfinished,
        loaded.torn,
        loaded.errors,
        took_effect(&verdict, ops),
    );
    if !verdict.is_linearizable() {
        let path = std::env::temp_dir().join(format!("interlock-sqlite-history-{seed}.txt"));
        let _ = std::fs::write(&path, render(ops));
        panic!("{verdict}\n(the whole history is in {})", path.display());
    }
    // Errors would be unknown outcomes; with no faults but killed processes, none is expected
    // beyond a busy store.
    for (kind, (n, message)) in &loaded.errors {
        assert_eq!(
            kind, "Unavailable",
            "{n} errors of kind {kind}, e.g. {message}"
        );
    }
    assert!(
        workers.killed >= 5,
        "only {} workers were killed",
        workers.killed
    );
    summary.assert_exercised(
        500,
        &[
            ("get", "ok"),
            ("put", "committed"),
            ("put", "failed"),
            ("delete", "committed"),
            ("txn", "committed"),
            ("txn", "failed"),
        ],
    );
}

/// Replaces the return of operation `op` of `client` in that client's history text.
fn replace_return(text: &str, op_id: u64, ret: &Ret) -> String {
    let mut out = String::new();
    let mut replaced = false;
    for line in text.split_inclusive('\n') {
        let mut v: serde_json::Value = serde_json::from_str(line).expect("a history line");
        if v["kind"] == "ok" && v["id"] == op_id {
            v["ret"] = interlock_tests::workload::ret_json(ret);
            out.push_str(&v.to_string());
            out.push('\n');
            replaced = true;
        } else {
            out.push_str(line);
        }
    }
    assert!(replaced, "operation {op_id} has an ok line");
    out
}

fn rejected(texts: &[String], what: &str) -> String {
    let loaded = load(texts).unwrap_or_else(|e| panic!("{e}"));
    match check(&loaded.operations, &limits()) {
        Verdict::NotLinearizable { explanation, steps } => {
            println!("{what}: rejected in {steps} steps:\n{explanation}\n");
            explanation
        }
        other => panic!("{what}: expected a rejection, got {other}"),
    }
}

/// The operations of each file in order, to find which line an operation came from: (file,
/// id within the file) of every merged operation.
fn origins(texts: &[String]) -> Vec<(usize, u64)> {
    let mut all = Vec::new();
    for (f, text) in texts.iter().enumerate() {
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).expect("a history line");
            if v["kind"] == "invoke" {
                all.push((2 * v["t"].as_u64().unwrap(), f, v["id"].as_u64().unwrap()));
            }
        }
    }
    all.sort();
    all.into_iter().map(|(_, f, id)| (f, id)).collect()
}

fn returned(o: &Operation) -> Option<(&Ret, u64)> {
    match &o.outcome {
        Outcome::Returned { ret, at } => Some((ret, *at)),
        Outcome::Unknown => None,
    }
}

/// A committed write of `key` (a put, a delete, or a transaction that puts or deletes it) and
/// its index.
fn commit_of(o: &Operation, key: &str) -> Option<u64> {
    let Some((Ret::Committed(n), _)) = returned(o) else {
        return None;
    };
    let writes_key = match &o.op {
        Op::Put { key: k, .. } | Op::Delete { key: k, .. } => k == key,
        // A transaction's index is its commit's only if it put something.
        Op::Txn { writes, .. } => {
            writes.iter().any(|(k, _)| k == key) && writes.iter().any(|(_, v)| v.is_some())
        }
        Op::Get { .. } => false,
    };
    writes_key.then_some(*n)
}

#[test]
fn recorded_history_with_a_corrupted_reply_is_rejected() {
    let _serial = serial();
    let seed = fastrand::u64(..);
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    let mut workers = Workers::new(dir.path(), &url, Duration::from_millis(1500), seed);
    for _ in 0..2 {
        workers.spawn();
    }
    workers.finish();
    let texts: Vec<String> = workers
        .files
        .iter()
        .map(|f| std::fs::read_to_string(f).expect("history file"))
        .collect();
    let loaded = load(&texts).unwrap();
    let ops = &loaded.operations;
    println!("recorded (seed {seed}): {}", Summary::of(ops));
    check(ops, &limits()).assert_linearizable();
    let origin = origins(&texts);

    // 1. A read returns a value that no client wrote.
    let (g, (value, index)) = ops
        .iter()
        .find_map(|o| match returned(o) {
            Some((Ret::Value(Some(e)), _)) => Some((o, *e)),
            _ => None,
        })
        .expect("a read that found an entry");
    let (file, id) = origin[g.id];
    let mut corrupted = texts.clone();
    corrupted[file] = replace_return(&texts[file], id, &Ret::Value(Some((-value, index))));
    rejected(&corrupted, "a read of a value never written");

    // 2. A stale read: a read returns the entry of a put that a later write replaced before the
    // read was invoked.
    let stale = ops.iter().find_map(|g| {
        let Op::Get { key } = &g.op else { return None };
        let (Ret::Value(seen), _) = returned(g)? else {
            return None;
        };
        ops.iter().find_map(|p| {
            let Op::Put { key: pk, value, .. } = &p.op else {
                return None;
            };
            let j = commit_of(p, key).filter(|_| pk == key)?;
            if seen.is_some_and(|s| s.1 <= j) {
                return None;
            }
            let overwritten = ops.iter().any(|w| {
                commit_of(w, key).is_some_and(|n| n > j)
                    && returned(w).is_some_and(|(_, at)| at < g.invoked)
            });
            overwritten.then_some((g, (*value, j)))
        })
    });
    let (g, old) = stale.expect("a read after an overwritten put");
    let (file, id) = origin[g.id];
    let mut corrupted = texts.clone();
    corrupted[file] = replace_return(&texts[file], id, &Ret::Value(Some(old)));
    rejected(&corrupted, "a stale read");

    // 3. Two creates of one key both succeed, one after the other.
    let path = dir.path().join("two-creates.jsonl");
    let mut a = Recorder::create(&path, 100).unwrap();
    let id = a.invoke(&Op::Put {
        key: "k0".into(),
        value: 100_000_001,
        index: 0,
    });
    a.ok(id, &Ret::Committed(1));
    let path_b = dir.path().join("two-creates-b.jsonl");
    let mut b = Recorder::create(&path_b, 101).unwrap();
    let id = b.invoke(&Op::Put {
        key: "k0".into(),
        value: 101_000_001,
        index: 0,
    });
    b.ok(id, &Ret::Committed(2));
    let texts = [path, path_b].map(|p| std::fs::read_to_string(p).unwrap());
    rejected(&texts, "two creates of one key");
}
