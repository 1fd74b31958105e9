//! A synthetic ten-year history for benchmarks: Microsoft-shaped bulletins (monthly Patch
//! Tuesday documents plus out-of-band ones) and a vendor's content releases in five language
//! tiers, written as `file://` fixtures with a configuration that reads them.
//!
//! Everything is derived from a fixed seed and the given "now", so two runs with the same "now"
//! produce the same files.
#![allow(dead_code)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc, Weekday};
use jiff::tz::TimeZone;

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const MONTH_NAMES: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// (tier name, goal in hours, the vendor's language label for it).
pub const TIERS: [(&str, i64, &str); 5] = [
    ("english", 24, "English"),
    ("other_languages", 48, "All languages"),
    ("office365", 48, "Office 365"),
    ("japanese", 36, "Japanese"),
    ("windows_server", 24, "Windows Server"),
];

pub const YEARS: i32 = 10;
pub const RELEASES: usize = 20_000;

/// A bulletin as the generator made it.
#[derive(Debug, Clone)]
pub struct Bulletin {
    pub id: String,
    pub title: String,
    /// The Pacific calendar day Microsoft dates it.
    pub day: NaiveDate,
    /// When its clock starts: 10:00 Pacific on `day`.
    pub start: i64,
}

/// Where the fixtures went.
pub struct Fixtures {
    pub config: PathBuf,
    pub bulletins: usize,
    pub releases: usize,
    pub msrc_bytes: usize,
    pub releases_bytes: usize,
}

fn second_tuesday(year: i32, month: u32) -> NaiveDate {
    NaiveDate::from_weekday_of_month_opt(year, month, Weekday::Tue, 2).expect("a second Tuesday")
}

fn los_angeles() -> TimeZone {
    TimeZone::get("America/Los_Angeles").expect("America/Los_Angeles")
}

fn clock_start(day: NaiveDate) -> i64 {
    let local =
        jiff::civil::date(day.year() as i16, day.month() as i8, day.day() as i8).at(10, 0, 0, 0);
    los_angeles()
        .to_ambiguous_timestamp(local)
        .unambiguous()
        .expect("10:00 Pacific exists every day, once")
        .as_second()
}

fn rfc3339(t: i64) -> String {
    DateTime::<Utc>::from_timestamp(t, 0)
        .expect("in range")
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// Monthly documents for every Patch Tuesday of the last `years` years up to `now`, and an
/// out-of-band document every fourth month (about 15 bulletins a year).
pub fn bulletins(now: i64, years: i32) -> Vec<Bulletin> {
    let today = los_angeles().to_datetime(jiff::Timestamp::from_second(now).expect("in range"));
    let today = NaiveDate::from_ymd_opt(
        today.year().into(),
        today.month() as u32,
        today.day() as u32,
    )
    .expect("a date");
    let (mut year, mut month) = (today.year() - years, today.month());
    let mut out = Vec::new();
    while (year, month) <= (today.year(), today.month()) {
        let m = (month - 1) as usize;
        let patch_tuesday = second_tuesday(year, month);
        let monthly = Bulletin {
            id: format!("{year}-{}", MONTHS[m]),
            title: format!("{} {year} Security Updates", MONTH_NAMES[m]),
            day: patch_tuesday,
            start: clock_start(patch_tuesday),
        };
        if monthly.start <= now {
            out.push(monthly);
        }
        if month % 4 == 0 {
            let day = patch_tuesday + Duration::days(9 + (year as i64 % 5));
            let oob = Bulletin {
                id: format!("{year}-{}-B", MONTHS[m]),
                title: format!(
                    "{} {}, {year} Out-of-Band Security Update",
                    MONTH_NAMES[m],
                    day.day()
                ),
                day,
                start: clock_start(day),
            };
            if oob.start <= now {
                out.push(oob);
            }
        }
        (year, month) = if month == 12 {
            (year + 1, 1)
        } else {
            (year, month + 1)
        };
    }
    out.sort_by_key(|b| b.start);
    out
}

/// One index entry as the MSRC CVRF API writes it.
fn msrc_entry(out: &mut String, id: &str, title: &str, day: NaiveDate) {
    // Midnight Pacific written in UTC; 08:00Z is on the same UTC day under PST and PDT.
    let date = format!("{}T08:00:00Z", day.format("%Y-%m-%d"));
    let _ = write!(
        out,
        r#"{{"ID":"{id}","Alias":"{id}","DocumentTitle":"{title}","Severity":null,"InitialReleaseDate":"{date}","CurrentReleaseDate":"{date}","CvrfUrl":"https://api.msrc.microsoft.com/cvrf/v3.0/cvrf/{id}"}}"#
    );
}

/// The MSRC `/updates` index for `bulletins`, plus the next month's "Early" document, which is
/// not a bulletin yet.
pub fn msrc_index(bulletins: &[Bulletin], now: i64) -> String {
    let mut out = String::from(
        r#"{"@odata.context":"https://api.msrc.microsoft.com/cvrf/v3.0/$metadata#Updates","value":["#,
    );
    for (i, b) in bulletins.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        msrc_entry(&mut out, &b.id, &b.title, b.day);
    }
    let next = DateTime::<Utc>::from_timestamp(now + 20 * 86400, 0).expect("in range");
    let (year, month) = (next.year(), next.month());
    let m = (month - 1) as usize;
    out.push(',');
    msrc_entry(
        &mut out,
        &format!("{year}-{}", MONTHS[m]),
        &format!("{} {year} Early Security Updates", MONTH_NAMES[m]),
        second_tuesday(year, month) - Duration::days(5),
    );
    out.push_str("]}");
    out
}

