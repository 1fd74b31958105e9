//! Source kinds: each turns fetched answers into records.
//!
//! Everything a kind knows lives in its file: its settings and their checks, and its parser.
//! `KINDS` lists them; adding a kind is one file and one entry there. A kind only parses;
//! fetching (HTTP or `file://`, with limits) lives in `fetch`, storing in the store. Kinds are
//! pure functions of the answer, the previous state they left and "now", so each is tested on
//! fixtures without a network.

pub mod csv;
pub mod feed;
pub mod fetch;
pub mod html;
pub mod http_resource;
pub mod json;
pub mod m365_apps;
pub mod msrc;
pub mod records;
pub mod settings;

use std::any::Any;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::timeparse::Published;
use crate::yaml::ConfigError;
use settings::{Key, Settings, Tiering};

/// Every source kind, by the name a configuration gives it.
pub const KINDS: [Kind; 7] = [
    msrc::KIND,
    m365_apps::KIND,
    json::KIND,
    csv::KIND,
    feed::KIND,
    html::KIND,
    http_resource::KIND,
];

/// What the configuration knows of a source kind.
pub struct Kind {
    /// The value of `kind:`.
    pub name: &'static str,
    /// The roles its sources can have.
    pub roles: &'static [Role],
    /// Its settings, beside those every source takes.
    pub keys: &'static [Key],
    /// Checks a source's settings and builds its parser.
    pub configure: fn(&Settings<'_>) -> Result<Arc<dyn SourceKind>, ConfigError>,
}

impl fmt::Debug for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

/// The kind named `name`.
pub fn kind(name: &str) -> Option<&'static Kind> {
    KINDS.iter().find(|k| k.name == name)
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

/// A string of a JSON answer, borrowed from it unless it contains escapes (also inside an
/// `Option`, where a bare `Cow` would always be copied).
#[derive(serde::Deserialize)]
pub(crate) struct Text<'a>(#[serde(borrow)] pub std::borrow::Cow<'a, str>);

impl Fetched {
    /// The body without a leading UTF-8 byte order mark.
    pub fn body_without_bom(&self) -> &[u8] {
        self.body
            .strip_prefix(b"\xEF\xBB\xBF")
            .unwrap_or(&self.body)
    }
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

/// What a kind needs from the fetcher, beside its source's `url` and limits.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Needs<'a> {
    /// When the answer carries a validator (`ETag`, `Last-Modified`, a file's mtime) its body
    /// is not read: a file larger than `max_body_bytes` can still be watched.
    pub validators_suffice: bool,
    /// Other URLs the kind asks for (templates such as MSRC's documents).
    pub other_urls: Vec<&'a str>,
}

/// One configured source kind: its settings and its parser. Implementations must never panic
/// on what a source sends. `Debug` shows every setting: a reload restarts a source's poller
/// exactly when that rendering changes.
pub trait SourceKind: Any + Send + Sync + fmt::Debug {
    /// How the records of a release source find their tiers.
    fn tiering(&self) -> Option<&Tiering> {
        None
    }

    fn needs(&self) -> Needs<'_> {
        Needs::default()
    }

    /// Something to tell the operator once, when the source's poller starts.
    fn notice(&self) -> Option<String> {
        None
    }

    /// Extra request headers derived from the previous poll's state (conditional requests).
    fn request_headers(&self, _state: Option<&str>) -> Vec<(String, String)> {
        Vec::new()
    }

    fn parse(&self, fetched: &Fetched, ctx: &ParseContext<'_>) -> Result<Parsed, PollError>;

    /// What the source is and how it dates what it lists, in plain words, for a reader who does
    /// not know the configuration (the HTML report's method section).
    fn describe(&self) -> String;
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn the_kind_table_is_consistent() {
        let mut names: Vec<&str> = KINDS.iter().map(|k| k.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), KINDS.len(), "two kinds share a name");
        for kind in &KINDS {
            assert!(!kind.roles.is_empty(), "{}", kind.name);
            for key in kind.keys {
                // A key is read with one type whatever the source's kind.
                assert_eq!(
                    settings::setting_type(key.name),
                    Some(key.ty),
                    "{}.{}",
                    kind.name,
                    key.name
                );
                assert_eq!(
                    kind.keys.iter().filter(|k| k.name == key.name).count(),
                    1,
                    "{}.{}",
                    kind.name,
                    key.name
                );
            }
        }
    }

    /// A file of the source tree, for tests that read fixtures.
    pub fn repo_file(path: &str) -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
    }
}
