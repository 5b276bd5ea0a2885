//! Lock faults across real OS processes, on the SQLite store and on a 3-member etcd cluster:
//!
//! - **Mutual exclusion with fencing**: worker processes (`interlock-worker fence`) take one lock
//!   in turn and write "begin TOKEN" then "end TOKEN" to a guarded resource, a file shared by the
//!   processes that accepts a write only if its token is at least the highest it has accepted.
//!   Holders are paused with SIGSTOP past their TTL and killed with SIGKILL (and replaced); on
//!   etcd, followers and the leader are killed and restarted meanwhile. The resource's log must
//!   show no stale write accepted and no interleaving of two holders' sections (see
//!   [`check_resource_log`] for exactly what fencing guarantees), and at least one stale write
//!   rejected: the test arranges one.
//! - **Lost lease**: a holder paused past its TTL, while another client takes the lock, learns
//!   on resuming that the lock is lost: `Lock::lost` resolves, its lost callback fires, a
//!   transaction that requires the lock is refused with `LockLost` and writes nothing, and its
//!   release fails with `LockLost`.
//! - **Paused waiter**: a waiter second in line, paused past its TTL while the holder releases
//!   and another client takes the lock, does not take the lock when it resumes, although the
//!   holder's delete still waits for it on its watch.
//! - **Crash release**: a SIGKILLed holder's lock passes to a waiter in another process once the
//!   holder's lease expires, and not before.
//!
//! Every test holds [`etcd::serial`], the SQLite ones too: the machine these tests run on may
//! have two CPUs, and fault timings (lease TTLs, pauses) are only meaningful when the etcd
//! tests do not compete with other process-heavy tests for them. Timing assertions use generous
//! margins, named where they are made.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use interlock::{Client, LockOptions};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::mpsc::UnboundedSender;

use interlock_tests::Store;
use interlock_tests::etcd::{self, EtcdCluster};

/// Lease TTL of every lock the workers hold. On etcd the shortest TTL is
/// [`etcd::MIN_LEASE_TTL_SECS`] (1 s with the harness's Raft timings); 2 s leaves room for a
/// renewal (every TTL/3) to be late on a busy machine without losing the lease.
const TTL: Duration = Duration::from_secs(2);
/// How long a paused holder stays paused: its TTL plus a margin for the store to notice the
/// expiry (etcd checks leases every 500 ms and deletes the entries through Raft).
const PAUSE: Duration = Duration::from_millis(2000 + 1500);
/// Crash release: the waiter must get the lock within the TTL plus this margin of the kill.
/// Generous because the holder may have renewed just before the kill, etcd checks lease expiry
/// only every 500 ms, and the machine may be busy.
const CRASH_MARGIN: Duration = Duration::from_secs(3);
/// Worker processes contending for the lock at any time.
const WORKERS: usize = 4;
/// Largest random delay a `fence` worker waits before each write, in milliseconds.
const JITTER_MS: u64 = 20;
/// The faulty part of a mutual-exclusion run lasts at least this long.
const MIN_RUN: Duration = Duration::from_secs(16);
/// A run in which no worker says anything for this long is stuck.
const QUIET_LIMIT: Duration = Duration::from_secs(60);

/// A runtime for one test, so that the [`etcd::serial`] guard is held outside of it. One thread:
/// every worker is spawned from the test's own thread, which the workers' parent-death signal
/// is tied to.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// The store URL for workers on `cluster`: short per-request and failover timeouts, so that a
/// dead member costs a worker a second rather than the defaults' 5 s (and 15 s before giving up).
fn etcd_worker_url(cluster: &EtcdCluster, prefix: &str) -> String {
    format!("{}&timeout=1&failover_timeout=10", cluster.url(prefix))
}

/// One `interlock-worker` process.
struct Proc {
    name: String,
    pid: Pid,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Option<Lines<BufReader<ChildStdout>>>,
}

impl Proc {
    fn spawn(name: &str, args: &[&str]) -> Proc {
        let mut child = Command::new(env!("CARGO_BIN_EXE_interlock-worker"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn worker");
        let pid = Pid::from_raw(child.id().expect("a new child has a pid") as i32);
        let stdin = child.stdin.take();
        let lines = Some(BufReader::new(child.stdout.take().expect("stdout")).lines());
        Proc {
            name: name.to_string(),
            pid,
            child,
            stdin,
            lines,
        }
    }

    fn signal(&self, sig: Signal) {
        kill(self.pid, sig).unwrap_or_else(|e| panic!("{sig} to worker {}: {e}", self.name));
    }

    /// Sends one command line; a worker that has exited meanwhile is not an error here (its
    /// exit is checked where it matters).
    async fn send(&mut self, command: &str) {
        if let Some(stdin) = self.stdin.as_mut() {
            let _ = stdin.write_all(format!("{command}\n").as_bytes()).await;
            let _ = stdin.flush().await;
        }
    }

    /// The next line the worker prints, skipping `retry` reports.
    async fn line(&mut self) -> String {
        let lines = self.lines.as_mut().expect("lines not forwarded");
        loop {
            let line = tokio::time::timeout(QUIET_LIMIT, lines.next_line())
                .await
                .unwrap_or_else(|_| panic!("worker {} said nothing for {QUIET_LIMIT:?}", self.name))
                .expect("read worker output")
                .unwrap_or_else(|| panic!("worker {} exited early", self.name));
            if !line.starts_with("retry ") {
                return line;
            }
            println!("{}: {line}", self.name);
        }
    }

    /// Forwards every line the worker prints to `tx` as `(id, Some(line))`, then `(id, None)`.
    fn forward(&mut self, id: usize, tx: UnboundedSender<(usize, Option<String>)>) {
        let mut lines = self.lines.take().expect("lines forwarded once");
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                if tx.send((id, Some(line))).is_err() {
                    return;
                }
            }
            let _ = tx.send((id, None));
        });
    }

    async fn exit_ok(&mut self) {
        self.stdin = None;
        let status = tokio::time::timeout(QUIET_LIMIT, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("worker {} did not exit", self.name))
            .expect("wait");
        assert!(status.success(), "worker {} failed: {status}", self.name);
    }
}

