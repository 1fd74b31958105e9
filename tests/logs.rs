//! Logs as an operator's pipeline reads them: one well-formed line per event in both formats,
//! `time`, `level` and `msg` first; the effective configuration at start-up with its secrets
//! masked; one line per failed poll with the source and the reason; `--log.level` honoured.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

const PASSWORD: &str = "hunter2-url-password";
const TOKEN: &str = "Bearer s3cr3t-header-token";

/// Two bulletin sources that fail differently (HTTP 503, refused connection), one release
/// source that works; one poll each per run (interval 1h).
fn config(upstream: &Upstream) -> String {
    let with_password = upstream
        .url("/msrc")
        .replace("http://", &format!("http://patchlag:{PASSWORD}@"));
    let releases = upstream.url("/releases.csv");
    format!(
        r#"
defaults:
  interval: 1h
  timeout: 5s
tiers:
  english:
    goal: 24h
    bulletins: [msrc, refused]
    since: 2024-01-01
sources:
  msrc:
    role: bulletins
    kind: msrc
    url: {with_password}
    headers:
      Authorization: {TOKEN}
  refused:
    role: bulletins
    kind: msrc
    url: http://127.0.0.1:9/updates
  vendor:
    role: releases
    kind: csv
    url: {releases}
    id: id
    published: published
    tiers: [english]
"#
    )
}

async fn upstream() -> Upstream {
    let upstream = Upstream::start().await;
    upstream.set("/msrc", Behavior::Status(503, b"maintenance".to_vec()));
    upstream.set(
        "/releases.csv",
        Behavior::Ok(b"id,published\nr1,2024-05-01T00:00:00Z\n".to_vec()),
    );
    upstream
}

/// A logfmt line as `key → value`, in order; `None` if it is not well-formed logfmt.
fn parse_logfmt(line: &str) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        let key: String =
            std::iter::from_fn(|| chars.next_if(|c| *c != '=' && *c != ' ')).collect();
        if key.is_empty() || chars.next() != Some('=') {
            return None;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next()? {
                    '"' => break,
                    '\\' => value.push(match chars.next()? {
                        'n' => '\n',
                        't' => '\t',
                        'r' => '\r',
                        c @ ('"' | '\\') => c,
                        _ => return None,
                    }),
                    c if c.is_control() => return None,
                    c => value.push(c),
                }
            }
        } else {
            value = std::iter::from_fn(|| chars.next_if(|c| *c != ' ')).collect();
            if value.contains('"') || value.contains('=') {
                return None;
            }
        }
        out.push((key, value));
        match chars.next() {
            None => return Some(out),
            Some(' ') => continue,
            Some(_) => return None,
        }
    }
}

/// Every line of one run as key → value maps, with the first three keys checked.
fn events(lines: &[String], json: bool) -> Vec<BTreeMap<String, String>> {
    lines
        .iter()
        .map(|line| {
            let pairs: Vec<(String, String)> = if json {
                let v: serde_json::Value = serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("not one JSON object ({e}): {line}"));
                let object = v
                    .as_object()
                    .unwrap_or_else(|| panic!("not an object: {line}"));
                object
                    .iter()
                    .map(|(k, v)| {
                        let text = match v {
                            serde_json::Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        (k.clone(), text)
                    })
                    .collect()
            } else {
                parse_logfmt(line).unwrap_or_else(|| panic!("not logfmt: {line}"))
            };
            if !json {
                // JSON objects are unordered once parsed; logfmt keeps its order.
                let keys: Vec<&str> = pairs.iter().take(3).map(|(k, _)| k.as_str()).collect();
                assert_eq!(keys, ["time", "level", "msg"], "{line}");
            }
            let map: BTreeMap<String, String> = pairs.into_iter().collect();
            assert!(
                chrono::DateTime::parse_from_rfc3339(&map["time"]).is_ok(),
                "{line}"
            );
            assert!(
                ["debug", "info", "warn", "error"].contains(&map["level"].as_str()),
                "{line}"
            );
            assert!(!map["msg"].is_empty(), "{line}");
            map
        })
        .collect()
}

