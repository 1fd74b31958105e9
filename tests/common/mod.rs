//! Shared test harness: programmable loopback upstreams (HTTP, raw TCP and TLS), the real
//! exporter binary run as a child process, and a small exposition-format reader.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;

// ---------------------------------------------------------------------------------------------
// Upstream
// ---------------------------------------------------------------------------------------------

/// What the upstream answers on a path.
#[derive(Clone, Debug)]
pub enum Behavior {
    Ok(Vec<u8>),
    Status(u16, Vec<u8>),
    WithHeaders(u16, Vec<(String, String)>, Vec<u8>),
    /// Never answers.
    Hang,
    /// Answers after a delay.
    Delay(Duration, Vec<u8>),
    /// A file served with validators, as web servers do: `304 Not Modified` when the request's
    /// `If-None-Match` names the ETag (or, without an ETag, `If-Modified-Since` repeats the
    /// `Last-Modified`), else 200 with the body.
    Resource {
        etag: Option<String>,
        last_modified: Option<String>,
        body: Vec<u8>,
    },
    /// The first request gets the first behaviour, every later one the second.
    Once(Box<Behavior>, Box<Behavior>),
    /// 200 with a body made from the request's number on this path (1 for the first).
    Numbered(fn(usize) -> Vec<u8>),
}

#[derive(Clone, Default)]
struct UpstreamState {
    routes: Arc<Mutex<HashMap<String, Behavior>>>,
    hits: Arc<Mutex<Vec<(String, HeaderMap, Instant)>>>,
}

/// A loopback HTTP server whose answers tests change while the exporter polls it.
pub struct Upstream {
    pub base: String,
    state: UpstreamState,
    _server: tokio::task::JoinHandle<()>,
}

async fn serve(State(state): State<UpstreamState>, request: Request) -> Response {
    let path = request.uri().path().to_string();
    let number = {
        let mut hits = state.hits.lock().expect("lock");
        hits.push((path.clone(), request.headers().clone(), Instant::now()));
        hits.iter().filter(|(p, _, _)| *p == path).count()
    };
    let behavior = {
        let mut routes = state.routes.lock().expect("lock");
        match routes.get(&path).cloned() {
            Some(Behavior::Once(first, then)) => {
                routes.insert(path.clone(), *then);
                Some(*first)
            }
            other => other,
        }
    };
    let reply = |status: u16, headers: Vec<(String, String)>, body: Vec<u8>| {
        let mut r = Response::new(Body::from(body));
        *r.status_mut() = StatusCode::from_u16(status).expect("status");
        for (k, v) in headers {
            r.headers_mut().insert(
                axum::http::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                HeaderValue::from_str(&v).expect("value"),
            );
        }
        r
    };
    let request_header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    match behavior {
        None => reply(404, vec![], b"not found".to_vec()),
        Some(Behavior::Resource {
            etag,
            last_modified,
            body,
        }) => {
            let unchanged = match (&etag, &last_modified) {
                (Some(tag), _) => request_header("if-none-match").as_ref() == Some(tag),
                (None, Some(date)) => request_header("if-modified-since").as_ref() == Some(date),
                (None, None) => false,
            };
            let headers: Vec<(String, String)> = etag
                .map(|t| ("ETag".to_string(), t))
                .into_iter()
                .chain(last_modified.map(|d| ("Last-Modified".to_string(), d)))
                .collect();
            if unchanged {
                reply(304, headers, Vec::new())
            } else {
                reply(200, headers, body)
            }
        }
        Some(Behavior::Ok(body)) => reply(200, vec![], body),
        Some(Behavior::Status(s, body)) => reply(s, vec![], body),
        Some(Behavior::WithHeaders(s, h, body)) => reply(s, h, body),
        Some(Behavior::Hang) => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            reply(200, vec![], vec![])
        }
        Some(Behavior::Delay(d, body)) => {
            tokio::time::sleep(d).await;
            reply(200, vec![], body)
        }
        Some(Behavior::Numbered(body)) => reply(200, vec![], body(number)),
        Some(Behavior::Once(..)) => reply(500, vec![], b"nested Once".to_vec()),
    }
}

