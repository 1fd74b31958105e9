//! `report --format html`: the real binary over a store filled by the real exporter from the
//! core fixtures, at the instant of the scenario in `tests/report.rs` (2024-04-10T20:00:00Z).
//!
//! - the page stands alone (no script, no external reference) and holds every pair;
//! - it matches `tests/golden/report.html` (regenerate with
//!   `UPDATE_GOLDEN=1 cargo test --test report_html` after an intended change, and review the
//!   diff);
//! - headless Chromium renders it to `target/test-artifacts/report.png` and prints it to
//!   `target/test-artifacts/report.pdf`, landscape, one tier per page; the PDF read back with
//!   `pdftotext` holds every tier, bulletin and delay.
//!
//! Needs Debian's `chromium` and `poppler-utils` for the last test (the test command installs
//! them); without them it is skipped with a message, except in CI, where it fails.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

const NOW: &str = "2024-04-10T20:00:00Z";

fn config(dir: &Path) -> PathBuf {
    let core = |name: &str| format!("file://{}", reference(&format!("core/{name}")).display());
    TestConfig::new()
        .core_scenario(
            [
                &core("msrc-updates.json"),
                &core("pmimport-releases.json"),
                &core("office365-builds.csv"),
            ],
            "",
            true,
        )
        .write(dir)
}

/// (tier, bulletin, published as shown, delay as shown, status) of every pair: the scenario of
/// `tests/report.rs`.
const PAIRS: [(&str, &str, &str, &str, &str); 15] = [
    ("english", "2023-Nov", "2023-11-14 18:00 UTC", "20 h", "met"),
    (
        "english",
        "2024-Jan",
        "2024-01-09 18:00 UTC",
        "30 h",
        "breached",
    ),
    ("english", "2024-Mar", "2024-03-12 17:00 UTC", "10 h", "met"),
    (
        "english",
        "2024-Mar-B",
        "2024-03-22 17:00 UTC",
        "5 h",
        "met",
    ),
    (
        "english",
        "2024-Apr",
        "2024-04-09 17:00 UTC",
        "25 h",
        "breached",
    ),
    (
        "office365",
        "2023-Nov",
        "2023-11-14 18:00 UTC",
        "6 h",
        "met",
    ),
    (
        "office365",
        "2024-Jan",
        "2024-01-09 18:00 UTC",
        "72 h",
        "breached",
    ),
    (
        "office365",
        "2024-Mar",
        "2024-03-12 17:00 UTC",
        "12 h",
        "met",
    ),
    (
        "office365",
        "2024-Mar-B",
        "2024-03-22 17:00 UTC",
        "459 h",
        "breached",
    ),
    (
        "office365",
        "2024-Apr",
        "2024-04-09 17:00 UTC",
        "2 h",
        "met",
    ),
    (
        "other_languages",
        "2023-Nov",
        "2023-11-14 18:00 UTC",
        "50 h",
        "breached",
    ),
    (
        "other_languages",
        "2024-Jan",
        "2024-01-09 18:00 UTC",
        "40 h",
        "met",
    ),
    (
        "other_languages",
        "2024-Mar",
        "2024-03-12 17:00 UTC",
        "47 h",
        "met",
    ),
    (
        "other_languages",
        "2024-Mar-B",
        "2024-03-22 17:00 UTC",
        "459 h",
        "breached",
    ),
    (
        "other_languages",
        "2024-Apr",
        "2024-04-09 17:00 UTC",
        "27 h",
        "pending",
    ),
];
const TIERS: [&str; 3] = ["english", "office365", "other_languages"];

/// Fills a store with the exporter, stops it, and returns the configuration, the database and
/// the HTML report.
async fn html_report(dir: &Path, extra: &[&str]) -> (PathBuf, PathBuf, String) {
    let cfg = config(dir);
    let db = dir.join("patchlag.db");
    {
        let exporter = Exporter::start(&[
            "--config.file",
            cfg.to_str().expect("path"),
            "--storage.path",
            db.to_str().expect("path"),
            "--debug.fixed-now",
            NOW,
        ]);
        exporter.wait_ready().await;
    }
    let out = Command::new(BIN)
        .arg("report")
        .args(["--config.file", cfg.to_str().expect("path")])
        .args(["--storage.path", db.to_str().expect("path")])
        .args(["--debug.fixed-now", NOW, "--format", "html"])
        .args(extra)
        .output()
        .expect("run report");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
    let html = String::from_utf8(out.stdout).expect("UTF-8");
    (cfg, db, html)
}

