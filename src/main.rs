//! patchlag-exporter: flags, wiring, signals.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use tokio::net::TcpListener;

use patchlag_exporter::app::{App, LoadedConfig};
use patchlag_exporter::build_info::BUILD;
use patchlag_exporter::clock::Clock;
use patchlag_exporter::config::{DEFAULT_CONFIG_FILE, DEFAULT_STORAGE_PATH};
use patchlag_exporter::server::{self, ServerState};
use patchlag_exporter::store::Store;
use patchlag_exporter::web::listener::{self as http, DEFAULT_MAX_CONNECTIONS};
use patchlag_exporter::web::{self, WebConfig};
use patchlag_exporter::{logging, report};

const EXIT_CONFIG: u8 = 1;
const EXIT_FATAL: u8 = 2;
/// Threads for blocking work (SQLite, parsing, file reads, name lookups): enough that one slow
/// call does not hold up the others, few enough to keep the footprint small.
const BLOCKING_THREADS: usize = 4;

const AFTER_HELP: &str = "\
It polls bulletin sources (when a clock starts: Microsoft's MSRC CVRF index) and release sources
(when it stops: the vendor's content releases), keeps the history in SQLite, and serves per-tier
delays, pending content and goal breaches on /metrics, a status page on /, and JSON on
/api/v1/status.

Examples:
  # Check a configuration without touching the network
  patchlag-exporter --config.file /etc/patchlag-exporter/patchlag.yml --config.check

  # Run, with the database on persistent storage
  patchlag-exporter --config.file /etc/patchlag-exporter/patchlag.yml \\
      --storage.path /var/lib/patchlag-exporter/patchlag.db

  # The offline demo from the source tree, then open http://localhost:9786/
  patchlag-exporter --config.file examples/demo.yml

  # This year's compliance history for the vendor (see: patchlag-exporter report --help)
  patchlag-exporter report --since 2026-01-01 --format csv > patchlag-2026.csv

SIGHUP or POST /-/reload re-reads the configuration. Exit status: 0 after SIGTERM or SIGINT,
1 invalid configuration or flags, 2 any other start-up failure (port in use, database unreadable).";

#[derive(Parser, Debug)]
#[command(
    name = "patchlag-exporter",
    about = "Prometheus exporter measuring how long patch-content vendors take to ship content after a security bulletin.",
    after_help = AFTER_HELP,
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

    /// Time a client has to send a request's headers, and to start the next request on a
    /// kept-alive connection (and, with TLS, to complete the handshake).
    #[arg(
        long = "web.read-header-timeout",
        value_name = "DURATION",
        default_value = "30s",
        value_parser = patchlag_exporter::duration::parse_duration,
        help_heading = "Web"
    )]
    read_header_timeout: Duration,

    /// Connections served at once; more wait to be accepted. 0 means no cap.
    #[arg(
        long = "web.max-connections",
        value_name = "N",
        default_value_t = DEFAULT_MAX_CONNECTIONS,
        help_heading = "Web"
    )]
    max_connections: usize,

    #[command(flatten)]
    log: LogArgs,

    /// Freeze the clock at this RFC 3339 instant (reproducible output for tests and demos).
    #[arg(long = "debug.fixed-now", value_name = "TIME", hide = true)]
    fixed_now: Option<String>,
}

#[derive(Args, Debug)]
struct LogArgs {
    /// Log events at or above this level.
    #[arg(
        long = "log.level",
        value_name = "LEVEL",
        default_value = "info",
        help_heading = "Logging"
    )]
    level: logging::Level,

    /// One line per event on stderr, as logfmt or JSON.
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
    /// Print the compliance history from the store (per bulletin and tier, then per-tier totals) and exit.
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

/// The flags the command line parser cannot check, and the data's clock they ask for.
fn check_flags(args: &RunArgs) -> Result<Clock, String> {
    if args.read_header_timeout.is_zero() {
        return Err("--web.read-header-timeout must be greater than zero".to_string());
    }
    if !args.telemetry_path.starts_with('/')
        || ["/", "/-/healthy", "/-/ready", "/-/reload", "/api/v1/status"]
            .contains(&args.telemetry_path.as_str())
    {
        return Err(format!(
            "--web.telemetry-path {:?} must start with '/' and not be one of the built-in paths",
            args.telemetry_path
        ));
    }
    Clock::from_flag(args.fixed_now.as_deref())
}

