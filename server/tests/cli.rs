//! The command-line verbs as a user runs them: real `interlock` processes on a real SQLite file
//! (and through a real server), checking output, exit codes and the `lock` verb's exclusion,
//! fencing token and loss handling.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use interlock_tests::Store;
use interlock_tests::server::Server;
use serde_json::{Value, json};

const EXE: &str = env!("CARGO_BIN_EXE_interlock");

fn run(store: &str, args: &[&str]) -> Output {
    Command::new(EXE)
        .args(args)
        .env("INTERLOCK_URL", store)
        .env_remove("INTERLOCK_TOKEN")
        .output()
        .expect("run interlock")
}

fn json_lines(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn get_put_del_ls_print_json_and_exit_with_documented_codes() {
    let store = Store::sqlite();
    let url = store.url.as_str();
    let put = run(
        url,
        &["put", "emails/a@b.c", r#""users/1""#, "--index", "0"],
    );
    assert_eq!(put.status.code(), Some(0), "{}", stderr(&put));
    let created = &json_lines(&put)[0];
    assert_eq!(created["successful"], json!(true));
    let index = created["index"].as_u64().unwrap();

    // A compare-exchange that does not hold: exit 1, the current entry reported.
    let dup = run(
        url,
        &["put", "emails/a@b.c", r#""users/2""#, "--index", "0"],
    );
    assert_eq!(dup.status.code(), Some(1));
    assert_eq!(
        json_lines(&dup)[0],
        json!({ "successful": false, "index": index, "value": "users/1" })
    );
    assert!(stderr(&dup).contains("emails/a@b.c"), "{}", stderr(&dup));

    let got = run(url, &["get", "emails/a@b.c"]);
    assert_eq!(got.status.code(), Some(0));
    assert_eq!(
        json_lines(&got)[0],
        json!({ "key": "emails/a@b.c", "value": "users/1", "index": index })
    );
    let missing = run(url, &["get", "emails/nobody"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(missing.stdout.is_empty());
    assert!(
        stderr(&missing).contains("no entry"),
        "{}",
        stderr(&missing)
    );

    assert_eq!(
        run(url, &["put", "docs/2", r#"{"n": 2}"#]).status.code(),
        Some(0)
    );
    assert_eq!(
        run(url, &["put", "docs/1", "[1, true, null]"])
            .status
            .code(),
        Some(0)
    );
    let listed = json_lines(&run(url, &["ls", "docs/"]));
    assert_eq!(
        listed.iter().map(|e| e["key"].clone()).collect::<Vec<_>>(),
        vec![json!("docs/1"), json!("docs/2")]
    );
    assert_eq!(listed[0]["value"], json!([1, true, null]));

    // Bad input: exit 2, a message naming the problem, nothing written.
    for (args, says) in [
        (vec!["put", "docs/3", "not json"], "not JSON"),
        (vec!["put", "@lock/x", "1"], "reserved"),
        (vec!["put", "", "1"], "empty"),
        (vec!["get"], "KEY"),
        (vec!["frobnicate"], "unrecognized"),
    ] {
        let out = run(url, &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(says), "{args:?}: {}", stderr(&out));
    }
    assert_eq!(json_lines(&run(url, &["ls", "docs/"])).len(), 2);

    let stale = run(url, &["del", "docs/1", "--index", "1"]);
    assert_eq!(stale.status.code(), Some(1));
    assert_eq!(run(url, &["del", "docs/1"]).status.code(), Some(0));
    assert_eq!(run(url, &["get", "docs/1"]).status.code(), Some(1));

    // The store cannot be opened: exit 3.
    let out = run("http://127.0.0.1:1", &["get", "k"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
}

#[test]
fn lock_runs_the_command_holding_the_lock_with_its_fencing_token() {
    let store = Store::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    // Each command appends "start TOKEN", sleeps, appends "end TOKEN": under the lock the lines
    // pair up, in token order.
    let script = format!(
        "echo start $INTERLOCK_FENCING_TOKEN >> {0}; sleep 0.2; echo end $INTERLOCK_FENCING_TOKEN >> {0}; exit 3",
        log.display()
    );
    let children: Vec<_> = (0..4)
        .map(|_| {
            Command::new(EXE)
                .args(["lock", "printer", "--ttl", "10", "--", "sh", "-c", &script])
                .env("INTERLOCK_URL", &store.url)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("run interlock lock")
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        // The command's own exit status comes through.
        assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    }
    let lines: Vec<String> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(lines.len(), 8, "{lines:?}");
    let mut last = 0u64;
    for pair in lines.chunks(2) {
        let start: u64 = pair[0]
            .strip_prefix("start ")
            .expect("start line")
            .parse()
            .unwrap();
        let end: u64 = pair[1]
            .strip_prefix("end ")
            .expect("end line")
            .parse()
            .unwrap();
        assert_eq!(start, end, "two commands overlapped: {lines:?}");
        assert!(start > last, "tokens not increasing: {lines:?}");
        last = start;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_reports_a_timeout_and_a_lost_lock() {
    let store = Store::sqlite();
    let db = store.client().await;
    let holder = db.lock("busy");
    holder.acquire(None).await.unwrap();
    let out = run(
        &store.url,
        &["lock", "busy", "--timeout", "0.3", "--", "true"],
    );
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(stderr(&out).contains("busy"), "{}", stderr(&out));
    holder.release().await.unwrap();

    // The command runs; another client revokes the lock's lease: `lock` reports the loss,
    // stops the command and exits 5.
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("finished");
    // Short sleeps, so that the shell acts on the SIGTERM within 0.1 s.
    let script = format!(
        "trap 'exit 143' TERM; for i in $(seq 300); do sleep 0.1; done; touch {}",
        marker.display()
    );
    let child = Command::new(EXE)
        .args(["lock", "job", "--ttl", "5", "--", "sh", "-c", &script])
        .env("INTERLOCK_URL", &store.url)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let lease = loop {
        let queue = db.lock_queue("job").await.unwrap();
        if let Some(lease) = queue.first().and_then(|w| w.lease) {
            break lease;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the lock was never taken"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(db.revoke(lease).await.unwrap());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("lost the lock 'job'"),
        "{}",
        stderr(&out)
    );
    assert!(
        !marker.exists(),
        "the command ran on after the lock was lost"
    );
}

#[test]
fn verbs_work_through_a_server_with_the_token_from_the_environment() {
    let store = Store::sqlite();
    let server = Server::start(EXE, &store.url, &["--token", "t0ken"]);
    let with = |token: &str, args: &[&str]| {
        Command::new(EXE)
            .args(args)
            .env("INTERLOCK_URL", &server.url)
            .env("INTERLOCK_TOKEN", token)
            .output()
            .unwrap()
    };
    assert_eq!(
        with("t0ken", &["put", "k", "1", "--index", "0"])
            .status
            .code(),
        Some(0)
    );
    let got = with("t0ken", &["get", "k"]);
    assert_eq!(json_lines(&got)[0]["value"], json!(1));
    // No token: the message says how the CLI takes one.
    let missing = Command::new(EXE)
        .args(["get", "k"])
        .env("INTERLOCK_URL", &server.url)
        .env_remove("INTERLOCK_TOKEN")
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(3), "{}", stderr(&missing));
    for word in ["needs a bearer token", "--token", "INTERLOCK_TOKEN"] {
        assert!(stderr(&missing).contains(word), "{}", stderr(&missing));
    }
    let refused = with("wrong", &["get", "k"]);
    assert_eq!(refused.status.code(), Some(3));
    assert!(stderr(&refused).contains("token"), "{}", stderr(&refused));
    // A token a header cannot carry is bad input, named as such.
    let garbled = with("a\nb", &["get", "k"]);
    assert_eq!(garbled.status.code(), Some(2), "{}", stderr(&garbled));
    assert!(
        stderr(&garbled).contains("INTERLOCK_TOKEN"),
        "{}",
        stderr(&garbled)
    );
    let locked = with(
        "t0ken",
        &[
            "lock",
            "l",
            "--",
            "sh",
            "-c",
            "test -n \"$INTERLOCK_FENCING_TOKEN\"",
        ],
    );
    assert_eq!(locked.status.code(), Some(0), "{}", stderr(&locked));
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{what} did not happen within 30 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn send(child: &std::process::Child, signal: nix::sys::signal::Signal) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), signal).unwrap();
}

#[test]
fn signals_reach_the_command_and_a_waiter_leaves_the_queue_at_once() {
    let store = Store::sqlite();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(store.client());
    let queue = |db: &interlock::Client| rt.block_on(db.lock_queue("job")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("got-term");
    // The command notes the SIGTERM passed on to it, then exits.
    let script = format!(
        "trap 'echo TERM > {}; exit 0' TERM; for i in $(seq 300); do sleep 0.1; done",
        marker.display()
    );
    let holder = Command::new(EXE)
        .args(["lock", "job", "--ttl", "10", "--", "sh", "-c", &script])
        .env("INTERLOCK_URL", &store.url)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("the holder taking the lock", || queue(&db).len() == 1);
    let waiter = Command::new(EXE)
        .args(["lock", "job", "--ttl", "10", "--", "true"])
        .env("INTERLOCK_URL", &store.url)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("the waiter queueing", || queue(&db).len() == 2);

    // Ctrl-C while waiting: the waiter's entry goes at once, not at its lease's expiry.
    send(&waiter, nix::sys::signal::Signal::SIGINT);
    let out = waiter.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert_eq!(
        queue(&db).len(),
        1,
        "the interrupted waiter is still queued"
    );

    // SIGTERM while the command runs: passed on, then the lock is released.
    send(&holder, nix::sys::signal::Signal::SIGTERM);
    let out = holder.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(143), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&marker).unwrap().trim(), "TERM");
    assert!(queue(&db).is_empty(), "the lock was not released");
}

/// Out-of-range numbers get a usage error naming the option, never a panic (exit 101) or a
/// backtrace.
#[test]
fn out_of_range_timeouts_and_ttls_are_usage_errors() {
    let store = Store::sqlite();
    let url = store.url.as_str();
    for args in [
        &["lock", "--timeout", "1e19", "range", "--", "true"][..],
        &["lock", "--timeout", "1e300", "range", "--", "true"],
        &["lock", "--timeout=-1", "range", "--", "true"],
        &["lock", "--timeout", "NaN", "range", "--", "true"],
        &["lock", "--ttl", "1e19", "range", "--", "true"],
        &["lock", "--ttl", "0", "range", "--", "true"],
        &["lock", "--ttl", "-1", "range", "--", "true"],
        &["lock", "--timeout", "-0.5", "range", "--", "true"],
    ] {
        let out = run(url, args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            !err.contains("panicked") && !err.contains("backtrace"),
            "{args:?}: {err}"
        );
        assert!(
            err.contains("timeout") || err.contains("ttl") || err.contains("TTL"),
            "{args:?}: {err}"
        );
        if args[2].starts_with("1e") {
            assert!(err.contains("too long"), "{args:?}: {err}");
        }
    }
    // The queue was left empty.
    let ls = run(url, &["ls", "@lock/"]);
    assert_eq!(ls.status.code(), Some(0), "{}", stderr(&ls));
    assert!(json_lines(&ls).is_empty(), "{:?}", json_lines(&ls));
}

/// What a user mistypes gets a message in interlock's words, naming the value and the rule, and
/// writes nothing; what clap would refuse but a shell user means (a negative number) is taken.
#[test]
fn values_indexes_and_durations_are_checked_in_plain_words() {
    let store = Store::sqlite();
    let url = store.url.as_str();
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    // Past the limit but within what a JSON reader parses: the store's rule names it.
    let deeper_than_the_limit = format!("{}{}", "[".repeat(101), "]".repeat(101));
    let long = "x".repeat(300);
    let no_jargon = |args: &[&str], err: &str| {
        for word in [
            "ident",
            "invalid digit",
            "expected",
            "0..=255",
            "serde",
            "panicked",
        ] {
            assert!(!err.contains(word), "{args:?} says {word:?}: {err}");
        }
    };
    // Integers beyond 64 bits would come back rounded: refused, named, nothing written.
    for (args, says) in [
        (
            &["put", "big", "123456789012345678901234567890"][..],
            "123456789012345678901234567890",
        ),
        (
            &[
                "put",
                "big",
                r#"{"a": [1, "99999999999999999999", -99999999999999999999]}"#,
            ],
            "-99999999999999999999",
        ),
        (&["put", "big", "hello"], "not JSON"),
        (&["put", "big", r#"{"a":"#], "ends too early"),
        (&["put", "big", "1e400"], "beyond the range of JSON numbers"),
        (
            &["put", "big", &deep],
            "more than 100 levels deep, the limit",
        ),
        (
            &["put", "big", &deeper_than_the_limit],
            "nests arrays or objects more than 100 levels deep; the limit is 100",
        ),
        (&["put", "big", &long], "… (300 characters) is not JSON"),
    ] {
        let out = run(url, args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(
            err.len() < 300,
            "{args:?}: the message repeats the value: {err}"
        );
        no_jargon(args, &err);
    }
    assert_eq!(run(url, &["get", "big"]).status.code(), Some(1));
    // What 64 bits hold exactly is kept exactly.
    let exact = r#"{"a":[18446744073709551615,-9223372036854775808,1.5]}"#;
    assert_eq!(run(url, &["put", "exact", exact]).status.code(), Some(0));
    assert_eq!(
        json_lines(&run(url, &["get", "exact"]))[0]["value"],
        serde_json::from_str::<Value>(exact).unwrap()
    );
    // A negative number is a value, not an option.
    let neg = run(url, &["put", "neg", "-5"]);
    assert_eq!(neg.status.code(), Some(0), "{}", stderr(&neg));
    assert_eq!(
        json_lines(&run(url, &["get", "neg"]))[0]["value"],
        json!(-5)
    );

    // Compare-exchanges that do not hold say why, without an "index 0" for a missing key.
    for (args, says) in [
        (&["del", "missing"][..], "there is no entry at it"),
        (
            &["del", "neg", "--index", "99"],
            "it is not at index 99, it is at",
        ),
        (
            &["put", "neg", "1", "--index", "0"],
            "--index 0 writes only where no entry is",
        ),
        (
            &["put", "nobody", "1", "--index", "7"],
            "it is not at index 7, it has no entry",
        ),
    ] {
        let out = run(url, args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(
            !err.contains("index 0\n") && !err.contains("at index 0"),
            "{args:?}: {err}"
        );
    }

    // Arguments clap parses: our rule, not Rust's parse error.
    for (args, says) in [
        (
            &["put", "k", "1", "--index", "abc"][..],
            &["--index", "whole number from 0 to 18446744073709551615"][..],
        ),
        (
            &["put", "k", "1", "--index", "99999999999999999999999"],
            &["whole number"],
        ),
        (&["watch", "--from", "-1"], &["--from", "whole number"]),
        (
            &["lock", "x", "--ttl", "inf", "--", "true"],
            &["--ttl", "too long", "9000000000 s"],
        ),
        (
            &["lock", "x", "--timeout", "soon", "--", "true"],
            &["--timeout", "not a number of seconds"],
        ),
        (
            &["lock", "x", "-n", "-E", "300", "--", "true"],
            &["conflict-exit-code", "0 to 255"],
        ),
        (
            &["serve", "--request-timeout", "-1"],
            &["--request-timeout", "negative"],
        ),
        (
            &["serve", "--listen", "127.0.0.1"],
            &["--listen", "HOST:PORT", "localhost:0"],
        ),
        (
            &["serve", "--request-timeout", "1e300"],
            &["--request-timeout", "too long"],
        ),
    ] {
        let out = run(url, args);
        assert_usage_error(&out, args, says);
        no_jargon(args, &stderr(&out));
        assert!(stderr(&out).len() < 400, "{args:?}: {}", stderr(&out));
    }

    // `completions` takes no store: its help does not offer one.
    let help = run(url, &["completions", "--help"]);
    assert_eq!(help.status.code(), Some(0), "{}", stderr(&help));
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        !help.contains("--store") && !help.contains("--token"),
        "{help}"
    );
}

/// SIGTERM to `interlock lock` reaches the whole process group of the command: a wrapper
/// script's own child stops too, so nothing of the first holder's work runs after the next
/// holder starts.
#[test]
fn a_signal_reaches_the_processes_a_wrapper_script_started() {
    let store = Store::sqlite();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(store.client());
    let queue = |db: &interlock::Client| rt.block_on(db.lock_queue("wrapped")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    // The wrapper runs the real work as a child of its own and waits for it.
    let job = |who: &str| {
        format!(
            "sh -c 'echo {who} start >> {log}; sleep 3; echo {who} end >> {log}'; echo {who} wrapper done >> {log}",
            log = log.display()
        )
    };
    let first = Command::new(EXE)
        .args([
            "lock",
            "wrapped",
            "--ttl",
            "30",
            "--",
            "sh",
            "-c",
            &job("A"),
        ])
        .env("INTERLOCK_URL", &store.url)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("A starting", || {
        std::fs::read_to_string(&log).is_ok_and(|l| l.contains("A start"))
    });
    let second = Command::new(EXE)
        .args([
            "lock",
            "wrapped",
            "--ttl",
            "30",
            "--",
            "sh",
            "-c",
            &job("B"),
        ])
        .env("INTERLOCK_URL", &store.url)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("B queueing", || queue(&db).len() == 2);
    send(&first, nix::sys::signal::Signal::SIGTERM);
    let out = first.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(143), "{}", stderr(&out));
    let out = second.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    std::thread::sleep(Duration::from_secs(1));
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(
        !log.contains("A end"),
        "A's work went on after SIGTERM:\n{log}"
    );
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(
        lines,
        ["A start", "B start", "B end", "B wrapper done"],
        "{log}"
    );
}

/// A force-release stops the command at once (not at the lease's next renewal), and a command
/// that ignores SIGTERM (so does its `sleep`, which inherits that) gets SIGKILL after the grace
/// period; `interlock` exits 5.
#[test]
fn a_force_release_stops_the_command_at_once_even_one_that_ignores_sigterm() {
    let store = Store::sqlite();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(store.client());
    let dir = tempfile::tempdir().unwrap();
    let late = dir.path().join("late");
    let script = format!(
        "trap '' TERM; echo started; sleep 20; echo late > {}",
        late.display()
    );
    let mut holder = Command::new(EXE)
        .args(["lock", "forced", "--ttl", "600", "--", "sh", "-c", &script])
        .env("INTERLOCK_URL", &store.url)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The command has set its trap (a SIGTERM before that would end it at once).
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(holder.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line.trim(), "started");
    assert_eq!(rt.block_on(db.lock_queue("forced")).unwrap().len(), 1);
    let started = Instant::now();
    rt.block_on(interlock_tests::conformance::lifecycle::force_release(
        &db, "forced",
    ));
    let out = holder.wait_with_output().unwrap();
    // Its lease renews only every 200 s: anything under a minute was the watch of its entry.
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "the command ran on for {:?}",
        started.elapsed()
    );
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(stderr(&out).contains("SIGKILL"), "{}", stderr(&out));
    assert!(!late.exists(), "the command ran on after SIGKILL");
}

/// A command that cannot be run exits as shells report it: 127 not found, 126 not runnable.
#[test]
fn a_command_that_cannot_run_exits_127_or_126() {
    let store = Store::sqlite();
    let url = store.url.as_str();
    let out = run(url, &["lock", "exec", "--", "no-such-command-anywhere"]);
    assert_eq!(out.status.code(), Some(127), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no-such-command-anywhere"),
        "{}",
        stderr(&out)
    );
    let dir = tempfile::tempdir().unwrap();
    let out = run(url, &["lock", "exec", "--", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(126), "{}", stderr(&out));
    let ls = run(url, &["ls", "@lock/"]);
    assert!(json_lines(&ls).is_empty(), "the lock was released");
}

/// Run from a terminal (a real pseudo-terminal, driven by Python's `pty`), the command reads it,
/// and Ctrl-C reaches the command once: a Python program's cleanup after KeyboardInterrupt is
/// not interrupted by a second SIGINT.
#[test]
fn an_interactive_command_reads_the_terminal_and_gets_ctrl_c_once() {
    let store = Store::sqlite();
    let driver = r#"
import os, pty, select, sys, time
exe, args, inputs = sys.argv[1], sys.argv[2].split("\x1f"), sys.argv[3]
pid, fd = pty.fork()
if pid == 0:
    os.execv(exe, [exe] + args)
out = b""
def pump(seconds):
    global out
    end = time.time() + seconds
    while time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.05)
        if r:
            try:
                data = os.read(fd, 1000)
            except OSError:
                return
            if not data:
                return
            out += data
pump(1.5)
os.write(fd, inputs.encode())
pump(4)
_, status = os.waitpid(pid, 0)
print(os.waitstatus_to_exitcode(status))
print(out.decode(errors="replace"))
"#;
    let drive = |args: &[&str], input: &str| {
        let out = Command::new("python3")
            .args(["-c", driver, EXE, &args.join("\x1f"), input])
            .env("INTERLOCK_URL", &store.url)
            .output()
            .expect("python3 runs the terminal driver");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let read = drive(
        &["lock", "tty", "--", "sh", "-c", "read a; echo got:$a"],
        "hello\n",
    );
    assert!(read.starts_with("0\n"), "{read}");
    assert!(read.contains("got:hello"), "{read}");
    let cleanup = "import sys, time\ntry:\n    time.sleep(100)\nexcept KeyboardInterrupt:\n    print('cleaning', flush=True)\n    time.sleep(1)\n    print('clean done', flush=True)\n    sys.exit(0)\n";
    let ctrl_c = drive(&["lock", "tty", "--", "python3", "-c", cleanup], "\x03");
    assert!(ctrl_c.contains("clean done"), "{ctrl_c}");
    assert!(
        ctrl_c.starts_with("0\n"),
        "the command's own status: {ctrl_c}"
    );
    assert!(!ctrl_c.contains("Traceback"), "{ctrl_c}");
}

/// Runs `interlock` with `args` and `env` (INTERLOCK_URL and INTERLOCK_TOKEN unset unless given
/// there), failing the test if it has not exited within `limit`.
fn run_within(limit: Duration, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(EXE);
    command
        .args(args)
        .env_remove("INTERLOCK_URL")
        .env_remove("INTERLOCK_TOKEN")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("run interlock");
    let start = Instant::now();
    while child.try_wait().expect("wait for interlock").is_none() {
        if start.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "{args:?} still ran after {limit:?}; stderr: {}",
                stderr(&out)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().unwrap()
}

/// A usage error: exit 2, clap's or our message naming each of `says`, no panic.
fn assert_usage_error(out: &Output, args: &[&str], says: &[&str]) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    for word in says {
        assert!(err.contains(word), "{args:?} should name {word:?}: {err}");
    }
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{args:?}: {err}"
    );
}

/// `lock -n` fails at once when the lock is taken, with 4 or `-E`'s code, and never runs the
/// command; `--timeout` ends with `-E`'s code too; a free lock is taken as without `-n`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_nonblock_and_conflict_exit_code_act_like_flocks() {
    let store = Store::sqlite();
    let url = store.url.clone();
    let db = store.client().await;
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let touch = format!("touch {}", marker.display());
    let env = [("INTERLOCK_URL", url.as_str())];
    let lock = |args: &[&str]| {
        let mut all = vec!["lock", "busy"];
        all.extend_from_slice(args);
        tokio::task::block_in_place(|| run_within(Duration::from_secs(30), &all, &env))
    };

    // Free: -n takes it and runs the command with its fencing token, whose status comes
    // through.
    let out = lock(&[
        "-n",
        "--",
        "sh",
        "-c",
        "test -n \"$INTERLOCK_FENCING_TOKEN\" && exit 7",
    ]);
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));

    let holder = db.lock("busy");
    let token = holder.acquire(None).await.unwrap();
    for (args, code) in [
        (&["-n", "--", "sh", "-c", touch.as_str()][..], 4),
        (&["--nonblock", "--", "sh", "-c", touch.as_str()], 4),
        (&["-n", "-E", "75", "--", "sh", "-c", touch.as_str()], 75),
        (
            &[
                "--conflict-exit-code=0",
                "-n",
                "--",
                "sh",
                "-c",
                touch.as_str(),
            ],
            0,
        ),
        (
            &["-E", "255", "--nonblock", "--", "sh", "-c", touch.as_str()],
            255,
        ),
    ] {
        let started = Instant::now();
        let out = lock(args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
        // At once: well under the lock's default TTL of 20 s, and no waiting at all.
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{args:?} took {:?}",
            started.elapsed()
        );
        assert!(
            err.contains("'busy'") && err.contains("--nonblock"),
            "{args:?}: {err}"
        );
        assert!(
            err.contains(&format!("fencing token {token}")),
            "names the holder: {err}"
        );
        assert!(
            !marker.exists(),
            "{args:?} ran the command without the lock"
        );
    }
    // -E with --timeout: the timeout's code.
    let out = lock(&["--timeout", "0.3", "-E", "9", "--", "sh", "-c", &touch]);
    assert_eq!(out.status.code(), Some(9), "{}", stderr(&out));
    assert!(stderr(&out).contains("busy"), "{}", stderr(&out));
    assert!(!marker.exists());
    // Nobody was left queued behind the holder.
    let queue = db.lock_queue("busy").await.unwrap();
    assert_eq!(
        queue.len(),
        1,
        "{:?}",
        queue.iter().map(|w| &w.key).collect::<Vec<_>>()
    );
    holder.release().await.unwrap();

    // Usage errors name the argument, the value and the rule; nothing is run or queued.
    for (args, says) in [
        (
            &["-n", "--timeout", "1", "--", "true"][..],
            &["--nonblock", "--timeout"][..],
        ),
        (
            &["-E", "3", "--", "true"],
            &["--conflict-exit-code 3", "--nonblock", "--timeout"],
        ),
        (
            &["-n", "-E", "256", "--", "true"],
            &["--conflict-exit-code", "256", "0 to 255"],
        ),
        (
            &["-n", "-E", "-1", "--", "true"],
            &["--conflict-exit-code", "-1", "0 to 255"],
        ),
        (
            &["-n", "-E", "x", "--", "true"],
            &["--conflict-exit-code", "'x'"],
        ),
        (&["-n", "-E", "--", "true"], &["--conflict-exit-code"]),
    ] {
        let out = lock(args);
        assert_usage_error(&out, args, says);
    }
    assert!(db.lock_queue("busy").await.unwrap().is_empty());
}

#[test]
fn version_prints_the_version() {
    for flag in ["--version", "-V"] {
        let out = run_within(Duration::from_secs(10), &[flag], &[]);
        assert_eq!(out.status.code(), Some(0), "{flag}: {}", stderr(&out));
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("interlock {}\n", env!("CARGO_PKG_VERSION")),
            "{flag}"
        );
    }
}

/// The entries of the `Arguments:` and `Options:` (and `Commands:`) sections of a help text that
/// have no description.
fn undescribed(help: &str) -> Vec<String> {
    let mut missing = Vec::new();
    let mut in_list = false;
    for line in help.lines() {
        if !line.starts_with(' ') {
            in_list = matches!(line, "Arguments:" | "Options:" | "Commands:");
            continue;
        }
        // An entry is its name, then at least two spaces, then its description.
        let described = line
            .trim()
            .split_once("  ")
            .is_some_and(|(_, text)| !text.trim().is_empty());
        if in_list && !described {
            missing.push(line.trim().to_string());
        }
    }
    missing
}

/// Every subcommand and argument has a description; the help names the environment variables
/// it reads but never their values, set or not.
#[test]
fn help_describes_every_argument_and_shows_no_environment_values() {
    let subcommands = [
        "",
        "serve",
        "get",
        "put",
        "del",
        "ls",
        "watch",
        "lock",
        "completions",
    ];
    let secret_env = [
        ("INTERLOCK_URL", "sqlite:///tmp/url-secret.db"),
        ("INTERLOCK_TOKEN", "token-secret"),
    ];
    for env in [&secret_env[..], &[]] {
        for sub in subcommands {
            let mut args: Vec<&str> = vec![];
            if !sub.is_empty() {
                args.push(sub);
            }
            args.push("--help");
            let out = run_within(Duration::from_secs(10), &args, env);
            let help = String::from_utf8_lossy(&out.stdout).into_owned();
            assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
            assert!(help.contains("Usage: interlock"), "{args:?}: {help}");
            assert_eq!(undescribed(&help), Vec::<String>::new(), "{args:?}: {help}");
            assert!(!help.contains("secret"), "{args:?} shows a value: {help}");
            assert!(!help.contains("INTERLOCK_URL="), "{args:?}: {help}");
            assert!(!help.contains("INTERLOCK_TOKEN="), "{args:?}: {help}");
            // Every command but `completions` takes the store and the token.
            let takes_store = sub != "completions";
            assert_eq!(
                help.contains("[env: INTERLOCK_URL]"),
                takes_store,
                "{args:?}: {help}"
            );
            assert_eq!(
                help.contains("[env: INTERLOCK_TOKEN]"),
                takes_store,
                "{args:?}: {help}"
            );
        }
    }
    // The help of `lock` documents its new flags and the top-level one the exit codes.
    let lock = run_within(Duration::from_secs(10), &["help", "lock"], &[]);
    let lock = String::from_utf8_lossy(&lock.stdout);
    for flag in [
        "-n, --nonblock",
        "-E, --conflict-exit-code <CODE>",
        "--timeout <SECONDS>",
    ] {
        assert!(lock.contains(flag), "{flag}: {lock}");
    }
    let top = run_within(Duration::from_secs(10), &["--help"], &[]);
    let top = String::from_utf8_lossy(&top.stdout);
    for code in ["4 `lock` did not get the lock", "126", "127", "-E"] {
        assert!(top.contains(code), "{code}: {top}");
    }
    // The checker itself sees a missing description.
    assert_eq!(
        undescribed("Arguments:\n  <NAME>        \n  <COMMAND>...  The command\n"),
        vec!["<NAME>".to_string()]
    );
}

/// `completions SHELL` prints a script that completes the subcommands and flags; bash loads
/// it. A closed stdout is no panic; an unknown shell is a usage error listing the known ones.
#[test]
fn completions_print_a_script_for_each_shell() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = run_within(Duration::from_secs(10), &["completions", shell], &[]);
        assert_eq!(out.status.code(), Some(0), "{shell}: {}", stderr(&out));
        let script = String::from_utf8_lossy(&out.stdout);
        for word in [
            "interlock",
            "serve",
            "lock",
            "nonblock",
            "conflict-exit-code",
            "completions",
        ] {
            assert!(script.contains(word), "{shell}: no {word:?} in\n{script}");
        }
    }
    // bash: the script loads, registers the completion, and completes a subcommand and a flag.
    let script = String::from_utf8_lossy(
        &run_within(Duration::from_secs(10), &["completions", "bash"], &[]).stdout,
    )
    .into_owned();
    let probe = r#"
eval "$1"
complete -p interlock
COMP_WORDS=(interlock lo); COMP_CWORD=1; _interlock interlock lo interlock; echo "words: ${COMPREPLY[*]}"
COMP_WORDS=(interlock lock --non); COMP_CWORD=2; _interlock interlock --non lock; echo "flags: ${COMPREPLY[*]}"
"#;
    let out = Command::new("bash")
        .args(["-c", probe, "probe", &script])
        .output()
        .expect("bash runs");
    let said = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{said}{}", stderr(&out));
    assert!(
        said.starts_with("complete -o bashdefault -o default -o nosort -F _interlock interlock\n"),
        "{said}"
    );
    assert!(said.contains("\nwords: lock\n"), "{said}");
    assert!(said.contains("\nflags: --nonblock\n"), "{said}");

    // Nobody reads the script: the write fails quietly.
    let mut child = Command::new(EXE)
        .args(["completions", "zsh"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));

    let args = ["completions", "nosh"];
    let out = run_within(Duration::from_secs(10), &args, &[]);
    assert_usage_error(&out, &args, &["'nosh'", "bash", "zsh", "fish"]);
    let args = ["completions"];
    let out = run_within(Duration::from_secs(10), &args, &[]);
    assert_usage_error(&out, &args, &["<SHELL>"]);
}

/// A started `interlock serve`: its first lines of output, and the process, killed when dropped.
struct Serving {
    child: std::process::Child,
    lines: Vec<String>,
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `interlock serve --listen 127.0.0.1:0` with `args` and `env`, and reads `lines` lines
/// of its output.
fn serve(args: &[&str], env: &[(&str, &str)], lines: usize) -> Serving {
    use std::io::BufRead;
    let mut command = Command::new(EXE);
    command
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(args)
        .env_remove("INTERLOCK_URL")
        .env_remove("INTERLOCK_TOKEN")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = interlock_tests::etcd::spawn_dying_with_process(command).unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut serving = Serving {
        child,
        lines: Vec::new(),
    };
    for _ in 0..lines {
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        serving.lines.push(line.trim_end().to_string());
    }
    serving
}

/// `serve` prints where it listens, then where the dashboard is (never the token), and the
/// dashboard is there.
#[test]
fn serve_prints_the_dashboards_address_without_the_token() {
    let store = Store::sqlite();
    for token in [None, Some("tok-6c1f")] {
        let mut args = vec!["--store", store.url.as_str()];
        if let Some(t) = token {
            args.extend(["--token", t]);
        }
        let server = serve(&args, &[], 2);
        let (first, second) = (&server.lines[0], &server.lines[1]);
        let base = first
            .rsplit_once(" on ")
            .map(|(_, url)| url.to_string())
            .unwrap_or_else(|| panic!("no address in {first:?}"));
        assert!(base.starts_with("http://127.0.0.1:"), "{first}");
        let dashboard = format!("{base}/");
        match token {
            None => assert_eq!(second, &format!("interlock: dashboard: {dashboard}")),
            Some(t) => {
                assert!(
                    second.starts_with(&format!("interlock: dashboard: {dashboard} ")),
                    "{second}"
                );
                assert!(second.contains("#token=<TOKEN>"), "{second}");
                assert!(!second.contains(t) && !first.contains(t), "{second}");
            }
        }
        let page = interlock_tests::server::exchange_to(
            &base,
            &interlock_tests::server::request("GET", "/", None, ""),
        );
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(
            page.head.contains("content-type: text/html"),
            "{}",
            page.head
        );
    }
}

/// A server whose reader went away after the first line serves on (the second line's write
/// fails quietly).
#[test]
fn serve_outlives_a_closed_stdout() {
    let store = Store::sqlite();
    let mut server = Server::start(EXE, &store.url, &["--token", "t"]);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        server.wait(Duration::from_millis(200)).is_none(),
        "the server exited: {}",
        server.log()
    );
    let (status, body) = interlock_tests::server::raw(
        &server,
        &interlock_tests::server::request("GET", "/healthz", None, ""),
    );
    assert_eq!(status, 200, "{body}");
    assert!(!server.log().contains("panicked"), "{}", server.log());
}

/// `--token-file` wins over INTERLOCK_TOKEN (exported for the verbs, say); with `--token` on
/// the command line it is a usage error.
#[test]
fn serve_token_file_wins_over_the_environment_not_over_the_command_line() {
    let store = Store::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, "from-file\n").unwrap();
    let file = file.to_str().unwrap();
    let server = serve(
        &["--store", &store.url, "--token-file", file],
        &[("INTERLOCK_TOKEN", "from-env")],
        1,
    );
    let base = server.lines[0].rsplit_once(" on ").unwrap().1.to_string();
    let ask = |token: &str| {
        interlock_tests::server::raw_to(
            &base,
            &interlock_tests::server::request("GET", "/v1/index", Some(token), ""),
        )
        .0
    };
    assert_eq!(ask("from-file"), 200);
    assert_eq!(ask("from-env"), 401);

    let args = ["serve", "--token", "x", "--token-file", file];
    let out = run_within(Duration::from_secs(10), &args, &[]);
    assert_usage_error(&out, &args, &["--token", "--token-file"]);
}

/// `serve --listen` takes a host name as well as an address; usage errors name the program as it
/// was run, as clap's own do.
#[test]
fn serve_listens_on_a_host_name_and_usage_names_the_program_as_run() {
    use std::io::BufRead;
    let mut command = Command::new(EXE);
    command
        .args(["serve", "--store", "mem://", "--listen", "localhost:0"])
        .env_remove("INTERLOCK_URL")
        .env_remove("INTERLOCK_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = interlock_tests::etcd::spawn_dying_with_process(command).unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(first.contains(" on http://127.0.0.1:"), "{first}");

    let dir = tempfile::tempdir().unwrap();
    let renamed = dir.path().join("coord");
    std::fs::copy(EXE, &renamed).unwrap();
    let out = Command::new(&renamed)
        .args(["--store", "mem://", "lock", "x", "-E", "7", "--", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Usage: coord lock"),
        "{}",
        stderr(&out)
    );
}

/// A client that sends its request line and headers too slowly (slowloris) has its connection
/// closed after `--header-read-timeout`, without an answer, and the server serves others on.
#[test]
fn serve_closes_a_connection_whose_headers_do_not_arrive_in_time() {
    use std::io::{Read, Write};
    let store = Store::sqlite();
    let server = Server::start(EXE, &store.url, &["--header-read-timeout", "1"]);
    let addr = server.url.trim_start_matches("http://").to_string();
    for partial in [
        "",
        "GET /v1/in",
        "GET /v1/info HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: a",
    ] {
        let mut slow = std::net::TcpStream::connect(&addr).unwrap();
        slow.set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let started = Instant::now();
        slow.write_all(partial.as_bytes()).unwrap();
        let mut reply = Vec::new();
        // The server closes the connection (EOF, or a reset if it had unread bytes).
        let _ = slow.read_to_end(&mut reply);
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(900) && waited < Duration::from_secs(10),
            "{partial:?}: closed after {waited:?}"
        );
        assert!(
            reply.is_empty(),
            "{partial:?}: {}",
            String::from_utf8_lossy(&reply)
        );
    }
    // A request that arrives in time is answered, on a connection opened before the others
    // were closed too.
    let (status, body) =
        interlock_tests::server::raw(&server, "GET /v1/info HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    assert_eq!(status, 200, "{body}");
    let help = Command::new(EXE)
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("--header-read-timeout <SECONDS>") && help.contains("[default: 30]"),
        "{help}"
    );
}

/// `serve` on an address another program listens on exits 1 (it cannot run; it was not used
/// wrongly) naming the address; a bad `--header-read-timeout` is a usage error, exit 2.
#[test]
fn serve_on_a_busy_port_exits_1_naming_the_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let args = ["serve", "--store", "mem://", "--listen", addr.as_str()];
    let out = run_within(Duration::from_secs(20), &args, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("address {addr} is already in use")),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("os error"), "{}", stderr(&out));
    drop(taken);
    for bad in ["0", "-1", "soon"] {
        let args = [
            "serve",
            "--store",
            "mem://",
            "--listen",
            "127.0.0.1:0",
            "--header-read-timeout",
            bad,
        ];
        let out = run_within(Duration::from_secs(20), &args, &[]);
        assert_eq!(out.status.code(), Some(2), "{bad}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("--header-read-timeout"),
            "{bad}: {}",
            stderr(&out)
        );
    }
}

/// A verb whose etcd cannot be reached exits 3 saying which member could not be reached and
/// why, in interlock's words (not the HTTP client's "error sending request for url (…)").
#[test]
fn an_unreachable_etcd_is_named_with_its_cause() {
    let out = run_within(
        Duration::from_secs(30),
        &[
            "--store",
            "etcd://127.0.0.1:1?failover_timeout=1&timeout=1",
            "get",
            "k",
        ],
        &[],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("the etcd member at 127.0.0.1:1 could not be reached: connection refused"),
        "{err}"
    );
    for word in [
        "error sending request",
        "for url",
        "client error",
        "tcp connect error",
        "os error",
    ] {
        assert!(!err.contains(word), "{err:?} says {word:?}");
    }
}

/// `put k -0` stores the integer 0, as a number written without a fraction or an exponent is an
/// integer (a JSON reader makes `-0` the float -0.0); `-0.0` stays the float it is.
#[test]
fn put_minus_zero_stores_the_integer_zero() {
    let store = Store::sqlite();
    let url = store.url.as_str();
    for (key, value) in [
        ("zero/int", "-0"),
        ("zero/list", "[-0,-0.0,\"-0\"]"),
        ("zero/float", "-0.0"),
    ] {
        let put = run(url, &["put", key, value]);
        assert_eq!(put.status.code(), Some(0), "{key}: {}", stderr(&put));
    }
    let got = |key: &str| {
        let out = run(url, &["get", key]);
        assert_eq!(out.status.code(), Some(0), "{key}: {}", stderr(&out));
        json_lines(&out)[0]["value"].clone()
    };
    // Compared as JSON numbers: the integer 0 is not the float -0.0.
    assert_eq!(got("zero/int"), json!(0));
    assert!(got("zero/int").is_u64(), "{}", got("zero/int"));
    let list = got("zero/list");
    assert!(list[0].is_u64() && list[0] == json!(0), "{list}");
    assert!(
        list[1]
            .as_f64()
            .is_some_and(|f| f == 0.0 && f.is_sign_negative()),
        "{list}"
    );
    assert_eq!(list[2], json!("-0"));
    let float = got("zero/float");
    assert!(
        float.is_f64() && float.as_f64().is_some_and(f64::is_sign_negative),
        "{float}"
    );
}
