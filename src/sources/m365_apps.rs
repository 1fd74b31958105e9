//! `m365_apps`: Microsoft 365 Apps (Office 365) builds per update channel, from
//! `GET https://clients.config.office.net/releases/v1.0/OfficeReleases`: the clock of an
//! "Office 365 updates" tier.
//!
//! Microsoft does not document the answer. What this kind relies on comes from real captures
//! (tests/fixtures/m365/README.md names them):
//! - It is a JSON array of channels, each `{channel, channelId, alternateNames, latestVersion,
//!   officeVersions: [{legacyVersion, releaseVersion, buildVersion, availabilityDate,
//!   endOfSupportDate, cdnBaseUrl}]}`. Other fields are ignored.
//! - `channelId` is the long id (`Current`, `MonthlyEnterprise`, `SemiAnnual`, `BetaChannel`,
//!   `PerpetualVL2024`, ...); `channel` a short internal name (`Monthly`, `MEC`, `SAC`, `Beta`,
//!   `LTSB2024`, ...). The id of a bulletin is `{channelId}-{legacyVersion}`; its title, as the
//!   specification words it, "Microsoft 365 Apps {channel} {releaseVersion} (Build
//!   {legacyVersion})", so it carries the short name ("Microsoft 365 Apps MEC 2412 (Build
//!   16.0.18324.20240)").
//! - `availabilityDate` is an instant in UTC with a time of day and 0 to 3 fraction digits
//!   (`2025-02-11T14:33:53.33Z`, `2024-02-13T14:41:19Z`): the clock starts there, to the second.
//!   The value Microsoft writes for "none" elsewhere in the answer is `0001-01-01T00:00:00Z`
//!   (`endOfSupportDate`); a build without a real `availabilityDate` is skipped.
//! - One channel often gets several builds on one day (Patch Tuesday: a build of each
//!   supported version), each with its own time of day; two channels may share a
//!   `legacyVersion` at different times. The list is not sorted by date and holds only recent
//!   builds: history accumulates in the store.
//!
//! The answer is small (tens of kilobytes) but is read like the MSRC index anyway: each channel
//! and build borrowed from the answer as raw JSON, then into a struct of borrowed strings, so
//! one malformed entry is skipped without failing the rest.

use std::borrow::Cow;
use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap};

use chrono::DateTime;
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use super::settings::{Key, Settings};
use super::{Fetched, Kind, ParseContext, Parsed, PollError, Record, Role, SourceKind, Text};
use crate::timeparse::Published;
use crate::yaml::ConfigError;

pub const KIND: Kind = Kind {
    name: "m365_apps",
    roles: &[Role::Bulletins],
    keys: &[Key::list("channels")],
    configure: |s| Ok(std::sync::Arc::new(M365Apps::new(configure(s)?))),
};

/// `channels`: a list of non-empty `channelId`s; left out, every channel.
fn configure(s: &Settings<'_>) -> Result<M365AppsConfig, ConfigError> {
    let Some(list) = s.list("channels") else {
        return Ok(M365AppsConfig { channels: None });
    };
    let mut channels = BTreeSet::new();
    for channel in &list.value {
        if channel.trim().is_empty() {
            return Err(s.error("channels", "a channelId must not be empty"));
        }
        channels.insert(channel.trim().to_string());
    }
    if channels.is_empty() {
        return Err(s.error(
            "channels",
            "list at least one channelId, or leave `channels` out to read every channel",
        ));
    }
    Ok(M365AppsConfig {
        channels: Some(channels),
    })
}

/// An `availabilityDate` before this instant (2011-01-01T00:00:00Z, before Office 365 existed)
/// is a placeholder, not a release: `0001-01-01T00:00:00Z`, the Unix epoch.
pub const EARLIEST_AVAILABILITY: i64 = 1_293_840_000;
/// Builds named in one summarizing message; the others are counted ("and 3 more").
pub const MAX_LISTED: usize = 8;
/// Characters of an unreadable value quoted in a message.
const MAX_QUOTED_CHARS: usize = 40;
/// Characters of one entry named in a summarizing message (ids and parser errors can quote
/// whatever the answer holds).
const MAX_ENTRY_CHARS: usize = 160;

/// The settings of an `m365_apps` source.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct M365AppsConfig {
    /// The `channelId`s to read (`channels`), matched in any case; `None` reads every channel.
    pub channels: Option<BTreeSet<String>>,
}

#[derive(Debug)]
pub struct M365Apps {
    /// The selected `channelId`s, lower-cased; `None`: all.
    selected: Option<BTreeSet<String>>,
    /// The same as configured, for people.
    channels: String,
}

