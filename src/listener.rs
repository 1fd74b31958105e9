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

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};

use crate::webconfig::TlsReloader;

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

pub struct Options {
    pub read_header_timeout: Duration,
    /// 0: no cap.
    pub max_connections: usize,
    pub tls: Option<Arc<TlsReloader>>,
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
            tls: options.tls.clone(),
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
    tls: Option<Arc<TlsReloader>>,
    handshake_timeout: Duration,
    stopping: watch::Receiver<bool>,
    _permit: Option<OwnedSemaphorePermit>,
    _open: mpsc::Sender<()>,
}

impl Connection {
    async fn run(mut self, stream: TcpStream, peer: SocketAddr) {
        let _ = stream.set_nodelay(true);
        let Some(tls) = self.tls.clone() else {
            return self.http(stream, peer).await;
        };
        let acceptor = tokio_rustls::TlsAcceptor::from(tls.current());
        let handshake = tokio::time::timeout(self.handshake_timeout, acceptor.accept(stream));
        let stream = tokio::select! {
            done = handshake => match done {
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
        let service = TowerToHyperService::new(self.router.clone());
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

/// Completes when the server stops (or is gone).
async fn stopped(stopping: &mut watch::Receiver<bool>) {
    let _ = stopping.wait_for(|stop| *stop).await;
}