/// An MSRC-shaped index of at least `bytes` bytes: monthly documents going back month by month
/// from `now` (as many centuries as it takes), every tenth one with a field the parser does not
/// know, every hundredth one malformed.
pub fn large_msrc_index(bytes: usize, now: i64) -> String {
    let today = DateTime::<Utc>::from_timestamp(now, 0).expect("in range");
    let (mut year, mut month) = (today.year(), today.month());
    let mut out = String::with_capacity(bytes + 1024);
    out.push_str(r#"{"@odata.context":"https://api.msrc.microsoft.com/cvrf/v3.0/$metadata#Updates","value":["#);
    let mut n = 0usize;
    while out.len() < bytes {
        if n > 0 {
            out.push(',');
        }
        let m = (month - 1) as usize;
        let id = format!("{year}-{}", MONTHS[m]);
        if n % 100 == 99 {
            let _ = write!(out, r#"{{"ID":"{id}","InitialReleaseDate":17}}"#);
        } else if n % 10 == 9 {
            let _ = write!(
                out,
                r#"{{"ID":"{id}","DocumentTitle":"{} {year} Security Updates","InitialReleaseDate":"{}T08:00:00","Notes":{{"Revision":[1,2,3],"Text":"Re-released with \"updated\" \u00e9dition"}}}}"#,
                MONTH_NAMES[m],
                second_tuesday(year, month).format("%Y-%m-%d")
            );
        } else {
            msrc_entry(
                &mut out,
                &id,
                &format!("{} {year} Security Updates", MONTH_NAMES[m]),
                second_tuesday(year, month),
            );
        }
        n += 1;
        (year, month) = if month == 1 {
            (year - 1, 12)
        } else {
            (year, month - 1)
        };
    }
    out.push_str("]}");
    out
}

/// The vendor's release list: `releases` content releases, the same number in each tier.
///
/// For every bulletin each tier ships one release listing it, mostly within the goal, about one
/// in seven late, and about one in ten without a covers list (then the earliest such release at
/// or after the bulletin covers it). The newest bulletin is still pending in two tiers. The rest
/// are routine releases that list third-party advisories only, so they cover no bulletin.
pub fn releases_json(bulletins: &[Bulletin], now: i64, releases: usize) -> (String, usize) {
    let mut rng = fastrand::Rng::with_seed(0x5eed_2016);
    let per_tier = releases / TIERS.len();
    let first = bulletins.first().map_or(now, |b| b.start) - 86400;
    let mut out = String::with_capacity(releases * 140);
    out.push_str(r#"{"vendor":"example","releases":["#);
    let mut count = 0usize;
    for (t, (_, goal_h, language)) in TIERS.iter().enumerate() {
        let goal = goal_h * 3600;
        let mut times: Vec<(i64, String)> = Vec::with_capacity(per_tier);
        for (i, b) in bulletins.iter().enumerate() {
            let newest = i + 1 == bulletins.len();
            if newest && t >= 3 {
                continue;
            }
            let delay = if rng.u32(0..7) == 0 {
                goal + rng.i64(3600..2 * goal)
            } else {
                rng.i64(1800..goal - 1800)
            };
            let at = b.start + delay;
            if at > now {
                continue;
            }
            let covers = if rng.u32(0..10) == 0 {
                String::new()
            } else {
                format!(r#""{}""#, b.id)
            };
            times.push((at, covers));
        }
        let routine = per_tier.saturating_sub(times.len()).max(1);
        let step = ((now - first) / routine as i64).max(2);
        for k in 0..routine as i64 {
            let at = first + k * step + rng.i64(0..step / 2);
            let year = DateTime::<Utc>::from_timestamp(at, 0)
                .expect("in range")
                .year();
            let covers = (0..rng.usize(1..4))
                .map(|_| format!(r#""APSB{}-{:02}""#, year % 100, rng.u32(1..60)))
                .collect::<Vec<_>>()
                .join(",");
            times.push((at, covers));
        }
        times.sort();
        for (n, (at, covers)) in times.iter().enumerate() {
            if count > 0 {
                out.push(',');
            }
            let _ = write!(
                out,
                r#"{{"version":"{}.{}","released":"{}","language":"{language}","bulletins":[{covers}]}}"#,
                t + 1,
                n + 1,
                rfc3339(*at)
            );
            count += 1;
        }
    }
    out.push_str("]}");
    (out, count)
}

/// The configuration reading the fixtures: five tiers, default metrics settings (90-day series
/// window), default poll interval.
pub fn config(dir: &Path) -> String {
    let mut tiers = String::new();
    let mut tier_map = Vec::new();
    for (name, goal_h, language) in TIERS {
        let _ = write!(
            tiers,
            "  {name}:\n    goal: {goal_h}h\n    bulletins: [msrc]\n"
        );
        tier_map.push(format!("\"{language}\": {name}"));
    }
    format!(
        "# Ten years of synthetic history (benches/support/history.rs).\n\
         storage:\n  path: {db}\n\
         tiers:\n{tiers}\
         sources:\n\
         \x20 msrc:\n    role: bulletins\n    kind: msrc\n    url: file://{msrc}\n\
         \x20 vendor:\n    role: releases\n    kind: json\n    url: file://{releases}\n\
         \x20   items: $.releases[*]\n    id: $.version\n    published: $.released\n\
         \x20   tier: $.language\n    tier_map: {{{map}}}\n    covers: $.bulletins[*]\n",
        db = dir.join("history.db").display(),
        msrc = dir.join("msrc-updates.json").display(),
        releases = dir.join("releases.json").display(),
        map = tier_map.join(", "),
    )
}

/// Writes `patchlag.yml`, `msrc-updates.json` and `releases.json` into `dir`: `YEARS` years of
/// history with `RELEASES` releases.
pub fn write(dir: &Path, now: i64) -> std::io::Result<Fixtures> {
    write_years(dir, now, YEARS)
}

/// Like `write`, for `years` years of history at the same pace (2,000 releases a year).
pub fn write_years(dir: &Path, now: i64, years: i32) -> std::io::Result<Fixtures> {
    std::fs::create_dir_all(dir)?;
    let dir = dir.canonicalize()?;
    let bulletins = bulletins(now, years);
    let msrc = msrc_index(&bulletins, now);
    let (releases, count) =
        releases_json(&bulletins, now, RELEASES / YEARS as usize * years as usize);
    std::fs::write(dir.join("msrc-updates.json"), &msrc)?;
    std::fs::write(dir.join("releases.json"), &releases)?;
    let config = dir.join("patchlag.yml");
    std::fs::write(&config, self::config(&dir))?;
    Ok(Fixtures {
        config,
        bulletins: bulletins.len(),
        releases: count,
        msrc_bytes: msrc.len(),
        releases_bytes: releases.len(),
    })
}

/// A CVRF month document of about `bytes` bytes: the captured July 2025 document's
/// vulnerabilities (tests/fixtures/msrc/cvrf-2025-Jul.json), repeated under new CVE ids until
/// the answer is that large. Real documents run to 11 MB; most of a document is vulnerabilities.
pub fn large_msrc_document(bytes: usize) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/msrc/cvrf-2025-Jul.json");
    let text = std::fs::read_to_string(path).expect("the captured July 2025 document");
    let mut doc: serde_json::Value = serde_json::from_str(&text).expect("json");
    let captured = doc["Vulnerability"]
        .as_array()
        .cloned()
        .expect("vulnerabilities");
    let template_size = text.len();
    let mut vulnerabilities = Vec::new();
    let mut size = template_size;
    let mut n = 0usize;
    while size < bytes {
        let mut v = captured[n % captured.len()].clone();
        v["CVE"] = serde_json::Value::from(format!("CVE-2099-{n:06}"));
        size += serde_json::to_string(&v).map_or(0, |s| s.len() + 1);
        vulnerabilities.push(v);
        n += 1;
    }
    doc["Vulnerability"] = serde_json::Value::Array(vulnerabilities);
    serde_json::to_vec(&doc).expect("json")
}
