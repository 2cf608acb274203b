//! The hyper server on one downstream connection: HTTP/1 input through [`h1_guard`] (unless the
//! codec is HTTP/2 only), the version read from the first bytes ([`preface`]), then hyper's
//! HTTP/1 connection (upgrades on, 60 s to read a request head) or HTTP/2 connection (Envoy's
//! header limits, h2's rapid-reset and CONTINUATION-flood bounds); when the proxy drains, the
//! connection finishes its requests in flight and closes.
//!
//! This is every downstream connection's long-lived state, so it is kept small: the entry
//! points are plain functions returning the one future that serves (each `async fn` level
//! would keep its own copy of its arguments), and only the connection the client's preface
//! chose exists — HTTP/1 inline, the larger HTTP/2 one boxed — where hyper-util's auto server
//! held both side by side.

use super::h1_guard::{self, Guard};
use super::preface::{self, Rewind};
use super::proxy::{self, Conn};
use crate::config::hcm::Codec;
use crate::state::Shared;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// HTTP/2 streams one connection may have open at once (hyper's default; Envoy allows 2^31-1,
/// but a bound keeps one client from holding unbounded state).
const H2_MAX_CONCURRENT_STREAMS: u32 = 200;
/// Streams a client may open and reset before the server accepts them: past it the connection
/// ends with GOAWAY ENHANCE_YOUR_CALM (CVE-2023-44487, rapid reset).
const H2_MAX_PENDING_RESET_STREAMS: usize = 20;
/// Streams the server may reset for protocol errors before ending the connection.
const H2_MAX_LOCAL_ERROR_RESETS: usize = 1024;
/// The decoded header block h2 accepts: Envoy's 60 KiB plus RFC 7541's 32 bytes per field for
/// 100 fields and some slack, so requests just over Envoy's limit reach
/// [`super::downstream`]'s check and are reset as Envoy resets them; past this h2 answers 431
/// itself. It also bounds CONTINUATION frames (a header block that keeps growing ends the
/// connection: the CONTINUATION flood).
const H2_MAX_HEADER_LIST: u32 = 72 * 1024;
/// How long a client may take to send a request head.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(60);

/// Serves HTTP on one accepted connection until it closes (or, draining, until its requests
/// in flight are answered).
pub fn serve(stream: TcpStream, conn: Conn, shared: Arc<Shared>) -> impl Future<Output = ()> + Send + 'static {
    let _ = stream.set_nodelay(true);
    let codec = conn.hcm.codec;
    serve_io(stream, codec, Arc::new(conn), shared)
}

/// [`serve`] on a decrypted TLS stream: the codec ALPN settled on (`h2`, `http/1.1`), else
/// the connection manager's, as Envoy picks it.
pub fn serve_tls<I>(io: I, alpn: Option<&[u8]>, conn: Conn, shared: Arc<Shared>) -> impl Future<Output = ()> + use<I>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let codec = match alpn {
        Some(b"h2") => Codec::Http2,
        Some(b"http/1.1") => Codec::Http1,
        _ => conn.hcm.codec,
    };
    serve_io(io, codec, Arc::new(conn), shared)
}

async fn serve_io<I>(io: I, codec: Codec, conn: Arc<Conn>, shared: Arc<Shared>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let io = match codec {
        Codec::Http2 => Guarded::Plain(io),
        Codec::Http1 | Codec::Auto => {
            Guarded::Guard(h1_guard::Guard::new(io, conn.verdicts.clone(), codec == Codec::Auto))
        }
    };
    let draining = shared.drain.started();
    tokio::pin!(draining);
    let service = service_fn(move |req| proxy::handle(req, conn.clone(), shared.clone()));
    // The version comes from the first bytes whatever the codec, as with hyper-util's auto
    // server before (it detected even when told one version only): on an HTTP/1 listener the
    // guard lets only HTTP/1 heads through. What detection needed is gone once it is done
    // (scrutinee temporaries end with the statement): an HTTP/1 connection's task keeps the
    // hyper connection and the drain signal.
    let connection = match tokio::select! {
        d = preface::detect(io) => Some(d),
        // Draining before the client said which: the connection closes.
        () = &mut draining => None,
    } {
        None => return,
        Some(Err(e)) => return tracing::debug!("downstream connection: {e}"),
        Some(Ok((preface::Version::Http1, io))) => http1(io, service),
        // Boxed: HTTP/2's connection state is twice HTTP/1's, and HTTP/1 connections are the many.
        Some(Ok((preface::Version::Http2, io))) => {
            return ended(Box::pin(serve_h2(io, service, draining)).await);
        }
    };
    tokio::pin!(connection);
    ended(until_closed(connection, draining, |c| c.graceful_shutdown()).await);
}