/// The names of every attribute of every tag (what sources send is escaped, so every `<`
/// opens a tag).
fn attribute_names(html: &str) -> Vec<String> {
    html.split('<')
        .skip(1)
        .filter(|t| !t.starts_with('/') && !t.starts_with('!'))
        .filter_map(|t| t.split('>').next())
        .flat_map(|tag| {
            tag.split_whitespace()
                .skip(1)
                .filter_map(|w| w.split_once('=').map(|(name, _)| name.to_lowercase()))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The part of the page between `start` and the next `end` (or the end of the page).
fn between<'a>(html: &'a str, start: &str, end: &str) -> &'a str {
    let from = html.find(start).unwrap_or_else(|| panic!("{start}"));
    let rest = &html[from..];
    let to = rest[start.len()..]
        .find(end)
        .map_or(rest.len(), |i| i + start.len());
    &rest[..to]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_stands_alone_and_holds_every_pair() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, _, html) = html_report(dir.path(), &[]).await;
    assert!(html.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"));
    assert!(html.ends_with("</html>\n"));
    let lower = html.to_lowercase();
    for forbidden in [
        "<script",
        "javascript:",
        "<link",
        "<img",
        "<iframe",
        "<object",
        "<embed",
        "<image",
        "<use",
        "<foreignobject",
        "@import",
        "@font-face",
        "url(",
    ] {
        assert!(
            !lower.contains(forbidden),
            "the page loads or runs something ({forbidden})"
        );
    }
    for name in attribute_names(&html) {
        assert!(
            !name.starts_with("on")
                && !["src", "srcset", "xlink:href", "action"].contains(&name.as_str()),
            "attribute {name}"
        );
    }
    // Links only within the page.
    for href in html.split("href=\"").skip(1) {
        let target = href.split('"').next().expect("href");
        assert!(target.starts_with('#'), "external link {target}");
        assert!(
            html.contains(&format!(" id=\"{}\"", &target[1..])),
            "dangling link {target}"
        );
    }

    // The summary, then the method once, then one section per tier with its chart, totals
    // and table.
    let summary = between(&html, "<table id=\"summary\">", "</table>");
    assert!(summary.contains(
        "<td class=\"num\">5</td><td class=\"num\">2</td><td class=\"num bad\">2</td>\
         <td class=\"num\">1</td><td class=\"num\"><span class=\"ratio\">50.0 %</span>\
         <small>2 of 4 decided</small></td></tr>"
    ));
    assert_eq!(html.matches("<section class=\"method\"").count(), 1);
    assert!(html.find("id=\"method\"") < html.find("<section class=\"tier\""));
    for tier in TIERS {
        let section = between(
            &html,
            &format!("<section class=\"tier\" id=\"tier-{tier}\""),
            "</section>",
        );
        assert_eq!(section.matches("<svg class=\"chart\"").count(), 1, "{tier}");
        let pairs: Vec<_> = PAIRS.iter().filter(|p| p.0 == tier).collect();
        let chart = between(section, "<svg class=\"chart\"", "</svg>");
        assert_eq!(
            chart.matches("class=\"mk ").count(),
            pairs.len(),
            "{tier}: one marker per pair"
        );
        assert_eq!(section.matches("<tr class=").count(), pairs.len(), "{tier}");
        for (_, bulletin, published, delay, status) in pairs {
            let row = between(section, &format!("data-bulletin=\"{bulletin}\""), "</tr>");
            assert!(
                row.contains(&format!(">{published}</time>")),
                "{tier} {bulletin}: {row}"
            );
            assert!(
                row.contains(&format!("<td class=\"num\">{delay}</td>")),
                "{tier} {bulletin}: {row}"
            );
            assert!(
                row.contains(&format!("<span class=\"badge {status}\">{status}</span>")),
                "{tier} {bulletin}: {row}"
            );
            assert!(
                section.contains(&format!(
                    "<title>{bulletin}, published {published}: {delay}, "
                )),
                "{tier} {bulletin}: the marker names the pair"
            );
        }
    }
    // The pending pair waits, a breach still without content is a hollow triangle beyond the
    // scale, labelled with its value.
    let office = between(&html, "id=\"tier-office365\"", "</section>");
    assert!(office.contains(
        "<title>2024-Mar-B, published 2024-03-22 17:00 UTC: 459 h, breached, no content yet</title>"
    ));
    assert!(office.contains(">2024-Mar-B · 459 h ↑</text>"));
    assert!(office.contains("class=\"mk m-overdue\""));
    let other = between(&html, "id=\"tier-other_languages\"", "</section>");
    assert!(other.contains("class=\"mk m-pending\""));
    assert!(other.contains("<td colspan=\"2\" class=\"muted\">none yet</td>"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_apply_to_the_page() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, _, html) = html_report(
        dir.path(),
        &[
            "--tier",
            "english",
            "--since",
            "2024-03-01",
            "--until",
            "2024-04-01",
        ],
    )
    .await;
    assert_eq!(html.matches("<section class=\"tier\"").count(), 1);
    assert!(html.contains(
        "Bulletins published from 2024-03-01 00:00 UTC to 2024-04-01 00:00 UTC \
         (evaluated: 2024-03-12 to 2024-03-22)"
    ));
    let english = between(&html, "id=\"tier-english\"", "</section>");
    let chart = between(english, "<svg class=\"chart\"", "</svg>");
    assert_eq!(chart.matches("class=\"mk ").count(), 2);
    assert!(!html.contains("2024-Jan"));
    assert!(!html.contains("tier-office365"));
}

/// The page with what varies between machines and builds replaced: where the repository and
/// the temporary directory are, the version and the revision.
fn normalize(html: &str, dir: &Path) -> String {
    let canonical = |p: &Path| {
        std::fs::canonicalize(p)
            .expect("canonical path")
            .display()
            .to_string()
    };
    let version = Command::new(BIN)
        .arg("--version")
        .output()
        .expect("--version");
    let version = String::from_utf8_lossy(&version.stdout).into_owned();
    let revision = version
        .split("revision: ")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .expect("revision");
    html.replace(&canonical(dir), "TMP")
        .replace(&canonical(&repo_root()), "REPO")
        .replace(
            &format!(
                "patchlag-exporter {} (revision {revision})",
                env!("CARGO_PKG_VERSION")
            ),
            "patchlag-exporter VERSION (revision REVISION)",
        )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_matches_the_golden_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, _, html) = html_report(dir.path(), &[]).await;
    let got = normalize(&html, dir.path());
    let golden = repo_root().join("tests/golden/report.html");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden, &got).expect("write golden");
    }
    let want = std::fs::read_to_string(&golden).expect("golden file (UPDATE_GOLDEN=1 to create)");
    if got != want {
        let diff: Vec<String> = want
            .lines()
            .zip(got.lines())
            .filter(|(w, g)| w != g)
            .take(10)
            .map(|(w, g)| format!("- {w}\n+ {g}"))
            .collect();
        panic!(
            "the HTML report differs from {} ({} vs {} lines); first differences:\n{}\n\
             After an intended change: UPDATE_GOLDEN=1 cargo test --test report_html",
            golden.display(),
            want.lines().count(),
            got.lines().count(),
            diff.join("\n")
        );
    }
}

