//! `msrc`: the Microsoft Security Response Center CVRF API: the index (`GET {base}/updates`)
//! and, for out-of-band security updates, the month documents it lists (`GET {base}/cvrf/{id}`).
//!
//! Facts this kind encodes (docs/sources.md explains them for users):
//! - `InitialReleaseDate` carries only a day, and the day is the calendar date *as written*
//!   (its first ten characters). The live index writes the same kind of day as midnight PDT
//!   (`2024-08-13T07:00:00Z`), midnight PST (`2024-11-12T08:00:00Z`) and midnight UTC
//!   (`2024-12-10T00:00:00Z`), with or without a `Z`: converted to a Pacific date, the last
//!   would fall on the day before. The clock starts at `release_time` (10:00) of that day in
//!   `timezone` (America/Los_Angeles), daylight saving included. Dates inside documents
//!   (`RevisionHistory`) are read the same way.
//! - Only security releases are bulletins (`include_title`): the index also lists "Mariner
//!   Release Notes" documents with monthly-looking ids (`1999-Sep` … `2015-Sep`).
//! - A month's document appears days before Patch Tuesday as "... Early Security Updates"
//!   (`exclude_title`) and is retitled and re-dated on the day. Titles are not enough (April and
//!   October 2025 pre-releases were titled like final ones): a monthly document (`YYYY-Mon`, the
//!   month in any case) dated before its month's second Tuesday is a pre-release, and nothing
//!   whose clock start lies in the future is a bulletin yet.
//! - Since 2023 an out-of-band security update is added to the running month's document; only
//!   that document's `CurrentReleaseDate` changes. A changed document is read, and the
//!   vulnerabilities first published after its release day that carry a KB vendor fix become
//!   one bulletin per day, `{id}-OOB-{date}` (see `out_of_band_days`).
//!
//! The index and the documents run to megabytes: they are read in place, each entry or
//! vulnerability borrowed from the answer as raw JSON and then into a struct of borrowed
//! strings (everything else skipped, never built into a tree), so a parse holds no second copy
//! of the answer, and a malformed entry is skipped without failing the rest.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;

use std::time::Duration;

use chrono::{NaiveDate, NaiveTime, Weekday};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use jiff::tz::TimeZone;
use regex::Regex;

use super::settings::{Key, Settings};
use super::{
    Fetched, FollowUp, Kind, Needs, ParseContext, Parsed, PollError, Record, Request, Role,
    SourceKind, Text,
};
use crate::timeparse::{local_to_unix, Published};
use crate::yaml::ConfigError;

/// Microsoft's release days are Pacific calendar days.
pub const DEFAULT_MSRC_TIMEZONE: &str = "America/Los_Angeles";
/// Microsoft publishes security updates at 10:00 Pacific time.
pub const DEFAULT_MSRC_RELEASE_TIME: &str = "10:00";
/// Pre-release documents are titled "... Early Security Updates" or "... Early Security Release".
pub const DEFAULT_MSRC_EXCLUDE_TITLE: &str = r"(?i)\bearly\b";
/// Only security releases are bulletins: the index also lists "Mariner Release Notes" documents
/// with monthly-looking ids (`1999-Sep` … `2015-Sep`).
pub const DEFAULT_MSRC_INCLUDE_TITLE: &str = r"(?i)\bsecurity\b";
/// Out-of-band security updates are added to the running month's document: read by default.
pub const DEFAULT_MSRC_OUT_OF_BAND: bool = true;
/// The placeholder of `documents_url` that stands for a document's id.
pub const DOCUMENT_ID_PLACEHOLDER: &str = "{id}";

pub const KIND: Kind = Kind {
    name: "msrc",
    roles: &[Role::Bulletins],
    keys: &[
        Key::text("timezone"),
        Key::text("release_time"),
        Key::text("include_title"),
        Key::text("exclude_title"),
        Key::flag("out_of_band"),
        Key::text("documents_url"),
    ],
    configure: |settings| {
        let mut msrc = Msrc::new(configure(settings)?);
        if msrc.config.out_of_band.is_none() && settings.flag("out_of_band") != Some(false) {
            msrc.notice = Some(
                "out-of-band detection is off: the url does not end in /updates and no documents_url is set"
                    .to_string(),
            );
        }
        Ok(std::sync::Arc::new(msrc))
    },
};

#[derive(Debug, Clone)]
pub struct MsrcConfig {
    pub timezone: TimeZone,
    pub release_time: NaiveTime,
    pub include_title: Regex,
    pub exclude_title: Regex,
    /// `None` when out-of-band detection is off.
    pub out_of_band: Option<OutOfBandConfig>,
}

/// Reading the month documents for out-of-band security updates.
#[derive(Debug, Clone, PartialEq)]
pub struct OutOfBandConfig {
    /// A URL with `{id}` where the document's id goes.
    pub documents_url: String,
    /// On the first poll, the documents of bulletins published within this window are read
    /// (`metrics.series_window`: the bulletins a user sees series for).
    pub first_read_window: Duration,
}

impl OutOfBandConfig {
    /// The URL of document `id`, or `None` for an id that cannot be part of a URL path as it is
    /// (real ids are letters, digits and dashes; anything else is not fetched).
    pub fn document_url(&self, id: &str) -> Option<String> {
        let tame = !id.is_empty()
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
            && !id.starts_with('.');
        tame.then(|| self.documents_url.replace(DOCUMENT_ID_PLACEHOLDER, id))
    }
}

/// `{base}/updates` → `{base}/cvrf/{id}`, where the CVRF API serves each document; `None` for a
/// URL of another shape (a mirror, a file), where only `documents_url` can say.
pub fn default_documents_url(url: &str) -> Option<String> {
    url.strip_suffix("/updates")
        .map(|base| format!("{base}/cvrf/{DOCUMENT_ID_PLACEHOLDER}"))
}

fn configure(s: &Settings<'_>) -> Result<MsrcConfig, ConfigError> {
    let release_time = match s.text("release_time") {
        Some(t) => NaiveTime::parse_from_str(&t.value, "%H:%M")
            .or_else(|_| NaiveTime::parse_from_str(&t.value, "%H:%M:%S"))
            .map_err(|_| s.error("release_time", "expected HH:MM, e.g. \"10:00\""))?,
        None => NaiveTime::parse_from_str(DEFAULT_MSRC_RELEASE_TIME, "%H:%M")
            .map_err(|_| s.error_at(None, "release_time", "bad default"))?,
    };
    let out_of_band = s.flag("out_of_band").unwrap_or(DEFAULT_MSRC_OUT_OF_BAND);
    if !out_of_band && s.is_set("documents_url") {
        return Err(s.error("documents_url", "out_of_band is false: no document is read"));
    }
    let documents_url = match s.url_template("documents_url", DOCUMENT_ID_PLACEHOLDER)? {
        Some(url) => Some(url),
        None => default_documents_url(s.url),
    };
    Ok(MsrcConfig {
        timezone: s.timezone(DEFAULT_MSRC_TIMEZONE)?,
        release_time,
        include_title: s.regex_or("include_title", DEFAULT_MSRC_INCLUDE_TITLE)?,
        exclude_title: s.regex_or("exclude_title", DEFAULT_MSRC_EXCLUDE_TITLE)?,
        out_of_band: documents_url
            .filter(|_| out_of_band)
            .map(|documents_url| OutOfBandConfig {
                documents_url,
                first_read_window: s.series_window,
            }),
    })
}

/// Out-of-band days taken from one document. A real month has a handful; a hostile document
/// must not turn into thousands of bulletins.
pub const MAX_OUT_OF_BAND_DAYS: usize = 100;
/// CVE ids named in one out-of-band bulletin's title; more are counted ("and 3 more").
pub const MAX_TITLE_CVES: usize = 30;
/// A day written as midnight UTC can be "tomorrow" in Pacific time for a few hours: found while
/// watching, such a day starts its clock when it is first seen.
const SOON_SECONDS: i64 = 36 * 3600;
/// A document holding a day further in the future is read again on every poll until that
/// day's clock starts, up to this far ahead; later dates are left out as not real.
pub const MAX_WAIT_SECONDS: i64 = 14 * 86400;

