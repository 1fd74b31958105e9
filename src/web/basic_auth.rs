//! HTTP basic authentication against bcrypt hashes (`basic_auth_users` in the web
//! configuration), for every endpoint, as in exporter-toolkit.
//!
//! bcrypt is slow on purpose (about 70 ms at cost 10, a second at cost 14), and Prometheus
//! sends the same credentials on every scrape, so outcomes are cached. A cache entry is an HMAC
//! of the user name and password under a key drawn at start, never the password itself;
//! entries are compared in constant time. Accepted and rejected credentials have separate
//! caches, so a stream of wrong passwords cannot evict the scraper's entry.
//!
//! The concurrency model: at most `PARALLEL_CHECKS` bcrypt checks run at once, each on a
//! blocking thread, never on the threads that serve scrapes. In front of them every client
//! address has a lane of its own: its checks run one after the other, so however many requests
//! one client sends, it holds at most one check slot and one place in the queue for the
//! others, and a valid first-time login from another address waits for at most about one
//! check. Which lane a request takes depends only on where it comes from, never on the user
//! name, and an unknown user is checked against the cheapest configured hash: neither the
//! answer's timing nor its queueing tells which users exist (beyond the cost class of the
//! hash), and a request for an unknown user never costs more than a valid login.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use ring::hmac;
use subtle::{Choice, ConstantTimeEq};
use tokio::sync::Semaphore;

/// bcrypt checks at once: two of the runtime's four blocking threads at most, so the store's
/// work is never starved; on a one-core machine the two share it.
const PARALLEL_CHECKS: usize = 2;
/// Lanes kept before the ones nobody waits on any more are swept.
const LANES_SWEEP_AT: usize = 1024;
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

/// Whose checks queue behind each other: one client address, or, for IPv6, one /64 (what a
/// single host is usually given).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Client {
    V4(Ipv4Addr),
    V6Prefix(u64),
    /// The address is not known (a server built without one): all such requests share a lane.
    Unknown,
}

impl Client {
    pub fn of(address: Option<IpAddr>) -> Client {
        match address {
            None => Client::Unknown,
            Some(IpAddr::V4(v4)) => Client::V4(v4),
            Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
                Some(v4) => Client::V4(v4),
                None => Client::V6Prefix((u128::from(v6) >> 64) as u64),
            },
        }
    }
}

pub struct BasicAuth {
    /// User name → bcrypt hash.
    users: BTreeMap<String, String>,
    /// Checked against when the user is unknown, so that an unknown user costs the time of a
    /// wrong password and user names cannot be probed: the cheapest configured hash, so that
    /// a request for an unknown user never costs more than a valid login.
    stand_in: String,
    key: hmac::Key,
    caches: Mutex<Caches>,
    /// bcrypt checks running at once, each on a blocking thread.
    checks: Arc<Semaphore>,
    /// One lane per client with a check waiting or running. A client's checks run one after
    /// the other, so one client, however many requests it sends, holds at most one of the
    /// `checks` slots and one place in their queue.
    lanes: Arc<Mutex<Lanes>>,
}

/// Why a request was turned away (for the debug log; the client only sees 401).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    Missing,
    Malformed,
    WrongCredentials,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

fn cost(hash: &str) -> u32 {
    hash.parse::<bcrypt::HashParts>()
        .map_or(u32::MAX, |p| p.get_cost())
}

impl BasicAuth {
    /// `None` when there are no users: authentication is off.
    pub fn new(users: BTreeMap<String, String>) -> Option<BasicAuth> {
        let stand_in = users.values().min_by_key(|h| cost(h))?.clone();
        let rng = ring::rand::SystemRandom::new();
        let key = hmac::Key::generate(hmac::HMAC_SHA256, &rng).ok()?;
        Some(BasicAuth {
            users,
            stand_in,
            key,
            caches: Mutex::new(Caches {
                accepted: TagCache::new(ACCEPTED_CAPACITY),
                rejected: TagCache::new(REJECTED_CAPACITY),
            }),
            checks: Arc::new(Semaphore::new(PARALLEL_CHECKS)),
            lanes: Arc::default(),
        })
    }

    /// Whether this instance checks against exactly these users (a reloaded web configuration
    /// with the same users keeps its caches; any change starts afresh, so a changed password
    /// is never accepted from the cache).
    pub fn has_users(&self, users: &BTreeMap<String, String>) -> bool {
        &self.users == users
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
        let caches = lock(&self.caches);
        if caches.accepted.contains(tag) {
            Some(true)
        } else if caches.rejected.contains(tag) {
            Some(false)
        } else {
            None
        }
    }

    fn outcome(ok: bool) -> Result<(), Rejection> {
        if ok {
            Ok(())
        } else {
            Err(Rejection::WrongCredentials)
        }
    }

