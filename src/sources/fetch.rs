//! Fetching a source's answer with limits: each request bounded by the source's timeout, the
//! body capped at `max_body_bytes` while it streams (never buffered past the cap), a redirect
//! limit, bounded retries within one poll, and every failure classified into a `Reason`. URLs
//! are `http(s)://` or `file://`. Nothing here logs a URL with its password or a header value.
//!
//! Retries: a failure that is usually transient (connection refused or reset, a timeout, a 5xx
//! answer, 429 Too Many Requests) is retried up to `MAX_RETRIES` times, after an exponential
//! backoff with jitter, or after the server's `Retry-After` on 429 and 503. A poll never takes
//! longer than `MAX_RETRIES + 1` timeouts: a retry is made only if its wait and a whole attempt
//! still fit in that budget. A `Retry-After` that does not fit fails the poll at once, and the
//! poller does not poll again before it has passed. Other answers (4xx, TLS errors, oversized
//! bodies, redirect loops) would fail the same way again and are not retried.

use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::StatusCode;
use tokio::io::AsyncReadExt;
use tokio::time::Instant;

use super::{Fetched, Needs, PollError, Reason};
use crate::duration::format_duration;

/// More than a handful of redirects is a misconfiguration or a loop.
pub const MAX_REDIRECTS: usize = 5;
/// Retries within one poll. Two ride out a restarting server or a dropped connection without
/// hammering a server that is really down; the next poll comes an interval later anyway.
pub const MAX_RETRIES: u32 = 2;
/// The first retry waits between half this and this; each further retry twice as long.
pub const RETRY_BACKOFF: Duration = Duration::from_millis(500);
/// A longer `Retry-After` is read as this: a server must not be able to stop polling for days
/// while content goals are counted in hours.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// Where and how one source is fetched, as its configuration says.
#[derive(Debug, Clone, Copy)]
pub struct Endpoint<'a> {
    /// The source's name, for log lines.
    pub name: &'a str,
    pub url: &'a str,
    pub timeout: Duration,
    pub max_body_bytes: u64,
    pub headers: &'a [(String, String)],
    pub proxy_url: Option<&'a str>,
    pub tls: &'a TlsConfig,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct TlsConfig {
    pub ca_file: Option<std::path::PathBuf>,
    pub insecure_skip_verify: bool,
}

pub struct Fetcher {
    /// The source's name, for log lines.
    name: String,
    url: String,
    /// `None` when every URL of the source is a file.
    client: Option<reqwest::Client>,
    timeout: Duration,
    max_body_bytes: u64,
    /// See `Needs::validators_suffice`.
    validators_suffice: bool,
}

/// What one fetch reads.
struct Target<'a> {
    url: &'a str,
    /// See `Fetcher::validators_suffice`.
    validators_suffice: bool,
}

/// One failed attempt, and whether another one may succeed.
struct AttemptError {
    error: PollError,
    transient: bool,
}

impl AttemptError {
    fn transient(error: PollError) -> AttemptError {
        AttemptError {
            error,
            transient: true,
        }
    }

    fn permanent(error: PollError) -> AttemptError {
        AttemptError {
            error,
            transient: false,
        }
    }
}

