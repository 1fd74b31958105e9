//! End to end for the `feed`, `html` and `http_resource` kinds: the real binary polls loopback
//! upstreams serving the fixtures of `tests/fixtures/sources/`, and `/metrics` is checked value
//! by value at a fixed "now".
//!
//! Bulletins: Microsoft's 2024-Oct (clock start 2024-10-08T17:00:00Z) and 2024-Nov
//! (2024-11-12T18:00:00Z) from the CVRF index, and CVEs from the Security Update Guide RSS.
//! The knowledge-base page gives its times in US Central time (CST in November, CDT in October).

mod common;

use std::time::{Duration, Instant};

use common::*;

const OCT: f64 = 1_728_406_800.0; // 2024-10-08T17:00:00Z
const NOV: f64 = 1_731_434_400.0; // 2024-11-12T18:00:00Z
const HOUR: f64 = 3600.0;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(repo_root().join("tests/fixtures/sources").join(name)).expect("fixture")
}

fn fixture_text(name: &str) -> String {
    String::from_utf8(fixture(name)).expect("utf-8")
}

fn start(dir: &tempfile::TempDir, config: &str, now: &str) -> Exporter {
    let cfg = write_config(dir.path(), config);
    let db = dir.path().join("patchlag.db");
    Exporter::start(&[
        "--config.file",
        cfg.to_str().expect("path"),
        "--storage.path",
        db.to_str().expect("path"),
        "--debug.fixed-now",
        now,
    ])
}

const MSRC: &str = "/cvrf/v3.0/updates";
const KB: &str = "/kb/275830";
const GUIDE: &str = "/update-guide/rss";
const NEWS: &str = "/pmimport/releases.atom";
const CAB: &str = "/pmimport/PMImport.cab";

/// The knowledge-base source as `examples/pmimport.yml` configures it.
fn kb_source(upstream: &Upstream) -> String {
    format!(
        r#"  kb:
    role: releases
    kind: html
    url: {url}
    rows: "div.kb-article table.release-history > tbody > tr"
    id: "td:nth-child(1)"
    id_regex: '(\d{{4}}\.\d{{2}}\.\d{{2}}\.\d+)'
    published: "td:nth-child(2)"
    time_format: "%m/%d/%Y %I:%M %p"
    timezone: America/Chicago
    tier: "td:nth-child(3), td:nth-child(3) li"
    tier_map: {{English/Invariant: english, All other languages: other_languages, Office 365: office365}}
    covers: "td:nth-child(4)"
"#,
        url = upstream.url(KB)
    )
}

fn news_source(upstream: &Upstream) -> String {
    format!(
        r#"  news:
    role: releases
    kind: feed
    url: {url}
    title_match: '(?i)content'
    tier_from_title:
      english: '(?i)\benglish\b|\ball languages\b'
      other_languages: '(?i)\ball languages\b'
      office365: '(?i)\boffice 365\b'
"#,
        url = upstream.url(NEWS)
    )
}

fn config(upstream: &Upstream, english_bulletins: &str, sources: &str) -> String {
    format!(
        r#"
defaults:
  interval: 300ms
  timeout: 2s
tiers:
  english:
    goal: 24h
    bulletins: [{english_bulletins}]
  other_languages:
    goal: 48h
    bulletins: [msrc]
  office365:
    goal: 48h
    bulletins: [msrc]
sources:
  msrc:
    role: bulletins
    kind: msrc
    out_of_band: false   # the index only; tests/msrc_out_of_band.rs reads documents
    url: {msrc}
{sources}"#,
        msrc = upstream.url(MSRC),
    )
}

fn pair<'a>(tier: &'a str, bulletin: &'a str) -> [(&'a str, &'a str); 2] {
    [("tier", tier), ("bulletin", bulletin)]
}

fn delay(m: &str, tier: &str, bulletin: &str) -> f64 {
    value(m, "patchlag_release_delay_seconds", &pair(tier, bulletin))
}

fn pending(m: &str, tier: &str, bulletin: &str) -> f64 {
    value(m, "patchlag_release_pending", &pair(tier, bulletin))
}

fn breached(m: &str, tier: &str, bulletin: &str) -> f64 {
    value(m, "patchlag_goal_breached", &pair(tier, bulletin))
}

