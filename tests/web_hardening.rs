//! The HTTP server against hostile or careless clients: slow and silent connections, too many
//! connections or scrapes at once, label values that need escaping, and secrets that must
//! never be shown or logged.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;

const NOW: &str = "2024-04-10T20:00:00Z";
/// Long enough for a loaded machine, far below "forever".
const CUT_OFF_WITHIN: Duration = Duration::from_secs(15);

/// A bulletin source and a release source, both local files.
fn config_with(dir: &Path, msrc_json: &str) -> PathBuf {
    let msrc = dir.join("msrc.json");
    std::fs::write(&msrc, msrc_json).expect("write msrc");
    let releases = repo_root().join("tests/fixtures/core/pmimport-releases.json");
    write_config(
        dir,
        &TestConfig::new()
            .defaults("1h", None)
            .tier("english", "24h", &["msrc"], "")
            .msrc(&format!("file://{}", msrc.display()), "")
            .pmimport(
                "pmimport",
                &format!("file://{}", releases.display()),
                "English: english",
                "",
                false,
            )
            .text(),
    )
}

fn plain_config(dir: &Path) -> PathBuf {
    let msrc = std::fs::read_to_string(repo_root().join("tests/fixtures/core/msrc-updates.json"))
        .expect("fixture");
    config_with(dir, &msrc)
}

fn start(dir: &Path, config: &Path, extra: &[&str]) -> Exporter {
    let db = dir.join("patchlag.db");
    let mut args = vec![
        "--config.file",
        config.to_str().expect("path"),
        "--storage.path",
        db.to_str().expect("path"),
        "--debug.fixed-now",
        NOW,
    ];
    args.extend_from_slice(extra);
    Exporter::start(&args)
}

/// Waits until the server closes `stream`, calling `between` while it is open; returns how long
/// that took, or `None` if it stayed open past `CUT_OFF_WITHIN`.
fn time_until_closed(
    stream: &mut TcpStream,
    mut between: impl FnMut(&mut TcpStream),
) -> Option<Duration> {
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .expect("read timeout");
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    while started.elapsed() < CUT_OFF_WITHIN {
        match stream.read(&mut buf) {
            Ok(0) => return Some(started.elapsed()),
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return Some(started.elapsed()),
        }
        between(stream);
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_silent_and_idle_clients_are_cut_off() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = plain_config(dir.path());
    let exporter = start(dir.path(), &config, &["--web.read-header-timeout", "1s"]);

    // Slowloris: headers one byte at a time, never finished.
    let mut slow = TcpStream::connect(&exporter.address).expect("connect");
    slow.write_all(b"GET /metrics HTTP/1.1\r\nHost: exporter\r\nX-Slow: ")
        .expect("write");
    let slow_cut = time_until_closed(&mut slow, |s| {
        // Once the server has hung up, writes fail; the next read says so.
        let _ = s.write_all(b"a");
    })
    .expect("a client trickling headers kept its connection");

    // Connects and sends nothing.
    let mut silent = TcpStream::connect(&exporter.address).expect("connect");
    let silent_cut =
        time_until_closed(&mut silent, |_| {}).expect("a silent client kept its connection");

    // A finished request, then an idle kept-alive connection.
    let mut idle = TcpStream::connect(&exporter.address).expect("connect");
    idle.write_all(b"GET /-/healthy HTTP/1.1\r\nHost: exporter\r\n\r\n")
        .expect("write");
    idle.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("read timeout");
    let mut answer = Vec::new();
    while !String::from_utf8_lossy(&answer).ends_with("Healthy\n") {
        let mut buf = [0u8; 1024];
        let n = idle.read(&mut buf).expect("answer");
        assert!(n > 0, "closed before answering");
        answer.extend_from_slice(&buf[..n]);
    }
    assert!(answer.starts_with(b"HTTP/1.1 200"));
    let idle_cut =
        time_until_closed(&mut idle, |_| {}).expect("an idle kept-alive connection stayed open");
    println!("cut off after: slow {slow_cut:?}, silent {silent_cut:?}, idle {idle_cut:?}");

    // Meanwhile, and afterwards, everyone else is served.
    let (status, _) = exporter.get("/metrics").await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_cap_wait_for_a_free_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = plain_config(dir.path());
    let exporter = start(dir.path(), &config, &["--web.max-connections", "2"]);
    let first = TcpStream::connect(&exporter.address).expect("connect");
    let _second = TcpStream::connect(&exporter.address).expect("connect");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(1))
        .build()
        .expect("client");
    let blocked = client.get(exporter.url("/-/healthy")).send().await;
    assert!(
        blocked.is_err(),
        "a third connection was served: {blocked:?}"
    );

    drop(first);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client");
    let served = client
        .get(exporter.url("/-/healthy"))
        .send()
        .await
        .expect("served once a connection is free");
    assert_eq!(served.status().as_u16(), 200);
}

