//! The YAML configuration: schema, defaults, and validation.
//!
//! Parsing happens in two steps. Serde reads the file into `Raw*` structs that mirror the YAML
//! exactly (unknown keys rejected, every scalar that needs checking wrapped in `Spanned` so it
//! keeps its line and column); `validate` then turns them into the typed `Config` the rest of
//! the program uses. Every error, from either step, names the file, the line and column and the
//! dotted key, on one line (`yaml::ConfigError`).
//!
//! A source's own settings belong to its kind (`sources::KINDS`): each kind's entry says which
//! keys it takes and with which type, and its `configure` checks them; this file knows only the
//! settings every source takes.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveDate, TimeZone as _, Utc};
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use serde_saphyr::{Location, Spanned};

use crate::duration::parse_duration;
use crate::sources::fetch::{Endpoint, TlsConfig};
use crate::sources::settings::{
    check_url, setting_type, Setting, SettingType, Settings, RELEASE_KEYS,
};
use crate::sources::{self, Kind, Role, SourceKind};
use crate::yaml::{self, location, ConfigError};

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

/// A source: the settings every source takes, and its kind's parser, which holds the kind's
/// own settings. `Debug` shows them all.
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
    pub kind: &'static Kind,
    pub parser: Arc<dyn SourceKind>,
}

impl SourceConfig {
    pub fn kind_name(&self) -> &'static str {
        self.kind.name
    }

    /// Where and how the fetcher reads this source.
    pub fn endpoint(&self) -> Endpoint<'_> {
        Endpoint {
            name: &self.name,
            url: &self.url,
            timeout: self.timeout,
            max_body_bytes: self.max_body_bytes,
            headers: &self.headers,
            proxy_url: self.proxy_url.as_deref(),
            tls: &self.tls,
        }
    }

    /// Whether a record of this (release) source can belong to `tier`.
    pub fn may_release_tier(&self, tier: &str) -> bool {
        self.role == Role::Releases
            && self
                .parser
                .tiering()
                .is_some_and(|tiering| tiering.may_yield(tier))
    }
}

impl Config {
    /// The tiers' names, in configuration order: the tiers a release source keeps records of.
    pub fn tier_names(&self) -> Vec<String> {
        self.tiers.iter().map(|t| t.name.clone()).collect()
    }

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
        Config::parse(path, &yaml::read(path, "configuration")?)
    }

    /// Parses and validates configuration text; `path` is only used in messages and to resolve
    /// nothing else (relative paths stay relative to the working directory, as in Prometheus).
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        if text.trim().is_empty() {
            return Err(ConfigError::file(
                path,
                "configuration is empty: it needs at least `tiers` and `sources`",
            ));
        }
        let raw: RawConfig = yaml::parse(path, text)?;
        Validator { file: path, text }.validate(raw)
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

/// A source as written: the settings every source takes, and the others, read with the type
/// the kinds give them (`sources::settings::setting_type`). Which of those its own kind takes
/// is checked once the kind is known.
#[derive(Debug)]
struct RawSource {
    role: S<String>,
    kind: S<String>,
    url: S<String>,
    interval: Option<S<String>>,
    timeout: Option<S<String>>,
    max_body_bytes: Option<S<u64>>,
    headers: BTreeMap<String, String>,
    proxy_url: Option<S<String>>,
    tls: Option<RawTls>,
    /// By key.
    settings: BTreeMap<String, Setting>,
    /// Keys no kind takes, with where their value is written.
    unknown: Vec<(String, Location)>,
}

impl<'de> Deserialize<'de> for RawSource {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SourceVisitor;

