//! `csv`: a CSV file with a header row; `id`, `published`, `title`, `tier` and `covers` name
//! columns (`covers` is split on `;`).

use super::records;
use super::settings::{Key, RecordTime, Settings, Tiering};
use super::{Fetched, Kind, ParseContext, Parsed, PollError, Role, SourceKind};
use crate::yaml::ConfigError;

pub const KIND: Kind = Kind {
    name: "csv",
    roles: &[Role::Bulletins, Role::Releases],
    keys: &[
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
    configure: |settings| Ok(std::sync::Arc::new(Csv::new(configure(settings)?))),
};

/// Column names.
#[derive(Debug, Clone)]
pub struct CsvConfig {
    pub id: String,
    pub published: String,
    pub title: Option<String>,
    pub tier: Option<String>,
    pub covers: Option<String>,
    pub time: RecordTime,
    pub tiering: Option<Tiering>,
}

fn configure(s: &Settings<'_>) -> Result<CsvConfig, ConfigError> {
    let column = |key: &str| s.text(key).map(|v| v.value.clone());
    Ok(CsvConfig {
        id: s.required_text("id")?.value.clone(),
        published: s.required_text("published")?.value.clone(),
        title: column("title"),
        tier: column("tier"),
        covers: column("covers"),
        time: s.record_time()?,
        tiering: s.release_tiering()?,
    })
}

#[derive(Debug)]
pub struct Csv {
    config: CsvConfig,
}

impl Csv {
    pub fn new(config: CsvConfig) -> Csv {
        Csv { config }
    }
}

impl SourceKind for Csv {
    fn describe(&self) -> String {
        "CSV file: a release is dated by the column its published setting names".to_string()
    }

    fn tiering(&self) -> Option<&Tiering> {
        self.config.tiering.as_ref()
    }

    fn parse(&self, fetched: &Fetched, ctx: &ParseContext<'_>) -> Result<Parsed, PollError> {
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(fetched.body.as_slice());
        let headers = reader
            .headers()
            .map_err(|e| PollError::parse(format!("cannot read the CSV header: {e}")))?
            .clone();
        let column = |name: &str| -> Result<usize, PollError> {
            headers
                .iter()
                .position(|h| h.trim_start_matches('\u{feff}') == name)
                .ok_or_else(|| {
                    PollError::parse(format!(
                        "column {name:?} not in the header ({})",
                        headers.iter().collect::<Vec<_>>().join(",")
                    ))
                })
        };
        let optional = |name: &Option<String>| name.as_deref().map(column).transpose();
        let id_col = column(&self.config.id)?;
        let published_col = column(&self.config.published)?;
        let title_col = optional(&self.config.title)?;
        let tier_col = optional(&self.config.tier)?;
        let covers_col = optional(&self.config.covers)?;

        let mut parsed = Parsed::default();
        for (n, row) in reader.records().enumerate() {
            let line = n + 2;
            let row = match row {
                Ok(r) => r,
                Err(e) => {
                    parsed.skipped.push(format!("line {line}: {e}"));
                    continue;
                }
            };
            let get = |c: usize| row.get(c).map(str::trim).filter(|s| !s.is_empty());
            let Some(id) = get(id_col) else {
                parsed
                    .skipped
                    .push(format!("line {line}: empty {:?}", self.config.id));
                continue;
            };
            let Some(time) = get(published_col) else {
                parsed.skipped.push(format!(
                    "line {line} ({id}): empty {:?}",
                    self.config.published
                ));
                continue;
            };
            let published = match self
                .config
                .time
                .format
                .parse_value(time, &self.config.time.timezone)
            {
                Ok(p) => p,
                Err(e) => {
                    parsed.skipped.push(format!("line {line} ({id}): {e}"));
                    continue;
                }
            };
            let record = records::finish(
                self.config.tiering.as_ref(),
                ctx.tier_names,
                id.to_string(),
                published,
                title_col.and_then(get).unwrap_or_default(),
                || {
                    tier_col
                        .and_then(get)
                        .map(|v| vec![v.to_string()])
                        .unwrap_or_default()
                },
                || {
                    covers_col
                        .and_then(get)
                        .map(|v| v.split(';').map(str::to_string).collect())
                        .unwrap_or_default()
                },
            );
            match record {
                Some(record) => parsed.records.push(record),
                None => parsed.excluded += 1,
            }
        }
        Ok(parsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::settings::{RecordTime, Tiering};
    use crate::timeparse::{Published, TimeFormat};
    use chrono::NaiveDate;
    use jiff::tz::TimeZone;

    fn kind(tiering: Option<Tiering>) -> Csv {
        Csv::new(CsvConfig {
            id: "version".into(),
            published: "date".into(),
            title: None,
            tier: Some("tier".into()),
            covers: Some("covers".into()),
            time: RecordTime {
                format: TimeFormat::Rfc3339,
                timezone: TimeZone::UTC,
            },
            tiering,
        })
    }

    fn parse(kind: &Csv, body: &str) -> Result<Parsed, PollError> {
        let tiers = vec!["english".to_string(), "office365".to_string()];
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
    }

    #[test]
    fn rows_to_records() {
        let body = "version,date,tier,covers\n\
                    7.1,2026-11-10T20:00:00Z,english,2026-Nov; 2026-Oct\n\
                    7.2,2026-11-11,office365,\n\
                    7.3,,english,\n\
                    7.4,2026-11-11,martian,\n\
                    7.5\n";
        let p = parse(&kind(Some(Tiering::Extracted { map: None })), body).expect("parses");
        assert_eq!(p.records.len(), 2);
        assert_eq!(p.records[0].covers, vec!["2026-Nov", "2026-Oct"]);
        assert_eq!(p.records[0].tiers, vec!["english"]);
        assert_eq!(
            p.records[1].published,
            Published::Day(
                NaiveDate::from_ymd_opt(2026, 11, 11).expect("date"),
                TimeZone::UTC
            )
        );
        assert_eq!(p.excluded, 1);
        assert_eq!(p.skipped.len(), 2);
    }

    #[test]
    fn fixed_tiers_and_missing_column() {
        let body = "version,date,tier,covers\n1,2026-11-10T20:00:00Z,,\n";
        let p = parse(
            &kind(Some(Tiering::Fixed(vec![
                "office365".into(),
                "english".into(),
            ]))),
            body,
        )
        .expect("parses");
        assert_eq!(p.records[0].tiers, vec!["english", "office365"]);
        let err = parse(&kind(None), "id,when\n1,2\n").expect_err("no such column");
        assert!(err.message.contains("\"version\""), "{}", err.message);
    }
}
