//! A worker process for the multi-process tests: each subcommand does one role against a store
//! and reports on stdout, one line per fact, so tests can spawn many, kill them and check.
//!
//! Roles wait for a line on stdin before racing, so that a test starts them together. The
//! lock-fault roles (`fence`, `lose`) take commands on stdin at fixed points instead, so that a
//! test can pause or kill them at exactly those points, and they exit when stdin closes. Every
//! role dies with the test that spawned it (a parent-death signal).

use std::fs::{File, OpenOptions};
use std::io::{BufRead, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use interlock::{Client, ErrorKind, Lock, LockOptions};
use nix::fcntl::{Flock, FlockArg};
use nix::sys::signal::Signal;
use serde_json::json;
use tokio::sync::mpsc::UnboundedReceiver;

fn say(line: impl AsRef<str>) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", line.as_ref()).expect("stdout");
    out.flush().expect("stdout");
}

fn wait_for_go() {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).expect("stdin");
}

/// The lines the parent writes on stdin, read by a thread of their own. When stdin closes (the
/// parent closed it, or died) the process exits at once, wherever it is: no worker outlives its
/// test.
fn commands() -> UnboundedReceiver<String> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            match line {
                Ok(line) => {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
        std::process::exit(0);
    });
    rx
}

/// The next command from the parent ("go" or "quit").
async fn command(rx: &mut UnboundedReceiver<String>) -> String {
    match rx.recv().await {
        Some(line) => line.trim().to_string(),
        // The reader thread exits the process on end of input before it drops the sender.
        None => std::process::exit(0),
    }
}

/// The guarded resource of the lock-fault tests: a file whose first line is the highest token
/// accepted so far (20 digits) followed by an append-only log, one line per write:
/// `accept|reject KIND TOKEN WORKER SEQ HIGHEST_BEFORE`. A write is accepted if its token is at
/// least the highest accepted so far. The check and the append happen under an exclusive
/// `flock` on the file, so they are atomic across processes; the header is raised before the
/// log line is appended, so a writer killed in between can only make the resource stricter.
/// Returns whether the write was accepted, and the highest token before it.
fn guarded_write(
    path: &Path,
    kind: &str,
    token: u64,
    worker: &str,
    seq: u64,
) -> std::io::Result<(bool, u64)> {
    let file = OpenOptions::new().read(true).write(true).open(path)?;
    let file: Flock<File> =
        Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, e)| std::io::Error::from(e))?;
    let mut header = [0u8; 21];
    file.read_exact_at(&mut header, 0)?;
    let highest: u64 = std::str::from_utf8(&header[..20])
        .ok()
        .and_then(|h| h.parse().ok())
        .ok_or_else(|| std::io::Error::other("resource header is not a token"))?;
    let accepted = token >= highest;
    if accepted {
        file.write_all_at(format!("{token:020}\n").as_bytes(), 0)?;
    }
    let verdict = if accepted { "accept" } else { "reject" };
    let line = format!("{verdict} {kind} {token} {worker} {seq} {highest}\n");
    let end = file.metadata()?.len();
    file.write_all_at(line.as_bytes(), end)?;
    Ok((accepted, highest))
}

/// Kills this process when the thread of the parent that spawned it exits (in tests: when the
/// test ends or its process dies), so that no worker (one paused with SIGSTOP, blocked in an
/// acquire or holding a lock forever) outlives the test that started it.
fn die_with_parent() {
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).expect("set the parent-death signal");
}

/// A random sleep of up to `max_ms`.
async fn jitter(max_ms: u64) {
    if max_ms > 0 {
        tokio::time::sleep(Duration::from_millis(fastrand::u64(0..=max_ms))).await;
    }
}

