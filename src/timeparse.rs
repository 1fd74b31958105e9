//! Turning the time strings sources publish into instants.
//!
//! A record's time is either an instant, or only a calendar day when the source gives no time
//! of day. Days are resolved by the store, which knows when a record was first seen (see the
//! first-seen rule in the README).

use chrono::format::{Item, StrftimeItems};
use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, TimeDelta, Timelike, Utc};
use jiff::tz::{TimeZone, TimeZoneDatabase};
use jiff::Timestamp;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Published {
    /// Unix seconds.
    Instant(i64),
    /// A calendar day in the source's zone, without a time of day.
    Day(NaiveDate, TimeZone),
    /// When the record was first seen: the time of the poll that first stored it, kept ever
    /// after (MSRC's out-of-band updates found while watching).
    FirstSeen,
}

/// The time zone with an IANA name ("America/Los_Angeles", "Europe/Berlin", "UTC"; case does
/// not matter), or `None` when there is no such zone.
///
/// Zone rules come from the system's time-zone database (`/usr/share/zoneinfo`, or the
/// directory `TZDIR` names), which the system keeps up to date. Where there is none (a
/// container image without tzdata), or it lacks the zone, the copy of the database built into
/// the executable is used.
pub fn zone(name: &str) -> Option<TimeZone> {
    let tz = jiff::tz::db()
        .get(name)
        .or_else(|_| TimeZoneDatabase::bundled().get(name))
        .ok()?;
    // "Etc/Unknown" stands for a zone that could not be determined; it is not a zone to read
    // times in.
    (!tz.is_unknown()).then_some(tz)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimeFormat {
    /// RFC 3339; a value without an offset is read in the source's zone, a bare date is a day.
    Rfc3339,
    /// A chrono strftime pattern.
    Pattern {
        pattern: String,
        has_time: bool,
        has_offset: bool,
        is_unix: bool,
    },
}

impl TimeFormat {
    pub fn parse(text: &str) -> Result<TimeFormat, String> {
        if text.eq_ignore_ascii_case("rfc3339") {
            return Ok(TimeFormat::Rfc3339);
        }
        let mut has_time = false;
        let mut has_offset = false;
        let mut has_date = false;
        let mut is_unix = false;
        for item in StrftimeItems::new(text) {
            match item {
                Item::Error => {
                    return Err(format!(
                        "invalid time_format {text:?}: use \"rfc3339\" or a strftime pattern such as \"%m/%d/%Y %H:%M\""
                    ))
                }
                Item::Numeric(n, _) => {
                    use chrono::format::Numeric::*;
                    match n {
                        Hour | Hour12 | Minute | Second => has_time = true,
                        Timestamp => is_unix = true,
                        Year | YearDiv100 | YearMod100 | IsoYear | Month | Day | Ordinal | WeekFromSun | WeekFromMon | IsoWeek => {
                            has_date = true
                        }
                        _ => {}
                    }
                }
                Item::Fixed(f) => {
                    use chrono::format::Fixed::*;
                    match f {
                        TimezoneOffset | TimezoneOffsetColon | TimezoneOffsetDoubleColon | TimezoneOffsetTripleColon
                        | TimezoneOffsetColonZ | TimezoneOffsetZ => has_offset = true,
                        RFC2822 | RFC3339 => {
                            has_offset = true;
                            has_time = true;
                            has_date = true;
                        }
                        ShortMonthName | LongMonthName => has_date = true,
                        _ => {}
                    }
                }
                _ => {}
            }
        }
        if !has_date && !is_unix {
            return Err(format!(
                "time_format {text:?} has no date fields (%Y, %m, %d, ...)"
            ));
        }
        Ok(TimeFormat::Pattern {
            pattern: text.to_string(),
            has_time,
            has_offset,
            is_unix,
        })
    }

    /// The date-only beginning of a pattern with a time of day (`%m/%d/%Y` of
    /// `%m/%d/%Y %I:%M %p`), for pages whose cells sometimes leave the time out. `None` for
    /// RFC 3339 (which reads bare dates already) and patterns without such a beginning.
    pub fn date_part(&self) -> Option<TimeFormat> {
        let TimeFormat::Pattern {
            pattern,
            has_time: true,
            has_offset: false,
            is_unix: false,
        } = self
        else {
            return None;
        };
        let date_only = |p: &str| {
            matches!(
                TimeFormat::parse(p),
                Ok(TimeFormat::Pattern {
                    has_time: false,
                    has_offset: false,
                    ..
                })
            )
        };
        // Time fields follow the date fields: the longest date-only prefix ending before a
        // `%` is the date part.
        let cut = pattern
            .match_indices('%')
            .map(|(i, _)| i)
            .rfind(|&i| date_only(&pattern[..i]))?;
        let mut prefix = &pattern[..cut];
        // Drop the separator between date and time (" ", "T", ", ", " at ").
        while let Some(Item::Literal(text) | Item::Space(text)) = StrftimeItems::new(prefix).last()
        {
            if text.is_empty() || !prefix.ends_with(text) {
                break;
            }
            prefix = &prefix[..prefix.len() - text.len()];
        }
        date_only(prefix)
            .then(|| TimeFormat::parse(prefix).ok())
            .flatten()
    }

    /// Parses `value`; times without an offset are read in `tz`.
    pub fn parse_value(&self, value: &str, tz: &TimeZone) -> Result<Published, String> {
        let value = value.trim();
        let bad = |why: &str| format!("cannot parse time {value:?}: {why}");
        match self {
            TimeFormat::Rfc3339 => {
                if let Ok(t) = DateTime::parse_from_rfc3339(value) {
                    return Ok(Published::Instant(t.timestamp()));
                }
                for f in [
                    "%Y-%m-%dT%H:%M:%S%.f",
                    "%Y-%m-%dT%H:%M:%S",
                    "%Y-%m-%dT%H:%M",
                    "%Y-%m-%d %H:%M:%S",
                ] {
                    if let Ok(ndt) = NaiveDateTime::parse_from_str(value, f) {
                        return Ok(Published::Instant(local_to_unix(tz, ndt)));
                    }
                }
                NaiveDate::parse_from_str(value, "%Y-%m-%d")
                    .map(|d| Published::Day(d, tz.clone()))
                    .map_err(|_| bad("expected RFC 3339, e.g. 2026-11-10T18:00:00Z, or a date"))
            }
            TimeFormat::Pattern {
                pattern,
                has_time,
                has_offset,
                is_unix,
            } => {
                if *is_unix {
                    return DateTime::parse_from_str(
                        &format!("{value} +0000"),
                        &format!("{pattern} %z"),
                    )
                    .map(|t| Published::Instant(t.timestamp()))
                    .map_err(|e| bad(&e.to_string()));
                }
                if *has_offset {
                    return DateTime::parse_from_str(value, pattern)
                        .map(|t| Published::Instant(t.timestamp()))
                        .map_err(|e| bad(&format!("{e} (format {pattern:?})")));
                }
                if *has_time {
                    return NaiveDateTime::parse_from_str(value, pattern)
                        .map(|ndt| Published::Instant(local_to_unix(tz, ndt)))
                        .map_err(|e| bad(&format!("{e} (format {pattern:?})")));
                }
                NaiveDate::parse_from_str(value, pattern)
                    .map(|d| Published::Day(d, tz.clone()))
                    .map_err(|e| bad(&format!("{e} (format {pattern:?})")))
            }
        }
    }
}

/// A wall-clock time in `tz` as Unix seconds.
///
/// In the autumn overlap, when the time happens twice, the earlier instant is taken. A time
/// inside the spring gap does not exist; it is moved forward by the length of the gap, as
/// clocks are (02:30 on the night clocks jump from 02:00 to 03:00 is read as 03:30). This is
/// the "compatible" disambiguation of RFC 5545 and Temporal.
pub fn local_to_unix(tz: &TimeZone, ndt: NaiveDateTime) -> i64 {
    let civil = i16::try_from(ndt.year()).ok().and_then(|year| {
        jiff::civil::DateTime::new(
            year,
            ndt.month() as i8,
            ndt.day() as i8,
            ndt.hour() as i8,
            ndt.minute() as i8,
            // `second()` is 59 during a leap second.
            ndt.second() as i8,
            0,
        )
        .ok()
    });
    match civil.and_then(|dt| tz.to_ambiguous_timestamp(dt).compatible().ok()) {
        Some(t) => t.as_second(),
        // Beyond the zone database's range (about the years -9999 to 9999): the offset in
        // force at the nearest end of it.
        None => ndt.and_utc().timestamp() - offset_at(tz, ndt.and_utc().timestamp()),
    }
}

/// The offset from UTC of `tz` at Unix seconds `unix`, in seconds; beyond the zone
/// database's range, the offset at the nearest end of it.
fn offset_at(tz: &TimeZone, unix: i64) -> i64 {
    let t = Timestamp::from_second(unix).unwrap_or(if unix < 0 {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    });
    i64::from(tz.to_offset(t).seconds())
}

/// The calendar day in `tz` at the instant `t`.
pub fn local_date(tz: &TimeZone, t: DateTime<Utc>) -> NaiveDate {
    let utc = t.naive_utc();
    utc.checked_add_signed(TimeDelta::seconds(offset_at(tz, t.timestamp())))
        .unwrap_or(utc)
        .date()
}

/// 00:00 of `day` in `tz`, as Unix seconds.
pub fn midnight(day: NaiveDate, tz: &TimeZone) -> i64 {
    local_to_unix(tz, day.and_time(chrono::NaiveTime::MIN))
}

/// Formats Unix seconds as RFC 3339 UTC (`2026-11-10T18:00:00Z`).
pub fn rfc3339(ts: i64) -> String {
    DateTime::from_timestamp(ts, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| ts.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> i64 {
        DateTime::parse_from_rfc3339(s).expect("valid").timestamp()
    }

    fn tz(name: &str) -> TimeZone {
        zone(name).expect("a known zone")
    }

    #[test]
    fn rfc3339_variants() {
        let f = TimeFormat::Rfc3339;
        assert_eq!(
            f.parse_value("2026-11-10T18:00:00Z", &TimeZone::UTC),
            Ok(Published::Instant(ts("2026-11-10T18:00:00Z")))
        );
        assert_eq!(
            f.parse_value("2026-11-10T10:00:00", &tz("America/Los_Angeles")),
            Ok(Published::Instant(ts("2026-11-10T18:00:00Z")))
        );
        assert_eq!(
            f.parse_value("2026-11-10", &TimeZone::UTC),
            Ok(Published::Day(
                NaiveDate::from_ymd_opt(2026, 11, 10).expect("date"),
                TimeZone::UTC
            ))
        );
        assert!(f.parse_value("Nov 10", &TimeZone::UTC).is_err());
    }

    #[test]
    fn patterns() {
        let f = TimeFormat::parse("%m/%d/%Y %H:%M").expect("valid");
        assert_eq!(
            f.parse_value("11/10/2026 13:30", &tz("America/New_York")),
            Ok(Published::Instant(ts("2026-11-10T18:30:00Z")))
        );
        let f = TimeFormat::parse("%m/%d/%Y").expect("valid");
        assert_eq!(
            f.parse_value(" 3/12/2024 ", &TimeZone::UTC),
            Ok(Published::Day(
                NaiveDate::from_ymd_opt(2024, 3, 12).expect("date"),
                TimeZone::UTC
            ))
        );
        let f = TimeFormat::parse("%s").expect("valid");
        assert_eq!(
            f.parse_value("1700000000", &TimeZone::UTC),
            Ok(Published::Instant(1_700_000_000))
        );
        assert!(TimeFormat::parse("%H:%M").is_err(), "no date");
        assert!(TimeFormat::parse("%Q").is_err());
    }

    #[test]
    fn date_part_of_a_pattern() {
        let part = |p: &str| {
            TimeFormat::parse(p)
                .expect("valid")
                .date_part()
                .map(|f| match f {
                    TimeFormat::Pattern { pattern, .. } => pattern,
                    TimeFormat::Rfc3339 => "rfc3339".to_string(),
                })
        };
        assert_eq!(part("%m/%d/%Y %I:%M %p").as_deref(), Some("%m/%d/%Y"));
        assert_eq!(part("%Y-%m-%dT%H:%M").as_deref(), Some("%Y-%m-%d"));
        assert_eq!(part("%B %-d, %Y at %H:%M").as_deref(), Some("%B %-d, %Y"));
        assert_eq!(part("%H:%M %d.%m.%Y"), None, "time before date");
        assert_eq!(part("%m/%d/%Y"), None, "already date-only");
        assert_eq!(part("%Y-%m-%d %H:%M %z"), None, "an offset is not optional");
        assert_eq!(TimeFormat::Rfc3339.date_part(), None);
        let f = TimeFormat::parse("%m/%d/%Y %I:%M %p")
            .expect("valid")
            .date_part()
            .expect("date part");
        assert_eq!(
            f.parse_value("11/12/2024", &TimeZone::UTC),
            Ok(Published::Day(
                NaiveDate::from_ymd_opt(2024, 11, 12).expect("date"),
                TimeZone::UTC
            ))
        );
    }

    #[test]
    fn dst_gap_and_overlap() {
        let la = &tz("America/Los_Angeles");
        // 2024-03-10 02:30 does not exist in Los Angeles; it is read as 03:30 PDT.
        let gap = NaiveDate::from_ymd_opt(2024, 3, 10)
            .and_then(|d| d.and_hms_opt(2, 30, 0))
            .expect("t");
        assert_eq!(local_to_unix(la, gap), ts("2024-03-10T10:30:00Z"));
        // 2024-11-03 01:30 happens twice; the first (PDT) is taken.
        let overlap = NaiveDate::from_ymd_opt(2024, 11, 3)
            .and_then(|d| d.and_hms_opt(1, 30, 0))
            .expect("t");
        assert_eq!(local_to_unix(la, overlap), ts("2024-11-03T08:30:00Z"));
        assert_eq!(
            midnight(NaiveDate::from_ymd_opt(2024, 7, 1).expect("d"), la),
            ts("2024-07-01T07:00:00Z")
        );
    }

    #[test]
    fn half_hour_gap() {
        // Lord Howe Island moves its clocks from 02:00 to 02:30: 02:15 is read as 02:45
        // (+11:00), half an hour later, as the clocks are moved.
        let gap = NaiveDate::from_ymd_opt(2024, 10, 6)
            .and_then(|d| d.and_hms_opt(2, 15, 0))
            .expect("t");
        assert_eq!(
            local_to_unix(&tz("Australia/Lord_Howe"), gap),
            ts("2024-10-06T02:45:00+11:00")
        );
    }

    #[test]
    fn zones_by_name() {
        assert_eq!(
            tz("america/NEW_YORK").iana_name(),
            Some("America/New_York"),
            "case does not matter"
        );
        assert_eq!(tz("UTC"), TimeZone::UTC);
        assert!(zone("Mars/Olympus_Mons").is_none());
        assert!(zone("").is_none());
        assert!(zone("Etc/Unknown").is_none(), "not a zone to read times in");
        assert!(zone("../../../etc/passwd").is_none());
        // The copy built into the executable, for systems without a zone database.
        let la = TimeZoneDatabase::bundled()
            .get("America/Los_Angeles")
            .expect("bundled");
        let summer = NaiveDate::from_ymd_opt(2024, 7, 1)
            .and_then(|d| d.and_hms_opt(10, 0, 0))
            .expect("t");
        assert_eq!(local_to_unix(&la, summer), ts("2024-07-01T17:00:00Z"));
    }

    #[test]
    fn local_dates() {
        let la = &tz("America/Los_Angeles");
        let t = |s: &str| DateTime::parse_from_rfc3339(s).expect("valid").to_utc();
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).expect("date");
        assert_eq!(local_date(la, t("2024-11-12T07:59:59Z")), day(2024, 11, 11));
        assert_eq!(local_date(la, t("2024-11-12T08:00:00Z")), day(2024, 11, 12));
        assert_eq!(local_date(la, t("2024-07-01T07:00:00Z")), day(2024, 7, 1));
        assert_eq!(
            local_date(&TimeZone::UTC, t("2024-07-01T00:00:00Z")),
            day(2024, 7, 1)
        );
    }

    #[test]
    fn beyond_the_zone_database() {
        let la = &tz("America/Los_Angeles");
        // Far years still give an instant, in the offset at the end of the database's range
        // (Pacific standard time, -08:00).
        for (y, m, d) in [
            (20_000, 7, 1),
            (9999, 12, 31),
            (-20_000, 1, 1),
            (-9999, 1, 1),
        ] {
            let day = NaiveDate::from_ymd_opt(y, m, d).expect("date");
            let local = day.and_time(chrono::NaiveTime::MIN);
            let t = midnight(day, la);
            assert!(
                (t - local.and_utc().timestamp()).abs() <= 12 * 3600,
                "{day}: {t}"
            );
            assert_eq!(
                local_date(la, DateTime::from_timestamp(t, 0).expect("t")),
                day
            );
        }
        assert_eq!(
            midnight(NaiveDate::from_ymd_opt(20_000, 7, 1).expect("d"), la),
            NaiveDate::from_ymd_opt(20_000, 7, 1)
                .expect("d")
                .and_hms_opt(8, 0, 0)
                .expect("t")
                .and_utc()
                .timestamp()
        );
    }
}
