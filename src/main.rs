//! patchlag-exporter: flags, wiring, signals.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use tokio::net::TcpListener;

use patchlag_exporter::app::{App, Clock};
use patchlag_exporter::config::{Config, DEFAULT_CONFIG_FILE, DEFAULT_STORAGE_PATH};
use patchlag_exporter::metrics::BUILD;
use patchlag_exporter::server::{self, ServerState};
use patchlag_exporter::store::Store;
use patchlag_exporter::{logging, report};

const EXIT_CONFIG: u8 = 1;
const EXIT_FATAL: u8 = 2;
/// Threads for blocking work (SQLite, parsing, file reads, name lookups): enough that one slow
/// call does not hold up the others, few enough to keep the footprint small.
const BLOCKING_THREADS: usize = 4;

#[derive(Parser, Debug)]
#[command(
    name = "patchlag-exporter",
    about = "Prometheus exporter measuring how long patch-content vendors take to ship content after a security bulletin.",
    long_about = "Prometheus exporter measuring how long patch-content vendors take to ship content after a \
                  security bulletin.\n\nIt polls bulletin sources (when a clock starts, e.g. Microsoft's MSRC \
                  CVRF API) and release sources (when it stops, e.g. the vendor's PMImport releases), keeps \
                  the history in SQLite, and exposes delays, pending releases and goal breaches per tier.",
    disable_version_flag = true,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,

    #[command(flatten)]
    run: RunArgs,

    /// Print version, git revision and rustc version, then exit.
    #[arg(long, global = false)]
    version: bool,
}

#[derive(Args, Debug)]
struct RunArgs {
    /// YAML configuration file.
    #[arg(long = "config.file", value_name = "FILE", default_value = DEFAULT_CONFIG_FILE, help_heading = "Configuration")]
    config_file: PathBuf,

    /// Validate the configuration, print the result and exit 0 (valid) or 1 (invalid). No network access.
    #[arg(long = "config.check", help_heading = "Configuration")]
    config_check: bool,

    /// SQLite database file [default: storage.path from the configuration, else patchlag.db].
    #[arg(
        long = "storage.path",
        value_name = "FILE",
        help_heading = "Configuration"
    )]
    storage_path: Option<PathBuf>,

    /// Address to listen on for HTTP (":9786" means every interface).
    #[arg(
        long = "web.listen-address",
        value_name = "ADDR",
        default_value = ":9786",
        help_heading = "Web"
    )]
    listen_address: String,

    /// TLS and basic-auth settings (exporter-toolkit web configuration file).
    #[arg(long = "web.config.file", value_name = "FILE", help_heading = "Web")]
    web_config_file: Option<PathBuf>,

    /// Path under which metrics are exposed.
    #[arg(
        long = "web.telemetry-path",
        value_name = "PATH",
        default_value = "/metrics",
        help_heading = "Web"
    )]
    telemetry_path: String,

    /// Concurrent /metrics requests served at once; beyond it, 503. 0 means no cap.
    #[arg(
        long = "web.max-requests",
        value_name = "N",
        default_value_t = 0,
        help_heading = "Web"
    )]
    max_requests: usize,

    #[command(flatten)]
    log: LogArgs,

    /// Freeze the clock at this RFC 3339 instant (reproducible output for tests and demos).
    #[arg(long = "debug.fixed-now", value_name = "TIME", hide = true)]
    fixed_now: Option<String>,
}

#[derive(Args, Debug)]
struct LogArgs {
    /// Only log messages at or above this level: debug, info, warn, error.
    #[arg(
        long = "log.level",
        value_name = "LEVEL",
        default_value = "info",
        help_heading = "Logging"
    )]
    level: logging::Level,

    /// Log format: logfmt or json (to stderr).
    #[arg(
        long = "log.format",
        value_name = "FORMAT",
        default_value = "logfmt",
        help_heading = "Logging"
    )]
    format: logging::Format,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print the compliance history from the store: one row per tier and bulletin, then per-tier totals.
    Report(report::ReportArgs),
}

fn main() -> ExitCode {
    patchlag_exporter::memory::use_one_arena();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                _ => EXIT_CONFIG,
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    if cli.version {
        println!(
            "patchlag-exporter, version {} (revision: {})\n  rustc version: {}",
            BUILD.version, BUILD.revision, BUILD.rustc_version
        );
        return ExitCode::SUCCESS;
    }
    if let Some(Command::Report(args)) = cli.command {
        return report::run(args);
    }
    let args = cli.run;
    logging::init(args.log.level, args.log.format);
    run(args)
}

