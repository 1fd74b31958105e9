//! `json`: any JSON document; JSONPath (RFC 9535) selects the items and, relative to each item,
//! its id, time, title, tier and covered bulletins.
//!
//! A vendor's release list grows for years. For the usual shape of `items`, `$.name[*]`, the
//! items are read one at a time from the answer instead of from a tree of the whole document,
//! which would take several times the answer's size in memory.

use std::borrow::Cow;
use std::collections::HashMap;

use serde_json::value::RawValue;
use serde_json::Value;
use serde_json_path::JsonPath;

use super::records;
use super::settings::{Key, RecordTime, Settings, Tiering};
use super::{Fetched, Kind, ParseContext, Parsed, PollError, Role, SourceKind};
use crate::yaml::ConfigError;

pub const KIND: Kind = Kind {
    name: "json",
    roles: &[Role::Bulletins, Role::Releases],
    keys: &[
        Key::text("items"),
        Key::text("id"),
        Key::text("published"),
        Key::text("title"),
        Key::text("time_format"),
        Key::text("timezone"),
        Key::text("tier"),
        Key::map("tier_map"),
        Key::list("tiers"),
        Key::text("covers"),
    ],
    configure: |settings| Ok(std::sync::Arc::new(Json::new(configure(settings)?))),
};

#[derive(Debug, Clone)]
pub struct JsonConfig {
    pub items: JsonPath,
    pub id: JsonPath,
    pub published: JsonPath,
    pub title: Option<JsonPath>,
    pub tier: Option<JsonPath>,
    pub covers: Option<JsonPath>,
    pub time: RecordTime,
    /// `None` for bulletin sources.
    pub tiering: Option<Tiering>,
}

fn configure(s: &Settings<'_>) -> Result<JsonConfig, ConfigError> {
    Ok(JsonConfig {
        items: s.required_jsonpath("items")?,
        id: s.required_jsonpath("id")?,
        published: s.required_jsonpath("published")?,
        title: s.jsonpath("title")?,
        tier: s.jsonpath("tier")?,
        covers: s.jsonpath("covers")?,
        time: s.record_time()?,
        tiering: s.release_tiering()?,
    })
}

#[derive(Debug)]
pub struct Json {
    config: JsonConfig,
}

impl Json {
    pub fn new(config: JsonConfig) -> Json {
        Json { config }
    }
}

/// A scalar as text: strings as they are, numbers and booleans written out.
fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn first(path: &JsonPath, item: &Value) -> Option<String> {
    path.query(item).all().into_iter().find_map(scalar)
}

fn all(path: &JsonPath, item: &Value) -> Vec<String> {
    path.query(item)
        .all()
        .into_iter()
        .flat_map(|v| match v {
            // A path that selects an array of ids (`$.bulletins`) means its elements.
            Value::Array(items) => items.iter().filter_map(scalar).collect::<Vec<_>>(),
            other => scalar(other).into_iter().collect(),
        })
        .collect()
}

/// For an items path `$.name[*]` (or `$.name.*`) and a document whose root has a `name`
/// array, that array's elements, borrowed from the answer. `None` for any other shape, which
/// the general JSONPath evaluation then handles.
fn member_items<'a>(items: &JsonPath, body: &'a [u8]) -> Option<Vec<&'a RawValue>> {
    let path = items.to_string();
    let rest = path.strip_prefix("$.")?;
    let name = rest
        .strip_suffix("[*]")
        .or_else(|| rest.strip_suffix(".*"))?;
    let mut chars = name.chars();
    let simple = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !simple {
        return None;
    }
    // Like a JSON object in a tree, a repeated key keeps its last value.
    let root: HashMap<Cow<'_, str>, &RawValue> = serde_json::from_slice(body).ok()?;
    serde_json::from_str(root.get(name)?.get()).ok()
}

impl SourceKind for Json {
    fn describe(&self) -> String {
        "JSON document: a release is dated by the value its published JSONPath selects".to_string()
    }

    fn tiering(&self) -> Option<&Tiering> {
        self.config.tiering.as_ref()
    }

