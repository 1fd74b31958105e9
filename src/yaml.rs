//! Reading the YAML files a user writes (the configuration and the web configuration), and the
//! one way their errors are reported: `file:line:column: key: message`, on one line.

use std::fmt;
use std::path::{Path, PathBuf};

use serde_saphyr::{Location, Spanned};

/// A configuration error, always rendered on one line: `file:line:column: key: message`.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub key: String,
    pub message: String,
}

impl ConfigError {
    /// An error about the value (or key) at `at`; no position when it is `None` or unknown.
    pub fn at(
        file: &Path,
        at: Option<Location>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> ConfigError {
        ConfigError {
            file: file.to_path_buf(),
            line: at.map(|l| l.line() as usize).filter(|l| *l > 0),
            column: at.map(|l| l.column() as usize).filter(|c| *c > 0),
            key: key.into(),
            message: message.into(),
        }
    }

    /// An error about the file as a whole (it cannot be read, it is empty).
    pub fn file(file: &Path, message: impl Into<String>) -> ConfigError {
        ConfigError::at(file, None, String::new(), message)
    }
}

/// Where a value was written, for `ConfigError::at`.
pub fn location<T>(value: &Spanned<T>) -> Location {
    value.referenced
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

impl std::error::Error for ConfigError {}

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

/// A library's multi-line message on one line.
pub fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Reads a file's text, or says why it cannot (`what`: "configuration", "web configuration").
pub fn read(path: &Path, what: &str) -> Result<String, ConfigError> {
    std::fs::read_to_string(path)
        .map_err(|e| ConfigError::file(path, format!("cannot read {what}: {e}")))
}

/// Deserializes YAML into `T`; errors name the file, line, column and dotted key, on one line.
pub fn parse<T: serde::de::DeserializeOwned>(path: &Path, text: &str) -> Result<T, ConfigError> {
    let mut failing_path = String::new();
    let options = serde_saphyr::options! { with_snippet: false };
    let result = serde_saphyr::with_deserializer_from_str_with_options(text, options, |de| {
        serde_path_to_error::deserialize::<_, T>(de).map_err(|e| {
            failing_path = e.path().to_string();
            e.into_inner()
        })
    });
    result.map_err(|e| {
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
        let message = message
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_string();
        ConfigError::at(path, e.location(), key, message)
    })
}