fn run(args: RunArgs) -> ExitCode {
    let config = match Config::load(&args.config_file) {
        Ok(c) => c,
        Err(e) => {
            if args.config_check {
                println!("FAILED: {e}");
            } else {
                tracing::error!(error = %e, "invalid configuration");
                eprintln!("error: {e}");
            }
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    if args.config_check {
        println!(
            "SUCCESS: {} is valid: {} tiers, {} sources",
            args.config_file.display(),
            config.tiers.len(),
            config.sources.len()
        );
        return ExitCode::SUCCESS;
    }
    if !args.telemetry_path.starts_with('/')
        || ["/", "/-/healthy", "/-/ready", "/-/reload", "/api/v1/status"]
            .contains(&args.telemetry_path.as_str())
    {
        eprintln!("error: --web.telemetry-path {:?} must start with '/' and not be one of the built-in paths", args.telemetry_path);
        return ExitCode::from(EXIT_CONFIG);
    }
    let clock = match &args.fixed_now {
        None => Clock::System,
        Some(t) => match chrono::DateTime::parse_from_rfc3339(t) {
            Ok(t) => Clock::Fixed(t.timestamp()),
            Err(e) => {
                eprintln!("error: --debug.fixed-now {t:?}: {e}");
                return ExitCode::from(EXIT_CONFIG);
            }
        },
    };
    // Serving cached bytes and waiting on sources needs one thread; CPU and blocking work goes
    // to the blocking pool.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .max_blocking_threads(BLOCKING_THREADS)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(EXIT_FATAL);
        }
    };
    runtime.block_on(serve(args, config, clock))
}

async fn bind(address: &str) -> std::io::Result<TcpListener> {
    if let Some(port) = address.strip_prefix(':') {
        // ":9786" is every interface, as in Prometheus: dual-stack where IPv6 exists.
        let port: u16 = port.parse().map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("invalid port in {address:?}"),
            )
        })?;
        return match TcpListener::bind(SocketAddr::from(([0u16; 8], port))).await {
            Ok(l) => Ok(l),
            Err(_) => TcpListener::bind(SocketAddr::from(([0u8; 4], port))).await,
        };
    }
    TcpListener::bind(address).await
}

async fn serve(args: RunArgs, config: Config, clock: Clock) -> ExitCode {
    patchlag_exporter::install_crypto_provider();
    let storage_path = args
        .storage_path
        .clone()
        .or_else(|| config.storage_path.clone())
        .unwrap_or_else(|| PathBuf::from(DEFAULT_STORAGE_PATH));
    let store = match Store::open(&storage_path) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot open the store");
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_FATAL);
        }
    };
    if args.web_config_file.is_some() {
        eprintln!("error: --web.config.file is not supported by this build");
        return ExitCode::from(EXIT_CONFIG);
    }
    let listener = match bind(&args.listen_address).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(address = %args.listen_address, error = %e, "cannot listen");
            eprintln!("error: cannot listen on {}: {e}", args.listen_address);
            return ExitCode::from(EXIT_FATAL);
        }
    };
    tracing::info!(
        version = BUILD.version,
        revision = BUILD.revision,
        config = %args.config_file.display(),
        storage = %storage_path.display(),
        tiers = config.tiers.len(),
        sources = config.sources.len(),
        "starting patchlag-exporter"
    );
    let app = match App::new(config, args.config_file.clone(), store, clock) {
        Ok(app) => app,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_FATAL);
        }
    };
    app.start_pollers();
    let state = ServerState {
        app: app.clone(),
        telemetry_path: args.telemetry_path.clone(),
        scrape_slots: (args.max_requests > 0)
            .then(|| Arc::new(tokio::sync::Semaphore::new(args.max_requests))),
    };
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(address = %addr, "listening");
    }
    tokio::spawn(reload_on_sighup(app.clone()));
    let served = axum::serve(listener, server::router(state))
        .with_graceful_shutdown(shutdown_signal())
        .await;
    app.stop_pollers();
    match served {
        Ok(()) => {
            tracing::info!("shut down");
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!(error = %e, "server failed");
            ExitCode::from(EXIT_FATAL)
        }
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("received SIGTERM, shutting down"),
        _ = tokio::signal::ctrl_c() => tracing::info!("received SIGINT, shutting down"),
    }
}

async fn reload_on_sighup(app: Arc<App>) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        return;
    };
    while hup.recv().await.is_some() {
        tracing::info!("received SIGHUP, reloading the configuration");
        let _ = app.reload().await;
    }
}
