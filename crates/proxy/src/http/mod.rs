//! The HTTP side of the proxy: a hyper 1 server per accepted connection (HTTP/1.1 with
//! keep-alive, and h2c prior knowledge, detected per connection, or one of them when the
//! connection manager fixes the codec; upgrades enabled for CONNECT), each request handled by
//! [`proxy::handle`] with its route plan, and upstream pools per cluster ([`client`]).

pub mod body;
pub mod client;
mod connect;
mod forward;
pub mod headers;
pub mod proxy;

use crate::config::hcm::Codec;
use crate::state::Shared;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use proxy::Conn;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;

/// Serves HTTP on one accepted connection until it closes.
pub async fn serve(stream: TcpStream, conn: Conn, shared: Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    let conn = Arc::new(conn);
    let codec = conn.hcm.codec;
    let service = service_fn(move |req| proxy::handle(req, conn.clone(), shared.clone()));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder = match codec {
        Codec::Http1 => builder.http1_only(),
        Codec::Http2 => builder.http2_only(),
        Codec::Auto => builder,
    };
    // A client that never finishes its headers must not hold a connection forever.
    builder.http1().timer(TokioTimer::new()).header_read_timeout(Duration::from_secs(60));
    builder.http2().timer(TokioTimer::new());
    if let Err(e) = builder.serve_connection_with_upgrades(TokioIo::new(stream), service).await {
        tracing::debug!("downstream connection: {e}");
    }
}