/// A lock for `fence`, reporting each loss of its lease on stdout.
fn fence_lock(db: &Client, name: &str, worker: &str, ttl: Duration) -> Lock {
    let lock = db.lock_with(
        name,
        LockOptions {
            ttl,
            owner: Some(worker.to_string()),
            lease: None,
        },
    );
    lock.on_lost(|| say("lost-callback"));
    lock
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
    die_with_parent();
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
        // wait URL LOCK [TTL_MS]: take the lock, report the token and how long it took (or
        // "failed KIND: MESSAGE"), then release it.
        "wait" => {
            let mut options = LockOptions::default();
            if let Some(ttl) = args.get(4) {
                options.ttl = Duration::from_millis(ttl.parse().expect("ttl"));
            }
            let lock = db.lock_with(&arg(&args, 3, "lock"), options);
            let started = Instant::now();
            let token = match lock.acquire(Some(Duration::from_secs(60))).await {
                Ok(token) => token,
                Err(e) => {
                    say(format!("failed {}: {e}", e.kind()));
                    return Ok(());
                }
            };
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
                    txn.set(
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
        // fence URL LOCK RESOURCE WORKER TTL_MS JITTER_MS: forever take the lock and write
        // "begin TOKEN" then "end TOKEN" through the guarded RESOURCE (see `guarded_write`), then
        // release. It does not check whether the lock is still held before writing: the
        // resource's fencing is what keeps a stale holder out. It reports
        //   acquired TOKEN            then waits for "go" (or "quit": release and exit)
        //   begin TOKEN accepted|rejected HIGHEST   then waits for "go"
        //   end TOKEN accepted|rejected HIGHEST
        //   released TOKEN ok|KIND
        //   retry acquire|release KIND: MESSAGE   (the store failed; it tries again)
        //   lost-callback             (the lock's lost callback fired)
        "fence" => {
            let mut rx = commands();
            let name = arg(&args, 3, "lock");
            let resource = std::path::PathBuf::from(arg(&args, 4, "resource"));
            let worker = arg(&args, 5, "worker name");
            let ttl = Duration::from_millis(arg(&args, 6, "ttl ms").parse().expect("ttl"));
            let jitter_ms: u64 = arg(&args, 7, "jitter ms").parse().expect("jitter");
            let mut lock = fence_lock(&db, &name, &worker, ttl);
            let mut seq = 0u64;
            loop {
                let token = match lock.acquire(Some(Duration::from_secs(30))).await {
                    Ok(token) => token,
                    Err(e) => {
                        say(format!("retry acquire {}: {e}", e.kind()));
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        continue;
                    }
                };
                say(format!("acquired {token}"));
                let quit = command(&mut rx).await == "quit";
                if !quit {
                    for kind in ["begin", "end"] {
                        jitter(jitter_ms).await;
                        seq += 1;
                        let (accepted, highest) =
                            guarded_write(&resource, kind, token, &worker, seq)
                                .expect("write the guarded resource");
                        let verdict = if accepted { "accepted" } else { "rejected" };
                        say(format!("{kind} {token} {verdict} {highest}"));
                        if kind == "begin" {
                            command(&mut rx).await;
                        }
                    }
                }
                let mut released = false;
                for _ in 0..40 {
                    match lock.release().await {
                        Ok(()) => say(format!("released {token} ok")),
                        Err(e) if e.kind() == ErrorKind::LockLost => {
                            say(format!("released {token} LockLost"))
                        }
                        Err(e) => {
                            say(format!("retry release {}: {e}", e.kind()));
                            tokio::time::sleep(Duration::from_millis(250)).await;
                            continue;
                        }
                    }
                    released = true;
                    break;
                }
                if !released {
                    // Dropping the lock object removes its waiter entry in the background (its
                    // lease ends it otherwise); a fresh one can acquire again.
                    say(format!("released {token} gave-up"));
                    lock = fence_lock(&db, &name, &worker, ttl);
                }
                if quit {
                    say("bye");
                    return Ok(());
                }
            }
        }
        // lose URL LOCK TTL_MS: take the lock, report "acquired TOKEN" and wait for "check";
        // the test pauses the process past the TTL meanwhile. Then report what a holder that
        // lost its lease sees, one line each:
        //   lost-callback fired       (from the lock's lost callback)
        //   lost after MS ms          (Lock::lost resolved this long after the resume)
        //   callback true|false       (whether the callback had fired within 5 s)
        //   is_lost true|false
        //   fenced-write ok INDEX|KIND CONFLICTED-KEYS...   (txn().require(&lock).put(..))
        //   release ok|KIND
        //   done
        "lose" => {
            let mut rx = commands();
            let ttl = Duration::from_millis(arg(&args, 4, "ttl ms").parse().expect("ttl"));
            let lock = db.lock_with(
                &arg(&args, 3, "lock"),
                LockOptions {
                    ttl,
                    owner: Some("paused holder".into()),
                    lease: None,
                },
            );
            let fired = Arc::new(AtomicBool::new(false));
            let flag = fired.clone();
            lock.on_lost(move || {
                say("lost-callback fired");
                flag.store(true, Ordering::SeqCst);
            });
            let token = loop {
                match lock.acquire(Some(Duration::from_secs(30))).await {
                    Ok(token) => break token,
                    Err(e) => {
                        say(format!("retry acquire {}: {e}", e.kind()));
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            };
            say(format!("acquired {token}"));
            command(&mut rx).await;
            let resumed = Instant::now();
            match tokio::time::timeout(Duration::from_secs(10), lock.wait_lost()).await {
                Ok(()) => say(format!("lost after {} ms", resumed.elapsed().as_millis())),
                Err(_) => say("lost not detected within 10 s"),
            }
            let deadline = Instant::now() + Duration::from_secs(5);
            while !fired.load(Ordering::SeqCst) && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            say(format!("callback {}", fired.load(Ordering::SeqCst)));
            say(format!("is_lost {}", lock.is_lost()));
            let outcome = db
                .txn()
                .require(&lock)
                .set("fenced", json!({ "token": token }))
                .commit()
                .await;
            match outcome {
                Ok(index) => say(format!("fenced-write ok {index}")),
                Err(e) => {
                    let keys: Vec<String> = e
                        .conflicts()
                        .iter()
                        .map(|c| format!("{}@{}", c.key, c.expected))
                        .collect();
                    say(format!("fenced-write {} {}", e.kind(), keys.join(",")))
                }
            }
            match lock.release().await {
                Ok(()) => say("release ok"),
                Err(e) => say(format!("release {}", e.kind())),
            }
            say("done");
        }
        other => panic!("unknown role {other}"),
    }
    Ok(())
}
