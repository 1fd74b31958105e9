//! End to end: the real binary polls loopback upstreams serving fixtures, and `/metrics` is
//! checked value by value.
//!
//! The scenario (`tests/fixtures/core/`), evaluated at 2024-04-10T20:00:00Z:
//!
//! | bulletin   | clock start (UTC)  | english (24 h)       | other_languages (48 h) | office365 (48 h)     |
//! |------------|--------------------|----------------------|------------------------|----------------------|
//! | 2023-Nov   | 11-14 18:00 (PST)  | 20 h met             | 50 h breached          | 6 h met              |
//! | 2024-Jan   | 01-09 18:00        | 30 h breached        | 40 h met               | 72 h breached (uncovered build) |
//! | 2024-Mar   | 03-12 17:00 (PDT)  | 10 h met             | 47 h met               | 12 h met             |
//! | 2024-Mar-B | 03-22 17:00 (OOB)  | 5 h met (no covers)  | pending, breached      | pending, breached    |
//! | 2024-Apr   | 04-09 17:00        | 25 h breached        | pending 27 h           | 2 h met              |
//!
//! Not bulletins: "May 2024 Early Security Updates", and 2024-Feb dated before its Patch Tuesday.
//! Oct-OOB (2016) is stored but before the tiers' `since`.

mod common;

use std::time::{Duration, Instant};

use common::*;

const NOW: &str = "2024-04-10T20:00:00Z";
const MAR: f64 = 1_710_262_800.0; // 2024-03-12T17:00:00Z
const MAR_B: f64 = 1_711_126_800.0; // 2024-03-22T17:00:00Z
const APR: f64 = 1_712_682_000.0; // 2024-04-09T17:00:00Z
const NOW_TS: f64 = 1_712_779_200.0;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(repo_root().join("tests/fixtures/core").join(name)).expect("fixture")
}

fn config(upstream: &Upstream, extra_source: &str) -> String {
    TestConfig::new()
        .defaults("300ms", Some("1s"))
        .core_scenario(
            [
                &upstream.url("/cvrf/v3.0/updates"),
                &upstream.url("/pmimport/releases.json"),
                &upstream.url("/o365/builds.csv"),
            ],
            // tests/msrc_out_of_band.rs reads the month documents.
            "max_body_bytes: 65536\nout_of_band: false\n",
            false,
        )
        .source_yaml(extra_source)
        .text()
}

