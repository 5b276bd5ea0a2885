//! Contended handoff latency: the time from "the holder is about to call release()" to "the next
//! waiter's acquire() returned", across processes for SQLite and etcd (this binary re-executed as
//! hidden workers) and between tasks of one process for `mem://`.
//!
//! Just before release the holder stores its id and the system-wide monotonic clock
//! (`CLOCK_MONOTONIC`, the same in every process) in a small shared file; the next holder reads
//! it right after acquire returns. A holder releases only once another waiter is queued, so each
//! sample is a real handoff.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use interlock::Client;
use nix::time::{ClockId, clock_gettime};

use crate::{Config, Res};

/// The hidden subcommand that runs one contending worker process.
pub const WORKER_CMD: &str = "__handoff-worker";

const LOCK_NAME: &str = "bench/handoff";
/// How long a holder waits for a waiter to queue before releasing anyway (only at the very
/// end, when the other workers have finished).
const WAIT_FOR_WAITER: Duration = Duration::from_millis(500);
/// How long a holder keeps the lock once a waiter is queued, so the waiter is parked on its watch.
pub const HOLD: Duration = Duration::from_millis(1);
/// The same for etcd, where a waiter opens its watch with a request of its own (a new streaming
/// POST to the gateway) after its entry is already visible in the queue.
pub const ETCD_HOLD: Duration = Duration::from_millis(5);

/// Nanoseconds of the system-wide monotonic clock.
fn mono_ns() -> Res<u64> {
    let ts = clock_gettime(ClockId::CLOCK_MONOTONIC)?;
    Ok(ts.tv_sec() as u64 * 1_000_000_000 + ts.tv_nsec() as u64)
}

/// The shared file: the id of the releasing worker (0: nobody was waiting) and its timestamp.
struct Stamp(File);

impl Stamp {
    fn create(path: &Path) -> Res<()> {
        Ok(std::fs::write(path, [0u8; 16])?)
    }

    fn open(path: &Path) -> Res<Stamp> {
        Ok(Stamp(OpenOptions::new().read(true).write(true).open(path)?))
    }

    fn write(&self, id: u64, ns: u64) -> Res<()> {
        let mut buf = [0u8; 16];
        buf[..8].copy_from_slice(&id.to_le_bytes());
        buf[8..].copy_from_slice(&ns.to_le_bytes());
        Ok(self.0.write_all_at(&buf, 0)?)
    }

    fn read(&self) -> Res<(u64, u64)> {
        let mut buf = [0u8; 16];
        self.0.read_exact_at(&mut buf, 0)?;
        let word = |r: std::ops::Range<usize>| u64::from_le_bytes(buf[r].try_into().unwrap());
        Ok((word(0..8), word(8..16)))
    }
}

/// One worker's loop: `rounds` times acquire, record the handoff, wait for a waiter, release.
/// Returns the handoff latencies it observed, in nanoseconds.
async fn contend(
    client: &Client,
    stamp: &Stamp,
    rounds: usize,
    id: u64,
    hold: Duration,
) -> Res<Vec<u64>> {
    let lock = client.lock(LOCK_NAME);
    let mut samples = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        lock.acquire(None).await?;
        let now = mono_ns()?;
        let (from, released) = stamp.read()?;
        if from != 0 && from != id {
            samples.push(now.saturating_sub(released));
        }
        let deadline = Instant::now() + WAIT_FOR_WAITER;
        let mut waiter = false;
        while Instant::now() < deadline {
            if client.lock_queue(LOCK_NAME).await?.len() >= 2 {
                waiter = true;
                break;
            }
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        if waiter {
            tokio::time::sleep(hold).await;
        }
        stamp.write(if waiter { id } else { 0 }, mono_ns()?)?;
        lock.release().await?;
    }
    Ok(samples)
}

/// Entry point of a worker process: `URL STAMP_PATH ROUNDS ID HOLD_US`. Connects, prints
/// `ready`, waits for a line on stdin, contends, then prints one latency in nanoseconds per line.
pub fn worker_main(args: &[String]) -> Res<()> {
    let [url, stamp, rounds, id, hold] = args else {
        return Err(format!("{WORKER_CMD} expects URL STAMP_PATH ROUNDS ID HOLD_US").into());
    };
    let (rounds, id): (usize, u64) = (rounds.parse()?, id.parse()?);
    let hold = Duration::from_micros(hold.parse()?);
    let rt = crate::runtime()?;
    let client = rt.block_on(Client::connect(url))?;
    let stamp = Stamp::open(Path::new(stamp))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready")?;
    out.flush()?;
    std::io::stdin().read_line(&mut String::new())?;
    let samples = rt.block_on(contend(&client, &stamp, rounds, id, hold))?;
    for s in samples {
        writeln!(out, "{s}")?;
    }
    out.flush()?;
    Ok(())
}

