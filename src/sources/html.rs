//! `html`: a release table (or list) on a web page, such as a vendor's knowledge-base article
//! listing its content releases. `rows` selects one element per record; `id`, `published`,
//! `title`, `tier` and `covers` select, relative to a row, the elements whose text is the
//! value, optionally narrowed by a regex with one capture group. Everything else on the page
//! (navigation, scripts, other tables) is ignored.
//!
//! A page whose `rows` selector matches nothing, or none of whose rows is usable, is a failed
//! poll (reason `parse`): the page has changed and someone should look, and the releases seen so
//! far stay stored. Single malformed rows are skipped and logged.

use std::borrow::Cow;

use ego_tree::iter::Edge;
use regex::Regex;
use scraper::{ElementRef, Node, Selector};

use super::records;
use super::settings::{Key, RecordTime, Settings, Tiering};
use super::{Fetched, Kind, ParseContext, Parsed, PollError, Record, Role, SourceKind};
use crate::timeparse::{Published, TimeFormat};
use crate::yaml::ConfigError;

/// Default `covers_regex`: words shaped like bulletin ids (2026-Nov, 2017-May-B, Oct-OOB,
/// MS17-010, KB5031234, CVE-2024-21412).
pub const DEFAULT_COVERS_REGEX: &str = r"\b((?:\d{4}-[A-Z][a-z]{2}(?:-[A-Z0-9]+)?)|(?:[A-Z][a-z]{2}-OOB)|(?:MS\d{2}-\d{3})|(?:KB\d{6,8})|(?:CVE-\d{4}-\d{4,7}))\b";

pub const KIND: Kind = Kind {
    name: "html",
    roles: &[Role::Bulletins, Role::Releases],
    keys: &[
        Key::text("rows"),
        Key::text("id"),
        Key::text("published"),
        Key::text("title"),
        Key::text("tier"),
        Key::text("covers"),
        Key::text("id_regex"),
        Key::text("published_regex"),
        Key::text("tier_regex"),
        Key::text("covers_regex"),
        Key::text("time_format"),
        Key::text("timezone"),
        Key::map("tier_map"),
        Key::list("tiers"),
    ],
    configure: |settings| Ok(std::sync::Arc::new(Html::new(configure(settings)?))),
};

/// CSS selectors are compiled when the configuration is read, so `--config.check` rejects a
/// bad one with its position. All but `rows` are relative to a row (`:scope` is the row
/// itself).
#[derive(Debug, Clone)]
pub struct HtmlConfig {
    pub rows: Selector,
    pub id: Selector,
    pub published: Selector,
    pub title: Option<Selector>,
    pub tier: Option<Selector>,
    pub covers: Option<Selector>,
    pub id_regex: Option<Regex>,
    pub published_regex: Option<Regex>,
    pub tier_regex: Option<Regex>,
    pub covers_regex: Regex,
    pub time: RecordTime,
    pub tiering: Option<Tiering>,
}

fn configure(s: &Settings<'_>) -> Result<HtmlConfig, ConfigError> {
    let covers_regex = match s.capture_regex("covers_regex")? {
        Some(re) => re,
        None => s.regex_or("covers_regex", DEFAULT_COVERS_REGEX)?,
    };
    // A regex without the value it applies to is a mistake, not a no-op.
    for k in ["tier", "covers"] {
        let regex = format!("{k}_regex");
        if s.is_set(&regex) && !s.is_set(k) {
            return Err(s.error(
                &regex,
                format!("needs `{k}` (the selector whose text it applies to)"),
            ));
        }
    }
    Ok(HtmlConfig {
        rows: s.required_selector("rows")?,
        id: s.required_selector("id")?,
        published: s.required_selector("published")?,
        title: s.selector("title")?,
        tier: s.selector("tier")?,
        covers: s.selector("covers")?,
        id_regex: s.capture_regex("id_regex")?,
        published_regex: s.capture_regex("published_regex")?,
        tier_regex: s.capture_regex("tier_regex")?,
        covers_regex,
        time: s.record_time()?,
        tiering: s.release_tiering()?,
    })
}

