//! The lifecycle matrix for Rust programs: real processes that hold a lock and then close, drop,
//! return from `main`, fail, or get SIGTERM or SIGKILL, on SQLite, etcd and a real server. Each
//! cell checks what a user relies on: how soon another process gets the lock, the exit status,
//! and that nothing panics or prints a backtrace.
//!
//! This file is its own harness (`harness = false`): run with `child CELL URL NAME TTL` it is the
//! program under test, so the matrix needs no binary beyond this one and the server.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use interlock::{Client, LockOptions};
use interlock_tests::Store;

const EXE: &str = env!("CARGO_BIN_EXE_interlock");

/// TTL of the cells whose lock must be freed at once: far above [`PROMPTLY`].
const LONG_TTL: u64 = 60;
/// Freed this soon means freed by a revoke or a delete, not by the lease running out.
const PROMPTLY: Duration = Duration::from_secs(10);
/// TTL of the cells where only the lease's end frees the lock (the process is gone).
const SHORT_TTL: u64 = 4;
/// What etcd may add to a TTL (it counts whole seconds), plus the waiter's own wake-up.
const TTL_SLACK: Duration = Duration::from_secs(6);
/// Runs of the exit-while-busy cell per store.
const BUSY_RUNS: usize = 50;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Cell {
    /// `client.close()` while holding; the process stays.
    CloseHolding,
    /// The held lock dropped in async code; the process stays.
    DropHolding,
    /// The held lock dropped on a thread with no runtime; the process stays.
    DropOnThread,
    /// The lock and its client dropped on a thread with no runtime; the process stays.
    DropClient,
    /// `client.close()`, then `main` returns.
    CloseThenExit,
    /// `main` returns while holding (no close).
    ExitHolding,
    /// `main` returns an error while holding.
    ErrorExit,
    /// SIGTERM, handled: the program closes its client and exits 0.
    SigtermHandled,
    /// SIGTERM, not handled: the default action kills the process.
    Sigterm,
    /// SIGKILL: a crash.
    Sigkill,
}

use Cell::*;

const CELLS: [Cell; 10] = [
    CloseHolding,
    DropHolding,
    DropOnThread,
    DropClient,
    CloseThenExit,
    ExitHolding,
    ErrorExit,
    SigtermHandled,
    Sigterm,
    Sigkill,
];

impl Cell {
    fn name(self) -> String {
        format!("{self:?}")
    }

    fn parse(s: &str) -> Option<Cell> {
        CELLS.into_iter().find(|c| c.name() == s)
    }

    /// Whether the lock must be free long before its TTL.
    fn prompt(self) -> bool {
        matches!(
            self,
            CloseHolding | DropHolding | DropOnThread | DropClient | CloseThenExit | SigtermHandled
        )
    }

    fn ttl(self) -> u64 {
        if self.prompt() { LONG_TTL } else { SHORT_TTL }
    }

    /// The process's expected end: an exit code, or the signal that ends it; `None` when it
    /// stays until the test closes its stdin (then it exits 0).
    fn end(self) -> End {
        match self {
            CloseHolding | DropHolding | DropOnThread | DropClient => End::Stays,
            CloseThenExit | ExitHolding | SigtermHandled => End::Code(0),
            ErrorExit => End::Code(1),
            Sigterm => End::Signal(15),
            Sigkill => End::Signal(9),
        }
    }
}

#[derive(Debug, PartialEq)]
enum End {
    Stays,
    Code(i32),
    Signal(i32),
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("child") {
        std::process::exit(child(&args[2..]));
    }
    // `cargo test -- --list` and filters: this harness has one test, the whole matrix.
    if args.iter().any(|a| a == "--list") {
        println!("lifecycle_matrix: test");
        return;
    }
    let failures = matrix();
    if failures > 0 {
        eprintln!("lifecycle matrix: {failures} cells failed");
        std::process::exit(1);
    }
}

// ---- The program under test ----

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Waits for the test to say go (or to close stdin).
fn wait_line() -> bool {
    let mut line = String::new();
    matches!(std::io::stdin().lock().read_line(&mut line), Ok(n) if n > 0)
}