/// Handoff latencies of one backend.
#[derive(Debug, Clone)]
pub struct Handoff {
    pub backend: String,
    pub mode: String,
    pub cross_process: bool,
    /// Whether the handoff targets apply (false for in-process reference runs on SQLite, and for
    /// etcd, which is compared with its raw floor instead).
    pub judged: bool,
    /// How long a holder kept the lock once a waiter was queued.
    pub hold: Duration,
    pub samples: Vec<u64>,
}

/// A histogram of latencies in nanoseconds (up to an hour, 3 significant digits).
pub fn histogram(samples: &[u64]) -> Res<Histogram<u64>> {
    let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000_000, 3)?;
    for &s in samples {
        h.record(s.max(1))?;
    }
    Ok(h)
}

/// `cfg.workers` processes of this binary contend for one lock on the store at `url`; a holder
/// keeps the lock for `hold` once a waiter is queued.
pub fn cross_process(
    rt: &tokio::runtime::Runtime,
    backend: &str,
    url: &str,
    stamp: &Path,
    cfg: &Config,
    hold: Duration,
) -> Res<Handoff> {
    Stamp::create(stamp)?;
    // Create the database before the workers start, so they do not race to set it up.
    drop(rt.block_on(Client::connect(url))?);
    let exe = std::env::current_exe()?;
    let mut children = Vec::new();
    for id in 1..=cfg.workers {
        let child = Command::new(&exe)
            .arg(WORKER_CMD)
            .arg(url)
            .arg(stamp)
            .arg(cfg.rounds.to_string())
            .arg(id.to_string())
            .arg(hold.as_micros().to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        children.push(child);
    }
    let mut readers = Vec::new();
    for child in &mut children {
        let mut out = BufReader::new(child.stdout.take().ok_or("no worker stdout")?);
        let mut line = String::new();
        out.read_line(&mut line)?;
        if line.trim() != "ready" {
            return Err(format!("handoff worker did not start (said {line:?})").into());
        }
        readers.push(out);
    }
    for child in &mut children {
        let mut stdin = child.stdin.take().ok_or("no worker stdin")?;
        stdin.write_all(b"go\n")?;
    }
    let threads: Vec<_> = readers
        .into_iter()
        .map(|out| {
            std::thread::spawn(move || -> Result<Vec<u64>, String> {
                out.lines()
                    .map(|l| {
                        let l = l.map_err(|e| e.to_string())?;
                        l.trim().parse().map_err(|e| format!("'{l}': {e}"))
                    })
                    .collect()
            })
        })
        .collect();
    let mut samples = Vec::new();
    for t in threads {
        samples.extend(t.join().map_err(|_| "reader thread panicked")??);
    }
    for mut child in children {
        let status = child.wait()?;
        if !status.success() {
            return Err(format!("handoff worker failed: {status}").into());
        }
    }
    Ok(Handoff {
        backend: backend.to_string(),
        mode: format!("cross-process, {} processes", cfg.workers),
        cross_process: true,
        judged: true,
        hold,
        samples,
    })
}

/// `cfg.workers` tasks of this process, each with its own client, contend for one lock; a holder
/// keeps the lock for `hold` once a waiter is queued. `judged`: whether the handoff targets apply
/// to the result.
pub async fn in_process(
    backend: &str,
    url: &str,
    stamp: &Path,
    cfg: &Config,
    judged: bool,
    hold: Duration,
) -> Res<Handoff> {
    Stamp::create(stamp)?;
    let barrier = Arc::new(tokio::sync::Barrier::new(cfg.workers));
    let mut tasks = Vec::new();
    for id in 1..=cfg.workers as u64 {
        let client = Client::connect(url).await?;
        let stamp = Stamp::open(stamp)?;
        let barrier = barrier.clone();
        let rounds = cfg.rounds;
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            contend(&client, &stamp, rounds, id, hold).await
        }));
    }
    let mut samples = Vec::new();
    for t in tasks {
        samples.extend(t.await??);
    }
    Ok(Handoff {
        backend: backend.to_string(),
        mode: if judged {
            format!("in-process, {} tasks (not cross-process)", cfg.workers)
        } else {
            format!("in-process, {} tasks", cfg.workers)
        },
        cross_process: false,
        judged,
        hold,
        samples,
    })
}