/// One channel of the answer; every other field is ignored.
#[derive(Deserialize)]
struct Channel<'a> {
    #[serde(rename = "channelId", borrow)]
    channel_id: Text<'a>,
    #[serde(default, borrow)]
    channel: Option<Text<'a>>,
    #[serde(rename = "officeVersions", default, borrow)]
    office_versions: Option<Vec<&'a RawValue>>,
}

/// One build of a channel; every other field is ignored. The date and the version are kept
/// raw so that a build with an odd value is told apart from a malformed one.
#[derive(Deserialize)]
struct Build<'a> {
    #[serde(rename = "legacyVersion", borrow)]
    legacy_version: Text<'a>,
    #[serde(rename = "releaseVersion", default, borrow)]
    release_version: Option<&'a RawValue>,
    #[serde(
        rename = "availabilityDate",
        default,
        borrow,
        deserialize_with = "present"
    )]
    availability_date: Option<&'a RawValue>,
}

/// A field that is there, `null` included (a bare `Option` would read `null` as absent).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

/// Why a build has no usable `availabilityDate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoDate {
    Missing,
    Null,
    /// A time before `EARLIEST_AVAILABILITY`, such as `0001-01-01T00:00:00Z`.
    Placeholder(String),
    /// Not a string, or not an RFC 3339 time with an offset.
    Unreadable(String),
}

impl std::fmt::Display for NoDate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NoDate::Missing => f.write_str("missing"),
            NoDate::Null => f.write_str("null"),
            NoDate::Placeholder(v) => write!(f, "{v:?}"),
            NoDate::Unreadable(v) => write!(f, "{:?} unreadable", quoted(v)),
        }
    }
}

/// The clock start of an `availabilityDate` value: RFC 3339 with an offset (Microsoft writes
/// `Z` and 0 to 3 fraction digits), in Unix seconds, the fraction dropped.
pub fn availability_instant(value: &str) -> Result<i64, NoDate> {
    let value = value.trim();
    let instant = DateTime::parse_from_rfc3339(value)
        .map_err(|_| NoDate::Unreadable(value.to_string()))?
        .timestamp();
    if instant < EARLIEST_AVAILABILITY {
        return Err(NoDate::Placeholder(value.to_string()));
    }
    Ok(instant)
}

fn availability(raw: Option<&RawValue>) -> Result<i64, NoDate> {
    let raw = raw.ok_or(NoDate::Missing)?;
    if raw.get() == "null" {
        return Err(NoDate::Null);
    }
    match serde_json::from_str::<Text>(raw.get()) {
        Ok(text) => availability_instant(&text.0),
        Err(_) => Err(NoDate::Unreadable(raw.get().to_string())),
    }
}

/// `releaseVersion` as written: a string (`"2412"`) or, as Microsoft's `LatestRelease` answer
/// writes it, a number (`2304`).
fn release_version(raw: Option<&RawValue>) -> Option<Cow<'_, str>> {
    let raw = raw?.get();
    let version = if raw.starts_with('"') {
        serde_json::from_str::<Text>(raw).ok()?.0
    } else if raw.bytes().all(|b| b.is_ascii_digit()) {
        Cow::Borrowed(raw)
    } else {
        return None;
    };
    let trimmed = version.trim();
    if trimmed.is_empty() {
        None
    } else if trimmed.len() == version.len() {
        Some(version)
    } else {
        Some(Cow::Owned(trimmed.to_string()))
    }
}

/// A value cut for a message.
fn quoted(value: &str) -> Cow<'_, str> {
    cut(value, MAX_QUOTED_CHARS)
}

fn cut(value: &str, max_chars: usize) -> Cow<'_, str> {
    match value.char_indices().nth(max_chars) {
        None => Cow::Borrowed(value),
        Some((end, _)) => Cow::Owned(format!("{}…", &value[..end])),
    }
}

/// One message for many skipped entries, naming at most `MAX_LISTED` of them.
fn summary(what: &str, entries: &[String]) -> String {
    let mut text = format!("{} {what}: ", entries.len());
    let named: Vec<Cow<'_, str>> = entries
        .iter()
        .take(MAX_LISTED)
        .map(|e| cut(e, MAX_ENTRY_CHARS))
        .collect();
    text.push_str(&named.join(", "));
    if entries.len() > MAX_LISTED {
        text.push_str(&format!(" and {} more", entries.len() - MAX_LISTED));
    }
    text
}

