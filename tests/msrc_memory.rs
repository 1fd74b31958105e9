//! MSRC answers are parsed in place: for a 5 MB index, the heap the parse needs beyond the
//! answer stays well under one more copy of it, and what it does not keep (the records) is a
//! small fraction; for a 7 MB month document, the parse needs a few kilobytes. Counted with a
//! global allocator, so the tests of this binary take turns.

#[path = "../benches/support/counting_alloc.rs"]
mod counting_alloc;
#[path = "../benches/support/history.rs"]
mod history;

use chrono::NaiveTime;
use patchlag_exporter::sources::msrc::{
    out_of_band_days, Msrc, MsrcConfig, DEFAULT_MSRC_EXCLUDE_TITLE, DEFAULT_MSRC_INCLUDE_TITLE,
    DEFAULT_MSRC_TIMEZONE,
};
use patchlag_exporter::sources::{Fetched, ParseContext, SourceKind};
use patchlag_exporter::timeparse::zone;

#[global_allocator]
static ALLOCATOR: counting_alloc::Counting = counting_alloc::Counting;

/// One measurement at a time: the counters are global.
static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn a_5_mb_answer_is_parsed_without_a_second_copy() {
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
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

#[test]
fn a_7_mb_document_is_read_with_a_few_kilobytes() {
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let body = history::large_msrc_document(7 * 1024 * 1024);
    let release_day = chrono::NaiveDate::from_ymd_opt(2025, 7, 8).expect("date");
    let (found, peak, _) = counting_alloc::measure(|| {
        out_of_band_days(&body, "2025-Jul", release_day).expect("reads")
    });
    // The captured document's out-of-band days, found among thousands of vulnerabilities.
    assert_eq!(found.days.len(), 3);
    eprintln!("document {} bytes: peak {peak}", body.len());
    assert!(
        peak < body.len() / 20,
        "reading a {}-byte document held {peak} bytes at its peak",
        body.len()
    );
}
