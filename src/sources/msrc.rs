//! `msrc`: the Microsoft Security Response Center CVRF index (`GET {base}/updates`).
//!
//! Facts this kind encodes (see the README's "MSRC data" section):
//! - `InitialReleaseDate` carries only a day: midnight Pacific written in UTC, with or without a
//!   trailing `Z` (a value without an offset is UTC). The clock starts at `release_time`
//!   (10:00) of that day in `timezone` (America/Los_Angeles), daylight saving included.
//! - A month's document appears days before Patch Tuesday as "... Early Security Updates" and
//!   is retitled and re-dated on the day; such entries are not bulletins yet.
//! - Titles are not enough (April and October 2025 pre-releases were titled like final ones):
//!   a monthly document (`YYYY-Mon`) dated before its month's second Tuesday is a pre-release,
//!   and nothing whose clock start lies in the future is a bulletin yet.
//!
//! The index runs to megabytes: it is read in place, each entry borrowed from the answer as raw
//! JSON and then into a struct of borrowed strings, so parsing holds no second copy of it, and
//! a malformed entry is skipped without failing the rest.

use std::borrow::Cow;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Weekday};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::{Fetched, ParseContext, Parsed, PollError, Record, SourceKind};
use crate::config::MsrcConfig;
use crate::timeparse::{local_date, local_to_unix, Published};

pub struct Msrc {
    config: MsrcConfig,
}

#[derive(Deserialize)]
struct Index<'a> {
    #[serde(borrow)]
    value: Vec<&'a RawValue>,
}

/// One entry of the index; every other field is ignored.
#[derive(Deserialize)]
struct Entry<'a> {
    #[serde(rename = "ID", borrow)]
    id: Text<'a>,
    #[serde(rename = "DocumentTitle", default, borrow)]
    title: Option<Text<'a>>,
    #[serde(rename = "InitialReleaseDate", borrow)]
    initial_release_date: Text<'a>,
}

/// A string borrowed from the answer unless it contains escapes (also inside an `Option`,
/// where a bare `Cow` would always be copied).
#[derive(Deserialize)]
struct Text<'a>(#[serde(borrow)] Cow<'a, str>);

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

impl Msrc {
    pub fn new(config: MsrcConfig) -> Msrc {
        Msrc { config }
    }

    /// The Pacific (or configured) calendar day an `InitialReleaseDate` stands for.
    fn release_day(&self, value: &str) -> Result<NaiveDate, String> {
        let utc = if let Ok(t) = DateTime::parse_from_rfc3339(value) {
            t.with_timezone(&chrono::Utc)
        } else {
            ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S"]
                .iter()
                .find_map(|f| NaiveDateTime::parse_from_str(value, f).ok())
                .map(|n| n.and_utc())
                .ok_or_else(|| format!("InitialReleaseDate {value:?} is not a date-time"))?
        };
        Ok(local_date(&self.config.timezone, utc))
    }

    fn clock_start(&self, day: NaiveDate) -> i64 {
        local_to_unix(
            &self.config.timezone,
            day.and_time(self.config.release_time),
        )
    }
}

/// For a monthly document id (`2026-Nov`), the month's Patch Tuesday.
pub fn patch_tuesday_of_id(id: &str) -> Option<NaiveDate> {
    let (year, month) = id.split_once('-')?;
    if year.len() != 4 {
        return None;
    }
    let year: i32 = year.parse().ok()?;
    let month = MONTHS.iter().position(|m| *m == month)? as u32 + 1;
    second_tuesday(year, month)
}

pub fn second_tuesday(year: i32, month: u32) -> Option<NaiveDate> {
    NaiveDate::from_weekday_of_month_opt(year, month, Weekday::Tue, 2)
}