// ------------------------------------------------------------------------------------------------
// Mutual exclusion with fencing
// ------------------------------------------------------------------------------------------------

/// What the parent does to the holder of one acquisition; the faulty part of a run applies these
/// in turn, one at a time, to successive acquisitions.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Fault {
    None,
    /// SIGSTOP right after "acquired", before the holder writes, for [`PAUSE`].
    StopAtAcquire,
    /// SIGSTOP between the holder's accepted "begin" and its "end", for [`PAUSE`].
    StopMidSection,
    /// SIGSTOP at a random moment within a few milliseconds of the grant, for [`PAUSE`]: in a
    /// write, in the release or in the next acquire.
    StopAnywhere,
    /// SIGKILL right after "acquired"; a replacement worker starts.
    KillAtAcquire,
    /// SIGKILL between the holder's accepted "begin" and its "end"; a replacement starts.
    KillMidSection,
}

const CYCLE: [Fault; 10] = [
    Fault::None,
    Fault::StopAtAcquire,
    Fault::None,
    Fault::StopMidSection,
    Fault::None,
    Fault::KillAtAcquire,
    Fault::None,
    Fault::StopAnywhere,
    Fault::None,
    Fault::KillMidSection,
];

impl Fault {
    fn label(self) -> &'static str {
        match self {
            Fault::None => "none",
            Fault::StopAtAcquire => "SIGSTOP past TTL after acquire",
            Fault::StopMidSection => "SIGSTOP past TTL between begin and end",
            Fault::StopAnywhere => "SIGSTOP past TTL at a random point",
            Fault::KillAtAcquire => "SIGKILL holder after acquire",
            Fault::KillMidSection => "SIGKILL holder between begin and end",
        }
    }
}

/// The arranged stale write.
const ARRANGED: &str = "SIGSTOP past TTL after acquire (arranged stale write)";

/// What the workers reported about one acquisition (one fencing token).
#[derive(Debug, Default, Clone)]
struct Holding {
    worker: String,
    begin: Option<bool>,
    end: Option<bool>,
    /// `ok`, `LockLost` or `gave-up`.
    release: Option<String>,
    killed: bool,
    /// The fault injected into this acquisition's holder, if any.
    fault: Option<String>,
    /// Whether the holder's lost callback fired during this acquisition.
    lost_callback: bool,
}

#[derive(Debug, Default)]
struct Report {
    workers: usize,
    acquisitions: usize,
    faults: BTreeMap<String, usize>,
    retries: BTreeMap<String, usize>,
    lost_callbacks: usize,
    /// Time from each SIGKILL of a holder to the next acquisition.
    crash_release: Vec<Duration>,
    holdings: BTreeMap<u64, Holding>,
    /// The token of the arranged stale write and the higher token accepted meanwhile.
    arranged: Option<(u64, u64)>,
}

struct FleetWorker {
    proc: Proc,
    /// The token of its current acquisition.
    token: Option<u64>,
    stopped: bool,
    killed: bool,
    exited: bool,
    quit: bool,
    /// Stop (or kill) it when it reports an accepted or rejected "begin".
    at_begin: Option<Fault>,
}

enum Scheduled {
    /// SIGCONT, after sending "go" if the worker waits at a command point.
    Resume { worker: usize, go: bool },
    /// SIGSTOP wherever the worker is.
    Stop { worker: usize },
}

/// The workers of one run and the parent's bookkeeping.
struct Fleet<'a> {
    url: &'a str,
    resource: &'a Path,
    workers: Vec<FleetWorker>,
    tx: UnboundedSender<(usize, Option<String>)>,
    report: Report,
    schedule: Vec<(Instant, Scheduled)>,
    /// When the last SIGKILLed holder died, until the next acquisition.
    killed_at: Option<Instant>,
}

