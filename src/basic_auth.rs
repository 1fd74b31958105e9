//! HTTP basic authentication against bcrypt hashes (`basic_auth_users` in the web
//! configuration), for every endpoint, as in exporter-toolkit.
//!
//! bcrypt is slow on purpose (about 70 ms at cost 10), and Prometheus sends the same
//! credentials on every scrape, so outcomes are cached. A cache entry is an HMAC of the user
//! name and password under a key drawn at start, never the password itself; entries are
//! compared in constant time. Accepted and rejected credentials have separate caches, so a
//! stream of wrong passwords cannot evict the scraper's entry. Only one bcrypt runs at a time,
//! on a blocking thread: guessing costs an attacker one core at most, and never the threads
//! that serve scrapes.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use ring::hmac;
use subtle::{Choice, ConstantTimeEq};
use tokio::sync::Semaphore;

/// Distinct accepted credentials remembered; a handful of scrapers is the normal case.
const ACCEPTED_CAPACITY: usize = 64;
/// Distinct rejected credentials remembered, so a misconfigured scraper retrying the same wrong
/// password does not cost a bcrypt each time.
const REJECTED_CAPACITY: usize = 256;

const WWW_AUTHENTICATE: &str = "Basic realm=\"patchlag-exporter\", charset=\"UTF-8\"";

type Tag = [u8; 32];

/// A fixed-size set of tags, oldest replaced first.
struct TagCache {
    tags: Vec<Tag>,
    capacity: usize,
    next: usize,
}

impl TagCache {
    fn new(capacity: usize) -> TagCache {
        TagCache {
            tags: Vec::with_capacity(capacity),
            capacity,
            next: 0,
        }
    }

    /// Compares against every entry, without stopping at a match.
    fn contains(&self, tag: &Tag) -> bool {
        let found = self
            .tags
            .iter()
            .fold(Choice::from(0), |found, t| found | t.ct_eq(tag));
        found.into()
    }

    fn insert(&mut self, tag: Tag) {
        if self.contains(&tag) {
            return;
        }
        if self.tags.len() < self.capacity {
            self.tags.push(tag);
        } else {
            self.tags[self.next] = tag;
            self.next = (self.next + 1) % self.capacity;
        }
    }
}

struct Caches {
    accepted: TagCache,
    rejected: TagCache,
}

pub struct BasicAuth {
    /// User name → bcrypt hash.
    users: BTreeMap<String, String>,
    /// Checked against when the user is unknown, so that an unknown user costs the same time
    /// as a wrong password and user names cannot be probed.
    decoy_hash: String,
    key: hmac::Key,
    caches: Mutex<Caches>,
    bcrypt_slot: Semaphore,
}

/// Why a request was turned away (for the debug log; the client only sees 401).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    Missing,
    Malformed,
    WrongCredentials,
}

impl BasicAuth {
    /// `None` when there are no users: authentication is off.
    pub fn new(users: BTreeMap<String, String>) -> Option<BasicAuth> {
        // The most expensive hash configured, so the decoy is never cheaper than a real check.
        let decoy_hash = users
            .values()
            .max_by_key(|h| {
                h.parse::<bcrypt::HashParts>()
                    .map(|p| p.get_cost())
                    .unwrap_or(0)
            })?
            .clone();
        let rng = ring::rand::SystemRandom::new();
        let key = hmac::Key::generate(hmac::HMAC_SHA256, &rng).ok()?;
        Some(BasicAuth {
            users,
            decoy_hash,
            key,
            caches: Mutex::new(Caches {
                accepted: TagCache::new(ACCEPTED_CAPACITY),
                rejected: TagCache::new(REJECTED_CAPACITY),
            }),
            bcrypt_slot: Semaphore::new(1),
        })
    }

    fn tag(&self, user: &[u8], password: &[u8]) -> Tag {
        let mut ctx = hmac::Context::with_key(&self.key);
        // Length-prefixed, so that ("ab", "c") and ("a", "bc") differ.
        ctx.update(&(user.len() as u64).to_be_bytes());
        ctx.update(user);
        ctx.update(password);
        let mut tag = [0u8; 32];
        tag.copy_from_slice(ctx.sign().as_ref());
        tag
    }

    /// `Some(outcome)` when these credentials were checked before.
    fn cached(&self, tag: &Tag) -> Option<bool> {
        let caches = self.caches.lock().unwrap_or_else(|p| p.into_inner());
        if caches.accepted.contains(tag) {
            Some(true)
        } else if caches.rejected.contains(tag) {
            Some(false)
        } else {
            None
        }
    }

