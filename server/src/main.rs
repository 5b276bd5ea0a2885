//! `interlock`: serves any interlock store over HTTP (`interlock serve`), so that browsers and
//! hosts without the native packages can use it.

mod api;
mod auth;
mod backend;
mod cli;
mod dashboard;
mod extract;
mod listen;
mod metrics;
mod openapi;
mod reply;
mod rest;
mod service;
mod state;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::parser::ValueSource;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};

/// The exit codes, as `--help` lists them (`cli.rs` defines them).
const EXIT_CODES: &str = "Exit codes: 0 done; 1 not found, or a compare-exchange that did not \
    hold, or `serve` could not run (its address in use); 2 bad usage or bad input; 3 the store failed; 4 `lock` did not get the lock (--timeout \
    passed, or it was taken and --nonblock given; -E sets another code); 5 `lock` lost the lock \
    while the command ran; 126 the command could not be run, 127 it was not found; otherwise \
    `lock` exits with the command's status (128 + N if signal N ended it).";

#[derive(Parser)]
#[command(
    name = "interlock",
    version,
    about = "Coordination over an interlock store: values, locks and a server",
    after_help = EXIT_CODES
)]
struct Cli {
    #[command(flatten)]
    store: cli::StoreArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serves the store over HTTP: the API under /v1/, /healthz, /metrics, /openapi.json and the
    /// dashboard at /. With --token (or INTERLOCK_TOKEN, or --token-file) every request under
    /// /v1/ must carry it; without, the server listens on loopback only. Prints the address it
    /// listens on, then the dashboard's address.
    Serve(ServeArgs),
    #[command(flatten)]
    Verb(Verb),
    /// Prints a completion script for a shell, e.g. `interlock completions bash >
    /// ~/.local/share/bash-completion/completions/interlock`.
    Completions {
        /// The shell to complete in.
        shell: clap_complete::Shell,
    },
}

/// The verbs that act on the store as its clients.
#[derive(Subcommand)]
enum Verb {
    /// Prints an entry as JSON: {"key", "value", "index"} (exit 1 if absent).
    Get {
        /// The key to read.
        key: String,
    },
    /// Writes a JSON value; with --index, only if the key is at that index (0: absent).
    Put {
        /// The key to write.
        key: String,
        /// The value, as JSON ('"text"', 42, -1.5, '{"a": 1}').
        #[arg(allow_negative_numbers = true)]
        value: String,
        /// Write only if the key is at this index (0: only if it is absent); otherwise exit 1
        /// and print the current entry.
        #[arg(long, value_parser = cli::index_arg, allow_negative_numbers = true)]
        index: Option<u64>,
    },
    /// Deletes a key; with --index, only if it is at that index.
    Del {
        /// The key to delete.
        key: String,
        /// Delete only if the key is at this index; otherwise exit 1.
        #[arg(long, value_parser = cli::index_arg, allow_negative_numbers = true)]
        index: Option<u64>,
    },
    /// Prints every entry under a prefix, one JSON line each, in key order.
    Ls {
        /// Only keys starting with this (default: every key).
        #[arg(default_value = "")]
        prefix: String,
    },
    /// Prints the changes under a prefix as they happen, one JSON line each.
    Watch {
        /// Only keys starting with this (default: every key).
        #[arg(default_value = "")]
        prefix: String,
        /// Start at this index instead of now.
        #[arg(long, value_parser = cli::index_arg, allow_negative_numbers = true)]
        from: Option<u64>,
    },
    /// Runs a command while holding a lock, with INTERLOCK_FENCING_TOKEN set (like flock(1),
    /// across machines).
    Lock(LockArgs),
}

#[derive(Args)]
#[command(group = clap::ArgGroup::new("limit").args(["timeout", "nonblock"]))]
struct LockArgs {
    /// The lock's name: commands locking the same name on the same store run one at a time.
    name: String,
    /// Seconds a crashed holder keeps others waiting.
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 20.0,
        value_parser = cli::seconds_arg,
        allow_negative_numbers = true
    )]
    ttl: f64,
    /// Seconds to wait for the lock (default: forever); then exit 4, or -E's code.
    #[arg(
        long,
        value_name = "SECONDS",
        value_parser = cli::seconds_arg,
        allow_negative_numbers = true
    )]
    timeout: Option<f64>,
    /// Do not wait: if the lock is held or others wait for it, exit 4 (or -E's code) at once.
    #[arg(short = 'n', long)]
    nonblock: bool,
    /// The exit code (0 to 255) when the lock was not taken: held with --nonblock, or
    /// --timeout passed. Default: 4.
    #[arg(
        short = 'E',
        long,
        value_name = "CODE",
        value_parser = cli::exit_code_arg,
        allow_negative_numbers = true
    )]
    conflict_exit_code: Option<u8>,
    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true)]
    command: Vec<String>,
}