impl Fleet<'_> {
    fn spawn(&mut self) {
        let id = self.workers.len();
        let name = format!("w{id}");
        self.report.workers += 1;
        let ttl_ms = TTL.as_millis().to_string();
        let jitter = JITTER_MS.to_string();
        let resource = self.resource.to_str().expect("UTF-8 path");
        let mut proc = Proc::spawn(
            &name,
            &[
                "fence", self.url, "shared", resource, &name, &ttl_ms, &jitter,
            ],
        );
        proc.forward(id, self.tx.clone());
        self.workers.push(FleetWorker {
            proc,
            token: None,
            stopped: false,
            killed: false,
            exited: false,
            quit: false,
            at_begin: None,
        });
    }

    fn stop(&mut self, w: usize) {
        self.workers[w].proc.signal(Signal::SIGSTOP);
        self.workers[w].stopped = true;
        self.schedule.push((
            Instant::now() + PAUSE,
            Scheduled::Resume {
                worker: w,
                go: false,
            },
        ));
    }

    /// Stops `w` at a command point: it gets its "go" when it resumes.
    fn stop_at_command(&mut self, w: usize) {
        self.stop(w);
        if let Some((_, Scheduled::Resume { go, .. })) = self.schedule.last_mut() {
            *go = true;
        }
    }

    async fn resume(&mut self, w: usize, go: bool) {
        if go {
            self.workers[w].proc.send("go").await;
        }
        self.workers[w].proc.signal(Signal::SIGCONT);
        self.workers[w].stopped = false;
    }

    /// SIGKILLs `w` (marking its acquisition) and starts a replacement.
    fn kill(&mut self, w: usize, fault: Fault) {
        let worker = &mut self.workers[w];
        worker.proc.signal(Signal::SIGKILL);
        worker.killed = true;
        if let Some(token) = worker.token {
            self.report
                .holdings
                .get_mut(&token)
                .expect("known token")
                .killed = true;
        }
        self.count(w, fault.label());
        self.killed_at = Some(Instant::now());
        self.spawn();
    }

    fn fault_pending(&self) -> bool {
        self.killed_at.is_some()
            || self
                .workers
                .iter()
                .any(|w| w.stopped || w.at_begin.is_some())
            || !self.schedule.is_empty()
    }

    /// Counts `fault`, injected into `w`'s current acquisition.
    fn count(&mut self, w: usize, fault: &str) {
        *self.report.faults.entry(fault.to_string()).or_default() += 1;
        if let Some(token) = self.workers[w].token {
            self.report
                .holdings
                .get_mut(&token)
                .expect("known token")
                .fault = Some(fault.to_string());
        }
    }
}

/// Phases of a run.
#[derive(Debug, PartialEq)]
enum Phase {
    /// Waiting for the first acquisition, whose holder is paused to arrange a stale write.
    Arrange,
    /// The holder of `token`, worker `victim`, is paused since `since`; `higher` is a higher
    /// token whose "begin" was accepted meanwhile.
    Paused {
        victim: usize,
        token: u64,
        since: Instant,
        higher: Option<u64>,
    },
    /// The victim resumed; its "begin" must be rejected.
    Resumed { victim: usize, token: u64 },
    /// Faults from [`CYCLE`], the n-th next.
    Faults { started: Instant, next: usize },
    /// Every worker quits at its next acquisition.
    Drain,
}