fn released_at(m: &str, tier: &str, bulletin: &str) -> Option<f64> {
    sample(
        m,
        "patchlag_release_published_timestamp_seconds",
        &pair(tier, bulletin),
    )
}

fn errors(m: &str, source: &str, reason: &str) -> f64 {
    sample(
        m,
        "patchlag_source_errors_total",
        &[("source", source), ("reason", reason)],
    )
    .unwrap_or(0.0)
}

fn records(m: &str, source: &str) -> f64 {
    value(m, "patchlag_source_records", &[("source", source)])
}

fn up(m: &str, source: &str) -> f64 {
    value(m, "patchlag_source_up", &[("source", source)])
}

/// Waits until the upstream has answered `more` further requests on `path`.
async fn wait_hits(upstream: &Upstream, path: &str, more: usize) {
    let target = upstream.hits(path) + more;
    let deadline = Instant::now() + Duration::from_secs(20);
    while upstream.hits(path) < target {
        assert!(Instant::now() < deadline, "{path} not polled again");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The page without one of its rows, as it stood before that release was listed.
fn kb_without(version: &str) -> String {
    let page = fixture_text("pmimport-kb.html");
    let at = page.find(version).expect("row");
    let start = page[..at].rfind("<tr>").expect("row start");
    let end = at + page[at..].find("</tr>").expect("row end") + "</tr>".len();
    format!("{}{}", &page[..start], &page[end..])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn html_release_table_and_rss_bulletins() {
    let upstream = Upstream::start().await;
    upstream.set(MSRC, Behavior::Ok(fixture("msrc-updates.json")));
    upstream.set(GUIDE, Behavior::Ok(fixture("msrc-update-guide.rss")));
    // The page as it stood before the Office 365 release of 11/14 was listed.
    upstream.set(KB, Behavior::Ok(kb_without("2024.11.14.3").into_bytes()));
    let guide = format!(
        "  guide:\n    role: bulletins\n    kind: feed\n    url: {}\n    title_match: '^CVE-'\n",
        upstream.url(GUIDE)
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let exporter = start(
        &dir,
        &config(&upstream, "msrc, guide", &(kb_source(&upstream) + &guide)),
        "2024-11-14T12:00:00Z",
    );
    exporter.wait_ready().await;
    let now = 1_731_585_600.0;
    let m = exporter.scrape().await;

    // Five usable rows: the Klingon row maps to no tier, "TBD" and the withdrawn row are skipped.
    assert_eq!(records(&m, "kb"), 5.0);
    assert_eq!(up(&m, "kb"), 1.0);
    // 2024.11.12.1, "11/12/2024<br>3:15 PM" CST, lists 2024-Nov in its covers.
    assert_eq!(delay(&m, "english", "2024-Nov"), 3.0 * HOUR + 15.0 * 60.0);
    assert_eq!(
        released_at(&m, "english", "2024-Nov"),
        Some(1_731_446_100.0)
    );
    assert_eq!(breached(&m, "english", "2024-Nov"), 0.0);
    // 2024.11.13.2, "11/13/2024 10:40 AM" CST.
    assert_eq!(
        delay(&m, "other_languages", "2024-Nov"),
        22.0 * HOUR + 40.0 * 60.0
    );
    // 2024.10.09.2, "10/9/2024", a date without time seen in the first poll: 00:00 CDT.
    assert_eq!(delay(&m, "english", "2024-Oct"), 12.0 * HOUR);
    assert_eq!(delay(&m, "other_languages", "2024-Oct"), 12.0 * HOUR);
    assert_eq!(
        released_at(&m, "other_languages", "2024-Oct"),
        Some(OCT + 12.0 * HOUR)
    );
    // Office 365: nothing yet, 42 h into its 48 h.
    assert_eq!(pending(&m, "office365", "2024-Nov"), 1.0);
    assert_eq!(delay(&m, "office365", "2024-Nov"), now - NOV);
    assert_eq!(breached(&m, "office365", "2024-Nov"), 0.0);
    assert_eq!(released_at(&m, "office365", "2024-Nov"), None);

    // CVEs from the RSS feed start English clocks; the table's covers name two of them.
    assert_eq!(
        records(&m, "guide"),
        3.0,
        "ADV and untitled entries excluded"
    );
    let cve = |b: &'static str| [("source", "guide"), ("bulletin", b)];
    assert_eq!(
        value(
            &m,
            "patchlag_bulletin_published_timestamp_seconds",
            &cve("CVE-2024-43451")
        ),
        1_731_398_400.0
    );
    assert_eq!(
        delay(&m, "english", "CVE-2024-43451"),
        13.0 * HOUR + 15.0 * 60.0
    );
    assert_eq!(
        delay(&m, "english", "CVE-2024-49039"),
        13.0 * HOUR + 15.0 * 60.0
    );
    // Releases with covers count only for what they list: CVE-2024-38255 is still waiting.
    assert_eq!(pending(&m, "english", "CVE-2024-38255"), 1.0);
    assert_eq!(breached(&m, "english", "CVE-2024-38255"), 1.0);
    assert_eq!(delay(&m, "english", "CVE-2024-38255"), now - NOV);
    for absent in ["ADV240002", "CVE-2024-99999"] {
        assert_eq!(
            sample(
                &m,
                "patchlag_bulletin_published_timestamp_seconds",
                &cve(absent)
            ),
            None,
            "{absent}"
        );
    }
    for reason in ["parse", "http_status", "other"] {
        assert_eq!(errors(&m, "kb", reason), 0.0);
        assert_eq!(errors(&m, "guide", reason), 0.0);
    }
    let logs = exporter.logs().join("\n");
    assert!(
        logs.contains("source=kb") && logs.contains("2024.09.10.1") && logs.contains("TBD"),
        "the skipped row was logged with its source: {logs}"
    );
    if let Some(complaints) = promtool_check_metrics(&m) {
        assert_eq!(complaints, "", "promtool check metrics");
    }

    // The vendor lists the Office 365 release, dated "11/14/2024" without a time: it appeared
    // after the first poll, so its time is when it was first seen (now), not 00:00.
    upstream.set(KB, Behavior::Ok(fixture("pmimport-kb.html")));
    let m = exporter
        .wait_for("the new row", |t| {
            sample(t, "patchlag_source_records", &[("source", "kb")]) == Some(6.0)
        })
        .await;
    assert_eq!(pending(&m, "office365", "2024-Nov"), 0.0);
    assert_eq!(released_at(&m, "office365", "2024-Nov"), Some(now));
    assert_eq!(delay(&m, "office365", "2024-Nov"), 42.0 * HOUR);
    // Rows seen before keep their times.
    assert_eq!(delay(&m, "english", "2024-Oct"), 12.0 * HOUR);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn atom_feed_releases_with_tiers_from_titles() {
    let upstream = Upstream::start().await;
    upstream.set(MSRC, Behavior::Ok(fixture("msrc-updates.json")));
    upstream.set(NEWS, Behavior::Ok(fixture("vendor-releases.atom")));
    let dir = tempfile::tempdir().expect("tempdir");
    let exporter = start(
        &dir,
        &config(&upstream, "msrc", &news_source(&upstream)),
        "2024-11-14T12:00:00Z",
    );
    exporter.wait_ready().await;
    let m = exporter.scrape().await;

    // Maintenance notice (title_match) and Klingon content (no tier) excluded; an entry without
    // a date and one dated "yesterday" skipped.
    assert_eq!(records(&m, "news"), 6.0);
    // "PMImport content for English released", 2024-11-12T15:15:00-06:00.
    assert_eq!(delay(&m, "english", "2024-Nov"), 3.0 * HOUR + 15.0 * 60.0);
    // "... for all languages released" (an HTML title) belongs to both language tiers; English
    // was released earlier.
    assert_eq!(
        delay(&m, "other_languages", "2024-Nov"),
        22.0 * HOUR + 40.0 * 60.0
    );
    // The Office 365 entry has only <updated>: 2024-11-13T20:00:00Z.
    assert_eq!(delay(&m, "office365", "2024-Nov"), 26.0 * HOUR);
    assert_eq!(breached(&m, "office365", "2024-Nov"), 0.0);
    // October: the feed reaches back only to the day after 2024-Oct, and the first poll came
    // long after its deadline: the data cannot say how long October waited.
    assert_eq!(released_at(&m, "english", "2024-Oct"), None);
    assert_eq!(
        sample(
            &m,
            "patchlag_release_delay_seconds",
            &pair("english", "2024-Oct")
        ),
        None
    );
    assert_eq!(errors(&m, "news", "parse"), 0.0);
    if let Some(complaints) = promtool_check_metrics(&m) {
        assert_eq!(complaints, "", "promtool check metrics");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watched_file_versions_and_conditional_requests() {
    let upstream = Upstream::start().await;
    upstream.set(MSRC, Behavior::Ok(fixture("msrc-updates.json")));
    // A content file larger than max_body_bytes: with validators its body is never read.
    let cab = vec![0x4d; 2 * 1024 * 1024];
    let v1 = Behavior::Resource {
        etag: Some("\"pm-1\"".into()),
        last_modified: Some("Fri, 01 Nov 2024 16:00:00 GMT".into()),
        body: cab.clone(),
    };
    upstream.set(CAB, v1.clone());
    let source = format!(
        "  cab:\n    role: releases\n    kind: http_resource\n    url: {}\n    max_body_bytes: 65536\n    tiers: [english, other_languages, office365]\n",
        upstream.url(CAB)
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let exporter = start(
        &dir,
        &config(&upstream, "msrc", &source),
        "2024-11-13T12:00:00Z",
    );
    exporter.wait_ready().await;
    let now = 1_731_499_200.0;

    // Unchanged since before 2024-Nov: English waits, 18 h in.
    let m = exporter.scrape().await;
    assert_eq!(records(&m, "cab"), 1.0);
    assert_eq!(pending(&m, "english", "2024-Nov"), 1.0);
    assert_eq!(delay(&m, "english", "2024-Nov"), now - NOV);

    // The next polls are conditional, and answered 304 by the server.
    wait_hits(&upstream, CAB, 2).await;
    let headers = upstream.last_headers(CAB).expect("requested");
    assert_eq!(
        headers.get("if-none-match").map(|v| v.as_bytes()),
        Some(&b"\"pm-1\""[..])
    );
    assert_eq!(
        headers.get("if-modified-since").map(|v| v.as_bytes()),
        Some(&b"Fri, 01 Nov 2024 16:00:00 GMT"[..])
    );
    // A 304 is a successful poll with its one record.
    let m = exporter.scrape().await;
    assert_eq!(up(&m, "cab"), 1.0);
    assert_eq!(records(&m, "cab"), 1.0);
    for reason in ["parse", "http_status", "body_too_large", "other"] {
        assert_eq!(errors(&m, "cab", reason), 0.0, "{reason}");
    }

    // A new version, modified 3 h 15 min after the bulletin.
    upstream.set(
        CAB,
        Behavior::Resource {
            etag: Some("W/\"pm-2\"".into()),
            last_modified: Some("Tue, 12 Nov 2024 21:15:00 GMT".into()),
            body: cab.clone(),
        },
    );
    let m = exporter
        .wait_for("version 2", |t| {
            sample(t, "patchlag_release_pending", &pair("english", "2024-Nov")) == Some(0.0)
        })
        .await;
    assert_eq!(delay(&m, "english", "2024-Nov"), 3.0 * HOUR + 15.0 * 60.0);
    assert_eq!(
        released_at(&m, "office365", "2024-Nov"),
        Some(1_731_446_100.0)
    );
    let released = data_lines(&m);

    // A mirror serves the old file again: not a new release, nothing moves.
    upstream.set(CAB, v1);
    wait_hits(&upstream, CAB, 2).await;
    let m = exporter.scrape().await;
    assert_eq!(up(&m, "cab"), 1.0);
    assert_eq!(records(&m, "cab"), 1.0);
    assert_eq!(data_lines(&m), released);
    let (_, status) = exporter.get("/api/v1/status").await;
    let doc: serde_json::Value = serde_json::from_str(&status).expect("json");
    let nov = doc["bulletins"]
        .as_array()
        .expect("bulletins")
        .iter()
        .find(|b| b["id"] == "2024-Nov")
        .expect("2024-Nov");
    assert!(
        nov["tiers"]
            .as_array()
            .expect("tiers")
            .iter()
            .all(|t| t["release"] == "pm-2" && t["status"] == "met"),
        "{nov}"
    );

    // Failures are counted with their reason and change nothing stored.
    let cases = [
        ("http_status", Behavior::Status(404, b"gone".to_vec())),
        (
            "parse",
            Behavior::Resource {
                etag: Some("\"pm-3\"".into()),
                last_modified: Some("yesterday".into()),
                body: Vec::new(),
            },
        ),
    ];
    for (reason, behavior) in cases {
        upstream.set(CAB, behavior);
        let m = exporter
            .wait_for(reason, |t| errors(t, "cab", reason) >= 1.0)
            .await;
        assert_eq!(up(&m, "cab"), 0.0, "{reason}");
        assert_eq!(data_lines(&m), released, "{reason}");
    }
    let logs = exporter.logs().join("\n");
    assert!(
        logs.contains("source=cab") && logs.contains("invalid Last-Modified header"),
        "{logs}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_pages_and_feeds_keep_the_history() {
    let upstream = Upstream::start().await;
    upstream.set(MSRC, Behavior::Ok(fixture("msrc-updates.json")));
    upstream.set(KB, Behavior::Ok(fixture("pmimport-kb.html")));
    upstream.set(NEWS, Behavior::Ok(fixture("vendor-releases.atom")));
    let dir = tempfile::tempdir().expect("tempdir");
    let exporter = start(
        &dir,
        &config(
            &upstream,
            "msrc",
            &(kb_source(&upstream) + &news_source(&upstream)),
        ),
        "2024-11-14T12:00:00Z",
    );
    exporter.wait_ready().await;
    let good = data_lines(&exporter.scrape().await);
    assert!(good.len() > 20, "{good:?}");

    let page = fixture_text("pmimport-kb.html");
    let mut not_utf8 = page.clone().into_bytes();
    let at = page.find("2024.11.12.1").expect("id");
    not_utf8[at] = 0xff;
    let no_table = page.replace("release-history", "release-archive");
    let table = page.find("<tbody>\n          <tr>\n            <td>PMImport 2024.11.14.3");
    let empty_table = {
        let start = table.expect("release table") + "<tbody>".len();
        let end = start + page[start..].find("</tbody>").expect("end");
        format!("{}{}", &page[..start], &page[end..])
    };
    let no_dates = page.replace("/2024", ".2024");
    let cases: Vec<(&str, &str, &str, Behavior)> = vec![
        (
            "kb",
            KB,
            "http_status",
            Behavior::Status(404, b"gone".to_vec()),
        ),
        ("kb", KB, "parse", Behavior::Ok(no_table.into_bytes())),
        ("kb", KB, "parse", Behavior::Ok(empty_table.into_bytes())),
        ("kb", KB, "parse", Behavior::Ok(no_dates.into_bytes())),
        ("kb", KB, "parse", Behavior::Ok(not_utf8)),
        (
            "news",
            NEWS,
            "http_status",
            Behavior::Status(404, b"gone".to_vec()),
        ),
        (
            "news",
            NEWS,
            "parse",
            Behavior::Ok(b"<html><body>Service Unavailable</body></html>".to_vec()),
        ),
        ("news", NEWS, "parse", Behavior::Ok(vec![0xff, 0xfe, b'<'])),
    ];
    for (source, path, reason, behavior) in cases {
        let path_good = if path == KB {
            Behavior::Ok(fixture("pmimport-kb.html"))
        } else {
            Behavior::Ok(fixture("vendor-releases.atom"))
        };
        let m = exporter.scrape().await;
        let before = errors(&m, source, reason);
        upstream.set(path, behavior);
        let m = exporter
            .wait_for(&format!("{source} {reason}"), |t| {
                errors(t, source, reason) > before
            })
            .await;
        assert_eq!(up(&m, source), 0.0, "{source} {reason}");
        assert_eq!(data_lines(&m), good, "{source} {reason}: history changed");
        // Back to good, so the next case's failure is its own.
        upstream.set(path, path_good);
        exporter
            .wait_for("recovery", |t| {
                sample(t, "patchlag_source_up", &[("source", source)]) == Some(1.0)
            })
            .await;
    }
    let logs = exporter.logs().join("\n");
    for needle in [
        "no element matches `rows`",
        "not valid UTF-8",
        "none of the 9 rows is usable",
        "not an RSS or Atom feed",
    ] {
        assert!(logs.contains(needle), "{needle} not logged: {logs}");
    }
    assert_eq!(data_lines(&exporter.scrape().await), good);
}

#[test]
fn example_configurations_pass_the_check() {
    for example in ["examples/pmimport.yml", "examples/demo.yml"] {
        let out = std::process::Command::new(BIN)
            .args(["--config.check", "--config.file"])
            .arg(repo_root().join(example))
            .output()
            .expect("run");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{example}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.starts_with("SUCCESS"), "{stdout}");
    }
}