/// Runs a command to completion, killing it after `timeout`; panics unless it succeeds.
fn run(command: &mut Command, timeout: Duration) {
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start");
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            if !status.success() {
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut e, &mut err);
                }
                panic!("{command:?}: {status}\n{err}");
            }
            return;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{command:?} did not finish in {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Headless Chromium as the test suite runs it: no sandbox (root in CI), no GPU, none of its
/// background network traffic, a fresh profile.
fn chromium(binary: &Path, profile: &Path) -> Command {
    let mut c = Command::new(binary);
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_prints_every_tier_bulletin_and_delay() {
    let (Some(browser), Some(pdftotext), Some(pdfinfo)) = (
        tool(&["chromium", "chromium-browser"]),
        tool(&["pdftotext"]),
        tool(&["pdfinfo"]),
    ) else {
        eprintln!(
            "skipping: chromium or poppler-utils not found \
             (Debian: apt-get install chromium poppler-utils)"
        );
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, _, html) = html_report(dir.path(), &[]).await;
    let artifacts = repo_root().join("target/test-artifacts");
    std::fs::create_dir_all(&artifacts).expect("artifact directory");
    let page = artifacts.join("report.html");
    std::fs::write(&page, &html).expect("write page");
    let url = format!("file://{}", page.display());

    let png = artifacts.join("report.png");
    let _ = std::fs::remove_file(&png);
    run(
        chromium(&browser, &dir.path().join("profile-png"))
            .arg("--window-size=1200,2600")
            .arg(format!("--screenshot={}", png.display()))
            .arg(&url),
        Duration::from_secs(120),
    );
    let bytes = std::fs::read(&png).expect("screenshot");
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert_eq!(
        u32::from_be_bytes(bytes[16..20].try_into().expect("width")),
        1200
    );

    let pdf = artifacts.join("report.pdf");
    let _ = std::fs::remove_file(&pdf);
    run(
        chromium(&browser, &dir.path().join("profile-pdf"))
            .arg("--no-pdf-header-footer")
            .arg(format!("--print-to-pdf={}", pdf.display()))
            .arg(&url),
        Duration::from_secs(120),
    );

    // Landscape pages.
    let info = Command::new(pdfinfo).arg(&pdf).output().expect("pdfinfo");
    let info = String::from_utf8_lossy(&info.stdout).into_owned();
    let size: Vec<f64> = info
        .lines()
        .find_map(|l| l.strip_prefix("Page size:"))
        .expect("page size")
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    assert!(size[0] > size[1], "landscape: {info}");

    let text = Command::new(pdftotext)
        .args(["-layout"])
        .arg(&pdf)
        .arg("-")
        .output()
        .expect("pdftotext");
    let text = String::from_utf8(text.stdout).expect("UTF-8");
    let pages: Vec<&str> = text.split('\u{c}').collect();
    // Each tier starts a page, in order; the summary and the method come before.
    let starts: Vec<usize> = TIERS
        .iter()
        .map(|tier| {
            pages
                .iter()
                .position(|p| {
                    p.lines()
                        .find(|l| !l.trim().is_empty())
                        .is_some_and(|l| l.trim().starts_with(&format!("{tier} · goal ")))
                })
                .unwrap_or_else(|| panic!("no page starts with tier {tier}:\n{text}"))
        })
        .collect();
    assert!(starts[0] > 0, "the summary comes first");
    assert!(starts.windows(2).all(|w| w[0] < w[1]), "{starts:?}");
    assert!(pages[0].contains("Summary"));
    assert!(text.contains("How these numbers were measured"));
    for (i, tier) in TIERS.iter().enumerate() {
        let end = starts.get(i + 1).copied().unwrap_or(pages.len());
        let tier_text = pages[starts[i]..end].join("\n");
        for (_, bulletin, published, delay, status) in PAIRS.iter().filter(|p| p.0 == *tier) {
            // The table row, cells apart by two spaces or more.
            let row = tier_text
                .lines()
                .find(|l| {
                    l.trim_start().starts_with(&format!("{bulletin} ")) && l.contains(published)
                })
                .unwrap_or_else(|| panic!("{tier}: no row for {bulletin}:\n{tier_text}"));
            let cells: Vec<&str> = row
                .split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect();
            // pdftotext may close up the space of a narrow right-aligned cell ("5h").
            let squeezed: Vec<String> = cells.iter().map(|c| c.replace(' ', "")).collect();
            assert!(
                squeezed.contains(&delay.replace(' ', "")),
                "{tier} {bulletin}: {delay} in {cells:?}"
            );
            assert!(
                cells.contains(status),
                "{tier} {bulletin}: {status} in {cells:?}"
            );
        }
    }
    // Said once, in words.
    assert!(text.contains("All times are UTC"));
}