fn run(args: RunArgs) -> ExitCode {
    // An invalid file: one FAILED line for --config.check, else one error line.
    let invalid = |e: &dyn std::fmt::Display, what: &str| {
        if args.config_check {
            println!("FAILED: {e}");
        } else {
            tracing::error!(error = %e, "{what}");
        }
        ExitCode::from(EXIT_CONFIG)
    };
    let loaded = match LoadedConfig::read(&args.config_file) {
        Ok(c) => c,
        Err(e) => return invalid(&e, "invalid configuration"),
    };
    let web = match args.web_config_file.as_deref().map(WebConfig::load) {
        None => None,
        Some(Ok(web)) => Some(Arc::new(web)),
        Some(Err(e)) => return invalid(&e, "invalid web configuration"),
    };
    if args.config_check {
        println!(
            "SUCCESS: {} is valid: {} tiers, {} sources",
            args.config_file.display(),
            loaded.config.tiers.len(),
            loaded.config.sources.len()
        );
        if let Some(web) = &web {
            println!("SUCCESS: {} is valid", web.file.display());
        }
        return ExitCode::SUCCESS;
    }
    let clock = match check_flags(&args) {
        Ok(clock) => clock,
        Err(e) => {
            tracing::error!(error = %e, "invalid flag");
            return ExitCode::from(EXIT_CONFIG);
        }
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
            tracing::error!(error = %e, "cannot start the runtime");
            return ExitCode::from(EXIT_FATAL);
        }
    };
    runtime.block_on(serve(args, loaded, web, clock))
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

async fn serve(
    args: RunArgs,
    loaded: LoadedConfig,
    web: Option<Arc<WebConfig>>,
    clock: Clock,
) -> ExitCode {
    let config = &loaded.config;
    patchlag_exporter::install_crypto_provider();
    patchlag_exporter::limits::raise_open_files_limit();
    let storage_path = args
        .storage_path
        .clone()
        .or_else(|| config.storage_path.clone())
        .unwrap_or_else(|| PathBuf::from(DEFAULT_STORAGE_PATH));
    let store = match Store::open(&storage_path) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot open the store");
            return ExitCode::from(EXIT_FATAL);
        }
    };
    let listener = match bind(&args.listen_address).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(address = %args.listen_address, error = %e, "cannot listen");
            return ExitCode::from(EXIT_FATAL);
        }
    };
    tracing::info!(
        version = BUILD.version,
        revision = BUILD.revision,
        rustc_version = BUILD.rustc_version,
        "starting patchlag-exporter"
    );
    logging::log_configuration(&loaded.config, &storage_path);
    let app = match App::new(loaded, args.config_file.clone(), store, clock) {
        Ok(app) => app,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the store");
            return ExitCode::from(EXIT_FATAL);
        }
    };
    app.start_pollers();
    let state = ServerState::new(
        app.clone(),
        args.telemetry_path.clone(),
        (args.max_requests > 0).then(|| Arc::new(tokio::sync::Semaphore::new(args.max_requests))),
        web.clone(),
    );
    let mut router = server::router(state);
    if let Some(web) = &web {
        router = web::layer(web.clone(), router);
    }
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(
            address = %addr,
            tls = web.as_ref().is_some_and(|w| w.serves_tls()),
            basic_auth = web.as_ref().is_some_and(|w| w.current().basic_auth.is_some()),
            "listening"
        );
    }
    tokio::spawn(reload_on_sighup(app.clone()));
    let options = http::Options {
        read_header_timeout: args.read_header_timeout,
        max_connections: args.max_connections,
        web,
    };
    http::serve(listener, router, options, shutdown_signal()).await;
    app.stop_pollers();
    tracing::info!("shut down");
    ExitCode::SUCCESS
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
