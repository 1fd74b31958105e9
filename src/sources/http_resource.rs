//! `http_resource` (releases): one file, such as the vendor's content CAB, watched for change.
//!
//! A version is identified by the answer's `ETag` (weak or strong alike), else its
//! `Last-Modified`, else the SHA-256 of the body. The version first seen and every new version
//! is one release; a version seen before (an `ETag` flipping back after a rollback, a mirror
//! serving an older copy) is not a new release and keeps its original time. A release's time is
//! the `Last-Modified` instant (never later than the poll), else the poll that first saw it.
//!
//! Validators and known versions live in the source's state (JSON, stored with each successful
//! poll). The next poll sends them as `If-None-Match` / `If-Modified-Since`, so an unchanged
//! multi-megabyte file is answered `304 Not Modified` and not downloaded again; a 304 is a
//! successful poll with the current version as its one record.

use std::collections::BTreeMap;
use std::fmt::Write;

use chrono::{DateTime, NaiveDateTime};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::records::resolve_tiers;
use super::settings::{Key, Settings, Tiering};
use super::{Fetched, Kind, Needs, ParseContext, Parsed, PollError, Record, Role, SourceKind};
use crate::timeparse::{rfc3339, Published};
use crate::yaml::ConfigError;

pub const KIND: Kind = Kind {
    name: "http_resource",
    roles: &[Role::Releases],
    keys: &[Key::list("tiers")],
    configure: |settings| Ok(std::sync::Arc::new(HttpResource::new(configure(settings)?))),
};

#[derive(Debug, Clone)]
pub struct HttpResourceConfig {
    pub tiering: Tiering,
}

fn configure(s: &Settings<'_>) -> Result<HttpResourceConfig, ConfigError> {
    match s.tiering()? {
        Some(tiering) => Ok(HttpResourceConfig { tiering }),
        None => Err(s.error_at(Some(s.kind_at), "tiers", "required for kind http_resource")),
    }
}

#[derive(Debug)]
pub struct HttpResource {
    config: HttpResourceConfig,
}

