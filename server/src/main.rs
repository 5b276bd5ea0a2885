//! `interlock`: serves any interlock store over HTTP (`interlock serve`), so that browsers and
//! hosts without the native packages can use it.

mod api;
mod auth;
mod cli;
mod dashboard;
mod extract;
mod metrics;
mod openapi;
mod rest;
#[cfg(test)] // the list the tests check the router, the document and the metrics labels against
mod routes;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "interlock",
    version,
    about = "Coordination over an interlock store",
    after_help = "Exit codes: 0 done; 1 not found, or a compare-exchange that did not hold; \
                  2 bad usage or bad input; 3 the store failed; 4 lock timed out; 5 the lock \
                  was lost while the command ran; otherwise `lock` exits with the command's \
                  status."
)]
struct Cli {
    #[command(flatten)]
    store: cli::StoreArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serves the store over HTTP: the API under /v1/ and /healthz. With --token (or
    /// INTERLOCK_TOKEN, or --token-file) every request must carry it; without, the server
    /// listens on loopback only.
    Serve(ServeArgs),
    /// Prints an entry as JSON: {"key", "value", "index"} (exit 1 if absent).
    Get { key: String },
    /// Writes a JSON value; with --index, only if the key is at that index (0: absent).
    Put {
        key: String,
        /// The value, as JSON ('"text"', 42, '{"a": 1}').
        value: String,
        #[arg(long)]
        index: Option<u64>,
    },
    /// Deletes a key; with --index, only if it is at that index.
    Del {
        key: String,
        #[arg(long)]
        index: Option<u64>,
    },
    /// Prints every entry under a prefix, one JSON line each, in key order.
    Ls {
        #[arg(default_value = "")]
        prefix: String,
    },
    /// Prints the changes under a prefix as they happen, one JSON line each.
    Watch {
        #[arg(default_value = "")]
        prefix: String,
        /// Start at this index instead of now.
        #[arg(long)]
        from: Option<u64>,
    },
    /// Runs a command while holding a lock, with INTERLOCK_FENCING_TOKEN set.
    Lock {
        name: String,
        /// Seconds a crashed holder keeps others waiting.
        #[arg(long, default_value_t = 20.0)]
        ttl: f64,
        /// Seconds to wait for the lock (default: forever).
        #[arg(long)]
        timeout: Option<f64>,
        /// The command and its arguments, after `--`.
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
}

#[derive(Args)]
struct ServeArgs {
    /// The address to listen on; port 0 picks a free one (the first line of output names it).
    #[arg(long, default_value = "127.0.0.1:7070")]
    listen: SocketAddr,
    /// A file whose first line is the token every request must carry.
    #[arg(long, conflicts_with = "token")]
    token_file: Option<PathBuf>,
    /// An origin (scheme://host[:port]) whose pages may call the API from a browser; repeat
    /// for more. Without one, only pages served by this server can.
    #[arg(long = "cors-origin", value_name = "ORIGIN")]
    cors_origins: Vec<String>,
    /// Seconds a request (other than a watch) may take before the reply is 504.
    #[arg(long, default_value_t = 30.0)]
    request_timeout: f64,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("INTERLOCK_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("interlock: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = match cli.command {
        Command::Serve(args) => match runtime.block_on(serve(&cli.store, args)) {
            Ok(()) => Ok(ExitCode::SUCCESS),
            Err(message) => Err(cli::Failure {
                code: cli::EXIT_USAGE,
                message,
            }),
        },
        verb => runtime.block_on(run_verb(&cli.store, verb)),
    };
    match outcome {
        Ok(code) => code,
        Err(failure) => {
            eprintln!("interlock: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}

async fn run_verb(store: &cli::StoreArgs, verb: Command) -> cli::Outcome {
    let db = cli::connect(store).await?;
    match verb {
        Command::Serve(_) => unreachable!("serve is not a client verb"),
        Command::Get { key } => cli::get(&db, &key).await,
        Command::Put { key, value, index } => cli::put(&db, &key, &value, index).await,
        Command::Del { key, index } => cli::del(&db, &key, index).await,
        Command::Ls { prefix } => cli::ls(&db, &prefix).await,
        Command::Watch { prefix, from } => cli::watch(&db, &prefix, from).await,
        Command::Lock {
            name,
            ttl,
            timeout,
            command,
        } => {
            cli::lock(
                &db,
                cli::LockArgs {
                    name,
                    ttl,
                    timeout,
                    command,
                },
            )
            .await
        }
    }
}

async fn serve(store: &cli::StoreArgs, args: ServeArgs) -> Result<(), String> {
    let token = match (&store.token, &args.token_file) {
        (Some(t), _) => Some(t.trim().to_string()),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read the token file {}: {e}", path.display()))?;
            Some(text.lines().next().unwrap_or("").trim().to_string())
        }
        (None, None) => None,
    };
    if token.as_deref() == Some("") {
        return Err("the token is empty".into());
    }
    if token.is_none() {
        if !args.listen.ip().is_loopback() {
            return Err(format!(
                "refusing to listen on {} without a token: give --token or --token-file, or \
                 listen on a loopback address",
                args.listen
            ));
        }
        eprintln!("interlock: warning: no token; serving without authentication on loopback only");
    }
    let url = match store.store.clone() {
        Some(url) => url,
        None => interlock::default_url().map_err(|e| e.to_string())?,
    };
    let client = interlock::Client::connect(&url)
        .await
        .map_err(|e| format!("cannot open the store: {e}"))?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("cannot read the listening address: {e}"))?;
    let mut cors_origins = Vec::new();
    for origin in &args.cors_origins {
        let valid = (origin.starts_with("http://") || origin.starts_with("https://"))
            && !origin.trim_end_matches('/').contains(['?', '#', ' '])
            && origin.matches('/').count() == 2;
        let value = axum::http::HeaderValue::from_str(origin.trim_end_matches('/'))
            .ok()
            .filter(|_| valid)
            .ok_or_else(|| {
                format!("--cors-origin {origin:?} is not an origin like https://host:port")
            })?;
        cors_origins.push(value);
    }
    let request_timeout = std::time::Duration::try_from_secs_f64(args.request_timeout)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| "--request-timeout must be a positive number of seconds".to_string())?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let app = api::router(
        api::AppState::new(client.clone(), token, stop_rx),
        &api::Options {
            cors_origins,
            request_timeout,
        },
    );
    println!("interlock: serving {} on http://{addr}", client.describe());
    if !dashboard::has_package() {
        eprintln!(
            "interlock: warning: this binary was built without the WebAssembly package, so the \
             dashboard at / cannot run; build it with scripts/build-wasm.sh, then rebuild"
        );
    }
    let shutdown = async move {
        wait_for_signal().await;
        let _ = stop_tx.send(true);
    };
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|e| format!("the server failed: {e}"))
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
