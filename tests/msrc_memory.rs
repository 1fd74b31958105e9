//! A 5 MB MSRC answer is parsed in place: the heap the parse needs beyond the answer stays
//! well under one more copy of it, and what it does not keep (the records) is a small fraction.
//! Counted with a global allocator, so this binary holds this one test only.

#[path = "../benches/support/counting_alloc.rs"]
mod counting_alloc;
#[path = "../benches/support/history.rs"]
mod history;

use chrono::NaiveTime;
use patchlag_exporter::config::{
    MsrcConfig, DEFAULT_MSRC_EXCLUDE_TITLE, DEFAULT_MSRC_INCLUDE_TITLE, DEFAULT_MSRC_TIMEZONE,
};
use patchlag_exporter::sources::msrc::Msrc;
use patchlag_exporter::sources::{Fetched, ParseContext, SourceKind};
use patchlag_exporter::timeparse::zone;

#[global_allocator]
static ALLOCATOR: counting_alloc::Counting = counting_alloc::Counting;

#[test]
fn a_5_mb_answer_is_parsed_without_a_second_copy() {
    let now = chrono::DateTime::parse_from_rfc3339("2026-11-17T20:00:00Z")
        .expect("valid")
        .timestamp();
    let kind = Msrc::new(MsrcConfig {
        timezone: zone(DEFAULT_MSRC_TIMEZONE).expect("zone"),
        release_time: NaiveTime::from_hms_opt(10, 0, 0).expect("10:00"),
        include_title: regex::Regex::new(DEFAULT_MSRC_INCLUDE_TITLE).expect("regex"),
        exclude_title: regex::Regex::new(DEFAULT_MSRC_EXCLUDE_TITLE).expect("regex"),
        out_of_band: None,
    });
    let fetched = Fetched {
        body: history::large_msrc_index(5 * 1024 * 1024, now).into_bytes(),
        ..Fetched::default()
    };
    let ctx = ParseContext {
        now,
        state: None,
        tier_names: &[],
    };
    let answer = fetched.body.len();
    let (parsed, peak, kept) =
        counting_alloc::measure(|| kind.parse(&fetched, &ctx).expect("parses"));
    // The generator makes every hundredth entry malformed: skipped, not fatal.
    assert!(parsed.records.len() > 20_000, "{}", parsed.records.len());
    assert_eq!(parsed.skipped.len(), parsed.records.len() / 99);
    let transient = peak - kept;
    eprintln!("answer {answer} bytes: peak {peak}, kept {kept}, transient {transient}");
    assert!(
        peak < answer,
        "the parse held {peak} bytes at its peak, as much as another copy of the {answer}-byte answer"
    );
    assert!(
        transient < answer / 8,
        "the parse needed {transient} bytes beyond the records it returns, for a {answer}-byte answer"
    );
}
