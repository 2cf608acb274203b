//! LDS: the listeners of a sidecar. Capture-free proxies (`proxy.captured == false`, local runs
//! and tests) get an explicit HTTP proxy listener, one TCP listener per TCP port of the visible
//! services and inbound listeners for their own services, all bound on the proxy's IP
//! (`capture_free`). Captured proxies get Istio's layout: `virtualOutbound` (15001),
//! `0.0.0.0_PORT` / `VIP_PORT` listeners reached through original-destination, and
//! `virtualInbound` (15006) (`captured`). Ports with no declared protocol get protocol sniffing
//! in both layouts (`sniffing`: HTTP inspector, HTTP and TCP chains, bounded detection wait).
//! Network filters are in `hcm`, the access log in `access_log`. Routers (gateways) get the
//! listeners of their Gateway servers (`gateway`).

pub mod access_log;
mod capture_free;
mod captured;
mod gateway;
pub mod hcm;
pub mod reasons;
pub mod sniffing;

use crate::names;
use crate::routes::action::Ctx;
use crate::routes::virtual_hosts;
use crate::scope::Scope;
use envoy_types::pb::envoy::config::core::v3::{
    Address, SocketAddress, TrafficDirection, address, socket_address::PortSpecifier,
};
use envoy_types::pb::envoy::config::listener::v3::{FilterChain, Listener};
use envoy_types::pb::google::protobuf::BoolValue;
use strait_registry::store::namespace_of;
use strait_registry::{Protocol, Service};

/// Builds the listeners for the scope.
pub fn build(scope: &Scope<'_>) -> Vec<Listener> {
    let mut out = if scope.proxy.id.node_type == strait_registry::NodeType::Router {
        gateway::build(scope)
    } else if scope.proxy.captured {
        captured::build(scope)
    } else {
        capture_free::build(scope)
    };
    access_log::for_mesh(&mut out, &scope.registry.mesh);
    reasons::for_listeners(&mut out, scope);
    out
}

/// `ip:port` as an Envoy address.
pub(crate) fn socket(ip: &str, port: u32) -> Address {
    Address {
        address: Some(address::Address::SocketAddress(SocketAddress {
            address: ip.to_string(),
            port_specifier: Some(PortSpecifier::PortValue(port)),
            ..Default::default()
        })),
    }
}

/// A listener named `IP_PORT` with one filter chain.
///
/// `reuse_port` is off: on a shared machine a second proxy binding the same address must fail
/// loudly (Envoy NACKs the listener, naming the address) rather than silently take a share of
/// the first one's connections, which SO_REUSEPORT would let it do.
pub(crate) fn listener(ip: &str, port: u32, chain: FilterChain, direction: TrafficDirection) -> Listener {
    Listener {
        name: names::listener_name(ip, port),
        address: Some(socket(ip, port)),
        filter_chains: vec![chain],
        traffic_direction: direction as i32,
        enable_reuse_port: Some(BoolValue { value: false }),
        ..Default::default()
    }
}

/// One port of the proxy's own workload: the service port clients use, the port the app
/// listens on, and the protocol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct InboundPort {
    pub service_port: u32,
    pub target_port: u32,
    pub protocol: Protocol,
}

/// Ports of the services whose endpoints are this proxy (endpoint address == proxy IP), first
/// service wins per service port, sorted by service port.
pub(crate) fn inbound_ports(scope: &Scope<'_>) -> Vec<InboundPort> {
    let ip = &scope.proxy.id.ip;
    let mut out: Vec<InboundPort> = Vec::new();
    for svc in &scope.registry.services {
        for ep in svc.endpoints.iter().filter(|e| &e.address == ip) {
            for port in &svc.ports {
                let Some(target) = ep.ports.get(&port.number) else { continue };
                if out.iter().all(|p| p.service_port != port.number) && port.protocol != Protocol::Udp {
                    out.push(InboundPort { service_port: port.number, target_port: *target, protocol: port.protocol });
                }
            }
        }
    }
    out.sort_by_key(|p| p.service_port);
    out
}

/// The clusters a TCP port of `svc` forwards to: the first VirtualService `tcp` rule that
/// applies to the port (no match, or a match on this port), weighted when it has several
/// destinations; else the service's own cluster.
pub(crate) fn tcp_clusters(scope: &Scope<'_>, svc: &Service, port: u32) -> Vec<(String, u32)> {
    for vs in virtual_hosts::virtual_services_for(scope, &svc.hostname) {
        let ctx = Ctx { scope, namespace: namespace_of(vs), port };
        let rule = vs.spec.tcp.iter().find(|r| r.match_.is_empty() || r.match_.iter().any(|m| m.port == Some(port)));
        let Some(rule) = rule else { continue };
        let dests: Vec<_> = rule
            .route
            .iter()
            .filter(|d| rule.route.len() == 1 || d.weight.unwrap_or(0) > 0)
            .filter_map(|d| {
                let weight = u32::try_from(d.weight.unwrap_or(0)).unwrap_or(0);
                d.destination.as_ref().map(|dest| (ctx.cluster(dest), weight))
            })
            .collect();
        if !dests.is_empty() {
            return dests;
        }
    }
    vec![(names::outbound_cluster(port, "", &svc.hostname), 1)]
}

/// True for ports with a TCP route (everything but HTTP and UDP): opaque TCP ports, and
/// undeclared ports, whose non-HTTP traffic takes that route.
pub(crate) fn is_tcp(p: Protocol) -> bool {
    !p.is_http() && p != Protocol::Udp
}

/// The port a listener binds (for sorting).
pub(crate) fn port_of(l: &Listener) -> u32 {
    match l.address.as_ref().and_then(|a| a.address.as_ref()) {
        Some(address::Address::SocketAddress(SocketAddress {
            port_specifier: Some(PortSpecifier::PortValue(p)),
            ..
        })) => *p,
        _ => 0,
    }
}
