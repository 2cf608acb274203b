//! A connection on a filter chain with TLS: handshake with the chain's [`ServerTls`] and the
//! secrets of the current config, then the chain's network filter on the decrypted stream —
//! the same HTTP server as plain text (HTTP/1.1 or h2 by ALPN) or the TCP proxy. A failed
//! handshake (no usable secret, a refused client certificate, a client that gives up) closes
//! the connection, as Envoy does; nothing is logged at info level, as Envoy logs nothing for
//! a connection no request reached.

use super::ServerTls;
use crate::config::listener::ListenerKind;
use crate::http::proxy::Conn;
use crate::state::Shared;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpStream;

/// Where the connection came from and went to.
#[derive(Debug, Clone, Copy)]
pub struct Addresses {
    /// Its (restored) local address.
    pub local: SocketAddr,
    /// The peer.
    pub remote: SocketAddr,
    /// The original destination, when the listener restored one.
    pub original_dst: Option<SocketAddr>,
}

/// Terminates TLS on `stream`, then serves it with `kind`.
pub async fn terminate(stream: TcpStream, tls: &ServerTls, kind: &ListenerKind, at: Addresses, shared: Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    let config = shared.config.load_full();
    let accepted = match tls.accept(&config.secrets, stream).await {
        Ok(a) => a,
        Err(e) => {
            tracing::debug!(local = %at.local, remote = %at.remote, "TLS handshake failed: {e}");
            return;
        }
    };
    drop(config);
    match kind {
        ListenerKind::Http(hcm) => {
            let conn = Conn::new(hcm.clone(), at.local, at.remote)
                .with_original_dst(at.original_dst)
                .with_tls(accepted.sni.clone());
            crate::http::serve_tls(accepted.stream, accepted.alpn.as_deref(), conn, shared).await;
        }
        ListenerKind::Tcp(proxy) => {
            let sni = accepted.sni.clone();
            crate::tcp::serve_stream(accepted.stream, sni, proxy.clone(), at.local, at.remote, at.original_dst, shared)
                .await;
        }
    }
}
