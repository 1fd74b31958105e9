//! The landing page as a person sees it: the offline demo at a fixed instant, rendered by
//! headless Chromium through chromedriver (W3C WebDriver), checked by its visible text and
//! colours, and saved as `target/test-artifacts/landing.png`.
//!
//! Needs Debian's `chromium` and `chromium-driver` (the test command installs them). Without
//! them the browser test is skipped with a message, except in CI (`CI` set), where it fails.
//!
//! The demo's schedule (scripts/gen-demo-fixtures.py), at 2026-05-14T16:00:00Z: the newest
//! bulletin is the second advisory of Wednesday 13 May (22:00 PDT, 05:00 UTC, 11 h old).
//! English content came after 6 h (met), Office 365 and other languages not yet (pending).
//! Sunday's 10:00 advisories never get Office 365 content: 10 May's has been waiting 95 h
//! (breached).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::*;
use serde_json::{json, Value};

const NOW: &str = "2026-05-14T16:00:00Z";

/// The demo configuration, runnable from a temporary directory, plus one release source whose
/// server refuses connections, so that a source is down.
fn demo_config(dir: &Path) -> PathBuf {
    let fixtures = repo_root().join("examples/fixtures");
    let text = std::fs::read_to_string(repo_root().join("examples/demo.yml"))
        .expect("demo configuration")
        .replace(
            "file:fixtures/",
            &format!("file://{}/", fixtures.to_str().expect("path")),
        );
    let text = format!(
        "{text}\n  vendor_kb:\n    role: releases\n    kind: csv\n    url: http://127.0.0.1:9/kb.csv\n    \
         id: id\n    published: published\n    tiers: [english]\n"
    );
    write_config(dir, &text)
}

/// Starts the exporter on the demo and waits until every source's first poll is published: a
/// snapshot that shows the state of all four sources was read after all four were stored.
async fn start_demo(dir: &Path) -> Exporter {
    let config = demo_config(dir);
    let db = dir.join("demo.db");
    let exporter = Exporter::start(&[
        "--config.file",
        config.to_str().expect("path"),
        "--storage.path",
        db.to_str().expect("path"),
        "--debug.fixed-now",
        NOW,
    ]);
    exporter.wait_ready().await;
    exporter
        .wait_for("every first poll", |m| {
            ["msrc", "advisories", "pmimport", "vendor_kb"]
                .iter()
                .all(|s| sample(m, "patchlag_source_up", &[("source", s)]).is_some())
        })
        .await;
    exporter
}

/// Runs everywhere, browser or not: the page must stand alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn landing_page_is_self_contained() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exporter = start_demo(dir.path()).await;
    let response = reqwest::get(exporter.url("/")).await.expect("request");
    assert_eq!(response.status().as_u16(), 200);
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let html = response.text().await.expect("body");
    for forbidden in [
        "<script", "<link", "<img", "<iframe", "src=", "@import", "url(",
    ] {
        assert!(
            !html.to_lowercase().contains(forbidden),
            "the page loads something ({forbidden})"
        );
    }
    // Every link is relative, so the page works behind a reverse proxy under any path.
    for href in html.split("href=\"").skip(1) {
        assert!(
            !href.starts_with("http") && !href.starts_with('/'),
            "{href}"
        );
    }
    assert!(html.contains("<th scope=\"col\">Tier</th>"));
}

