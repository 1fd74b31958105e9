//! The `csv` kind: arbitrary bytes as the file, read with a date-and-time pattern (times in a
//! zone with daylight saving) and with date-only values.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use patchlag_exporter_fuzz::{parse_and_check, source, Source};

fn sources() -> &'static [Source; 2] {
    static SOURCES: OnceLock<[Source; 2]> = OnceLock::new();
    SOURCES.get_or_init(|| {
        let block = |format: &str| {
            format!(
                "  fuzzed:\n    role: releases\n    kind: csv\n    url: 'file:///dev/null'\n    \
                 id: build\n    published: date\n    title: title\n    covers: covers\n    \
                 tier: tier\n    tier_map: {{en: english, all: other_languages, o365: office365}}\n    \
                 time_format: \"{format}\"\n    timezone: America/New_York\n"
            )
        };
        [source(&block("%m/%d/%Y %H:%M")), source(&block("rfc3339"))]
    })
}

fuzz_target!(|body: &[u8]| {
    for source in sources() {
        parse_and_check(source, body);
    }
});