    /// Checks an `Authorization` header value sent by `client`.
    pub async fn check(
        &self,
        authorization: Option<&HeaderValue>,
        client: Client,
    ) -> Result<(), Rejection> {
        let value = authorization.ok_or(Rejection::Missing)?;
        let (user, password) = parse_basic(value.as_bytes()).ok_or(Rejection::Malformed)?;
        let tag = self.tag(&user, &password);
        if let Some(ok) = self.cached(&tag) {
            return BasicAuth::outcome(ok);
        }
        let lane = Lanes::join(&self.lanes, client);
        let turn = LaneTurn {
            lanes: self.lanes.clone(),
            client,
            guard: Some(lane.lock_owned().await),
        };
        let Ok(slot) = self.checks.clone().acquire_owned().await else {
            return Err(Rejection::WrongCredentials);
        };
        // Another request may have checked the same credentials while this one waited.
        if let Some(ok) = self.cached(&tag) {
            return BasicAuth::outcome(ok);
        }
        let known = std::str::from_utf8(&user)
            .ok()
            .and_then(|u| self.users.get(u));
        let hash = known.unwrap_or(&self.stand_in).clone();
        // The turn and the slot go with the check: a client that hangs up does not free them
        // while its bcrypt still runs.
        let matches = tokio::task::spawn_blocking(move || {
            let _held = (turn, slot);
            bcrypt::verify(&password, &hash).unwrap_or(false)
        })
        .await
        .unwrap_or(false);
        let ok = known.is_some() && matches;
        let mut caches = lock(&self.caches);
        if ok {
            caches.accepted.insert(tag);
        } else {
            caches.rejected.insert(tag);
        }
        BasicAuth::outcome(ok)
    }
}

/// Client → its lane, while the client has a check waiting or running.
#[derive(Default)]
struct Lanes(HashMap<Client, Arc<tokio::sync::Mutex<()>>>);

impl Lanes {
    fn join(lanes: &Mutex<Lanes>, client: Client) -> Arc<tokio::sync::Mutex<()>> {
        let mut lanes = lock(lanes);
        if lanes.0.len() >= LANES_SWEEP_AT {
            // Lanes left behind by requests abandoned while they waited.
            lanes.0.retain(|_, lane| Arc::strong_count(lane) > 1);
        }
        lanes.0.entry(client).or_default().clone()
    }
}

/// A client's turn to run a check; the last one out closes the lane.
struct LaneTurn {
    lanes: Arc<Mutex<Lanes>>,
    client: Client,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Drop for LaneTurn {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut lanes = lock(&self.lanes);
        if lanes
            .0
            .get(&self.client)
            .is_some_and(|lane| Arc::strong_count(lane) == 1)
        {
            lanes.0.remove(&self.client);
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

/// The answer to a request without good credentials.
pub fn unauthorized() -> Response {
    let mut response = (StatusCode::UNAUTHORIZED, "Unauthorized\n").into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(WWW_AUTHENTICATE),
    );
    response
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
            auth.check(
                Some(&header("prometheus", "s3cret:with:colons")),
                Client::Unknown
            )
            .await,
            Ok(())
        );
        assert_eq!(
            auth.check(Some(&header("prometheus", "wrong")), Client::Unknown)
                .await,
            Err(Rejection::WrongCredentials)
        );
        assert_eq!(
            auth.check(
                Some(&header("nobody", "s3cret:with:colons")),
                Client::Unknown
            )
            .await,
            Err(Rejection::WrongCredentials)
        );
        assert_eq!(
            auth.check(None, Client::Unknown).await,
            Err(Rejection::Missing)
        );
        assert_eq!(
            auth.check(
                Some(&HeaderValue::from_static("Bearer abc")),
                Client::Unknown
            )
            .await,
            Err(Rejection::Malformed)
        );
        assert_eq!(
            auth.check(
                Some(&HeaderValue::from_static("Basic !!!")),
                Client::Unknown
            )
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
        auth.check(
            Some(&header("prometheus", "s3cret:with:colons")),
            Client::Unknown,
        )
        .await
        .expect("accepted");
        auth.check(Some(&header("prometheus", "nope")), Client::Unknown)
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
    fn unknown_users_are_checked_against_the_cheapest_hash() {
        let cheap = bcrypt::hash("a", 4).expect("hash");
        let dear = bcrypt::hash("b", 6).expect("hash");
        let auth = BasicAuth::new(BTreeMap::from([
            ("alice".to_string(), dear.clone()),
            ("bob".to_string(), cheap.clone()),
        ]))
        .expect("auth");
        assert_eq!(auth.stand_in, cheap);
        assert!(auth.has_users(&BTreeMap::from([
            ("alice".to_string(), dear),
            ("bob".to_string(), cheap),
        ])));
    }

    #[tokio::test]
    async fn lanes_close_when_their_checks_are_done() {
        let auth = Arc::new(auth());
        let clients = [
            Client::of(Some("192.0.2.1".parse().expect("ip"))),
            Client::of(Some("2001:db8::1".parse().expect("ip"))),
            Client::of(Some("2001:db8::2".parse().expect("ip"))),
        ];
        // Two addresses of one /64 share a lane.
        assert_eq!(clients[1], clients[2]);
        assert_eq!(
            Client::of(Some("::ffff:192.0.2.1".parse().expect("ip"))),
            clients[0]
        );
        let mut tasks = Vec::new();
        for (i, client) in clients.iter().cycle().take(9).enumerate() {
            let auth = auth.clone();
            let client = *client;
            tasks.push(tokio::spawn(async move {
                auth.check(Some(&header("nobody", &i.to_string())), client)
                    .await
            }));
        }
        for task in tasks {
            assert_eq!(task.await.expect("task"), Err(Rejection::WrongCredentials));
        }
        assert!(lock(&auth.lanes).0.is_empty());
        assert_eq!(auth.checks.available_permits(), PARALLEL_CHECKS);
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