/// Runs the workers until the arranged stale write and a whole [`CYCLE`] of faults are done
/// (and, with `member_rounds`, a round of etcd member faults), then lets every worker quit.
/// `faulty` is set when the faults start (the etcd member faults wait for it) and `stop` when
/// they end.
async fn run_fleet(
    url: &str,
    resource: &Path,
    faulty: &AtomicBool,
    stop: &AtomicBool,
    member_rounds: Option<&AtomicUsize>,
) -> Report {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut fleet = Fleet {
        url,
        resource,
        workers: Vec::new(),
        tx,
        report: Report::default(),
        schedule: Vec::new(),
        killed_at: None,
    };
    for _ in 0..WORKERS {
        fleet.spawn();
    }
    let mut phase = Phase::Arrange;
    let run_started = Instant::now();
    loop {
        // Due scheduled actions first.
        let now = Instant::now();
        let mut due = Vec::new();
        fleet.schedule.retain_mut(|(at, s)| {
            if *at <= now {
                due.push(std::mem::replace(s, Scheduled::Stop { worker: usize::MAX }));
                false
            } else {
                true
            }
        });
        for action in due {
            match action {
                Scheduled::Resume { worker, go } => fleet.resume(worker, go).await,
                Scheduled::Stop { worker } => {
                    let w = &fleet.workers[worker];
                    if !w.killed && !w.exited && !w.stopped {
                        fleet.stop(worker);
                    }
                }
            }
        }
        if let Phase::Paused {
            victim,
            token,
            since,
            higher: Some(_),
        } = phase
            && since.elapsed() >= PAUSE
        {
            fleet.resume(victim, true).await;
            phase = Phase::Resumed { victim, token };
        }
        if let Phase::Faults { started, next } = phase {
            let members_done = member_rounds.is_none_or(|r| r.load(Ordering::SeqCst) >= 1);
            if next >= CYCLE.len()
                && started.elapsed() >= MIN_RUN
                && members_done
                && !fleet.fault_pending()
            {
                stop.store(true, Ordering::SeqCst);
                phase = Phase::Drain;
            }
        }
        if fleet.workers.iter().all(|w| w.killed || w.exited) {
            break;
        }
        // Wait for the next line, or the next scheduled action.
        let quiet = Instant::now() + QUIET_LIMIT;
        let mut wake = quiet;
        for (at, _) in &fleet.schedule {
            wake = wake.min(*at);
        }
        if let Phase::Paused { since, .. } = phase {
            wake = wake.min(since + PAUSE);
        }
        if matches!(phase, Phase::Faults { .. }) {
            // Re-check the end of the run now and then.
            wake = wake.min(Instant::now() + Duration::from_millis(500));
        }
        let event = match tokio::time::timeout_at(wake.into(), rx.recv()).await {
            Ok(event) => event.expect("the fleet holds a sender"),
            Err(_) => {
                assert!(
                    wake < quiet,
                    "no worker said anything for {QUIET_LIMIT:?} (phase {phase:?}, {:?} into \
                     the run)",
                    run_started.elapsed()
                );
                continue;
            }
        };
        let (w, line) = event;
        let Some(line) = line else {
            let worker = &mut fleet.workers[w];
            worker.exited = true;
            assert!(
                worker.killed || worker.quit,
                "worker {} exited unexpectedly",
                worker.proc.name
            );
            continue;
        };
        let name = fleet.workers[w].proc.name.clone();
        let mut words = line.split_whitespace();
        match (words.next(), words.next(), words.next()) {
            (Some("acquired"), Some(token), None) => {
                let token: u64 = token.parse().expect("token");
                fleet.report.acquisitions += 1;
                fleet.workers[w].token = Some(token);
                let previous = fleet.report.holdings.insert(
                    token,
                    Holding {
                        worker: name.clone(),
                        ..Holding::default()
                    },
                );
                assert!(
                    previous.is_none(),
                    "token {token} granted twice: to {name} and {previous:?}"
                );
                if let Some(at) = fleet.killed_at.take() {
                    fleet.report.crash_release.push(at.elapsed());
                }
                match phase {
                    Phase::Arrange => {
                        fleet.stop_at_command(w);
                        // Resumed by the phase, once a higher token wrote, not by the schedule.
                        fleet.schedule.pop();
                        phase = Phase::Paused {
                            victim: w,
                            token,
                            since: Instant::now(),
                            higher: None,
                        };
                        fleet.count(w, ARRANGED);
                    }
                    Phase::Drain => {
                        fleet.workers[w].quit = true;
                        fleet.workers[w].proc.send("quit").await;
                    }
                    Phase::Faults { started, next } if !fleet.fault_pending() => {
                        let fault = CYCLE[next % CYCLE.len()];
                        phase = Phase::Faults {
                            started,
                            next: next + 1,
                        };
                        match fault {
                            Fault::None => fleet.workers[w].proc.send("go").await,
                            Fault::StopAtAcquire => {
                                fleet.count(w, fault.label());
                                fleet.stop_at_command(w);
                            }
                            Fault::StopMidSection | Fault::KillMidSection => {
                                fleet.workers[w].at_begin = Some(fault);
                                fleet.workers[w].proc.send("go").await;
                            }
                            Fault::StopAnywhere => {
                                fleet.count(w, fault.label());
                                fleet.workers[w].proc.send("go").await;
                                let after = Duration::from_millis(fastrand::u64(0..=3 * JITTER_MS));
                                fleet
                                    .schedule
                                    .push((Instant::now() + after, Scheduled::Stop { worker: w }));
                            }
                            Fault::KillAtAcquire => fleet.kill(w, fault),
                        }
                    }
                    _ => fleet.workers[w].proc.send("go").await,
                }
            }
            (Some(kind @ ("begin" | "end")), Some(token), Some(verdict)) => {
                let token: u64 = token.parse().expect("token");
                assert_eq!(
                    fleet.workers[w].token,
                    Some(token),
                    "{name} writes with the token it was granted: {line}"
                );
                let accepted = verdict == "accepted";
                let holding = fleet.report.holdings.get_mut(&token).expect("known token");
                if kind == "begin" {
                    holding.begin = Some(accepted);
                } else {
                    holding.end = Some(accepted);
                }
                if kind == "end" {
                    continue;
                }
                if let Phase::Paused {
                    victim,
                    token: paused,
                    higher: higher @ None,
                    ..
                } = &mut phase
                    && w != *victim
                    && token > *paused
                    && accepted
                {
                    *higher = Some(token);
                }
                if let Phase::Resumed { victim, token: t } = phase
                    && w == victim
                {
                    assert_eq!(t, token);
                    assert!(
                        !accepted,
                        "{name}, paused past its TTL while another holder wrote, had its \
                         stale write accepted: {line}"
                    );
                    let higher = line
                        .split_whitespace()
                        .nth(3)
                        .and_then(|h| h.parse().ok())
                        .expect("highest token in the line");
                    fleet.report.arranged = Some((token, higher));
                    faulty.store(true, Ordering::SeqCst);
                    phase = Phase::Faults {
                        started: Instant::now(),
                        next: 0,
                    };
                }
                match fleet.workers[w].at_begin.take() {
                    Some(fault @ Fault::StopMidSection) => {
                        fleet.count(w, fault.label());
                        fleet.stop_at_command(w);
                    }
                    Some(fault @ Fault::KillMidSection) => fleet.kill(w, fault),
                    _ => fleet.workers[w].proc.send("go").await,
                }
            }
            (Some("released"), Some(token), Some(outcome)) => {
                let token: u64 = token.parse().expect("token");
                fleet
                    .report
                    .holdings
                    .get_mut(&token)
                    .expect("known token")
                    .release = Some(outcome.to_string());
            }
            (Some("retry"), Some(what), Some(kind)) => {
                println!("  {name}: {line}");
                *fleet
                    .report
                    .retries
                    .entry(format!("{what} {}", kind.trim_end_matches(':')))
                    .or_default() += 1;
            }
            (Some("lost-callback"), None, None) => {
                fleet.report.lost_callbacks += 1;
                if let Some(token) = fleet.workers[w].token {
                    fleet
                        .report
                        .holdings
                        .get_mut(&token)
                        .expect("known token")
                        .lost_callback = true;
                }
            }
            (Some("bye"), None, None) => {}
            _ => panic!("unexpected line from {name}: {line}"),
        }
    }
    for worker in &mut fleet.workers {
        if !worker.killed {
            worker.proc.exit_ok().await;
        }
    }
    fleet.report
}

/// One line of the resource's log.
#[derive(Debug, Clone)]
struct Record {
    accepted: bool,
    begin: bool,
    token: u64,
    worker: String,
    seq: u64,
    /// The highest accepted token before this write.
    highest: u64,
}

