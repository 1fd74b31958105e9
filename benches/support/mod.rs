//! What the benchmarks share: the synthetic history, and a snapshot built from it through the
//! exporter's own parse, store and load path.
#![allow(dead_code)]

pub mod history;

use std::sync::Arc;

use patchlag_exporter::config::Config;
use patchlag_exporter::snapshot::Snapshot;
use patchlag_exporter::sources::{Fetched, ParseContext};
use patchlag_exporter::store::{Store, Success};

/// "Now" for every benchmark: a Tuesday evening, a week after Patch Tuesday.
pub const NOW: &str = "2026-11-17T20:00:00Z";

pub fn now() -> i64 {
    chrono::DateTime::parse_from_rfc3339(NOW)
        .expect("valid")
        .timestamp()
}

/// `years` years of history, polled once into a store (kept in `dir`).
pub struct History {
    pub config: Arc<Config>,
    pub store: Store,
    pub fixtures: history::Fixtures,
    /// As the exporter publishes it after polling every source once.
    pub snapshot: Snapshot,
}

pub fn snapshot(dir: &std::path::Path, years: i32) -> Snapshot {
    history(dir, years).snapshot
}

pub fn history(dir: &std::path::Path, years: i32) -> History {
    let now = now();
    let fixtures = history::write_years(dir, now, years).expect("fixtures");
    let config = Config::load(&fixtures.config).expect("configuration");
    let store = Store::open(&dir.join("history.db")).expect("store");
    let tier_names: Vec<String> = config.tiers.iter().map(|t| t.name.clone()).collect();
    for source in &config.sources {
        let path = source.url.strip_prefix("file://").expect("a file URL");
        let fetched = Fetched {
            body: std::fs::read(path).expect("fixture"),
            ..Fetched::default()
        };
        let ctx = ParseContext {
            now,
            state: None,
            tier_names: &tier_names,
        };
        let parsed = source.parser.parse(&fetched, &ctx).expect("parses");
        store
            .record_success(&Success {
                source: &source.name,
                role: source.role,
                at: now,
                duration: 0.1,
                records: &parsed.records,
                derived: &parsed.derived,
                state: None,
            })
            .expect("stored");
    }
    let config = Arc::new(config);
    History {
        snapshot: Snapshot::load(config.clone(), &store).expect("load"),
        config,
        store,
        fixtures,
    }
}