impl HttpResource {
    pub fn new(config: HttpResourceConfig) -> HttpResource {
        HttpResource { config }
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    /// Validators of the last full answer, sent back on the next request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    etag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_modified: Option<String>,
    /// The version the last poll saw, what a 304 answer means.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    current: Option<String>,
    /// Every version ever seen, with its release time (Unix seconds).
    #[serde(default)]
    versions: BTreeMap<String, i64>,
}

impl State {
    /// State this kind wrote; anything unreadable counts as none, which at worst re-downloads
    /// the file once and dates a version without `Last-Modified` to this poll.
    fn load(text: Option<&str>) -> State {
        text.and_then(|t| serde_json::from_str(t).ok())
            .unwrap_or_default()
    }
}

/// The opaque part of an entity tag: `W/"5f3-1a"` and `"5f3-1a"` name the same content (servers
/// weaken tags when they compress).
fn etag_id(etag: &str) -> Option<String> {
    let tag = etag.trim();
    let tag = tag.strip_prefix("W/").unwrap_or(tag);
    let tag = tag
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(tag);
    (!tag.is_empty()).then(|| tag.to_string())
}

/// An HTTP date (RFC 9110: IMF-fixdate, and the obsolete RFC 850 and asctime forms), as Unix
/// seconds.
fn http_date(value: &str) -> Option<i64> {
    let value = value.trim();
    if let Ok(t) = DateTime::parse_from_rfc2822(value) {
        return Some(t.timestamp());
    }
    ["%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(value, f).ok())
        .map(|t| t.and_utc().timestamp())
}

fn sha256_id(body: &[u8]) -> String {
    let mut id = String::from("sha256:");
    for byte in Sha256::digest(body) {
        let _ = write!(id, "{byte:02x}");
    }
    id
}

impl SourceKind for HttpResource {
    fn describe(&self) -> String {
        "the content file itself: each new version is a release, dated by its \
         Last-Modified time, else by when it was first seen"
            .to_string()
    }

    fn tiering(&self) -> Option<&Tiering> {
        Some(&self.config.tiering)
    }

    /// The body is read only to digest it, when the answer has no validator.
    fn needs(&self) -> Needs<'_> {
        Needs {
            validators_suffice: true,
            other_urls: Vec::new(),
        }
    }

    fn request_headers(&self, state: Option<&str>) -> Vec<(String, String)> {
        let state = State::load(state);
        // Without a known current version a 304 could not be turned into a record.
        if state.current.is_none() {
            return Vec::new();
        }
        let mut headers = Vec::new();
        if let Some(etag) = state.etag {
            headers.push(("If-None-Match".to_string(), etag));
        }
        if let Some(date) = state.last_modified {
            headers.push(("If-Modified-Since".to_string(), date));
        }
        headers
    }

    fn parse(&self, fetched: &Fetched, ctx: &ParseContext<'_>) -> Result<Parsed, PollError> {
        let mut state = State::load(ctx.state);
        let (id, modified) = if fetched.not_modified {
            let current = state.current.clone().ok_or_else(|| {
                PollError::parse("304 Not Modified to a request without validators")
            })?;
            (current, None)
        } else {
            let modified = match fetched.last_modified.as_deref() {
                None => None,
                Some(v) => Some(http_date(v).ok_or_else(|| {
                    PollError::parse(format!("invalid Last-Modified header {v:?}"))
                })?),
            };
            let id = if let Some(id) = fetched.etag.as_deref().and_then(etag_id) {
                id
            } else if let Some(t) = modified {
                rfc3339(t)
            } else if fetched.body.is_empty() {
                return Err(PollError::parse(
                    "empty answer without ETag or Last-Modified: nothing identifies a version",
                ));
            } else {
                sha256_id(&fetched.body)
            };
            state.etag = fetched.etag.clone().filter(|e| etag_id(e).is_some());
            state.last_modified = fetched.last_modified.clone();
            (id, modified)
        };
        let released = *state
            .versions
            .entry(id.clone())
            .or_insert_with(|| modified.map_or(ctx.now, |t| t.min(ctx.now)));
        state.current = Some(id.clone());

        let mut parsed = Parsed {
            state: serde_json::to_string(&state).ok(),
            ..Parsed::default()
        };
        match resolve_tiers(&self.config.tiering, &[], ctx.tier_names) {
            Some(tiers) => parsed.records.push(Record {
                id,
                title: String::new(),
                published: Published::Instant(released),
                tiers,
                covers: Vec::new(),
            }),
            None => parsed.excluded += 1,
        }
        Ok(parsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::settings::Tiering;
    use crate::sources::Reason;

    const T0: i64 = 1_731_441_600; // 2024-11-12T20:00:00Z

    struct Poller {
        kind: HttpResource,
        state: Option<String>,
        tiers: Vec<String>,
    }

    impl Poller {
        fn new() -> Poller {
            Poller {
                kind: HttpResource::new(HttpResourceConfig {
                    tiering: Tiering::Fixed(vec!["english".into(), "other_languages".into()]),
                }),
                state: None,
                tiers: vec!["english".into(), "other_languages".into()],
            }
        }

        /// One poll; the state is kept only on success, as the store does.
        fn poll(&mut self, now: i64, fetched: Fetched) -> Result<(String, i64), PollError> {
            let ctx = ParseContext {
                now,
                state: self.state.as_deref(),
                tier_names: &self.tiers,
            };
            let parsed = self.kind.parse(&fetched, &ctx)?;
            if parsed.state.is_some() {
                self.state = parsed.state.clone();
            }
            assert_eq!(parsed.records.len(), 1);
            let r = &parsed.records[0];
            assert_eq!(r.tiers, ["english", "other_languages"]);
            let Published::Instant(t) = r.published else {
                panic!("not an instant");
            };
            Ok((r.id.clone(), t))
        }

        fn headers(&self) -> Vec<(String, String)> {
            self.kind.request_headers(self.state.as_deref())
        }
    }

    fn ok(etag: Option<&str>, last_modified: Option<&str>, body: &[u8]) -> Fetched {
        Fetched {
            body: body.to_vec(),
            not_modified: false,
            etag: etag.map(str::to_string),
            last_modified: last_modified.map(str::to_string),
        }
    }

    fn not_modified() -> Fetched {
        Fetched {
            not_modified: true,
            ..Default::default()
        }
    }

    #[test]
    fn etag_versions_and_conditional_requests() {
        let mut p = Poller::new();
        assert!(p.headers().is_empty(), "first request is unconditional");
        let lm = "Tue, 12 Nov 2024 19:15:00 GMT";
        assert_eq!(
            p.poll(T0, ok(Some("\"v1\""), Some(lm), b"")),
            Ok(("v1".into(), T0 - 2700)),
            "released at Last-Modified"
        );
        assert_eq!(
            p.headers(),
            vec![
                ("If-None-Match".to_string(), "\"v1\"".to_string()),
                ("If-Modified-Since".to_string(), lm.to_string()),
            ]
        );
        assert_eq!(
            p.poll(T0 + 60, not_modified()),
            Ok(("v1".into(), T0 - 2700))
        );
        // A new version without Last-Modified: released when first seen; weak tags are tags.
        assert_eq!(
            p.poll(T0 + 3600, ok(Some("W/\"v2\""), None, b"")),
            Ok(("v2".into(), T0 + 3600))
        );
        assert_eq!(
            p.headers(),
            vec![("If-None-Match".to_string(), "W/\"v2\"".to_string())]
        );
        assert_eq!(
            p.poll(T0 + 7200, ok(Some("\"v2\""), None, b"")),
            Ok(("v2".into(), T0 + 3600))
        );
        // The tag flips back: an old version, not a new release, its original time kept.
        assert_eq!(
            p.poll(T0 + 9000, ok(Some("\"v1\""), Some(lm), b"")),
            Ok(("v1".into(), T0 - 2700))
        );
        assert_eq!(
            p.poll(T0 + 9600, not_modified()),
            Ok(("v1".into(), T0 - 2700))
        );
    }

    #[test]
    fn last_modified_then_digest() {
        let mut p = Poller::new();
        let lm = "Wed, 13 Nov 2024 08:00:00 GMT";
        assert_eq!(
            p.poll(T0 + 86400, ok(None, Some(lm), b"cab")),
            Ok(("2024-11-13T08:00:00Z".into(), 1_731_484_800))
        );
        assert_eq!(
            p.headers(),
            vec![("If-Modified-Since".to_string(), lm.to_string())]
        );
        // A Last-Modified in the future (a server clock ahead) is capped at the poll.
        let mut p = Poller::new();
        assert_eq!(
            p.poll(T0, ok(None, Some(lm), b"cab")),
            Ok(("2024-11-13T08:00:00Z".into(), T0))
        );
        // Neither validator: the content digest.
        let mut p = Poller::new();
        let (id, t) = p.poll(T0, ok(None, None, b"abc")).expect("parses");
        assert_eq!(
            id,
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(t, T0);
        assert!(
            p.headers().is_empty(),
            "nothing to make a request conditional"
        );
        assert_eq!(
            p.poll(T0 + 60, ok(None, None, b"abc")),
            Ok((id.clone(), T0))
        );
        let (id2, t2) = p.poll(T0 + 120, ok(None, None, b"abd")).expect("parses");
        assert_ne!(id2, id);
        assert_eq!(t2, T0 + 120);
    }

    #[test]
    fn obsolete_http_dates() {
        assert_eq!(
            http_date("Sunday, 06-Nov-94 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(http_date("Sun Nov  6 08:49:37 1994"), Some(784_111_777));
        assert_eq!(
            http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(http_date("last tuesday"), None);
    }

    #[test]
    fn bad_answers_are_parse_errors_and_keep_the_state() {
        let mut p = Poller::new();
        p.poll(T0, ok(Some("\"v1\""), None, b"")).expect("parses");
        let before = p.state.clone();
        for fetched in [
            ok(Some("\"v2\""), Some("yesterday"), b""),
            ok(None, None, b""),
        ] {
            let err = p.poll(T0 + 60, fetched).expect_err("malformed");
            assert_eq!(err.reason, Reason::Parse, "{err}");
        }
        assert_eq!(p.state, before);
        // A 304 nobody asked for.
        let err = Poller::new()
            .poll(T0, not_modified())
            .expect_err("no version");
        assert_eq!(err.reason, Reason::Parse);
        // Unreadable state: as if none.
        let mut p = Poller::new();
        p.state = Some("{not json".into());
        assert!(p.headers().is_empty());
        assert_eq!(
            p.poll(T0, ok(Some("\"v9\""), None, b"")),
            Ok(("v9".into(), T0))
        );
    }
}
