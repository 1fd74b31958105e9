//! The model over ten years of history: building the index (once per poll), evaluating every
//! pair (once per record time, and for the status page and `report`), and what a scrape asks
//! of the precomputed evaluation.

mod support;

use std::hint::black_box;

use criterion::{criterion_group, Criterion};
use patchlag_exporter::model::Model;

fn model(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let snapshot = support::snapshot(dir.path(), 10);
    let model = &snapshot.model;
    let now = support::now();
    let ratio = snapshot.config.metrics.at_risk_ratio;
    let window = snapshot.config.metrics.series_window.as_secs() as i64;
    let compliance = snapshot.config.metrics.compliance_window.as_secs() as i64;

    c.bench_function("model/new (10 years)", |b| {
        b.iter(|| {
            Model::new(
                model.tiers.clone(),
                model.bulletins.clone(),
                model.releases.clone(),
            )
        })
    });
    c.bench_function("model/evaluate (10 years)", |b| {
        b.iter(|| model.evaluate(black_box(now), ratio))
    });
    c.bench_function("model/evaluation (10 years)", |b| {
        b.iter(|| model.evaluation(black_box(now)))
    });
    let evaluation = model.evaluation(now);
    c.bench_function("model/scrape queries (10 years)", |b| {
        b.iter(|| {
            let now = black_box(now);
            let mut n = 0u64;
            for t in 0..model.tiers.len() {
                n += evaluation.pairs_since(t, now - window, now, ratio).count() as u64;
                n += evaluation.latency(t).count_le(86400.0);
                n += evaluation.breaches(t, now);
                n += evaluation.goal_met_ratio(t, now, compliance).is_some() as u64;
            }
            n
        })
    });
}

criterion_group!(benches, model);

fn main() {
    // `cargo test --all-targets` runs benchmark binaries without `--bench`: building them is
    // the check there, measuring is for `cargo bench`.
    if std::env::args().any(|arg| arg == "--bench") {
        benches();
        Criterion::default().configure_from_args().final_summary();
    }
}
