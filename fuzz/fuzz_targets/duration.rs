//! Durations (`15m`, `1h30m`): parsing never panics, and what parses formats back to text that
//! parses to the same duration.
#![no_main]

use libfuzzer_sys::fuzz_target;
use patchlag_exporter::duration::{format_duration, parse_duration};

fuzz_target!(|text: &str| {
    if let Ok(d) = parse_duration(text) {
        let formatted = format_duration(d);
        assert_eq!(
            parse_duration(&formatted),
            Ok(d),
            "{text:?} -> {d:?} -> {formatted:?}"
        );
    }
});
