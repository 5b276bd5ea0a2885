//! The memory soak: one client locks many distinct names with many distinct TTLs, as a service
//! that locks per entity (`orders/<id>`) does, and the process's resident memory is read before
//! and after each of three passes over new names. A client's per-name and per-TTL state is
//! bounded, so the later passes must leave the memory flat.
//!
//! `interlock-bench soak [--names N] [--ttls N] [--store URL]`

use std::time::{Duration, Instant};

use interlock::{Client, LockOptions};

use crate::Res;

pub const CMD: &str = "soak";

const USAGE: &str = "usage: interlock-bench soak [--names N] [--ttls N] [--store URL]
  --names N    distinct lock names per pass (default 100000)
  --ttls N     distinct TTLs, cycled through (default 1000)
  --store URL  the store (default: a fresh SQLite file with sync=normal)";

/// Resident memory of this process, from /proc.
fn rss_bytes() -> Res<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .ok_or("no VmRSS in /proc/self/status")?;
    let kb: u64 = line
        .split_whitespace()
        .nth(1)
        .ok_or("malformed VmRSS")?
        .parse()?;
    Ok(kb * 1024)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

pub fn main(args: &[String]) -> Res<()> {
    let mut names = 100_000u64;
    let mut ttls = 1_000u64;
    let mut store = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || {
            it.next()
                .ok_or_else(|| format!("{a} needs a value\n{USAGE}"))
        };
        match a.as_str() {
            "--names" => names = value()?.parse()?,
            "--ttls" => ttls = value()?.parse()?,
            "--store" => store = Some(value()?.clone()),
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => return Err(format!("unknown argument '{other}'\n{USAGE}").into()),
        }
    }
    if names == 0 || ttls == 0 {
        return Err("--names and --ttls must be at least 1".into());
    }
    let dir = tempfile::Builder::new()
        .prefix("interlock-soak-")
        .tempdir()?;
    let url = store.unwrap_or_else(|| {
        format!(
            "sqlite://{}?sync=normal",
            dir.path().join("soak.db").display()
        )
    });
    let rt = crate::runtime()?;
    rt.block_on(async {
        let db = Client::connect(&url).await?;
        // Warm up: the connection, the runtime's threads, the allocator's first arenas.
        for i in 0..1_000u64 {
            cycle(&db, &format!("warmup/{i}"), i % ttls).await?;
        }
        let before = rss_bytes()?;
        println!("## Memory soak: {names} distinct lock names per pass, {ttls} distinct TTLs, one client, {url}");
        println!();
        println!("| point | RSS | growth over the previous point |");
        println!("|---|---:|---:|");
        println!("| before (after 1,000 warm-up locks) | {:.1} MiB | |", mib(before));
        // The control: as many lock cycles on one name with one TTL, so the store's own caches
        // and the allocator reach their working size before the distinct names start.
        let start = Instant::now();
        for _ in 0..names {
            cycle(&db, "control", 0).await?;
        }
        let control = rss_bytes()?;
        println!(
            "| after the control ({names} cycles of one name, one TTL, {:.1} s) | {:.1} MiB | {:+.1} MiB |",
            start.elapsed().as_secs_f64(),
            mib(control),
            mib(control) - mib(before)
        );
        let mut last = control;
        for (pass, prefix) in ["orders", "invoices", "shipments"].iter().enumerate() {
            let start = Instant::now();
            for i in 0..names {
                cycle(&db, &format!("{prefix}/{i}"), i % ttls).await?;
            }
            let now = rss_bytes()?;
            println!(
                "| after pass {} ({names} new names, {:.1} s) | {:.1} MiB | {:+.1} MiB |",
                pass + 1,
                start.elapsed().as_secs_f64(),
                mib(now),
                mib(now) - mib(last)
            );
            last = now;
        }
        println!();
        println!(
            "growth over the three passes of distinct names: {:+.1} MiB",
            mib(last) - mib(control)
        );
        println!(
            "shared lock leases kept alive at the end: {}",
            db.shared_lease_count()
        );
        db.close().await?;
        Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
    })
}

/// One lock+unlock of `name` with a TTL of 5 s + `ttl_step` s, on a new lock object each time
/// (as `with db.lock(name)` makes).
async fn cycle(db: &Client, name: &str, ttl_step: u64) -> Res<()> {
    let lock = db.lock_with(
        name,
        LockOptions {
            ttl: Duration::from_secs(5 + ttl_step),
            ..LockOptions::default()
        },
    );
    lock.acquire(None).await?;
    lock.release().await?;
    Ok(())
}
