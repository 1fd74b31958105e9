//! The YAML configuration: schema, defaults, and validation.
//!
//! Parsing happens in two steps. Serde reads the file into `Raw*` structs that mirror the YAML
//! exactly (unknown keys rejected, every scalar that needs checking wrapped in `Spanned` so it
//! keeps its line and column); `validate` then turns them into the typed `Config` the rest of
//! the program uses. Every error, from either step, names the file, the line and column and the
//! dotted key, on one line.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{NaiveDate, NaiveTime, TimeZone as _, Utc};
use jiff::tz::TimeZone;
use regex::Regex;
use scraper::Selector;
use serde::Deserialize;
use serde_json_path::JsonPath;
use serde_saphyr::Spanned;

use crate::duration::parse_duration;
use crate::timeparse::{self, TimeFormat};

pub const DEFAULT_CONFIG_FILE: &str = "patchlag.yml";
pub const DEFAULT_STORAGE_PATH: &str = "patchlag.db";
/// Sources change a few times a month; 15 minutes finds a release well within any goal's margin
/// without bothering the vendor.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(15 * 60);
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// The MSRC index is about 1 MiB today; 32 MiB leaves room for growth and stops a runaway answer.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 32 * 1024 * 1024;
pub const DEFAULT_SERIES_WINDOW: Duration = Duration::from_secs(90 * 86400);
pub const DEFAULT_COMPLIANCE_WINDOW: Duration = Duration::from_secs(365 * 86400);
pub const DEFAULT_AT_RISK_RATIO: f64 = 0.75;
pub const DEFAULT_LATENCY_BUCKETS: [f64; 10] = [
    3600.0, 7200.0, 14400.0, 28800.0, 43200.0, 86400.0, 129600.0, 172800.0, 259200.0, 604800.0,
];
/// The zone of record times without an offset.
pub const DEFAULT_TIMEZONE: &str = "UTC";
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
/// Default `covers_regex` for HTML sources: words shaped like bulletin ids (2026-Nov, 2017-May-B,
/// Oct-OOB, MS17-010, KB5031234, CVE-2024-21412).
pub const DEFAULT_COVERS_REGEX: &str = r"\b((?:\d{4}-[A-Z][a-z]{2}(?:-[A-Z0-9]+)?)|(?:[A-Z][a-z]{2}-OOB)|(?:MS\d{2}-\d{3})|(?:KB\d{6,8})|(?:CVE-\d{4}-\d{4,7}))\b";

/// Filter selectors (`[?...]`) allowed in one JSONPath. The JSONPath parser's time doubles with
/// each filter nested in another, so a path with a few dozen would stall validation,
/// `--config.check` and reloads for minutes; real paths need one or two.
pub const MAX_JSONPATH_FILTERS: usize = 8;

/// A configuration error, always rendered on one line: `file:line:column: key: message`.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub key: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", escape_controls(&self.file.display().to_string()))?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        if self.key.is_empty() {
            write!(f, ": {}", escape_controls(&self.message))
        } else {
            write!(
                f,
                ": {}: {}",
                escape_controls(&self.key),
                escape_controls(&self.message)
            )
        }
    }
}

/// `text` with control characters escaped: a key may be any YAML string, newlines included, and
/// the error must stay on one line.
fn escape_controls(text: &str) -> String {
    text.chars()
        .fold(String::with_capacity(text.len()), |mut out, c| {
            if c.is_control() {
                out.extend(c.escape_default());
            } else {
                out.push(c);
            }
            out
        })
}

impl std::error::Error for ConfigError {}

// ---------------------------------------------------------------------------------------------
// The typed configuration
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct Config {
    pub file: PathBuf,
    pub storage_path: Option<PathBuf>,
    pub metrics: MetricsConfig,
    /// Sorted by name.
    pub tiers: Vec<TierConfig>,
    /// Sorted by name.
    pub sources: Vec<SourceConfig>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MetricsConfig {
    pub series_window: Duration,
    /// Ascending, every tier's goal included.
    pub latency_buckets: Vec<f64>,
    pub compliance_window: Duration,
    pub at_risk_ratio: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TierConfig {
    pub name: String,
    pub goal: Duration,
    pub description: String,
    pub bulletin_sources: Vec<String>,
    /// Unix seconds; bulletins published before are not evaluated for this tier.
    pub since: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Bulletins,
    Releases,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Bulletins => "bulletins",
            Role::Releases => "releases",
        }
    }
}

#[derive(Debug, Clone)]
pub struct SourceConfig {
    pub name: String,
    pub role: Role,
    pub url: String,
    pub interval: Duration,
    pub timeout: Duration,
    pub max_body_bytes: u64,
    pub headers: Vec<(String, String)>,
    pub proxy_url: Option<String>,
    pub tls: TlsConfig,
    pub kind: KindConfig,
}

impl SourceConfig {
    pub fn kind_name(&self) -> &'static str {
        self.kind.name()
    }

    /// Every URL this source reads: its `url`, and for `msrc` the template of its documents.
    pub fn urls(&self) -> Vec<&str> {
        let mut urls = vec![self.url.as_str()];
        if let KindConfig::Msrc(MsrcConfig {
            out_of_band: Some(oob),
            ..
        }) = &self.kind
        {
            urls.push(&oob.documents_url);
        }
        urls
    }

    /// Whether a record of this (release) source can belong to `tier`.
    pub fn may_release_tier(&self, tier: &str) -> bool {
        if self.role != Role::Releases {
            return false;
        }
        match self.kind.tiering() {
            Some(t) => t.may_yield(tier),
            // http_resource and others without explicit tiering: handled by their `tiers`.
            None => false,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct TlsConfig {
    pub ca_file: Option<PathBuf>,
    pub insecure_skip_verify: bool,
}

#[derive(Debug, Clone)]
pub enum KindConfig {
    Msrc(MsrcConfig),
    Json(JsonConfig),
    Csv(CsvConfig),
    Feed(FeedConfig),
    Html(HtmlConfig),
    HttpResource(HttpResourceConfig),
}

impl KindConfig {
    pub fn name(&self) -> &'static str {
        match self {
            KindConfig::Msrc(_) => "msrc",
            KindConfig::Json(_) => "json",
            KindConfig::Csv(_) => "csv",
            KindConfig::Feed(_) => "feed",
            KindConfig::Html(_) => "html",
            KindConfig::HttpResource(_) => "http_resource",
        }
    }

    pub fn tiering(&self) -> Option<&Tiering> {
        match self {
            KindConfig::Msrc(_) => None,
            KindConfig::Json(c) => c.tiering.as_ref(),
            KindConfig::Csv(c) => c.tiering.as_ref(),
            KindConfig::Feed(c) => c.tiering.as_ref(),
            KindConfig::Html(c) => c.tiering.as_ref(),
            KindConfig::HttpResource(c) => Some(&c.tiering),
        }
    }
}

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

/// How a release record finds its tiers.
#[derive(Debug, Clone, PartialEq)]
pub enum Tiering {
    /// Every record belongs to these tiers.
    Fixed(Vec<String>),
    /// A value extracted from the record (JSONPath, column, selector), optionally mapped; without a
    /// map the value itself must be a tier name.
    Extracted {
        map: Option<BTreeMap<String, String>>,
    },
    /// Feeds: a record belongs to every tier whose regex matches its title.
    FromTitle(Vec<(String, RegexEq)>),
}

impl Tiering {
    pub fn may_yield(&self, tier: &str) -> bool {
        match self {
            Tiering::Fixed(tiers) => tiers.iter().any(|t| t == tier),
            Tiering::Extracted { map: Some(map) } => map.values().any(|t| t == tier),
            Tiering::Extracted { map: None } => true,
            Tiering::FromTitle(list) => list.iter().any(|(t, _)| t == tier),
        }
    }

    /// Maps an extracted value to a tier: through the map when there is one (unknown values
    /// yield `None`), else the value itself.
    pub fn map_value(&self, value: &str) -> Option<String> {
        match self {
            Tiering::Extracted { map: Some(map) } => map.get(value.trim()).cloned(),
            Tiering::Extracted { map: None } => Some(value.trim().to_string()),
            _ => None,
        }
    }
}

/// A regex that compares by its source text, so configurations can be compared.
#[derive(Debug, Clone)]
pub struct RegexEq(pub Regex);

impl PartialEq for RegexEq {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

#[derive(Debug, Clone)]
pub struct RecordTime {
    pub format: TimeFormat,
    pub timezone: TimeZone,
}

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

#[derive(Debug, Clone)]
pub struct FeedConfig {
    pub title_match: Option<Regex>,
    pub time: RecordTime,
    pub tiering: Option<Tiering>,
}

/// CSS selectors are compiled here, so `--config.check` rejects a bad one with its position.
/// All but `rows` are relative to a row (`:scope` is the row itself).
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

#[derive(Debug, Clone)]
pub struct HttpResourceConfig {
    pub tiering: Tiering,
}

impl Config {
    pub fn tier(&self, name: &str) -> Option<&TierConfig> {
        self.tiers.iter().find(|t| t.name == name)
    }

    pub fn source(&self, name: &str) -> Option<&SourceConfig> {
        self.sources.iter().find(|s| s.name == name)
    }

    /// Release sources whose records may belong to `tier`.
    pub fn release_sources_of(&self, tier: &str) -> Vec<&SourceConfig> {
        self.sources
            .iter()
            .filter(|s| s.may_release_tier(tier))
            .collect()
    }

    /// Reads and validates a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.to_path_buf(),
            line: None,
            column: None,
            key: String::new(),
            message: format!("cannot read configuration: {e}"),
        })?;
        Config::parse(path, &text)
    }

    /// Parses and validates configuration text; `path` is only used in messages and to resolve
    /// nothing else (relative paths stay relative to the working directory, as in Prometheus).
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let raw = parse_raw(path, text)?;
        Validator { file: path }.validate(raw)
    }
}

