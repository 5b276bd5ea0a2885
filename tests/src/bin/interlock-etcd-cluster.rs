//! A real 3-member etcd cluster on loopback for suites outside Rust (the Node package's tests,
//! its benchmark and the cross-language test), started with the same harness as the Rust suites
//! (`interlock_tests::etcd`).
//!
//! Usage: `interlock-etcd-cluster [MEMBERS]` (default 3). Once every member answers, prints one
//! line on stdout: the cluster's endpoints as `etcd://127.0.0.1:P1,…` (append
//! `?prefix=…` to use it), then runs until SIGTERM or SIGINT, and then kills
//! the members and removes their data. It gets SIGTERM when its parent dies, and the members
//! die with it even if it is SIGKILLed (parent-death signals).

use std::io::Write;

use interlock_tests::etcd::EtcdCluster;
use tokio::signal::unix::{SignalKind, signal};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    // A script killed outright must not leave a cluster behind.
    let parent = nix::unistd::getppid();
    if nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGTERM).is_err()
        || nix::unistd::getppid() != parent
    {
        eprintln!("interlock-etcd-cluster: the parent is gone; not starting");
        std::process::exit(1);
    }
    let members = match std::env::args().nth(1) {
        None => 3,
        Some(n) => n.parse().unwrap_or_else(|e| {
            eprintln!("interlock-etcd-cluster: MEMBERS must be a number ({n}: {e})");
            std::process::exit(2)
        }),
    };
    let mut terminate = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut interrupt = signal(SignalKind::interrupt()).expect("SIGINT handler");
    let cluster = tokio::task::spawn_blocking(move || EtcdCluster::start(members))
        .await
        .expect("the cluster start panicked");
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "etcd://{}", cluster.client_urls().join(",")).expect("stdout");
        out.flush().expect("stdout");
    }
    tokio::select! {
        _ = terminate.recv() => {}
        _ = interrupt.recv() => {}
    }
    drop(cluster);
}
