//! Source kinds: each turns one fetched answer into records.
//!
//! A kind only parses; fetching (HTTP or `file://`, with limits) lives in `fetch`, storing in
//! the store. Kinds are pure functions of the answer, the previous state they left and "now",
//! so each is tested on fixtures without a network.

pub mod csv;
pub mod feed;
pub mod fetch;
pub mod html;
pub mod http_resource;
pub mod json;
pub mod m365_apps;
pub mod msrc;

use std::fmt;
use std::time::Duration;

use serde::Serialize;

use crate::config::{KindConfig, SourceConfig, Tiering};
use crate::timeparse::Published;

/// One bulletin or release as a source lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub id: String,
    /// Bulletins: the document title. Releases: optional.
    pub title: String,
    pub published: Published,
    /// Releases only: the tiers the record belongs to (at least one).
    pub tiers: Vec<String>,
    /// Releases only: the bulletin ids the release says it covers; empty when it says nothing.
    pub covers: Vec<String>,
}

/// What one successful poll produced.
#[derive(Debug, Default)]
pub struct Parsed {
    /// The records of the answer, what `patchlag_source_records` counts.
    pub records: Vec<Record>,
    /// Records found in further documents (MSRC's out-of-band security updates): stored like
    /// `records`, not counted.
    pub derived: Vec<Record>,
    /// One message per malformed entry that was skipped.
    pub skipped: Vec<String>,
    /// Entries deliberately left out (pre-release documents, unmapped tiers, non-matching titles).
    pub excluded: usize,
    /// Kind-specific state to keep for the next poll (e.g. validators for conditional requests).
    pub state: Option<String>,
    /// Further answers this poll must read before it is complete.
    pub follow_up: Option<Box<dyn FollowUp>>,
}

/// A further request of a poll, beside the source's own URL.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub url: String,
    /// Extra request headers (conditional-request validators).
    pub headers: Vec<(String, String)>,
    /// What is requested, for messages ("document 2025-Jul").
    pub label: String,
}

/// Further answers one poll needs after its first, such as the month documents the MSRC index
/// points to. The poller fetches each request in turn, with the source's limits, and hands the
/// answer back; any failure fails the whole poll, so nothing of it is stored. Reading is CPU
/// work, run off the threads that serve HTTP.
pub trait FollowUp: Send + fmt::Debug {
    /// The next request, or `None` when every answer is read.
    fn next_request(&mut self) -> Option<Request>;
    /// Reads the answer to the request `next_request` returned last.
    fn read(&mut self, fetched: Fetched) -> Result<(), PollError>;
    /// Adds what the answers said to the poll's result.
    fn finish(self: Box<Self>, parsed: &mut Parsed);
}

/// The answer of one fetch.
#[derive(Debug, Default)]
pub struct Fetched {
    pub body: Vec<u8>,
    /// The server said 304 Not Modified to a conditional request.
    pub not_modified: bool,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

pub struct ParseContext<'a> {
    /// Unix seconds.
    pub now: i64,
    /// The state the previous successful poll left, if any.
    pub state: Option<&'a str>,
    /// Names of the configured tiers, for sources whose tier values are not mapped.
    pub tier_names: &'a [String],
}

/// The failure reasons of `patchlag_source_errors_total`: a small fixed set, all exported at 0
/// from the start so that `rate()` and `increase()` see the first error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    Timeout,
    Connect,
    Tls,
    HttpStatus,
    BodyTooLarge,
    Parse,
    Other,
}

impl Reason {
    pub const ALL: [Reason; 7] = [
        Reason::Timeout,
        Reason::Connect,
        Reason::Tls,
        Reason::HttpStatus,
        Reason::BodyTooLarge,
        Reason::Parse,
        Reason::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Timeout => "timeout",
            Reason::Connect => "connect",
            Reason::Tls => "tls",
            Reason::HttpStatus => "http_status",
            Reason::BodyTooLarge => "body_too_large",
            Reason::Parse => "parse",
            Reason::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<Reason> {
        Reason::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed poll: why (for the counter) and what happened (for the log and the landing page).
#[derive(Debug, Clone, PartialEq)]
pub struct PollError {
    pub reason: Reason,
    pub message: String,
    /// The server asked not to be polled again before this much time has passed (`Retry-After`).
    pub retry_after: Option<Duration>,
}

impl PollError {
    pub fn new(reason: Reason, message: impl Into<String>) -> PollError {
        PollError {
            reason,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn parse(message: impl Into<String>) -> PollError {
        PollError::new(Reason::Parse, message)
    }

    /// The same error, saying what it is about: "document 2025-Jul: HTTP status 503".
    pub fn about(mut self, what: &str) -> PollError {
        self.message = format!("{what}: {}", self.message);
        self
    }
}

impl fmt::Display for PollError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.reason, self.message)
    }
}

/// One source kind. Implementations must never panic on what a source sends.
pub trait SourceKind: Send + Sync {
    /// Extra request headers derived from the previous poll's state (conditional requests).
    fn request_headers(&self, _state: Option<&str>) -> Vec<(String, String)> {
        Vec::new()
    }

    fn parse(&self, fetched: &Fetched, ctx: &ParseContext<'_>) -> Result<Parsed, PollError>;
}

/// Builds the parser for a configured source.
pub fn build(source: &SourceConfig) -> Box<dyn SourceKind> {
    match &source.kind {
        KindConfig::Msrc(c) => Box::new(msrc::Msrc::new(c.clone())),
        KindConfig::Json(c) => Box::new(json::Json::new(c.clone())),
        KindConfig::Csv(c) => Box::new(csv::Csv::new(c.clone())),
        KindConfig::Feed(c) => Box::new(feed::Feed::new(c.clone())),
        KindConfig::Html(c) => Box::new(html::Html::new(c.clone())),
        KindConfig::HttpResource(c) => Box::new(http_resource::HttpResource::new(c.clone())),
    }
}

/// Resolves the tiers of a release record from extracted values. Returns `None` when the
/// record belongs to no configured tier (filtered, not malformed).
pub fn resolve_tiers(
    tiering: &Tiering,
    values: &[String],
    tier_names: &[String],
) -> Option<Vec<String>> {
    let mut tiers: Vec<String> = match tiering {
        Tiering::Fixed(list) => list.clone(),
        Tiering::Extracted { .. } => values
            .iter()
            .filter_map(|v| tiering.map_value(v))
            .filter(|t| tier_names.iter().any(|n| n == t))
            .collect(),
        Tiering::FromTitle(_) => Vec::new(),
    };
    tiers.sort();
    tiers.dedup();
    if tiers.is_empty() {
        None
    } else {
        Some(tiers)
    }
}

/// Covers as listed by a source: trimmed, empty entries dropped, duplicates removed.
pub fn clean_covers<I: IntoIterator<Item = String>>(values: I) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for v in values {
        let v = v.trim();
        if !v.is_empty() && !out.iter().any(|o| o == v) {
            out.push(v.to_string());
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    /// A file of the source tree, for tests that read fixtures.
    pub fn repo_file(path: &str) -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
    }
}
