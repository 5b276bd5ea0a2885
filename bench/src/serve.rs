//! `interlock-bench server`: what `interlock serve` costs. It starts the server binary over each
//! kind of store and measures (1) the latency the server adds to the same ops run through a
//! client of the store itself, one op at a time, and (2) requests per second with `wrk`'s
//! keep-alive connections on loopback, with a single local etcd member's JSON gateway as a peer.
//! Prints a Markdown table.
//!
//! Run it with `bash scripts/bench-server.sh [--quick] [--json PATH] [--only latency|load]`.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use interlock::{Client, ConnectOptions};
use serde_json::{Value, json};

use crate::Res;
use crate::load::{self, Load, Settings, Target};
use crate::overhead::{self, Side, StoreResult};
use crate::report::{machine, ns, rate};

/// The first argument that selects this benchmark.
pub const CMD: &str = "server";

const USAGE: &str = "usage: interlock-bench server [--quick] [--json PATH] [--only latency|load]
                       [--batches N] [--batch-ms MS] [--wrk-runs N] [--wrk-seconds S]
                       [--wrk-threads N] [--wrk-connections N] [--exe PATH] [--no-etcd]
  --quick             smoke run: short batches and one 1 s wrk run per row
  --json PATH         also write every result as JSON to PATH
  --only latency      only the added latency (no wrk); --only load: only wrk
  --batches N         timed batches per side and op (median reported; default 5)
  --batch-ms MS       minimum length of one batch (default 1000)
  --wrk-runs N        wrk runs per row, interleaved (median reported; default 3)
  --wrk-seconds S     duration of one wrk run (default 5)
  --wrk-threads N     wrk threads (default 2)
  --wrk-connections N wrk keep-alive connections (default 16)
  --exe PATH          the interlock binary (default: `interlock` beside this program)
  --no-etcd           no etcd peer rows";

/// What to run, from the command line.
#[derive(Debug, Clone)]
struct Config {
    quick: bool,
    json: Option<PathBuf>,
    batches: usize,
    batch_time: Duration,
    max_ops: u64,
    wrk: Settings,
    exe: PathBuf,
    latency: bool,
    load: bool,
    etcd: bool,
}

fn parse_args(args: &[String]) -> Res<Config> {
    let quick = args.iter().any(|a| a == "--quick");
    let mut c = Config {
        quick,
        json: None,
        batches: if quick { 3 } else { 5 },
        batch_time: Duration::from_millis(if quick { 50 } else { 1000 }),
        max_ops: if quick { 200 } else { u64::MAX },
        wrk: Settings {
            threads: 2,
            connections: 16,
            duration: Duration::from_secs(if quick { 1 } else { 5 }),
            runs: if quick { 1 } else { 3 },
        },
        exe: std::env::current_exe()?.with_file_name("interlock"),
        latency: true,
        load: true,
        etcd: true,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || {
            it.next()
                .ok_or_else(|| format!("{a} needs a value\n{USAGE}"))
        };
        let number = |v: &String| -> Res<u64> {
            v.parse()
                .map_err(|_| format!("{a} {v}: expected a whole number").into())
        };
        match a.as_str() {
            "--quick" => {}
            "--json" => c.json = Some(PathBuf::from(value()?)),
            "--batches" => c.batches = number(value()?)? as usize,
            "--batch-ms" => c.batch_time = Duration::from_millis(number(value()?)?),
            "--wrk-runs" => c.wrk.runs = number(value()?)? as usize,
            "--wrk-seconds" => c.wrk.duration = Duration::from_secs(number(value()?)?),
            "--wrk-threads" => c.wrk.threads = number(value()?)? as usize,
            "--wrk-connections" => c.wrk.connections = number(value()?)? as usize,
            "--exe" => c.exe = PathBuf::from(value()?),
            "--no-etcd" => c.etcd = false,
            "--only" => match value()?.as_str() {
                "latency" => c.load = false,
                "load" => c.latency = false,
                other => return Err(format!("--only {other}: expected latency or load").into()),
            },
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument '{other}'\n{USAGE}").into()),
        }
    }
    if c.batches == 0 || c.wrk.runs == 0 || c.wrk.duration.is_zero() || c.wrk.threads == 0 {
        return Err(
            "--batches, --wrk-runs, --wrk-seconds and --wrk-threads must be at least 1".into(),
        );
    }
    if c.wrk.connections < c.wrk.threads {
        return Err(
            "--wrk-connections must be at least --wrk-threads (each thread needs one)".into(),
        );
    }
    if !(c.latency || c.load) {
        return Err("these --only options leave nothing to run".into());
    }
    if !c.exe.is_file() {
        return Err(format!(
            "no interlock binary at {}: build it with `cargo build --release -p interlock-server` or give --exe",
            c.exe.display()
        )
        .into());
    }
    Ok(c)
}

