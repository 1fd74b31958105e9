//! Accepting connections: optional TLS, limits against slow and numerous clients, graceful
//! shutdown. The routes themselves live in `server`.
//!
//! This drives hyper's HTTP/1.1 connection builder directly rather than `axum::serve`, which
//! offers neither a header-read timeout nor TLS. hyper's `header_read_timeout` (which needs a
//! timer) bounds the time a client may take to send a request's headers, counted from the
//! moment the connection is ready for the next request, so it is also the idle timeout of a
//! kept-alive connection: a client trickling headers byte by byte, or connecting and sending
//! nothing, is cut off. The TLS handshake gets the same bound. A connection cap, like
//! Prometheus' `--web.max-connections`, stops accepting while that many connections are open.
//!
//! On a TLS listener, a client that speaks plain HTTP gets the answer Go's server gives it,
//! `400 Bad Request` with "Client sent an HTTP request to an HTTPS server.", rather than TLS
//! alert bytes it cannot read.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};

use super::WebConfig;

/// Default of `--web.read-header-timeout`: hyper's own default, long enough for any scraper on
/// a slow link, short enough that idle and stalled connections do not pile up.
pub const DEFAULT_READ_HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// Default of `--web.max-connections`, as in Prometheus.
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;
/// How long shutdown waits for requests in progress before leaving anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// After an accept error (out of file descriptors, say), wait before trying again rather than
/// spinning.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);
/// What Go's `net/http` writes to a plain-HTTP client on a TLS port (`server.go`).
const PLAIN_HTTP_ON_TLS: &[u8] =
    b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n";
/// The first five bytes by which Go recognises plain HTTP where a TLS record was expected.
const HTTP_STARTS: [&[u8; 5]; 5] = [b"GET /", b"HEAD ", b"POST ", b"PUT /", b"OPTIO"];
/// How long, and how much, a plain-HTTP client's request is read before its connection closes.
const PLAIN_HTTP_DRAIN: Duration = Duration::from_secs(1);
const PLAIN_HTTP_DRAIN_BYTES: usize = 64 * 1024;
/// A TLS record carrying a handshake message starts with this byte.
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

pub struct Options {
    pub read_header_timeout: Duration,
    /// 0: no cap.
    pub max_connections: usize,
    /// With a web configuration that sets up TLS, connections are TLS.
    pub web: Option<Arc<WebConfig>>,
}

/// Serves `router` on `listener` until `shutdown` completes, then lets requests in progress
/// finish (up to a grace period) and returns.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    options: Options,
    shutdown: impl Future<Output = ()>,
) {
    let slots =
        (options.max_connections > 0).then(|| Arc::new(Semaphore::new(options.max_connections)));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(options.read_header_timeout);
    let http = Arc::new(http);
    // Every connection task holds a clone of `open`: when they are all gone, all are closed.
    let (open, mut all_closed) = mpsc::channel::<()>(1);
    let (stop, stopping) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let permit = match &slots {
            None => None,
            Some(slots) => tokio::select! {
                permit = slots.clone().acquire_owned() => permit.ok(),
                () = &mut shutdown => break,
            },
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let connection = Connection {
            router: router.clone(),
            http: http.clone(),
            web: options.web.clone().filter(|w| w.serves_tls()),
            handshake_timeout: options.read_header_timeout,
            stopping: stopping.clone(),
            _permit: permit,
            _open: open.clone(),
        };
        tokio::spawn(connection.run(stream, peer));
    }
    drop(listener);
    let _ = stop.send(true);
    drop(open);
    if tokio::time::timeout(SHUTDOWN_GRACE, all_closed.recv())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after the shutdown grace period; closing them");
    }
}

struct Connection {
    router: Router,
    http: Arc<hyper::server::conn::http1::Builder>,
    /// `Some` on a TLS listener.
    web: Option<Arc<WebConfig>>,
    handshake_timeout: Duration,
    stopping: watch::Receiver<bool>,
    _permit: Option<OwnedSemaphorePermit>,
    _open: mpsc::Sender<()>,
}

impl Connection {
    async fn run(mut self, stream: TcpStream, peer: SocketAddr) {
        let _ = stream.set_nodelay(true);
        let Some(web) = self.web.clone() else {
            return self.http(stream, peer).await;
        };
        let handshake = async {
            let stream = not_plain_http(stream).await?;
            let config = web.current().settings.tls.as_ref().map(|t| t.current());
            let Some(config) = config else {
                return Err(std::io::Error::other("no TLS configuration"));
            };
            tokio_rustls::TlsAcceptor::from(config).accept(stream).await
        };
        let stream = tokio::select! {
            done = tokio::time::timeout(self.handshake_timeout, handshake) => match done {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) => {
                    tracing::debug!(peer = %peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(peer = %peer, "TLS handshake timed out");
                    return;
                }
            },
            () = stopped(&mut self.stopping) => return,
        };
        self.http(stream, peer).await;
    }

    async fn http<S>(mut self, stream: S, peer: SocketAddr)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let router = TowerToHyperService::new(self.router.clone());
        // The peer's address, for basic authentication's per-client queueing.
        let service = hyper::service::service_fn(move |mut request| {
            request.extensions_mut().insert(ConnectInfo(peer));
            hyper::service::Service::call(&router, request)
        });
        let connection = self.http.serve_connection(TokioIo::new(stream), service);
        tokio::pin!(connection);
        let result = tokio::select! {
            result = connection.as_mut() => result,
            () = stopped(&mut self.stopping) => {
                // Finish the request in progress, if any, then close.
                connection.as_mut().graceful_shutdown();
                connection.await
            }
        };
        if let Err(e) = result {
            // Timeouts and clients hanging up are routine; not worth more than a debug line.
            tracing::debug!(peer = %peer, error = %e, "connection closed with an error");
        }
    }
}

/// The stream, unless its first bytes are plain HTTP: then Go's answer is sent and the
/// connection closed. Bytes that are neither TLS nor HTTP are left to the TLS handshake to
/// refuse.
async fn not_plain_http(mut stream: TcpStream) -> std::io::Result<TcpStream> {
    let mut first = [0u8; 1];
    if stream.peek(&mut first).await? == 0 || first[0] == TLS_HANDSHAKE_RECORD {
        return Ok(stream);
    }
    // Not TLS: nothing is lost by reading what is sent to decide how to refuse it.
    let mut start = [0u8; 5];
    stream.read_exact(&mut start).await?;
    if HTTP_STARTS.contains(&&start) {
        stream.write_all(PLAIN_HTTP_ON_TLS).await?;
        let _ = stream.shutdown().await;
        // Closing with the rest of the request unread would reset the connection, and the
        // client could lose the answer: read what it sent (briefly, a little) first.
        let mut sink = [0u8; 4096];
        let _ = tokio::time::timeout(PLAIN_HTTP_DRAIN, async {
            let mut drained = 0;
            while drained < PLAIN_HTTP_DRAIN_BYTES {
                match stream.read(&mut sink).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => drained += n,
                }
            }
        })
        .await;
        return Err(std::io::Error::other("plain HTTP on the TLS port"));
    }
    Err(std::io::Error::other("neither TLS nor HTTP"))
}

/// Completes when the server stops (or is gone).
async fn stopped(stopping: &mut watch::Receiver<bool>) {
    let _ = stopping.wait_for(|stop| *stop).await;
}
