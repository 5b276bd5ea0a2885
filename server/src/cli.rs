//! The command-line verbs: `get`, `put`, `del`, `ls`, `watch` and `lock NAME -- CMD…`, each one
//! client call (or a few) against the store `--store` (or `INTERLOCK_URL`) names.
//!
//! Output is JSON, one line per entry or event, for scripts. Exit codes (also in `--help`):
//! 0 done; 1 not found, or a compare-exchange that did not hold (or `serve` could not run: its
//! address is in use); 2 bad usage or bad input;
//! 3 the store failed (unreachable, refused the token, internal); 4 `lock` did not get the lock
//! (`--timeout` passed, or it was taken with `--nonblock`; `-E` sets another code for these);
//! 5 `lock` lost the lock while the command ran (the command is sent SIGTERM); 126 and 127 the
//! command could not be run or was not found; otherwise `lock` exits with the command's own
//! status (128 + signal if a signal ended it).

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use futures::StreamExt;
use interlock::{Client, ConnectOptions, ErrorKind, LockOptions, PutOptions};
use serde_json::{Value, json};

pub const EXIT_NOT_DONE: u8 = 1;
pub const EXIT_USAGE: u8 = 2;
pub const EXIT_STORE: u8 = 3;
/// `lock` did not get the lock: `--timeout` passed, or it was taken and `--nonblock` given.
/// flock(1)'s is 1, which is ours for "not found"; `-E` chooses another, as flock's does.
pub const EXIT_LOCK_NOT_TAKEN: u8 = 4;
pub const EXIT_LOCK_LOST: u8 = 5;
/// `lock`: the command was not found (as shells report it).
pub const EXIT_NOT_FOUND: u8 = 127;
/// `lock`: the command was found but could not be run.
pub const EXIT_CANNOT_RUN: u8 = 126;

/// Where the verbs connect.
#[derive(Args, Clone)]
pub struct StoreArgs {
    // clap writes an `env` argument's variable into the help as `[env: NAME=value]`, with the
    // value it has when the help is built, and `=` with nothing when it is unset; the values are
    // hidden here, so the help names each variable and never shows what it holds (a store's URL
    // may carry credentials, a token is one).
    /// The store (mem://, sqlite:///path.db, etcd://hosts, http://server:port). Default:
    /// INTERLOCK_URL, else the embedded store in the user's data directory.
    #[arg(
        long,
        value_name = "URL",
        value_hint = clap::ValueHint::Url,
        env = "INTERLOCK_URL",
        hide_env_values = true,
        global = true
    )]
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
            ErrorKind::LockTimeout => EXIT_LOCK_NOT_TAKEN,
            ErrorKind::LockLost => EXIT_LOCK_LOST,
            _ => EXIT_STORE,
        };
        let mut message = e.to_string();
        if e.kind() == ErrorKind::Unauthorized {
            // The server's words are for any HTTP client; this one sends what it is given.
            message.push_str(" (the CLI sends the token given with --token or INTERLOCK_TOKEN)");
        }
        Failure { code, message }
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

/// Parses a value given on the command line as JSON. Refuses text that is not JSON, and integers
/// beyond 64 bits, which JSON readers (this one included) would keep only approximately.
pub fn parse_value(text: &str) -> Result<Value, Failure> {
    let shown = shown(text);
    // `-0` is the integer 0, not the float -0.0 the JSON reader would make of it.
    let integers = interlock::validate::negative_zero_integers_as_zero(text);
    let value = serde_json::from_str(&integers).map_err(|e| {
        let message = e.to_string();
        let (problem, hint) = if message.contains("number out of range") {
            (
                "has a number beyond the range of JSON numbers (about 1.8e308)".to_string(),
                "",
            )
        } else if message.contains("recursion limit") {
            (
                format!(
                    "nests arrays or objects more than {} levels deep, the limit",
                    interlock::validate::MAX_VALUE_DEPTH
                ),
                "",
            )
        } else if e.classify() == serde_json::error::Category::Eof {
            (
                "is not JSON (it ends too early)".to_string(),
                "; quote a string as JSON, e.g. '\"text\"'",
            )
        } else {
            (
                format!("is not JSON (it goes wrong at character {})", e.column()),
                "; quote a string as JSON, e.g. '\"text\"'",
            )
        };
        fail(EXIT_USAGE, format!("the value {shown} {problem}{hint}"))
    })?;
    if let Some(number) = interlock::validate::inexact_integer(text) {
        return Err(fail(
            EXIT_USAGE,
            format!(
                "the value {shown} has the integer {number}, beyond the 64-bit range JSON \
                 numbers are kept exactly in; store it as a string, e.g. '\"{number}\"'"
            ),
        ));
    }
    Ok(value)
}

