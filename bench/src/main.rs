//! interlock's benchmark: throughput of lock+unlock, compare-exchange put and a two-key transfer
//! on `mem://`, SQLite (durable and `sync=normal`) and a 3-member etcd cluster on loopback, the
//! raw SQLite write transaction and the raw etcd gateway requests they are compared against, and
//! lock handoff latency across processes. Prints a Markdown table.
//!
//! Run it with `bash scripts/bench.sh [--quick] [--json PATH] [--only etcd]`. The server's
//! benchmark (`interlock-bench server …`, see `serve.rs`) runs with `bash scripts/bench-server.sh`.

mod etcd;
#[cfg(feature = "grpc")]
mod grpc;
mod handoff;
mod json;
mod load;
mod measure;
mod overhead;
mod report;
mod serve;
mod soak;

use std::path::{Path, PathBuf};
use std::time::Duration;

use measure::Workload;

pub type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const USAGE: &str = "usage: interlock-bench [--quick] [--json PATH] [--batches N] [--batch-ms MS]
                       [--rounds N] [--workers N]
       interlock-bench server --help   (the benchmark of `interlock serve`)
       interlock-bench soak --help     (the memory soak: many lock names and TTLs)
  --quick       smoke run: a few hundred ops per measurement, finishes in seconds
  --json PATH   also write every result as JSON to PATH
  --batches N   timed batches per throughput measurement (median reported; default 5)
  --batch-ms MS minimum length of one batch (default 1000)
  --rounds N    lock acquisitions per handoff worker (default 400)
  --workers N   processes (or tasks, for mem) contending in the handoff test (default 2)
  --only WHAT   run only 'throughput', only 'handoff', only 'local' (mem:// and SQLite) or
                only 'etcd' (a 3-member cluster this program starts); repeat to combine, as in
                '--only etcd --only throughput'";

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
    /// The `mem://` and SQLite stores.
    pub local: bool,
    pub etcd: bool,
    /// `--only etcd`: fail, rather than skip the etcd part, when etcd cannot run.
    pub etcd_required: bool,
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
        local: true,
        etcd: true,
        etcd_required: false,
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
                "local" => c.etcd = false,
                "etcd" => {
                    c.local = false;
                    c.etcd_required = true;
                }
                other => {
                    return Err(format!(
                        "--only {other}: expected throughput, handoff, local or etcd"
                    )
                    .into());
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
    if !(c.throughput || c.handoff) || !(c.local || c.etcd) {
        return Err("these --only options leave nothing to run".into());
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
    let result = match args.first().map(String::as_str) {
        Some(handoff::WORKER_CMD) => handoff::worker_main(&args[1..]),
        Some(serve::CMD) => serve::main(&args[1..]),
        Some(soak::CMD) => soak::main(&args[1..]),
        _ => parse_args(&args).and_then(run),
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
    let mut handoffs = Vec::new();
    if cfg.local && cfg.throughput {
        measure_throughput(&rt, dir.path(), &cfg, &mut groups)?;
    }
    if cfg.local && cfg.handoff {
        measure_handoff(&rt, dir.path(), &cfg, &mut handoffs)?;
    }
    // A failure of the etcd part is reported after the other results are printed.
    let mut etcd_failure = None;
    let etcd = if cfg.etcd {
        match etcd::version() {
            Ok(version) => {
                match measure_etcd(&rt, dir.path(), &cfg, version, &mut groups, &mut handoffs) {
                    Ok(run) => Some(run),
                    Err(e) => {
                        etcd_failure = Some(format!("the etcd benchmarks failed: {e}"));
                        None
                    }
                }
            }
            Err(e) if cfg.etcd_required => return Err(e.into()),
            Err(e) => {
                eprintln!("skipping the etcd benchmarks: {e}");
                None
            }
        }
    } else {
        None
    };
    drop(rt);

    let elapsed = started.elapsed();
    print!(
        "{}",
        report::markdown(&groups, &handoffs, etcd.as_ref(), &cfg, elapsed)
    );
    if let Some(path) = &cfg.json {
        let json = json::json(&groups, &handoffs, etcd.as_ref(), &cfg, elapsed);
        std::fs::write(path, serde_json::to_string_pretty(&json)? + "\n")
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    match etcd_failure {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}

fn measure_throughput(
    rt: &tokio::runtime::Runtime,
    dir: &Path,
    cfg: &Config,
    groups: &mut Vec<measure::Group>,
) -> Res<()> {
    eprintln!("measuring mem:// throughput");
    let mut workloads = rt.block_on(Workload::store_set("mem://"))?;
    groups.push(rt.block_on(measure::run_group("mem", &mut workloads, cfg))?);
    for s in &SQLITE {
        eprintln!("measuring {} throughput", s.label);
        let tag = if s.durable { "full" } else { "normal" };
        let raw = Workload::raw(&dir.join(format!("raw-{tag}.db")), s.durable)?;
        let url = sqlite_url(dir, &format!("store-{tag}.db"), s.query);
        let mut workloads = vec![raw];
        workloads.extend(rt.block_on(Workload::store_set(&url))?);
        groups.push(rt.block_on(measure::run_group(s.label, &mut workloads, cfg))?);
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
        handoff::HOLD,
    ))?);
    for s in &SQLITE {
        eprintln!("measuring {} cross-process handoff", s.label);
        let tag = if s.durable { "full" } else { "normal" };
        let url = sqlite_url(dir, &format!("handoff-{tag}.db"), s.query);
        let ts = dir.join(format!("handoff-{tag}.ts"));
        handoffs.push(handoff::cross_process(
            rt,
            s.label,
            &url,
            &ts,
            cfg,
            handoff::HOLD,
        )?);
        eprintln!("measuring {} in-process handoff (reference)", s.label);
        let url = sqlite_url(dir, &format!("handoff-{tag}-inproc.db"), s.query);
        let ts = dir.join(format!("handoff-{tag}-inproc.ts"));
        handoffs.push(rt.block_on(handoff::in_process(
            s.label,
            &url,
            &ts,
            cfg,
            false,
            handoff::HOLD,
        ))?);
    }
    Ok(())
}

/// The etcd part: starts a 3-member cluster, measures the raw floor and interlock against the
/// member that leads it, and stops it again.
fn measure_etcd(
    rt: &tokio::runtime::Runtime,
    dir: &Path,
    cfg: &Config,
    version: String,
    groups: &mut Vec<measure::Group>,
    handoffs: &mut Vec<handoff::Handoff>,
) -> Res<report::EtcdRun> {
    eprintln!(
        "starting a {}-member etcd cluster on loopback ({version})",
        etcd::MEMBERS
    );
    let cluster = etcd::Etcd::start()?;
    let raw = etcd::Raw::new(&cluster.base)?;
    let mut run = report::EtcdRun {
        version,
        member: cluster.member,
        leader_after: None,
        requests: Vec::new(),
        floor: None,
    };
    let label = etcd::LABEL;
    if cfg.throughput {
        eprintln!("measuring {label} throughput");
        let mut workloads: Vec<Workload> = rt
            .block_on(etcd::RawOp::set(&raw))?
            .into_iter()
            .map(Workload::Etcd)
            .collect();
        // The same txns over native gRPC, on a client of the same member, kept until the end.
        #[cfg(feature = "grpc")]
        let grpc_client = rt.block_on(grpc::connect(&cluster.base))?;
        #[cfg(feature = "grpc")]
        workloads.extend(
            rt.block_on(grpc::GrpcOp::set(&grpc_client))?
                .into_iter()
                .map(|op| Workload::Grpc(Box::new(op))),
        );
        workloads.extend(rt.block_on(Workload::store_set(&cluster.url))?);
        groups.push(rt.block_on(measure::run_group(label, &mut workloads, cfg))?);
        eprintln!("counting the gateway requests of each {label} op");
        let ops = if cfg.quick { 20 } else { 200 };
        for w in &mut workloads {
            let before = rt.block_on(raw.grpc_started())?;
            rt.block_on(measure::run_batch(w, Duration::MAX, ops))?;
            let after = rt.block_on(raw.grpc_started())?;
            let per_op = after
                .iter()
                .filter_map(|(method, n)| {
                    let d = n - before.get(method).copied().unwrap_or(0.0);
                    (d > 0.0).then(|| (method.clone(), d / ops as f64))
                })
                .collect();
            run.requests.push((w.kind(), per_op));
        }
        rt.block_on(async {
            for w in &workloads {
                match w {
                    Workload::Etcd(op) => {
                        if let Some((raw, lease)) = op.lease() {
                            raw.revoke(lease).await?;
                        }
                    }
                    #[cfg(feature = "grpc")]
                    Workload::Grpc(op) => op.revoke(&grpc_client).await?,
                    _ => {}
                }
            }
            drop(workloads);
            Res::Ok(())
        })?;
    }
    if cfg.handoff {
        eprintln!("measuring the raw {label} handoff floor (delete txn → watch event)");
        run.floor = Some(rt.block_on(etcd::watch_floor(&raw, cfg.rounds))?);
        eprintln!("measuring {label} cross-process handoff");
        let ts = dir.join("handoff-etcd.ts");
        let mut h = handoff::cross_process(rt, label, &cluster.url, &ts, cfg, handoff::ETCD_HOLD)?;
        // The 1 ms / 10 ms targets are for the local stores; etcd is compared with its floor.
        h.judged = false;
        handoffs.push(h);
        // The floor's watcher shares a process with the deleter; so do these two clients. Their
        // handoff is the one judged against the floor; the cross-process one also wakes a process.
        eprintln!("measuring {label} in-process handoff");
        let ts = dir.join("handoff-etcd-inproc.ts");
        handoffs.push(rt.block_on(handoff::in_process(
            label,
            &cluster.url,
            &ts,
            cfg,
            false,
            handoff::ETCD_HOLD,
        ))?);
    }
    run.leader_after = cluster.leader_now();
    Ok(run)
}