/// The status API carries what the page shows, and agrees with `/metrics`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_api_agrees_with_the_page_and_the_metrics() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exporter = start_demo(dir.path()).await;
    let (code, body) = exporter.get("/api/v1/status").await;
    assert_eq!(code, 200);
    let doc: Value = serde_json::from_str(&body).expect("JSON");
    let metrics = exporter.scrape().await;
    let tiers = doc["tiers"].as_array().expect("tiers");
    assert_eq!(tiers.len(), 4);
    for tier in tiers {
        let name = tier["name"].as_str().expect("name");
        assert_eq!(tier["current"]["bulletin"], "ADV-2026-05-13-2", "{name}");
        let ratio = value(&metrics, "patchlag_goal_met_ratio", &[("tier", name)]);
        // serde_json's default float parsing may be one unit in the last place off.
        let api_ratio = tier["goal_met_ratio"].as_f64().expect("ratio");
        assert!(
            (api_ratio - ratio).abs() < 1e-12,
            "{name}: {api_ratio} vs {ratio}"
        );
        let (met, due) = (
            tier["goal_met"].as_f64().expect("met"),
            tier["goal_due"].as_f64().expect("due"),
        );
        assert!(
            (met / due - ratio).abs() < 1e-12,
            "{name}: {met}/{due} vs {ratio}"
        );
    }
    let office = &tiers[2];
    assert_eq!(office["name"], "office365");
    assert_eq!(office["current"]["status"], "pending");
    assert_eq!(office["current"]["release"], Value::Null);
    assert_eq!(office["current"]["delay_seconds"], 11 * 3600);
    assert_eq!(
        office["overdue"],
        json!([
            "ADV-2026-05-10-1",
            "ADV-2026-05-03-1",
            "ADV-2026-04-26-1",
            "ADV-2026-04-19-1",
            "ADV-2026-04-12-1"
        ])
    );
    let other = &tiers[3];
    assert_eq!(other["current"]["status"], "pending");
    assert_eq!(other["current"]["pending"], true);
    assert_eq!(other["current"]["delay_seconds"], 11 * 3600);
    assert_eq!(doc["series_window_seconds"], 36 * 86400);
    // Two advisories a day for 36 days, 2026-Apr, its out-of-band update, 2026-May and eleven
    // Microsoft 365 Apps builds.
    assert_eq!(doc["bulletins"].as_array().expect("bulletins").len(), 86);
    let broken = doc["sources"]
        .as_array()
        .expect("sources")
        .iter()
        .find(|s| s["name"] == "vendor_kb")
        .expect("vendor_kb");
    assert_eq!(broken["up"], false);
    assert_eq!(broken["polled"], true);
    assert_eq!(broken["last_error_reason"], "connect");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn landing_page_in_headless_chromium() {
    let Some((chromium, chromedriver)) = browser() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let exporter = start_demo(dir.path()).await;

    let driver = Driver::start(&chromedriver).await;
    let profile = dir.path().join("chromium-profile");
    let session = driver.session(&chromium, &profile).await;
    session.navigate(&exporter.url("/")).await;

    // Version and build.
    let build = session.text(&session.find("#build").await).await;
    assert!(
        build.starts_with(&format!("version {}", env!("CARGO_PKG_VERSION"))),
        "{build}"
    );
    assert!(build.contains("as of 2026-05-14 16:00 UTC"), "{build}");

    // Above the tables, a chart per tier of the 14-day window, as the status API has it: a
    // marker per evaluated pair, a hollow triangle per pair still waiting past its goal.
    let (_, body) = exporter.get("/api/v1/status").await;
    let doc: Value = serde_json::from_str(&body).expect("status JSON");
    let tiers = doc["tiers"].as_array().expect("tiers");
    let mut captions = Vec::new();
    for c in session.find_all(".charts figure figcaption").await {
        captions.push(session.text(&c).await);
    }
    let want: Vec<String> = tiers
        .iter()
        .map(|t| {
            format!(
                "{} goal {} h",
                t["name"].as_str().expect("name"),
                t["goal_seconds"].as_i64().expect("goal") / 3600
            )
        })
        .collect();
    assert_eq!(captions, want);
    for tier in tiers {
        let name = tier["name"].as_str().expect("name");
        let pairs: Vec<&Value> = doc["bulletins"]
            .as_array()
            .expect("bulletins")
            .iter()
            .flat_map(|b| b["tiers"].as_array().expect("pairs"))
            .filter(|p| p["tier"] == name)
            .collect();
        let chart = format!(".charts figure[data-tier='{name}'] svg.chart");
        let markers = session.find_all(&format!("{chart} .mk")).await;
        assert_eq!(markers.len(), pairs.len(), "{name}: a marker per pair");
        let overdue = session.find_all(&format!("{chart} .mk.m-overdue")).await;
        let waiting_past_goal = pairs
            .iter()
            .filter(|p| p["status"] == "breached" && p["pending"] == true)
            .count();
        assert_eq!(overdue.len(), waiting_past_goal, "{name}");
    }
    let office = session
        .find_all(".charts figure[data-tier='office365'] svg.chart .mk.m-overdue")
        .await;
    assert!(
        !office.is_empty(),
        "the demo has Office 365 content missing past its goal"
    );

    // The current bulletin of each tier, and its status in words.
    let status = |tier: &str| format!("#tiers tr[data-tier='{tier}'] td.status");
    let current = |tier: &str| format!("#tiers tr[data-tier='{tier}'] td:nth-of-type(2)");
    for tier in ["english", "office365", "other_languages"] {
        let text = session.text(&session.find(&current(tier)).await).await;
        assert!(text.starts_with("ADV-2026-05-13-2\n"), "{tier}: {text}");
    }
    assert_eq!(
        session.text(&session.find(&status("english")).await).await,
        "met"
    );
    assert_eq!(
        session
            .text(&session.find(&status("other_languages")).await)
            .await,
        "pending"
    );
    assert_eq!(
        session
            .text(&session.find(&status("office365")).await)
            .await,
        "pending\nolder, still missing past goal: ADV-2026-05-10-1, ADV-2026-05-03-1, ADV-2026-04-26-1, ADV-2026-04-19-1, ADV-2026-04-12-1"
    );
    let progress = session
        .text(
            &session
                .find("#tiers tr[data-tier='other_languages'] td.progress")
                .await,
        )
        .await;
    assert_eq!(
        progress,
        "waiting 11 h of 48 h goal\ndeadline 2026-05-16 05:00 UTC, in 37 h"
    );
    let ratio = session
        .text(
            &session
                .find("#tiers tr[data-tier='english'] td.goal-met")
                .await,
        )
        .await;
    assert!(ratio.ends_with("pairs due"), "{ratio}");

    // The grid: a breached pair still waiting, a late release, and a met one, each coloured.
    let cell = |bulletin: &str, tier: &str| {
        format!("#bulletins tr[data-bulletin='{bulletin}'] td[data-tier='{tier}']")
    };
    let waiting = session.find(&cell("ADV-2026-05-10-1", "office365")).await;
    assert_eq!(
        session.text(&waiting).await,
        "breached\n95 h / 48 h, waiting\ndue 05-12 17:00 UTC"
    );
    let late = session
        .find(&cell("ADV-2026-05-11-1", "other_languages"))
        .await;
    assert_eq!(
        session.text(&late).await,
        "breached\n60 h / 48 h\n2026.05.11-1-adv-all\ndue 05-13 17:00 UTC"
    );
    let met = session.find(&cell("2026-May", "english")).await;
    assert_eq!(
        session.text(&met).await,
        "met\n22 h / 24 h\n2026.05.12-english\ndue 05-13 17:00 UTC"
    );
    let breached_bg = session.css(&waiting, "background-color").await;
    let met_bg = session.css(&met, "background-color").await;
    assert_ne!(breached_bg, met_bg);
    assert_eq!(session.css(&late, "background-color").await, breached_bg);
    // The table has one header per tier, and one row per bulletin of the 36-day window.
    let headers = session.find_all("#bulletins thead th").await;
    assert_eq!(headers.len(), 2 + 4);
    let published = session
        .text(
            &session
                .find("#bulletins tr[data-bulletin='ADV-2026-05-10-1'] td:nth-of-type(1)")
                .await,
        )
        .await;
    assert_eq!(published, "2026-05-10 17:00 UTC\n3 days ago");
    let rows = session.find_all("#bulletins tbody tr").await;
    assert_eq!(
        rows.len(),
        86,
        "two advisories a day for 36 days, 2026-Apr, its out-of-band update, 2026-May and eleven Office builds"
    );

    // Sources: up or down, and why.
    let msrc = session
        .text(&session.find("#sources tr[data-source='msrc']").await)
        .await;
    assert!(
        msrc.ends_with("\nup 2026-05-14 16:00 UTC 47 none"),
        "{msrc}"
    );
    let broken = session
        .text(&session.find("#sources tr[data-source='vendor_kb']").await)
        .await;
    assert!(
        broken.contains("\ndown never 0 connect 2026-05-14 16:00 UTC\n"),
        "{broken}"
    );

    session.save_full_page_screenshot("landing.png").await;
    session.close().await;
}

