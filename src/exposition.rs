//! Serving `/metrics` cheaply: the exposition is rendered at most once per snapshot, clock
//! second and reload state, and every scrape in that second gets the same bytes, compressed
//! with gzip (once) when the scraper asks for it, as Prometheus does.
//!
//! Every value is a whole number of seconds or derived from them, so two renders within the
//! same second of the same snapshot differ only in the `process_*` metrics, which therefore
//! refresh once a second. The server keeps the cache; an entry is served only for the very
//! snapshot it was rendered from (the same `Arc`, held weakly so that it does not keep an old
//! snapshot's data alive), so after a poll or a reload, which publish a new snapshot, nothing
//! stale can be served.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};

use axum::body::{Body, Bytes};
use axum::http::header::{ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_TYPE, VARY};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;
use flate2::write::GzEncoder;
use flate2::Compression;

use crate::metrics::{self, Reloads};
use crate::snapshot::Snapshot;

const CONTENT_TYPE_TEXT_0_0_4: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The last rendered exposition.
#[derive(Debug, Default)]
pub struct Cache {
    last: Mutex<Option<Arc<Rendered>>>,
}

#[derive(Debug)]
struct Rendered {
    /// The snapshot it was rendered from.
    snapshot: Weak<Snapshot>,
    now: i64,
    reloads: Reloads,
    plain: Bytes,
    /// Compressed on the first request that accepts gzip.
    gzip: OnceLock<Bytes>,
}

impl Rendered {
    fn gzip(&self) -> Bytes {
        self.gzip.get_or_init(|| gzip(&self.plain)).clone()
    }
}

fn gzip(plain: &[u8]) -> Bytes {
    // Exposition text compresses about tenfold.
    let mut encoder = GzEncoder::new(Vec::with_capacity(plain.len() / 8), Compression::default());
    // Writing to a Vec cannot fail.
    let compressed = encoder.write_all(plain).and_then(|()| encoder.finish());
    match compressed {
        Ok(bytes) => Bytes::from(bytes),
        Err(e) => {
            tracing::error!(error = %e, "cannot compress the metrics");
            Bytes::new()
        }
    }
}

impl Cache {
    fn get(&self, snapshot: &Arc<Snapshot>, now: i64, reloads: Reloads) -> Arc<Rendered> {
        let lock = || self.last.lock().unwrap_or_else(PoisonError::into_inner);
        let of_this = |r: &&Arc<Rendered>| {
            std::ptr::eq(r.snapshot.as_ptr(), Arc::as_ptr(snapshot))
                && r.now == now
                && r.reloads == reloads
        };
        if let Some(hit) = lock().as_ref().filter(of_this) {
            return hit.clone();
        }
        // Rendered outside the lock: a scrape that raced this one renders the same bytes, and
        // neither waits for the other.
        let rendered = Arc::new(Rendered {
            snapshot: Arc::downgrade(snapshot),
            now,
            reloads,
            plain: Bytes::from(metrics::render(snapshot, now, reloads)),
            gzip: OnceLock::new(),
        });
        *lock() = Some(rendered.clone());
        rendered
    }
}

/// Whether the request's `Accept-Encoding` admits gzip (RFC 9110 §12.5.3: `gzip`, `x-gzip` or
/// `*`, with a q-value above 0; an explicit `gzip;q=0` wins over `*`).
pub fn accepts_gzip(headers: &HeaderMap) -> bool {
    let (mut gzip, mut any) = (None::<f32>, None::<f32>);
    for item in headers
        .get_all(ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
    {
        let mut params = item.split(';');
        let coding = params.next().unwrap_or_default().trim();
        let q = params
            .filter_map(|p| p.trim().strip_prefix("q=").or(p.trim().strip_prefix("Q=")))
            .map(|q| q.trim().parse::<f32>().unwrap_or(0.0))
            .next()
            .unwrap_or(1.0);
        if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
            gzip = Some(gzip.map_or(q, |g| g.max(q)));
        } else if coding == "*" {
            any = Some(q);
        }
    }
    gzip.or(any).is_some_and(|q| q > 0.0)
}

/// The `/metrics` answer for `snapshot` at `now`, from `cache` when it holds it.
pub fn response(
    cache: &Cache,
    snapshot: &Arc<Snapshot>,
    now: i64,
    reloads: impl Into<Reloads>,
    request: &HeaderMap,
) -> Response {
    let rendered = cache.get(snapshot, now, reloads.into());
    let gzip = accepts_gzip(request);
    let body = if gzip {
        rendered.gzip()
    } else {
        rendered.plain.clone()
    };
    let mut response = Response::new(Body::from(body));
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static(CONTENT_TYPE_TEXT_0_0_4),
    );
    headers.insert(VARY, HeaderValue::from_static("Accept-Encoding"));
    if gzip {
        headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepts(values: &[&str]) -> bool {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append(ACCEPT_ENCODING, HeaderValue::from_str(v).expect("header"));
        }
        accepts_gzip(&headers)
    }

    #[test]
    fn accept_encoding() {
        // What Prometheus sends.
        assert!(accepts(&["gzip"]));
        assert!(accepts(&["deflate, gzip;q=1.0, *;q=0.5"]));
        assert!(accepts(&["br", "GZip"]));
        assert!(accepts(&["x-gzip"]));
        assert!(accepts(&["*"]));
        assert!(accepts(&["identity;q=1, gzip ; q=0.2"]));
        assert!(!accepts(&[]));
        assert!(!accepts(&["identity"]));
        assert!(!accepts(&["gzip;q=0"]));
        assert!(!accepts(&["gzip;q=0.000"]));
        assert!(!accepts(&["*;q=0.5, gzip;q=0"]));
        assert!(!accepts(&["gzip;q=zero"]));
        assert!(!accepts(&["gzipped, br"]));
    }

    #[test]
    fn gzip_round_trips() {
        use std::io::Read;
        let text = "patchlag_goal_seconds{tier=\"english\"} 86400\n".repeat(100);
        let compressed = gzip(text.as_bytes());
        assert!(compressed.len() < text.len() / 10);
        let mut out = String::new();
        flate2::read::GzDecoder::new(&compressed[..])
            .read_to_string(&mut out)
            .expect("valid gzip");
        assert_eq!(out, text);
    }
}
