//! `feed`: an RSS 2.0 or Atom feed (RSS 0.9x/1.0 and JSON Feed are read too), one record per
//! entry. The id is the entry's `guid`/`id` (else its link), the time its `pubDate`/`published`
//! (else `updated`), the title its `title`. `title_match` keeps the entries whose title matches;
//! a release's tiers come from `tier_from_title` (every tier whose regex matches the title) or
//! the fixed `tiers`.
//!
//! Works as a bulletin source too, e.g. Microsoft's Security Update Guide RSS: one item per CVE,
//! `guid` the CVE id, an RFC 822 `pubDate`.

use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};

use regex::Regex;

use super::records::resolve_tiers;
use super::settings::{regex_at, Key, RecordTime, RegexEq, Settings, Tiering};
use super::{Fetched, Kind, ParseContext, Parsed, PollError, Record, Role, SourceKind};
use crate::timeparse::Published;
use crate::yaml::{location, ConfigError};

pub const KIND: Kind = Kind {
    name: "feed",
    roles: &[Role::Bulletins, Role::Releases],
    keys: &[
        Key::text("title_match"),
        Key::map("tier_from_title"),
        Key::list("tiers"),
        Key::text("time_format"),
        Key::text("timezone"),
    ],
    configure: |settings| Ok(Arc::new(Feed::new(configure(settings)?))),
};

#[derive(Debug, Clone)]
pub struct FeedConfig {
    pub title_match: Option<Regex>,
    pub time: RecordTime,
    pub tiering: Option<Tiering>,
}

fn configure(s: &Settings<'_>) -> Result<FeedConfig, ConfigError> {
    let mut tiering = s.tiering()?;
    if let Some(map) = s.map("tier_from_title") {
        if tiering.is_some() {
            return Err(s.error(
                "tier_from_title",
                "set either `tier_from_title` or `tiers`, not both",
            ));
        }
        if map.value.is_empty() {
            return Err(s.error(
                "tier_from_title",
                "must map at least one tier to a title regex",
            ));
        }
        let mut list = Vec::new();
        for (tier, re) in &map.value {
            let key = format!("tier_from_title.{tier}");
            if !s.tier_names.contains(tier.as_str()) {
                return Err(s.error_at(Some(location(map)), &key, "unknown tier"));
            }
            let re = regex_at(s.file, location(map), re, &s.key(&key))?;
            list.push((tier.clone(), RegexEq(re)));
        }
        tiering = Some(Tiering::FromTitle(list));
    }
    if s.role == Role::Releases && tiering.is_none() {
        return Err(s.error_at(
            Some(s.kind_at),
            "tiers",
            "a feed release source needs `tiers` or `tier_from_title`",
        ));
    }
    Ok(FeedConfig {
        title_match: s.regex("title_match")?,
        time: s.record_time()?,
        tiering,
    })
}

#[derive(Debug)]
pub struct Feed {
    config: FeedConfig,
}

impl Feed {
    pub fn config(&self) -> &FeedConfig {
        &self.config
    }

    pub fn new(config: FeedConfig) -> Feed {
        Feed { config }
    }

    /// RSS dates are RFC 822 (`Tue, 12 Nov 2024 08:00:00 GMT`, obsolete zones like `PST` and
    /// `Z` included) whatever `time_format` says; anything else goes through `time_format`
    /// (default RFC 3339, Atom's format), so date-only values stay days.
    fn published(&self, text: &str) -> Result<Published, String> {
        let text = text.trim();
        if let Ok(t) = DateTime::parse_from_rfc2822(text) {
            return Ok(Published::Instant(t.timestamp()));
        }
        self.config
            .time
            .format
            .parse_value(text, &self.config.time.timezone)
            .map_err(|e| format!("{e} (nor an RFC 822 date)"))
    }

