//! Time formats: the first line of the input is a `time_format` (a strftime pattern or
//! `rfc3339`), the rest a value read with it, in UTC and in a zone with daylight saving; the
//! same value as a tier's `since` and as a `Retry-After` header.
#![no_main]

use std::sync::LazyLock;
use std::time::{Duration, UNIX_EPOCH};

use jiff::tz::TimeZone;
use libfuzzer_sys::fuzz_target;
use patchlag_exporter::config::parse_since;
use patchlag_exporter::sources::fetch::parse_retry_after;
use patchlag_exporter::timeparse::{midnight, rfc3339, zone, Published, TimeFormat};

static ZONES: LazyLock<Vec<TimeZone>> = LazyLock::new(|| {
    ["UTC", "America/Los_Angeles", "Australia/Lord_Howe"]
        .into_iter()
        .map(|name| zone(name).expect("a known zone"))
        .collect()
});

fuzz_target!(|input: &str| {
    let (pattern, value) = input.split_once('\n').unwrap_or((input, ""));
    if let Ok(format) = TimeFormat::parse(pattern) {
        for tz in ZONES.iter() {
            match format.parse_value(value, tz) {
                Ok(Published::Instant(t)) => {
                    let _ = rfc3339(t);
                }
                Ok(Published::Day(day, tz)) => {
                    let _ = rfc3339(midnight(day, &tz));
                }
                // Times read from text are never "first seen".
                Ok(Published::FirstSeen) => panic!("a parsed time cannot be first-seen"),
                Err(_) => {}
            }
        }
    }
    if let Ok(t) = parse_since(value) {
        let _ = rfc3339(t);
    }
    let now = UNIX_EPOCH + Duration::from_secs(1_748_736_000);
    let _ = parse_retry_after(value, now);
});
