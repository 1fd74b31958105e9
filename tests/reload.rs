//! Configuration reloads (`SIGHUP`, `POST /-/reload`) against the real binary: sources and
//! tiers come and go without a restart, unchanged sources keep their poller and schedule, a
//! broken file changes nothing but the reload metric, and concurrent reloads are serialized.

mod common;

use std::time::{Duration, Instant};

use common::*;

const NOW: &str = "2024-04-10T20:00:00Z";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(repo_root().join("tests/fixtures/core").join(name)).expect("fixture")
}

/// One bulletin source and one release source, each polled once an hour unless
/// `release_interval` says otherwise: a poll count above one means a poller was restarted.
fn base_config(upstream: &Upstream, release_interval: &str) -> String {
    TestConfig::new()
        .defaults("1h", Some("10s"))
        .tier("english", "24h", &["msrc"], "")
        .msrc(&upstream.url("/msrc"), "")
        .pmimport(
            "pmimport",
            &upstream.url("/pmimport"),
            "English: english",
            &format!("interval: {release_interval}\n"),
            true,
        )
        .text()
}

/// `base_config` plus an `office365` tier and the `o365` source that releases it.
fn with_office365(upstream: &Upstream, release_interval: &str, o365_interval: &str) -> String {
    let base = base_config(upstream, release_interval);
    let base = base.replace(
        "sources:\n",
        "  office365:\n    goal: 48h\n    bulletins: [msrc]\nsources:\n",
    );
    format!(
        r#"{base}  o365:
    role: releases
    kind: csv
    url: {o365}
    interval: {o365_interval}
    id: build
    published: date
    covers: covers
    tiers: [office365]
"#,
        o365 = upstream.url("/o365"),
    )
}

struct Setup {
    upstream: Upstream,
    dir: tempfile::TempDir,
    config: std::path::PathBuf,
}

async fn setup(text: impl Fn(&Upstream) -> String) -> (Setup, Exporter) {
    let upstream = Upstream::start().await;
    upstream.set("/msrc", Behavior::Ok(fixture("msrc-updates.json")));
    upstream.set("/pmimport", Behavior::Ok(fixture("pmimport-releases.json")));
    upstream.set("/o365", Behavior::Ok(fixture("office365-builds.csv")));
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), &text(&upstream));
    let db = dir.path().join("patchlag.db");
    let exporter = Exporter::start(&[
        "--config.file",
        config.to_str().expect("path"),
        "--storage.path",
        db.to_str().expect("path"),
        "--debug.fixed-now",
        NOW,
    ]);
    exporter.wait_ready().await;
    (
        Setup {
            upstream,
            dir,
            config,
        },
        exporter,
    )
}

