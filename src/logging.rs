//! `--log.level` and `--log.format` (logfmt or JSON), to stderr.

use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::prelude::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Logfmt,
    Json,
}

pub fn init(level: Level, format: Format) {
    let filter = match level {
        Level::Debug => LevelFilter::DEBUG,
        Level::Info => LevelFilter::INFO,
        Level::Warn => LevelFilter::WARN,
        Level::Error => LevelFilter::ERROR,
    };
    // Dependencies (hyper, reqwest, rustls) log at debug in ways no operator needs; keep ours.
    let targets = tracing_subscriber::filter::Targets::new()
        .with_default(LevelFilter::WARN.min(filter))
        .with_target("patchlag_exporter", filter)
        .with_target("patchlag-exporter", filter);
    let result = match format {
        Format::Logfmt => tracing_subscriber::registry()
            .with(
                tracing_logfmt::builder()
                    .with_span_name(false)
                    .with_span_path(false)
                    .layer()
                    .with_writer(std::io::stderr),
            )
            .with(targets)
            .try_init(),
        Format::Json => tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(std::io::stderr)
                    .with_current_span(false),
            )
            .with(targets)
            .try_init(),
    };
    if let Err(e) = result {
        eprintln!("cannot initialise logging: {e}");
    }
}