#[derive(Args)]
struct ServeArgs {
    /// The address to listen on; port 0 picks a free one (the first line of output names it).
    #[arg(
        long,
        value_name = "ADDR",
        default_value = "127.0.0.1:7070",
        value_parser = cli::listen_arg
    )]
    listen: SocketAddr,
    /// A file whose first line is the token every request must carry (instead of --token; it
    /// wins over INTERLOCK_TOKEN).
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    token_file: Option<PathBuf>,
    /// An origin (scheme://host[:port]) whose pages may call the API from a browser; repeat
    /// for more. Without one, only pages served by this server can.
    #[arg(long = "cors-origin", value_name = "ORIGIN")]
    cors_origins: Vec<String>,
    /// Seconds a request (other than a watch) may take before the reply is 504.
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 30.0,
        value_parser = cli::seconds_arg,
        allow_negative_numbers = true
    )]
    request_timeout: f64,
    /// Seconds a client may take to send a request's line and headers (and a kept-alive
    /// connection may stay idle) before its connection is closed.
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 30.0,
        value_parser = cli::seconds_arg,
        allow_negative_numbers = true
    )]
    header_read_timeout: f64,
}

fn main() -> ExitCode {
    let cli = parse();
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
        Command::Completions { shell } => return completions(shell),
        Command::Serve(args) => runtime
            .block_on(serve(&cli.store, args))
            .map(|()| ExitCode::SUCCESS),
        Command::Verb(verb) => runtime.block_on(run_verb(&cli.store, verb)),
    };
    match outcome {
        Ok(code) => code,
        Err(failure) => {
            eprintln!("interlock: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}

async fn run_verb(store: &cli::StoreArgs, verb: Verb) -> cli::Outcome {
    let db = cli::connect(store).await?;
    match verb {
        Verb::Get { key } => cli::get(&db, &key).await,
        Verb::Put { key, value, index } => cli::put(&db, &key, &value, index).await,
        Verb::Del { key, index } => cli::del(&db, &key, index).await,
        Verb::Ls { prefix } => cli::ls(&db, &prefix).await,
        Verb::Watch { prefix, from } => cli::watch(&db, &prefix, from).await,
        Verb::Lock(args) => {
            let wait = match (args.nonblock, args.timeout) {
                (true, _) => cli::Wait::No,
                (false, Some(seconds)) => cli::Wait::Seconds(seconds),
                (false, None) => cli::Wait::Forever,
            };
            cli::lock(
                &db,
                cli::LockArgs {
                    name: args.name,
                    ttl: args.ttl,
                    wait,
                    conflict_exit_code: args.conflict_exit_code,
                    command: args.command,
                },
            )
            .await
        }
    }
}

/// Parses the command line, with the rules clap's attributes cannot say; exits 2 (or 0 for
/// `--help` and `--version`) with clap's message and usage, as for its own errors.
fn parse() -> Cli {
    let matches = command().get_matches();
    let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| {
        e.format(&mut command()).exit();
    });
    // A usage error of the subcommand `name`, with its usage line.
    let usage = |name: &str, kind: clap::error::ErrorKind, message: String| -> ! {
        // Named as it was run, as clap's own usage errors name it.
        let run_as = std::env::args_os()
            .next()
            .and_then(|arg0| {
                let name = std::path::Path::new(&arg0)
                    .file_name()?
                    .to_str()?
                    .to_string();
                Some(name)
            })
            .unwrap_or_else(|| "interlock".to_string());
        let mut command = command().bin_name(run_as);
        command.build();
        match command.find_subcommand_mut(name) {
            Some(sub) => sub.error(kind, message).exit(),
            None => command.error(kind, message).exit(),
        }
    };
    match &cli.command {
        Command::Verb(Verb::Lock(lock)) => {
            // flock(1) ignores -E without -n or -w; here it is a mistake worth naming.
            if let (Some(code), None, false) =
                (lock.conflict_exit_code, lock.timeout, lock.nonblock)
            {
                usage(
                    "lock",
                    clap::error::ErrorKind::MissingRequiredArgument,
                    format!(
                        "--conflict-exit-code {code} applies only when the lock may not be \
                         taken: give it with --nonblock or --timeout"
                    ),
                );
            }
        }
        Command::Serve(serve) if serve.token_file.is_some() => {
            // A token given twice is a mistake; one in the environment (exported for the
            // verbs, say) gives way to the file named on the command line.
            let source = matches
                .subcommand_matches("serve")
                .and_then(|m| m.value_source("token"));
            match source {
                Some(ValueSource::EnvVariable) => cli.store.token = None,
                Some(_) => usage(
                    "serve",
                    clap::error::ErrorKind::ArgumentConflict,
                    "--token and --token-file both give the token: give one".to_string(),
                ),
                None => {}
            }
        }
        _ => {}
    }
    cli
}

/// The command line's definition. `--store` and `--token` are global (they may come before or
/// after the verb), so clap would list them under `completions` too, which has no use for them.
fn command() -> clap::Command {
    // A subcommand's own argument of the same name keeps the global one out of it.
    let hidden = |name: &'static str| clap::Arg::new(name).long(name).hide(true);
    Cli::command().mut_subcommand("completions", |sub| {
        sub.arg(hidden("store")).arg(hidden("token"))
    })
}

/// Prints the completion script for `shell`. A closed stdout ends the program quietly.
fn completions(shell: clap_complete::Shell) -> ExitCode {
    use std::io::Write;
    // Generated into memory first: clap_complete panics on a failed write.
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command(), "interlock", &mut script);
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(&script).and_then(|_| out.flush());
    ExitCode::SUCCESS
}

/// A usage error of `serve` (exit 2).
fn usage_error(message: impl Into<String>) -> cli::Failure {
    cli::Failure {
        code: cli::EXIT_USAGE,
        message: message.into(),
    }
}

/// The server cannot run, for a reason of the machine's rather than of its arguments (exit 1):
/// its address is in use, say.
fn cannot_serve(message: impl Into<String>) -> cli::Failure {
    cli::Failure {
        code: cli::EXIT_NOT_DONE,
        message: message.into(),
    }
}

/// Why `addr` cannot be listened on, in words: "address 127.0.0.1:7070 is already in use".
fn listen_error(addr: SocketAddr, e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::AddrInUse => format!(
            "cannot listen: address {addr} is already in use (another server, or another \
             program, listens there; give another with --listen)"
        ),
        std::io::ErrorKind::AddrNotAvailable => {
            format!("cannot listen: address {addr} is not an address of this machine")
        }
        std::io::ErrorKind::PermissionDenied => {
            format!("cannot listen on {addr}: permission denied (ports below 1024 need privileges)")
        }
        _ => format!("cannot listen on {addr}: {e}"),
    }
}

