//! `--log.level` and `--log.format`: one line per event on stderr, in the shape Prometheus
//! components use, so the same log pipelines parse both:
//!
//! ```text
//! time=2026-11-10T18:00:00.123Z level=warn msg="poll failed" source=msrc reason=timeout error="..."
//! {"time":"2026-11-10T18:00:00.123Z","level":"warn","msg":"poll failed","source":"msrc",...}
//! ```
//!
//! The event's fields follow `time`, `level` and `msg` in the order they were written. Events
//! from dependencies (only at warn and above, unless `--log.level debug`) add `target`, the
//! module that logged them.

use std::fmt::{self, Write as _};
use std::path::Path;

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::format::{FormatEvent, FormatFields, Writer};
use tracing_subscriber::fmt::FmtContext;
use tracing_subscriber::prelude::*;
use tracing_subscriber::registry::LookupSpan;

use crate::config::Config;
use crate::duration::format_duration;
use crate::sources::fetch::redact_url;
use crate::timeparse::rfc3339;

/// Our own events; anything else is a dependency's.
const OWN_TARGET: &str = "patchlag_exporter";
/// Shown instead of a header value, which may be a credential.
const MASK: &str = "<secret>";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Logfmt,
    Json,
}

pub fn init(level: Level, format: Format) {
    let filter = match level {
        Level::Debug => LevelFilter::DEBUG,
        Level::Info => LevelFilter::INFO,
        Level::Warn => LevelFilter::WARN,
        Level::Error => LevelFilter::ERROR,
    };
    // Dependencies (hyper, reqwest, rustls) log at debug in ways no operator needs; keep ours.
    let targets = tracing_subscriber::filter::Targets::new()
        .with_default(LevelFilter::WARN.min(filter))
        .with_target(OWN_TARGET, filter)
        .with_target("patchlag-exporter", filter);
    let layer = tracing_subscriber::fmt::layer()
        .event_format(LineFormat { format })
        .with_ansi(false)
        .with_writer(std::io::stderr);
    if let Err(e) = tracing_subscriber::registry()
        .with(layer)
        .with(targets)
        .try_init()
    {
        eprintln!("cannot initialise logging: {e}");
    }
}

/// Logs the effective configuration, one line per tier and per source, with secrets masked:
/// the password of a URL and every header value.
pub fn log_configuration(config: &Config, storage: &Path) {
    tracing::info!(
        file = %config.file.display(),
        storage = %storage.display(),
        tiers = config.tiers.len(),
        sources = config.sources.len(),
        series_window = %format_duration(config.metrics.series_window),
        compliance_window = %format_duration(config.metrics.compliance_window),
        at_risk_ratio = config.metrics.at_risk_ratio,
        "loaded configuration"
    );
    for t in &config.tiers {
        tracing::info!(
            tier = %t.name,
            goal = %format_goal(t.goal),
            bulletins = %t.bulletin_sources.join(","),
            since = %t.since.map(rfc3339).unwrap_or_default(),
            "configured tier"
        );
    }
    for s in &config.sources {
        let headers: Vec<String> = s
            .headers
            .iter()
            .map(|(k, _)| format!("{k}={MASK}"))
            .collect();
        tracing::info!(
            source = %s.name,
            role = s.role.as_str(),
            kind = s.kind_name(),
            url = %redact_url(&s.url),
            interval = %format_duration(s.interval),
            timeout = %format_duration(s.timeout),
            max_body_bytes = s.max_body_bytes,
            headers = %headers.join(","),
            proxy_url = %s.proxy_url.as_deref().map(redact_url).unwrap_or_default(),
            "configured source"
        );
    }
}

/// Goals read best in hours (`48h`, not `2d`), the unit vendors state them in.
fn format_goal(goal: std::time::Duration) -> String {
    if goal.as_secs().is_multiple_of(3600) && goal.subsec_nanos() == 0 {
        format!("{}h", goal.as_secs() / 3600)
    } else {
        format_duration(goal)
    }
}

// ---------------------------------------------------------------------------------------------
// The line format
// ---------------------------------------------------------------------------------------------

struct LineFormat {
    format: Format,
}

/// A field value, kept typed so that JSON numbers and booleans stay numbers and booleans.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Str(String),
    I64(i64),
    U64(u64),
    F64(f64),
    Bool(bool),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Str(s) => f.write_str(s),
            Value::I64(v) => write!(f, "{v}"),
            Value::U64(v) => write!(f, "{v}"),
            Value::F64(v) => write!(f, "{v}"),
            Value::Bool(v) => write!(f, "{v}"),
        }
    }
}