fn child(args: &[String]) -> i32 {
    let (Some(cell), Some(url), Some(name), Some(ttl)) = (
        args.first().and_then(|c| Cell::parse(c)),
        args.get(1),
        args.get(2),
        args.get(3).and_then(|t| t.parse::<u64>().ok()),
    ) else {
        eprintln!("usage: lifecycle child CELL URL NAME TTL");
        return 2;
    };
    if args.get(4).map(String::as_str) == Some("busy") {
        return busy(url, name);
    }
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let outcome: Result<(), interlock::Error> = runtime.block_on(async move {
        let db = Client::connect(url).await?;
        let lock = db.lock_with(
            name,
            LockOptions {
                ttl: Duration::from_secs(ttl),
                ..LockOptions::default()
            },
        );
        let token = lock.acquire(None).await?;
        if cell == SigtermHandled {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("signal handler");
            say(&format!("held {token}"));
            term.recv().await;
            db.close().await?;
            return Ok(());
        }
        say(&format!("held {token}"));
        // The test says go once it has seen "held" (and, for signals, sends them instead).
        if !tokio::task::spawn_blocking(wait_line)
            .await
            .unwrap_or(false)
        {
            return Ok(());
        }
        match cell {
            CloseHolding => db.close().await?,
            DropHolding => drop(lock),
            DropOnThread => std::thread::spawn(move || drop(lock))
                .join()
                .expect("thread"),
            DropClient => std::thread::spawn(move || {
                drop(lock);
                drop(db);
            })
            .join()
            .expect("thread"),
            CloseThenExit => {
                db.close().await?;
                say("done");
                return Ok(());
            }
            ExitHolding => {
                say("done");
                return Ok(());
            }
            ErrorExit => {
                say("done");
                return Err(interlock::Error::invalid("the program failed"));
            }
            SigtermHandled | Sigterm | Sigkill => {}
        }
        say("done");
        // Stay until stdin closes.
        let _ = tokio::task::spawn_blocking(wait_line).await;
        Ok(())
    });
    drop(runtime);
    match outcome {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("Error: {e}");
            1
        }
    }
}

/// Starts locks, a watch and a lease in the background and returns from `main` in the middle
/// of them: the runtime's shutdown must end them quietly.
fn busy(url: &str, name: &str) -> i32 {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let outcome = runtime.block_on(async move {
        let db = Client::connect(url).await?;
        for i in 0..3 {
            let db = db.clone();
            let name = format!("{name}/{i}");
            tokio::spawn(async move {
                loop {
                    let lock = db.lock(&name);
                    if lock.acquire(None).await.is_err() {
                        return;
                    }
                    let _ = db.set(&format!("busy/{name}"), 1).await;
                    let _ = lock.release().await;
                }
            });
        }
        let mut watch = db.watch("busy/", None).await?;
        tokio::spawn(async move { while futures::StreamExt::next(&mut watch).await.is_some() {} });
        let _lease = db.lease(Duration::from_secs(5)).await?;
        let held = db.lock(&format!("{name}/held"));
        held.acquire(None).await?;
        tokio::time::sleep(Duration::from_millis(fastrand::u64(20..120))).await;
        Ok::<(), interlock::Error>(())
    });
    drop(runtime);
    match outcome {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("Error: {e}");
            1
        }
    }
}

// ---- The matrix ----

struct Running {
    child: Child,
    lines: std::sync::mpsc::Receiver<String>,
    stderr: std::thread::JoinHandle<String>,
}

fn spawn(cell: Cell, url: &str, name: &str, extra: &[&str]) -> Running {
    let mut child = Command::new(std::env::current_exe().expect("own path"))
        .arg("child")
        .arg(cell.name())
        .args([url, name, &cell.ttl().to_string()])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the program under test");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut err = child.stderr.take().expect("stderr");
    let stderr = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut err, &mut s);
        s
    });
    Running {
        child,
        lines,
        stderr,
    }
}

fn expect_line(r: &Running, prefix: &str) -> Result<String, String> {
    match r.lines.recv_timeout(Duration::from_secs(30)) {
        Ok(line) if line.starts_with(prefix) => Ok(line),
        Ok(line) => Err(format!("expected '{prefix}…', got '{line}'")),
        Err(_) => Err(format!("no '{prefix}' line within 30 s")),
    }
}