    /// Checks an `Authorization` header value.
    pub async fn check(&self, authorization: Option<&HeaderValue>) -> Result<(), Rejection> {
        let value = authorization.ok_or(Rejection::Missing)?;
        let (user, password) = parse_basic(value.as_bytes()).ok_or(Rejection::Malformed)?;
        let tag = self.tag(&user, &password);
        if let Some(ok) = self.cached(&tag) {
            return if ok {
                Ok(())
            } else {
                Err(Rejection::WrongCredentials)
            };
        }
        let Ok(_slot) = self.bcrypt_slot.acquire().await else {
            return Err(Rejection::WrongCredentials);
        };
        // Another request may have checked the same credentials while this one waited.
        if let Some(ok) = self.cached(&tag) {
            return if ok {
                Ok(())
            } else {
                Err(Rejection::WrongCredentials)
            };
        }
        let known = std::str::from_utf8(&user)
            .ok()
            .and_then(|u| self.users.get(u));
        let hash = known.unwrap_or(&self.decoy_hash).clone();
        let matches =
            tokio::task::spawn_blocking(move || bcrypt::verify(&password, &hash).unwrap_or(false))
                .await
                .unwrap_or(false);
        let ok = known.is_some() && matches;
        let mut caches = self.caches.lock().unwrap_or_else(|p| p.into_inner());
        if ok {
            caches.accepted.insert(tag);
            Ok(())
        } else {
            caches.rejected.insert(tag);
            Err(Rejection::WrongCredentials)
        }
    }
}

/// `Basic base64(user:password)` → (user, password). The scheme is case-insensitive
/// (RFC 9110); the password may contain colons, the user name may not (RFC 7617).
fn parse_basic(value: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let text = std::str::from_utf8(value).ok()?.trim();
    let (scheme, encoded) = text.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let colon = decoded.iter().position(|b| *b == b':')?;
    Some((decoded[..colon].to_vec(), decoded[colon + 1..].to_vec()))
}

/// Middleware: lets a request through only with good credentials.
pub async fn require(State(auth): State<Arc<BasicAuth>>, request: Request, next: Next) -> Response {
    match auth
        .check(request.headers().get(header::AUTHORIZATION))
        .await
    {
        Ok(()) => next.run(request).await,
        Err(rejection) => {
            tracing::debug!(path = %request.uri().path(), reason = ?rejection, "unauthorized request");
            let mut response = (StatusCode::UNAUTHORIZED, "Unauthorized\n").into_response();
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(WWW_AUTHENTICATE),
            );
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(user: &str, password: &str) -> HeaderValue {
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        HeaderValue::from_str(&format!("Basic {encoded}")).expect("header")
    }

    fn auth() -> BasicAuth {
        // Cost 4, the minimum, keeps the test fast; the logic does not depend on the cost.
        let hash = bcrypt::hash("s3cret:with:colons", 4).expect("hash");
        BasicAuth::new(BTreeMap::from([("prometheus".to_string(), hash)])).expect("auth")
    }

    #[tokio::test]
    async fn accepts_good_and_rejects_bad_credentials() {
        let auth = auth();
        assert_eq!(
            auth.check(Some(&header("prometheus", "s3cret:with:colons")))
                .await,
            Ok(())
        );
        assert_eq!(
            auth.check(Some(&header("prometheus", "wrong"))).await,
            Err(Rejection::WrongCredentials)
        );
        assert_eq!(
            auth.check(Some(&header("nobody", "s3cret:with:colons")))
                .await,
            Err(Rejection::WrongCredentials)
        );
        assert_eq!(auth.check(None).await, Err(Rejection::Missing));
        assert_eq!(
            auth.check(Some(&HeaderValue::from_static("Bearer abc")))
                .await,
            Err(Rejection::Malformed)
        );
        assert_eq!(
            auth.check(Some(&HeaderValue::from_static("Basic !!!")))
                .await,
            Err(Rejection::Malformed)
        );
    }

    #[tokio::test]
    async fn outcomes_are_cached_by_tag() {
        let auth = auth();
        let good = auth.tag(b"prometheus", b"s3cret:with:colons");
        let bad = auth.tag(b"prometheus", b"nope");
        assert_eq!(auth.cached(&good), None);
        auth.check(Some(&header("prometheus", "s3cret:with:colons")))
            .await
            .expect("accepted");
        auth.check(Some(&header("prometheus", "nope")))
            .await
            .expect_err("rejected");
        assert_eq!(auth.cached(&good), Some(true));
        assert_eq!(auth.cached(&bad), Some(false));
        // The user name is part of the tag.
        assert_ne!(auth.tag(b"ab", b"c"), auth.tag(b"a", b"bc"));
    }

    #[test]
    fn rejected_credentials_cannot_evict_accepted_ones() {
        let auth = auth();
        let good = auth.tag(b"prometheus", b"s3cret:with:colons");
        {
            let mut caches = auth.caches.lock().expect("lock");
            caches.accepted.insert(good);
            for i in 0..(REJECTED_CAPACITY * 3) {
                caches
                    .rejected
                    .insert(auth.tag(b"prometheus", i.to_string().as_bytes()));
            }
            assert_eq!(caches.rejected.tags.len(), REJECTED_CAPACITY);
        }
        assert_eq!(auth.cached(&good), Some(true));
    }

    #[test]
    fn scheme_is_case_insensitive_and_password_keeps_colons() {
        let value = format!(
            "bAsIc {}",
            base64::engine::general_purpose::STANDARD.encode("u:p:q")
        );
        assert_eq!(
            parse_basic(value.as_bytes()),
            Some((b"u".to_vec(), b"p:q".to_vec()))
        );
        assert_eq!(parse_basic(b"Basic"), None);
    }
}
