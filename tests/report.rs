//! `patchlag-exporter report`: the real binary over a store filled by the real exporter from
//! the core fixtures (`tests/fixtures/core/`, read through `file://` URLs), at the instant of the
//! scenario in `tests/core.rs`, 2024-04-10T20:00:00Z:
//!
//! | bulletin   | clock start (UTC) | english (24 h)      | office365 (48 h)    | other_languages (48 h) |
//! |------------|-------------------|---------------------|---------------------|------------------------|
//! | 2023-Nov   | 11-14 18:00       | 20 h met            | 6 h met             | 50 h breached          |
//! | 2024-Jan   | 01-09 18:00       | 30 h breached       | 72 h breached       | 40 h met               |
//! | 2024-Mar   | 03-12 17:00       | 10 h met            | 12 h met            | 47 h met               |
//! | 2024-Mar-B | 03-22 17:00       | 5 h met             | pending, breached   | pending, breached      |
//! | 2024-Apr   | 04-09 17:00       | 25 h breached       | 2 h met             | pending 27 h           |

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;
use serde_json::Value;

const NOW: &str = "2024-04-10T20:00:00Z";
const H: i64 = 3600;

fn config(dir: &Path) -> PathBuf {
    let core = |name: &str| format!("file://{}", reference(&format!("core/{name}")).display());
    TestConfig::new()
        .top("storage:\n  path: patchlag.db\n")
        .core_scenario(
            [
                &core("msrc-updates.json"),
                &core("pmimport-releases.json"),
                &core("office365-builds.csv"),
            ],
            "",
            false,
        )
        .write(dir)
}

/// (tier, bulletin, release, delay, status) of every pair, in report order: by tier, then by
/// publication.
fn expected() -> Vec<(
    &'static str,
    &'static str,
    Option<&'static str>,
    i64,
    &'static str,
)> {
    let pending_mar_b = 19 * 24 * H + 3 * H; // 2024-03-22T17:00Z to NOW
    vec![
        ("english", "2023-Nov", Some("2023.11.15.1"), 20 * H, "met"),
        (
            "english",
            "2024-Jan",
            Some("2024.01.11.1"),
            30 * H,
            "breached",
        ),
        ("english", "2024-Mar", Some("2024.03.13.1"), 10 * H, "met"),
        ("english", "2024-Mar-B", Some("2024.03.22.1"), 5 * H, "met"),
        (
            "english",
            "2024-Apr",
            Some("2024.04.10.1"),
            25 * H,
            "breached",
        ),
        ("office365", "2023-Nov", Some("16.0.1"), 6 * H, "met"),
        ("office365", "2024-Jan", Some("16.0.2"), 72 * H, "breached"),
        ("office365", "2024-Mar", Some("16.0.3"), 12 * H, "met"),
        ("office365", "2024-Mar-B", None, pending_mar_b, "breached"),
        ("office365", "2024-Apr", Some("16.0.4"), 2 * H, "met"),
        (
            "other_languages",
            "2023-Nov",
            Some("2023.11.16.2"),
            50 * H,
            "breached",
        ),
        (
            "other_languages",
            "2024-Jan",
            Some("2024.01.11.2"),
            40 * H,
            "met",
        ),
        (
            "other_languages",
            "2024-Mar",
            Some("2024.03.14.2"),
            47 * H,
            "met",
        ),
        (
            "other_languages",
            "2024-Mar-B",
            None,
            pending_mar_b,
            "breached",
        ),
        ("other_languages", "2024-Apr", None, 27 * H, "pending"),
    ]
}

