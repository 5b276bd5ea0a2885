//! The command-line verbs: `get`, `put`, `del`, `ls`, `watch` and `lock NAME -- CMD…`, each one
//! client call (or a few) against the store `--store` (or `INTERLOCK_URL`) names.
//!
//! Output is JSON, one line per entry or event, for scripts. Exit codes (also in `--help`):
//! 0 done; 1 not found, or a compare-exchange that did not hold; 2 bad usage or bad input;
//! 3 the store failed (unreachable, refused the token, internal); 4 `lock` timed out;
//! 5 `lock` lost the lock while the command ran (the command is sent SIGTERM); otherwise `lock`
//! exits with the command's own status (128 + signal if a signal ended it).

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use futures::StreamExt;
use interlock::{Client, ConnectOptions, ErrorKind, LockOptions, PutOptions};
use serde_json::{Value, json};

pub const EXIT_NOT_DONE: u8 = 1;
pub const EXIT_USAGE: u8 = 2;
pub const EXIT_STORE: u8 = 3;
pub const EXIT_LOCK_TIMEOUT: u8 = 4;
pub const EXIT_LOCK_LOST: u8 = 5;

/// Where the verbs connect.
#[derive(Args, Clone)]
pub struct StoreArgs {
    /// The store (mem://, sqlite:///path.db, etcd://hosts, http://server:port). Default:
    /// INTERLOCK_URL, else the embedded store in the user's data directory.
    #[arg(long, env = "INTERLOCK_URL", global = true)]
    pub store: Option<String>,
    /// The bearer token of an interlock server (http://).
    #[arg(long, env = "INTERLOCK_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
}

/// A failure: the message for stderr and the exit code.
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl From<interlock::Error> for Failure {
    fn from(e: interlock::Error) -> Self {
        let code = match e.kind() {
            ErrorKind::InvalidArgument => EXIT_USAGE,
            ErrorKind::LockTimeout => EXIT_LOCK_TIMEOUT,
            ErrorKind::LockLost => EXIT_LOCK_LOST,
            _ => EXIT_STORE,
        };
        Failure {
            code,
            message: e.to_string(),
        }
    }
}

fn fail(code: u8, message: impl Into<String>) -> Failure {
    Failure {
        code,
        message: message.into(),
    }
}

pub type Outcome = Result<ExitCode, Failure>;

pub async fn connect(args: &StoreArgs) -> Result<Client, Failure> {
    let url = match &args.store {
        Some(url) => url.clone(),
        None => interlock::default_url()?,
    };
    let options = ConnectOptions {
        token: args.token.clone(),
    };
    Ok(Client::connect_with(&url, &options).await?)
}

/// Prints one JSON line. A closed stdout (`interlock ls | head -1`) ends the program quietly.
fn print(value: &Value) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{value}").and_then(|_| out.flush()).is_err() {
        std::process::exit(0);
    }
}

fn parse_value(text: &str) -> Result<Value, Failure> {
    serde_json::from_str(text).map_err(|e| {
        fail(
            EXIT_USAGE,
            format!(
                "the value {text:?} is not JSON ({e}); quote a string as JSON, e.g. '\"text\"'"
            ),
        )
    })
}

pub async fn get(db: &Client, key: &str) -> Outcome {
    match db.get(key).await? {
        Some(e) => {
            print(&json!({ "key": e.key, "value": e.value, "index": e.index }));
            Ok(ExitCode::SUCCESS)
        }
        None => Err(fail(EXIT_NOT_DONE, format!("no entry at key '{key}'"))),
    }
}

pub async fn put(db: &Client, key: &str, value: &str, index: Option<u64>) -> Outcome {
    let value = parse_value(value)?;
    let r = db
        .put_with(key, value, PutOptions { index, lease: None })
        .await?;
    print(&json!({ "successful": r.successful, "index": r.index, "value": r.value }));
    if r.successful {
        Ok(ExitCode::SUCCESS)
    } else {
        Err(fail(
            EXIT_NOT_DONE,
            format!(
                "'{key}' is not at index {}: it is at {} now",
                index.unwrap_or(0),
                r.index
            ),
        ))
    }
}

pub async fn del(db: &Client, key: &str, index: Option<u64>) -> Outcome {
    let r = db.delete(key, index).await?;
    print(&json!({ "successful": r.successful, "index": r.index }));
    if r.successful {
        Ok(ExitCode::SUCCESS)
    } else {
        Err(fail(
            EXIT_NOT_DONE,
            format!("'{key}' was not deleted: it is at index {}", r.index),
        ))
    }
}

pub async fn ls(db: &Client, prefix: &str) -> Outcome {
    let mut after: Option<String> = None;
    loop {
        let page = db.list(prefix, after.as_deref(), Some(500)).await?;
        for e in &page.entries {
            print(&json!({ "key": e.key, "value": e.value, "index": e.index }));
        }
        if !page.more {
            return Ok(ExitCode::SUCCESS);
        }
        after = page.entries.last().map(|e| e.key.clone());
    }
}

pub async fn watch(db: &Client, prefix: &str, from: Option<u64>) -> Outcome {
    let mut events = db.watch(prefix, from).await?;
    while let Some(event) = events.next().await {
        let event = event?;
        print(&serde_json::to_value(&event).unwrap_or(Value::Null));
    }
    Err(fail(EXIT_STORE, "the watch ended"))
}