// ---------------------------------------------------------------------------------------------
// The YAML as written
// ---------------------------------------------------------------------------------------------

type S<T> = Spanned<T>;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    storage: RawStorage,
    #[serde(default)]
    defaults: RawDefaults,
    #[serde(default)]
    metrics: RawMetrics,
    #[serde(default)]
    tiers: BTreeMap<String, RawTier>,
    #[serde(default)]
    sources: BTreeMap<String, RawSource>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStorage {
    path: Option<S<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDefaults {
    interval: Option<S<String>>,
    timeout: Option<S<String>>,
    max_body_bytes: Option<S<u64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetrics {
    series_window: Option<S<String>>,
    latency_buckets: Option<S<Vec<f64>>>,
    compliance_window: Option<S<String>>,
    at_risk_ratio: Option<S<f64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTier {
    goal: S<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    bulletins: Vec<S<String>>,
    since: Option<S<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    ca_file: Option<S<String>>,
    #[serde(default)]
    insecure_skip_verify: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    role: S<String>,
    kind: S<String>,
    url: S<String>,
    interval: Option<S<String>>,
    timeout: Option<S<String>>,
    max_body_bytes: Option<S<u64>>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    proxy_url: Option<S<String>>,
    tls: Option<RawTls>,
    // msrc
    include_title: Option<S<String>>,
    exclude_title: Option<S<String>>,
    release_time: Option<S<String>>,
    out_of_band: Option<S<bool>>,
    documents_url: Option<S<String>>,
    // record mapping (json, csv, html)
    items: Option<S<String>>,
    rows: Option<S<String>>,
    id: Option<S<String>>,
    published: Option<S<String>>,
    title: Option<S<String>>,
    time_format: Option<S<String>>,
    timezone: Option<S<String>>,
    tier: Option<S<String>>,
    tier_map: Option<S<BTreeMap<String, String>>>,
    tiers: Option<S<Vec<String>>>,
    covers: Option<S<String>>,
    // html
    id_regex: Option<S<String>>,
    published_regex: Option<S<String>>,
    tier_regex: Option<S<String>>,
    covers_regex: Option<S<String>>,
    // feed
    title_match: Option<S<String>>,
    tier_from_title: Option<S<BTreeMap<String, String>>>,
}

fn parse_raw(path: &Path, text: &str) -> Result<RawConfig, ConfigError> {
    if text.trim().is_empty() {
        return Err(ConfigError {
            file: path.to_path_buf(),
            line: None,
            column: None,
            key: String::new(),
            message: "configuration is empty: it needs at least `tiers` and `sources`".into(),
        });
    }
    parse_yaml(path, text)
}

/// Deserializes YAML into `T`; errors name the file, line, column and dotted key, on one line.
/// Shared with the web configuration file.
pub(crate) fn parse_yaml<T: serde::de::DeserializeOwned>(
    path: &Path,
    text: &str,
) -> Result<T, ConfigError> {
    let mut failing_path = String::new();
    let options = serde_saphyr::options! { with_snippet: false };
    let result = serde_saphyr::with_deserializer_from_str_with_options(text, options, |de| {
        serde_path_to_error::deserialize::<_, T>(de).map_err(|e| {
            failing_path = e.path().to_string();
            e.into_inner()
        })
    });
    result.map_err(|e| {
        let location = e.location();
        // Drop the path segments serde adds for wrappers (`Spanned` values, unknown positions).
        let key = failing_path
            .split('.')
            .filter(|seg| !seg.is_empty() && *seg != "?")
            .collect::<Vec<_>>()
            .join(".");
        let key = key.strip_suffix(".value").unwrap_or(&key).to_string();
        let mut message = e.to_string();
        // The library appends its own position; the file:line:column prefix already says it.
        if let Some(idx) = message.find(" at line ") {
            message.truncate(idx);
        }
        ConfigError {
            file: path.to_path_buf(),
            line: location.map(|l| l.line() as usize).filter(|l| *l > 0),
            column: location.map(|l| l.column() as usize).filter(|c| *c > 0),
            key,
            message: message
                .lines()
                .next()
                .unwrap_or_default()
                .trim()
                .to_string(),
        }
    })
}

// ---------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------

struct Validator<'a> {
    file: &'a Path,
}

const KIND_NAMES: [&str; 6] = ["msrc", "json", "csv", "feed", "html", "http_resource"];

/// Keys every source takes, whatever its kind.
const COMMON_KEYS: [&str; 9] = [
    "role",
    "kind",
    "url",
    "interval",
    "timeout",
    "max_body_bytes",
    "headers",
    "proxy_url",
    "tls",
];

fn kind_keys(kind: &str) -> &'static [&'static str] {
    match kind {
        "msrc" => &[
            "timezone",
            "release_time",
            "include_title",
            "exclude_title",
            "out_of_band",
            "documents_url",
        ],
        "json" => &[
            "items",
            "id",
            "published",
            "title",
            "time_format",
            "timezone",
            "tier",
            "tier_map",
            "tiers",
            "covers",
        ],
        "csv" => &[
            "id",
            "published",
            "title",
            "time_format",
            "timezone",
            "tier",
            "tier_map",
            "tiers",
            "covers",
        ],
        "feed" => &[
            "title_match",
            "tier_from_title",
            "tiers",
            "time_format",
            "timezone",
        ],
        "html" => &[
            "rows",
            "id",
            "published",
            "title",
            "tier",
            "covers",
            "id_regex",
            "published_regex",
            "tier_regex",
            "covers_regex",
            "time_format",
            "timezone",
            "tier_map",
            "tiers",
        ],
        "http_resource" => &["tiers"],
        _ => &[],
    }
}

impl RawSource {
    /// The optional keys that are set, with their locations, for the per-kind key check.
    fn present_keys(&self) -> Vec<(&'static str, Option<(usize, usize)>)> {
        fn loc<T>(v: &Option<S<T>>) -> Option<(usize, usize)> {
            v.as_ref()
                .map(|s| (s.referenced.line() as usize, s.referenced.column() as usize))
        }
        let mut keys = Vec::new();
        macro_rules! key {
            ($name:ident) => {
                if self.$name.is_some() {
                    keys.push((stringify!($name), loc(&self.$name)));
                }
            };
        }
        key!(include_title);
        key!(exclude_title);
        key!(release_time);
        key!(out_of_band);
        key!(documents_url);
        key!(items);
        key!(rows);
        key!(id);
        key!(published);
        key!(title);
        key!(time_format);
        key!(timezone);
        key!(tier);
        key!(tier_map);
        key!(tiers);
        key!(covers);
        key!(id_regex);
        key!(published_regex);
        key!(tier_regex);
        key!(covers_regex);
        key!(title_match);
        key!(tier_from_title);
        keys
    }
}

impl Validator<'_> {
    fn err<T>(
        &self,
        at: Option<&S<T>>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> ConfigError {
        ConfigError {
            file: self.file.to_path_buf(),
            line: at.map(|s| s.referenced.line() as usize).filter(|l| *l > 0),
            column: at
                .map(|s| s.referenced.column() as usize)
                .filter(|c| *c > 0),
            key: key.into(),
            message: message.into(),
        }
    }

    fn err_at(
        &self,
        at: Option<(usize, usize)>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> ConfigError {
        ConfigError {
            file: self.file.to_path_buf(),
            line: at.map(|l| l.0).filter(|l| *l > 0),
            column: at.map(|l| l.1).filter(|c| *c > 0),
            key: key.into(),
            message: message.into(),
        }
    }

    fn duration(&self, value: &S<String>, key: &str) -> Result<Duration, ConfigError> {
        parse_duration(&value.value).map_err(|e| self.err(Some(value), key, e))
    }

    fn positive_duration(&self, value: &S<String>, key: &str) -> Result<Duration, ConfigError> {
        let d = self.duration(value, key)?;
        if d.is_zero() {
            return Err(self.err(Some(value), key, "must be greater than zero"));
        }
        Ok(d)
    }

    fn validate(&self, raw: RawConfig) -> Result<Config, ConfigError> {
        let storage_path = raw.storage.path.as_ref().map(|p| PathBuf::from(&p.value));
        if let Some(p) = &raw.storage.path {
            if p.value.trim().is_empty() {
                return Err(self.err(Some(p), "storage.path", "must not be empty"));
            }
        }

        let default_interval = match &raw.defaults.interval {
            Some(v) => self.positive_duration(v, "defaults.interval")?,
            None => DEFAULT_INTERVAL,
        };
        let default_timeout = match &raw.defaults.timeout {
            Some(v) => self.positive_duration(v, "defaults.timeout")?,
            None => DEFAULT_TIMEOUT,
        };
        let default_max_body = match &raw.defaults.max_body_bytes {
            Some(v) if v.value == 0 => {
                return Err(self.err(
                    Some(v),
                    "defaults.max_body_bytes",
                    "must be greater than zero",
                ))
            }
            Some(v) => v.value,
            None => DEFAULT_MAX_BODY_BYTES,
        };

        // Roles first: tiers refer to bulletin sources by name.
        let mut roles = BTreeMap::new();
        for (name, src) in &raw.sources {
            let key = format!("sources.{name}.role");
            let role = match src.role.value.as_str() {
                "bulletins" => Role::Bulletins,
                "releases" => Role::Releases,
                other => {
                    return Err(self.err(
                        Some(&src.role),
                        key,
                        format!("unknown role {other:?}, expected \"bulletins\" or \"releases\""),
                    ))
                }
            };
            roles.insert(name.clone(), role);
        }

        let mut tiers = Vec::new();
        for (name, t) in &raw.tiers {
            check_name(name).map_err(|m| self.err(Some(&t.goal), format!("tiers.{name}"), m))?;
            let goal = self.positive_duration(&t.goal, &format!("tiers.{name}.goal"))?;
            if t.bulletins.is_empty() {
                return Err(self.err(
                    Some(&t.goal),
                    format!("tiers.{name}.bulletins"),
                    "a tier needs at least one bulletin source",
                ));
            }
            let mut bulletin_sources = Vec::new();
            for b in &t.bulletins {
                match roles.get(&b.value) {
                    Some(Role::Bulletins) => bulletin_sources.push(b.value.clone()),
                    Some(Role::Releases) => {
                        return Err(self.err(
                            Some(b),
                            format!("tiers.{name}.bulletins"),
                            format!("source {:?} has role releases, not bulletins", b.value),
                        ))
                    }
                    None => {
                        return Err(self.err(
                            Some(b),
                            format!("tiers.{name}.bulletins"),
                            format!("unknown source {:?}", b.value),
                        ))
                    }
                }
            }
            let since = match &t.since {
                Some(s) => Some(
                    parse_since(&s.value)
                        .map_err(|m| self.err(Some(s), format!("tiers.{name}.since"), m))?,
                ),
                None => None,
            };
            tiers.push(TierConfig {
                name: name.clone(),
                goal,
                description: t.description.clone().unwrap_or_default(),
                bulletin_sources,
                since,
            });
        }
        if tiers.is_empty() {
            return Err(self.err::<()>(None, "tiers", "at least one tier is required"));
        }
        let tier_names: BTreeSet<&str> = tiers.iter().map(|t| t.name.as_str()).collect();

        let metrics = self.metrics(&raw.metrics, &tiers)?;

        let mut sources = Vec::new();
        for (name, src) in &raw.sources {
            let role = roles[name];
            sources.push(self.source(
                name,
                src,
                role,
                &tier_names,
                (default_interval, default_timeout, default_max_body),
                metrics.series_window,
            )?);
        }
        if sources.is_empty() {
            return Err(self.err::<()>(None, "sources", "at least one source is required"));
        }
        for t in &tiers {
            if !sources.iter().any(|s| s.may_release_tier(&t.name)) {
                return Err(self.err(
                    raw.tiers.get(&t.name).map(|r| &r.goal),
                    format!("tiers.{}", t.name),
                    "no release source can produce this tier (use `tiers`, or a `tier_map` value naming it)",
                ));
            }
        }

        Ok(Config {
            file: self.file.to_path_buf(),
            storage_path,
            metrics,
            tiers,
            sources,
        })
    }

    fn metrics(
        &self,
        raw: &RawMetrics,
        tiers: &[TierConfig],
    ) -> Result<MetricsConfig, ConfigError> {
        let series_window = match &raw.series_window {
            Some(v) => self.positive_duration(v, "metrics.series_window")?,
            None => DEFAULT_SERIES_WINDOW,
        };
        let compliance_window = match &raw.compliance_window {
            Some(v) => self.positive_duration(v, "metrics.compliance_window")?,
            None => DEFAULT_COMPLIANCE_WINDOW,
        };
        let at_risk_ratio = match &raw.at_risk_ratio {
            Some(v) if !(v.value > 0.0 && v.value <= 1.0) => {
                return Err(self.err(
                    Some(v),
                    "metrics.at_risk_ratio",
                    "must be greater than 0 and at most 1",
                ))
            }
            Some(v) => v.value,
            None => DEFAULT_AT_RISK_RATIO,
        };
        let mut buckets = match &raw.latency_buckets {
            Some(v) => {
                for w in v.value.windows(2) {
                    if w[0] >= w[1] {
                        return Err(self.err(
                            Some(v),
                            "metrics.latency_buckets",
                            "buckets must be in strictly increasing order",
                        ));
                    }
                }
                if v.value.iter().any(|b| !b.is_finite() || *b <= 0.0) {
                    return Err(self.err(
                        Some(v),
                        "metrics.latency_buckets",
                        "buckets must be positive finite numbers of seconds",
                    ));
                }
                v.value.clone()
            }
            None => DEFAULT_LATENCY_BUCKETS.to_vec(),
        };
        // A histogram answers "what share met the goal" exactly only at a bucket boundary.
        for t in tiers {
            buckets.push(t.goal.as_secs_f64());
        }
        buckets.sort_by(f64::total_cmp);
        buckets.dedup();
        Ok(MetricsConfig {
            series_window,
            latency_buckets: buckets,
            compliance_window,
            at_risk_ratio,
        })
    }

    fn source(
        &self,
        name: &str,
        src: &RawSource,
        role: Role,
        tier_names: &BTreeSet<&str>,
        defaults: (Duration, Duration, u64),
        series_window: Duration,
    ) -> Result<SourceConfig, ConfigError> {
        let key = |k: &str| format!("sources.{name}.{k}");
        check_name(name).map_err(|m| self.err(Some(&src.kind), format!("sources.{name}"), m))?;
        let kind = src.kind.value.as_str();
        if !KIND_NAMES.contains(&kind) {
            return Err(self.err(
                Some(&src.kind),
                key("kind"),
                format!(
                    "unknown kind {kind:?}, expected one of {}",
                    KIND_NAMES.join(", ")
                ),
            ));
        }
        match (kind, role) {
            ("msrc", Role::Releases) => {
                return Err(self.err(
                    Some(&src.role),
                    key("role"),
                    "kind msrc is a bulletin source: use role bulletins",
                ))
            }
            ("http_resource", Role::Bulletins) => {
                return Err(self.err(
                    Some(&src.role),
                    key("role"),
                    "kind http_resource is a release source: use role releases",
                ))
            }
            _ => {}
        }
        let allowed = kind_keys(kind);
        for (k, at) in src.present_keys() {
            if !allowed.contains(&k) && !COMMON_KEYS.contains(&k) {
                return Err(self.err_at(at, key(k), format!("not a setting of kind {kind}")));
            }
            if role == Role::Bulletins
                && matches!(
                    k,
                    "tier" | "tier_map" | "tiers" | "tier_from_title" | "covers" | "tier_regex"
                )
            {
                return Err(self.err_at(
                    at,
                    key(k),
                    "tiers and covers belong to release sources; a tier lists its bulletin sources under `tiers.<name>.bulletins`",
                ));
            }
        }

        let url = self.url(&src.url, &key("url"))?;
        let interval = match &src.interval {
            Some(v) => self.positive_duration(v, &key("interval"))?,
            None => defaults.0,
        };
        let timeout = match &src.timeout {
            Some(v) => self.positive_duration(v, &key("timeout"))?,
            None => defaults.1,
        };
        let max_body_bytes = match &src.max_body_bytes {
            Some(v) if v.value == 0 => {
                return Err(self.err(Some(v), key("max_body_bytes"), "must be greater than zero"))
            }
            Some(v) => v.value,
            None => defaults.2,
        };
        let proxy_url = match &src.proxy_url {
            Some(p) => {
                let parsed = url::Url::parse(&p.value).map_err(|e| {
                    self.err(Some(p), key("proxy_url"), format!("invalid URL: {e}"))
                })?;
                if !matches!(parsed.scheme(), "http" | "https" | "socks5" | "socks5h") {
                    return Err(self.err(
                        Some(p),
                        key("proxy_url"),
                        "scheme must be http, https or socks5",
                    ));
                }
                Some(p.value.clone())
            }
            None => None,
        };
        let mut headers = Vec::new();
        for (k, v) in &src.headers {
            if reqwest::header::HeaderName::from_bytes(k.as_bytes()).is_err() {
                return Err(self.err(
                    Some(&src.url),
                    key(&format!("headers.{k}")),
                    "invalid header name",
                ));
            }
            if reqwest::header::HeaderValue::from_str(v).is_err() {
                return Err(self.err(
                    Some(&src.url),
                    key(&format!("headers.{k}")),
                    "invalid header value",
                ));
            }
            headers.push((k.clone(), v.clone()));
        }
        let tls = match &src.tls {
            Some(t) => TlsConfig {
                ca_file: match &t.ca_file {
                    Some(f) => {
                        if !Path::new(&f.value).is_file() {
                            return Err(self.err(
                                Some(f),
                                key("tls.ca_file"),
                                format!("no such file: {}", f.value),
                            ));
                        }
                        Some(PathBuf::from(&f.value))
                    }
                    None => None,
                },
                insecure_skip_verify: t.insecure_skip_verify,
            },
            None => TlsConfig::default(),
        };

        let kind = match kind {
            "msrc" => KindConfig::Msrc(self.msrc(name, src, &url, series_window)?),
            "json" => KindConfig::Json(self.json(name, src, role, tier_names)?),
            "csv" => KindConfig::Csv(self.csv(name, src, role, tier_names)?),
            "feed" => KindConfig::Feed(self.feed(name, src, role, tier_names)?),
            "html" => KindConfig::Html(self.html(name, src, role, tier_names)?),
            _ => KindConfig::HttpResource(HttpResourceConfig {
                tiering: match self.tiering(name, src, role, tier_names, false)? {
                    Some(t) => t,
                    None => {
                        return Err(self.err(
                            Some(&src.kind),
                            key("tiers"),
                            "required for kind http_resource",
                        ))
                    }
                },
            }),
        };

        Ok(SourceConfig {
            name: name.to_string(),
            role,
            url,
            interval,
            timeout,
            max_body_bytes,
            headers,
            proxy_url,
            tls,
            kind,
        })
    }

    fn url(&self, url: &S<String>, key: &str) -> Result<String, ConfigError> {
        // `file:relative/path` is resolved against the configuration file's directory, as
        // Prometheus resolves relative paths in its own configuration.
        if let Some(rel) = url
            .value
            .strip_prefix("file:")
            .filter(|r| !r.starts_with('/') && !r.is_empty())
        {
            let dir = self
                .file
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let dir = std::path::absolute(dir)
                .map_err(|e| self.err(Some(url), key, format!("cannot resolve {rel:?}: {e}")))?;
            return url::Url::from_file_path(dir.join(rel))
                .map(|u| u.to_string())
                .map_err(|_| {
                    self.err(
                        Some(url),
                        key,
                        format!("cannot resolve {rel:?} to a file URL"),
                    )
                });
        }
        let parsed = url::Url::parse(&url.value)
            .map_err(|e| self.err(Some(url), key, format!("invalid URL: {e}")))?;
        match parsed.scheme() {
            "http" | "https" => {
                if parsed.host_str().is_none_or(str::is_empty) {
                    return Err(self.err(Some(url), key, "URL has no host"));
                }
            }
            "file" => {
                if parsed.to_file_path().is_err() || !url.value.starts_with("file:///") {
                    return Err(self.err(
                        Some(url),
                        key,
                        "file URLs must be absolute: file:///path/to/file",
                    ));
                }
            }
            other => {
                return Err(self.err(
                    Some(url),
                    key,
                    format!("unsupported scheme {other:?}: use http, https or file"),
                ))
            }
        }
        Ok(url.value.clone())
    }

    fn timezone(
        &self,
        name: &str,
        src: &RawSource,
        default: &str,
    ) -> Result<TimeZone, ConfigError> {
        let (tz, found) = match &src.timezone {
            Some(tz) => (Some(tz), timeparse::zone(&tz.value)),
            None => (None, timeparse::zone(default)),
        };
        found.ok_or_else(|| {
            self.err(
                tz,
                format!("sources.{name}.timezone"),
                format!(
                    "unknown IANA time zone {:?}",
                    tz.map_or(default, |tz| tz.value.as_str())
                ),
            )
        })
    }

    fn record_time(&self, name: &str, src: &RawSource) -> Result<RecordTime, ConfigError> {
        let format = match &src.time_format {
            Some(f) => TimeFormat::parse(&f.value)
                .map_err(|m| self.err(Some(f), format!("sources.{name}.time_format"), m))?,
            None => TimeFormat::Rfc3339,
        };
        Ok(RecordTime {
            format,
            timezone: self.timezone(name, src, DEFAULT_TIMEZONE)?,
        })
    }

    fn regex(&self, value: &Option<S<String>>, key: String) -> Result<Option<Regex>, ConfigError> {
        match value {
            Some(v) => Regex::new(&v.value).map(Some).map_err(|e| {
                self.err(
                    Some(v),
                    key,
                    format!("invalid regex: {}", one_line(&e.to_string())),
                )
            }),
            None => Ok(None),
        }
    }

    fn capture_regex(
        &self,
        value: &Option<S<String>>,
        key: String,
    ) -> Result<Option<Regex>, ConfigError> {
        let re = self.regex(value, key.clone())?;
        if let (Some(re), Some(v)) = (&re, value) {
            if re.captures_len() < 2 {
                return Err(self.err(
                    Some(v),
                    key,
                    "needs one capture group, e.g. \"Version (\\\\S+)\"",
                ));
            }
        }
        Ok(re)
    }

    fn selector(&self, value: &S<String>, key: String) -> Result<Selector, ConfigError> {
        if value.value.trim().is_empty() {
            return Err(self.err(Some(value), key, "empty CSS selector"));
        }
        Selector::parse(&value.value).map_err(|e| {
            let why = match e {
                // Its Display asks the user to report a bug; the kind itself is the useful part.
                scraper::error::SelectorErrorKind::UnexpectedSelectorParseError(kind) => {
                    format!("{kind:?}")
                }
                other => one_line(&other.to_string()),
            };
            self.err(
                Some(value),
                key,
                format!("invalid CSS selector {:?}: {why}", value.value),
            )
        })
    }

    fn jsonpath(&self, value: &S<String>, key: String) -> Result<JsonPath, ConfigError> {
        let filters = value.value.matches('?').count();
        if filters > MAX_JSONPATH_FILTERS {
            return Err(self.err(
                Some(value),
                key,
                format!(
                    "JSONPath with {filters} filters (`?`): at most {MAX_JSONPATH_FILTERS} are allowed"
                ),
            ));
        }
        JsonPath::parse(&value.value).map_err(|e| {
            self.err(
                Some(value),
                key,
                format!("invalid JSONPath: {}", one_line(&e.to_string())),
            )
        })
    }

    fn required<'s>(
        &self,
        name: &str,
        src: &'s RawSource,
        value: &'s Option<S<String>>,
        k: &str,
    ) -> Result<&'s S<String>, ConfigError> {
        value.as_ref().ok_or_else(|| {
            self.err(
                Some(&src.kind),
                format!("sources.{name}.{k}"),
                format!("required for kind {}", src.kind.value),
            )
        })
    }

    /// Tier settings of a release source: exactly one of an extracted value (`tier`, optionally
    /// with `tier_map`) or a fixed `tiers` list.
    fn tiering(
        &self,
        name: &str,
        src: &RawSource,
        role: Role,
        tier_names: &BTreeSet<&str>,
        extractable: bool,
    ) -> Result<Option<Tiering>, ConfigError> {
        if role == Role::Bulletins {
            return Ok(None);
        }
        let key = |k: &str| format!("sources.{name}.{k}");
        if let Some(map) = &src.tier_map {
            for (value, tier) in &map.value {
                if !tier_names.contains(tier.as_str()) {
                    return Err(self.err(
                        Some(map),
                        key(&format!("tier_map.{value}")),
                        format!("unknown tier {tier:?}"),
                    ));
                }
            }
            if src.tier.is_none() {
                return Err(self.err(
                    Some(map),
                    key("tier_map"),
                    "needs `tier` (the value to map)",
                ));
            }
        }
        match (&src.tier, &src.tiers) {
            (Some(t), Some(_)) => Err(self.err(
                Some(t),
                key("tier"),
                "set either `tier` or `tiers`, not both",
            )),
            (Some(t), None) if extractable => {
                let _ = t;
                Ok(Some(Tiering::Extracted {
                    map: src.tier_map.as_ref().map(|m| m.value.clone()),
                }))
            }
            (Some(t), None) => Err(self.err(Some(t), key("tier"), "not a setting of this kind")),
            (None, Some(list)) => {
                if list.value.is_empty() {
                    return Err(self.err(Some(list), key("tiers"), "must name at least one tier"));
                }
                for tier in &list.value {
                    if !tier_names.contains(tier.as_str()) {
                        return Err(self.err(
                            Some(list),
                            key("tiers"),
                            format!("unknown tier {tier:?}"),
                        ));
                    }
                }
                Ok(Some(Tiering::Fixed(list.value.clone())))
            }
            (None, None) => Ok(None),
        }
    }

    fn release_tiering(
        &self,
        name: &str,
        src: &RawSource,
        role: Role,
        tier_names: &BTreeSet<&str>,
    ) -> Result<Option<Tiering>, ConfigError> {
        let t = self.tiering(name, src, role, tier_names, true)?;
        if role == Role::Releases && t.is_none() {
            return Err(self.err(
                Some(&src.kind),
                format!("sources.{name}.tier"),
                "a release source needs `tier` (with an optional `tier_map`) or `tiers`",
            ));
        }
        Ok(t)
    }

    fn msrc(
        &self,
        name: &str,
        src: &RawSource,
        url: &str,
        series_window: Duration,
    ) -> Result<MsrcConfig, ConfigError> {
        let key = |k: &str| format!("sources.{name}.{k}");
        let release_time = match &src.release_time {
            Some(t) => NaiveTime::parse_from_str(&t.value, "%H:%M")
                .or_else(|_| NaiveTime::parse_from_str(&t.value, "%H:%M:%S"))
                .map_err(|_| {
                    self.err(
                        Some(t),
                        key("release_time"),
                        "expected HH:MM, e.g. \"10:00\"",
                    )
                })?,
            None => NaiveTime::parse_from_str(DEFAULT_MSRC_RELEASE_TIME, "%H:%M")
                .map_err(|_| self.err::<()>(None, key("release_time"), "bad default"))?,
        };
        let regex_or = |value: &Option<S<String>>, k: &str, default: &str| match self
            .regex(value, key(k))?
        {
            Some(re) => Ok(re),
            None => Regex::new(default).map_err(|e| self.err::<()>(None, key(k), e.to_string())),
        };
        let out_of_band = src
            .out_of_band
            .as_ref()
            .map_or(DEFAULT_MSRC_OUT_OF_BAND, |v| v.value);
        if let (false, Some(d)) = (out_of_band, &src.documents_url) {
            return Err(self.err(
                Some(d),
                key("documents_url"),
                "out_of_band is false: no document is read",
            ));
        }
        let documents_url = match &src.documents_url {
            Some(template) => Some(self.documents_url(template, &key("documents_url"))?),
            None => default_documents_url(url),
        };
        Ok(MsrcConfig {
            timezone: self.timezone(name, src, DEFAULT_MSRC_TIMEZONE)?,
            release_time,
            include_title: regex_or(
                &src.include_title,
                "include_title",
                DEFAULT_MSRC_INCLUDE_TITLE,
            )?,
            exclude_title: regex_or(
                &src.exclude_title,
                "exclude_title",
                DEFAULT_MSRC_EXCLUDE_TITLE,
            )?,
            out_of_band: documents_url.filter(|_| out_of_band).map(|documents_url| {
                OutOfBandConfig {
                    documents_url,
                    first_read_window: series_window,
                }
            }),
        })
    }

    /// A URL template with `{id}`: checked as a URL with an id in its place, and a relative
    /// `file:` path resolved like `url`.
    fn documents_url(&self, template: &S<String>, key: &str) -> Result<String, ConfigError> {
        if !template.value.contains(DOCUMENT_ID_PLACEHOLDER) {
            return Err(self.err(
                Some(template),
                key,
                format!("needs {DOCUMENT_ID_PLACEHOLDER} where the document id goes, e.g. https://api.msrc.microsoft.com/cvrf/v3.0/cvrf/{{id}}"),
            ));
        }
        // A stand-in the URL parser keeps as it is (it would percent-encode the braces).
        const STAND_IN: &str = "PATCHLAG-DOCUMENT-ID";
        let sample = Spanned {
            value: template.value.replace(DOCUMENT_ID_PLACEHOLDER, STAND_IN),
            referenced: template.referenced,
            defined: template.defined,
        };
        Ok(self
            .url(&sample, key)?
            .replace(STAND_IN, DOCUMENT_ID_PLACEHOLDER))
    }

    fn json(
        &self,
        name: &str,
        src: &RawSource,
        role: Role,
        tier_names: &BTreeSet<&str>,
    ) -> Result<JsonConfig, ConfigError> {
        let key = |k: &str| format!("sources.{name}.{k}");
        let items = self.jsonpath(self.required(name, src, &src.items, "items")?, key("items"))?;
        let id = self.jsonpath(self.required(name, src, &src.id, "id")?, key("id"))?;
        let published = self.jsonpath(
            self.required(name, src, &src.published, "published")?,
            key("published"),
        )?;
        let opt = |v: &Option<S<String>>, k: &str| -> Result<Option<JsonPath>, ConfigError> {
            v.as_ref().map(|v| self.jsonpath(v, key(k))).transpose()
        };
        Ok(JsonConfig {
            items,
            id,
            published,
            title: opt(&src.title, "title")?,
            tier: opt(&src.tier, "tier")?,
            covers: opt(&src.covers, "covers")?,
            time: self.record_time(name, src)?,
            tiering: self.release_tiering(name, src, role, tier_names)?,
        })
    }

    fn csv(
        &self,
        name: &str,
        src: &RawSource,
        role: Role,
        tier_names: &BTreeSet<&str>,
    ) -> Result<CsvConfig, ConfigError> {
        Ok(CsvConfig {
            id: self.required(name, src, &src.id, "id")?.value.clone(),
            published: self
                .required(name, src, &src.published, "published")?
                .value
                .clone(),
            title: src.title.as_ref().map(|v| v.value.clone()),
            tier: src.tier.as_ref().map(|v| v.value.clone()),
            covers: src.covers.as_ref().map(|v| v.value.clone()),
            time: self.record_time(name, src)?,
            tiering: self.release_tiering(name, src, role, tier_names)?,
        })
    }

    fn feed(
        &self,
        name: &str,
        src: &RawSource,
        role: Role,
        tier_names: &BTreeSet<&str>,
    ) -> Result<FeedConfig, ConfigError> {
        let key = |k: &str| format!("sources.{name}.{k}");
        let mut tiering = self.tiering(name, src, role, tier_names, false)?;
        if let Some(map) = &src.tier_from_title {
            if tiering.is_some() {
                return Err(self.err(
                    Some(map),
                    key("tier_from_title"),
                    "set either `tier_from_title` or `tiers`, not both",
                ));
            }
            if map.value.is_empty() {
                return Err(self.err(
                    Some(map),
                    key("tier_from_title"),
                    "must map at least one tier to a title regex",
                ));
            }
            let mut list = Vec::new();
            for (tier, re) in &map.value {
                if !tier_names.contains(tier.as_str()) {
                    return Err(self.err(
                        Some(map),
                        key(&format!("tier_from_title.{tier}")),
                        "unknown tier",
                    ));
                }
                let re = Regex::new(re).map_err(|e| {
                    self.err(
                        Some(map),
                        key(&format!("tier_from_title.{tier}")),
                        format!("invalid regex: {}", one_line(&e.to_string())),
                    )
                })?;
                list.push((tier.clone(), RegexEq(re)));
            }
            tiering = Some(Tiering::FromTitle(list));
        }
        if role == Role::Releases && tiering.is_none() {
            return Err(self.err(
                Some(&src.kind),
                key("tiers"),
                "a feed release source needs `tiers` or `tier_from_title`",
            ));
        }
        Ok(FeedConfig {
            title_match: self.regex(&src.title_match, key("title_match"))?,
            time: self.record_time(name, src)?,
            tiering,
        })
    }

    fn html(
        &self,
        name: &str,
        src: &RawSource,
        role: Role,
        tier_names: &BTreeSet<&str>,
    ) -> Result<HtmlConfig, ConfigError> {
        let key = |k: &str| format!("sources.{name}.{k}");
        let covers_regex = match self.capture_regex(&src.covers_regex, key("covers_regex"))? {
            Some(re) => re,
            None => Regex::new(DEFAULT_COVERS_REGEX)
                .map_err(|e| self.err::<()>(None, key("covers_regex"), e.to_string()))?,
        };
        // A regex without the value it applies to is a mistake, not a no-op.
        for (regex, value, k) in [
            (&src.tier_regex, &src.tier, "tier"),
            (&src.covers_regex, &src.covers, "covers"),
        ] {
            if let (Some(re), None) = (regex, value) {
                return Err(self.err(
                    Some(re),
                    key(&format!("{k}_regex")),
                    format!("needs `{k}` (the selector whose text it applies to)"),
                ));
            }
        }
        let opt = |v: &Option<S<String>>, k: &str| -> Result<Option<Selector>, ConfigError> {
            v.as_ref().map(|v| self.selector(v, key(k))).transpose()
        };
        Ok(HtmlConfig {
            rows: self.selector(self.required(name, src, &src.rows, "rows")?, key("rows"))?,
            id: self.selector(self.required(name, src, &src.id, "id")?, key("id"))?,
            published: self.selector(
                self.required(name, src, &src.published, "published")?,
                key("published"),
            )?,
            title: opt(&src.title, "title")?,
            tier: opt(&src.tier, "tier")?,
            covers: opt(&src.covers, "covers")?,
            id_regex: self.capture_regex(&src.id_regex, key("id_regex"))?,
            published_regex: self.capture_regex(&src.published_regex, key("published_regex"))?,
            tier_regex: self.capture_regex(&src.tier_regex, key("tier_regex"))?,
            covers_regex,
            time: self.record_time(name, src)?,
            tiering: self.release_tiering(name, src, role, tier_names)?,
        })
    }
}

