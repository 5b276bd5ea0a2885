//! A worker process for the linearizability fault tests: one client running random operations
//! against a store until a deadline, recording every invocation and completion in its own history
//! file (the record format of `interlock_tests::workload`), so that a test can SIGKILL workers at
//! any moment and still check what they did.
//!
//! Usage: `interlock-history-worker URL CLIENT FILE DEADLINE_NS SEED KEYS [PAUSE_US]`
//!
//! - `CLIENT`: this worker's client number (unique among the workers of a test);
//! - `DEADLINE_NS`: `CLOCK_MONOTONIC` in nanoseconds at which to stop invoking operations;
//! - `KEYS`: comma-separated keys to operate on (at least two);
//! - `PAUSE_US`: the longest random pause between operations, in microseconds (default 0).
//!
//! Exits 0 once the deadline has passed and the last operation has completed.

use std::path::Path;
use std::time::Duration;

use interlock::{Client, ErrorKind};
use interlock_tests::workload::{Picker, Recorder, execute, monotonic_ns};

fn arg(args: &[String], i: usize, what: &str) -> String {
    args.get(i)
        .cloned()
        .unwrap_or_else(|| panic!("missing argument {i}: {what}"))
}

fn number(args: &[String], i: usize, what: &str) -> u64 {
    arg(args, i, what)
        .parse()
        .unwrap_or_else(|e| panic!("argument {i} ({what}) is not a number: {e}"))
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let url = arg(&args, 1, "store URL");
    let client = number(&args, 2, "client number") as usize;
    let file = arg(&args, 3, "history file");
    let deadline = number(&args, 4, "deadline (CLOCK_MONOTONIC ns)");
    let seed = number(&args, 5, "seed");
    let keys = arg(&args, 6, "keys");
    let keys: Vec<&str> = keys.split(',').collect();
    let pause_us = if args.len() > 7 {
        number(&args, 7, "pause (µs)")
    } else {
        0
    };

    let mut recorder = Recorder::create(Path::new(&file), client)
        .unwrap_or_else(|e| panic!("create the history file {file}: {e}"));
    let db = Client::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("connect to {url}: {e}"));
    let mut picker = Picker::new(client, &keys, seed);
    let mut rng = fastrand::Rng::with_seed(seed ^ 0x5eed);
    while monotonic_ns() < deadline {
        let op = picker.next_op();
        let id = recorder.invoke(&op);
        match execute(&db, &op).await {
            Ok(ret) => {
                recorder.ok(id, &ret);
                picker.learn(&op, &ret);
            }
            Err(e) => {
                recorder.error(id, &e);
                if e.kind() == ErrorKind::Unavailable {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
        if pause_us > 0 {
            tokio::time::sleep(Duration::from_micros(rng.u64(..=pause_us))).await;
        }
    }
}
