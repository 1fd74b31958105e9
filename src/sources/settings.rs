//! The settings of a source kind, as a user writes them beside the settings every source takes,
//! and the checks kinds share: regexes, JSONPaths, CSS selectors, time zones and formats, URLs,
//! and how release records find their tiers.
//!
//! A kind declares its keys and their types in its `Kind` entry; the configuration reads each
//! key with that type (so it keeps its line and column), and the kind's `configure` turns them
//! into its parser through `Settings`, whose checks all report errors the same way.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use jiff::tz::TimeZone;
use regex::Regex;
use scraper::Selector;
use serde_json_path::JsonPath;
use serde_saphyr::{Location, Spanned};

use super::{Kind, Role, KINDS};
use crate::timeparse::{self, TimeFormat};
use crate::yaml::{location, one_line, ConfigError};

/// The zone of record times without an offset.
pub const DEFAULT_TIMEZONE: &str = "UTC";
/// Filter selectors (`[?...]`) allowed in one JSONPath. The JSONPath parser's time doubles with
/// each filter nested in another, so a path with a few dozen would stall validation,
/// `--config.check` and reloads for minutes; real paths need one or two.
pub const MAX_JSONPATH_FILTERS: usize = 8;
/// Keys about tiers and covers: settings of release sources only.
pub const RELEASE_KEYS: [&str; 6] = [
    "tier",
    "tier_map",
    "tiers",
    "tier_from_title",
    "covers",
    "tier_regex",
];

/// How a setting is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettingType {
    /// A string.
    Text,
    /// `true` or `false`.
    Flag,
    /// A list of strings.
    List,
    /// A map of strings to strings.
    Map,
}

/// One key a kind takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    pub name: &'static str,
    pub ty: SettingType,
}

impl Key {
    pub const fn text(name: &'static str) -> Key {
        Key {
            name,
            ty: SettingType::Text,
        }
    }

    pub const fn flag(name: &'static str) -> Key {
        Key {
            name,
            ty: SettingType::Flag,
        }
    }

    pub const fn list(name: &'static str) -> Key {
        Key {
            name,
            ty: SettingType::List,
        }
    }

    pub const fn map(name: &'static str) -> Key {
        Key {
            name,
            ty: SettingType::Map,
        }
    }
}

/// The type of `key` in the kinds that take it (one type per key name), `None` for a key no
/// kind takes.
pub fn setting_type(key: &str) -> Option<SettingType> {
    KINDS
        .iter()
        .flat_map(|k| k.keys.iter())
        .find(|k| k.name == key)
        .map(|k| k.ty)
}

/// A setting as written, with where.
#[derive(Debug, Clone)]
pub enum Setting {
    Text(Spanned<String>),
    Flag(Spanned<bool>),
    List(Spanned<Vec<String>>),
    Map(Spanned<BTreeMap<String, String>>),
}

impl Setting {
    pub fn location(&self) -> Location {
        match self {
            Setting::Text(v) => location(v),
            Setting::Flag(v) => location(v),
            Setting::List(v) => location(v),
            Setting::Map(v) => location(v),
        }
    }
}

/// Everything a kind's `configure` is given.
pub struct Settings<'a> {
    pub file: &'a Path,
    /// The source's name.
    pub source: &'a str,
    pub role: Role,
    pub kind: &'static Kind,
    /// Where `kind:` is written: settings a kind requires are reported there.
    pub kind_at: Location,
    /// The source's `url`, checked.
    pub url: &'a str,
    /// `metrics.series_window`.
    pub series_window: Duration,
    pub tier_names: &'a BTreeSet<&'a str>,
    pub values: &'a BTreeMap<String, Setting>,
}