    fn tiers(&self, title: &str, ctx: &ParseContext<'_>) -> Option<Vec<String>> {
        match &self.config.tiering {
            None => Some(Vec::new()),
            Some(Tiering::FromTitle(list)) => {
                let mut tiers: Vec<String> = list
                    .iter()
                    .filter(|(_, re)| re.0.is_match(title))
                    .map(|(tier, _)| tier.clone())
                    .collect();
                tiers.sort();
                tiers.dedup();
                (!tiers.is_empty()).then_some(tiers)
            }
            Some(tiering) => resolve_tiers(tiering, &[], ctx.tier_names),
        }
    }
}

/// Runs of white space (line breaks in titles, `&nbsp;`) as one space, trimmed.
fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A title as a person reads it: markup of `type="html"` titles dropped.
fn title_text(title: &feed_rs::model::Text) -> String {
    if matches!(title.content_type.subty().as_str(), "html" | "xhtml+xml") {
        let fragment = scraper::Html::parse_fragment(&title.content);
        collapse(&fragment.root_element().text().collect::<String>())
    } else {
        collapse(&title.content)
    }
}

impl SourceKind for Feed {
    fn describe(&self) -> String {
        "RSS/Atom feed: an entry is dated by its publication time (else its update time)"
            .to_string()
    }

    fn tiering(&self) -> Option<&Tiering> {
        self.config.tiering.as_ref()
    }

