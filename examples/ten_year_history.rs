//! Writes ten years of synthetic history (about 150 MSRC-shaped bulletins, 20,000 content
//! releases in five tiers) as `file://` fixtures, with a configuration that reads them; used by
//! `scripts/bench.sh`.
//!
//!     cargo run --release --example ten_year_history -- DIR [--now RFC3339]
//!
//! The history ends at `--now` (default: the current time), so a freshly started exporter
//! shows recent bulletins in its 90-day series window.

#[path = "../benches/support/history.rs"]
mod history;

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut dir: Option<PathBuf> = None;
    let mut now = chrono::Utc::now().timestamp();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--now" => match args
                .next()
                .map(|t| chrono::DateTime::parse_from_rfc3339(&t))
            {
                Some(Ok(t)) => now = t.timestamp(),
                _ => {
                    eprintln!("--now needs an RFC 3339 time");
                    return ExitCode::from(2);
                }
            },
            _ if dir.is_none() => dir = Some(PathBuf::from(arg)),
            _ => {
                eprintln!("usage: ten_year_history DIR [--now RFC3339]");
                return ExitCode::from(2);
            }
        }
    }
    let Some(dir) = dir else {
        eprintln!("usage: ten_year_history DIR [--now RFC3339]");
        return ExitCode::from(2);
    };
    match history::write(&dir, now) {
        Ok(f) => {
            println!(
                "{}: {} bulletins ({} bytes), {} releases ({} bytes)",
                f.config.display(),
                f.bulletins,
                f.msrc_bytes,
                f.releases,
                f.releases_bytes
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("cannot write the fixtures into {}: {e}", dir.display());
            ExitCode::FAILURE
        }
    }
}