fn read_resource(path: &Path) -> (u64, Vec<Record>) {
    let text = std::fs::read_to_string(path).expect("read the resource");
    let mut lines = text.lines();
    let header: u64 = lines
        .next()
        .and_then(|h| h.parse().ok())
        .expect("resource header");
    let records = lines
        .map(|line| {
            let f: Vec<&str> = line.split(' ').collect();
            assert_eq!(f.len(), 6, "resource log line: {line}");
            Record {
                accepted: f[0] == "accept",
                begin: f[1] == "begin",
                token: f[2].parse().expect("token"),
                worker: f[3].to_string(),
                seq: f[4].parse().expect("seq"),
                highest: f[5].parse().expect("highest"),
            }
        })
        .collect();
    (header, records)
}

/// Checks the resource's log against what fencing guarantees, and against what the workers
/// reported; returns (accepted, rejected) write counts.
///
/// What the resource enforces: a write is accepted only if its token is at least the highest
/// accepted before it. So the accepted tokens never decrease (no *stale* write, one whose token
/// is below an accepted one, is ever accepted). Because every acquisition has its own token,
/// this gives the stronger property that holders' critical sections never interleave in the
/// resource: the accepted writes of each token form one contiguous block, the blocks come in
/// increasing token order, and each block is exactly `begin` or `begin end`. A block that is
/// only `begin` is a section that was cut short, and only two things may cut one short: its
/// holder was killed, or a higher token was accepted while the holder was paused, fencing it
/// out, in which case the resource rejected its `end` (the log shows it). Fencing does not
/// stop a holder that lost its lock from *trying* to write; it makes the resource refuse it,
/// and such a holder must then see `LockLost` when it releases.
fn check_resource_log(header: u64, records: &[Record], report: &Report) -> (usize, usize) {
    let mut highest = 0u64;
    let mut last_seq: HashMap<&str, u64> = HashMap::new();
    let mut owner: HashMap<u64, &str> = HashMap::new();
    for (i, r) in records.iter().enumerate() {
        assert_eq!(
            r.highest, highest,
            "record {i} {r:?}: the resource's highest token agrees with its log"
        );
        if r.accepted {
            assert!(
                r.token >= highest,
                "record {i} {r:?}: stale write accepted (highest was {highest})"
            );
            highest = r.token;
        } else {
            assert!(
                r.token < highest,
                "record {i} {r:?}: a current write was rejected"
            );
        }
        let seq = last_seq.entry(&r.worker).or_default();
        assert!(
            r.seq > *seq,
            "record {i} {r:?}: a worker's writes are in order"
        );
        *seq = r.seq;
        let by = owner.entry(r.token).or_insert(&r.worker);
        assert_eq!(
            *by, r.worker,
            "record {i}: token {} used by two workers",
            r.token
        );
        let holding = report
            .holdings
            .get(&r.token)
            .unwrap_or_else(|| panic!("record {i} {r:?}: token never reported as acquired"));
        assert_eq!(holding.worker, r.worker, "record {i}: token holder");
        let reported = if r.begin { holding.begin } else { holding.end };
        assert_eq!(
            reported,
            Some(r.accepted),
            "record {i} {r:?}: the resource's verdict is what the worker reported"
        );
    }
    assert_eq!(
        header, highest,
        "the resource's header is its highest token"
    );

    // Accepted writes grouped into blocks of one token each.
    let mut blocks: Vec<(u64, Vec<bool>)> = Vec::new();
    for r in records.iter().filter(|r| r.accepted) {
        match blocks.last_mut() {
            Some((token, kinds)) if *token == r.token => kinds.push(r.begin),
            _ => blocks.push((r.token, vec![r.begin])),
        }
    }
    for pair in blocks.windows(2) {
        assert!(
            pair[1].0 > pair[0].0,
            "the accepted writes of token {} and {} interleave, or come out of order",
            pair[0].0,
            pair[1].0
        );
    }
    for (token, kinds) in &blocks {
        let holding = &report.holdings[token];
        match kinds.as_slice() {
            [true, false] => {}
            [true] => {
                let fenced_end = records
                    .iter()
                    .any(|r| r.token == *token && !r.begin && !r.accepted && r.highest > *token);
                assert!(
                    holding.killed || fenced_end,
                    "token {token}'s section was cut short, but its holder was neither killed \
                     nor fenced out: {holding:?}"
                );
            }
            other => panic!("token {token}'s accepted writes are {other:?} (true = begin)"),
        }
    }
    // A holder fenced out by the resource had lost its lock, and learns so when it releases.
    let mut rejected = 0;
    for r in records.iter().filter(|r| !r.accepted) {
        rejected += 1;
        let holding = &report.holdings[&r.token];
        assert!(
            holding.killed || holding.release.as_deref() == Some("LockLost"),
            "token {}'s write was rejected as stale, yet its release said {:?}",
            r.token,
            holding.release
        );
    }
    let accepted = records.len() - rejected;
    (accepted, rejected)
}

