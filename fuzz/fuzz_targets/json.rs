//! The `json` kind with the mapping of the README's example: arbitrary bytes as the answer.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use patchlag_exporter_fuzz::{parse_and_check, source, Source};

fn json() -> &'static Source {
    static SOURCE: OnceLock<Source> = OnceLock::new();
    SOURCE.get_or_init(|| {
        source(
            "  fuzzed:\n    role: releases\n    kind: json\n    url: 'file:///dev/null'\n    \
             items: $.releases[*]\n    id: $.version\n    published: $.released\n    \
             title: $.title\n    tier: $.language\n    \
             tier_map: {English: english, \"All languages\": other_languages, \"Office 365\": office365}\n    \
             covers: $.bulletins[*]\n",
        )
    })
}

fuzz_target!(|body: &[u8]| {
    parse_and_check(json(), body);
});
