//! A long history does not make `/metrics` longer: with two and with ten years of history (the
//! same pace, the same "now", the default 90-day series window), the exposition holds exactly
//! the same series; only the values of whole-history aggregates (histogram counts, totals)
//! differ. And the snapshot keeps a number of releases that follows the bulletins, not the
//! thousands of releases stored.

#[path = "../benches/support/mod.rs"]
mod support;

use std::collections::BTreeSet;

use patchlag_exporter::metrics::{self, ReloadStatus};

/// The series of an exposition: every sample line's name and labels, without the value.
fn series(exposition: &str) -> BTreeSet<String> {
    exposition
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (key, _value) = l.rsplit_once(' ').expect("a sample line");
            key.to_owned()
        })
        .collect()
}

#[test]
fn ten_years_render_the_same_series_as_two() {
    let now = support::now();
    let reload = ReloadStatus {
        successful: true,
        last_success: now,
    };
    let mut rendered = Vec::new();
    for years in [2, 10] {
        let dir = tempfile::tempdir().expect("tempdir");
        let history = support::history(dir.path(), years);
        let model = &history.snapshot.model;
        let tiers = model.tiers.len();
        // Per tier and bulletin at most two releases can matter, plus each tier's first.
        assert!(
            model.releases.len() <= tiers * (2 * model.bulletins.len() + 1),
            "{years} years: {} releases kept for {} bulletins",
            model.releases.len(),
            model.bulletins.len()
        );
        assert!(history.fixtures.releases >= 2000 * years as usize - 10);
        let text =
            String::from_utf8(metrics::render(&history.snapshot, now, reload)).expect("UTF-8");
        rendered.push((years, history.fixtures.releases, text));
    }
    let (_, short_releases, short) = &rendered[0];
    let (_, long_releases, long) = &rendered[1];
    assert!(long_releases > &(4 * short_releases));
    let (a, b) = (series(short), series(long));
    assert!(a.len() > 100, "only {} series", a.len());
    assert_eq!(
        a.symmetric_difference(&b).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "the series differ between two and ten years of history"
    );
    assert_eq!(short.lines().count(), long.lines().count());
    // Values of whole-history counters grow by a digit or so; nothing else changes the size.
    let (s, l) = (short.len() as f64, long.len() as f64);
    assert!(
        (l - s).abs() / s < 0.02,
        "two years: {s} bytes, ten years: {l} bytes"
    );
}