    fn parse(&self, fetched: &Fetched, ctx: &ParseContext<'_>) -> Result<Parsed, PollError> {
        // feed-rs reads dates into instants with its own lenient rules, dropping the text: a bad
        // date would vanish without a word, and a bare date could not stay a day. Its timestamp
        // hook sees every date's text in document order; keeping the texts and answering each
        // with its index as a stand-in instant leads every entry's date back to its text.
        let texts = Arc::new(Mutex::new(Vec::<String>::new()));
        let sink = texts.clone();
        let parser = feed_rs::parser::Builder::new()
            .sanitize_content(false)
            // An entry without an id gets none (feed-rs would invent one), so ours is stable.
            .id_generator(|_, _, _| String::new())
            .timestamp_parser(move |text| {
                let mut texts = sink.lock().unwrap_or_else(PoisonError::into_inner);
                texts.push(text.to_string());
                DateTime::from_timestamp(texts.len() as i64 - 1, 0)
            })
            .build();
        let feed = parser.parse(fetched.body.as_slice()).map_err(|e| {
            // The parser's own words for broken encoding ("no root element") mislead.
            let encoding = match std::str::from_utf8(&fetched.body) {
                Err(u) => format!(" (the answer is not valid UTF-8: {u})"),
                Ok(_) => String::new(),
            };
            PollError::parse(format!("not an RSS or Atom feed: {e}{encoding}"))
        })?;
        let texts = texts.lock().unwrap_or_else(PoisonError::into_inner);
        let text_of = |t: Option<DateTime<Utc>>| {
            t.and_then(|t| usize::try_from(t.timestamp()).ok())
                .and_then(|i| texts.get(i))
        };

        let mut parsed = Parsed::default();
        for (n, entry) in feed.entries.iter().enumerate() {
            let title = entry.title.as_ref().map(title_text).unwrap_or_default();
            let id = Some(entry.id.trim())
                .filter(|id| !id.is_empty())
                .or_else(|| entry.links.first().map(|l| l.href.trim()))
                .filter(|id| !id.is_empty());
            let Some(id) = id else {
                parsed
                    .skipped
                    .push(format!("entry {n} ({title:?}): no guid, id or link"));
                continue;
            };
            if let Some(re) = &self.config.title_match {
                if !re.is_match(&title) {
                    parsed.excluded += 1;
                    continue;
                }
            }
            let Some(time) = text_of(entry.published).or_else(|| text_of(entry.updated)) else {
                parsed.skipped.push(format!(
                    "entry {n} ({id}): no pubDate, published or updated date"
                ));
                continue;
            };
            let published = match self.published(time) {
                Ok(p) => p,
                Err(e) => {
                    parsed.skipped.push(format!("entry {n} ({id}): {e}"));
                    continue;
                }
            };
            let Some(tiers) = self.tiers(&title, ctx) else {
                parsed.excluded += 1;
                continue;
            };
            parsed.records.push(Record {
                id: id.to_string(),
                title,
                published,
                tiers,
                covers: Vec::new(),
            });
        }
        Ok(parsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::settings::{RecordTime, RegexEq};
    use crate::sources::Reason;
    use crate::timeparse::TimeFormat;
    use chrono::NaiveDate;
    use jiff::tz::TimeZone;
    use regex::Regex;

    fn fixture(name: &str) -> Vec<u8> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/sources")
            .join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    fn ts(s: &str) -> i64 {
        DateTime::parse_from_rfc3339(s).expect("valid").timestamp()
    }

    fn kind(title_match: Option<&str>, tiering: Option<Tiering>) -> Feed {
        Feed::new(FeedConfig {
            title_match: title_match.map(|r| Regex::new(r).expect("regex")),
            time: RecordTime {
                format: TimeFormat::Rfc3339,
                timezone: TimeZone::UTC,
            },
            tiering,
        })
    }

    fn from_title(pairs: &[(&str, &str)]) -> Option<Tiering> {
        Some(Tiering::FromTitle(
            pairs
                .iter()
                .map(|(t, r)| (t.to_string(), RegexEq(Regex::new(r).expect("regex"))))
                .collect(),
        ))
    }

    fn parse(kind: &Feed, body: &[u8]) -> Result<Parsed, PollError> {
        let tiers = vec![
            "english".to_string(),
            "other_languages".to_string(),
            "office365".to_string(),
        ];
        let ctx = ParseContext {
            now: 0,
            state: None,
            tier_names: &tiers,
        };
        kind.parse(
            &Fetched {
                body: body.to_vec(),
                ..Default::default()
            },
            &ctx,
        )
    }

    #[test]
    fn msrc_update_guide_rss_as_bulletins() {
        let p = parse(&kind(None, None), &fixture("msrc-update-guide.rss")).expect("parses");
        let ids: Vec<&str> = p.records.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "CVE-2024-43451",
                "CVE-2024-49039",
                "CVE-2024-38255",
                "ADV240002",
                "https://msrc.microsoft.com/update-guide/vulnerability/CVE-2024-43625"
            ]
        );
        assert_eq!(
            p.records[0].title,
            "CVE-2024-43451 NTLM Hash Disclosure Spoofing Vulnerability"
        );
        // "Z" and "GMT" zones, and an obsolete US zone (PST).
        assert_eq!(
            p.records[0].published,
            Published::Instant(ts("2024-11-12T08:00:00Z"))
        );
        assert_eq!(
            p.records[2].published,
            Published::Instant(ts("2024-11-12T18:00:00Z"))
        );
        assert_eq!(
            p.records[3].published,
            Published::Instant(ts("2024-11-12T18:30:00Z"))
        );
        assert!(p
            .records
            .iter()
            .all(|r| r.tiers.is_empty() && r.covers.is_empty()));
        // One item has no guid (its link is the id, above), one an unparseable date.
        assert_eq!(p.skipped.len(), 1, "{:?}", p.skipped);
        assert!(
            p.skipped[0].contains("CVE-2024-99999") && p.skipped[0].contains("Patch Tuesday"),
            "{:?}",
            p.skipped
        );
    }

    #[test]
    fn title_match_excludes_without_complaint() {
        let p = parse(
            &kind(Some(r"^CVE-"), None),
            &fixture("msrc-update-guide.rss"),
        )
        .expect("parses");
        assert_eq!(p.records.len(), 3);
        assert_eq!(p.excluded, 2, "ADV and the item titled without its CVE id");
        assert_eq!(p.skipped.len(), 1, "the bad date: {:?}", p.skipped);
    }