async fn serve(store: &cli::StoreArgs, args: ServeArgs) -> Result<(), cli::Failure> {
    let token = match (&store.token, &args.token_file) {
        (Some(t), _) => Some(t.trim().to_string()),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                usage_error(format!(
                    "cannot read the token file {}: {e}",
                    path.display()
                ))
            })?;
            Some(text.lines().next().unwrap_or("").trim().to_string())
        }
        (None, None) => None,
    };
    if token.as_deref() == Some("") {
        return Err(usage_error("the token is empty"));
    }
    if token.is_none() {
        if !args.listen.ip().is_loopback() {
            return Err(usage_error(format!(
                "refusing to listen on {} without a token: give --token or --token-file, or \
                 listen on a loopback address",
                args.listen
            )));
        }
        eprintln!("interlock: warning: no token; serving without authentication on loopback only");
    }
    let url = match store.store.clone() {
        Some(url) => url,
        None => interlock::default_url()?,
    };
    let client = interlock::Client::connect(&url).await.map_err(|e| {
        let mut failure = cli::Failure::from(e);
        failure.message = format!("cannot open the store: {}", failure.message);
        failure
    })?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| cannot_serve(listen_error(args.listen, &e)))?;
    let addr = listener
        .local_addr()
        .map_err(|e| cannot_serve(format!("cannot read the listening address: {e}")))?;
    let mut cors_origins = Vec::new();
    for origin in &args.cors_origins {
        let valid = (origin.starts_with("http://") || origin.starts_with("https://"))
            && !origin.trim_end_matches('/').contains(['?', '#', ' '])
            && origin.matches('/').count() == 2;
        let value = axum::http::HeaderValue::from_str(origin.trim_end_matches('/'))
            .ok()
            .filter(|_| valid)
            .ok_or_else(|| {
                usage_error(format!(
                    "--cors-origin {origin:?} is not an origin like https://host:port"
                ))
            })?;
        cors_origins.push(value);
    }
    let request_timeout = std::time::Duration::try_from_secs_f64(args.request_timeout)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| usage_error("--request-timeout must be a positive number of seconds"))?;
    let header_read_timeout = std::time::Duration::try_from_secs_f64(args.header_read_timeout)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| usage_error("--header-read-timeout must be a positive number of seconds"))?;
    let token_required = token.is_some();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let app = api::router(
        api::AppState::new(client.clone(), token, stop_rx),
        &api::Options {
            cors_origins,
            request_timeout,
        },
    );
    say(&format!(
        "interlock: serving {} on http://{addr}",
        client.describe()
    ));
    say(&format!(
        "interlock: dashboard: {}",
        dashboard_url(addr, token_required)
    ));
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
    listen::serve(listener, app, header_read_timeout, shutdown).await;
    Ok(())
}