struct Output {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn report(config: &Path, db: &Path, extra: &[&str]) -> Output {
    let out = Command::new(BIN)
        .arg("report")
        .args(["--config.file", config.to_str().expect("path")])
        .args(["--storage.path", db.to_str().expect("path")])
        .args(["--debug.fixed-now", NOW])
        .args(extra)
        .output()
        .expect("run report");
    Output {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn json(config: &Path, db: &Path, extra: &[&str]) -> Value {
    let out = report(config, db, &[&["--format", "json"], extra].concat());
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    serde_json::from_str(&out.stdout).expect("JSON report")
}

fn pair_rows(doc: &Value) -> Vec<(String, String, Option<String>, i64, String)> {
    doc["pairs"]
        .as_array()
        .expect("pairs")
        .iter()
        .map(|p| {
            (
                p["tier"].as_str().expect("tier").to_string(),
                p["bulletin"].as_str().expect("bulletin").to_string(),
                p["release"].as_str().map(str::to_string),
                p["delay_seconds"].as_i64().expect("delay"),
                p["status"].as_str().expect("status").to_string(),
            )
        })
        .collect()
}

fn owned(
    rows: &[(&str, &str, Option<&str>, i64, &str)],
) -> Vec<(String, String, Option<String>, i64, String)> {
    rows.iter()
        .map(|(t, b, r, d, s)| {
            (
                t.to_string(),
                b.to_string(),
                r.map(str::to_string),
                *d,
                s.to_string(),
            )
        })
        .collect()
}

async fn running_exporter(dir: &Path) -> (Exporter, PathBuf, PathBuf) {
    let cfg = config(dir);
    let db = dir.join("patchlag.db");
    let exporter = Exporter::start(&[
        "--config.file",
        cfg.to_str().expect("path"),
        "--storage.path",
        db.to_str().expect("path"),
        "--debug.fixed-now",
        NOW,
    ]);
    exporter.wait_ready().await;
    (exporter, cfg, db)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_format_while_the_exporter_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (exporter, cfg, db) = running_exporter(dir.path()).await;

    // JSON: every pair with its times, and the totals.
    let doc = json(&cfg, &db, &[]);
    assert_eq!(pair_rows(&doc), owned(&expected()));
    let jan = &doc["pairs"][1];
    assert_eq!(jan["title"], "January 2024 Security Updates");
    assert_eq!(jan["published"], "2024-01-09T18:00:00Z");
    assert_eq!(jan["release_published"], "2024-01-11T00:00:00Z");
    assert_eq!(jan["goal_seconds"], 86400);
    assert_eq!(doc["pairs"][8]["release_published"], Value::Null);
    assert_eq!(
        doc["tiers"],
        serde_json::json!([
            {"tier": "english", "pairs": 5, "met": 3, "breached": 2, "pending": 0, "goal_met_ratio": 0.6},
            {"tier": "office365", "pairs": 5, "met": 3, "breached": 2, "pending": 0, "goal_met_ratio": 0.6},
            {"tier": "other_languages", "pairs": 5, "met": 2, "breached": 2, "pending": 1, "goal_met_ratio": 0.5},
        ])
    );

    // CSV: one table, a header row and one row per pair, each row the JSON pair.
    let out = report(&cfg, &db, &["--format", "csv"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let mut reader = csv::Reader::from_reader(out.stdout.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .expect("CSV header")
        .iter()
        .map(str::to_string)
        .collect();
    assert_eq!(
        header,
        [
            "tier",
            "bulletin",
            "title",
            "published",
            "release",
            "release_published",
            "delay_seconds",
            "goal_seconds",
            "status"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("CSV record")).collect();
    let pairs = doc["pairs"].as_array().expect("pairs");
    assert_eq!(rows.len(), pairs.len());
    assert_eq!(rows.len(), expected().len());
    for (row, pair) in rows.iter().zip(pairs) {
        assert_eq!(row.len(), header.len(), "{row:?}");
        for (column, cell) in header.iter().zip(row) {
            // Numbers are written out; a missing release is an empty cell.
            let want = match &pair[column] {
                Value::Null => String::new(),
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            assert_eq!(cell, want, "{column} of {pair}");
        }
    }
    assert_eq!(
        rows[1].iter().collect::<Vec<_>>(),
        [
            "english",
            "2024-Jan",
            "January 2024 Security Updates",
            "2024-01-09T18:00:00Z",
            "2024.01.11.1",
            "2024-01-11T00:00:00Z",
            "108000",
            "86400",
            "breached"
        ]
    );

    // --totals: the per-tier totals instead, in every format, as JSON gives them.
    let totals = json(&cfg, &db, &["--totals"]);
    assert_eq!(totals, serde_json::json!({"tiers": doc["tiers"]}));
    let out = report(&cfg, &db, &["--totals", "--format", "csv"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let mut reader = csv::Reader::from_reader(out.stdout.as_bytes());
    assert_eq!(
        reader.headers().expect("CSV header"),
        vec![
            "tier",
            "pairs",
            "met",
            "breached",
            "pending",
            "goal_met_ratio"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("CSV record")).collect();
    let tiers = doc["tiers"].as_array().expect("tiers");
    assert_eq!(rows.len(), tiers.len());
    for (row, tier) in rows.iter().zip(tiers) {
        assert_eq!(&row[0], tier["tier"].as_str().expect("tier"));
        for (i, key) in ["pairs", "met", "breached", "pending"].iter().enumerate() {
            assert_eq!(row[i + 1].parse::<u64>().ok(), tier[key].as_u64(), "{key}");
        }
        assert_eq!(row[5].parse::<f64>().ok(), tier["goal_met_ratio"].as_f64());
    }
    assert_eq!(
        rows[2].iter().collect::<Vec<_>>(),
        ["other_languages", "5", "2", "2", "1", "0.5"]
    );
    let out = report(&cfg, &db, &["--totals"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{}", out.stdout);
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["TIER", "PAIRS", "MET", "BREACHED", "PENDING", "MET", "RATIO"]
    );
    assert_eq!(
        lines[3].split_whitespace().collect::<Vec<_>>(),
        ["other_languages", "5", "2", "2", "1", "50.0%"]
    );

    // Table: for people, hours and aligned columns.
    let out = report(&cfg, &db, &[]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    let words = |line: &str| {
        line.split_whitespace()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        words(lines[0]),
        [
            "TIER",
            "BULLETIN",
            "PUBLISHED",
            "RELEASE",
            "RELEASED",
            "DELAY",
            "GOAL",
            "STATUS",
            "TITLE"
        ]
    );
    assert_eq!(
        words(lines[2]),
        [
            "english",
            "2024-Jan",
            "2024-01-09T18:00:00Z",
            "2024.01.11.1",
            "2024-01-11T00:00:00Z",
            "30h",
            "24h",
            "breached",
            "January",
            "2024",
            "Security",
            "Updates"
        ]
    );
    assert_eq!(
        words(lines[15])[..8],
        [
            "other_languages",
            "2024-Apr",
            "2024-04-09T17:00:00Z",
            "-",
            "-",
            "27h",
            "48h",
            "pending"
        ]
    );
    // Columns line up: every status starts where the header's does.
    let status_column = lines[0].find("STATUS").expect("STATUS");
    for line in &lines[1..=15] {
        let status = &line[status_column..];
        assert!(
            ["met", "breached", "pending"]
                .iter()
                .any(|s| status.starts_with(s)),
            "{line}"
        );
    }
    assert_eq!(lines[16], "");
    assert_eq!(
        words(lines[20]),
        ["other_languages", "5", "2", "2", "1", "50.0%"]
    );

    // The report only read: the exporter still serves the same data.
    exporter
        .wait_for("the breaches counted by the report", |m| {
            sample(
                m,
                "patchlag_goal_breaches_total",
                &[("tier", "other_languages")],
            ) == Some(2.0)
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_of_the_database_give_the_same_report() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut exporter, cfg, db) = running_exporter(dir.path()).await;
    let live = json(&cfg, &db, &[]);

    // An online copy, as docs/deployment.md recommends for backups.
    let online = dir.path().join("online-copy.db");
    rusqlite_vacuum_into(&db, &online);
    assert_eq!(json(&cfg, &online, &[]), live);

    // A plain file copy after a graceful stop, in another directory.
    exporter.signal("TERM");
    assert_eq!(exporter.wait_exit(Duration::from_secs(20)), Some(0));
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let copied = elsewhere.path().join("copied.db");
    std::fs::copy(&db, &copied).expect("copy");
    assert_eq!(json(&cfg, &copied, &[]), live);
    // Opened read-only: nothing was written to the copy's data.
    let before = std::fs::read(&copied).expect("read");
    let _ = json(&cfg, &copied, &[]);
    assert_eq!(std::fs::read(&copied).expect("read"), before);
}

/// `VACUUM INTO`: a consistent copy of a live database, through SQLite itself.
fn rusqlite_vacuum_into(from: &Path, to: &Path) {
    let conn = rusqlite::Connection::open(from).expect("open");
    conn.execute("VACUUM INTO ?1", [to.to_str().expect("path")])
        .expect("VACUUM INTO");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_by_time_and_tier() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_exporter, cfg, db) = running_exporter(dir.path()).await;

    // --since is inclusive, --until exclusive; dates are midnight UTC.
    let doc = json(
        &cfg,
        &db,
        &["--since", "2024-01-09T18:00:00Z", "--until", "2024-03-22"],
    );
    let want: Vec<_> = expected()
        .into_iter()
        .filter(|(_, b, ..)| ["2024-Jan", "2024-Mar"].contains(b))
        .collect();
    assert_eq!(pair_rows(&doc), owned(&want));

    // --tier is repeatable; totals cover only the chosen tiers and the chosen pairs.
    let doc = json(
        &cfg,
        &db,
        &[
            "--tier",
            "office365",
            "--tier",
            "english",
            "--since",
            "2024-03-01",
        ],
    );
    let want: Vec<_> = expected()
        .into_iter()
        .filter(|(t, b, ..)| *t != "other_languages" && !["2023-Nov", "2024-Jan"].contains(b))
        .collect();
    assert_eq!(pair_rows(&doc), owned(&want));
    assert_eq!(
        doc["tiers"],
        serde_json::json!([
            {"tier": "english", "pairs": 3, "met": 2, "breached": 1, "pending": 0, "goal_met_ratio": 2.0 / 3.0},
            {"tier": "office365", "pairs": 3, "met": 2, "breached": 1, "pending": 0, "goal_met_ratio": 2.0 / 3.0},
        ])
    );

    // Nothing in range: no pairs, and totals without a ratio.
    let doc = json(&cfg, &db, &["--until", "2020-01-01", "--tier", "english"]);
    assert_eq!(doc["pairs"], serde_json::json!([]));
    assert_eq!(
        doc["tiers"],
        serde_json::json!([{"tier": "english", "pairs": 0, "met": 0, "breached": 0, "pending": 0, "goal_met_ratio": null}])
    );
}

#[test]
fn bad_flags_exit_1_with_a_clear_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(dir.path());
    let db = dir.path().join("patchlag.db");
    std::fs::write(dir.path().join("empty"), "").expect("write");
    let cases: [(&[&str], &str); 6] = [
        (
            &["--format", "xml"],
            "invalid value 'xml' for '--format <FORMAT>'",
        ),
        (
            &["--since", "last week"],
            "--since: invalid time \"last week\"",
        ),
        (
            &["--until", "2024-13-01"],
            "--until: invalid time \"2024-13-01\"",
        ),
        (
            &["--since", "2024-02-01", "--until", "2024-01-01"],
            "--since must be earlier than --until",
        ),
        (
            &["--tier", "japanese"],
            "--tier \"japanese\": no such tier in",
        ),
        (&["--bogus"], "unexpected argument '--bogus'"),
    ];
    for (args, message) in cases {
        let out = report(&cfg, &db, args);
        assert_eq!(out.code, Some(1), "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(message), "{args:?}: {}", out.stderr);
        assert!(out.stdout.is_empty(), "{args:?}: {}", out.stdout);
    }
    // An invalid configuration is a bad flag too.
    let out = report(&dir.path().join("empty"), &db, &[]);
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        out.stderr.contains("configuration is empty"),
        "{}",
        out.stderr
    );
    // A missing database is not created: exit 2.
    let out = report(&cfg, &db, &[]);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(
        out.stderr
            .contains(&format!("database {} does not exist", db.display())),
        "{}",
        out.stderr
    );
    assert!(!db.exists());
    // So is a file that is not a database.
    let out = report(&cfg, &cfg, &[]);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(out.stderr.starts_with("error: database "), "{}", out.stderr);
}
