//! Out-of-band security updates found in MSRC month documents, end to end: the real binary
//! polls a loopback CVRF API serving captured-shape answers (`tests/fixtures/msrc/`).
//!
//! The July 2025 document is served as it stood at each moment of the scenario: the captured
//! document (July 2026) without the vulnerabilities first published after that moment. Its
//! out-of-band days are 2025-07-19 (SharePoint, CVE-2025-53770), 2025-07-20 (CVE-2025-53771) and
//! 2025-08-14 (SQLite, CVE-2025-6965); Chromium, Azure and Azure Linux entries are not bulletins.
//!
//! Each phase runs the exporter with a fixed clock on the same database, so a first-seen time is
//! the phase's clock.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use serde_json::Value;

const INDEX: &str = "/cvrf/v3.0/updates";

fn fixture(name: &str) -> String {
    std::fs::read_to_string(repo_root().join("tests/fixtures/msrc").join(name)).expect("fixture")
}

fn ts(s: &str) -> f64 {
    chrono::DateTime::parse_from_rfc3339(s)
        .expect("instant")
        .timestamp() as f64
}

/// The captured index with the July 2025 document's `CurrentReleaseDate` set to `current`.
fn index(current: &str) -> Vec<u8> {
    let mut index: Value = serde_json::from_str(&fixture("updates.json")).expect("json");
    for entry in index["value"].as_array_mut().expect("value") {
        if entry["ID"] == "2025-Jul" {
            entry["CurrentReleaseDate"] = Value::from(current);
        }
    }
    serde_json::to_vec(&index).expect("json")
}

/// The captured July 2025 document as it stood on `day`: vulnerabilities first published after
/// it left out.
fn july(day: &str, current: &str) -> Vec<u8> {
    let mut doc: Value = serde_json::from_str(&fixture("cvrf-2025-Jul.json")).expect("json");
    doc["DocumentTracking"]["CurrentReleaseDate"] = Value::from(current);
    doc["Vulnerability"]
        .as_array_mut()
        .expect("vulnerabilities")
        .retain(|v| {
            let first = v["RevisionHistory"]
                .as_array()
                .expect("revisions")
                .iter()
                .filter_map(|r| r["Date"].as_str())
                .map(|d| &d[..10])
                .min()
                .expect("a date");
            first <= day
        });
    serde_json::to_vec(&doc).expect("json")
}

/// Another month's document, with no vulnerability: the other documents of the window.
fn empty_document(id: &str) -> Vec<u8> {
    let mut doc: Value = serde_json::from_str(&fixture("cvrf-2025-Jul.json")).expect("json");
    doc["DocumentTracking"]["Identification"]["ID"]["Value"] = Value::from(id);
    doc["DocumentTracking"]["Identification"]["Alias"]["Value"] = Value::from(id);
    doc["Vulnerability"] = Value::Array(Vec::new());
    serde_json::to_vec(&doc).expect("json")
}

fn document_path(id: &str) -> String {
    format!("/cvrf/v3.0/cvrf/{id}")
}

fn serve_july(upstream: &Upstream, etag: &str, body: Vec<u8>) {
    upstream.set(
        &document_path("2025-Jul"),
        Behavior::Resource {
            etag: Some(etag.to_string()),
            last_modified: None,
            body,
        },
    );
}

fn config(upstream: &Upstream, releases: &Path) -> String {
    TestConfig::new()
        .defaults("300ms", Some("2s"))
        .tier("english", "24h", &["msrc"], "")
        // Room for the index and the documents, not for the oversized document below.
        .msrc(&upstream.url(INDEX), "max_body_bytes: 200000\n")
        .source(
            "pmimport",
            "releases",
            "json",
            &format!("file://{}", releases.display()),
            "items: $.releases[*]\nid: $.version\npublished: $.released\ntiers: [english]\ncovers: $.bulletins[*]\n",
        )
        .text()
}

/// A vendor that ships content for July's Patch Tuesday and, on the 21st, for both
/// SharePoint days.
const RELEASES: &str = r#"{"releases": [
  {"version": "2025.07.08.1", "released": "2025-07-08T23:00:00Z", "bulletins": ["2025-Jul"]},
  {"version": "2025.07.21.1", "released": "2025-07-21T12:00:00Z",
   "bulletins": ["2025-Jul-OOB-2025-07-19", "2025-Jul-OOB-2025-07-20"]}
]}"#;

struct Setup {
    dir: tempfile::TempDir,
    config: std::path::PathBuf,
    db: std::path::PathBuf,
}

fn setup(upstream: &Upstream) -> Setup {
    let dir = tempfile::tempdir().expect("tempdir");
    let releases = dir.path().join("releases.json");
    std::fs::write(&releases, RELEASES).expect("write");
    let config = write_config(dir.path(), &config(upstream, &releases));
    let db = dir.path().join("patchlag.db");
    Setup { dir, config, db }
}