/// Kills members of `cluster` while the workers run: a follower, then the leader, each
/// restarted 2 s later, 2 s apart, until `stop`; counts finished rounds in `rounds`. Waits for
/// `faulty` before the first. Every member runs again when it returns.
fn member_faults(
    cluster: &EtcdCluster,
    faulty: &AtomicBool,
    stop: &AtomicBool,
    rounds: &AtomicUsize,
) -> BTreeMap<String, usize> {
    let mut faults = BTreeMap::new();
    let pause = |d: Duration| -> bool {
        let until = Instant::now() + d;
        while Instant::now() < until {
            if stop.load(Ordering::SeqCst) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        true
    };
    while !faulty.load(Ordering::SeqCst) {
        if stop.load(Ordering::SeqCst) {
            return faults;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let members = cluster.len();
    loop {
        if !pause(Duration::from_secs(2)) {
            break;
        }
        let leader = cluster.wait_for_leader(Duration::from_secs(20));
        let follower = (leader + 1) % members;
        cluster.kill(follower);
        *faults
            .entry("etcd follower killed".to_string())
            .or_default() += 1;
        std::thread::sleep(Duration::from_secs(2));
        cluster.restart(follower);
        if !pause(Duration::from_secs(2)) {
            break;
        }
        let leader = cluster.wait_for_leader(Duration::from_secs(20));
        cluster.kill(leader);
        *faults.entry("etcd leader killed".to_string()).or_default() += 1;
        std::thread::sleep(Duration::from_secs(2));
        cluster.restart(leader);
        cluster.wait_for_leader(Duration::from_secs(20));
        rounds.fetch_add(1, Ordering::SeqCst);
    }
    faults
}

/// Sets the flag when dropped.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

fn mutual_exclusion(backend: &str, url: &str, cluster: Option<&EtcdCluster>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let resource = dir.path().join("resource");
    std::fs::write(&resource, format!("{:020}\n", 0)).expect("create the resource");
    let faulty = AtomicBool::new(false);
    let stop = AtomicBool::new(false);
    let rounds = AtomicUsize::new(0);
    let started = Instant::now();
    let mut report = std::thread::scope(|s| {
        let members = cluster.map(|c| s.spawn(|| member_faults(c, &faulty, &stop, &rounds)));
        // Ends the member faults even if the run panics: the scope waits for that thread.
        let _stop = StopOnDrop(&stop);
        let report = runtime().block_on(run_fleet(
            url,
            &resource,
            &faulty,
            &stop,
            cluster.map(|_| &rounds),
        ));
        stop.store(true, Ordering::SeqCst);
        let mut report = report;
        if let Some(members) = members {
            report
                .faults
                .extend(members.join().expect("member fault thread"));
        }
        report
    });
    let (header, records) = read_resource(&resource);
    let (accepted, rejected) = check_resource_log(header, &records, &report);
    let (arranged, higher) = report.arranged.expect("the stale write was arranged");
    let arranged_rejected = records
        .iter()
        .any(|r| r.token == arranged && r.begin && !r.accepted && r.highest == higher);
    assert!(
        arranged_rejected,
        "the resource rejected the paused holder's write (token {arranged} after {higher})"
    );
    assert!(rejected > 0, "at least one stale write was rejected");
    assert!(
        report.acquisitions >= 10,
        "enough acquisitions to mean something: {}",
        report.acquisitions
    );
    for fault in CYCLE.iter().filter(|f| **f != Fault::None) {
        assert!(
            report.faults.get(fault.label()).copied().unwrap_or(0) >= 1,
            "fault '{}' was injected",
            fault.label()
        );
    }
    if cluster.is_some() {
        for fault in ["etcd follower killed", "etcd leader killed"] {
            assert!(
                report.faults.get(fault).copied().unwrap_or(0) >= 1,
                "{fault}"
            );
        }
    }
    let lost_releases = report
        .holdings
        .values()
        .filter(|h| h.release.as_deref() == Some("LockLost"))
        .count();
    let killed = report.holdings.values().filter(|h| h.killed).count();
    // The lost callback fires from a background task only while the lock object still holds
    // the lock; a release that finds the loss first returns LockLost instead. Reported, not
    // asserted.
    let lost_without_callback: Vec<(u64, Option<&str>)> = report
        .holdings
        .iter()
        .filter(|(_, h)| h.release.as_deref() == Some("LockLost") && !h.lost_callback)
        .map(|(t, h)| (*t, h.fault.as_deref()))
        .collect();
    report.crash_release.sort();
    println!(
        "{backend} mutual exclusion with fencing, {} s: {} workers started, {} acquisitions, \
         {accepted} accepted writes, {rejected} rejected stale writes, 0 accepted stale writes; \
         releases that said LockLost: {lost_releases}, of which without a lost callback: \
         {lost_without_callback:?}; lost callbacks: {}; holders killed: {killed}\n  faults: {:?}\n  store errors the workers retried: {:?}\n  SIGKILL to next \
         acquisition: {:?}",
        started.elapsed().as_secs(),
        report.workers,
        report.acquisitions,
        report.lost_callbacks,
        report.faults,
        report.retries,
        report.crash_release,
    );
}

#[test]
fn sqlite_mutual_exclusion_with_fencing() {
    let _serial = etcd::serial();
    let store = Store::sqlite();
    mutual_exclusion("sqlite", &store.url, None);
}

#[test]
fn etcd_mutual_exclusion_with_fencing() {
    let _serial = etcd::serial();
    assert!(TTL >= Duration::from_secs(etcd::MIN_LEASE_TTL_SECS));
    let cluster = EtcdCluster::start(3);
    let url = etcd_worker_url(&cluster, "fencing/");
    mutual_exclusion("etcd", &url, Some(&cluster));
}

// ------------------------------------------------------------------------------------------------
// Lost lease
// ------------------------------------------------------------------------------------------------

/// A `lose` worker on `worker_url` takes the lock and is paused; meanwhile a client of this
/// process (on `url`) takes the same lock, which it can only get once the paused holder's lease
/// has expired. Then the holder resumes and reports what it sees.
async fn lost_lease(backend: &str, url: &str, worker_url: &str) {
    let ttl_ms = TTL.as_millis().to_string();
    let mut holder = Proc::spawn("holder", &["lose", worker_url, "victim", &ttl_ms]);
    let line = holder.line().await;
    let token: u64 = line
        .strip_prefix("acquired ")
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("expected 'acquired TOKEN', got {line}"));
    holder.signal(Signal::SIGSTOP);
    let paused = Instant::now();
    let db = Client::connect(url).await.expect("connect");
    let other = db.lock_with(
        "victim",
        LockOptions {
            owner: Some("the next holder".into()),
            ..LockOptions::default()
        },
    );
    // Generous: the lease expires within TTL of the pause; the rest is slack for a busy host.
    let next = other
        .acquire(Some(TTL + Duration::from_secs(30)))
        .await
        .expect("another client takes the lock while the holder is paused");
    let taken_after = paused.elapsed();
    assert!(
        next > token,
        "the next holder's token {next} exceeds {token}"
    );
    // Keep the lock: the resumed holder must not believe it still holds it.
    holder.send("check").await;
    holder.signal(Signal::SIGCONT);
    let resumed_after = paused.elapsed();
    let mut lines = Vec::new();
    loop {
        let line = holder.line().await;
        if line == "done" {
            break;
        }
        lines.push(line);
    }
    println!(
        "{backend} lost lease: holder with token {token} paused; another client took the lock \
         (token {next}) {taken_after:?} into the pause; holder resumed after {resumed_after:?} \
         and reported {lines:?}"
    );
    let has = |l: &str| lines.iter().any(|x| x == l);
    assert!(
        lines.iter().any(|l| l.starts_with("lost after ")),
        "Lock::lost resolved after the resume: {lines:?}"
    );
    assert!(
        has("lost-callback fired") && has("callback true"),
        "the lost callback fired: {lines:?}"
    );
    assert!(has("is_lost true"), "is_lost: {lines:?}");
    let fenced = lines
        .iter()
        .find(|l| l.starts_with("fenced-write "))
        .expect("a fenced-write line");
    let words: Vec<&str> = fenced.split_whitespace().collect();
    // Txn::require checks the holder's waiter entry at its token; the entry is gone, and a
    // failed check of a required lock's entry is reported as LockLost.
    assert_eq!(
        words.get(1).copied(),
        Some("LockLost"),
        "the fenced write is refused: {fenced}"
    );
    assert!(
        words
            .get(2)
            .is_some_and(|c| c.starts_with("@lock/victim/") && c.ends_with(&format!("@{token}"))),
        "the failed check is the holder's waiter entry at its token: {fenced}"
    );
    assert!(has("release LockLost"), "release says LockLost: {lines:?}");
    assert_eq!(
        db.get("fenced").await.expect("read"),
        None,
        "the refused write wrote nothing"
    );
    let queue = db.lock_queue("victim").await.expect("queue");
    assert_eq!(queue.len(), 1, "only the new holder is queued: {queue:?}");
    assert_eq!(queue[0].token, next);
    other.release().await.expect("the new holder releases");
    holder.exit_ok().await;
}

#[test]
fn sqlite_lost_lease_is_reported_to_the_paused_holder() {
    let _serial = etcd::serial();
    let store = Store::sqlite();
    runtime().block_on(lost_lease("sqlite", &store.url, &store.url));
}

#[test]
fn etcd_lost_lease_is_reported_to_the_paused_holder() {
    let _serial = etcd::serial();
    let cluster = EtcdCluster::start(3);
    let url = cluster.url("lost/");
    runtime().block_on(lost_lease(
        "etcd",
        &url,
        &etcd_worker_url(&cluster, "lost/"),
    ));
}

// ------------------------------------------------------------------------------------------------
// Paused waiter
// ------------------------------------------------------------------------------------------------

/// A `wait` worker queues second behind this process's holder, with [`TTL`], and is paused.
/// The holder releases, so the delete that wakes the waiter is delivered to it (or waits in its
/// watch) while it is stopped; its lease expires, and another client takes the lock. Resumed,
/// the waiter must see that its lease is gone rather than act on the old wake-up: it fails with
/// `LeaseExpired`, and the other client remains the only holder.
async fn paused_waiter(backend: &str, url: &str, worker_url: &str) {
    let db = Client::connect(url).await.expect("connect");
    let holder = db.lock("turnstile");
    let held = holder
        .acquire(None)
        .await
        .expect("the holder takes the lock");
    let ttl_ms = TTL.as_millis().to_string();
    let mut waiter = Proc::spawn("waiter", &["wait", worker_url, "turnstile", &ttl_ms]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while db.lock_queue("turnstile").await.expect("queue").len() < 2 {
        assert!(Instant::now() < deadline, "the waiter never queued");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Let the waiter open its watch before it stops.
    tokio::time::sleep(Duration::from_millis(300)).await;
    waiter.signal(Signal::SIGSTOP);
    let paused = Instant::now();
    holder.release().await.expect("the holder releases");
    let other = db.lock("turnstile");
    // Generous: the waiter's lease expires within TTL of the pause; the rest is slack.
    let next = other
        .acquire(Some(TTL + Duration::from_secs(30)))
        .await
        .expect("another client takes the lock once the paused waiter's lease expires");
    let taken_after = paused.elapsed();
    assert!(next > held, "the new token {next} exceeds {held}");
    waiter.signal(Signal::SIGCONT);
    let line = waiter.line().await;
    println!(
        "{backend} paused waiter: the holder (token {held}) released while the waiter was \
         stopped; another client took the lock (token {next}) {taken_after:?} into the pause; \
         the resumed waiter said {line:?}"
    );
    assert!(
        line.starts_with("failed LeaseExpired"),
        "the resumed waiter must not take the lock another client holds: {line}"
    );
    let queue = db.lock_queue("turnstile").await.expect("queue");
    assert_eq!(queue.len(), 1, "only the new holder is queued: {queue:?}");
    assert_eq!(queue[0].token, next);
    other.release().await.expect("the new holder releases");
    waiter.exit_ok().await;
}

#[test]
fn sqlite_paused_waiter_does_not_act_on_an_old_wake_up() {
    let _serial = etcd::serial();
    let store = Store::sqlite();
    runtime().block_on(paused_waiter("sqlite", &store.url, &store.url));
}

#[test]
fn etcd_paused_waiter_does_not_act_on_an_old_wake_up() {
    let _serial = etcd::serial();
    let cluster = EtcdCluster::start(3);
    let url = cluster.url("paused/");
    runtime().block_on(paused_waiter(
        "etcd",
        &url,
        &etcd_worker_url(&cluster, "paused/"),
    ));
}

// ------------------------------------------------------------------------------------------------
// Crash release
// ------------------------------------------------------------------------------------------------

/// A `hold` worker takes the lock with [`TTL`] and a `wait` worker queues behind it; the holder
/// is SIGKILLed, and the waiter must get the lock once the holder's lease has expired: not
/// before (the holder's lease's time left, read just before the kill, must have passed, give or
/// take the store's `granularity` in reporting it) and within TTL + [`CRASH_MARGIN`] of the
/// kill. Two rounds; returns the delays.
async fn crash_release(
    backend: &str,
    url: &str,
    worker_url: &str,
    granularity: Duration,
) -> Vec<Duration> {
    let db = Client::connect(url).await.expect("connect");
    let ttl_ms = TTL.as_millis().to_string();
    let mut delays = Vec::new();
    for round in 0..2 {
        let name = format!("printer-{round}");
        let mut holder = Proc::spawn("holder", &["hold", worker_url, &name, &ttl_ms]);
        let line = holder.line().await;
        let held: u64 = line
            .strip_prefix("held ")
            .and_then(|t| t.parse().ok())
            .unwrap_or_else(|| panic!("expected 'held TOKEN', got {line}"));
        let mut waiter = Proc::spawn("waiter", &["wait", worker_url, &name]);
        let deadline = Instant::now() + Duration::from_secs(30);
        while db.lock_queue(&name).await.expect("queue").len() < 2 {
            assert!(Instant::now() < deadline, "the waiter never queued");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let asked = Instant::now();
        let queue = db.lock_queue(&name).await.expect("queue");
        assert_eq!(queue[0].token, held);
        let left = queue[0].ttl_left.expect("the holder's lease is alive");
        holder.signal(Signal::SIGKILL);
        let killed = Instant::now();
        let line = waiter.line().await;
        let waited = killed.elapsed();
        let since_asked = asked.elapsed();
        let token: u64 = line
            .split_whitespace()
            .nth(1)
            .and_then(|t| t.parse().ok())
            .unwrap_or_else(|| panic!("expected 'acquired TOKEN ...', got {line}"));
        assert!(
            token > held,
            "the new holder's token {token} exceeds the dead holder's {held}"
        );
        assert!(
            !line.contains("doomed holder"),
            "the killed holder's entry is gone: {line}"
        );
        // The store said the lease had `left` to run (within `granularity`) when it
        // answered, after `asked`: granting the lock earlier would have broken mutual
        // exclusion.
        assert!(
            since_asked + granularity >= left,
            "granted {since_asked:?} after the store said the holder's lease had {left:?} \
             (within {granularity:?}) left"
        );
        assert!(
            waited <= TTL + CRASH_MARGIN,
            "granted {waited:?} after the kill; expected within TTL {TTL:?} + {CRASH_MARGIN:?}"
        );
        println!(
            "{backend} crash release, round {round}: the waiter got the lock {waited:?} after \
             the holder's SIGKILL (TTL {TTL:?}; the lease had {left:?} left just before)"
        );
        delays.push(waited);
        waiter.exit_ok().await;
        let _ = holder.child.wait().await;
        assert!(db.lock_queue(&name).await.expect("queue").is_empty());
    }
    delays
}

#[test]
fn sqlite_killed_holders_lock_passes_to_a_waiter() {
    let _serial = etcd::serial();
    let store = Store::sqlite();
    // The SQLite store reports a lease's time left to the nanosecond of its clock; 10 ms
    // covers the conversion between its clock and this process's.
    runtime().block_on(crash_release(
        "sqlite",
        &store.url,
        &store.url,
        Duration::from_millis(10),
    ));
}

#[test]
fn etcd_killed_holders_lock_passes_to_a_waiter() {
    let _serial = etcd::serial();
    let cluster = EtcdCluster::start(3);
    let url = cluster.url("crash/");
    // etcd reports whole seconds; interlock rounds them up (a live lease never reads as 0),
    // so the lease may have up to a second less than it reads.
    runtime().block_on(crash_release(
        "etcd",
        &url,
        &etcd_worker_url(&cluster, "crash/"),
        Duration::from_secs(1),
    ));
}