#[derive(Debug)]
pub struct Msrc {
    config: MsrcConfig,
    /// Said once when the poller starts: why out-of-band detection is off.
    notice: Option<String>,
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
    #[serde(rename = "CurrentReleaseDate", default, borrow)]
    current_release_date: Option<Text<'a>>,
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// The calendar day of an MSRC date-only value: its first ten characters (`2024-12-10` of
/// `2024-12-10T00:00:00Z`), whatever time of day and offset follow. Never converted to a zone.
pub fn day_as_written(value: &str) -> Result<NaiveDate, String> {
    let value = value.trim();
    let date = value
        .get(..10)
        .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        .filter(|_| value[10..].is_empty() || value[10..].starts_with(['T', 't', ' ']));
    date.ok_or_else(|| format!("{value:?} is not a date (YYYY-MM-DD…)"))
}

/// For a monthly document id (`2026-Nov`, `2018-FEB`: the month in any case), the month's
/// Patch Tuesday. Other ids (`2017-May-B`, `Oct-OOB`) have none.
pub fn patch_tuesday_of_id(id: &str) -> Option<NaiveDate> {
    let (year, month) = id.split_once('-')?;
    if year.len() != 4 || !year.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let year: i32 = year.parse().ok()?;
    let month = MONTHS.iter().position(|m| m.eq_ignore_ascii_case(month))? as u32 + 1;
    second_tuesday(year, month)
}

pub fn second_tuesday(year: i32, month: u32) -> Option<NaiveDate> {
    NaiveDate::from_weekday_of_month_opt(year, month, Weekday::Tue, 2)
}

/// An accepted entry of the index, as reading its document needs it.
#[derive(Debug, Clone)]
struct Listed {
    id: String,
    day: NaiveDate,
    clock_start: i64,
    /// `CurrentReleaseDate` as written: a document is read again when it changes.
    current: String,
}

impl Msrc {
    pub fn config(&self) -> &MsrcConfig {
        &self.config
    }

    pub fn new(config: MsrcConfig) -> Msrc {
        Msrc {
            config,
            notice: None,
        }
    }

    /// The index's accepted entries, as records and (only when out-of-band reading needs them:
    /// the records are all most polls keep) as documents that may be read.
    fn read_index(&self, body: &[u8], now: i64) -> Result<(Parsed, Vec<Listed>), PollError> {
        let keep_listed = self.config.out_of_band.is_some();
        let index: Index = serde_json::from_slice(body)
            .map_err(|e| PollError::parse(format!("not an MSRC updates index: {e}")))?;
        let mut parsed = Parsed {
            records: Vec::with_capacity(index.value.len()),
            ..Parsed::default()
        };
        let mut listed = Vec::new();
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
            let day = match day_as_written(&entry.initial_release_date.0) {
                Ok(d) => d,
                Err(e) => {
                    parsed
                        .skipped
                        .push(format!("entry {n} ({id}): InitialReleaseDate {e}"));
                    continue;
                }
            };
            let released = self.config.include_title.is_match(title)
                && !self.config.exclude_title.is_match(title)
                && patch_tuesday_of_id(id).is_none_or(|patch_tuesday| day >= patch_tuesday);
            let start = clock_start(&self.config, day);
            if !released || start > now {
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
            if !keep_listed {
                continue;
            }
            listed.push(Listed {
                id: id.to_string(),
                day,
                clock_start: start,
                current: entry
                    .current_release_date
                    .map(|c| c.0.trim().to_string())
                    .unwrap_or_default(),
            });
        }
        Ok((parsed, listed))
    }
}

fn clock_start(config: &MsrcConfig, day: NaiveDate) -> i64 {
    local_to_unix(&config.timezone, day.and_time(config.release_time))
}

impl SourceKind for Msrc {
    fn describe(&self) -> String {
        let zone = self.config.timezone.iana_name().unwrap_or("UTC");
        let mut text = format!(
            "Microsoft Security Response Center (CVRF index): a monthly release's clock \
             starts at {} {zone} on its release day",
            self.config.release_time.format("%H:%M")
        );
        if self.config.out_of_band.is_some() {
            text.push_str(
                "; an out-of-band update found in a month's document starts when first \
                 seen, or at the same time of its day for history",
            );
        }
        text
    }

    fn needs(&self) -> Needs<'_> {
        Needs {
            validators_suffice: false,
            other_urls: self
                .config
                .out_of_band
                .iter()
                .map(|o| o.documents_url.as_str())
                .collect(),
        }
    }

    fn notice(&self) -> Option<String> {
        self.notice.clone()
    }

    fn parse(&self, fetched: &Fetched, ctx: &ParseContext<'_>) -> Result<Parsed, PollError> {
        let (mut parsed, listed) = self.read_index(&fetched.body, ctx.now)?;
        if let Some(oob) = &self.config.out_of_band {
            parsed.follow_up = Some(Box::new(Documents::plan(
                &self.config,
                oob,
                listed,
                ctx.state,
                ctx.now,
            )));
        }
        Ok(parsed)
    }
}

// ---------------------------------------------------------------------------------------------
// Out-of-band security updates in month documents
// ---------------------------------------------------------------------------------------------

/// What the kind remembers between polls (stored as the source's state).
#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    /// By document id, for every accepted entry the index has listed.
    documents: BTreeMap<String, DocumentState>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct DocumentState {
    /// The index's `CurrentReleaseDate` when the document was last read, or, for one never
    /// read, when it was first listed.
    current: String,
    /// Read successfully at least once: from then on, an out-of-band update found in it starts
    /// its clock when it is first seen.
    read: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    etag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_modified: Option<String>,
}

impl State {
    /// State this kind wrote; anything unreadable counts as none (a first poll: the documents
    /// of the series window are read again, their findings dated as history).
    fn load(text: Option<&str>) -> Option<State> {
        text.and_then(|t| serde_json::from_str(t).ok())
    }
}

/// One document to read in this poll.
#[derive(Debug)]
struct Reading {
    listed: Listed,
    url: String,
    previous: Option<DocumentState>,
}

/// The documents one poll reads, and what they said.
#[derive(Debug)]
struct Documents {
    config: MsrcConfig,
    now: i64,
    queue: VecDeque<Reading>,
    state: State,
    records: Vec<Record>,
    skipped: Vec<String>,
}

impl Documents {
    /// Which documents to read: on the first poll (no state), those of bulletins published
    /// within the window; later, each one whose `CurrentReleaseDate` changed since it was last
    /// read, and each newly listed one.
    fn plan(
        config: &MsrcConfig,
        oob: &OutOfBandConfig,
        listed: Vec<Listed>,
        state: Option<&str>,
        now: i64,
    ) -> Documents {
        let previous = State::load(state);
        let first_poll = previous.is_none();
        let mut previous = previous.unwrap_or_default().documents;
        let window_start = now.saturating_sub(oob.first_read_window.as_secs() as i64);
        let mut state = State::default();
        let mut queue = VecDeque::new();
        let mut seen = BTreeSet::new();
        let mut skipped = Vec::new();
        for entry in listed {
            if !seen.insert(entry.id.clone()) {
                continue;
            }
            let before = previous.remove(&entry.id);
            let read = match &before {
                None => !first_poll || entry.clock_start >= window_start,
                Some(b) => b.current != entry.current,
            };
            if !read {
                let kept = before.unwrap_or(DocumentState {
                    current: entry.current.clone(),
                    read: false,
                    etag: None,
                    last_modified: None,
                });
                state.documents.insert(entry.id.clone(), kept);
                continue;
            }
            match oob.document_url(&entry.id) {
                Some(url) => queue.push_back(Reading {
                    listed: entry,
                    url,
                    previous: before,
                }),
                None => {
                    skipped.push(format!(
                        "document {:?}: an id that cannot be part of a URL is not read",
                        entry.id
                    ));
                    // Said once: not read again unless the index re-dates it.
                    let unread = DocumentState {
                        current: entry.current,
                        read: false,
                        etag: None,
                        last_modified: None,
                    };
                    state.documents.insert(entry.id, unread);
                }
            }
        }
        // A document that left the index keeps what is known of it: the live index has lost a
        // month for hours and brought it back.
        state.documents.append(&mut previous);
        Documents {
            config: config.clone(),
            now,
            queue,
            state,
            records: Vec::new(),
            skipped,
        }
    }
}

