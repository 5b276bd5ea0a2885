//! Linearizability of the etcd backend on a real 3-member cluster under member faults: five
//! clients run random compare-exchange reads, writes, deletes and two-key transactions on three
//! keys while a nemesis kills members (a random one, the leader, two at once so that quorum is
//! lost) and pauses them with SIGSTOP (the leader, a follower), then restores them. Every
//! operation is recorded; a request that fails is recorded with an unknown outcome, and the
//! whole history is checked.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use interlock::{Client, ErrorKind};
use interlock_tests::etcd::{self, EtcdCluster};
use interlock_tests::linearizability::{History, Limits, Verdict, check, render};
use interlock_tests::workload::{Picker, Summary, execute, unknown_in};

const CLIENTS: usize = 5;
const KEYS: [&str; 3] = ["k0", "k1", "k2"];
/// How long the nemesis injects faults; the clients run through it and a little after.
const FAULT_PERIOD: Duration = Duration::from_secs(15);
/// Healthy running after the last fault is repaired.
const QUIET_AFTER: Duration = Duration::from_secs(1);
/// Per-request timeout on one member and the failover budget of one request, in seconds: short,
/// so that a client stuck on a paused or dead member gives up and records an unknown outcome.
const CLIENT_OPTIONS: &str = "timeout=1&failover_timeout=5";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Fault {
    KillMember,
    KillLeader,
    PauseLeader,
    PauseFollower,
    LoseQuorum,
}

const FAULTS: [Fault; 5] = [
    Fault::KillMember,
    Fault::KillLeader,
    Fault::PauseLeader,
    Fault::PauseFollower,
    Fault::LoseQuorum,
];

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Fault::KillMember => "kill a random member, restart it",
            Fault::KillLeader => "kill the leader, restart it",
            Fault::PauseLeader => "pause the leader, resume it",
            Fault::PauseFollower => "pause a follower, resume it",
            Fault::LoseQuorum => "kill two members (no quorum), restart both",
        })
    }
}

fn millis(rng: &mut fastrand::Rng, range: std::ops::RangeInclusive<u64>) -> Duration {
    Duration::from_millis(rng.u64(range))
}

/// Injects faults for `period`, one at a time with healthy gaps between them, cycling through
/// every kind in a random order; returns how many of each it injected. Leaves every member
/// running and a leader elected.
fn nemesis(cluster: &EtcdCluster, period: Duration, rng: &mut fastrand::Rng) -> Vec<Fault> {
    let started = Instant::now();
    let mut injected = Vec::new();
    let mut plan = Vec::new();
    let leader = || cluster.wait_for_leader(Duration::from_secs(20));
    while started.elapsed() < period {
        std::thread::sleep(millis(rng, 300..=800));
        if plan.is_empty() {
            plan = FAULTS.to_vec();
            rng.shuffle(&mut plan);
        }
        let fault = plan.pop().expect("refilled above");
        let at = started.elapsed();
        let detail = match fault {
            Fault::KillMember | Fault::KillLeader => {
                let victim = if fault == Fault::KillLeader {
                    leader()
                } else {
                    rng.usize(..cluster.len())
                };
                cluster.kill(victim);
                std::thread::sleep(millis(rng, 500..=1500));
                cluster.restart(victim);
                format!("member {victim}")
            }
            Fault::PauseLeader | Fault::PauseFollower => {
                let l = leader();
                let victim = if fault == Fault::PauseLeader {
                    l
                } else {
                    (l + rng.usize(1..cluster.len())) % cluster.len()
                };
                cluster.pause(victim);
                std::thread::sleep(millis(rng, 1000..=3000));
                cluster.resume(victim);
                format!("member {victim}")
            }
            Fault::LoseQuorum => {
                let spared = rng.usize(..cluster.len());
                let victims: Vec<usize> = (0..cluster.len()).filter(|&i| i != spared).collect();
                for &v in &victims {
                    cluster.kill(v);
                }
                std::thread::sleep(millis(rng, 700..=1500));
                for &v in &victims {
                    cluster.restart(v);
                }
                format!("members {victims:?}")
            }
        };
        println!(
            "nemesis: {fault} ({detail}) at {at:.1?}, repaired at {:.1?}",
            started.elapsed()
        );
        injected.push(fault);
    }
    leader();
    injected
}