impl Upstream {
    pub async fn start() -> Upstream {
        patchlag_exporter::install_crypto_provider();
        let state = UpstreamState::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let app = axum::Router::new()
            .fallback(serve)
            .with_state(state.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Upstream {
            base: format!("http://{addr}"),
            state,
            _server: server,
        }
    }

    pub fn set(&self, path: &str, behavior: Behavior) {
        self.state
            .routes
            .lock()
            .expect("lock")
            .insert(path.to_string(), behavior);
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn hits(&self, path: &str) -> usize {
        self.state
            .hits
            .lock()
            .expect("lock")
            .iter()
            .filter(|(p, _, _)| p == path)
            .count()
    }

    /// When each request for `path` arrived, in order.
    pub fn hit_times(&self, path: &str) -> Vec<Instant> {
        self.state
            .hits
            .lock()
            .expect("lock")
            .iter()
            .filter(|(p, _, _)| p == path)
            .map(|(_, _, t)| *t)
            .collect()
    }

    pub fn last_headers(&self, path: &str) -> Option<HeaderMap> {
        self.state
            .hits
            .lock()
            .expect("lock")
            .iter()
            .rev()
            .find(|(p, _, _)| p == path)
            .map(|(_, h, _)| h.clone())
    }
}

// ---------------------------------------------------------------------------------------------
// Raw TCP upstream: the misbehaviours an HTTP framework will not produce
// ---------------------------------------------------------------------------------------------

/// What the raw upstream does once it has read a request (any path).
#[derive(Clone, Debug)]
pub enum Raw {
    /// A well-formed 200 answer with Content-Length.
    Ok(Vec<u8>),
    /// Content-Length announces the whole body; half of it is sent, then the connection is
    /// reset (RST).
    ResetMidBody(Vec<u8>),
    /// Content-Length announces the whole body; half of it is sent, then the connection is
    /// closed normally (FIN).
    Truncated(Vec<u8>),
    /// A correct answer, one body byte per interval.
    Drip(Vec<u8>, Duration),
    /// Bytes that are not HTTP at all.
    NotHttp(Vec<u8>),
    /// A chunked answer without Content-Length that never ends.
    Endless,
}

pub struct RawUpstream {
    pub base: String,
    behavior: Arc<Mutex<Raw>>,
    hits: Arc<AtomicUsize>,
    endless_sent: Arc<AtomicU64>,
    _server: tokio::task::JoinHandle<()>,
}

impl RawUpstream {
    pub async fn start(initial: Raw) -> RawUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let behavior = Arc::new(Mutex::new(initial));
        let hits = Arc::new(AtomicUsize::new(0));
        let endless_sent = Arc::new(AtomicU64::new(0));
        let (b, h, e) = (behavior.clone(), hits.clone(), endless_sent.clone());
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (b, h, e) = (b.clone(), h.clone(), e.clone());
                tokio::spawn(async move {
                    let _ = answer_raw(stream, b, h, e).await;
                });
            }
        });
        RawUpstream {
            base: format!("http://{addr}"),
            behavior,
            hits,
            endless_sent,
            _server: server,
        }
    }

    pub fn set(&self, behavior: Raw) {
        *self.behavior.lock().expect("lock") = behavior;
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    /// The most body bytes any `Raw::Endless` answer managed to send before the client hung up.
    pub fn endless_bytes_sent(&self) -> u64 {
        self.endless_sent.load(Ordering::SeqCst)
    }
}

/// Reads one request head; false when the client went away first.
async fn read_request_head<S: AsyncRead + Unpin>(stream: &mut S) -> bool {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
        if head.len() > 64 * 1024 {
            return false;
        }
    }
    true
}

fn response_head(content_length: usize) -> Vec<u8> {
    format!("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {content_length}\r\nConnection: close\r\n\r\n")
        .into_bytes()
}