        impl<'de> Visitor<'de> for SourceVisitor {
            type Value = RawSource;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a source: a map with role, kind and url")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawSource, A::Error> {
                let (mut role, mut kind, mut url) = (None, None, None);
                let (mut interval, mut timeout, mut max_body_bytes) = (None, None, None);
                let (mut headers, mut proxy_url, mut tls) = (None, None, None);
                let mut settings = BTreeMap::new();
                let mut unknown = Vec::new();
                fn once<T, E: de::Error>(
                    slot: &mut Option<T>,
                    key: &'static str,
                    value: T,
                ) -> Result<(), E> {
                    if slot.is_some() {
                        return Err(E::duplicate_field(key));
                    }
                    *slot = Some(value);
                    Ok(())
                }
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "role" => once(&mut role, "role", map.next_value()?)?,
                        "kind" => once(&mut kind, "kind", map.next_value()?)?,
                        "url" => once(&mut url, "url", map.next_value()?)?,
                        "interval" => once(&mut interval, "interval", map.next_value()?)?,
                        "timeout" => once(&mut timeout, "timeout", map.next_value()?)?,
                        "max_body_bytes" => {
                            once(&mut max_body_bytes, "max_body_bytes", map.next_value()?)?
                        }
                        "headers" => once(&mut headers, "headers", map.next_value()?)?,
                        "proxy_url" => once(&mut proxy_url, "proxy_url", map.next_value()?)?,
                        "tls" => once(&mut tls, "tls", map.next_value()?)?,
                        _ => {
                            let setting = match setting_type(&key) {
                                Some(SettingType::Text) => Setting::Text(map.next_value()?),
                                Some(SettingType::Flag) => Setting::Flag(map.next_value()?),
                                Some(SettingType::List) => Setting::List(map.next_value()?),
                                Some(SettingType::Map) => Setting::Map(map.next_value()?),
                                None => {
                                    let value: S<IgnoredAny> = map.next_value()?;
                                    unknown.push((key, location(&value)));
                                    continue;
                                }
                            };
                            if settings.insert(key.clone(), setting).is_some() {
                                return Err(de::Error::custom(format!("duplicate field `{key}`")));
                            }
                        }
                    }
                }
                Ok(RawSource {
                    role: role.ok_or_else(|| de::Error::missing_field("role"))?,
                    kind: kind.ok_or_else(|| de::Error::missing_field("kind"))?,
                    url: url.ok_or_else(|| de::Error::missing_field("url"))?,
                    interval,
                    timeout,
                    max_body_bytes,
                    headers: headers.unwrap_or_default(),
                    proxy_url,
                    tls,
                    settings,
                    unknown,
                })
            }
        }

        deserializer.deserialize_map(SourceVisitor)
    }
}

/// Where each key of each source is written: read again only to place an error about a key no
/// kind takes, since a key's own position is not kept when the file is read.
struct SourceKeys(BTreeMap<String, Vec<(String, Location)>>);

impl<'de> Deserialize<'de> for SourceKeys {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Keys(Vec<(String, Location)>);

        impl<'de> Deserialize<'de> for Keys {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct KeysVisitor;

                impl<'de> Visitor<'de> for KeysVisitor {
                    type Value = Keys;

                    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                        f.write_str("a map")
                    }

                    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Keys, A::Error> {
                        let mut keys = Vec::new();
                        while let Some(key) = map.next_key::<S<String>>()? {
                            map.next_value::<IgnoredAny>()?;
                            keys.push((key.value, key.referenced));
                        }
                        Ok(Keys(keys))
                    }
                }

                deserializer.deserialize_map(KeysVisitor)
            }
        }

        #[derive(Deserialize)]
        struct Top {
            #[serde(default)]
            sources: BTreeMap<String, Keys>,
        }

        let top = Top::deserialize(deserializer)?;
        Ok(SourceKeys(
            top.sources
                .into_iter()
                .map(|(name, keys)| (name, keys.0))
                .collect(),
        ))
    }
}

// ---------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------

struct Validator<'a> {
    file: &'a Path,
    /// The file's text, to place errors about keys no kind takes.
    text: &'a str,
}

