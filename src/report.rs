//! `patchlag-exporter report`: the compliance history from the store, for people. Reads only
//! (safe beside a running exporter, or on a copy of the database) and never touches a source.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use serde::Serialize;

use crate::clock::Clock;
use crate::config::{parse_since, Config, DEFAULT_CONFIG_FILE, DEFAULT_STORAGE_PATH};
use crate::model::{Pair, Totals};
use crate::snapshot::Snapshot;
use crate::store::Store;
use crate::timeparse::rfc3339;

pub mod html;

#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct ReportArgs {
    /// YAML configuration file: tiers, goals and source names.
    #[arg(long = "config.file", value_name = "FILE", default_value = DEFAULT_CONFIG_FILE)]
    pub config_file: PathBuf,

    /// SQLite database file, opened read-only [default: storage.path from the configuration, else patchlag.db].
    #[arg(long = "storage.path", value_name = "FILE")]
    pub storage_path: Option<PathBuf>,

    /// Only bulletins published at or after TIME: RFC 3339, or a date for 00:00 UTC.
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,

    /// Only bulletins published before TIME: RFC 3339, or a date for 00:00 UTC.
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,

    /// Only this tier; repeat for several. Default: every tier.
    #[arg(long, value_name = "NAME")]
    pub tier: Vec<String>,

    /// Output format: table for people, csv for spreadsheets and programs, json for programs,
    /// html for a self-contained page with charts (to attach, or print to PDF).
    #[arg(long, value_name = "FORMAT", default_value = "table")]
    pub format: ReportFormat,

    /// Print the per-tier totals instead of the pairs (a table, CSV with its own header, or JSON
    /// {"tiers": [...]}).
    #[arg(long)]
    pub totals: bool,

    /// Evaluate at this RFC 3339 instant instead of now.
    #[arg(long = "debug.fixed-now", value_name = "TIME", hide = true)]
    pub fixed_now: Option<String>,
}

const EXAMPLES: &str = "\
Examples:
  # This year's history for the vendor, as a spreadsheet
  patchlag-exporter report --config.file /etc/patchlag-exporter/patchlag.yml \\
      --since 2026-01-01 --until 2027-01-01 --format csv > patchlag-2026.csv

  # Office 365 content in the last quarter of 2026, on the terminal
  patchlag-exporter report --since 2026-10-01 --until 2027-01-01 --tier office365

  # This year's totals per tier, as CSV
  patchlag-exporter report --since 2026-01-01 --totals --format csv

  # The breached pairs, with jq
  patchlag-exporter report --format json | jq '.pairs[] | select(.status == \"breached\")'

  # The last twelve months as a page with charts, to attach or print to PDF
  patchlag-exporter report --since 2025-11-01 --format html > patchlag-report.html

The table shows the pairs, then the totals; CSV is one table, of the pairs or (--totals) of the
totals; the page always holds both. Times are UTC. Delays and goals are in hours in the table and
the page, in seconds in CSV and JSON.
Safe beside a running exporter, and on a copy of the database (sqlite3 patchlag.db \".backup copy.db\").
Exit status: 0 printed, 1 invalid flags or configuration, 2 database missing or unreadable.";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Table,
    Csv,
    Json,
    Html,
}

/// Times are Unix seconds, written as RFC 3339 in every format.
#[derive(Debug, Serialize, PartialEq)]
pub struct PairRow {
    pub tier: String,
    pub bulletin: String,
    pub title: String,
    #[serde(serialize_with = "instant")]
    pub published: i64,
    pub release: Option<String>,
    #[serde(serialize_with = "optional_instant")]
    pub release_published: Option<i64>,
    pub delay_seconds: i64,
    pub goal_seconds: i64,
    pub status: &'static str,
}

fn instant<S: serde::Serializer>(t: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&rfc3339(*t))
}

fn optional_instant<S: serde::Serializer>(t: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => instant(t, s),
        None => s.serialize_none(),
    }
}