async fn answer_raw(
    mut stream: TcpStream,
    behavior: Arc<Mutex<Raw>>,
    hits: Arc<AtomicUsize>,
    endless_sent: Arc<AtomicU64>,
) -> std::io::Result<()> {
    if !read_request_head(&mut stream).await {
        return Ok(());
    }
    hits.fetch_add(1, Ordering::SeqCst);
    let behavior = behavior.lock().expect("lock").clone();
    match behavior {
        Raw::Ok(body) => {
            stream.write_all(&response_head(body.len())).await?;
            stream.write_all(&body).await?;
            stream.shutdown().await?;
        }
        Raw::ResetMidBody(body) => {
            stream.write_all(&response_head(body.len())).await?;
            stream.write_all(&body[..body.len() / 2]).await?;
            stream.flush().await?;
            tokio::time::sleep(Duration::from_millis(50)).await;
            // SO_LINGER 0: closing sends RST instead of FIN.
            stream.set_zero_linger()?;
            drop(stream);
        }
        Raw::Truncated(body) => {
            stream.write_all(&response_head(body.len())).await?;
            stream.write_all(&body[..body.len() / 2]).await?;
            stream.shutdown().await?;
        }
        Raw::Drip(body, every) => {
            stream.write_all(&response_head(body.len())).await?;
            for byte in body {
                stream.write_all(&[byte]).await?;
                stream.flush().await?;
                tokio::time::sleep(every).await;
            }
        }
        Raw::NotHttp(bytes) => {
            stream.write_all(&bytes).await?;
            stream.shutdown().await?;
        }
        Raw::Endless => {
            stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\nTransfer-Encoding: chunked\r\n\r\n")
                .await?;
            let row = b"R-0,2024-03-01T00:00:00Z\n";
            let data: Vec<u8> = row.iter().copied().cycle().take(16 * 1024).collect();
            let mut chunk = format!("{:x}\r\n", data.len()).into_bytes();
            chunk.extend_from_slice(&data);
            chunk.extend_from_slice(b"\r\n");
            let mut sent = 0u64;
            while stream.write_all(&chunk).await.is_ok() {
                sent += data.len() as u64;
                endless_sent.fetch_max(sent, Ordering::SeqCst);
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// TLS upstream
// ---------------------------------------------------------------------------------------------

pub type CertAndKey = (
    rustls::pki_types::CertificateDer<'static>,
    rustls::pki_types::PrivateKeyDer<'static>,
);

/// A certificate authority made for one test.
pub struct TestCa {
    /// The CA certificate, PEM: what a source's `tls.ca_file` holds.
    pub pem: String,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

impl TestCa {
    pub fn new() -> TestCa {
        let key = rcgen::KeyPair::generate().expect("key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "patchlag test CA");
        let cert = params.self_signed(&key).expect("CA certificate");
        TestCa {
            pem: cert.pem(),
            issuer: rcgen::Issuer::new(params, key),
        }
    }

    /// A server certificate for 127.0.0.1 signed by this CA.
    pub fn leaf(&self) -> CertAndKey {
        let key = rcgen::KeyPair::generate().expect("key");
        let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).expect("params");
        let cert = params.signed_by(&key, &self.issuer).expect("certificate");
        (cert.der().clone(), pkcs8(&key))
    }
}

impl Default for TestCa {
    fn default() -> Self {
        TestCa::new()
    }
}

/// A self-signed server certificate for 127.0.0.1, trusted by nobody.
pub fn self_signed() -> CertAndKey {
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
        .expect("params")
        .self_signed(&key)
        .expect("certificate");
    (cert.der().clone(), pkcs8(&key))
}

fn pkcs8(key: &rcgen::KeyPair) -> rustls::pki_types::PrivateKeyDer<'static> {
    rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into())
}

fn server_config((cert, key): CertAndKey) -> Arc<rustls::ServerConfig> {
    Arc::new(
        rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .expect("server config"),
    )
}

/// An HTTPS server answering every request with one body, under a certificate tests swap.
pub struct TlsUpstream {
    pub base: String,
    config: Arc<Mutex<Arc<rustls::ServerConfig>>>,
    handshakes: Arc<AtomicUsize>,
    _server: tokio::task::JoinHandle<()>,
}

impl TlsUpstream {
    pub async fn start(cert: CertAndKey, body: Vec<u8>) -> TlsUpstream {
        patchlag_exporter::install_crypto_provider();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let config = Arc::new(Mutex::new(server_config(cert)));
        let handshakes = Arc::new(AtomicUsize::new(0));
        let (c, h) = (config.clone(), handshakes.clone());
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let acceptor = tokio_rustls::TlsAcceptor::from(c.lock().expect("lock").clone());
                let (h, body) = (h.clone(), body.clone());
                tokio::spawn(async move {
                    h.fetch_add(1, Ordering::SeqCst);
                    let Ok(mut tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    if read_request_head(&mut tls).await {
                        let _ = tls.write_all(&response_head(body.len())).await;
                        let _ = tls.write_all(&body).await;
                        let _ = tls.shutdown().await;
                    }
                });
            }
        });
        TlsUpstream {
            base: format!("https://{addr}"),
            config,
            handshakes,
            _server: server,
        }
    }

    pub fn set_certificate(&self, cert: CertAndKey) {
        *self.config.lock().expect("lock") = server_config(cert);
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// TLS handshakes attempted by clients so far.
    pub fn handshakes(&self) -> usize {
        self.handshakes.load(Ordering::SeqCst)
    }
}

// ---------------------------------------------------------------------------------------------
// The exporter
// ---------------------------------------------------------------------------------------------

pub const BIN: &str = env!("CARGO_BIN_EXE_patchlag-exporter");

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn reference(file: &str) -> PathBuf {
    repo_root().join("tests/fixtures").join(file)
}

pub struct Exporter {
    pub child: Child,
    pub address: String,
    pub logs: Arc<Mutex<Vec<String>>>,
}

/// The address in the "listening" line, in either log format.
fn listen_address(line: &str) -> Option<String> {
    if line.starts_with('{') {
        let v: serde_json::Value = serde_json::from_str(line).ok()?;
        return (v["msg"] == "listening")
            .then(|| v["address"].as_str().map(str::to_string))
            .flatten();
    }
    if !line.contains(" msg=listening ") {
        return None;
    }
    let addr = line.split(" address=").nth(1)?;
    addr.split_whitespace().next().map(str::to_string)
}

impl Exporter {
    /// Starts the binary with `--web.listen-address 127.0.0.1:0` plus `args` and waits until it
    /// logs the address it listens on.
    pub fn start(args: &[&str]) -> Exporter {
        Exporter::start_with_env(args, &[])
    }

    /// Like `start`, with extra environment variables for the child only.
    pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Exporter {
        patchlag_exporter::install_crypto_provider();
        let mut child = Command::new(BIN)
            .args([
                "--web.listen-address",
                "127.0.0.1:0",
                "--log.level",
                "debug",
            ])
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the exporter");
        let stderr = child.stderr.take().expect("stderr");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(addr) = listen_address(&line) {
                    let _ = tx.send(addr);
                }
                sink.lock().expect("lock").push(line);
            }
        });
        let address = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                panic!("exporter did not start: {:?}", logs.lock().expect("lock"));
            }
        };
        Exporter {
            child,
            address,
            logs,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.address, path)
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        let r = reqwest::get(self.url(path)).await.expect("request");
        let status = r.status().as_u16();
        (status, r.text().await.expect("body"))
    }

    pub async fn scrape(&self) -> String {
        let (status, body) = self.get("/metrics").await;
        assert_eq!(status, 200);
        body
    }

    pub async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = reqwest::get(self.url("/-/ready")).await {
                if r.status().as_u16() == 200 {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "not ready in time: {:?}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Scrapes until `predicate` holds on the exposition text.
    pub async fn wait_for(&self, what: &str, predicate: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let text = self.scrape().await;
            if predicate(&text) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; last scrape:\n{text}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().expect("lock").clone()
    }

    /// Log lines reporting a failed poll of `source` for `reason`.
    pub fn poll_failure_lines(&self, source: &str, reason: &str) -> usize {
        let source = format!("source={source}");
        let reason = format!("reason={reason}");
        self.logs
            .lock()
            .expect("lock")
            .iter()
            .filter(|l| l.contains("poll failed"))
            .filter(|l| {
                let fields: Vec<&str> = l.split_whitespace().collect();
                fields.contains(&source.as_str()) && fields.contains(&reason.as_str())
            })
            .count()
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status.code();
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The sample lines of the data (sorted), without the source health, build and configuration
/// series: what must not change while a source fails or across a restart.
pub fn data_lines(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text
        .lines()
        .filter(|l| {
            l.starts_with("patchlag_")
                && !l.starts_with("patchlag_source_")
                && !l.starts_with("patchlag_build_info")
                && !l.starts_with("patchlag_config_")
        })
        .map(str::to_string)
        .collect();
    lines.sort();
    lines
}

/// Writes a configuration file into `dir` and returns its path.
pub fn write_config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("patchlag.yml");
    std::fs::write(&path, text).expect("write config");
    path
}

// ---------------------------------------------------------------------------------------------
// Reading exposition text
// ---------------------------------------------------------------------------------------------

/// The value of the sample `name{labels}`, labels given in any order.
pub fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric, label_text) = match series.split_once('{') {
                Some((m, rest)) => (m, rest.strip_suffix('}')?),
                None => (series, ""),
            };
            if metric != name {
                return None;
            }
            let parsed = parse_labels(label_text);
            if parsed.len() != labels.len()
                || !labels
                    .iter()
                    .all(|(k, v)| parsed.get(*k).map(String::as_str) == Some(*v))
            {
                return None;
            }
            match value {
                "+Inf" => Some(f64::INFINITY),
                v => v.parse().ok(),
            }
        })
}