fn start(setup: &Setup, now: &str) -> Exporter {
    Exporter::start(&[
        "--config.file",
        setup.config.to_str().expect("utf-8"),
        "--storage.path",
        setup.db.to_str().expect("utf-8"),
        "--debug.fixed-now",
        now,
    ])
}

fn bulletin(id: &str) -> [(&'static str, &str); 2] {
    [("source", "msrc"), ("bulletin", id)]
}

fn published(m: &str, id: &str) -> Option<f64> {
    sample(
        m,
        "patchlag_bulletin_published_timestamp_seconds",
        &bulletin(id),
    )
}

fn serve_window(upstream: &Upstream) {
    for id in ["2025-May", "2025-Jun", "2025-Aug"] {
        upstream.set(&document_path(id), Behavior::Ok(empty_document(id)));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_at_the_first_read_starts_at_10_pacific_on_its_day() {
    let upstream = Upstream::start().await;
    upstream.set(INDEX, Behavior::Ok(index("2025-08-15T07:00:00Z")));
    serve_window(&upstream);
    serve_july(
        &upstream,
        "\"jul-1\"",
        july("2025-08-20", "2025-08-15T07:00:00"),
    );
    let setup = setup(&upstream);
    let exporter = start(&setup, "2025-08-20T12:00:00Z");
    exporter.wait_ready().await;
    let m = exporter.scrape().await;
    assert_eq!(
        value(&m, "patchlag_source_up", &[("source", "msrc")]),
        1.0,
        "{:?}",
        exporter.logs()
    );

    // Each day's set is one bulletin, clocked at 10:00 Pacific of its day.
    for (id, start, title) in [
        (
            "2025-Jul-OOB-2025-07-19",
            "2025-07-19T17:00:00Z",
            "Out-of-band security update 2025-07-19: CVE-2025-53770",
        ),
        (
            "2025-Jul-OOB-2025-07-20",
            "2025-07-20T17:00:00Z",
            "Out-of-band security update 2025-07-20: CVE-2025-53771",
        ),
        (
            "2025-Jul-OOB-2025-08-14",
            "2025-08-14T17:00:00Z",
            "Out-of-band security update 2025-08-14: CVE-2025-6965",
        ),
    ] {
        assert_eq!(published(&m, id), Some(ts(start)), "{id}");
        assert_eq!(
            value(
                &m,
                "patchlag_bulletin_info",
                &[("source", "msrc"), ("bulletin", id), ("title", title)]
            ),
            1.0
        );
    }
    // Chromium (07-16), Azure (07-18) and Azure Linux (08-07) entries are not bulletins.
    let out_of_band: Vec<&str> = m
        .lines()
        .filter(|l| {
            l.starts_with("patchlag_bulletin_published_timestamp_seconds{") && l.contains("-OOB-")
        })
        .collect();
    assert_eq!(out_of_band.len(), 3, "{out_of_band:?}");
    // The monthly bulletins are there as before, and only they are counted as records: the
    // captured index's security releases up to now (five before 2023, 2023-Jan … 2025-Aug).
    assert_eq!(published(&m, "2025-Jul"), Some(ts("2025-07-08T17:00:00Z")));
    assert_eq!(published(&m, "2025-Jun"), Some(ts("2025-06-10T17:00:00Z")));
    assert_eq!(
        value(&m, "patchlag_source_records", &[("source", "msrc")]),
        37.0
    );

    // The vendor is measured against them: released on the 21st at 12:00 UTC.
    let pair = |id: &'static str| [("tier", "english"), ("bulletin", id)];
    assert_eq!(
        value(
            &m,
            "patchlag_release_delay_seconds",
            &pair("2025-Jul-OOB-2025-07-19")
        ),
        ts("2025-07-21T12:00:00Z") - ts("2025-07-19T17:00:00Z")
    );
    assert_eq!(
        value(
            &m,
            "patchlag_goal_breached",
            &pair("2025-Jul-OOB-2025-07-19")
        ),
        1.0
    );
    assert_eq!(
        value(
            &m,
            "patchlag_release_delay_seconds",
            &pair("2025-Jul-OOB-2025-07-20")
        ),
        ts("2025-07-21T12:00:00Z") - ts("2025-07-20T17:00:00Z")
    );
    assert_eq!(
        value(
            &m,
            "patchlag_goal_breached",
            &pair("2025-Jul-OOB-2025-07-20")
        ),
        0.0
    );
    // Nothing covers SQLite's: pending and past its goal.
    assert_eq!(
        value(
            &m,
            "patchlag_release_pending",
            &pair("2025-Jul-OOB-2025-08-14")
        ),
        1.0
    );

    // Documents of the 90-day series window were read once each, May (outside it) not at all;
    // the unchanged index does not make them read again.
    exporter
        .wait_for("three more polls", |_| upstream.hits(INDEX) >= 4)
        .await;
    for id in ["2025-Jun", "2025-Jul", "2025-Aug"] {
        assert_eq!(upstream.hits(&document_path(id)), 1, "{id}");
    }
    assert_eq!(upstream.hits(&document_path("2025-May")), 0);

    // The status API, the landing page and the report show them like any other bulletin.
    let (_, status) = exporter.get("/api/v1/status").await;
    let status: Value = serde_json::from_str(&status).expect("json");
    let ids: Vec<&str> = status["bulletins"]
        .as_array()
        .expect("bulletins")
        .iter()
        .filter_map(|b| b["id"].as_str())
        .collect();
    assert!(ids.contains(&"2025-Jul-OOB-2025-07-19"), "{ids:?}");
    let (_, landing) = exporter.get("/").await;
    assert!(landing.contains("Out-of-band security update 2025-07-20: CVE-2025-53771"));
    let report = Command::new(BIN)
        .args(["report", "--config.file"])
        .arg(&setup.config)
        .arg("--storage.path")
        .arg(&setup.db)
        .args(["--format", "csv"])
        .output()
        .expect("report");
    let csv = String::from_utf8_lossy(&report.stdout);
    assert!(
        csv.lines()
            .any(|l| l.starts_with("english,2025-Jul-OOB-2025-07-19,") && l.contains("breached")),
        "{csv}"
    );
    drop(setup.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_added_while_watching_starts_when_first_seen_and_survives_failures() {
    let upstream = Upstream::start().await;
    serve_window(&upstream);
    let setup = setup(&upstream);

    // 18 July: the document holds Patch Tuesday, Chromium and Azure entries, nothing out of band.
    upstream.set(INDEX, Behavior::Ok(index("2025-07-18T07:00:00Z")));
    serve_july(
        &upstream,
        "\"jul-18\"",
        july("2025-07-18", "2025-07-18T07:00:00"),
    );
    let exporter = start(&setup, "2025-07-18T20:00:00Z");
    exporter.wait_ready().await;
    let m = exporter.scrape().await;
    assert!(!m.contains("-OOB-"), "{m}");
    exporter
        .wait_for("more polls", |_| upstream.hits(INDEX) >= 3)
        .await;
    assert_eq!(upstream.hits(&document_path("2025-Jul")), 1);
    drop(exporter);

    // Sunday 20 July, 14:30 PDT: the document was re-dated; both SharePoint days are new to a
    // watched document, so their clocks start now, when the exporter first saw them.
    upstream.set(INDEX, Behavior::Ok(index("2025-07-20T07:00:00Z")));
    serve_july(
        &upstream,
        "\"jul-20\"",
        july("2025-07-20", "2025-07-20T07:00:00"),
    );
    let seen = "2025-07-20T21:30:00Z";
    let exporter = start(&setup, seen);
    exporter.wait_ready().await;
    let m = exporter
        .wait_for("the out-of-band bulletins", |t| {
            published(t, "2025-Jul-OOB-2025-07-20").is_some()
        })
        .await;
    assert_eq!(published(&m, "2025-Jul-OOB-2025-07-19"), Some(ts(seen)));
    assert_eq!(published(&m, "2025-Jul-OOB-2025-07-20"), Some(ts(seen)));
    // The second read was conditional.
    let headers = upstream
        .last_headers(&document_path("2025-Jul"))
        .expect("read");
    assert_eq!(
        headers
            .get("if-none-match")
            .map(|v| v.to_str().expect("ascii")),
        Some("\"jul-18\"")
    );
    exporter
        .wait_for("more polls", |_| upstream.hits(INDEX) >= 6)
        .await;
    assert_eq!(upstream.hits(&document_path("2025-Jul")), 2);

    // Re-dated again, and the document fails: the poll fails, nothing stored changes.
    upstream.set(INDEX, Behavior::Ok(index("2025-07-21T07:00:00Z")));
    upstream.set(
        &document_path("2025-Jul"),
        Behavior::Status(503, b"busy".to_vec()),
    );
    let m = exporter
        .wait_for("the failed poll", |t| {
            sample(t, "patchlag_source_up", &[("source", "msrc")]) == Some(0.0)
        })
        .await;
    assert!(errors(&m, "msrc", "http_status") >= 1.0);
    assert_eq!(published(&m, "2025-Jul-OOB-2025-07-19"), Some(ts(seen)));
    assert_eq!(published(&m, "2025-Jul"), Some(ts("2025-07-08T17:00:00Z")));
    assert!(exporter
        .logs()
        .iter()
        .any(|l| l.contains("poll failed") && l.contains("document 2025-Jul: HTTP status 503")));

    // Garbage fails the same way.
    upstream.set(
        &document_path("2025-Jul"),
        Behavior::Ok(b"<html>maintenance</html>".to_vec()),
    );
    exporter
        .wait_for("a parse error", |t| errors(t, "msrc", "parse") >= 1.0)
        .await;

    // So do a document that never comes (the 2 s timeout) and one larger than max_body_bytes.
    upstream.set(&document_path("2025-Jul"), Behavior::Hang);
    exporter
        .wait_for("a timeout", |t| errors(t, "msrc", "timeout") >= 1.0)
        .await;
    let mut oversized = july("2025-07-21", "2025-07-21T07:00:00");
    oversized.resize(300_000, b' ');
    upstream.set(&document_path("2025-Jul"), Behavior::Ok(oversized));
    let m = exporter
        .wait_for("an oversized document", |t| {
            errors(t, "msrc", "body_too_large") >= 1.0
        })
        .await;
    assert_eq!(value(&m, "patchlag_source_up", &[("source", "msrc")]), 0.0);
    assert_eq!(published(&m, "2025-Jul-OOB-2025-07-19"), Some(ts(seen)));
    assert_eq!(published(&m, "2025-Jul-OOB-2025-07-20"), Some(ts(seen)));
    assert_eq!(published(&m, "2025-Jul"), Some(ts("2025-07-08T17:00:00Z")));
    let mut exporter = exporter;
    exporter.child.kill().expect("SIGKILL");
    let _ = exporter.wait_exit(std::time::Duration::from_secs(5));

    // 15 August: the document is back, with SQLite's update of the 14th. Restarted after the
    // kill, everything found before keeps its clock; the new day starts now.
    serve_july(
        &upstream,
        "\"jul-aug\"",
        july("2025-08-15", "2025-08-15T07:00:00"),
    );
    upstream.set(INDEX, Behavior::Ok(index("2025-08-15T07:00:00Z")));
    let later = "2025-08-15T16:00:00Z";
    let exporter = start(&setup, later);
    exporter.wait_ready().await;
    let m = exporter
        .wait_for("August's bulletin", |t| {
            published(t, "2025-Jul-OOB-2025-08-14").is_some()
        })
        .await;
    assert_eq!(published(&m, "2025-Jul-OOB-2025-08-14"), Some(ts(later)));
    assert_eq!(published(&m, "2025-Jul-OOB-2025-07-19"), Some(ts(seen)));
    assert_eq!(published(&m, "2025-Jul-OOB-2025-07-20"), Some(ts(seen)));
    assert_eq!(value(&m, "patchlag_source_up", &[("source", "msrc")]), 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_url_of_another_shape_turns_detection_off_and_says_so_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mirror = dir.path().join("mirror.json");
    std::fs::write(&mirror, index("2025-07-20T07:00:00Z")).expect("write");
    let releases = dir.path().join("releases.json");
    std::fs::write(&releases, RELEASES).expect("write");
    let text = format!(
        "defaults:\n  interval: 200ms\ntiers:\n  english: {{goal: 24h, bulletins: [msrc]}}\n\
         sources:\n  msrc: {{role: bulletins, kind: msrc, url: 'file://{mirror}'}}\n  \
         pmimport: {{role: releases, kind: json, url: 'file://{releases}', items: '$.releases[*]', \
         id: $.version, published: $.released, tiers: [english], covers: '$.bulletins[*]'}}\n",
        mirror = mirror.display(),
        releases = releases.display(),
    );
    let config = write_config(dir.path(), &text);
    let db = dir.path().join("patchlag.db");
    let exporter = Exporter::start(&[
        "--config.file",
        config.to_str().expect("utf-8"),
        "--storage.path",
        db.to_str().expect("utf-8"),
        "--debug.fixed-now",
        "2025-08-20T12:00:00Z",
    ]);
    exporter.wait_ready().await;
    // Several polls later: the monthly bulletins, no out-of-band one, and one line saying why.
    exporter
        .wait_for("a few polls", |_| {
            exporter
                .logs()
                .iter()
                .filter(|l| l.contains("poll succeeded") && l.contains("source=msrc"))
                .count()
                >= 3
        })
        .await;
    let m = exporter.scrape().await;
    assert_eq!(published(&m, "2025-Jul"), Some(ts("2025-07-08T17:00:00Z")));
    assert!(!m.contains("-OOB-"));
    let said = exporter
        .logs()
        .iter()
        .filter(|l| l.contains("out-of-band detection is off"))
        .count();
    assert_eq!(said, 1, "{:?}", exporter.logs());
}