// ---------------------------------------------------------------------------------------------
// A minimal W3C WebDriver client: the handful of commands above, over the HTTP client the
// exporter already uses (no browser-automation crate, and none of the TLS stacks they bring).
// ---------------------------------------------------------------------------------------------

const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";
const CHROMIUM_FLAGS: [&str; 9] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1280,1000",
];

fn in_path(names: &[&str]) -> Option<PathBuf> {
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

/// Chromium and chromedriver, or `None` (skip) outside CI when either is missing.
fn browser() -> Option<(PathBuf, PathBuf)> {
    let chromium = in_path(&["chromium", "chromium-browser"]);
    let driver = in_path(&["chromedriver"]);
    match (chromium, driver) {
        (Some(c), Some(d)) => Some((c, d)),
        _ if std::env::var_os("CI").is_some() => {
            panic!("chromium and chromedriver are required in CI (scripts/test.sh installs them)")
        }
        _ => {
            eprintln!(
                "skipping the browser test: chromium or chromedriver not found \
                 (Debian: apt-get install chromium chromium-driver)"
            );
            None
        }
    }
}

struct Driver {
    child: Child,
    base: String,
    http: reqwest::Client,
}

impl Driver {
    async fn start(binary: &Path) -> Driver {
        patchlag_exporter::install_crypto_provider();
        // A free loopback port: bind, note it, release it for chromedriver.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let child = Command::new(binary)
            .args([format!("--port={port}"), "--allowed-ips=127.0.0.1".into()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let driver = Driver {
            child,
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = driver
                .http
                .get(format!("{}/status", driver.base))
                .send()
                .await
            {
                if let Ok(v) = r.json_value().await {
                    if v["value"]["ready"] == true {
                        return driver;
                    }
                }
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn session(&self, chromium: &Path, profile: &Path) -> Session<'_> {
        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|s| s.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        let v = self
            .call(
                reqwest::Method::POST,
                "/session",
                Some(json!({"capabilities": {"alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {"binary": chromium, "args": args},
                }}})),
            )
            .await;
        let id = v["sessionId"].as_str().expect("session id").to_string();
        Session { driver: self, id }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = request
            .timeout(Duration::from_secs(60))
            .send()
            .await
            .expect("webdriver request");
        let status = response.status();
        let v = response.json_value().await.expect("webdriver JSON");
        assert!(status.is_success(), "{path}: {status} {v}");
        v["value"].clone()
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

trait JsonBody {
    async fn json_value(self) -> Result<Value, String>;
}

impl JsonBody for reqwest::Response {
    async fn json_value(self) -> Result<Value, String> {
        let bytes = self.bytes().await.map_err(|e| e.to_string())?;
        serde_json::from_slice(&bytes).map_err(|e| e.to_string())
    }
}

struct Session<'d> {
    driver: &'d Driver,
    id: String,
}

impl Session<'_> {
    async fn post(&self, path: &str, body: Value) -> Value {
        self.driver
            .call(
                reqwest::Method::POST,
                &format!("/session/{}{path}", self.id),
                Some(body),
            )
            .await
    }

    async fn get(&self, path: &str) -> Value {
        self.driver
            .call(
                reqwest::Method::GET,
                &format!("/session/{}{path}", self.id),
                None,
            )
            .await
    }

    async fn navigate(&self, url: &str) {
        self.post("/url", json!({ "url": url })).await;
    }

    async fn find_all(&self, css: &str) -> Vec<String> {
        let v = self
            .post("/elements", json!({"using": "css selector", "value": css}))
            .await;
        v.as_array()
            .expect("elements")
            .iter()
            .map(|e| e[ELEMENT_KEY].as_str().expect("element id").to_string())
            .collect()
    }

    async fn find(&self, css: &str) -> String {
        let found = self.find_all(css).await;
        assert_eq!(found.len(), 1, "{css}: {} elements", found.len());
        found.into_iter().next().expect("one element")
    }

    /// The element's rendered text, as a person sees it (hidden text excluded).
    async fn text(&self, element: &str) -> String {
        let v = self.get(&format!("/element/{element}/text")).await;
        v.as_str().expect("text").to_string()
    }

    async fn css(&self, element: &str, property: &str) -> String {
        let v = self
            .get(&format!("/element/{element}/css/{property}"))
            .await;
        v.as_str().expect("css value").to_string()
    }

    /// Grows the window to the page's height, then saves a screenshot under
    /// `target/test-artifacts/`.
    async fn save_full_page_screenshot(&self, name: &str) {
        let height = self
            .post(
                "/execute/sync",
                json!({"script": "return document.documentElement.scrollHeight", "args": []}),
            )
            .await
            .as_u64()
            .unwrap_or(1000)
            .clamp(600, 8000);
        self.post(
            "/window/rect",
            json!({"width": 1280, "height": height + 120}),
        )
        .await;
        let png = self.get("/screenshot").await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().expect("base64 PNG"))
            .expect("PNG");
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        let dir = repo_root().join("target/test-artifacts");
        std::fs::create_dir_all(&dir).expect("artifact directory");
        std::fs::write(dir.join(name), png).expect("write screenshot");
    }

    async fn close(self) {
        self.driver
            .call(
                reqwest::Method::DELETE,
                &format!("/session/{}", self.id),
                None,
            )
            .await;
    }
}