/// `text` quoted for a message, cut to its first 60 characters.
fn shown(text: &str) -> String {
    const MAX: usize = 60;
    match text.char_indices().nth(MAX) {
        Some((end, _)) => format!("{:?}… ({} characters)", &text[..end], text.chars().count()),
        None => format!("{text:?}"),
    }
}

/// Parses `serve --listen`: HOST:PORT, the host a name (`localhost`) or an address.
pub fn listen_arg(text: &str) -> Result<std::net::SocketAddr, String> {
    use std::net::ToSocketAddrs;
    const RULE: &str = "must be HOST:PORT, e.g. 127.0.0.1:7070 or localhost:0 (port 0 picks a \
                        free port; an IPv6 address in brackets, [::1]:7070)";
    if let Ok(addr) = text.parse() {
        return Ok(addr);
    }
    let addrs: Vec<_> = text
        .to_socket_addrs()
        .map_err(|_| RULE.to_string())?
        .collect();
    // A name may resolve to both families: IPv4 first, as `127.0.0.1` is what most mean.
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(|| format!("{RULE}; {text:?} names no address"))
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
        let given = index.unwrap_or(0);
        let message = match (given, r.index) {
            (0, now) => format!(
                "'{key}' was not written: --index 0 writes only where no entry is, and '{key}' is at index {now}"
            ),
            (_, 0) => {
                format!("'{key}' was not written: it is not at index {given}, it has no entry")
            }
            (_, now) => {
                format!("'{key}' was not written: it is not at index {given}, it is at {now} now")
            }
        };
        Err(fail(EXIT_NOT_DONE, message))
    }
}

pub async fn del(db: &Client, key: &str, index: Option<u64>) -> Outcome {
    let r = db.delete(key, index).await?;
    print(&json!({ "successful": r.successful, "index": r.index }));
    if r.successful {
        Ok(ExitCode::SUCCESS)
    } else {
        let message = match (index, r.index) {
            (_, 0) => format!("'{key}' was not deleted: there is no entry at it"),
            (Some(given), now) => {
                format!("'{key}' was not deleted: it is not at index {given}, it is at {now} now")
            }
            (None, now) => format!("'{key}' was not deleted: it is at index {now}"),
        };
        Err(fail(EXIT_NOT_DONE, message))
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

/// How long `lock` waits for the lock.
pub enum Wait {
    Forever,
    /// `--timeout`.
    Seconds(f64),
    /// `--nonblock`: not at all.
    No,
}

pub struct LockArgs {
    pub name: String,
    pub ttl: f64,
    pub wait: Wait,
    /// `-E`: the exit code when the lock was not taken (default [`EXIT_LOCK_NOT_TAKEN`]).
    pub conflict_exit_code: Option<u8>,
    pub command: Vec<String>,
}

fn seconds(what: &str, s: f64) -> Result<Duration, Failure> {
    Duration::try_from_secs_f64(s).map_err(|_| {
        let problem = if s.is_nan() || s < 0.0 {
            "must be a non-negative number of seconds"
        } else {
            "is too long"
        };
        fail(EXIT_USAGE, format!("--{what} {s}: {problem}"))
    })
}

/// The longest duration an argument may give: a lease TTL's limit, which bounds waits too.
const MAX_SECONDS: f64 = interlock::validate::MAX_TTL.as_secs() as f64;

/// Parses a number of seconds (`--ttl`, `--timeout`, `--request-timeout`): from 0 to 9e9. The
/// message follows clap's "invalid value 'X' for '--ttl <SECONDS>': ".
pub fn seconds_arg(text: &str) -> Result<f64, String> {
    let s: f64 = text
        .trim()
        .parse()
        .ok()
        .filter(|s: &f64| !s.is_nan())
        .ok_or("is not a number of seconds (e.g. 0.5 or 20)")?;
    if s < 0.0 {
        return Err("is negative: give 0 or more seconds".into());
    }
    if s > MAX_SECONDS {
        return Err(format!(
            "is too long: at most {MAX_SECONDS} s (about 285 years), a lease TTL's limit"
        ));
    }
    Ok(s)
}

/// Parses an index (`--index`, `--from`): a whole number from 0 to 2^64 - 1.
pub fn index_arg(text: &str) -> Result<u64, String> {
    text.parse()
        .map_err(|_| format!("must be a whole number from 0 to {}", u64::MAX))
}

/// Parses an exit code (`-E`): 0 to 255.
pub fn exit_code_arg(text: &str) -> Result<u8, String> {
    text.parse()
        .map_err(|_| "must be an exit code, a whole number from 0 to 255".to_string())
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

/// Signals the command's whole process group (it leads one of its own), so that the processes a
/// wrapper script started stop too, not only the script.
fn signal_group(child: &tokio::process::Child, signal: nix::sys::signal::Signal) {
    if let Some(pid) = child.id() {
        // The child is not reaped yet, so its pid, which is also its group's id, is still its own.
        let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid as i32), signal);
    }
}

/// How long a command that lost its lock has to stop after SIGTERM before it gets SIGKILL.
const LOST_GRACE: Duration = Duration::from_secs(10);

/// The terminal on stdin, if `interlock` runs in its foreground: the command's process group is
/// made the foreground while it runs (as a shell does for a job), so that it reads the terminal
/// and gets Ctrl-C from it, once, as it would without `interlock`.
fn foreground_terminal() -> Option<std::os::fd::BorrowedFd<'static>> {
    let stdin = std::io::stdin();
    // SAFETY: stdin stays open for the life of the process.
    let fd =
        unsafe { std::os::fd::BorrowedFd::borrow_raw(std::os::fd::AsRawFd::as_raw_fd(&stdin)) };
    // SAFETY: tcgetpgrp only reads the terminal's foreground group of an open descriptor.
    let group = unsafe { nix::libc::tcgetpgrp(std::os::fd::AsRawFd::as_raw_fd(&fd)) };
    (group > 0 && group == nix::unistd::getpgrp().as_raw()).then_some(fd)
}