impl Settings<'_> {
    /// `sources.<name>.<key>`.
    pub fn key(&self, key: &str) -> String {
        format!("sources.{}.{key}", self.source)
    }

    pub fn error_at(
        &self,
        at: Option<Location>,
        key: &str,
        message: impl Into<String>,
    ) -> ConfigError {
        ConfigError::at(self.file, at, self.key(key), message)
    }

    /// An error about `key`: where it is written, else where the kind is.
    pub fn error(&self, key: &str, message: impl Into<String>) -> ConfigError {
        let at = self.values.get(key).map_or(self.kind_at, Setting::location);
        self.error_at(Some(at), key, message)
    }

    fn get(&self, key: &str) -> Option<&Setting> {
        debug_assert!(
            self.kind.keys.iter().any(|k| k.name == key),
            "kind {} reads {key}, which it does not declare",
            self.kind.name
        );
        self.values.get(key)
    }

    pub fn is_set(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    pub fn text(&self, key: &str) -> Option<&Spanned<String>> {
        match self.get(key) {
            Some(Setting::Text(v)) => Some(v),
            _ => None,
        }
    }

    pub fn flag(&self, key: &str) -> Option<bool> {
        match self.get(key) {
            Some(Setting::Flag(v)) => Some(v.value),
            _ => None,
        }
    }

    pub fn list(&self, key: &str) -> Option<&Spanned<Vec<String>>> {
        match self.get(key) {
            Some(Setting::List(v)) => Some(v),
            _ => None,
        }
    }

    pub fn map(&self, key: &str) -> Option<&Spanned<BTreeMap<String, String>>> {
        match self.get(key) {
            Some(Setting::Map(v)) => Some(v),
            _ => None,
        }
    }

    pub fn required_text(&self, key: &str) -> Result<&Spanned<String>, ConfigError> {
        self.text(key).ok_or_else(|| {
            self.error_at(
                Some(self.kind_at),
                key,
                format!("required for kind {}", self.kind.name),
            )
        })
    }

    pub fn regex(&self, key: &str) -> Result<Option<Regex>, ConfigError> {
        self.text(key)
            .map(|v| regex(self.file, v, &self.key(key)))
            .transpose()
    }

    /// `key`'s regex, else `default`'s.
    pub fn regex_or(&self, key: &str, default: &str) -> Result<Regex, ConfigError> {
        match self.regex(key)? {
            Some(re) => Ok(re),
            None => Regex::new(default).map_err(|e| self.error_at(None, key, e.to_string())),
        }
    }

    /// A regex with one capture group: the part of a text it takes.
    pub fn capture_regex(&self, key: &str) -> Result<Option<Regex>, ConfigError> {
        let re = self.regex(key)?;
        if re.as_ref().is_some_and(|re| re.captures_len() < 2) {
            return Err(self.error(key, "needs one capture group, e.g. \"Version (\\\\S+)\""));
        }
        Ok(re)
    }

    pub fn jsonpath(&self, key: &str) -> Result<Option<JsonPath>, ConfigError> {
        self.text(key)
            .map(|v| self.parse_jsonpath(v, key))
            .transpose()
    }

    pub fn required_jsonpath(&self, key: &str) -> Result<JsonPath, ConfigError> {
        self.parse_jsonpath(self.required_text(key)?, key)
    }

    fn parse_jsonpath(&self, value: &Spanned<String>, key: &str) -> Result<JsonPath, ConfigError> {
        let filters = value.value.matches('?').count();
        if filters > MAX_JSONPATH_FILTERS {
            return Err(self.error(
                key,
                format!(
                    "JSONPath with {filters} filters (`?`): at most {MAX_JSONPATH_FILTERS} are allowed"
                ),
            ));
        }
        JsonPath::parse(&value.value).map_err(|e| {
            self.error(
                key,
                format!("invalid JSONPath: {}", one_line(&e.to_string())),
            )
        })
    }

    /// CSS selectors are compiled here, so `--config.check` rejects a bad one with its position.
    pub fn selector(&self, key: &str) -> Result<Option<Selector>, ConfigError> {
        self.text(key)
            .map(|v| self.parse_selector(v, key))
            .transpose()
    }

    pub fn required_selector(&self, key: &str) -> Result<Selector, ConfigError> {
        self.parse_selector(self.required_text(key)?, key)
    }

    fn parse_selector(&self, value: &Spanned<String>, key: &str) -> Result<Selector, ConfigError> {
        if value.value.trim().is_empty() {
            return Err(self.error(key, "empty CSS selector"));
        }
        Selector::parse(&value.value).map_err(|e| {
            let why = match e {
                // Its Display asks the user to report a bug; the kind itself is the useful part.
                scraper::error::SelectorErrorKind::UnexpectedSelectorParseError(kind) => {
                    format!("{kind:?}")
                }
                other => one_line(&other.to_string()),
            };
            self.error(
                key,
                format!("invalid CSS selector {:?}: {why}", value.value),
            )
        })
    }

    /// `timezone`, else `default`.
    pub fn timezone(&self, default: &str) -> Result<TimeZone, ConfigError> {
        let written = self.text("timezone");
        let name = written.map_or(default, |tz| tz.value.as_str());
        timeparse::zone(name).ok_or_else(|| {
            self.error_at(
                written.map(location),
                "timezone",
                format!("unknown IANA time zone {name:?}"),
            )
        })
    }

    /// `time_format` and `timezone`: how a record's time is read.
    pub fn record_time(&self) -> Result<RecordTime, ConfigError> {
        let format = match self.text("time_format") {
            Some(f) => TimeFormat::parse(&f.value).map_err(|m| self.error("time_format", m))?,
            None => TimeFormat::Rfc3339,
        };
        Ok(RecordTime {
            format,
            timezone: self.timezone(DEFAULT_TIMEZONE)?,
        })
    }

    /// Tier settings of a release source: exactly one of an extracted value (`tier`, optionally
    /// with `tier_map`) or a fixed `tiers` list. `None` for bulletin sources, and for release
    /// sources that set neither.
    pub fn tiering(&self) -> Result<Option<Tiering>, ConfigError> {
        if self.role == Role::Bulletins {
            return Ok(None);
        }
        let declared = |key: &str| self.kind.keys.iter().any(|k| k.name == key);
        let tier = declared("tier").then(|| self.text("tier")).flatten();
        let tier_map = declared("tier_map").then(|| self.map("tier_map")).flatten();
        let tiers = declared("tiers").then(|| self.list("tiers")).flatten();
        if let Some(map) = tier_map {
            for (value, tier) in &map.value {
                if !self.tier_names.contains(tier.as_str()) {
                    return Err(self.error_at(
                        Some(location(map)),
                        &format!("tier_map.{value}"),
                        format!("unknown tier {tier:?}"),
                    ));
                }
            }
            if tier.is_none() {
                return Err(self.error("tier_map", "needs `tier` (the value to map)"));
            }
        }
        match (tier, tiers) {
            (Some(_), Some(_)) => Err(self.error("tier", "set either `tier` or `tiers`, not both")),
            (Some(_), None) => Ok(Some(Tiering::Extracted {
                map: tier_map.map(|m| m.value.clone()),
            })),
            (None, Some(list)) => {
                if list.value.is_empty() {
                    return Err(self.error("tiers", "must name at least one tier"));
                }
                if let Some(tier) = list
                    .value
                    .iter()
                    .find(|t| !self.tier_names.contains(t.as_str()))
                {
                    return Err(self.error("tiers", format!("unknown tier {tier:?}")));
                }
                Ok(Some(Tiering::Fixed(list.value.clone())))
            }
            (None, None) => Ok(None),
        }
    }

    /// `tiering` of a kind whose release sources must set one.
    pub fn release_tiering(&self) -> Result<Option<Tiering>, ConfigError> {
        let tiering = self.tiering()?;
        if self.role == Role::Releases && tiering.is_none() {
            return Err(self.error_at(
                Some(self.kind_at),
                "tier",
                "a release source needs `tier` (with an optional `tier_map`) or `tiers`",
            ));
        }
        Ok(tiering)
    }

    /// A URL template with `{id}`, checked as a URL with an id in its place; a relative `file:`
    /// path is resolved like `url`.
    pub fn url_template(
        &self,
        key: &str,
        placeholder: &str,
    ) -> Result<Option<String>, ConfigError> {
        let Some(template) = self.text(key) else {
            return Ok(None);
        };
        if !template.value.contains(placeholder) {
            return Err(self.error(
                key,
                format!("needs {placeholder} where the document id goes, e.g. https://api.msrc.microsoft.com/cvrf/v3.0/cvrf/{{id}}"),
            ));
        }
        // A stand-in the URL parser keeps as it is (it would percent-encode the braces).
        const STAND_IN: &str = "PATCHLAG-DOCUMENT-ID";
        let sample = Spanned {
            value: template.value.replace(placeholder, STAND_IN),
            referenced: template.referenced,
            defined: template.defined,
        };
        Ok(Some(
            check_url(self.file, &sample, &self.key(key))?.replace(STAND_IN, placeholder),
        ))
    }
}