/// Sets the flag when dropped, also when the nemesis panics, so that the clients stop.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// One client: random operations until `stop`; returns its errors of kinds other than
/// `Unavailable`, which would be unexpected.
async fn client(
    n: usize,
    url: String,
    seed: u64,
    history: Arc<History>,
    stop: Arc<AtomicBool>,
) -> Vec<String> {
    let db = Client::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("connect to {url}: {e}"));
    let mut picker = Picker::new(n, &KEYS, seed);
    let mut rng = fastrand::Rng::with_seed(seed ^ 0x5eed);
    let mut unexpected = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        let op = picker.next_op();
        let id = history.invoke(n, op.clone());
        match execute(&db, &op).await {
            Ok(ret) => {
                picker.learn(&op, &ret);
                history.complete(id, ret);
            }
            Err(e) => {
                history.unknown(id);
                if e.kind() != ErrorKind::Unavailable {
                    unexpected.push(format!("client {n}: {op}: {e} ({})", e.kind()));
                }
                tokio::time::sleep(millis(&mut rng, 20..=100)).await;
            }
        }
    }
    unexpected
}

#[test]
fn etcd_history_under_member_faults_is_linearizable() {
    let _serial = etcd::serial();
    let seed = fastrand::u64(..);
    let mut rng = fastrand::Rng::with_seed(seed);
    let cluster = EtcdCluster::start(3);
    let url = format!("{}&{CLIENT_OPTIONS}", cluster.url("linearizability/"));
    let history = Arc::new(History::new());
    let stop = Arc::new(AtomicBool::new(false));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let nemesis_seed = rng.u64(..);
    let started = Instant::now();
    let (faults, unexpected) = std::thread::scope(|s| {
        let nemesis = s.spawn(|| {
            let _stop = StopOnDrop(&stop);
            let mut rng = fastrand::Rng::with_seed(nemesis_seed);
            let faults = nemesis(&cluster, FAULT_PERIOD, &mut rng);
            std::thread::sleep(QUIET_AFTER);
            faults
        });
        let tasks: Vec<_> = (0..CLIENTS)
            .map(|n| {
                runtime.spawn(client(
                    n,
                    url.clone(),
                    seed.wrapping_add(n as u64 + 1),
                    history.clone(),
                    stop.clone(),
                ))
            })
            .collect();
        let unexpected: Vec<String> = runtime.block_on(async {
            let mut all = Vec::new();
            for t in tasks {
                all.extend(t.await.expect("a client task panicked"));
            }
            all
        });
        let faults = nemesis
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        (faults, unexpected)
    });
    let ran = started.elapsed();
    drop(runtime);

    let ops = history.operations();
    let summary = Summary::of(&ops);
    let mut by_fault: BTreeMap<Fault, usize> = BTreeMap::new();
    for f in &faults {
        *by_fault.entry(*f).or_default() += 1;
    }
    let checking = Instant::now();
    let verdict = check(
        &ops,
        &Limits {
            max_steps: 50_000_000,
            max_time: Duration::from_secs(600),
        },
    );
    let took = checking.elapsed();
    let took_effect = match &verdict {
        Verdict::Linearizable { order, .. } => unknown_in(&ops, order),
        _ => 0,
    };
    let faults_text: Vec<String> = by_fault.iter().map(|(f, n)| format!("{n} × {f}")).collect();
    println!(
        "etcd, {CLIENTS} clients for {ran:.1?} (seed {seed}), {} faults:\n  {}\n{summary}\n\
         unexpected errors: {}\ncheck: {verdict} in {took:.2?}; {took_effect} unknown outcomes took \
         effect in it",
        faults.len(),
        faults_text.join("\n  "),
        unexpected.len(),
    );
    if !verdict.is_linearizable() {
        let path = std::env::temp_dir().join(format!("interlock-etcd-history-{seed}.txt"));
        let _ = std::fs::write(&path, render(&ops));
        panic!("{verdict}\n(the whole history is in {})", path.display());
    }
    assert!(
        unexpected.is_empty(),
        "errors other than Unavailable:\n{}",
        unexpected.join("\n")
    );
    assert!(
        faults.len() >= 3,
        "only {} faults were injected",
        faults.len()
    );
    summary.assert_exercised(
        200,
        &[
            ("get", "ok"),
            ("put", "committed"),
            ("put", "failed"),
            ("txn", "committed"),
            ("txn", "failed"),
        ],
    );
}