impl M365Apps {
    pub fn new(config: M365AppsConfig) -> M365Apps {
        let channels = match &config.channels {
            Some(list) => list
                .iter()
                .map(|id| id.trim())
                .collect::<Vec<_>>()
                .join(", "),
            None => "every channel".to_string(),
        };
        M365Apps {
            channels,
            selected: config
                .channels
                .map(|c| c.iter().map(|id| id.trim().to_ascii_lowercase()).collect()),
        }
    }

    fn selects(&self, channel_id: &str) -> bool {
        self.selected
            .as_ref()
            .is_none_or(|s| s.contains(&channel_id.to_ascii_lowercase()))
    }
}

impl SourceKind for M365Apps {
    fn describe(&self) -> String {
        format!(
            "Microsoft 365 Apps builds per update channel ({}): a build's clock starts at \
             its availability date and time",
            self.channels
        )
    }

    fn parse(&self, fetched: &Fetched, ctx: &ParseContext<'_>) -> Result<Parsed, PollError> {
        let body = fetched.body_without_bom();
        let channels: Vec<&RawValue> = serde_json::from_slice(body).map_err(|e| {
            PollError::parse(format!(
                "not a list of Microsoft 365 Apps channels (OfficeReleases): {e}"
            ))
        })?;
        let mut parsed = Parsed::default();
        // Skipped entries are summarized: one message per kind of problem and poll.
        let mut undated: Vec<String> = Vec::new();
        let mut malformed: Vec<String> = Vec::new();
        let mut by_id: HashMap<String, usize> = HashMap::new();
        for (n, raw) in channels.into_iter().enumerate() {
            let channel: Channel = match serde_json::from_str(raw.get()) {
                Ok(c) => c,
                Err(e) => {
                    malformed.push(format!("channel {n}: {e}"));
                    continue;
                }
            };
            let channel_id = channel.channel_id.0.trim();
            if channel_id.is_empty() {
                malformed.push(format!("channel {n}: empty channelId"));
                continue;
            }
            if !self.selects(channel_id) {
                parsed.excluded += channel.office_versions.as_ref().map_or(0, Vec::len);
                continue;
            }
            let Some(builds) = channel.office_versions else {
                malformed.push(format!("channel {channel_id}: no officeVersions"));
                continue;
            };
            let name = channel
                .channel
                .as_ref()
                .map(|c| c.0.trim())
                .filter(|c| !c.is_empty())
                .unwrap_or(channel_id);
            for (k, raw) in builds.into_iter().enumerate() {
                let build: Build = match serde_json::from_str(raw.get()) {
                    Ok(b) => b,
                    Err(e) => {
                        malformed.push(format!("build {k} of {channel_id}: {e}"));
                        continue;
                    }
                };
                let version = build.legacy_version.0.trim();
                if version.is_empty() {
                    malformed.push(format!("build {k} of {channel_id}: empty legacyVersion"));
                    continue;
                }
                let id = format!("{channel_id}-{version}");
                let start = match availability(build.availability_date) {
                    Ok(t) => t,
                    Err(why) => {
                        undated.push(format!("{id} ({why})"));
                        continue;
                    }
                };
                if start > ctx.now {
                    // Not available yet: a bulletin once its time has come.
                    parsed.excluded += 1;
                    continue;
                }
                let title = match release_version(build.release_version) {
                    Some(release) => {
                        format!("Microsoft 365 Apps {name} {release} (Build {version})")
                    }
                    None => format!("Microsoft 365 Apps {name} (Build {version})"),
                };
                let record = Record {
                    id,
                    title,
                    published: Published::Instant(start),
                    tiers: Vec::new(),
                    covers: Vec::new(),
                };
                // A build listed twice is one bulletin, clocked at its earliest listing.
                match by_id.entry(record.id.clone()) {
                    Entry::Occupied(at) => {
                        parsed.excluded += 1;
                        let kept = &mut parsed.records[*at.get()];
                        if matches!(kept.published, Published::Instant(t) if start < t) {
                            *kept = record;
                        }
                    }
                    Entry::Vacant(slot) => {
                        slot.insert(parsed.records.len());
                        parsed.records.push(record);
                    }
                }
            }
        }
        if !undated.is_empty() {
            let what = if undated.len() == 1 {
                "build without an availabilityDate"
            } else {
                "builds without an availabilityDate"
            };
            parsed.skipped.push(summary(what, &undated));
        }
        if !malformed.is_empty() {
            let what = if malformed.len() == 1 {
                "malformed entry"
            } else {
                "malformed entries"
            };
            parsed.skipped.push(summary(what, &malformed));
        }
        Ok(parsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::tests::repo_file;

    /// When the captured answer was saved: 2025-02-28T12:37:23Z.
    const CAPTURED: &str = "2025-02-28T12:37:23Z";

    fn ts(s: &str) -> i64 {
        DateTime::parse_from_rfc3339(s).expect("valid").timestamp()
    }

    #[test]
    fn the_description_names_the_channels_as_configured() {
        let selected = M365Apps::new(M365AppsConfig {
            channels: Some(BTreeSet::from([
                "MonthlyEnterprise".to_string(),
                "Current".into(),
            ])),
        });
        assert_eq!(
            selected.describe(),
            "Microsoft 365 Apps builds per update channel (Current, MonthlyEnterprise): a \
             build's clock starts at its availability date and time"
        );
        assert!(M365Apps::new(M365AppsConfig::default())
            .describe()
            .contains("(every channel)"));
    }

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(repo_file(&format!("tests/fixtures/m365/{name}"))).expect("fixture")
    }

    fn kind(channels: Option<&[&str]>) -> M365Apps {
        M365Apps::new(M365AppsConfig {
            channels: channels.map(|c| c.iter().map(|s| s.to_string()).collect()),
        })
    }

    fn try_parse(kind: &M365Apps, body: &str, now: &str) -> Result<Parsed, PollError> {
        let fetched = Fetched {
            body: body.as_bytes().to_vec(),
            ..Default::default()
        };
        let ctx = ParseContext {
            now: ts(now),
            state: None,
            tier_names: &[],
        };
        kind.parse(&fetched, &ctx)
    }

    fn parse(kind: &M365Apps, body: &str, now: &str) -> Parsed {
        try_parse(kind, body, now).expect("parses")
    }

    fn ids(parsed: &Parsed) -> Vec<&str> {
        parsed.records.iter().map(|r| r.id.as_str()).collect()
    }

    fn record<'p>(parsed: &'p Parsed, id: &str) -> &'p Record {
        parsed
            .records
            .iter()
            .find(|r| r.id == id)
            .unwrap_or_else(|| panic!("no record {id} in {:?}", ids(parsed)))
    }

    /// (id, title, clock start)
    fn assert_record(parsed: &Parsed, id: &str, title: &str, start: &str) {
        let r = record(parsed, id);
        assert_eq!(r.title, title, "{id}");
        assert_eq!(r.published, Published::Instant(ts(start)), "{id}");
        assert!(r.tiers.is_empty() && r.covers.is_empty(), "{r:?}");
    }

    #[test]
    fn the_captured_answer_is_one_bulletin_per_channel_and_build() {
        let p = parse(&kind(None), &fixture("OfficeReleases.json"), CAPTURED);
        assert_eq!(
            ids(&p),
            [
                "BetaChannel-16.0.18623.20006",
                "BetaChannel-16.0.18619.20000",
                "CurrentPreview-16.0.18526.20118",
                "CurrentPreview-16.0.18526.20086",
                "Current-16.0.18429.20158",
                "Current-16.0.18429.20132",
                "MonthlyEnterprise-16.0.18324.20240",
                "MonthlyEnterprise-16.0.18227.20240",
                "MonthlyEnterprise-16.0.18227.20222",
                "PerpetualVL2024-16.0.17932.20252",
                "PerpetualVL2024-16.0.17932.20222",
                "SemiAnnualPreview-16.0.17928.20440",
                "SemiAnnualPreview-16.0.17928.20392",
                "SemiAnnual-16.0.17928.20440",
                "SemiAnnual-16.0.17928.20392",
                "SemiAnnual-16.0.17328.20708",
                "SemiAnnual-16.0.16731.21114",
                "SemiAnnual-16.0.16731.20822",
                "PerpetualVL2021-16.0.14332.20857",
                "PerpetualVL2019-16.0.10416.20058",
            ]
        );
        assert!(p.skipped.is_empty(), "{:?}", p.skipped);
        assert_eq!(p.excluded, 0);
        assert!(p.state.is_none() && p.follow_up.is_none() && p.derived.is_empty());

        // The title carries `channel`, Microsoft's short name; the clock is `availabilityDate`
        // to the second (3, 2 fraction digits dropped).
        assert_record(
            &p,
            "BetaChannel-16.0.18623.20006",
            "Microsoft 365 Apps Beta 2503 (Build 16.0.18623.20006)",
            "2025-02-26T16:08:44Z",
        );
        assert_record(
            &p,
            "CurrentPreview-16.0.18526.20118",
            "Microsoft 365 Apps MonthlyPreview 2502 (Build 16.0.18526.20118)",
            "2025-02-24T13:18:41Z",
        );
        assert_record(
            &p,
            "Current-16.0.18429.20158",
            "Microsoft 365 Apps Monthly 2501 (Build 16.0.18429.20158)",
            "2025-02-11T14:33:31Z",
        );
        assert_record(
            &p,
            "MonthlyEnterprise-16.0.18324.20240",
            "Microsoft 365 Apps MEC 2412 (Build 16.0.18324.20240)",
            "2025-02-11T14:33:53Z",
        );
        assert_record(
            &p,
            "PerpetualVL2024-16.0.17932.20222",
            "Microsoft 365 Apps LTSB2024 2409 (Build 16.0.17932.20222)",
            "2025-01-14T14:38:24Z",
        );
        assert_record(
            &p,
            "SemiAnnualPreview-16.0.17928.20440",
            "Microsoft 365 Apps SACT 2408 (Build 16.0.17928.20440)",
            "2025-02-11T18:04:26Z",
        );
        assert_record(
            &p,
            "SemiAnnual-16.0.16731.20822",
            "Microsoft 365 Apps SAC 2308 (Build 16.0.16731.20822)",
            "2024-10-09T01:29:26Z",
        );
        assert_record(
            &p,
            "PerpetualVL2021-16.0.14332.20857",
            "Microsoft 365 Apps LTSB2021 2108 (Build 16.0.14332.20857)",
            "2025-02-11T14:20:51Z",
        );
        assert_record(
            &p,
            "PerpetualVL2019-16.0.10416.20058",
            "Microsoft 365 Apps LTSB 1808 (Build 16.0.10416.20058)",
            "2025-02-11T14:23:51Z",
        );
    }

    #[test]
    fn several_builds_of_one_channel_on_one_day_each_keep_their_time() {
        let p = parse(&kind(None), &fixture("OfficeReleases.json"), CAPTURED);
        // Patch Tuesday, 2025-02-11: Monthly Enterprise ships 2412 and 2411, Semi-Annual three
        // versions, minutes or hours apart.
        for (id, start) in [
            ("MonthlyEnterprise-16.0.18324.20240", "2025-02-11T14:33:53Z"),
            ("MonthlyEnterprise-16.0.18227.20240", "2025-02-11T14:34:35Z"),
            ("SemiAnnual-16.0.17928.20440", "2025-02-11T17:31:05Z"),
            ("SemiAnnual-16.0.17328.20708", "2025-02-11T09:04:12Z"),
            ("SemiAnnual-16.0.16731.21114", "2025-02-11T09:05:25Z"),
            // The same build on the preview channel is another bulletin, half an hour later.
            ("SemiAnnualPreview-16.0.17928.20440", "2025-02-11T18:04:26Z"),
        ] {
            assert_eq!(
                record(&p, id).published,
                Published::Instant(ts(start)),
                "{id}"
            );
        }
        assert_eq!(
            record(&p, "SemiAnnual-16.0.17328.20708").title,
            "Microsoft 365 Apps SAC 2402 (Build 16.0.17328.20708)"
        );
    }

    #[test]
    fn channels_select_by_channel_id_in_any_case() {
        let answer = fixture("OfficeReleases.json");
        let p = parse(
            &kind(Some(&["MonthlyEnterprise", "semiannual"])),
            &answer,
            CAPTURED,
        );
        assert_eq!(
            ids(&p),
            [
                "MonthlyEnterprise-16.0.18324.20240",
                "MonthlyEnterprise-16.0.18227.20240",
                "MonthlyEnterprise-16.0.18227.20222",
                "SemiAnnual-16.0.17928.20440",
                "SemiAnnual-16.0.17928.20392",
                "SemiAnnual-16.0.17328.20708",
                "SemiAnnual-16.0.16731.21114",
                "SemiAnnual-16.0.16731.20822",
            ]
        );
        assert_eq!(p.excluded, 12, "the builds of the seven other channels");
        assert!(p.skipped.is_empty());

        let beta = parse(&kind(Some(&["BetaChannel"])), &answer, CAPTURED);
        assert_eq!(
            ids(&beta),
            [
                "BetaChannel-16.0.18623.20006",
                "BetaChannel-16.0.18619.20000"
            ]
        );

        // Names that are not channelIds select nothing: `channel` names ("MEC"), the
        // LatestRelease endpoint's ids ("MonthlyEnterpriseChannel"), `Beta`.
        let none = parse(
            &kind(Some(&["MEC", "MonthlyEnterpriseChannel", "Beta"])),
            &answer,
            CAPTURED,
        );
        assert!(none.records.is_empty());
        assert_eq!(none.excluded, 20);
        assert!(none.skipped.is_empty());
    }

    #[test]
    fn availability_dates_with_0_to_3_fraction_digits_and_offsets() {
        let cases: &[(&str, Result<&str, NoDate>)] = &[
            ("2025-02-26T16:08:44.183Z", Ok("2025-02-26T16:08:44Z")),
            ("2025-02-11T14:33:53.33Z", Ok("2025-02-11T14:33:53Z")),
            ("2024-04-09T08:07:33.6Z", Ok("2024-04-09T08:07:33Z")),
            ("2024-02-13T14:41:19Z", Ok("2024-02-13T14:41:19Z")),
            // The fraction is dropped, never rounded up into the next second.
            ("2025-02-11T14:33:59.999Z", Ok("2025-02-11T14:33:59Z")),
            ("2025-02-11T15:20:51.607+01:00", Ok("2025-02-11T14:20:51Z")),
            ("2025-02-11T09:20:51-05:00", Ok("2025-02-11T14:20:51Z")),
            (" 2025-02-11T14:20:51Z ", Ok("2025-02-11T14:20:51Z")),
            (
                "0001-01-01T00:00:00Z",
                Err(NoDate::Placeholder("0001-01-01T00:00:00Z".into())),
            ),
            (
                "1970-01-01T00:00:00Z",
                Err(NoDate::Placeholder("1970-01-01T00:00:00Z".into())),
            ),
            // Without an offset the instant is unknown: mirrors that converted Microsoft's
            // value to local time write it like this.
            (
                "2025-02-11T14:33:53",
                Err(NoDate::Unreadable("2025-02-11T14:33:53".into())),
            ),
            (
                "01/14/2025 15:22:46",
                Err(NoDate::Unreadable("01/14/2025 15:22:46".into())),
            ),
            ("2025-02-11", Err(NoDate::Unreadable("2025-02-11".into()))),
            ("", Err(NoDate::Unreadable("".into()))),
        ];
        for (value, expected) in cases {
            let expected = expected.clone().map(ts);
            assert_eq!(availability_instant(value), expected, "{value:?}");
        }
    }

    #[test]
    fn quirks_are_skipped_once_per_poll_and_the_rest_is_used() {
        let p = parse(
            &kind(None),
            &fixture("OfficeReleases-quirks.json"),
            CAPTURED,
        );
        // 20 captured builds, 2 older ones added, 4 without a date, 1 listed twice, 1 without
        // a version.
        assert_eq!(p.records.len(), 18, "{:?}", ids(&p));
        assert_eq!(
            p.excluded, 1,
            "the second listing of SemiAnnual-16.0.17328.20708"
        );
        assert_eq!(
            p.skipped,
            [
                "4 builds without an availabilityDate: BetaChannel-16.0.18619.20000 (\"0001-01-01T00:00:00Z\"), \
                 CurrentPreview-16.0.18526.20086 (missing), PerpetualVL2024-16.0.17932.20222 (null), \
                 SemiAnnual-16.0.17928.20392 (\"01/14/2025 15:22:46\" unreadable)",
                "2 malformed entries: build 2 of CurrentPreview: invalid type: null, expected a string \
                 at line 2 column 37, channel 3: missing field `channelId` at line 6 column 5",
            ]
        );
        for id in [
            "BetaChannel-16.0.18619.20000",
            "CurrentPreview-16.0.18526.20086",
            "PerpetualVL2024-16.0.17932.20222",
            "SemiAnnual-16.0.17928.20392",
        ] {
            assert!(!ids(&p).contains(&id), "{id}");
        }
        // Unknown fields (displayName, releaseType, releaseRank, kbLink) change nothing.
        assert_record(
            &p,
            "MonthlyEnterprise-16.0.18324.20240",
            "Microsoft 365 Apps MEC 2412 (Build 16.0.18324.20240)",
            "2025-02-11T14:33:53Z",
        );
        // No fraction digits, one fraction digit, an offset.
        assert_record(
            &p,
            "MonthlyEnterprise-16.0.17126.20190",
            "Microsoft 365 Apps MEC 2312 (Build 16.0.17126.20190)",
            "2024-02-13T14:41:19Z",
        );
        assert_record(
            &p,
            "SemiAnnualPreview-16.0.17328.20282",
            "Microsoft 365 Apps SACT 2402 (Build 16.0.17328.20282)",
            "2024-04-09T08:07:33Z",
        );
        assert_record(
            &p,
            "PerpetualVL2021-16.0.14332.20857",
            "Microsoft 365 Apps LTSB2021 2108 (Build 16.0.14332.20857)",
            "2025-02-11T14:20:51Z",
        );
        assert_eq!(
            ids(&p)
                .iter()
                .filter(|id| **id == "SemiAnnual-16.0.17328.20708")
                .count(),
            1
        );
    }

    #[test]
    fn a_build_listed_twice_is_one_bulletin_at_its_earliest_time() {
        let build = |date: &str| {
            format!(
                r#"{{"legacyVersion":"16.0.18429.20158","releaseVersion":"2501","availabilityDate":"{date}"}}"#
            )
        };
        let answer = format!(
            r#"[{{"channel":"Monthly","channelId":"Current","officeVersions":[{},{}]}},
               {{"channel":"Monthly","channelId":"Current","officeVersions":[{}]}}]"#,
            build("2025-02-11T14:33:31.667Z"),
            build("2025-02-10T09:00:00Z"),
            build("2025-02-12T09:00:00Z"),
        );
        let p = parse(&kind(None), &answer, CAPTURED);
        assert_eq!(ids(&p), ["Current-16.0.18429.20158"]);
        assert_eq!(
            p.records[0].published,
            Published::Instant(ts("2025-02-10T09:00:00Z"))
        );
        assert_eq!(p.excluded, 2);
        assert!(p.skipped.is_empty());
    }

    #[test]
    fn a_build_whose_time_has_not_come_is_not_a_bulletin_yet() {
        let answer = fixture("OfficeReleases.json");
        // Just before Beta's 16.0.18623.20006 became available.
        let p = parse(
            &kind(Some(&["BetaChannel"])),
            &answer,
            "2025-02-26T16:08:43Z",
        );
        assert_eq!(ids(&p), ["BetaChannel-16.0.18619.20000"]);
        assert_eq!(
            p.excluded,
            18 + 1,
            "the other channels' builds and the future one"
        );
        assert!(p.skipped.is_empty());
        let p = parse(
            &kind(Some(&["BetaChannel"])),
            &answer,
            "2025-02-26T16:08:44Z",
        );
        assert_eq!(p.records.len(), 2);
    }

    #[test]
    fn a_later_answer_adds_builds_and_drops_old_ones() {
        let office = kind(Some(&["Current", "MonthlyEnterprise"]));
        let before = parse(&office, &fixture("OfficeReleases.json"), CAPTURED);
        let after = parse(
            &office,
            &fixture("OfficeReleases-later.json"),
            "2025-03-11T12:00:00Z",
        );
        assert_eq!(
            ids(&after),
            [
                "Current-16.0.18526.20144",
                "Current-16.0.18429.20158",
                "Current-16.0.18429.20132",
                "MonthlyEnterprise-16.0.18429.20200",
                "MonthlyEnterprise-16.0.18324.20240",
                "MonthlyEnterprise-16.0.18227.20240",
            ]
        );
        assert_record(
            &after,
            "Current-16.0.18526.20144",
            "Microsoft 365 Apps Monthly 2502 (Build 16.0.18526.20144)",
            "2025-03-05T22:22:25Z",
        );
        assert_record(
            &after,
            "MonthlyEnterprise-16.0.18429.20200",
            "Microsoft 365 Apps MEC 2501 (Build 16.0.18429.20200)",
            "2025-03-11T08:59:11Z",
        );
        // Builds listed in both answers are the same records.
        for r in &after.records {
            if let Some(b) = before.records.iter().find(|b| b.id == r.id) {
                assert_eq!(b, r);
            }
        }
        assert!(ids(&before).contains(&"MonthlyEnterprise-16.0.18227.20222"));
    }

    #[test]
    fn a_garbage_answer_is_a_parse_error() {
        let office = kind(None);
        for body in [
            "",
            "<html><body>Service Unavailable</body></html>",
            "null",
            "{}",
            r#"{"value": []}"#,
            r#""OfficeReleases""#,
            "[{\"channelId\": \"Current\"",
            "[1, 2",
        ] {
            let e = try_parse(&office, body, CAPTURED).expect_err(body);
            assert_eq!(e.reason, crate::sources::Reason::Parse, "{body}");
            assert!(
                e.message
                    .starts_with("not a list of Microsoft 365 Apps channels"),
                "{e}"
            );
        }
        // An empty list is an answer, with nothing in it.
        let p = parse(&office, "[]", CAPTURED);
        assert!(p.records.is_empty() && p.skipped.is_empty());
        // So is a byte-order mark before the list.
        let p = parse(
            &office,
            &format!("\u{feff}{}", fixture("OfficeReleases.json")),
            CAPTURED,
        );
        assert_eq!(p.records.len(), 20);
    }

    #[test]
    fn odd_entries_are_malformed_and_skipped_without_failing_the_rest() {
        let answer = r#"[
            "Current",
            {"channel": "Monthly", "channelId": "  ", "officeVersions": []},
            {"channel": "Monthly", "channelId": "Current"},
            {"channel": "", "channelId": "Current", "officeVersions": [
                7,
                {"legacyVersion": " ", "availabilityDate": "2025-02-11T14:33:31Z"},
                {"legacyVersion": 16, "availabilityDate": "2025-02-11T14:33:31Z"},
                {"legacyVersion": " 16.0.18429.20158 ", "releaseVersion": 2501,
                 "availabilityDate": "2025-02-11T14:33:31.667Z"},
                {"legacyVersion": "16.0.18429.20132", "releaseVersion": {"major": 25},
                 "availabilityDate": 1738257119},
                {"legacyVersion": "16.0.18429.20100", "releaseVersion": null,
                 "availabilityDate": "2025-01-30T17:11:59Z"}
            ]}
        ]"#;
        let p = parse(&kind(None), answer, CAPTURED);
        // Trimmed; a numeric releaseVersion as written; an empty `channel` falls back to the
        // channelId; no releaseVersion, no version in the title.
        assert_record(
            &p,
            "Current-16.0.18429.20158",
            "Microsoft 365 Apps Current 2501 (Build 16.0.18429.20158)",
            "2025-02-11T14:33:31Z",
        );
        assert_record(
            &p,
            "Current-16.0.18429.20100",
            "Microsoft 365 Apps Current (Build 16.0.18429.20100)",
            "2025-01-30T17:11:59Z",
        );
        assert_eq!(p.records.len(), 2);
        assert_eq!(p.skipped.len(), 2, "{:?}", p.skipped);
        assert_eq!(
            p.skipped[0],
            "1 build without an availabilityDate: Current-16.0.18429.20132 (\"1738257119\" unreadable)"
        );
        let malformed = &p.skipped[1];
        assert!(
            malformed
                .starts_with("6 malformed entries: channel 0: invalid type: string \"Current\""),
            "{malformed}"
        );
        for part in [
            "channel 1: empty channelId",
            "channel Current: no officeVersions",
            "build 0 of Current: invalid type: integer `7`",
            "build 1 of Current: empty legacyVersion",
            "build 2 of Current: invalid type: integer `16`",
        ] {
            assert!(malformed.contains(part), "{part} in {malformed}");
        }
    }

    #[test]
    fn a_summary_names_a_few_builds_and_counts_the_rest() {
        let builds: Vec<String> = (0..100)
            .map(|n| {
                format!(
                    r#"{{"legacyVersion":"16.0.1.{n}","availabilityDate":"0001-01-01T00:00:00Z"}}"#
                )
            })
            .collect();
        let answer = format!(
            r#"[{{"channel":"Beta","channelId":"BetaChannel","officeVersions":[{}]}}]"#,
            builds.join(",")
        );
        let p = parse(&kind(None), &answer, CAPTURED);
        assert!(p.records.is_empty());
        assert_eq!(p.skipped.len(), 1);
        let message = &p.skipped[0];
        assert!(
            message.starts_with(
                "100 builds without an availabilityDate: BetaChannel-16.0.1.0 (\"0001-01-01T00:00:00Z\"), "
            ),
            "{message}"
        );
        assert!(message.ends_with(" and 92 more"), "{message}");
        assert_eq!(message.matches("BetaChannel-").count(), MAX_LISTED);
        // Values are quoted short.
        let long = format!(
            r#"[{{"channelId":"Current","officeVersions":[{{"legacyVersion":"16.0.1.1","availabilityDate":"{}"}}]}}]"#,
            "x".repeat(5000)
        );
        let p = parse(&kind(None), &long, CAPTURED);
        assert!(p.skipped[0].len() < 200, "{}", p.skipped[0]);
        // So are ids and the parser's quotes of what the answer holds.
        let huge = "9".repeat(5000);
        let answer = format!(
            r#"["{huge}", {{"channelId":"Current","officeVersions":[{{"legacyVersion":"{huge}"}}]}}]"#
        );
        let p = parse(&kind(None), &answer, CAPTURED);
        assert_eq!(p.skipped.len(), 2);
        assert!(
            p.skipped.iter().all(|s| s.len() < 2 * MAX_ENTRY_CHARS),
            "{:?}",
            p.skipped
        );
    }
}
