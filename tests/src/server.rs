//! A real `interlock serve` process for tests: serves a store on a free loopback port, with its
//! output in a log file, and dies with the test (a parent-death signal) or when dropped.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// A running server; killed when dropped.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    dir: TempDir,
}

impl Server {
    /// Starts `exe serve --store STORE --listen 127.0.0.1:0` plus `extra` arguments and waits
    /// for the line that names its address.
    pub fn start(exe: impl AsRef<Path>, store: &str, extra: &[&str]) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("server.log");
        let mut command = Command::new(exe.as_ref());
        command
            .args(["serve", "--store", store, "--listen", "127.0.0.1:0"])
            .args(extra)
            .env_remove("INTERLOCK_TOKEN")
            .env_remove("INTERLOCK_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(File::create(&log).expect("server log"));
        let mut child = crate::etcd::spawn_dying_with_process(command)
            .unwrap_or_else(|e| panic!("start {}: {e}", exe.as_ref().display()));
        let stdout = child.stdout.take().expect("server stdout");
        let mut line = String::new();
        let read = BufReader::new(stdout).read_line(&mut line);
        let url = match (read, line.rsplit_once(" on ")) {
            (Ok(n), Some((_, url))) if n > 0 => url.trim().to_string(),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the server did not say where it listens (stdout: {line:?}); its log:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
        };
        Server { child, url, dir }
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits (up to `timeout`) for the exit; returns the exit status.
    pub fn terminate(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let start = Instant::now();
        while start.elapsed() < timeout {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