#[derive(Debug)]
pub struct Html {
    config: HtmlConfig,
    /// Cells often give only the date where others give date and time (`11/12/2024` beside
    /// `11/12/2024 3:15 PM`): those are read with the date part of `time_format`.
    date_only: Option<TimeFormat>,
}

impl Html {
    pub fn config(&self) -> &HtmlConfig {
        &self.config
    }

    pub fn new(config: HtmlConfig) -> Html {
        let date_only = config.time.format.date_part();
        Html { config, date_only }
    }

    fn published(&self, text: &str) -> Result<Published, String> {
        let tz = &self.config.time.timezone;
        self.config
            .time
            .format
            .parse_value(text, tz)
            .or_else(|e| match &self.date_only {
                Some(date) => date.parse_value(text, tz).map_err(|_| e),
                None => Err(e),
            })
    }

    /// One row as a record; `Ok(None)` when it belongs to no configured tier.
    fn record(
        &self,
        row: ElementRef<'_>,
        ctx: &ParseContext<'_>,
    ) -> Result<Option<Record>, RowError> {
        let c = &self.config;
        let without_id = |message: String| RowError { id: None, message };
        let id_text =
            first_text(row, &c.id).ok_or_else(|| without_id("no element matches `id`".into()))?;
        let id = capture(c.id_regex.as_ref(), &id_text, "id_regex").map_err(without_id)?;
        if id.is_empty() {
            return Err(without_id("empty id".into()));
        }
        let with_id = |message: String| RowError {
            id: Some(id.to_string()),
            message,
        };
        let time = first_text(row, &c.published)
            .ok_or_else(|| with_id("no element matches `published`".into()))?;
        let time =
            capture(c.published_regex.as_ref(), &time, "published_regex").map_err(with_id)?;
        let published = self.published(&time).map_err(with_id)?;
        let title = c.title.as_ref().and_then(|sel| first_text(row, sel));
        // A cell that `tier_regex` does not match names no tier: filtered, like an unmapped
        // value.
        let tier_values = || {
            c.tier
                .as_ref()
                .map(|sel| {
                    select(row, sel)
                        .filter_map(|cell| {
                            let t = text(cell);
                            capture(c.tier_regex.as_ref(), &t, "")
                                .ok()
                                .map(Cow::into_owned)
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        let covers = || {
            c.covers
                .as_ref()
                .map(|sel| {
                    select(row, sel)
                        .flat_map(|cell| {
                            let cell = text(cell);
                            c.covers_regex
                                .captures_iter(&cell)
                                .filter_map(|m| m.get(1).map(|g| g.as_str().to_string()))
                                .collect::<Vec<_>>()
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        Ok(records::finish(
            c.tiering.as_ref(),
            ctx.tier_names,
            id.into_owned(),
            published,
            title.as_deref().unwrap_or_default(),
            tier_values,
            covers,
        ))
    }
}

/// Why a row is unusable, naming its id once known.
struct RowError {
    id: Option<String>,
    message: String,
}

/// The row itself when the selector matches it (`:scope`), then its matching descendants.
fn select<'a, 's>(
    row: ElementRef<'a>,
    selector: &'s Selector,
) -> impl Iterator<Item = ElementRef<'a>> + use<'a, 's> {
    std::iter::once(row)
        .filter(move |r| selector.matches_with_scope(r, Some(*r)))
        .chain(row.select(selector))
}

fn first_text(row: ElementRef<'_>, selector: &Selector) -> Option<String> {
    select(row, selector).next().map(text)
}

/// Elements that separate words when a browser renders them: `11/12/2024<br>3:15 PM` reads as
/// two words, `<b>2024</b>.11.12` as one.
const BREAKING: &[&str] = &[
    "br", "p", "div", "li", "ul", "ol", "td", "th", "tr", "table", "dd", "dt", "dl", "h1", "h2",
    "h3", "h4", "h5", "h6", "hr", "section", "article", "header", "footer",
];

/// An element's text as a person reads it: white space runs (line breaks, `&nbsp;`) as one
/// space, trimmed, scripts and styles left out.
fn text(element: ElementRef<'_>) -> String {
    let mut out = String::new();
    let mut hidden = 0usize;
    for edge in element.traverse() {
        match edge {
            Edge::Open(node) | Edge::Close(node) => {
                let opening = matches!(edge, Edge::Open(_));
                match node.value() {
                    Node::Text(t) if opening && hidden == 0 => out.push_str(t),
                    Node::Element(e) if matches!(e.name(), "script" | "style" | "template") => {
                        if opening {
                            hidden += 1;
                        } else {
                            hidden = hidden.saturating_sub(1);
                        }
                    }
                    Node::Element(e) if BREAKING.contains(&e.name()) => out.push(' '),
                    _ => {}
                }
            }
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The regex's first capture group in `text`, or the whole text without a regex.
fn capture<'t>(re: Option<&Regex>, text: &'t str, key: &str) -> Result<Cow<'t, str>, String> {
    match re {
        None => Ok(Cow::Borrowed(text)),
        Some(re) => re
            .captures(text)
            .and_then(|c| c.get(1))
            .map(|m| Cow::Borrowed(m.as_str().trim()))
            .ok_or_else(|| format!("`{key}` does not match {text:?}")),
    }
}

impl SourceKind for Html {
    fn describe(&self) -> String {
        "web page: a release is dated by the text its published selector selects".to_string()
    }

    fn tiering(&self) -> Option<&Tiering> {
        self.config.tiering.as_ref()
    }

    fn parse(&self, fetched: &Fetched, ctx: &ParseContext<'_>) -> Result<Parsed, PollError> {
        let page = std::str::from_utf8(fetched.body_without_bom())
            .map_err(|e| PollError::parse(format!("the page is not valid UTF-8: {e}")))?;
        let document = scraper::Html::parse_document(page);
        let rows: Vec<ElementRef<'_>> = document.select(&self.config.rows).collect();
        if rows.is_empty() {
            return Err(PollError::parse(
                "no element matches `rows`: the page is empty or its layout has changed",
            ));
        }
        let mut parsed = Parsed::default();
        for (n, row) in rows.iter().enumerate() {
            match self.record(*row, ctx) {
                Ok(Some(record)) => parsed.records.push(record),
                Ok(None) => parsed.excluded += 1,
                Err(RowError {
                    id: Some(id),
                    message,
                }) => parsed
                    .skipped
                    .push(format!("row {} ({id}): {message}", n + 1)),
                Err(RowError { id: None, message }) => {
                    parsed.skipped.push(format!("row {}: {message}", n + 1))
                }
            }
        }
        if parsed.records.is_empty() && !parsed.skipped.is_empty() {
            return Err(PollError::parse(format!(
                "none of the {} rows is usable (has the page's layout changed?); row {}",
                rows.len(),
                parsed.skipped[0].trim_start_matches("row ")
            )));
        }
        Ok(parsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::settings::{RecordTime, Tiering};
    use crate::sources::Reason;
    use crate::timeparse::{local_to_unix, zone};
    use chrono::NaiveDate;
    use jiff::tz::TimeZone;
    use std::collections::BTreeMap;

    fn fixture(name: &str) -> Vec<u8> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/sources")
            .join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    fn sel(s: &str) -> Selector {
        Selector::parse(s).expect("selector")
    }

    /// The configuration `examples/pmimport.yml` uses for the knowledge-base page.
    fn kb() -> HtmlConfig {
        let map: BTreeMap<String, String> = [
            ("English/Invariant", "english"),
            ("All other languages", "other_languages"),
            ("Office 365", "office365"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        HtmlConfig {
            rows: sel("div.kb-article table.release-history > tbody > tr"),
            id: sel("td:nth-child(1)"),
            published: sel("td:nth-child(2)"),
            title: None,
            // A cell with one language, or a list of them.
            tier: Some(sel("td:nth-child(3), td:nth-child(3) li")),
            covers: Some(sel("td:nth-child(4)")),
            id_regex: Some(Regex::new(r"(\d{4}\.\d{2}\.\d{2}\.\d+)").expect("regex")),
            published_regex: None,
            tier_regex: None,
            covers_regex: Regex::new(DEFAULT_COVERS_REGEX).expect("regex"),
            time: RecordTime {
                format: TimeFormat::parse("%m/%d/%Y %I:%M %p").expect("format"),
                timezone: zone("America/Chicago").expect("zone"),
            },
            tiering: Some(Tiering::Extracted { map: Some(map) }),
        }
    }

    fn parse(config: HtmlConfig, body: &[u8]) -> Result<Parsed, PollError> {
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
        Html::new(config).parse(
            &Fetched {
                body: body.to_vec(),
                ..Default::default()
            },
            &ctx,
        )
    }

    fn chicago(y: i32, m: u32, d: u32, h: u32, min: u32) -> Published {
        let t = NaiveDate::from_ymd_opt(y, m, d)
            .and_then(|d| d.and_hms_opt(h, min, 0))
            .expect("time");
        Published::Instant(local_to_unix(&zone("America/Chicago").expect("zone"), t))
    }

    fn day(y: i32, m: u32, d: u32) -> Published {
        Published::Day(
            NaiveDate::from_ymd_opt(y, m, d).expect("date"),
            zone("America/Chicago").expect("zone"),
        )
    }

    #[test]
    fn knowledge_base_release_table() {
        let p = parse(kb(), &fixture("pmimport-kb.html")).expect("parses");
        let got: Vec<(&str, Published, Vec<&str>, Vec<&str>)> = p
            .records
            .iter()
            .map(|r| {
                (
                    r.id.as_str(),
                    r.published.clone(),
                    r.tiers.iter().map(String::as_str).collect(),
                    r.covers.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "2024.11.14.3",
                    day(2024, 11, 14),
                    vec!["office365"],
                    vec!["2024-Nov"]
                ),
                (
                    "2024.11.13.2",
                    chicago(2024, 11, 13, 10, 40),
                    vec!["other_languages"],
                    vec!["2024-Nov", "CVE-2024-43451", "CVE-2024-49039"]
                ),
                (
                    "2024.11.12.1",
                    chicago(2024, 11, 12, 15, 15),
                    vec!["english"],
                    vec!["2024-Nov", "CVE-2024-43451", "CVE-2024-49039"]
                ),
                (
                    "2024.10.09.2",
                    day(2024, 10, 9),
                    vec!["english", "other_languages"],
                    vec!["2024-Oct"]
                ),
                (
                    "2024.10.08.1",
                    chicago(2024, 10, 8, 20, 5),
                    vec!["english"],
                    vec![]
                ),
                (
                    "2024.08.14.1",
                    chicago(2024, 8, 14, 9, 0),
                    vec!["english", "other_languages"],
                    vec!["2024-Aug"]
                ),
            ]
        );
        assert_eq!(p.excluded, 1, "the Klingon row maps to no tier");
        assert_eq!(p.skipped.len(), 2, "{:?}", p.skipped);
        assert!(
            p.skipped[0].contains("2024.09.10.1") && p.skipped[0].contains("\"TBD\""),
            "{:?}",
            p.skipped
        );
        assert!(
            p.skipped[1].contains("no element matches `published`"),
            "{:?}",
            p.skipped
        );
    }

    #[test]
    fn the_example_configuration_reads_the_fixture() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/pmimport.yml");
        let config = crate::config::Config::load(&path).expect("valid example");
        let source = config.source("pmimport_kb").expect("pmimport_kb");
        let html: &dyn std::any::Any = source.parser.as_ref();
        let html: &Html = html.downcast_ref().expect("html");
        let from_example =
            parse(html.config.clone(), &fixture("pmimport-kb.html")).expect("parses");
        let from_test = parse(kb(), &fixture("pmimport-kb.html")).expect("parses");
        assert_eq!(from_example.records, from_test.records);
        assert_eq!(from_example.records.len(), 6);
    }

    #[test]
    fn list_items_with_scope_and_regexes() {
        let body = br#"<html><body><ul class="releases">
            <li>Version 7.1 - released 2024-11-12T20:00:00Z - English - fixes 2024-Nov</li>
            <li>Version 7.2 - released 2024-11-13 - English</li>
            <li>Announcement: the download site moves</li>
        </ul></body></html>"#;
        let config = HtmlConfig {
            rows: sel("ul.releases > li"),
            id: sel(":scope"),
            published: sel(":scope"),
            title: Some(sel(":scope")),
            tier: Some(sel(":scope")),
            covers: Some(sel(":scope")),
            id_regex: Some(Regex::new(r"Version (\S+)").expect("regex")),
            published_regex: Some(Regex::new(r"released (\S+)").expect("regex")),
            tier_regex: Some(Regex::new(r"- (English|French)\b").expect("regex")),
            covers_regex: Regex::new(r"fixes (\S+)").expect("regex"),
            time: RecordTime {
                format: TimeFormat::Rfc3339,
                timezone: TimeZone::UTC,
            },
            tiering: Some(Tiering::Extracted {
                map: Some([("English".to_string(), "english".to_string())].into()),
            }),
        };
        let p = parse(config, body).expect("parses");
        assert_eq!(p.records.len(), 2, "{p:?}");
        assert_eq!(p.records[0].id, "7.1");
        assert_eq!(p.records[0].covers, vec!["2024-Nov"]);
        assert_eq!(p.records[0].published, Published::Instant(1_731_441_600));
        assert_eq!(p.records[1].id, "7.2");
        assert!(p.records[1].covers.is_empty());
        assert_eq!(p.skipped.len(), 1);
        assert!(
            p.skipped[0].contains("`id_regex` does not match"),
            "{:?}",
            p.skipped
        );
    }

    #[test]
    fn text_reads_like_a_browser() {
        let doc = scraper::Html::parse_document(
            "<table><tr><td> 11/12/2024<br>3:15&nbsp;PM <script>var x = '<tr>';</script><b>20</b>24 </td></tr></table>",
        );
        let td = doc.select(&sel("td")).next().expect("td");
        assert_eq!(text(td), "11/12/2024 3:15 PM 2024");
    }

    fn error(config: HtmlConfig, body: &[u8]) -> String {
        let err = parse(config, body).expect_err("fails");
        assert_eq!(err.reason, Reason::Parse, "{err}");
        err.message
    }

    #[test]
    fn broken_pages_are_parse_errors() {
        let page = String::from_utf8(fixture("pmimport-kb.html")).expect("utf-8");
        // The release table is gone (an error page, a redesign).
        let e = error(kb(), b"<html><body><h1>Page not found</h1></body></html>");
        assert!(e.contains("no element matches `rows`"), "{e}");
        // The table is there, but empty.
        let table = page
            .find("<table class=\"release-history\"")
            .expect("table");
        let start = table + page[table..].find("<tbody>").expect("tbody");
        let end = table + page[table..].find("</tbody>").expect("end");
        let empty = format!("{}<tbody>{}", &page[..start], &page[end..]);
        let e = error(kb(), empty.as_bytes());
        assert!(e.contains("no element matches `rows`"), "{e}");
        // A column was dropped: no row is usable.
        let mut config = kb();
        config.published = sel("td:nth-child(6)");
        let e = error(config, page.as_bytes());
        assert!(e.contains("none of the 9 rows is usable"), "{e}");
        assert!(e.contains("no element matches `published`"), "{e}");
        // Dates in another format.
        let mut config = kb();
        config.time.format = TimeFormat::parse("%Y-%m-%d").expect("format");
        let e = error(config, page.as_bytes());
        assert!(e.contains("cannot parse time"), "{e}");
        // Not UTF-8.
        let mut bytes = page.into_bytes();
        let at = bytes
            .windows(10)
            .position(|w| w == b"2024.11.12")
            .expect("id");
        bytes[at] = 0xff;
        let e = error(kb(), &bytes);
        assert!(e.contains("not valid UTF-8"), "{e}");
    }
}
