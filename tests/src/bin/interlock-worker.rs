//! A worker process for the multi-process tests: each subcommand does one role against a store
//! and reports on stdout, one line per fact, so tests can spawn many, kill them and check.
//!
//! Roles wait for a line on stdin before racing, so that a test starts them together.

use std::io::{BufRead, Write};
use std::time::{Duration, Instant};

use interlock::{Client, LockOptions};
use serde_json::json;

fn say(line: impl AsRef<str>) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", line.as_ref()).expect("stdout");
    out.flush().expect("stdout");
}

fn wait_for_go() {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).expect("stdin");
}

fn arg(args: &[String], i: usize, what: &str) -> String {
    args.get(i)
        .cloned()
        .unwrap_or_else(|| panic!("missing argument {i}: {what}"))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> interlock::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let role = arg(&args, 1, "role");
    let db = Client::connect(&arg(&args, 2, "store URL")).await?;
    match role.as_str() {
        // increment URL LOCK FILE M: M lock-protected read-modify-write increments of FILE.
        "increment" => {
            let path = arg(&args, 4, "file");
            let rounds: usize = arg(&args, 5, "rounds").parse().expect("rounds");
            let lock = db.lock(&arg(&args, 3, "lock"));
            say("ready");
            wait_for_go();
            for _ in 0..rounds {
                let token = lock.acquire(None).await?;
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                let n: u64 = text.trim().parse().unwrap_or(0);
                // Widen the race window: an unprotected increment would lose updates here.
                tokio::task::yield_now().await;
                std::fs::write(&path, format!("{}", n + 1)).expect("write counter");
                say(format!("grant {n} {token}"));
                lock.release().await?;
            }
            say("done");
        }
        // reserve URL KEY VALUE: one create-if-absent, raced against the other workers.
        "reserve" => {
            let key = arg(&args, 3, "key");
            let value = arg(&args, 4, "value");
            say("ready");
            wait_for_go();
            let r = db.put(&key, value, 0).await?;
            say(
                json!({"successful": r.successful, "index": r.index, "value": r.value}).to_string(),
            );
        }
        // hold URL LOCK TTL_MS: take the lock and keep it until killed.
        "hold" => {
            let ttl = Duration::from_millis(arg(&args, 4, "ttl ms").parse().expect("ttl"));
            let lock = db.lock_with(
                &arg(&args, 3, "lock"),
                LockOptions {
                    ttl,
                    owner: Some("doomed holder".into()),
                    lease: None,
                },
            );
            let token = lock.acquire(None).await?;
            say(format!("held {token}"));
            std::future::pending::<()>().await;
        }
        // wait URL LOCK: take the lock, report the token and how long it took.
        "wait" => {
            let lock = db.lock(&arg(&args, 3, "lock"));
            let started = Instant::now();
            let token = lock.acquire(Some(Duration::from_secs(60))).await?;
            let queue = db.lock_queue(lock.name()).await?;
            let owners: Vec<String> = queue.iter().map(|w| w.owner["owner"].to_string()).collect();
            say(format!(
                "acquired {token} {} {}",
                started.elapsed().as_millis(),
                owners.join(",")
            ));
            lock.release().await?;
        }
        // txn-loop URL KEYS: commit transactions that set every key to the same round number,
        // forever, reporting each commit.
        "txn-loop" => {
            let keys: usize = arg(&args, 3, "keys").parse().expect("keys");
            let filler = "x".repeat(4096);
            for round in 0u64.. {
                let mut txn = db.txn();
                for k in 0..keys {
                    txn.put(
                        &format!("atomic/{k:03}"),
                        json!({"round": round, "pad": filler}),
                    );
                }
                txn.commit().await?;
                say(format!("committed {round}"));
            }
        }
        // list URL PREFIX: the keys under PREFIX, as a JSON array.
        "list" => {
            let page = db.list(&arg(&args, 3, "prefix"), None, None).await?;
            let keys: Vec<&str> = page.entries.iter().map(|e| e.key.as_str()).collect();
            say(json!(keys).to_string());
        }
        other => panic!("unknown role {other}"),
    }
    Ok(())
}
