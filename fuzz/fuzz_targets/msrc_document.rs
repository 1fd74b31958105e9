//! An MSRC CVRF month document: arbitrary bytes as the answer of `GET /cvrf/2025-Jul`.
#![no_main]

use chrono::NaiveDate;
use libfuzzer_sys::fuzz_target;
use patchlag_exporter::sources::msrc::{out_of_band_days, MAX_OUT_OF_BAND_DAYS};

fuzz_target!(|body: &[u8]| {
    let release_day = NaiveDate::from_ymd_opt(2025, 7, 8).expect("date");
    if let Ok(found) = out_of_band_days(body, "2025-Jul", release_day) {
        // Never more bulletins than the bound, each after the release day with a CVE.
        assert!(found.days.len() <= MAX_OUT_OF_BAND_DAYS);
        for (day, cves) in &found.days {
            assert!(*day > release_day, "{day}");
            assert!(!cves.is_empty() && cves.iter().all(|c| !c.trim().is_empty()));
        }
    }
});
