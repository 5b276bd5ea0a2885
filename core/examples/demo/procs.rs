//! Worker processes: the parent re-executes this binary with a hidden subcommand, talks to each
//! worker through its stdin (one command per line) and reads its stdout, one JSON object per line.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::sys::time::TimeValLike;
use nix::time::{ClockId, clock_gettime};
use nix::unistd::Pid;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines, Stdin};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

pub type DynResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// The hidden subcommand that turns the demo binary into a worker.
pub const WORKER: &str = "__worker";

/// Nanoseconds on the system-wide monotonic clock: comparable between processes of one host.
pub fn mono_ns() -> u64 {
    clock_gettime(ClockId::CLOCK_MONOTONIC)
        .map(|t| t.num_nanoseconds() as u64)
        .unwrap_or(0)
}

/// Worker side: prints one event line for the parent.
pub fn emit(event: &str, fields: Value) {
    let mut fields = if fields.is_object() {
        fields
    } else {
        json!({})
    };
    fields["event"] = json!(event);
    println!("{fields}");
}

/// Worker side: the commands the parent sends on stdin.
pub struct Commands(Lines<BufReader<Stdin>>);

impl Commands {
    pub fn new() -> Self {
        Commands(BufReader::new(tokio::io::stdin()).lines())
    }

    /// The next command; `None` when the parent closed stdin.
    pub async fn next(&mut self) -> Option<String> {
        self.0.next_line().await.ok().flatten()
    }

    /// Waits for the command `want`; an error if stdin closes first.
    pub async fn expect(&mut self, want: &str) -> DynResult<()> {
        match self.next().await {
            Some(line) if line == want => Ok(()),
            Some(line) => Err(format!("expected command '{want}', got '{line}'").into()),
            None => Err(format!("stdin closed while waiting for '{want}'").into()),
        }
    }
}

/// One line from a worker, stamped with when the parent read it.
pub struct Msg {
    pub from: usize,
    pub at: Duration,
    pub body: Value,
}

impl Msg {
    pub fn event(&self) -> &str {
        self.body["event"].as_str().unwrap_or("")
    }

    pub fn u64(&self, field: &str) -> u64 {
        self.body[field].as_u64().unwrap_or(0)
    }

    pub fn str(&self, field: &str) -> &str {
        self.body[field].as_str().unwrap_or("")
    }
}

struct Proc {
    label: String,
    pid: i32,
    child: Child,
    stdin: Option<ChildStdin>,
}

/// A set of worker processes of one scenario, with their lines merged into one queue.
pub struct Group {
    exe: PathBuf,
    url: String,
    procs: Vec<Proc>,
    tx: mpsc::UnboundedSender<Msg>,
    rx: mpsc::UnboundedReceiver<Msg>,
    pending: VecDeque<Msg>,
    start: Instant,
}

impl Group {
    pub fn new(exe: &std::path::Path, url: &str) -> Group {
        let (tx, rx) = mpsc::unbounded_channel();
        Group {
            exe: exe.to_path_buf(),
            url: url.to_string(),
            procs: Vec::new(),
            tx,
            rx,
            pending: VecDeque::new(),
            start: Instant::now(),
        }
    }