/// `patchlag_source_errors_total{source, reason}`, 0 when absent.
pub fn errors(text: &str, source: &str, reason: &str) -> f64 {
    sample(
        text,
        "patchlag_source_errors_total",
        &[("source", source), ("reason", reason)],
    )
    .unwrap_or(0.0)
}

/// Like `sample`, panicking with the text when absent.
pub fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    sample(text, name, labels).unwrap_or_else(|| panic!("no sample {name}{labels:?} in:\n{text}"))
}

fn parse_labels(text: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut rest = text;
    while let Some((key, after)) = rest.split_once("=\"") {
        let mut value = String::new();
        let mut chars = after.char_indices();
        let mut end = after.len();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, n)) = chars.next() {
                        value.push(match n {
                            'n' => '\n',
                            other => other,
                        });
                    }
                }
                '"' => {
                    end = i + 1;
                    break;
                }
                c => value.push(c),
            }
        }
        out.insert(key.trim_start_matches(',').to_string(), value);
        rest = &after[end..];
    }
    out
}

/// The lines of `text` for metric families starting with `prefix`, for whole-family comparisons.
pub fn family_lines(text: &str, prefix: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.starts_with(prefix))
        .map(str::to_string)
        .collect()
}

pub fn promtool() -> Option<PathBuf> {
    tool(&["promtool"])
}