    #[test]
    fn atom_releases_with_tiers_from_titles() {
        let k = kind(
            Some(r"(?i)content"),
            from_title(&[
                ("english", r"(?i)\benglish\b|\ball languages\b"),
                ("other_languages", r"(?i)\ball languages\b|\bnon-english\b"),
                ("office365", r"(?i)office 365"),
            ]),
        );
        let p = parse(&k, &fixture("vendor-releases.atom")).expect("parses");
        let got: Vec<(&str, Vec<&str>, Published)> = p
            .records
            .iter()
            .map(|r| {
                (
                    r.id.as_str(),
                    r.tiers.iter().map(String::as_str).collect(),
                    r.published.clone(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "urn:pmimport:2024.11.12.1",
                    vec!["english"],
                    Published::Instant(ts("2024-11-12T21:15:00Z"))
                ),
                (
                    "urn:pmimport:2024.11.13.2",
                    vec!["english", "other_languages"],
                    Published::Instant(ts("2024-11-13T16:40:00Z"))
                ),
                (
                    "urn:pmimport:2024.11.13.o365",
                    vec!["office365"],
                    // No <published>: <updated> it is.
                    Published::Instant(ts("2024-11-13T20:00:00Z"))
                ),
                (
                    "urn:pmimport:2024.11.14.o365",
                    vec!["office365"],
                    Published::Day(
                        NaiveDate::from_ymd_opt(2024, 11, 14).expect("date"),
                        TimeZone::UTC
                    )
                ),
                (
                    "urn:pmimport:2024.10.09.1",
                    vec!["english", "other_languages"],
                    Published::Instant(ts("2024-10-09T05:00:00Z"))
                ),
                (
                    "urn:pmimport:2024.10.10.o365",
                    vec!["office365"],
                    Published::Instant(ts("2024-10-10T15:00:00Z"))
                ),
            ]
        );
        assert_eq!(p.records[0].title, "PMImport content for English released");
        assert_eq!(
            p.records[1].title, "PMImport content for all languages released",
            "markup of an HTML title dropped"
        );
        // The maintenance notice fails title_match; the "Klingon" content matches no tier.
        assert_eq!(p.excluded, 2);
        assert_eq!(p.skipped.len(), 2, "{:?}", p.skipped);
        assert!(p.skipped.iter().any(|s| s.contains("no pubDate")));
        assert!(p.skipped.iter().any(|s| s.contains("\"yesterday\"")));
    }

    #[test]
    fn fixed_tiers() {
        let k = kind(None, Some(Tiering::Fixed(vec!["office365".into()])));
        let p = parse(&k, &fixture("vendor-releases.atom")).expect("parses");
        assert!(p.records.iter().all(|r| r.tiers == ["office365"]));
        assert_eq!(p.records.len(), 8);
    }

    #[test]
    fn not_a_feed_is_a_parse_error() {
        for body in [
            &b"<html><body><h1>Service Unavailable</h1></body></html>"[..],
            b"",
            b"<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><item><title>x</title>",
            b"{\"releases\": []}",
        ] {
            let err = parse(&kind(None, None), body).expect_err("not a feed");
            assert_eq!(err.reason, Reason::Parse, "{err}");
            assert!(err.message.starts_with("not an RSS or Atom feed"), "{err}");
        }
    }

    #[test]
    fn invalid_utf8_is_a_parse_error() {
        let mut body = fixture("msrc-update-guide.rss");
        let at = body
            .windows(5)
            .position(|w| w == b"NTLM ")
            .expect("title text");
        body[at] = 0xff;
        body[at + 1] = 0xfe;
        let err = parse(&kind(None, None), &body).expect_err("broken encoding");
        assert_eq!(err.reason, Reason::Parse);
        assert!(
            err.message
                .contains("not valid UTF-8: invalid utf-8 sequence of 1 bytes from index"),
            "{err}"
        );
    }

    #[test]
    fn an_empty_feed_is_an_empty_answer() {
        let body =
            br#"<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>"#;
        let p = parse(&kind(None, None), body).expect("parses");
        assert!(p.records.is_empty() && p.skipped.is_empty());
    }
}