/// hyper's HTTP/1 connection: upgrades on, and a client that never finishes its headers does
/// not hold it forever.
fn http1<I, S>(io: Rewind<I>, service: S) -> http1::UpgradeableConnection<TokioIo<Rewind<I>>, S>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: hyper::service::HttpService<hyper::body::Incoming, ResBody = super::body::DownstreamBody>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut http1 = http1::Builder::new();
    http1.timer(TokioTimer::new()).header_read_timeout(HEADER_READ_TIMEOUT);
    http1.serve_connection(TokioIo::new(io), service).with_upgrades()
}

async fn serve_h2<I, S, D>(io: Rewind<Guarded<I>>, service: S, draining: Pin<&mut D>) -> Result<(), hyper::Error>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: hyper::service::HttpService<hyper::body::Incoming, ResBody = super::body::DownstreamBody> + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    D: Future<Output = ()>,
{
    let mut http2 = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    http2
        .timer(TokioTimer::new())
        .max_concurrent_streams(H2_MAX_CONCURRENT_STREAMS)
        .max_pending_accept_reset_streams(H2_MAX_PENDING_RESET_STREAMS)
        .max_local_error_reset_streams(H2_MAX_LOCAL_ERROR_RESETS)
        .max_header_list_size(H2_MAX_HEADER_LIST);
    let connection = http2.serve_connection(TokioIo::new(io), service);
    tokio::pin!(connection);
    until_closed(connection, draining, |c| c.graceful_shutdown()).await
}

/// Drives `connection` to its end; once `draining` resolves, `shutdown` asks it to finish its
/// requests in flight and close. (A plain poll function: a select would hold more state.)
fn until_closed<C, D>(
    mut connection: Pin<&mut C>,
    mut draining: Pin<&mut D>,
    shutdown: fn(Pin<&mut C>),
) -> impl Future<Output = C::Output>
where
    C: Future,
    D: Future<Output = ()>,
{
    let mut shutting_down = false;
    std::future::poll_fn(move |cx| {
        if !shutting_down && draining.as_mut().poll(cx).is_ready() {
            shutting_down = true;
            shutdown(connection.as_mut());
        }
        connection.as_mut().poll(cx)
    })
}

fn ended(result: Result<(), hyper::Error>) {
    if let Err(e) = result {
        tracing::debug!("downstream connection: {e}");
    }
}

/// The downstream IO hyper reads: through the HTTP/1 guard, or (HTTP/2 only) as is. One type
/// for both, so each stream type has one server future.
#[derive(Debug)]
enum Guarded<I> {
    Guard(Guard<I>),
    Plain(I),
}

impl<I: AsyncRead + Unpin> AsyncRead for Guarded<I> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Guarded::Guard(g) => Pin::new(g).poll_read(cx, buf),
            Guarded::Plain(io) => Pin::new(io).poll_read(cx, buf),
        }
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Guarded<I> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Guarded::Guard(g) => Pin::new(g).poll_write(cx, buf),
            Guarded::Plain(io) => Pin::new(io).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Guarded::Guard(g) => Pin::new(g).poll_write_vectored(cx, bufs),
            Guarded::Plain(io) => Pin::new(io).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Guarded::Guard(g) => g.is_write_vectored(),
            Guarded::Plain(io) => io.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Guarded::Guard(g) => Pin::new(g).poll_flush(cx),
            Guarded::Plain(io) => Pin::new(io).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Guarded::Guard(g) => Pin::new(g).poll_shutdown(cx),
            Guarded::Plain(io) => Pin::new(io).poll_shutdown(cx),
        }
    }
}