fn regex(file: &Path, value: &Spanned<String>, key: &str) -> Result<Regex, ConfigError> {
    Regex::new(&value.value).map_err(|e| {
        ConfigError::at(
            file,
            Some(location(value)),
            key,
            format!("invalid regex: {}", one_line(&e.to_string())),
        )
    })
}

/// A regex checked the way every setting's is, for settings inside a map (`tier_from_title`).
pub fn regex_at(file: &Path, at: Location, pattern: &str, key: &str) -> Result<Regex, ConfigError> {
    let value = Spanned {
        value: pattern.to_string(),
        referenced: at,
        defined: at,
    };
    regex(file, &value, key)
}

/// A source URL: `http(s)://` with a host, or an absolute `file:///` path; `file:relative/path`
/// is resolved against the configuration file's directory, as Prometheus resolves relative
/// paths in its own configuration.
pub fn check_url(file: &Path, url: &Spanned<String>, key: &str) -> Result<String, ConfigError> {
    let err = |message: String| ConfigError::at(file, Some(location(url)), key, message);
    if let Some(rel) = url
        .value
        .strip_prefix("file:")
        .filter(|r| !r.starts_with('/') && !r.is_empty())
    {
        let dir = file
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let dir =
            std::path::absolute(dir).map_err(|e| err(format!("cannot resolve {rel:?}: {e}")))?;
        return url::Url::from_file_path(dir.join(rel))
            .map(|u| u.to_string())
            .map_err(|_| err(format!("cannot resolve {rel:?} to a file URL")));
    }
    let parsed = url::Url::parse(&url.value).map_err(|e| err(format!("invalid URL: {e}")))?;
    match parsed.scheme() {
        "http" | "https" => {
            if parsed.host_str().is_none_or(str::is_empty) {
                return Err(err("URL has no host".to_string()));
            }
        }
        "file" => {
            if parsed.to_file_path().is_err() || !url.value.starts_with("file:///") {
                return Err(err(
                    "file URLs must be absolute: file:///path/to/file".to_string()
                ));
            }
        }
        other => {
            return Err(err(format!(
                "unsupported scheme {other:?}: use http, https or file"
            )))
        }
    }
    Ok(url.value.clone())
}

// ---------------------------------------------------------------------------------------------
// What kinds are configured with
// ---------------------------------------------------------------------------------------------

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

/// How a record's time is read.
#[derive(Debug, Clone)]
pub struct RecordTime {
    pub format: TimeFormat,
    pub timezone: TimeZone,
}
