//! The HTTP side of the proxy: a hyper 1 server per accepted connection (HTTP/1.1 with
//! keep-alive, and h2c prior knowledge, detected per connection, or one of them when the
//! connection manager fixes the codec; upgrades enabled for CONNECT), each request handled by
//! [`proxy::handle`] with its route plan, and upstream pools per cluster ([`client`]).
//!
//! HTTP/1 input passes [`h1_guard`] first (Envoy's request-head rules, smuggling included);
//! HTTP/2 gets Envoy's header limits and h2's rapid-reset and CONTINUATION-flood bounds. When
//! the proxy drains, each connection finishes its requests in flight and closes.

pub mod body;
mod chunked;
pub mod client;
mod connect;
pub mod cors;
mod downstream;
mod forward;
pub mod grpc;
pub mod h1_guard;
pub mod h1_head;
pub mod headers;
mod mirror;
pub mod proxy;
mod upgrade;
pub mod xff;

use crate::config::hcm::Codec;
use crate::state::Shared;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use proxy::Conn;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
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
/// [`downstream`]'s check and are reset as Envoy resets them; past this h2 answers 431 itself.
/// It also bounds CONTINUATION frames (a header block that keeps growing ends the connection:
/// the CONTINUATION flood).
const H2_MAX_HEADER_LIST: u32 = 72 * 1024;

/// Serves HTTP on one accepted connection until it closes (or, draining, until its requests
/// in flight are answered).
pub async fn serve(stream: TcpStream, conn: Conn, shared: Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    let codec = conn.hcm.codec;
    serve_codec(stream, codec, conn, shared).await;
}

/// [`serve`] on a decrypted TLS stream: the codec ALPN settled on (`h2`, `http/1.1`), else
/// the connection manager's, as Envoy picks it.
pub async fn serve_tls<I>(io: I, alpn: Option<&[u8]>, conn: Conn, shared: Arc<Shared>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let codec = match alpn {
        Some(b"h2") => Codec::Http2,
        Some(b"http/1.1") => Codec::Http1,
        _ => conn.hcm.codec,
    };
    serve_codec(io, codec, conn, shared).await;
}

async fn serve_codec<I>(io: I, codec: Codec, conn: Conn, shared: Arc<Shared>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    if codec == Codec::Http2 {
        serve_io(io, codec, conn, shared).await;
    } else {
        let guarded = h1_guard::Guard::new(io, conn.verdicts.clone(), codec == Codec::Auto);
        serve_io(guarded, codec, conn, shared).await;
    }
}

async fn serve_io<I>(io: I, codec: Codec, conn: Conn, shared: Arc<Shared>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let conn = Arc::new(conn);
    let draining = shared.drain.started();
    let service = service_fn(move |req| proxy::handle(req, conn.clone(), shared.clone()));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder = match codec {
        Codec::Http1 => builder.http1_only(),
        Codec::Http2 => builder.http2_only(),
        Codec::Auto => builder,
    };
    // A client that never finishes its headers must not hold a connection forever.
    builder.http1().timer(TokioTimer::new()).header_read_timeout(Duration::from_secs(60));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(H2_MAX_CONCURRENT_STREAMS)
        .max_pending_accept_reset_streams(H2_MAX_PENDING_RESET_STREAMS)
        .max_local_error_reset_streams(H2_MAX_LOCAL_ERROR_RESETS)
        .max_header_list_size(H2_MAX_HEADER_LIST);
    let connection = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
    tokio::pin!(connection, draining);
    let result = tokio::select! {
        r = connection.as_mut() => r,
        () = &mut draining => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(e) = result {
        tracing::debug!("downstream connection: {e}");
    }
}
