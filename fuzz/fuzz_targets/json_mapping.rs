//! The `json` kind with a fuzzed mapping: the first five lines of the input are the `items`,
//! `id`, `published`, `tier` and `covers` JSONPaths, the sixth the `time_format`; the rest is
//! the answer. Paths and formats that configuration validation would reject are skipped.
#![no_main]

use std::sync::LazyLock;

use jiff::tz::TimeZone;
use libfuzzer_sys::fuzz_target;
use patchlag_exporter::sources::json::{Json, JsonConfig};
use patchlag_exporter::sources::settings::{RecordTime, Tiering, MAX_JSONPATH_FILTERS};
use patchlag_exporter::sources::{Fetched, ParseContext, Role, SourceKind};
use patchlag_exporter::timeparse::{zone, TimeFormat};
use patchlag_exporter_fuzz::{check, NOW, TIERS};
use serde_json_path::JsonPath;

static NEW_YORK: LazyLock<TimeZone> =
    LazyLock::new(|| zone("America/New_York").expect("a known zone"));

fuzz_target!(|input: &[u8]| {
    let mut parts = input.splitn(7, |b| *b == b'\n');
    let mut line = || std::str::from_utf8(parts.next().unwrap_or_default()).ok();
    let (Some(items), Some(id), Some(published), Some(tier), Some(covers), Some(format)) =
        (line(), line(), line(), line(), line(), line())
    else {
        return;
    };
    let body = parts.next().unwrap_or_default();
    let path = |p: &str| {
        (p.matches('?').count() <= MAX_JSONPATH_FILTERS)
            .then(|| JsonPath::parse(p).ok())
            .flatten()
    };
    let (Some(items), Some(id), Some(published)) = (path(items), path(id), path(published)) else {
        return;
    };
    let Ok(format) = TimeFormat::parse(format) else {
        return;
    };
    let kind = Json::new(JsonConfig {
        items,
        id,
        published,
        title: None,
        tier: path(tier),
        covers: path(covers),
        time: RecordTime {
            format,
            timezone: NEW_YORK.clone(),
        },
        tiering: Some(Tiering::Extracted { map: None }),
    });
    let tier_names: Vec<String> = TIERS.iter().map(|t| t.to_string()).collect();
    let ctx = ParseContext {
        now: NOW,
        state: None,
        tier_names: &tier_names,
    };
    let fetched = Fetched {
        body: body.to_vec(),
        ..Default::default()
    };
    if let Ok(parsed) = kind.parse(&fetched, &ctx) {
        check(&parsed, Role::Releases);
    }
});