/// `--web.max-requests` through the library: the test holds the only scrape slot itself, which
/// a real scrape (rendered from memory in microseconds) never holds long enough to observe.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrapes_beyond_max_requests_get_503() {
    use patchlag_exporter::app::{App, LoadedConfig};
    use patchlag_exporter::clock::Clock;
    use patchlag_exporter::server::{self, ServerState};

    let dir = tempfile::tempdir().expect("tempdir");
    let config = plain_config(dir.path());
    let loaded = LoadedConfig::read(&config).expect("config");
    let store =
        patchlag_exporter::store::Store::open(&dir.path().join("patchlag.db")).expect("store");
    let app = App::new(loaded, config.clone(), store, Clock::System).expect("app");
    let slots = Arc::new(tokio::sync::Semaphore::new(1));
    let state = ServerState::new(app, "/metrics".to_string(), Some(slots.clone()), None);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(patchlag_exporter::web::listener::serve(
        listener,
        server::router(state),
        patchlag_exporter::web::listener::Options {
            read_header_timeout: Duration::from_secs(30),
            max_connections: 0,
            web: None,
        },
        async {
            let _ = stopped.await;
        },
    ));
    let url = format!("http://{address}/metrics");

    let held = slots.clone().try_acquire_owned().expect("the only slot");
    let busy = reqwest::get(&url).await.expect("request");
    assert_eq!(busy.status().as_u16(), 503);
    // Other endpoints are not capped.
    let healthy = reqwest::get(format!("http://{address}/-/healthy"))
        .await
        .expect("request");
    assert_eq!(healthy.status().as_u16(), 200);
    drop(held);
    let served = reqwest::get(&url).await.expect("request");
    assert_eq!(served.status().as_u16(), 200);
    assert!(served
        .text()
        .await
        .expect("body")
        .contains("patchlag_build_info"));
    // The slot is free again after a scrape.
    assert_eq!(slots.available_permits(), 1);

    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(20), server)
        .await
        .expect("graceful shutdown")
        .expect("server task");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn titles_that_need_escaping_round_trip_through_the_exposition() {
    const TITLE: &str =
        "April 2024 \"Security\" Updates \\ C:\\Windows\nsecond line — Ünïcödé 日本語 🔒 <b>&amp;</b> {a=\"b\"}";
    let entry = serde_json::json!({
        "value": [{
            "ID": "2024-Apr",
            "Alias": "2024-Apr",
            "DocumentTitle": TITLE,
            "Severity": null,
            "InitialReleaseDate": "2024-04-09T07:00:00Z",
            "CurrentReleaseDate": "2024-04-09T07:00:00Z",
            "CvrfUrl": "https://example.invalid/2024-Apr"
        }]
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config_with(dir.path(), &entry.to_string());
    let exporter = start(dir.path(), &config, &["--web.max-requests", "1"]);
    exporter.wait_ready().await;
    let text = exporter.scrape().await;
    let info = text
        .lines()
        .find(|l| l.starts_with("patchlag_bulletin_info{"))
        .expect("bulletin info");
    assert!(
        !info.contains('\n') && info.contains("C:\\\\Windows\\nsecond line"),
        "{info}"
    );
    assert_eq!(
        value(
            &text,
            "patchlag_bulletin_info",
            &[
                ("source", "msrc"),
                ("bulletin", "2024-Apr"),
                ("title", TITLE)
            ]
        ),
        1.0,
        "the title does not round-trip"
    );
    if let Some(complaints) = promtool_check_metrics(&text) {
        assert_eq!(complaints, "", "promtool check metrics");
    }
    // The landing page escapes it as HTML.
    let (_, page) = exporter.get("/").await;
    assert!(page.contains("&lt;b&gt;&amp;amp;&lt;/b&gt;"), "{page}");
    assert!(!page.contains("<b>&amp;</b>"));
    // The status API carries it verbatim, as JSON.
    let (_, body) = exporter.get("/api/v1/status").await;
    let doc: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(doc["bulletins"][0]["title"], TITLE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn url_passwords_and_header_values_are_never_shown_or_logged() {
    const URL_SECRET: &str = "url-secret-hunter2";
    const HEADER_SECRET: &str = "header-secret-b3arer";
    let upstream = Upstream::start().await;
    upstream.set("/denied", Behavior::Status(403, b"go away".to_vec()));
    let dir = tempfile::tempdir().expect("tempdir");
    let base = std::fs::read_to_string(plain_config(dir.path())).expect("config");
    let addr = upstream.base.trim_start_matches("http://");
    // One source answered 403, one refused: both failures end up on the page and in the log.
    let text = format!(
        r#"{base}  vendor:
    role: releases
    kind: json
    url: http://scraper:{URL_SECRET}@{addr}/denied
    headers:
      Authorization: Bearer {HEADER_SECRET}
      X-Api-Key: {HEADER_SECRET}
    items: $.releases[*]
    id: $.version
    published: $.released
    tiers: [english]
  mirror:
    role: releases
    kind: json
    url: http://scraper:{URL_SECRET}@127.0.0.1:1/releases.json
    headers:
      Authorization: Bearer {HEADER_SECRET}
    items: $.releases[*]
    id: $.version
    published: $.released
    tiers: [english]
"#
    );
    let config = write_config(dir.path(), &text);
    let exporter = start(dir.path(), &config, &[]);
    exporter.wait_ready().await;
    assert_eq!(upstream.hits("/denied"), 1);
    // The secrets did reach the upstream: they are configured, not dropped.
    let sent = upstream.last_headers("/denied").expect("request");
    assert_eq!(
        sent.get("x-api-key").and_then(|v| v.to_str().ok()),
        Some(HEADER_SECRET)
    );

    let (_, page) = exporter.get("/").await;
    let (_, status) = exporter.get("/api/v1/status").await;
    let metrics = exporter.scrape().await;
    let logs = exporter.logs().join("\n");
    for (what, text) in [
        ("landing page", &page),
        ("status API", &status),
        ("metrics", &metrics),
        ("log", &logs),
    ] {
        assert!(
            !text.contains(URL_SECRET),
            "{what} shows the URL password:\n{text}"
        );
        assert!(
            !text.contains(HEADER_SECRET),
            "{what} shows a header value:\n{text}"
        );
    }
    // The failures themselves are visible.
    assert!(status.contains("scraper:xxxxx@"), "{status}");
    assert!(
        logs.contains("source=vendor") && logs.contains("source=mirror"),
        "{logs}"
    );
}