    fn parse(&self, fetched: &Fetched, ctx: &ParseContext<'_>) -> Result<Parsed, PollError> {
        let mut parsed = Parsed::default();
        if let Some(items) = member_items(&self.config.items, &fetched.body) {
            parsed.records.reserve_exact(items.len());
            for (n, raw) in items.into_iter().enumerate() {
                match serde_json::from_str::<Value>(raw.get()) {
                    Ok(item) => self.record(n, &item, ctx, &mut parsed),
                    Err(e) => parsed.skipped.push(format!("item {n}: {e}")),
                }
            }
            return Ok(parsed);
        }
        let doc: Value = serde_json::from_slice(&fetched.body)
            .map_err(|e| PollError::parse(format!("invalid JSON: {e}")))?;
        for (n, item) in self.config.items.query(&doc).all().into_iter().enumerate() {
            self.record(n, item, ctx, &mut parsed);
        }
        Ok(parsed)
    }
}

impl Json {
    /// Reads item `n` into a record, or counts it as skipped or excluded.
    fn record(&self, n: usize, item: &Value, ctx: &ParseContext<'_>, parsed: &mut Parsed) {
        let Some(id) = first(&self.config.id, item)
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
        else {
            parsed
                .skipped
                .push(format!("item {n}: no id at {}", self.config.id));
            return;
        };
        let Some(time) = first(&self.config.published, item) else {
            parsed.skipped.push(format!(
                "item {n} ({id}): no time at {}",
                self.config.published
            ));
            return;
        };
        let published = match self
            .config
            .time
            .format
            .parse_value(&time, &self.config.time.timezone)
        {
            Ok(p) => p,
            Err(e) => {
                parsed.skipped.push(format!("item {n} ({id}): {e}"));
                return;
            }
        };
        let c = &self.config;
        let title = c.title.as_ref().and_then(|p| first(p, item));
        let record = records::finish(
            c.tiering.as_ref(),
            ctx.tier_names,
            id,
            published,
            title.as_deref().unwrap_or_default(),
            || c.tier.as_ref().map(|p| all(p, item)).unwrap_or_default(),
            || c.covers.as_ref().map(|p| all(p, item)).unwrap_or_default(),
        );
        match record {
            Some(record) => parsed.records.push(record),
            None => parsed.excluded += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::settings::{RecordTime, Tiering};
    use crate::timeparse::zone;
    use crate::timeparse::{Published, TimeFormat};
    use std::collections::BTreeMap;

    fn path(p: &str) -> JsonPath {
        JsonPath::parse(p).expect("valid path")
    }

    fn kind(format: &str) -> Json {
        kind_with_items(format, "$.releases[*]")
    }

    fn kind_with_items(format: &str, items: &str) -> Json {
        let map: BTreeMap<String, String> =
            [("English", "english"), ("All languages", "other_languages")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        Json::new(JsonConfig {
            items: path(items),
            id: path("$.version"),
            published: path("$.released"),
            title: None,
            tier: Some(path("$.language")),
            covers: Some(path("$.bulletins[*]")),
            time: RecordTime {
                format: TimeFormat::parse(format).expect("format"),
                timezone: zone("America/New_York").expect("zone"),
            },
            tiering: Some(Tiering::Extracted { map: Some(map) }),
        })
    }

    fn parse(kind: &Json, body: &str) -> Parsed {
        let tiers = vec!["english".to_string(), "other_languages".to_string()];
        let ctx = ParseContext {
            now: 0,
            state: None,
            tier_names: &tiers,
        };
        kind.parse(
            &Fetched {
                body: body.as_bytes().to_vec(),
                ..Default::default()
            },
            &ctx,
        )
        .expect("parses")
    }

    #[test]
    fn maps_items_tiers_and_covers() {
        let body = r#"{"generated":"x","releases":[
            {"version":"2026.11.10.1","released":"2026-11-10T20:00:00Z","language":"English","bulletins":["2026-Nov"]},
            {"version":12,"released":"2026-11-11T09:00:00-05:00","language":"All languages","bulletins":[]},
            {"version":"x","released":"2026-11-11T09:00:00Z","language":"Klingon"},
            {"released":"2026-11-11T09:00:00Z","language":"English"},
            {"version":"y","released":"someday","language":"English"}
        ]}"#;
        let p = parse(&kind("rfc3339"), body);
        assert_eq!(p.records.len(), 2);
        assert_eq!(p.records[0].id, "2026.11.10.1");
        assert_eq!(p.records[0].tiers, vec!["english"]);
        assert_eq!(p.records[0].covers, vec!["2026-Nov"]);
        assert_eq!(p.records[0].published, Published::Instant(1_794_340_800));
        assert_eq!(p.records[1].id, "12");
        assert_eq!(p.records[1].tiers, vec!["other_languages"]);
        assert!(p.records[1].covers.is_empty());
        assert_eq!(p.excluded, 1, "Klingon is not a configured tier");
        assert_eq!(p.skipped.len(), 2);
    }

    #[test]
    fn items_read_one_at_a_time_are_the_items_jsonpath_selects() {
        assert!(member_items(&path("$.releases[*]"), br#"{"releases":[1,2]}"#).is_some());
        assert!(member_items(&path("$.releases.*"), br#"{"releases":[1,2]}"#).is_some());
        assert!(member_items(&path("$['releases'][*]"), br#"{"releases":[1,2]}"#).is_none());
        assert!(member_items(&path("$..releases[*]"), br#"{"releases":[1,2]}"#).is_none());
        assert!(member_items(&path("$.a.releases[*]"), br#"{"releases":[1,2]}"#).is_none());
        let item = |v: &str, lang: &str| {
            format!(
                r#"{{"version":"{v}","released":"2026-11-10T20:00:00Z","language":"{lang}","bulletins":["2026-Nov"]}}"#
            )
        };
        let documents = [
            format!(
                r#"{{"generated":"x","releases":[{},{},17,{}]}}"#,
                item("a", "English"),
                item("b", "All languages"),
                item("c", "Klingon")
            ),
            // A repeated key: the last one counts.
            format!(
                r#"{{"releases":[{}],"releases":[{}]}}"#,
                item("old", "English"),
                item("new", "English")
            ),
            // An object: `[*]` selects its members' values.
            format!(
                r#"{{"releases":{{"x":{},"y":{}}}}}"#,
                item("x", "English"),
                item("y", "English")
            ),
            format!(r#"[{}]"#, item("root", "English")),
            r#"{"other":[]}"#.to_string(),
            r#"{"releases":"none"}"#.to_string(),
        ];
        for doc in &documents {
            let streamed = parse(&kind_with_items("rfc3339", "$.releases[*]"), doc);
            let general = parse(&kind_with_items("rfc3339", "$['releases'][*]"), doc);
            assert_eq!(streamed.records, general.records, "{doc}");
            assert_eq!(streamed.skipped, general.skipped, "{doc}");
            assert_eq!(streamed.excluded, general.excluded, "{doc}");
        }
        let p = parse(&kind("rfc3339"), &documents[1]);
        assert_eq!(p.records.len(), 1);
        assert_eq!(p.records[0].id, "new");
    }

    #[test]
    fn us_date_format_in_zone() {
        let body =
            r#"{"releases":[{"version":"a","released":"11/10/2026 15:00","language":"English"}]}"#;
        let p = parse(&kind("%m/%d/%Y %H:%M"), body);
        assert_eq!(p.records[0].published, Published::Instant(1_794_340_800));
    }

    #[test]
    fn invalid_json_is_a_parse_error() {
        let tiers = vec![];
        let ctx = ParseContext {
            now: 0,
            state: None,
            tier_names: &tiers,
        };
        let err = kind("rfc3339")
            .parse(
                &Fetched {
                    body: b"{\"releases\": [".to_vec(),
                    ..Default::default()
                },
                &ctx,
            )
            .expect_err("truncated");
        assert_eq!(err.reason, super::super::Reason::Parse);
    }
}
