//! The five problems (docs/design.md, The five problems) on the embedded SQLite store, with real OS
//! processes.
//!
//! ```text
//! cargo run --release -p interlock --example demo [-- --store sqlite:///path/demo.db]
//! ```
//!
//! Without `--store` the demo uses a fresh store in a temporary directory. Workers are this
//! same binary, re-executed with a hidden subcommand; they report to the parent on stdout.

#[path = "demo/lock.rs"]
mod lock;
#[path = "demo/procs.rs"]
mod procs;
#[path = "demo/records.rs"]
mod records;
#[path = "demo/reserve.rs"]
mod reserve;
#[path = "demo/transfer.rs"]
mod transfer;

use std::path::PathBuf;
use std::time::Instant;

use interlock::Client;
use procs::{DynResult, WORKER, emit};

/// What every scenario needs: the store, a client on it and the binary to re-execute.
pub struct Ctx {
    pub url: String,
    pub exe: PathBuf,
    pub client: Client,
}

impl Ctx {
    pub fn group(&self) -> procs::Group {
        procs::Group::new(&self.exe, &self.url)
    }
}

/// The checks a scenario made and a one-line account of it.
#[derive(Default)]
pub struct Outcome {
    checks: Vec<bool>,
    pub summary: String,
}

impl Outcome {
    /// Records and prints one check.
    pub fn check(&mut self, ok: bool, what: impl AsRef<str>) {
        println!(
            "   {} {}",
            if ok { "[ok]  " } else { "[FAIL]" },
            what.as_ref()
        );
        self.checks.push(ok);
    }

    fn passed(&self) -> bool {
        !self.checks.is_empty() && self.checks.iter().all(|c| *c)
    }
}

type Scenario = for<'a> fn(&'a Ctx) -> futures::future::BoxFuture<'a, DynResult<Outcome>>;

const SCENARIOS: [(&str, Scenario); 5] = [
    ("Shared-resource lock with expiry", |c| {
        Box::pin(lock::run(c))
    }),
    ("Unique reservation", |c| {
        Box::pin(reserve::run_reservation(c))
    }),
    ("Duplicate notifications ms apart", |c| {
        Box::pin(reserve::run_notifications(c))
    }),
    ("Concurrent edits of one record", |c| {
        Box::pin(records::run(c))
    }),
    ("Transfer between accounts", |c| Box::pin(transfer::run(c))),
];

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some(WORKER) {
        let code = match worker(&args[1..]).await {
            Ok(()) => 0,
            Err(e) => {
                emit("error", serde_json::json!({ "message": e.to_string() }));
                1
            }
        };
        std::process::exit(code);
    }
    let code = match parent(&args).await {
        Ok(true) => 0,
        Ok(false) => 1,
        Err(e) => {
            eprintln!("demo: {e}");
            2
        }
    };
    std::process::exit(code);
}

/// `__worker <role> <store url> <id> [args...]`
async fn worker(args: &[String]) -> DynResult<()> {
    let [role, url, id, rest @ ..] = args else {
        return Err("usage: demo __worker ROLE URL ID [ARGS...]".into());
    };
    let client = Client::connect(url).await?;
    let id: u32 = id.parse()?;
    match role.as_str() {
        "lock" => lock::worker(client, id, rest).await,
        "reserve" => reserve::reservation_worker(client, id).await,
        "consumer" => reserve::consumer_worker(client, id).await,
        "edit" => records::worker(client, id, rest).await,
        "transfer" => transfer::worker(client, id, rest).await,
        _ => Err(format!("unknown worker role '{role}'").into()),
    }
}

async fn parent(args: &[String]) -> DynResult<bool> {
    let mut store = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--store" => store = Some(it.next().ok_or("--store needs a URL")?.clone()),
            "-h" | "--help" => {
                println!(
                    "usage: demo [--store sqlite:///path/to/store.db | http://HOST:PORT | etcd://...]"
                );
                return Ok(true);
            }
            other => return Err(format!("unknown argument '{other}' (try --help)").into()),
        }
    }
    let tmp = tempfile::Builder::new()
        .prefix("interlock-demo-")
        .tempdir()?;
    let fresh = store.is_none();
    let url = store.unwrap_or_else(|| format!("sqlite://{}", tmp.path().join("demo.db").display()));
    if url.starts_with("mem://") {
        return Err(format!(
            "the demo runs worker processes, so it needs a store shared by processes (sqlite://, \
             http:// or etcd://), not '{url}'"
        )
        .into());
    }
    let ctx = Ctx {
        client: Client::connect(&url).await?,
        exe: std::env::current_exe()?,
        url,
    };
    println!("interlock demo: the five problems of docs/design.md");
    println!(
        "store: {} ({})",
        ctx.url,
        if fresh { "fresh, temporary" } else { "given" }
    );

    let mut results = Vec::new();
    for (n, (title, scenario)) in SCENARIOS.iter().enumerate() {
        println!("\n{}. {title}", n + 1);
        let started = Instant::now();
        let outcome = match scenario(&ctx).await {
            Ok(o) => o,
            Err(e) => {
                let mut o = Outcome::default();
                o.check(false, format!("the scenario failed: {e}"));
                o.summary = format!("error: {e}");
                o
            }
        };
        results.push((title, outcome, started.elapsed()));
    }

    println!("\nSummary");
    let mut all = true;
    for (n, (title, outcome, took)) in results.iter().enumerate() {
        let pass = outcome.passed();
        all &= pass;
        println!(
            "  {}. {:<34} {}  {:>5.1}s  {}",
            n + 1,
            title,
            if pass { "PASS" } else { "FAIL" },
            took.as_secs_f64(),
            outcome.summary
        );
    }
    println!(
        "{}",
        if all {
            "all scenarios passed"
        } else {
            "SOME SCENARIOS FAILED"
        }
    );
    drop(tmp);
    Ok(all)
}