impl FollowUp for Documents {
    fn next_request(&mut self) -> Option<Request> {
        let reading = self.queue.front()?;
        let mut headers = Vec::new();
        if let Some(previous) = reading.previous.as_ref().filter(|p| p.read) {
            if let Some(etag) = &previous.etag {
                headers.push(("If-None-Match".to_string(), etag.clone()));
            }
            if let Some(date) = &previous.last_modified {
                headers.push(("If-Modified-Since".to_string(), date.clone()));
            }
        }
        Some(Request {
            url: reading.url.clone(),
            headers,
            label: format!("document {}", reading.listed.id),
        })
    }

    fn read(&mut self, fetched: Fetched) -> Result<(), PollError> {
        let Some(reading) = self.queue.pop_front() else {
            return Ok(());
        };
        let id = reading.listed.id.clone();
        let watched = reading.previous.as_ref().is_some_and(|p| p.read);
        let read_state = DocumentState {
            current: reading.listed.current.clone(),
            read: true,
            etag: fetched.etag.clone(),
            last_modified: fetched.last_modified.clone(),
        };
        if fetched.not_modified {
            // Unchanged since the last read: what it held is stored already.
            let mut kept = reading.previous.unwrap_or(read_state);
            kept.current = reading.listed.current;
            self.state.documents.insert(id, kept);
            return Ok(());
        }
        let found = out_of_band_days(&fetched.body, &id, reading.listed.day)
            .map_err(|e| e.about(&format!("document {id}")))?;
        self.skipped.extend(
            found
                .skipped
                .into_iter()
                .map(|s| format!("document {id}: {s}")),
        );
        let mut waiting = false;
        for (day, cves) in found.days {
            let ahead = clock_start(&self.config, day) - self.now;
            let published = if ahead > MAX_WAIT_SECONDS {
                self.skipped.push(format!(
                    "document {id}: vulnerabilities first published on {day}, a date in the future, are left out"
                ));
                continue;
            } else if ahead > SOON_SECONDS || (ahead > 0 && !watched) {
                // Its clock has not started yet: read the document again on the next poll.
                waiting = true;
                continue;
            } else if watched {
                Published::FirstSeen
            } else {
                Published::Instant(clock_start(&self.config, day))
            };
            self.records.push(Record {
                id: format!("{id}-OOB-{day}"),
                title: out_of_band_title(day, &cves),
                published,
                tiers: Vec::new(),
                covers: Vec::new(),
            });
        }
        match (waiting, reading.previous) {
            (false, _) => {
                self.state.documents.insert(id, read_state);
            }
            // Read in full next time: a 304 would not say again what is still to come.
            (true, Some(previous)) => {
                self.state.documents.insert(
                    id,
                    DocumentState {
                        etag: None,
                        last_modified: None,
                        ..previous
                    },
                );
            }
            // Not listed in the state: the next poll reads it as a first read.
            (true, None) => {}
        }
        Ok(())
    }

    fn finish(self: Box<Self>, parsed: &mut Parsed) {
        let documents = *self;
        parsed.derived = documents.records;
        parsed.skipped.extend(documents.skipped);
        parsed.state = serde_json::to_string(&documents.state).ok();
    }
}

/// "Out-of-band security update 2025-07-20: CVE-2025-53770, CVE-2025-53771".
fn out_of_band_title(day: NaiveDate, cves: &BTreeSet<String>) -> String {
    let mut title = format!("Out-of-band security update {day}: ");
    let named: Vec<&str> = cves
        .iter()
        .take(MAX_TITLE_CVES)
        .map(String::as_str)
        .collect();
    title.push_str(&named.join(", "));
    if cves.len() > MAX_TITLE_CVES {
        title.push_str(&format!(" and {} more", cves.len() - MAX_TITLE_CVES));
    }
    title
}

/// What one document says about out-of-band security updates.
#[derive(Debug, Default, PartialEq)]
pub struct Findings {
    /// By the day the vulnerabilities were first published: their CVE ids.
    pub days: BTreeMap<NaiveDate, BTreeSet<String>>,
    /// One message per vulnerability that could not be read.
    pub skipped: Vec<String>,
}

#[derive(Deserialize)]
struct Document<'a> {
    #[serde(rename = "DocumentTracking", borrow)]
    tracking: Tracking<'a>,
    #[serde(rename = "Vulnerability", default, borrow)]
    vulnerabilities: Option<Vec<&'a RawValue>>,
}

#[derive(Deserialize)]
struct Tracking<'a> {
    #[serde(rename = "Identification", borrow)]
    identification: Identification<'a>,
}

#[derive(Deserialize)]
struct Identification<'a> {
    #[serde(rename = "ID", borrow)]
    id: Valued<'a>,
}

/// CVRF's `{"Value": "..."}` wrapper.
#[derive(Deserialize)]
struct Valued<'a> {
    #[serde(rename = "Value", default, borrow)]
    value: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct Vulnerability<'a> {
    #[serde(rename = "CVE", default, borrow)]
    cve: Option<Text<'a>>,
    #[serde(rename = "RevisionHistory", default, borrow)]
    revisions: Option<Vec<Revision<'a>>>,
    #[serde(rename = "Remediations", default, borrow)]
    remediations: Option<Vec<Remediation<'a>>>,
}

#[derive(Deserialize)]
struct Revision<'a> {
    #[serde(rename = "Date", default, borrow)]
    date: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct Remediation<'a> {
    #[serde(rename = "Type", default)]
    kind: RemediationType,
    #[serde(rename = "Description", default, borrow)]
    description: Option<Valued<'a>>,
}

/// A remediation's `Type`: CVRF's vendor fix is 2 (written as a number by the JSON API; its
/// name is accepted too).
#[derive(Debug, Default, PartialEq)]
struct RemediationType {
    vendor_fix: bool,
}

impl<'de> Deserialize<'de> for RemediationType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TypeVisitor;
        impl Visitor<'_> for TypeVisitor {
            type Value = RemediationType;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a remediation type")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(RemediationType { vendor_fix: v == 2 })
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(RemediationType { vendor_fix: v == 2 })
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(RemediationType {
                    vendor_fix: v == 2.0,
                })
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                let v = v.trim();
                Ok(RemediationType {
                    vendor_fix: v == "2" || v.eq_ignore_ascii_case("Vendor Fix"),
                })
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(RemediationType::default())
            }
        }
        deserializer.deserialize_any(TypeVisitor)
    }
}