pub struct LockArgs {
    pub name: String,
    pub ttl: f64,
    pub timeout: Option<f64>,
    pub command: Vec<String>,
}

fn seconds(what: &str, s: f64) -> Result<Duration, Failure> {
    Duration::try_from_secs_f64(s).map_err(|_| {
        fail(
            EXIT_USAGE,
            format!("--{what} must be a non-negative number of seconds"),
        )
    })
}

/// The signals `lock` acts on: it passes them to the command, or stops waiting.
struct Signals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> Result<Signals, Failure> {
        use tokio::signal::unix::{SignalKind, signal};
        let make = |kind: SignalKind| {
            signal(kind).map_err(|e| fail(EXIT_STORE, format!("cannot handle signals: {e}")))
        };
        Ok(Signals {
            int: make(SignalKind::interrupt())?,
            term: make(SignalKind::terminate())?,
            hup: make(SignalKind::hangup())?,
        })
    }

    async fn next(&mut self) -> nix::sys::signal::Signal {
        use nix::sys::signal::Signal;
        tokio::select! {
            _ = self.int.recv() => Signal::SIGINT,
            _ = self.term.recv() => Signal::SIGTERM,
            _ = self.hup.recv() => Signal::SIGHUP,
        }
    }
}

fn signal_child(child: &tokio::process::Child, signal: nix::sys::signal::Signal) {
    if let Some(pid) = child.id() {
        // The child is not reaped yet, so the pid is still its own.
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), signal);
    }
}

/// Runs the command while holding the lock, with `INTERLOCK_FENCING_TOKEN` in its environment.
///
/// The lock is held on a lease of its own, so that a signal while waiting can take the waiter
/// out at once (by revoking the lease). SIGINT, SIGTERM and SIGHUP while the command runs are
/// passed on to it; once it has exited the lock is released and `lock` exits with 128 + the
/// signal. The command gets SIGKILL if `interlock` itself is killed outright, so it never runs
/// on without the lock's keeper.
pub async fn lock(db: &Client, args: LockArgs) -> Outcome {
    let Some((program, rest)) = args.command.split_first() else {
        return Err(fail(
            EXIT_USAGE,
            "no command given: interlock lock NAME -- CMD [ARGS…]",
        ));
    };
    let ttl = seconds("ttl", args.ttl)?;
    let timeout = args.timeout.map(|t| seconds("timeout", t)).transpose()?;
    let mut signals = Signals::new()?;
    let lease = db.lease(ttl).await?;
    let options = LockOptions {
        ttl,
        lease: Some(lease.clone()),
        ..LockOptions::default()
    };
    let lock = db.lock_with(&args.name, options);
    let token = tokio::select! {
        token = lock.acquire(timeout) => match token {
            Ok(token) => token,
            Err(e) => {
                let _ = lease.revoke().await;
                return Err(e.into());
            }
        },
        signal = signals.next() => {
            let _ = lease.revoke().await;
            return Err(fail(
                128 + signal as u8,
                format!("{signal} while waiting for the lock '{}'; stopped waiting", args.name),
            ));
        }
    };
    let mut command = tokio::process::Command::new(program);
    command
        .args(rest)
        .env("INTERLOCK_FENCING_TOKEN", token.to_string())
        .kill_on_drop(true);
    // SAFETY: between fork and exec the closure makes only the prctl system call.
    unsafe {
        command.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
                .map_err(std::io::Error::from)
        });
    }
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            let _ = lock.release().await;
            let _ = lease.revoke().await;
            return Err(fail(EXIT_USAGE, format!("cannot run {program:?}: {e}")));
        }
    };
    let mut interrupted = None;
    let status = loop {
        tokio::select! {
            status = child.wait() => break status,
            signal = signals.next() => {
                signal_child(&child, signal);
                interrupted = Some(signal);
            }
            _ = lock.lost() => {
                signal_child(&child, nix::sys::signal::Signal::SIGTERM);
                let _ = child.wait().await;
                return Err(fail(
                    EXIT_LOCK_LOST,
                    format!(
                        "lost the lock '{}' (fencing token {token}) while {program:?} ran; it was sent SIGTERM",
                        args.name
                    ),
                ));
            }
        }
    };
    let status = status.map_err(|e| fail(EXIT_STORE, format!("waiting for {program:?}: {e}")))?;
    let released = lock.release().await;
    let _ = lease.revoke().await;
    match released {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::LockLost => {
            return Err(fail(
                EXIT_LOCK_LOST,
                format!(
                    "lost the lock '{}' (fencing token {token}) while {program:?} ran",
                    args.name
                ),
            ));
        }
        Err(e) => return Err(e.into()),
    }
    if let Some(signal) = interrupted {
        return Err(fail(
            128 + signal as u8,
            format!(
                "{signal}: passed on to {program:?}, then released the lock '{}'",
                args.name
            ),
        ));
    }
    use std::os::unix::process::ExitStatusExt;
    let code = match (status.code(), status.signal()) {
        (Some(c), _) => c,
        (None, Some(sig)) => 128 + sig,
        (None, None) => 1,
    };
    Ok(ExitCode::from(code.clamp(0, 255) as u8))
}