async fn post_reload(exporter: &Exporter) -> (u16, String) {
    let r = reqwest::Client::new()
        .post(exporter.url("/-/reload"))
        .send()
        .await
        .expect("reload request");
    (r.status().as_u16(), r.text().await.expect("body"))
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as f64
}

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_adds_a_tier_and_a_source_and_keeps_unchanged_pollers() {
    let (setup, exporter) = setup(|u| base_config(u, "1h")).await;
    let up = &setup.upstream;
    assert_eq!((up.hits("/msrc"), up.hits("/pmimport")), (1, 1));
    let before = exporter.scrape().await;
    assert_eq!(
        sample(&before, "patchlag_goal_seconds", &[("tier", "office365")]),
        None
    );

    // The new source answers only after a while, so readiness can be seen waiting for it.
    up.set(
        "/o365",
        Behavior::Delay(Duration::from_secs(4), fixture("office365-builds.csv")),
    );
    std::fs::write(&setup.config, with_office365(up, "1h", "1h")).expect("write");
    let reloaded_after = unix_now();
    exporter.signal("HUP");
    let text = exporter
        .wait_for("the office365 tier", |t| {
            sample(t, "patchlag_goal_seconds", &[("tier", "office365")]).is_some()
        })
        .await;
    assert_eq!(
        value(&text, "patchlag_goal_seconds", &[("tier", "office365")]),
        172800.0
    );
    assert_eq!(
        value(&text, "patchlag_config_last_reload_successful", &[]),
        1.0
    );
    assert!(
        value(
            &text,
            "patchlag_config_last_reload_success_timestamp_seconds",
            &[]
        ) >= reloaded_after
    );
    let (status, body) = exporter.get("/-/ready").await;
    assert_eq!(status, 503, "ready must wait for the added source: {body}");
    assert!(body.contains("o365"), "{body}");

    exporter.wait_ready().await;
    let text = exporter
        .wait_for("office365 release data", |t| {
            sample(t, "patchlag_source_up", &[("source", "o365")]) == Some(1.0)
        })
        .await;
    // 2024-Mar: clock start 2024-03-12T17:00Z, build 16.0.3 at 2024-03-13T05:00Z: 12 h.
    assert_eq!(
        value(
            &text,
            "patchlag_release_delay_seconds",
            &[("tier", "office365"), ("bulletin", "2024-Mar")]
        ),
        43200.0
    );
    // Unchanged bulletin source: same poller, not polled again. The release source sees a new
    // set of tiers, so it was restarted (one more poll).
    assert_eq!(
        up.hits("/msrc"),
        1,
        "the unchanged source's poller was restarted"
    );
    eventually("the restarted release source to poll", || {
        up.hits("/pmimport") == 2
    })
    .await;
    assert_eq!(up.hits("/o365"), 1);
    if let Some(complaints) = promtool_check_metrics(&text) {
        assert_eq!(complaints, "", "promtool check metrics");
    }
    drop(setup.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_removes_a_source_and_its_history_returns_with_it() {
    let (setup, exporter) = setup(|u| with_office365(u, "1h", "300ms")).await;
    let up = &setup.upstream;
    let text = exporter.scrape().await;
    let delay = [("tier", "office365"), ("bulletin", "2024-Mar")];
    assert_eq!(
        value(&text, "patchlag_release_delay_seconds", &delay),
        43200.0
    );

    std::fs::write(&setup.config, base_config(up, "1h")).expect("write");
    let (status, body) = post_reload(&exporter).await;
    assert_eq!((status, body.as_str()), (200, "configuration reloaded\n"));
    let text = exporter.scrape().await;
    assert_eq!(
        sample(&text, "patchlag_source_up", &[("source", "o365")]),
        None
    );
    assert_eq!(
        sample(&text, "patchlag_goal_seconds", &[("tier", "office365")]),
        None
    );
    assert_eq!(
        sample(&text, "patchlag_release_delay_seconds", &delay),
        None
    );
    // Its poller is gone: no more requests (it polled every 300 ms).
    let hits = up.hits("/o365");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(
        up.hits("/o365") <= hits + 1,
        "the removed source is still polled"
    );
    let hits = up.hits("/o365");
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(up.hits("/o365"), hits, "the removed source is still polled");

    // Back again: the stored history is served at once, and readiness waits for a new poll.
    up.set("/o365", Behavior::Hang);
    std::fs::write(&setup.config, with_office365(up, "1h", "300ms")).expect("write");
    let (status, _) = post_reload(&exporter).await;
    assert_eq!(status, 200);
    let text = exporter.scrape().await;
    assert_eq!(
        value(&text, "patchlag_release_delay_seconds", &delay),
        43200.0
    );
    let (status, body) = exporter.get("/-/ready").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(
        up.hits("/msrc"),
        1,
        "the unchanged source's poller was restarted"
    );
    drop(setup.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_file_keeps_the_running_configuration() {
    let (setup, exporter) = setup(|u| base_config(u, "300ms")).await;
    let up = &setup.upstream;
    let good = std::fs::read_to_string(&setup.config).expect("read");
    let started = exporter.scrape().await;
    let started_ts = value(
        &started,
        "patchlag_config_last_reload_success_timestamp_seconds",
        &[],
    );

    // An unknown key, on line 12.
    let broken = good.replace("    kind: msrc\n", "    kind: msrc\n    colour: blue\n");
    std::fs::write(&setup.config, &broken).expect("write");
    let (status, body) = post_reload(&exporter).await;
    assert_eq!(status, 500, "{body}");
    assert!(
        body.contains("patchlag.yml:12:5: sources.msrc.colour: unknown field `colour`"),
        "the error names file, line, column and key: {body}"
    );
    assert_eq!(body.lines().count(), 1, "{body}");
    let text = exporter.scrape().await;
    assert_eq!(
        value(&text, "patchlag_config_last_reload_successful", &[]),
        0.0
    );
    assert_eq!(
        value(
            &text,
            "patchlag_config_last_reload_success_timestamp_seconds",
            &[]
        ),
        started_ts
    );
    assert_eq!(
        value(&text, "patchlag_goal_seconds", &[("tier", "english")]),
        86400.0
    );
    // The running sources keep polling.
    let hits = up.hits("/pmimport");
    eventually("the old release source to poll again", || {
        up.hits("/pmimport") > hits + 1
    })
    .await;

    // SIGHUP reports the same failure in the log.
    exporter.signal("HUP");
    eventually("the failed SIGHUP reload in the log", || {
        exporter
            .logs()
            .iter()
            .filter(|l| l.contains("configuration reload failed"))
            .count()
            >= 2
    })
    .await;
    let (status, _) = exporter.get("/-/healthy").await;
    assert_eq!(status, 200);

    // Putting the running file back is an unchanged reload, and a success.
    std::fs::write(&setup.config, &good).expect("write");
    let before = unix_now();
    let (status, body) = post_reload(&exporter).await;
    assert_eq!((status, body.as_str()), (200, "configuration unchanged\n"));
    let text = exporter.scrape().await;
    assert_eq!(
        value(&text, "patchlag_config_last_reload_successful", &[]),
        1.0
    );
    assert!(
        value(
            &text,
            "patchlag_config_last_reload_success_timestamp_seconds",
            &[]
        ) >= before
    );

    // Break it again, then fix it with a real change.
    std::fs::write(&setup.config, "tiers: [").expect("write");
    let (status, body) = post_reload(&exporter).await;
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("patchlag.yml:1:"), "{body}");
    let text = exporter.scrape().await;
    assert_eq!(
        value(&text, "patchlag_config_last_reload_successful", &[]),
        0.0
    );
    std::fs::write(&setup.config, good.replace("goal: 24h", "goal: 12h")).expect("write");
    let (status, body) = post_reload(&exporter).await;
    assert_eq!((status, body.as_str()), (200, "configuration reloaded\n"));
    let text = exporter.scrape().await;
    assert_eq!(
        value(&text, "patchlag_config_last_reload_successful", &[]),
        1.0
    );
    assert_eq!(
        value(&text, "patchlag_goal_seconds", &[("tier", "english")]),
        43200.0
    );
    drop(setup.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_reloads_are_serialized() {
    let (setup, exporter) = setup(|u| base_config(u, "1h")).await;
    let up = &setup.upstream;
    std::fs::write(&setup.config, with_office365(up, "1h", "1h")).expect("write");

    let client = reqwest::Client::new();
    let requests: Vec<_> = (0..8)
        .map(|_| {
            let request = client.post(exporter.url("/-/reload")).send();
            tokio::spawn(async move {
                let r = request.await.expect("reload request");
                (r.status().as_u16(), r.text().await.expect("body"))
            })
        })
        .collect();
    exporter.signal("HUP");
    let mut applied = 0;
    for r in requests {
        let (status, body) = r.await.expect("task");
        assert_eq!(status, 200, "{body}");
        if body == "configuration reloaded\n" {
            applied += 1;
        } else {
            assert_eq!(body, "configuration unchanged\n");
        }
    }
    assert!(applied <= 1, "the change was applied {applied} times");
    // Nine reloads in all (the SIGHUP one too): exactly one applied the change.
    eventually("nine reloads in the log", || {
        exporter
            .logs()
            .iter()
            .filter(|l| {
                l.contains("configuration reloaded") || l.contains("configuration unchanged")
            })
            .count()
            == 9
    })
    .await;
    let logs = exporter.logs();
    assert_eq!(
        logs.iter()
            .filter(|l| l.contains("configuration reloaded"))
            .count(),
        1,
        "{logs:?}"
    );
    exporter.wait_ready().await;
    // One poller for the new source, one for each old one.
    assert_eq!(up.hits("/o365"), 1);
    assert_eq!(up.hits("/msrc"), 1);
    let text = exporter.scrape().await;
    assert_eq!(
        value(&text, "patchlag_source_up", &[("source", "o365")]),
        1.0
    );
    drop(setup.dir);
}
