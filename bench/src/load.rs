//! Requests per second with keep-alive clients on loopback: `wrk` against the server's REST
//! routes (and, for scale, against etcd's own JSON gateway), for a fixed duration and number of
//! connections. wrk stops by itself at the end of its duration; a run that overstays it by
//! [`GRACE`] is killed.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::Res;
use crate::measure::median;

/// How long a wrk run may overstay its duration before it is killed.
const GRACE: Duration = Duration::from_secs(30);
/// The line the generated Lua scripts' `done()` prints.
const SUMMARY: &str = "interlock-bench-wrk";

/// One request line and its body, sent over and over on every connection.
#[derive(Debug, Clone)]
pub struct Target {
    /// Who answers: "interlock, SQLite durable", "etcd (1 member)".
    pub server: String,
    /// What it is asked: "GET /v1/kv/{key}".
    pub request: String,
    pub method: &'static str,
    /// `http://127.0.0.1:PORT/path`.
    pub url: String,
    pub body: Option<String>,
    /// The bearer token to send, if any.
    pub token: Option<String>,
    /// A row to compare it with: the index of the etcd row answering the same kind of request.
    pub peer: Option<usize>,
    /// The serving process, whose CPU time each run reads from `/proc`.
    pub pid: Option<u32>,
    /// One thread and one connection instead of the settings': the round trip without
    /// queueing behind other connections.
    pub single: bool,
}

/// What wrk reported for one run.
#[derive(Debug, Clone)]
pub struct Run {
    pub requests: u64,
    pub duration: Duration,
    /// Latency percentiles and mean, µs.
    pub p50_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
    /// Socket errors (connect, read, write, timeout) and non-2xx/3xx replies.
    pub socket_errors: u64,
    pub bad_status: u64,
    /// CPU time (user + system) the serving process used during the run.
    pub server_cpu: Option<Duration>,
}

impl Run {
    pub fn rate(&self) -> f64 {
        self.requests as f64 / self.duration.as_secs_f64()
    }

    /// The serving process's CPU time per request, µs.
    pub fn cpu_per_request_us(&self) -> Option<f64> {
        self.server_cpu
            .map(|c| c.as_secs_f64() * 1e6 / self.requests.max(1) as f64)
    }
}

/// User + system CPU time of process `pid` so far, from `/proc/PID/stat`.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command name (which may hold spaces) start with the state, field 3;
    // utime and stime are fields 14 and 15, in clock ticks (USER_HZ, 100 on Linux).
    let rest: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = rest.get(11)?.parse::<u64>().ok()? + rest.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// Every run of one target.
#[derive(Debug, Clone)]
pub struct Load {
    pub target: Target,
    pub runs: Vec<Run>,
}

impl Load {
    /// The run with the median request rate (the lower middle one of an even count), whose
    /// latencies are reported with it.
    pub fn median_run(&self) -> &Run {
        let mut order: Vec<&Run> = self.runs.iter().collect();
        order.sort_by(|a, b| a.rate().total_cmp(&b.rate()));
        order[(order.len() - 1) / 2]
    }

    pub fn median_rate(&self) -> f64 {
        median(self.runs.iter().map(Run::rate).collect())
    }

    pub fn min_max(&self) -> (f64, f64) {
        let rates = self.runs.iter().map(Run::rate);
        let min = rates.clone().fold(f64::INFINITY, f64::min);
        (min, rates.fold(0.0, f64::max))
    }
}

/// wrk's settings for every run.
#[derive(Debug, Clone)]
pub struct Settings {
    pub threads: usize,
    pub connections: usize,
    pub duration: Duration,
    pub runs: usize,
}

/// `wrk -v`'s first line, or why wrk cannot run.
pub fn version() -> Result<String, String> {
    // `wrk -v` prints its version and usage and exits with 1.
    let out = Command::new("wrk").arg("-v").output().map_err(|e| {
        format!("cannot run wrk ({e}); install it with `apt-get install wrk` (scripts/bench-server.sh does)")
    })?;
    let text = String::from_utf8_lossy(&out.stdout);
    let first = text.lines().next().unwrap_or("").trim();
    match first.strip_suffix("Copyright (C) 2012 Will Glozer") {
        Some(v) => Ok(v.trim().to_string()),
        None if first.starts_with("wrk ") => Ok(first.to_string()),
        None => Err(format!("`wrk -v` printed no version: {first:?}")),
    }
}

/// A Lua string literal.
fn lua_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The Lua script of a target: the method, body and headers of every request, and a `done()`
/// that prints the exact figures on one line.
fn script(t: &Target) -> String {
    let mut s = format!("wrk.method = {}\n", lua_string(t.method));
    if let Some(body) = &t.body {
        s += &format!(
            "wrk.body = {}\nwrk.headers[\"Content-Type\"] = \"application/json\"\n",
            lua_string(body)
        );
    }
    if let Some(token) = &t.token {
        s += &format!(
            "wrk.headers[\"Authorization\"] = {}\n",
            lua_string(&format!("Bearer {token}"))
        );
    }
    s += &format!(
        r#"function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("{SUMMARY} %d %d %d %d %d %d %d %d %d %d %d\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.timeout, e.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"#
    );
    s
}

