//! Microsoft 365 Apps builds as the clock of an Office 365 tier, end to end: the real binary
//! polls a loopback `OfficeReleases` endpoint serving captured-shape answers
//! (`tests/fixtures/m365/`), and a simulated vendor's releases are measured against 48 h.
//!
//! The exporter runs with a fixed clock, 2025-03-11T12:00:00Z (Patch Tuesday, mid-morning in
//! Europe), on the channels an enterprise deploys: Current, MonthlyEnterprise and SemiAnnual.

mod common;

use std::path::{Path, PathBuf};

use common::*;

const PATH: &str = "/releases/v1.0/OfficeReleases";
const NOW: &str = "2025-03-11T12:00:00Z";
const GOAL: f64 = 48.0 * 3600.0;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(repo_root().join("tests/fixtures/m365").join(name)).expect("fixture")
}

fn ts(s: &str) -> f64 {
    chrono::DateTime::parse_from_rfc3339(s)
        .expect("instant")
        .timestamp() as f64
}

/// A simulated vendor shipping Office 365 content for some builds, each release naming the
/// builds it covers. The first release, older than every build of the answer and naming none,
/// shows that the vendor's data reaches back far enough to measure them all.
const RELEASES: &str = r#"{"releases": [
  {"version": "2024.10.01-o365", "released": "2024-10-01T06:00:00Z", "bulletins": []},
  {"version": "2024.10.10-o365", "released": "2024-10-10T06:00:00Z",
   "bulletins": ["SemiAnnual-16.0.16731.20822"]},
  {"version": "2025.02.12-o365", "released": "2025-02-12T20:00:00Z",
   "bulletins": ["MonthlyEnterprise-16.0.18324.20240", "MonthlyEnterprise-16.0.18227.20240",
                 "SemiAnnual-16.0.17928.20440"]},
  {"version": "2025.02.14-o365", "released": "2025-02-14T00:00:00Z",
   "bulletins": ["Current-16.0.18429.20158", "SemiAnnual-16.0.17328.20708",
                 "SemiAnnual-16.0.16731.21114"]},
  {"version": "2025.03.07-o365", "released": "2025-03-07T09:00:00Z",
   "bulletins": ["Current-16.0.18526.20144"]}
]}"#;

struct Setup {
    _dir: tempfile::TempDir,
    config: PathBuf,
    db: PathBuf,
}

fn setup(upstream: &Upstream) -> Setup {
    let dir = tempfile::tempdir().expect("tempdir");
    let releases = dir.path().join("releases.json");
    std::fs::write(&releases, RELEASES).expect("write");
    let config = write_config(dir.path(), &config(upstream, &releases));
    let db = dir.path().join("patchlag.db");
    Setup {
        _dir: dir,
        config,
        db,
    }
}

fn config(upstream: &Upstream, releases: &Path) -> String {
    format!(
        r#"
defaults:
  interval: 300ms
  timeout: 2s
metrics:
  series_window: 365d
tiers:
  office365:
    goal: 48h
    bulletins: [office]
sources:
  office:
    role: bulletins
    kind: m365_apps
    url: {office}
    channels: [Current, MonthlyEnterprise, SemiAnnual]
  pmimport:
    role: releases
    kind: json
    url: file://{releases}
    items: $.releases[*]
    id: $.version
    published: $.released
    tiers: [office365]
    covers: $.bulletins[*]
"#,
        office = upstream.url(PATH),
        releases = releases.display(),
    )
}

fn start(setup: &Setup) -> Exporter {
    Exporter::start(&[
        "--config.file",
        setup.config.to_str().expect("utf-8"),
        "--storage.path",
        setup.db.to_str().expect("utf-8"),
        "--debug.fixed-now",
        NOW,
    ])
}