/// `{base}/updates` → `{base}/cvrf/{id}`, where the CVRF API serves each document; `None` for a
/// URL of another shape (a mirror, a file), where only `documents_url` can say.
pub fn default_documents_url(url: &str) -> Option<String> {
    url.strip_suffix("/updates")
        .map(|base| format!("{base}/cvrf/{DOCUMENT_ID_PLACEHOLDER}"))
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Tier and source names become label values and URL path segments: keep them tame.
fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
    {
        return Err(format!(
            "invalid name {name:?}: use letters, digits, '_', '-' and '.'"
        ));
    }
    Ok(())
}

/// `since`: an RFC 3339 instant, or a date (midnight UTC).
pub fn parse_since(value: &str) -> Result<i64, String> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(value) {
        return Ok(t.timestamp());
    }
    if let Ok(d) = NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        if let Some(t) = d.and_hms_opt(0, 0, 0) {
            return Ok(Utc.from_utc_datetime(&t).timestamp());
        }
    }
    Err(format!(
        "invalid time {value:?}: expected an RFC 3339 instant (2024-01-01T00:00:00Z) or a date (2024-01-01)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
storage:
  path: /tmp/x.db
tiers:
  english:
    goal: 24h
    bulletins: [msrc]
    since: 2024-01-01
  other_languages:
    goal: 48h
    bulletins: [msrc]
sources:
  msrc:
    role: bulletins
    kind: msrc
    url: https://api.msrc.microsoft.com/cvrf/v3.0/updates
  pmimport:
    role: releases
    kind: json
    url: file:///tmp/releases.json
    items: $.releases[*]
    id: $.version
    published: $.released
    tier: $.language
    tier_map: {English: english, "All languages": other_languages}
    covers: $.bulletins[*]
"#;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("test.yml"), text)
    }

    /// Found by fuzzing: nested filters take the JSONPath parser exponential time.
    #[test]
    fn deeply_nested_jsonpath_filters_are_refused_quickly() {
        let nested = format!("$..a{}", "[?$..a".repeat(40));
        let started = std::time::Instant::now();
        let err = parse(&GOOD.replace("$.releases[*]", &nested)).expect_err("refused");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "took {:?}",
            started.elapsed()
        );
        assert_eq!(err.key, "sources.pmimport.items");
        assert!(err.message.contains("40 filters"), "{err}");
        // A path with a few filters is fine.
        let filtered = "$.releases[?@.kind == 'content'][?@.language != 'Klingon']";
        assert!(parse(&GOOD.replace("$.releases[*]", filtered)).is_ok());
    }

    /// Found by fuzzing: a quoted key with newlines made a multi-line error.
    #[test]
    fn keys_with_newlines_give_one_line_errors() {
        let cases = [
            (
                "tiers:\n  english: {goal: 24h, bulletins: [msrc]}\n\
                 sources:\n  msrc:\n    role: bulletins\n    kind: msrc\n    url: file:///x\n    \
                 tls:\n      \"ins\\n\\necure_skip_verify\": true\n",
                "sources.msrc.tls.ins\\n\\necure_skip_verify: unknown field",
            ),
            ("\"a\\nb\\rc\": 1\n", "a\\nb\\rc: unknown field"),
        ];
        for (text, expected) in cases {
            let message = parse(text).expect_err("invalid").to_string();
            assert!(
                !message.contains('\n') && !message.contains('\r'),
                "{message:?}"
            );
            assert!(message.contains(expected), "{message:?}");
        }
    }

    #[test]
    fn good_config_with_defaults() {
        let c = parse(GOOD).expect("valid");
        assert_eq!(c.tiers.len(), 2);
        assert_eq!(c.tiers[0].name, "english");
        assert_eq!(c.tiers[0].goal, Duration::from_secs(86400));
        assert_eq!(c.tiers[0].since, Some(1704067200));
        assert_eq!(c.sources.len(), 2);
        let msrc = c.source("msrc").expect("msrc");
        assert_eq!(msrc.interval, DEFAULT_INTERVAL);
        assert_eq!(msrc.timeout, DEFAULT_TIMEOUT);
        match &msrc.kind {
            KindConfig::Msrc(m) => {
                assert_eq!(m.timezone.iana_name(), Some("America/Los_Angeles"));
                assert_eq!(
                    m.release_time,
                    NaiveTime::from_hms_opt(10, 0, 0).expect("time")
                );
            }
            other => panic!("unexpected kind {other:?}"),
        }
        assert!(c
            .source("pmimport")
            .expect("pm")
            .may_release_tier("english"));
        assert!(!c
            .source("pmimport")
            .expect("pm")
            .may_release_tier("office365"));
        assert_eq!(
            c.metrics.latency_buckets.len(),
            10,
            "goals 24h and 48h already are default buckets"
        );
        assert_eq!(c.metrics.at_risk_ratio, 0.75);
    }

    #[test]
    fn goals_become_buckets() {
        let text = GOOD.replace("goal: 48h", "goal: 50h");
        let c = parse(&text).expect("valid");
        assert!(c.metrics.latency_buckets.contains(&180000.0));
        assert_eq!(c.metrics.latency_buckets.len(), 11);
    }

    fn error(text: &str) -> String {
        parse(text).expect_err("invalid").to_string()
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let text = GOOD.replace("    kind: msrc\n", "    kind: msrc\n    colour: blue\n");
        let e = error(&text);
        assert!(e.starts_with("test.yml:16:"), "{e}");
        assert!(e.contains("sources.msrc"), "{e}");
        assert!(e.contains("colour"), "{e}");
    }

    #[test]
    fn bad_duration_names_key_and_position() {
        let text = GOOD.replace("goal: 24h", "goal: 24 hours");
        assert_eq!(
            error(&text),
            "test.yml:6:11: tiers.english.goal: invalid duration \"24 hours\": expected a number followed by a unit (ms, s, m, h, d, w, y), e.g. 15m or 1h30m"
        );
    }

    #[test]
    fn unknown_bulletin_source() {
        let text = GOOD.replace(
            "bulletins: [msrc]\n    since",
            "bulletins: [nvd]\n    since",
        );
        assert_eq!(
            error(&text),
            "test.yml:7:17: tiers.english.bulletins: unknown source \"nvd\""
        );
    }

    #[test]
    fn key_of_another_kind() {
        let text = GOOD.replace("    kind: msrc\n", "    kind: msrc\n    items: $.x\n");
        assert_eq!(
            error(&text),
            "test.yml:16:12: sources.msrc.items: not a setting of kind msrc"
        );
    }

    #[test]
    fn tier_map_to_unknown_tier() {
        let text = GOOD.replace(
            "\"All languages\": other_languages",
            "\"All languages\": martian",
        );
        let e = error(&text);
        assert!(
            e.contains("sources.pmimport.tier_map.All languages: unknown tier \"martian\""),
            "{e}"
        );
    }

    #[test]
    fn bad_jsonpath_and_timezone() {
        let e = error(&GOOD.replace("items: $.releases[*]", "items: $.releases[*"));
        assert!(
            e.contains("sources.pmimport.items: invalid JSONPath"),
            "{e}"
        );
        let e = error(&GOOD.replace(
            "    covers: $.bulletins[*]\n",
            "    covers: $.bulletins[*]\n    timezone: Mars/Olympus\n",
        ));
        assert!(
            e.contains("sources.pmimport.timezone: unknown IANA time zone \"Mars/Olympus\""),
            "{e}"
        );
    }

    #[test]
    fn yaml_syntax_error_has_position() {
        let e = error("tiers:\n  english: [\n");
        assert!(e.starts_with("test.yml:"), "{e}");
        assert!(!e.contains('\n'), "one line: {e}");
    }

    #[test]
    fn release_source_needs_tiers() {
        let text = GOOD.replace("    tier: $.language\n", "").replace(
            "    tier_map: {English: english, \"All languages\": other_languages}\n",
            "",
        );
        let e = error(&text);
        assert!(
            e.contains("sources.pmimport.tier: a release source needs"),
            "{e}"
        );
    }

    #[test]
    fn file_urls_absolute_or_relative_to_the_config() {
        let e = error(&GOOD.replace("file:///tmp/releases.json", "file://releases.json"));
        assert!(e.contains("sources.pmimport.url"), "{e}");
        let text = GOOD.replace("file:///tmp/releases.json", "file:fixtures/releases.json");
        let c = Config::parse(Path::new("/etc/patchlag/patchlag.yml"), &text).expect("valid");
        assert_eq!(
            c.source("pmimport").expect("source").url,
            "file:///etc/patchlag/fixtures/releases.json"
        );
    }

    #[test]
    fn serde_errors_name_the_key() {
        let e = error("tiers:\n  english:\n    goal: [1]\n");
        assert_eq!(
            e,
            "test.yml:3:11: tiers.english.goal: expected string scalar"
        );
    }

    /// GOOD plus the three kinds that watch pages, feeds and files.
    fn with_sources(extra: &str) -> String {
        format!(
            "{GOOD}  guide:\n    role: bulletins\n    kind: feed\n    url: https://api.msrc.microsoft.com/update-guide/rss\n    title_match: '^CVE-'\n{extra}"
        )
    }

    const KB: &str = r#"  kb:
    role: releases
    kind: html
    url: https://example.invalid/kb/275830
    rows: "table.release-history > tbody > tr"
    id: "td:nth-child(1)"
    id_regex: '(\d{4}\.\d{2}\.\d{2}\.\d+)'
    published: "td:nth-child(2)"
    time_format: "%m/%d/%Y %I:%M %p"
    timezone: America/Chicago
    tier: "td:nth-child(3)"
    tier_map: {English/Invariant: english}
    covers: "td:nth-child(4)"
  cab:
    role: releases
    kind: http_resource
    url: https://example.invalid/pmimport.cab
    tiers: [english, other_languages]
  news:
    role: releases
    kind: feed
    url: https://example.invalid/releases.atom
    tier_from_title: {english: '(?i)english', other_languages: '(?i)all languages'}
