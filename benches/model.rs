//! The model over ten years of history: loading a snapshot from the store and building the
//! model (once per poll), building it from every release instead of the sieved ones,
//! evaluating every pair (once per record time, and for the status page and `report`), and
//! what a scrape asks of the precomputed evaluation.

mod support;

use std::hint::black_box;

use criterion::{criterion_group, Criterion};
use patchlag_exporter::model::{Model, Release};
use patchlag_exporter::snapshot::Snapshot;

fn model(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let history = support::history(dir.path(), 10);
    let snapshot = &history.snapshot;
    let model = &snapshot.model;
    let now = support::now();
    let ratio = snapshot.config.metrics.at_risk_ratio;
    let window = snapshot.config.metrics.series_window.as_secs() as i64;
    let compliance = snapshot.config.metrics.compliance_window.as_secs() as i64;

    c.bench_function("snapshot/load (10 years)", |b| {
        b.iter(|| Snapshot::load(history.config.clone(), &history.store).expect("load"))
    });
    let all: Vec<Release> = history
        .store
        .load()
        .expect("load")
        .releases
        .into_iter()
        .map(|r| Release {
            source: r.source,
            id: r.id,
            tier: r.tier,
            published: r.published,
            covers: r.covers,
        })
        .collect();
    c.bench_function("model/new from every release (10 years)", |b| {
        b.iter(|| Model::new(model.tiers.clone(), model.bulletins.clone(), all.clone()))
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
