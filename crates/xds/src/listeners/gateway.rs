//! LDS for gateways (router proxies), as Istio's `buildGatewayListeners`: one listener per
//! distinct server port of the Gateways that select the proxy, `0.0.0.0_PORT` (or `BIND_PORT`),
//! bound on the proxy's own IP instead when it runs capture-free (several proxies share one
//! machine in local runs). The first server on a port decides its kind; servers of another
//! kind on the same port are dropped, as Istio does with conflicting servers.
//!
//! - HTTP servers: one HTTP connection manager with RDS `http.PORT`.
//! - HTTPS (SIMPLE, MUTUAL, OPTIONAL_MUTUAL): a filter chain per server, matched on SNI (its
//!   hosts, none for `*`), with a `DownstreamTlsContext` ([`tls`]: certificates from files or
//!   from `credentialName` Secrets over SDS; a server whose Secret is unusable is left out);
//!   its HCM uses RDS `https.PORT.PORTNAME.GATEWAY.NS`. TLS servers terminate the same way and
//!   forward with the VirtualServices' `tcp` routes.
//! - PASSTHROUGH: `tls_inspector` and one chain per SNI set of the VirtualServices' `tls`
//!   routes, each a TCP proxy to `outbound|PORT||HOST`.
//! - TCP (and MONGO, MYSQL, REDIS): a TCP proxy from the VirtualServices' `tcp` routes.
//!
//! ISTIO_MUTUAL and AUTO_PASSTHROUGH are not supported yet: such servers get no filter chain.

mod tls;

use super::hcm::{Direction, Routes, hcm_filter, http_connection_manager, tcp_proxy_filter};
use crate::any::pack;
use crate::routes::action::Ctx;
use crate::routes::gateway::{self as gw, GwServer, Kind, intersection, names_gateway, virtual_services, vs_hosts};
use crate::scope::Scope;
use envoy_types::pb::envoy::config::core::v3::{TrafficDirection, TransportSocket, transport_socket};
use envoy_types::pb::envoy::config::listener::v3::{
    Filter, FilterChain, FilterChainMatch, Listener, ListenerFilter, listener_filter,
};
use envoy_types::pb::envoy::extensions::filters::listener::tls_inspector::v3::TlsInspector;
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::DownstreamTlsContext;
use envoy_types::pb::google::protobuf::BoolValue;
use std::collections::BTreeMap;
use strait_model::networking::virtual_service::RouteDestination;
use strait_registry::store::namespace_of;

/// The TLS inspector listener filter (reads SNI for filter chain matching).
pub const TLS_INSPECTOR: &str = "envoy.filters.listener.tls_inspector";

/// Builds the router's listeners, sorted by port then address.
pub(super) fn build(scope: &Scope<'_>) -> Vec<Listener> {
    let mut by_address: BTreeMap<(u32, String), Vec<GwServer<'_>>> = BTreeMap::new();
    for s in gw::servers(scope) {
        let bind = s.server.bind.as_deref().unwrap_or_default();
        if s.port() == 0 || bind.starts_with("unix://") || s.kind().is_none() {
            continue;
        }
        by_address.entry((s.port(), address(scope, bind))).or_default().push(s);
    }
    by_address.into_iter().filter_map(|((port, ip), servers)| listener(scope, &ip, port, &servers)).collect()
}

/// The address a listener binds: the server's `bind`, else the proxy IP when capture-free
/// (local runs), else every address.
fn address(scope: &Scope<'_>, bind: &str) -> String {
    if !bind.is_empty() {
        bind.to_string()
    } else if scope.proxy.captured {
        "0.0.0.0".into()
    } else {
        scope.proxy.id.ip.clone()
    }
}

/// Servers of one kind family share a listener: HTTP, TLS (terminated or passed through), TCP.
fn family(k: Kind) -> u8 {
    match k {
        Kind::Http => 0,
        Kind::Https | Kind::TlsTerminate | Kind::Passthrough => 1,
        Kind::Tcp => 2,
    }
}

/// The listener of one port; `None` when no server yields a filter chain.
fn listener(scope: &Scope<'_>, ip: &str, port: u32, servers: &[GwServer<'_>]) -> Option<Listener> {
    let first = family(servers.first()?.kind()?);
    let servers: Vec<_> = servers.iter().filter(|s| s.kind().map(family) == Some(first)).collect();
    let mut chains: Vec<FilterChain> = Vec::new();
    for s in &servers {
        for chain in server_chains(scope, ip, s) {
            // Envoy rejects two chains with the same match: the first server wins, as in Istio.
            if chains.iter().all(|c| c.filter_chain_match != chain.filter_chain_match) {
                chains.push(chain);
            }
        }
        if first != 1 {
            break; // HTTP shares one HCM (`http.PORT` covers every server); TCP takes the first.
        }
    }
    if chains.is_empty() {
        return None;
    }
    let mut l = super::listener(ip, port, chains.remove(0), TrafficDirection::Outbound);
    l.filter_chains.extend(chains);
    if first == 1 {
        l.listener_filters = vec![tls_inspector()];
    }
    Some(l)
}

fn tls_inspector() -> ListenerFilter {
    ListenerFilter {
        name: TLS_INSPECTOR.into(),
        config_type: Some(listener_filter::ConfigType::TypedConfig(pack(&TlsInspector::default()))),
        ..Default::default()
    }
}

