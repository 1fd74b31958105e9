//! The MSRC CVRF index: arbitrary bytes as the answer of `GET /updates`.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use patchlag_exporter::timeparse::Published;
use patchlag_exporter_fuzz::{parse_and_check, source, Source, NOW};

fn msrc() -> &'static Source {
    static SOURCE: OnceLock<Source> = OnceLock::new();
    SOURCE.get_or_init(|| {
        source("  fuzzed: {role: bulletins, kind: msrc, url: 'file:///dev/null'}\n")
    })
}

fuzz_target!(|body: &[u8]| {
    parse_and_check(msrc(), body);
    // No bulletin's clock starts in the future.
    let fetched = patchlag_exporter::sources::Fetched {
        body: body.to_vec(),
        ..Default::default()
    };
    let ctx = patchlag_exporter::sources::ParseContext {
        now: NOW,
        state: None,
        tier_names: &[],
    };
    if let Ok(parsed) = msrc().kind.parse(&fetched, &ctx) {
        for r in &parsed.records {
            assert!(
                matches!(r.published, Published::Instant(t) if t <= NOW),
                "{r:?}"
            );
        }
    }
});