/// The first of `names` that is an absolute path to a file or a file in `PATH`. Tests that need
/// an outside program skip when this is `None`, except in CI (`CI` set), where the test command
/// installs every such program and a missing one fails the test.
pub fn tool(names: &[&str]) -> Option<PathBuf> {
    let found = names.iter().find_map(|name| {
        let path = Path::new(name);
        if path.is_absolute() {
            return path.is_file().then(|| path.to_path_buf());
        }
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join(name))
                .find(|p| p.is_file())
        })
    });
    if found.is_none() && std::env::var_os("CI").is_some() {
        panic!(
            "{} is required in CI (the test command installs it)",
            names.join(" or ")
        );
    }
    found
}

/// Runs `promtool check metrics` on `text`; returns its complaints (empty when clean).
pub fn promtool_check_metrics(text: &str) -> Option<String> {
    use std::io::Write;
    let promtool = promtool()?;
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("promtool output");
    Some(format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ))
}

// ---------------------------------------------------------------------------------------------
// Configurations
// ---------------------------------------------------------------------------------------------

/// A configuration for a test, built from parts; `text()` writes it in the layout users write
/// (settings in the order given, two spaces per level).
#[derive(Debug, Clone, Default)]
pub struct TestConfig {
    head: String,
    tiers: String,
    sources: String,
}

impl TestConfig {
    pub fn new() -> TestConfig {
        TestConfig::default()
    }

    /// Top-level settings written before `tiers` (`storage:`, `defaults:`, `metrics:` blocks).
    pub fn top(mut self, yaml: &str) -> TestConfig {
        self.head.push_str(yaml);
        self
    }

    /// `defaults:` with an interval and, when given, a timeout.
    pub fn defaults(self, interval: &str, timeout: Option<&str>) -> TestConfig {
        let timeout = timeout.map_or(String::new(), |t| format!("  timeout: {t}\n"));
        self.top(&format!("defaults:\n  interval: {interval}\n{timeout}"))
    }

