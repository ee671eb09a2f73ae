//! Accepting connections and shutting down cleanly. Server only.
//!
//! axum::serve has no header-read timeout and a fixed listen backlog, so the
//! accept loop is written on hyper directly. What it guarantees:
//! - a 4096 backlog (connection storms do not stall on SYN retries);
//! - HTTP/1.1 only: hyper-util's auto builder reads an HTTP/2 preface with no
//!   timer, so cleartext HTTP/2 (h2c) is off; TLS and HTTP/2 belong to the
//!   reverse proxy in front;
//! - every connection must complete its request headers within
//!   `header_read_timeout_secs` of opening (and of finishing the previous
//!   request), whatever it sends: hyper's HTTP/1 timer runs from the first
//!   read;
//! - a write that cannot proceed for `write_timeout_secs` (a client that
//!   stopped reading) closes the connection, so a stalled socket and its
//!   kernel buffers are released;
//! - at most `max_connections` open connections in total and
//!   `max_connections_per_ip` per client address (trusted proxies exempt);
//!   past either, a new connection is answered 503 and closed at once, so
//!   `accept` never starves and the process keeps files for its database;
//! - a graceful shutdown that ends event streams at once and gives other
//!   requests a bounded grace period.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::extract::Request;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::time::Sleep;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::server::client_ip::{ClientIp, group};
use crate::server::config::TrustedProxies;

/// Listen backlog; see DESIGN.md ("connection storms").
const BACKLOG: u32 = 4096;

/// Binds `addr` with Herald's backlog.
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.set_nodelay(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// Raises the soft open-file limit to the hard one and returns it: every
/// connection is a file, and the default soft limit (often 1024) would cap
/// Herald far below what the machine allows.
pub fn raise_file_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 1024;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit.rlim_cur = limit.rlim_max;
            }
        }
    }
    limit.rlim_cur
}

/// Resolves when SIGINT or SIGTERM arrives.
pub async fn shutdown_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
}

/// The timing and capacity rules of [`serve`].
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub header_read_timeout: Duration,
    pub write_timeout: Duration,
    pub grace: Duration,
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    pub trusted_proxies: TrustedProxies,
}

/// Open connections, in total and per client address.
#[derive(Debug)]
pub struct ConnectionCounts {
    max_total: usize,
    max_per_ip: usize,
    trusted_proxies: TrustedProxies,
    open: Mutex<(usize, HashMap<ClientIp, usize>)>,
    refused: std::sync::atomic::AtomicU64,
}

/// A counted connection; uncounted when dropped.
struct Admitted {
    counts: Arc<ConnectionCounts>,
    ip: Option<ClientIp>,
}

impl ConnectionCounts {
    fn new(options: &ServeOptions) -> Self {
        Self {
            max_total: options.max_connections.max(1),
            max_per_ip: options.max_connections_per_ip.max(1),
            trusted_proxies: options.trusted_proxies.clone(),
            open: Mutex::new((0, HashMap::new())),
            refused: std::sync::atomic::AtomicU64::new(0),
        }
    }

    fn admit(self: &Arc<Self>, peer: IpAddr) -> Option<Admitted> {
        // Behind a proxy every connection comes from the proxy: it is not
        // one client, so only the total applies to it.
        let ip = (!self.trusted_proxies.contains(peer)).then(|| group(peer));
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let (total, per_ip) = &mut *open;
        let full = *total >= self.max_total
            || ip.is_some_and(|ip| per_ip.get(&ip).copied().unwrap_or(0) >= self.max_per_ip);
        if full {
            drop(open);
            self.refused
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return None;
        }
        *total += 1;
        if let Some(ip) = ip {
            *per_ip.entry(ip).or_default() += 1;
        }
        Some(Admitted {
            counts: self.clone(),
            ip,
        })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.open.lock().unwrap_or_else(|e| e.into_inner()).0
    }

    /// Connections refused by the caps since start.
    pub fn refused(&self) -> u64 {
        self.refused.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut open = self.counts.open.lock().unwrap_or_else(|e| e.into_inner());
        let (total, per_ip) = &mut *open;
        *total = total.saturating_sub(1);
        if let Some(ip) = self.ip
            && let Some(count) = per_ip.get_mut(&ip)
        {
            *count -= 1;
            if *count == 0 {
                per_ip.remove(&ip);
            }
        }
    }
}

/// A TCP stream whose writes fail once they have made no progress for
/// `timeout`: hyper then drops the connection (and the response body), and
/// the socket closes with a reset so its buffers are freed at once.
struct StallGuardedStream {
    inner: TcpStream,
    timeout: Duration,
    stalled: Option<Pin<Box<Sleep>>>,
}

impl StallGuardedStream {
    fn new(inner: TcpStream, timeout: Duration) -> Self {
        Self {
            inner,
            timeout,
            stalled: None,
        }
    }

    /// Maps a write attempt's result: progress clears the stall timer,
    /// `Pending` starts it (or reports that it ran out).
    fn watch<T>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        match polled {
            Poll::Pending => {
                let timeout = self.timeout;
                let timer = self
                    .stalled
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        // Close with a reset: the unsent bytes (up to
                        // megabytes of kernel buffer) are discarded at once
                        // instead of lingering for a reader that is gone.
                        let _ = self.inner.set_zero_linger();
                        Poll::Ready(Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "the client stopped reading",
                        )))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
            ready => {
                self.stalled = None;
                ready
            }
        }
    }
}

impl AsyncRead for StallGuardedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for StallGuardedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.watch(cx, polled)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.watch(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_flush(cx);
        self.watch(cx, polled)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = ready!(Pin::new(&mut self.inner).poll_shutdown(cx));
        Poll::Ready(polled)
    }
}

/// What an over-capacity client gets before the socket closes.
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\nretry-after: 5\r\ncontent-length: 0\r\n\r\n";

/// Serves `app` on `listener` until `stop` is cancelled, then waits at most
/// `options.grace` for open connections to finish. Returns the connection
/// counts so that callers may report them.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    stop: CancellationToken,
    options: ServeOptions,
    counts: Arc<ConnectionCounts>,
) {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout);
    let graceful = GracefulShutdown::new();

    loop {
        let (stream, peer) = tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(error) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Some(admitted) = counts.admit(peer.ip()) else {
            // Never waits on the client: a best-effort answer, then close.
            let _ = stream.try_write(BUSY);
            tracing::debug!(%peer, "connection refused: at capacity");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = app
            .clone()
            .map_request(move |mut request: Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                request
            });
        let io = TokioIo::new(StallGuardedStream::new(stream, options.write_timeout));
        let connection = builder.serve_connection(io, TowerToHyperService::new(service));
        let watched = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = watched.await {
                tracing::debug!(%error, %peer, "connection ended with an error");
            }
            drop(admitted);
        });
    }

    drop(listener);
    tracing::info!("shutting down: waiting for open requests");
    if tokio::time::timeout(options.grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(grace = ?options.grace, "grace period over; closing remaining connections");
    }
}

/// The shared connection counts for `options` (kept in the application
/// state so the status page can show them).
pub fn connection_counts(options: &ServeOptions) -> Arc<ConnectionCounts> {
    Arc::new(ConnectionCounts::new(options))
}