/// Parses the `done()` line of a run's output.
fn parse(out: &str) -> Res<Run> {
    let line = out
        .lines()
        .find_map(|l| l.strip_prefix(SUMMARY))
        .ok_or_else(|| format!("wrk printed no summary line; its output:\n{out}"))?;
    let n: Vec<u64> = line
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("wrk's summary line {line:?}: {e}"))?;
    let [
        requests,
        duration_us,
        connect,
        read,
        write,
        timeout,
        status,
        p50,
        p90,
        p99,
        max,
    ] = n[..]
    else {
        return Err(format!("wrk's summary line {line:?} does not have 11 numbers").into());
    };
    Ok(Run {
        requests,
        duration: Duration::from_micros(duration_us),
        p50_us: p50 as f64,
        p90_us: p90 as f64,
        p99_us: p99 as f64,
        max_us: max as f64,
        socket_errors: connect + read + write + timeout,
        bad_status: status,
        server_cpu: None,
    })
}

/// One wrk run against `t`; its script goes to `dir`.
pub fn run(t: &Target, settings: &Settings, dir: &Path, name: &str) -> Res<Run> {
    let lua = dir.join(format!("{name}.lua"));
    write_private(&lua, &script(t))?;
    let (threads, connections) = if t.single {
        (1, 1)
    } else {
        (settings.threads, settings.connections)
    };
    let mut command = Command::new("wrk");
    command
        .arg(format!("-t{threads}"))
        .arg(format!("-c{connections}"))
        .arg(format!("-d{}s", settings.duration.as_secs().max(1)))
        .args(["--timeout", "10s", "-s"])
        .arg(&lua)
        .arg(&t.url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = interlock_tests::etcd::spawn_dying_with_process(command)
        .map_err(|e| format!("cannot start wrk: {e}"))?;
    let mut stdout = child.stdout.take().ok_or("wrk has no stdout")?;
    let mut stderr = child.stderr.take().ok_or("wrk has no stderr")?;
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        let _ = stdout.read_to_string(&mut out);
        let _ = stderr.read_to_string(&mut out);
        out
    });
    let cpu_before = t.pid.and_then(cpu_time);
    let deadline = Instant::now() + settings.duration + GRACE;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "wrk against {} ran {:?} past its duration and was killed",
                t.url, GRACE
            )
            .into());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let cpu_after = t.pid.and_then(cpu_time);
    let out = reader.join().map_err(|_| "wrk's output reader failed")?;
    if !status.success() {
        return Err(format!("wrk against {} failed ({status}):\n{out}", t.url).into());
    }
    let mut run = parse(&out)?;
    if let (Some(a), Some(b)) = (cpu_before, cpu_after) {
        run.server_cpu = Some(b.saturating_sub(a));
    }
    if run.requests == 0 {
        return Err(format!("wrk against {} completed no request:\n{out}", t.url).into());
    }
    if run.bad_status > 0 || run.socket_errors > 0 {
        return Err(format!(
            "{} {} ({}): {} replies were not 2xx and {} socket errors in {} requests:\n{out}",
            t.server, t.request, t.url, run.bad_status, run.socket_errors, run.requests
        )
        .into());
    }
    Ok(run)
}

/// Writes a file only its owner can read (the scripts hold the token).
fn write_private(path: &Path, text: &str) -> Res<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

/// Runs every target `settings.runs` times, one run of each in turn.
pub fn run_all(targets: Vec<Target>, settings: &Settings, dir: &Path) -> Res<Vec<Load>> {
    let mut loads: Vec<Load> = targets
        .into_iter()
        .map(|target| Load {
            target,
            runs: Vec::new(),
        })
        .collect();
    for round in 0..settings.runs {
        for (i, load) in loads.iter_mut().enumerate() {
            eprintln!(
                "wrk run {}/{}: {} {}",
                round + 1,
                settings.runs,
                load.target.server,
                load.target.request
            );
            let run = run(&load.target, settings, dir, &format!("wrk-{i}"))?;
            load.runs.push(run);
        }
    }
    Ok(loads)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_summary_line() {
        let out = "Running 1s test @ http://127.0.0.1:1/v1/index\n\
                   interlock-bench-wrk 1000 2000000 0 0 0 0 3 120 250 900 4000\n\
                   Requests/sec:    500.00\n";
        let run = parse(out).unwrap();
        assert_eq!(run.requests, 1000);
        assert_eq!(run.rate(), 500.0);
        assert_eq!(run.bad_status, 3);
        assert_eq!(run.p99_us, 900.0);
        assert!(parse("Requests/sec: 1\n").is_err());
        assert!(parse("interlock-bench-wrk 1 2\n").is_err());
    }

    #[test]
    fn scripts_quote_bodies_and_tokens() {
        let t = Target {
            server: "s".into(),
            request: "r".into(),
            method: "PUT",
            url: "http://127.0.0.1:1/v1/kv/a".into(),
            body: Some(r#"{"value":"a\"b"}"#.into()),
            token: Some("t0k".into()),
            peer: None,
            pid: None,
            single: false,
        };
        let s = script(&t);
        assert!(s.contains(r#"wrk.method = "PUT""#));
        assert!(s.contains(r#"wrk.body = "{\"value\":\"a\\\"b\"}""#));
        assert!(s.contains(r#"wrk.headers["Authorization"] = "Bearer t0k""#));
    }
}