impl Fetcher {
    /// Builds the HTTP client of a source. Fails only on settings that are already validated
    /// (a CA file that became unreadable, say), with a message for the operator.
    pub fn new(source: Endpoint<'_>, needs: Needs<'_>) -> Result<Fetcher, String> {
        let files_only = std::iter::once(source.url)
            .chain(needs.other_urls.iter().copied())
            .all(|u| u.starts_with("file://"));
        let client = if files_only {
            None
        } else {
            let mut headers = HeaderMap::new();
            for (k, v) in source.headers {
                let name =
                    HeaderName::from_bytes(k.as_bytes()).map_err(|e| format!("header {k}: {e}"))?;
                let mut value = HeaderValue::from_str(v).map_err(|e| format!("header {k}: {e}"))?;
                value.set_sensitive(true);
                headers.insert(name, value);
            }
            let mut builder = reqwest::Client::builder()
                .user_agent(concat!("patchlag-exporter/", env!("CARGO_PKG_VERSION")))
                .default_headers(headers)
                .timeout(source.timeout)
                .connect_timeout(source.timeout.min(Duration::from_secs(10)))
                .redirect(reqwest::redirect::Policy::limited(MAX_REDIRECTS))
                .tls_danger_accept_invalid_certs(source.tls.insecure_skip_verify);
            if let Some(ca) = &source.tls.ca_file {
                let pem =
                    std::fs::read(ca).map_err(|e| format!("tls.ca_file {}: {e}", ca.display()))?;
                let certs = reqwest::Certificate::from_pem_bundle(&pem)
                    .map_err(|e| format!("tls.ca_file {}: {e}", ca.display()))?;
                for cert in certs {
                    builder = builder.add_root_certificate(cert);
                }
            }
            if let Some(proxy) = source.proxy_url {
                let proxy = reqwest::Proxy::all(proxy)
                    .map_err(|e| format!("proxy_url: {}", e.without_url()))?
                    .no_proxy(reqwest::NoProxy::from_env());
                builder = builder.proxy(proxy);
            }
            Some(
                builder
                    .build()
                    .map_err(|e| format!("cannot build the HTTP client: {}", e.without_url()))?,
            )
        };
        Ok(Fetcher {
            name: source.name.to_string(),
            url: source.url.to_string(),
            client,
            timeout: source.timeout,
            max_body_bytes: source.max_body_bytes,
            validators_suffice: needs.validators_suffice,
        })
    }

    /// Fetches the answer, retrying transient failures; `extra_headers` carry
    /// conditional-request validators. A failure's `retry_after` is the server's wish for the
    /// next poll.
    pub async fn fetch(&self, extra_headers: &[(String, String)]) -> Result<Fetched, PollError> {
        self.fetch_from(&self.url, extra_headers, self.validators_suffice)
            .await
    }

    /// Fetches another URL of the source (a document its answer points to), with the same
    /// client and limits; the body is always read.
    pub async fn fetch_url(
        &self,
        url: &str,
        extra_headers: &[(String, String)],
    ) -> Result<Fetched, PollError> {
        self.fetch_from(url, extra_headers, false).await
    }

    async fn fetch_from(
        &self,
        url: &str,
        extra_headers: &[(String, String)],
        validators_suffice: bool,
    ) -> Result<Fetched, PollError> {
        let target = Target {
            url,
            validators_suffice,
        };
        if url.starts_with("file://") {
            // A local file is not retried: what fails now fails the same way a second later.
            return match tokio::time::timeout(self.timeout, self.fetch_file(&target)).await {
                Ok(result) => result,
                Err(_) => Err(timed_out(self.timeout)),
            };
        }
        match &self.client {
            Some(client) => {
                self.fetch_with_retries(client, &target, extra_headers)
                    .await
            }
            None => Err(PollError::new(
                Reason::Other,
                "no HTTP client for this source's file URLs",
            )),
        }
    }