/// A KB article number: digits only (`5062557`, not "Release Notes", not a URL).
fn is_kb_number(text: &str) -> bool {
    let text = text.trim();
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

/// The out-of-band security updates of document `id`, released on `release_day`: each
/// vulnerability that was first published (the oldest date of its own `RevisionHistory`, as
/// written) after the release day and has a vendor fix (`Type` 2) whose description is a KB
/// article number, by the day it was first published.
///
/// That leaves out Chromium/Edge, Visual Studio Code and Teams entries (their vendor fix reads
/// "Release Notes"), cloud-only CVEs (no remediation) and revisions of CVEs first published
/// earlier. `Vulnerability.ReleaseDate` is never used: the API writes `0001-01-01T00:00:00`.
pub fn out_of_band_days(
    body: &[u8],
    id: &str,
    release_day: NaiveDate,
) -> Result<Findings, PollError> {
    let document: Document = serde_json::from_slice(body)
        .map_err(|e| PollError::parse(format!("not a CVRF document: {e}")))?;
    let stated = document
        .tracking
        .identification
        .id
        .value
        .as_ref()
        .map_or("", |v| v.0.trim());
    if !stated.eq_ignore_ascii_case(id) {
        return Err(PollError::parse(format!(
            "the answer is the CVRF document {stated:?}, not {id:?}"
        )));
    }
    let mut findings = Findings::default();
    for (n, raw) in document
        .vulnerabilities
        .unwrap_or_default()
        .into_iter()
        .enumerate()
    {
        let vulnerability: Vulnerability = match serde_json::from_str(raw.get()) {
            Ok(v) => v,
            Err(e) => {
                findings.skipped.push(format!("vulnerability {n}: {e}"));
                continue;
            }
        };
        let has_kb_fix = vulnerability.remediations.iter().flatten().any(|r| {
            r.kind.vendor_fix
                && r.description
                    .as_ref()
                    .and_then(|d| d.value.as_ref())
                    .is_some_and(|v| is_kb_number(&v.0))
        });
        if !has_kb_fix {
            continue;
        }
        let cve = vulnerability.cve.as_ref().map_or("", |c| c.0.trim());
        if cve.is_empty() {
            findings
                .skipped
                .push(format!("vulnerability {n}: no CVE id"));
            continue;
        }
        let first_published = vulnerability
            .revisions
            .iter()
            .flatten()
            .filter_map(|r| r.date.as_ref().and_then(|d| day_as_written(&d.0).ok()))
            .min();
        let Some(day) = first_published else {
            findings.skipped.push(format!(
                "vulnerability {n} ({cve}): no RevisionHistory date"
            ));
            continue;
        };
        if day <= release_day {
            continue;
        }
        if !findings.days.contains_key(&day) && findings.days.len() >= MAX_OUT_OF_BAND_DAYS {
            findings.skipped.push(format!(
                "vulnerability {n} ({cve}): more than {MAX_OUT_OF_BAND_DAYS} out-of-band days in one document"
            ));
            continue;
        }
        findings
            .days
            .entry(day)
            .or_default()
            .insert(cve.to_string());
    }
    Ok(findings)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::sources::Reason;
    use crate::timeparse::zone;
    use chrono::{DateTime, NaiveTime};
    use regex::Regex;
    use std::time::Duration;

    const DOCUMENTS_URL: &str = "https://api.msrc.microsoft.com/cvrf/v3.0/cvrf/{id}";

    fn config(out_of_band: bool) -> MsrcConfig {
        MsrcConfig {
            timezone: zone(DEFAULT_MSRC_TIMEZONE).expect("zone"),
            release_time: NaiveTime::from_hms_opt(10, 0, 0).expect("time"),
            include_title: Regex::new(DEFAULT_MSRC_INCLUDE_TITLE).expect("regex"),
            exclude_title: Regex::new(DEFAULT_MSRC_EXCLUDE_TITLE).expect("regex"),
            out_of_band: out_of_band.then(|| OutOfBandConfig {
                documents_url: DOCUMENTS_URL.to_string(),
                first_read_window: Duration::from_secs(90 * 86400),
            }),
        }
    }

    fn msrc() -> Msrc {
        Msrc::new(config(false))
    }

    #[test]
    fn the_description_gives_the_configured_clock() {
        let mut other = config(false);
        other.timezone = zone("Europe/Berlin").expect("zone");
        other.release_time = NaiveTime::from_hms_opt(19, 30, 0).expect("time");
        assert_eq!(
            Msrc::new(other).describe(),
            "Microsoft Security Response Center (CVRF index): a monthly release's clock starts \
             at 19:30 Europe/Berlin on its release day"
        );
        assert!(Msrc::new(config(true))
            .describe()
            .contains("at 10:00 America/Los_Angeles on its release day; an out-of-band update"));
    }

    fn ts(s: &str) -> i64 {
        DateTime::parse_from_rfc3339(s).expect("valid").timestamp()
    }

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
    }

    fn fetched(body: &str) -> Fetched {
        Fetched {
            body: body.as_bytes().to_vec(),
            ..Default::default()
        }
    }

    fn parse_with(kind: &Msrc, body: &str, now: i64, state: Option<&str>) -> Parsed {
        let ctx = ParseContext {
            now,
            state,
            tier_names: &[],
        };
        kind.parse(&fetched(body), &ctx).expect("parses")
    }

    fn parse_at(body: &str, now: &str) -> Parsed {
        parse_with(&msrc(), body, ts(now), None)
    }

    fn entry(id: &str, title: &str, date: &str) -> String {
        format!(
            r#"{{"ID":"{id}","Alias":"{id}","DocumentTitle":"{title}","Severity":null,"InitialReleaseDate":"{date}","CurrentReleaseDate":"{date}","CvrfUrl":"https://api.msrc.microsoft.com/cvrf/v3.0/cvrf/{id}"}}"#
        )
    }

    fn index(entries: &[String]) -> String {
        format!(
            r#"{{"@odata.context":"https://api.msrc.microsoft.com/cvrf/v3.0/$metadata#Updates","value":[{}]}}"#,
            entries.join(",")
        )
    }

    /// (value, the day it stands for, or None when it is not a date)
    #[test]
    fn the_day_is_the_date_as_written() {
        let cases: &[(&str, Option<&str>)] = &[
            // The three spellings of the live index, with and without `Z`.
            ("2024-08-13T07:00:00Z", Some("2024-08-13")),
            ("2024-11-12T08:00:00Z", Some("2024-11-12")),
            // Midnight UTC: read as a Pacific date it would be 2024-12-09.
            ("2024-12-10T00:00:00Z", Some("2024-12-10")),
            ("2025-04-08T00:00:00Z", Some("2025-04-08")),
            ("2024-03-12T07:00:00", Some("2024-03-12")),
            // Whatever the time of day or offset.
            ("2025-07-20T23:59:59-07:00", Some("2025-07-20")),
            ("2026-02-19T01:07:19Z", Some("2026-02-19")),
            ("2025-07-20T07:00:00.000Z", Some("2025-07-20")),
            ("2025-07-20", Some("2025-07-20")),
            ("  2025-07-20T07:00:00  ", Some("2025-07-20")),
            ("2025-07-20 07:00:00", Some("2025-07-20")),
            ("0001-01-01T00:00:00", Some("0001-01-01")),
            ("not a date", None),
            ("", None),
            ("2025-13-01T00:00:00", None),
            ("2025-02-30T00:00:00", None),
            ("20250720", None),
            ("2025-7-20T00:00:00", None),
            ("2025-07-201", None),
            ("2025-07-20X07:00:00", None),
            ("é025-07-20", None),
        ];
        for (value, expected) in cases {
            assert_eq!(day_as_written(value).ok(), expected.map(day), "{value:?}");
        }
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
            // Midnight UTC. Read as a Pacific date, each would fall on the Monday before its
            // Patch Tuesday and be taken for a pre-release.
            (
                "2024-Dec",
                "December 2024 Security Updates",
                "2024-12-10T00:00:00Z",
                Some("2024-12-10T18:00:00Z"),
            ),
            (
                "2025-Apr",
                "April 2025 Security Updates",
                "2025-04-08T00:00:00Z",
                Some("2025-04-08T17:00:00Z"),
            ),
            (
                "2025-Dec",
                "December 2025 Security Updates",
                "2025-12-09T00:00:00Z",
                Some("2025-12-09T18:00:00Z"),
            ),
            // And without the Z.
            (
                "2025-Jan",
                "January 2025 Security Updates",
                "2025-01-14T00:00:00",
                Some("2025-01-14T18:00:00Z"),
            ),
            // An offset does not move the day either.
            (
                "2024-Jan",
                "January 2024 Security Updates",
                "2024-01-09T00:00:00-08:00",
                Some("2024-01-09T18:00:00Z"),
            ),
            // Out-of-band ids: no Patch Tuesday rule; read as Pacific the day would be May 7.
            (
                "2017-May-B",
                "May 8 2017 Security Updates",
                "2017-05-08T00:00:00Z",
                Some("2017-05-08T17:00:00Z"),
            ),
            (
                "Oct-OOB",
                "October 27, 2016 Security Update",
                "2016-10-27T07:00:00",
                Some("2016-10-27T17:00:00Z"),
            ),
            // A monthly id in capitals gets the Patch Tuesday rule, and keeps its spelling.
            (
                "2018-FEB",
                "February 2018 Security Updates",
                "2018-02-13T08:00:00",
                Some("2018-02-13T18:00:00Z"),
            ),
            (
                "2018-FEB",
                "February 2018 Security Updates",
                "2018-02-06T08:00:00",
                None,
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
            // Not security releases: Mariner release notes, with monthly-looking ids dated
            // the 2nd, and a document without a title.
            (
                "1999-Sep",
                "Mariner Release Notes",
                "1999-09-02T00:00:00Z",
                None,
            ),
            (
                "2015-Sep",
                "Mariner Release Notes",
                "2015-09-02T00:00:00Z",
                None,
            ),
            (
                "2016-Nov",
                "Mariner Release Notes",
                "2016-11-08T00:00:00Z",
                None,
            ),
            ("2023-Jun", "", "2023-06-13T07:00:00", None),
            // The clock start lies in the future (now is 2026-11-10T12:00Z, 04:00 Pacific).
            (
                "2026-Nov",
                "November 2026 Security Updates",
                "2026-11-10T08:00:00",
                None,
            ),
            (
                "2026-Nov",
                "November 2026 Security Updates",
                "2026-11-10T00:00:00Z",
                None,
            ),
        ];
        for (id, title, date, expected) in cases {
            let parsed = parse_at(&index(&[entry(id, title, date)]), "2026-11-10T12:00:00Z");
            match expected {
                Some(start) => {
                    assert_eq!(parsed.records.len(), 1, "{id} {date}");
                    assert_eq!(parsed.records[0].id, *id);
                    assert_eq!(parsed.records[0].title, *title);
                    assert_eq!(
                        parsed.records[0].published,
                        Published::Instant(ts(start)),
                        "{id} {date}"
                    );
                }
                None => {
                    assert!(
                        parsed.records.is_empty(),
                        "{id} {date} must not be a bulletin"
                    );
                    assert_eq!(parsed.excluded, 1, "{id} {date}");
                }
            }
        }
    }

    #[test]
    fn include_and_exclude_title_are_the_rules() {
        let mut config = config(false);
        config.include_title = Regex::new(r"(?i)security|mariner").expect("regex");
        config.exclude_title = Regex::new(r"(?i)\bearly\b|December").expect("regex");
        let body = index(&[
            entry("1999-Sep", "Mariner Release Notes", "1999-09-02T00:00:00Z"),
            entry(
                "2024-Dec",
                "December 2024 Security Updates",
                "2024-12-10T00:00:00Z",
            ),
            entry(
                "2024-Nov",
                "November 2024 Security Updates",
                "2024-11-12T08:00:00Z",
            ),
        ]);
        let parsed = parse_with(&Msrc::new(config), &body, ts("2026-11-10T12:00:00Z"), None);
        let ids: Vec<_> = parsed.records.iter().map(|r| r.id.as_str()).collect();
        // 1999-Sep passes this title rule, but is dated before its month's second Tuesday.
        assert_eq!(ids, vec!["2024-Nov"]);
        assert_eq!(parsed.excluded, 2);
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
        // A document without a title is not known to be a security release.
        assert_eq!(
            titles,
            vec![("2023-Mar", "March 2023 \u{201c}Security\u{201d} Updates")]
        );
        assert_eq!(parsed.excluded, 2);
        assert_eq!(parsed.skipped.len(), 1);
    }

    #[test]
    fn garbage_is_a_parse_error() {
        let ctx = ParseContext {
            now: 0,
            state: None,
            tier_names: &[],
        };
        let err = msrc()
            .parse(&fetched("<html>maintenance</html>"), &ctx)
            .expect_err("garbage");
        assert_eq!(err.reason, Reason::Parse);
    }

    #[test]
    fn patch_tuesdays() {
        let cases = [
            ("2024-Mar", Some("2024-03-12")),
            ("2025-Oct", Some("2025-10-14")),
            ("2018-FEB", Some("2018-02-13")),
            ("2018-feb", Some("2018-02-13")),
            ("1999-Sep", Some("1999-09-14")),
            ("2017-May-B", None),
            ("Oct-OOB", None),
            ("+202-Mar", None),
            ("2024-March", None),
        ];
        for (id, expected) in cases {
            assert_eq!(patch_tuesday_of_id(id), expected.map(day), "{id}");
        }
    }

    // -----------------------------------------------------------------------------------------
    // Out-of-band updates
    // -----------------------------------------------------------------------------------------

    /// A vulnerability of a CVRF document: its CVE, the dates of its revision history and its
    /// remediations as (Type, Description, SubType).
    fn vulnerability(cve: &str, revisions: &[&str], remediations: &[(u8, &str, &str)]) -> String {
        let revisions: Vec<String> = revisions
            .iter()
            .enumerate()
            .map(|(n, d)| {
                format!(
                    r#"{{"Number":"1.{n}","Date":"{d}","Description":{{"Value":"<p>Information published.</p>\n"}}}}"#
                )
            })
            .collect();
        let remediations: Vec<String> = remediations
            .iter()
            .map(|(t, description, subtype)| {
                format!(
                    r#"{{"Description":{{"Value":"{description}"}},"URL":"https://catalog.update.microsoft.com/v7/site/Search.aspx?q=KB{description}","Supercedence":"","ProductID":["11923"],"Type":{t},"DateSpecified":false,"AffectedFiles":[],"RestartRequired":{{"Value":"Yes"}},"SubType":"{subtype}","FixedBuild":"10.0.26100.4652"}}"#
                )
            })
            .collect();
        format!(
            r#"{{"Title":{{"Value":"{cve} title"}},"Notes":[{{"Title":"Description","Type":2,"Ordinal":"20","Value":"x"}}],"DiscoveryDateSpecified":false,"ReleaseDateSpecified":false,"CVE":"{cve}","ProductStatuses":[{{"ProductID":["11923"],"Type":3}}],"Threats":[],"CVSSScoreSets":[],"Remediations":[{}],"Acknowledgments":[],"Ordinal":"1","RevisionHistory":[{}]}}"#,
            remediations.join(","),
            revisions.join(",")
        )
    }

    fn document(id: &str, initial: &str, current: &str, vulnerabilities: &[String]) -> String {
        format!(
            r#"{{"DocumentTitle":{{"Value":"{id} Security Updates"}},"DocumentType":{{"Value":"Security Update"}},"DocumentPublisher":{{"ContactDetails":{{"Value":"secure@microsoft.com"}},"IssuingAuthority":{{"Value":"x"}},"Type":0}},"DocumentTracking":{{"Identification":{{"ID":{{"Value":"{id}"}},"Alias":{{"Value":"{id}"}}}},"Status":2,"Version":"1.0","RevisionHistory":[{{"Number":"1","Date":"{initial}","Description":{{"Value":"{id} Security Updates"}}}}],"InitialReleaseDate":"{initial}","CurrentReleaseDate":"{current}"}},"DocumentNotes":[],"ProductTree":{{"Branch":[],"FullProductName":[{{"ProductID":"11923","Value":"Windows 11 Version 24H2 for x64-based Systems"}}]}},"Vulnerability":[{}]}}"#,
            vulnerabilities.join(",")
        )
    }

    const KB: (u8, &str, &str) = (2, "5062553", "Security Update");

    #[test]
    fn out_of_band_days_of_a_document() {
        let body = document(
            "2025-Jul",
            "2025-07-08T07:00:00",
            "2025-07-22T07:00:00",
            &[
                // Patch Tuesday CVEs, one of them revised since.
                vulnerability("CVE-2025-49704", &["2025-07-08T07:00:00"], &[KB]),
                vulnerability(
                    "CVE-2025-49706",
                    &["2025-07-08T07:00:00", "2025-07-20T07:00:00"],
                    &[KB],
                ),
                // Out of band: two on one day (one as midnight UTC), a hotpatch on another.
                vulnerability("CVE-2025-53770", &["2025-07-20T07:00:00"], &[KB]),
                vulnerability(
                    "CVE-2025-53771",
                    &["2025-07-20T00:00:00Z"],
                    &[(2, "5002741", "Security Update"), (3, "5002741", "")],
                ),
                vulnerability(
                    "CVE-2025-99001",
                    &["2025-07-23T07:00:00Z", "2025-07-24T07:00:00Z"],
                    &[(2, "5062660", "Security Hotpatch Update")],
                ),
                vulnerability(
                    "CVE-2025-99002",
                    &["2025-07-23T07:00:00"],
                    &[(2, "5062554", "Monthly Rollup")],
                ),
                // Not vendor-fix KBs: Chromium's release notes, a cloud service, a mitigation.
                vulnerability(
                    "CVE-2025-7656",
                    &["2025-07-17T07:00:00"],
                    &[(2, "Release Notes", "Security Update")],
                ),
                vulnerability("CVE-2025-47981", &["2025-07-10T07:00:00"], &[]),
                vulnerability(
                    "CVE-2025-99003",
                    &["2025-07-11T07:00:00"],
                    &[(1, "5062553", "")],
                ),
                // A revision, in this document, of a CVE first published a month before.
                vulnerability(
                    "CVE-2025-33053",
                    &["2025-07-15T07:00:00", "2025-06-10T07:00:00"],
                    &[KB],
                ),
            ],
        );
        let found =
            out_of_band_days(body.as_bytes(), "2025-Jul", day("2025-07-08")).expect("reads");
        let days: Vec<(String, Vec<&str>)> = found
            .days
            .iter()
            .map(|(d, cves)| (d.to_string(), cves.iter().map(String::as_str).collect()))
            .collect();
        assert_eq!(
            days,
            vec![
                (
                    "2025-07-20".to_string(),
                    vec!["CVE-2025-53770", "CVE-2025-53771"]
                ),
                (
                    "2025-07-23".to_string(),
                    vec!["CVE-2025-99001", "CVE-2025-99002"]
                ),
            ]
        );
        assert!(found.skipped.is_empty(), "{:?}", found.skipped);
    }

    #[test]
    fn a_document_that_is_not_the_one_asked_for_is_an_error() {
        let garbage: &[(&str, &str)] = &[
            ("<html>maintenance</html>", "not a CVRF document"),
            ("[]", "not a CVRF document"),
            (r#"{"error":{"code":"NotFound"}}"#, "not a CVRF document"),
            (
                &document(
                    "2025-Aug",
                    "2025-08-12T07:00:00",
                    "2025-08-12T07:00:00",
                    &[],
                ),
                "\"2025-Aug\", not \"2025-Jul\"",
            ),
        ];
        for (body, message) in garbage {
            let err =
                out_of_band_days(body.as_bytes(), "2025-Jul", day("2025-07-08")).expect_err(body);
            assert_eq!(err.reason, Reason::Parse);
            assert!(err.message.contains(message), "{}", err.message);
        }
        // Ids compare without regard to case; no vulnerabilities is no out-of-band update.
        let empty = r#"{"DocumentTracking":{"Identification":{"ID":{"Value":"2018-Feb"}}},"Vulnerability":null}"#;
        assert_eq!(
            out_of_band_days(empty.as_bytes(), "2018-FEB", day("2018-02-13")).expect("reads"),
            Findings::default()
        );
    }

    #[test]
    fn malformed_vulnerabilities_are_skipped() {
        let body = document(
            "2025-Jul",
            "2025-07-08T07:00:00",
            "2025-07-22T07:00:00",
            &[
                r#"{"CVE":5}"#.to_string(),
                vulnerability("", &["2025-07-20T07:00:00"], &[KB]),
                vulnerability("CVE-2025-90001", &["soon"], &[KB]),
                vulnerability("CVE-2025-90002", &[], &[KB]),
                vulnerability("CVE-2025-53770", &["2025-07-20T07:00:00"], &[KB]),
            ],
        );
        let found =
            out_of_band_days(body.as_bytes(), "2025-Jul", day("2025-07-08")).expect("reads");
        assert_eq!(found.days.len(), 1);
        assert_eq!(found.skipped.len(), 4, "{:?}", found.skipped);
    }

    #[test]
    fn a_hostile_document_makes_a_bounded_number_of_bulletins() {
        let vulnerabilities: Vec<String> = (0..300)
            .map(|n| {
                let d = day("2025-07-09") + chrono::Days::new(n);
                vulnerability(
                    &format!("CVE-2025-{n:05}"),
                    &[&format!("{d}T07:00:00")],
                    &[KB],
                )
            })
            .collect();
        let body = document(
            "2025-Jul",
            "2025-07-08T07:00:00",
            "2025-07-22T07:00:00",
            &vulnerabilities,
        );
        let found =
            out_of_band_days(body.as_bytes(), "2025-Jul", day("2025-07-08")).expect("reads");
        assert_eq!(found.days.len(), MAX_OUT_OF_BAND_DAYS);
        assert_eq!(found.skipped.len(), 300 - MAX_OUT_OF_BAND_DAYS);
        let many: BTreeSet<String> = (0..40).map(|n| format!("CVE-2025-{n:05}")).collect();
        let title = out_of_band_title(day("2025-07-20"), &many);
        assert!(title.ends_with("CVE-2025-00029 and 10 more"), "{title}");
    }

    /// Drives one poll of the kind with out-of-band reading on: the index, then each document
    /// it asks for from `documents` (by id; a missing one answers 304).
    struct Poll {
        parsed: Parsed,
        requested: Vec<Request>,
    }

    fn poll(
        index_body: &str,
        documents: &[(&str, String)],
        now: &str,
        state: Option<&str>,
    ) -> Result<Poll, PollError> {
        let kind = Msrc::new(config(true));
        let ctx = ParseContext {
            now: ts(now),
            state,
            tier_names: &[],
        };
        let mut parsed = kind.parse(&fetched(index_body), &ctx)?;
        let mut requested = Vec::new();
        let mut follow_up = parsed.follow_up.take().expect("documents are read");
        while let Some(request) = follow_up.next_request() {
            let id = request
                .label
                .strip_prefix("document ")
                .expect("label")
                .to_string();
            requested.push(request);
            let answer = match documents.iter().find(|(d, _)| *d == id) {
                Some((_, body)) => Fetched {
                    body: body.as_bytes().to_vec(),
                    etag: Some(format!("\"{id}-etag\"")),
                    ..Default::default()
                },
                None => Fetched {
                    not_modified: true,
                    ..Default::default()
                },
            };
            follow_up.read(answer)?;
        }
        follow_up.finish(&mut parsed);
        Ok(Poll { parsed, requested })
    }

    fn oob_records(parsed: &Parsed) -> Vec<(&str, &str, &Published)> {
        parsed
            .derived
            .iter()
            .map(|r| (r.id.as_str(), r.title.as_str(), &r.published))
            .collect()
    }

    fn july_index(current: &str) -> String {
        index(&[
            entry(
                "2025-Apr",
                "April 2025 Security Updates",
                "2025-04-08T00:00:00Z",
            ),
            format!(
                r#"{{"ID":"2025-Jul","Alias":"2025-Jul","DocumentTitle":"July 2025 Security Updates","Severity":null,"InitialReleaseDate":"2025-07-08T07:00:00Z","CurrentReleaseDate":"{current}","CvrfUrl":"https://api.msrc.microsoft.com/cvrf/v3.0/cvrf/2025-Jul"}}"#
            ),
            entry(
                "2025-Aug",
                "August 2025 Early Security Updates",
                "2025-08-05T07:00:00Z",
            ),
        ])
    }

    fn july_document(current: &str, extra: &[String]) -> String {
        let mut vulnerabilities = vec![
            vulnerability("CVE-2025-49704", &["2025-07-08T07:00:00"], &[KB]),
            vulnerability("CVE-2025-53770", &["2025-07-20T07:00:00"], &[KB]),
        ];
        vulnerabilities.extend_from_slice(extra);
        document("2025-Jul", "2025-07-08T07:00:00", current, &vulnerabilities)
    }

    #[test]
    fn history_found_on_a_first_read_starts_at_the_release_time_of_its_day() {
        let first = poll(
            &july_index("2025-07-22T07:00:00Z"),
            &[("2025-Jul", july_document("2025-07-22T07:00:00Z", &[]))],
            "2025-07-25T12:00:00Z",
            None,
        )
        .expect("polls");
        // April lies outside the 90-day window of the first poll; August is an early document.
        let urls: Vec<&str> = first.requested.iter().map(|r| r.url.as_str()).collect();
        assert_eq!(
            urls,
            vec!["https://api.msrc.microsoft.com/cvrf/v3.0/cvrf/2025-Jul"]
        );
        assert!(first.requested[0].headers.is_empty());
        assert_eq!(
            oob_records(&first.parsed),
            vec![(
                "2025-Jul-OOB-2025-07-20",
                "Out-of-band security update 2025-07-20: CVE-2025-53770",
                &Published::Instant(ts("2025-07-20T17:00:00Z"))
            )]
        );
        // The index's entries are what the source counts.
        assert_eq!(first.parsed.records.len(), 2);
        let state = first.parsed.state.clone().expect("state");

        // Unchanged index: no document is read again.
        let same = poll(
            &july_index("2025-07-22T07:00:00Z"),
            &[],
            "2025-07-25T12:15:00Z",
            Some(&state),
        )
        .expect("polls");
        assert!(same.requested.is_empty());
        assert!(same.parsed.derived.is_empty());
        assert_eq!(same.parsed.state.as_deref(), Some(state.as_str()));

        // Re-dated: read again with its validator; a CVE added while watching starts when it
        // is first seen, and the one found before keeps its clock (stored).
        let added = vulnerability(
            "CVE-2025-59287",
            &["2025-07-28T00:00:00Z"],
            &[(2, "5070881", "Security Update")],
        );
        let later = poll(
            &july_index("2025-07-28T07:00:00Z"),
            &[("2025-Jul", july_document("2025-07-28T07:00:00Z", &[added]))],
            "2025-07-28T19:00:00Z",
            Some(&state),
        )
        .expect("polls");
        assert_eq!(later.requested.len(), 1);
        assert_eq!(
            later.requested[0].headers,
            vec![("If-None-Match".to_string(), "\"2025-Jul-etag\"".to_string())]
        );
        assert_eq!(
            oob_records(&later.parsed),
            vec![
                (
                    "2025-Jul-OOB-2025-07-20",
                    "Out-of-band security update 2025-07-20: CVE-2025-53770",
                    &Published::FirstSeen
                ),
                (
                    "2025-Jul-OOB-2025-07-28",
                    "Out-of-band security update 2025-07-28: CVE-2025-59287",
                    &Published::FirstSeen
                ),
            ]
        );

        // Re-dated again, and answered 304: nothing new, the new date remembered.
        let state = later.parsed.state.expect("state");
        let unchanged = poll(
            &july_index("2025-07-29T07:00:00Z"),
            &[],
            "2025-07-29T19:00:00Z",
            Some(&state),
        )
        .expect("polls");
        assert_eq!(unchanged.requested.len(), 1);
        assert!(unchanged.parsed.derived.is_empty());
        let state = unchanged.parsed.state.expect("state");
        assert!(poll(
            &july_index("2025-07-29T07:00:00Z"),
            &[],
            "2025-07-29T19:15:00Z",
            Some(&state)
        )
        .expect("polls")
        .requested
        .is_empty());
    }

    #[test]
    fn a_failed_document_fails_the_poll() {
        let kind = Msrc::new(config(true));
        let ctx = ParseContext {
            now: ts("2025-07-25T12:00:00Z"),
            state: None,
            tier_names: &[],
        };
        let mut parsed = kind
            .parse(&fetched(&july_index("2025-07-22T07:00:00Z")), &ctx)
            .expect("index");
        let mut follow_up = parsed.follow_up.take().expect("documents");
        assert!(follow_up.next_request().is_some());
        let err = follow_up
            .read(fetched("{\"truncated\": "))
            .expect_err("garbage");
        assert_eq!(err.reason, Reason::Parse);
        assert!(
            err.message
                .starts_with("document 2025-Jul: not a CVRF document"),
            "{}",
            err.message
        );
    }

    #[test]
    fn history_of_today_waits_for_its_release_time() {
        let body = july_document("2025-07-20T07:00:00Z", &[]);
        // 08:00 Pacific on the 20th: the history clock (10:00) has not started.
        let early = poll(
            &july_index("2025-07-20T07:00:00Z"),
            &[("2025-Jul", body.clone())],
            "2025-07-20T15:00:00Z",
            None,
        )
        .expect("polls");
        assert!(early.parsed.derived.is_empty());
        // The document is read again on the next poll, still as history.
        let state = early.parsed.state.expect("state");
        let on_time = poll(
            &july_index("2025-07-20T07:00:00Z"),
            &[("2025-Jul", body)],
            "2025-07-20T17:30:00Z",
            Some(&state),
        )
        .expect("polls");
        assert_eq!(on_time.requested.len(), 1);
        assert_eq!(
            oob_records(&on_time.parsed),
            vec![(
                "2025-Jul-OOB-2025-07-20",
                "Out-of-band security update 2025-07-20: CVE-2025-53770",
                &Published::Instant(ts("2025-07-20T17:00:00Z"))
            )]
        );
    }

    #[test]
    fn a_newly_listed_or_long_unread_document_is_read_as_history() {
        // First poll in September: July is within the window, April is not.
        let index_body = july_index("2025-07-22T07:00:00Z");
        let first = poll(
            &index_body,
            &[("2025-Jul", july_document("2025-07-22T07:00:00Z", &[]))],
            "2025-09-01T12:00:00Z",
            None,
        )
        .expect("polls");
        assert_eq!(first.requested.len(), 1);
        // Microsoft re-dates April: never read before, so what it holds is history.
        let april = document(
            "2025-Apr",
            "2025-04-08T00:00:00Z",
            "2025-09-02T07:00:00Z",
            &[vulnerability(
                "CVE-2025-29824",
                &["2025-04-18T00:00:00Z"],
                &[(2, "5055523", "Security Update")],
            )],
        );
        let redated = index_body.replace(
            r#""InitialReleaseDate":"2025-04-08T00:00:00Z","CurrentReleaseDate":"2025-04-08T00:00:00Z""#,
            r#""InitialReleaseDate":"2025-04-08T00:00:00Z","CurrentReleaseDate":"2025-09-02T07:00:00Z""#,
        );
        let state = first.parsed.state.expect("state");
        let later = poll(
            &redated,
            &[("2025-Apr", april)],
            "2025-09-02T19:00:00Z",
            Some(&state),
        )
        .expect("polls");
        assert_eq!(
            oob_records(&later.parsed),
            vec![(
                "2025-Apr-OOB-2025-04-18",
                "Out-of-band security update 2025-04-18: CVE-2025-29824",
                &Published::Instant(ts("2025-04-18T17:00:00Z"))
            )]
        );
    }

    #[test]
    fn ids_that_cannot_be_part_of_a_url_are_not_read() {
        let body = index(&[entry(
            "../../etc/passwd",
            "Security Update",
            "2025-07-20T07:00:00Z",
        )]);
        let polled = poll(&body, &[], "2025-07-25T12:00:00Z", None).expect("polls");
        assert!(polled.requested.is_empty());
        assert_eq!(polled.parsed.records.len(), 1);
        assert_eq!(polled.parsed.skipped.len(), 1);
    }

    // -----------------------------------------------------------------------------------------
    // Captured-shape fixtures (tests/fixtures/msrc/README.md says where each comes from)
    // -----------------------------------------------------------------------------------------

    const CAPTURED_INDEX: &str = include_str!("../../tests/fixtures/msrc/updates.json");

    #[test]
    fn the_captured_index_gives_every_security_month_and_no_mariner_entry() {
        let parsed = parse_at(CAPTURED_INDEX, "2026-07-06T22:28:06Z");
        assert!(parsed.skipped.is_empty(), "{:?}", parsed.skipped);
        let ids: Vec<&str> = parsed.records.iter().map(|r| r.id.as_str()).collect();
        // 112 entries: 64 Mariner release notes, the July 2026 early document, 47 releases.
        assert_eq!(parsed.records.len(), 47, "{ids:?}");
        assert_eq!(parsed.excluded, 65);
        assert!(parsed.records.iter().all(|r| !r.title.contains("Mariner")));
        for id in ["2017-May-B", "2018-FEB", "2016-Nov", "2017-Feb", "2026-Jun"] {
            assert!(ids.contains(&id), "{id}");
        }
        assert!(!ids.contains(&"2026-Jul"));
        let start = |id: &str| {
            parsed
                .records
                .iter()
                .find(|r| r.id == id)
                .map(|r| r.published.clone())
        };
        // Every month written as midnight UTC starts at 10:00 Pacific on the day as written.
        for (id, expected) in [
            ("2020-Dec", "2020-12-08T18:00:00Z"),
            ("2024-Oct", "2024-10-08T17:00:00Z"),
            ("2024-Dec", "2024-12-10T18:00:00Z"),
            ("2025-Jan", "2025-01-14T18:00:00Z"),
            ("2025-Jun", "2025-06-10T17:00:00Z"),
            ("2025-Sep", "2025-09-09T17:00:00Z"),
            ("2025-Nov", "2025-11-11T18:00:00Z"),
            ("2025-Dec", "2025-12-09T18:00:00Z"),
            // The other spellings, and the delayed February 2017 (third Tuesday).
            ("2024-Aug", "2024-08-13T17:00:00Z"),
            ("2024-Nov", "2024-11-12T18:00:00Z"),
            ("2017-Feb", "2017-02-21T18:00:00Z"),
            ("2018-FEB", "2018-02-13T18:00:00Z"),
        ] {
            assert_eq!(start(id), Some(Published::Instant(ts(expected))), "{id}");
        }
    }

    /// The reference's Patch Tuesdays (10:00 Pacific of each second Tuesday, 2023-2025) are
    /// exactly the clock starts of the captured index's months.
    #[test]
    fn the_captured_index_agrees_with_the_reference_patch_tuesdays() {
        let parsed = parse_at(CAPTURED_INDEX, "2026-07-06T22:28:06Z");
        let reference = include_str!("../../tests/fixtures/msrc/patch-tuesdays-2023-2025.csv");
        let mut checked = 0;
        for line in reference.lines().skip(1) {
            let cells: Vec<&str> = line.split(',').collect();
            let (id, release) = (cells[0], cells[2]);
            let record = parsed.records.iter().find(|r| r.id == id).expect(id);
            assert_eq!(record.published, Published::Instant(ts(release)), "{id}");
            checked += 1;
        }
        assert_eq!(checked, 36);
    }

    fn captured_days(file: &str, id: &str, release_day: &str) -> Vec<(String, Vec<String>)> {
        let path = crate::sources::tests::repo_file(&format!("tests/fixtures/msrc/{file}"));
        let body = std::fs::read(&path).expect("fixture");
        let found = out_of_band_days(&body, id, day(release_day)).expect("reads");
        assert!(found.skipped.is_empty(), "{:?}", found.skipped);
        found
            .days
            .into_iter()
            .map(|(d, cves)| (d.to_string(), cves.into_iter().collect()))
            .collect()
    }

    #[test]
    fn captured_documents() {
        // July 2025: SharePoint's out-of-band CVEs (first published on the 19th and the 20th,
        // the revision history out of order) and SQLite's, documented in August with the KBs
        // of January 2026. Not: Patch Tuesday CVEs, revised or not; Chromium (vendor fix
        // "Release Notes", before or after the release day); Azure Machine Learning (no
        // remediation); Azure Linux (vendor fix "CBL-Mariner Releases").
        assert_eq!(
            captured_days("cvrf-2025-Jul.json", "2025-Jul", "2025-07-08"),
            vec![
                ("2025-07-19".to_string(), vec!["CVE-2025-53770".to_string()]),
                ("2025-07-20".to_string(), vec!["CVE-2025-53771".to_string()]),
                ("2025-08-14".to_string(), vec!["CVE-2025-6965".to_string()]),
            ]
        );
        // January 2026: Office's out-of-band update of the 26th.
        assert_eq!(
            captured_days("cvrf-2026-Jan.json", "2026-Jan", "2026-01-13"),
            vec![("2026-01-26".to_string(), vec!["CVE-2026-21509".to_string()])]
        );
        // October 2025: WSUS's out-of-band update of the 23rd revised a Patch Tuesday CVE
        // with new KBs. A revision is not a new vulnerability: the rule does not see it
        // (docs/sources.md, "Limits").
        assert!(captured_days("cvrf-2025-Oct.json", "2025-Oct", "2025-10-14").is_empty());
    }

    #[test]
    fn a_document_that_leaves_the_index_and_comes_back_is_still_watched() {
        let first = poll(
            &july_index("2025-07-18T07:00:00Z"),
            &[(
                "2025-Jul",
                document(
                    "2025-Jul",
                    "2025-07-08T07:00:00",
                    "2025-07-18T07:00:00Z",
                    &[vulnerability(
                        "CVE-2025-49704",
                        &["2025-07-08T07:00:00"],
                        &[KB],
                    )],
                ),
            )],
            "2025-07-18T20:00:00Z",
            None,
        )
        .expect("polls");
        let state = first.parsed.state.expect("state");
        let without_july = index(&[entry(
            "2025-Apr",
            "April 2025 Security Updates",
            "2025-04-08T00:00:00Z",
        )]);
        let gone = poll(&without_july, &[], "2025-07-19T20:00:00Z", Some(&state)).expect("polls");
        assert!(gone.requested.is_empty());
        let state = gone.parsed.state.expect("state");
        let added = vulnerability("CVE-2025-53771", &["2025-07-20T07:00:00"], &[KB]);
        let back = poll(
            &july_index("2025-07-20T07:00:00Z"),
            &[("2025-Jul", july_document("2025-07-20T07:00:00Z", &[added]))],
            "2025-07-20T20:00:00Z",
            Some(&state),
        )
        .expect("polls");
        assert_eq!(back.requested.len(), 1);
        assert_eq!(
            oob_records(&back.parsed),
            vec![(
                "2025-Jul-OOB-2025-07-20",
                "Out-of-band security update 2025-07-20: CVE-2025-53770, CVE-2025-53771",
                &Published::FirstSeen
            )]
        );
    }

    #[test]
    fn a_document_holding_a_later_day_is_read_again_until_its_clock_starts() {
        // The offline demo's documents are files that already hold their month's out-of-band
        // day: it becomes a bulletin when its day comes, at 10:00 Pacific.
        let later = vulnerability("CVE-2025-99100", &["2025-07-28T00:00:00Z"], &[KB]);
        let far = vulnerability("CVE-2025-99101", &["2025-09-30T07:00:00Z"], &[KB]);
        let body = july_document("2025-07-18T07:00:00Z", &[later, far]);
        let index_body = july_index("2025-07-18T07:00:00Z");
        let documents = [("2025-Jul", body)];
        let before = poll(&index_body, &documents, "2025-07-20T18:00:00Z", None).expect("polls");
        let ids: Vec<&str> = before
            .parsed
            .derived
            .iter()
            .map(|r| r.id.as_str())
            .collect();
        assert_eq!(ids, vec!["2025-Jul-OOB-2025-07-20"]);
        // September is too far ahead to be real.
        assert_eq!(
            before.parsed.skipped.len(),
            1,
            "{:?}",
            before.parsed.skipped
        );
        let mut state = before.parsed.state.expect("state");
        for now in ["2025-07-21T18:00:00Z", "2025-07-28T16:59:59Z"] {
            let again = poll(&index_body, &documents, now, Some(&state)).expect("polls");
            assert_eq!(again.requested.len(), 1, "{now}");
            assert!(again.requested[0].headers.is_empty());
            assert!(!again.parsed.derived.iter().any(|r| r.id.ends_with("07-28")));
            state = again.parsed.state.expect("state");
        }
        let on_the_day = poll(
            &index_body,
            &documents,
            "2025-07-28T17:00:00Z",
            Some(&state),
        )
        .expect("polls");
        assert!(on_the_day
            .parsed
            .derived
            .iter()
            .any(|r| r.id == "2025-Jul-OOB-2025-07-28"
                && r.published == Published::Instant(ts("2025-07-28T17:00:00Z"))));
        let state = on_the_day.parsed.state.expect("state");
        let done = poll(
            &index_body,
            &documents,
            "2025-07-28T17:15:00Z",
            Some(&state),
        )
        .expect("polls");
        assert!(done.requested.is_empty());
    }
}
