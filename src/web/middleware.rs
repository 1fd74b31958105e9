//! What the web configuration does to every request, whatever its path, in exporter-toolkit's
//! order: the rate limit (429), then basic authentication (401), then the route. The configured
//! response headers go on every answer, 401 and 429 included.
//!
//! Each request reads the web configuration in force ([`WebConfig::current`], which re-reads
//! the file when it changed), so new users, headers or limits apply from the next request on.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;

use super::basic_auth::{self, Client};
use super::config::RateLimit;
use super::WebConfig;

/// Wraps every route of `router` in the web configuration's protection.
pub fn layer(web: Arc<WebConfig>, router: Router) -> Router {
    router.layer(middleware::from_fn_with_state(web, guard))
}

async fn guard(State(web): State<Arc<WebConfig>>, request: Request, next: Next) -> Response {
    let active = web.current();
    let mut response = if active.rate_limiter.as_ref().is_some_and(|l| !l.allow()) {
        (StatusCode::TOO_MANY_REQUESTS, "Too Many Requests\n").into_response()
    } else if let Some(auth) = &active.basic_auth {
        let client = Client::of(
            request
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip()),
        );
        match auth
            .check(request.headers().get(header::AUTHORIZATION), client)
            .await
        {
            Ok(()) => next.run(request).await,
            Err(rejection) => {
                tracing::debug!(path = %request.uri().path(), reason = ?rejection, "unauthorized request");
                basic_auth::unauthorized()
            }
        }
    } else {
        next.run(request).await
    };
    for (name, value) in &active.settings.headers {
        response.headers_mut().insert(name.clone(), value.clone());
    }
    response
}

/// The token bucket of `rate_limit`, with the semantics of Go's `golang.org/x/time/rate`
/// limiter that exporter-toolkit uses: one token every `interval`, at most `burst` saved up,
/// full at start; a request takes one token or is refused.
pub struct RateLimiter {
    limit: RateLimit,
    bucket: Mutex<Bucket>,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

impl RateLimiter {
    pub fn new(limit: RateLimit) -> RateLimiter {
        RateLimiter::starting_at(limit, Instant::now())
    }

    fn starting_at(limit: RateLimit, now: Instant) -> RateLimiter {
        RateLimiter {
            limit,
            bucket: Mutex::new(Bucket {
                tokens: f64::from(limit.burst),
                at: now,
            }),
        }
    }

    pub fn limit(&self) -> RateLimit {
        self.limit
    }

    pub fn allow(&self) -> bool {
        self.allow_at(Instant::now())
    }

    fn allow_at(&self, now: Instant) -> bool {
        let mut bucket = self.bucket.lock().unwrap_or_else(|p| p.into_inner());
        let elapsed = now.saturating_duration_since(bucket.at);
        let refill = elapsed.as_secs_f64()
            / self
                .limit
                .interval
                .max(Duration::from_nanos(1))
                .as_secs_f64();
        bucket.tokens = (bucket.tokens + refill).min(f64::from(self.limit.burst));
        bucket.at = bucket.at.max(now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_one_token_per_interval() {
        let start = Instant::now();
        let limiter = RateLimiter::starting_at(
            RateLimit {
                interval: Duration::from_secs(1),
                burst: 3,
            },
            start,
        );
        let at = |ms: u64| start + Duration::from_millis(ms);
        assert!(limiter.allow_at(at(0)));
        assert!(limiter.allow_at(at(0)));
        assert!(limiter.allow_at(at(0)));
        assert!(!limiter.allow_at(at(10)), "the burst is spent");
        assert!(!limiter.allow_at(at(900)));
        assert!(limiter.allow_at(at(1_000)), "one token a second");
        assert!(!limiter.allow_at(at(1_100)));
        // Saved up for a long time: never more than the burst.
        for _ in 0..3 {
            assert!(limiter.allow_at(at(60_000)));
        }
        assert!(!limiter.allow_at(at(60_000)));
    }

    #[test]
    fn a_burst_of_zero_refuses_everything() {
        let start = Instant::now();
        let limiter = RateLimiter::starting_at(
            RateLimit {
                interval: Duration::from_secs(1),
                burst: 0,
            },
            start,
        );
        for s in [0, 1, 10, 3600] {
            assert!(!limiter.allow_at(start + Duration::from_secs(s)));
        }
    }
}