async fn run_and_check(format: &str) {
    let upstream = upstream().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(dir.path(), &config(&upstream));
    let db = dir.path().join("patchlag.db");
    let exporter = Exporter::start(&[
        "--config.file",
        cfg.to_str().expect("path"),
        "--storage.path",
        db.to_str().expect("path"),
        "--log.format",
        format,
    ]);
    exporter.wait_ready().await;
    exporter
        .wait_for("the release poll", |m| {
            sample(m, "patchlag_source_up", &[("source", "vendor")]) == Some(1.0)
        })
        .await;
    let lines = exporter.logs();
    let all = lines.join("\n");
    let events = events(&lines, format == "json");

    // Start-up: the build, then the effective configuration.
    let find = |msg: &str, key: &str, value: &str| {
        events
            .iter()
            .find(|e| e["msg"] == msg && e.get(key).map(String::as_str) == Some(value))
            .unwrap_or_else(|| panic!("no {msg:?} with {key}={value}:\n{all}"))
    };
    let start = find(
        "starting patchlag-exporter",
        "version",
        env!("CARGO_PKG_VERSION"),
    );
    assert!(start.contains_key("revision"));
    let loaded = find("loaded configuration", "tiers", "1");
    assert_eq!(loaded["sources"], "3");
    let tier = find("configured tier", "tier", "english");
    assert_eq!(tier["goal"], "24h");
    assert_eq!(tier["bulletins"], "msrc,refused");
    assert_eq!(tier["since"], "2024-01-01T00:00:00Z");
    let msrc = find("configured source", "source", "msrc");
    assert_eq!(msrc["role"], "bulletins");
    assert_eq!(msrc["kind"], "msrc");
    assert_eq!(msrc["interval"], "1h");
    assert_eq!(
        msrc["url"],
        upstream
            .url("/msrc")
            .replace("http://", "http://patchlag:xxxxx@")
    );
    assert_eq!(msrc["headers"], "Authorization=<secret>");
    let vendor = find("configured source", "source", "vendor");
    assert_eq!(vendor["role"], "releases");
    assert_eq!(vendor["kind"], "csv");
    // Secrets appear nowhere, not even in error messages.
    assert!(!all.contains(PASSWORD), "{all}");
    assert!(!all.contains("s3cr3t"), "{all}");

    // One line per failed poll, with the source and the reason.
    let failures = |source: &str| {
        events
            .iter()
            .filter(|e| e["msg"] == "poll failed" && e["source"] == source)
            .collect::<Vec<_>>()
    };
    let msrc_failures = failures("msrc");
    assert_eq!(msrc_failures.len(), 1, "{all}");
    assert_eq!(msrc_failures[0]["level"], "warn");
    assert_eq!(msrc_failures[0]["reason"], "http_status");
    assert!(msrc_failures[0]["error"].contains("503"), "{all}");
    let refused = failures("refused");
    assert_eq!(refused.len(), 1, "{all}");
    assert_eq!(refused[0]["reason"], "connect");
    assert!(failures("vendor").is_empty(), "{all}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logfmt_lines() {
    run_and_check("logfmt").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_lines() {
    run_and_check("json").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_level_warn_keeps_only_warnings_and_errors() {
    let upstream = upstream().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(dir.path(), &config(&upstream));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let mut child = Command::new(BIN)
        .args(["--config.file", cfg.to_str().expect("path")])
        .args([
            "--storage.path",
            dir.path().join("x.db").to_str().expect("path"),
        ])
        .args(["--web.listen-address", &format!("127.0.0.1:{port}")])
        .args(["--log.level", "warn"])
        .stderr(Stdio::piped())
        .spawn()
        .expect("start");
    let ready = format!("http://127.0.0.1:{port}/-/ready");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(r) = reqwest::get(&ready).await {
            if r.status().as_u16() == 200 {
                break;
            }
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("not ready in time");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let stderr = child.stderr.take().expect("stderr");
    let lines: Vec<String> = BufReader::new(stderr)
        .lines()
        .map_while(Result::ok)
        .collect();
    let _ = child.wait();
    let events = events(&lines, false);
    assert!(
        events
            .iter()
            .all(|e| e["level"] == "warn" || e["level"] == "error"),
        "{lines:#?}"
    );
    assert_eq!(
        events.iter().filter(|e| e["msg"] == "poll failed").count(),
        2,
        "{lines:#?}"
    );
}

/// A start-up error is said once: one line on stderr in the configured format, nothing on
/// stdout, and the exit code of the SPEC (1 configuration or flags, 2 anything else).
#[test]
fn a_start_up_error_is_one_line_in_the_log_format() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = |name: &str| dir.path().join(name).to_str().expect("path").to_string();
    let good = write_config(
        dir.path(),
        "tiers:\n  english:\n    goal: 24h\n    bulletins: [msrc]\nsources:\n  msrc:\n    role: bulletins\n    kind: msrc\n    url: file:///nonexistent/updates\n  vendor:\n    role: releases\n    kind: csv\n    url: file:///nonexistent/releases.csv\n    id: id\n    published: published\n    tiers: [english]\n",
    );
    let good = good.to_str().expect("path");
    let bad = repo_root().join("tests/fixtures/config/bad/bad-duration.yml");
    let bad = bad.to_str().expect("path");
    std::fs::write(path("web.yml"), "basic_auth_users:\n  alice: hunter2\n").expect("write");
    std::fs::write(path("not-a.db"), vec![b'x'; 8192]).expect("write");
    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let busy = busy.local_addr().expect("address").to_string();
    let db = path("x.db");
    let (web, not_a_db) = (path("web.yml"), path("not-a.db"));
    let missing = path("missing.yml");
    // A database whose directory would have to be made where a file is.
    let under_a_file = format!("{not_a_db}/x.db");
    let cases: Vec<(Vec<&str>, i32, &str, String)> = vec![
        (
            vec!["--config.file", bad],
            1,
            "invalid configuration",
            format!("{bad}:4:11: tiers.english.goal: invalid duration"),
        ),
        (
            vec!["--config.file", &missing],
            1,
            "invalid configuration",
            format!("{missing}: cannot read configuration"),
        ),
        (
            vec!["--config.file", good, "--web.config.file", &web],
            1,
            "invalid web configuration",
            format!("{web}:2:10: basic_auth_users.alice: not a bcrypt hash"),
        ),
        (
            vec!["--config.file", good, "--web.telemetry-path", "/-/ready"],
            1,
            "invalid flag",
            "--web.telemetry-path \"/-/ready\" must start with '/'".to_string(),
        ),
        (
            vec!["--config.file", good, "--web.read-header-timeout", "0s"],
            1,
            "invalid flag",
            "--web.read-header-timeout must be greater than zero".to_string(),
        ),
        (
            vec!["--config.file", good, "--debug.fixed-now", "yesterday"],
            1,
            "invalid flag",
            "--debug.fixed-now \"yesterday\": ".to_string(),
        ),
        (
            vec!["--config.file", good, "--storage.path", &under_a_file],
            2,
            "cannot open the store",
            format!("database {under_a_file}: cannot create its directory"),
        ),
        (
            vec!["--config.file", good, "--storage.path", &not_a_db],
            2,
            "cannot open the store",
            format!("database {not_a_db}: file is not a database"),
        ),
        (
            vec![
                "--config.file",
                good,
                "--storage.path",
                &db,
                "--web.listen-address",
                &busy,
            ],
            2,
            "cannot listen",
            String::new(),
        ),
    ];
    for (args, code, msg, error) in &cases {
        for format in ["logfmt", "json"] {
            let mut command = Command::new(BIN);
            if !args.contains(&"--web.listen-address") {
                command.args(["--web.listen-address", "127.0.0.1:0"]);
            }
            let out = command
                .args(["--log.format", format])
                .args(args)
                .stdin(Stdio::null())
                .output()
                .expect("run");
            let stderr = String::from_utf8_lossy(&out.stderr);
            let context = format!("{args:?} ({format}): {stderr}");
            assert_eq!(out.status.code(), Some(*code), "{context}");
            assert!(out.stdout.is_empty(), "{context}");
            let lines: Vec<String> = stderr.lines().map(str::to_string).collect();
            assert_eq!(lines.len(), 1, "{context}");
            let event = &events(&lines, format == "json")[0];
            assert_eq!(event["level"], "error", "{context}");
            assert_eq!(event["msg"], *msg, "{context}");
            assert!(event["error"].starts_with(error.as_str()), "{context}");
            if *msg == "cannot listen" {
                assert_eq!(event["address"], busy, "{context}");
            }
        }
    }
}

#[test]
fn logfmt_reader_rejects_malformed_lines() {
    assert_eq!(
        parse_logfmt(r#"a=1 b="x \"y\"" c="#),
        Some(vec![
            ("a".into(), "1".into()),
            ("b".into(), "x \"y\"".into()),
            ("c".into(), String::new())
        ])
    );
    for bad in ["a", "a=1  b=2", "a=\"open", "a=x\"y", "=1", "a=1 b"] {
        assert_eq!(parse_logfmt(bad), None, "{bad}");
    }
}
