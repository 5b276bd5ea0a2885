//! The etcd cluster harness itself (`interlock_tests::etcd`): a started cluster has one leader,
//! its members replicate, it survives and recovers from killed, paused and restarted members, and
//! nothing of it outlives its owner: neither a dropped cluster nor the shared cluster of a test
//! process that has exited.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use interlock_tests::etcd::{self, EtcdCluster};

/// Retries `put` through member `i` until it succeeds: right after an election the first
/// proposals may still fail with "leader changed". Returns how long it took.
fn put_eventually(cluster: &EtcdCluster, i: usize, key: &str, value: &str) -> Duration {
    let started = Instant::now();
    loop {
        match cluster.put(i, key, value) {
            Ok(()) => return started.elapsed(),
            Err(e) if started.elapsed() > Duration::from_secs(10) => {
                panic!("put {key} through member {i}: {e}\n{}", cluster.log_tails())
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

fn status(cluster: &EtcdCluster, i: usize) -> Value {
    cluster
        .status(i)
        .unwrap_or_else(|e| panic!("status of member {i}: {e}"))
}

/// Pids of live processes whose command line mentions `needle`.
fn processes_mentioning(needle: &Path) -> Vec<u32> {
    let needle = needle.to_string_lossy().into_owned();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("read /proc").flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        if String::from_utf8_lossy(&cmdline).contains(&needle) {
            found.push(pid);
        }
    }
    found
}

#[test]
fn starts_three_members_that_agree_on_one_leader() {
    let _serial = etcd::serial();
    let started = Instant::now();
    let cluster = EtcdCluster::start(3);
    println!("3-member etcd cluster ready in {:?}", started.elapsed());

    assert_eq!(cluster.len(), 3);
    let urls = cluster.client_urls();
    assert_eq!(urls.len(), 3);
    for (i, url) in urls.iter().enumerate() {
        assert!(url.starts_with("127.0.0.1:"), "{url}");
        assert_eq!(*url, cluster.client_url(i));
        assert!(cluster.is_running(i));
        assert!(
            cluster.data_dir(i).join("member").is_dir(),
            "member {i} has data"
        );
    }
    let mut distinct = urls.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 3, "{urls:?}");
    assert_eq!(
        cluster.url("jobs/a"),
        format!("etcd://{},{},{}?prefix=jobs/a", urls[0], urls[1], urls[2])
    );

    let leader = cluster.leader().expect("a leader once started");
    let statuses: Vec<Value> = (0..3).map(|i| status(&cluster, i)).collect();
    let mut ids = Vec::new();
    for (i, s) in statuses.iter().enumerate() {
        assert_eq!(s["header"]["member_id"], cluster.member_id(i));
        assert_eq!(
            s["leader"],
            cluster.member_id(leader),
            "member {i}'s leader"
        );
        ids.push(cluster.member_id(i));
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3, "distinct member ids");
    let self_leaders = statuses
        .iter()
        .filter(|s| s["leader"] == s["header"]["member_id"])
        .count();
    assert_eq!(self_leaders, 1, "exactly one member is its own leader");
}

#[test]
fn a_put_through_one_member_is_read_through_the_others() {
    let _serial = etcd::serial();
    let cluster = EtcdCluster::start(3);
    cluster.put(0, "greeting", "hello").expect("put through m0");
    for i in 1..3 {
        assert_eq!(
            cluster.get(i, "greeting").unwrap().as_deref(),
            Some("hello"),
            "read through m{i}"
        );
    }
    // The same read as raw gateway JSON: base64 keys and values, 64-bit numbers as strings.
    let reply = cluster
        .post(2, "/v3/kv/range", &json!({ "key": "Z3JlZXRpbmc=" }))
        .unwrap();
    assert_eq!(reply["kvs"][0]["key"], "Z3JlZXRpbmc=");
    assert_eq!(reply["kvs"][0]["value"], "aGVsbG8=");
    assert_eq!(reply["kvs"][0]["version"], "1");
    assert_eq!(reply["count"], "1");
    assert_eq!(cluster.get(1, "absent").unwrap(), None);
    // Transactions of more than etcd's default 128 operations are allowed.
    let puts: Vec<Value> = (0..200)
        .map(|n| json!({ "request_put": { "key": etcd_key(&format!("many/{n}")), "value": "eA==" } }))
        .collect();
    let reply = cluster
        .post(1, "/v3/kv/txn", &json!({ "success": puts }))
        .expect("a 200-operation transaction");
    assert_eq!(reply["succeeded"], true);
    assert_eq!(cluster.get(0, "many/199").unwrap().as_deref(), Some("x"));
}

fn etcd_key(key: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(key)
}

#[test]
fn a_killed_leader_is_replaced_and_catches_up_after_a_restart() {
    let _serial = etcd::serial();
    let cluster = EtcdCluster::start(3);
    let old = cluster.wait_for_leader(Duration::from_secs(5));
    cluster.put(old, "before", "1").unwrap();

    cluster.kill(old);
    assert!(!cluster.is_running(old));
    assert_eq!(cluster.pid(old), None);
    let killed = Instant::now();
    let new = cluster.wait_for_leader(Duration::from_secs(10));
    let elected = killed.elapsed();
    assert_ne!(new, old, "the killed member cannot lead");
    let follower = (0..3).find(|&i| i != old && i != new).unwrap();
    let first_write = put_eventually(&cluster, follower, "after", "2");
    println!(
        "leader m{old} killed: m{new} leads after {elected:?}, a write succeeds {:?} later",
        first_write
    );
    assert!(
        elected < Duration::from_secs(5),
        "re-election took {elected:?}"
    );
    assert_eq!(cluster.get(new, "after").unwrap().as_deref(), Some("2"));

    let restarted = Instant::now();
    cluster.restart(old);
    println!(
        "m{old} restarted and following in {:?}",
        restarted.elapsed()
    );
    assert!(cluster.is_running(old));
    assert_eq!(cluster.get(old, "before").unwrap().as_deref(), Some("1"));
    assert_eq!(cluster.get(old, "after").unwrap().as_deref(), Some("2"));
    cluster.wait_for_leader(Duration::from_secs(5));
}

#[test]
fn a_paused_follower_leaves_the_cluster_writable_and_resumes() {
    let _serial = etcd::serial();
    let cluster = EtcdCluster::start(3);
    let leader = cluster.wait_for_leader(Duration::from_secs(5));
    let paused = (leader + 1) % 3;

    cluster.pause(paused);
    assert!(cluster.is_running(paused) && cluster.is_paused(paused));
    assert!(
        cluster.status(paused).is_err(),
        "a paused member does not answer"
    );
    for n in 0..20 {
        put_eventually(&cluster, leader, &format!("k{n}"), &n.to_string());
    }
    let still = cluster.wait_for_leader(Duration::from_secs(5));
    assert_ne!(still, paused);

    cluster.resume(paused);
    assert!(!cluster.is_paused(paused));
    assert_eq!(cluster.get(paused, "k19").unwrap().as_deref(), Some("19"));
    cluster.put(paused, "from-resumed", "yes").unwrap();
    assert_eq!(
        cluster.get(leader, "from-resumed").unwrap().as_deref(),
        Some("yes")
    );
}

#[test]
fn a_restarted_member_sees_what_was_written_while_it_was_down() {
    let _serial = etcd::serial();
    let cluster = EtcdCluster::start(3);
    let leader = cluster.wait_for_leader(Duration::from_secs(5));
    let down = (leader + 2) % 3;
    cluster.put(down, "k", "old").unwrap();

    cluster.kill(down);
    assert!(!cluster.is_running(down));
    assert!(
        cluster.get(down, "k").is_err(),
        "a killed member does not answer"
    );
    cluster.put(leader, "k", "new").unwrap();
    cluster.put(leader, "only-while-down", "x").unwrap();

    cluster.restart(down);
    assert!(cluster.is_running(down));
    assert_eq!(cluster.get(down, "k").unwrap().as_deref(), Some("new"));
    assert_eq!(
        cluster.get(down, "only-while-down").unwrap().as_deref(),
        Some("x")
    );
    // Restarting a running member crash-restarts it.
    let pid = cluster.pid(down).unwrap();
    cluster.restart(down);
    assert_ne!(cluster.pid(down), Some(pid));
    assert_eq!(cluster.get(down, "k").unwrap().as_deref(), Some("new"));
}

#[test]
fn drop_kills_every_member_and_removes_the_data_dirs() {
    let _serial = etcd::serial();
    let cluster = EtcdCluster::start(3);
    let root = cluster.root().to_path_buf();
    let pids: Vec<u32> = (0..3).map(|i| cluster.pid(i).unwrap()).collect();
    assert_eq!(processes_mentioning(&root).len(), 3, "{pids:?}");
    cluster.pause(1);
    cluster.kill(2);
    drop(cluster);

    assert!(!root.exists(), "{} removed", root.display());
    assert_eq!(processes_mentioning(&root), Vec::<u32>::new());
    for pid in pids {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "member process {pid} is gone and reaped"
        );
    }
}

/// Set (to a file to write to) when this binary runs as the child of
/// `shared_cluster_members_die_with_the_test_process`.
const CHILD_REPORT: &str = "INTERLOCK_ETCD_HARNESS_CHILD_REPORT";

/// Runs only as that child: starts the shared cluster, writes its directory to the report file,
/// and exits the process as a test binary does, without running static destructors.
#[test]
#[ignore = "run as a child process by shared_cluster_members_die_with_the_test_process"]
fn shared_cluster_child() {
    let Some(report) = std::env::var_os(CHILD_REPORT) else {
        return;
    };
    let cluster = EtcdCluster::shared();
    assert!(std::ptr::eq(cluster, EtcdCluster::shared()), "one cluster");
    assert_eq!(cluster.len(), 3);
    cluster.put(0, "shared", "yes").unwrap();
    assert!(cluster.url("p").starts_with("etcd://127.0.0.1:"));
    std::fs::write(report, cluster.root().to_string_lossy().as_bytes()).unwrap();
    std::process::exit(0);
}

#[test]
fn shared_cluster_members_die_with_the_test_process() {
    let _serial = etcd::serial();
    let out = tempfile::tempdir().unwrap();
    let report = out.path().join("root");
    let status = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "shared_cluster_child",
            "--ignored",
            "--test-threads=1",
        ])
        .env(CHILD_REPORT, &report)
        .stdout(Stdio::null())
        .status()
        .expect("run the child test process");
    assert!(status.success(), "child test process: {status}");
    let root = std::path::PathBuf::from(std::fs::read_to_string(&report).expect("child report"));
    assert!(
        root.exists(),
        "the exited process left its cluster's directory"
    );

    let deadline = Instant::now() + Duration::from_secs(5);
    while !processes_mentioning(&root).is_empty() {
        assert!(
            Instant::now() < deadline,
            "members of an exited test process still run: {:?}",
            processes_mentioning(&root)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    etcd::remove_stale_dirs();
    assert!(
        !root.exists(),
        "a later process removes the stale directory"
    );
}