/// The filter chains of one server.
fn server_chains(scope: &Scope<'_>, ip: &str, s: &GwServer<'_>) -> Vec<FilterChain> {
    let port = s.port();
    match s.kind() {
        Some(Kind::Http) => s.route_name().map(|r| vec![chain(hcm(ip, port, r))]).unwrap_or_default(),
        Some(Kind::Https) => {
            let (Some(route), Some(tls)) = (s.route_name(), tls::terminate_context(scope, s, true)) else {
                return Vec::new();
            };
            vec![tls_chain(s, tls, hcm(ip, port, route))]
        }
        Some(Kind::TlsTerminate) => {
            let (Some(clusters), Some(tls)) = (tcp_clusters(scope, s), tls::terminate_context(scope, s, false)) else {
                return Vec::new();
            };
            vec![tls_chain(s, tls, tcp(clusters))]
        }
        Some(Kind::Passthrough) => passthrough_chains(scope, s),
        Some(Kind::Tcp) => tcp_clusters(scope, s).map(|c| vec![chain(tcp(c))]).unwrap_or_default(),
        None => Vec::new(),
    }
}

/// The gateway HCM: routes over RDS; the gateway is the edge, so it trusts the peer address.
fn hcm(ip: &str, port: u32, route: String) -> Filter {
    let mut h = http_connection_manager(format!("outbound_{ip}_{port}"), Routes::Rds(route), Direction::Outbound);
    h.use_remote_address = Some(BoolValue { value: true });
    hcm_filter(&h)
}

fn tcp(clusters: Vec<(String, u32)>) -> Filter {
    let stat = clusters.first().map(|c| c.0.clone()).unwrap_or_default();
    tcp_proxy_filter(stat, clusters)
}

fn chain(filter: Filter) -> FilterChain {
    FilterChain { filters: vec![filter], ..Default::default() }
}

/// A terminating chain: SNI match on the server's hosts (none for `*`) and the TLS context.
fn tls_chain(s: &GwServer<'_>, tls: DownstreamTlsContext, filter: Filter) -> FilterChain {
    let hosts = s.bare_hosts();
    let server_names = if hosts.iter().any(|h| h == "*") { Vec::new() } else { hosts };
    FilterChain {
        filter_chain_match: Some(FilterChainMatch { server_names, ..Default::default() }),
        filters: vec![filter],
        transport_socket: Some(TransportSocket {
            name: crate::clusters::tls::TLS_SOCKET.into(),
            config_type: Some(transport_socket::ConfigType::TypedConfig(pack(&tls))),
        }),
        ..Default::default()
    }
}

/// Weighted clusters of route destinations (a single destination keeps weight 0 → 1).
fn destinations(ctx: &Ctx<'_, '_>, route: &[RouteDestination]) -> Vec<(String, u32)> {
    route
        .iter()
        .filter(|d| route.len() == 1 || d.weight.unwrap_or(0) > 0)
        .filter_map(|d| {
            let weight = u32::try_from(d.weight.unwrap_or(0)).unwrap_or(0).max(1);
            d.destination.as_ref().map(|dest| (ctx.cluster(dest), weight))
        })
        .collect()
}

/// The first `tcp` rule of the VirtualServices bound to the server's gateway, with a host in
/// common with the server, that matches the port and gateway (Istio's
/// `buildGatewayNetworkFiltersFromTCPRoutes`).
fn tcp_clusters(scope: &Scope<'_>, s: &GwServer<'_>) -> Option<Vec<(String, u32)>> {
    let (key, port) = (s.key(), s.port());
    for vs in virtual_services(scope, &key) {
        let ns = namespace_of(vs);
        if intersection(&s.hosts_for(ns), &vs_hosts(scope, vs)).is_empty() {
            continue;
        }
        let applies = |m: &strait_model::networking::virtual_service::L4MatchAttributes| {
            m.port.is_none_or(|p| p == port) && (m.gateways.is_empty() || names_gateway(&m.gateways, ns, &key))
        };
        let Some(rule) = vs.spec.tcp.iter().find(|r| r.match_.is_empty() || r.match_.iter().any(applies)) else {
            continue;
        };
        let ctx = Ctx { scope, namespace: ns, port };
        let dests = destinations(&ctx, &rule.route);
        if !dests.is_empty() {
            return Some(dests);
        }
    }
    None
}

/// PASSTHROUGH: one chain per `tls` match of the bound VirtualServices, on the SNI hosts it
/// shares with the server (Istio's `buildGatewayNetworkFiltersFromTLSRoutes`).
fn passthrough_chains(scope: &Scope<'_>, s: &GwServer<'_>) -> Vec<FilterChain> {
    let (key, port) = (s.key(), s.port());
    let mut out = Vec::new();
    for vs in virtual_services(scope, &key) {
        let ns = namespace_of(vs);
        let server_hosts = s.hosts_for(ns);
        if intersection(&server_hosts, &vs_hosts(scope, vs)).is_empty() {
            continue;
        }
        let ctx = Ctx { scope, namespace: ns, port };
        for rule in &vs.spec.tls {
            for m in &rule.match_ {
                if m.port.is_some_and(|p| p != port) || !(m.gateways.is_empty() || names_gateway(&m.gateways, ns, &key))
                {
                    continue;
                }
                let sni: Vec<String> = m.sni_hosts.iter().map(|h| h.to_ascii_lowercase()).collect();
                let mut server_names = intersection(&server_hosts, &sni);
                server_names.sort();
                let dests = destinations(&ctx, &rule.route);
                if server_names.is_empty() || dests.is_empty() {
                    continue;
                }
                let server_names = if server_names.iter().any(|h| h == "*") { Vec::new() } else { server_names };
                out.push(FilterChain {
                    filter_chain_match: Some(FilterChainMatch { server_names, ..Default::default() }),
                    filters: vec![tcp(dests)],
                    ..Default::default()
                });
            }
        }
    }
    out
}