/// Writes a line to stdout. A closed stdout (whoever started the server read the address and
/// went) is no reason to stop serving.
fn say(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|_| out.flush());
}

/// Where a browser on this machine opens the dashboard: the listening address, or loopback when
/// that is every address. The token is not printed: the page asks for it, or takes it from the
/// address's fragment, which the browser never sends.
fn dashboard_url(addr: SocketAddr, token_required: bool) -> String {
    let mut addr = addr;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let url = format!("http://{addr}/");
    if token_required {
        format!("{url} (it asks for the token, or give it in the address: {url}#token=<TOKEN>)")
    } else {
        url
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The words of a shell command line as sh splits them (quotes, `#` comments), up to the
    /// first redirection, pipe or separator.
    fn words(line: &str) -> Vec<String> {
        let mut words = Vec::new();
        let mut word: Option<String> = None;
        let mut chars = line.chars();
        while let Some(c) = chars.next() {
            match c {
                '\'' | '"' => {
                    let text = word.get_or_insert_with(String::new);
                    for q in chars.by_ref() {
                        if q == c {
                            break;
                        }
                        text.push(q);
                    }
                }
                ' ' | '\t' => words.extend(word.take()),
                '#' if word.is_none() => break,
                '>' | '<' | '|' | ';' | '&' => break,
                _ => word.get_or_insert_with(String::new).push(c),
            }
        }
        words.extend(word);
        words
    }

    /// Every `interlock` command of the README's listing and of docs/cli.md parses, as
    /// `interlock` would parse it (server/tests/readme_cli.rs also runs the README's).
    #[test]
    fn the_documented_command_lines_parse() {
        let dir = std::env::var("CARGO_MANIFEST_DIR")
            .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string());
        let readme = std::fs::read_to_string(format!("{dir}/../README.md")).unwrap();
        let section = readme
            .split("\n## The server and the command line\n")
            .nth(1)
            .expect("the README has a section 'The server and the command line'");
        let section = section.split("\n## ").next().unwrap_or_default();
        let cli_doc = std::fs::read_to_string(format!("{dir}/../docs/cli.md")).unwrap();
        let mut parsed = 0;
        for text in [section, cli_doc.as_str()] {
            for block in text.split("```sh\n").skip(1) {
                let block = block.split("\n```").next().unwrap_or_default();
                for line in block.lines() {
                    let words = words(line);
                    if words.first().map(String::as_str) != Some("interlock") {
                        continue;
                    }
                    match Cli::try_parse_from(&words) {
                        Ok(_) => {}
                        Err(e) if e.kind() == clap::error::ErrorKind::DisplayVersion => {}
                        Err(e) => panic!("{line}\n{words:?}\n{e}"),
                    }
                    parsed += 1;
                }
            }
        }
        assert!(parsed >= 10, "only {parsed} documented commands");
        // And the splitter sees a bad one.
        assert_eq!(
            words(r#"interlock put k '"v"' --index 0  # c"#),
            ["interlock", "put", "k", "\"v\"", "--index", "0"]
        );
        assert!(Cli::try_parse_from(words("interlock lock x --frob -- y")).is_err());
    }
}
