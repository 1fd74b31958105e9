//! Fault injection: loopback upstreams that fail in every way a real one can, against the real
//! binary. Throughout, the exporter stays up, `/metrics` answers within 100 ms, the last good
//! data is served unchanged, the failure is counted under the right reason and logged once with
//! the source and the reason, no secret shows up anywhere, and the source recovers once the
//! upstream heals.
//!
//! The data (evaluated at 2024-03-06T00:00:00Z): bulletins ADV-1 (03-01 10:00) and ADV-2
//! (03-05 10:00); releases R-0 (02-01, no covers) and R-1 (03-01 20:00, covers ADV-1). So
//! english has ADV-1 released after 10 h and ADV-2 pending for 14 h.

mod common;

use std::time::{Duration, Instant, SystemTime};

use common::*;

const NOW: &str = "2024-03-06T00:00:00Z";
const PASSWORD: &str = "pa55word-in-url";
const TOKEN: &str = "s3cr3t-bearer-t0ken";
const REASONS: [&str; 7] = [
    "timeout",
    "connect",
    "tls",
    "http_status",
    "body_too_large",
    "parse",
    "other",
];

const BULLETINS_CSV: &str = "id,title,published\n\
    ADV-1,First advisory,2024-03-01T10:00:00Z\n\
    ADV-2,Second advisory,2024-03-05T10:00:00Z\n";
const RELEASES_JSON: &str = r#"{"releases": [
    {"version": "R-0", "released": "2024-02-01T00:00:00Z"},
    {"version": "R-1", "released": "2024-03-01T20:00:00Z", "bulletins": ["ADV-1"]}
]}"#;
const RELEASES_CSV: &str = "version,date,covers\n\
    R-0,2024-02-01T00:00:00Z,\n\
    R-1,2024-03-01T20:00:00Z,ADV-1\n";

fn json_source(name: &str, url: &str, extra: &str) -> String {
    format!(
        "  {name}:\n    role: releases\n    kind: json\n    url: {url}\n    items: $.releases[*]\n    \
         id: $.version\n    published: $.released\n    covers: $.bulletins[*]\n    tiers: [english]\n{extra}"
    )
}

fn csv_source(name: &str, url: &str) -> String {
    format!(
        "  {name}:\n    role: releases\n    kind: csv\n    url: {url}\n    id: version\n    \
         published: date\n    covers: covers\n    tiers: [english]\n"
    )
}

/// A URL with a password in it: it must never be shown.
fn with_password(url: &str) -> String {
    url.replacen("://", &format!("://patchlag:{PASSWORD}@"), 1)
}

/// A running exporter with one advisory source (always healthy) and the release sources given.
struct Rig {
    exporter: Exporter,
    client: reqwest::Client,
    baseline: Vec<String>,
    _dir: tempfile::TempDir,
}

impl Rig {
    async fn start(bulletins: &Upstream, release_sources: &str, healthy: &[&str]) -> Rig {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = format!(
            "defaults:\n  interval: 200ms\n  timeout: 1s\n  max_body_bytes: 65536\n\
             tiers:\n  english:\n    goal: 24h\n    bulletins: [advisories]\n\
             sources:\n  advisories:\n    role: bulletins\n    kind: csv\n    url: {}\n    \
             id: id\n    title: title\n    published: published\n{release_sources}",
            bulletins.url("/bulletins.csv")
        );
        let cfg = write_config(dir.path(), &config);
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
        let m = exporter
            .wait_for("healthy sources", |t| {
                healthy
                    .iter()
                    .all(|s| sample(t, "patchlag_source_up", &[("source", s)]) == Some(1.0))
            })
            .await;
        let baseline = data_lines(&m);
        // ADV-1 released after 10 h, ADV-2 pending for 14 h: the data the faults must not touch.
        assert_eq!(
            value(
                &m,
                "patchlag_release_delay_seconds",
                &[("tier", "english"), ("bulletin", "ADV-1")]
            ),
            36_000.0
        );
        assert_eq!(
            value(
                &m,
                "patchlag_release_pending",
                &[("tier", "english"), ("bulletin", "ADV-2")]
            ),
            1.0
        );
        Rig {
            exporter,
            client: reqwest::Client::new(),
            baseline,
            _dir: dir,
        }
    }

