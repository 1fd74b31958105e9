//! What the fuzz targets share: source kinds built from configuration text, exactly as the
//! exporter builds them, and the properties every parser's output must have whatever it is fed.

use std::path::Path;

use std::sync::Arc;

use patchlag_exporter::config::Config;
use patchlag_exporter::sources::{Fetched, ParseContext, Parsed, Role, SourceKind};

/// 2025-06-01T00:00:00Z: "now" for the parsers that compare with it.
pub const NOW: i64 = 1_748_736_000;

pub const TIERS: [&str; 3] = ["english", "other_languages", "office365"];

pub struct Source {
    pub kind: Arc<dyn SourceKind>,
    pub role: Role,
}

/// Builds the source `fuzzed` from its YAML block (indented under `sources:`), next to the
/// tiers and the bulletin and release sources they need.
pub fn source(block: &str) -> Source {
    let text = format!(
        "tiers:\n\
         \x20 english: {{goal: 24h, bulletins: [msrc]}}\n\
         \x20 other_languages: {{goal: 48h, bulletins: [msrc]}}\n\
         \x20 office365: {{goal: 48h, bulletins: [msrc]}}\n\
         sources:\n\
         \x20 msrc: {{role: bulletins, kind: msrc, url: 'file:///dev/null'}}\n\
         \x20 vendor: {{role: releases, kind: csv, url: 'file:///dev/null', id: id, published: date, \
         tiers: [english, other_languages, office365]}}\n\
         {block}"
    );
    let config = match Config::parse(Path::new("fuzz.yml"), &text) {
        Ok(c) => c,
        Err(e) => panic!("the fuzz configuration is invalid: {e}"),
    };
    let source = config
        .source("fuzzed")
        .expect("a source named fuzzed")
        .clone();
    Source {
        kind: source.parser.clone(),
        role: source.role,
    }
}

/// Parses `body` and checks the result.
pub fn parse_and_check(source: &Source, body: &[u8]) {
    let tier_names: Vec<String> = TIERS.iter().map(|t| t.to_string()).collect();
    let fetched = Fetched {
        body: body.to_vec(),
        ..Default::default()
    };
    let ctx = ParseContext {
        now: NOW,
        state: None,
        tier_names: &tier_names,
    };
    if let Ok(parsed) = source.kind.parse(&fetched, &ctx) {
        check(&parsed, source.role);
    }
}

/// What every accepted record must satisfy: the store and the model rely on it.
pub fn check(parsed: &Parsed, role: Role) {
    for r in &parsed.records {
        assert!(!r.id.is_empty(), "empty id: {r:?}");
        assert_eq!(r.id.trim(), r.id, "untrimmed id: {r:?}");
        for c in &r.covers {
            assert!(!c.is_empty() && c.trim() == c, "bad cover in {r:?}");
        }
        let mut covers = r.covers.clone();
        covers.sort();
        covers.dedup();
        assert_eq!(covers.len(), r.covers.len(), "duplicate covers: {r:?}");
        match role {
            Role::Releases => {
                assert!(!r.tiers.is_empty(), "release without a tier: {r:?}");
                assert!(
                    r.tiers.windows(2).all(|w| w[0] < w[1]),
                    "tiers not sorted and unique: {r:?}"
                );
                assert!(
                    r.tiers.iter().all(|t| TIERS.contains(&t.as_str())),
                    "unknown tier: {r:?}"
                );
            }
            Role::Bulletins => assert!(r.tiers.is_empty(), "bulletin with tiers: {r:?}"),
        }
    }
}