async fn serve_fixtures(upstream: &Upstream) {
    upstream.set(
        "/cvrf/v3.0/updates",
        Behavior::Ok(fixture("msrc-updates.json")),
    );
    upstream.set(
        "/pmimport/releases.json",
        Behavior::Ok(fixture("pmimport-releases.json")),
    );
    upstream.set(
        "/o365/builds.csv",
        Behavior::Ok(fixture("office365-builds.csv")),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exact_values_from_msrc_json_and_csv_sources() {
    let upstream = Upstream::start().await;
    serve_fixtures(&upstream).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(dir.path(), &config(&upstream, ""));
    let db = dir.path().join("patchlag.db");
    let exporter = Exporter::start(&[
        "--config.file",
        cfg.to_str().expect("path"),
        "--storage.path",
        db.to_str().expect("path"),
        "--debug.fixed-now",
        NOW,
    ]);
    exporter.wait_ready().await;
    let m = exporter.scrape().await;
    let tb = |tier: &'static str, bulletin: &'static str| [("tier", tier), ("bulletin", bulletin)];

    // Clock starts: 10:00 Pacific, daylight saving included; out-of-band ids have no Patch Tuesday rule.
    let bulletin = |b: &'static str| [("source", "msrc"), ("bulletin", b)];
    assert_eq!(
        value(
            &m,
            "patchlag_bulletin_published_timestamp_seconds",
            &bulletin("2024-Mar")
        ),
        MAR
    );
    assert_eq!(
        value(
            &m,
            "patchlag_bulletin_published_timestamp_seconds",
            &bulletin("2024-Mar-B")
        ),
        MAR_B
    );
    assert_eq!(
        value(
            &m,
            "patchlag_bulletin_published_timestamp_seconds",
            &bulletin("2024-Apr")
        ),
        APR
    );
    assert_eq!(
        value(&m, "patchlag_bulletin_age_seconds", &bulletin("2024-Apr")),
        NOW_TS - APR
    );
    assert_eq!(
        value(
            &m,
            "patchlag_bulletin_info",
            &[
                ("source", "msrc"),
                ("bulletin", "2024-Apr"),
                ("title", "April 2024 Security Updates")
            ]
        ),
        1.0
    );
    // Outside the 90-day series window, Early, pre-release and future entries: no per-bulletin series.
    for absent in ["2023-Nov", "2024-Jan", "2024-Feb", "2024-May", "Oct-OOB"] {
        assert_eq!(
            sample(
                &m,
                "patchlag_bulletin_published_timestamp_seconds",
                &bulletin(absent)
            ),
            None,
            "{absent}"
        );
    }

    // Goals.
    assert_eq!(
        value(&m, "patchlag_goal_seconds", &[("tier", "english")]),
        86400.0
    );
    assert_eq!(
        value(&m, "patchlag_goal_seconds", &[("tier", "office365")]),
        172800.0
    );

    // Per-pair series.
    assert_eq!(
        value(
            &m,
            "patchlag_goal_deadline_timestamp_seconds",
            &tb("english", "2024-Mar")
        ),
        MAR + 86400.0
    );
    assert_eq!(
        value(
            &m,
            "patchlag_release_delay_seconds",
            &tb("english", "2024-Mar")
        ),
        36000.0
    );
    assert_eq!(
        value(
            &m,
            "patchlag_release_delay_seconds",
            &tb("english", "2024-Mar-B")
        ),
        18000.0
    );
    assert_eq!(
        value(
            &m,
            "patchlag_release_delay_seconds",
            &tb("english", "2024-Apr")
        ),
        90000.0
    );
    assert_eq!(
        value(
            &m,
            "patchlag_release_published_timestamp_seconds",
            &tb("english", "2024-Apr")
        ),
        APR + 90000.0
    );
    assert_eq!(
        value(&m, "patchlag_release_pending", &tb("english", "2024-Apr")),
        0.0
    );
    assert_eq!(
        value(&m, "patchlag_goal_breached", &tb("english", "2024-Apr")),
        1.0
    );
    assert_eq!(
        value(&m, "patchlag_goal_breached", &tb("english", "2024-Mar")),
        0.0
    );

    // Pending within goal, growing with the clock; no release timestamp while pending.
    assert_eq!(
        value(
            &m,
            "patchlag_release_delay_seconds",
            &tb("other_languages", "2024-Apr")
        ),
        NOW_TS - APR
    );
    assert_eq!(
        value(
            &m,
            "patchlag_release_pending",
            &tb("other_languages", "2024-Apr")
        ),
        1.0
    );
    assert_eq!(
        value(
            &m,
            "patchlag_goal_breached",
            &tb("other_languages", "2024-Apr")
        ),
        0.0
    );
    assert_eq!(
        sample(
            &m,
            "patchlag_release_published_timestamp_seconds",
            &tb("other_languages", "2024-Apr")
        ),
        None
    );
    // Pending past the goal.
    assert_eq!(
        value(
            &m,
            "patchlag_release_delay_seconds",
            &tb("other_languages", "2024-Mar-B")
        ),
        NOW_TS - MAR_B
    );
    assert_eq!(
        value(
            &m,
            "patchlag_release_pending",
            &tb("other_languages", "2024-Mar-B")
        ),
        1.0
    );
    assert_eq!(
        value(
            &m,
            "patchlag_goal_breached",
            &tb("other_languages", "2024-Mar-B")
        ),
        1.0
    );
    // A build listing covers does not cover what it does not list.
    assert_eq!(
        value(
            &m,
            "patchlag_release_pending",
            &tb("office365", "2024-Mar-B")
        ),
        1.0
    );
    assert_eq!(
        value(
            &m,
            "patchlag_release_delay_seconds",
            &tb("office365", "2024-Apr")
        ),
        7200.0
    );

    // Histograms over the whole history; every goal is a bucket boundary.
    let bucket = |tier: &'static str, le: &'static str| {
        value(
            &m,
            "patchlag_release_latency_seconds_bucket",
            &[("tier", tier), ("le", le)],
        )
    };
    let english: Vec<f64> = [
        "3600", "7200", "14400", "28800", "43200", "86400", "129600", "172800", "259200", "604800",
        "+Inf",
    ]
    .iter()
    .map(|le| bucket("english", le))
    .collect();
    assert_eq!(
        english,
        vec![0.0, 0.0, 0.0, 1.0, 2.0, 3.0, 5.0, 5.0, 5.0, 5.0, 5.0]
    );
    assert_eq!(
        value(
            &m,
            "patchlag_release_latency_seconds_count",
            &[("tier", "english")]
        ),
        5.0
    );
    assert_eq!(
        value(
            &m,
            "patchlag_release_latency_seconds_sum",
            &[("tier", "english")]
        ),
        324000.0
    );
    assert_eq!(bucket("other_languages", "129600"), 0.0);
    assert_eq!(bucket("other_languages", "172800"), 2.0);
    assert_eq!(bucket("other_languages", "259200"), 3.0);
    assert_eq!(
        value(
            &m,
            "patchlag_release_latency_seconds_sum",
            &[("tier", "other_languages")]
        ),
        493200.0
    );
    assert_eq!(bucket("office365", "7200"), 1.0);
    assert_eq!(bucket("office365", "172800"), 3.0);
    assert_eq!(
        value(
            &m,
            "patchlag_release_latency_seconds_count",
            &[("tier", "office365")]
        ),
        4.0
    );

    // Breaches counted once each, pending ones included once past the deadline.
    for tier in ["english", "other_languages", "office365"] {
        assert_eq!(
            value(&m, "patchlag_goal_breaches_total", &[("tier", tier)]),
            2.0,
            "{tier}"
        );
    }
    // Deadlines within the last 365 days: english 3 of 5 met; the other two have 4 decided pairs each.
    assert_eq!(
        value(&m, "patchlag_goal_met_ratio", &[("tier", "english")]),
        0.6
    );
    assert_eq!(
        value(
            &m,
            "patchlag_goal_met_ratio",
            &[("tier", "other_languages")]
        ),
        0.5
    );
    assert_eq!(
        value(&m, "patchlag_goal_met_ratio", &[("tier", "office365")]),
        0.5
    );

    // Source health.
    for (source, records) in [("msrc", 6.0), ("pmimport", 10.0), ("o365", 5.0)] {
        assert_eq!(value(&m, "patchlag_source_up", &[("source", source)]), 1.0);
        assert_eq!(
            value(&m, "patchlag_source_records", &[("source", source)]),
            records,
            "{source}"
        );
        assert_eq!(
            value(
                &m,
                "patchlag_source_last_success_timestamp_seconds",
                &[("source", source)]
            ),
            NOW_TS
        );
        for reason in [
            "timeout",
            "connect",
            "tls",
            "http_status",
            "body_too_large",
            "parse",
            "other",
        ] {
            assert_eq!(
                value(
                    &m,
                    "patchlag_source_errors_total",
                    &[("source", source), ("reason", reason)]
                ),
                0.0
            );
        }
    }
    assert_eq!(
        value(&m, "patchlag_config_last_reload_successful", &[]),
        1.0
    );

    if let Some(complaints) = promtool_check_metrics(&m) {
        assert_eq!(complaints, "", "promtool check metrics");
    }
    // The malformed records were logged, with their source.
    let logs = exporter.logs().join("\n");
    assert!(
        logs.contains("source=pmimport") && logs.contains("the tenth"),
        "{logs}"
    );

    // The status API agrees.
    let (status, body) = exporter.get("/api/v1/status").await;
    assert_eq!(status, 200);
    let doc: serde_json::Value = serde_json::from_str(&body).expect("json");
    let apr = doc["bulletins"]
        .as_array()
        .expect("bulletins")
        .iter()
        .find(|b| b["id"] == "2024-Apr")
        .expect("2024-Apr");
    let other = apr["tiers"]
        .as_array()
        .expect("tiers")
        .iter()
        .find(|t| t["tier"] == "other_languages")
        .expect("tier");
    assert_eq!(other["status"], "pending");
    assert_eq!(other["delay_seconds"], 97200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_upstreams_keep_the_last_data_and_count_reasons() {
    let upstream = Upstream::start().await;
    serve_fixtures(&upstream).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let dead =
        "  dead:\n    role: bulletins\n    kind: msrc\n    url: http://127.0.0.1:9/updates\n";
    let cfg = write_config(dir.path(), &config(&upstream, dead));
    let db = dir.path().join("patchlag.db");
    let exporter = Exporter::start(&[
        "--config.file",
        cfg.to_str().expect("path"),
        "--storage.path",
        db.to_str().expect("path"),
        "--debug.fixed-now",
        NOW,
    ]);
    exporter.wait_ready().await;
    let good = data_lines(&exporter.scrape().await);
    assert!(good.len() > 50);

    let errors = |text: &str, reason: &str| {
        sample(
            text,
            "patchlag_source_errors_total",
            &[("source", "msrc"), ("reason", reason)],
        )
        .unwrap_or(0.0)
    };
    // Connection refused, from the start.
    let m = exporter
        .wait_for("connect errors", |t| {
            sample(
                t,
                "patchlag_source_errors_total",
                &[("source", "dead"), ("reason", "connect")],
            )
            .unwrap_or(0.0)
                >= 1.0
        })
        .await;
    assert_eq!(value(&m, "patchlag_source_up", &[("source", "dead")]), 0.0);

    let cases: [(&str, Behavior); 4] = [
        ("http_status", Behavior::Status(500, b"oops".to_vec())),
        ("timeout", Behavior::Hang),
        (
            "parse",
            Behavior::Ok(b"<html><body>Service Unavailable</body></html>".to_vec()),
        ),
        ("body_too_large", Behavior::Ok(vec![b' '; 100_000])),
    ];
    for (reason, behavior) in cases {
        upstream.set("/cvrf/v3.0/updates", behavior);
        let m = exporter
            .wait_for(reason, |t| errors(t, reason) >= 1.0)
            .await;
        assert_eq!(
            value(&m, "patchlag_source_up", &[("source", "msrc")]),
            0.0,
            "{reason}"
        );
        assert_eq!(
            data_lines(&m),
            good,
            "data changed after a {reason} failure"
        );
        // A scrape never waits for a source, even one that hangs.
        let started = Instant::now();
        let _ = exporter.scrape().await;
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "slow scrape during {reason}"
        );
        let logs = exporter.logs().join("\n");
        assert!(
            logs.contains(&format!("reason={reason}")) && logs.contains("source=msrc"),
            "{reason} not logged"
        );
    }
    // The upstream heals.
    upstream.set(
        "/cvrf/v3.0/updates",
        Behavior::Ok(fixture("msrc-updates.json")),
    );
    let m = exporter
        .wait_for("recovery", |t| {
            sample(t, "patchlag_source_up", &[("source", "msrc")]) == Some(1.0)
        })
        .await;
    assert_eq!(data_lines(&m), good);
    let (status, body) = exporter.get("/api/v1/status").await;
    assert_eq!(status, 200);
    assert!(
        body.contains("\"last_error_reason\": \"body_too_large\""),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_and_an_emptied_upstream_change_nothing() {
    let upstream = Upstream::start().await;
    serve_fixtures(&upstream).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(dir.path(), &config(&upstream, ""));
    let db = dir.path().join("patchlag.db");
    let args = [
        "--config.file",
        cfg.to_str().expect("path"),
        "--storage.path",
        db.to_str().expect("path"),
        "--debug.fixed-now",
        NOW,
    ];
    let mut first = Exporter::start(&args);
    first.wait_ready().await;
    let before = data_lines(&first.scrape().await);
    first.signal("KILL");
    assert_eq!(
        first.wait_exit(Duration::from_secs(5)),
        None,
        "killed by a signal, no exit code"
    );

    // The vendor and Microsoft drop everything from their lists.
    upstream.set(
        "/cvrf/v3.0/updates",
        Behavior::Ok(br#"{"value": []}"#.to_vec()),
    );
    upstream.set(
        "/pmimport/releases.json",
        Behavior::Ok(br#"{"releases": []}"#.to_vec()),
    );
    upstream.set(
        "/o365/builds.csv",
        Behavior::Ok(b"build,date,covers\n".to_vec()),
    );
    let second = Exporter::start(&args);
    second.wait_ready().await;
    let m = second.scrape().await;
    assert_eq!(
        value(&m, "patchlag_source_records", &[("source", "msrc")]),
        0.0,
        "the empty answer was polled"
    );
    assert_eq!(data_lines(&m), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_is_a_clean_exit_and_ready_waits_for_first_polls() {
    let upstream = Upstream::start().await;
    serve_fixtures(&upstream).await;
    // msrc hangs for a while: not ready until its first poll has completed.
    upstream.set(
        "/cvrf/v3.0/updates",
        Behavior::Delay(Duration::from_millis(800), fixture("msrc-updates.json")),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(dir.path(), &config(&upstream, ""));
    let db = dir.path().join("patchlag.db");
    let mut exporter = Exporter::start(&[
        "--config.file",
        cfg.to_str().expect("path"),
        "--storage.path",
        db.to_str().expect("path"),
    ]);
    let (status, body) = exporter.get("/-/ready").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("msrc"), "{body}");
    assert_eq!(exporter.get("/-/healthy").await.0, 200);
    exporter.wait_ready().await;
    exporter.signal("TERM");
    assert_eq!(exporter.wait_exit(Duration::from_secs(10)), Some(0));
}

#[test]
fn exit_codes_for_bad_flags_and_busy_ports() {
    let out = std::process::Command::new(BIN)
        .arg("--no-such-flag")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let out = std::process::Command::new(BIN)
        .args(["--config.file", "/nonexistent/patchlag.yml"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/patchlag.yml"));

    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = busy.local_addr().expect("addr").port();
    let dir = tempfile::tempdir().expect("tempdir");
    let out = std::process::Command::new(BIN)
        .args([
            "--config.file",
            repo_root()
                .join("examples/demo.yml")
                .to_str()
                .expect("path"),
            "--storage.path",
            dir.path().join("x.db").to_str().expect("path"),
            "--web.listen-address",
            &format!("127.0.0.1:{port}"),
        ])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    // Said once, as a log line.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(&format!(
            r#" level=error msg="cannot listen" address=127.0.0.1:{port} error="#
        )),
        "{stderr}"
    );

    let out = std::process::Command::new(BIN)
        .arg("--version")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("patchlag-exporter, version ")
            && text.contains("revision")
            && text.contains("rustc"),
        "{text}"
    );
}