    fn error_counts(&self, text: &str, source: &str) -> Vec<f64> {
        REASONS.iter().map(|r| errors(text, source, r)).collect()
    }

    /// Scrapes, requiring an answer within 100 ms. A scrape reads a snapshot and never waits
    /// for a source; up to three tries absorb a machine busy with other work, while a scrape
    /// blocked by the fault would fail all three.
    async fn assert_fast_scrape(&self, during: &str) {
        let mut slowest = Duration::ZERO;
        for _ in 0..3 {
            let started = Instant::now();
            let response = self
                .client
                .get(self.exporter.url("/metrics"))
                .send()
                .await
                .expect("scrape");
            assert_eq!(response.status().as_u16(), 200, "during {during}");
            let _ = response.bytes().await.expect("body");
            let took = started.elapsed();
            if took < Duration::from_millis(100) {
                return;
            }
            slowest = slowest.max(took);
        }
        panic!("/metrics took {slowest:?} during {during}");
    }

    /// The last error the status API reports for `source`.
    async fn last_error(&self, source: &str) -> String {
        let (status, body) = self.exporter.get("/api/v1/status").await;
        assert_eq!(status, 200);
        let doc: serde_json::Value = serde_json::from_str(&body).expect("status JSON");
        doc["sources"]
            .as_array()
            .expect("sources")
            .iter()
            .find(|s| s["name"] == source)
            .and_then(|s| s["last_error"].as_str())
            .unwrap_or_default()
            .to_string()
    }

    /// Breaks `source` with `fault`, checks everything that must hold while it fails with
    /// `reason`, heals it and checks the recovery. Returns the error message shown for it.
    async fn fault(
        &self,
        source: &str,
        reason: &str,
        fault: impl FnOnce(),
        heal: impl FnOnce(),
    ) -> String {
        let before = self.error_counts(&self.exporter.scrape().await, source);
        let r = REASONS.iter().position(|x| *x == reason).expect("reason");
        fault();
        let m = self
            .exporter
            .wait_for(&format!("{source}: {reason}"), |t| {
                errors(t, source, reason) > before[r]
            })
            .await;
        assert_eq!(
            value(&m, "patchlag_source_up", &[("source", source)]),
            0.0,
            "{reason}"
        );
        assert_eq!(
            data_lines(&m),
            self.baseline,
            "data changed during a {reason} failure"
        );
        self.assert_fast_scrape(reason).await;
        let message = self.last_error(source).await;

        heal();
        let m = self
            .exporter
            .wait_for(&format!("{source}: recovery from {reason}"), |t| {
                sample(t, "patchlag_source_up", &[("source", source)]) == Some(1.0)
            })
            .await;
        assert_eq!(
            data_lines(&m),
            self.baseline,
            "data changed after a {reason} failure"
        );
        let after = self.error_counts(&m, source);
        for (i, other) in REASONS.iter().enumerate() {
            if i != r {
                assert_eq!(after[i], before[i], "{reason} was also counted as {other}");
            }
        }
        self.assert_one_log_line_per_failure(source).await;
        message
    }