impl Validator<'_> {
    fn err<T>(
        &self,
        at: Option<&S<T>>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> ConfigError {
        ConfigError::at(self.file, at.map(location), key, message)
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
        let Some(kind) = sources::kind(&src.kind.value) else {
            let names: Vec<&str> = sources::KINDS.iter().map(|k| k.name).collect();
            return Err(self.err(
                Some(&src.kind),
                key("kind"),
                format!(
                    "unknown kind {:?}, expected one of {}",
                    src.kind.value,
                    names.join(", ")
                ),
            ));
        };
        if !kind.roles.contains(&role) {
            let (is, use_role) = match kind.roles.first() {
                Some(Role::Releases) => ("release", "releases"),
                _ => ("bulletin", "bulletins"),
            };
            return Err(self.err(
                Some(&src.role),
                key("role"),
                format!("kind {} is a {is} source: use role {use_role}", kind.name),
            ));
        }
        if let Some((unknown, at)) = src.unknown.first() {
            let mut expected: Vec<&str> = COMMON_KEYS.to_vec();
            expected.extend(kind.keys.iter().map(|k| k.name));
            return Err(ConfigError::at(
                self.file,
                Some(self.key_location(name, unknown).unwrap_or(*at)),
                key(unknown),
                format!(
                    "unknown field `{unknown}`, expected one of {}",
                    expected.join(", ")
                ),
            ));
        }
        for (k, setting) in &src.settings {
            if !kind.keys.iter().any(|key| key.name == k) {
                return Err(ConfigError::at(
                    self.file,
                    Some(setting.location()),
                    key(k),
                    format!("not a setting of kind {}", kind.name),
                ));
            }
            if role == Role::Bulletins && RELEASE_KEYS.contains(&k.as_str()) {
                return Err(ConfigError::at(
                    self.file,
                    Some(setting.location()),
                    key(k),
                    "tiers and covers belong to release sources; a tier lists its bulletin sources under `tiers.<name>.bulletins`",
                ));
            }
        }

        let url = check_url(self.file, &src.url, &key("url"))?;
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

        let settings = Settings {
            file: self.file,
            source: name,
            role,
            kind,
            kind_at: location(&src.kind),
            url: &url,
            series_window,
            tier_names,
            values: &src.settings,
        };
        let parser = (kind.configure)(&settings)?;

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
            parser,
        })
    }

    /// Where key `key` of source `source` is written, read from the file again.
    fn key_location(&self, source: &str, key: &str) -> Option<Location> {
        let keys: SourceKeys = yaml::parse(self.file, self.text).ok()?;
        keys.0
            .get(source)?
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, at)| *at)
    }
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
    use crate::sources::feed::Feed;
    use crate::sources::html::{Html, DEFAULT_COVERS_REGEX};
    use crate::sources::msrc::Msrc;

    /// The parser of source `name`, as its kind.
    fn parser<'c, T: 'static>(c: &'c Config, name: &str) -> &'c T {
        let parser: &dyn std::any::Any = c.source(name).expect(name).parser.as_ref();
        parser.downcast_ref().expect("the source's kind")
    }

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
        let m = parser::<Msrc>(&c, "msrc").config();
        assert_eq!(m.timezone.iana_name(), Some("America/Los_Angeles"));
        assert_eq!(
            m.release_time,
            chrono::NaiveTime::from_hms_opt(10, 0, 0).expect("time")
        );
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
    fn yaml_syntax_error_has_position() {
        let e = error("tiers:\n  english: [\n");
        assert!(e.starts_with("test.yml:"), "{e}");
        assert!(!e.contains('\n'), "one line: {e}");
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

    /// How a configuration error must read.
    enum Says {
        Exactly(&'static str),
        StartsWith(&'static str),
        Contains(&'static str),
    }
    use Says::*;

    /// One configuration per mistake, and what its error says: file, line, column and key.
    #[test]
    fn configuration_errors() {
        let kinds = |from: &str, to: &str| with_sources(&KB.replace(from, to));
        let cases: Vec<(String, &[Says])> = vec![
            (
                GOOD.replace("    kind: msrc\n", "    kind: msrc\n    colour: blue\n"),
                &[StartsWith("test.yml:16:"), Contains("sources.msrc"), Contains("colour")],
            ),
            (
                GOOD.replace("goal: 24h", "goal: 24 hours"),
                &[Exactly("test.yml:6:11: tiers.english.goal: invalid duration \"24 hours\": expected a number followed by a unit (ms, s, m, h, d, w, y), e.g. 15m or 1h30m")],
            ),
            (
                GOOD.replace("bulletins: [msrc]\n    since", "bulletins: [nvd]\n    since"),
                &[Exactly("test.yml:7:17: tiers.english.bulletins: unknown source \"nvd\"")],
            ),
            (
                GOOD.replace("    kind: msrc\n", "    kind: msrc\n    items: $.x\n"),
                &[Exactly("test.yml:16:12: sources.msrc.items: not a setting of kind msrc")],
            ),
            (
                GOOD.replace("\"All languages\": other_languages", "\"All languages\": martian"),
                &[Contains("sources.pmimport.tier_map.All languages: unknown tier \"martian\"")],
            ),
            (
                GOOD.replace("items: $.releases[*]", "items: $.releases[*"),
                &[Contains("sources.pmimport.items: invalid JSONPath")],
            ),
            (
                GOOD.replace(
                    "    covers: $.bulletins[*]\n",
                    "    covers: $.bulletins[*]\n    timezone: Mars/Olympus\n",
                ),
                &[Contains("sources.pmimport.timezone: unknown IANA time zone \"Mars/Olympus\"")],
            ),
            (
                GOOD.replace("    tier: $.language\n", "").replace(
                    "    tier_map: {English: english, \"All languages\": other_languages}\n",
                    "",
                ),
                &[Contains("sources.pmimport.tier: a release source needs")],
            ),
            (
                "tiers:\n  english:\n    goal: [1]\n".to_string(),
                &[Exactly("test.yml:3:11: tiers.english.goal: expected string scalar")],
            ),
            // CSS selectors.
            (
                kinds(r#"published: "td:nth-child(2)""#, r#"published: "td:nth-child(second)""#),
                &[StartsWith("test.yml:39:16: sources.kb.published: invalid CSS selector \"td:nth-child(second)\"")],
            ),
            (
                kinds(r#"rows: "table.release-history > tbody > tr""#, r#"rows: "table >> tr""#),
                &[StartsWith("test.yml:36:11: sources.kb.rows: invalid CSS selector \"table >> tr\": DanglingCombinator")],
            ),
            (
                kinds(r#"tier: "td:nth-child(3)""#, r#"tier: """#),
                &[Contains("sources.kb.tier: empty CSS selector")],
            ),
            // A regex for a value that is not selected, a regex without its capture group.
            (
                kinds("    covers: \"td:nth-child(4)\"\n", "    covers_regex: '(KB\\d+)'\n"),
                &[Contains("sources.kb.covers_regex: needs `covers`")],
            ),
            (
                kinds(r"id_regex: '(\d{4}\.\d{2}\.\d{2}\.\d+)'", r"id_regex: '\d+'"),
                &[Contains("sources.kb.id_regex: needs one capture group")],
            ),
            // The content file has no tiers of its own, and is a release source.
            (
                kinds("    tiers: [english, other_languages]\n", ""),
                &[Contains("sources.cab.tiers: required for kind http_resource")],
            ),
            (
                kinds("    tiers: [english, other_languages]\n", "    tier: $.x\n"),
                &[Contains("sources.cab.tier: not a setting of kind http_resource")],
            ),
            (
                kinds("role: releases\n    kind: http_resource", "role: bulletins\n    kind: http_resource"),
                &[Contains("sources.cab.role: kind http_resource is a release source")],
            ),
            // Feeds: tiers come from titles or a list, for known tiers, with valid regexes.
            (
                kinds(
                    "tier_from_title: {english: '(?i)english', other_languages: '(?i)all languages'}",
                    "tier_from_title: {}",
                ),
                &[Contains("sources.news.tier_from_title: must map at least one tier")],
            ),
            (
                kinds("other_languages: '(?i)all languages'}", "office365: '(?i)office 365'}"),
                &[Contains("sources.news.tier_from_title.office365: unknown tier")],
            ),
            (
                kinds("'(?i)english'", "'(?i)english('"),
                &[Contains("sources.news.tier_from_title.english: invalid regex")],
            ),
            (
                kinds(
                    "    tier_from_title: {english: '(?i)english', other_languages: '(?i)all languages'}\n",
                    "",
                ),
                &[Contains("sources.news.tiers: a feed release source needs")],
            ),
            (
                with_sources("    tiers: [english]\n"),
                &[Contains("sources.guide.tiers: tiers and covers belong to release sources")],
            ),
        ];
        for (text, says) in cases {
            let e = error(&text);
            for check in says {
                match check {
                    Exactly(m) => assert_eq!(e, *m),
                    StartsWith(m) => assert!(e.starts_with(m), "{e}\nshould start with\n{m}"),
                    Contains(m) => assert!(e.contains(m), "{e}\nshould contain\n{m}"),
                }
            }
        }
    }

    #[test]
    fn feed_html_and_http_resource_sources() {
        let c = parse(&with_sources(KB)).expect("valid");
        let guide = c.source("guide").expect("guide");
        let f = parser::<Feed>(&c, "guide").config();
        assert!(
            f.tiering.is_none() && f.title_match.is_some(),
            "a bulletin feed needs no tiers"
        );
        assert_eq!(guide.kind_name(), "feed");
        let kb = c.source("kb").expect("kb");
        assert!(kb.may_release_tier("english") && !kb.may_release_tier("other_languages"));
        let h = parser::<Html>(&c, "kb").config();
        assert_eq!(h.time.timezone.iana_name(), Some("America/Chicago"));
        assert_eq!(h.covers_regex.as_str(), DEFAULT_COVERS_REGEX);
        assert!(c
            .source("cab")
            .expect("cab")
            .may_release_tier("other_languages"));
        let news = c.source("news").expect("news");
        assert!(news.may_release_tier("other_languages") && !news.may_release_tier("office365"));
    }

    #[test]
    fn msrc_documents_url_default_and_relative() {
        let oob = |text: &str, file: &str| {
            let c = Config::parse(Path::new(file), text).expect("valid");
            parser::<Msrc>(&c, "msrc").config().out_of_band.clone()
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
    fn no_kind_takes_a_key_every_source_takes() {
        for kind in &sources::KINDS {
            for key in kind.keys {
                assert!(
                    !COMMON_KEYS.contains(&key.name),
                    "{}.{}",
                    kind.name,
                    key.name
                );
            }
        }
    }

    #[test]
    fn since_accepts_date_and_instant() {
        assert_eq!(parse_since("2024-01-01"), Ok(1704067200));
        assert_eq!(parse_since("2024-01-01T01:00:00+01:00"), Ok(1704067200));
        assert!(parse_since("yesterday").is_err());
    }
}
