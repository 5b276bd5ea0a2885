//! The README's command-line listing, run exactly as printed on a fresh store: the `serve` block
//! in one process, the verbs block as one `bash` script in another, from an empty directory with
//! the built `interlock` first on PATH. The comments' promises are checked: `get` prints the
//! documented line, `del` deletes, `lock` runs `./import.sh` with its fencing token, and `watch`
//! prints a change until Ctrl-C ends it.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde_json::{Value, json};

const EXE: &str = env!("CARGO_BIN_EXE_interlock");
const ADDR: &str = "127.0.0.1:7070";

/// The README's ```sh blocks, in order.
fn sh_blocks() -> Vec<String> {
    let readme = Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    let text = std::fs::read_to_string(&readme).expect("read README.md");
    text.split("```sh\n")
        .skip(1)
        .map(|rest| rest.split("```").next().unwrap_or_default().to_owned())
        .collect()
}

fn block_starting_with(prefix: &str) -> String {
    let found: Vec<String> = sh_blocks()
        .into_iter()
        .filter(|b| b.starts_with(prefix))
        .collect();
    assert_eq!(found.len(), 1, "one README sh block starts with {prefix:?}");
    found.into_iter().next().unwrap_or_default()
}

/// PATH with the built binary's directory first, as a user's `target/release` on PATH.
fn path_with_binary() -> String {
    let bin = PathBuf::from(EXE);
    let dir = bin.parent().expect("the binary's directory");
    format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

fn bash(script: &str, dir: &Path) -> Command {
    let mut cmd = Command::new("bash");
    cmd.arg("-c")
        .arg(script)
        .current_dir(dir)
        .env("PATH", path_with_binary())
        .env_remove("INTERLOCK_URL")
        .env_remove("INTERLOCK_TOKEN")
        .env_remove("INTERLOCK_STORE");
    cmd
}

/// Kills the whole process group on drop, so a failed assertion leaves no server behind.
struct Group(Child);

impl Drop for Group {
    fn drop(&mut self) {
        let pid = self.0.id() as i32;
        let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
        let _ = self.0.wait();
    }
}

fn spawn_group(mut cmd: Command) -> Group {
    use std::os::unix::process::CommandExt;
    cmd.process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // As in a terminal, Ctrl-C has its default action, whatever this test inherited (a runner
    // started in the background ignores SIGINT, and an ignored signal stays ignored across exec).
    // SAFETY: between fork and exec only async-signal-safe calls: signal(2) is one.
    unsafe {
        cmd.pre_exec(|| {
            nix::sys::signal::signal(Signal::SIGINT, nix::sys::signal::SigHandler::SigDfl)
                .map(drop)
                .map_err(std::io::Error::from)
        });
    }
    Group(cmd.spawn().expect("spawn bash"))
}

/// Waits for the process to end, failing the test after `limit` instead of hanging.
fn wait_at_most(child: &mut Child, limit: Duration, what: &str) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not end within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn wait_for_listener(server: &mut Group) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(ADDR).is_err() {
        if let Ok(Some(status)) = server.0.try_wait() {
            let mut err = String::new();
            if let Some(mut e) = server.0.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut e, &mut err);
            }
            panic!(
                "the README's serve command exited ({status}) before listening on {ADDR}: {err}"
            );
        }
        assert!(Instant::now() < deadline, "nothing listens on {ADDR}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_readmes_cli_listing_runs_as_printed_on_a_fresh_store() {
    // Fail clearly if something else (a demo server left running) has the documented port.
    assert!(
        TcpStream::connect(ADDR).is_err(),
        "{ADDR} is already in use: this test runs the README's listing, which serves on it"
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let serve_block = block_starting_with("interlock serve ");
    let verbs = block_starting_with("export INTERLOCK_URL=");

    // The user's ./import.sh: records the fencing token it was given.
    let import = dir.path().join("import.sh");
    std::fs::write(
        &import,
        "#!/bin/sh\necho \"$INTERLOCK_FENCING_TOKEN\" > fence.txt\n",
    )
    .expect("write import.sh");
    std::fs::set_permissions(&import, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod import.sh");

    let mut server = spawn_group(bash(&serve_block, dir.path()));
    wait_for_listener(&mut server);
    assert!(
        dir.path().join("coord.db").exists(),
        "coord.db is made in the current directory"
    );

    let mut verbs_run = spawn_group(bash(&verbs, dir.path()));
    let stdout = verbs_run.0.stdout.take().expect("stdout");
    let (lines_tx, lines) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let next = |what: &str| -> Value {
        let line = lines
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("no output line for {what}"));
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{what}: {e}: {line}"))
    };

    // The listing's lines, in order.
    assert_eq!(
        next("put"),
        json!({"index": 1, "successful": true, "value": "users/1"})
    );
    let get_comment = verbs
        .lines()
        .find(|l| l.starts_with("interlock get "))
        .and_then(|l| l.split("# ").nth(1))
        .expect("the get line's comment");
    let documented: Value = serde_json::from_str(get_comment.trim()).expect("a JSON comment");
    assert_eq!(next("get"), documented, "get prints what its comment says");
    assert_eq!(next("ls"), documented, "ls prints the one entry");
    let deleted = next("del");
    assert_eq!(deleted["successful"], json!(true), "del deleted: {deleted}");

    // The lock line ran ./import.sh with a fencing token, then the watch started: wait for the
    // token file, then write under jobs/ from another client and see the watch print it.
    let deadline = Instant::now() + Duration::from_secs(30);
    let fence = loop {
        match std::fs::read_to_string(dir.path().join("fence.txt")) {
            Ok(t) if !t.trim().is_empty() => break t,
            _ => {
                assert!(Instant::now() < deadline, "./import.sh never ran");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    };
    let fence: u64 = fence
        .trim()
        .parse()
        .expect("INTERLOCK_FENCING_TOKEN is a number");
    assert!(
        fence > 1,
        "the fencing token is an index of the store: {fence}"
    );

    // The watch may not be open yet when the first write lands; write until one is printed.
    let deadline = Instant::now() + Duration::from_secs(30);
    let event = loop {
        let put = Command::new(EXE)
            .args(["put", "jobs/1", r#"{"pages":3}"#])
            .env("INTERLOCK_URL", format!("http://{ADDR}"))
            .env_remove("INTERLOCK_TOKEN")
            .output()
            .expect("run interlock put");
        assert!(
            put.status.success(),
            "{}",
            String::from_utf8_lossy(&put.stderr)
        );
        if let Ok(line) = lines.recv_timeout(Duration::from_millis(500)) {
            break serde_json::from_str::<Value>(&line).expect("a JSON watch line");
        }
        assert!(Instant::now() < deadline, "the watch printed nothing");
    };
    assert_eq!(event["type"], json!("put"));
    assert_eq!(event["key"], json!("jobs/1"));
    assert_eq!(event["value"], json!({"pages": 3}));

    // Ctrl-C ends the watch (the terminal sends SIGINT to the foreground group).
    let pid = verbs_run.0.id() as i32;
    killpg(Pid::from_raw(pid), Signal::SIGINT).expect("send SIGINT to the listing's group");
    let status = wait_at_most(
        &mut verbs_run.0,
        Duration::from_secs(30),
        "the watch, after Ctrl-C",
    );
    assert!(
        ended_by_ctrl_c(status),
        "the listing ends with the watch, by Ctrl-C: {status}"
    );
    let mut err = String::new();
    if let Some(mut e) = verbs_run.0.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut e, &mut err);
    }
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "{err}"
    );
    assert!(err.trim().is_empty(), "the listing printed errors: {err}");
}

/// Exit 130 (128 + SIGINT, as the watch and shells report it) or killed by SIGINT.
fn ended_by_ctrl_c(status: std::process::ExitStatus) -> bool {
    use std::os::unix::process::ExitStatusExt;
    status.code() == Some(130) || status.signal() == Some(Signal::SIGINT as i32)
}