fn bulletin(id: &str) -> [(&'static str, &str); 2] {
    [("source", "office"), ("bulletin", id)]
}

fn pair(id: &str) -> [(&'static str, &str); 2] {
    [("tier", "office365"), ("bulletin", id)]
}

fn published(m: &str, id: &str) -> Option<f64> {
    sample(
        m,
        "patchlag_bulletin_published_timestamp_seconds",
        &bulletin(id),
    )
}

/// The bulletins of the captured answer (2025-02-28) in the three channels: (id, title, clock
/// start).
const CAPTURED: [(&str, &str, &str); 10] = [
    (
        "Current-16.0.18429.20158",
        "Microsoft 365 Apps Monthly 2501 (Build 16.0.18429.20158)",
        "2025-02-11T14:33:31Z",
    ),
    (
        "Current-16.0.18429.20132",
        "Microsoft 365 Apps Monthly 2501 (Build 16.0.18429.20132)",
        "2025-01-30T17:11:59Z",
    ),
    (
        "MonthlyEnterprise-16.0.18324.20240",
        "Microsoft 365 Apps MEC 2412 (Build 16.0.18324.20240)",
        "2025-02-11T14:33:53Z",
    ),
    (
        "MonthlyEnterprise-16.0.18227.20240",
        "Microsoft 365 Apps MEC 2411 (Build 16.0.18227.20240)",
        "2025-02-11T14:34:35Z",
    ),
    (
        "MonthlyEnterprise-16.0.18227.20222",
        "Microsoft 365 Apps MEC 2411 (Build 16.0.18227.20222)",
        "2025-01-14T15:20:35Z",
    ),
    (
        "SemiAnnual-16.0.17928.20440",
        "Microsoft 365 Apps SAC 2408 (Build 16.0.17928.20440)",
        "2025-02-11T17:31:05Z",
    ),
    (
        "SemiAnnual-16.0.17928.20392",
        "Microsoft 365 Apps SAC 2408 (Build 16.0.17928.20392)",
        "2025-01-14T15:22:46Z",
    ),
    (
        "SemiAnnual-16.0.17328.20708",
        "Microsoft 365 Apps SAC 2402 (Build 16.0.17328.20708)",
        "2025-02-11T09:04:12Z",
    ),
    (
        "SemiAnnual-16.0.16731.21114",
        "Microsoft 365 Apps SAC 2308 (Build 16.0.16731.21114)",
        "2025-02-11T09:05:25Z",
    ),
    (
        "SemiAnnual-16.0.16731.20822",
        "Microsoft 365 Apps SAC 2308 (Build 16.0.16731.20822)",
        "2024-10-09T01:29:26Z",
    ),
];

/// The two builds of the later answer (2025-03-11).
const LATER: [(&str, &str, &str); 2] = [
    (
        "Current-16.0.18526.20144",
        "Microsoft 365 Apps Monthly 2502 (Build 16.0.18526.20144)",
        "2025-03-05T22:22:25Z",
    ),
    (
        "MonthlyEnterprise-16.0.18429.20200",
        "Microsoft 365 Apps MEC 2501 (Build 16.0.18429.20200)",
        "2025-03-11T08:59:11Z",
    ),
];

/// Released pairs: (bulletin, covering release time).
const RELEASED: [(&str, &str); 7] = [
    ("SemiAnnual-16.0.16731.20822", "2024-10-10T06:00:00Z"),
    ("MonthlyEnterprise-16.0.18324.20240", "2025-02-12T20:00:00Z"),
    ("MonthlyEnterprise-16.0.18227.20240", "2025-02-12T20:00:00Z"),
    ("SemiAnnual-16.0.17928.20440", "2025-02-12T20:00:00Z"),
    ("Current-16.0.18429.20158", "2025-02-14T00:00:00Z"),
    ("SemiAnnual-16.0.17328.20708", "2025-02-14T00:00:00Z"),
    ("SemiAnnual-16.0.16731.21114", "2025-02-14T00:00:00Z"),
];

/// Builds no release covers: pending, and long past their deadline.
const PENDING: [&str; 3] = [
    "Current-16.0.18429.20132",
    "MonthlyEnterprise-16.0.18227.20222",
    "SemiAnnual-16.0.17928.20392",
];

fn clock_start(id: &str) -> f64 {
    let (_, _, start) = CAPTURED
        .iter()
        .chain(LATER.iter())
        .find(|(b, _, _)| *b == id)
        .unwrap_or_else(|| panic!("no bulletin {id}"));
    ts(start)
}

/// Every captured bulletin with its clock and title, every pair with its delay and breach.
fn assert_captured(m: &str) {
    for (id, title, start) in CAPTURED {
        assert_eq!(published(m, id), Some(ts(start)), "{id}");
        assert_eq!(
            value(
                m,
                "patchlag_bulletin_info",
                &[("source", "office"), ("bulletin", id), ("title", title)]
            ),
            1.0,
            "{id}"
        );
        assert_eq!(
            value(m, "patchlag_goal_deadline_timestamp_seconds", &pair(id)),
            ts(start) + GOAL,
            "{id}"
        );
    }
    for (id, released) in RELEASED {
        let delay = ts(released) - clock_start(id);
        assert_eq!(
            value(m, "patchlag_release_delay_seconds", &pair(id)),
            delay,
            "{id}"
        );
        assert_eq!(
            value(m, "patchlag_release_published_timestamp_seconds", &pair(id)),
            ts(released),
            "{id}"
        );
        assert_eq!(value(m, "patchlag_release_pending", &pair(id)), 0.0, "{id}");
        let breached = if delay > GOAL { 1.0 } else { 0.0 };
        assert_eq!(
            value(m, "patchlag_goal_breached", &pair(id)),
            breached,
            "{id}"
        );
    }
    for id in PENDING {
        assert_eq!(
            value(m, "patchlag_release_delay_seconds", &pair(id)),
            ts(NOW) - clock_start(id),
            "{id}"
        );
        assert_eq!(value(m, "patchlag_release_pending", &pair(id)), 1.0, "{id}");
        assert_eq!(value(m, "patchlag_goal_breached", &pair(id)), 1.0, "{id}");
        assert_eq!(
            sample(m, "patchlag_release_published_timestamp_seconds", &pair(id)),
            None
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builds_start_the_office365_clock_and_keep_their_history() {
    let upstream = Upstream::start().await;
    upstream.set(PATH, Behavior::Ok(fixture("OfficeReleases.json")));
    let setup = setup(&upstream);
    let exporter = start(&setup);
    exporter.wait_ready().await;
    let m = exporter.scrape().await;
    assert_eq!(
        value(&m, "patchlag_source_up", &[("source", "office")]),
        1.0,
        "{:?}",
        exporter.logs()
    );

    // One bulletin per build of the three channels, none of the six others (Beta, the
    // previews, the perpetual versions).
    assert_eq!(
        value(&m, "patchlag_source_records", &[("source", "office")]),
        10.0
    );
    let listed = m
        .lines()
        .filter(|l| l.starts_with("patchlag_bulletin_published_timestamp_seconds{"))
        .count();
    assert_eq!(listed, 10, "{m}");
    assert!(!m.contains("BetaChannel-") && !m.contains("SemiAnnualPreview-"));
    assert_captured(&m);

    // Against 48 hours: SemiAnnual 2308's October build (28.5 h), both Monthly Enterprise
    // builds of Patch Tuesday (29.4 h) and Semi-Annual 2408's (26.5 h) met the goal; Current's
    // and two Semi-Annual builds released on the 14th (57 to 63 h) did not.
    let office = [("tier", "office365")];
    assert_eq!(
        value(&m, "patchlag_release_latency_seconds_count", &office),
        7.0
    );
    assert_eq!(
        value(
            &m,
            "patchlag_release_latency_seconds_bucket",
            &[("tier", "office365"), ("le", "172800")]
        ),
        4.0
    );
    // Three released late, three still pending past their deadline.
    assert_eq!(value(&m, "patchlag_goal_breaches_total", &office), 6.0);
    assert_eq!(value(&m, "patchlag_goal_seconds", &office), GOAL);
    assert_eq!(
        value(
            &m,
            "patchlag_release_delay_seconds",
            &pair("Current-16.0.18429.20158")
        ),
        ts("2025-02-14T00:00:00Z") - ts("2025-02-11T14:33:31Z")
    );
    assert!(exporter
        .logs()
        .iter()
        .all(|l| !l.contains("skipped a malformed record")));

    // Later: Current's 2502 build of 5 March and Monthly Enterprise's Patch Tuesday build appear;
    // Monthly Enterprise 2411's January build has left the answer.
    upstream.set(PATH, Behavior::Ok(fixture("OfficeReleases-later.json")));
    let m = exporter
        .wait_for("the later builds", |t| {
            published(t, "MonthlyEnterprise-16.0.18429.20200").is_some()
        })
        .await;
    for (id, title, start) in LATER {
        assert_eq!(published(&m, id), Some(ts(start)), "{id}");
        assert_eq!(
            value(
                &m,
                "patchlag_bulletin_info",
                &[("source", "office"), ("bulletin", id), ("title", title)]
            ),
            1.0
        );
    }
    assert_eq!(
        value(&m, "patchlag_source_records", &[("source", "office")]),
        11.0
    );
    // The build that left keeps its clock and its pending pair.
    assert_captured(&m);
    // The vendor had content for 2502 on 7 March, 34.6 h after it appeared: met.
    let current = pair("Current-16.0.18526.20144");
    assert_eq!(
        value(&m, "patchlag_release_delay_seconds", &current),
        ts("2025-03-07T09:00:00Z") - ts("2025-03-05T22:22:25Z")
    );
    assert_eq!(value(&m, "patchlag_goal_breached", &current), 0.0);
    // Monthly Enterprise's is three hours old: pending within goal.
    let mec = pair("MonthlyEnterprise-16.0.18429.20200");
    assert_eq!(
        value(&m, "patchlag_release_delay_seconds", &mec),
        ts(NOW) - ts("2025-03-11T08:59:11Z")
    );
    assert_eq!(value(&m, "patchlag_release_pending", &mec), 1.0);
    assert_eq!(value(&m, "patchlag_goal_breached", &mec), 0.0);
    assert_eq!(
        value(&m, "patchlag_release_latency_seconds_count", &office),
        8.0
    );
    assert_eq!(value(&m, "patchlag_goal_breaches_total", &office), 6.0);

    // A garbage answer is a parse error that changes nothing stored.
    upstream.set(
        PATH,
        Behavior::Ok(b"<html><body>Service Unavailable</body></html>".to_vec()),
    );
    let m = exporter
        .wait_for("a parse error", |t| errors(t, "office", "parse") >= 1.0)
        .await;
    assert_eq!(
        value(&m, "patchlag_source_up", &[("source", "office")]),
        0.0
    );
    assert_eq!(
        value(&m, "patchlag_source_records", &[("source", "office")]),
        11.0
    );
    assert_captured(&m);
    for (id, _, start) in LATER {
        assert_eq!(published(&m, id), Some(ts(start)), "{id}");
    }
    assert!(exporter.poll_failure_lines("office", "parse") >= 1);

    // Killed and restarted while Microsoft answers 503: everything is still there.
    let mut exporter = exporter;
    exporter.child.kill().expect("SIGKILL");
    let _ = exporter.wait_exit(std::time::Duration::from_secs(5));
    upstream.set(PATH, Behavior::Status(503, b"busy".to_vec()));
    let exporter = start(&setup);
    exporter.wait_ready().await;
    let m = exporter
        .wait_for("the failed poll", |t| {
            errors(t, "office", "http_status") >= 1.0
        })
        .await;
    assert_eq!(
        value(&m, "patchlag_source_up", &[("source", "office")]),
        0.0
    );
    assert_captured(&m);
    for (id, _, start) in LATER {
        assert_eq!(published(&m, id), Some(ts(start)), "{id}");
    }
    assert_eq!(
        value(&m, "patchlag_release_latency_seconds_count", &office),
        8.0
    );
    assert_eq!(value(&m, "patchlag_goal_breaches_total", &office), 6.0);
    if let Some(complaints) = promtool_check_metrics(&m) {
        assert!(complaints.is_empty(), "{complaints}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builds_without_a_date_are_skipped_and_said_once_per_poll() {
    let upstream = Upstream::start().await;
    upstream.set(PATH, Behavior::Ok(fixture("OfficeReleases-quirks.json")));
    let setup = setup(&upstream);
    let exporter = start(&setup);
    exporter.wait_ready().await;
    exporter
        .wait_for("three polls", |_| upstream.hits(PATH) >= 3)
        .await;
    let m = exporter.scrape().await;
    assert_eq!(
        value(&m, "patchlag_source_up", &[("source", "office")]),
        1.0
    );
    // The three channels' builds of the capture (10) and Monthly Enterprise's 2312 build of
    // February 2024 (outside the series window); SemiAnnual 16.0.17928.20392 has an unreadable
    // date, SemiAnnual 16.0.17328.20708 is listed twice.
    assert_eq!(
        value(&m, "patchlag_source_records", &[("source", "office")]),
        10.0
    );
    assert_eq!(published(&m, "SemiAnnual-16.0.17928.20392"), None);
    assert_eq!(
        published(&m, "MonthlyEnterprise-16.0.18324.20240"),
        Some(ts("2025-02-11T14:33:53Z"))
    );
    // One line per poll for the builds without a date, one for the malformed entries.
    let logs = exporter.logs();
    let polls = logs
        .iter()
        .filter(|l| l.contains("poll succeeded") && l.contains("source=office"))
        .count();
    let undated = logs
        .iter()
        .filter(|l| l.contains("skipped a malformed record") && l.contains("availabilityDate"))
        .count();
    let malformed = logs
        .iter()
        .filter(|l| l.contains("skipped a malformed record") && l.contains("malformed entr"))
        .count();
    assert!(polls >= 3, "{logs:?}");
    assert!(undated >= polls && undated <= polls + 1, "{logs:?}");
    assert!(malformed >= polls && malformed <= polls + 1, "{logs:?}");
    assert!(logs.iter().any(|l| l.contains(
        "1 build without an availabilityDate: SemiAnnual-16.0.17928.20392 (\\\"01/14/2025 15:22:46\\\" unreadable)"
    )), "{logs:?}");
}
