//! Rendering `/metrics`: uncached (what the first scrape of each second pays) for one, five,
//! ten and twenty years of history at the same pace, to show that neither the time nor the
//! output grows with the history, and the cached answer every other scrape gets.

mod support;

use std::hint::black_box;

use axum::http::{header, HeaderMap, HeaderValue};
use criterion::{criterion_group, BenchmarkId, Criterion};
use patchlag_exporter::{exposition, metrics};

fn render(c: &mut Criterion) {
    let now = support::now();
    let reload = metrics::ReloadStatus {
        successful: true,
        last_success: now,
    };
    let mut group = c.benchmark_group("render");
    for years in [1, 5, 10, 20] {
        let dir = tempfile::tempdir().expect("tempdir");
        let history = support::history(dir.path(), years);
        let snapshot = std::sync::Arc::new(history.snapshot);
        let bytes = metrics::render(&snapshot, now, reload).len();
        eprintln!(
            "{years:>2} years: {} bulletins, {} releases ({} kept in memory), /metrics {bytes} bytes",
            history.fixtures.bulletins,
            history.fixtures.releases,
            snapshot.model.releases.len()
        );
        group.bench_with_input(BenchmarkId::new("uncached", years), &years, |b, _| {
            b.iter(|| metrics::render(&snapshot, black_box(now), reload))
        });
        if years == 10 {
            group.bench_function("evaluation and render, 10 years", |b| {
                // What the first scrape after a poll, or after a record became effective, pays:
                // evaluating the history, then rendering.
                b.iter(|| {
                    let model = &snapshot.model;
                    let evaluation = model.evaluation(black_box(now));
                    (evaluation, metrics::render(&snapshot, now, reload))
                })
            });
            let mut plain = HeaderMap::new();
            plain.insert(header::ACCEPT, HeaderValue::from_static("text/plain"));
            let mut gzip = plain.clone();
            gzip.insert(header::ACCEPT_ENCODING, HeaderValue::from_static("gzip"));
            let cache = exposition::Cache::default();
            group.bench_function("cached plain, 10 years", |b| {
                b.iter(|| exposition::response(&cache, &snapshot, now, reload, &plain))
            });
            group.bench_function("cached gzip, 10 years", |b| {
                b.iter(|| exposition::response(&cache, &snapshot, now, reload, &gzip))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, render);

fn main() {
    // `cargo test --all-targets` runs benchmark binaries without `--bench`: building them is
    // the check there, measuring is for `cargo bench`.
    if std::env::args().any(|arg| arg == "--bench") {
        benches();
        Criterion::default().configure_from_args().final_summary();
    }
}