    /// Time since the group started: the timeline of the scenario.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// Starts `demo __worker <role> <store url> <args...>`; returns its number in the group.
    pub fn spawn(&mut self, role: &str, label: &str, args: &[String]) -> DynResult<usize> {
        let mut child = Command::new(&self.exe)
            .arg(WORKER)
            .arg(role)
            .arg(&self.url)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()?;
        let pid = child.id().ok_or("worker exited at once")? as i32;
        let stdout = child.stdout.take().ok_or("no worker stdout")?;
        let stdin = child.stdin.take();
        let from = self.procs.len();
        let (tx, start, name) = (self.tx.clone(), self.start, label.to_string());
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let at = start.elapsed();
                match serde_json::from_str::<Value>(&line) {
                    Ok(body) if body.is_object() => {
                        let _ = tx.send(Msg { from, at, body });
                    }
                    _ => println!("   [{name}] {line}"),
                }
            }
            let body = json!({"event": "exit"});
            let _ = tx.send(Msg {
                from,
                at: start.elapsed(),
                body,
            });
        });
        self.procs.push(Proc {
            label: label.to_string(),
            pid,
            child,
            stdin,
        });
        Ok(from)
    }

    pub fn pid(&self, i: usize) -> i32 {
        self.procs[i].pid
    }

    pub fn label(&self, i: usize) -> &str {
        &self.procs[i].label
    }

    /// Sends one command line to worker `i`.
    pub async fn send(&mut self, i: usize, line: &str) -> DynResult<()> {
        let stdin = self.procs[i].stdin.as_mut().ok_or("worker stdin closed")?;
        stdin.write_all(format!("{line}\n").as_bytes()).await?;
        stdin.flush().await?;
        Ok(())
    }

    /// The next line with event `event` (from worker `from`, or any). A worker that reports an
    /// error, or exits while it is the one awaited, fails the wait.
    pub async fn expect(
        &mut self,
        from: Option<usize>,
        event: &str,
        timeout: Duration,
    ) -> DynResult<Msg> {
        let wanted = |m: &Msg| m.event() == event && from.is_none_or(|f| f == m.from);
        if let Some(pos) = self.pending.iter().position(wanted) {
            return Ok(self.pending.remove(pos).expect("position is valid"));
        }
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let what = match from {
                Some(f) => format!("'{event}' from {}", self.label(f)),
                None => format!("'{event}'"),
            };
            let msg = tokio::time::timeout_at(deadline, self.rx.recv())
                .await
                .map_err(|_| format!("timed out after {timeout:?} waiting for {what}"))?
                .ok_or("worker channel closed")?;
            if wanted(&msg) {
                return Ok(msg);
            }
            let label = self.label(msg.from).to_string();
            if msg.event() == "error" {
                return Err(format!("{label} failed: {}", msg.str("message")).into());
            }
            if msg.event() == "exit" && from == Some(msg.from) {
                return Err(format!("{label} exited while the demo waited for {what}").into());
            }
            self.pending.push_back(msg);
        }
    }

    /// The next line from any worker; a worker that reports an error fails the wait.
    pub async fn recv(&mut self, timeout: Duration) -> DynResult<Msg> {
        let msg = match self.pending.pop_front() {
            Some(m) => m,
            None => tokio::time::timeout(timeout, self.rx.recv())
                .await
                .map_err(|_| format!("timed out after {timeout:?} waiting for the workers"))?
                .ok_or("worker channel closed")?,
        };
        if msg.event() == "error" {
            let label = self.label(msg.from);
            return Err(format!("{label} failed: {}", msg.str("message")).into());
        }
        Ok(msg)
    }

    /// SIGKILLs worker `i`: no cleanup, no release, like a crash or `kill -9`.
    pub fn kill(&self, i: usize) -> DynResult<()> {
        kill(Pid::from_raw(self.pid(i)), Signal::SIGKILL)?;
        Ok(())
    }

    /// Closes every worker's stdin and waits for all of them to exit.
    pub async fn finish(&mut self) -> DynResult<Vec<ExitStatus>> {
        let mut statuses = Vec::new();
        for p in &mut self.procs {
            p.stdin = None;
        }
        for p in &mut self.procs {
            let status = tokio::time::timeout(Duration::from_secs(10), p.child.wait())
                .await
                .map_err(|_| format!("{} did not exit", p.label))??;
            statuses.push(status);
        }
        Ok(statuses)
    }
}

/// `+1.234s`: a point of a scenario's timeline.
pub fn ts(d: Duration) -> String {
    format!("+{:.3}s", d.as_secs_f64())
}