    /// Every counted failure has exactly one "poll failed" line naming the source and reason.
    async fn assert_one_log_line_per_failure(&self, source: &str) {
        let counts = self.error_counts(&self.exporter.scrape().await, source);
        // The log is read from a pipe by another thread: give it a moment to catch up.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let lines: Vec<f64> = REASONS
                .iter()
                .map(|r| self.exporter.poll_failure_lines(source, r) as f64)
                .collect();
            if lines == counts {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{source}: {lines:?} log lines for {counts:?} failures ({REASONS:?})"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// No log line, landing page or status document shows a password or a header value.
    async fn assert_no_secrets(&self) {
        for secret in [PASSWORD, TOKEN] {
            let logs = self.exporter.logs();
            if let Some(line) = logs.iter().find(|l| l.contains(secret)) {
                panic!("a log line shows a secret: {line}");
            }
            for page in ["/", "/api/v1/status", "/metrics"] {
                let (_, body) = self.exporter.get(page).await;
                assert!(!body.contains(secret), "{page} shows a secret:\n{body}");
            }
        }
    }
}

async fn healthy_bulletins() -> Upstream {
    let upstream = Upstream::start().await;
    upstream.set(
        "/bulletins.csv",
        Behavior::Ok(BULLETINS_CSV.as_bytes().to_vec()),
    );
    upstream
}

/// A loopback URL nothing listens on, and the socket that keeps its port from being taken by
/// another test while this one runs (bound, never listening: connections are refused).
fn refused_url() -> (String, tokio::net::TcpSocket) {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind("127.0.0.1:0".parse().expect("address"))
        .expect("bind");
    let addr = socket.local_addr().expect("addr");
    (format!("http://{addr}/releases.json"), socket)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_faults() {
    let upstream = healthy_bulletins().await;
    let good = || Behavior::Ok(RELEASES_JSON.as_bytes().to_vec());
    upstream.set("/releases.json", good());
    upstream.set(
        "/loop",
        Behavior::WithHeaders(302, vec![("location".into(), "/loop".into())], vec![]),
    );
    let (dead, _reserved) = refused_url();
    let sources = json_source(
        "vendor",
        &upstream.url("/releases.json"),
        &format!("    headers:\n      Authorization: Bearer {TOKEN}\n"),
    ) + &json_source("dead", &with_password(&dead), "    interval: 1h\n");
    let rig = Rig::start(&upstream, &sources, &["advisories", "vendor"]).await;
    let headers = upstream
        .last_headers("/releases.json")
        .expect("the vendor was polled");
    assert_eq!(
        headers.get("authorization").map(|v| v.as_bytes()),
        Some(format!("Bearer {TOKEN}").as_bytes()),
        "the secret header is sent"
    );

    // Nothing listens: connection refused, for the whole test.
    let m = rig.exporter.scrape().await;
    assert!(errors(&m, "dead", "connect") >= 1.0, "{m}");
    assert_eq!(value(&m, "patchlag_source_up", &[("source", "dead")]), 0.0);

    let set = |b: Behavior| upstream.set("/releases.json", b);
    let heal = || set(good());
    let message = rig
        .fault(
            "vendor",
            "http_status",
            || set(Behavior::Status(500, b"oops".to_vec())),
            heal,
        )
        .await;
    assert!(
        message.contains("500") && message.contains("after 3 attempts"),
        "{message}"
    );

    // Rate limited, and told to come back later than a poll may wait: one attempt, then quiet.
    let message = rig
        .fault(
            "vendor",
            "http_status",
            || {
                set(Behavior::WithHeaders(
                    429,
                    vec![("retry-after".into(), "3".into())],
                    b"slow down".to_vec(),
                ))
            },
            heal,
        )
        .await;
    assert!(
        message.contains("429") && message.contains("Retry-After"),
        "{message}"
    );

    let message = rig
        .fault("vendor", "timeout", || set(Behavior::Hang), heal)
        .await;
    assert!(message.contains("within 1s"), "{message}");

    rig.fault(
        "vendor",
        "parse",
        || {
            set(Behavior::Ok(
                b"<html><body>Maintenance</body></html>".to_vec(),
            ))
        },
        heal,
    )
    .await;

    // Invalid UTF-8 inside a JSON string.
    let mut bad_utf8 = br#"{"releases": [{"version": "R-"#.to_vec();
    bad_utf8.extend_from_slice(&[0xff, 0xfe, 0xc3]);
    bad_utf8.extend_from_slice(br#"", "released": "2024-03-02T00:00:00Z"}]}"#);
    rig.fault(
        "vendor",
        "parse",
        || set(Behavior::Ok(bad_utf8.clone())),
        heal,
    )
    .await;

    // Larger than max_body_bytes, announced by Content-Length.
    rig.fault(
        "vendor",
        "body_too_large",
        || set(Behavior::Ok(vec![b' '; 100_000])),
        heal,
    )
    .await;

    let message = rig
        .fault(
            "vendor",
            "http_status",
            || {
                set(Behavior::WithHeaders(
                    302,
                    vec![("location".into(), "/loop".into())],
                    vec![],
                ))
            },
            heal,
        )
        .await;
    assert!(message.contains("redirect"), "{message}");

    rig.assert_one_log_line_per_failure("dead").await;
    rig.assert_no_secrets().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_tcp_faults() {
    let upstream = healthy_bulletins().await;
    let good = || Raw::Ok(RELEASES_CSV.as_bytes().to_vec());
    let raw = RawUpstream::start(good()).await;
    let sources = csv_source("mirror", &with_password(&raw.url("/releases.csv")));
    let rig = Rig::start(&upstream, &sources, &["advisories", "mirror"]).await;
    let heal = || raw.set(good());
    // Long enough that the body cannot be cut short by accident.
    let body = format!("{RELEASES_CSV}{}", "# padding\n".repeat(200)).into_bytes();

    rig.fault(
        "mirror",
        "other",
        || raw.set(Raw::ResetMidBody(body.clone())),
        heal,
    )
    .await;
    rig.fault(
        "mirror",
        "other",
        || raw.set(Raw::Truncated(body.clone())),
        heal,
    )
    .await;
    rig.fault(
        "mirror",
        "other",
        || raw.set(Raw::NotHttp(b"\x00\x01garbage\r\n\r\n".to_vec())),
        heal,
    )
    .await;
    // A correct answer at one byte per 50 ms takes far longer than the 1 s timeout.
    rig.fault(
        "mirror",
        "timeout",
        || raw.set(Raw::Drip(body.clone(), Duration::from_millis(50))),
        heal,
    )
    .await;

    // Chunked, without Content-Length, never ending: cut off at the cap while streaming.
    rig.fault("mirror", "body_too_large", || raw.set(Raw::Endless), heal)
        .await;
    let sent = raw.endless_bytes_sent();
    assert!(
        sent < 16 * 1024 * 1024,
        "{sent} bytes were read for a 64 KiB cap"
    );

    // Invalid UTF-8 in the header row: nothing can be read.
    let mut bad_header = b"vers\xffion,date,covers\n".to_vec();
    bad_header.extend_from_slice(RELEASES_CSV.split_once('\n').expect("rows").1.as_bytes());
    rig.fault(
        "mirror",
        "parse",
        || raw.set(Raw::Ok(bad_header.clone())),
        heal,
    )
    .await;

    // Invalid UTF-8 in one row: that record is skipped and logged, the rest is used.
    let mut bad_row = RELEASES_CSV.as_bytes().to_vec();
    bad_row.extend_from_slice(b"R-\xff\xfe,2024-03-02T00:00:00Z,ADV-2\n");
    let polls = raw.hits();
    raw.set(Raw::Ok(bad_row));
    let deadline = Instant::now() + Duration::from_secs(20);
    while raw.hits() < polls + 2 {
        assert!(Instant::now() < deadline, "the mirror is not polled");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let m =
        rig.exporter
            .wait_for("a malformed row logged", |_| {
                rig.exporter.logs().iter().any(|l| {
                    l.contains("skipped a malformed record") && l.contains("source=mirror")
                })
            })
            .await;
    assert_eq!(
        value(&m, "patchlag_source_up", &[("source", "mirror")]),
        1.0
    );
    assert_eq!(
        value(&m, "patchlag_source_records", &[("source", "mirror")]),
        2.0
    );
    assert_eq!(data_lines(&m), rig.baseline);

    rig.assert_no_secrets().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_faults() {
    let upstream = healthy_bulletins().await;
    let ca = TestCa::new();
    let tls = TlsUpstream::start(ca.leaf(), RELEASES_JSON.as_bytes().to_vec()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &ca.pem).expect("write CA");
    let sources = json_source(
        "secure",
        &tls.url("/releases.json"),
        &format!("    tls:\n      ca_file: {}\n", ca_file.display()),
    );
    let rig = Rig::start(&upstream, &sources, &["advisories", "secure"]).await;

    // The server presents a certificate nobody vouches for; later a renewed, trusted one.
    let message = rig
        .fault(
            "secure",
            "tls",
            || tls.set_certificate(self_signed()),
            || tls.set_certificate(ca.leaf()),
        )
        .await;
    assert!(message.contains("certificate"), "{message}");

    // A certificate error is not retried: one handshake per failed poll (give or take the poll
    // in flight when counting).
    tls.set_certificate(self_signed());
    let tls_errors = |t: &str| errors(t, "secure", "tls");
    let m = rig
        .exporter
        .wait_for("a TLS failure", |t| tls_errors(t) >= 2.0)
        .await;
    let (failed, handshakes) = (tls_errors(&m), tls.handshakes());
    let m = rig
        .exporter
        .wait_for("three more TLS failures", |t| tls_errors(t) >= failed + 3.0)
        .await;
    let (more_failed, more_handshakes) = (tls_errors(&m) - failed, tls.handshakes() - handshakes);
    assert!(
        more_handshakes as f64 <= more_failed + 1.0,
        "{more_handshakes} handshakes for {more_failed} failed polls"
    );
    drop(dir);
}

// ---------------------------------------------------------------------------------------------
// Retries within one poll
// ---------------------------------------------------------------------------------------------

/// An exporter whose release source `vendor` polls `upstream` every `interval` (an hour: each
/// test sees exactly one poll, with its retries), with the directory holding its database.
async fn one_poll(upstream: &Upstream, interval: &str) -> (Exporter, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = format!(
        "defaults:\n  interval: {interval}\n  timeout: 1s\n\
         tiers:\n  english:\n    goal: 24h\n    bulletins: [advisories]\n\
         sources:\n  advisories:\n    role: bulletins\n    kind: csv\n    url: {}\n    \
         id: id\n    title: title\n    published: published\n{}",
        upstream.url("/bulletins.csv"),
        json_source("vendor", &upstream.url("/releases.json"), "")
    );
    let cfg = write_config(dir.path(), &config);
    let exporter = Exporter::start(&[
        "--config.file",
        cfg.to_str().expect("path"),
        "--storage.path",
        dir.path().join("patchlag.db").to_str().expect("path"),
        "--debug.fixed-now",
        NOW,
    ]);
    exporter.wait_ready().await;
    (exporter, dir)
}

fn gaps(times: &[Instant]) -> Vec<Duration> {
    times.windows(2).map(|w| w[1] - w[0]).collect()
}

/// 500, then success: the poll succeeds after one backoff, and nothing is counted.
async fn a_server_error_is_retried() {
    let upstream = healthy_bulletins().await;
    upstream.set(
        "/releases.json",
        Behavior::Once(
            Box::new(Behavior::Status(500, b"restarting".to_vec())),
            Box::new(Behavior::Ok(RELEASES_JSON.as_bytes().to_vec())),
        ),
    );
    let (exporter, _dir) = one_poll(&upstream, "1h").await;
    let m = exporter.scrape().await;
    assert_eq!(
        value(&m, "patchlag_source_up", &[("source", "vendor")]),
        1.0
    );
    assert!(
        REASONS.iter().all(|r| errors(&m, "vendor", r) == 0.0),
        "{m}"
    );
    let times = upstream.hit_times("/releases.json");
    assert_eq!(times.len(), 2);
    assert!(gaps(&times)[0] >= Duration::from_millis(250), "{times:?}");
}

/// 503 with Retry-After: 1 fits in the poll: the retry waits that second, not the backoff.
async fn retry_after_within_the_poll_is_honoured() {
    let upstream = healthy_bulletins().await;
    upstream.set(
        "/releases.json",
        Behavior::Once(
            Box::new(Behavior::WithHeaders(
                503,
                vec![("retry-after".into(), "1".into())],
                vec![],
            )),
            Box::new(Behavior::Ok(RELEASES_JSON.as_bytes().to_vec())),
        ),
    );
    let (exporter, _dir) = one_poll(&upstream, "1h").await;
    let m = exporter.scrape().await;
    assert_eq!(
        value(&m, "patchlag_source_up", &[("source", "vendor")]),
        1.0
    );
    let times = upstream.hit_times("/releases.json");
    assert_eq!(times.len(), 2);
    assert!(gaps(&times)[0] >= Duration::from_secs(1), "{times:?}");
}

/// A client error other than 429 would fail again: one attempt.
async fn a_client_error_is_not_retried() {
    let upstream = healthy_bulletins().await;
    upstream.set(
        "/releases.json",
        Behavior::Status(404, b"not found".to_vec()),
    );
    let (exporter, _dir) = one_poll(&upstream, "1h").await;
    let m = exporter.scrape().await;
    assert_eq!(errors(&m, "vendor", "http_status"), 1.0);
    assert_eq!(upstream.hits("/releases.json"), 1);
}

/// A server that keeps failing: three attempts in all, spaced by a growing backoff.
async fn retries_are_bounded_with_backoff() {
    let upstream = healthy_bulletins().await;
    upstream.set("/releases.json", Behavior::Status(502, vec![]));
    let (exporter, _dir) = one_poll(&upstream, "1h").await;
    let m = exporter.scrape().await;
    assert_eq!(errors(&m, "vendor", "http_status"), 1.0);
    let times = upstream.hit_times("/releases.json");
    assert_eq!(times.len(), 3, "{times:?}");
    let gaps = gaps(&times);
    assert!(gaps[0] >= Duration::from_millis(250), "{gaps:?}");
    assert!(gaps[1] >= Duration::from_millis(500), "{gaps:?}");
}

/// 429 with a Retry-After (an HTTP date) beyond what a poll may wait: the poll fails at once
/// and, although the interval is 200 ms, the next one waits for that date.
async fn a_long_retry_after_delays_the_next_poll() {
    let upstream = healthy_bulletins().await;
    // Far enough ahead that even a slow start leaves more than a poll may wait.
    let later = httpdate(SystemTime::now() + Duration::from_secs(20));
    upstream.set(
        "/releases.json",
        Behavior::WithHeaders(429, vec![("retry-after".into(), later)], vec![]),
    );
    let (exporter, _dir) = one_poll(&upstream, "200ms").await;
    let first = upstream.hit_times("/releases.json");
    assert_eq!(first.len(), 1, "no retry within the poll");
    let m = exporter.scrape().await;
    assert_eq!(errors(&m, "vendor", "http_status"), 1.0);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        upstream.hits("/releases.json"),
        1,
        "polled again before the Retry-After date"
    );
}

fn httpdate(t: SystemTime) -> String {
    let t: chrono::DateTime<chrono::Utc> = t.into();
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_within_one_poll() {
    tokio::join!(
        a_server_error_is_retried(),
        retry_after_within_the_poll_is_honoured(),
        a_client_error_is_not_retried(),
        retries_are_bounded_with_backoff(),
        a_long_retry_after_delays_the_next_poll(),
    );
}
