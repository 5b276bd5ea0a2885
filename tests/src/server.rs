//! A real `interlock serve` process for tests: serves a store on a free loopback port, with its
//! output in a log file, and dies with the test (a parent-death signal) or when dropped.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
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
        Server::start_on(exe, store, "127.0.0.1:0", extra)
    }

    /// [`Server::start`] listening on `listen` (`127.0.0.1:PORT`).
    pub fn start_on(exe: impl AsRef<Path>, store: &str, listen: &str, extra: &[&str]) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("server.log");
        let mut command = Command::new(exe.as_ref());
        command
            .args(["serve", "--store", store, "--listen", listen])
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

    /// SIGKILLs the server and waits for it to be gone.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and waits (up to `timeout`) for the exit; returns the exit status.
    pub fn terminate(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        self.signal(nix::sys::signal::Signal::SIGTERM);
        self.wait(timeout)
    }

    /// Sends `signal` to the server.
    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.child.id() as i32), signal);
    }

    /// Waits (up to `timeout`) for the server to exit; its exit status, or `None` if it runs on.
    pub fn wait(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
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

/// Sends `request` as is over a new connection and returns the status and the body of the
/// reply, read as soon as it is complete (the server may still be waiting for the rest of an
/// oversize request).
pub fn raw(server: &Server, request: &str) -> (u16, String) {
    raw_to(&server.url, request)
}

/// [`raw`] to the server at `url` (`http://host:port`).
pub fn raw_to(url: &str, request: &str) -> (u16, String) {
    let reply = exchange_to(url, request);
    (reply.status, reply.body)
}

/// A reply read by [`exchange_to`]: its status, its head (lowercased) and its body.
pub struct Reply {
    pub status: u16,
    pub head: String,
    pub body: String,
}

/// Sends `request` as is over a new connection to the server at `url` and reads the reply to
/// its declared length (or to the end of the connection).
pub fn exchange_to(url: &str, request: &str) -> Reply {
    let addr = url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    stream.write_all(request.as_bytes()).expect("send");
    let mut reply = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        if let Some(end) = reply.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&reply[..end]).to_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok());
            if length.is_some_and(|n| reply.len() >= end + 4 + n) {
                break;
            }
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => reply.extend_from_slice(&buf[..n]),
        }
    }
    let reply = String::from_utf8_lossy(&reply).into_owned();
    let (head, body) = reply.split_once("\r\n\r\n").unwrap_or((&reply, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {reply:?}"));
    Reply {
        status,
        head: head.to_lowercase(),
        body: body.to_string(),
    }
}

/// An HTTP/1.1 request with a JSON body, the bearer token `auth` if any, and `Connection: close`.
pub fn request(method: &str, path: &str, auth: Option<&str>, body: &str) -> String {
    let auth = auth
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{auth}\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}