/// Takes the terminal's foreground back for `interlock`'s own group once the command is done.
fn reclaim_terminal(fd: std::os::fd::BorrowedFd<'_>) {
    use nix::sys::signal::{SigSet, SigmaskHow, Signal, pthread_sigmask};
    // A background group may set the foreground only with SIGTTOU blocked.
    let mut ttou = SigSet::empty();
    ttou.add(Signal::SIGTTOU);
    let mut old = SigSet::empty();
    if pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&ttou), Some(&mut old)).is_ok() {
        // SAFETY: tcsetpgrp on an open descriptor, with our own group.
        unsafe {
            nix::libc::tcsetpgrp(
                std::os::fd::AsRawFd::as_raw_fd(&fd),
                nix::unistd::getpgrp().as_raw(),
            )
        };
        let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
    }
}

/// Resolves when the holder's own waiter entry is deleted by someone else (a force-release), so
/// the command is stopped at once rather than at the lease's next renewal; at once if it is
/// gone already (deleted between the acquire and this look). Pending forever if the queue cannot
/// be read or the entry watched: the lease keeper still reports the loss.
async fn entry_deleted(db: &Client, name: &str, token: u64) {
    let Ok(queue) = db.lock_queue(name).await else {
        return std::future::pending().await;
    };
    let Some(key) = queue.into_iter().find(|w| w.token == token).map(|w| w.key) else {
        return;
    };
    let Ok(mut events) = db.watch(&key, Some(token + 1)).await else {
        return std::future::pending().await;
    };
    while let Some(event) = events.next().await {
        match event {
            Ok(e) if e.key == key && e.kind == interlock::EventKind::Delete => return,
            Ok(_) => continue,
            Err(_) => break,
        }
    }
    std::future::pending().await
}

/// What `lock --nonblock` says when the lock is taken: by whom, if the queue can be read.
async fn taken_message(db: &Client, name: &str) -> String {
    let queue = db.lock_queue(name).await.unwrap_or_default();
    let by = match queue.iter().find(|w| w.holder) {
        Some(w) => format!("held by {} (fencing token {})", w.owner, w.token),
        None => "taken".to_string(),
    };
    let waiters = match queue.iter().filter(|w| !w.holder).count() {
        0 => String::new(),
        1 => ", with 1 waiter".to_string(),
        n => format!(", with {n} waiters"),
    };
    format!("the lock '{name}' is {by}{waiters}; --nonblock does not wait")
}

