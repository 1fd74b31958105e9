//! Crash consistency: the real binary is killed with SIGKILL at random moments while it polls
//! sources that change between polls, again and again. After every kill the database passes
//! `PRAGMA integrity_check`, and nothing committed is lost or changed: every stored row (with
//! its first-seen time) and every value a scrape showed before the kill is still there, equal,
//! after the restart.
//!
//! Each request to the upstream adds one bulletin (ADV-n, a fixed instant) and one release
//! (R-n, covering ADV-n, dated by day only, so its time is the moment it was first seen): every
//! poll writes.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use patchlag_exporter::store::{Store, StoredBulletin, StoredRelease};

const KILLS: usize = 50;

fn bulletins(n: usize) -> Vec<u8> {
    let mut csv = String::from("id,title,published\n");
    for i in 1..=n {
        // One a minute from 2024-01-01: fixed instants, the same in every answer.
        let t = chrono::DateTime::from_timestamp(1_704_067_200 + 60 * i as i64, 0)
            .expect("time")
            .format("%Y-%m-%dT%H:%M:%SZ");
        csv.push_str(&format!("ADV-{i},Advisory {i},{t}\n"));
    }
    csv.into_bytes()
}

fn releases(n: usize) -> Vec<u8> {
    // R-0 predates every bulletin, so every pair has the data to be evaluated.
    let mut csv = String::from("version,date,covers\nR-0,2023-12-01T00:00:00Z,\n");
    for i in 1..=n {
        csv.push_str(&format!("R-{i},2024-01-02,ADV-{i}\n"));
    }
    csv.into_bytes()
}

/// Stored rows, keyed by identity; the value holds everything that must never change.
#[derive(Default, Debug)]
struct Rows {
    bulletins: BTreeMap<(String, String), StoredBulletin>,
    releases: BTreeMap<(String, String, String), StoredRelease>,
}

/// Checks a copy of the crashed database (the exporter restarts on the files as they are) and
/// reads its rows.
fn inspect(db: &Path, scratch: &Path) -> Rows {
    let copy = scratch.join("copy.db");
    for suffix in ["", "-wal", "-shm"] {
        let from = format!("{}{suffix}", db.display());
        let to = format!("{}{suffix}", copy.display());
        let _ = std::fs::remove_file(&to);
        if Path::new(&from).exists() {
            std::fs::copy(&from, &to).expect("copy the database");
        }
    }
    let store = Store::open_read_only(&copy).expect("open the crashed database");
    assert_eq!(store.integrity_check().expect("integrity check"), "ok");
    let data = store.load().expect("read the crashed database");
    let mut rows = Rows::default();
    for b in data.bulletins {
        rows.bulletins.insert((b.source.clone(), b.id.clone()), b);
    }
    for r in data.releases {
        rows.releases
            .insert((r.source.clone(), r.id.clone(), r.tier.clone()), r);
    }
    rows
}

/// Series whose values are fixed once known: when each bulletin's clock started and when its
/// covering release came.
fn fixed_series(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter(|l| {
            l.starts_with("patchlag_bulletin_published_timestamp_seconds{")
                || l.starts_with("patchlag_release_published_timestamp_seconds{")
        })
        .filter_map(|l| l.rsplit_once(' '))
        .map(|(series, value)| (series.to_string(), value.to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_polls_loses_nothing_committed() {
    let started = Instant::now();
    let upstream = Upstream::start().await;
    upstream.set("/bulletins.csv", Behavior::Numbered(bulletins));
    upstream.set("/releases.csv", Behavior::Numbered(releases));
    let dir = tempfile::tempdir().expect("tempdir");
    let config = format!(
        "defaults:\n  interval: 20ms\n  timeout: 2s\n\
         metrics:\n  series_window: 3650d\n\
         tiers:\n  english:\n    goal: 24h\n    bulletins: [advisories]\n\
         sources:\n  advisories:\n    role: bulletins\n    kind: csv\n    url: {}\n    \
         id: id\n    title: title\n    published: published\n\
         \x20 vendor:\n    role: releases\n    kind: csv\n    url: {}\n    id: version\n    \
         published: date\n    covers: covers\n    tiers: [english]\n",
        upstream.url("/bulletins.csv"),
        upstream.url("/releases.csv"),
    );
    let cfg = write_config(dir.path(), &config);
    let db = dir.path().join("patchlag.db");
    let scratch = tempfile::tempdir().expect("tempdir");
    let args = [
        "--config.file",
        cfg.to_str().expect("path"),
        "--storage.path",
        db.to_str().expect("path"),
    ];

    let mut committed = Rows::default();
    let mut scraped: BTreeMap<String, String> = BTreeMap::new();
    for kill in 0..KILLS {
        let mut exporter = Exporter::start(&args);
        // Everything a scrape showed before earlier kills is served again, unchanged, from the
        // first scrape on (the snapshot is read from the store before any poll).
        let now = fixed_series(&exporter.scrape().await);
        for (series, value) in &scraped {
            assert_eq!(
                now.get(series),
                Some(value),
                "kill {kill}: {series} changed or vanished"
            );
        }
        // Let it poll for a random while, remember what it shows, then kill it at a random
        // moment, most likely mid-poll.
        tokio::time::sleep(Duration::from_millis(fastrand::u64(50..300))).await;
        scraped.extend(fixed_series(&exporter.scrape().await));
        tokio::time::sleep(Duration::from_millis(fastrand::u64(0..40))).await;
        exporter.child.kill().expect("SIGKILL");
        exporter.child.wait().expect("wait");

        let rows = inspect(&db, scratch.path());
        for (key, row) in &committed.bulletins {
            assert_eq!(
                rows.bulletins.get(key),
                Some(row),
                "kill {kill}: bulletin lost or changed"
            );
        }
        for (key, row) in &committed.releases {
            assert_eq!(
                rows.releases.get(key),
                Some(row),
                "kill {kill}: release lost or changed"
            );
        }
        committed = rows;
    }

    // The kills came while data was being written, not on an idle store.
    assert!(
        committed.releases.len() > KILLS,
        "only {} releases stored in {KILLS} runs",
        committed.releases.len()
    );
    assert!(
        scraped.len() > KILLS,
        "only {} series seen in {KILLS} runs",
        scraped.len()
    );
    eprintln!(
        "{KILLS} kills in {:?}: {} bulletins, {} releases, {} fixed series checked",
        started.elapsed(),
        committed.bulletins.len(),
        committed.releases.len(),
        scraped.len()
    );
}