#[derive(Debug, Serialize, PartialEq)]
pub struct TierRow {
    pub tier: String,
    pub pairs: u64,
    pub met: u64,
    pub breached: u64,
    pub pending: u64,
    pub goal_met_ratio: Option<f64>,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct Report {
    pub pairs: Vec<PairRow>,
    pub tiers: Vec<TierRow>,
}

/// Builds the report from a snapshot at `now`.
pub fn build(
    snapshot: &Snapshot,
    now: i64,
    since: Option<i64>,
    until: Option<i64>,
    tiers: &[String],
) -> Report {
    let model = &snapshot.model;
    let keep = |p: &Pair| {
        since.is_none_or(|s| p.published >= s)
            && until.is_none_or(|u| p.published < u)
            && (tiers.is_empty() || tiers.contains(&model.tiers[p.tier].name))
    };
    let pairs: Vec<Pair> = model
        .evaluate(now, snapshot.config.metrics.at_risk_ratio)
        .into_iter()
        .filter(keep)
        .collect();
    let rows = pairs
        .iter()
        .map(|p| {
            let b = &model.bulletins[p.bulletin];
            let r = p.release.map(|r| &model.releases[r]);
            PairRow {
                tier: model.tiers[p.tier].name.clone(),
                bulletin: b.id.clone(),
                title: b.title.clone(),
                published: p.published,
                release: r.map(|r| r.id.clone()),
                release_published: r.map(|r| r.published),
                delay_seconds: p.delay,
                goal_seconds: p.goal,
                status: p.status().as_str(),
            }
        })
        .collect();
    let totals = model
        .tiers
        .iter()
        .enumerate()
        .filter(|(_, t)| tiers.is_empty() || tiers.contains(&t.name))
        .map(|(i, t)| {
            let mut totals = Totals::default();
            pairs
                .iter()
                .filter(|p| p.tier == i)
                .for_each(|p| totals.add(p));
            TierRow {
                tier: t.name.clone(),
                pairs: totals.pairs,
                met: totals.met,
                breached: totals.breached,
                pending: totals.pending,
                goal_met_ratio: totals.met_ratio(),
            }
        })
        .collect();
    Report {
        pairs: rows,
        tiers: totals,
    }
}

/// A duration for people, exact to the minute: `30h00m`, `0h45m`; whole hours as `24h`.
fn hours(seconds: i64) -> String {
    let minutes = seconds.max(0) / 60;
    if minutes % 60 == 0 {
        format!("{}h", minutes / 60)
    } else {
        format!("{}h{:02}m", minutes / 60, minutes % 60)
    }
}

pub fn write_table(report: &Report, out: &mut dyn Write) -> std::io::Result<()> {
    let header = [
        "TIER",
        "BULLETIN",
        "PUBLISHED",
        "RELEASE",
        "RELEASED",
        "DELAY",
        "GOAL",
        "STATUS",
        "TITLE",
    ];
    let rows: Vec<[String; 9]> = report
        .pairs
        .iter()
        .map(|r| {
            [
                r.tier.clone(),
                r.bulletin.clone(),
                rfc3339(r.published),
                r.release.clone().unwrap_or_else(|| "-".into()),
                r.release_published.map_or_else(|| "-".into(), rfc3339),
                hours(r.delay_seconds),
                hours(r.goal_seconds),
                r.status.to_string(),
                r.title.clone(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    writeln!(out, "{}", line(&header.map(str::to_string)))?;
    for row in &rows {
        writeln!(out, "{}", line(row))?;
    }
    writeln!(out)?;
    write_totals_table(report, out)
}

pub fn write_totals_table(report: &Report, out: &mut dyn Write) -> std::io::Result<()> {
    let tw = report
        .tiers
        .iter()
        .map(|t| t.tier.chars().count())
        .chain([4])
        .max()
        .unwrap_or(4);
    writeln!(
        out,
        "{:<tw$}  {:>6}  {:>6}  {:>8}  {:>7}  {:>9}",
        "TIER", "PAIRS", "MET", "BREACHED", "PENDING", "MET RATIO"
    )?;
    for t in &report.tiers {
        let ratio = t
            .goal_met_ratio
            .map(|r| format!("{:.1}%", r * 100.0))
            .unwrap_or_else(|| "-".into());
        writeln!(
            out,
            "{:<tw$}  {:>6}  {:>6}  {:>8}  {:>7}  {:>9}",
            t.tier, t.pairs, t.met, t.breached, t.pending, ratio
        )?;
    }
    Ok(())
}

pub fn write_csv(report: &Report, out: &mut dyn Write) -> Result<(), csv::Error> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record([
        "tier",
        "bulletin",
        "title",
        "published",
        "release",
        "release_published",
        "delay_seconds",
        "goal_seconds",
        "status",
    ])?;
    for r in &report.pairs {
        w.write_record([
            r.tier.as_str(),
            &r.bulletin,
            &r.title,
            &rfc3339(r.published),
            r.release.as_deref().unwrap_or(""),
            &r.release_published.map(rfc3339).unwrap_or_default(),
            &r.delay_seconds.to_string(),
            &r.goal_seconds.to_string(),
            r.status,
        ])?;
    }
    w.flush()?;
    Ok(())
}

/// The totals as CSV: a header row and one row per tier. The ratio is written as JSON writes
/// it, to its full precision, empty when there is none.
pub fn write_totals_csv(report: &Report, out: &mut dyn Write) -> Result<(), csv::Error> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record([
        "tier",
        "pairs",
        "met",
        "breached",
        "pending",
        "goal_met_ratio",
    ])?;
    for t in &report.tiers {
        w.write_record([
            t.tier.clone(),
            t.pairs.to_string(),
            t.met.to_string(),
            t.breached.to_string(),
            t.pending.to_string(),
            t.goal_met_ratio.map(|r| r.to_string()).unwrap_or_default(),
        ])?;
    }
    w.flush()?;
    Ok(())
}

fn write_json(value: &impl Serialize, out: &mut dyn Write) -> Result<(), String> {
    serde_json::to_writer_pretty(&mut *out, value).map_err(|e| e.to_string())?;
    writeln!(out).map_err(|e| e.to_string())
}

/// `--totals --format json`: the report's `tiers` alone.
#[derive(Serialize)]
struct TotalsOnly<'a> {
    tiers: &'a [TierRow],
}

pub fn run(args: ReportArgs) -> ExitCode {
    match execute(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err((code, message)) => {
            eprintln!("error: {message}");
            ExitCode::from(code)
        }
    }
}

fn execute(args: &ReportArgs) -> Result<(), (u8, String)> {
    let config = Config::load(&args.config_file).map_err(|e| (1, e.to_string()))?;
    let parse = |flag: &str, v: &Option<String>| {
        v.as_deref()
            .map(parse_since)
            .transpose()
            .map_err(|e| (1, format!("--{flag}: {e}")))
    };
    let since = parse("since", &args.since)?;
    let until = parse("until", &args.until)?;
    if let (Some(s), Some(u)) = (since, until) {
        if s >= u {
            return Err((1, "--since must be earlier than --until".into()));
        }
    }
    for t in &args.tier {
        if config.tier(t).is_none() {
            return Err((
                1,
                format!(
                    "--tier {t:?}: no such tier in {}",
                    args.config_file.display()
                ),
            ));
        }
    }
    let path = args
        .storage_path
        .clone()
        .or_else(|| config.storage_path.clone())
        .unwrap_or_else(|| PathBuf::from(DEFAULT_STORAGE_PATH));
    if !path.exists() {
        return Err((2, format!("database {} does not exist", path.display())));
    }
    let store = Store::open_read_only(&path).map_err(|e| (2, e.to_string()))?;
    let data = store.load().map_err(|e| (2, e.to_string()))?;
    let now = Clock::from_flag(args.fixed_now.as_deref())
        .map_err(|e| (1, e))?
        .now();
    let snapshot = Snapshot::build(Arc::new(config), data);
    let report = build(&snapshot, now, since, until, &args.tier);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let result = match (args.format, args.totals) {
        (ReportFormat::Table, false) => write_table(&report, &mut out).map_err(|e| e.to_string()),
        (ReportFormat::Table, true) => {
            write_totals_table(&report, &mut out).map_err(|e| e.to_string())
        }
        (ReportFormat::Csv, false) => write_csv(&report, &mut out).map_err(|e| e.to_string()),
        (ReportFormat::Csv, true) => write_totals_csv(&report, &mut out).map_err(|e| e.to_string()),
        (ReportFormat::Json, false) => write_json(&report, &mut out),
        (ReportFormat::Json, true) => write_json(
            &TotalsOnly {
                tiers: &report.tiers,
            },
            &mut out,
        ),
        // The page always shows the totals beside the pairs.
        (ReportFormat::Html, _) => {
            let context = html::Context {
                config: &snapshot.config,
                tiers: &snapshot.model.tiers,
                store: &path,
                now,
                since,
                until,
            };
            out.write_all(html::render(&report, &context).as_bytes())
                .map_err(|e| e.to_string())
        }
    };
    result.map_err(|e| (2, e))
}

#[cfg(test)]
mod tests {
    use super::hours;

    #[test]
    fn hours_are_exact_to_the_minute() {
        assert_eq!(hours(86400), "24h");
        assert_eq!(hours(30 * 3600 + 15 * 60 + 59), "30h15m");
        assert_eq!(hours(45 * 60), "0h45m");
        assert_eq!(hours(-5), "0h");
    }
}
