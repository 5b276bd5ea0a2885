//! The embedded store shared by real OS processes: lock-protected increments, a reservation race,
//! a SIGKILLed holder and a SIGKILLed transaction (issue: multi-process tests on SQLite).

use std::process::Stdio;
use std::time::{Duration, Instant};

use interlock::Client;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use interlock_tests::Store;

struct Worker {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Worker {
    fn spawn(args: &[&str]) -> Worker {
        let mut child = Command::new(env!("CARGO_BIN_EXE_interlock-worker"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn worker");
        let stdin = child.stdin.take();
        let lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        Worker {
            child,
            stdin,
            lines,
        }
    }

    async fn line(&mut self) -> String {
        tokio::time::timeout(Duration::from_secs(60), self.lines.next_line())
            .await
            .expect("worker answered in time")
            .expect("read worker output")
            .expect("worker exited early")
    }

    async fn go(&mut self) {
        let stdin = self.stdin.as_mut().expect("stdin");
        stdin.write_all(b"go\n").await.expect("start worker");
        stdin.flush().await.expect("start worker");
    }

    fn sigkill(&self) {
        let pid = Pid::from_raw(self.child.id().expect("running") as i32);
        kill(pid, Signal::SIGKILL).expect("SIGKILL");
    }

    async fn exit_ok(mut self) {
        let status = tokio::time::timeout(Duration::from_secs(60), self.child.wait())
            .await
            .expect("worker exits")
            .expect("wait");
        assert!(status.success(), "worker failed: {status}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_protected_increments_lose_nothing() {
    const PROCESSES: usize = 4;
    const ROUNDS: usize = 25;
    let store = Store::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let counter = dir.path().join("counter.txt");
    let counter_arg = counter.to_str().unwrap();
    let rounds = ROUNDS.to_string();
    let mut workers: Vec<Worker> = (0..PROCESSES)
        .map(|_| Worker::spawn(&["increment", &store.url, "counter", counter_arg, &rounds]))
        .collect();
    for w in &mut workers {
        assert_eq!(w.line().await, "ready");
    }
    for w in &mut workers {
        w.go().await;
    }
    let mut grants: Vec<(u64, u64)> = Vec::new();
    for w in &mut workers {
        loop {
            let line = w.line().await;
            if line == "done" {
                break;
            }
            let mut parts = line.split_whitespace().skip(1);
            let before: u64 = parts.next().unwrap().parse().unwrap();
            let token: u64 = parts.next().unwrap().parse().unwrap();
            grants.push((before, token));
        }
    }
    for w in workers {
        w.exit_ok().await;
    }
    let total: u64 = std::fs::read_to_string(&counter)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(total, (PROCESSES * ROUNDS) as u64, "no increment lost");
    grants.sort();
    let seen: Vec<u64> = grants.iter().map(|g| g.0).collect();
    let expected: Vec<u64> = (0..(PROCESSES * ROUNDS) as u64).collect();
    assert_eq!(
        seen, expected,
        "every holder saw the previous holder's write"
    );
    for pair in grants.windows(2) {
        assert!(
            pair[1].1 > pair[0].1,
            "fencing tokens strictly increase in grant order: {pair:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b_reservation_race_has_exactly_one_winner() {
    const PROCESSES: usize = 8;
    let store = Store::sqlite();
    let values: Vec<String> = (0..PROCESSES).map(|i| format!("users/{i}")).collect();
    let mut workers: Vec<Worker> = values
        .iter()
        .map(|v| Worker::spawn(&["reserve", &store.url, "emails/ada@example.com", v]))
        .collect();
    for w in &mut workers {
        assert_eq!(w.line().await, "ready");
    }
    for w in &mut workers {
        w.go().await;
    }
    let mut results = Vec::new();
    for w in &mut workers {
        let r: Value = serde_json::from_str(&w.line().await).unwrap();
        results.push(r);
    }
    for w in workers {
        w.exit_ok().await;
    }
    let winners: Vec<&Value> = results.iter().filter(|r| r["successful"] == true).collect();
    assert_eq!(winners.len(), 1, "exactly one winner: {results:?}");
    let winner = winners[0];
    for r in &results {
        assert_eq!(r["value"], winner["value"], "everyone learns who owns it");
        assert_eq!(r["index"], winner["index"]);
    }
    let db = store.client().await;
    let stored = db.get("emails/ada@example.com").await.unwrap().unwrap();
    assert_eq!(stored.value, winner["value"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c_waiter_acquires_after_killed_holders_ttl() {
    const TTL_MS: u64 = 2000;
    let store = Store::sqlite();
    let mut holder = Worker::spawn(&["hold", &store.url, "printer", &TTL_MS.to_string()]);
    let held: u64 = holder.line().await["held ".len()..].parse().unwrap();
    let mut waiter = Worker::spawn(&["wait", &store.url, "printer"]);
    let db = store.client().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while db.lock_queue("printer").await.unwrap().len() < 2 {
        assert!(Instant::now() < deadline, "waiter never queued");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    holder.sigkill();
    let killed = Instant::now();
    let line = waiter.line().await;
    let waited = killed.elapsed();
    let mut parts = line.split_whitespace().skip(1);
    let token: u64 = parts.next().unwrap().parse().unwrap();
    let _elapsed_ms = parts.next();
    let owners = parts.next().unwrap_or_default();
    assert!(
        token > held,
        "the new holder's token {token} exceeds the dead holder's {held}"
    );
    assert!(
        !owners.contains("doomed holder"),
        "the killed holder's entry is gone: {owners}"
    );
    // The holder renewed at most ttl/3 before the kill, so its lease outlived the kill by at
    // least 2/3 of the TTL: an earlier grant would break mutual exclusion.
    assert!(
        waited >= Duration::from_millis(TTL_MS * 2 / 3),
        "granted {waited:?} after the kill, before the lease could expire"
    );
    eprintln!("waiter acquired {waited:?} after SIGKILL (TTL {TTL_MS} ms)");
    waiter.exit_ok().await;
    assert!(db.lock_queue("printer").await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn d_killed_transaction_leaves_no_partial_write() {
    const KEYS: usize = 64;
    let store = Store::sqlite();
    let keys = KEYS.to_string();
    for attempt in 0..6u64 {
        let mut w = Worker::spawn(&["txn-loop", &store.url, &keys]);
        for _ in 0..3 {
            w.line().await;
        }
        // Land the kill at a varying point of the next transaction.
        tokio::time::sleep(Duration::from_micros(700 * attempt + 150)).await;
        w.sigkill();
        let _ = w.child.wait().await;
        let db = Client::connect(&store.url).await.unwrap();
        let page = db.list("atomic/", None, None).await.unwrap();
        assert_eq!(
            page.entries.len(),
            KEYS,
            "every key of the transaction exists"
        );
        let first = &page.entries[0];
        for e in &page.entries {
            assert_eq!(e.index, first.index, "all keys from one commit ({})", e.key);
            assert_eq!(e.value["round"], first.value["round"]);
        }
    }
    let path = store.url.trim_start_matches("sqlite://");
    let conn = rusqlite::Connection::open(path).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e_reboot_expires_every_lease() {
    let store = Store::sqlite();
    {
        let db = store.client().await;
        let lease = db.grant(Duration::from_secs(3600)).await.unwrap();
        let options = interlock::PutOptions {
            index: None,
            lease: Some(lease.id),
        };
        db.put_with("boot/leased", 1, options).await.unwrap();
        db.set("boot/plain", 1).await.unwrap();
    }
    // Pretend the store was last used in an earlier boot of the host.
    let path = store.url.trim_start_matches("sqlite://");
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute("UPDATE meta SET boot_id = 'an-earlier-boot'", [])
        .unwrap();
    drop(conn);
    let mut w = Worker::spawn(&["list", &store.url, "boot/"]);
    assert_eq!(w.line().await, r#"["boot/plain"]"#);
    w.exit_ok().await;
}
