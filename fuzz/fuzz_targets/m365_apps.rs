//! Microsoft 365 Apps releases: arbitrary bytes as the answer of `GET
//! /releases/v1.0/OfficeReleases`, read with every channel and with a selection.
#![no_main]

use std::collections::HashSet;

use libfuzzer_sys::fuzz_target;
use patchlag_exporter::sources::m365_apps::{M365Apps, M365AppsConfig};
use patchlag_exporter::sources::{Fetched, ParseContext, SourceKind};
use patchlag_exporter::timeparse::Published;
use patchlag_exporter_fuzz::NOW;

fuzz_target!(|body: &[u8]| {
    let fetched = Fetched {
        body: body.to_vec(),
        ..Default::default()
    };
    let ctx = ParseContext {
        now: NOW,
        state: None,
        tier_names: &[],
    };
    let all = M365Apps::new(M365AppsConfig { channels: None });
    let some = M365Apps::new(M365AppsConfig {
        channels: Some(["MonthlyEnterprise", "semiannual"].map(String::from).into()),
    });
    let Ok(parsed) = all.parse(&fetched, &ctx) else {
        // Garbage for one reading is garbage for the other.
        assert!(some.parse(&fetched, &ctx).is_err());
        return;
    };
    let mut ids = HashSet::new();
    for r in &parsed.records {
        // One bulletin per id, each a channel and a build, clocked in the past, titled.
        assert!(!r.id.is_empty() && r.id.trim() == r.id, "bad id: {r:?}");
        assert!(r.tiers.is_empty() && r.covers.is_empty(), "{r:?}");
        assert!(ids.insert(r.id.as_str()), "duplicate id: {r:?}");
        assert!(r.id.contains('-'), "{r:?}");
        assert!(r.title.starts_with("Microsoft 365 Apps "), "{r:?}");
        assert!(
            matches!(r.published, Published::Instant(t) if t <= NOW && t >= 1_293_840_000),
            "{r:?}"
        );
    }
    // Skipped entries are summarized: at most one message for builds without a date, one for
    // malformed entries.
    assert!(parsed.skipped.len() <= 2, "{:?}", parsed.skipped);
    assert!(parsed.skipped.iter().all(|s| s.len() < 8192));

    // A selection reads a subset: the same records, of its channels only.
    let selected = some
        .parse(&fetched, &ctx)
        .expect("parses like the whole answer");
    for r in &selected.records {
        assert!(parsed.records.contains(r), "{r:?}");
        let channel = r.id.to_ascii_lowercase();
        assert!(
            channel.starts_with("monthlyenterprise-") || channel.starts_with("semiannual-"),
            "{r:?}"
        );
    }
});