/// A kind of store the server is measured over.
struct Store {
    label: &'static str,
    /// Names the database files.
    tag: &'static str,
    query: &'static str,
}

const STORES: [Store; 3] = [
    Store {
        label: "SQLite durable (sync=full, default)",
        tag: "full",
        query: "",
    },
    Store {
        label: "SQLite sync=normal",
        tag: "normal",
        query: "?sync=normal",
    },
    Store {
        label: "mem://",
        tag: "mem",
        query: "",
    },
];

impl Store {
    /// The URL of a store of this kind named `side` in `dir`.
    fn url(&self, dir: &Path, side: &str) -> String {
        if self.tag == "mem" {
            "mem://".to_string()
        } else {
            let file = dir.join(format!("{side}-{}.db", self.tag));
            format!("sqlite://{}{}", file.display(), self.query)
        }
    }
}

/// A running `interlock serve`, killed when dropped.
struct ServerProcess {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    url: String,
    log: PathBuf,
    /// Kept open: the server may print more, and a closed pipe would fail its writes.
    _stdout: BufReader<ChildStdout>,
}

impl ServerProcess {
    /// Starts `exe serve --store STORE --listen 127.0.0.1:0` with `token` (passed in the
    /// environment, not on the command line) and waits up to 30 s for the line naming its
    /// address.
    fn start(exe: &Path, store: &str, token: &str, log: PathBuf) -> Res<ServerProcess> {
        let mut command = Command::new(exe);
        command
            .args(["serve", "--store", store, "--listen", "127.0.0.1:0"])
            .env("INTERLOCK_TOKEN", token)
            .env_remove("INTERLOCK_URL")
            .env_remove("INTERLOCK_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(
                std::fs::File::create(&log)
                    .map_err(|e| format!("cannot create {}: {e}", log.display()))?,
            );
        let mut child = interlock_tests::etcd::spawn_dying_with_process(command)
            .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
        let stdout = child.stdout.take().ok_or("the server has no stdout")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let read = reader.read_line(&mut line);
            let _ = tx.send((read.map(|_| line), reader));
        });
        let failed = |child: &mut Child, why: String| -> Res<ServerProcess> {
            let _ = child.kill();
            let _ = child.wait();
            Err(format!(
                "interlock serve --store {store} {why}; its log:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            )
            .into())
        };
        let (line, reader) = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok((Ok(line), reader)) => (line, reader),
            Ok((Err(e), _)) => return failed(&mut child, format!("printed no line ({e})")),
            Err(_) => return failed(&mut child, "said nothing for 30 s".to_string()),
        };
        // "interlock: serving … on http://ADDR"
        let url = match line.trim().rsplit_once(" on ") {
            Some((head, url))
                if head.starts_with("interlock: serving") && url.starts_with("http://") =>
            {
                url.to_string()
            }
            _ => {
                return failed(
                    &mut child,
                    format!("did not say where it listens: {line:?}"),
                );
            }
        };
        Ok(ServerProcess {
            child,
            url,
            log,
            _stdout: reader,
        })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Fails, with the log, if the server has exited.
    fn check_running(&mut self) -> Res<()> {
        match self.child.try_wait()? {
            None => Ok(()),
            Some(status) => Err(format!(
                "the server at {} exited ({status}); its log:\n{}",
                self.url,
                std::fs::read_to_string(&self.log).unwrap_or_default()
            )
            .into()),
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A token for this run: not guessable from outside, good enough for a loopback benchmark.
fn new_token() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let mut x = t.as_nanos() as u64 ^ (u64::from(std::process::id()) << 32);
    let mut s = String::from("bench-");
    for _ in 0..4 {
        // splitmix64
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        let _ = write!(s, "{:016x}", z ^ (z >> 31));
    }
    s
}

/// Checks that the server asks for the token (401 without it) and takes it (200 with it).
async fn check_auth(http: &reqwest::Client, server: &ServerProcess, token: &str) -> Res<()> {
    let url = format!("{}/v1/index", server.url);
    let without = http.get(&url).send().await?.status();
    let with = http.get(&url).bearer_auth(token).send().await?.status();
    if without != reqwest::StatusCode::UNAUTHORIZED || with != reqwest::StatusCode::OK {
        return Err(format!(
            "{url}: expected 401 without the token and 200 with it, got {without} and {with}"
        )
        .into());
    }
    Ok(())
}

/// The served-store key the read rows get, and the one the write rows set.
const LOAD_GET_KEY: &str = "bench/get";
const LOAD_PUT_KEY: &str = "bench/wrk-put";

pub fn main(args: &[String]) -> Res<()> {
    let cfg = parse_args(args)?;
    let started = Instant::now();
    let dir = tempfile::Builder::new()
        .prefix("interlock-bench-server-")
        .tempdir()?;
    let rt = crate::runtime()?;
    let token = new_token();
    let load_before = load_average();
    let wrk_version = if cfg.load {
        Some(load::version()?)
    } else {
        None
    };
    // reqwest is built without a default TLS crypto provider; interlock installs ring too.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    eprintln!(
        "interlock-bench server: {} in {}",
        cfg.exe.display(),
        dir.path().display()
    );

    let mut servers = Vec::new();
    for store in &STORES {
        let url = store.url(dir.path(), "served");
        eprintln!("starting interlock serve --store {url}");
        let log = dir.path().join(format!("server-{}.log", store.tag));
        let server = ServerProcess::start(&cfg.exe, &url, &token, log)?;
        rt.block_on(check_auth(&http, &server, &token))?;
        servers.push(server);
    }
    let options = ConnectOptions {
        token: Some(token.clone()),
    };

    let mut latency = Vec::new();
    if cfg.latency {
        for (store, server) in STORES.iter().zip(&servers) {
            eprintln!("measuring the added latency on {}", store.label);
            let result = rt.block_on(async {
                let direct = Client::connect(&store.url(dir.path(), "direct")).await?;
                let served = Client::connect_with(&server.url, &options).await?;
                let raw = overhead::Raw {
                    // The settings of interlock's own HTTP client (reqwest's defaults).
                    http: reqwest::Client::new(),
                    base: server.url.clone(),
                    token: token.clone(),
                };
                let mut direct = Side::new(direct, None).await?;
                let mut served = Side::new(served, Some(raw)).await?;
                overhead::compare(
                    store.label,
                    &mut direct,
                    &mut served,
                    cfg.batches,
                    cfg.batch_time,
                    cfg.max_ops,
                )
                .await
            })?;
            latency.push(result);
        }
    }

    let mut etcd_version = None;
    let mut etcd_note = None;
    let mut loads = Vec::new();
    if cfg.load {
        let mut targets = Vec::new();
        for (store, server) in STORES.iter().zip(&servers) {
            rt.block_on(async {
                let client = Client::connect_with(&server.url, &options).await?;
                client
                    .set(LOAD_GET_KEY, json!({ "name": "bench", "n": 1 }))
                    .await?;
                client.set(LOAD_PUT_KEY, 0).await?;
                Res::Ok(())
            })?;
            let name = format!("interlock, {}", store.label);
            let target = |request: &str, method, path: &str, body: Option<&str>, peer| Target {
                server: name.clone(),
                request: request.to_string(),
                method,
                url: format!("{}{path}", server.url),
                body: body.map(str::to_string),
                token: Some(token.clone()),
                peer,
                pid: Some(server.pid()),
                single: false,
            };
            let put_body = r#"{"value":{"n":1}}"#;
            let kv = format!("/v1/kv/{LOAD_GET_KEY}");
            let put = format!("/v1/kv/{LOAD_PUT_KEY}");
            match store.tag {
                "full" => {
                    targets.push(Target {
                        single: true,
                        ..target("GET /v1/kv/{key}", "GET", &kv, None, Some(2))
                    });
                    targets.push(target("GET /v1/kv/{key}", "GET", &kv, None, Some(0)));
                    targets.push(target("GET /v1/index", "GET", "/v1/index", None, None));
                    targets.push(target(
                        "PUT /v1/kv/{key} (set)",
                        "PUT",
                        &put,
                        Some(put_body),
                        Some(1),
                    ));
                }
                // Only the durable writes are compared with etcd's, which are fsync'd too.
                "normal" => targets.push(target(
                    "PUT /v1/kv/{key} (set)",
                    "PUT",
                    &put,
                    Some(put_body),
                    None,
                )),
                _ => {
                    targets.push(target("GET /v1/kv/{key}", "GET", &kv, None, Some(0)));
                    targets.push(target(
                        "PUT /v1/kv/{key} (set)",
                        "PUT",
                        &put,
                        Some(put_body),
                        None,
                    ));
                }
            }
        }
        // The etcd peer: one member, so that a write is one fsync'd WAL append like SQLite's
        // commit, not a raft round between members.
        let etcd = if !cfg.etcd {
            etcd_note = Some("left out (--no-etcd)".to_string());
            None
        } else {
            match crate::etcd::version() {
                Err(e) => {
                    eprintln!("skipping the etcd peer: {e}");
                    etcd_note = Some(format!("not measured: {e}"));
                    None
                }
                Ok(v) => {
                    eprintln!("starting a single etcd member on loopback ({v})");
                    etcd_version = Some(v);
                    Some(crate::etcd::Etcd::start_members(1)?)
                }
            }
        };
        // The etcd rows answering a read, a write and a read on one connection.
        let mut peers = [None, None, None];
        if let Some(etcd) = &etcd {
            let value = BASE64.encode(r#"{"name":"bench","n":1}"#);
            for (key, i) in [(LOAD_GET_KEY, 0), (LOAD_PUT_KEY, 1)] {
                etcd.cluster
                    .post(
                        etcd.member,
                        "/v3/kv/put",
                        &json!({ "key": BASE64.encode(key), "value": value }),
                    )
                    .map_err(|e| format!("etcd: {e}"))?;
                peers[i] = Some(targets.len() + i);
            }
            peers[2] = Some(targets.len() + 2);
            let target = |request: &str, path: &str, body: Value| Target {
                server: "etcd (1 member, JSON gateway)".to_string(),
                request: request.to_string(),
                method: "POST",
                url: format!("{}{path}", etcd.base),
                body: Some(body.to_string()),
                token: None,
                peer: None,
                pid: etcd.cluster.pid(etcd.member),
                single: false,
            };
            targets.push(target(
                "POST /v3/kv/range (one key)",
                "/v3/kv/range",
                json!({ "key": BASE64.encode(LOAD_GET_KEY) }),
            ));
            targets.push(target(
                "POST /v3/kv/put",
                "/v3/kv/put",
                json!({ "key": BASE64.encode(LOAD_PUT_KEY), "value": value }),
            ));
            targets.push(Target {
                single: true,
                ..target(
                    "POST /v3/kv/range (one key)",
                    "/v3/kv/range",
                    json!({ "key": BASE64.encode(LOAD_GET_KEY) }),
                )
            });
        }
        for t in &mut targets {
            if let Some(kind) = t.peer {
                t.peer = peers[kind];
            }
        }
        loads = load::run_all(targets, &cfg.wrk, dir.path())?;
        drop(etcd);
    }
    for server in &mut servers {
        server.check_running()?;
    }
    drop(servers);
    drop(rt);

    let elapsed = started.elapsed();
    let run = RunInfo {
        wrk_version,
        etcd_version,
        etcd_note,
        took: elapsed,
        load_before,
        load_after: load_average(),
    };
    print!("{}", markdown(&cfg, &run, &latency, &loads));
    if let Some(path) = &cfg.json {
        let json = to_json(&cfg, &run, &latency, &loads);
        std::fs::write(path, serde_json::to_string_pretty(&json)? + "\n")
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

/// What the report says about the run besides the results.
struct RunInfo {
    wrk_version: Option<String>,
    etcd_version: Option<String>,
    etcd_note: Option<String>,
    took: Duration,
    /// The machine's 1-minute load average at the start and at the end of the run.
    load_before: Option<f64>,
    load_after: Option<f64>,
}

/// The 1-minute load average (`/proc/loadavg`): how busy other work kept the machine.
fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn load_text(run: &RunInfo) -> String {
    match (run.load_before, run.load_after) {
        (Some(a), Some(b)) => {
            format!(" 1-minute load average {a:.2} at the start, {b:.2} at the end.")
        }
        _ => String::new(),
    }
}

fn cpus() -> usize {
    std::thread::available_parallelism().map_or(0, |n| n.get())
}

fn us(ns: f64) -> String {
    format!("{:.1} µs", ns / 1e3)
}

fn signed_us(ns: f64) -> String {
    if ns < 0.0 {
        format!("−{:.1} µs", -ns / 1e3)
    } else {
        format!("+{:.1} µs", ns / 1e3)
    }
}

fn requests_text(requests: &[(String, f64)]) -> String {
    if requests.is_empty() {
        return "–".to_string();
    }
    let text: Vec<String> = requests
        .iter()
        .map(|(route, n)| format!("{route} {n:.2}"))
        .collect();
    text.join(", ")
}

fn markdown(cfg: &Config, run: &RunInfo, latency: &[StoreResult], loads: &[Load]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "\n# interlock server benchmark{}\n",
        if cfg.quick {
            " (--quick: smoke run, numbers are rough)"
        } else {
            ""
        }
    );
    let _ = writeln!(
        s,
        "Machine: {}. Run took {:.1} s.{} Server: `interlock serve` ({}) started by the benchmark on 127.0.0.1 with a bearer token, one process per store.",
        machine(),
        run.took.as_secs_f64(),
        load_text(run),
        cfg.exe.display()
    );
    if !latency.is_empty() {
        let _ = writeln!(s, "\n## Added latency: direct against through the server\n");
        let _ = writeln!(
            s,
            "One client, one op at a time. Direct: `interlock::Client` on the store itself (`sqlite://<tmp file>` or `mem://`) in this process. Through the server: `interlock::Client` on `http://127.0.0.1:PORT` (HTTP/1.1 keep-alive, the token) of `interlock serve` over a store of the same kind in its own tmp file. Every op is timed; {} rounds of one batch per side (each ≥ {} ms{}), the side going first swapping every round, so a slow spell hits both. Latency = median of every timed op; added = through the server − direct; per-round ratio = median over the rounds of the two batches' medians; requests per op = the server's own count (`/metrics`) over the timed batches.\n",
            cfg.batches,
            cfg.batch_time.as_millis(),
            if cfg.max_ops == u64::MAX {
                String::new()
            } else {
                format!(" or {} ops", cfg.max_ops)
            }
        );
        let _ = writeln!(
            s,
            "| store | operation | direct p50 | via server p50 | added | ratio | per-round ratio, median | direct p99 | via server p99 | ops direct / via server | requests per op |"
        );
        let _ = writeln!(s, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|");
        for r in latency {
            for c in &r.comparisons {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {} | {:.2}× | {:.2}× | {} | {} | {} / {} | {} |",
                    r.store,
                    c.op.label(),
                    us(c.direct.p50()),
                    us(c.served.p50()),
                    signed_us(c.added()),
                    c.ratio(),
                    c.paired(),
                    us(c.direct.p99()),
                    us(c.served.p99()),
                    c.direct.ops(),
                    c.served.ops(),
                    requests_text(&c.requests)
                );
            }
        }
    }
    if !loads.is_empty() {
        let w = &cfg.wrk;
        let _ = writeln!(
            s,
            "\n## Requests per second: wrk, keep-alive connections on loopback\n"
        );
        let _ = writeln!(
            s,
            "{} with `-t{} -c{} -d{}s`: {} keep-alive HTTP/1.1 connections send the same request over and over for {} s; {} run{} per row, one run of each row in turn; the run with the median rate is shown with its latencies (under that load, so queueing included). The rows with one connection run `-t1 -c1`, one request at a time: the round trip without queueing. Every interlock request carries the token; the reads get one existing key; the writes set one key unconditionally (`{{\"value\": {{\"n\": 1}}}}`). Server CPU = user + system time of the serving process (from `/proc`) per request.\n",
            run.wrk_version.as_deref().unwrap_or("wrk"),
            w.threads,
            w.connections,
            w.duration.as_secs(),
            w.connections,
            w.duration.as_secs(),
            w.runs,
            if w.runs == 1 { "" } else { "s" }
        );
        let _ = writeln!(
            s,
            "**Caveat**: this machine has {} CPUs, shared by wrk's {} threads, the server (Tokio, one worker thread per CPU, plus SQLite's commits) and, for its rows, etcd; wrk alone can keep a CPU busy. The figures are what one small machine does with client and server on it, not the server's capacity on cores of its own.\n",
            cpus(),
            w.threads
        );
        let _ = writeln!(
            s,
            "| server | request | connections | median req/s | runs min–max | p50 | p90 | p99 | server CPU per request | vs etcd |"
        );
        let _ = writeln!(s, "|---|---|---:|---:|---:|---:|---:|---:|---:|---|");
        for l in loads {
            let m = l.median_run();
            let (lo, hi) = l.min_max();
            let vs = match l.target.peer.and_then(|i| loads.get(i)) {
                Some(p) => format!(
                    "{:.2}× {}{}",
                    l.median_rate() / p.median_rate(),
                    p.target.request,
                    if p.target.single {
                        ", 1 connection"
                    } else {
                        ""
                    }
                ),
                None if l.target.token.is_none() => "peer".to_string(),
                None => "–".to_string(),
            };
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {}–{} | {} | {} | {} | {} | {vs} |",
                l.target.server,
                l.target.request,
                if l.target.single {
                    "1 (-t1)".to_string()
                } else {
                    w.connections.to_string()
                },
                rate(l.median_rate()),
                rate(lo),
                rate(hi),
                ns(m.p50_us * 1e3),
                ns(m.p90_us * 1e3),
                ns(m.p99_us * 1e3),
                m.cpu_per_request_us()
                    .map_or("–".to_string(), |c| format!("{c:.1} µs")),
            );
        }
        match (&run.etcd_version, &run.etcd_note) {
            (Some(v), _) => {
                let _ = writeln!(
                    s,
                    "\netcd peer: {v}, a single member on loopback with its data on the local disk, its JSON gateway (no auth); a range is a linearizable read, a put one fsync'd WAL append (batched across connections). vs etcd = this row's median req/s / the etcd row's."
                );
            }
            (None, Some(note)) => {
                let _ = writeln!(s, "\nNo etcd peer: {note}; there is no reference point.");
            }
            (None, None) => {}
        }
    }
    s
}

fn to_json(cfg: &Config, run: &RunInfo, latency: &[StoreResult], loads: &[Load]) -> Value {
    let lat = |l: &overhead::Latencies| {
        json!({
            "p50_us": l.p50() / 1e3,
            "p99_us": l.p99() / 1e3,
            "ops": l.ops(),
            "batch_p50_us": l.batches.iter().map(|b| b.p50() / 1e3).collect::<Vec<_>>(),
        })
    };
    let latency: Vec<Value> = latency
        .iter()
        .flat_map(|r| {
            r.comparisons.iter().map(|c| {
                json!({
                    "store": r.store,
                    "operation": c.op.label(),
                    "direct": lat(&c.direct),
                    "via_server": lat(&c.served),
                    "added_us": c.added() / 1e3,
                    "ratio": c.ratio(),
                    "per_round_ratio_median": c.paired(),
                    "requests_per_op": c.requests.iter().map(|(r, n)| json!({ "route": r, "per_op": n })).collect::<Vec<_>>(),
                })
            })
        })
        .collect();
    let loads: Vec<Value> = loads
        .iter()
        .map(|l| {
            json!({
                "server": l.target.server,
                "request": l.target.request,
                "connections": if l.target.single { 1 } else { cfg.wrk.connections },
                "threads": if l.target.single { 1 } else { cfg.wrk.threads },
                "median_requests_per_s": l.median_rate(),
                "vs_peer": l.target.peer.and_then(|i| loads.get(i)).map(|p| l.median_rate() / p.median_rate()),
                "runs": l.runs.iter().map(|r| json!({
                    "requests": r.requests,
                    "seconds": r.duration.as_secs_f64(),
                    "requests_per_s": r.rate(),
                    "p50_us": r.p50_us,
                    "p90_us": r.p90_us,
                    "p99_us": r.p99_us,
                    "max_us": r.max_us,
                    "server_cpu_per_request_us": r.cpu_per_request_us(),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "machine": machine(),
        "cpus": cpus(),
        "quick": cfg.quick,
        "seconds": run.took.as_secs_f64(),
        "load_average_1m": { "start": run.load_before, "end": run.load_after },
        "batches": cfg.batches,
        "batch_ms": cfg.batch_time.as_millis() as u64,
        "wrk": run.wrk_version.as_ref().map(|v| json!({
            "version": v,
            "threads": cfg.wrk.threads,
            "connections": cfg.wrk.connections,
            "seconds": cfg.wrk.duration.as_secs(),
            "runs": cfg.wrk.runs,
        })),
        "etcd": run.etcd_version,
        "added_latency": latency,
        "requests_per_second": loads,
    })
}