/// Runs the command while holding the lock, with `INTERLOCK_FENCING_TOKEN` in its environment.
/// A lock not taken (`--timeout` passed, or held with `--nonblock`, which takes it only if nobody
/// holds or waits for it) ends `lock` with `-E`'s code, by default [`EXIT_LOCK_NOT_TAKEN`],
/// without running the command.
///
/// The lock is held on a lease of its own, so that a signal while waiting can take the waiter
/// out at once (by revoking the lease). The command runs in a process group of its own (the
/// terminal's foreground while it runs, when `interlock` had it). SIGINT, SIGTERM and SIGHUP
/// sent to `interlock` while the command runs are passed on to that group; once the command has
/// exited the lock is released and `lock` exits with 128 + the signal. If the lock is lost (its
/// lease ended, or it was force-released) the group gets SIGTERM, and SIGKILL after
/// [`LOST_GRACE`]. The command gets SIGKILL if `interlock` itself is killed outright, so it
/// never runs on without the lock's keeper (processes it started in the background are not
/// reached in that case).
pub async fn lock(db: &Client, args: LockArgs) -> Outcome {
    let Some((program, rest)) = args.command.split_first() else {
        return Err(fail(
            EXIT_USAGE,
            "no command given: interlock lock NAME -- CMD [ARGS…]",
        ));
    };
    let ttl = seconds("ttl", args.ttl)?;
    let timeout = match args.wait {
        Wait::Seconds(t) => Some(seconds("timeout", t)?),
        Wait::Forever | Wait::No => None,
    };
    let not_taken = args.conflict_exit_code.unwrap_or(EXIT_LOCK_NOT_TAKEN);
    let mut signals = Signals::new()?;
    let lease = db.lease(ttl).await?;
    let options = LockOptions {
        ttl,
        lease: Some(lease.clone()),
        ..LockOptions::default()
    };
    let lock = db.lock_with(&args.name, options);
    let acquired = async {
        match args.wait {
            Wait::No => lock.try_acquire().await,
            Wait::Seconds(_) | Wait::Forever => lock.acquire(timeout).await.map(Some),
        }
    };
    let token = tokio::select! {
        token = acquired => match token {
            Ok(Some(token)) => token,
            Ok(None) => {
                let _ = lease.revoke().await;
                return Err(fail(not_taken, taken_message(db, &args.name).await));
            }
            Err(e) => {
                let _ = lease.revoke().await;
                let timed_out = e.kind() == ErrorKind::LockTimeout;
                let mut failure = Failure::from(e);
                if timed_out {
                    failure.code = not_taken;
                }
                return Err(failure);
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
    let terminal = foreground_terminal();
    let terminal_fd = terminal.map(|fd| std::os::fd::AsRawFd::as_raw_fd(&fd));
    let mut command = tokio::process::Command::new(program);
    command
        .args(rest)
        .env("INTERLOCK_FENCING_TOKEN", token.to_string())
        .process_group(0)
        .kill_on_drop(true);
    // SAFETY: between fork and exec the closure makes only system calls (prctl, setpgid,
    // sigprocmask, tcsetpgrp, getpgrp), which are async-signal-safe, and allocates nothing.
    unsafe {
        command.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
                .map_err(std::io::Error::from)?;
            if let Some(fd) = terminal_fd {
                use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};
                // Its own group first (`process_group` may apply only after this closure).
                nix::unistd::setpgid(nix::unistd::Pid::from_raw(0), nix::unistd::Pid::from_raw(0))?;
                let mut ttou = SigSet::empty();
                ttou.add(Signal::SIGTTOU);
                let mut old = SigSet::empty();
                sigprocmask(SigmaskHow::SIG_BLOCK, Some(&ttou), Some(&mut old))?;
                nix::libc::tcsetpgrp(fd, nix::unistd::getpgrp().as_raw());
                sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old), None)?;
            }
            Ok(())
        });
    }
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            if let Some(fd) = terminal {
                reclaim_terminal(fd);
            }
            let _ = lock.release().await;
            let _ = lease.revoke().await;
            // As shells report them: 127 not found, 126 found but not runnable.
            let code = match e.kind() {
                std::io::ErrorKind::NotFound => EXIT_NOT_FOUND,
                _ => EXIT_CANNOT_RUN,
            };
            return Err(fail(code, format!("cannot run {program:?}: {e}")));
        }
    };
    let mut interrupted = None;
    let deleted = entry_deleted(db, &args.name, token);
    tokio::pin!(deleted);
    let status = loop {
        tokio::select! {
            status = child.wait() => break status,
            signal = signals.next() => {
                signal_group(&child, signal);
                interrupted = Some(signal);
            }
            _ = async { tokio::select! { _ = lock.wait_lost() => {}, _ = &mut deleted => {} } } => {
                signal_group(&child, nix::sys::signal::Signal::SIGTERM);
                let killed = tokio::select! {
                    _ = child.wait() => false,
                    _ = tokio::time::sleep(LOST_GRACE) => true,
                    _ = signals.next() => true,
                };
                if killed {
                    signal_group(&child, nix::sys::signal::Signal::SIGKILL);
                    let _ = child.wait().await;
                }
                if let Some(fd) = terminal {
                    reclaim_terminal(fd);
                }
                let _ = lease.revoke().await;
                let how = if killed { "SIGTERM, then SIGKILL" } else { "SIGTERM" };
                return Err(fail(
                    EXIT_LOCK_LOST,
                    format!(
                        "lost the lock '{}' (fencing token {token}) while {program:?} ran; its process group was sent {how}",
                        args.name
                    ),
                ));
            }
        }
    };
    if let Some(fd) = terminal {
        reclaim_terminal(fd);
    }
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