impl SourceKind for Msrc {
    fn parse(&self, fetched: &Fetched, ctx: &ParseContext<'_>) -> Result<Parsed, PollError> {
        let index: Index = serde_json::from_slice(&fetched.body)
            .map_err(|e| PollError::parse(format!("not an MSRC updates index: {e}")))?;
        let mut parsed = Parsed {
            records: Vec::with_capacity(index.value.len()),
            ..Parsed::default()
        };
        for (n, raw) in index.value.into_iter().enumerate() {
            let entry: Entry = match serde_json::from_str(raw.get()) {
                Ok(e) => e,
                Err(e) => {
                    parsed.skipped.push(format!("entry {n}: {e}"));
                    continue;
                }
            };
            let id = entry.id.0.trim();
            if id.is_empty() {
                parsed.skipped.push(format!("entry {n}: empty ID"));
                continue;
            }
            let title = entry.title.as_ref().map_or("", |t| t.0.trim());
            let day = match self.release_day(entry.initial_release_date.0.trim()) {
                Ok(d) => d,
                Err(e) => {
                    parsed.skipped.push(format!("entry {n} ({id}): {e}"));
                    continue;
                }
            };
            if self.config.exclude_title.is_match(title) {
                parsed.excluded += 1;
                continue;
            }
            if let Some(patch_tuesday) = patch_tuesday_of_id(id) {
                if day < patch_tuesday {
                    parsed.excluded += 1;
                    continue;
                }
            }
            let start = self.clock_start(day);
            if start > ctx.now {
                parsed.excluded += 1;
                continue;
            }
            parsed.records.push(Record {
                id: id.to_string(),
                title: title.to_string(),
                published: Published::Instant(start),
                tiers: Vec::new(),
                covers: Vec::new(),
            });
        }
        Ok(parsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{DEFAULT_MSRC_EXCLUDE_TITLE, DEFAULT_MSRC_TIMEZONE};
    use crate::timeparse::zone;
    use chrono::NaiveTime;
    use regex::Regex;

    fn msrc() -> Msrc {
        Msrc::new(MsrcConfig {
            timezone: zone(DEFAULT_MSRC_TIMEZONE).expect("zone"),
            release_time: NaiveTime::from_hms_opt(10, 0, 0).expect("time"),
            exclude_title: Regex::new(DEFAULT_MSRC_EXCLUDE_TITLE).expect("regex"),
        })
    }

    fn ts(s: &str) -> i64 {
        DateTime::parse_from_rfc3339(s).expect("valid").timestamp()
    }

    fn parse_at(body: &str, now: &str) -> Parsed {
        let fetched = Fetched {
            body: body.as_bytes().to_vec(),
            ..Default::default()
        };
        let ctx = ParseContext {
            now: ts(now),
            state: None,
            tier_names: &[],
        };
        msrc().parse(&fetched, &ctx).expect("parses")
    }

    fn entry(id: &str, title: &str, date: &str) -> String {
        format!(
            r#"{{"ID":"{id}","Alias":"{id}","DocumentTitle":"{title}","Severity":null,"InitialReleaseDate":"{date}","CurrentReleaseDate":"{date}","CvrfUrl":"x"}}"#
        )
    }

    fn index(entries: &[String]) -> String {
        format!(
            r#"{{"@odata.context":"x","value":[{}]}}"#,
            entries.join(",")
        )
    }

    /// (id, title, InitialReleaseDate, expected clock start or None when not a bulletin)
    #[test]
    fn clock_starts_table() {
        let cases: &[(&str, &str, &str, Option<&str>)] = &[
            // Daylight saving: March 2024 Patch Tuesday is after the switch (PDT, UTC-7).
            (
                "2024-Mar",
                "March 2024 Security Updates",
                "2024-03-12T07:00:00",
                Some("2024-03-12T17:00:00Z"),
            ),
            // November 2023 is after the switch back (PST, UTC-8), with a trailing Z.
            (
                "2023-Nov",
                "November 2023 Security Updates",
                "2023-11-14T08:00:00Z",
                Some("2023-11-14T18:00:00Z"),
            ),
            (
                "2023-Jan",
                "January 2023 Security Updates",
                "2023-01-10T08:00:00",
                Some("2023-01-10T18:00:00Z"),
            ),
            // An offset other than Z is honoured.
            (
                "2024-Jan",
                "January 2024 Security Updates",
                "2024-01-09T00:00:00-08:00",
                Some("2024-01-09T18:00:00Z"),
            ),
            // Early documents are not bulletins yet.
            (
                "2022-Apr",
                "April 2022 Early Security Updates",
                "2022-04-01T07:00:00",
                None,
            ),
            (
                "2022-Jan",
                "January 2022 Early Security Release",
                "2022-01-06T08:00:00Z",
                None,
            ),
            // April 2025: titled like a final document, dated five days before Patch Tuesday.
            (
                "2025-Apr",
                "April 2025 Security Updates",
                "2025-04-03T07:00:00",
                None,
            ),
            // A December 2022 document dated the 5th: before the month's second Tuesday.
            (
                "2022-Dec",
                "December 5, 2022 Security Updates",
                "2022-12-05T08:00:00",
                None,
            ),
            // Out-of-band ids: no Patch Tuesday rule.
            (
                "2017-May-B",
                "May 8 2017 Security Updates",
                "2017-05-08T07:00:00",
                Some("2017-05-08T17:00:00Z"),
            ),
            (
                "Oct-OOB",
                "October 27, 2016 Security Update",
                "2016-10-27T07:00:00",
                Some("2016-10-27T17:00:00Z"),
            ),
            // The clock start lies in the future (now is 2026-11-10T12:00Z, 04:00 Pacific).
            (
                "2026-Nov",
                "November 2026 Security Updates",
                "2026-11-10T08:00:00",
                None,
            ),
        ];
        for (id, title, date, expected) in cases {
            let parsed = parse_at(&index(&[entry(id, title, date)]), "2026-11-10T12:00:00Z");
            match expected {
                Some(start) => {
                    assert_eq!(parsed.records.len(), 1, "{id}");
                    assert_eq!(parsed.records[0].id, *id);
                    assert_eq!(parsed.records[0].title, *title);
                    assert_eq!(
                        parsed.records[0].published,
                        Published::Instant(ts(start)),
                        "{id}"
                    );
                }
                None => {
                    assert!(parsed.records.is_empty(), "{id} must not be a bulletin");
                    assert_eq!(parsed.excluded, 1, "{id}");
                }
            }
        }
    }

    #[test]
    fn becomes_a_bulletin_once_its_clock_starts() {
        let body = index(&[entry(
            "2026-Nov",
            "November 2026 Security Updates",
            "2026-11-10T08:00:00",
        )]);
        assert!(parse_at(&body, "2026-11-10T17:59:59Z").records.is_empty());
        assert_eq!(parse_at(&body, "2026-11-10T18:00:00Z").records.len(), 1);
    }

    #[test]
    fn malformed_entries_are_skipped_not_fatal() {
        let body = index(&[
            r#"{"ID": 5}"#.to_string(),
            entry("2023-Jan", "January 2023 Security Updates", "not a date"),
            r#"{"ID":"2023-Feb","DocumentTitle":"February 2023 Security Updates","InitialReleaseDate":"2023-02-14T08:00:00","NewField":{"nested":[1,2]}}"#.to_string(),
        ]);
        let parsed = parse_at(&body, "2026-11-10T12:00:00Z");
        assert_eq!(parsed.records.len(), 1);
        assert_eq!(parsed.records[0].id, "2023-Feb");
        assert_eq!(parsed.skipped.len(), 2);
    }

    #[test]
    fn escaped_and_missing_titles() {
        let body = index(&[
            r#"{"ID":"2023-Mar","DocumentTitle":"March 2023 \u201cSecurity\u201d Updates\n","InitialReleaseDate":"2023-03-14T07:00:00Z"}"#.to_string(),
            r#"{"ID":"2023-Apr","DocumentTitle":null,"InitialReleaseDate":"2023-04-11T07:00:00Z"}"#.to_string(),
            r#"{"ID":"2023-May","InitialReleaseDate":"2023-05-09T07:00:00Z"}"#.to_string(),
            r#"{"ID":"  ","InitialReleaseDate":"2023-05-09T07:00:00Z"}"#.to_string(),
        ]);
        let parsed = parse_at(&body, "2026-11-10T12:00:00Z");
        let titles: Vec<_> = parsed
            .records
            .iter()
            .map(|r| (r.id.as_str(), r.title.as_str()))
            .collect();
        assert_eq!(
            titles,
            vec![
                ("2023-Mar", "March 2023 \u{201c}Security\u{201d} Updates"),
                ("2023-Apr", ""),
                ("2023-May", "")
            ]
        );
        assert_eq!(parsed.skipped.len(), 1);
    }

    #[test]
    fn garbage_is_a_parse_error() {
        let fetched = Fetched {
            body: b"<html>maintenance</html>".to_vec(),
            ..Default::default()
        };
        let ctx = ParseContext {
            now: 0,
            state: None,
            tier_names: &[],
        };
        let err = msrc().parse(&fetched, &ctx).expect_err("garbage");
        assert_eq!(err.reason, super::super::Reason::Parse);
    }

    #[test]
    fn patch_tuesdays() {
        assert_eq!(
            patch_tuesday_of_id("2024-Mar"),
            NaiveDate::from_ymd_opt(2024, 3, 12)
        );
        assert_eq!(
            patch_tuesday_of_id("2025-Oct"),
            NaiveDate::from_ymd_opt(2025, 10, 14)
        );
        assert_eq!(patch_tuesday_of_id("2017-May-B"), None);
        assert_eq!(patch_tuesday_of_id("Oct-OOB"), None);
    }
}
