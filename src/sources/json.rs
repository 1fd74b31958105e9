//! `json`: any JSON document; JSONPath (RFC 9535) selects the items and, relative to each item,
//! its id, time, title, tier and covered bulletins.

use serde_json::Value;
use serde_json_path::JsonPath;

use super::{
    clean_covers, resolve_tiers, Fetched, ParseContext, Parsed, PollError, Record, SourceKind,
};
use crate::config::JsonConfig;

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

impl SourceKind for Json {
    fn parse(&self, fetched: &Fetched, ctx: &ParseContext<'_>) -> Result<Parsed, PollError> {
        let doc: Value = serde_json::from_slice(&fetched.body)
            .map_err(|e| PollError::parse(format!("invalid JSON: {e}")))?;
        let items = self.config.items.query(&doc).all();
        let mut parsed = Parsed::default();
        for (n, item) in items.into_iter().enumerate() {
            let Some(id) = first(&self.config.id, item)
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
            else {
                parsed
                    .skipped
                    .push(format!("item {n}: no id at {}", self.config.id));
                continue;
            };
            let Some(time) = first(&self.config.published, item) else {
                parsed.skipped.push(format!(
                    "item {n} ({id}): no time at {}",
                    self.config.published
                ));
                continue;
            };
            let published = match self
                .config
                .time
                .format
                .parse_value(&time, self.config.time.timezone)
            {
                Ok(p) => p,
                Err(e) => {
                    parsed.skipped.push(format!("item {n} ({id}): {e}"));
                    continue;
                }
            };
            let tiers = match &self.config.tiering {
                None => Vec::new(),
                Some(tiering) => {
                    let values = self
                        .config
                        .tier
                        .as_ref()
                        .map(|p| all(p, item))
                        .unwrap_or_default();
                    match resolve_tiers(tiering, &values, ctx.tier_names) {
                        Some(t) => t,
                        None => {
                            parsed.excluded += 1;
                            continue;
                        }
                    }
                }
            };
            let title = self
                .config
                .title
                .as_ref()
                .and_then(|p| first(p, item))
                .unwrap_or_default();
            let covers = self
                .config
                .covers
                .as_ref()
                .map(|p| clean_covers(all(p, item)))
                .unwrap_or_default();
            parsed.records.push(Record {
                id,
                title: title.trim().to_string(),
                published,
                tiers,
                covers,
            });
        }
        Ok(parsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{RecordTime, Tiering};
    use crate::timeparse::{Published, TimeFormat};
    use chrono_tz::Tz;
    use std::collections::BTreeMap;

    fn path(p: &str) -> JsonPath {
        JsonPath::parse(p).expect("valid path")
    }

    fn kind(format: &str) -> Json {
        let map: BTreeMap<String, String> =
            [("English", "english"), ("All languages", "other_languages")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        Json::new(JsonConfig {
            items: path("$.releases[*]"),
            id: path("$.version"),
            published: path("$.released"),
            title: None,
            tier: Some(path("$.language")),
            covers: Some(path("$.bulletins[*]")),
            time: RecordTime {
                format: TimeFormat::parse(format).expect("format"),
                timezone: Tz::America__New_York,
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
