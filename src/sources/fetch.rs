//! Fetching a source's answer with limits: the whole request bounded by the source's timeout,
//! the body capped at `max_body_bytes` while it streams (never buffered past the cap), a
//! redirect limit, and every failure classified into a `Reason`. URLs are `http(s)://` or
//! `file://`. Nothing here logs a URL with its password or a header value.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use tokio::io::AsyncReadExt;

use super::{Fetched, PollError, Reason};
use crate::config::{KindConfig, SourceConfig};

/// More than a handful of redirects is a misconfiguration or a loop.
pub const MAX_REDIRECTS: usize = 5;

pub struct Fetcher {
    url: String,
    client: Option<reqwest::Client>,
    timeout: Duration,
    max_body_bytes: u64,
    /// `http_resource` needs the body only to digest it: when the answer carries a validator
    /// (`ETag`, `Last-Modified`, a file's mtime), the body is not read, so a content file larger
    /// than `max_body_bytes` can still be watched.
    validators_suffice: bool,
}

impl Fetcher {
    /// Builds the HTTP client of a source. Fails only on settings that are already validated
    /// (a CA file that became unreadable, say), with a message for the operator.
    pub fn new(source: &SourceConfig) -> Result<Fetcher, String> {
        let client = if source.url.starts_with("file://") {
            None
        } else {
            let mut headers = HeaderMap::new();
            for (k, v) in &source.headers {
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
            if let Some(proxy) = &source.proxy_url {
                let proxy = reqwest::Proxy::all(proxy.as_str())
                    .map_err(|e| format!("proxy_url: {}", e.without_url()))?
                    .no_proxy(reqwest::NoProxy::from_env());
                builder = builder.proxy(proxy);
            }
            Some(
                builder
                    .build()
                    .map_err(|e| format!("cannot build the HTTP client: {e}"))?,
            )
        };
        Ok(Fetcher {
            url: source.url.clone(),
            client,
            timeout: source.timeout,
            max_body_bytes: source.max_body_bytes,
            validators_suffice: matches!(source.kind, KindConfig::HttpResource(_)),
        })
    }

    /// Fetches the answer; `extra_headers` carry conditional-request validators.
    pub async fn fetch(&self, extra_headers: &[(String, String)]) -> Result<Fetched, PollError> {
        let work = async {
            match &self.client {
                None => self.fetch_file().await,
                Some(client) => self.fetch_http(client, extra_headers).await,
            }
        };
        // The client's own timeout covers HTTP; this one also bounds a stuck file system.
        match tokio::time::timeout(self.timeout, work).await {
            Ok(result) => result,
            Err(_) => Err(PollError::new(
                Reason::Timeout,
                format!(
                    "no complete answer within {}",
                    crate::duration::format_duration(self.timeout)
                ),
            )),
        }
    }

    async fn fetch_file(&self) -> Result<Fetched, PollError> {
        let path = url::Url::parse(&self.url)
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
        if self.validators_suffice && last_modified.is_some() {
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
        extra_headers: &[(String, String)],
    ) -> Result<Fetched, PollError> {
        let mut request = client.get(&self.url);
        for (k, v) in extra_headers {
            request = request.header(k.as_str(), v.as_str());
        }
        let mut response = request.send().await.map_err(classify)?;
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
        if status == reqwest::StatusCode::NOT_MODIFIED {
            return Ok(Fetched {
                body: Vec::new(),
                not_modified: true,
                etag,
                last_modified,
            });
        }
        if !status.is_success() {
            return Err(PollError::new(
                Reason::HttpStatus,
                format!("HTTP status {status}"),
            ));
        }
        if self.validators_suffice && (etag.is_some() || last_modified.is_some()) {
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
            return Err(too_large(self.max_body_bytes));
        }
        let capacity = response
            .content_length()
            .unwrap_or(64 * 1024)
            .min(self.max_body_bytes) as usize;
        let mut body = Vec::with_capacity(capacity);
        while let Some(chunk) = response.chunk().await.map_err(classify)? {
            if (body.len() + chunk.len()) as u64 > self.max_body_bytes {
                return Err(too_large(self.max_body_bytes));
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
}

fn too_large(limit: u64) -> PollError {
    PollError::new(
        Reason::BodyTooLarge,
        format!("answer larger than max_body_bytes ({limit} bytes)"),
    )
}

/// Sorts a client error into a reason, with a message that carries no URL (URLs may hold
/// credentials; the source name identifies it in logs).
fn classify(err: reqwest::Error) -> PollError {
    let err = err.without_url();
    let mut chain = String::new();
    let mut source: Option<&dyn std::error::Error> = Some(&err);
    let mut tls = false;
    while let Some(e) = source {
        if e.downcast_ref::<rustls::Error>().is_some() {
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
        && (lower.contains("certificate") || lower.contains("tls") || lower.contains("handshake"))
    {
        tls = true;
    }
    let reason = if err.is_timeout() {
        Reason::Timeout
    } else if tls {
        Reason::Tls
    } else if err.is_connect() {
        Reason::Connect
    } else {
        Reason::Other
    };
    PollError::new(reason, chain)
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
}