    /// A tier with its goal and bulletin sources, then `settings` (one `key: value` per line,
    /// unindented: `since`, `description`).
    pub fn tier(
        mut self,
        name: &str,
        goal: &str,
        bulletins: &[&str],
        settings: &str,
    ) -> TestConfig {
        self.tiers.push_str(&format!(
            "  {name}:\n    goal: {goal}\n    bulletins: [{}]\n",
            bulletins.join(", ")
        ));
        for line in settings.lines() {
            self.tiers.push_str(&format!("    {line}\n"));
        }
        self
    }

    /// A source: its role, kind and url, then `settings` (one `key: value` per line, unindented).
    pub fn source(
        mut self,
        name: &str,
        role: &str,
        kind: &str,
        url: &str,
        settings: &str,
    ) -> TestConfig {
        self.sources.push_str(&format!(
            "  {name}:\n    role: {role}\n    kind: {kind}\n    url: {url}\n"
        ));
        for line in settings.lines() {
            self.sources.push_str(&format!("    {line}\n"));
        }
        self
    }

    /// The `msrc` bulletin source.
    pub fn msrc(self, url: &str, settings: &str) -> TestConfig {
        self.source("msrc", "bulletins", "msrc", url, settings)
    }

    /// A `json` release source in the PMImport shape (`$.releases[*]`, `version`, `released`,
    /// `language` mapped through `tier_map`), `settings` between its url and its paths, and
    /// `covers` when `covers` is true.
    pub fn pmimport(
        self,
        name: &str,
        url: &str,
        tier_map: &str,
        settings: &str,
        covers: bool,
    ) -> TestConfig {
        let covers = if covers {
            "covers: $.bulletins[*]\n"
        } else {
            ""
        };
        self.source(
            name,
            "releases",
            "json",
            url,
            &format!(
                "{settings}items: $.releases[*]\nid: $.version\npublished: $.released\ntier: $.language\ntier_map: {{{tier_map}}}\n{covers}"
            ),
        )
    }

    /// An English tier clocked by `msrc` and released by `pmimport`, both read from the core
    /// fixtures through `file://` URLs: a running exporter with nothing else to run.
    pub fn core_files() -> TestConfig {
        let core = |name: &str| format!("file://{}", reference(&format!("core/{name}")).display());
        TestConfig::new()
            .defaults("1h", None)
            .tier("english", "24h", &["msrc"], "")
            .msrc(&core("msrc-updates.json"), "")
            .pmimport(
                "pmimport",
                &core("pmimport-releases.json"),
                "English: english",
                "",
                false,
            )
    }

    /// The scenario of `tests/fixtures/core/` (tests/core.rs describes it): three tiers from
    /// 2023-06-01 clocked by `msrc`, released by `pmimport` (English and other languages) and
    /// `o365` (Office 365 builds); `msrc` takes `msrc_settings`, and each tier its description
    /// when `described`.
    pub fn core_scenario(
        self,
        urls: [&str; 3],
        msrc_settings: &str,
        described: bool,
    ) -> TestConfig {
        let [msrc, pmimport, o365] = urls;
        let tier = |description: &str| {
            if described {
                format!("description: {description}\nsince: 2023-06-01\n")
            } else {
                "since: 2023-06-01\n".to_string()
            }
        };
        self.tier(
            "english",
            "24h",
            &["msrc"],
            &tier("Standard PMImport, English/Invariant languages"),
        )
        .tier(
            "other_languages",
            "48h",
            &["msrc"],
            &tier("PMImport for all other supported languages"),
        )
        .tier("office365", "48h", &["msrc"], &tier("Office 365 updates"))
        .msrc(msrc, msrc_settings)
        .pmimport(
            "pmimport",
            pmimport,
            "English: english, \"All languages\": other_languages",
            "",
            true,
        )
        .source(
            "o365",
            "releases",
            "csv",
            o365,
            "id: build\npublished: date\ncovers: covers\ntiers: [office365]\n",
        )
    }

    /// A source written as YAML (indented under `sources:`), after the others.
    pub fn source_yaml(mut self, yaml: &str) -> TestConfig {
        self.sources.push_str(yaml);
        self
    }

    pub fn text(&self) -> String {
        format!(
            "{}tiers:\n{}sources:\n{}",
            self.head, self.tiers, self.sources
        )
    }

    /// Writes `patchlag.yml` into `dir`.
    pub fn write(&self, dir: &Path) -> PathBuf {
        write_config(dir, &self.text())
    }
}
