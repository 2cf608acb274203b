//! One accepted connection, from the socket to the chain that serves it, as Envoy's active
//! TCP socket does it:
//!
//! 1. The original destination is restored (`SO_ORIGINAL_DST`, `IP6T_SO_ORIGINAL_DST` for IPv6)
//!    when the listener has `use_original_dst` or an `original_dst` listener filter; from then
//!    on it is the connection's local address (chain matching, the access log, and the host an
//!    ORIGINAL_DST cluster connects to). A connection that was not redirected reports its own
//!    address: that counts as nothing restored, so a direct connection to 15001 cannot loop
//!    back into the proxy through `PassthroughCluster`.
//! 2. The listener's inspecting filters run (`inspect`).
//! 3. With `use_original_dst` and a restored destination, the connection is handed to the
//!    listener whose address is that destination, else to the wildcard listener on its port
//!    (`0.0.0.0:PORT` / `[::]:PORT`), bound or not (`bind_to_port: false` listeners exist for
//!    this); that listener's own filters run. Without one it stays where it is.
//! 4. The filter chain is selected (`Listener::select`) and the connection goes to its HTTP
//!    connection manager or TCP proxy; no chain closes it, as in Envoy.

use super::drain::Tracked;
use super::inspect::{self, Found};
use crate::config::listener::{Connection, Listener, ListenerKind};
use crate::config::{Config, listener::FilterChain};
use crate::http::proxy::Conn;
use crate::state::Shared;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use tokio::net::TcpStream;

/// Listener names by address, for `use_original_dst` hand-offs.
pub type Index = HashMap<SocketAddr, String>;

/// The hand-off index of a listener set.
pub fn index(listeners: &std::collections::BTreeMap<String, Arc<Listener>>) -> Index {
    listeners.iter().map(|(name, l)| (l.address, name.clone())).collect()
}

/// A connection accepted by listener `name`.
pub struct Accepted {
    /// The socket.
    pub stream: TcpStream,
    /// The peer.
    pub remote: SocketAddr,
    /// The accepting listener's name.
    pub listener: Arc<str>,
    /// Counts the connection as open (for drain) until it is served.
    pub tracked: Tracked,
}

/// Where [`choose`] sends a connection.
struct Chosen {
    chain: Arc<FilterChain>,
    local: SocketAddr,
    original_dst: Option<SocketAddr>,
    sni: Option<Arc<str>>,
}

/// Takes the connection through the steps above and serves it with the chain's network
/// filter. This future is the connection's task for its whole life, so what serves a plain
/// HTTP connection is all it holds: the listener lookup and inspection are done by then
/// ([`choose`]), and TLS and TCP, with their larger state (a TLS session, a splice), are boxed.
// Not an `async fn`: one would keep a second copy of its arguments for the connection's life.
#[allow(clippy::manual_async_fn)]
pub fn serve(a: Accepted, shared: Arc<Shared>, index: Arc<arc_swap::ArcSwap<Index>>) -> impl Future<Output = ()> {
    async move {
        let Some(Chosen { chain, local, original_dst, sni }) = choose(&a, &shared, &index).await else { return };
        let Accepted { stream, remote, tracked: _tracked, .. } = a;
        if let Some(tls) = &chain.tls {
            let at = crate::tls::serve::Addresses { local, remote, original_dst };
            return Box::pin(crate::tls::serve::terminate(stream, tls, &chain.kind, at, shared)).await;
        }
        match &chain.kind {
            ListenerKind::Http(hcm) => {
                let conn = Conn::new(hcm.clone(), local, remote).with_original_dst(original_dst);
                crate::http::serve(stream, conn, shared).await;
            }
            ListenerKind::Tcp(proxy) => {
                // The SNI the TLS inspector read is logged (`%REQUESTED_SERVER_NAME%`), as by Envoy.
                let _ = stream.set_nodelay(true);
                let serve = crate::tcp::serve_stream(stream, sni, proxy.clone(), local, remote, original_dst, shared);
                Box::pin(serve).await;
            }
        }
    }
}

/// Steps 1 to 4: the filter chain for the connection, None when it is to be closed.
async fn choose(a: &Accepted, shared: &Shared, index: &arc_swap::ArcSwap<Index>) -> Option<Chosen> {
    let config = shared.config.load_full();
    let mut listener = config.listeners.get(&*a.listener).cloned()?;
    let accepted_on = a.stream.local_addr().unwrap_or(listener.address);
    let restores = listener.use_original_dst || listener.listener_filters.restores_destination();
    let original_dst = if restores { original_dst(&a.stream).filter(|d| *d != unmapped(accepted_on)) } else { None };
    let local = original_dst.unwrap_or(accepted_on);
    let mut found = Found::default();
    if let Err(why) = inspect::run(&a.stream, &listener.listener_filters, local.port(), &mut found).await {
        tracing::debug!(listener = %listener.name, remote = %a.remote, "listener filters closed the connection: {why:?}");
        return None;
    }
    if listener.use_original_dst
        && let Some(to) = original_dst.and_then(|d| hand_off(&config, &index.load(), d, &listener.name))
    {
        listener = to;
        if let Err(why) = inspect::run(&a.stream, &listener.listener_filters, local.port(), &mut found).await {
            tracing::debug!(listener = %listener.name, remote = %a.remote, "listener filters closed the connection: {why:?}");
            return None;
        }
    }
    let conn = Connection {
        local,
        remote: a.remote,
        server_name: found.server_name.as_deref(),
        transport_protocol: found.transport_protocol(),
        application_protocols: &found.alpn,
    };
    let Some(chain) = listener.select(&conn).cloned() else {
        tracing::debug!(listener = %listener.name, local = %local, remote = %a.remote, "no matching filter chain");
        return None;
    };
    let sni = found.server_name.as_deref().map(Arc::from);
    Some(Chosen { chain, local, original_dst, sni })
}

/// The listener a restored destination is handed to: exact address, else the wildcard one on
/// its port; never the accepting listener itself.
fn hand_off(config: &Config, index: &Index, to: SocketAddr, from: &str) -> Option<Arc<Listener>> {
    let any: IpAddr = if to.is_ipv4() { Ipv4Addr::UNSPECIFIED.into() } else { Ipv6Addr::UNSPECIFIED.into() };
    [to, SocketAddr::new(any, to.port())]
        .iter()
        .filter_map(|addr| index.get(addr))
        .find(|name| name.as_str() != from)
        .and_then(|name| config.listeners.get(name).cloned())
}

/// The connection's destination before any iptables REDIRECT (the socket's own address when
/// it was not redirected; None without conntrack). IPv4 connections on a dual-stack socket ask
/// with `SO_ORIGINAL_DST`, IPv6 ones with `IP6T_SO_ORIGINAL_DST`.
pub fn original_dst(stream: &TcpStream) -> Option<SocketAddr> {
    let sock = socket2::SockRef::from(stream);
    let addr = match unmapped(stream.local_addr().ok()?) {
        SocketAddr::V4(_) => sock.original_dst_v4(),
        SocketAddr::V6(_) => sock.original_dst_v6(),
    };
    addr.ok()?.as_socket().map(unmapped)
}

/// `addr` with a v4-mapped IPv6 address turned into IPv4, so addresses compare.
pub fn unmapped(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V6(v6) => v6.ip().to_ipv4_mapped().map_or(addr, |ip| SocketAddr::new(ip.into(), v6.port())),
        v4 => v4,
    }
}
