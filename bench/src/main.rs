//! interlock's benchmark: throughput of lock+unlock, compare-exchange put and a two-key transfer
//! on `mem://` and SQLite (durable and `sync=normal`), the raw SQLite write transaction they are
//! compared against, and lock handoff latency across processes. Prints a Markdown table.
//!
//! Run it with `bash scripts/bench.sh [--quick] [--json PATH]`.

mod handoff;
mod json;
mod measure;
mod report;

use std::path::{Path, PathBuf};
use std::time::Duration;

use measure::Workload;

pub type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const USAGE: &str = "usage: interlock-bench [--quick] [--json PATH] [--batches N] [--batch-ms MS]
                       [--rounds N] [--workers N]
  --quick       smoke run: a few hundred ops per measurement, finishes in seconds
  --json PATH   also write every result as JSON to PATH
  --batches N   timed batches per throughput measurement (median reported; default 5)
  --batch-ms MS minimum length of one batch (default 1000)
  --rounds N    lock acquisitions per handoff worker (default 400)
  --workers N   processes (or tasks, for mem) contending in the handoff test (default 2)
  --only WHAT   run only 'throughput' or only 'handoff'";

/// What to run, from the command line.
#[derive(Debug, Clone)]
pub struct Config {
    pub quick: bool,
    pub json: Option<PathBuf>,
    pub batches: usize,
    pub batch_time: Duration,
    /// Upper bound on the ops of one batch (keeps `--quick` short on fast backends).
    pub max_ops: u64,
    pub rounds: usize,
    pub workers: usize,
    pub throughput: bool,
    pub handoff: bool,
}

fn parse_args(args: &[String]) -> Res<Config> {
    let mut c = Config {
        quick: false,
        json: None,
        batches: 5,
        batch_time: Duration::from_millis(1000),
        max_ops: u64::MAX,
        rounds: 400,
        workers: 2,
        throughput: true,
        handoff: true,
    };
    let quick = args.iter().any(|a| a == "--quick");
    if quick {
        c = Config {
            quick,
            batches: 3,
            batch_time: Duration::from_millis(20),
            max_ops: 100,
            rounds: 30,
            ..c
        };
    }
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || {
            it.next()
                .ok_or_else(|| format!("{a} needs a value\n{USAGE}"))
        };
        match a.as_str() {
            "--quick" => {}
            "--json" => c.json = Some(PathBuf::from(value()?)),
            "--batches" => c.batches = value()?.parse()?,
            "--batch-ms" => c.batch_time = Duration::from_millis(value()?.parse()?),
            "--rounds" => c.rounds = value()?.parse()?,
            "--workers" => c.workers = value()?.parse()?,
            "--only" => match value()?.as_str() {
                "throughput" => c.handoff = false,
                "handoff" => c.throughput = false,
                other => {
                    return Err(format!("--only {other}: expected throughput or handoff").into());
                }
            },
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument '{other}'\n{USAGE}").into()),
        }
    }
    if c.batches == 0 || c.rounds == 0 || c.workers < 2 {
        return Err("--batches and --rounds must be at least 1, --workers at least 2".into());
    }
    Ok(c)
}

fn runtime() -> Res<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = if args.first().map(String::as_str) == Some(handoff::WORKER_CMD) {
        handoff::worker_main(&args[1..])
    } else {
        parse_args(&args).and_then(run)
    };
    if let Err(e) = result {
        eprintln!("interlock-bench: {e}");
        std::process::exit(1);
    }
}

/// A SQLite configuration: the store URL's `sync` option and the raw floor's pragma.
struct Sqlite {
    label: &'static str,
    query: &'static str,
    durable: bool,
}

const SQLITE: [Sqlite; 2] = [
    Sqlite {
        label: "sqlite (sync=full, default)",
        query: "",
        durable: true,
    },
    Sqlite {
        label: "sqlite (sync=normal)",
        query: "?sync=normal",
        durable: false,
    },
];

fn sqlite_url(dir: &Path, file: &str, query: &str) -> String {
    format!("sqlite://{}{query}", dir.join(file).display())
}

fn run(cfg: Config) -> Res<()> {
    let dir = tempfile::Builder::new()
        .prefix("interlock-bench-")
        .tempdir()?;
    let rt = runtime()?;
    let started = std::time::Instant::now();
    eprintln!(
        "interlock-bench: {} batches of ≥{:?} per measurement, {} handoff rounds × {} workers, in {}",
        cfg.batches,
        cfg.batch_time,
        cfg.rounds,
        cfg.workers,
        dir.path().display()
    );

    let mut groups = Vec::new();
    if cfg.throughput {
        measure_throughput(&rt, dir.path(), &cfg, &mut groups)?;
    }
    let mut handoffs = Vec::new();
    if cfg.handoff {
        measure_handoff(&rt, dir.path(), &cfg, &mut handoffs)?;
    }
    drop(rt);

    let elapsed = started.elapsed();
    print!("{}", report::markdown(&groups, &handoffs, &cfg, elapsed));
    if let Some(path) = &cfg.json {
        let json = json::json(&groups, &handoffs, &cfg, elapsed);
        std::fs::write(path, serde_json::to_string_pretty(&json)? + "\n")
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

fn measure_throughput(
    rt: &tokio::runtime::Runtime,
    dir: &Path,
    cfg: &Config,
    groups: &mut Vec<measure::Group>,
) -> Res<()> {
    eprintln!("measuring mem:// throughput");
    let workloads = rt.block_on(Workload::store_set("mem://"))?;
    groups.push(rt.block_on(measure::run_group("mem", workloads, cfg))?);
    for s in &SQLITE {
        eprintln!("measuring {} throughput", s.label);
        let tag = if s.durable { "full" } else { "normal" };
        let raw = Workload::raw(&dir.join(format!("raw-{tag}.db")), s.durable)?;
        let url = sqlite_url(dir, &format!("store-{tag}.db"), s.query);
        let mut workloads = vec![raw];
        workloads.extend(rt.block_on(Workload::store_set(&url))?);
        groups.push(rt.block_on(measure::run_group(s.label, workloads, cfg))?);
    }
    Ok(())
}

fn measure_handoff(
    rt: &tokio::runtime::Runtime,
    dir: &Path,
    cfg: &Config,
    handoffs: &mut Vec<handoff::Handoff>,
) -> Res<()> {
    eprintln!("measuring mem:// in-process handoff");
    handoffs.push(rt.block_on(handoff::in_process(
        "mem",
        "mem://interlock-bench-handoff",
        &dir.join("handoff-mem.ts"),
        cfg,
        true,
    ))?);
    for s in &SQLITE {
        eprintln!("measuring {} cross-process handoff", s.label);
        let tag = if s.durable { "full" } else { "normal" };
        let url = sqlite_url(dir, &format!("handoff-{tag}.db"), s.query);
        let ts = dir.join(format!("handoff-{tag}.ts"));
        handoffs.push(handoff::cross_process(rt, s.label, &url, &ts, cfg)?);
        eprintln!("measuring {} in-process handoff (reference)", s.label);
        let url = sqlite_url(dir, &format!("handoff-{tag}-inproc.db"), s.query);
        let ts = dir.join(format!("handoff-{tag}-inproc.ts"));
        handoffs.push(rt.block_on(handoff::in_process(s.label, &url, &ts, cfg, false))?);
    }
    Ok(())
}