    async fn fetch_with_retries(
        &self,
        client: &reqwest::Client,
        target: &Target<'_>,
        extra_headers: &[(String, String)],
    ) -> Result<Fetched, PollError> {
        let deadline = Instant::now() + self.timeout * (MAX_RETRIES + 1);
        let mut attempt = 1;
        loop {
            // The client enforces the timeout too; this one also bounds what it does not see.
            let failure = match tokio::time::timeout(
                self.timeout,
                self.fetch_http(client, target, extra_headers),
            )
            .await
            {
                Ok(Ok(fetched)) => return Ok(fetched),
                Ok(Err(failure)) => failure,
                Err(_) => AttemptError::transient(timed_out(self.timeout)),
            };
            let wait = failure
                .error
                .retry_after
                .unwrap_or_else(|| backoff(attempt));
            let fits = Instant::now() + wait + self.timeout <= deadline;
            if !failure.transient || attempt > MAX_RETRIES || !fits {
                let mut error = failure.error;
                if attempt > 1 {
                    error.message = format!("{} (after {attempt} attempts)", error.message);
                }
                return Err(error);
            }
            tracing::debug!(
                source = %self.name,
                reason = %failure.error.reason,
                error = %failure.error.message,
                attempt,
                retry_in_seconds = wait.as_secs_f64(),
                "attempt failed, retrying"
            );
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    async fn fetch_file(&self, target: &Target<'_>) -> Result<Fetched, PollError> {
        let path = url::Url::parse(target.url)
            .ok()
            .and_then(|u| u.to_file_path().ok())
            .ok_or_else(|| PollError::new(Reason::Other, "invalid file URL"))?;
        let file = tokio::fs::File::open(&path).await.map_err(|e| {
            PollError::new(
                Reason::Other,
                format!("cannot open {}: {e}", path.display()),
            )
        })?;
        let meta = file.metadata().await.map_err(|e| {
            PollError::new(
                Reason::Other,
                format!("cannot stat {}: {e}", path.display()),
            )
        })?;
        let last_modified = meta.modified().ok().map(|t| {
            chrono::DateTime::<chrono::Utc>::from(t)
                .format("%a, %d %b %Y %H:%M:%S GMT")
                .to_string()
        });
        if target.validators_suffice && last_modified.is_some() {
            return Ok(Fetched {
                last_modified,
                ..Fetched::default()
            });
        }
        if meta.len() > self.max_body_bytes {
            return Err(too_large(self.max_body_bytes));
        }
        let mut body = Vec::with_capacity(meta.len() as usize);
        file.take(self.max_body_bytes + 1)
            .read_to_end(&mut body)
            .await
            .map_err(|e| {
                PollError::new(
                    Reason::Other,
                    format!("cannot read {}: {e}", path.display()),
                )
            })?;
        if body.len() as u64 > self.max_body_bytes {
            return Err(too_large(self.max_body_bytes));
        }
        Ok(Fetched {
            body,
            not_modified: false,
            etag: None,
            last_modified,
        })
    }

    async fn fetch_http(
        &self,
        client: &reqwest::Client,
        target: &Target<'_>,
        extra_headers: &[(String, String)],
    ) -> Result<Fetched, AttemptError> {
        let mut request = client.get(target.url);
        for (k, v) in extra_headers {
            request = request.header(k.as_str(), v.as_str());
        }
        let mut response = request.send().await.map_err(|e| self.classify(e))?;
        let status = response.status();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let etag = header("etag");
        let last_modified = header("last-modified");
        if status == StatusCode::NOT_MODIFIED {
            return Ok(Fetched {
                body: Vec::new(),
                not_modified: true,
                etag,
                last_modified,
            });
        }
        if !status.is_success() {
            let mut error = PollError::new(Reason::HttpStatus, format!("HTTP status {status}"));
            if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE
            {
                error.retry_after = header("retry-after")
                    .and_then(|v| parse_retry_after(&v, SystemTime::now()))
                    .map(|d| d.min(MAX_RETRY_AFTER));
                if let Some(after) = error.retry_after {
                    error.message = format!(
                        "{}, asked to retry after {} (Retry-After)",
                        error.message,
                        format_duration(after)
                    );
                }
            }
            return Err(AttemptError {
                error,
                transient: status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS,
            });
        }
        if target.validators_suffice && (etag.is_some() || last_modified.is_some()) {
            return Ok(Fetched {
                body: Vec::new(),
                not_modified: false,
                etag,
                last_modified,
            });
        }
        if response
            .content_length()
            .is_some_and(|len| len > self.max_body_bytes)
        {
            return Err(AttemptError::permanent(too_large(self.max_body_bytes)));
        }
        let capacity = response
            .content_length()
            .unwrap_or(64 * 1024)
            .min(self.max_body_bytes) as usize;
        let mut body = Vec::with_capacity(capacity);
        while let Some(chunk) = response.chunk().await.map_err(|e| self.classify(e))? {
            if (body.len() + chunk.len()) as u64 > self.max_body_bytes {
                return Err(AttemptError::permanent(too_large(self.max_body_bytes)));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Fetched {
            body,
            not_modified: false,
            etag,
            last_modified,
        })
    }

    /// Sorts a client error into a reason, with a message that carries no URL (URLs may hold
    /// credentials; the source name identifies it in logs).
    fn classify(&self, err: reqwest::Error) -> AttemptError {
        let err = err.without_url();
        let mut chain = String::new();
        let mut tls = false;
        let mut source: Option<&dyn std::error::Error> = Some(&err);
        while let Some(e) = source {
            // An I/O error hides the error it wraps from `source()`: look inside it too.
            let wrapped = e
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .map(|inner| inner as &dyn std::error::Error);
            if e.downcast_ref::<rustls::Error>().is_some()
                || wrapped.is_some_and(|w| w.downcast_ref::<rustls::Error>().is_some())
            {
                tls = true;
            }
            if !chain.is_empty() {
                chain.push_str(": ");
            }
            chain.push_str(&e.to_string());
            source = e.source();
        }
        let lower = chain.to_ascii_lowercase();
        if !tls
            && (lower.contains("certificate")
                || lower.contains("tls")
                || lower.contains("handshake"))
        {
            tls = true;
        }
        if err.is_timeout() {
            AttemptError::transient(timed_out(self.timeout))
        } else if tls {
            AttemptError::permanent(PollError::new(Reason::Tls, chain))
        } else if err.is_redirect() {
            AttemptError::permanent(PollError::new(
                Reason::HttpStatus,
                format!(
                    "{chain} (at most {MAX_REDIRECTS} redirects are followed: a redirect loop?)"
                ),
            ))
        } else if err.is_connect() {
            AttemptError::transient(PollError::new(Reason::Connect, chain))
        } else {
            // A connection dropped or reset mid-answer, a body cut short, a malformed answer.
            AttemptError::transient(PollError::new(Reason::Other, chain))
        }
    }
}

/// The wait before retry `attempt + 1`: `RETRY_BACKOFF` doubled per attempt, at a random point
/// of its upper half, so that sources failing together do not retry in lockstep.
fn backoff(attempt: u32) -> Duration {
    let full = RETRY_BACKOFF.saturating_mul(1 << attempt.saturating_sub(1).min(16));
    full.mul_f64(0.5 + fastrand::f64() * 0.5)
}

/// `Retry-After`: delay-seconds or an HTTP date (RFC 9110 10.2.3). A date in the past means
/// now; anything else is ignored.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // More digits than fit in a u64 is still "a very long time".
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

fn timed_out(limit: Duration) -> PollError {
    PollError::new(
        Reason::Timeout,
        format!("no complete answer within {}", format_duration(limit)),
    )
}

fn too_large(limit: u64) -> PollError {
    PollError::new(
        Reason::BodyTooLarge,
        format!("answer larger than max_body_bytes ({limit} bytes)"),
    )
}

/// A URL fit for logs and pages: the password replaced.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("xxxxx"));
            }
            u.to_string()
        }
        Err(_) => "<invalid URL>".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact_url("https://user:s3cret@example.com/x?y=1"),
            "https://user:xxxxx@example.com/x?y=1"
        );
        assert_eq!(redact_url("https://example.com/x"), "https://example.com/x");
    }

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").expect("date");
        let cases: &[(&str, Option<u64>)] = &[
            ("120", Some(120)),
            (" 0 ", Some(0)),
            ("99999999999999999999999", Some(u64::MAX)),
            // IMF-fixdate, and the obsolete RFC 850 and asctime forms.
            ("Sun, 06 Nov 1994 08:50:07 GMT", Some(30)),
            ("Sunday, 06-Nov-94 08:51:37 GMT", Some(120)),
            ("Sun Nov  6 08:49:47 1994", Some(10)),
            // A date in the past means now.
            ("Sat, 05 Nov 1994 08:49:37 GMT", Some(0)),
            ("", None),
            ("-5", None),
            ("1.5", None),
            ("soon", None),
        ];
        for (value, expected) in cases {
            assert_eq!(
                parse_retry_after(value, now),
                expected.map(Duration::from_secs),
                "{value:?}"
            );
        }
    }

    #[test]
    fn backoff_doubles_with_jitter_in_the_upper_half() {
        for attempt in 1..=4u32 {
            let full = RETRY_BACKOFF * 2u32.pow(attempt - 1);
            for _ in 0..100 {
                let wait = backoff(attempt);
                assert!(wait >= full / 2 && wait <= full, "{attempt}: {wait:?}");
            }
        }
        // No overflow however many attempts.
        assert!(backoff(u32::MAX) > Duration::ZERO);
    }
}
