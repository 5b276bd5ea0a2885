//! `interlock`: serves any interlock store over HTTP (`interlock serve`), so that browsers and
//! hosts without the native packages can use it.

mod api;
mod auth;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "interlock",
    version,
    about = "Coordination over an interlock store"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serves a store over HTTP: the REST+JSON API under /v1/ and /healthz.
    Serve(ServeArgs),
}

#[derive(Args)]
struct ServeArgs {
    /// The store to serve (mem://, sqlite:///path.db, etcd://hosts). Default: INTERLOCK_URL, else
    /// the embedded store in the user's data directory.
    #[arg(long, env = "INTERLOCK_URL")]
    store: Option<String>,
    /// The address to listen on; port 0 picks a free one (the first line of output names it).
    #[arg(long, default_value = "127.0.0.1:7070")]
    listen: SocketAddr,
    /// The bearer token every request under /v1/ must carry. Without one (and no --token-file)
    /// the server listens on loopback only.
    #[arg(
        long,
        env = "INTERLOCK_TOKEN",
        hide_env_values = true,
        conflicts_with = "token_file"
    )]
    token: Option<String>,
    /// A file whose first line is the token.
    #[arg(long)]
    token_file: Option<PathBuf>,
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
        Command::Serve(args) => runtime.block_on(serve(args)),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("interlock: {message}");
            ExitCode::from(2)
        }
    }
}

async fn serve(args: ServeArgs) -> Result<(), String> {
    let token = match (&args.token, &args.token_file) {
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
    let url = match args.store {
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
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let app = api::router(api::AppState::new(client.clone(), token, stop_rx));
    println!("interlock: serving {} on http://{addr}", client.describe());
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