#[derive(Default)]
struct Fields {
    message: String,
    pairs: Vec<(&'static str, Value)>,
}

impl Fields {
    fn push(&mut self, field: &Field, value: Value) {
        if field.name() == "message" {
            self.message = value.to_string();
        } else {
            self.pairs.push((field.name(), value));
        }
    }
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // `%x` fields and the message arrive here already rendered with Display.
        self.push(field, Value::Str(format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.push(field, Value::Str(value.to_string()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field, Value::I64(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.push(field, Value::U64(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.push(field, Value::F64(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field, Value::Bool(value));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.push(field, Value::Str(value.to_string()));
    }
}

/// The parts of one log line, before rendering.
struct Line<'a> {
    time: String,
    level: &'static str,
    target: Option<&'a str>,
    fields: Fields,
}

impl Line<'_> {
    fn entries(&self) -> impl Iterator<Item = (&str, Value)> {
        [
            ("time", Some(Value::Str(self.time.clone()))),
            ("level", Some(Value::Str(self.level.to_string()))),
            ("msg", Some(Value::Str(self.fields.message.clone()))),
            ("target", self.target.map(|t| Value::Str(t.to_string()))),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .chain(self.fields.pairs.iter().map(|(k, v)| (*k, v.clone())))
    }

    fn logfmt(&self) -> String {
        let mut out = String::with_capacity(128);
        for (i, (key, value)) in self.entries().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            out.push_str(key);
            out.push('=');
            logfmt_value(&mut out, &value.to_string());
        }
        out
    }

    fn json(&self) -> String {
        let mut out = String::from("{");
        for (i, (key, value)) in self.entries().enumerate() {
            let value = match value {
                Value::Str(s) => serde_json::Value::String(s),
                Value::I64(v) => v.into(),
                Value::U64(v) => v.into(),
                // NaN and infinities are not JSON numbers: serde_json turns them into null.
                Value::F64(v) => v.into(),
                Value::Bool(v) => v.into(),
            };
            if i > 0 {
                out.push(',');
            }
            // Keys are written by hand to keep their order; serde_json escapes both parts.
            out.push_str(&serde_json::Value::String(key.to_string()).to_string());
            out.push(':');
            out.push_str(&value.to_string());
        }
        out.push('}');
        out
    }
}

/// Writes a logfmt value, quoted when it is empty or holds a space, `=`, `"` or a control
/// character (escaped as in Go, so one event stays on one line).
fn logfmt_value(out: &mut String, value: &str) {
    let needs_quotes = value.is_empty()
        || value
            .chars()
            .any(|c| c <= ' ' || c == '=' || c == '"' || c == '\u{7f}' || c.is_control());
    if !needs_quotes {
        out.push_str(value);
        return;
    }
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

impl<S, N> FormatEvent<S, N> for LineFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let metadata = event.metadata();
        let mut fields = Fields::default();
        event.record(&mut fields);
        let target = metadata.target();
        let line = Line {
            time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            level: level_name(*metadata.level()),
            target: (!target.starts_with(OWN_TARGET) && !target.starts_with("patchlag-exporter"))
                .then_some(target),
            fields,
        };
        let text = match self.format {
            Format::Logfmt => line.logfmt(),
            Format::Json => line.json(),
        };
        writeln!(writer, "{text}")
    }
}

fn level_name(level: tracing::Level) -> &'static str {
    match level {
        tracing::Level::ERROR => "error",
        tracing::Level::WARN => "warn",
        tracing::Level::INFO => "info",
        tracing::Level::DEBUG => "debug",
        tracing::Level::TRACE => "trace",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(message: &str, pairs: Vec<(&'static str, Value)>) -> Line<'static> {
        Line {
            time: "2026-11-10T18:00:00.000Z".into(),
            level: "warn",
            target: None,
            fields: Fields {
                message: message.into(),
                pairs,
            },
        }
    }

    #[test]
    fn logfmt_quotes_and_escapes_only_when_needed() {
        let l = line(
            "poll failed",
            vec![
                ("source", Value::Str("msrc".into())),
                ("reason", Value::Str("http_status".into())),
                (
                    "error",
                    Value::Str("HTTP 503 \"Service\nUnavailable\"".into()),
                ),
                ("empty", Value::Str(String::new())),
                ("records", Value::U64(47)),
                ("ratio", Value::F64(0.75)),
                ("up", Value::Bool(false)),
                ("path", Value::Str(r"C:\x=y".into())),
            ],
        );
        assert_eq!(
            l.logfmt(),
            r#"time=2026-11-10T18:00:00.000Z level=warn msg="poll failed" source=msrc reason=http_status error="HTTP 503 \"Service\nUnavailable\"" empty="" records=47 ratio=0.75 up=false path="C:\\x=y""#
        );
    }

    #[test]
    fn json_keeps_order_and_types() {
        let mut l = line(
            "poll failed",
            vec![
                ("source", Value::Str("msrc".into())),
                ("records", Value::U64(47)),
                ("delta", Value::I64(-3)),
                ("up", Value::Bool(true)),
                ("nan", Value::F64(f64::NAN)),
            ],
        );
        l.target = Some("hyper::proto");
        let text = l.json();
        assert_eq!(
            text,
            r#"{"time":"2026-11-10T18:00:00.000Z","level":"warn","msg":"poll failed","target":"hyper::proto","source":"msrc","records":47,"delta":-3,"up":true,"nan":null}"#
        );
        let parsed: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        assert_eq!(parsed["records"], 47);
    }
}