fn wait_exit(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn clean(stderr: &str) -> Result<(), String> {
    for bad in [
        "panicked",
        "backtrace",
        "RUST_BACKTRACE",
        "SIGSEGV",
        "Aborted",
    ] {
        if stderr.contains(bad) {
            return Err(format!("stderr shows '{bad}': {stderr}"));
        }
    }
    Ok(())
}

/// How long another client waits for the lock, or an error if it does not get it by `limit`.
fn time_to_acquire(
    rt: &tokio::runtime::Runtime,
    url: &str,
    name: &str,
    limit: Duration,
) -> Result<Duration, String> {
    rt.block_on(async {
        let db = Client::connect(url).await.map_err(|e| e.to_string())?;
        let lock = db.lock(name);
        let start = Instant::now();
        let outcome = lock.acquire(Some(limit)).await;
        let waited = start.elapsed();
        match outcome {
            Ok(_) => {
                lock.release().await.map_err(|e| e.to_string())?;
                db.close().await.map_err(|e| e.to_string())?;
                Ok(waited)
            }
            Err(e) => Err(format!("not free within {limit:?}: {e}")),
        }
    })
}

fn run_cell(
    rt: &tokio::runtime::Runtime,
    cell: Cell,
    url: &str,
    name: &str,
) -> Result<String, String> {
    let mut r = spawn(cell, url, name, &[]);
    expect_line(&r, "held ")?;
    let pid = nix::unistd::Pid::from_raw(r.child.id() as i32);
    let sent_at = Instant::now();
    match cell {
        SigtermHandled | Sigterm => nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM)
            .map_err(|e| e.to_string())?,
        Sigkill => nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL)
            .map_err(|e| e.to_string())?,
        _ => {
            let stdin = r.child.stdin.as_mut().expect("stdin");
            writeln!(stdin, "go").map_err(|e| e.to_string())?;
            expect_line(&r, "done")?;
        }
    }
    let limit = if cell.prompt() {
        PROMPTLY
    } else {
        Duration::from_secs(cell.ttl()) + TTL_SLACK
    };
    let acquired = time_to_acquire(rt, url, name, limit);
    let freed_after = sent_at.elapsed();
    // The process's end.
    if cell.end() == End::Stays {
        drop(r.child.stdin.take());
    }
    let status = wait_exit(&mut r.child, Duration::from_secs(30))
        .ok_or("the process did not exit within 30 s")?;
    let stderr = r.stderr.join().unwrap_or_default();
    acquired?;
    clean(&stderr)?;
    use std::os::unix::process::ExitStatusExt;
    let end = match (status.code(), status.signal()) {
        (Some(c), _) => End::Code(c),
        (None, Some(s)) => End::Signal(s),
        _ => End::Stays,
    };
    let expected = match cell.end() {
        End::Stays => End::Code(0),
        e => e,
    };
    if end != expected {
        return Err(format!(
            "ended with {end:?}, expected {expected:?}; stderr: {stderr}"
        ));
    }
    if cell == ErrorExit && !stderr.contains("Error: ") {
        return Err(format!("no error message on stderr: {stderr}"));
    }
    Ok(format!(
        "freed after {:.1} s, {end:?}",
        freed_after.as_secs_f64()
    ))
}

/// [`BUSY_RUNS`] programs that return from `main` in the middle of their work, 5 at a time:
/// every one exits 0 and prints nothing.
fn run_busy(url: &str) -> Result<String, String> {
    let mut done = 0;
    while done < BUSY_RUNS {
        let batch: Vec<Running> = (0..5)
            .map(|i| spawn(ExitHolding, url, &format!("busy/{done}-{i}"), &["busy"]))
            .collect();
        for mut r in batch {
            let status = wait_exit(&mut r.child, Duration::from_secs(30))
                .ok_or("a busy program did not exit within 30 s")?;
            let stderr = r.stderr.join().unwrap_or_default();
            clean(&stderr)?;
            if status.code() != Some(0) {
                return Err(format!("a busy program ended with {status}: {stderr}"));
            }
            done += 1;
        }
    }
    Ok(format!("{done} runs, all exit 0 and quiet"))
}

fn matrix() -> usize {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut failures = 0;
    let mut cells = 0;
    for store_name in ["sqlite", "etcd", "http"] {
        let store = match store_name {
            "sqlite" => Store::sqlite(),
            "etcd" => Store::etcd(),
            _ => Store::served(Store::sqlite(), EXE),
        };
        for cell in CELLS {
            cells += 1;
            let name = format!("life/{}", cell.name());
            match run_cell(&rt, cell, &store.url, &name) {
                Ok(what) => println!("lifecycle {store_name:>6} {:<15} ok: {what}", cell.name()),
                Err(e) => {
                    failures += 1;
                    println!("lifecycle {store_name:>6} {:<15} FAILED: {e}", cell.name());
                }
            }
        }
        cells += 1;
        match run_busy(&store.url) {
            Ok(what) => println!(
                "lifecycle {store_name:>6} {:<15} ok: {what}",
                "ExitWhileBusy"
            ),
            Err(e) => {
                failures += 1;
                println!(
                    "lifecycle {store_name:>6} {:<15} FAILED: {e}",
                    "ExitWhileBusy"
                );
            }
        }
    }
    println!(
        "lifecycle matrix: {cells} cells, {} passed, {failures} failed",
        cells - failures
    );
    failures
}