"#;

    #[test]
    fn feed_html_and_http_resource_sources() {
        let c = parse(&with_sources(KB)).expect("valid");
        let guide = c.source("guide").expect("guide");
        assert!(
            matches!(&guide.kind, KindConfig::Feed(f) if f.tiering.is_none() && f.title_match.is_some()),
            "a bulletin feed needs no tiers"
        );
        let kb = c.source("kb").expect("kb");
        assert!(kb.may_release_tier("english") && !kb.may_release_tier("other_languages"));
        match &kb.kind {
            KindConfig::Html(h) => {
                assert_eq!(h.time.timezone.iana_name(), Some("America/Chicago"));
                assert_eq!(h.covers_regex.as_str(), DEFAULT_COVERS_REGEX);
            }
            other => panic!("unexpected kind {other:?}"),
        }
        assert!(c
            .source("cab")
            .expect("cab")
            .may_release_tier("other_languages"));
        let news = c.source("news").expect("news");
        assert!(news.may_release_tier("other_languages") && !news.may_release_tier("office365"));
    }

    #[test]
    fn invalid_css_selector_names_file_line_and_key() {
        let e = error(&with_sources(&KB.replace(
            r#"published: "td:nth-child(2)""#,
            r#"published: "td:nth-child(second)""#,
        )));
        assert!(e.starts_with("test.yml:39:16: sources.kb.published: invalid CSS selector \"td:nth-child(second)\""), "{e}");
        let e = error(&with_sources(&KB.replace(
            r#"rows: "table.release-history > tbody > tr""#,
            r#"rows: "table >> tr""#,
        )));
        assert!(e.starts_with("test.yml:36:11: sources.kb.rows: invalid CSS selector \"table >> tr\": DanglingCombinator"), "{e}");
        let e = error(&with_sources(
            &KB.replace(r#"tier: "td:nth-child(3)""#, r#"tier: """#),
        ));
        assert!(e.contains("sources.kb.tier: empty CSS selector"), "{e}");
    }

    #[test]
    fn page_feed_and_file_mistakes() {
        // A regex for a value that is not selected.
        let e = error(&with_sources(&KB.replace(
            "    covers: \"td:nth-child(4)\"\n",
            "    covers_regex: '(KB\\d+)'\n",
        )));
        assert!(e.contains("sources.kb.covers_regex: needs `covers`"), "{e}");
        // A regex without its capture group.
        let e = error(&with_sources(&KB.replace(
            r"id_regex: '(\d{4}\.\d{2}\.\d{2}\.\d+)'",
            r"id_regex: '\d+'",
        )));
        assert!(
            e.contains("sources.kb.id_regex: needs one capture group"),
            "{e}"
        );
        // The file has no tiers of its own.
        let e = error(&with_sources(
            &KB.replace("    tiers: [english, other_languages]\n", ""),
        ));
        assert!(
            e.contains("sources.cab.tiers: required for kind http_resource"),
            "{e}"
        );
        let e = error(&with_sources(&KB.replace(
            "    tiers: [english, other_languages]\n",
            "    tier: $.x\n",
        )));
        assert!(
            e.contains("sources.cab.tier: not a setting of kind http_resource"),
            "{e}"
        );
        let e = error(&with_sources(&KB.replace(
            "role: releases\n    kind: http_resource",
            "role: bulletins\n    kind: http_resource",
        )));
        assert!(
            e.contains("sources.cab.role: kind http_resource is a release source"),
            "{e}"
        );
        // Feeds: tiers come from titles or a list, for known tiers, with valid regexes.
        let e = error(&with_sources(&KB.replace(
            "tier_from_title: {english: '(?i)english', other_languages: '(?i)all languages'}",
            "tier_from_title: {}",
        )));
        assert!(
            e.contains("sources.news.tier_from_title: must map at least one tier"),
            "{e}"
        );
        let e = error(&with_sources(&KB.replace(
            "other_languages: '(?i)all languages'}",
            "office365: '(?i)office 365'}",
        )));
        assert!(
            e.contains("sources.news.tier_from_title.office365: unknown tier"),
            "{e}"
        );
        let e = error(&with_sources(
            &KB.replace("'(?i)english'", "'(?i)english('"),
        ));
        assert!(
            e.contains("sources.news.tier_from_title.english: invalid regex"),
            "{e}"
        );
        let e = error(&with_sources(&KB.replace(
            "    tier_from_title: {english: '(?i)english', other_languages: '(?i)all languages'}\n",
            "",
        )));
        assert!(
            e.contains("sources.news.tiers: a feed release source needs"),
            "{e}"
        );
        let e = error(&with_sources("    tiers: [english]\n"));
        assert!(
            e.contains("sources.guide.tiers: tiers and covers belong to release sources"),
            "{e}"
        );
    }

    #[test]
    fn msrc_documents_url_default_and_relative() {
        let oob = |text: &str, file: &str| {
            let c = Config::parse(Path::new(file), text).expect("valid");
            match &c.source("msrc").expect("msrc").kind {
                KindConfig::Msrc(m) => m.out_of_band.clone(),
                other => panic!("unexpected kind {other:?}"),
            }
        };
        // The API's own layout: {base}/updates lists, {base}/cvrf/{id} serves a document.
        let default = oob(GOOD, "test.yml").expect("on by default");
        assert_eq!(
            default.documents_url,
            "https://api.msrc.microsoft.com/cvrf/v3.0/cvrf/{id}"
        );
        assert_eq!(default.first_read_window, DEFAULT_SERIES_WINDOW);
        assert_eq!(
            default.document_url("2025-Jul").as_deref(),
            Some("https://api.msrc.microsoft.com/cvrf/v3.0/cvrf/2025-Jul")
        );
        for hostile in ["../x", "a/b", "a?b", "", ".hidden", "a b", "%2e%2e"] {
            assert_eq!(default.document_url(hostile), None, "{hostile:?}");
        }
        // Another shape of URL: off unless documents_url says where documents are.
        let mirror = GOOD.replace(
            "https://api.msrc.microsoft.com/cvrf/v3.0/updates",
            "file:mirror/updates.json",
        );
        assert_eq!(oob(&mirror, "/etc/patchlag/patchlag.yml"), None);
        let with_documents = mirror.replace(
            "    url: file:mirror/updates.json\n",
            "    url: file:mirror/updates.json\n    documents_url: file:mirror/cvrf/{id}.json\n",
        );
        let resolved = oob(&with_documents, "/etc/patchlag/patchlag.yml").expect("on");
        assert_eq!(
            resolved.documents_url,
            "file:///etc/patchlag/mirror/cvrf/{id}.json"
        );
        let off = GOOD.replace(
            "    kind: msrc\n",
            "    kind: msrc\n    out_of_band: false\n",
        );
        assert_eq!(oob(&off, "test.yml"), None);
    }

    #[test]
    fn since_accepts_date_and_instant() {
        assert_eq!(parse_since("2024-01-01"), Ok(1704067200));
        assert_eq!(parse_since("2024-01-01T01:00:00+01:00"), Ok(1704067200));
        assert!(parse_since("yesterday").is_err());
    }
}
